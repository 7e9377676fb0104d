#!/usr/bin/env bash
# Nodes must share one erasure key (their address keys, and an erasure's
# keyed hash, derive from it): the store keeps a fingerprint of the first
# node's key, and a node with another key is refused at every connect
# (upstream init/check, sync, the push after a change) with exit 78 and
# a clear message; its local change is kept and queued.
set -u
. "$SRCDIR/tests/lib/pg.sh"
CTL=$BUILD/consentctl
. "$SRCDIR/tests/lib/upnode.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] || fail "$CTL is not built (make)"
pg_start
# expect RC PATTERN NODE ARG...
expect() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(ctl "$@" 2>&1)
	rc=$?
	[ "$rc" -eq "$want" ] || fail "$*: exit $rc, not $want: $out"
	grep -Eq -- "$pat" <<<"$out" || fail "$*: '$out' does not match '$pat'"
	echo "ok - $* -> $rc"
}
fp() { pg_psql -tAc "SELECT coalesce(encode(key_check, 'hex'), 'none') FROM consent_schema"; }

up_node_config A; up_node_config B; up_node_config C
# the store made before any index: no fingerprint yet
expect 0 'created' A upstream init
[ "$(fp)" = none ] || fail "a fingerprint without a key: $(fp)"
ctl A init >/dev/null || fail "init A"
cp "$CM_TMP/A/db/erasure.key" "$CM_TMP/B/db/"
ctl B init >/dev/null || fail "init B"
ctl C init >/dev/null || fail "init C"	# a key of its own
# the first node to connect with a key records it
expect 0 'current' A upstream check
[ "$(fp)" != none ] || fail "upstream check on A recorded no fingerprint"
first=$(fp)
expect 0 'sent 0' B sync --once
expect 78 'erasure.key is not the one' C sync --once
expect 78 'erasure.key is not the one' C upstream check
expect 78 'erasure.key is not the one' C upstream init
expect 78 'erasure.key is not the one' C sync --status
[ "$(fp)" = "$first" ] || fail "the fingerprint changed"
# a change at C is kept and queued, never pushed under another key
expect 0 'erasure.key is not the one.*|queued' C withdraw y@example.net weekly-news
ctl C withdraw y2@example.net weekly-news 2>&1 | grep -q queued || fail "C's change was not queued"
[ "$(pg_psql -tAc "SELECT count(*) FROM consent_events WHERE origin = 'node-C'")" = 0 ] || fail "C pushed under another key"
# the key is a fingerprint, not the key
key=$(od -An -tx1 "$CM_TMP/A/db/erasure.key" | tr -d ' \n')
[[ "$key" != *"$first"* ]] || fail "the store holds the key itself"
echo "ok - the key fingerprint is stored and checked"

# sync --status shows this node's clock against the server's (the same
# host here: no warning)
expect 0 'clock: +0\.[0-9]{3} s (ahead of|behind) the store.s$' B sync --status
ctl B sync --status --json | grep -Eq '"clock_offset_seconds":-?0\.[0-9]{3},"clock_warning":false' ||
	fail "sync --status --json: no clock offset: $(ctl B sync --status --json)"
echo "ok - sync --status shows the clock offset"

# the lag in seconds: how long the oldest event not applied here has
# waited (B's position, from a bootstrap, has no time of its own)
ctl A grant lag@example.net weekly-news >/dev/null 2>&1 || fail "grant at A"
lagging() { ctl B sync --status --json | grep -Eq '"lag_events":1,"lag_seconds":(0\.[0-9]*[1-9][0-9]*|[1-9][0-9]*\.[0-9]+)'; }
end=$((SECONDS + 10))
until lagging; do
	[ $SECONDS -lt $end ] || fail "lag_seconds stays 0: $(ctl B sync --status --json)"
	sleep 0.1
done
expect 0 'lag at most 1 events, [0-9.]+ s' B sync --status
echo "ok - sync --status shows the lag after a bootstrap"
exit 0
