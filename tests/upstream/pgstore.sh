#!/usr/bin/env bash
# The shared consent store (upstream/pgstore.c) against a real PostgreSQL
# (tests/lib/pg.sh): the cmocka program tests/upstream/test_pgstore.c,
# then the erased addresses searched for in pg_dump's output, then the
# server stopped and started again under open connections.
set -u
. "$SRCDIR/tests/lib/pg.sh"
T=$BUILD/tests/upstream/test_pgstore
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$T" ] || fail "$T is not built (make)"
pg_start
export CM_PG_CONNINFO=$PG_CONNINFO CM_PG_PWFILE=$PG_PWFILE CM_TMP
run() {
	if [ "${VALGRIND:-0}" = 1 ]; then
		valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite,indirect "$T" "$@"
	else
		"$T" "$@"
	fi
}

run || fail "test_pgstore"

# the erasure test's rows are in place: the erased addresses are nowhere
# in the store's dump, the kept one is
pg_dump_db >"$CM_TMP/dump.sql" || fail "pg_dump"
grep -q 'kept.person@example.net' "$CM_TMP/dump.sql" || fail "the dump does not hold the kept address"
if grep -a -q -e 'erased.person@example.org' -e 'erased.twice@example.org' "$CM_TMP/dump.sql"; then
	fail "an erased address is in the dump"
fi
echo "ok - pg_dump holds no erased address"

pg_ctl_script "$CM_TMP/pgctl"
CM_PG_CTL=$CM_TMP/pgctl run stopped || fail "test_pgstore stopped"
exit 0
