#!/usr/bin/env bash
# Consent index and decision engine: import speed through the batch API,
# single-thread decisions on a mixed hit/miss workload, octets per
# record, memory.  Each decision phase runs in a fresh process that only
# opens the index and decides, so its memory shows what a daemon pays.
# BENCH_QUICK=1: 100,000 records only.
set -eu
bin="$BUILD/bench/bench_core"
[ -x "$bin" ] || { echo "core: $bin not built" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cm-bench-core.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sizes="100000 1000000"
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=100000
for n in $sizes; do
	mkdir "$tmp/$n"
	echo "== $n records, batches of 10000 (one transaction each)"
	"$bin" build "$tmp/$n" "$n"
	"$bin" decide "$tmp/$n" "$n" 3
	rm -rf "$tmp/$n"
done
