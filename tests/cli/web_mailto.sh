#!/usr/bin/env bash
# consent-web's internal socket for mailto unsubscribes (web/mailsock.c,
# core/mailreq.h), spoken to directly: a valid token is recorded (source
# mailto, with its evidence) and answered 250 after the commit, a replay
# 250 without a second event; damaged, confirm, expired tokens 550 and
# nothing changes; malformed and over-long lines 500; a silent client is
# dropped after links.timeout; beyond links.max_connections 451; the
# socket is mode 0660 and removed at exit; a file that is no socket at
# its path stops the start (exit 69); so do a live socket of another
# instance (left in place, and not removed by the other at stop) and a
# socket swapped for a symbolic link right after bind (its target left
# alone); accept failing for want of descriptors is retried with pauses.
source "$(dirname "$0")/ctl-lib.bash"
WEB=$BUILD/consent-web
[ -x "$WEB" ] || { echo "consent-web not built" >&2; exit 77; }

PORT=$(net_freeport)
MSOCK=$T/mailto.sock
sed -i -e 's#^  enabled: false  #  enabled: true   #' \
    -e "s#listen: \"inet:8025@127.0.0.1\"#listen: \"inet:$PORT@127.0.0.1\"#" \
    -e "s#mailto_socket: \"/run/consent-web/mailto.sock\"#mailto_socket: \"$MSOCK\"#" \
    -e 's#^  timeout: 10s  #  timeout: 1s   #' \
    -e 's#^  max_connections: 64 #  max_connections: 3  #' "$CONF"
grep -q "$MSOCK" "$CONF" && grep -q '^  timeout: 1s ' "$CONF" &&
	grep -q '^  max_connections: 3 ' "$CONF" || { echo "could not set links:" >&2; exit 1; }
A=reader@example.org

pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; }
trap cleanup EXIT

# say LINE: send LINE (printf format) on a new connection, print the reply
say() {
	"$PY" - "$MSOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
print(s.makefile("rb").readline().decode().rstrip("\n"))
PY
}
start() {
	"$WEB" -v -c "$CONF" 2>>"$T/web.log" &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$MSOCK" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "consent-web died: $(tail -3 "$T/web.log")"
		sleep 0.05
	done
	fail "no socket $MSOCK"
}
hist() { c history "$A"; rc_is 0; nhist=$(grep -c ' mailto ' <<<"$out"); }

step="setup"
c init; rc_is 0
c grant "$A" weekly-news; rc_is 0
c grant "$A" offers --pending; rc_is 0
c link unsubscribe "$A" weekly-news --token; tok=$out
c link confirm "$A" offers --token; ctok=$out
c link unsubscribe "$A" offers --token --at 2020-01-01T00:00:00Z; old=$out
start
[ "$(stat -c %a "$MSOCK")" = 660 ] || fail "socket mode $(stat -c %a "$MSOCK")"
hist; [ "$nhist" = 0 ] || fail "mailto events before any request"

step="bad tokens: 550, nothing recorded"
bad=${tok:0:30}$([ "${tok:30:1}" = A ] && echo B || echo A)${tok:31}
r=$(say "MAILTO $bad <a@b> - -\n"); [ "$r" = "550 invalid token" ] || fail "damaged: $r"
r=$(say "MAILTO $ctok <a@b> - -\n"); [ "$r" = "550 invalid token" ] || fail "confirm token: $r"
r=$(say "MAILTO $old <a@b> - -\n"); [ "$r" = "550 expired token" ] || fail "expired: $r"
hist; [ "$nhist" = 0 ] || fail "a bad token was recorded"

step="malformed lines: 500"
for l in 'HELLO\n' "MAILTO $tok\n" "MAILTO $tok <a@b> - - x\n" "MAILTO $tok <a@b> x.y -\n" \
	"MAILTO $tok <a\tb> - -\n" "MAILTO $tok <a@b>  - -\n" "MAILTO $tok <a@b> - -\0\n"; do
	r=$(say "$l"); [ "$r" = "500 malformed request" ] || fail "'$l': $r"
done
r=$("$PY" - "$MSOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(b"MAILTO " + b"A" * 5000)
print(s.makefile("rb").readline().decode().rstrip("\n"))
PY
)
[ "$r" = "500 line too long" ] || fail "long line: $r"
hist; [ "$nhist" = 0 ] || fail "a malformed line was recorded"

step="valid: 250 after the commit, evidence; replay: no second event"
r=$(say "MAILTO $tok <Reader@Example.ORG> 192.0.2.7 <m1@mua.example>\n")
[ "$r" = "250 recorded" ] || fail "valid: $r"
hist; [ "$nhist" = 1 ] || fail "$nhist mailto events"
out_has 'sender="<Reader@Example.ORG>" client="192.0.2.7" message-id="<m1@mua.example>"'
c check "$A" weekly-news; rc_is 1
r=$(say "MAILTO $tok <> - -\r\n"); [ "$r" = "250 already recorded" ] || fail "replay: $r"
hist; [ "$nhist" = 1 ] || fail "replay recorded again"

