# lib.sh - what the sections of `make bench` share: mounts and cleanup,
# the clock, cache dropping, and the results file.  Sourced by run.sh.
#
# Results.  Every measurement is one line of $RES (tab-separated):
#   m  ID  LABEL  UNIT  V1,V2,...     the rounds of a figure
#   i  KEY  VALUE                     context (a cue's document frequency,
#                                     a fill rate, a note)
# report.py turns them into the Markdown table and the JSON; it knows
# which figure is whose reference and which target it is judged by, so
# the sections only measure.
#
# Mounts.  bench_mount starts a daemon in the foreground in the
# background, waits for the mount point, and remembers both, so the EXIT
# trap can unmount and reap whatever an error left behind.  Every mount
# point and data dir is under $TMP, a mktemp -d dir removed at exit.

TMP=""
MOUNTS=()	# mount points we mounted (FUSE or tmpfs)
PIDS=()		# daemons we started and have not reaped
LOG_ERRORS=""

bench_cleanup() {
	local m p
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null &&
			{ fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; }
	done
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$TMP" ]; then
		# the daemons' logs outlive the run: a crash must be readable
		rm -rf "$OUT/logs" && mkdir -p "$OUT/logs" &&
			cp "$TMP"/*.log "$OUT/logs/" 2>/dev/null || true
		rm -rf "$TMP"
	fi
	return 0
}

bench_die() { echo "bench: $*" >&2; exit 1; }
bench_say() { echo "bench: $(date -u +%T) $*" >&2; }

# now in seconds, with microseconds, without a fork
bench_now() { echo "${EPOCHREALTIME/,/.}"; }
bench_since() { awk -v a="$1" -v b="$(bench_now)" 'BEGIN { printf "%.4f", b - a }'; }

# bench_mount MNT LOG CMD...: start CMD (a daemon in the foreground, maybe
# behind taskset) in the background and wait until MNT is a mount point.
# Sets MOUNT_PID and MOUNT_S (seconds from start to mounted).
bench_mount() {
	local mnt=$1 log=$2 t0
	shift 2
	t0=$(bench_now)
	"$@" >"$log" 2>&1 &
	MOUNT_PID=$!
	PIDS+=("$MOUNT_PID")
	MOUNTS+=("$mnt")
	until mountpoint -q "$mnt"; do
		kill -0 "$MOUNT_PID" 2>/dev/null ||
			{ tail -n 20 "$log" >&2; bench_die "'$*' exited before mounting $mnt"; }
		awk -v a="$t0" -v b="$(bench_now)" -v m="$MOUNT_WAIT_S" 'BEGIN { exit !(b - a > m) }' &&
			bench_die "'$*' did not mount $mnt within ${MOUNT_WAIT_S}s"
		sleep 0.005
	done
	MOUNT_S=$(bench_since "$t0")
}

# The error lines of a daemon's log.  libfuse 3.14 logs "Ignoring invalid
# max threads value 4294967295" when a v1 loop config carries
# max_idle_threads = UINT_MAX (its "not set"); no error of the daemon's.
bench_log_errors() {
	grep -iE '(^|[^a-z])(error|fatal|sanitizer|panic)' "$1" |
		grep -v 'Ignoring invalid max threads value 4294967295' || true
}

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
	for i in $(seq 1 3000); do
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

# bench_tmpfs DIR: a private tmpfs at DIR (the kernel's own file system,
# no FUSE: the reference for ingest, read, stat)
bench_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o size=2g,mode=0755 bench-tmpfs "$1" ||
		bench_die "cannot mount a tmpfs at '$1' (needs root)"
	MOUNTS+=("$1")
}

bench_tmpfs_unmount() { umount "$1" || bench_die "cannot unmount '$1'"; }

# Drop the kernel's page, dentry and inode caches, when we may (root).
# A cold figure is taken after a remount and this; without root, after a
# remount only (said in the results).
bench_drop_caches() {
	sync
	if [ -w /proc/sys/vm/drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}

# VmRSS of PID in MB
bench_rss_mb() {
	awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo nan
}

# ------------------------------------------------------------------
# Results
# ------------------------------------------------------------------

# kv KEY LINE: the value of KEY=... in a key=value line
kv() { local t; for t in $2; do [ "${t%%=*}" = "$1" ] && { echo "${t#*=}"; return; }; done; echo nan; }

# record ID LABEL UNIT VALUE...: one figure and its rounds
record() {
	local id=$1 label=$2 unit=$3 IFS=,
	shift 3
	printf 'm\t%s\t%s\t%s\t%s\n' "$id" "$label" "$unit" "$*" >>"$RES"
}

# note KEY VALUE: context for the report
note() { printf 'i\t%s\t%s\n' "$1" "$2" >>"$RES"; }

# Run benchclient (behind taskset when the step is pinned: PINNED=1).
client() {
	if [ "${PINNED:-0}" = 1 ]; then "${PIN[@]}" "$CLIENT" "$@"; else "$CLIENT" "$@"; fi
}
