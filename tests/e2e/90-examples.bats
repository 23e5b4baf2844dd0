#!/usr/bin/env bats
# The walk-throughs of mnt-examples/, each run against a fresh mount (and
# twice, or without a mount point, where that is part of its promise), so
# that they cannot rot.  Each example exits 1 when engramfs does not do what
# its narration says; 77 means "not available in this build" (skip).

load helpers

REPO=$(cd "$E2E_DIR/../.." && pwd)
EX=$REPO/mnt-examples

setup() {
	setup_mount
	mark_log
}

teardown() {
	check_log
	teardown_mount
}

# run_example NAME [ARGS]: run it; fail with its output unless it exits 0.
run_example() {
	local name=$1
	shift
	run timeout 60 "$EX/$name" "$@"
	if [[ $status -eq 77 ]]; then
		skip "$name: $(tail -n 1 <<<"$output")"
	fi
	[ "$status" -eq 0 ] || e2e_fail "$name exited $status:" "$output"
}

@test "01-remember-recall-forget.sh runs on a mount, twice, and leaves nothing behind" {
	run_example 01-remember-recall-forget.sh "$M"
	[[ ${lines[-1]} == "ok: remembered, recalled, forgot" ]]
	[[ $output == *$'examples-01/coffee-alice\t'* ]]
	run_example 01-remember-recall-forget.sh "$M"
	[ ! -e "$M/episodes/examples-01" ]
}

@test "01-remember-recall-forget.sh mounts a temporary store of its own when given no mount point" {
	run_example 01-remember-recall-forget.sh
	local tmp_mnt
	tmp_mnt=$(sed -n '1s/^(a temporary store is mounted at \(.*\))$/\1/p' <<<"$output")
	[[ -n $tmp_mnt ]] || e2e_fail "no temporary mount announced:" "$output"
	run in_mount_table "$tmp_mnt"
	[ "$status" -ne 0 ] || e2e_fail "$tmp_mnt is still mounted"
	[ ! -e "$tmp_mnt" ] || e2e_fail "$tmp_mnt was not removed"
}

@test "02-canary-rollout.sh ramps 5% -> 100%, compares cohorts, rolls back and restores the flags" {
	local f before=()
	for f in blended_recall fan_effect blended_recall.cohort_sampling_rate; do
		before+=("$(cat "$M/flags/$f")")
	done
	USERS=20 run_example 02-canary-rollout.sh "$M"
	[[ ${lines[-1]} == "ok: ramped 5% -> 100% and rolled back" ]]
	grep -Eq '^canary rate 1 +20/20 +0 +20 +20 ' <<<"$output"
	grep -Eq '^rolled back +0/20 +20 +0 +0 ' <<<"$output"
	grep -q 'blended_recall 1 -> 0 source=write' <<<"$output"
	local i=0
	for f in blended_recall fan_effect blended_recall.cohort_sampling_rate; do
		assert_eq "$(cat "$M/flags/$f")" "${before[i]}" "$f after the example"
		i=$((i + 1))
	done
	[ ! -e "$M/episodes/examples-02" ]
}

@test "03-auto-ingest-notes.sh copies new, changed and moved-in notes and skips editor temp files" {
	command -v inotifywait >/dev/null || skip "inotifywait is missing (inotify-tools)"
	run_example 03-auto-ingest-notes.sh "$M"
	[[ ${lines[-1]} == "ok: notes ingested as they were written" ]]
	assert_eq "$(grep -c '^remembered ' <<<"$output")" 4
	[ ! -e "$M/episodes/examples-03" ]
}

@test "03-auto-ingest-notes.sh watching a given notes dir stops after MAX_EVENTS notes" {
	command -v inotifywait >/dev/null || skip "inotifywait is missing (inotify-tools)"
	local notes=$BATS_TEST_TMPDIR/notes i
	mkdir -p "$notes"
	MAX_EVENTS=2 TIMEOUT=15 DEST=mine "$EX/03-auto-ingest-notes.sh" "$M" "$notes" \
		>"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	local pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^# watching' "$BATS_TEST_TMPDIR/out" && break
		sleep 0.05
	done
	echo "first note" >"$notes/a.md"
	echo "second note" >"$notes/b.md"
	echo "third note, after the limit" >"$notes/c.md"
	local st=0
	wait "$pid" || st=$?
	assert_eq "$st" 0 "$(cat "$BATS_TEST_TMPDIR/out")"
	assert_eq "$(cat "$M/episodes/mine/a.md")" "first note"
	assert_eq "$(cat "$M/episodes/mine/b.md")" "second note"
	[ ! -e "$M/episodes/mine/c.md" ]
	grep -q '^# 2 notes copied$' "$BATS_TEST_TMPDIR/out"
}

@test "03-auto-ingest-notes.sh gives up after TIMEOUT seconds without notes" {
	command -v inotifywait >/dev/null || skip "inotifywait is missing (inotify-tools)"
	mkdir -p "$BATS_TEST_TMPDIR/quiet"
	SECONDS=0
	MAX_EVENTS=5 TIMEOUT=1 run_example 03-auto-ingest-notes.sh "$M" "$BATS_TEST_TMPDIR/quiet"
	[[ $output == *"# 0 notes copied"* ]]
	[ "$SECONDS" -lt 5 ]
}

@test "04-nightly-snapshot.sh takes tonight's snapshot once and keeps the newest KEEP" {
	local today d
	today=nightly-$(date +%F)
	run_example 04-nightly-snapshot.sh "$M"	# skips (77) while snapshots/ is ENOSYS
	[[ ${lines[-1]} == "ok: $today taken" ]]
	[ -d "$M/snapshots/$today" ]
	[[ $output == *"15 3 * * *"* || $(cat "$EX/04-nightly-snapshot.sh") == *"15 3 * * *"* ]]
	# again on the same day: kept as it is
	run_example 04-nightly-snapshot.sh "$M"
	[[ $output == *"$today exists already"* ]]
	# retention: older nightlies go, other names stay
	for d in 2000-01-01 2000-01-02 2000-01-03; do
		mkdir "$M/snapshots/nightly-$d"
	done
	mkdir "$M/snapshots/before-upgrade"
	KEEP=2 run_example 04-nightly-snapshot.sh "$M"
	run ls "$M/snapshots"
	assert_eq "$(tr '\n' ' ' <<<"$output")" "before-upgrade nightly-2000-01-03 $today "
}

@test "the examples pass shellcheck" {
	command -v shellcheck >/dev/null || skip "shellcheck is missing"
	run shellcheck "$EX"/*.sh "$REPO/config/monitoring/engramfs-textfile.sh"
	[ "$status" -eq 0 ] || e2e_fail "$output"
}
