#!/usr/bin/env bats
# -o config=FILE: values applied at mount and visible in flags/; a broken
# file stops the daemon with FILE:LINE.  Each test has its own store.

load helpers

setup() {
	require_fuse
	CFG=$BATS_TEST_TMPDIR/engramfs.conf
}

teardown() {
	check_log
	teardown_mount
}

write_config() {
	cat >"$CFG"
}

# run_daemon_expect_fail: start the daemon on a fresh store with $CFG and
# capture its exit status and output; it must not mount.
run_daemon_expect_fail() {
	local base
	base=$(mktemp -d "$BATS_TEST_TMPDIR/fail.XXXXXX")
	mkdir -p "$base/data" "$base/mnt"
	run timeout 10 "$ENGRAMFS" -f -o "config=$CFG" "$base/data" "$base/mnt"
	if mountpoint -q "$base/mnt"; then
		fusermount3 -uz "$base/mnt"
		e2e_fail "the daemon mounted despite the broken config"
	fi
	[[ $status -ne 124 ]] || e2e_fail "the daemon neither mounted nor exited within 10 s"
}

@test "-o config=FILE applies its values, visible in flags/" {
	write_config <<-'EOF'
		# engramfs test config
		[features]
		blended_recall = on
		fan_effect = true

		[blended_recall]
		cohort_sampling_rate = 0.25

		[recall]
		bm25_k1 = 1.5
		decay_function = exponential

		[store]
		max_episode_bytes = 65536
	EOF
	setup_mount -o "config=$CFG"
	mark_log
	assert_eq "$(cat "$M/flags/blended_recall")" 1
	assert_eq "$(cat "$M/flags/fan_effect")" 1
	assert_eq "$(cat "$M/flags/blended_recall.cohort_sampling_rate")" 0.25
	assert_eq "$(cat "$M/flags/recall.bm25_k1")" 1.5
	assert_eq "$(cat "$M/flags/recall.decay_function")" exponential
	assert_eq "$(cat "$M/flags/store.max_episode_bytes")" 65536
	# Keys not in the file keep their defaults.
	assert_eq "$(cat "$M/flags/recall.bm25_b")" 0.75
	grep -q 'recall.bm25_k1 1.2 -> 1.5 source=config' "$M/flags/.history"
	# and the value is in force: the size limit refuses a larger episode.
	assert_errno EFBIG writen "$M/episodes/big" 65537
}

@test "a broken config file makes the daemon exit 1 naming FILE:LINE" {
	write_config <<-'EOF'
		[features]
		blended_recall = on
		[recall]
		bm25_k1 = lots
	EOF
	run_daemon_expect_fail
	assert_eq "$status" 1 "exit status"
	[[ $output == *"$CFG:4"* ]] || e2e_fail "no '$CFG:4' in: $output"
	[[ $output == *bm25_k1* ]] || e2e_fail "the message does not name the key: $output"
}

@test "an unknown key or section in the config file is refused with FILE:LINE" {
	write_config <<-'EOF'
		[recall]
		bm25_k1 = 1.0
		colour = blue
		[nonsense]
		x = 1
	EOF
	run_daemon_expect_fail
	assert_eq "$status" 1 "exit status"
	[[ $output == *"$CFG:3"* ]] || e2e_fail "no '$CFG:3' in: $output"
	[[ $output == *colour* ]] || e2e_fail "the message does not name the key: $output"
	[[ $output == *"$CFG:4"* ]] || e2e_fail "no '$CFG:4' in: $output"
}

@test "an out-of-range value in the config file is refused with FILE:LINE" {
	write_config <<-'EOF'
		[blended_recall]
		cohort_sampling_rate = 1.5
	EOF
	run_daemon_expect_fail
	assert_eq "$status" 1 "exit status"
	[[ $output == *"$CFG:2"* ]] || e2e_fail "no '$CFG:2' in: $output"
}

@test "a missing config file makes the daemon exit 1 naming the file" {
	CFG=$BATS_TEST_TMPDIR/no-such.conf
	run_daemon_expect_fail
	assert_eq "$status" 1 "exit status"
	[[ $output == *"$CFG"* ]] || e2e_fail "the message does not name the file: $output"
}

@test "a runtime flag write survives a restart with an unchanged config file" {
	write_config <<-'EOF'
		[recall]
		bm25_k1 = 1.5
	EOF
	setup_mount -o "config=$CFG"
	mark_log
	echo 2 >"$M/flags/recall.bm25_k1"
	remount
	assert_eq "$(cat "$M/flags/recall.bm25_k1")" 2
}

@test "an edited config file is applied at the next mount" {
	write_config <<-'EOF'
		[recall]
		bm25_k1 = 1.5
	EOF
	setup_mount -o "config=$CFG"
	mark_log
	echo 2 >"$M/flags/recall.bm25_k1"
	stop_daemon
	write_config <<-'EOF'
		[recall]
		bm25_k1 = 1.8
	EOF
	start_daemon
	assert_eq "$(cat "$M/flags/recall.bm25_k1")" 1.8
	grep -q 'recall.bm25_k1 2 -> 1.8 source=config' "$M/flags/.history"
}
