# helpers.bash - what every end-to-end test file shares: a real engramfs
# mount in a private temp dir, always unmounted, and the daemon's log
# checked for sanitizer reports.
#
# A file that shares one mount between its tests:
#
#     load helpers
#     setup_file()    { setup_mount; }          # exports M, DATA, LOG, DAEMON_PID
#     teardown_file() { teardown_mount; }
#     setup()         { mark_log; }
#     teardown()      { check_log; }
#
# setup_mount options:
#     --public       mount under a fresh world-traversable dir in $TMPDIR
#                    (for tests that run commands as another user)
#     -o OPTS        passed to the daemon (allow_other, config=FILE, ...)
#
# Environment: ENGRAMFS is the daemon (run-all.sh exports BUILD/engramfs);
# without it, build/engramfs of this checkout.  Tests skip when /dev/fuse or
# fusermount3 is missing, and fail when the daemon is missing.

bats_require_minimum_version 1.5.0

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${ENGRAMFS:=$E2E_DIR/../../build/engramfs}"
export ENGRAMFS
ERRNO_PY=$E2E_DIR/errno.py

# The patterns that make any test fail when they show in the daemon's log.
SANITIZER_RE='AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer'

# errno OP ARGS: the symbolic errno (or OK) of one file operation.
errno_of() {
	python3 "$ERRNO_PY" "$@"
}

# A fail that works in setup_file/teardown_file as well as in tests.
e2e_fail() {
	printf '%s\n' "$*" >&2
	return 1
}

require_fuse() {
	[[ -c /dev/fuse ]] || skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null || skip "fusermount3 is missing"
	[[ -x $ENGRAMFS ]] || e2e_fail "no engramfs daemon at '$ENGRAMFS' (make all)"
}

# pid_alive PID: running and not a zombie.
pid_alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ ${st:0:1} != Z && -n $st ]]
}

# in_mount_table DIR: something is mounted there, even a dead FUSE mount
# (mountpoint -q cannot stat those: "Transport endpoint is not connected").
in_mount_table() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Start the daemon on $DATA at $M with $MOUNT_OPTS; wait up to 5 s for it.
start_daemon() {
	local i
	# shellcheck disable=SC2086  # MOUNT_OPTS is a list of words
	"$ENGRAMFS" -f $MOUNT_OPTS "$DATA" "$M" >>"$LOG" 2>&1 3>&- &
	DAEMON_PID=$!
	export DAEMON_PID
	echo "$DAEMON_PID" >"$MOUNT_BASE/daemon.pid"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$M" && return 0
		if ! pid_alive "$DAEMON_PID"; then
			e2e_fail "engramfs exited before mounting; log:" "$(cat "$LOG")"
			return 1
		fi
		sleep 0.05
	done
	e2e_fail "engramfs did not mount within 5 s; log:" "$(cat "$LOG")"
	return 1
}

setup_mount() {
	require_fuse
	local base opts=""
	MOUNT_PUBLIC=""
	while [[ $# -gt 0 ]]; do
		case $1 in
		--public) MOUNT_PUBLIC=1 ;;
		-o) opts+=" -o $2"; shift ;;
		*) e2e_fail "setup_mount: unknown argument '$1'"; return 1 ;;
		esac
		shift
	done
	if [[ -n $MOUNT_PUBLIC ]]; then
		base=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-e2e.XXXXXX") || return 1
		chmod 755 "$base"
	else
		base=$(mktemp -d "${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}/mount.XXXXXX") || return 1
	fi
	MOUNT_BASE=$base
	DATA=$base/data
	M=$base/mnt
	LOG=$base/engramfs.log
	MOUNT_OPTS=$opts
	mkdir -p "$DATA" "$M"
	: >"$LOG"
	export MOUNT_BASE DATA M LOG MOUNT_OPTS MOUNT_PUBLIC
	start_daemon
}

# The daemon's pid: a test that restarted it changed DAEMON_PID only in its
# own process, so later tests of a file-level mount read it from the file.
refresh_pid() {
	[[ -n ${MOUNT_BASE:-} && -r $MOUNT_BASE/daemon.pid ]] || return 0
	DAEMON_PID=$(cat "$MOUNT_BASE/daemon.pid")
}

