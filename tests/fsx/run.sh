#!/usr/bin/env bash
# run.sh - data integrity of episodes/ on a real mount: the fsx-style
# exerciser (tests/fsx/fsx.c) and fio's verify jobs.
#
# usage: tests/fsx/run.sh [-n OPS] [-s SEED] [-b BUILD_DIR]
#
#   -n OPS    fsx operations (default $FSX_OPS or 20000; the full run is
#             100000 or more)
#   -s SEED   fsx seed (default: the time; printed: rerun with it to
#             reproduce a failure)
#   -b BUILD  build dir with engramfs (default build); fsx is built into
#             BUILD/tests/fsx/fsx
#
# Checks, one pass or failure each:
#   1. fsx: zero mismatches (exit 1 on the first, with seed and op number);
#   2. fio randwrite with crc32c verify on 4 files in episodes/fio (write,
#      then read back and verify, psync);
#   3. fio verify_only after an unmount and remount: what fio wrote is
#      there, byte-exact;
#   4. fio with a write and verify mix on one file shared by 2 jobs
#      (write_verify_backlog style: verify while writing);
#   5. a clean unmount, and no sanitizer report in the daemon's log.
# fio is Debian's `fio` package; when it is missing and we are root, it
# is installed (apt-get), otherwise its checks are skipped.
# Ends with "N passed, N failed[, N skipped]".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../crash/mountlib.bash
source "$ROOT/tests/crash/mountlib.bash"

OPS=${FSX_OPS:-20000}
SEED=${FSX_SEED:-$(date +%s)}
BUILD=$ROOT/build
while getopts "n:s:b:" o; do
	case $o in
	n) OPS=$OPTARG ;;
	s) SEED=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
done
passed=0 failed=0 skipped=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
# shellcheck disable=SC2034  # ML_FAILED is read by mountlib.bash
bad() { echo "FAIL $*"; failed=$((failed + 1)); ML_FAILED=1; }
finish() {
	local s=""
	[[ $skipped -gt 0 ]] && s=", $skipped skipped"
	echo "$passed passed, $failed failed$s"
	[[ $failed -eq 0 ]]
	exit
}

ml_require_fuse fsx
trap ml_cleanup EXIT
ml_init "$BUILD" fsx || { bad "setup"; finish; }
FSX=$ML_BUILD/tests/fsx/fsx
mkdir -p "$(dirname "$FSX")"
if [[ ! -x $FSX || $FSX -ot $HERE/fsx.c ]]; then
	${CC:-cc} -std=c11 -O2 -g -Wall -Wextra -Werror -D_FILE_OFFSET_BITS=64 \
		-D_GNU_SOURCE -o "$FSX" "$HERE/fsx.c" || { bad "build fsx"; finish; }
fi
ml_start || { bad "mount"; finish; }
E=$ML_MNT/episodes

# 1. fsx
mkdir "$E/fsx"
t0=$(date +%s)
if "$FSX" -N "$OPS" -S "$SEED" -q "$E/fsx"; then
	ok "fsx: $OPS operations, 0 mismatches, seed $SEED ($(( $(date +%s) - t0 )) s)"
else
	bad "fsx: seed $SEED (reproduce: $FSX -N $OPS -S $SEED DIR on a fresh mount)"
fi

# 2-4. fio
if ! command -v fio >/dev/null && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q fio >/dev/null 2>&1 ||
		echo "fsx: apt-get install fio failed"
fi
FIO=(fio --directory="$E/fio" --ioengine=psync --fallocate=none --bs=4k
     --size=256k --verify=crc32c --randseed=1234 --output-format=normal)
fio_run() {	# fio_run WHAT ARGS...: pass iff fio exits 0 and no job has err != 0
	local what=$1 out rc
	shift
	out=$("${FIO[@]}" "$@" 2>&1)
	rc=$?
	if [[ $rc -eq 0 ]] && ! grep -Eq 'err= *[1-9]|verify failed|bad magic|crc32c: ' <<<"$out"; then
		ok "fio: $what"
	else
		bad "fio: $what (exit $rc):"
		sed 's/^/    /' <<<"$out" | grep -Ev '^ +(lat|clat|slat|bw|iops|cpu|IO depths|submit|complete|issued|latency|[0-9]+\.[0-9]+th|\|)' | head -40
	fi
}
if command -v fio >/dev/null; then
	mkdir "$E/fio"
	fio_run "randwrite 4 x 256 KiB, crc32c verify" --name=v --rw=randwrite \
		--numjobs=4 --do_verify=1
	if ml_stop && ml_start; then
		fio_run "verify_only after unmount and remount" --name=v \
			--rw=randwrite --numjobs=4 --verify_only
	else
		bad "fio: remount"
	fi
	fio_run "write and verify while writing (verify_backlog)" --name=w \
		--rw=randrw --numjobs=1 --verify_backlog=16 --do_verify=1 \
		--size=512k
else
	echo "skip fio: not installed (Debian package fio)"
	skipped=$((skipped + 3))
fi

if ml_stop; then ok "clean unmount"; else bad "clean unmount"; fi
if ml_sanitizer_report; then bad "sanitizer report in $ML_LOG"; fi
finish
