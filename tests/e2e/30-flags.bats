#!/usr/bin/env bats
# flags/: one file per flag, validated writes, history, persistence, owner.
# One mount for the file (allow_other, for the non-owner test).  Tests that
# change a flag put it back in teardown.

load helpers

# Every flag of the registry (store/flag.c), by the names of DESIGN.
ALL_FLAGS="blended_recall
blended_recall.adaptive_weighting
blended_recall.base_episodic_weight
blended_recall.base_semantic_weight
blended_recall.cohort_sampling_rate
blended_recall.cohort_seed
blended_recall.cue_completion
blended_recall.enable_pattern_completion
blended_recall.max_concepts
blended_recall.min_concept_coherence
blended_recall.semantic_timeout_ms
consolidation.interval_s
consolidation.join_similarity
consolidation.min_cluster_size
consolidation.min_coherence
dual_memory_types
fan_effect
fan_effect.divisor
monitoring
recall.bm25_b
recall.bm25_k1
recall.decay_exponent
recall.decay_function
recall.decay_half_life_days
recall.default_limit
recall.max_depth
recall.max_limit
recall.min_confidence
recall.rehearsal_weight
recall.snippet_chars
store.max_episode_bytes"

setup_file() {
	setup_mount --public -o allow_other
}

teardown_file() {
	teardown_mount
}

setup() {
	mark_log
	F=$M/flags
	RESTORE=()
}

teardown() {
	local kv
	for kv in "${RESTORE[@]}"; do
		echo "${kv#*=}" >"$F/${kv%%=*}" || true
	done
	check_log
}

# set_flag NAME VALUE: set, check, and restore the old value in teardown.
set_flag() {
	RESTORE+=("$1=$(cat "$F/$1")")
	echo "$2" >"$F/$1"
}

@test "ls flags lists every flag of the registry" {
	run bash -c 'ls "$1" | sort' _ "$F"
	assert_eq "$output" "$(sort <<<"$ALL_FLAGS")"
	run ls -A "$F"
	[[ $output == *.history* ]]
}

@test "cat of a flag prints its value and a newline" {
	assert_eq "$(od -An -c "$F/blended_recall" | tr -d ' ')" '0\n'
	assert_eq "$(od -An -c "$F/recall.bm25_k1" | tr -d ' ')" '1.2\n'
	assert_eq "$(cat "$F/recall.decay_function")" power
	assert_eq "$(cat "$F/store.max_episode_bytes")" 1048576
	assert_eq "$(cat "$F/monitoring")" 1
	# The size stat reports does not stop a reader short.
	assert_eq "$(head -c 100 "$F/blended_recall.cohort_seed")" 42
}

@test "echo 1, true, on and yes set a boolean; 0, false, off and no clear it" {
	RESTORE+=("fan_effect=$(cat "$F/fan_effect")")
	for v in 1 true on yes; do
		echo 0 >"$F/fan_effect"
		echo "$v" >"$F/fan_effect"
		assert_eq "$(cat "$F/fan_effect")" 1 "after writing '$v'"
	done
	for v in 0 false off no; do
		echo 1 >"$F/fan_effect"
		echo "$v" >"$F/fan_effect"
		assert_eq "$(cat "$F/fan_effect")" 0 "after writing '$v'"
	done
	printf 'on' >"$F/fan_effect"
	assert_eq "$(cat "$F/fan_effect")" 1 "without a newline"
}

@test "numbers and choices are set and printed canonically" {
	set_flag recall.bm25_k1 1.5
	assert_eq "$(cat "$F/recall.bm25_k1")" 1.5
	set_flag blended_recall.cohort_sampling_rate 0.05
	assert_eq "$(cat "$F/blended_recall.cohort_sampling_rate")" 0.05
	set_flag recall.default_limit 3
	assert_eq "$(cat "$F/recall.default_limit")" 3
	set_flag fan_effect.divisor linear
	assert_eq "$(cat "$F/fan_effect.divisor")" linear
}

@test "a bad value gives EINVAL and leaves the flag unchanged" {
	assert_errno EINVAL write "$F/blended_recall" maybe
	assert_eq "$(cat "$F/blended_recall")" 0
	assert_errno EINVAL write "$F/recall.default_limit" ten
	assert_errno EINVAL write "$F/recall.default_limit" 2.5
	assert_eq "$(cat "$F/recall.default_limit")" 10
	assert_errno EINVAL write "$F/recall.decay_function" cubic
	assert_eq "$(cat "$F/recall.decay_function")" power
	assert_errno EINVAL write "$F/recall.bm25_k1" $'\n'
	assert_eq "$(cat "$F/recall.bm25_k1")" 1.2
	run bash -c 'echo maybe >"$1"' _ "$F/blended_recall"
	[[ $output == *"Invalid argument"* ]]
}

