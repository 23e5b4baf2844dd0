#!/usr/bin/env bats
# snapshots/ and ctl: hot snapshots while a writer writes, listing and
# deleting them, a snapshot mounted as a data dir of its own, incremental
# backups, compaction, and the errors of ctl.  One mount for the file;
# tests that mount a second daemon unmount it in teardown.

load helpers

setup_file() { setup_mount; }
teardown_file() { teardown_mount; }

setup() {
	mark_log
	E=$M/episodes
	M2=""
}

teardown() {
	[[ -z ${WRITER_PID:-} ]] || kill "$WRITER_PID" 2>/dev/null || true
	if [[ -n $M2 ]] && in_mount_table "$M2"; then
		fusermount3 -u "$M2" 2>/dev/null || fusermount3 -uz "$M2"
		for ((i = 0; i < 200; i++)); do
			pid_alive "$M2_PID" || break
			sleep 0.05
		done
	fi
	[[ -z $M2 ]] || ! grep -Eq "$SANITIZER_RE" "$M2_LOG" ||
		e2e_fail "sanitizer report in the second daemon's log:" "$(cat "$M2_LOG")"
	check_log
}

# mount_second DATADIR: a second daemon on DATADIR at $M2.
mount_second() {
	M2=$BATS_TEST_TMPDIR/mnt2
	M2_LOG=$BATS_TEST_TMPDIR/engramfs2.log
	mkdir -p "$M2"
	"$ENGRAMFS" -f "$1" "$M2" >>"$M2_LOG" 2>&1 3>&- &
	M2_PID=$!
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$M2" && return 0
		pid_alive "$M2_PID" || break
		sleep 0.05
	done
	e2e_fail "second engramfs did not mount; log:" "$(cat "$M2_LOG")"
}

@test "mkdir snapshots/NAME while a writer writes: ls shows it and it mounts as a data dir" {
	mkdir "$E/snap"
	for i in $(seq 1 20); do echo "before the snapshot $i" >"$E/snap/b$i"; done
	( i=0; while :; do echo "during $i" >"$E/snap/w$i"; i=$((i + 1)); done ) &
	WRITER_PID=$!
	sleep 0.3
	mkdir "$M/snapshots/s1"
	sleep 0.2
	kill "$WRITER_PID"
	wait "$WRITER_PID" 2>/dev/null || true
	WRITER_PID=""
	assert_eq "$(ls "$M/snapshots")" s1
	run stat -c '%F %a' "$M/snapshots/s1"
	assert_eq "$output" "directory 555"
	assert_eq "$(ls -A "$M/snapshots/s1")" ""
	[[ -f $DATA/snapshots/s1/CURRENT ]]

	mount_second "$DATA/snapshots/s1"
	for i in $(seq 1 20); do
		assert_eq "$(cat "$M2/episodes/snap/b$i")" "before the snapshot $i"
	done
	# What the writer had committed is there whole: an episode is empty
	# (created, content not yet committed) or complete, never torn.
	n=$(ls "$M2/episodes/snap" | grep -c '^w' || true)
	total=$(ls "$E/snap" | grep -c '^w')
	[[ $n -le $total ]] || e2e_fail "snapshot has $n writer files, the store $total"
	grep -Eq "^episodes: $((20 + n))\$" "$M2/status"
	for f in "$M2"/episodes/snap/w*; do
		[[ -e $f ]] || continue
		c=$(cat "$f")
		[[ -z $c || $c == "during ${f##*/w}" ]] || e2e_fail "torn episode $f: '$c'"
	done
}

@test "rmdir snapshots/NAME deletes it; a second mkdir of a name is EEXIST" {
	echo "kept" >"$E/kept"
	mkdir "$M/snapshots/s2"
	assert_errno EEXIST mkdir "$M/snapshots/s2"
	ls "$M/snapshots" | grep -qx s2
	rmdir "$M/snapshots/s2"
	! ls "$M/snapshots" | grep -qx s2
	[[ ! -e $DATA/snapshots/s2 && ! -e $DATA/snapshots/s2.rm.tmp ]]
	assert_errno ENOENT rmdir "$M/snapshots/s2"
	[[ ! -e $M/snapshots/s2 ]]
	mkdir "$M/snapshots/s2"	# the name can be used again
	rmdir "$M/snapshots/s2"
}

@test "snapshot names: a .tmp suffix is EINVAL, files and subfolders are EPERM" {
	assert_errno EINVAL mkdir "$M/snapshots/x.tmp"
	assert_errno EPERM create "$M/snapshots/file"
	mkdir "$M/snapshots/s3"
	assert_errno EPERM create "$M/snapshots/s3/file"
	assert_errno EPERM mkdir "$M/snapshots/s3/sub"
	rmdir "$M/snapshots/s3"
}

@test "backup DIR twice: RocksDB backup layout, and the second copies only what is new" {
	B=$BATS_TEST_TMPDIR/bk
	for i in $(seq 1 50); do
		head -c 3000 /dev/urandom | base64 >"$E/big$i"
	done
	echo "backup $B" >"$M/ctl"
	[[ -d $B/meta && -d $B/private && -d $B/shared_checksum ]]
	assert_eq "$(ls "$B/meta" | wc -l)" 1
	ls "$B/shared_checksum" | sort >"$BATS_TEST_TMPDIR/first"
	b1=$(du -sb "$B/shared_checksum" | cut -f1)
	echo "one more episode" >"$E/one-more"
	echo "backup $B" >"$M/ctl"
	assert_eq "$(ls "$B/meta" | wc -l)" 2
	ls "$B/shared_checksum" | sort >"$BATS_TEST_TMPDIR/second"
	b2=$(du -sb "$B/shared_checksum" | cut -f1)
	# Every table of the first backup is shared, none copied again ...
	comm -23 "$BATS_TEST_TMPDIR/first" "$BATS_TEST_TMPDIR/second" >"$BATS_TEST_TMPDIR/gone"
	[[ ! -s $BATS_TEST_TMPDIR/gone ]]
	# ... and what the second added is small next to the first.
	[[ $((b2 - b1)) -lt $((b1 / 4)) ]] ||
		e2e_fail "second backup added $((b2 - b1)) bytes, the first $b1"
	log_since_mark | grep -q "backup 2 in '$B'"
}

@test "backup needs an absolute directory: a relative one is EINVAL" {
	run bash -c "echo 'backup relative/dir' >'$M/ctl'"
	[[ $status -ne 0 && $output == *"Invalid argument"* ]]
	run bash -c "echo 'backup $DATA/inside' >'$M/ctl'"
	[[ $status -ne 0 && $output == *"Invalid argument"* ]]
	run bash -c "echo 'backup /no/such/parent/dir' >'$M/ctl'"
	[[ $status -ne 0 && $output == *"No such file or directory"* ]]
}

@test "compact returns 0 and the store still reads" {
	echo "compact me" >"$E/compact-me"
	rm -f "$E"/big*
	echo compact >"$M/ctl"
	assert_eq "$(cat "$E/compact-me")" "compact me"
	log_since_mark | grep -q "ctl: compact: done"
}

@test "an unknown ctl command is EINVAL" {
	assert_errno EINVAL write "$M/ctl" "defragment"
	assert_errno EINVAL write "$M/ctl" "compact now"
	assert_errno EINVAL write "$M/ctl" "backup"
}
