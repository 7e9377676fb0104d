#!/usr/bin/env bash
# consent-policy's unix socket, without Postfix: made with policy.socket_mode
# from the start; a file that is no socket (or a symbolic link) at its path
# is refused and left as it was; a second instance does not take over a
# live socket; a stale socket is replaced; the socket is removed on exit
# only while it is still the one this server made.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
e2e_programs
PD=$BUILD/consent-policy
[ -x "$PD" ] || e2e_fail "$PD not built"

DB=$CM_TMP/db
mkdir -p "$DB"
"$CTL" -d "$DB" init >/dev/null || e2e_fail "consentctl init"
SOCK=$CM_TMP/policy.sock
CONF=$CM_TMP/c.yaml
{
	e2e_cm_head 1 "$DB"
	cat <<EOF
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: weekly@news.example.com
policy:
  socket: "unix:$SOCK"
  socket_mode: "0600"
EOF
} >"$CONF"
LOG=$CM_TMP/policy.log
# a stand-in postconf(1): Postfix asks over the socket, named relative
# to its queue directory ($CM_TMP here)
mkdir -p "$CM_TMP/bin"
printf '#!/bin/sh\necho "check_policy_service unix:policy.sock, permit_mynetworks"\n' >"$CM_TMP/bin/postconf"
chmod +x "$CM_TMP/bin/postconf"
PATH=$CM_TMP/bin:$PATH
export PATH

# ask: one request over the unix socket; prints the answer
ask() {
	"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1])
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsender=x@example.org\nrecipient=a@example.com\n\n")
print(s.recv(4096).decode().strip())' "$SOCK"
}
# start: consent-policy in the background; PID
start() {
	"$PD" -f -c "$CONF" >>"$LOG" 2>&1 &
	PID=$!
	E2E_PIDS+=("$PID")
	e2e_on_exit "e2e_kill_pid $PID 10"
	for ((i = 0; i < 200; i++)); do
		[ "$(ask 2>/dev/null)" = action=DUNNO ] && return 0
		kill -0 "$PID" 2>/dev/null || e2e_fail "consent-policy exited at start: $(tail -3 "$LOG")"
		sleep 0.05
	done
	e2e_fail "consent-policy does not answer on $SOCK"
}

# a regular file at the path: refused, kept
echo "precious" >"$SOCK"
out=$(timeout 20 "$PD" -f -c "$CONF" 2>&1)
e2e_assert_eq 73 "$?" "a file at the socket path: exit 73"
e2e_assert_match 'exists and is not a socket; not replaced' "$out" "a file at the socket path: said so"
e2e_assert_eq precious "$(cat "$SOCK")" "the file is left as it was"
rm -f "$SOCK"
# a symbolic link: refused, its target untouched
echo "target" >"$CM_TMP/target"
ln -s "$CM_TMP/target" "$SOCK"
out=$(timeout 20 "$PD" -f -c "$CONF" 2>&1)
e2e_assert_eq 73 "$?" "a symbolic link at the socket path: exit 73"
[ -L "$SOCK" ] && [ "$(cat "$CM_TMP/target")" = target ] ||
	e2e_fail "the symbolic link or its target was changed"
rm -f "$SOCK"
echo "ok - nothing but a stale socket is replaced"

# a stale socket (its server gone without removing it): replaced
"$PY" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
[ -S "$SOCK" ] || e2e_fail "no stale socket made"
start
e2e_assert_eq "srw-------" "$(stat -c %A "$SOCK")" "the socket made with socket_mode 0600"
first=$PID
ino=$(stat -c %i "$SOCK")

# a second instance: refused, the first keeps its socket
out=$(timeout 20 "$PD" -f -c "$CONF" 2>&1)
e2e_assert_eq 73 "$?" "a second instance: exit 73"
e2e_assert_match 'in use by a running server' "$out" "a second instance: said so"
e2e_assert_eq "$ino" "$(stat -c %i "$SOCK")" "the live socket is not replaced"
e2e_assert_eq action=DUNNO "$(ask)" "the first instance still answers"

# stop: the socket is removed
e2e_kill_pid "$first" 10
e2e_assert_eq 0 "$?" "SIGTERM: exit 0"
[ -e "$SOCK" ] && e2e_fail "the socket was left behind on exit"
# a socket replaced by someone else meanwhile is not removed
start
mv "$SOCK" "$CM_TMP/moved.sock"
"$PY" -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
e2e_kill_pid "$PID" 10
[ -S "$SOCK" ] || e2e_fail "a socket this server did not make was removed"
echo "ok - the socket is removed on exit only while it is this server's"
grep -Eq '^[0-9T:.-]+Z consent-policy\[[0-9]+\]: notice: stopping' "$LOG" ||
	e2e_fail "log lines on standard error are not tagged consent-policy[PID]"
echo "ok - log lines tagged consent-policy[PID]"
grep -q "smtpd_recipient_restrictions" "$LOG" &&
	e2e_fail "a warning about smtpd_recipient_restrictions, which ask over this socket"
echo "ok - unix:REL in smtpd_recipient_restrictions is this socket"
if grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$LOG" >/dev/null; then
	e2e_fail "sanitizer report in $LOG"
fi
exit 0
