#!/usr/bin/env bash
# One-click unsubscribes per second through consent-web on loopback
# (durable commits; concurrent clients with keep-alive connections), and
# the replays per second (nothing to write).  BENCH_QUICK=1: fewer.
set -u
: "${SRCDIR:?}" "${BUILD:?}"
. "$SRCDIR/tests/lib/net.sh"	# net_freeport
T=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$T"' EXIT
N=${BENCH_UNSUB_N:-4000}
[ "${BENCH_QUICK:-}" = 1 ] && N=1000
CLIENTS=${BENCH_UNSUB_CLIENTS:-60}
PORT=$(net_freeport)
sed -e "s#\"/var/lib/consent-milter\"#\"$T/db\"#" \
    -e 's#^  enabled: false  #  enabled: true   #' \
    -e "s#listen: \"inet:8025@127.0.0.1\"#listen: \"inet:$PORT@127.0.0.1\"#" \
    -e "s#mailto_socket: \"/run/consent-web/mailto.sock\"#mailto_socket: \"$T/mailto.sock\"#" \
    "$SRCDIR/examples/consent-milter.yaml" >"$T/c.yaml"
"$BUILD/consentctl" -c "$T/c.yaml" init >/dev/null || exit 1
# tokens sealed by consentctl, one per address
for ((i = 1; i <= N; i++)); do
	"$BUILD/consentctl" -c "$T/c.yaml" link unsubscribe "u$i@bench.example" \
		customer-updates --token
done >"$T/toks" || exit 1
"$BUILD/consent-web" -c "$T/c.yaml" 2>"$T/web.log" &
pid=$!
for _ in $(seq 100); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).close()" \
		2>/dev/null && break
	sleep 0.1
done
python3 - "$PORT" "$T/toks" "$CLIENTS" <<'PY'
import http.client, sys, threading, time
port, toks, nthr = int(sys.argv[1]), open(sys.argv[2]).read().split(), int(sys.argv[3])
def run(label):
    codes, lock = {}, threading.Lock()
    def work(part):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for t in part:
            c.request("POST", "/u/" + t, body="List-Unsubscribe=One-Click",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse(); r.read()
            with lock:
                codes[r.status] = codes.get(r.status, 0) + 1
    t0 = time.time()
    th = [threading.Thread(target=work, args=(toks[i::nthr],)) for i in range(nthr)]
    [x.start() for x in th]; [x.join() for x in th]
    dt = time.time() - t0
    print("%s: %d requests, %d clients, %.2f s: %.0f/s  %s" %
          (label, len(toks), nthr, dt, len(toks) / dt, codes))
run("one-click unsubscribes (durable)")
run("replays (nothing written)")
PY

echo "index: $("$BUILD/consentctl" -c "$T/c.yaml" check "u$N@bench.example" customer-updates)"
