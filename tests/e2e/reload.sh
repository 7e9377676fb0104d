#!/usr/bin/env bash
# Reload under load (issue 6, SPEC §3): while mail flows through a real
# Postfix continuously, 20 SIGUSR1 reloads alternate between two valid
# policies and invalid files.  Policy A classifies the campaign as type
# "alpha", policy B as "beta"; r1 consented to alpha only, r2 to beta
# only, r3 to both.  So every outcome names the policy that decided it:
#   alpha: r1 kept, r2 refused/removed ("alpha"), r3 kept
#   beta:  r1 refused/removed ("beta"), r2 kept, r3 kept
# The invalid files (a YAML syntax error; an unknown key beside a type
# "gamma" nobody consented to) must never be in force: no outcome may
# mention gamma, and after each of them a probe message is still decided
# by the policy before it.
# Asserted: no failed message (no 4xx/5xx other than the expected consent
# refusals, no connection error), none lost and none duplicated (every
# accepted message reaches the sink exactly once, every refused one never),
# each message decided by exactly one valid policy (consistently across
# its recipients), both policies seen under load, the daemon alive
# throughout and stopping cleanly.
# The two policies also differ in their log: and dsn: sections (issue 11,
# item 5): A logs recipients in clear and sends DSNs to sink dsn-a, B
# hashes them and sends DSNs to dsn-b, both through one spool.  So every
# valid reload switches the decision log writer and retargets the DSN
# queue under load.  Asserted: each header-typed message (one recipient
# removed) gets exactly one DSN, at one of the two targets; each message
# has exactly its 3 decision records, all written by one writer (all in
# clear or all hashed); both writers were used.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init

CM=$BUILD/consent-milter
[ -x "$CM" ] || e2e_fail "$CM not built"
command -v pkg-config >/dev/null || e2e_skip "pkg-config missing"

COUNT=${RELOAD_MESSAGES:-400}	# messages in the load
RELOADS=20
ENV_FROM=news@reload.example
HDR_FROM=shop@reload.example

# ---------------------------------------------------------------- set-up
e2e_seed_tool
DB=$CM_TMP/db
mkdir -p "$DB"
"$CM_TMP/seed" "$DB" <<'EOF' || e2e_fail "seeding the index"
grant r1@rl.example alpha
grant r2@rl.example beta
grant r3@rl.example alpha
grant r3@rl.example beta
EOF

MPORT=$(e2e_freeport)
CONF=$CM_TMP/consent-milter.yaml
e2e_start_aux_sink dsn-a
DPORT_A=$AUX_PORT
e2e_start_aux_sink dsn-b
DPORT_B=$AUX_PORT
# outlets HASH DSN_PORT: the log: and dsn: sections of a policy.
outlets() {
	cat <<EOF
log:
  path: "$CM_TMP/decisions"
  hash_recipients: $1
dsn:
  target: "inet:$2@127.0.0.1"
  spool: "$CM_TMP/dsnspool"
  retry_delay: 1s
  max_delay: 1s
  timeout: 10s
EOF
}
# policy ID [EXTRA]: a policy whose only type, ID, matches the campaign
# by envelope sender and by header; EXTRA is appended at the top level.
policy() {
	cat <<EOF
milter:
  socket: "inet:$MPORT@127.0.0.1"
  mode: enforce
  on_error: tempfail
database:
  path: "$DB"
scope:
  authenticated: false
  networks: [127.0.0.0/8]
unclassified_bulk: accept
newsletters:
  - id: $1
    name: "Type $1"
    consent: opt-in
    match:
      - envelope_sender: "$ENV_FROM"
      - header:
          name: X-Newsletter-Type
          value: "reload-test"
${2:-}
EOF
}
policy alpha "$(outlets false "$DPORT_A")" >"$CM_TMP/A.yaml"
policy beta "$(outlets true "$DPORT_B")" >"$CM_TMP/B.yaml"
policy gamma "colour: blue" >"$CM_TMP/bad1.yaml"
{ policy gamma; printf 'newsletters: [\n  - id: "unterminated\n'; } >"$CM_TMP/bad2.yaml"
for f in A B; do
	"$CM" -n -c "$CM_TMP/$f.yaml" >"$CM_TMP/check.out" 2>&1 ||
		{ cat "$CM_TMP/check.out" >&2; e2e_fail "consent-milter -n $f.yaml"; }
