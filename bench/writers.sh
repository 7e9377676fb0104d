#!/usr/bin/env bash
# Concurrent writers, the soak length of tests/cli/concurrent.sh (50 runs
# of a 200,000-row import with a second import, grants, withdrawals and
# an erasure during it, while consentctl check and the milter decide):
# prints how long the runs took.  BENCH_QUICK=1: 5 runs.
set -u
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BUILD:=$SRCDIR/build}"
export SRCDIR BUILD
tmp=$(mktemp -d /tmp/cm-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[ "${BENCH_QUICK:-0}" = 1 ] && export CM_CONC_RUNS=${CM_CONC_RUNS:-5}
CM_SOAK=1 CM_TMP=$tmp bash "$SRCDIR/tests/cli/concurrent.sh" >"$tmp/out" 2>&1
rc=$?
grep -E '^(milter:|concurrent writers:|note:)' "$tmp/out"
[ "$rc" = 0 ] || { tail -5 "$tmp/out" >&2; echo "writers: a run failed" >&2; }
exit "$rc"
