#!/usr/bin/env bash
# Writers at once never corrupt the index.  Each run, on a new index: a
# large import, and during it a second import (killed with -9 in some
# runs), single grants (some with --no-wait), withdrawals, an objection
# and an erasure, with varied delays, while `consentctl check` loops and
# the milter decides (it follows the index, replaced at each run).
# Every run must end with an index that opens and holds exactly what the
# commands that succeeded reported (a killed import: all or nothing); no
# check may fail, and neither check nor the milter may allow a recipient
# without consent.
#
#   CM_CONC_ROWS  rows of the large import (default 200000)
#   CM_CONC_RUNS  runs (default 12; 50 with CM_SOAK=1, as `make soak` does)
. "$(dirname "$0")/ctl-lib.bash"

ROWS=${CM_CONC_ROWS:-200000}
if [ "${CM_SOAK:-0}" = 1 ]; then RUNS=${CM_CONC_RUNS:-50}; else RUNS=${CM_CONC_RUNS:-12}; fi
SEC=1000		# second import: 900 grants, 100 withdrawals of big rows

awk -v n="$ROWS" 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
	for (i = 0; i < n; i++) printf "big%d@example.com,weekly-news,granted,2026-09-01T00:00:00Z,crm,,,\n", i }' >"$T/big.csv"
awk 'BEGIN { print "email,type,state,time,source,basis,purpose,evidence";
	for (i = 0; i < 900; i++) printf "sec%d@example.com,weekly-news,granted,2026-09-02T00:00:00Z,web,,,\n", i;
	for (i = 0; i < 100; i++) printf "big%d@example.com,weekly-news,withdrawn,2026-10-01T00:00:00Z,unsubscribe,,,\n", i }' >"$T/sec.csv"

X=$T/x			# per-run outputs

# The milter, when built: its own policy, a unix socket in $T.
MILTER=$BUILD/consent-milter
MPROTO=$SRCDIR/tests/milter/mproto.py
SOCK=$T/milter.sock
MLOG=$T/milter.log
MILTER_PID=
cat >"$T/milter.yaml" <<YAML
milter:
  socket: "unix:$SOCK"
  mode: enforce
  on_error: tempfail
database:
  path: "$DB"
scope:
  authenticated: true
  networks: [127.0.0.0/8]
newsletters:
  - id: weekly-news
    name: "Weekly news"
    consent: opt-in
    match:
      - envelope_sender: "weekly@news.example.com"
YAML
stop_milter() {
	[ -n "$MILTER_PID" ] || return 0
	kill -TERM "$MILTER_PID" 2>/dev/null
	wait "$MILTER_PID"
	local r=$?
	MILTER_PID=
	return $r
}
trap stop_milter EXIT
start_milter() {
	[ -x "$MILTER" ] && [ -f "$MPROTO" ] || return 0
	"$MILTER" -f -c "$T/milter.yaml" >>"$MLOG" 2>&1 &
	MILTER_PID=$!
	for _ in $(seq 200); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$MILTER_PID" 2>/dev/null || fail "the milter exited at start: $(tail -5 "$MLOG")"
		sleep 0.05
	done
	fail "the milter's socket did not appear"
}
# milter_decides: one message to two recipients without consent and one
# of the large import; an allowed recipient without consent is a
# violation, a tempfail is counted (the index being replaced).
milter_decides() {
	local o
	[ -n "$MILTER_PID" ] || return 0
	o=$("$PY" "$MPROTO" "unix:$SOCK" --mail "<weekly@news.example.com>" \
		--rcpt "<never@example.com>" --rcpt "<p4@example.com>" \
		--rcpt "<big7@example.com>" 2>&1) ||
		{ echo "milter: $o" >>"$X/violations"; return; }
	grep -E '^RCPT <(never|p4)@example.com> c' <<<"$o" >>"$X/violations"
	grep -c ' 451 ' <<<"$o" >>"$X/tempfails"
}
ctl() { "$CTL" -c "$CONF" "$@"; }

# spawn NAME ARGS...: consentctl in the background; exit status in
# $X/NAME.rc
spawn() {
	local name=$1; shift
	{ ctl "$@" >"$X/$name.out" 2>"$X/$name.err"; echo $? >"$X/$name.rc"; } &
}
rc_of() { cat "$X/$1.rc"; }

# checker: until $X/stop exists, check recipients that have no consent
# (must be "deny") and one of the large import (allow or deny); any
# other answer is written to $X/violations.
checker() {
	local n=0 r
	while [ ! -e "$X/stop" ]; do
		for a in never@example.com p4@example.com; do
			ctl check "$a" weekly-news >/dev/null 2>>"$X/check.err"
			r=$?
			[ "$r" = 1 ] || echo "check $a: exit $r" >>"$X/violations"
		done
		ctl check big7@example.com weekly-news >/dev/null 2>>"$X/check.err"
		r=$?
		[ "$r" = 0 ] || [ "$r" = 1 ] || echo "check big7: exit $r" >>"$X/violations"
		milter_decides
		n=$((n + 1))
	done
	echo "$n" >"$X/checks"
}

# verify EXPECTED-FILE: `export` holds exactly the lines of EXPECTED-FILE
# (email,type,state; sorted).
verify() {
	ctl export -o "$X/export.csv" 2>"$X/export.err" ||
		fail "run $run: the index cannot be exported: $(cat "$X/export.err")"
	tail -n +2 "$X/export.csv" | cut -d, -f1-3 | LC_ALL=C sort >"$X/got"
	LC_ALL=C sort "$1" >"$X/want"
	cmp -s "$X/want" "$X/got" ||
		fail "run $run: the index differs from what the commands reported: $(diff "$X/want" "$X/got" | head -8)"
}

