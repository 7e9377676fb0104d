#!/usr/bin/env bash
# Consent index and decision engine (SPEC §8): import speed through the
# batch API, single-thread decisions on a mixed hit/miss workload,
# octets per record, memory.
#
# For each size N: a first import of N records in one transaction (sorted
# keys, appended), then an incremental import of 100,000 new records in
# batches of 10,000 into the populated index (what `consentctl import`
# does later), then decisions in a fresh process that only opens the
# index and decides, so its memory is what a daemon pays; then the floor:
# LMDB's own mdb_get on the same B-tree, keys and hit rate, with nothing
# around it.  After the first import, its floor: LMDB alone appending
# the same records (as stored) to a new environment in one transaction.
# Wall-clock import rates include waiting for fdatasync on this disk; the
# CPU figure is what the code costs.  BENCH_QUICK=1: 100,000 records only.
set -eu
bin="$BUILD/bench/bench_core"
[ -x "$bin" ] || { echo "core: $bin not built" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cm-bench-core.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sizes="100000 1000000"
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=100000
for n in $sizes; do
	d="$tmp/$n"
	mkdir "$d"
	echo "== index of $n records"
	echo "-- first import, one transaction"
	"$bin" build "$d" "$n" "$n"
	mkdir "$d.floor"
	"$bin" putfloor "$d" "$d.floor"
	rm -rf "$d.floor"
	echo "-- incremental import, batches of 10000"
	"$bin" build "$d" 100000 10000 "$n" | grep -E '^import'
	echo "-- decisions (fresh process, $((n + 100000)) records)"
	"$bin" decide "$d" "$n" 3
	"$bin" floor "$d" 3
	rm -rf "$d"
done
