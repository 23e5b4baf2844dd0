#!/usr/bin/env bash
# 02-canary-rollout.sh - a canary rollout of blended recall driven by
# flags/, with the two cohorts compared in the metrics file, and the
# one-write rollback.
#
#   mnt-examples/02-canary-rollout.sh [MOUNTPOINT]
#
# The ramp of docs/rollout.md in miniature: blended_recall and fan_effect
# on, then blended_recall.cohort_sampling_rate 0.05 -> 0.25 -> 0.5 -> 1.
# At each step USERS callers (cohort keys u01, u02, ... given as user= in
# the query, as an application would pass its user id) each recall once;
# the step's line shows how many landed in the treatment cohort (from each
# answer's JSON) and the deltas of engram_recall_total and
# engram_recall_duration_seconds by cohort (from MNT/metrics), which is
# what a dashboard compares.  Then `echo 0 > flags/blended_recall` rolls
# back: the next recalls are all episodic.
#
# It writes flags: run it on a test store (with no MOUNTPOINT it mounts a
# temporary one with $ENGRAMFS).  On exit it puts back the values the three
# flags had.  Its episodes live in episodes/examples-02/, emptied first and
# removed at the end.  Needs root or the mount's owner (flags/ is theirs).
# The narrated commands are single-quoted on purpose: show and expect run
# them with eval, where $M and friends expand.
# shellcheck disable=SC2016,SC2034
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
example_mount "$@"
D=examples-02
USERS=${USERS:-40}
FLAGS=(blended_recall fan_effect blended_recall.cohort_sampling_rate)
declare -A saved
for f in "${FLAGS[@]}"; do
	saved[$f]=$(cat "$M/flags/$f")
done
cleanup() {
	for f in "${FLAGS[@]}"; do
		echo "${saved[$f]}" >"$M/flags/$f" 2>/dev/null || true
	done
	rm -rf "${M:?}/episodes/$D"
	example_unmount
}
trap cleanup EXIT
rm -rf "${M:?}/episodes/$D"
mkdir "$M/episodes/$D"
for i in 1 2 3 4 5 6; do
	echo "Deploy $i of the billing service went out after the canary held" >"$M/episodes/$D/deploy-$i"
done
echo "Coffee with Alice at the station" >"$M/episodes/$D/coffee"

# One recall per caller; prints how many were in the treatment cohort.
recall_round() {
	local u n=0
	for ((u = 1; u <= USERS; u++)); do
		if grep -q '"cohort":"treatment"' \
			"$M/recall/billing deploy canary?user=$(printf 'u%02d' "$u")&under=$D&format=json"; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

# figures FILE: from a copy of the metrics file, the recalls of each
# cohort, the blended ones, and each cohort's latency sum and count.
figures() {
	awk '
		/^#/ { next }
		/^engram_recall_total\{cohort="control"/ { c += $NF }
		/^engram_recall_total\{cohort="treatment"/ { t += $NF }
		/^engram_recall_total\{.*mode="blended"/ { b += $NF }
		/^engram_recall_duration_seconds_sum\{cohort="control"/ { cs += $NF }
		/^engram_recall_duration_seconds_count\{cohort="control"/ { cn += $NF }
		/^engram_recall_duration_seconds_sum\{cohort="treatment"/ { ts += $NF }
		/^engram_recall_duration_seconds_count\{cohort="treatment"/ { tn += $NF }
		END { printf "%d %d %d %.9f %d %.9f %d\n", c, t, b, cs, cn, ts, tn }' "$1"
}

# step LABEL: one round of recalls and a line comparing the cohorts (the
# growth of each figure over the round).
step() {
	local label=$1 before after treat b0 b1
	before=$(figures "$M/metrics")
	treat=$(recall_round)
	after=$(figures "$M/metrics")
	awk -v l="$label" -v tr="$treat/$USERS" -v x="$before" -v y="$after" 'BEGIN {
		split(x, a, " "); split(y, z, " ")
		for (i = 1; i <= 7; i++) d[i] = z[i] - a[i]
		cm = d[5] > 0 ? sprintf("%.2f", d[4] / d[5] * 1000) : "-"
		tm = d[7] > 0 ? sprintf("%.2f", d[6] / d[7] * 1000) : "-"
		printf "%-18s %9s %9d %9d %9d %8s %8s\n", l, tr, d[1], d[2], d[3], cm, tm
	}'
	read -r _ _ b0 _ <<<"$before"
	read -r _ _ b1 _ <<<"$after"
	STEP_TREAT=$treat STEP_BLENDED=$((b1 - b0))
}

say "# Start: the conservative baseline, everyone on episodic recall."
show 'echo 0 > $M/flags/blended_recall; echo 0 > $M/flags/blended_recall.cohort_sampling_rate'
say
printf '%-18s %9s %9s %9s %9s %8s %8s\n' "" "callers" control treatment "" control treatment
printf '%-18s %9s %9s %9s %9s %8s %8s\n' step "in treat." recalls recalls blended "mean ms" "mean ms"
step "baseline (off)"
expect '[[ $STEP_BLENDED -eq 0 ]]' "no blended recall while blended_recall is 0"
echo 1 >"$M/flags/blended_recall"
echo 1 >"$M/flags/fan_effect"
last=0
for rate in 0.05 0.25 0.5 1; do
	echo "$rate" >"$M/flags/blended_recall.cohort_sampling_rate"
	step "canary rate $rate"
	expect '[[ $STEP_TREAT -ge $last ]]' "a caller stays in treatment while the rate grows"
	expect '[[ $STEP_BLENDED -eq $STEP_TREAT ]]' "the treatment cohort gets blended recall"
	last=$STEP_TREAT
done
expect '[[ $STEP_TREAT -eq $USERS ]]' "at rate 1 every caller is in the treatment cohort"

say
say "# Rollback: one write, effective for the next recall."
show 'echo 0 > $M/flags/blended_recall'
step "rolled back"
say "(with blended_recall off every caller is control, and recall is episodic again;"
say " turn it back on and each caller returns to the cohort it had: same key, same cohort)"
expect '[[ $STEP_BLENDED -eq 0 ]]' "no blended recall after the rollback"

say
say "# Every change, with time, uid and source, is in flags/.history:"
show 'tail -n 7 $M/flags/.history'
say
say "ok: ramped 5% -> 100% and rolled back"
