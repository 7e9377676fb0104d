#!/usr/bin/env bash
# The scrub of erased addresses by consentctl sync (consentctl/sync.c,
# core/scrubq.h): an erasure applied from the shared store removes the
# person's lines from this node's decision log, outside the index's
# writer lock.
#   1. a scrub held up (another holder of the log file's lock: the scrub
#      rewrites each file under its flock) does not hold the writer lock:
#      a local opt-out --no-wait goes through meanwhile;
#   2. a scrub that fails stays in the scrub queue and is done by the
#      next sync; a done one leaves the queue;
#   3. killed between the scrub and the removal of its row (while it waits
#      for the writer lock, held here), the row is scrubbed again by the
#      next sync, which finds nothing and leaves the file as it is.
# Every wait is for a condition (/proc/locks shows who waits), bounded.
set -u
. "$SRCDIR/tests/lib/pg.sh"
CTL=$BUILD/consentctl
. "$SRCDIR/tests/lib/upnode.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] || fail "$CTL is not built (make)"
[ -r /proc/locks ] && command -v flock >/dev/null || { echo "skip: no /proc/locks or flock(1)"; exit 77; }
pg_start
SYNC=
cleanup() { [ -n "$SYNC" ] && kill -KILL "$SYNC" 2>/dev/null; pg_cleanup; }
trap cleanup EXIT

up_node_config A
up_node_config B
mkdir -p "$CM_TMP/B/log"
printf 'log:\n  path: "%s"\n' "$CM_TMP/B/log" >>"$CM_TMP/B.yaml"
LOG=$CM_TMP/B/log/decisions-2026-12-06.jsonl
ctl A upstream init >/dev/null || fail "upstream init"
ctl A init >/dev/null || fail "init A"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/B/db/"
ctl B init >/dev/null || fail "init B"

# logged ADDR...: a decision line of each in B's log
logged() { for a; do printf '{"rcpt":"%s","action":"refuse"}\n' "$a"; done >>"$LOG"; }
# erase_at_A ADDR: known at B (a grant through the store), logged there,
# then erased at A
erase_at_A() {
	ctl A grant "$1" weekly-news >/dev/null || fail "grant $1"
	ctl B sync --once >/dev/null || fail "sync B before the erasure of $1"
	logged "$1"
	ctl A erase "$1" >/dev/null || fail "erase $1 at A"
}
# waits PID FILE: PID waits for the flock of FILE
waits() {
	local ino
	ino=$(stat -c %i "$2") || return 1
	awk -v pid="$1" -v ino="$ino" '$2 == "->" && $3 == "FLOCK" && $6 == pid &&
		$7 ~ (":" ino "$") { f = 1 } END { exit !f }' /proc/locks
}
# start_sync: B's sync --once in the background, its output in sync.out
start_sync() {
	"$CTL" -c "$CM_TMP/B.yaml" sync --once >"$CM_TMP/sync.out" 2>&1 8<&- 9<&- </dev/null &
	SYNC=$!
}
end_sync() {
	wait "$SYNC"; local rc=$?
	SYNC=
	[ "$rc" -eq 0 ] || fail "B's sync: exit $rc: $(cat "$CM_TMP/sync.out")"
}
scrubbed_lines() { grep -o 'decision log: [0-9]* lines\? removed from [0-9]* files\?' "$CM_TMP/sync.out"; }