@test "an out-of-range number gives EINVAL and leaves the flag unchanged" {
	assert_errno EINVAL write "$F/blended_recall.cohort_sampling_rate" 1.5
	assert_errno EINVAL write "$F/blended_recall.cohort_sampling_rate" -0.1
	assert_eq "$(cat "$F/blended_recall.cohort_sampling_rate")" 0
	assert_errno EINVAL write "$F/recall.bm25_k1" 99
	assert_eq "$(cat "$F/recall.bm25_k1")" 1.2
	assert_errno EINVAL write "$F/store.max_episode_bytes" 0
	assert_errno EINVAL write "$F/store.max_episode_bytes" 999999999999
	assert_eq "$(cat "$F/store.max_episode_bytes")" 1048576
}

@test "a flag that does not exist cannot be created" {
	got=$(errno_of write "$F/nope" 1)
	[[ $got != OK ]] || e2e_fail "creating flags/nope succeeded"
	[ ! -e "$F/nope" ]
	got=$(errno_of mkdir "$F/nope.d")
	[[ $got != OK ]] || e2e_fail "mkdir flags/nope.d succeeded"
	[ ! -e "$F/nope.d" ]
}

@test "flags cannot be removed or renamed" {
	got=$(errno_of unlink "$F/fan_effect")
	[[ $got != OK ]] || e2e_fail "rm flags/fan_effect succeeded"
	got=$(errno_of rename "$F/fan_effect" "$F/fan_effect2")
	[[ $got != OK ]] || e2e_fail "mv flags/fan_effect succeeded"
	[ -f "$F/fan_effect" ]
	[ ! -e "$F/fan_effect2" ]
}

@test "a non-owner's write gives EACCES and leaves the flag unchanged" {
	cp "$ERRNO_PY" "$MOUNT_BASE/errno.py"
	chmod 755 "$MOUNT_BASE/errno.py"
	py=/usr/bin/python3
	[[ -x $py ]] || py=$(command -v python3)
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$py" "$MOUNT_BASE/errno.py" write "$F/blended_recall" 1
	assert_eq "$output" EACCES
	assert_eq "$(cat "$F/blended_recall")" 0
	# Reading is for everyone.
	run setpriv --reuid=65534 --regid=65534 --clear-groups cat "$F/blended_recall"
	assert_eq "$output" 0
}

@test ".history records a change with time, uid, old and new value and source" {
	RESTORE+=("blended_recall=0")
	before=$(wc -l <"$F/.history")
	echo 1 >"$F/blended_recall"
	run tail -n 1 "$F/.history"
	[[ $output =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\ uid=0\ blended_recall\ 0\ -\>\ 1\ source=write$ ]] ||
		e2e_fail "last history line: '$output'"
	assert_eq "$(wc -l <"$F/.history")" $((before + 1))
	# Setting the same value again and a refused value record nothing.
	echo on >"$F/blended_recall"
	errno_of write "$F/blended_recall" maybe >/dev/null
	assert_eq "$(wc -l <"$F/.history")" $((before + 1))
	echo 0 >"$F/blended_recall"
	run tail -n 1 "$F/.history"
	[[ $output == *"uid=0 blended_recall 1 -> 0 source=write" ]] || e2e_fail "last history line: '$output'"
}

@test ".history is read-only" {
	got=$(errno_of write "$F/.history" "forged line")
	[[ $got != OK ]] || e2e_fail "writing .history succeeded"
	run grep -c "forged" "$F/.history"
	assert_eq "$output" 0
}

@test "a flag change takes effect for the next recall" {
	w=$(uniq_word)
	for i in 1 2 3 4; do
		echo "Item $i of $w." >"$M/episodes/f$BATS_TEST_NUMBER.$i"
	done
	assert_eq "$(wc -l <"$M/recall/$w")" 4
	set_flag recall.default_limit 2
	assert_eq "$(wc -l <"$M/recall/$w")" 2
	set_flag recall.snippet_chars 10
	run cut -f 5 "$M/recall/$w"
	[[ ${#lines[0]} -le 12 ]] || e2e_fail "snippet longer than 10 characters: '${lines[0]}'"
}

@test "flag values survive unmount and remount" {
	set_flag recall.bm25_b 0.5
	set_flag dual_memory_types off
	remount
	assert_eq "$(cat "$F/recall.bm25_b")" 0.5
	assert_eq "$(cat "$F/dual_memory_types")" 0
	grep -q 'recall.bm25_b 0.75 -> 0.5 source=write' "$F/.history"
}

@test "flag values survive kill -9 of the daemon" {
	set_flag recall.rehearsal_weight 0.3
	set_flag blended_recall.cohort_seed 7
	kill9_and_remount
	assert_eq "$(cat "$F/recall.rehearsal_weight")" 0.3
	assert_eq "$(cat "$F/blended_recall.cohort_seed")" 7
	grep -q 'blended_recall.cohort_seed 42 -> 7 source=write' "$F/.history"
}
