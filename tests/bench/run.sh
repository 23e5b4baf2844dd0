#!/usr/bin/env bash
# run.sh - `make bench`: engramfs against the targets of issue 2, with the
# FUSE floor measured in the same run.
#
# Usage: tests/bench/run.sh BUILD_DIR      (make builds; this only runs)
#
# What it measures, each step in private temp dirs, always unmounting:
#   a. floorfs ingest: N x SIZE-byte files (create, write, close) into a
#      fresh floorfs mount, then a read pass (the read baseline);
#   b. engramfs ingest: the same files into a fresh store; ratio to (a).
#      (a) and (b) alternate, ROUNDS times each, so drift hits both alike;
#      the table gives the median and the min-max range;
#   e. mount time of the last store (N episodes): engramfs -f started in
#      the background, mountpoint -q polled every 5 ms, median of 3;
#   c. engramfs read of all N episodes after that fresh mount, ROUNDS
#      passes in a shuffled order, contents checked;
#   d. recall: RECALLS open/read/close of recall/<cue> for 1-, 2- and
#      3-word cues drawn from the episodes' own words (see benchclient.c),
#      after a short warm-up that is not counted.
# Output: a Markdown table on stdout and JSON in bench/out/results.json
# (BENCH_OUT=DIR to change).  The exit status is 1 when a target is missed.
#
# Environment:
#   BENCH_QUICK=1  1,000 episodes, one round, 100 recalls a class, no
#                  judging (exit 0 unless something breaks): a smoke test.
#   BENCH_PIN=CPU  run daemons and client on this one CPU (default 0);
#                  BENCH_PIN=none leaves placement to the scheduler.
#                  Why pin: on small VMs a request that wakes a thread on
#                  an idle vCPU pays an inter-processor interrupt and a VM
#                  exit (~100 us measured on the 2-vCPU Firecracker CI
#                  box), which made unpinned floor runs swing 2-16k
#                  creates/s.  Pinned, both file systems pay the same
#                  plain context switches and the runs agree to ~10%.
#   BENCH_ZIPF_Q=Q the skew of the episodes' vocabulary (benchclient.c,
#                  BC_ZIPF_Q; default 100, English content words);
#                  2.7 puts the commonest cue word in two thirds of all
#                  episodes, a stress case for recall.
#   BENCH_OUT=DIR  where results.json goes (default bench/out).
#
# Rejected: timing `cp`/`cat` loops (fork+exec dominate), and one process
# doing everything in C (the mount ladder and cleanup read better here).

set -euo pipefail

bench_usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || bench_usage
B=$(cd "$1" && pwd) || bench_usage
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FLOOR=$B/tests/bench/floorfs
CLIENT=$B/tests/bench/benchclient
DAEMON=$B/engramfs
OUT=${BENCH_OUT:-$ROOT/bench/out}

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	N=1000 ROUNDS=1 RECALLS=100
else
	N=10000 ROUNDS=3 RECALLS=500
fi
SIZE=200		# bytes an episode, the target's "~200 bytes"
WARMUP=20		# recalls before the timed ones: first-touch costs
MOUNT_ROUNDS=3
MOUNT_WAIT_S=20		# give up on a mount after this long

PIN=()
PIN_DESC="not pinned"
if [ "${BENCH_PIN:-0}" != none ] && command -v taskset >/dev/null; then
	PIN=(taskset -c "${BENCH_PIN:-0}")
	PIN_DESC="daemon and client pinned to CPU ${BENCH_PIN:-0}"
fi

# ------------------------------------------------------------------
# Mounts and cleanup
# ------------------------------------------------------------------

TMP=""
MOUNTS=()	# mount points we mounted
PIDS=()		# daemons we started

