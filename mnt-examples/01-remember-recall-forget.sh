#!/usr/bin/env bash
# 01-remember-recall-forget.sh - the basic loop of engramfs in a shell:
# remember episodes (files), read one back, recall by cue, add metadata,
# back-date one, ask a long cue through the query file, forget one.
#
#   mnt-examples/01-remember-recall-forget.sh [MOUNTPOINT]
#
# With no MOUNTPOINT it mounts a temporary store with $ENGRAMFS (default:
# engramfs on PATH, else build/engramfs of this checkout) and unmounts it
# at the end.  On a real mount it touches only episodes/examples-01/, which
# it empties first and removes at the end (KEEP=1 keeps it for a look), so
# it can run any number of times.  It exits 1 when engramfs does not do
# what the narration says (the test suite runs it: tests/e2e/90-examples.bats).
# The narrated commands are single-quoted on purpose: show and expect run
# them with eval, where $M and friends expand.
# shellcheck disable=SC2016,SC2034
# shellcheck source=common.sh source-path=SCRIPTDIR
. "$(dirname "$0")/common.sh"
example_mount "$@"
D=examples-01
cleanup() {
	[[ ${KEEP:-0} == 1 ]] || rm -rf "${M:?}/episodes/$D"
	example_unmount
}
trap cleanup EXIT
rm -rf "${M:?}/episodes/$D"
mkdir "$M/episodes/$D"

say "# Remember: an episode is a file; it is committed when it is closed."
show 'echo "Met Alice for coffee at the station" > $M/episodes/$D/coffee-alice'
show 'echo "Bob fixed the bike chain on Sunday" > $M/episodes/$D/bike'
show 'printf "Standup: shipped the importer\nthen lunch with Alice\n" > $M/episodes/$D/standup'
show 'cat $M/episodes/$D/coffee-alice'
expect '[[ $(cat "$M/episodes/$D/coffee-alice") == "Met Alice for coffee at the station" ]]' \
	"an episode reads back as written"

say
say "# Recall: reading any name under recall/ runs a query (under= keeps to a folder)."
show 'cat "$M/recall/coffee with alice?under=$D"'
top=$(head -n 1 "$M/recall/coffee with alice?under=$D" | cut -f 1)
expect '[[ $top == "$D/coffee-alice" ]]' "the coffee episode is the best match (got '$top')"
say "# format=paths prints the episodes' files, for xargs:"
show 'cat "$M/recall/bike chain?under=$D&format=paths" | xargs -d "\n" cat'

say
say "# Metadata are extended attributes; confidence (0..1) scales the score."
show 'setfattr -n user.engram.who -v "Alice" $M/episodes/$D/coffee-alice'
show 'setfattr -n user.engram.confidence -v 0.9 $M/episodes/$D/coffee-alice'
show 'getfattr --absolute-names -d -m "^user\.engram\." $M/episodes/$D/coffee-alice'

say
say "# When an episode happened is its mtime: back-date the bike repair."
show 'touch -d "60 days ago" $M/episodes/$D/bike'
show 'cat "$M/recall/bike chain?under=$D&since=7d"'
expect '[[ -z $(cat "$M/recall/bike chain?under=$D&since=7d") ]]' \
	"since=7d leaves out an episode from 60 days ago"

say
say "# Long or structured cues go through the query file: write, then read on the same descriptor."
show 'exec 3<>$M/query; printf "%s\n?under=$D&limit=1" "what did we ship at the standup" >&3; cat <&3; exec 3>&-'

say
say "# Forget: rm removes the episode, its index entries and its bindings."
show 'rm $M/episodes/$D/coffee-alice'
show 'cat "$M/recall/coffee with alice?under=$D"'
expect '! grep -q "^$D/coffee-alice	" "$M/recall/coffee with alice?under=$D"' \
	"a removed episode is not recalled"
say
say "ok: remembered, recalled, forgot"
