# ingest.sh - the ingest and file sections of `make bench` (sourced by
# run.sh; uses lib.sh).
#
# Ingest: N_INGEST episodes of the corpus (create, write, close), one
# writer and two, into a fresh engramfs, a fresh floorfs (the FUSE floor)
# and a fresh tmpfs, alternating within each of ROUNDS rounds so drift
# hits all alike.  One-writer runs are pinned (BENCH_PIN, see run.sh) with
# their daemon; two-writer runs are not, two writers need two CPUs.
# Durable: N_DURABLE episodes with fsync per episode from 8 writers,
# against rocksdb_sync (a sync=true put loop) with 1 and with 8 threads.
#
# Files: read (open+read+close, content checked) and stat of every one of
# the N_INGEST episodes, cold (after a remount and dropping the kernel's
# caches) and warm (again, right after), against tmpfs holding the same
# files (tmpfs cannot be made cold: its files are its page cache), and
# floorfs holding them (warm only: it keeps them in memory), the most any
# FUSE daemon that answers OPEN, READ, FLUSH and RELEASE can give.

ingest_floor() {	# WRITERS R
	local mnt=$TMP/floor$1-$2 log=$TMP/floor$1-$2.log line
	mkdir -p "$mnt"
	if [ "$1" = 1 ]; then
		bench_mount "$mnt" "$log" "${PIN[@]}" "$FLOOR" -f "$mnt"
	else
		bench_mount "$mnt" "$log" "$FLOOR" -f "$mnt"
	fi
	line=$(PINNED=$(($1 == 1)) client -c "$CORPUS" -j "$1" ingest "$mnt" "$N_INGEST" "$SIZE")
	FLOOR_W[$1]+=" $(kv files_per_s "$line")"
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
}

ingest_engram() {	# WRITERS R
	local mnt=$TMP/mnt data=$TMP/ingest$1-$2 log=$TMP/engramfs-ingest$1-$2.log line
	mkdir -p "$mnt" "$data"
	if [ "$1" = 1 ]; then
		bench_mount "$mnt" "$log" "${PIN[@]}" "$DAEMON" -f -o config="$CONF" "$data" "$mnt"
	else
		bench_mount "$mnt" "$log" "$DAEMON" -f -o config="$CONF" "$data" "$mnt"
	fi
	line=$(PINNED=$(($1 == 1)) client -c "$CORPUS" -j "$1" ingest "$mnt/episodes" "$N_INGEST" "$SIZE")
	ENGRAM_W[$1]+=" $(kv files_per_s "$line")"
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
	if [ "$1" = 1 ]; then FILES_STORE=$data; else rm -rf "$data"; fi
}

ingest_tmpfs() {	# WRITERS R
	local dir=$TMP/tmpfs line
	bench_tmpfs "$dir"
	line=$(PINNED=$(($1 == 1)) client -c "$CORPUS" -j "$1" ingest "$dir" "$N_INGEST" "$SIZE")
	TMPFS_W[$1]+=" $(kv files_per_s "$line")"
	bench_tmpfs_unmount "$dir"
}

ingest_durable() {	# R
	local mnt=$TMP/mnt data=$TMP/durable$1 log=$TMP/engramfs-durable$1.log line
	mkdir -p "$mnt" "$data"
	bench_mount "$mnt" "$log" "$DAEMON" -f -o config="$CONF" "$data" "$mnt"
	line=$(client -c "$CORPUS" -j 8 -y -m "$DURABLE_MAX_S" ingest "$mnt/episodes" "$N_DURABLE" "$SIZE")
	DURABLE+=" $(kv files_per_s "$line")"
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
	rm -rf "$data" "$TMP/rocks"
	line=$("$ROCKS" "$CORPUS" "$TMP/rocks" "$N_ROCKS1" 1)
	ROCKS_W[1]+=" $(kv puts_per_s "$line")"
	rm -rf "$TMP/rocks"
	line=$("$ROCKS" "$CORPUS" "$TMP/rocks" "$N_DURABLE" 8)
	ROCKS_W[8]+=" $(kv puts_per_s "$line")"
	rm -rf "$TMP/rocks"
}

