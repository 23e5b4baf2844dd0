#!/usr/bin/env bash
# 03-auto-ingest-notes.sh - keep a notes directory remembered: inotifywait
# watches it and every new or changed note is copied into episodes/.
#
#   mnt-examples/03-auto-ingest-notes.sh [MOUNTPOINT [NOTES_DIR]]
#
#   NOTES_DIR    watch this directory (and below) and copy each note that
#                is written (close_write) or moved in (moved_to, how most
#                editors save) to episodes/$DEST/ with the same relative
#                path, keeping its mtime (the episode's "when").  Names
#                starting with "." and ending in "~" or ".swp" (editor
#                temp files) are skipped.  Deleting a note does not forget
#                the episode (add -e delete and an rm to want that).
#                A file written at once into a new subdirectory may be
#                missed: -r adds the watch on the new directory a moment
#                after it appears (inotifywait(1), caveats).
#   no NOTES_DIR a demonstration: a temporary notes dir is watched while
#                this script writes, rewrites and moves in notes, then the
#                episodes are shown and recalled.
#
# The run is bounded: it stops after MAX_EVENTS copies (default 4 in the
# demonstration, 100 otherwise) or TIMEOUT seconds (default 10; 0 = no
# limit), so it can run from cron or a test; for a permanent watcher run it
# from a systemd service with MAX_EVENTS=0 TIMEOUT=0.  DEST defaults to
# "notes" ("examples-03" in the demonstration, which is emptied first and
# removed at the end).  With no MOUNTPOINT it mounts a temporary store with
# $ENGRAMFS.
# The narrated commands are single-quoted on purpose: show and expect run
# them with eval, where $M and friends expand.
# shellcheck disable=SC2016,SC2034
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
example_mount "${1:-}"
NOTES=${2:-}
DEMO=0
[[ -n $NOTES ]] || DEMO=1
if [[ $DEMO == 1 ]]; then
	DEST=${DEST:-examples-03}
	MAX_EVENTS=${MAX_EVENTS:-4}
else
	DEST=${DEST:-notes}
	MAX_EVENTS=${MAX_EVENTS:-100}
fi
TIMEOUT=${TIMEOUT:-10}
command -v inotifywait >/dev/null || { echo "inotifywait is missing (Debian: inotify-tools)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/engramfs-ingest.XXXXXX")
WATCH_PID=""
cleanup() {
	[[ -z $WATCH_PID ]] || kill "$WATCH_PID" 2>/dev/null || true
	[[ $DEMO == 0 ]] || rm -rf "${M:?}/episodes/$DEST"
	rm -rf "$WORK"
	example_unmount
}
trap cleanup EXIT
if [[ $DEMO == 1 ]]; then
	NOTES=$WORK/notes
	# trips/ exists before the watch: a file written at once into a brand
	# new subdirectory can beat inotifywait's watch on it (see below).
	mkdir -p "$NOTES/trips"
	rm -rf "${M:?}/episodes/$DEST"
fi
NOTES=$(cd "$NOTES" && pwd)
mkdir -p "$M/episodes/$DEST"

# The watcher writes one path a line into a FIFO; reading it here with
# read -t bounds both the number of events and the time, and the watcher
# is killed by its pid when either runs out.
mkfifo "$WORK/events"
inotifywait -m -r -e close_write -e moved_to --format '%w%f' "$NOTES" \
	>"$WORK/events" 2>"$WORK/watch.log" &
WATCH_PID=$!
exec 5<"$WORK/events"
for ((i = 0; i < 100; i++)); do
	grep -q 'Watches established' "$WORK/watch.log" && break
	sleep 0.05
done
say "# watching $NOTES -> episodes/$DEST/ (at most $MAX_EVENTS notes, $TIMEOUT s)"

if [[ $DEMO == 1 ]]; then
	# What a person (or an editor) does in the notes dir meanwhile.
	(
		sleep 0.1
		echo "Standup: the importer shipped; Alice reviews the exporter" >"$NOTES/standup.md"
		echo "Train to Lyon, seat 42, coffee in the bar car" >"$NOTES/trips/lyon.md"
		echo "Standup: the importer shipped; Alice reviews the exporter on Friday" >"$NOTES/standup.md"
		echo "Groceries: oat milk, lentils, basil" >"$NOTES/.groceries.md.swp"
		echo "Groceries: oat milk, lentils, basil" >"$NOTES/.groceries.tmp"
		mv "$NOTES/.groceries.tmp" "$NOTES/groceries.md"
	) &
fi

copied=0
start=$SECONDS
while [[ $MAX_EVENTS == 0 || $copied -lt $MAX_EVENTS ]]; do
	if [[ $TIMEOUT == 0 ]]; then
		wait_s=3600
	else
		wait_s=$((TIMEOUT - (SECONDS - start)))
		[[ $wait_s -gt 0 ]] || break
	fi
	IFS= read -r -t "$wait_s" -u 5 path || break
	rel=${path#"$NOTES"/}
	case ${rel##*/} in
	.* | *~ | *.swp) continue ;;
	esac
	[[ -f $path ]] || continue
	mkdir -p "$M/episodes/$DEST/$(dirname "$rel")"
	cp --preserve=timestamps "$path" "$M/episodes/$DEST/$rel"
	copied=$((copied + 1))
	say "remembered $rel"
done
kill "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
say "# $copied notes copied"

if [[ $DEMO == 1 ]]; then
	wait
	say
	show 'ls -R $M/episodes/$DEST'
	show 'cat $M/episodes/$DEST/standup.md'
	expect '[[ $(cat "$M/episodes/$DEST/standup.md") == *"on Friday" ]]' \
		"a rewritten note is copied again"
	expect '[[ ! -e $M/episodes/$DEST/.groceries.md.swp ]]' "editor temp files are skipped"
	show 'cat "$M/recall/train to lyon?under=$DEST"'
	expect 'grep -q "^$DEST/trips/lyon.md	" "$M/recall/train to lyon?under=$DEST"' \
		"an ingested note is recalled"
	expect '[[ $copied -eq 4 ]]' "4 notes copied (got $copied)"
	say
	say "ok: notes ingested as they were written"
fi
