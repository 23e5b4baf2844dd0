#!/usr/bin/env bash
# crash.sh - kill the engramfs daemon with SIGKILL at random points of a
# mixed workload, again and again on the same data dir, and prove after
# each kill that nothing acknowledged was lost and nothing is torn.
#
# usage: tests/crash/crash.sh [-n CYCLES] [-s SEED] [-b BUILD_DIR] [-t MAX_S]
#
#   -n CYCLES   kill/remount cycles (default $CRASH_CYCLES or 10; the full
#               run is 30 or more)
#   -s SEED     seed of the workload and of the kill times (default: the
#               time; printed, and the whole run is reproducible from it up
#               to the timing of the kill itself)
#   -b BUILD    build dir holding engramfs and libengram.a (default build)
#   -t MAX_S    longest time the workload runs before the kill (default 2.5)
#
# One cycle:
#   1. mount (engramfs -f DATA MNT); on the first cycle the driver makes the
#      model of the fresh store, on the others it checks the mount against
#      the model of the previous cycle (tests/crash/driver.py: every fsync'd
#      episode byte-exact, none half-written, no inode number reused, flags
#      at their last acknowledged value; see its header for the model);
#   2. the driver runs the mixed workload: create, rewrite (O_TRUNC),
#      append (O_APPEND), rename (also over an existing episode and across
#      folders), unlink, fsync, flag writes, `echo consolidate > ctl` with
#      dual_memory_types on, reads checked against the model, recalls;
#   3. after a seeded random delay, SIGKILL the daemon; the driver stops at
#      its first ENOTCONN and has logged, outside the mount, each step and
#      whether it was acknowledged;
#   4. clear the dead mount (fusermount3 -uz) and check it is gone;
#   5. the offline check (tests/crash/verify.c: the tree, content hashes,
#      counters, flags, and store_verify; then `engramctl verify` when
#      BUILD/engramctl exists) on the data dir as the kill left it.
# After the last cycle: remount, check, clean unmount, offline check again.
#
# Ends with "crash: ..." figures and "N passed, N failed" (one per cycle,
# plus the final check), exit status 1 on any failure.  A failed run keeps
# its work dir (printed) with the daemon log, the driver's step logs and the
# model.  STRICT=1: a completed but not fsync'd step lost by a SIGKILL is a
# failure too (db.c says the WAL survives a process kill).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CYCLES=${CRASH_CYCLES:-10}
SEED=${CRASH_SEED:-$(date +%s)}
BUILD=$ROOT/build
MAX_S=2.5
while getopts "n:s:b:t:" o; do
	case $o in
	n) CYCLES=$OPTARG ;;
	s) SEED=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	t) MAX_S=$OPTARG ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
done
BUILD=$(cd "$BUILD" && pwd) || exit 2
ENGRAMFS=${ENGRAMFS:-$BUILD/engramfs}
SANITIZER_RE='AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer'

if [[ ! -c /dev/fuse ]] || ! command -v fusermount3 >/dev/null; then
	echo "crash: /dev/fuse or fusermount3 is missing: skipped"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
[[ -x $ENGRAMFS ]] || { echo "crash: no daemon at $ENGRAMFS (make all)"; echo "0 passed, 1 failed"; exit 1; }
VERIFY=$("$HERE/build-verify.sh" "$BUILD") || { echo "crash: cannot build the offline checker"; echo "0 passed, 1 failed"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-crash.XXXXXX")
DATA=$WORK/data M=$WORK/mnt STATE=$WORK/state LOG=$WORK/engramfs.log
mkdir -p "$DATA" "$M" "$STATE"
: >"$LOG"
DAEMON_PID="" DRIVER_PID=""
passed=0 failed=0

in_mount_table() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

cleanup() {
	[[ -n $DRIVER_PID ]] && kill -9 "$DRIVER_PID" 2>/dev/null
	[[ -n $DAEMON_PID ]] && kill -9 "$DAEMON_PID" 2>/dev/null
	in_mount_table "$M" && fusermount3 -uz "$M" 2>/dev/null
	if [[ $failed -eq 0 && -z ${KEEP:-} ]]; then
		rm -rf "$WORK"
	else
		echo "crash: work dir kept: $WORK"
	fi
}
trap cleanup EXIT

fail() {
	echo "crash: FAIL: $*"
	failed=$((failed + 1))
}

# The mount itself is mountlib's (shared with fsx and stress).
source "$HERE/mountlib.bash"
start_daemon() {
	ML_ENGRAMFS=$ENGRAMFS ML_DATA=$DATA ML_MNT=$M ML_LOG=$LOG
	ml_start || return 1
	DAEMON_PID=$ML_PID
}

kill_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}

