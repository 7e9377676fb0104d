#!/usr/bin/env bash
# Logging to the journal: with JOURNAL_STREAM naming the daemon's stderr
# (as systemd sets it for StandardError=journal), every line starts with
# its sd-daemon priority: <5> start/reload/stop, <6> decisions, <3>
# errors (a failed reload), and has no timestamp or PID of its own.  With
# JOURNAL_STREAM naming another file (a redirected stderr), the plain
# format stays.  The unit sets the level of unprefixed (start-up error)
# lines to err.
. "$SRCDIR/tests/milter/common.bash"

UNIT=$SRCDIR/systemd/consent-milter.service
for l in SyslogLevel=err StandardError=journal StandardOutput=null; do
	grep -qxF "$l" "$UNIT" || die "the unit lacks $l"
done

build_seed
seed_standard
write_config "$CM_TMP/cm.yaml" monitor tempfail reject

# wait_log PATTERN: until the log has a matching line (10 s at most).
wait_log() {
	for _ in $(seq 200); do
		grep -qE -- "$1" "$LOG" && return 0
		sleep 0.05
	done
	die "no log line matching: $1"
}

: >"$LOG"
JOURNAL_STREAM=$(stat -c '%d:%i' "$LOG")
export JOURNAL_STREAM
start_milter "$CM_TMP/cm.yaml"
lua monitor
# A reload that fails: error lines.
cp "$CM_TMP/cm.yaml" "$CM_TMP/good.yaml"
printf 'milter: [\n' >"$CM_TMP/cm.yaml"
kill -USR1 "$MILTER_PID"
wait_log '^<3>reload failed; the previous policy stays in force$'
cp "$CM_TMP/good.yaml" "$CM_TMP/cm.yaml"
stop_milter
unset JOURNAL_STREAM

expect_log '^<5>starting consent-milter '
expect_log '^<6>queue_id=M1 type=weekly-news rcpt=carol@example.net verdict=deny reason=no-consent stage=rcpt mode=monitor action=none$'
expect_log '^<5>reloading '
expect_log '^<3>.*cm\.yaml:'
expect_log '^<5>stopped$'
bad=$(grep -vE '^<[0-7]>' "$LOG")
[ -z "$bad" ] && [ -s "$LOG" ] || die "lines without a priority prefix:
$bad"
grep -qE '^<[0-7]>.*(consent-milter\[[0-9]+\]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z)' "$LOG" &&
	die "journal lines carry their own PID or timestamp"

# The same stderr redirected to a file the variable does not name: the
# foreground format with timestamp, PID and priority name.
mv "$LOG" "$CM_TMP/journal.log"
: >"$LOG"
: >"$CM_TMP/other"
JOURNAL_STREAM=$(stat -c '%d:%i' "$CM_TMP/other") start_milter "$CM_TMP/cm.yaml"
stop_milter
expect_log '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z consent-milter\[[0-9]+\]: notice: starting consent-milter '
grep -qE '^<[0-7]>' "$LOG" && die "a prefix although stderr is not the journal"
echo "journal: priorities <3> <5> <6> with JOURNAL_STREAM, plain format without"
