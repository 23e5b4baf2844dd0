#!/usr/bin/env bats
# 55-engramctl.bats - engramctl, every verb, against a real mount.
#
# ENGRAMCTL is the tool (default: build/engramctl of this checkout).  Verbs
# the daemon does not offer yet (ENOSYS from ctl or snapshots/) are
# skipped with that reason, not failed: engramctl's part is to say so.

load helpers

: "${ENGRAMCTL:=$E2E_DIR/../../build/engramctl}"
export ENGRAMCTL

setup_file() {
	[[ -x $ENGRAMCTL ]] || e2e_fail "no engramctl at '$ENGRAMCTL' (make all)"
	setup_mount
	export ENGRAM_MOUNT=$M
}
teardown_file() {
	stop_second_mount
	teardown_mount
}
setup() { mark_log; }
teardown() { check_log; }

ctl() { "$ENGRAMCTL" "$@"; }

# A second store, for round trips and offline verbs: $DATA2 at $M2.
start_second_mount() {
	local i
	stop_second_mount
	DATA2=$(mktemp -d "$MOUNT_BASE/data2.XXXXXX")
	M2=$MOUNT_BASE/mnt2
	mkdir -p "$M2"
	"$ENGRAMFS" -f "$DATA2" "$M2" >>"$MOUNT_BASE/engramfs2.log" 2>&1 3>&- &
	echo $! >"$MOUNT_BASE/daemon2.pid"
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$M2" && return 0
		sleep 0.05
	done
	e2e_fail "second engramfs did not mount"
}

