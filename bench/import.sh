#!/usr/bin/env bash
# consentctl import (issue 3): rows/s and memory for a generated CSV of
# 1,000,000 rows (and 100,000, to show that memory does not follow the
# file size), imported into an empty index with the default batch size.
#
# Figures printed for each size:
#   validate  `import --dry-run`: consentctl's own work (read, parse,
#             normalize, check every row), no index;
#   import    the whole import into an empty index, wall clock including
#             the sync at commit, and the CPU it used (all threads): a
#             reader thread parses and checks rows while the main thread
#             sorts each batch into a temporary file; then the batches
#             are merged and applied in key order (appending) in one
#             import transaction;
#   again     the same file once more: every row is stale;
#   add100k   100,000 new rows into the index just built;
#   memory    peak anonymous memory (heap: batches, LMDB's dirty pages)
#             and peak resident set, which also counts the pages of the
#             mapped index file (CONSENTCTL_MEMSTATS=1).
# BENCH_QUICK=1: 100,000 rows only.
set -eu
CTL="$BUILD/consentctl"
[ -x "$CTL" ] || { echo "import: $CTL not built" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cm-bench-import.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sizes="100000 1000000"
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=100000

gen() {	# N FILE [PREFIX]: N rows, 1000 domains, times spread over last year
	# (a year already past: rows dated after now are refused)
	awk -v n="$1" -v p="${3:-user}" -v y="$(($(date -u +%Y) - 1))" 'BEGIN {
		print "email,type,state,time,source,basis,purpose,evidence"
		for (i = 0; i < n; i++)
			printf "%s%d@example%d.com,weekly-news,granted,%d-%02d-%02dT%02d:%02d:%02dZ,crm,consent,newsletter,crm-id=%d\n",
			    p, i, i % 1000, y, i % 12 + 1, i % 28 + 1, i % 24, i % 60, (i / 60) % 60, i
	}' >"$2"
}

# run LABEL N CMD...: wall seconds, CPU seconds, rows/s
run() {
	local label=$1 n=$2 t0 t1 wall cpu
	shift 2
	t0=$(date +%s.%N)
	/usr/bin/env time -f "%U %S" -o "$tmp/cpu" "$@" >"$tmp/out" 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; echo "import: $label failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$tmp/cpu")
	awk -v l="$label" -v n="$n" -v w="$wall" -v c="$cpu" 'BEGIN {
		printf "%-9s %8d rows  %7.2f s  %9.0f rows/s  (CPU %.2f s, %.0f rows per CPU second)\n",
		    l, n, w, n / w, c, n / (c > 0 ? c : 0.001) }'
	RATES+=("$(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')")
}
RATES=()

for n in $sizes; do
	f="$tmp/rows-$n.csv"
	gen "$n" "$f"
	sync	# the generated file's write-back is not the import's cost
	echo "== $n rows, $(($(stat -c %s "$f") / 1048576)) MiB of CSV"
	run validate "$n" "$CTL" -d "$tmp/db-$n" import --dry-run "$f"
	# three imports into a new index each (this machine is noisy): the
	# median counts
	RATES=()
	for r in 1 2 3; do
		rm -rf "$tmp/db-$n"
		CONSENTCTL_MEMSTATS=1 run import "$n" "$CTL" -d "$tmp/db-$n" import "$f"
		grep -q "$n events applied" "$tmp/out" || { cat "$tmp/out" "$tmp/err" >&2; exit 1; }
	done
	printf 'import    median of 3: %s rows/s (min %s, max %s)\n' \
		"$(printf '%s\n' "${RATES[@]}" | sort -n | sed -n 2p)" \
		"$(printf '%s\n' "${RATES[@]}" | sort -n | head -1)" \
		"$(printf '%s\n' "${RATES[@]}" | sort -n | tail -1)"
	sed -n 's/^consentctl: import: peak anonymous memory \([0-9]*\) KiB; peak resident set \([0-9]*\) KiB.*/memory    peak anonymous \1 KiB, peak resident \2 KiB (with the mapped index)/p' "$tmp/err"
	echo "index     $(($(du -k "$tmp/db-$n/data.mdb" | cut -f1) / 1024)) MiB in data.mdb (a sparse file of $(($(stat -c %s "$tmp/db-$n/data.mdb") / 1048576)) MiB: the map)"
	run again "$n" "$CTL" -d "$tmp/db-$n" import "$f"
	grep -q "0 events applied, $n stale" "$tmp/out" || { cat "$tmp/out" "$tmp/err" >&2; exit 1; }
	gen 100000 "$tmp/add.csv" new
	sync
	run add100k 100000 "$CTL" -d "$tmp/db-$n" import "$tmp/add.csv"
	grep -q "100000 events applied" "$tmp/out" || { cat "$tmp/out" "$tmp/err" >&2; exit 1; }
	rm -rf "$tmp/db-$n" "$f" "$tmp/add.csv"
done
echo "target: >= 500000 rows/s (import, wall clock); memory independent of the file size"
