#!/usr/bin/env bash
# Build and run the libFuzzer targets.
#   tests/fuzz/run.sh            every tests/fuzz/fuzz_*.c
#   tests/fuzz/run.sh addr time  only fuzz_addr.c and fuzz_time.c
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_BUILD (build
# directory, default build/fuzz), FUZZ_JOBS (parallel targets, default 1).
#
# A target X is tests/fuzz/fuzz_X.c defining LLVMFuzzerTestOneInput; its
# seed corpus is tests/fuzz/corpus/X/ (read only: new inputs go to
# FUZZ_BUILD/corpus/X), an optional dictionary tests/fuzz/X.dict.  The
# sources of core/ and config/ are compiled here with clang and
# -fsanitize=fuzzer-no-link,address,undefined (the build/*.a archives are
# built by gcc without instrumentation), so adding a target is only
# dropping a file.  Of web/, only request.c (no HTTP library) goes in.
# Crashes are kept in FUZZ_BUILD/artifacts/.
set -eu -o pipefail
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$SRCDIR/build/fuzz}
case "$OUT" in /*) ;; *) OUT="$SRCDIR/$OUT" ;; esac
SECONDS_EACH=${FUZZ_SECONDS:-20}
CLANG=${FUZZ_CC:-clang}
PKGS="lmdb libidn2 libcrypto yaml-0.1"

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz: $CLANG not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 1
fi
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
PKG_LIBS="$(pkg-config --libs $PKGS) -lunistring"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFLAGS="-std=c11 -g -O1 -D_GNU_SOURCE -pthread -Wall -Wextra $SAN $PKG_CFLAGS -I$SRCDIR"

# targets
targets=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		[ -f "$SRCDIR/tests/fuzz/fuzz_$t.c" ] ||
			{ echo "fuzz: no tests/fuzz/fuzz_$t.c" >&2; exit 2; }
		targets+=("$t")
	done
else
	for f in "$SRCDIR"/tests/fuzz/fuzz_*.c; do
		[ -f "$f" ] || continue
		t=${f##*/fuzz_}
		targets+=("${t%.c}")
	done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets" >&2; exit 1; }

# the libraries, instrumented, as one archive (only what a target uses is linked)
mkdir -p "$OUT/obj" "$OUT/artifacts"
objs=()
for src in "$SRCDIR"/core/*.c "$SRCDIR"/config/*.c "$SRCDIR"/web/request.c; do
	[ -f "$src" ] || continue
	rel=${src#"$SRCDIR"/}
	obj="$OUT/obj/${rel%.c}.o"
	mkdir -p "$(dirname "$obj")"
	if [ ! -f "$obj" ] || [ -n "$(find "$src" "$SRCDIR"/core/*.h "$SRCDIR"/config/*.h \
	    "$SRCDIR"/web/request.h -newer "$obj" 2>/dev/null | head -1)" ]; then
		$CLANG $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src"
	fi
	objs+=("$obj")
done
rm -f "$OUT/libfuzzcm.a"
ar rcs "$OUT/libfuzzcm.a" "${objs[@]}"

fail=0
for t in "${targets[@]}"; do
	bin="$OUT/fuzz_$t"
	echo "=== fuzz $t (${SECONDS_EACH}s)"
	$CLANG $CFLAGS -fsanitize=fuzzer -o "$bin" "$SRCDIR/tests/fuzz/fuzz_$t.c" \
		"$OUT/libfuzzcm.a" $PKG_LIBS
	work="$OUT/corpus/$t"
	seed="$SRCDIR/tests/fuzz/corpus/$t"
	mkdir -p "$work"
	args=(-max_total_time="$SECONDS_EACH" -print_final_stats=1
		-artifact_prefix="$OUT/artifacts/$t-" -timeout=10 -rss_limit_mb=2048)
	[ -f "$SRCDIR/tests/fuzz/$t.dict" ] && args+=(-dict="$SRCDIR/tests/fuzz/$t.dict")
	dirs=("$work")
	[ -d "$seed" ] && dirs+=("$seed")
	if "$bin" "${args[@]}" "${dirs[@]}" >"$OUT/$t.log" 2>&1; then
		grep -E '^stat::number_of_executed_units|^Done|cov:' "$OUT/$t.log" | tail -2
		echo "--- PASS fuzz $t"
	else
		tail -40 "$OUT/$t.log"
		echo "--- FAIL fuzz $t (log: $OUT/$t.log)"
		fail=$((fail + 1))
	fi
done
echo "fuzz: ${#targets[@]} targets, $fail failed"
[ "$fail" -eq 0 ]
