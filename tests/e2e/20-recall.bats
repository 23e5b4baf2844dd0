#!/usr/bin/env bats
# recall/ and query: output formats, options, ranking, filters.
# One mount for the file; every test recalls by words of its own
# (uniq_word), so tests do not see each other's episodes.

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
	T=r$BATS_TEST_NUMBER
	W=$(uniq_word)
}

teardown() {
	check_log
}

# recall CUE: the answer, as a program reading the file gets it.
recall() {
	cat "$M/recall/$1"
}

names() {
	recall "$1" | cut -f 1 | sort | tr '\n' ' '
}

# The idiom of DESIGN section 1, in a child shell (bats owns fd 3 here).
query_idiom() {
	bash -c 'exec 3<>"$1/query"; printf "%s" "$2" >&3; cat <&3' _ "$M" "$1"
}

@test "recall prints TSV lines with name, score, pathway, when and snippet" {
	printf 'Met %s for coffee at the station.\nThen we walked along the river and talked about the harbour, the trains and the weather in spring.\n' "$W" >"$E/$T"
	touch -d '2024-05-01T12:00:00Z' "$E/$T"
	run recall "$W"
	[ "$status" -eq 0 ]
	assert_eq "${#lines[@]}" 1
	IFS=$'\t' read -r name score pathway when snippet extra <<<"${lines[0]}"
	assert_eq "$(awk -F'\t' '{ print NF }' <<<"${lines[0]}")" 5 "fields"
	assert_eq "$name" "$T"
	python3 -c 'import sys; s = float(sys.argv[1]); assert 0 < s <= 1, s' "$score"
	assert_eq "$pathway" episodic
	[[ $when =~ ^2024-05-01T12:00:00(\.[0-9]+)?Z$ ]] || e2e_fail "when: '$when'"
	[[ $snippet == "Met $W for coffee at the station."* ]] || e2e_fail "snippet: '$snippet'"
	[[ $snippet == *Then* ]] || e2e_fail "snippet does not fold the newline: '$snippet'"
	python3 -c 'import sys; n = len(sys.argv[1]); assert 80 <= n <= 110, n' "$snippet"
}

@test "the most relevant episode ranks first" {
	W2=$(uniq_word) W3=$(uniq_word)
	echo "Nothing but $W in this one, with plenty of other words around it." >"$E/$T.one"
	echo "$W $W2 $W3 all together in a short note." >"$E/$T.all"
	echo "Here $W2 shows up alone among the many ordinary words of a note." >"$E/$T.two"
	run recall "$W $W2 $W3"
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T.all"
	assert_eq "${#lines[@]}" 3
}

@test "relevance, not age, decides between episodes of different relevance" {
	W2=$(uniq_word) W3=$(uniq_word)
	echo "$W $W2 $W3 written down ten days ago." >"$E/$T.old"
	touch -d '10 days ago' "$E/$T.old"
	echo "$W only, written down today." >"$E/$T.new"
	run recall "$W $W2 $W3"
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T.old"
}

@test "of two identical texts a day and 60 days old the newer ranks first with a score ratio of 1.8 to 2.2" {
	# Same words, different bytes: identical content would be returned once.
	echo "Walked the dog along the $W canal at dawn." >"$E/$T.new"
	echo "Walked the dog along the $W canal at dawn!" >"$E/$T.old"
	touch -d '1 day ago' "$E/$T.new"
	touch -d '60 days ago' "$E/$T.old"
	run recall "$W canal"
	assert_eq "${#lines[@]}" 2
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T.new"
	assert_eq "$(cut -f 1 <<<"${lines[1]}")" "$T.old"
	new=$(cut -f 2 <<<"${lines[0]}") old=$(cut -f 2 <<<"${lines[1]}")
	python3 -c 'import sys; r = float(sys.argv[1]) / float(sys.argv[2]); assert 1.8 <= r <= 2.2, r' "$new" "$old"
}

@test "limit=2 gives at most two lines and the default limit is 10" {
	for i in $(seq 12); do
		echo "Entry $i of the $W series." >"$E/$T.$i"
	done
	run recall "$W?limit=2"
	assert_eq "${#lines[@]}" 2
	run recall "$W"
	assert_eq "${#lines[@]}" 10
	run recall "$W?limit=50"
	assert_eq "${#lines[@]}" 12
}

@test "format=json is valid JSON with the cue and results" {
	echo "A walk with $W by the lake." >"$E/$T"
	recall "$W?format=json" >"$BATS_TEST_TMPDIR/out.json"
	python3 -m json.tool "$BATS_TEST_TMPDIR/out.json" >/dev/null
	python3 - "$BATS_TEST_TMPDIR/out.json" "$W" "$T" <<-'EOF'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		assert doc["cue"] == sys.argv[2], doc["cue"]
		res = doc["results"]
		assert len(res) == 1, res
		r = res[0]
		assert r["name"] == sys.argv[3], r
		assert 0 < float(r["score"]) <= 1, r
		assert r["pathway"] == "episodic", r
	EOF
}