section_ingest() {
	local r w
	declare -gA FLOOR_W=() ENGRAM_W=() TMPFS_W=() ROCKS_W=()
	DURABLE=""
	for r in $(seq 1 "$ROUNDS"); do
		bench_say "ingest round $r/$ROUNDS: $N_INGEST episodes, 1 and 2 writers"
		for w in 1 2; do
			ingest_floor "$w" "$r"
			ingest_engram "$w" "$r"
			ingest_tmpfs "$w" "$r"
		done
		bench_say "durable ingest round $r/$ROUNDS: $N_DURABLE episodes, fsync each, 8 writers"
		ingest_durable "$r"
	done
	# shellcheck disable=SC2086  # the rounds, one word each
	for w in 1 2; do
		record "ingest.${w}w" "ingest, $w writer(s), $N_INGEST episodes" files/s ${ENGRAM_W[$w]}
		record "ingest.${w}w.floor" "floorfs (the FUSE floor)" files/s ${FLOOR_W[$w]}
		record "ingest.${w}w.tmpfs" "tmpfs" files/s ${TMPFS_W[$w]}
	done
	# shellcheck disable=SC2086
	{
		record durable.8w "durable ingest, fsync each, 8 writers" files/s $DURABLE
		record durable.rocks1 "RocksDB sync=true put loop, 1 thread" puts/s ${ROCKS_W[1]}
		record durable.rocks8 "RocksDB sync=true puts, 8 threads" puts/s ${ROCKS_W[8]}
	}
}

# files_pass KIND DIR COLD: one read or stat pass over the N_INGEST files
files_pass() {
	local line
	line=$(PINNED=1 client -c "$CORPUS" "$1" "$2" "$N_INGEST" "$SIZE")
	kv files_per_s "$line"
}

# files_engram KIND: ROUNDS cold passes (each after a remount and a cache
# drop) and ROUNDS warm passes of KIND (read or stat)
files_engram() {
	local kind=$1 mnt=$TMP/mnt log r cold="" warm=""
	for r in $(seq 1 "$ROUNDS"); do
		log=$TMP/engramfs-files-$kind$r.log
		bench_drop_caches
		bench_mount "$mnt" "$log" "${PIN[@]}" "$DAEMON" -f -o config="$CONF" "$FILES_STORE" "$mnt"
		cold+=" $(files_pass "$kind" "$mnt/episodes")"
		warm+=" $(files_pass "$kind" "$mnt/episodes")"
		bench_unmount "$mnt" "$MOUNT_PID" "$log"
	done
	# shellcheck disable=SC2086
	{
		record "$kind.cold" "$kind every episode, cold ($N_INGEST)" files/s $cold
		record "$kind.warm" "$kind every episode, warm ($N_INGEST)" files/s $warm
	}
}

files_tmpfs() {
	local dir=$TMP/tmpfs r kind
	local -A cold=() warm=()
	bench_tmpfs "$dir"
	PINNED=1 client -c "$CORPUS" ingest "$dir" "$N_INGEST" "$SIZE" >/dev/null
	for r in $(seq 1 "$ROUNDS"); do
		for kind in read stat; do
			bench_drop_caches
			cold[$kind]+=" $(files_pass "$kind" "$dir")"
			warm[$kind]+=" $(files_pass "$kind" "$dir")"
		done
	done
	bench_tmpfs_unmount "$dir"
	for kind in read stat; do
		# shellcheck disable=SC2086
		{
			record "$kind.cold.tmpfs" "tmpfs" files/s ${cold[$kind]}
			record "$kind.warm.tmpfs" "tmpfs" files/s ${warm[$kind]}
		}
	done
}

files_floor() {
	local mnt=$TMP/floor-files log=$TMP/floor-files.log r kind
	local -A warm=()
	mkdir -p "$mnt"
	bench_mount "$mnt" "$log" "${PIN[@]}" "$FLOOR" -f "$mnt"
	PINNED=1 client -c "$CORPUS" ingest "$mnt" "$N_INGEST" "$SIZE" >/dev/null
	for r in $(seq 1 "$ROUNDS"); do
		for kind in read stat; do
			files_pass "$kind" "$mnt" >/dev/null	# fills the caches
			warm[$kind]+=" $(files_pass "$kind" "$mnt")"
		done
	done
	bench_unmount "$mnt" "$MOUNT_PID" "$log"
	for kind in read stat; do
		# shellcheck disable=SC2086
		record "$kind.warm.floor" "floorfs (the FUSE floor)" files/s ${warm[$kind]}
	done
}

section_files() {
	bench_say "read and stat of $N_INGEST episodes, cold and warm"
	files_engram read
	files_engram stat
	files_tmpfs
	files_floor
	rm -rf "$FILES_STORE"
}
