#!/usr/bin/env bats
# Persistence: what survives a clean unmount, and what survives kill -9.
# Each test has its own store and daemon.

load helpers

setup() {
	setup_mount
	mark_log
	E=$M/episodes
}

teardown() {
	[[ -z ${HOLDER_PID:-} ]] || kill -9 "$HOLDER_PID" 2>/dev/null || true
	check_log
	teardown_mount
}

@test "episodes, folders, metadata and flags survive unmount and remount" {
	mkdir -p "$E/work/daily"
	printf 'standup notes\nline two\n' >"$E/work/daily/standup"
	head -c 70000 /dev/urandom >"$BATS_TEST_TMPDIR/blob"
	cp "$BATS_TEST_TMPDIR/blob" "$E/blob"
	touch -d '2024-05-01T10:00:00Z' "$E/work/daily/standup"
	chmod 640 "$E/blob"
	chown 1234:2345 "$E/blob"
	setfattr -n user.engram.confidence -v 0.9 "$E/blob"
	setfattr -n user.engram.where -v "the office" "$E/work/daily/standup"
	echo 0.4 >"$M/flags/recall.bm25_b"
	stat -c '%n %i %s %Y %a %u %g %F' "$E/blob" "$E/work" "$E/work/daily" \
		"$E/work/daily/standup" >"$BATS_TEST_TMPDIR/before"
	remount
	stat -c '%n %i %s %Y %a %u %g %F' "$E/blob" "$E/work" "$E/work/daily" \
		"$E/work/daily/standup" >"$BATS_TEST_TMPDIR/after"
	diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	cmp "$BATS_TEST_TMPDIR/blob" "$E/blob"
	assert_eq "$(cat "$E/work/daily/standup")" $'standup notes\nline two'
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.where "$E/work/daily/standup")" "the office"
	python3 -c 'import sys; assert abs(float(sys.argv[1]) - 0.9) < 1e-9' \
		"$(getfattr --absolute-names --only-values -n user.engram.confidence "$E/blob")"
	assert_eq "$(cat "$M/flags/recall.bm25_b")" 0.4
}

@test "recall finds episodes written before a remount" {
	w=$(uniq_word)
	echo "Before the restart: $w." >"$E/before"
	remount
	assert_eq "$(cut -f 1 "$M/recall/$w")" before
	grep -Eq '^episodes: 1$' "$M/status"
}

@test "inode numbers are stable across remount and never reused" {
	echo a >"$E/a"
	echo b >"$E/b"
	ia=$(stat -c %i "$E/a") ib=$(stat -c %i "$E/b")
	rm "$E/b"
	remount
	assert_eq "$(stat -c %i "$E/a")" "$ia"
	echo c >"$E/c"
	ic=$(stat -c %i "$E/c")
	[[ $ic != "$ia" && $ic != "$ib" ]] || e2e_fail "inode $ic reused (a=$ia, removed b=$ib)"
}

@test "after kill -9 every fsync'd episode is intact and none is half-written" {
	acks=$BATS_TEST_TMPDIR/acks
	: >"$acks"
	python3 "$E2E_DIR/crashwriter.py" write "$E" "$acks" 200 0.002 \
		2>"$BATS_TEST_TMPDIR/writer.err" 3>&- &
	writer=$!
	for ((i = 0; i < 3000; i++)); do
		[[ $(wc -l <"$acks") -ge 60 ]] && break
		pid_alive "$writer" || break
		sleep 0.01
	done
	acked=$(wc -l <"$acks")
	[[ $acked -ge 60 ]] || e2e_fail "the writer acknowledged only $acked episodes:" \
		"$(cat "$BATS_TEST_TMPDIR/writer.err")"
	[[ $acked -lt 200 ]] || e2e_fail "the writer finished before the kill; slow it down"
	kill -9 "$DAEMON_PID"
	wait "$writer" || true
	kill9_and_remount
	run python3 "$E2E_DIR/crashwriter.py" verify "$E" "$acks" 200
	echo "$output"
	[ "$status" -eq 0 ]
	# The acknowledged episodes are in the index too.
	last=$(tail -n 1 "$acks")
	w=$(python3 "$E2E_DIR/crashwriter.py" word "${last#c-}")
	assert_eq "$(head -n 1 "$M/recall/$w" | cut -f 1)" "$last"
	first=$(head -n 1 "$acks")
	w=$(python3 "$E2E_DIR/crashwriter.py" word "${first#c-}")
	assert_eq "$(head -n 1 "$M/recall/$w" | cut -f 1)" "$first"
}

@test "an episode being written when the daemon is killed is absent or empty, and an overwrite keeps the old content" {
	assert_errno OK fsyncwrite "$E/existing" "the old content"
	ready=$BATS_TEST_TMPDIR/ready
	python3 - "$E" "$ready" 3>&- <<-'EOF' &
		import os, sys, time
		d, ready = sys.argv[1], sys.argv[2]
		a = os.open(d + "/fresh", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
		os.write(a, b"half of a new episode " * 2000)
		b = os.open(d + "/existing", os.O_WRONLY | os.O_TRUNC)
		os.write(b, b"half of a replacement " * 2000)
		open(ready, "w").close()
		time.sleep(60)
	EOF
	HOLDER_PID=$!
	for ((i = 0; i < 200; i++)); do
		[[ -e $ready ]] && break
		sleep 0.05
	done
	[[ -e $ready ]] || e2e_fail "the writer did not get its episodes open"
	# Other episodes are committed and synced meanwhile.
	assert_errno OK fsyncwrite "$E/other" "committed meanwhile"
	kill -9 "$DAEMON_PID"
	kill -9 "$HOLDER_PID"
	wait "$HOLDER_PID" || true
	HOLDER_PID=""
	kill9_and_remount
	if [[ -e $E/fresh ]]; then
		assert_eq "$(stat -c %s "$E/fresh")" 0 "size of the half-written new episode"
	fi
	assert_eq "$(cat "$E/existing")" "the old content"
	assert_eq "$(cat "$E/other")" "committed meanwhile"
}

@test "the store opens after several kills in a row" {
	for round in 1 2 3; do
		python3 "$ERRNO_PY" fsyncwrite "$E/round-$round" "round $round" >/dev/null
		kill9_and_remount
	done
	for round in 1 2 3; do
		assert_eq "$(cat "$E/round-$round")" "round $round"
	done
}
