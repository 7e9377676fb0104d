#!/usr/bin/env bash
# consent-policy as a server, without Postfix: -n and start-up errors,
# the connection limit (the idlest connection closed, never a client
# kept waiting), the idle timeout, a request dripped byte by byte, oversized and malformed
# requests answered and the connection closed, garbage from many
# clients at once without a crash, graceful stop with connections open.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
e2e_programs
PD=$BUILD/consent-policy
[ -x "$PD" ] || e2e_fail "$PD not built"

PPORT=$(e2e_freeport)
DB=$CM_TMP/db
mkdir -p "$DB"
"$CTL" -d "$DB" init >/dev/null || e2e_fail "consentctl init"
"$CTL" -d "$DB" grant alice@example.com weekly-news --source e2e >/dev/null || e2e_fail "grant"
base() {
	e2e_cm_head 1 "$DB"
	cat <<EOF
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: weekly@news.example.com
EOF
}
CONF=$CM_TMP/c.yaml
{ base; printf 'policy:\n  socket: "inet:%s@127.0.0.1"\n  max_connections: 2\n  idle_timeout: 2s\n' "$PPORT"; } >"$CONF"

# a stand-in postconf(1): what main.cf's smtpd_recipient_restrictions says
mkdir -p "$CM_TMP/bin"
RESTR=$CM_TMP/restrictions
printf '#!/bin/sh\ncat "%s"\n' "$RESTR" >"$CM_TMP/bin/postconf"
chmod +x "$CM_TMP/bin/postconf"
PATH=$CM_TMP/bin:$PATH
export PATH
echo "check_policy_service inet:127.0.0.1:$PPORT, permit_mynetworks" >"$RESTR"

# ------------------------------------ -n, -V and start-up errors
e2e_assert_eq "$CONF: OK (policy socket inet:$PPORT@127.0.0.1, 1 newsletter types)" \
	"$("$PD" -n -c "$CONF" 2>&1)" "-n on a valid file"
e2e_assert_match '^consent-policy [0-9]' "$("$PD" -V)" "-V"
# Postfix asks after a permit_*, or not at all: a warning
echo "permit_mynetworks, check_policy_service { inet:127.0.0.1:$PPORT, timeout=10s }" >"$RESTR"
e2e_assert_match "has permit_mynetworks before check_policy_service inet:$PPORT@127.0.0.1" \
	"$("$PD" -n -c "$CONF" 2>&1)" "-n: a permit_* before the policy service"
echo "permit_sasl_authenticated, reject_unauth_destination" >"$RESTR"
e2e_assert_match "has no check_policy_service for inet:$PPORT@127.0.0.1" \
	"$("$PD" -n -c "$CONF" 2>&1)" "-n: the policy service missing"
echo "reject_unauth_destination, check_policy_service 127.0.0.1:$PPORT" >"$RESTR"
e2e_assert_eq "$CONF: OK (policy socket inet:$PPORT@127.0.0.1, 1 newsletter types)" \
	"$("$PD" -n -c "$CONF" 2>&1)" "-n: asked first: no warning"
base >"$CM_TMP/nopolicy.yaml"
out=$("$PD" -n -c "$CM_TMP/nopolicy.yaml" 2>&1)
e2e_assert_eq 78 "$?" "no policy: section: exit 78"
e2e_assert_match 'no policy: section' "$out" "no policy: section: said so"
{ base; printf 'policy:\n  socket: "inet:%s@127.0.0.1"\n  max_connections: 0\n  idle_timeout: soon\n' "$PPORT"; } >"$CM_TMP/bad.yaml"
out=$("$PD" -n -c "$CM_TMP/bad.yaml" 2>&1)
e2e_assert_eq 78 "$?" "invalid policy: values: exit 78"
e2e_assert_match "bad.yaml:[0-9]+:[0-9]+: key 'max_connections': expected an integer from 1 to 10000, got '0'" "$out" "max_connections error with its place"
e2e_assert_match "bad.yaml:[0-9]+:[0-9]+: key 'idle_timeout': expected a duration" "$out" "idle_timeout error with its place"
e2e_assert_eq 2 "$(wc -l <<<"$out")" "each error said once"

# ------------------------------------ the server
LOG=$CM_TMP/policy.log
"$PD" -f -c "$CONF" >>"$LOG" 2>&1 &
PID=$!
E2E_PIDS+=("$PID")
e2e_on_exit "e2e_kill_pid $PID 10"
e2e_wait_listen "$PPORT" "$PID" 20

out=$("$PY" - "$PPORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
REQ = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\n"
       b"sender=weekly@news.example.com\nrecipient=alice@example.com\n\n")

def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s

def ask(s, req=REQ):
    s.sendall(req)
    buf = b""
    while not buf.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            return buf.decode() + "<closed>"
        buf += d
    return buf.decode().strip()

def closed(s, within):
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:	# closed with unread input: RST
        return True
    except socket.timeout:
        return False

# many requests on one connection, split anywhere
s = conn()
for i in range(50):
    s.sendall(REQ[:i % len(REQ)])
    s.sendall(REQ[i % len(REQ):])
    buf = b""
    while not buf.endswith(b"\n\n"):
        buf += s.recv(4096)
    assert buf == b"action=DUNNO\n\n", buf
