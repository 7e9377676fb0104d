#!/usr/bin/env bash
# A smoke run of bench/instr.sh (make bench's instruction counts) at a
# tiny size, so that it keeps working between its long runs: all four
# daemons start under callgrind, every recipient is looked up (the floors
# find each one in the consent index, consent-milter allows each one),
# and a count a message and a request comes out for each.  The counts
# themselves are not checked: goals live in `make bench`.  Skipped in the
# SANITIZE=1 pass (valgrind does not run sanitized programs) and where
# valgrind is missing.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
[ "${SANITIZE:-}" = 1 ] && { echo "instr_smoke: runs in the plain pass"; exit 77; }
command -v callgrind_control >/dev/null || { echo "instr_smoke: valgrind not installed" >&2; exit 77; }
out=$(MSGS=30 RCPTS=5 INDEX=1000 BUILD=$BUILD bash "$SRCDIR/bench/instr.sh" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $rc = 0 ] || { echo "FAIL: bench/instr.sh exited $rc"; exit 1; }
for want in "30 messages x 5 recipients" "replies: accept=30 c=150" \
	"actions: DUNNO=150"; do
	[[ $out == *"$want"* ]] || { echo "FAIL: bench/instr.sh output lacks: $want"; exit 1; }
done
for row in "consent-milter, newsletter typed by sender" \
	"noop_milter, RCPT only" "consent-policy, newsletter typed by sender" \
	"noop_policy, 1 lookup"; do
	# the count column, then the ratio or "-"
	grep -qE "^$row.*[[:space:]][0-9]+[[:space:]]+(-|[0-9]+\.[0-9]{3} x)\$" <<<"$out" ||
		{ echo "FAIL: no count for: $row"; exit 1; }
done
echo "ok - instruction counts of both daemons and their floors"
