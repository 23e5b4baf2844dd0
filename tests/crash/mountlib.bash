# mountlib.bash - a private engramfs mount for the standalone harnesses
# (tests/fsx/run.sh, tests/stress/stress.sh); the bats files use
# tests/e2e/helpers.bash instead.
#
#     source tests/crash/mountlib.bash
#     ml_init BUILD_DIR NAME        # sets ML_WORK, ML_DATA, ML_MNT, ML_LOG
#     ml_start [-o OPTS]            # engramfs -f, waits for the mount
#     ml_stop                       # fusermount3 -u, waits for the daemon
#     ml_cleanup                    # from an EXIT trap: kill, unmount, and
#                                   # keep ML_WORK when ML_FAILED is set
#     ml_sanitizer_report           # 0 if the log shows a sanitizer report
#
# Exit early with "0 passed, 0 failed, 1 skipped" when FUSE is missing
# (ml_require_fuse).

ML_SANITIZER_RE='AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer'
ML_PID=""
ML_FAILED=""

ml_require_fuse() {
	if [[ ! -c /dev/fuse ]] || ! command -v fusermount3 >/dev/null; then
		echo "$1: /dev/fuse or fusermount3 is missing: skipped"
		echo "0 passed, 0 failed, 1 skipped"
		exit 0
	fi
}

ml_init() {
	ML_BUILD=$(cd "$1" && pwd) || return 1
	ML_ENGRAMFS=${ENGRAMFS:-$ML_BUILD/engramfs}
	if [[ ! -x $ML_ENGRAMFS ]]; then
		echo "$2: no daemon at $ML_ENGRAMFS (make all)"
		return 1
	fi
	ML_WORK=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-$2.XXXXXX") || return 1
	chmod 755 "$ML_WORK"
	ML_DATA=$ML_WORK/data ML_MNT=$ML_WORK/mnt ML_LOG=$ML_WORK/engramfs.log
	mkdir -p "$ML_DATA" "$ML_MNT"
	: >"$ML_LOG"
}

ml_in_mount_table() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

ml_start() {
	local i
	"$ML_ENGRAMFS" -f "$@" "$ML_DATA" "$ML_MNT" >>"$ML_LOG" 2>&1 &
	ML_PID=$!
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$ML_MNT" && return 0
		kill -0 "$ML_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "engramfs did not mount; log:"
	tail -n 20 "$ML_LOG"
	return 1
}

ml_stop() {
	local i rc=0
	[[ -n $ML_PID ]] || return 0
	fusermount3 -u "$ML_MNT" 2>/dev/null || fusermount3 -uz "$ML_MNT" 2>/dev/null
	for ((i = 0; i < 400; i++)); do
		kill -0 "$ML_PID" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$ML_PID" 2>/dev/null; then
		echo "engramfs did not exit within 20 s of the unmount"
		kill -9 "$ML_PID"
		rc=1
	fi
	wait "$ML_PID" 2>/dev/null || { echo "engramfs exited with status $?"; rc=1; }
	ML_PID=""
	return $rc
}

ml_sanitizer_report() {
	grep -Eq "$ML_SANITIZER_RE" "$ML_LOG" 2>/dev/null
}

ml_cleanup() {
	[[ -n $ML_PID ]] && kill -9 "$ML_PID" 2>/dev/null
	[[ -n ${ML_MNT:-} ]] && ml_in_mount_table "$ML_MNT" && fusermount3 -uz "$ML_MNT" 2>/dev/null
	[[ -n ${ML_WORK:-} ]] || return 0
	if [[ -n $ML_FAILED || -n ${KEEP:-} ]]; then
		echo "work dir kept: $ML_WORK"
	else
		rm -rf "$ML_WORK"
	fi
}