done
for f in bad1 bad2; do
	"$CM" -n -c "$CM_TMP/$f.yaml" >"$CM_TMP/check.out" 2>&1 &&
		{ cat "$CM_TMP/check.out" >&2; e2e_fail "consent-milter -n accepts $f.yaml"; }
done
echo "ok - policies A and B valid, the two bad files refused by consent-milter -n"

cp "$CM_TMP/A.yaml" "$CONF"
e2e_start_milter "$MPORT" "$CM" -f -c "$CONF"
CM_PID=$MILTER_PID
e2e_start_sink
e2e_pf_setup "inet:127.0.0.1:$MPORT"
e2e_pf_start

# The two kinds of message, alternately: type from the envelope (decided
# at RCPT) and from a header (decided at end of data).
cat >"$CM_TMP/kinds.json" <<EOF
[{"name": "env", "from": "$ENV_FROM", "rcpts": ["r1@rl.example", "r2@rl.example", "r3@rl.example"]},
 {"name": "hdr", "from": "$HDR_FROM", "rcpts": ["r1@rl.example", "r2@rl.example", "r3@rl.example"],
  "headers": ["X-Newsletter-Type: reload-test"]}]
EOF

# probe EXPECTED N: one envelope-typed message; fail unless policy
# EXPECTED (alpha|beta) decides it.  Message-ID <probe-N@e2e.test>.
probe() {
	local want=$1 n=$2 out=$CM_TMP/probe-$2.json got
	"$PY" "$E2E_LIB/smtpclient.py" --port "$PF_PORT" --out "$out" --from "$ENV_FROM" \
		--rcpt r1@rl.example --rcpt r2@rl.example --rcpt r3@rl.example \
		--message-id "<probe-$n@e2e.test>" || e2e_fail "probe $n: smtpclient failed"
	got="$(e2e_q rcpt "$out" r1@rl.example) | $(e2e_q rcpt "$out" r2@rl.example)"
	case "$want" in
	alpha) [ "$got" = '250 2.1.5 Ok | 550 5.7.1 <r2@rl.example>: no consent for newsletter "alpha" (no-consent)' ] ;;
	beta) [ "$got" = '550 5.7.1 <r1@rl.example>: no consent for newsletter "beta" (no-consent) | 250 2.1.5 Ok' ] ;;
	esac || e2e_fail "probe $n: want policy $want in force, got: $got"
}

# wait_reloads N: until the milter has logged N reload outcomes.
wait_reloads() {
	local i
	for ((i = 0; i < 400; i++)); do
		[ "$(grep -cE 'notice: reloaded |reload failed' "$MILTER_LOG")" -ge "$1" ] && return 0
		kill -0 "$CM_PID" 2>/dev/null || e2e_fail "the milter died (reload $1)"
		sleep 0.05
	done
	e2e_fail "reload $1: no outcome logged within 20s"
}

probe alpha 0
echo "ok - policy A in force at start"
probes=1

# ---------------------------------------------------------------- the load
# The load is paced by credit: before reload k, the sender may go up to
# (k + 2) / (RELOADS + 1) of the messages, and reload k waits until k /
# (RELOADS + 1) are done; so mail is in flight at every reload, whatever
# the speed of the machine, and the reloads are spread over the load.
step=$((COUNT / (RELOADS + 1)))
credit() { echo "$1" >"$CM_TMP/credit.tmp" && mv "$CM_TMP/credit.tmp" "$CM_TMP/credit"; }
credit $((2 * step))
"$PY" "$E2E_LIB/loadgen.py" --port "$PF_PORT" --kinds "$CM_TMP/kinds.json" \
	--out "$CM_TMP/load.jsonl" --count "$COUNT" --conns 4 --per-conn 10 --seconds 300 \
	--progress "$CM_TMP/progress" --credit-file "$CM_TMP/credit" 2>"$CM_TMP/loadgen.err" &
