# scale.sh - the size ladder of `make bench` (sourced by run.sh; uses
# lib.sh): one store grown to each of SIZES episodes (10,000 / 100,000 /
# 1,000,000), and at each size
#   - the fill, unmounted, by `benchclient fill` through libengram (the
#     daemon's store code without FUSE: through the mount 1M episodes took
#     10-16 of the 20 minutes; ingest through the mount is measured in
#     its own section, so the fill rate is only noted), and the same
#     episodes as plain files in a directory on the disk of $TMP (the
#     grep/rg reference);
#   - consolidation (`echo consolidate > ctl`) of the episodes added since
#     the last run, at sizes up to CONSOLIDATE_MAX (run.sh says why; above
#     it blended recall uses the concepts formed so far);
#   - bytes on disk per episode (du of the data dir after unmount) against
#     the raw text;
#   - mount time (MOUNT_ROUNDS remounts; each is followed by a cold `ls`
#     and `ls -l` of episodes/ at LS_SIZE, against the plain directory after
#     a cache drop);
#   - resident memory after mounting and after the recall rounds;
#   - recall: ROUNDS rounds of RECALLS open/read/close of recall/<cue> for
#     each cue class, episodic and blended, each round capped at
#     RECALL_MAX_S; grep -rl and rg -l over the plain directory (warm:
#     right after the fill) for GREP_CUES cues of each class (above
#     GREP_FULL_MAX: rg only, one rare cue; each run reads every file
#     whatever the cue, and grep -rl took 160-235 s over 1M files);
#   - at THREADS_SIZE: recall throughput of two client threads against one;
#   - flag write to next recall, and metrics render time.
# The daemon runs unpinned (two client threads need both CPUs) with
# background consolidation off (consolidation.interval_s = 0 in $CONF): a
# run starting in the middle of a fill or a timing would measure itself.

CLASSES=(rare two four common typo)

# scale_fill N: grow the store (unmounted) and the plain dir to N
# episodes.  The two fills overlap: the store's is CPU-bound, the plain
# one waits on the disk.
scale_fill() {
	local n=$1 add=$(($1 - HAVE)) line plain_pid
	bench_say "fill to $n episodes ($add into the store, unmounted)"
	client -c "$CORPUS" -o "$HAVE" -j 2 ingest "$PLAIN" "$add" "$SIZE" >/dev/null &
	plain_pid=$!
	line=$(client -c "$CORPUS" -o "$HAVE" fill "$STORE" "$add" "$SIZE")
	note "fill.$n" "$(kv episodes_per_s "$line") episodes/s into the unmounted store through libengram (a plain-file fill alongside)"
	wait "$plain_pid" || bench_die "cannot write the plain files of $n episodes"
	HAVE=$n
}

scale_consolidate() {	# N
	local t0 s
	if [ "$1" -gt "$CONSOLIDATE_MAX" ]; then
		note "consolidate.$1" "not run above $CONSOLIDATE_MAX episodes (time budget); blended recall uses the concepts of $CONSOLIDATED episodes"
		return
	fi
	bench_say "consolidate $(($1 - CONSOLIDATED)) new episodes"
	t0=$(bench_now)
	echo consolidate >"$MNT/ctl"
	s=$(bench_since "$t0")
	record "consolidate.$1" "consolidation of $(($1 - CONSOLIDATED)) new episodes at $1" episodes/s \
		"$(awk -v n=$(($1 - CONSOLIDATED)) -v s="$s" 'BEGIN { printf "%.0f", n / s }')"
	note "concepts.$1" "$(awk '/^concepts:/ { print $2 }' "$MNT/status")"
	CONSOLIDATED=$1
}

# scale_mount TAG: mount the store, its log named by TAG
scale_mount() {
	CUR_LOG=$TMP/engramfs-scale-$1.log
	bench_mount "$MNT" "$CUR_LOG" "$DAEMON" -f -o config="$CONF" "$STORE" "$MNT"
}
scale_unmount() { bench_unmount "$MNT" "$MOUNT_PID" "$CUR_LOG"; }

# time_cmd CMD...: seconds CMD takes (its output discarded)
time_cmd() { local t0; t0=$(bench_now); "$@" >/dev/null; bench_since "$t0"; }