@test "format=json with no results is valid JSON with an empty list" {
	recall "$W?format=json" >"$BATS_TEST_TMPDIR/out.json"
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["results"] == [], d' \
		"$BATS_TEST_TMPDIR/out.json"
}

@test "format=paths gives absolute paths that xargs cat can read" {
	mkdir "$E/$T"
	echo "first $W note" >"$E/$T/one"
	echo "second $W note, longer than the first" >"$E/$T/two"
	run recall "$W?format=paths"
	assert_eq "${#lines[@]}" 2
	for l in "${lines[@]}"; do
		[[ $l == "$M/episodes/$T/"* ]] || e2e_fail "not an absolute path: '$l'"
	done
	run bash -c 'cat "$1" | xargs -d "\n" cat | sort' _ "$M/recall/$W?format=paths"
	assert_eq "$output" "first $W note"$'\n'"second $W note, longer than the first"
}

@test "recall/where is alice? is a plain question" {
	echo "$W lives by the harbour." >"$E/$T"
	run recall "where is $W?"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T"
	run recall "is e=mc2? $W"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T"
}

@test "an unknown option gives EINVAL" {
	echo "$W" >"$E/$T"
	assert_errno EINVAL read "$M/recall/$W?colour=blue"
	run cat "$M/recall/$W?colour=blue"
	[ "$status" -ne 0 ]
	[[ $output == *"Invalid argument"* ]]
}

@test "a bad option value gives EINVAL" {
	assert_errno EINVAL read "$M/recall/$W?limit=abc"
	assert_errno EINVAL read "$M/recall/$W?limit=-1"
	assert_errno EINVAL read "$M/recall/$W?format=xml"
	assert_errno EINVAL read "$M/recall/$W?mode=psychic"
	assert_errno EINVAL read "$M/recall/$W?since=yesterday-ish"
	assert_errno EINVAL read "$M/recall/$W?min_confidence=2"
	assert_errno EINVAL read "$M/recall/$W?limit=1&limit=2"
}

@test "since= and until= filter by the episode's mtime" {
	for x in a:2024-01-10 b:2024-03-10 c:2024-05-10; do
		echo "The $W meeting, part ${x%%:*}." >"$E/$T.${x%%:*}"
		touch -d "${x#*:}T12:00:00Z" "$E/$T.${x%%:*}"
	done
	assert_eq "$(names "$W?since=2024-02-01T00:00:00Z")" "$T.b $T.c "
	assert_eq "$(names "$W?until=2024-04-01T00:00:00Z")" "$T.a $T.b "
	assert_eq "$(names "$W?since=2024-02-01&until=2024-04-01")" "$T.b "
	echo "The $W meeting, part d." >"$E/$T.d"
	assert_eq "$(names "$W?since=7d")" "$T.d "
	assert_eq "$(names "$W")" "$T.a $T.b $T.c $T.d "
}

@test "min_confidence drops episodes below it" {
	echo "Weak memory of the $W fair." >"$E/$T.lo"
	echo "Clear memory of the $W fair." >"$E/$T.hi"
	setfattr -n user.engram.confidence -v 0.1 "$E/$T.lo"
	setfattr -n user.engram.confidence -v 1.0 "$E/$T.hi"
	run recall "$W"
	assert_eq "${#lines[@]}" 2
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T.hi"
	hi=$(cut -f 2 <<<"${lines[0]}") lo=$(cut -f 2 <<<"${lines[1]}")
	# The geometric mean separates them whether the threshold applies to
	# the score or to the confidence.
	t=$(python3 -c 'import sys, math; print("%.4f" % math.sqrt(float(sys.argv[1]) * float(sys.argv[2])))' "$hi" "$lo")
	assert_eq "$(names "$W?min_confidence=$t")" "$T.hi "
}

@test "budget=200 cuts the answer at whole lines within 200 bytes" {
	for i in $(seq 10); do
		echo "Entry $i of the $W diary: a long day of walking, talking and eating in the old town by the river." >"$E/$T.$i"
	done
	full=$(recall "$W" | wc -l)
	assert_eq "$full" 10
	recall "$W?budget=200" >"$BATS_TEST_TMPDIR/b"
	size=$(stat -c %s "$BATS_TEST_TMPDIR/b")
	[[ $size -le 200 ]] || e2e_fail "budget answer is $size bytes"
	[[ $size -gt 0 ]] || e2e_fail "budget answer is empty though one line fits"
	[ "$(tail -c 1 "$BATS_TEST_TMPDIR/b" | od -An -tx1 | tr -d ' ')" = 0a ]
	while IFS= read -r line; do
		assert_eq "$(awk -F'\t' '{ print NF }' <<<"$line")" 5 "a whole line: '$line'"
		[[ $line == "$T."* ]] || e2e_fail "not a result line: '$line'"
	done <"$BATS_TEST_TMPDIR/b"
	[[ $(wc -l <"$BATS_TEST_TMPDIR/b") -lt 10 ]]
}

