#!/usr/bin/env bats
# The kernel's caches of episodes/ (issue 6): names, attributes and
# listings are kept for long, so warm stat and ls do not reach the daemon
# - and every change made through the mount is seen at once all the same.
# Readers use direct I/O on a snapshot (DESIGN: never a torn mix).  The mount runs with -o debug, so the log shows each
# request the kernel sent ("opcode: NAME").

load helpers
load helpers_more

setup_file() {
	setup_mount -o debug
}

teardown_file() {
	teardown_mount
}

setup() {
	mark_log
	E=$M/episodes
	D=$E/c$BATS_TEST_NUMBER
	mkdir -p "$D"
}

teardown() {
	check_log
}

# Requests the daemon got since mark_log, as "N NAME" lines.
ops_since_mark() {
	log_since_mark | grep -oE 'opcode: [A-Z_]+' | sort | uniq -c
}

op_count() {	# op_count NAME
	log_since_mark | grep -cE "opcode: $1 " || true
}

@test "a warm stat never reaches the daemon, a cat only to open, read and release" {
	printf 'kept in the page cache' >"$D/e"
	cat "$D/e" >/dev/null
	stat "$D/e" >/dev/null
	cat "$D/e" >/dev/null
	stat "$D/e" >/dev/null
	mark_log
	assert_eq "$(cat "$D/e")" "kept in the page cache"
	stat -c %s "$D/e" >/dev/null
	sleep 0.2	# the log is written by the daemon's threads
	ops=$(ops_since_mark)
	assert_eq "$(op_count OPEN)" 1
	for op in LOOKUP GETATTR; do
		[[ $(op_count $op) == 0 ]] || e2e_fail "warm $op reached the daemon:" "$ops"
	done
	# readers read the committed snapshot by direct I/O (never a torn
	# mix with a writer's bytes from the page cache): READ reaches it
	[[ $(op_count READ) -ge 1 ]] || e2e_fail "no READ:" "$ops"
}

@test "a rewrite, an append, a truncate and a rename through the mount are seen by the next reader" {
	printf 'first' >"$D/a"
	assert_eq "$(cat "$D/a")" first
	printf 'second' >"$D/a"
	assert_eq "$(cat "$D/a")" second
	assert_eq "$(stat -c %s "$D/a")" 6
	printf ' and more' >>"$D/a"
	assert_eq "$(cat "$D/a")" "second and more"
	truncate -s 3 "$D/a"
	assert_eq "$(cat "$D/a")" sec
	assert_eq "$(stat -c %s "$D/a")" 3
	printf 'other' >"$D/b"
	cat "$D/b" >/dev/null
	mv "$D/a" "$D/b"
	assert_eq "$(cat "$D/b")" sec
	[[ ! -e $D/a ]] || e2e_fail "the old name is still there"
}

@test "times shown during a write are replaced by the committed ones after close" {
	run python3 - "$D/t" <<-'EOF'
		import os, sys, time
		fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
		os.write(fd, b"dirty")
		during = os.fstat(fd).st_mtime_ns
		time.sleep(0.05)
		os.close(fd)
		print(during)
	EOF
	[ "$status" -eq 0 ]
	sleep 0.3	# the attribute invalidation is sent by the notifier
	before=$(stat -c %Y.%y "$D/t")
	remount
	after=$(stat -c %Y.%y "$D/t")
	assert_eq "$before" "$after"
}

@test "a listing shows names made and removed through the mount at once" {
	touch "$D/one" "$D/two"
	assert_eq "$(ls "$D" | tr '\n' ' ')" "one two "
	ls "$D" >/dev/null
	touch "$D/three"
	assert_eq "$(ls "$D" | tr '\n' ' ')" "one three two "
	rm "$D/one"
	assert_eq "$(ls "$D" | tr '\n' ' ')" "three two "
	mv "$D/two" "$D/zwei"
	assert_eq "$(ls -l "$D" | awk 'NR > 1 { print $NF }' | tr '\n' ' ')" "three zwei "
	mark_log
	ls "$D" >/dev/null
	sleep 0.2
	[[ $(op_count READDIR) == 0 && $(op_count READDIRPLUS) == 0 ]] ||
		e2e_fail "an unchanged folder was listed by the daemon again:" "$(ops_since_mark)"
}

@test "after a refused rewrite, a reader open since before and the next one read the stored content" {
	printf 'stored' >"$D/f"
	cat "$D/f" >/dev/null
	exec 5<"$D/f"
	max=$(cat "$M/flags/store.max_episode_bytes")
	# Bytes that reach the page cache, then a write past the limit: the
	# whole sequence is dropped at close (EFBIG), the cache with it.
	run python3 - "$D/f" "$max" <<-'EOF'
		import errno, os, sys
		fd = os.open(sys.argv[1], os.O_WRONLY)
		os.write(fd, b"XXXX")
		try:
		    os.pwrite(fd, b"!", int(sys.argv[2]))
		except OSError as e:
		    print(errno.errorcode[e.errno])
		try:
		    os.close(fd)
		except OSError as e:
		    print(errno.errorcode[e.errno])
	EOF
	assert_eq "$(echo $output)" "EFBIG EFBIG"
	sleep 0.2	# the page invalidation is sent by the notifier
	assert_eq "$(cat <&5)" stored
	exec 5<&-
	assert_eq "$(cat "$D/f")" stored
	assert_eq "$(stat -c %s "$D/f")" 6
}