LOAD_PID=$!
e2e_on_exit "e2e_kill_pid $LOAD_PID 5"
progress() { cat "$CM_TMP/progress" 2>/dev/null || echo 0; }

# Sequence: B, bad, A, bad, B, bad, A, ... (the bad ones alternate).
in_force=alpha
start=$SECONDS
for ((k = 1; k <= RELOADS; k++)); do
	while [ "$(progress)" -lt $((k * step)) ]; do
		kill -0 "$LOAD_PID" 2>/dev/null || e2e_fail "the load ended (its 300 s bound?) after $(progress) messages, before reload $k"
		sleep 0.02
	done
	credit $(((k + 2) * step))
	case $((k % 4)) in
	1) file=B.yaml in_force=beta ;;
	3) file=A.yaml in_force=alpha ;;
	2) file=bad1.yaml ;;
	0) file=bad2.yaml ;;
	esac
	cp "$CM_TMP/$file" "$CONF"
	kill -USR1 "$CM_PID" || e2e_fail "reload $k: the milter is gone"
	wait_reloads "$k"
	probe "$in_force" "$k"
	probes=$((probes + 1))
	e2e_log "reload $k: $file, $in_force in force, $(progress) messages done"
done
credit "$COUNT"
echo "ok - $RELOADS reloads under load, each followed by a probe decided by the expected policy"
wait "$LOAD_PID"
rc=$?
[ "$rc" = 0 ] || { cat "$CM_TMP/loadgen.err" >&2; e2e_fail "loadgen exited $rc"; }
kill -0 "$CM_PID" 2>/dev/null || e2e_fail "the milter died"
sent=$(wc -l <"$CM_TMP/load.jsonl")
e2e_log "load: $sent messages in $((SECONDS - start))s"
[ "$sent" -eq "$COUNT" ] || e2e_fail "load: $sent of $COUNT messages sent in time"
echo "ok - $sent messages sent while reloading"

# Every message accepted by Postfix must reach the sink: wait for the
# count, then for an empty queue.
accepted=$("$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if (json.loads(l).get("data") or [0])[0] == 250))' "$CM_TMP/load.jsonl")
e2e_wait_delivered $((accepted + probes)) 60
e2e_settle 1

# ---------------------------------------------------------------- verdicts
"$PY" - "$CM_TMP/load.jsonl" "$SINK_DIR" <<'PY' || e2e_fail "reload under load: see the problems above"
import email.parser, email.policy, glob, json, os, sys
results, sink = sys.argv[1], sys.argv[2]
R = ["r1@rl.example", "r2@rl.example", "r3@rl.example"]
ok = "250 2.1.5 Ok"
def deny(r, t):
    return '550 5.7.1 <%s>: no consent for newsletter "%s" (no-consent)' % (r, t)
# RCPT replies and delivered recipients under each policy
ENV = {"alpha": [ok, deny(R[1], "alpha"), ok], "beta": [deny(R[0], "beta"), ok, ok]}
KEPT = {"alpha": [R[0], R[2]], "beta": [R[1], R[2]]}
TRACE = {"alpha": "type=alpha; removed=1; kept=2", "beta": "type=beta; removed=1; kept=2"}

delivered = {}	# Message-ID -> list of (recipients, trace header)
for j in glob.glob(os.path.join(sink, "msgs", "*.json")):
    meta = json.load(open(j, encoding="utf-8"))
    with open(os.path.join(sink, "msgs", meta["data"]), "rb") as f:
        head = f.read().split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    h = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head, headersonly=True)
    mid = str(h.get("Message-ID", "")).strip()
    trace = " ".join(str(h.get("X-Consent-Milter", "")).split())
    delivered.setdefault(mid, []).append((sorted(meta["rcpts"]), trace))

