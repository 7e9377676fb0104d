#!/usr/bin/env bash
# The index replaced or removed under the running milter: once the
# milter noticed (its log says so; it checks about once a second), a
# decision follows the new index, or tempfails while there is none or
# it cannot be opened: never the old allow.  The milter never waits
# for a writer (consentctl holds the writer lock meanwhile).
. "$SRCDIR/tests/milter/common.bash"

CTL="$BUILD/consentctl"
[ -x "$CTL" ] || { echo "skip: $CTL not built"; exit 77; }

build_seed
seed_standard
cfg="$CM_TMP/cm.yaml"
write_config "$cfg"
start_milter "$cfg"

ALLOW='RCPT <alice@example.net> c'
TEMPFAIL='RCPT <alice@example.net> y 451 4.3.0 <alice@example.net>: consent check failed, try again later'
WITHDRAWN='RCPT <alice@example.net> y 550 5.7.1 <alice@example.net>: no consent for newsletter "weekly-news" (withdrawn)'

decide() {
	proto --mail "<weekly@news.example.com>" --rcpt "<alice@example.net>" |
		grep '^RCPT' || die "mproto failed"
}

# wait_log N REGEX: wait (at most 20 s) until the log has N lines
# matching REGEX.
wait_log() {
	for _ in $(seq 400); do
		[ "$(grep -cE -- "$2" "$LOG")" -ge "$1" ] && return 0
		kill -0 "$MILTER_PID" 2>/dev/null || die "milter exited"
		sleep 0.05
	done
	die "no ${1}th log line matching: $2"
}

out=$(decide)
[ "$out" = "$ALLOW" ] || die "before: $out"

# 1. removed: newsletters are deferred
rm -rf "$DB"
wait_log 1 'index .*/data.mdb missing, deferring newsletters'
lua replace
out=$(decide)
[ "$out" = "$TEMPFAIL" ] || die "index removed, got: $out"
expect_log 'rcpt=alice@example.net verdict=error reason=lookup-failed stage=rcpt action=tempfail'

# 2. a new index with a withdrawal: followed once reopened
"$CTL" -d "$DB" init >/dev/null || die "consentctl init"
"$CTL" -d "$DB" grant alice@example.net weekly-news --at 2026-01-01T00:00:00Z >/dev/null ||
	die "consentctl grant"
"$CTL" -d "$DB" withdraw alice@example.net weekly-news >/dev/null ||
	die "consentctl withdraw"
wait_log 1 'index .* (back|replaced), reopened'
lua replace
out=$(decide)
[ "$out" = "$WITHDRAWN" ] || die "new index, got: $out"

# 3. replaced by another whole index (rm -rf + init elsewhere + mv):
# alice has consent there
new="$CM_TMP/new"
mkdir "$new"
"$CTL" -d "$new" init >/dev/null &&
	"$CTL" -d "$new" grant alice@example.net weekly-news >/dev/null || die "second index"
n=$(grep -cE 'index .* (back|replaced), reopened' "$LOG")
rm -rf "$DB" && mv "$new" "$DB"
wait_log $((n + 1)) 'index .* (back|replaced), reopened'
out=$(decide)
[ "$out" = "$ALLOW" ] || die "replaced by an index that allows, got: $out"

# 4. replaced in place (mv over data.mdb and erasure.key) by an index
# where she withdrew; the lock file stays
new="$CM_TMP/new2"
mkdir "$new"
"$CTL" -d "$new" init >/dev/null || die "third index"
"$CTL" -d "$new" grant alice@example.net weekly-news --at 2026-02-01T00:00:00Z >/dev/null &&
	"$CTL" -d "$new" withdraw alice@example.net weekly-news >/dev/null || die "third index"
n=$(grep -cE 'index .* (back|replaced), reopened' "$LOG")
mv "$new/erasure.key" "$DB/erasure.key" && mv "$new/data.mdb" "$DB/data.mdb"
wait_log $((n + 1)) 'index .* (back|replaced), reopened'
out=$(decide)
[ "$out" = "$WITHDRAWN" ] || die "replaced in place, got: $out"
# and consentctl writes to the file the milter now reads
"$CTL" -d "$DB" grant alice@example.net weekly-news >/dev/null || die "grant again"
out=$(decide)
[ "$out" = "$ALLOW" ] || die "after a new grant, got: $out"

# 5. replaced by something that is not an index: deferred, logged once
n=$(grep -c 'cannot be opened' "$LOG")
printf 'not an index\n' >"$CM_TMP/junk"
mv "$CM_TMP/junk" "$DB/data.mdb"
wait_log $((n + 1)) 'index .* replaced but cannot be opened: .*; deferring newsletters'
out=$(decide)
[ "$out" = "$TEMPFAIL" ] || die "junk data.mdb, got: $out"

# 6. a writer holding the index never delays a decision
n=$(grep -cE 'index .* (back|replaced), reopened' "$LOG")
rm -rf "$DB"
"$CTL" -d "$DB" init >/dev/null && "$CTL" -d "$DB" grant alice@example.net weekly-news >/dev/null ||
	die "fourth index"
wait_log $((n + 1)) 'index .* (back|replaced), reopened'
flock "$DB/writer.lock" sleep 30 &
holder=$!
for _ in $(seq 100); do
	flock -n "$DB/writer.lock" true || break
	sleep 0.05
done
t0=$(date +%s%N)
out=$(decide)
t1=$(date +%s%N)
[ "$out" = "$ALLOW" ] || die "with a writer holding the lock, got: $out"
[ $(((t1 - t0) / 1000000)) -lt 5000 ] || die "a decision waited for the writer"
"$CTL" -d "$DB" --no-wait withdraw alice@example.net weekly-news >/dev/null 2>&1
[ $? = 75 ] || die "consentctl --no-wait did not fail with 75 while the lock was held"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null

stop_milter
echo "ok - replace"
