#!/bin/sh
# engramfs-textfile - copy an engramfs mount's metrics file into Prometheus
# node exporter's textfile collector directory.
#
#   engramfs-textfile [-i SECONDS] MNT OUTFILE [STORE]
#
#   MNT       the engramfs mount point (reads MNT/metrics)
#   OUTFILE   the .prom file to write, in the collector's directory
#             (Debian: /var/lib/prometheus/node-exporter/engramfs-NAME.prom)
#   STORE     adds the label store="STORE" to every sample, so that several
#             stores on one host do not collide (node exporter refuses two
#             files with the same series)
#   -i SECS   copy every SECS seconds until killed (engramfs-textfile@.service)
#             instead of once (cron)
#
# The copy is atomic: a hidden temp file in OUTFILE's directory (node
# exporter reads only *.prom), then rename(2).  When MNT/metrics cannot be
# read (the mount is down, or hangs past 10 s) OUTFILE is left as it was:
# node exporter keeps exporting its mtime (node_textfile_mtime_seconds),
# and the EngramMountDown alert fires on its age.  An empty metrics file
# (the monitoring flag is off) is copied as is: EngramMetricsMissing fires.
#
# Exit status (one copy): 0 copied, 1 the mount could not be read or the
# file not written, 2 usage.  In the -i loop, failures are logged once per
# change of state, not once per round.
set -u

prog=engramfs-textfile

usage() {
	echo "usage: $prog [-i SECONDS] MNT OUTFILE [STORE]" >&2
	exit 2
}

interval=
while getopts i: opt; do
	case $opt in
	i) interval=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	usage
fi
mnt=$1 out=$2 store=${3-}
case $out in
*.prom) ;;
*) echo "$prog: '$out' must end in .prom (node exporter reads only those)" >&2; exit 2 ;;
esac
case $interval in
'') ;;
*[!0-9]* | 0) echo "$prog: -i takes a whole number of seconds > 0" >&2; exit 2 ;;
esac
dir=$(dirname -- "$out")

# One copy.  The awk program adds store="STORE" as the first label of each
# sample line (Prometheus text format 0.0.4: NAME[{labels}] VALUE).
copy_once() {
	tmp=$(mktemp "$dir/.$prog.XXXXXX") || return 1
	# shellcheck disable=SC2016  # an awk program, not shell
	if timeout 10 awk -v store="$store" '
		BEGIN {
			gsub(/\\/, "\\\\", store)
			gsub(/"/, "\\\"", store)
		}
		store == "" || /^#/ || /^[ \t]*$/ { print; next }
		{
			b = index($0, "{")
			s = index($0, " ")
			if (b > 0 && b < s)
				print substr($0, 1, b) "store=\"" store "\"," substr($0, b + 1)
			else
				print substr($0, 1, s - 1) "{store=\"" store "\"}" substr($0, s)
		}' "$mnt/metrics" >"$tmp" 2>/dev/null &&
		chmod 0644 "$tmp" && mv -f -- "$tmp" "$out"; then
		return 0
	fi
	rm -f -- "$tmp"
	return 1
}

if [ -z "$interval" ]; then
	copy_once && exit 0
	echo "$prog: cannot copy $mnt/metrics to $out; left as it was" >&2
	exit 1
fi

trap 'rm -f -- "${tmp:-}"; exit 0' TERM INT
state=ok
while :; do
	if copy_once; then
		[ $state = ok ] || echo "$prog: $mnt/metrics is readable again"
		state=ok
	else
		[ $state = failed ] ||
			echo "$prog: cannot copy $mnt/metrics to $out; left as it was (its age shows in node_textfile_mtime_seconds)" >&2
		state=failed
	fi
	sleep "$interval" &
	wait $!
done
