#!/usr/bin/env bash
# A connection the MTA reuses without negotiating again (SMFIC_QUIT_NC):
# what was negotiated is kept for it (milter/conn.c), and where it was
# forgotten (a thousand other connections closed meanwhile) the filter
# answers so that it is right whether or not the MTA waits for a reply.
# Either way nothing passes unchecked and the MTA is never left waiting:
#   1. connect fails (out of memory keeping {daemon_name}) without a
#      reply: MAIL answers with the error policy;
#   2. the decision log on (DATA without a reply), an MTA that sends
#      DATA: a refusal decided at MAIL comes at the end of headers;
#   3. no state can be made at connect (out of memory): MAIL answers
#      with the error policy;
#   4. no state can be made at negotiation: nothing kept of an earlier
#      connection at the same address is taken for this one's.
. "$SRCDIR/tests/milter/common.bash"

SHIM=$BUILD/tests/failalloc.so
[ -f "$SHIM" ] || die "$SHIM is not built: run make"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
fail451='y 451 4.3.0 Consent check failed, try again later'
ambig_550='y 550 5.7.1 Message matches several newsletter types "weekly-news,digest"'

# client SCRIPT [CHURN [OFFER]]: python with mproto's helpers, S the
# connection (negotiated offering OFFER), PROT its flags, CHURN the
# count of other connections to open and close before session 2, and
# show(), conn() at hand
client() {
	/usr/bin/python3 - "$SOCK" "$HERE" "${2:-0}" "${3:-1FFFFF}" "$CM_TMP" <<PY
import os, socket, struct, sys, time
sys.path.insert(0, sys.argv[2])
from mproto import send, recv, exchange, open_unix
SOCK, CHURN, TMP = sys.argv[1], int(sys.argv[3]), sys.argv[5]
s, prot = open_unix(SOCK, int(sys.argv[4], 16))
def show(n, what, r):
    print("session", n, what, (r[0] + " " + r[1].rstrip(b"\0").decode()).strip() if r else "-")
    sys.stdout.flush()
def conn(ip):
    return b"client.example\0" + b"4" + struct.pack(">H", 25) + ip + b"\0"
def churn():
    for _ in range(CHURN):
        o, _p = open_unix(SOCK)
        send(o, "Q")
        o.close()
def wait_log(text):
    for _ in range(200):
        if text in open(TMP + "/milter.log").read():
            return
        time.sleep(0.05)
    raise SystemExit("no log line: " + text)
$1
PY
}

