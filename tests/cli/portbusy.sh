#!/usr/bin/env bash
# A milter socket that cannot be opened: the error names the socket and
# the reason ("Address already in use" for a port another program holds,
# e.g. OpenDKIM's 8891), and the daemon exits 73 at once.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
CM_TMP=${CM_TMP:-$(mktemp -d)}
MILTER=$BUILD/consent-milter
CTL=$BUILD/consentctl
fail=0
err() { echo "portbusy.sh: $*" >&2; fail=1; }
[ -x "$MILTER" ] && [ -x "$CTL" ] || { echo "portbusy.sh: not built" >&2; exit 77; }
command -v python3 >/dev/null || exit 77

holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null' EXIT
# A listener on a free loopback port; it writes the port once listening.
python3 -c 'import socket, sys, os, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)' "$CM_TMP/port" &
holder=$!
for _ in $(seq 100); do [ -s "$CM_TMP/port" ] && break; sleep 0.05; done
port=$(cat "$CM_TMP/port" 2>/dev/null) || { err "the listener did not start"; exit 1; }

conf() {	# SOCKET
	cat >"$CM_TMP/cm.yaml" <<YAML
milter:
  socket: "$1"
database:
  path: "$CM_TMP/db"
newsletters: []
YAML
}
conf "inet:$port@127.0.0.1"
"$CTL" -c "$CM_TMP/cm.yaml" init >/dev/null || { err "consentctl init failed"; exit 1; }

timeout 30 "$MILTER" -f -c "$CM_TMP/cm.yaml" >"$CM_TMP/out" 2>&1
rc=$?
[ $rc -eq 73 ] || err "port in use: exit $rc, expected 73"
grep -qF "cannot open milter socket inet:$port@127.0.0.1: Address already in use" "$CM_TMP/out" ||
	err "port in use: the error does not say so: $(cat "$CM_TMP/out")"

# A unix socket in a missing directory: the reason too.
conf "unix:$CM_TMP/missing/milter.sock"
timeout 30 "$MILTER" -f -c "$CM_TMP/cm.yaml" >"$CM_TMP/out2" 2>&1
rc=$?
[ $rc -eq 73 ] || err "missing directory: exit $rc, expected 73"
grep -qF "cannot open milter socket unix:$CM_TMP/missing/milter.sock: No such file or directory" "$CM_TMP/out2" ||
	err "missing directory: $(cat "$CM_TMP/out2")"

[ $fail -eq 0 ] && echo "portbusy: the errors name the socket and the reason"
exit $fail