stop_second_mount() {
	local i pid
	[[ -n ${MOUNT_BASE:-} && -r $MOUNT_BASE/daemon2.pid ]] || return 0
	pid=$(cat "$MOUNT_BASE/daemon2.pid")
	in_mount_table "$MOUNT_BASE/mnt2" && fusermount3 -u "$MOUNT_BASE/mnt2"
	for ((i = 0; i < 200; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	rm -f "$MOUNT_BASE/daemon2.pid"
}

# skip_if_enosys: the last run said the daemon does not do it yet.
skip_if_enosys() {
	if [[ $output == *"(ENOSYS)"* ]]; then
		skip "the daemon does not offer this yet: $output"
	fi
}

# A tree of N episodes under DIR with mtimes and some xattrs.
make_tree() {
	local dir=$1 n=$2 i
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		printf 'episode %d about %s\n' "$i" "$(uniq_word)" >"$dir/e$i"
		touch -d "@$((1700000000 + i * 60))" "$dir/e$i"
	done
}

# ------------------------------------------------------------------ #
# The command line                                                   #
# ------------------------------------------------------------------ #

@test "engramctl --help lists every verb and --version prints one" {
	run ctl --help
	[ "$status" -eq 0 ]
	for v in status flags remember recall forget consolidate concepts \
		import export snapshot backup restore verify config loadtest; do
		[[ $output == *"  $v "* ]] || e2e_fail "--help lacks '$v'"
	done
	run ctl --version
	[ "$status" -eq 0 ]
	[[ $output == "engramctl "* ]]
	run ctl recall --help
	[ "$status" -eq 0 ]
	[[ $output == "usage: engramctl recall CUE"* ]]
}

@test "an unknown verb or a missing argument is a usage error, exit 2" {
	run ctl frobnicate
	[ "$status" -eq 2 ]
	[[ $output == "error: unknown verb 'frobnicate'"* ]]
	run ctl recall
	[ "$status" -eq 2 ]
	run ctl flags set recall.default_limit
	[ "$status" -eq 2 ]
}

@test "the mount comes from --mount, then ENGRAM_MOUNT; none is an error" {
	run env -u ENGRAM_MOUNT "$ENGRAMCTL" --mount "$M" status
	[ "$status" -eq 0 ]
	[[ $output == *"pid: "* ]]
	run ctl status
	[ "$status" -eq 0 ]
	cd "$BATS_TEST_TMPDIR"
	run env -u ENGRAM_MOUNT "$ENGRAMCTL" status
	[ "$status" -eq 1 ]
	[[ $output == "error: no mount"* ]]
	run ctl --mount "$BATS_TEST_TMPDIR" status
	[ "$status" -eq 1 ]
	[[ $output == *"is not an engramfs mount"* ]]
}

# ------------------------------------------------------------------ #
# Online verbs                                                       #
# ------------------------------------------------------------------ #

@test "status prints the mount's status and --json parses" {
	run ctl status
	[ "$status" -eq 0 ]
	[[ $output == *"episodes: "* && $output == *"cohort: "* ]]
	run ctl status --json
	[ "$status" -eq 0 ]
	assert_eq "$(jq -r '.status.mount' <<<"$output")" "$M"
	assert_eq "$(jq -r '.flags["recall.default_limit"]' <<<"$output")" "$(cat "$M/flags/recall.default_limit")"
}

@test "flags list, get, set, history; a bad value is refused with the reason" {
	run ctl flags list
	[ "$status" -eq 0 ]
	[[ $output == *$'recall.bm25_k1\t'* ]]
	run ctl flags set recall.bm25_k1 1.4
	[ "$status" -eq 0 ]
	run ctl flags get recall.bm25_k1
	assert_eq "$output" "1.4"
	assert_eq "$(cat "$M/flags/recall.bm25_k1")" "1.4"
	run ctl flags history --json
	[ "$status" -eq 0 ]
	assert_eq "$(jq -r '[.[] | select(.flag == "recall.bm25_k1")][-1].new' <<<"$output")" "1.4"
	run ctl flags set recall.bm25_k1 9
	[ "$status" -eq 1 ]
	assert_eq "$output" "error: bad value '9' for flag 'recall.bm25_k1': expected a number between 0 and 3"
	assert_eq "$(cat "$M/flags/recall.bm25_k1")" "1.4"
	run ctl flags get no.such.flag
	[ "$status" -eq 1 ]
	ctl flags set recall.bm25_k1 1.2
}

@test "remember stores text with when, tags and who; default names are unique" {
	run ctl remember --name rem/one --when 2024-05-01T10:00:00Z --tag coffee --tag friends --who Alice "Met Alice for coffee"
	[ "$status" -eq 0 ]
	assert_eq "$output" "rem/one"
	assert_eq "$(cat "$M/episodes/rem/one")" "Met Alice for coffee"
	assert_eq "$(stat -c %Y "$M/episodes/rem/one")" "$(date -d 2024-05-01T10:00:00Z +%s)"
	assert_eq "$(getfattr --only-values -n user.engram.tags "$M/episodes/rem/one")" "coffee,friends"
	assert_eq "$(getfattr --only-values -n user.engram.who "$M/episodes/rem/one")" "Alice"
	a=$(echo first | ctl remember -)
	b=$(ctl remember second)
	[[ -n $a && -n $b && $a != "$b" ]]
	assert_eq "$(cat "$M/episodes/$a")" "first"
	run ctl remember --name rem/one again
	[ "$status" -eq 1 ]
	[[ $output == "error: episode 'rem/one' exists"* ]]
	run ctl remember --confidence 2 x
	[ "$status" -eq 2 ]
}

@test "recall by name, with --json, and long or slashed cues through query" {
	w=$(uniq_word)
	echo "the $w lives at the station" >"$M/episodes/rc-$w"
	run ctl recall "$w station"
	[ "$status" -eq 0 ]
	[[ $output == "rc-$w"$'\t'* ]]
	run ctl recall --json --limit 1 "$w"
	[ "$status" -eq 0 ]
	assert_eq "$(jq -r '.results[0].name' <<<"$output")" "rc-$w"
	long="$w $(printf 'padding%.0s ' {1..40})"
	[ "${#long}" -gt 255 ]
	run ctl recall "$long"
	[ "$status" -eq 0 ]
	[[ $output == *"rc-$w"* ]]
	run ctl recall "$w/station"
	[ "$status" -eq 0 ]
	[[ $output == *"rc-$w"* ]]
	run ctl recall --since nonsense "$w"
	[ "$status" -eq 2 ]
	[[ $output == "error: bad value for 'since'"* ]]
}

@test "forget removes an episode; a missing one is an error" {
	echo bye >"$M/episodes/fg-1"
	run ctl forget fg-1
	[ "$status" -eq 0 ]
	[ ! -e "$M/episodes/fg-1" ]
	run ctl forget fg-1
	[ "$status" -eq 1 ]
	assert_eq "$output" "error: no episode 'fg-1'"
}

@test "consolidate returns when done and concepts lists what formed" {
	run ctl consolidate --wait
	skip_if_enosys
	[ "$status" -eq 0 ]
	[[ $output == *"last_consolidation: "* ]]
	run ctl concepts
	[ "$status" -eq 0 ]
	run ctl concepts --json
	[ "$status" -eq 0 ]
	jq -e 'type == "array"' <<<"$output"
	first=$(ls "$M/concepts" | head -n 1)
	if [[ -n $first ]]; then
		run ctl concepts "$first"
		[ "$status" -eq 0 ]
		assert_eq "$output" "$(cat "$M/concepts/$first")"
	fi
	run ctl concepts no-such-concept
	[ "$status" -eq 1 ]
}

@test "snapshot create, list and delete" {
	run ctl snapshot create snap1
	skip_if_enosys
	[ "$status" -eq 0 ]
	run ctl snapshot list
	[[ $output == "snap1"$'\t'* ]]
	run ctl snapshot list --json
	assert_eq "$(jq -r '.[0].name' <<<"$output")" "snap1"
	run ctl snapshot create snap1
	[ "$status" -eq 1 ]
	run ctl snapshot delete snap1
	[ "$status" -eq 0 ]
	run ctl snapshot list
	assert_eq "$output" ""
}

# ------------------------------------------------------------------ #
# import and export                                                  #
# ------------------------------------------------------------------ #

@test "export then import round-trips bytes, when and metadata" {
	src=$M/episodes/rt
	mkdir -p "$src/sub" "$src/empty"
	printf 'plain text\n' >"$src/a"
	printf 'bin\000\377\376 data' >"$src/sub/b"
	: >"$src/sub/zero"
	printf 'hidden\n' >"$src/.dot"
	setfattr -n user.engram.confidence -v 0.93 "$src/a"
	setfattr -n user.engram.where -v "the station" "$src/a"
	setfattr -n user.engram.who -v "Alice" "$src/sub/b"
	setfattr -n user.engram.tags -v "x,y" "$src/sub/b"
	touch -d '2024-05-01 10:00:00.123456789' "$src/a"
	touch -d '2023-01-02 03:04:05' "$src/sub/b"
	out1=$BATS_TEST_TMPDIR/out1 out2=$BATS_TEST_TMPDIR/out2
	run ctl export --from rt "$out1"
	[ "$status" -eq 0 ]
	[[ $output == *"exported 4"* ]]
	cmp "$src/sub/b" "$out1/sub/b"
	assert_eq "$(stat -c %y "$out1/a")" "$(stat -c %y "$src/a")"
	[ -d "$out1/empty" ]

	start_second_mount
	run ctl --mount "$M2" import "$out1"
	[ "$status" -eq 0 ]
	[[ $output == *"imported 4, already present 0, skipped 0, failed 0"* ]]
	for f in a sub/b sub/zero .dot; do
		cmp "$src/$f" "$M2/episodes/$f"
		assert_eq "$(stat -c '%s %y' "$M2/episodes/$f")" "$(stat -c '%s %y' "$src/$f")" "$f"
		assert_eq "$(getfattr -d -m '^user\.engram\.' "$M2/episodes/$f" | tail -n +2)" \
			"$(getfattr -d -m '^user\.engram\.' "$src/$f" | tail -n +2)" "$f"
	done
	[ -d "$M2/episodes/empty" ]
	run ctl --mount "$M2" export "$out2"
	[ "$status" -eq 0 ]
	diff -r "$out1" "$out2"

	# the same through one JSONL stream
	ctl export --from rt --jsonl -o "$BATS_TEST_TMPDIR/rt.jsonl"
	run ctl --mount "$M2" import --into viajsonl "$BATS_TEST_TMPDIR/rt.jsonl"
	[ "$status" -eq 0 ]
	ctl --mount "$M2" export --from viajsonl --jsonl | diff - "$BATS_TEST_TMPDIR/rt.jsonl"
	stop_second_mount
}

@test "import reports failed items with reasons and exits 1" {
	f=$BATS_TEST_TMPDIR/bad.jsonl
	{
		echo '{"name": "imp-bad/ok", "content": "fine\n"}'
		echo 'not json'
		echo '{"name": "../escape", "content": "x"}'
		echo '{"name": "imp-bad/noconf", "confidence": 7, "content": "x"}'
	} >"$f"
	run ctl import "$f"
	[ "$status" -eq 1 ]
	[[ $output == *"failed 'line 2': bad json"* ]]
	[[ $output == *"failed 'line 3': bad 'name'"* ]]
	[[ $output == *"failed 'line 4': bad 'confidence'"* ]]
	[[ $output == *"imported 1, already present 0, skipped 0, failed 3"* ]]
	assert_eq "$(cat "$M/episodes/imp-bad/ok")" "fine"
	mkfifo "$BATS_TEST_TMPDIR/tree/fifo" 2>/dev/null || { mkdir -p "$BATS_TEST_TMPDIR/tree"; mkfifo "$BATS_TEST_TMPDIR/tree/fifo"; }
	echo ok >"$BATS_TEST_TMPDIR/tree/file"
	run ctl import --into imp-tree "$BATS_TEST_TMPDIR/tree"
	[ "$status" -eq 0 ]
	[[ $output == *"skipped 'fifo': not a regular file"* ]]
}

@test "import resumes after a kill: all present, none twice" {
	n=2000
	make_tree "$BATS_TEST_TMPDIR/big" "$n"
	"$ENGRAMCTL" import --into resume "$BATS_TEST_TMPDIR/big" >/dev/null 2>&1 &
	pid=$!	# engramctl itself, not a subshell: kill -9 must reach it
	for ((i = 0; i < 400; i++)); do
		c=$(ls "$M/episodes/resume" 2>/dev/null | wc -l)
		((c >= 200)) && break
		sleep 0.02
	done
	kill -9 "$pid"
	wait "$pid" || true
	c=$(ls "$M/episodes/resume" | wc -l)
	((c < n)) || skip "the import finished before it could be killed"
	run ctl import --into resume "$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 0 ]
	[[ $output =~ imported\ ([0-9]+),\ already\ present\ ([0-9]+),\ skipped\ 0,\ failed\ 0 ]]
	assert_eq "$((BASH_REMATCH[1] + BASH_REMATCH[2]))" "$n"
	((BASH_REMATCH[2] > 0))
	assert_eq "$(ls -A "$M/episodes/resume" | wc -l)" "$n" "episodes, hidden leftovers included"
	diff -r "$BATS_TEST_TMPDIR/big" "$M/episodes/resume"
	for f in e0 e$((n / 2)) e$((n - 1)); do
		assert_eq "$(stat -c %Y "$M/episodes/resume/$f")" "$(stat -c %Y "$BATS_TEST_TMPDIR/big/$f")"
	done
	run ctl import --into resume "$BATS_TEST_TMPDIR/big"
	[[ $output == *"imported 0, already present $n,"* ]]
}

@test "a time set before close is committed with the content (what import relies on)" {
	f=$M/episodes/timed-once
	python3 - "$f" <<-'PY'
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
	os.write(fd, b"the quokka crossed the river")
	os.utime(fd, ns=(1500000000000000001, 1400000000123456789))
	st = os.stat(sys.argv[1])	# between futimens and close
	assert (st.st_mtime_ns, st.st_atime_ns, st.st_size) == \
		(1400000000123456789, 1500000000000000001, 28), st
	os.close(fd)
	PY
	assert_eq "$(stat -c '%.9Y %.9X %s' "$f")" "1400000000.123456789 1500000000.000000001 28"
	# the postings carry the time set: recall's time window sees it
	run ctl recall quokka --since 2014-05-13 --until 2014-05-14
	[ "$status" -eq 0 ]
	[[ $output == *timed-once* ]]
	run ctl recall quokka --since 2020-01-01
	[[ $output != *timed-once* ]]
	# a write after the time set moves the mtime to now, as on a local fs
	python3 - "$f" <<-'PY'
	import os, sys
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
	os.write(fd, b" again")
	os.utime(fd, ns=(1500000000000000001, 1400000000123456789))
	os.write(fd, b"!")
	os.close(fd)
	PY
	(($(stat -c %Y "$f") > 1600000000))
	assert_eq "$(cat "$f")" "the quokka crossed the river again!"
}

@test "import writes a new episode in place, once: no hidden name, metadata and time kept" {
	src=$BATS_TEST_TMPDIR/once
	mkdir -p "$src"
	printf 'a pangolin at dawn\n' >"$src/p1"
	touch -d '2022-02-02T02:02:02.5Z' "$src/p1"
	printf '{"name":"p2","when":"2021-01-01T00:00:00Z","confidence":0.4,"who":"Bo","content":"a pangolin at dusk"}\n' >"$BATS_TEST_TMPDIR/once.jsonl"
	run ctl import --into once "$src"
	[ "$status" -eq 0 ]
	run ctl import --into once "$BATS_TEST_TMPDIR/once.jsonl"
	[ "$status" -eq 0 ]
	assert_eq "$(ls -A "$M/episodes/once" | sort | tr '\n' ' ')" "p1 p2 "
	assert_eq "$(stat -c %.1Y "$M/episodes/once/p1")" 1643767322.5
	assert_eq "$(stat -c %Y "$M/episodes/once/p2")" 1609459200
	assert_eq "$(getfattr --only-values -n user.engram.confidence "$M/episodes/once/p2")" 0.4
	assert_eq "$(getfattr --only-values -n user.engram.who "$M/episodes/once/p2")" Bo
	run ctl recall pangolin --since 2022-02-01 --until 2022-02-03
	[[ $output == *once/p1* && $output != *once/p2* ]]
	# a changed item (another size: same size and mtime is "already
	# present") replaces the episode whole
	printf 'a pangolin at midnight\n' >"$src/p1"
	touch -d '2022-02-02T02:02:02.5Z' "$src/p1"
	run ctl import --into once "$src"
	[ "$status" -eq 0 ]
	assert_eq "$(cat "$M/episodes/once/p1")" "a pangolin at midnight"
	assert_eq "$(ls -A "$M/episodes/once" | sort | tr '\n' ' ')" "p1 p2 "
}

@test "export resumes: an unchanged copy is not written again" {
	out=$BATS_TEST_TMPDIR/ex
	echo one >"$M/episodes/exr-1"
	ctl export "$out" >/dev/null 2>&1
	run ctl export "$out"
	[ "$status" -eq 0 ]
	[[ $output =~ exported\ ([0-9]+)\ \(unchanged\ ([0-9]+)\) ]]
	assert_eq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
	[ ! -e "$out/exr-1.engramctl-tmp" ]
}

# ------------------------------------------------------------------ #
# Backup, restore, verify, config check (offline)                    #
# ------------------------------------------------------------------ #

@test "verify refuses a mounted store and passes a stopped one" {
	run ctl verify "$DATA"
	[ "$status" -eq 1 ]
	assert_eq "$output" "error: store '$DATA' is in use by a mount (unmount it first)"
	start_second_mount
	echo "verify me" >"$M2/episodes/v1"
	stop_second_mount
	run ctl verify "$DATA2"
	[ "$status" -eq 0 ]
	[[ $output == *"store '$DATA2': ok"* ]]
	run ctl verify --json "$DATA2"
	assert_eq "$(jq -r .problems <<<"$output")" "0"
	# a stopped data dir is a checkpoint restore takes
	run ctl restore "$DATA2" "$BATS_TEST_TMPDIR/copy"
	[ "$status" -eq 0 ]
	run ctl verify "$BATS_TEST_TMPDIR/copy"
	[ "$status" -eq 0 ]
	run ctl verify "$BATS_TEST_TMPDIR/nothing"
	[ "$status" -eq 1 ]
}

@test "backup of the mounted store, restore into a new data dir, verify" {
	echo "kept by the backup" >"$M/episodes/bk-1"
	run ctl backup "$BATS_TEST_TMPDIR/backup"
	skip_if_enosys
	[ "$status" -eq 0 ]
	run ctl restore "$BATS_TEST_TMPDIR/backup" "$BATS_TEST_TMPDIR/restored"
	[ "$status" -eq 0 ]
	run ctl verify "$BATS_TEST_TMPDIR/restored"
	[ "$status" -eq 0 ]
	run ctl restore "$BATS_TEST_TMPDIR/backup" "$BATS_TEST_TMPDIR/restored"
	[ "$status" -eq 1 ]
	[[ $output == *"error: data dir '$BATS_TEST_TMPDIR/restored' is not empty"* ]]
	run ctl restore "$BATS_TEST_TMPDIR/backup" "$DATA"
	[ "$status" -eq 1 ]
	[[ $output == *"is in use by a mount"* ]]
}

@test "config check: 0 for a good file, 1 with FILE:LINE, 2 for usage" {
	good=$BATS_TEST_TMPDIR/good.conf bad=$BATS_TEST_TMPDIR/bad.conf
	printf '[recall]\nbm25_k1 = 1.5\n' >"$good"
	printf '[recall]\nbm25_k1 = 1.5\nbm25_b = 7\n[nope]\nx = 1\n' >"$bad"
	run ctl config check "$good"
	[ "$status" -eq 0 ]
	assert_eq "$output" "$good: ok (1 keys)"
	run ctl config check "$bad"
	[ "$status" -eq 1 ]
	[[ $output == *"$bad:3: "* ]]
	run ctl config check --json "$bad"
	[ "$status" -eq 1 ]
	jq -e '.ok == false and (.errors | length) >= 1' <<<"$output"
	run ctl config check "$BATS_TEST_TMPDIR/missing.conf"
	[ "$status" -eq 1 ]
	run ctl config check
	[ "$status" -eq 2 ]
	run ctl config lint "$good"
	[ "$status" -eq 2 ]
}

# ------------------------------------------------------------------ #
# loadtest                                                           #
# ------------------------------------------------------------------ #

@test "loadtest runs a short mixed scenario and writes a JSON report" {
	rep=$BATS_TEST_TMPDIR/report.json
	run ctl loadtest --scenario "$E2E_DIR/../../config/scenarios/mixed.conf" --duration 3 --warmup 1 --threads 2 --report "$rep"
	[[ $status -eq 0 || $status -eq 1 ]]	# SLOs depend on the machine
	[[ $output == *"scenario mixed"* && $output == *"result: "* ]]
	jq -e '.scenario == "mixed" and .ops.create.count > 0 and .ops.read.count > 0 and .ops.recall.count > 0' "$rep"
	jq -e '.latency.p99_ms >= .latency.p50_ms and .throughput.ops_per_sec > 0' "$rep"
	jq -e '(.duration_s >= 2.5) and (.slo | length) == 5' "$rep"
	[ "$(jq .pass "$rep")" = "$([[ $status -eq 0 ]] && echo true || echo false)" ]
	# created episodes are removed, the corpus stays
	[ -z "$(ls "$M/episodes/loadtest" | grep '^w-')" ]
}

@test "loadtest exits 1 on a missed SLO and reports soak samples" {
	sc=$BATS_TEST_TMPDIR/tiny.conf
	cat >"$sc" <<-EOF
	[scenario]
	name = tiny
	threads = 1
	duration_s = 2
	warmup_s = 0
	corpus = 20
	[mix]
	read = 1
	[slo]
	min_ops_per_s = 1000000000
	EOF
	run --separate-stderr ctl loadtest --scenario "$sc" --json --soak 2 --sample-every 1
	[ "$status" -eq 1 ]
	jq -e '.pass == false and (.soak.samples | length) >= 2 and .soak.samples[0].rss_kb > 0' <<<"$output"
	sed -i 's/^min_ops_per_s.*/min_ops_per_s = 1/' "$sc"
	run ctl loadtest --scenario "$sc" --duration 1
	[ "$status" -eq 0 ]
	[[ $output == *"result: pass"* ]]
	printf '[mix]\nfrobs = 1\n' >"$sc"
	run ctl loadtest --scenario "$sc"
	[ "$status" -eq 1 ]
	[[ $output == "$sc:2: [mix] frobs: unknown operation" ]]
}
