#!/usr/bin/env bash
# run.sh - `make eval`: the quality evaluation of issue 3 (known-item
# recall against SQLite FTS5, concepts against labels, a dated corpus).
#
# Usage: tests/eval/run.sh BUILD_DIR      (make builds; this only runs)
#
# Steps:
#   1. corpora: installs the Debian packages that are missing (fortunes,
#      fortunes-min, wordnet-base; as root, or with passwordless sudo);
#      a corpus whose package cannot be had is skipped and said so.  The
#      changelog corpus is whatever /usr/share/doc/*/changelog.Debian.gz
#      the machine has;
#   2. the AMI self-test (ami.py; a failure stops the run: the clustering
#      numbers would be wrong);
#   3. evaluate.py mounts fresh stores under a private temp dir, runs the
#      cues and writes bench/out/eval.md and bench/out/eval.json
#      (EVAL_OUT=DIR to change).
# Every mount under the temp dir is unmounted on exit, however the run
# ends, and only the daemons this run started are signalled.
#
# Environment: EVAL_QUICK=1 (fortunes only, 60 cues a variant, ~1-2 min:
# the CI smoke run), EVAL_K, EVAL_SEED, EVAL_CORPORA, EVAL_WORDNET_N,
# EVAL_CHANGELOG_MAX, EVAL_RANDOM_RUNS (see evaluate.py).
#
# Exit status: 0 whether the targets are met or not (it is a
# measurement); non-zero only when something breaks.

set -euo pipefail

eval_usage() { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
[ $# -eq 1 ] || eval_usage
B=$(cd "$1" && pwd) || eval_usage
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${EVAL_OUT:-$ROOT/bench/out}
QUICK=${EVAL_QUICK:-0}
export PYTHONDONTWRITEBYTECODE=1

[ -x "$B/engramfs" ] || { echo "eval: no daemon at $B/engramfs (make all)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "eval: python3 is missing" >&2; exit 1; }
command -v fusermount3 >/dev/null || { echo "eval: fusermount3 is missing (make deps)" >&2; exit 1; }
[ -c /dev/fuse ] || { echo "eval: /dev/fuse is missing" >&2; exit 1; }
python3 -c 'import sqlite3; c = sqlite3.connect(":memory:"); c.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize=\"porter unicode61\")")' ||
	{ echo "eval: python3's sqlite3 has no FTS5" >&2; exit 1; }

# ------------------------------------------------------------------
# 1. Corpora from Debian packages
# ------------------------------------------------------------------

need=()
[ -e /usr/share/games/fortunes/fortunes ] || need+=(fortunes-min)
[ -e /usr/share/games/fortunes/computers ] || need+=(fortunes)
if [ "$QUICK" != 1 ]; then
	[ -e /usr/share/wordnet/data.noun ] || need+=(wordnet-base)
fi
if [ ${#need[@]} -gt 0 ]; then
	SUDO=()
	[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
	echo "eval: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2; then
		"${SUDO[@]}" apt-get update -q >&2 || true
		"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2 ||
			echo "eval: could not install ${need[*]}; those corpora are skipped" >&2
	fi
fi

# ------------------------------------------------------------------
# 2. AMI self-test
# ------------------------------------------------------------------

python3 "$HERE/ami.py" >/dev/null || { python3 "$HERE/ami.py" >&2; echo "eval: AMI self-test failed" >&2; exit 1; }

# ------------------------------------------------------------------
# 3. The evaluation, in a private temp dir that is always cleaned up
# ------------------------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-eval.XXXXXX")

eval_cleanup() {
	local m p f
	# mounts under our temp dir, even dead ones (mountpoint cannot stat those)
	while read -r m; do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v t="$TMP/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo)
	# daemons this run started (evaluate.py writes their pids)
	for f in "$TMP"/*/pid; do
		[ -e "$f" ] || continue
		p=$(cat "$f")
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null &&
			grep -q engramfs "/proc/$p/cmdline" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$TMP"
}
PY=""
eval_stop() {
	# pass the signal on to our python (it unmounts what it mounted), then
	# the EXIT trap sweeps whatever is left
	[ -n "$PY" ] && kill -TERM "$PY" 2>/dev/null && wait "$PY" 2>/dev/null
	exit 130
}
trap eval_cleanup EXIT
trap eval_stop INT TERM

# In the background and waited for, so that a signal to this script is
# handled at once rather than after python finishes.
python3 "$HERE/evaluate.py" --build-dir "$B" --tmp "$TMP" --out "$OUT" &
PY=$!
rc=0
wait "$PY" || rc=$?
PY=""
exit "$rc"