# 1. connect fails without a reply in session 2 ({daemon_name}, which
# puts the client in scope, cannot be kept)
write_config "$cfg"
CM_TEST_FAIL_STRDUP=submission-campaign LD_PRELOAD=$SHIM start_milter "$cfg"
for churn in 0 1000; do
	out=$(client '
assert prot & 0x1000, "NR_CONN not negotiated"
for n in (1, 2):
    if n == 2:
        churn()
        send(s, "D", b"C{daemon_name}\0submission-campaign\0")
    exchange(s, prot, "C", conn(b"192.0.2.7" if n == 2 else b"127.0.0.1"))
    exchange(s, prot, "M", b"<weekly@news.example.com>\0")
    show(n, "RCPT", exchange(s, prot, "R", b"<alice@example.net>\0"))
    send(s, "A")
    if n == 1:
        send(s, "K")
send(s, "Q")' $churn 2>&1) || die "client failed: $out"
	expect_line "$out" "session 1 RCPT c"
	expect_line "$out" "session 2 RCPT $fail451"
done
stop_milter
echo "ok - a reused connection whose connect failed: MAIL's error policy (negotiation kept or forgotten)"

# 2. the decision log on: DATA without a reply (NR_DATA), the MTA sends
# DATA all the same (it does not offer to skip it)
write_config "$cfg"
printf 'multiple_types: refuse\nlog:\n  path: "%s/decisions"\n' "$CM_TMP" >>"$cfg"
start_milter "$cfg"
for churn in 0 1000; do
	out=$(client '
assert prot & 0x10000, "NR_DATA not negotiated"
for n in (1, 2):
    if n == 2:
        churn()
    exchange(s, prot, "C", conn(b"127.0.0.1"))
    if n == 2:
        send(s, "D", b"M{auth_authen}\0campaign-weekly\0")
    exchange(s, prot, "M", b"<x@digest.example.com>\0" if n == 2 else b"<weekly@news.example.com>\0")
    show(n, "RCPT alice", exchange(s, prot, "R", b"<alice@example.net>\0"))
    show(n, "RCPT carol", exchange(s, prot, "R", b"<carol@example.net>\0"))
    if n == 1:
        send(s, "A")
        send(s, "K")
        continue
    r = exchange(s, prot, "T")
    if r is not None:
        show(n, "DATA", r)
    exchange(s, prot, "L", b"Subject\0x\0")
    show(n, "EOH", exchange(s, prot, "N"))
send(s, "Q")' $churn 1FFDFF 2>&1) || die "client failed (churn $churn): $out"
	expect_line "$out" "session 2 RCPT alice $ambig_550"
	expect_line "$out" "session 2 RCPT carol c"
	expect_line "$out" "session 2 EOH $ambig_550"
done
stop_milter
echo "ok - a reused connection with DATA unanswered: the refusal at the end of headers"

# 3. no state at connect after QUIT_NC (the shim's calloc fails)
write_config "$cfg"
: >"$LOG"	# wait_log below looks for this run's line
CM_TEST_FAIL_CALLOC=$CM_TMP/failcalloc LD_PRELOAD=$SHIM start_milter "$cfg"
out=$(client '
for n in (1, 2):
    if n == 2:
        open(TMP + "/failcalloc", "w").close()
    exchange(s, prot, "C", conn(b"127.0.0.1"))
    if n == 2:
        wait_log("connect: out of memory")
        os.unlink(TMP + "/failcalloc")
    exchange(s, prot, "M", b"<weekly@news.example.com>\0")
    show(n, "RCPT", exchange(s, prot, "R", b"<carol@example.net>\0"))
    send(s, "A")
    if n == 1:
        send(s, "K")
send(s, "Q")' 2>&1) || die "client failed: $out"
expect_line "$out" 'session 1 RCPT y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'
expect_line "$out" "session 2 RCPT $fail451"
echo "ok - a reused connection whose state could not be made at connect: MAIL's error policy"

# 4. connections one after the other (libmilter mostly gives each the
# same context): one ends, the next cannot make its state at
# negotiation and is negotiated with every reply; it gets them all
out=$(client '
s.close()
for k in range(8):
    a, pa = open_unix(SOCK)
    exchange(a, pa, "C", conn(b"127.0.0.1"))
    send(a, "Q")
    a.recv(1)   # the end: the filter has closed it (and freed its context)
    a.close()
    open(TMP + "/failcalloc", "w").close()
    b, pb = open_unix(SOCK)
    os.unlink(TMP + "/failcalloc")
    assert pb & 0x5000 == 0, "no reply asked for: 0x%x" % pb
    b.settimeout(10)
    r = exchange(b, pb, "C", conn(b"127.0.0.1"))
    r2 = exchange(b, pb, "M", b"<weekly@news.example.com>\0")
    r3 = exchange(b, pb, "R", b"<carol@example.net>\0")
    print("round", k, r[0], r2[0], r3[0])
    send(b, "Q")
    b.close()' 2>&1) || die "client failed: $out"
[ "$(grep -c '^round [0-7] c c y$' <<<"$out")" = 8 ] || die "a connection negotiated without a state was not answered: $out"
stop_milter
echo "ok - nothing of an earlier connection is taken for one negotiated without a state"
# 5. libmilter drops QUIT_NC, and the connect after it, once a message
# was accepted or refused (its state machine is back at HELO): the next
# session's MAIL comes on the last session's connect.  Its connect
# macros ({client_addr}, {client_port}) are new: MAIL answers with the
# error policy, never with the old client's scope; so does every later
# MAIL of that session (what was seen at the old connect is not taken
# over by the first refusal).
write_config "$cfg"
start_milter "$cfg"
session5='
def message(n):
    r = exchange(s, prot, "M", b"<weekly@news.example.com>\0")
    if r is not None:
        show(n, "MAIL", r)
    else:
        show(n, "RCPT", exchange(s, prot, "R", b"<carol@example.net>\0"))
for n in (1, 2):
    ip = b"192.0.2.7" if n == 1 else b"127.0.0.1"
    send(s, "D", b"C{client_addr}\0" + ip + b"\0{client_port}\0" + str(40000 + n).encode() + b"\0")
    r = exchange(s, prot, "C", conn(ip))
    message(n)
    if n == 1:
        send(s, "K")
send(s, "A")
message("2b")
send(s, "Q")'
out=$(client "$session5" 2>&1) || die "client failed: $out"
if grep -q "session 1 MAIL" <<<"$out"; then
	expect_line "$out" "session 1 MAIL a"
	expect_line "$out" "session 2 MAIL $fail451"
	expect_line "$out" "session 2b MAIL $fail451"
else
	expect_line "$out" "session 1 RCPT a"
	expect_line "$out" "session 2 RCPT $fail451"
	expect_line "$out" "session 2b RCPT $fail451"
fi
expect_log "MAIL of a session whose connect the filter did not see; action=tempfail"
stop_milter
echo "ok - a session whose connect libmilter dropped: MAIL's error policy"
# the same with on_error: accept, which lets the message go on: the old
# connect is still not taken for the session's, so its next MAIL is
# another session's MAIL again (one error line each)
write_config "$cfg" enforce accept
start_milter "$cfg"
out=$(client "$session5" 2>&1) || die "client failed: $out"
n=$(grep -c "MAIL of a session whose connect the filter did not see; action=accept" "$LOG")
[ "$n" = 2 ] || die "want 2 error lines for the stale session's two MAILs, got $n: $out"
stop_milter
echo "ok - with on_error: accept, each MAIL of such a session is another session's"
echo "reuse: all checks passed"
