#!/usr/bin/env bash
# stress.sh - 8 writers and 8 recallers on one mount while consolidation
# runs in a loop (dual_memory_types on), then every count and the offline
# verify must agree.
#
# usage: tests/stress/stress.sh [-t SECONDS] [-w WRITERS] [-r RECALLERS]
#                               [-s SEED] [-b BUILD_DIR]
#
#   -t SECONDS   length of the load (default $STRESS_SECONDS or 10; the full
#                run is 60)
#   -w, -r       writer and recaller processes (default 8 and 8)
#
# Checks, one pass or failure each:
#   1. no process saw an error: every call succeeded, every read gave back
#      what its writer wrote, every recall answer parsed
#      (tests/stress/driver.py);
#   2. counts agree: status "episodes:" equals the regular files under
#      episodes/, "folders:" the folders, and each writer's folder holds
#      exactly its model;
#   3. after a remount the same files with the same content are there;
#   4. a clean unmount, then the offline verify (tests/crash/verify.c:
#      tree, content hashes, counters, flags, store_verify) is clean;
#   5. the daemon's log has no sanitizer report or failed assertion;
#   6. one short round of the full disk (enospc.sh -n 1 -w 5: ENOSPC,
#      reads, listing and recall while full, writes again without a
#      remount, nothing lost); STRESS_ENOSPC=0 leaves it out.
# Ends with "N passed, N failed".
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../crash/mountlib.bash
source "$ROOT/tests/crash/mountlib.bash"

SECONDS_LOAD=${STRESS_SECONDS:-10}
W=8 R=8 SEED=${STRESS_SEED:-$(date +%s)} BUILD=$ROOT/build
while getopts "t:w:r:s:b:" o; do
	case $o in
	t) SECONDS_LOAD=$OPTARG ;;
	w) W=$OPTARG ;;
	r) R=$OPTARG ;;
	s) SEED=$OPTARG ;;
	b) BUILD=$OPTARG ;;
	*) sed -n '2,12p' "$0" >&2; exit 2 ;;
	esac
done
passed=0 failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
# shellcheck disable=SC2034  # ML_FAILED is read by mountlib.bash
bad() { echo "FAIL $*"; failed=$((failed + 1)); ML_FAILED=1; }
finish() { echo "$passed passed, $failed failed"; [[ $failed -eq 0 ]]; exit; }

ml_require_fuse stress
trap ml_cleanup EXIT
ml_init "$BUILD" stress || { bad "setup"; finish; }
VERIFY=$("$ROOT/tests/crash/build-verify.sh" "$ML_BUILD") || { bad "build verify"; finish; }
ml_start || { bad "mount"; finish; }
M=$ML_MNT

echo "stress: $W writers, $R recallers, consolidation in a loop, ${SECONDS_LOAD} s, seed $SEED"
if python3 "$HERE/driver.py" "$M" "$SECONDS_LOAD" "$W" "$R" "$SEED"; then
	ok "load: no error in any writer, recaller or consolidation"
else
	bad "load: errors (above)"
fi

# snapshot NAME: path, size and sha256 of every episode, into $ML_WORK/NAME
snapshot() {
	(cd "$M/episodes" && find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum) >"$ML_WORK/$1"
}

counts_agree() {
	local files folders se sf
	files=$(find "$M/episodes" -type f | wc -l)
	folders=$(find "$M/episodes" -mindepth 1 -type d | wc -l)
	se=$(sed -n 's/^episodes: //p' "$M/status")
	sf=$(sed -n 's/^folders: //p' "$M/status")
	if [[ $se == "$files" && $sf == "$folders" ]]; then
		ok "counts $1: status episodes $se = $files files, folders $sf = $folders"
	else
		bad "counts $1: status says episodes $se, folders $sf; the tree has $files files, $folders folders"
	fi
}

counts_agree "after the load"
# Each writer's folder is its model.
if python3 - "$M" "$ML_WORK/stress-model.json" <<-'EOF'
	import hashlib, json, os, sys
	m, models = sys.argv[1], json.load(open(sys.argv[2]))
	bad = 0
	for w, model in models.items():
	    d = os.path.join(m, "episodes", w)
	    found = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
	             for n in os.listdir(d)}
	    if found != model:
	        bad += 1
	        print("stress: %s: %d files, model %d; differ: %s" % (w, len(found), len(model),
	              sorted(set(found.items()) ^ set(model.items()))[:5]))
	sys.exit(1 if bad else 0)
EOF
then
	ok "every writer's folder holds exactly what it wrote"
else
	bad "a writer's folder differs from its model"
fi
snapshot before
if ml_stop && ml_start; then
	snapshot after
	if cmp -s "$ML_WORK/before" "$ML_WORK/after"; then
		ok "after a remount: $(wc -l <"$ML_WORK/after") episodes, same content"
	else
		bad "after a remount the episodes differ: $(diff "$ML_WORK/before" "$ML_WORK/after" | head -n 5)"
	fi
	counts_agree "after the remount"
else
	bad "remount"
fi
if ml_stop; then
	ok "clean unmount"
	out=$("$VERIFY" "$ML_DATA" 2>&1)
	if [[ $? -eq 0 ]]; then
		ok "offline verify: $(tail -n 1 <<<"$out")"
	else
		bad "offline verify:"
		sed 's/^/    /' <<<"$out" | head -n 40
	fi
else
	bad "clean unmount"
fi
if ml_sanitizer_report || grep -Eq "Assertion .* failed|terminate called" "$ML_LOG"; then
	bad "the daemon log has a sanitizer report or a failed assertion ($ML_LOG)"
fi
grep -E "error" "$ML_LOG" | grep -v "warning" | head -n 5
if [[ ${STRESS_ENOSPC:-1} == 1 ]]; then
	out=$("$HERE/enospc.sh" -n 1 -w 5 -b "$BUILD" 2>&1)
	case $(tail -n 1 <<<"$out") in
	"1 passed, 0 failed") ok "full disk: $(grep -m1 'reads while full' <<<"$out")" ;;
	*skipped*) echo "skip full disk: $(tail -n 2 <<<"$out" | head -n 1)" ;;
	*) bad "full disk (enospc.sh):"; sed 's/^/    /' <<<"$out" | tail -n 20 ;;
	esac
fi
finish
