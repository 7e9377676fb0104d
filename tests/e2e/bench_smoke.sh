#!/usr/bin/env bash
# A smoke run of bench/postfix.sh (make bench's Postfix figures) at a tiny
# size, so that the benchmark keeps working between its long runs: every
# configuration delivers every recipient through the private Postfix, the
# do-nothing filters find every recipient they look up in the consent
# index itself (FLOOR_INDEX=same) and in their own (own), consent-milter's
# and consent-policy's decision logs hold a record per recipient, and the
# figures and the README table come out.  The figures themselves are not
# checked: timing goals live in `make bench`.
set -u
. "$SRCDIR/tests/e2e/lib/common.sh"
e2e_init
[ -x "$BUILD/consent-policy" ] || { echo "# consent-policy not built: skipped"; exit 77; }

run_bench() {	# run_bench FLOOR_INDEX CONFIGS RSS_MSGS
	FLOOR_INDEX=$1 BENCH_CONFIGS=$2 RSS_MSGS=$3 SESS=2 RCPTS=5 MSGS=20 \
		ROUNDS=2 INDEX=5000 bash "$SRCDIR/bench/postfix.sh" 2>&1
}

out=$(run_bench same "alone noop-policy noop noop-mail noop-eoh noop-nr cm-news cm-other cp-only cm-policy cm-log" 1100)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $rc = 0 ] || e2e_fail "bench/postfix.sh exited $rc"
case $out in *"needs root and Postfix"*) exit 77 ;; esac
for want in "the floors' lookups in the same index" \
	"README table" "| Postfix alone | 1.000 |" \
	"cm-news: target" "cm-other: target" "cp-only: target" \
	"decision log: 300 records (300 recipients sent), 0 without Message-ID" \
	"consent-milter anonymous RSS" \
	"consent-policy decision log: 5500 records (5500 requests sent), 1100 without queue id" \
	"noop-policy: requests=" "noop: lookups="; do
	[[ $out == *"$want"* ]] || e2e_fail "bench output lacks: $want"
done
echo "ok - every configuration, the floors in the consent index"

out=$(run_bench own "noop-policy noop cp-only" 0)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
[ $rc = 0 ] || e2e_fail "bench/postfix.sh (FLOOR_INDEX=own) exited $rc"
[[ $out == *"the floors' lookups in an index of their own"* ]] ||
	e2e_fail "FLOOR_INDEX=own not used"
echo "ok - the floors in an index of their own"
exit 0
