#!/usr/bin/env bash
# run-all.sh - run the unit tests (cmocka binaries) and the end-to-end tests
# (bats, against a real mount) and end with one line:
#
#     N passed, N failed[, N skipped]
#
# usage: tests/run-all.sh BUILD_DIR [unit|e2e]
#
#   BUILD_DIR   where make put the binaries (build, build/asan): unit tests are
#               BUILD_DIR/tests/test_*, the daemon BUILD_DIR/engramfs
#   VALGRIND=1  run each unit binary under valgrind (leaks and errors fail;
#               the tests shrink their workloads, harness.h harness_slow)
#   UNITS="test_a test_b"  run only these unit binaries (default: all)
#   UNIT_JOBS   unit binaries run at once (1); results print in name order
#   UNIT_TIMEOUT  seconds per unit binary (600; 1800 under valgrind)
#   E2E_TIMEOUT   seconds for the whole bats suite (1500); bats 1.8 has no
#                 per-test timeout, a hung mount must not hang CI
#
# Counting: each cmocka test is one; a unit binary that crashes, times out or
# fails under valgrind without a cmocka failure line counts one failure more.
# Each bats test is one; skipped tests count as passed and are also reported.
# Exit status 1 when anything failed.
set -uo pipefail

usage() { echo "usage: $0 BUILD_DIR [unit|e2e]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
BUILD=$1
WHAT=${2:-all}
case $WHAT in unit | e2e | all) ;; *) usage ;; esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run-all: no build dir '$1'" >&2; exit 2; }

passed=0 failed=0 skipped=0
failures=()

if [[ -t 1 ]]; then RED=$'\e[31m' GREEN=$'\e[32m' OFF=$'\e[0m'; else RED='' GREEN='' OFF=''; fi

# unit_run BIN DIR: run one unit binary (under valgrind when asked); its
# output, exit status and seconds go to DIR/NAME.{out,rc,secs}.
unit_run() {
	local bin=$1 dir=$2 name t0 rc
	local -a cmd
	name=$(basename "$bin")
	cmd=(timeout "${UNIT_TIMEOUT:-$([[ ${VALGRIND:-0} == 1 ]] && echo 1800 || echo 600)}")
	# shellcheck disable=SC2054  # the commas are valgrind's
	if [[ ${VALGRIND:-0} == 1 ]]; then
		cmd+=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
		      --errors-for-leak-kinds=definite,indirect --error-exitcode=1)
	fi
	t0=$(date +%s.%N)
	"${cmd[@]}" "$bin" >"$dir/$name.out" 2>&1
	rc=$?
	echo "$rc" >"$dir/$name.rc"
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }' >"$dir/$name.secs"
}

# unit_report NAME DIR: count and print one binary's result.
unit_report() {
	local name=$1 dir=$2 out rc secs p f extra
	out=$(<"$dir/$name.out")
	rc=$(<"$dir/$name.rc")
	secs=$(<"$dir/$name.secs")
	p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' <<<"$out" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' <<<"$out" | tail -n1)
	p=${p:-0} f=${f:-0}
	extra=0
	if [[ $rc -ne 0 && $f -eq 0 ]]; then
		extra=1	# crashed, timed out, or valgrind found errors
	fi
	passed=$((passed + p))
	failed=$((failed + f + extra))
	if [[ $rc -ne 0 || $f -ne 0 ]]; then
		failures+=("unit $name (exit $rc)")
		echo "${RED}FAIL${OFF} $name: $p passed, $((f + extra)) failed (exit $rc, $secs s)"
		sed 's/^/    /' <<<"$out"
	else
		echo "${GREEN}ok${OFF}   $name: $p passed ($secs s)"
	fi
}

# The binaries run UNIT_JOBS at a time; results are reported in name order.
run_units() {
	local bin name dir
	local -a names=()
	shopt -s nullglob
	local bins=("$BUILD"/tests/test_*)
	shopt -u nullglob
	dir=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-units.XXXXXX")
	for bin in "${bins[@]}"; do
		[[ -f $bin && -x $bin ]] || continue	# skip test_x.d and friends
		name=$(basename "$bin")
		if [[ -n ${UNITS:-} && " $UNITS " != *" $name "* ]]; then
			continue
		fi
		names+=("$name")
		while [[ $(jobs -rp | wc -l) -ge ${UNIT_JOBS:-1} ]]; do
			wait -n
		done
		unit_run "$bin" "$dir" &
	done
	wait
	for name in "${names[@]}"; do
		unit_report "$name" "$dir"
	done
	rm -rf "$dir"
	if [[ ${#names[@]} -eq 0 ]]; then
		echo "run-all: no unit test binaries in $BUILD/tests (run make units)"
	fi
}

run_e2e() {
	local dir=$HERE/e2e out rc line planned=0 ok=0 nok=0 skip=0
	shopt -s nullglob
	local files=("$dir"/*.bats)
	shopt -u nullglob
	if [[ ${#files[@]} -eq 0 ]]; then
		echo "run-all: no bats files in $dir"
		return
	fi
	if ! command -v bats >/dev/null 2>&1; then
		echo "${RED}FAIL${OFF} e2e: bats is not installed (scripts/deps.sh)"
		failed=$((failed + 1)); failures+=("e2e: bats missing")
		return
	fi
	export ENGRAMFS=$BUILD/engramfs
	export ENGRAMCTL=$BUILD/engramctl
	if [[ ! -x $ENGRAMFS ]]; then
		echo "${RED}FAIL${OFF} e2e: no daemon at $ENGRAMFS (run make all)"
		failed=$((failed + 1)); failures+=("e2e: daemon missing")
		return
	fi
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/engramfs-bats.XXXXXX")
	# Stream the TAP as it comes (failure diagnostics are its '# ' lines).
	(cd "$HERE/.." && timeout -k 10 "${E2E_TIMEOUT:-1500}" bats --tap tests/e2e) 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	while IFS= read -r line; do
		case $line in
		1..*) planned=${line#1..} ;;
		"not ok "*) nok=$((nok + 1)); failures+=("e2e: ${line#not ok }") ;;
		"ok "*" # skip"*) ok=$((ok + 1)); skip=$((skip + 1)) ;;
		"ok "*) ok=$((ok + 1)) ;;
		esac
	done <"$log"
	rm -f "$log"
	# Tests bats planned but never reported (bats itself died) are failures.
	if [[ $planned =~ ^[0-9]+$ && $((ok + nok)) -lt $planned ]]; then
		echo "run-all: bats planned $planned tests, reported $((ok + nok))"
		nok=$((nok + planned - ok - nok))
		failures+=("e2e: tests never reported")
	fi
	if [[ $rc -ne 0 && $nok -eq 0 ]]; then
		nok=1
		failures+=("e2e: bats exited $rc")
	fi
	passed=$((passed + ok))
	failed=$((failed + nok))
	skipped=$((skipped + skip))
}

[[ $WHAT == e2e ]] || run_units
[[ $WHAT == unit ]] || run_e2e

if [[ ${#failures[@]} -gt 0 ]]; then
	echo
	echo "failed:"
	printf '  %s\n' "${failures[@]}"
fi
summary="$passed passed, $failed failed"
[[ $skipped -gt 0 ]] && summary+=", $skipped skipped"
echo "$summary"
[[ $failed -eq 0 ]]
