#!/usr/bin/env bats
# Full disk: the data dir lives on a small tmpfs.  Filling it makes writes
# fail with ENOSPC (exactly, at fsync or close, where engramfs commits)
# while reads, listing and recall keep working; once space returns, writes
# succeed again without a remount; nothing written before is lost.
#
# The tests of this file run in order on one mount and one tmpfs:
#   tmpfs (48 MiB) at $FS:  $FS/data  the store
#                           $FS/filler  16 MiB, removed to free space
# Sizes: RocksDB preallocates its write-ahead log (about 9 MiB with 8 MiB
# memtables), and a memtable that failed to flush for lack of space is
# flushed again (RocksDB retries every second) only once there is room for
# the whole table: freeing less than a memtable (8 MiB) leaves the store
# refusing writes.  So the filler is 16 MiB.

load helpers
load helpers_more

FS_SIZE=48m

setup_file() {
	require_fuse
	local base
	base=$(mktemp -d "${BATS_FILE_TMPDIR}/mount.XXXXXX")
	export MOUNT_BASE=$base FS=$base/fs
	mkdir -p "$FS"
	if ! mount -t tmpfs -o "size=$FS_SIZE,mode=755" tmpfs "$FS" 2>/dev/null; then
		export FS_SKIP="cannot mount a tmpfs (needs root)"
		return 0
	fi
	export DATA=$FS/data M=$base/mnt LOG=$base/engramfs.log MOUNT_OPTS=""
	mkdir -p "$DATA" "$M"
	: >"$LOG"
	head -c $((16 * 1024 * 1024)) /dev/zero >"$FS/filler"
	start_daemon
	export STATE=$BATS_FILE_TMPDIR
}

teardown_file() {
	[[ -n ${FS_SKIP:-} ]] && { rmdir "$FS" 2>/dev/null; return 0; }
	local rc=0
	teardown_mount || rc=1
	umount "$FS" 2>/dev/null || umount -l "$FS"
	return $rc
}

setup() {
	[[ -z ${FS_SKIP:-} ]] || skip "$FS_SKIP"
	mark_log
	E=$M/episodes
}

teardown() {
	[[ -n ${FS_SKIP:-} ]] && return 0
	check_log && no_abort_in_log
}

# put NAME SIZE: an episode of SIZE random bytes, written, fsync'd and
# closed; prints OK or the errno name and the call that failed
# ("ENOSPC fsync").  The content goes to $STATE/content/NAME.
put() {
	python3 - "$E/$1" "$2" "$STATE/content" <<-'EOF'
		import errno, os, sys
		path, size, keep = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		data = os.urandom(size)
		step = "open"
		try:
		    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
		    try:
		        step = "write"
		        view = memoryview(data)
		        while view:
		            view = view[os.write(fd, view):]
		        step = "fsync"
		        os.fsync(fd)
		    except OSError:
		        try:
		            os.close(fd)
		        except OSError:
		            pass
		        raise
		    step = "close"
		    os.close(fd)
		except OSError as e:
		    print(errno.errorcode.get(e.errno, e.errno), step)
		    sys.exit(0)
		os.makedirs(keep, exist_ok=True)
		with open(os.path.join(keep, os.path.basename(path)), "wb") as f:
		    f.write(data)
		print("OK")
	EOF
}

# every_kept_episode_is_exact: each episode acknowledged so far (its bytes
# are in $STATE/content) reads back byte for byte.
every_kept_episode_is_exact() {
	local f n=0
	for f in "$STATE"/content/*; do
		cmp "$f" "$E/${f##*/}" || e2e_fail "episode ${f##*/} differs from what was acknowledged"
		n=$((n + 1))
	done
	echo "$n acknowledged episodes byte-exact"
}

@test "episodes written before the disk fills" {
	for i in $(seq 1 20); do
		assert_eq "$(put "before-$i" 20000)" OK
	done
	w=$(uniq_word)
	echo "$w" >"$STATE/word"
	printf 'the word %s is here\n' "$w" >"$E/findme"
	cp "$E/findme" "$STATE/content/findme"
	sync
}

@test "filling the disk makes writes fail with ENOSPC, exactly, at fsync (or at open)" {
	local i got
	for ((i = 0; i < 400; i++)); do
		got=$(put "fill-$i" 262144)
		[[ $got == OK ]] || break
	done
	echo "filled after $i episodes of 256 KiB: $got"
	[[ $i -gt 3 ]] || e2e_fail "the disk was full almost at once ($i episodes)"
	[[ $i -lt 400 ]] || e2e_fail "400 episodes of 256 KiB fit on a $FS_SIZE tmpfs?"
	echo "$i" >"$STATE/filled"
	# The commit of the episode fails at fsync; once RocksDB holds a
	# background error, already the create at open does.
	[[ $got == "ENOSPC fsync" || $got == "ENOSPC open" ]] || e2e_fail "expected ENOSPC at fsync or open, got: $got"
	sleep 1
	pid_alive "$DAEMON_PID" || e2e_fail "the daemon died on ENOSPC:" "$(tail -n 5 "$LOG")"
	df -k "$FS" | tail -n 1
}

