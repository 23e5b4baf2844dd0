#!/usr/bin/env bats
# Mounting and unmounting: the tree, status, clean exits.  Each test has
# its own daemon, started from this test's shell so `wait` sees its status.

load helpers

setup() {
	setup_mount
	mark_log
}

teardown() {
	check_log
	teardown_mount
}

@test "the data directory mounts as a FUSE file system" {
	mountpoint -q "$M"
	run awk -v m="$M" '$2 == m { print $3 }' /proc/self/mounts
	assert_eq "$output" fuse.engramfs
	[ -d "$M" ]
}

@test "the root lists episodes recall flags concepts snapshots query metrics status ctl" {
	run bash -c 'ls -A "$1" | sort | tr "\n" " "' _ "$M"
	assert_eq "$output" "concepts ctl episodes flags metrics query recall snapshots status "
}

@test "the root entries have the types and modes of the design" {
	for d in episodes recall flags concepts snapshots; do
		[ -d "$M/$d" ] || e2e_fail "$d is not a directory"
	done
	for f in query metrics status ctl; do
		[ -f "$M/$f" ] || e2e_fail "$f is not a regular file"
	done
	[ -w "$M/episodes" ]
	[ -r "$M/status" ]
	# ctl is write-only, metrics and status read-only (for the owner too).
	run stat -c %A "$M/ctl"
	[[ $output == ?-w-* ]] || e2e_fail "ctl mode $output"
	run stat -c %A "$M/status"
	[[ $output == ?r--* ]] || e2e_fail "status mode $output"
	run stat -c %A "$M/metrics"
	[[ $output == ?r--* ]] || e2e_fail "metrics mode $output"
}

@test "status prints key: value lines with the version, counts and data dir" {
	run cat "$M/status"
	[ "$status" -eq 0 ]
	[ -n "$output" ]
	while IFS= read -r line; do
		[[ $line =~ ^[a-z][a-z0-9_\ .-]*:\ .+$ ]] || e2e_fail "not key: value: '$line'"
	done <<<"$output"
	grep -q '^version: ' <<<"$output"
	grep -q '^uptime' <<<"$output"
	grep -qF "$DATA" <<<"$output"
	grep -Eq '^episodes: 0$' <<<"$output"
}

@test "status counts episodes as they are written and removed" {
	echo one >"$M/episodes/a"
	echo two >"$M/episodes/b"
	grep -Eq '^episodes: 2$' "$M/status"
	rm "$M/episodes/a"
	grep -Eq '^episodes: 1$' "$M/status"
}

@test "metrics is Prometheus text with the episode count" {
	echo one >"$M/episodes/a"
	run cat "$M/metrics"
	[ "$status" -eq 0 ]
	grep -Eq '^# TYPE engram_episodes_total ' <<<"$output"
	grep -Eq '^engram_episodes_total(\{[^}]*\})? 1$' <<<"$output"
	# Every line is a comment or "name[{labels}] value".
	while IFS= read -r line; do
		[[ -z $line || $line == "# "* ||
		   $line =~ ^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?\ ([-+0-9.eE]+|NaN|[+-]Inf)(\ -?[0-9]+)?$ ]] ||
			e2e_fail "not exposition format: '$line'"
	done <<<"$output"
}

@test "SIGTERM unmounts cleanly and the daemon exits 0" {
	echo kept >"$M/episodes/kept"
	kill -TERM "$DAEMON_PID"
	wait_daemon_exit
	assert_eq "$DAEMON_STATUS" 0 "exit status of engramfs after SIGTERM"
	run ! mountpoint -q "$M"
	run ! grep -q "$M" /proc/self/mounts
	start_daemon
	assert_eq "$(cat "$M/episodes/kept")" kept
}

@test "fusermount3 -u unmounts cleanly and the daemon exits 0" {
	echo kept >"$M/episodes/kept"
	fusermount3 -u "$M"
	wait_daemon_exit
	assert_eq "$DAEMON_STATUS" 0 "exit status of engramfs after fusermount3 -u"
	run ! mountpoint -q "$M"
	start_daemon
	assert_eq "$(cat "$M/episodes/kept")" kept
}

@test "a second daemon on a data directory in use fails and leaves the first serving" {
	mkdir -p "$MOUNT_BASE/mnt2"
	run timeout 10 "$ENGRAMFS" -f "$DATA" "$MOUNT_BASE/mnt2"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ] || e2e_fail "second daemon did not exit"
	run ! mountpoint -q "$MOUNT_BASE/mnt2"
	echo still >"$M/episodes/still"
	assert_eq "$(cat "$M/episodes/still")" still
}

@test "the daemon refuses a missing mount point with a message and exit 1" {
	mkdir -p "$MOUNT_BASE/data-x"
	run timeout 10 "$ENGRAMFS" -f "$MOUNT_BASE/data-x" "$MOUNT_BASE/no/such/dir"
	assert_eq "$status" 1
	[[ $output == *"no/such/dir"* ]] || e2e_fail "message does not name the mount point: $output"
}
