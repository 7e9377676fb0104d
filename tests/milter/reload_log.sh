#!/usr/bin/env bash
# A reload applies the log: section (issue 11, item 5): turning on
# hash_recipients makes the next decision-log records hashed, while a
# message under way at the reload is finished by the writer it started
# with (its records in clear, none lost).  A changed milter.socket is
# named in the log as needing a restart (the old socket stays in use),
# and a log: section that cannot be opened fails the reload as a whole:
# the previous policy and writer stay, the daemon lives on.  A reload
# without a log: section stops the log for the next messages.
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
LOGDIR=$CM_TMP/decisions
# conf HASH [SOCKET [LOGDIR]]: the test policy with a log: section.
conf() {
	write_config "$cfg.new"
	sed -i "s|^  socket: .*|  socket: \"unix:${2:-$SOCK}\"|" "$cfg.new"
	printf 'log:\n  path: "%s"\n  hash_recipients: %s\n' "${3:-$LOGDIR}" "$1" >>"$cfg.new"
	mv "$cfg.new" "$cfg"
}
# wait_log PATTERN COUNT: until the log has COUNT lines matching PATTERN.
wait_log() {
	for _ in $(seq 200); do
		[ "$(grep -cE -- "$1" "$LOG")" -ge "$2" ] && return 0
		sleep 0.05
	done
	die "log never had $2 line(s) matching: $1"
}
conf false
start_milter "$cfg"

# A message under way: MAIL and RCPTs now, its end after the reload.
/usr/bin/python3 - "$SOCK" "$CM_TMP/go" "$HERE" >"$CM_TMP/out" 2>&1 <<'PY' &
import os, struct, sys, time, socket
sys.path.insert(0, sys.argv[3])
from mproto import send, recv, exchange, open_unix
s, prot = open_unix(sys.argv[1])
# no reply awaited where connect is negotiated without one (as Postfix)
exchange(s, prot, "C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
r = exchange(s, prot, "M", b"<weekly@news.example.com>\0")
print("MAIL", r[0] if r else "-")
for r in (b"<alice@example.net>", b"<carol@example.net>"):
    send(s, "R", r + b"\0")
    print("RCPT", r.decode(), recv(s)[0])
print("UNDER WAY")
sys.stdout.flush()
for _ in range(400):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
send(s, "A")	# abort: the message ends, its records are written
send(s, "Q")
s.close()
print("DONE")
PY
client=$!
for _ in $(seq 200); do
	grep -q '^UNDER WAY' "$CM_TMP/out" && break
	sleep 0.05
done
grep -q '^UNDER WAY' "$CM_TMP/out" || die "client: $(cat "$CM_TMP/out")"

# Reload: hashed records, and a socket that needs a restart.
conf true "$CM_TMP/other.sock"
kill -USR1 "$MILTER_PID"
wait_log 'reloaded ' 1
expect_log 'reload: milter\.socket changed; it takes effect after a restart'
[ -S "$CM_TMP/other.sock" ] && die "the new socket was opened without a restart"
echo "ok - a changed socket is logged as needing a restart"

touch "$CM_TMP/go"
wait "$client" || die "client failed: $(cat "$CM_TMP/out")"
grep -qx DONE "$CM_TMP/out" || die "client: $(cat "$CM_TMP/out")"
# the next message, on the old socket, after the reload
out=$(proto --mail "<weekly@news.example.com>" --rcpt "<alice@example.net>" \
	--rcpt "<carol@example.net>" --rcpt "<frank@example.net>" --eom) || die "mproto failed"
expect_line "$out" 'RCPT <carol@example.net> y 550 5.7.1 <carol@example.net>: no consent for newsletter "weekly-news" (no-consent)'

# A log: section that cannot be opened: the reload fails, nothing changes.
conf false "$SOCK" /proc/consent-milter-test
kill -USR1 "$MILTER_PID"
wait_log 'reload failed; the previous policy stays in force' 1
expect_log 'reload: cannot open the decision log /proc/consent-milter-test'
kill -0 "$MILTER_PID" || die "the milter died on a reload it could not apply"
proto --mail "<weekly@news.example.com>" --rcpt "<dave@example.net>" --eom >/dev/null ||
	die "mproto failed"
echo "ok - a log directory that cannot be opened fails the reload; the daemon lives on"

# Without a log: section the next messages are not logged.
write_config "$cfg"
kill -USR1 "$MILTER_PID"
wait_log 'reloaded ' 2
expect_log 'reload: decision log off'
proto --mail "<weekly@news.example.com>" --rcpt "<erin@example.net>" --eom >/dev/null ||
	die "mproto failed"

stop_milter	# flushes the log
/usr/bin/python3 - "$LOGDIR" <<'PY' || die "decision log"
import glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/decisions-*.jsonl"))
recs = [json.loads(l) for f in files for l in open(f, encoding="utf-8")]
clear = sorted(r["rcpt"] for r in recs if not r["rcpt"].startswith("hmac-sha256:"))
hashed = [r for r in recs if r["rcpt"].startswith("hmac-sha256:")]
assert clear == ["alice@example.net", "carol@example.net"], \
    "want the message under way in clear (its writer), the rest hashed: %r" % recs
assert len(hashed) == 4, "want 4 hashed records (3 + 1 after the reload): %r" % recs
for r in hashed:
    assert r["sender"].startswith("hmac-sha256:"), r
blob = "".join(open(f, encoding="utf-8").read() for f in files)
for a in ("frank@example.net", "dave@example.net", "erin@example.net"):
    assert a not in blob, a
print("ok - records of the message under way in clear, every later one hashed")
PY
echo "reload_log: all checks passed"