start=$(date +%s)
for run in $(seq 1 "$RUNS"); do
	step="run $run of $RUNS"
	rm -rf "$DB" "$X"
	mkdir -p "$X"
	c init; rc_is 0
	for p in p1 p2 p3 p4 p5; do
		c grant "$p@example.com" weekly-news --at 2026-01-01T00:00:00Z; rc_is 0
	done
	c withdraw p4@example.com weekly-news --at 2026-01-02T00:00:00Z; rc_is 0
	[ "$run" = 1 ] && start_milter

	checker &
	cpid=$!
	spawn big import "$T/big.csv"
	# varied delays: 0 to 0.9 s before the others start
	sleep "0.$(((run * 7) % 10))"
	spawn sec import "$T/sec.csv"
	secpid=$!
	spawn g1 grant "g${run}a@example.com" weekly-news
	spawn g2 --no-wait grant "g${run}b@example.com" weekly-news
	sleep "0.0$(((run * 3) % 10))"
	spawn w1 withdraw p1@example.com weekly-news
	spawn w2 withdraw p2@example.com --all
	spawn e1 erase p3@example.com
	spawn g3 --no-wait grant "g${run}c@example.com" weekly-news
	killed=0
	if [ $((run % 3)) = 0 ]; then
		# kill -9 the second import at some point of its life
		sleep "0.0$(((run * 13) % 10))"
		# the consentctl process is the child of its subshell
		kpid=$(pgrep -P "$secpid")
		[ -n "$kpid" ] && kill -KILL $kpid 2>/dev/null && killed=1
	fi
	# every job of this run: not the checker, not the milter
	wait $(jobs -p | grep -vx -e "$cpid" -e "${MILTER_PID:-none}")
	touch "$X/stop"
	wait "$cpid"

	[ ! -s "$X/violations" ] ||
		fail "run $run: $(head -5 "$X/violations"); $(head -3 "$X/check.err")"
	c stats; rc_is 0
	[ "$(rc_of big)" = 0 ] || fail "run $run: the large import failed: $(cat "$X/big.err")"
	grep -q "$ROWS rows read, $ROWS valid" "$X/big.out" || fail "run $run: large import: $(cat "$X/big.out")"
	for j in g1 w1 w2 e1; do
		[ "$(rc_of $j)" = 0 ] || fail "run $run: $j exited $(rc_of $j): $(cat "$X/$j.err")"
	done

	# what the index must hold now: every command that succeeded
	{
		awk -v n="$ROWS" 'BEGIN { for (i = 100; i < n; i++) printf "big%d@example.com,weekly-news,granted\n", i }'
		sec_in=0
		if [ "$(rc_of sec)" = 0 ]; then
			sec_in=1
		elif [ "$killed" = 1 ]; then
			# all or nothing: whichever, every row of it
			ctl check sec0@example.com weekly-news >/dev/null && sec_in=1
		else
			fail "run $run: the second import failed: $(cat "$X/sec.err")"
		fi
		if [ "$sec_in" = 1 ]; then
			awk 'BEGIN { for (i = 0; i < 100; i++) printf "big%d@example.com,weekly-news,withdrawn\n", i;
				for (i = 0; i < 900; i++) printf "sec%d@example.com,weekly-news,granted\n", i }'
		else
			awk 'BEGIN { for (i = 0; i < 100; i++) printf "big%d@example.com,weekly-news,granted\n", i }'
		fi
		echo "g${run}a@example.com,weekly-news,granted"
		for j in g2:b g3:c; do
			case $(rc_of "${j%:*}") in
			0) echo "g${run}${j#*:}@example.com,weekly-news,granted" ;;
			75) grep -q "index busy" "$X/${j%:*}.err" ||
				fail "run $run: exit 75 without \"index busy\": $(cat "$X/${j%:*}.err")" ;;
			*) fail "run $run: --no-wait grant exited $(rc_of "${j%:*}"): $(cat "$X/${j%:*}.err")" ;;
			esac
		done
		echo "p1@example.com,weekly-news,withdrawn"
		echo "p2@example.com,weekly-news,withdrawn"
		echo "p2@example.com,*,withdrawn"
		echo "p4@example.com,weekly-news,withdrawn"
		echo "p5@example.com,weekly-news,granted"
	} >"$X/expected"
	verify "$X/expected"
	c show p3@example.com; rc_is 1; out_has "erased:     yes"
	c check p1@example.com weekly-news; rc_is 1; out_is "deny withdrawn"
	c check p2@example.com weekly-news; rc_is 1; out_is "deny objection"
	[ "$killed" = 1 ] && [ "$(rc_of sec)" != 0 ] && echo "run $run: second import killed (sec rows: $sec_in)"
	tf=$(awk '{ n += $1 } END { print n + 0 }' "$X/tempfails" 2>/dev/null || echo 0)
	echo "run $run: ok ($(cat "$X/checks") check rounds, milter tempfails $tf; --no-wait grants: $(rc_of g2) $(rc_of g3))"
done
if [ -n "$MILTER_PID" ]; then
	stop_milter || fail "the milter exited with $?: $(tail -5 "$MLOG")"
	! grep -qE "AddressSanitizer|runtime error:|LeakSanitizer" "$MLOG" ||
		fail "sanitizer report in the milter log"
	echo "milter: $(grep -c 'reopened' "$MLOG") reopens, $(grep -c 'verdict=' "$MLOG") decisions"
else
	echo "note: the milter is not built: consentctl check alone decides"
fi
echo "concurrent writers: $RUNS runs of $ROWS rows in $(($(date +%s) - start)) s"