@test "while the disk is full every kind of write is ENOSPC and changes nothing" {
	before=$(ls -R "$E" | md5sum)
	got=$(put small 10)
	[[ $got == "ENOSPC open" || $got == "ENOSPC fsync" ]] || e2e_fail "a new episode: $got"
	assert_errno ENOSPC write "$E/before-1" "a replacement"
	assert_errno ENOSPC append "$E/before-2" "more"
	assert_errno ENOSPC mkdir "$E/newdir"
	assert_errno ENOSPC rename "$E/before-3" "$E/renamed"
	assert_errno ENOSPC unlink "$E/before-4"
	assert_errno ENOSPC setxattr "$E/before-5" user.engram.where here
	assert_errno ENOSPC write "$M/flags/fan_effect" 1
	assert_eq "$(cat "$M/flags/fan_effect")" 0
	rm -f "$STATE/content/small"
	# The refused creates left no name behind, or an empty one.
	for f in small; do
		[[ ! -e $E/$f || $(stat -c %s "$E/$f") == 0 ]] || e2e_fail "$f holds bytes"
	done
	[[ ! -e $E/newdir && ! -e $E/renamed ]]
	[[ -e $E/before-3 && -e $E/before-4 ]]
}

@test "while the disk is full reads, listing, recall, status and metrics keep working" {
	every_kept_episode_is_exact
	n=$(find "$E" -type f -name 'before-*' | wc -l)
	assert_eq "$n" 20
	w=$(cat "$STATE/word")
	assert_eq "$(cut -f 1 "$M/recall/$w")" findme
	grep -q '^episodes: ' "$M/status"
	cat "$M/metrics" >/dev/null
	cat "$M/flags/.history" >/dev/null
}

@test "after space is freed on the disk, writes succeed again without a remount" {
	rm "$FS/filler"
	df -k "$FS" | tail -n 1
	local i got
	for ((i = 0; i < 100; i++)); do
		got=$(put after-free 1000)
		[[ $got == OK ]] && break
		pid_alive "$DAEMON_PID" || break
		sleep 0.2
	done
	pid_alive "$DAEMON_PID" || e2e_fail "the daemon died while space came back:" "$(grep -v 'warning: write' "$LOG" | tail -n 5)"
	echo "writes work again after $i tries"
	[[ $got == OK ]] || e2e_fail "20 s after 16 MiB were freed, a 1000-byte episode still fails: $got" \
		"(RocksDB stays in its background-error state after ENOSPC: nothing resumes it; see the log)" \
		"$(grep -i 'no space' "$LOG" | tail -n 3)"
	assert_errno OK write "$M/flags/fan_effect" 1
	assert_errno OK mkdir "$E/newdir"
}

@test "deleting episodes in the mount frees space and writes go on" {
	filled=$(cat "$STATE/filled")
	for ((i = 0; i < filled / 2; i++)); do
		rm "$E/fill-$i"
		rm -f "$STATE/content/fill-$i"
	done
	for i in 1 2 3; do
		assert_eq "$(put "after-delete-$i" 100000)" OK
	done
}

@test "a second full disk: ENOSPC again, the daemon survives, writes resume when space returns" {
	head -c $((16 * 1024 * 1024)) /dev/zero >"$FS/filler" || e2e_fail "no room for the filler again"
	local i got
	for ((i = 0; i < 400; i++)); do
		got=$(put "again-$i" 262144)
		[[ $got == OK ]] || break
	done
	[[ $got == "ENOSPC fsync" || $got == "ENOSPC open" ]] || e2e_fail "second fill: $got"
	for i in 1 2 3 4 5; do
		got=$(put "refused-$i" 100)
		[[ $got == ENOSPC* ]] || e2e_fail "write while full: $got"
		rm -f "$E/refused-$i" 2>/dev/null
	done
	pid_alive "$DAEMON_PID" || e2e_fail "the daemon died on the second ENOSPC:" "$(grep -v 'warning: write' "$LOG" | tail -n 5)"
	rm "$FS/filler"
	for ((i = 0; i < 100; i++)); do
		got=$(put after-second 1000)
		[[ $got == OK ]] && break
		pid_alive "$DAEMON_PID" || break
		sleep 0.2
	done
	pid_alive "$DAEMON_PID" || e2e_fail "the daemon died while space came back:" "$(grep -v 'warning: write' "$LOG" | tail -n 5)"
	[[ $got == OK ]] || e2e_fail "20 s after 16 MiB were freed, writes still fail: $got"
}

@test "nothing written before is lost, after a remount too, and the offline verify is clean" {
	every_kept_episode_is_exact
	remount
	no_abort_in_log
	every_kept_episode_is_exact
	w=$(cat "$STATE/word")
	assert_eq "$(cut -f 1 "$M/recall/$w")" findme
	stop_daemon
	verify=$("$E2E_DIR/../crash/build-verify.sh" "$(dirname "$ENGRAMFS")")
	no_abort_in_log
	run "$verify" "$DATA"
	echo "$output"
	[ "$status" -eq 0 ]
	start_daemon
}
