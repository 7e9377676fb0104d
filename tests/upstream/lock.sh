#!/usr/bin/env bash
# A stalled peer holding the shared store's push lock (a node stopped or
# partitioned in the middle of a push): consentctl's push gives up after
# lock_timeout and says the change is queued; `sync --once` still
# applies the other nodes' events when its push fails.  Neither a push
# nor a pull (nor a new node's bootstrap) holds the index's writer lock
# while it waits on the network, so a local opt-out goes on.  After the
# first case, which waits the default 10 s, PGOPTIONS shortens
# lock_timeout to 1 s.
set -u
. "$SRCDIR/tests/lib/pg.sh"
CTL=$BUILD/consentctl
. "$SRCDIR/tests/lib/upnode.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] || fail "$CTL is not built (make)"
pg_start

check() { ctl "$1" check "$2" weekly-news 2>&1 | head -n 1; }

up_node_config A
up_node_config B
ctl A upstream init >/dev/null || fail "upstream init"
ctl A init >/dev/null || fail "init A"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/B/db/"
ctl B init >/dev/null || fail "init B"
ctl A grant w@example.net weekly-news >/dev/null || fail "grant"
ctl B sync --once >/dev/null || fail "sync B"

# the push lock, held by a session that stalls (released through a fifo)
mkfifo "$CM_TMP/hold"
{ echo "BEGIN; SELECT pg_advisory_xact_lock(7164225788999873648);"
  cat "$CM_TMP/hold"; echo "ROLLBACK;"; } | pg_psql -q >/dev/null 2>&1 &
HOLDER=$!
exec 7>"$CM_TMP/hold"
release() { exec 7>&-; wait "$HOLDER" 2>/dev/null; }
trap 'release; pg_cleanup' EXIT
held() { [ "$(pg_psql -tAc "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -ge 1 ]; }
wait_for 10 held || fail "the lock was not taken"

# 1. a change at B: applied, the push gives up after lock_timeout (the
# default, 10 s), queued
t0=$SECONDS
out=$(timeout 30 "$CTL" -c "$CM_TMP/B.yaml" withdraw w@example.net weekly-news 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "withdraw with the push lock held: exit $rc after $((SECONDS - t0)) s: $out"
grep -q 'queued' <<<"$out" || fail "withdraw did not say it queued: $out"
grep -q 'lock timeout' <<<"$out" || fail "withdraw did not say why: $out"
echo "ok - a push blocked by the push lock gives up, the change is queued ($((SECONDS - t0)) s)"

# 2. while a push waits on the lock, the index's writer lock is free:
# another change (an opt-out) with --no-wait goes through at once
PGOPTIONS='-c lock_timeout=20s' ctl B withdraw other@example.net weekly-news >"$CM_TMP/bg.out" 2>&1 7>&- &
BG=$!
waiting() { [ "$(pg_psql -tAc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%consent_push_many%'")" -ge 1 ]; }
wait_for 10 waiting || fail "the background push does not wait on the lock"
out=$(PGOPTIONS='-c lock_timeout=1s' timeout 20 "$CTL" -c "$CM_TMP/B.yaml" --no-wait withdraw third@example.net weekly-news 2>&1 </dev/null)
rc=$?
[ "$rc" -eq 0 ] || fail "an opt-out --no-wait while a push waited: exit $rc: $out"
case "$(check B third@example.net)" in
deny*) ;;
*) fail "the opt-out --no-wait was not recorded while a push waited (rc $rc): $out" ;;
esac
echo "ok - no writer lock is held while a push waits on the network"

# 3. sync --once at A: its push fails (lock), its pull still runs
# release the lock, let B's queued events through, then hold it again
release
wait "$BG" 2>/dev/null
ctl B sync --once >/dev/null || fail "sync B after the lock was released"
[ "$(ctl B sync --status --json | grep -o '"outbox":[0-9]*')" = '"outbox":0' ] || fail "B's outbox is not empty"
mkfifo "$CM_TMP/hold2"
{ echo "BEGIN; SELECT pg_advisory_xact_lock(7164225788999873648);"
  cat "$CM_TMP/hold2"; echo "ROLLBACK;"; } | pg_psql -q >/dev/null 2>&1 &
HOLDER=$!
exec 7>"$CM_TMP/hold2"
wait_for 10 held || fail "the lock was not taken again"
PGOPTIONS='-c lock_timeout=1s' ctl A grant late@example.net weekly-news >/dev/null 2>&1 </dev/null || fail "grant at A"
out=$(PGOPTIONS='-c lock_timeout=1s' timeout 30 "$CTL" -c "$CM_TMP/A.yaml" sync --once 2>&1)
rc=$?
[ "$rc" -eq 75 ] || fail "sync --once with its push blocked: exit $rc: $out"
grep -q 'push: .*lock timeout' <<<"$out" || fail "sync --once did not say the push failed: $out"
case "$(check A w@example.net)" in
deny*) ;;
*) fail "A did not apply B's withdrawal although its push failed: $out" ;;
esac
echo "ok - sync --once pulls when its push fails"