@test "no results give empty output and exit status 0" {
	run cat "$M/recall/$W"
	[ "$status" -eq 0 ]
	assert_eq "$output" ""
	assert_eq "$(recall "$W" | wc -c)" 0
}

@test "duplicate content is returned once" {
	echo "The very same $W sentence." >"$E/$T.a"
	echo "The very same $W sentence." >"$E/$T.b"
	run recall "$W"
	assert_eq "${#lines[@]}" 1
}

@test "a dotfile episode is never recalled until renamed to a plain name" {
	echo "Hidden $W thought." >"$E/.$T"
	assert_eq "$(cat "$E/.$T")" "Hidden $W thought."
	run ls -A "$E"
	[[ $output == *".$T"* ]]
	assert_eq "$(recall "$W")" ""
	mv "$E/.$T" "$E/$T"
	assert_eq "$(recall "$W" | cut -f 1)" "$T"
	mv "$E/$T" "$E/.$T.swp"
	assert_eq "$(recall "$W")" ""
}

@test "under= keeps to a folder and its subfolders" {
	mkdir -p "$E/${T}fa/sub" "$E/${T}fb"
	echo "The $W in folder a." >"$E/${T}fa/x"
	echo "The $W in folder a, deeper." >"$E/${T}fa/sub/z"
	echo "The $W in folder b." >"$E/${T}fb/y"
	assert_eq "$(names "$W?under=${T}fa")" "${T}fa/sub/z ${T}fa/x "
	assert_eq "$(names "$W?under=${T}fb")" "${T}fb/y "
	assert_eq "$(names "$W?under=${T}fa%2Fsub")" "${T}fa/sub/z "
	assert_eq "$(names "$W")" "${T}fa/sub/z ${T}fa/x ${T}fb/y "
}

@test "recall honours permissions: a caller never sees an episode it cannot read" {
	echo "Private $W diary." >"$E/$T.private"
	echo "Public $W notice." >"$E/$T.public"
	chmod 600 "$E/$T.private"
	run setpriv --reuid=65534 --regid=65534 --clear-groups cat "$M/recall/$W"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"$output")" "$T.public"
	assert_eq "$(names "$W")" "$T.private $T.public "
}

@test "the query file answers the exec 3<> shell idiom" {
	echo "Lunch with $W at noon." >"$E/$T"
	run query_idiom "$W"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T"
	assert_eq "$(cut -f 3 <<<"${lines[0]}")" episodic
}