print("sequence ok")
# two pipelined requests in one segment, two answers in order
s.sendall(REQ + REQ.replace(b"alice", b"bob"))
buf = b""
while buf.count(b"\n\n") < 2:
    buf += s.recv(4096)
print(buf.decode().replace("\n\n", "|"))

# the limit: two connections; a third is served at once and the one idle
# longest (s) is closed (Postfix reconnects on its next request)
s2 = conn()
print(ask(s2))
s3 = conn()
print("third:", ask(s3))
print("the idlest closed:", closed(s, 5))
print("second still served:", ask(s2))
s.close(); s2.close(); s3.close()

# a request dripped a byte at a time holds no slot: closed when it is
# not whole within idle_timeout (2s) of its first byte
s = conn()
t0 = time.time()
res = False
for b in REQ[:12]:
    try:
        s.sendall(bytes([b]))
    except OSError:
        res = True
        break
    if closed(s, 0.5):
        res = True
        break
print("dripped request closed:", res, time.time() - t0 < 4)
s.close()

# idle timeout (2s): closed by the server
s = conn()
t0 = time.time()
print("idle closed:", closed(s, 10), round(time.time() - t0) in (2, 3))
s.close()

# a line too long, a request too large, a NUL: answered, then closed
for name, req in (("long line", b"recipient=" + b"x" * 3000 + b"\n\n"),
                  ("too large", b"".join(b"a%d=%s\n" % (i, b"y" * 1000) for i in range(20)) + b"\n"),
                  ("NUL", b"sender=a\0b\n\n")):
    s = conn()
    print(name + ":", ask(s, req), closed(s, 5))
    s.close()
EOF
)
e2e_assert_eq "sequence ok
action=DUNNO|action=550 5.7.1 <bob@example.com>: no consent for newsletter \"weekly-news\" (no-consent)|
action=DUNNO
third: action=DUNNO
the idlest closed: True
second still served: action=DUNNO
dripped request closed: True True
idle closed: True True
long line: action=451 4.3.0 Consent check failed, try again later True
too large: action=451 4.3.0 Consent check failed, try again later True
NUL: action=451 4.3.0 Consent check failed, try again later True" "$out" "sequence, limit, idle timeout, bounds"
grep -q 'policy.max_connections (2) reached' "$LOG" || e2e_fail "the limit was not logged"
grep -q 'policy request cannot be read: a line too long; action=tempfail' "$LOG" ||
	e2e_fail "the refused request was not logged"

# ------------------------------------ garbage from many clients at once
"$PY" - "$PPORT" <<'EOF' || e2e_fail "garbage clients"
import os, random, socket, sys, threading
port = int(sys.argv[1])
def client(seed):
    r = random.Random(seed)
    for _ in range(20):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(bytes(r.randrange(256) for _ in range(r.randrange(1, 5000))) +
                      (b"\n\n" if r.random() < 0.5 else b""))
            if r.random() < 0.5:
                s.recv(4096)
            s.close()
        except OSError:
            pass
ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
EOF
kill -0 "$PID" 2>/dev/null || e2e_fail "consent-policy died on garbage"
out=$("$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsender=weekly@news.example.com\nrecipient=carol@example.com\n\n")
print(s.recv(4096).decode().strip())' "$PPORT")
e2e_assert_match '^action=550 5\.7\.1 <carol@example\.com>: no consent' "$out" "still serving after the garbage"

# ------------------------------------ decision lines, written together
# (a thread of their own, milter/log.h): every line arrives, in the order
# of the requests, within a moment
"$PY" - "$PPORT" 300 <<'EOF' || e2e_fail "decision-line client failed"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
for n in range(int(sys.argv[2])):
    s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
              b"client_address=127.0.0.1\nsender=weekly@news.example.com\n"
              b"queue_id=Q%d\nrecipient=carol@example.com\n\n" % n)
    a = f.readline()
    if not a.startswith(b"action=550 ") or f.readline() != b"\n":
        sys.exit("unexpected answer %r" % a)
EOF
lines() { grep -o 'queue_id=Q[0-9]* type=weekly-news rcpt=carol@example.com verdict=deny' "$LOG" | cut -d' ' -f1; }
for ((i = 0; i < 200; i++)); do
	[ "$(lines | wc -l)" -ge 300 ] && break
	sleep 0.05
done
e2e_assert_eq "$(seq -f 'queue_id=Q%.0f' 0 299)" "$(lines)" "300 decision lines, in order"
echo "ok - decision lines: all of them, in order"

# ------------------------------------ graceful stop with a connection open
threads=$(ls /proc/$PID/task | wc -l)
"$PY" -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(30)' "$PPORT" &
HOLD=$!
E2E_PIDS+=("$HOLD")
e2e_on_exit "e2e_kill_pid $HOLD 1"
for ((i = 0; i < 100; i++)); do
	[ "$(ls /proc/$PID/task | wc -l)" -gt "$threads" ] && break
	sleep 0.05
done
e2e_kill_pid "$PID" 10
rc=$?
e2e_assert_eq 0 "$rc" "SIGTERM with a connection open: exit 0"
grep -q 'stopped' "$LOG" || e2e_fail "no 'stopped' line"
if grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$LOG" >/dev/null; then
	e2e_fail "sanitizer report in $LOG"
fi
echo "ok - no sanitizer report"
exit 0