# 4. SIGTERM of the sync service while its push waits on the lock (here
# for up to 60 s): it stops at once
PGOPTIONS='-c lock_timeout=60s' "$CTL" -c "$CM_TMP/A.yaml" sync --follow >"$CM_TMP/follow.log" 2>&1 7>&- &
FP=$!
wait_for 10 grep -q following "$CM_TMP/follow.log" || fail "sync --follow did not start"
waiting() { [ "$(pg_psql -tAc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%consent_push_many%'")" -ge 1 ]; }
wait_for 20 waiting || fail "the service's push does not wait on the lock: $(cat "$CM_TMP/follow.log")"
t0=${EPOCHREALTIME/./}
kill -TERM "$FP"
gone() { ! kill -0 "$FP" 2>/dev/null; }
wait_for 5 gone || { kill -KILL "$FP"; wait "$FP"; fail "sync --follow did not stop within 5 s of SIGTERM while blocked"; }
wait "$FP"; rc=$?
[ "$rc" -eq 0 ] || fail "sync --follow stopped with exit $rc: $(cat "$CM_TMP/follow.log")"
grep -q 'sync: stopped' "$CM_TMP/follow.log" || fail "no 'stopped': $(cat "$CM_TMP/follow.log")"
echo "ok - SIGTERM stops the service at once while a push waits ($(( (${EPOCHREALTIME/./} - t0) / 1000 )) ms)"
release
ctl A sync --once >/dev/null || fail "sync A after the lock was released"
[ "$(ctl A sync --status --json | grep -o '"outbox":[0-9]*')" = '"outbox":0' ] || fail "A's outbox is not empty"
echo "ok - the outboxes empty once the lock is released"

# 5. while a pull waits on the store (a session holds the event table
# in ACCESS EXCLUSIVE mode: the fetch waits for it), the index's writer
# lock is free: a local opt-out with --no-wait goes through at once, and
# the pull applies when the lock goes; a new node's bootstrap (here in
# batches of 2) likewise
hold_table() {
	mkfifo "$CM_TMP/$1"
	{ echo "BEGIN; LOCK TABLE consent_events IN ACCESS EXCLUSIVE MODE;"
	  cat "$CM_TMP/$1"; echo "ROLLBACK;"; } | pg_psql -q >/dev/null 2>&1 &
	HOLDER=$!
	exec 7>"$CM_TMP/$1"
}
table_held() { [ "$(pg_psql -tAc "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' AND granted AND relation = 'consent_events'::regclass")" -ge 1 ]; }
fetching() { [ "$(pg_psql -tAc "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%sum(n) OVER%'")" -ge 1 ]; }
# pull_blocked NODE ADDR [ARG...]: NODE's sync --once ARG... waits on
# the table lock; meanwhile an opt-out of ADDR at NODE with --no-wait
pull_blocked() {
	local n=$1 addr=$2 out rc; shift 2
	hold_table "hold-$n"
	wait_for 10 table_held || fail "the table lock was not taken"
	PGOPTIONS='-c lock_timeout=60s' ctl "$n" sync --once "$@" >"$CM_TMP/pull-$n.out" 2>&1 7>&- </dev/null &
	PULL=$!
	wait_for 20 fetching || fail "$n's pull does not wait on the table lock: $(cat "$CM_TMP/pull-$n.out")"
	out=$(PGOPTIONS='-c lock_timeout=1s' timeout 20 "$CTL" -c "$CM_TMP/$n.yaml" --no-wait withdraw "$addr" weekly-news 2>&1 </dev/null 7>&-)
	rc=$?
	[ "$rc" -eq 0 ] || fail "an opt-out --no-wait at $n while a pull waited: exit $rc: $out"
	case "$(check "$n" "$addr")" in
	deny*) ;;
	*) fail "the opt-out --no-wait at $n was not recorded while a pull waited: $out" ;;
	esac
	kill -0 "$PULL" 2>/dev/null && fetching || fail "$n's pull stopped waiting before the lock went: $(cat "$CM_TMP/pull-$n.out")"
	release
	wait "$PULL"; rc=$?
	[ "$rc" -eq 0 ] || fail "$n's pull after the table lock went: exit $rc: $(cat "$CM_TMP/pull-$n.out")"
}
ctl A grant p1@example.net weekly-news >/dev/null || fail "grant p1"
ctl A grant p2@example.net weekly-news >/dev/null || fail "grant p2"
ctl A withdraw p2@example.net weekly-news >/dev/null || fail "withdraw p2"
pull_blocked B fourth@example.net
[ "$(check B p1@example.net)" = "$(check A p1@example.net)" ] || fail "B did not apply A's grant after its pull waited: $(cat "$CM_TMP/pull-B.out")"
case "$(check B p2@example.net)" in
deny*) ;;
*) fail "B did not apply A's withdrawal after its pull waited" ;;
esac
echo "ok - no writer lock is held while a pull waits on the network"
ctl B sync --once >/dev/null || fail "sync B after its pull"

up_node_config C
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/C/db/"
ctl C init >/dev/null || fail "init C"
pull_blocked C fifth@example.net --batch 2
grep -q 'received [1-9]' "$CM_TMP/pull-C.out" || fail "C's bootstrap received nothing: $(cat "$CM_TMP/pull-C.out")"
for a in w@example.net other@example.net third@example.net late@example.net \
    p1@example.net p2@example.net fourth@example.net; do
	[ "$(check C "$a")" = "$(check B "$a")" ] || fail "$a: C ($(check C "$a")) differs from B ($(check B "$a")) after its bootstrap"
done
case "$(check C fifth@example.net)" in
deny*) ;;
*) fail "C's own opt-out was lost by its bootstrap" ;;
esac
ctl C sync --once >/dev/null || fail "sync C after its bootstrap"
ctl A sync --once >/dev/null || fail "sync A after C's"
case "$(check A fifth@example.net)" in
deny*) ;;
*) fail "C's opt-out did not reach A" ;;
esac
echo "ok - no writer lock is held while a bootstrap waits on the network"
exit 0