@test "the query file takes a cue longer than a file name allows" {
	echo "Dinner with $W at eight." >"$E/$T"
	cue="$W"
	while [[ ${#cue} -le 300 ]]; do
		cue+=" $(uniq_word)"
	done
	assert_errno ENAMETOOLONG read "$M/recall/$cue"
	run query_idiom "$cue"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T"
}

@test "the query file takes a JSON body" {
	echo "Breakfast with $W." >"$E/$T.1"
	echo "Second breakfast with $W." >"$E/$T.2"
	run query_idiom "{\"cue\": \"$W\", \"limit\": 1, \"format\": \"json\"}"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert d["cue"] == sys.argv[2], d; assert len(d["results"]) == 1, d' \
		"$output" "$W"
}

@test "the query file takes an options line after the cue" {
	echo "Tea with $W." >"$E/$T"
	echo "More tea with $W." >"$E/$T.2"
	run query_idiom "$W"$'\n'"?limit=1&format=paths"
	assert_eq "${#lines[@]}" 1
	[[ ${lines[0]} == "$M/episodes/$T"* ]]
}

@test "the query file refuses an unknown option with EINVAL" {
	assert_errno EINVAL query "$M/query" "$W"$'\n'"?colour=blue"
	assert_errno EINVAL query "$M/query" "{\"cue\": \"$W\", \"colour\": \"blue\"}"
}

@test "a second write on the same query descriptor starts a new query" {
	W2=$(uniq_word)
	echo "About $W." >"$E/$T.1"
	echo "About $W2." >"$E/$T.2"
	run python3 - "$M/query" "$W" "$W2" <<-'EOF'
		import os, sys
		fd = os.open(sys.argv[1], os.O_RDWR)
		def ask(cue):
		    os.write(fd, cue.encode())
		    out = b""
		    while True:
		        b = os.read(fd, 65536)
		        if not b:
		            return out.decode()
		        out += b
		for cue in sys.argv[2:]:
		    print(ask(cue).split("\t")[0])
	EOF
	[ "$status" -eq 0 ]
	assert_eq "$output" "$T.1"$'\n'"$T.2"
}

@test "recall sees an episode right after close" {
	for i in 1 2 3 4 5; do
		W=$(uniq_word)
		echo "Fresh $W." >"$E/$T.$i"
		assert_eq "$(recall "$W" | cut -f 1)" "$T.$i"
	done
}

@test "a removed episode is no longer recalled" {
	echo "Soon gone: $W." >"$E/$T"
	assert_eq "$(recall "$W" | cut -f 1)" "$T"
	rm "$E/$T"
	assert_eq "$(recall "$W")" ""
}

@test "an overwritten episode is recalled by its new words only" {
	W2=$(uniq_word)
	echo "Old words: $W." >"$E/$T"
	echo "New words: $W2." >"$E/$T"
	assert_eq "$(recall "$W")" ""
	assert_eq "$(recall "$W2" | cut -f 1)" "$T"
}

@test "a renamed episode is recalled under its new name" {
	echo "Rename me: $W." >"$E/$T"
	mkdir "$E/$T.d"
	mv "$E/$T" "$E/$T.d/moved"
	assert_eq "$(recall "$W" | cut -f 1)" "$T.d/moved"
}

@test "mode=episodic recalls through the episodic pathway" {
	echo "Episodic $W." >"$E/$T"
	run recall "$W?mode=episodic"
	assert_eq "$(cut -f 1,3 <<<"${lines[0]}")" "$T"$'\t'episodic
}

@test "the recall folder resolves any name as a regular file" {
	[ -f "$M/recall/anything at all" ]
	[ -r "$M/recall/anything at all" ]
	run ls "$M/recall"
	[ "$status" -eq 0 ]
}

@test "a cue of stop words only finds by them; with content words, one stop word never finds" {
	mkdir -p "$E/$T"
	echo "To be, or not to be, that is the question: $W" >"$E/$T/hamlet"
	echo "Drank tea with $W in the garden" >"$E/$T/tea"
	run names "to be or not to be?under=$T"
	[ "$status" -eq 0 ]
	assert_eq "$output" "$T/hamlet "
	# "with" is in the tea episode, but a content word of the cue is
	# stored: the tea episode is not an answer for it
	W2=$(uniq_word)
	echo "Coffee with $W2 at the station" >"$E/$T/coffee"
	assert_eq "$(names "coffee with $W2?under=$T")" "$T/coffee "
	# two of the cue's stop words do find: what is left of a mistyped cue
	assert_eq "$(names "$W2 in the gardn?under=$T")" "$T/coffee $T/tea "
	assert_eq "$(recall "$W2 in the gardn?under=$T" | head -n 1 | cut -f 1)" "$T/coffee"
}

@test "blended recall completes a mistyped cue word, episodic matches it as written" {
	echo "Met $W for breakfast at the harbour" >"$E/$T"
	# two different neighbouring letters of the unique word swapped
	local i=2
	while [ "${W:i:1}" = "${W:i+1:1}" ]; do i=$((i + 1)); done
	typo=${W:0:i}${W:i+1:1}${W:i:1}${W:i+2}
	[ "$typo" != "$W" ]
	assert_eq "$(recall "$typo?mode=episodic" | wc -l)" 0
	run recall "$typo breakfast?mode=blended"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"${lines[0]}")" "$T"
	echo 0 >"$M/flags/blended_recall.cue_completion"
	assert_eq "$(recall "$typo?mode=blended" | wc -l)" 0
	echo 1 >"$M/flags/blended_recall.cue_completion"
}

@test "what changed recently in X: episodes about X newest first, then passing mentions" {
	mkdir -p "$E/$T"
	printf '%s 1.0\n\n* first release\n' "$W" >"$E/$T/v1"
	printf '%s 2.0\n\n* rebuilt against the new toolchain, with a long list of small changes to the build and the docs\n' "$W" >"$E/$T/v2"
	printf 'other 9.1\n\n* build-depend on %s for the tests\n' "$W" >"$E/$T/other"
	touch -d '2023-01-01' "$E/$T/v1"
	touch -d '2024-06-01' "$E/$T/v2"
	touch -d '2025-03-01' "$E/$T/other"
	run recall "what changed recently in $W?under=$T"
	[ "$status" -eq 0 ]
	assert_eq "$(cut -f 1 <<<"$output" | tr '\n' ' ')" "$T/v2 $T/v1 $T/other "
	# scores say about-ness and age, in 0..1
	run recall "latest $W?under=$T"
	python3 -c 'import sys; s = [float(l.split("\t")[1]) for l in sys.argv[1].splitlines()]; assert 0.5 < s[1] < s[0] <= 1 and 0 < s[2] < 0.5, s' "$output"
}
