#!/usr/bin/env bash
# 04-nightly-snapshot.sh - a nightly hot snapshot of a store, from cron or
# a systemd timer, keeping the last KEEP of them.
#
#   mnt-examples/04-nightly-snapshot.sh [MOUNTPOINT]
#
# mkdir MNT/snapshots/NAME takes a consistent point-in-time copy (a RocksDB
# checkpoint) while writers keep writing; rmdir deletes one; ls lists them
# (docs/backup.md).  This script takes tonight's snapshot,
# nightly-YYYY-MM-DD (kept as it is when it exists, so a second run on the
# same day is harmless), then removes all but the newest KEEP (default 7)
# nightly-* snapshots.  Snapshots with other names are never removed.
#
# Nightly, with the systemd units of systemd/ (installed by make install):
#
#   systemctl enable --now engramfs-snapshot@NAME.timer    # 03:15 + up to 30 min
#   systemctl list-timers 'engramfs-snapshot@*'
#   systemctl start engramfs-snapshot@NAME                 # one now
#
# or with cron (/etc/cron.d/engramfs-snapshot), running this script:
#
#   15 3 * * *  root  /usr/share/doc/engramfs/examples/04-nightly-snapshot.sh /mnt/engram/NAME >/dev/null
#
# With no MOUNTPOINT it mounts a temporary store with $ENGRAMFS.  Exit
# status 0: the snapshot exists; 77: this engramfs has no snapshots yet
# (mkdir fails with ENOSYS), nothing done; 1: anything else failed.
# The narrated commands are single-quoted on purpose: show and expect run
# them with eval, where $M and friends expand.
# shellcheck disable=SC2016,SC2034
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
example_mount "$@"
KEEP=${KEEP:-7}
name=nightly-$(date +%F)

say "# tonight's snapshot: $name"
if [[ -d $M/snapshots/$name ]]; then
	say "$name exists already: kept as it is"
else
	printf '$ mkdir $M/snapshots/%s\n' "$name"
	if ! err=$(LC_ALL=C mkdir "$M/snapshots/$name" 2>&1); then
		if [[ $err == *"Function not implemented"* ]]; then
			echo "snapshots/ is not available in this engramfs (mkdir: ENOSYS): no snapshot taken" >&2
			exit 77
		fi
		echo "$err" >&2
		exit 1
	fi
fi
expect '[[ -d $M/snapshots/$name ]]' "the snapshot $name is listed in snapshots/"

say "# keep the newest $KEEP nightly snapshots"
shopt -s nullglob
nightly=("$M"/snapshots/nightly-*)	# sorted: the dates sort as text
for ((i = 0; i < ${#nightly[@]} - KEEP; i++)); do
	show "rmdir \$M/snapshots/${nightly[i]##*/}"
done
show 'ls $M/snapshots'
say
say "ok: $name taken"
