#!/usr/bin/env bash
# consentctl erase while the milter runs and writes its (hashed) decision
# log: the lines of the erased address and of its sub-addresses, as the
# milter hashed them, are removed from the file the milter holds open;
# the milter's next lines land in the rewritten file (none lost); the
# erased sub-address is refused as suppressed.
. "$SRCDIR/tests/milter/common.bash"
CTL=$BUILD/consentctl
[ -x "$CTL" ] || { echo "skip: $CTL not built"; exit 77; }

build_seed
seed_standard
seed <<'SEED'
grant eve@example.net weekly-news
grant eve+promo@example.net weekly-news
SEED
write_config "$CM_TMP/cm.yaml"
LOGDIR=$CM_TMP/decisions
cat >>"$CM_TMP/cm.yaml" <<EOF
log:
  path: "$LOGDIR"
EOF
start_milter "$CM_TMP/cm.yaml"

# msg N RCPT...: newsletter N (weekly-news, typed by the envelope).
msg() {
	local n=$1 r args=(--mail "<weekly@news.example.com>")
	shift
	for r in "$@"; do args+=(--rcpt "<$r>"); done
	args+=(--data --header From "<weekly@news.example.com>"
		--header Message-ID "<m$n@news.example.com>" --eoh)
	printf '%s\n' "${args[@]}"
}
# lines N: wait (at most 10 s) until the log holds N lines.
lines() {
	for _ in $(seq 200); do
		[ "$(cat "$LOGDIR"/decisions-*.jsonl 2>/dev/null | grep -c .)" -ge "$1" ] && return 0
		sleep 0.05
	done
	die "the decision log did not reach $1 lines: $(cat "$LOGDIR"/* 2>/dev/null)"
}
MACROS=(--macro R i QID1 --macro T i QID1 --macro N i QID1)

mapfile -t m1 < <(msg 1 alice@example.net Eve@example.net eve+promo@example.net eve+x@example.net)
out=$(proto --neg "${MACROS[@]}" "${m1[@]}") || die "mproto failed"
expect_line "$out" 'RCPT <eve+promo@example.net> c'
lines 4
grep -q 'example\.net' "$LOGDIR"/decisions-*.jsonl && die "hashed log holds an address: $(cat "$LOGDIR"/*)"

out=$("$CTL" -c "$CM_TMP/cm.yaml" erase eve@example.net 2>&1) || die "erase: $out"
grep -qxF 'eve+promo@example.net: erased with it' <<<"$out" || die "erase: $out"
grep -qxF 'decision log: 3 lines removed from 1 file' <<<"$out" || die "erase: $out"
echo "ok - erase while the milter runs: 3 hashed lines removed"

mapfile -t m2 < <(msg 2 alice@example.net eve+promo@example.net)
out=$(proto --neg "${MACROS[@]}" "${m2[@]}") || die "mproto failed"
expect_line "$out" 'RCPT <eve+promo@example.net> y 550 5.7.1 <eve+promo@example.net>: no consent for newsletter "weekly-news" (suppressed)'
lines 3
stop_milter	# flushes the log

/usr/bin/python3 - "$LOGDIR" "$DB/declog.key" <<'PY' || die "decision log"
import glob, hmac, hashlib, json, sys
key = open(sys.argv[2], "rb").read()
h = lambda s: "hmac-sha256:" + hmac.new(key, s.encode(), hashlib.sha256).hexdigest()
recs = [json.loads(l) for f in sorted(glob.glob(sys.argv[1] + "/decisions-*.jsonl"))
        for l in open(f, encoding="utf-8")]
got = sorted((r["message_id"], r["rcpt"]) for r in recs)
want = sorted([("<m1@news.example.com>", h("alice@example.net")),
               ("<m2@news.example.com>", h("alice@example.net")),
               ("<m2@news.example.com>", h("eve+promo@example.net"))])
assert got == want, (got, want)
print("ok - decision log: the milter's later lines kept, none of eve's from before the erasure")
PY
