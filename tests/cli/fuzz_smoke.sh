#!/usr/bin/env bash
# Fuzz smoke: every libFuzzer target of tests/fuzz/ is built and runs its
# seed corpus plus a few seconds of new inputs without a finding.  The
# long runs (minutes per target) are `make fuzz` (FUZZ_SECONDS).  Skipped
# in the SANITIZE=1 pass (the targets are built with the sanitizers
# anyway) and where clang is missing.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
[ "${SANITIZE:-}" = 1 ] && { echo "fuzz_smoke: runs in the plain pass"; exit 77; }
command -v clang >/dev/null || { echo "fuzz_smoke: clang not installed" >&2; exit 77; }
FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-3} FUZZ_BUILD="$BUILD/fuzz-smoke" \
	"$SRCDIR/tests/fuzz/run.sh"