logged keep@example.net
# ---- 1. an opt-out is not blocked while a scrub is held up
erase_at_A erin@example.net
exec 8<"$LOG"
flock -x 8 || fail "flock of the log file"
start_sync
wait_for 20 waits "$SYNC" "$LOG" || fail "B's sync never waited for the log file: $(cat "$CM_TMP/sync.out")"
out=$(timeout 20 "$CTL" -c "$CM_TMP/B.yaml" --no-wait withdraw w@example.net weekly-news 2>&1 8<&- </dev/null)
rc=$?
[ "$rc" -eq 0 ] || fail "an opt-out --no-wait while a scrub ran: exit $rc: $out"
ctl B check w@example.net weekly-news 2>&1 | grep -q '^deny' || fail "the opt-out was not recorded"
waits "$SYNC" "$LOG" || fail "the sync stopped waiting before the log file was released: $(cat "$CM_TMP/sync.out")"
grep -q erin@example.net "$LOG" || fail "the log was scrubbed while its lock was held"
exec 8<&-
end_sync
grep -q erin@example.net "$LOG" && fail "erin@ is still in B's log: $(cat "$CM_TMP/sync.out")"
grep -q keep@example.net "$LOG" || fail "the scrub removed another address's line"
[ "$(scrubbed_lines)" = "decision log: 1 line removed from 1 file" ] ||
	fail "the sync's scrub said: $(cat "$CM_TMP/sync.out")"
start_sync; end_sync
[ -z "$(scrubbed_lines)" ] || fail "a done scrub was not dropped from the queue: $(cat "$CM_TMP/sync.out")"
echo "ok - an opt-out --no-wait goes through while a sync's scrub waits"

# ---- 2. a failed scrub stays queued and is retried
erase_at_A frank@example.net
mv "$CM_TMP/B/log" "$CM_TMP/B/log.away"
touch "$CM_TMP/B/log"	# not a directory: the scrub fails
start_sync; end_sync
grep -q 'not scrubbed: kept in the scrub queue' "$CM_TMP/sync.out" ||
	fail "a failed scrub was not reported: $(cat "$CM_TMP/sync.out")"
rm "$CM_TMP/B/log"
mv "$CM_TMP/B/log.away" "$CM_TMP/B/log"
grep -q frank@example.net "$LOG" || fail "test broken: frank@ not in the log"
start_sync; end_sync
grep -q frank@example.net "$LOG" && fail "the failed scrub was not retried: $(cat "$CM_TMP/sync.out")"
[ "$(scrubbed_lines)" = "decision log: 1 line removed from 1 file" ] ||
	fail "the retried scrub said: $(cat "$CM_TMP/sync.out")"
start_sync; end_sync
[ -z "$(scrubbed_lines)" ] || fail "the retried scrub stayed queued: $(cat "$CM_TMP/sync.out")"
echo "ok - a failed scrub stays queued and is done by the next sync"

# ---- 3. killed between the scrub and the removal of its row
erase_at_A gail@example.net
exec 8<"$LOG"
flock -x 8 || fail "flock of the log file"
start_sync
wait_for 20 waits "$SYNC" "$LOG" || fail "B's sync never waited for the log file: $(cat "$CM_TMP/sync.out")"
# the writer lock is free while it scrubs: take it, then let the scrub go
exec 9>>"$CM_TMP/B/db/writer.lock"
flock -x -n 9 || fail "the writer lock is held while the sync scrubs"
exec 8<&-
wait_for 20 waits "$SYNC" "$CM_TMP/B/db/writer.lock" ||
	fail "B's sync did not wait for the writer lock after its scrub: $(cat "$CM_TMP/sync.out")"
grep -q gail@example.net "$LOG" && fail "gail@ not scrubbed before the row's removal"
kill -KILL "$SYNC"; wait "$SYNC" 2>/dev/null; SYNC=
exec 9>&-
ino=$(stat -c %i "$LOG")
start_sync; end_sync
[ "$(scrubbed_lines)" = "decision log: 0 lines removed from 0 files" ] ||
	fail "the row left by the killed sync was not scrubbed again: $(cat "$CM_TMP/sync.out")"
[ "$(stat -c %i "$LOG")" = "$ino" ] || fail "the second scrub rewrote the log file"
grep -q keep@example.net "$LOG" || fail "keep@ lost"
start_sync; end_sync
[ -z "$(scrubbed_lines)" ] || fail "the row stayed queued after the second scrub: $(cat "$CM_TMP/sync.out")"
echo "ok - killed between scrub and drop: scrubbed again next time, which changes nothing"
exit 0