clear_mount() {
	local i
	fusermount3 -uz "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		in_mount_table "$M" || break
		sleep 0.05
	done
	in_mount_table "$M" && return 1
	# Nothing may have landed below the mount point.
	[[ -z $(ls -A "$M") ]]
}

offline_verify() {	# offline_verify WHAT
	local out rc
	out=$("$VERIFY" "$DATA" 2>&1)
	rc=$?
	if [[ $rc -ne 0 ]]; then
		fail "offline verify $1 (exit $rc):"
		sed 's/^/    /' <<<"$out"
		return 1
	fi
	# engramctl's own offline verb too, when it is built.
	if [[ -x $BUILD/engramctl ]]; then
		out=$("$BUILD/engramctl" verify "$DATA" 2>&1)
		rc=$?
		if [[ $rc -ne 0 ]]; then
			fail "engramctl verify $1 (exit $rc):"
			sed 's/^/    /' <<<"$out" | head -n 40
			return 1
		fi
	fi
	grep -E "store_verify:|problems$" <<<"$out" | sed 's/^/  /'
	return 0
}

echo "crash: $CYCLES cycles, seed $SEED, work dir $WORK"
RANDOM=$SEED
MAX_MS=$(awk -v s="$MAX_S" 'BEGIN { printf "%d", s * 1000 }')
t0=$(date +%s)
start_daemon || { fail "first mount"; echo "$passed passed, $failed failed"; exit 1; }
python3 "$HERE/driver.py" init "$STATE" "$M" || { fail "driver init"; echo "$passed passed, $failed failed"; exit 1; }
for ((cycle = 0; cycle < CYCLES; cycle++)); do
	python3 "$HERE/driver.py" run "$STATE" "$M" $((SEED * 1000 + cycle)) "$cycle" 60 \
		>"$WORK/driver-$cycle.out" 2>&1 &
	DRIVER_PID=$!
	# The kill: 20 ms to MAX_S after the workload starts; one in eight in
	# its first 100 ms.
	ms=$(( 20 + (RANDOM * 32768 + RANDOM) % MAX_MS ))
	[[ $((RANDOM % 8)) -eq 0 ]] && ms=$(( 20 + RANDOM % 100 ))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	if ! kill -0 "$DRIVER_PID" 2>/dev/null; then
		wait "$DRIVER_PID"
		fail "cycle $cycle: the driver stopped before the kill (exit $?):"
		sed 's/^/    /' "$WORK/driver-$cycle.out"
		DRIVER_PID=""
		break
	fi
	kill_daemon
	for ((i = 0; i < 300; i++)); do
		kill -0 "$DRIVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$DRIVER_PID" 2>/dev/null; then
		kill -9 "$DRIVER_PID"
		fail "cycle $cycle: the driver hung on the dead mount"
		break
	fi
	wait "$DRIVER_PID" 2>/dev/null
	drc=$?
	DRIVER_PID=""
	clear_mount || { fail "cycle $cycle: fusermount3 -uz left the dead mount (or files below it)"; break; }
	echo "cycle $cycle: killed after $ms ms"
	sed 's/^/  /' "$WORK/driver-$cycle.out"
	if [[ $drc -ne 0 ]]; then
		fail "cycle $cycle: the driver saw a broken property or an unexpected error (exit $drc)"
		break
	fi
	offline_verify "after the kill of cycle $cycle" || break
	start_daemon || { fail "cycle $cycle: remount after the kill"; break; }
	if ! python3 "$HERE/driver.py" check "$STATE" "$M" "$cycle" | sed 's/^/  /'; then
		fail "cycle $cycle: the state after the kill is wrong"
		break
	fi
	passed=$((passed + 1))
done

if [[ $failed -eq 0 ]]; then
	fusermount3 -u "$M"
	wait "$DAEMON_PID" 2>/dev/null || fail "the daemon exited $? after the last clean unmount"
	DAEMON_PID=""
	offline_verify "after the clean unmount" && passed=$((passed + 1))
fi
if grep -Eq "$SANITIZER_RE" "$LOG"; then
	fail "sanitizer report in the daemon log ($LOG)"
fi
figures=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("%d episodes checked, %d fsync'"'"'d episodes checked, %d inode numbers never reused" % (b.get("checked",0), b.get("acked",0), len(b["inos"])))' "$STATE/base.json" 2>/dev/null)
steps=$(cat "$STATE"/ops-*.log 2>/dev/null | grep -c '"st": "begin"')
echo "crash: seed $SEED: $(( passed < CYCLES ? passed : CYCLES )) of $CYCLES cycles survived (SIGKILL, remount, check); $steps steps; ${figures:-no figures}; $(( $(date +%s) - t0 )) s"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
