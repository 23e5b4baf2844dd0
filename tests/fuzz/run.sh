#!/usr/bin/env bash
# run.sh - build the libFuzzer targets and run each for a set time.
#
# usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
#
#   SECONDS   per target (default $FUZZ_SECONDS or 30: the CI smoke)
#   TARGET    fuzz_query fuzz_flag fuzz_config fuzz_text (default: all)
#
# Build: clang compiles every store/*.c with -fsanitize=fuzzer-no-link,
# address,undefined into build/fuzz/obj (a separate build: the Makefile's
# objects are gcc's and uninstrumented), and links each target with
# -fsanitize=fuzzer,address,undefined against the system libraries.
# Each target starts from its seed corpus (tests/fuzz/corpus/NAME, copied
# to build/fuzz/corpus/NAME, where libFuzzer adds what it finds, so the
# repository's seeds stay small) and stops after SECONDS.  A crash, a leak,
# a sanitizer report or a broken property (abort) fails the target; the
# input is kept as build/fuzz/crash-NAME-*, reproduce with
#     build/fuzz/NAME build/fuzz/crash-NAME-...
# Prints executions and time per target, then "N passed, N failed".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${1:-${FUZZ_SECONDS:-30}}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(fuzz_query fuzz_flag fuzz_config fuzz_text)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
CLANG=${CLANG:-clang}
PKGS="rocksdb json-c inih libutf8proc libxxhash"
passed=0 failed=0

if ! command -v "$CLANG" >/dev/null; then
	echo "fuzz: clang is missing (Debian package clang): skipped"
	echo "0 passed, 0 failed, ${#TARGETS[@]} skipped"
	exit 0
fi
mkdir -p "$OUT/obj"
# shellcheck disable=SC2046,SC2054,SC2207  # word lists from pkg-config; -fsanitize commas
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -D_FILE_OFFSET_BITS=64
	-D_GNU_SOURCE -I"$ROOT/store" $(pkg-config --cflags $PKGS)
	-fsanitize=fuzzer-no-link,address,undefined
	-fno-sanitize-recover=undefined)
# shellcheck disable=SC2207
LIBS=($(pkg-config --libs $PKGS) -lstemmer -lm -lpthread)

# The store, instrumented; rebuilt when a source is newer than its object.
objs=()
build_failed=""
for src in "$ROOT"/store/*.c; do
	obj=$OUT/obj/$(basename "${src%.c}").o
	objs+=("$obj")
	if [[ ! -f $obj || $src -nt $obj || $ROOT/store/store.h -nt $obj || $ROOT/store/store_i.h -nt $obj ]]; then
		"$CLANG" "${CFLAGS[@]}" -c -o "$obj" "$src" || build_failed=1
	fi
done
if [[ -n $build_failed ]]; then
	echo "fuzz: the store does not build with clang"
	echo "0 passed, 1 failed"
	exit 1
fi

for t in "${TARGETS[@]}"; do
	bin=$OUT/$t
	if ! "$CLANG" "${CFLAGS[@]/fuzzer-no-link/fuzzer}" -o "$bin" "$HERE/$t.c" \
		"${objs[@]}" "${LIBS[@]}" -lstdc++; then
		echo "FAIL $t: does not build"
		failed=$((failed + 1))
		continue
	fi
	corpus=$OUT/corpus/${t#fuzz_}
	mkdir -p "$corpus"
	cp -n "$HERE/corpus/${t#fuzz_}"/* "$corpus/" 2>/dev/null
	log=$OUT/$t.log
	start=$(date +%s)
	(cd "$OUT" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
		-max_len=70000 -artifact_prefix="$OUT/crash-$t-" \
		-print_final_stats=1 "$corpus" >"$log" 2>&1)
	rc=$?
	took=$(( $(date +%s) - start ))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1)
	if [[ $rc -eq 0 ]]; then
		echo "ok   $t: ${runs:-?} executions in $took s (${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l))"
		passed=$((passed + 1))
	else
		echo "FAIL $t (exit $rc) after ${runs:-?} executions in $took s; log $log:"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|deadly signal|Test unit written' "$log" | head -n 20 | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
