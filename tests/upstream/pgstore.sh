#!/usr/bin/env bash
# The shared consent store (upstream/) against a real PostgreSQL
# (tests/lib/pg.sh): the cmocka programs tests/upstream/test_pgconn.c and
# test_pgstore.c, then the erased addresses searched for in pg_dump's
# output, then the server stopped and started again under open
# connections.  VALGRIND=1 runs the programs under valgrind.
set -u
. "$SRCDIR/tests/lib/pg.sh"
T=$BUILD/tests/upstream
fail() { echo "FAIL: $*" >&2; exit 1; }
for p in test_pgconn test_pgstore; do
	[ -x "$T/$p" ] || fail "$T/$p is not built (make)"
done
pg_start
export CM_PG_CONNINFO=$PG_CONNINFO CM_PG_PWFILE=$PG_PWFILE CM_TMP
# run PROGRAM [ARG...]
run() {
	local p=$T/$1
	shift
	if [ "${VALGRIND:-0}" = 1 ]; then
		valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect "$p" "$@"
	else
		"$p" "$@"
	fi
}

run test_pgconn || fail "test_pgconn"
run test_pgstore || fail "test_pgstore"

# the erasure test's rows are in place: the erased addresses are nowhere
# in the store's dump, the kept one is
pg_dump_db >"$CM_TMP/dump.sql" || fail "pg_dump"
grep -q 'kept.person@example.net' "$CM_TMP/dump.sql" || fail "the dump does not hold the kept address"
if grep -a -q -e 'erased.person@example.org' -e 'erased.twice@example.org' "$CM_TMP/dump.sql"; then
	fail "an erased address is in the dump"
fi
echo "ok - pg_dump holds no erased address"

pg_ctl_script "$CM_TMP/pgctl"
CM_PG_CTL=$CM_TMP/pgctl run test_pgconn stopped || fail "test_pgconn stopped"
exit 0
