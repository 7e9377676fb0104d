#!/usr/bin/env bash
# systemd notifications (sd_notify): READY=1 once the socket is open,
# RELOADING=1 then READY=1 around a reload (also a failed one),
# STOPPING=1 on stop.  A datagram socket stands in for systemd.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"

NOTES="$CM_TMP/notify.log"
/usr/bin/python3 - "$CM_TMP/notify.sock" "$NOTES" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(4096).decode()
        out.write(data.replace("\n", " ") + "\n")
PY
LISTENER=$!
trap 'cleanup; kill "$LISTENER" 2>/dev/null' EXIT
for _ in $(seq 100); do [ -S "$CM_TMP/notify.sock" ] && break; sleep 0.05; done

# wait_note PATTERN COUNT
wait_note() {
	for _ in $(seq 100); do
		[ "$(grep -cE -- "$1" "$NOTES" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.05
	done
	echo "--- notifications:" >&2
	cat "$NOTES" >&2
	die "no $2 notification(s) matching $1"
}

NOTIFY_SOCKET="$CM_TMP/notify.sock" start_milter "$cfg"
wait_note '^READY=1' 1
[ -S "$SOCK" ] || die "READY before the socket existed"

kill -USR1 "$MILTER_PID"
wait_note '^RELOADING=1 MONOTONIC_USEC=[0-9]+' 1
wait_note '^READY=1' 2

echo "newsletters: [" >> "$cfg"	# invalid now
kill -USR1 "$MILTER_PID"
wait_note '^RELOADING=1' 2
wait_note '^READY=1' 3
kill -0 "$MILTER_PID" || die "died on an invalid reload"

stop_milter
wait_note '^STOPPING=1' 1
# Order: READY, RELOADING, READY, RELOADING, READY, STOPPING.
order=$(cut -d= -f1 "$NOTES" | tr '\n' ' ')
[ "$order" = "READY RELOADING READY RELOADING READY STOPPING " ] ||
	die "notification order: $order"
echo "notify: all checks passed"