problems, by = [], {"alpha": 0, "beta": 0}
mids = set()
for line in open(results, encoding="utf-8"):
    m = json.loads(line)
    mid, kind = m["message_id"], m["kind"]
    mids.add(mid)
    tag = "message %d (%s, %s)" % (m["i"], kind, mid)
    def bad(what):
        problems.append("%s: %s; replies: %s" % (tag, what, json.dumps(
            {k: m[k] for k in ("mail", "rcpts", "data", "error")})))
    if m["error"]:
        bad("error")
        continue
    if not m["mail"] or m["mail"][0] != 250:
        bad("MAIL not accepted")
        continue
    got = ["%d %s" % (c, t) for (_, c, t) in m["rcpts"]]
    if [a for (a, _, _) in m["rcpts"]] != R:
        bad("recipients not all answered")
        continue
    if not m["data"] or m["data"][0] != 250:
        bad("DATA not accepted")
        continue
    if kind == "env":
        pol = [p for p in ENV if ENV[p] == got]
        if len(pol) != 1:
            bad("RCPT replies match neither policy alone")
            continue
        pol = pol[0]
    else:
        if got != [ok, ok, ok]:
            bad("header-typed message refused at RCPT")
            continue
        pol = None
    d = delivered.get(mid, [])
    if len(d) != 1:
        bad("reached the sink %d times" % len(d))
        continue
    rcpts, trace = d[0]
    if kind == "hdr":
        pol = [p for p in KEPT if KEPT[p] == rcpts and TRACE[p] == trace]
        if len(pol) != 1:
            bad("delivered to %s with trace %r: neither policy alone" % (rcpts, trace))
            continue
        pol = pol[0]
    elif rcpts != KEPT[pol]:
        bad("decided by %s at RCPT but delivered to %s" % (pol, rcpts))
        continue
    if "gamma" in json.dumps(m) or "gamma" in trace:
        bad("the invalid policy decided it")
        continue
    by[pol] += 1
for mid, d in delivered.items():
    if mid not in mids and not mid.startswith("<probe-"):
        problems.append("unexpected message at the sink: %s %s" % (mid, d))
    if mid.startswith("<probe-") and len(d) != 1:
        problems.append("probe %s reached the sink %d times" % (mid, len(d)))
for p in problems[:20]:
    print("PROBLEM:", p)
if len(problems) > 20:
    print("PROBLEM: ... and %d more" % (len(problems) - 20))
print("# decided by policy A (alpha): %d, by policy B (beta): %d" % (by["alpha"], by["beta"]))
if not problems and (by["alpha"] == 0 or by["beta"] == 0):
    problems.append("one policy never decided a message of the load")
    print("PROBLEM: both policies must decide part of the load")
if problems:
    sys.exit(1)
print("ok - every message accepted once, delivered once, decided by exactly one valid policy")
PY

