#!/usr/bin/env bash
# import_bench.sh - `engramctl import` against the mount's raw ingest rate
# (issue 5: an import of 10,000 episodes runs at >= 80% of raw ingest).
#
# Usage: tests/bench/import_bench.sh BUILD_DIR
#        (make B=BUILD_DIR all BUILD_DIR/tests/bench/benchclient builds;
#        this only runs)
#
# What it does, in a private temp dir, always unmounting:
#   1. benchclient writes N ~SIZE-byte episodes (its text model, seeded)
#      into a local folder: the import's source, files with a size, bytes
#      and an mtime, as a folder copied off another machine would be;
#   2. ROUNDS times, alternating so that drift hits both alike:
#      raw    - a fresh store and mount; benchclient ingest of the same N
#               episodes (create, write, close each, one client thread);
#      import - another fresh store and mount; engramctl import of the
#               folder (its default --jobs; the when of every episode is
#               the source file's mtime, so each carries metadata);
#   3. checks that every import brought N episodes with the source's
#      mtimes, and prints the medians, the ranges and the ratio
#      import/raw of the medians (and the median of each round's ratio,
#      steadier on a busy machine).  Exit status 1 when the ratio of the
#      medians is under TARGET.
#
# Environment:
#   IMPORT_N=N        episodes (default 10000)
#   IMPORT_ROUNDS=R   rounds of each (default 3)
#   IMPORT_TARGET=F   the ratio to meet (default 0.80)
#   IMPORT_PIN=CPUS   taskset CPU list for daemons and clients (default:
#                     not pinned; BENCH_PIN in run.sh explains why one
#                     may want it).  Both sides get the same placement.
#   IMPORT_JOBS=J     engramctl import --jobs (default: its own default)
#
# Rejected: timing a shell loop of `cp` for the raw side (fork and exec
# would dominate); importing from JSONL only (a folder is the common case
# and exercises the mtime path; IMPORT_SOURCE=jsonl measures the other).

set -euo pipefail

ib_usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || ib_usage
B=$(cd "$1" && pwd) || ib_usage
DAEMON=$B/engramfs
CTL=$B/engramctl
CLIENT=$B/tests/bench/benchclient
for f in "$DAEMON" "$CTL" "$CLIENT"; do
	[ -x "$f" ] || { echo "import_bench: no '$f' (make B=$1 all $1/tests/bench/benchclient)" >&2; exit 2; }
done

N=${IMPORT_N:-10000}
ROUNDS=${IMPORT_ROUNDS:-3}
TARGET=${IMPORT_TARGET:-0.80}
SIZE=200
SOURCE=${IMPORT_SOURCE:-dir}
MOUNT_WAIT_S=20
PIN=()
[ -n "${IMPORT_PIN:-}" ] && PIN=(taskset -c "$IMPORT_PIN")
JOBS=()
[ -n "${IMPORT_JOBS:-}" ] && JOBS=(--jobs "$IMPORT_JOBS")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/import-bench.XXXXXX")
MNT=""		# mounted now, if anything
LOG=""		# its daemon's log
PID=""		# its daemon

ib_cleanup() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u -z "$MNT" 2>/dev/null || true
	fi
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap ib_cleanup EXIT
trap 'exit 130' INT TERM

ib_die() { echo "import_bench: $*" >&2; exit 1; }

ib_now() { echo "${EPOCHREALTIME/,/.}"; }

# ib_mount NAME: a fresh store TMP/NAME.data mounted at TMP/mnt
ib_mount() {
	local t0 t
	LOG=$TMP/$1.log
	MNT=$TMP/mnt
	mkdir -p "$MNT" "$TMP/$1.data"
	t0=$(ib_now)
	"${PIN[@]}" "$DAEMON" -f "$TMP/$1.data" "$MNT" >"$TMP/$1.log" 2>&1 &
	PID=$!
	until mountpoint -q "$MNT"; do
		kill -0 "$PID" 2>/dev/null ||
			{ tail -n 20 "$TMP/$1.log" >&2; ib_die "engramfs exited before mounting"; }
		t=$(ib_now)
		awk -v a="$t0" -v b="$t" -v m="$MOUNT_WAIT_S" 'BEGIN { exit !(b - a > m) }' &&
			ib_die "engramfs did not mount within ${MOUNT_WAIT_S}s"
		sleep 0.005
	done
}

