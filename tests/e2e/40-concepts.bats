#!/usr/bin/env bats
# concepts/, consolidation through ctl, user.engram.concepts, blended
# recall, cohorts.  Each test has its own store and daemon (concepts are
# global to a store, so a shared mount would make tests see each other's).
# The multi-user parts (a non-owner's view of a concept) are left to the
# permission tests of their own issue.

load helpers

setup() {
	setup_mount
	mark_log
	E=$M/episodes
	C=$M/concepts
}

teardown() {
	check_log
	teardown_mount
}

# Three clear topics of four episodes each, and three that belong to none.
# Within a topic the episodes share most of their words, so the concepts
# form with the default flags.  "barista" and "regatta" are each in one
# episode only: the partial cues.
TOPICS='coffee-1	The barista pulled an espresso shot; the coffee crema looked perfect and the espresso beans were a dark roast.
coffee-2	Morning coffee at the cafe: espresso with thick crema, dark roast beans ground fresh in the grinder.
coffee-3	Dark roast espresso beans in the grinder, coffee crema on the espresso, and the cafe smelled of fresh coffee.
coffee-4	A double espresso at the cafe with rich crema; the coffee beans were a dark roast from the grinder.
sailing-1	Sailing the boat out of the harbour for the regatta, mainsail and jib full of wind, the tide turning.
sailing-2	The boat left the harbour under sail, wind in the mainsail, jib trimmed, the tide running out.
sailing-3	Harbour at dawn: we rigged the boat, hoisted mainsail and jib, and went sailing with the tide and the wind.
sailing-4	Back in the harbour the boat was moored; we folded the mainsail and jib after sailing against wind and tide.
tax-1	Sent the invoice to the accountant for the tax return, with the receipts and the VAT figures.
tax-2	The accountant filed the tax return; every invoice, receipt and VAT figure was checked.
tax-3	Tax return deadline: the accountant wants each invoice and receipt, plus the VAT totals.
tax-4	Invoice receipts and VAT numbers went to the accountant before the tax return was due.
dog	Walked the dog in the park after lunch.
bike	Repaired the bicycle chain and pumped up the tyres.
novel	Read a novel about dragons on the long train journey.'

# Write the topics into episodes/.
remember_topics() {
	local name text
	while IFS=$'\t' read -r name text; do
		printf '%s\n' "$text" >"$E/$name"
	done <<<"$TOPICS"
}

# The usual start: dual memory on, topics in, one consolidation run.
consolidated() {
	echo 1 >"$M/flags/dual_memory_types"
	remember_topics
	echo consolidate >"$M/ctl"
}

