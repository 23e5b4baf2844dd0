#!/usr/bin/env bats
# Errors are never silent: every refused operation gives its errno to the
# caller and a line with its reason to the daemon's log (stderr here).

load helpers

setup_file() {
	setup_mount --public -o allow_other
}

teardown_file() {
	teardown_mount
}

setup() {
	mark_log
	E=$M/episodes
	T=e$BATS_TEST_NUMBER
	RESTORE_MAX=""
}

teardown() {
	[[ -z $RESTORE_MAX ]] || echo "$RESTORE_MAX" >"$M/flags/store.max_episode_bytes"
	check_log
}

# logged ERE...: this test's part of the log has a line matching every ERE.
logged() {
	local part line re ok
	part=$(log_since_mark)
	while IFS= read -r line; do
		ok=1
		for re in "$@"; do
			grep -Eq -- "$re" <<<"$line" || { ok=""; break; }
		done
		[[ -n $ok ]] && return 0
	done <<<"$part"
	e2e_fail "no log line matches all of: $*" "log of this test:" "$part"
}

@test "a bad flag value is logged with the flag, the value and the reason" {
	assert_errno EINVAL write "$M/flags/blended_recall" maybe
	logged "blended_recall" "maybe" "expected one of"
}

@test "an out-of-range flag value is logged with the range" {
	assert_errno EINVAL write "$M/flags/blended_recall.cohort_sampling_rate" 1.5
	logged "blended_recall\.cohort_sampling_rate" "1\.5" "between 0 and 1"
}

@test "creating an unknown flag is logged with its name" {
	got=$(errno_of write "$M/flags/nope" 1)
	[[ $got != OK ]] || e2e_fail "creating flags/nope succeeded"
	logged "nope"
}

# A non-owner's flag write is refused by the kernel's permission check
# (default_permissions, flag files are 0644): the daemon never sees it, so
# there is nothing for engramfs to log.  What we can prove is that the
# refusal happens and the value stays (30-flags.bats).
@test "a non-owner's flag write never reaches the daemon and changes nothing" {
	cp "$ERRNO_PY" "$MOUNT_BASE/errno.py"
	chmod 755 "$MOUNT_BASE/errno.py"
	before=$(cat "$M/flags/fan_effect")
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
		/usr/bin/python3 "$MOUNT_BASE/errno.py" write "$M/flags/fan_effect" 1
	assert_eq "$output" EACCES
	assert_eq "$(cat "$M/flags/fan_effect")" "$before"
	! grep -q "flag 'fan_effect'" "$LOG"
}

@test "an unknown recall option is logged with the option" {
	assert_errno EINVAL read "$M/recall/coffee?colour=blue"
	logged "unknown option 'colour'"
}

@test "a bad recall option value is logged with the option" {
	assert_errno EINVAL read "$M/recall/coffee?limit=lots"
	logged "limit" "lots|integer|number"
}

@test "a bad query-file body is logged with the reason" {
	assert_errno EINVAL query "$M/query" $'coffee\n?colour=blue'
	logged "unknown option 'colour'"
}

@test "an episode over max_episode_bytes is logged as EFBIG with the limit" {
	RESTORE_MAX=$(cat "$M/flags/store.max_episode_bytes")
	echo 1000 >"$M/flags/store.max_episode_bytes"
	mark_log
	assert_errno EFBIG writen "$E/$T" 1001
	logged "EFBIG|too large|max_episode_bytes|exceeds" "1000|1001"
}
