#!/bin/sh
# run.sh - start or stop a development mount of engramfs (make run / make stop).
#
#   scripts/run.sh start DATA MNT CONF   mount DATA at MNT in the background
#   scripts/run.sh stop  DATA MNT        unmount and wait for the daemon to exit
#
# The daemon is build/engramfs (or $ENGRAMFS); it logs to syslog/the journal
# when daemonised (`journalctl -t engramfs`).
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${ENGRAMFS:-$here/build/engramfs}

die() { echo "run.sh: $*" >&2; exit 1; }

is_engramfs_mount() {
	# /proc/self/mountinfo: field 5 is the mount point, after " - " the type.
	awk -v m="$1" '$5 == m { for (i = 6; i <= NF; i++) if ($i == "-") { print $(i+1); exit } }' \
		/proc/self/mountinfo | grep -qx 'fuse.engramfs'
}

is_stale() {
	stat "$1" 2>&1 >/dev/null | grep -q 'not connected'
}

daemon_pid() {
	# The engramfs process serving DATA, if any.
	pgrep -f -x "$bin .* $1 $2" 2>/dev/null | head -n 1 || true
}

start() {
	data=$1 mnt=$2 conf=$3
	mkdir -p "$data" "$mnt"
	data=$(cd "$data" && pwd)
	case $mnt in /*) ;; *) mnt=$(pwd)/$mnt ;; esac
	# A daemon that died leaves "Transport endpoint is not connected";
	# mountpoint(1) still calls that a mount point, stat(1) does not.
	if is_stale "$mnt"; then
		echo "clearing a stale mount at $mnt"
		fusermount3 -uz "$mnt"
	fi
	if mountpoint -q "$mnt" 2>/dev/null; then
		if is_engramfs_mount "$mnt"; then
			echo "engramfs is already mounted at $mnt"
			exit 0
		fi
		die "$mnt is already a mount point of something else"
	fi
	[ -x "$bin" ] || die "$bin is missing: run make first"
	if [ -f "$conf" ]; then
		"$bin" -o "config=$conf" "$data" "$mnt"
	else
		echo "run.sh: no config at $conf, using the built-in defaults" >&2
		"$bin" "$data" "$mnt"
	fi
	# The daemon returns once mounted; wait a little in case of a slow kernel.
	i=0
	until mountpoint -q "$mnt"; do
		i=$((i + 1))
		[ $i -le 50 ] || die "$mnt did not come up (see: journalctl -t engramfs)"
		sleep 0.1
	done
	cat <<EOF
engramfs: $data mounted at $mnt

Try:
  echo "Met Alice for coffee at the station" > $mnt/episodes/coffee-alice
  cat "$mnt/recall/coffee with alice"
  echo 1 > $mnt/flags/blended_recall; cat $mnt/flags/.history

stop with: make stop
EOF
}

stop() {
	data=$1 mnt=$2
	[ -d "$mnt" ] || { echo "nothing mounted at $mnt"; exit 0; }
	data=$(cd "$data" 2>/dev/null && pwd || echo "$data")
	case $mnt in /*) ;; *) mnt=$(pwd)/$mnt ;; esac
	pid=$(daemon_pid "$data" "$mnt")
	if is_stale "$mnt"; then
		fusermount3 -uz "$mnt"
	elif mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" || die "cannot unmount $mnt (files still open? try: fuser -vm $mnt)"
	else
		echo "nothing mounted at $mnt"
	fi
	# The daemon flushes and closes the store after the unmount.
	if [ -n "$pid" ]; then
		i=0
		while kill -0 "$pid" 2>/dev/null; do
			i=$((i + 1))
			[ $i -le 100 ] || die "engramfs (pid $pid) is still running after 10 s"
			sleep 0.1
		done
	fi
	echo "engramfs: $mnt unmounted"
}

case ${1:-} in
start) [ $# -eq 4 ] || die "usage: run.sh start DATA MNT CONF"; start "$2" "$3" "$4" ;;
stop)  [ $# -eq 3 ] || die "usage: run.sh stop DATA MNT"; stop "$2" "$3" ;;
*)     die "usage: run.sh start DATA MNT CONF | stop DATA MNT" ;;
esac