# scale_remounts N: unmount, measure disk, remount MOUNT_ROUNDS times
# (cold ls at LS_SIZE); ends mounted
scale_remounts() {
	local n=$1 i mounts="" ls="" lsl="" pls="" plsl="" disk raw
	scale_unmount
	disk=$(du -sb "$STORE" | cut -f1)
	raw=$(head -n "$n" "$CORPUS" | wc -c)
	record "disk.$n" "bytes on disk per episode at $n" B "$((disk / n))"
	record "disk.$n.raw" "raw text" B "$((raw / n))"
	for i in $(seq 1 "$MOUNT_ROUNDS"); do
		bench_drop_caches
		scale_mount "$n-m$i"
		mounts+=" $MOUNT_S"
		if [ "$n" = "$LS_SIZE" ]; then
			ls+=" $(time_cmd ls "$MNT/episodes")"
			scale_unmount
			bench_drop_caches
			scale_mount "$n-m$i-lsl"
			lsl+=" $(time_cmd ls -l "$MNT/episodes")"
			bench_drop_caches
			pls+=" $(time_cmd ls "$PLAIN")"
			bench_drop_caches
			plsl+=" $(time_cmd ls -l "$PLAIN")"
		fi
		[ "$i" = "$MOUNT_ROUNDS" ] || scale_unmount
	done
	# shellcheck disable=SC2086
	record "mount.$n" "mount time at $n episodes" s $mounts
	record "rss.$n.mount" "resident memory after mount at $n" MB "$(bench_rss_mb "$MOUNT_PID")"
	if [ "$n" = "$LS_SIZE" ]; then
		# shellcheck disable=SC2086
		{
			record "ls.cold" "ls episodes/ of $n, cold" s $ls
			record "ls.cold.plain" "ls of a directory on disk, cold" s $pls
			record "lsl.cold" "ls -l episodes/ of $n, cold" s $lsl
			record "lsl.cold.plain" "ls -l of a directory on disk, cold" s $plsl
		}
	fi
}

# scale_recall N MODE CLASS: ROUNDS rounds; records p50 and p99
scale_recall() {
	local n=$1 mode=$2 cls=$3 line p50="" p99="" hits=""
	for _ in $(seq 1 "$ROUNDS"); do
		line=$(client -f "$CUES/cues-$n-$cls.txt" -q "?mode=$mode" -m "$RECALL_MAX_S" \
			recall "$MNT" "$RECALLS")
		p50+=" $(kv p50_ms "$line")" p99+=" $(kv p99_ms "$line")"
		hits+=" $(kv hits "$line")"
	done
	# shellcheck disable=SC2086
	{
		record "recall.$n.$mode.$cls.p50" "recall $cls, $mode, $n: p50" ms $p50
		record "recall.$n.$mode.$cls.p99" "recall $cls, $mode, $n: p99" ms $p99
	}
	note "hits.$n.$mode.$cls" "${hits# }"
}

# grep_cue TOOL DIR CUE: the tool's run over DIR for CUE's words, OR-ed
grep_cue() {
	local tool=$1 dir=$2 w args=()
	for w in $3; do args+=(-e "$w"); done
	if [ "$tool" = grep ]; then
		grep -rliwF "${args[@]}" "$dir" || true
	else
		rg -l -i -w -F "${args[@]}" "$dir" || true
	fi
}

scale_grep() {	# N
	local n=$1 tool cls cue times classes=(rare two four common) count=$GREP_CUES
	local tools=(grep rg)
	if [ "$n" -gt "$GREP_FULL_MAX" ]; then classes=(rare) count=1 tools=(rg); fi
	for tool in "${tools[@]}"; do
		command -v "$tool" >/dev/null || { note "rg" "not installed"; continue; }
		for cls in "${classes[@]}"; do
			times=""
			while IFS=$'\t' read -r cue _; do
				times+=" $(awk -v s="$(time_cmd grep_cue "$tool" "$PLAIN" "$cue")" 'BEGIN { printf "%.1f", 1000 * s }')"
			done < <(head -n "$count" "$CUES/cues-$n-$cls.txt")
			# shellcheck disable=SC2086
			record "$tool.$n.$cls" "$tool -l $cls over $n files" ms $times
		done
	done
}

