#!/usr/bin/env bats
# Many users on one mount: -o allow_other (the daemon adds
# default_permissions), and two unprivileged users made for the test
# (useradd -M), removed afterwards.  What testa keeps private (mode 0600,
# or in a folder testb cannot search) never reaches testb: not through
# cat, not through recall results, snippets, JSON or paths, not through
# concept member lists after consolidation.  Flags are the mount owner's.
# Owner and mode follow the creator.

load helpers
load helpers_more

USERS=(testa testb)

setup_file() {
	command -v useradd >/dev/null || skip "useradd is missing"
	[[ $(id -u) -eq 0 ]] || skip "needs root to add users"
	local u made=()
	for u in "${USERS[@]}"; do
		if ! id "$u" >/dev/null 2>&1; then
			useradd -M -s /usr/sbin/nologin "$u" || e2e_fail "useradd $u failed"
			made+=("$u")
		fi
	done
	export MADE_USERS="${made[*]}"
	export UA=$(id -u testa) GA=$(id -g testa) UB=$(id -u testb) GB=$(id -g testb)
	setup_mount --public -o allow_other
	chmod 1777 "$M/episodes"
}

teardown_file() {
	local rc=0 u
	teardown_mount || rc=1
	for u in ${MADE_USERS:-}; do
		userdel "$u" 2>/dev/null || { e2e_fail "userdel $u failed"; rc=1; }
	done
	return $rc
}

setup() {
	mark_log
	E=$M/episodes
}

teardown() {
	check_log
}

# as A|B CMD...: run a shell command as testa or testb (their own umask
# 022 unless the command sets one).
as() {
	local who=$1
	shift
	case $who in
	A) as_user "$UA:$GA" sh -c "cd / && $*" ;;
	B) as_user "$UB:$GB" sh -c "cd / && $*" ;;
	esac
}

@test "an episode of mode 0600 is refused to the other user (EACCES) and readable by its owner" {
	w=$(uniq_word)
	as A "umask 077; echo 'private note $w' > '$E/a-private'"
	assert_eq "$(stat -c '%U %a' "$E/a-private")" "testa 600"
	assert_eq "$(as A "cat '$E/a-private'")" "private note $w"
	run as B "cat '$E/a-private'"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	assert_errno_as EACCES "$UB:$GB" read "$E/a-private"
	assert_errno_as EACCES "$UB:$GB" append "$E/a-private" x
	assert_errno_as EACCES "$UB:$GB" getxattr "$E/a-private" user.engram.confidence
	# Listing the folder shows the name (the folder is world-readable),
	# never the content.
	as B "ls -l '$E'" | grep -q a-private
}

@test "recall never shows the other user a private episode: text, JSON, paths, query file, user=" {
	w=$(uniq_word)
	as A "umask 077; echo 'the $w plan of testa' > '$E/a-plan'"
	as B "echo 'the $w plan of testb' > '$E/b-plan'"
	# testa sees both (testb's is 0644), testb only its own.
	assert_eq "$(as A "cut -f 1 '$M/recall/$w'" | sort | tr '\n' ' ')" "a-plan b-plan "
	assert_eq "$(as B "cut -f 1 '$M/recall/$w'")" b-plan
	assert_eq "$(as B "cat '$M/recall/$w?format=paths'")" "$E/b-plan"
	run as B "cat '$M/recall/$w?format=json&limit=100'"
	[[ $output == *b-plan* && $output != *a-plan* && $output != *"of testa"* ]] ||
		e2e_fail "testb's JSON recall: $output"
	run as B "cat '$M/recall/$w?user=$UA&mode=episodic'"
	assert_eq "$(cut -f 1 <<<"$output")" b-plan
	run as B "exec 3<>'$M/query'; printf '%s' '$w plan' >&3; cat <&3"
	[[ $output == *b-plan* && $output != *a-plan* ]] || e2e_fail "testb's query: $output"
	# Root sees everything.
	assert_eq "$(cut -f 1 "$M/recall/$w" | sort | tr '\n' ' ')" "a-plan b-plan "
}

@test "no snippet of a private episode reaches the other user" {
	w=$(uniq_word)
	secret=$(uniq_word)
	as A "umask 077; printf '%s\n' '$w shared topic with the secret $secret inside' > '$E/a-snip'"
	as B "printf '%s\n' '$w shared topic, nothing secret here' > '$E/b-snip'"
	for fmt in text json paths; do
		run as B "cat '$M/recall/$w shared topic secret?format=$fmt&limit=1000'"
		[[ $output != *"$secret"* && $output != *a-snip* ]] ||
			e2e_fail "format=$fmt shows testa's episode to testb: $output"
	done
	run as A "cat '$M/recall/$w shared topic secret?limit=1000'"
	[[ $output == *"$secret"* ]] || e2e_fail "testa does not get its own snippet: $output"
}

@test "a private folder hides what is in it, even episodes of mode 0644" {
	w=$(uniq_word)
	as A "umask 077; mkdir '$E/a-dir'; umask 022; echo '$w in a closed folder' > '$E/a-dir/open-file'"
	assert_eq "$(stat -c '%a' "$E/a-dir" "$E/a-dir/open-file" | tr '\n' ' ')" "700 644 "
	assert_errno_as EACCES "$UB:$GB" read "$E/a-dir/open-file"
	assert_eq "$(as B "cat '$M/recall/$w'")" ""
	assert_eq "$(as B "cat '$M/recall/$w?under=a-dir'" 2>/dev/null)" ""
	assert_eq "$(as A "cut -f 1 '$M/recall/$w'")" a-dir/open-file
}