# ---------------------------------------------------------------- DSNs
# Every accepted header-typed message had one recipient removed: one DSN
# each, at either target, none lost and none sent twice.  (Which target
# gets a DSN depends on when the queue sends it: the target in force
# then, A or B.)
hdr=$("$PY" -c 'import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["kind"] == "hdr" and (json.loads(l).get("data") or [0])[0] == 250))' "$CM_TMP/load.jsonl")
dsn_total() { find "$CM_TMP/dsn-a/msgs" "$CM_TMP/dsn-b/msgs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
for ((i = 0; i < 600; i++)); do
	[ "$(dsn_total)" -ge "$hdr" ] && break
	sleep 0.1
done
"$PY" - "$CM_TMP/load.jsonl" "$CM_TMP/dsn-a" "$CM_TMP/dsn-b" <<'PY' || e2e_fail "DSNs across reloads"
import glob, json, os, re, sys
want = {json.loads(l)["message_id"] for l in open(sys.argv[1], encoding="utf-8")
        if json.loads(l)["kind"] == "hdr" and (json.loads(l).get("data") or [0])[0] == 250}
seen, per = {}, {}
for d in sys.argv[2:]:
    for f in glob.glob(os.path.join(d, "msgs", "*.eml")):
        m = re.search(rb"^Message-ID: (<loadgen-[^>]+>)", open(f, "rb").read(), re.M)
        assert m, "a DSN without the original Message-ID: %s" % f
        mid = m.group(1).decode()
        seen[mid] = seen.get(mid, 0) + 1
        per[d] = per.get(d, 0) + 1
missing = sorted(want - set(seen))
twice = sorted(m for m, n in seen.items() if n > 1)
extra = sorted(set(seen) - want)
assert not missing, "%d messages got no DSN, e.g. %s" % (len(missing), missing[:3])
assert not twice, "%d DSNs sent twice, e.g. %s" % (len(twice), twice[:3])
assert not extra, "DSNs for no removed recipient: %s" % extra[:3]
print("ok - %d header-typed messages, %d DSNs (%s), each once" % (len(want), len(seen),
      ", ".join("%s: %d" % (os.path.basename(k), v) for k, v in sorted(per.items()))))
PY

# ---------------------------------------------------------------- the daemon
e2e_assert_eq $((RELOADS / 2)) "$(grep -c 'notice: reloaded ' "$MILTER_LOG")" "valid reloads logged"
e2e_assert_eq $((RELOADS / 2)) "$(grep -c 'reload failed; the previous policy stays' "$MILTER_LOG")" \
	"invalid reloads logged as failed, the previous policy kept"
grep 'verdict=' "$MILTER_LOG" | grep -q 'type=gamma' &&
	e2e_fail "a decision under the invalid policy was logged"
if grep -Eq 'status=(deferred|bounced)|milter-reject: .*(4[0-9][0-9] 4\.|451)' "$PF_DIR/maillog"; then
	grep -E 'status=(deferred|bounced)|milter-reject: .*(4[0-9][0-9] 4\.|451)' "$PF_DIR/maillog" | head -n 5 >&2
	e2e_fail "Postfix deferred, bounced or tempfailed mail"
fi
echo "ok - Postfix deferred, bounced and tempfailed nothing"
[ "$MILTER_PID" = "$CM_PID" ] || e2e_fail "the milter was restarted"
e2e_stop_milter TERM
echo "ok - the same milter process ran throughout and stopped gracefully on SIGTERM (exit 0)"
"$PY" - "$CM_TMP/load.jsonl" "$CM_TMP/decisions" <<'PY' || e2e_fail "decision log across reloads"
import glob, json, sys
sent = {json.loads(l)["message_id"] for l in open(sys.argv[1], encoding="utf-8")}
recs = {}
for f in sorted(glob.glob(sys.argv[2] + "/decisions-*.jsonl")):
    for l in open(f, encoding="utf-8"):
        r = json.loads(l)
        recs.setdefault(r["message_id"], []).append(r)
bad, kinds = [], {"clear": 0, "hashed": 0}
for mid in sent:
    rs = recs.get(mid, [])
    hashed = {r["rcpt"].startswith("hmac-sha256:") for r in rs}
    if len(rs) != 3 or len(hashed) != 1:
        bad.append("%s: %d records, hashed %s" % (mid, len(rs), sorted(hashed)))
        continue
    kinds["hashed" if hashed.pop() else "clear"] += 1
for b in bad[:10]:
    print("PROBLEM:", b)
assert not bad, "%d messages without exactly 3 records of one writer" % len(bad)
assert kinds["clear"] and kinds["hashed"], "both writers must log part of the load: %r" % kinds
print("ok - every message has its 3 decision records from one writer (%d in clear, %d hashed)"
      % (kinds["clear"], kinds["hashed"]))
PY
e2e_check_sanitizers
exit 0
