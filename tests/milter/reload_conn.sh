#!/usr/bin/env bash
# A connection negotiated under a policy without header rules (the MTA
# sends no headers on it) that lives across a reload to a policy with
# header rules: the new policy could type the message (or add a type to
# it) by headers this connection never sends, so it is deferred at MAIL
# by the new policy's on_error, not decided by the negotiated policy
# (which was in monitor mode and would have let it through).
. "$SRCDIR/tests/milter/common.bash"

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
cat > "$cfg" <<YAML
milter:
  socket: "unix:$SOCK"
  mode: monitor
database:
  path: "$DB"
scope:
  networks: [127.0.0.0/8]
unclassified_bulk: accept
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
start_milter "$cfg"

# One connection: negotiate, connect, then wait for the reload.
/usr/bin/python3 - "$SOCK" "$CM_TMP/go" "$HERE" >"$CM_TMP/out" 2>&1 <<'PY' &
import os, struct, sys, time
sys.path.insert(0, sys.argv[3])
from mproto import send, recv, exchange, open_unix
s, prot = open_unix(sys.argv[1])
print("NOHDRS", "yes" if prot & 0x20 else "no")
# no reply awaited where connect is negotiated without one (as Postfix)
r = exchange(s, prot, "C", b"client.example\0" + b"4" + struct.pack(">H", 25) + b"127.0.0.1\0")
print("CONNECT", r[0] if r else "-")
sys.stdout.flush()
for _ in range(200):
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.05)
# MAIL's answer comes at the first RCPT where MAIL has no reply
r = exchange(s, prot, "M", b"<weekly@news.example.com>\0")
if r is None:
    r = exchange(s, prot, "R", b"<carol@example.net>\0")
print("ANSWER", r[0], r[1].rstrip(b"\0").decode())
send(s, "Q")
s.close()
PY
client=$!
for _ in $(seq 100); do
	grep -q '^CONNECT' "$CM_TMP/out" && break
	sleep 0.05
done
grep -qx 'NOHDRS yes' "$CM_TMP/out" || die "headers not negotiated away: $(cat "$CM_TMP/out")"

write_config "$CM_TMP/new.yaml" enforce
cp "$CM_TMP/new.yaml" "$cfg"
kill -USR1 "$MILTER_PID"
for _ in $(seq 100); do
	grep -q 'reloaded .*mode=enforce' "$LOG" && break
	sleep 0.05
done
expect_log 'reloaded .*mode=enforce'
touch "$CM_TMP/go"
wait "$client" || die "client failed: $(cat "$CM_TMP/out")"
out=$(cat "$CM_TMP/out")
expect_line "$out" 'ANSWER y 451 4.3.0 Consent check failed, try again later'
expect_log 'reloaded policy types mail by headers this connection does not send; action=tempfail'
stop_milter
echo "reload_conn: all checks passed"