@test "after consolidation, concept member lists never name the other user's private episodes" {
	w=$(uniq_word)
	v=$(uniq_word)
	for i in 1 2 3 4; do
		as A "umask 077; echo 'zeppelin hangar blueprint $w rivets girders $i' > '$E/a-zep-$i'"
		as B "echo 'zeppelin hangar blueprint $w rivets girders public $i' > '$E/b-zep-$i'"
	done
	assert_errno OK write "$M/flags/dual_memory_types" 1
	run errno_of write "$M/ctl" consolidate
	[[ $output != ENOSYS ]] || skip "consolidation is not wired (ctl consolidate: ENOSYS)"
	assert_eq "$output" OK
	n=$(ls "$M/concepts" | wc -l)
	[[ $n -ge 1 ]] || e2e_fail "consolidation formed no concept from 8 near-identical episodes"
	# Root sees testa's members; testb never does.
	cat "$M"/concepts/* | grep -q a-zep || e2e_fail "root's concept files list no a-zep member:" "$(cat "$M"/concepts/*)"
	for c in "$M"/concepts/*; do
		run as B "cat '$c'"
		[ "$status" -eq 0 ]
		[[ $output != *a-zep* ]] || e2e_fail "testb sees testa's private member in ${c##*/}:" "$output"
	done
	run as A "cat '$M'/concepts/*"
	[[ $output == *a-zep* && $output == *b-zep* ]] || e2e_fail "testa misses members: $output"
	# The bound concepts of an episode are its owner's business too.
	assert_errno_as EACCES "$UB:$GB" getxattr "$E/a-zep-1" user.engram.concepts
	# Semantic and blended recall do not leak either.
	for mode in semantic blended; do
		run as B "cat '$M/recall/zeppelin hangar $w?mode=$mode&limit=1000'"
		[[ $output != *a-zep* ]] || e2e_fail "mode=$mode shows a-zep to testb: $output"
	done
}

@test "a concept formed only from private episodes does not show its terms to others" {
	w=$(uniq_word)
	for i in 1 2 3 4; do
		as A "umask 077; echo '$w quixotic marzipan aardvark $i' > '$E/a-only-$i'"
	done
	assert_errno OK write "$M/flags/dual_memory_types" 1
	run errno_of write "$M/ctl" consolidate
	[[ $output != ENOSYS ]] || skip "consolidation is not wired"
	ls "$M/concepts" | grep -q -e "$w" -e marzipan -e aardvark -e quixot ||
		skip "no concept was labelled with these terms"
	run as B "ls '$M/concepts'"
	[[ $output != *marzipan* && $output != *aardvark* && $output != *quixot* && $output != *"$w"* ]] ||
		e2e_fail "testb's listing of concepts/ shows the terms of testa's private episodes: $output"
}

@test "flags are writable only by the mount owner: EACCES for others, values unchanged" {
	before=$(cat "$M/flags/recall.default_limit")
	assert_errno_as EACCES "$UA:$GA" write "$M/flags/recall.default_limit" 3
	assert_errno_as EACCES "$UB:$GB" write "$M/flags/fan_effect" 1
	assert_errno_as EACCES "$UB:$GB" write "$M/ctl" reload
	assert_eq "$(cat "$M/flags/recall.default_limit")" "$before"
	assert_eq "$(as B "cat '$M/flags/recall.default_limit'")" "$before"
	# Others read flags, status and the history.
	as B "cat '$M/status' '$M/flags/.history'" >/dev/null
	assert_errno OK write "$M/flags/recall.default_limit" 7
	assert_eq "$(as A "cat '$M/flags/recall.default_limit'")" 7
	echo "$before" >"$M/flags/recall.default_limit"
}

@test "owner, group and mode follow the creator and its umask; others cannot chmod or chown" {
	as A "umask 027; echo x > '$E/a-umask'; mkdir '$E/a-umask-dir'"
	assert_eq "$(stat -c '%u %g %a' "$E/a-umask")" "$UA $GA 640"
	assert_eq "$(stat -c '%u %g %a' "$E/a-umask-dir")" "$UA $GA 750"
	as B "umask 002; echo y > '$E/b-umask'"
	assert_eq "$(stat -c '%u %g %a' "$E/b-umask")" "$UB $GB 664"
	assert_errno_as EPERM "$UB:$GB" chmod "$E/a-umask" 666
	assert_errno_as EPERM "$UB:$GB" chown "$E/a-umask" "$UB" "$GB"
	# Group members read group-readable episodes.
	assert_errno_as OK "$UB:$GA" read "$E/a-umask"
	assert_errno_as EACCES "$UB:$GB" read "$E/a-umask"
	# In the sticky episodes/ root, testb cannot remove or rename testa's.
	assert_errno_as EPERM "$UB:$GB" unlink "$E/a-umask"
	assert_errno_as EPERM "$UB:$GB" rename "$E/a-umask" "$E/b-stolen"
	# Survives a remount.
	remount
	assert_eq "$(stat -c '%u %g %a' "$E/a-umask")" "$UA $GA 640"
}