scale_threads() {	# N
	local n=$1 line one="" two=""
	for _ in $(seq 1 "$ROUNDS"); do
		line=$(client -f "$CUES/cues-$n-two.txt" -q "?mode=episodic" -j 1 -m "$RECALL_MAX_S" recall "$MNT" "$RECALLS")
		one+=" $(kv calls_per_s "$line")"
		line=$(client -f "$CUES/cues-$n-two.txt" -q "?mode=episodic" -j 2 -m "$RECALL_MAX_S" recall "$MNT" "$((2 * RECALLS))")
		two+=" $(kv calls_per_s "$line")"
	done
	# shellcheck disable=SC2086
	{
		record threads.2 "recall throughput, 2 client threads, $n" calls/s $two
		record threads.1 "1 client thread" calls/s $one
	}
}

scale_other() {	# N
	local n=$1 cue line
	# a rare cue: its recall is quick, so the figure shows the flag's cost
	cue=$(head -n 1 "$CUES/cues-$n-rare.txt" | cut -f1)
	line=$(client flagrecall "$MNT" recall.bm25_k1 1.3 1.2 "$FLAG_CALLS" "$cue")
	record "flag.$n" "flag write -> next recall answered, $n, p50" ms "$(kv p50_ms "$line")"
	line=$(client -m "$RECALL_MAX_S" time "$MNT/metrics" "$RECALLS")
	record "metrics.$n" "metrics render, $n, p50" ms "$(kv p50_ms "$line")"
}

scale_step() {	# N
	local n=$1 mode cls cue
	scale_fill "$n"
	scale_mount "$n-fill"
	# grep and rg first, while the plain files just written are in the
	# page cache: after the cold remounts below, grep -rl over 1M files
	# read them from disk (~4 min), more than the rest of the size
	bench_say "grep and rg over $n plain files"
	scale_grep "$n"
	scale_consolidate "$n"
	scale_remounts "$n"
	bench_say "recall at $n: ${CLASSES[*]}, episodic and blended"
	cue=$(head -n 1 "$CUES/cues-$n-two.txt" | cut -f1)
	client -q "?mode=blended" recall "$MNT" "$WARMUP" "$cue" >/dev/null
	for mode in episodic blended; do
		for cls in "${CLASSES[@]}"; do scale_recall "$n" "$mode" "$cls"; done
	done
	record "rss.$n" "resident memory after recall at $n" MB "$(bench_rss_mb "$MOUNT_PID")"
	if [ "$n" = "$THREADS_SIZE" ]; then scale_threads "$n"; fi
	scale_other "$n"
	scale_unmount
}

section_scale() {
	local n
	STORE=$TMP/store PLAIN=$TMP/plain MNT=$TMP/mnt HAVE=0 CONSOLIDATED=0
	mkdir -p "$STORE" "$PLAIN" "$MNT"
	for n in "${SIZES[@]}"; do
		scale_step "$n"
	done
}

# The FTS5 reference of every size, in one process (its index grows with
# the sizes as the store did).
section_fts5() {
	local line sz cls
	bench_say "SQLite FTS5 reference at ${SIZES[*]}"
	declare -A p50=() p99=()
	while read -r line; do
		case $line in
		fts5-build*)
			note "fts5.build.$(kv size "$line")" "$(kv seconds "$line") s, $(kv db_bytes "$line") bytes" ;;
		fts5*)
			sz=$(kv size "$line") cls=$(kv class "$line")
			p50[$sz.$cls]+=" $(kv p50_ms "$line")"
			p99[$sz.$cls]+=" $(kv p99_ms "$line")"
			note "fts5.hits.$sz.$cls.$(kv round "$line")" "$(kv hits "$line")" ;;
		esac
	done < <("$FTS5" "$CORPUS" "$TMP/fts5.db" "$CUES" "$RECALLS" "$ROUNDS" "$RECALL_MAX_S" "${SIZES[@]}")
	for sz in "${SIZES[@]}"; do
		for cls in "${CLASSES[@]}"; do
			# shellcheck disable=SC2086
			{
				record "fts5.$sz.$cls.p50" "SQLite FTS5 bm25 top-10" ms ${p50[$sz.$cls]}
				record "fts5.$sz.$cls.p99" "SQLite FTS5 bm25 top-10" ms ${p99[$sz.$cls]}
			}
		done
	done
	rm -f "$TMP/fts5.db"
}