# The label of the concept whose member list holds episode $1.
concept_of() {
	grep -lP "^[0-9.]+\t\Q$1\E\$" "$C"/* | xargs -r -n1 basename
}

# Member names of concept $1, strongest first.
members_of() {
	sed -n '/^$/,$p' "$C/$1" | sed 1d | cut -f 2
}

# recall_json NAME: the "name pathway concepts-labels" of each result of
# recall/NAME (a JSON format query), one per line; first line "mode cohort".
recall_json() {
	python3 - "$M/recall/$1" <<-'EOF'
		import json, sys
		d = json.load(open(sys.argv[1]))
		print(d["mode"], d["cohort"] or "null")
		for r in d["results"]:
		    assert isinstance(r["concepts"], list), r
		    print(r["name"], r["pathway"],
		          ",".join(c["label"] for c in r["concepts"]) or "-")
	EOF
}

@test "echo consolidate > ctl returns after the run and concepts/ lists a readable label per topic" {
	echo 1 >"$M/flags/dual_memory_types"
	remember_topics
	run bash -c 'echo consolidate >"$1/ctl"' _ "$M"
	[ "$status" -eq 0 ]
	# No waiting: the write returned when the run was done.
	run ls "$C"
	[ "${#lines[@]}" -ge 2 ] || e2e_fail "concepts: '$output'"
	for label in "${lines[@]}"; do
		[[ $label =~ ^[a-z0-9-]+$ ]] || e2e_fail "label '$label' is not [a-z0-9-]+"
	done
	assert_eq "$(ls "$C" | sort -u | wc -l)" "${#lines[@]}" "unique labels"
	# One concept per topic, none for the three loners.
	for ep in coffee-1 sailing-2 tax-3; do
		[ -n "$(concept_of "$ep")" ] || e2e_fail "$ep is in no concept"
	done
	[ "$(concept_of coffee-1)" != "$(concept_of sailing-2)" ]
	[ "$(concept_of sailing-2)" != "$(concept_of tax-3)" ]
	for ep in dog bike novel; do
		assert_eq "$(concept_of "$ep")" "" "$ep in a concept"
	done
	log_since_mark | grep -Eq 'ctl: consolidate: 15 episodes seen, [0-9]+ concepts formed, .* in [0-9.]+ s'
	grep -Eq '^last_consolidation: [0-9]{4}-' "$M/status"
}

@test "a concept file has label, coherence, members, formed, updated and terms lines, then members strongest first" {
	consolidated
	label=$(concept_of coffee-2)
	f=$C/$label
	mapfile -t l <"$f"
	assert_eq "${l[0]}" "label: $label"
	[[ ${l[1]} =~ ^coherence:\ (0(\.[0-9]+)?|1(\.0+)?)$ ]] || e2e_fail "line 2: '${l[1]}'"
	[[ ${l[2]} =~ ^members:\ [0-9]+$ ]] || e2e_fail "line 3: '${l[2]}'"
	[[ ${l[3]} =~ ^formed:\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || e2e_fail "line 4: '${l[3]}'"
	[[ ${l[4]} =~ ^updated:\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]] || e2e_fail "line 5: '${l[4]}'"
	[[ ${l[5]} =~ ^terms:\ [a-z] ]] || e2e_fail "line 6: '${l[5]}'"
	assert_eq "${l[6]}" ""
	# Member lines: strength TAB name, strongest first, all of the topic.
	members=("${l[@]:7}")
	assert_eq "${#members[@]}" "${l[2]#members: }" "member lines"
	printf '%s\n' "${members[@]}" | awk -F'\t' '
		NF != 2 || $1 !~ /^[0-9.]+$/ || $1 > 1 { print "bad line: " $0; exit 1 }
		NR > 1 && $1 > prev { print "not strongest first: " $0; exit 1 }
		{ prev = $1 }'
	assert_eq "$(printf '%s\n' "${members[@]}" | cut -f 2 | sort | tr '\n' ' ')" \
		"coffee-1 coffee-2 coffee-3 coffee-4 "
	# A read-only regular file of the mount owner, read with direct I/O.
	assert_eq "$(stat -c '%F %a %u %g' "$f")" "regular empty file 444 $(id -u) $(id -g)"
}

@test "getfattr -n user.engram.concepts on a member names its concept with the binding strength" {
	consolidated
	label=$(concept_of tax-1)
	strength=$(grep -P '\ttax-1$' "$C/$label" | cut -f 1)
	run getfattr --absolute-names --only-values -n user.engram.concepts "$E/tax-1"
	[ "$status" -eq 0 ]
	assert_eq "$output" "$label	$strength"
	# An episode bound to nothing: empty, not an error.
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.concepts "$E/dog")" ""
	# Read-only, and not listed (cp -a must not try to copy it).
	assert_errno EPERM setxattr "$E/tax-1" user.engram.concepts "x	1"
	run getfattr --absolute-names -d -m - "$E/tax-1"
	[[ $output != *user.engram.concepts* ]] || e2e_fail "listed: $output"
	cp -a "$E/tax-1" "$E/tax-copy"
}

@test "rm of a member removes it from the concept file at once" {
	consolidated
	label=$(concept_of sailing-3)
	before=$(grep -c . <(members_of "$label"))
	rm "$E/sailing-3"
	# No consolidation in between: the next open renders without it.
	run members_of "$label"
	[[ $output != *sailing-3* ]] || e2e_fail "still a member: $output"
	assert_eq "${#lines[@]}" $((before - 1))
	assert_eq "$(sed -n 3p "$C/$label")" "members: $((before - 1))"
}

@test "a concept that dissolves at the next consolidation is gone from concepts/ at once" {
	consolidated
	label=$(concept_of coffee-1)
	stat "$C/$label" >/dev/null	# the kernel now caches the name
	rm "$E/coffee-2" "$E/coffee-3" "$E/coffee-4"
	echo consolidate >"$M/ctl"
	# Within the entry timeout: only the daemon's invalidation drops it.
	[ ! -e "$C/$label" ] || e2e_fail "$label still there"
	run ls "$C"
	[[ " ${lines[*]} " != *" $label "* ]] || e2e_fail "still listed: $output"
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.concepts "$E/coffee-1")" ""
	assert_errno ENOENT read "$C/$label"
}

@test "with dual_memory_types=0 consolidate forms nothing" {
	echo 0 >"$M/flags/dual_memory_types"
	remember_topics
	run bash -c 'echo consolidate >"$1/ctl"' _ "$M"
	[ "$status" -eq 0 ]
	assert_eq "$(ls -A "$C")" ""
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.concepts "$E/coffee-1")" ""
	log_since_mark | grep -q 'ctl: consolidate: dual_memory_types is off'
}

@test "the background thread consolidates every consolidation.interval_s" {
	remember_topics
	echo 1 >"$M/flags/consolidation.interval_s"
	for ((i = 0; i < 100; i++)); do
		[ -n "$(ls -A "$C")" ] && break
		sleep 0.1
	done
	[ -n "$(concept_of coffee-1)" ] || e2e_fail "no concept after 10 s"
}

@test "concepts/ is read-only: EPERM for names, EACCES for writes, ENOENT for unknown labels" {
	consolidated
	f=$C/$(concept_of coffee-1)
	assert_errno ENOENT read "$C/no-such-concept"
	assert_errno EPERM create "$C/new-concept"
	assert_errno EPERM mkdir "$C/dir"
	assert_errno EPERM unlink "$f"
	assert_errno EPERM rename "$f" "$C/renamed"
	assert_errno EPERM link "$f" "$C/linked"
	assert_errno EPERM symlink x "$C/sym"
	assert_errno EACCES open "$f" w
	assert_errno EACCES open "$f" rw
	assert_errno EACCES write "$f" x
	assert_errno EACCES truncate "$f" 0
	assert_errno EPERM chmod "$f" 644
	assert_errno ENOTSUP setxattr "$f" user.x 1
	assert_errno OK read "$f"
}

@test "a concept's inode number is stable across a remount" {
	consolidated
	label=$(concept_of tax-2)
	ino=$(stat -c %i "$C/$label")
	assert_eq "$(stat -c %i "$C/$label")" "$ino"
	remount
	assert_eq "$(stat -c %i "$C/$label")" "$ino"
	assert_eq "$(sed -n 1p "$C/$label")" "label: $label"
}

@test "blended recall in JSON shows a pathway per result and a concepts array" {
	consolidated
	run recall_json 'espresso crema?mode=blended&format=json'
	[ "$status" -eq 0 ]
	assert_eq "${lines[0]}" "blended null"
	[ "${#lines[@]}" -ge 2 ]
	label=$(concept_of coffee-1)
	seen=""
	for line in "${lines[@]:1}"; do
		read -r name pathway labels <<<"$line"
		case $pathway in
		episodic | semantic | convergent | completed) ;;
		*) e2e_fail "pathway '$pathway' of $name" ;;
		esac
		[[ $labels == *"$label"* ]] && seen=1
	done
	[ -n "$seen" ] || e2e_fail "no result names concept $label: $output"
}

@test "a partial cue finds members without the word in blended mode, not in episodic mode" {
	consolidated
	label=$(concept_of coffee-1)
	for cue in barista regatta; do
		holder=$(grep -l "$cue" "$E"/* | xargs -n1 basename)
		assert_eq "$(wc -l <<<"$holder")" 1 "episodes with '$cue'"
		# Episodic: only the episode that has the word.
		run recall_json "$cue?mode=episodic&format=json"
		assert_eq "${lines[0]}" "episodic null"
		assert_eq "${lines[*]:1}" "$holder episodic -"
		# Blended: its siblings too, found through the concept.
		run recall_json "$cue?mode=blended&format=json"
		assert_eq "${lines[0]}" "blended null"
		others=0
		for line in "${lines[@]:1}"; do
			read -r name pathway labels <<<"$line"
			[[ $name == "$holder" ]] && continue
			if grep -q "$cue" "$E/$name"; then
				e2e_fail "$name has the word '$cue'"
			fi
			[[ $name == "${holder%-*}"-* ]] || e2e_fail "$name is not of ${holder%-*}"
			[[ $pathway == semantic || $pathway == completed ]] ||
				e2e_fail "$name has pathway $pathway"
			others=$((others + 1))
		done
		[ "$others" -ge 1 ] || e2e_fail "'$cue' blended found no sibling: $output"
	done
}

@test "a flag flip from blended to episodic takes effect on the very next recall" {
	consolidated
	echo 1 >"$M/flags/blended_recall.cohort_sampling_rate"
	echo 1 >"$M/flags/blended_recall"
	run recall_json 'barista?user=x&format=json'
	assert_eq "${lines[0]}" "blended treatment"
	echo 0 >"$M/flags/blended_recall"
	run recall_json 'barista?user=x&format=json'
	assert_eq "${lines[0]%% *}" episodic
	echo 1 >"$M/flags/blended_recall"
	run recall_json 'barista?user=x&format=json'
	assert_eq "${lines[0]}" "blended treatment"
}

@test "cohort membership survives a remount" {
	consolidated
	echo 0.5 >"$M/flags/blended_recall.cohort_sampling_rate"
	echo 1 >"$M/flags/blended_recall"
	cohorts() {
		local k
		for k in alice bob carol dave erin frank grace heidi ivan judy mallory oscar; do
			echo "$k $(recall_json "espresso?user=$k&format=json" | head -n1)"
		done
	}
	cohorts >"$BATS_TEST_TMPDIR/before"
	grep -q ' blended treatment$' "$BATS_TEST_TMPDIR/before"
	grep -q ' episodic control$' "$BATS_TEST_TMPDIR/before"
	remount
	cohorts >"$BATS_TEST_TMPDIR/after"
	diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
}

@test "metrics carry engram_concepts_total and engram_blended_recall_total" {
	consolidated
	cat "$M/recall/barista?mode=blended" >/dev/null
	run grep -E '^engram_concepts_total ' "$M/metrics"
	[ "$status" -eq 0 ] || skip "engram_concepts_total not emitted yet"
	assert_eq "${output#* }" "$(ls "$C" | wc -l)"
	total=$(awk '/^engram_blended_recall_total[{ ]/ { s += $NF } END { print s + 0 }' "$M/metrics")
	[ "$total" -ge 1 ] || e2e_fail "engram_blended_recall_total: $total"
}