ib_unmount() {
	local i
	fusermount3 -u "$MNT" || ib_die "cannot unmount '$MNT'"
	for i in $(seq 1 1000); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.01
	done
	wait "$PID" 2>/dev/null || echo "import_bench: daemon exited with status $?" >&2
	PID="" MNT=""
	if grep -E 'AddressSanitizer|runtime error:|(^|[^a-z])(error|fatal)' "$LOG" >&2; then
		ib_die "the daemon's log shows errors ($(basename "$LOG"))"
	fi
	rm -rf "$TMP"/*.data
}

# kv KEY LINE: the value of KEY=... in a benchclient line
kv() { local t; for t in $2; do [ "${t%%=*}" = "$1" ] && { echo "${t#*=}"; return; }; done; echo nan; }

# "MEDIAN MIN MAX" of the arguments
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%s %s %s\n", m, v[1], v[NR] }'; }

RAW=() IMP=()

raw_round() {
	local line
	ib_mount "raw$1"
	line=$("${PIN[@]}" "$CLIENT" ingest "$MNT/episodes" "$N" "$SIZE")
	RAW+=("$(kv files_per_s "$line")")
	ib_unmount
}

# The import must have brought every episode, with the source's mtime.
import_check() {
	local got bad
	got=$(find "$MNT/episodes" -type f | wc -l)
	[ "$got" = "$N" ] || ib_die "import brought $got episodes, not $N"
	[ "$SOURCE" = dir ] || return 0
	bad=$(cd "$TMP/src" && for f in ep-000000 "ep-$(printf %06d $((N / 2)))" "ep-$(printf %06d $((N - 1)))"; do
		[ "$(stat -c %y "$f")" = "$(stat -c %y "$MNT/episodes/$f")" ] || echo "$f"
	done)
	[ -z "$bad" ] || ib_die "import lost the mtime of: $bad"
}

import_round() {
	local out t0 t1 src=$TMP/src
	[ "$SOURCE" = jsonl ] && src=$TMP/src.jsonl
	ib_mount "import$1"
	t0=$(ib_now)
	out=$("${PIN[@]}" "$CTL" --mount "$MNT" import --quiet "${JOBS[@]}" "$src") ||
		ib_die "engramctl import failed: $out"
	t1=$(ib_now)
	import_check
	IMP+=("$(awk -v n="$N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
	ib_unmount
}

# The source: benchclient's episodes in a local folder (and as JSONL).
mkdir -p "$TMP/src"
"$CLIENT" ingest "$TMP/src" "$N" "$SIZE" >/dev/null
if [ "$SOURCE" = jsonl ]; then
	ib_mount export
	"$CTL" --mount "$MNT" import --quiet "$TMP/src" >/dev/null
	"$CTL" --mount "$MNT" export --quiet --jsonl >"$TMP/src.jsonl"
	ib_unmount
fi

for r in $(seq 1 "$ROUNDS"); do
	raw_round "$r"
	import_round "$r"
	echo "round $r: raw ${RAW[-1]}/s, import ${IMP[-1]}/s" >&2
done

read -r RMED RMIN RMAX <<<"$(stats "${RAW[@]}")"
read -r IMED IMIN IMAX <<<"$(stats "${IMP[@]}")"
RATIO=$(awk -v a="$IMED" -v b="$RMED" 'BEGIN { printf "%.2f", a / b }')
# the ratio of each round's pair too: on a busy machine drift between
# rounds is larger than within one
PAIRS=()
for i in "${!RAW[@]}"; do
	PAIRS+=("$(awk -v a="${IMP[$i]}" -v b="${RAW[$i]}" 'BEGIN { printf "%.2f", a / b }')")
done
read -r PMED PMIN PMAX <<<"$(stats "${PAIRS[@]}")"
echo "episodes: $N x ~$SIZE bytes, source: $SOURCE, rounds: $ROUNDS, pinned: ${IMPORT_PIN:-no}"
echo "raw ingest:      median $RMED/s (range $RMIN-$RMAX)"
echo "engramctl import: median $IMED/s (range $IMIN-$IMAX)"
echo "ratio import/raw: $RATIO (target $TARGET); per round: median $PMED (range $PMIN-$PMAX)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v r="$RATIO" -v t="$TARGET" 'BEGIN { exit !(r >= t) }'
