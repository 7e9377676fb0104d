#!/usr/bin/env bash
# consentctl upstream init|check against a real PostgreSQL (tests/lib/pg.sh):
# create, idempotent init, check, a newer schema left alone, the password
# file's permissions, and the store stopped; and that neither the milter
# nor consent-web links libpq.
set -u
. "$SRCDIR/tests/lib/pg.sh"
CTL=$BUILD/consentctl
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$CTL" ] || fail "$CTL is not built (make)"

# only consentctl links libpq: a mail decision never waits on the network
ldd "$CTL" | grep -q 'libpq\.so' || fail "consentctl does not link libpq"
for p in consent-milter consent-web; do
	[ -x "$BUILD/$p" ] || continue
	! ldd "$BUILD/$p" | grep -q 'libpq\.so' || fail "$p links libpq"
done
echo "ok - libpq is linked into consentctl only"
pg_start

# expect RC PATTERN ARG...: consentctl ARG... exits RC and its output
# (stdout and stderr) matches the extended regex PATTERN
expect() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$("$CTL" "$@" 2>&1)
	rc=$?
	[ "$rc" -eq "$want" ] || fail "consentctl $*: exit $rc, not $want: $out"
	grep -Eq -- "$pat" <<<"$out" || fail "consentctl $*: '$out' does not match '$pat'"
	echo "ok - consentctl $* -> $rc"
}
C=(--conninfo "$PG_CONNINFO" --password-file "$PG_PWFILE")

expect 78 'upstream init' -d "$CM_TMP/db" upstream check "${C[@]}"
expect 0 '^upstream: schema version 2 created$' -d "$CM_TMP/db" upstream init "${C[@]}"
expect 0 '^upstream: schema version 2, current$' -d "$CM_TMP/db" upstream init "${C[@]}"
expect 0 '^upstream: schema version 2, current$' -d "$CM_TMP/db" upstream check "${C[@]}"

[ "$(pg_psql -tAc 'SELECT version FROM consent_schema')" = 2 ] || fail "version row"

# a newer schema: refused, not changed
pg_psql -qc 'UPDATE consent_schema SET version = 3'
expect 78 'version 3.*upgrade consent-milter' -d "$CM_TMP/db" upstream check "${C[@]}"
expect 78 'newer' -d "$CM_TMP/db" upstream init "${C[@]}"
[ "$(pg_psql -tAc 'SELECT version FROM consent_schema')" = 3 ] || fail "a newer schema was changed"
pg_psql -qc 'UPDATE consent_schema SET version = 2'

# schema 2 bounds every text field, whoever writes the row
push_sql() { # EVIDENCE ORIGIN
	pg_psql -qtAc "SELECT consent_push(gen_random_uuid(), 'grant', 'big@example.net', '\\x0102030405060708090a0b0c0d0e0f10'::bytea, 'news', 'granted', 1796000000000000, 'x', NULL, NULL, $1, NULL, $2)" 2>&1
}
out=$(push_sql "repeat('E', 1025)" "'node-h'") && fail "an evidence of 1025 octets was stored"
grep -q consent_events_lengths <<<"$out" || fail "long evidence: $out"
out=$(push_sql "NULL" "repeat('n', 65)") && fail "an origin of 65 octets was stored"
push_sql "repeat('E', 1024)" "'node-h'" >/dev/null || fail "an evidence of 1024 octets was refused"
echo "ok - the schema bounds the fields"
# a store of version 1 (no bounds) is upgraded by init; a row over a
# bound makes the upgrade fail and change nothing
pg_psql -qc 'ALTER TABLE consent_events DROP CONSTRAINT consent_events_lengths; ALTER TABLE consent_schema DROP COLUMN key_check; UPDATE consent_schema SET version = 1'
expect 78 'version 1.*upstream init' -d "$CM_TMP/db" upstream check "${C[@]}"
pg_psql -qc "UPDATE consent_events SET evidence = repeat('E', 2000)"
expect 75 'consent_events_lengths' -d "$CM_TMP/db" upstream init "${C[@]}"
[ "$(pg_psql -tAc 'SELECT version FROM consent_schema')" = 1 ] || fail "a failed upgrade changed the version"
pg_psql -qc "DELETE FROM consent_events"
expect 0 '^upstream: schema upgraded from version 1 to 2$' -d "$CM_TMP/db" upstream init "${C[@]}"
out=$(push_sql "repeat('E', 1025)" "'node-h'") && fail "after the upgrade, an evidence of 1025 octets was stored"
pg_psql -tAc "SELECT prosrc FROM pg_proc WHERE proname = 'consent_push'" | grep -q 'least(p_at' || fail "the upgrade did not replace consent_push"
[ "$(pg_psql -tAc "SELECT count(*) FROM information_schema.columns WHERE table_name = 'consent_schema' AND column_name = 'key_check'")" = 1 ] || fail "the upgrade added no key_check"
echo "ok - a version 1 store is upgraded to 2"