step="a silent client is dropped after links.timeout; beyond max_connections: 451"
r=$("$PY" - "$MSOCK" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
t = time.monotonic()
got = s.recv(100)
d = time.monotonic() - t
print(repr(got), "in time" if 0.9 <= d < 8 else d)
PY
)
[ "$r" = "b'' in time" ] || fail "silent client: $r"
r=$("$PY" - "$MSOCK" <<'PY'
import socket, sys, time
idle = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); idle.append(s)
time.sleep(0.2)   # let the server take them (bounded: they wait for a line)
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
print(s.makefile("rb").readline().decode().rstrip("\n"))
PY
)
[ "$r" = "451 too many connections" ] || fail "4th connection: $r"

step="a second consent-web leaves the live socket alone"
PORT2=$(net_freeport)
sed "s#listen: \"inet:$PORT@127.0.0.1\"#listen: \"inet:$PORT2@127.0.0.1\"#" "$CONF" >"$T/second.yaml"
ino=$(stat -c %i "$MSOCK")
timeout 30 "$WEB" -c "$T/second.yaml" 2>"$T/web4.log"; rc=$?
[ "$rc" = 69 ] || fail "a second instance: exit $rc"
grep -q "cannot listen on $MSOCK: Address already in use" "$T/web4.log" || fail "$(cat "$T/web4.log")"
[ "$(stat -c %i "$MSOCK")" = "$ino" ] || fail "the live socket was replaced"
r=$(say "MAILTO $tok <> - -\n"); [ "$r" = "250 already recorded" ] || fail "first instance after the second: $r"
# the first one, stopping, removes only its own socket: not one put there since
mv "$MSOCK" "$T/first.sock"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$MSOCK"
kill "$pid"; wait "$pid"; pid=
[ -S "$MSOCK" ] || fail "a socket not its own was removed at stop"
rm -f "$MSOCK" "$T/first.sock"
start

step="out of descriptors at accept: paced retries, then served"
kill "$pid"; wait "$pid"; pid=
cc -shared -fPIC -o "$T/acceptfail.so" "$SRCDIR/tests/cli/acceptfail.c" -ldl ||
	fail "cannot build the accept hook"
: >"$T/accept.log"
LD_PRELOAD=$T/acceptfail.so ACCEPTFAIL_N=4 ACCEPTFAIL_LOG=$T/accept.log \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start
r=$(say "MAILTO $tok <> - -\n"); [ "$r" = "250 already recorded" ] || fail "after EMFILE: $r"
[ "$(wc -l <"$T/accept.log")" = 4 ] || fail "accept4 failed $(wc -l <"$T/accept.log") times, not 4"
# each failed accept is followed by a pause (>= 50 ms), not a busy loop
awk 'NR > 1 && $1 - prev < 50000000 { bad = 1 } { prev = $1 } END { exit bad }' "$T/accept.log" ||
	fail "accept retried without a pause: $(cat "$T/accept.log")"
grep -q "cannot accept a connection: Too many open files; pausing" "$T/web.log" ||
	fail "no log line for the pause"

step="stop: socket removed; a file at the path stops the start"
kill "$pid"; wait "$pid"; rc=$?; pid=
[ "$rc" = 0 ] || fail "consent-web exited with $rc"
[ ! -e "$MSOCK" ] || fail "socket left behind"
: >"$MSOCK"
"$WEB" -c "$CONF" 2>"$T/web2.log"; rc=$?
[ "$rc" = 69 ] || fail "exit $rc with a file at the socket path"
grep -q "cannot listen on $MSOCK" "$T/web2.log" || fail "$(cat "$T/web2.log")"
[ -f "$MSOCK" ] || fail "the file was removed"
rm -f "$MSOCK"

step="the socket swapped for a symbolic link after bind: its target is not touched"
cc -shared -fPIC -o "$T/bindswap.so" "$SRCDIR/tests/cli/bindswap.c" -ldl ||
	fail "cannot build the bind hook"
echo secret >"$T/victim"; chmod 0600 "$T/victim"
LD_PRELOAD=$T/bindswap.so BINDSWAP_TARGET=$T/victim ASAN_OPTIONS=verify_asan_link_order=0 \
	timeout 30 "$WEB" -c "$CONF" 2>"$T/web3.log"; rc=$?
[ "$(stat -c %a "$T/victim")" = 600 ] || fail "the link's target became mode $(stat -c %a "$T/victim")"
[ "$rc" = 69 ] || fail "exit $rc with the socket swapped: $(cat "$T/web3.log")"
grep -q "cannot listen on $MSOCK" "$T/web3.log" || fail "$(cat "$T/web3.log")"
rm -f "$MSOCK"
! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$T/web.log" "$T/web2.log" "$T/web3.log" ||
	fail "sanitizer report: $(cat "$T/web.log")"
echo "consent-web: mailto socket: record, replay, bad tokens, malformed lines, limits"