bench_cleanup() {
	local m p
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null &&
			{ fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
	done
	for p in "${PIDS[@]}"; do	# only daemons not yet reaped
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$TMP" ]; then rm -rf "$TMP"; fi
	return 0
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_die() { echo "bench: $*" >&2; exit 1; }

# now in seconds, with microseconds, without a fork
bench_now() { echo "${EPOCHREALTIME/,/.}"; }

# bench_mount MNT LOG CMD...: start CMD (a daemon in the foreground,
# maybe behind taskset) in the background and wait until MNT is a mount
# point.  Sets MOUNT_PID and MOUNT_S (seconds from start to mounted).
bench_mount() {
	local mnt=$1 log=$2 t0 t name
	shift 2
	name=$(basename "${@:${#PIN[@]}+1:1}")	# the daemon, after the taskset
	t0=$(bench_now)
	"$@" >"$log" 2>&1 &
	MOUNT_PID=$!
	PIDS+=("$MOUNT_PID")
	MOUNTS+=("$mnt")
	until mountpoint -q "$mnt"; do
		kill -0 "$MOUNT_PID" 2>/dev/null ||
			{ tail -n 20 "$log" >&2; bench_die "$name exited before mounting $mnt"; }
		t=$(bench_now)
		awk -v a="$t0" -v b="$t" -v m="$MOUNT_WAIT_S" 'BEGIN { exit !(b - a > m) }' &&
			bench_die "$name did not mount $mnt within ${MOUNT_WAIT_S}s"
		sleep 0.005
	done
	t=$(bench_now)
	MOUNT_S=$(awk -v a="$t0" -v b="$t" 'BEGIN { printf "%.3f", b - a }')
}

# bench_log_errors LOG: the error lines of a daemon's log.  libfuse 3.14
# logs "Ignoring invalid max threads value 4294967295" when a v1 loop config
# carries max_idle_threads = UINT_MAX (its "not set"); the loop then runs
# with its defaults, so that line is no error of the daemon's.
bench_log_errors() {
	grep -iE '(^|[^a-z])(error|fatal|sanitizer|panic)' "$1" |
		grep -v 'Ignoring invalid max threads value 4294967295' || true
}

# bench_forget_pid PID: PID is reaped; never signal that number again
bench_forget_pid() {
	local p keep=()
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# bench_unmount MNT PID LOG: unmount, wait for the daemon to exit, and
# complain about errors in its log.
bench_unmount() {
	local mnt=$1 pid=$2 log=$3 i
	fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" ||
		bench_die "cannot unmount '$mnt'"
	for i in $(seq 1 1000); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "bench: daemon $pid needed SIGTERM after unmount" >&2
		kill "$pid"
	fi
	wait "$pid" 2>/dev/null || echo "bench: daemon $pid exited with status $?" >&2
	bench_forget_pid "$pid"
	if bench_log_errors "$log" | grep -q .; then
		echo "bench: the log of $(basename "$log" .log) shows errors:" >&2
		bench_log_errors "$log" | head -n 5 >&2
		LOG_ERRORS=1
	fi
	return 0
}

# ------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------

# kv KEY LINE: the value of KEY=... in a benchclient line
kv() { local t; for t in $2; do [ "${t%%=*}" = "$1" ] && { echo "${t#*=}"; return; }; done; echo nan; }

# median, min and max of the arguments, as "MED MIN MAX"
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%s %s %s\n", m, v[1], v[NR] }'; }

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

# judge EXPR: JUDGED becomes "yes" or "no" (and MISSED is set), or "-"
# when not judging.  Not a $(...) function: MISSED must reach this shell.
judge() {
	if [ "$QUICK" = 1 ]; then
		JUDGED=-
	elif awk "BEGIN { exit !($1) }"; then
		JUDGED=yes
	else
		JUDGED=no MISSED=1
	fi
}

client() { "${PIN[@]}" "$CLIENT" "$@"; }

# ------------------------------------------------------------------
# The steps
# ------------------------------------------------------------------

# floor_round R: ingest into a fresh floorfs, then read back
floor_round() {
	local mnt=$TMP/floor$1 log=$TMP/floor$1.log line
	mkdir -p "$mnt"
	bench_mount "$mnt" "$log" "${PIN[@]}" "$FLOOR" -f "$mnt"
	line=$(client ingest "$mnt" "$N" "$SIZE")
	FLOOR_INGEST+=("$(kv files_per_s "$line")")
	sleep 1.1	# let the 1 s entry timeouts lapse, as after a remount
	line=$(client read "$mnt" "$N" "$SIZE")
	FLOOR_READ+=("$(kv files_per_s "$line")")
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
}

# engram_round R: ingest into a fresh store
engram_round() {
	local mnt=$TMP/mnt data=$TMP/data$1 log=$TMP/engramfs-ingest$1.log line
	mkdir -p "$mnt" "$data"
	bench_mount "$mnt" "$log" "${PIN[@]}" "$DAEMON" -f "$data" "$mnt"
	line=$(client ingest "$mnt/episodes" "$N" "$SIZE")
	ENGRAM_INGEST+=("$(kv files_per_s "$line")")
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
	STORE=$data
}

# engram_mounts: time MOUNT_ROUNDS fresh mounts of STORE; stays mounted
engram_mounts() {
	local mnt=$TMP/mnt log i
	for i in $(seq 1 "$MOUNT_ROUNDS"); do
		log=$TMP/engramfs-mount$i.log
		bench_mount "$mnt" "$log" "${PIN[@]}" "$DAEMON" -f "$STORE" "$mnt"
		MOUNT_TIMES+=("$MOUNT_S")
		if [ "$i" -lt "$MOUNT_ROUNDS" ]; then
			bench_unmount "$mnt" "$MOUNT_PID" "$log"
		fi
	done
	ENGRAM_PID=$MOUNT_PID ENGRAM_LOG=$log
}

engram_reads() {
	local i line
	for i in $(seq 1 "$ROUNDS"); do
		line=$(client read "$TMP/mnt/episodes" "$N" "$SIZE")
		ENGRAM_READ+=("$(kv files_per_s "$line")")
	done
}

# engram_recall K: RECALLS recalls with K-word cues; sets RECALL_K
engram_recall() {
	local k=$1 cues
	mapfile -t cues < <("$CLIENT" cues "$k" "$RECALLS" "$N" "$SIZE")
	RECALL[$k]=$(client recall "$TMP/mnt" "$RECALLS" "${cues[@]}")
}

# ------------------------------------------------------------------
# Report
# ------------------------------------------------------------------

row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

report_table() {
	local k v
	read -r FI_MED FI_MIN FI_MAX <<<"$(stats "${FLOOR_INGEST[@]}")"
	read -r FR_MED FR_MIN FR_MAX <<<"$(stats "${FLOOR_READ[@]}")"
	echo
	echo "engramfs bench: $N episodes x $SIZE B, $ROUNDS round(s), $PIN_DESC, load $LOAD at start$( [ "$QUICK" = 1 ] && echo ', QUICK (not judged)')"
	echo
	row measure value baseline ratio target "met?"
	row --- --- --- --- --- ---
	if [ -z "$HAVE_DAEMON" ]; then
		row "floorfs ingest, files/s (median; min-max)" "$FI_MED ($FI_MIN-$FI_MAX)" - - - -
		row "floorfs read, files/s (median; min-max)" "$FR_MED ($FR_MIN-$FR_MAX)" - - - -
		judge 0
		row "engramfs" "not built ($DAEMON)" - - - "$JUDGED"
		return
	fi
	read -r EI_MED EI_MIN EI_MAX <<<"$(stats "${ENGRAM_INGEST[@]}")"
	read -r ER_MED ER_MIN ER_MAX <<<"$(stats "${ENGRAM_READ[@]}")"
	read -r MT_MED MT_MIN MT_MAX <<<"$(stats "${MOUNT_TIMES[@]}")"
	INGEST_RATIO=$(calc "$EI_MED / $FI_MED" 2)
	READ_RATIO=$(calc "$ER_MED / $FR_MED" 2)
	judge "$INGEST_RATIO >= 0.5"
	row "ingest, files/s (median; min-max)" "$EI_MED ($EI_MIN-$EI_MAX)" \
	    "$FI_MED ($FI_MIN-$FI_MAX) floorfs" "$INGEST_RATIO" ">= 0.5 x floor" \
	    "$JUDGED"
	judge "$ER_MED >= 10000"
	row "read, files/s (median; min-max)" "$ER_MED ($ER_MIN-$ER_MAX)" \
	    "$FR_MED ($FR_MIN-$FR_MAX) floorfs" "$READ_RATIO" ">= 10000/s" \
	    "$JUDGED"
	for k in 1 2 3; do
		v=${RECALL[$k]}
		judge "$(kv p50_ms "$v") < 2"
		row "recall $k-word cue, p50 ms" "$(kv p50_ms "$v")" - - "< 2" "$JUDGED"
		judge "$(kv p99_ms "$v") < 10"
		row "recall $k-word cue, p99 ms" "$(kv p99_ms "$v")" - - "< 10" "$JUDGED"
	done
	judge "$MT_MED < 1"
	row "mount of $N episodes, s (median; min-max)" "$MT_MED ($MT_MIN-$MT_MAX)" \
	    - - "< 1" "$JUDGED"
	echo
	for k in 1 2 3; do echo "recall $k-word: ${RECALL[$k]#recall }"; done
}

json_met() {
	if [ "$QUICK" = 1 ]; then echo null
	elif [ -z "$MISSED" ]; then echo true
	else echo false
	fi
}

json_list() { local IFS=,; echo "[$*]"; }

json_stats() {	# NAME VALUES...
	local name=$1 med min max
	shift
	read -r med min max <<<"$(stats "$@")"
	printf '  "%s": {"median": %s, "min": %s, "max": %s, "rounds": %s},\n' \
		"$name" "$med" "$min" "$max" "$(json_list "$@")"
}

json_recall() {	# K
	local v=${RECALL[$1]} key sep=""
	printf '    "%s": {' "$1"
	for key in n p50_ms p95_ms p99_ms max_ms mean_ms empty bytes_per_call; do
		printf '%s"%s": %s' "$sep" "$key" "$(kv "$key" "$v")"
		sep=", "
	done
	printf ', "hits": "%s"}' "$(kv hits "$v")"
}

report_json() {
	mkdir -p "$OUT"
	{
		echo "{"
		printf '  "date": "%s",\n  "host": "%s",\n' "$(date -u +%FT%TZ)" "$(uname -nr)"
		printf '  "quick": %s,\n  "episodes": %s,\n  "episode_bytes": %s,\n' \
			"$([ "$QUICK" = 1 ] && echo true || echo false)" "$N" "$SIZE"
		printf '  "rounds": %s,\n  "placement": "%s",\n  "load_at_start": %s,\n' \
			"$ROUNDS" "$PIN_DESC" "$LOAD"
		printf '  "zipf_q": %s,\n' "${BENCH_ZIPF_Q:-100}"
		json_stats floorfs_ingest_files_per_s "${FLOOR_INGEST[@]}"
		json_stats floorfs_read_files_per_s "${FLOOR_READ[@]}"
		if [ -n "$HAVE_DAEMON" ]; then
			json_stats engramfs_ingest_files_per_s "${ENGRAM_INGEST[@]}"
			json_stats engramfs_read_files_per_s "${ENGRAM_READ[@]}"
			json_stats engramfs_mount_s "${MOUNT_TIMES[@]}"
			printf '  "ingest_ratio": %s,\n  "read_ratio": %s,\n' "$INGEST_RATIO" "$READ_RATIO"
			printf '  "recall": {\n%s,\n%s,\n%s\n  },\n' \
				"$(json_recall 1)" "$(json_recall 2)" "$(json_recall 3)"
		fi
		printf '  "daemon_log_errors": %s,\n' "$([ -n "$LOG_ERRORS" ] && echo true || echo false)"
		printf '  "targets_met": %s\n}\n' "$(json_met)"
	} >"$OUT/results.json"
	echo "results: $OUT/results.json"
}

# ------------------------------------------------------------------
# Main
# ------------------------------------------------------------------

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
	echo "bench: skipped, FUSE is not available (/dev/fuse, fusermount3)"
	exit 0
fi
for f in "$FLOOR" "$CLIENT"; do
	[ -x "$f" ] || bench_die "'$f' is not built (make $f)"
done
HAVE_DAEMON=""
[ -x "$DAEMON" ] && HAVE_DAEMON=1

# Other work on the machine (a parallel build, a test suite) shows up as
# noise in every number here: say so rather than report it silently.
LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)
if awk -v l="$LOAD" 'BEGIN { exit !(l > 0.5) }'; then
	echo "bench: warning: load average $LOAD at start; results will be noisy" >&2
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-bench.XXXXXX")
FLOOR_INGEST=() FLOOR_READ=() ENGRAM_INGEST=() ENGRAM_READ=() MOUNT_TIMES=()
declare -A RECALL=()
MISSED="" LOG_ERRORS="" STORE=""

for r in $(seq 1 "$ROUNDS"); do
	echo "bench: round $r/$ROUNDS: ingest $N x $SIZE B" >&2
	floor_round "$r"
	if [ -n "$HAVE_DAEMON" ]; then engram_round "$r"; fi
done
if [ -n "$HAVE_DAEMON" ]; then
	echo "bench: mount, read and recall" >&2
	engram_mounts
	engram_reads
	mapfile -t WARM < <("$CLIENT" cues 2 "$WARMUP" "$N" "$SIZE" 7)
	client recall "$TMP/mnt" "$WARMUP" "${WARM[@]}" >/dev/null
	for k in 1 2 3; do engram_recall "$k"; done
	bench_unmount "$TMP/mnt" "$ENGRAM_PID" "$ENGRAM_LOG"
fi

report_table
report_json
if [ -n "$LOG_ERRORS" ] && [ "$QUICK" != 1 ]; then MISSED=1; fi
[ -z "$MISSED" ]