# Unmount (lazily if a busy mount refuses) and wait up to 10 s for the
# daemon to exit.  Sets DAEMON_STATUS when this shell started the daemon.
stop_daemon() {
	local i
	refresh_pid
	if in_mount_table "$M"; then
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M" 2>/dev/null
	fi
	for ((i = 0; i < 200; i++)); do
		pid_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	if pid_alive "$DAEMON_PID"; then
		kill -9 "$DAEMON_PID" 2>/dev/null
		fusermount3 -uz "$M" 2>/dev/null
		e2e_fail "engramfs (pid $DAEMON_PID) did not exit within 10 s of unmount"
		return 1
	fi
	return 0
}

# wait_daemon_exit: up to 10 s for the daemon to exit by itself, then its
# exit status in DAEMON_STATUS (only from the shell that started it).
wait_daemon_exit() {
	local i
	for ((i = 0; i < 200; i++)); do
		pid_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	if pid_alive "$DAEMON_PID"; then
		e2e_fail "engramfs (pid $DAEMON_PID) is still running after 10 s"
		return 1
	fi
	DAEMON_STATUS=0
	wait "$DAEMON_PID" || DAEMON_STATUS=$?
	export DAEMON_STATUS	# read by the tests
}

# Always called: unmount, wait for the daemon, scan the whole log.
teardown_mount() {
	[[ -n ${M:-} ]] || return 0
	local rc=0
	stop_daemon || rc=1
	if in_mount_table "$M"; then
		fusermount3 -uz "$M" 2>/dev/null
		e2e_fail "$M was still mounted after the daemon exited"
		rc=1
	fi
	if grep -Eq "$SANITIZER_RE" "$LOG" 2>/dev/null; then
		e2e_fail "sanitizer report in the daemon log ($LOG):" "$(cat "$LOG")"
		rc=1
	fi
	if [[ -n ${MOUNT_PUBLIC:-} && $rc -eq 0 ]]; then
		rm -rf "$MOUNT_BASE"
	fi
	return $rc
}

remount() {
	stop_daemon || return 1
	start_daemon
}

# The crash: kill -9, clear the dead mount, start again on the same data.
kill9_and_remount() {
	local i
	refresh_pid
	kill -9 "$DAEMON_PID" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		pid_alive "$DAEMON_PID" || break
		sleep 0.05
	done
	fusermount3 -uz "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	start_daemon
}

# Per-test log window: mark_log in setup, check_log in teardown.  A test
# fails when its part of the log has a sanitizer report or the daemon died.
mark_log() {
	LOG_MARK=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
	refresh_pid
	# A daemon that died in an earlier test (that test failed for it) is
	# started again, so one crash does not fail every later test of a
	# shared mount; teardown_mount still fails on the report in the log.
	if [[ -n ${DAEMON_PID:-} ]] && ! pid_alive "$DAEMON_PID"; then
		echo "mark_log: the daemon died in an earlier test; starting it again" >&2
		fusermount3 -uz "$M" 2>/dev/null || true
		start_daemon || return 1
		LOG_MARK=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
	fi
}

log_since_mark() {
	tail -c +$((${LOG_MARK:-0} + 1)) "$LOG"
}

check_log() {
	[[ -n ${LOG:-} ]] || return 0
	refresh_pid
	if log_since_mark | grep -Eq "$SANITIZER_RE"; then
		e2e_fail "sanitizer report in the daemon log:" "$(log_since_mark)"
		return 1
	fi
	if [[ -n ${DAEMON_PID:-} ]] && ! pid_alive "$DAEMON_PID"; then
		e2e_fail "the daemon is gone; log:" "$(log_since_mark)"
		return 1
	fi
}

# Assertions with a message that says what differed.
assert_eq() {
	if [[ "$1" != "$2" ]]; then
		e2e_fail "expected: '$2'" "     got: '$1'${3:+ ($3)}"
		return 1
	fi
}

assert_errno() {	# assert_errno EXPECTED OP ARGS...
	local want=$1 got
	shift
	got=$(errno_of "$@")
	if [[ $got != "$want" ]]; then
		e2e_fail "$*: expected $want, got $got"
		return 1
	fi
}

# A word unique to this test and this run (recall tests need fresh terms).
uniq_word() {
	local w
	w=$(LC_ALL=C tr -dc 'a-z' </dev/urandom | head -c 10)
	printf 'zq%s%s' "$w" "${1:-}"
}

# Each recall result line's field N (1 = name).
field() {
	cut -f "$1"
}