# usage and configuration errors
expect 64 'init, check' -d "$CM_TMP/db" upstream "${C[@]}"
expect 64 "unknown action 'drop'" -d "$CM_TMP/db" upstream drop "${C[@]}"
expect 66 'configuration file not found' -c "$CM_TMP/nosuch.yaml" upstream check
expect 0 'usage: consentctl upstream init' upstream --help
cp "$PG_PWFILE" "$CM_TMP/pw"
chmod 0644 "$CM_TMP/pw"
expect 77 "$CM_TMP/pw: group or others may access it \(mode 0644\).*chmod 600" \
	-d "$CM_TMP/db" upstream check --conninfo "$PG_CONNINFO" --password-file "$CM_TMP/pw"
echo wrong >"$CM_TMP/pw"
chmod 0600 "$CM_TMP/pw"
expect 75 'password authentication failed' \
	-d "$CM_TMP/db" upstream check --conninfo "$PG_CONNINFO" --password-file "$CM_TMP/pw"
expect 75 'connection string' -d "$CM_TMP/db" upstream check --conninfo "host=127.0.0.1 nosuch=1"
# a conninfo that does not parse is not quoted: it may hold a password
out=$("$CTL" -d "$CM_TMP/db" upstream check --conninfo "host=127.0.0.1 password=correct Sup3rSecret battery" 2>&1)
rc=$?
[ "$rc" -eq 75 ] || fail "bad conninfo: exit $rc: $out"
grep -q 'connection string: syntax error (not shown: it may hold a password)' <<<"$out" || fail "bad conninfo: $out"
! grep -q 'Sup3rSecret' <<<"$out" || fail "the error quotes the connection string: $out"
echo "ok - a connection string that does not parse is not shown"
# the upstream: section of the configuration; --conninfo overrides it
cat >"$CM_TMP/c.yaml" <<EOC
milter:
  socket: "inet:8891@127.0.0.1"
database:
  path: $CM_TMP/db
upstream:
  conninfo: "$PG_CONNINFO"
  password_file: $PG_PWFILE
  node: mx1.example
newsletters: []
EOC
expect 0 '^upstream: schema version 2, current$' -c "$CM_TMP/c.yaml" upstream check
expect 0 '^upstream: schema version 2, current$' -c "$CM_TMP/c.yaml" upstream init
expect 75 'connect' -c "$CM_TMP/c.yaml" upstream check --conninfo "host=127.0.0.1 port=1 dbname=x user=y"
sed '/^upstream:/,/node:/d' "$CM_TMP/c.yaml" >"$CM_TMP/none.yaml"
expect 78 'none.yaml has no upstream: section' -c "$CM_TMP/none.yaml" upstream check
expect 0 'current' -c "$CM_TMP/none.yaml" upstream check "${C[@]}"

# libpq's own means: PGPASSWORD
PGPASSWORD=$(cat "$PG_PWFILE") expect 0 'current' -d "$CM_TMP/db" upstream check --conninfo "$PG_CONNINFO"

# the store stopped: try again later (75), with the reason
pg_stop
expect 75 'upstream check: connect: .*(refused|failed)' -d "$CM_TMP/db" upstream check "${C[@]}"
exit 0
