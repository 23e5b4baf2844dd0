# common.sh - what the walk-throughs share; sourced, not run.
#
#   example_mount "$@"    M = the engramfs mount point given as $1; with no
#                         argument, mount a fresh temporary store with
#                         $ENGRAMFS and unmount it when the script exits
#   say TEXT...           a line of narration
#   show 'COMMAND'        print "$ COMMAND" and run it (eval, in this shell)
#   expect COND MESSAGE   stop the example (exit 1) when COND is false
#   metric NAME [LABEL="VALUE"]...
#                         the sum of NAME's samples in $M/metrics (or in the
#                         file $METRICS, a copy taken earlier) that carry
#                         every given label pair (0 when none)
#
# ENGRAMFS: the daemon for the temporary store; default engramfs on PATH,
# else build/engramfs of this checkout.
# shellcheck shell=bash

set -euo pipefail

EXAMPLES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() {
	printf '%s\n' "$*"
}

show() {
	printf '$ %s\n' "$1"
	eval "$1"
}

expect() {
	if ! eval "$1"; then
		echo "example failed: $2" >&2
		exit 1
	fi
}

metric() {
	local name=$1
	shift
	awk -v name="$name" -v want="$*" '
		/^#/ { next }
		{
			n = $1
			sub(/\{.*/, "", n)
			if (n != name)
				next
			k = split(want, w, " ")
			for (i = 1; i <= k; i++)
				if (index($1, w[i]) == 0)
					next
			sum += $NF
		}
		END { printf "%.9g\n", sum + 0 }' "${METRICS:-$M/metrics}"
}

# Is $1 an engramfs mount?  Its status file has a version line.
is_engramfs() {
	[[ -f $1/status ]] && grep -q '^version: ' "$1/status" 2>/dev/null
}

# Is process $1 running (and not a zombie)?
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && ${st:0:1} != Z ]]
}

example_unmount() {
	local pid="" i
	[[ -n ${EXAMPLE_TMP:-} ]] || return 0
	if is_engramfs "$M"; then
		pid=$(sed -n 's/^pid: //p' "$M/status" 2>/dev/null || true)
		fusermount3 -u "$M" 2>/dev/null || fusermount3 -uz "$M"
	fi
	# The daemon commits and closes the store after the unmount.  (Not
	# kill -0: the daemonised process is not our child, and kill -0 is
	# true for a zombie until init reaps it.)
	for ((i = 0; i < 200; i++)); do
		if [[ -z $pid ]] || ! alive "$pid"; then
			break
		fi
		sleep 0.05
	done
	rm -rf "$EXAMPLE_TMP"
}

example_mount() {
	if [[ $# -ge 1 && -n $1 ]]; then
		M=$(cd "$1" && pwd) || exit 2
		is_engramfs "$M" || { echo "$1 is not an engramfs mount" >&2; exit 2; }
		return 0
	fi
	local bin=${ENGRAMFS:-}
	if [[ -z $bin ]]; then
		bin=$(command -v engramfs || echo "$EXAMPLES_DIR/../build/engramfs")
	fi
	[[ -x $bin ]] || { echo "no engramfs daemon at '$bin' (set ENGRAMFS)" >&2; exit 2; }
	EXAMPLE_TMP=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-example.XXXXXX")
	M=$EXAMPLE_TMP/mnt
	mkdir -p "$EXAMPLE_TMP/data" "$M"
	trap example_unmount EXIT
	# Without -f the daemon returns once the mount answers (or fails).
	"$bin" "$EXAMPLE_TMP/data" "$M"
	say "(a temporary store is mounted at $M)"
}
