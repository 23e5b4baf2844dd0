#!/usr/bin/env bats
# episodes/: regular files with POSIX behaviour, metadata as xattrs, limits.
# One mount for the file (allow_other, so tests can act as another user);
# each test works under its own names.

load helpers

setup_file() {
	setup_mount --public -o allow_other
}

teardown_file() {
	teardown_mount
}

setup() {
	mark_log
	E=$M/episodes
	T=t$BATS_TEST_NUMBER
	RESTORE_FLAG=""
}

teardown() {
	if [[ -n $RESTORE_FLAG ]]; then
		echo "$RESTORE_VALUE" >"$M/flags/$RESTORE_FLAG" || true
	fi
	check_log
}

# set_flag NAME VALUE: for this test only (restored in teardown).
set_flag() {
	RESTORE_FLAG=$1
	RESTORE_VALUE=$(cat "$M/flags/$1")
	echo "$2" >"$M/flags/$1"
	assert_eq "$(cat "$M/flags/$1")" "$2" "flag $1"
}

as_nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

@test "echo into an episode and cat returns the exact bytes" {
	echo "Met Alice for coffee at the station" >"$E/$T"
	assert_eq "$(cat "$E/$T")" "Met Alice for coffee at the station"
	printf 'no newline at the end' >"$E/$T.b"
	assert_eq "$(od -An -c "$E/$T.b" | tr -d ' \n')" "nonewlineattheend"
	assert_eq "$(stat -c %s "$E/$T.b")" 21
	[ -f "$E/$T" ]
}

@test "binary content with NUL bytes is stored byte for byte" {
	head -c 200000 /dev/urandom >"$BATS_TEST_TMPDIR/bin"
	printf '\0\0\0\377\n' >>"$BATS_TEST_TMPDIR/bin"
	cp "$BATS_TEST_TMPDIR/bin" "$E/$T"
	cmp "$BATS_TEST_TMPDIR/bin" "$E/$T"
	assert_eq "$(stat -c %s "$E/$T")" 200005
}

@test ">> appends to an episode" {
	echo first >"$E/$T"
	echo second >>"$E/$T"
	printf 'third' >>"$E/$T"
	assert_eq "$(cat "$E/$T")" $'first\nsecond\nthird'
}

@test "sed -i edits an episode in place" {
	printf 'coffee with alice\ntea with bob\n' >"$E/$T"
	sed -i 's/tea/lunch/' "$E/$T"
	assert_eq "$(cat "$E/$T")" $'coffee with alice\nlunch with bob'
	# sed's temporary file is gone.
	run bash -c 'ls -A "$1" | grep -c "^sed"' _ "$E"
	assert_eq "$output" 0
}

@test "mv renames an episode and the old name is gone" {
	echo "moving" >"$E/$T"
	mv "$E/$T" "$E/$T.new"
	[ ! -e "$E/$T" ]
	assert_eq "$(cat "$E/$T.new")" moving
}

@test "mv over an existing episode replaces it" {
	echo "old target" >"$E/$T.target"
	echo "new content" >"$E/$T.src"
	ino=$(stat -c %i "$E/$T.src")
	mv "$E/$T.src" "$E/$T.target"
	[ ! -e "$E/$T.src" ]
	assert_eq "$(cat "$E/$T.target")" "new content"
	assert_eq "$(stat -c %i "$E/$T.target")" "$ino" "the moved file keeps its inode"
	run bash -c 'ls "$1" | grep -c "^$2\."' _ "$E" "$T"
	assert_eq "$output" 1
}

@test "mv moves episodes and folders between folders" {
	mkdir -p "$E/$T/a" "$E/$T/b"
	echo "x" >"$E/$T/a/x"
	mv "$E/$T/a/x" "$E/$T/b/x"
	assert_eq "$(cat "$E/$T/b/x")" x
	mv "$E/$T/b" "$E/$T/a/b"
	assert_eq "$(cat "$E/$T/a/b/x")" x
	[ ! -e "$E/$T/b" ]
	assert_errno EINVAL rename "$E/$T/a" "$E/$T/a/b/inside"
}

@test "rm forgets an episode" {
	echo "to be forgotten" >"$E/$T"
	rm "$E/$T"
	[ ! -e "$E/$T" ]
	run ls "$E"
	[[ $output != *"$T"* ]]
	assert_errno ENOENT read "$E/$T"
}

@test "mkdir makes nested folders and rmdir removes only empty ones" {
	mkdir -p "$E/$T/b/c"
	[ -d "$E/$T/b/c" ]
	echo x >"$E/$T/b/c/x"
	assert_errno ENOTEMPTY rmdir "$E/$T/b/c"
	assert_errno EISDIR unlink "$E/$T/b" 
	rm "$E/$T/b/c/x"
	rmdir "$E/$T/b/c" "$E/$T/b" "$E/$T"
	[ ! -e "$E/$T" ]
	assert_errno ENOTDIR rmdir "$(touch "$E/$T.f" && echo "$E/$T.f")"
	assert_errno EEXIST mkdir "$E/$T.f"
}

@test "cp -r copies a tree of folders and episodes" {
	src=$BATS_TEST_TMPDIR/notes
	mkdir -p "$src/work/daily" "$src/home"
	for i in 1 2 3; do
		echo "standup $i" >"$src/work/daily/s$i.md"
		echo "garden $i" >"$src/home/g$i.txt"
	done
	head -c 5000 /dev/urandom >"$src/work/blob"
	cp -r "$src" "$E/$T"
	diff -r "$src" "$E/$T"
	assert_eq "$(find "$E/$T" -type f | wc -l)" 7
}

@test "touch -d sets the episode's mtime" {
	echo "back-dated" >"$E/$T"
	touch -d 2024-05-01 "$E/$T"
	assert_eq "$(stat -c %Y "$E/$T")" "$(date -d 2024-05-01 +%s)"
	touch -d '2023-01-02 03:04:05 UTC' "$E/$T"
	assert_eq "$(stat -c %Y "$E/$T")" "$(date -d '2023-01-02 03:04:05 UTC' +%s)"
	assert_eq "$(cat "$E/$T")" "back-dated"
}

@test "truncate -s shrinks and extends an episode" {
	printf 'abcdefghij' >"$E/$T"
	truncate -s 3 "$E/$T"
	assert_eq "$(cat "$E/$T")" abc
	truncate -s 6 "$E/$T"
	assert_eq "$(stat -c %s "$E/$T")" 6
	assert_eq "$(od -An -tx1 "$E/$T" | tr -d ' \n')" 616263000000
	truncate -s 0 "$E/$T"
	assert_eq "$(stat -c %s "$E/$T")" 0
}

@test "chmod and chown are reflected in stat" {
	echo x >"$E/$T"
	chmod 600 "$E/$T"
	assert_eq "$(stat -c %a "$E/$T")" 600
	chmod 644 "$E/$T"
	assert_eq "$(stat -c %a "$E/$T")" 644
	chown 1234:2345 "$E/$T"
	assert_eq "$(stat -c %u:%g "$E/$T")" 1234:2345
	mkdir "$E/$T.d"
	chmod 700 "$E/$T.d"
	assert_eq "$(stat -c %a "$E/$T.d")" 700
}

@test "permission bits are enforced for other users" {
	echo secret >"$E/$T"
	chmod 600 "$E/$T"
	run as_nobody cat "$E/$T"
	[ "$status" -ne 0 ]
	[[ $output == *"Permission denied"* ]]
	chmod 644 "$E/$T"
	run as_nobody cat "$E/$T"
	assert_eq "$output" secret
	run as_nobody bash -c 'echo mine >"$1"' _ "$E/$T"
	[[ $output == *"Permission denied"* ]]
	assert_eq "$(cat "$E/$T")" secret
}

@test "an episode is owned by the user that creates it" {
	mkdir "$E/$T"
	chmod 777 "$E/$T"
	as_nobody bash -c 'echo mine >"$1"' _ "$E/$T/n"
	assert_eq "$(stat -c %u:%g "$E/$T/n")" 65534:65534
	echo root >"$E/$T/r"
	assert_eq "$(stat -c %u:%g "$E/$T/r")" 0:0
}

@test "the creator's umask is honoured" {
	(umask 027 && echo x >"$E/$T" && mkdir "$E/$T.d")
	assert_eq "$(stat -c %a "$E/$T")" 640
	assert_eq "$(stat -c %a "$E/$T.d")" 750
	(umask 077 && echo y >"$E/$T.2")
	assert_eq "$(stat -c %a "$E/$T.2")" 600
}

@test "user.engram.confidence defaults to 0.7 and accepts 0.9" {
	echo x >"$E/$T"
	run getfattr --absolute-names --only-values -n user.engram.confidence "$E/$T"
	[ "$status" -eq 0 ]
	python3 -c 'import sys; assert abs(float(sys.argv[1]) - 0.7) < 1e-9, sys.argv[1]' "$output"
	setfattr -n user.engram.confidence -v 0.9 "$E/$T"
	run getfattr --absolute-names --only-values -n user.engram.confidence "$E/$T"
	python3 -c 'import sys; assert abs(float(sys.argv[1]) - 0.9) < 1e-9, sys.argv[1]' "$output"
}

@test "user.engram.confidence refuses 1.5 and abc with EINVAL and keeps its value" {
	echo x >"$E/$T"
	setfattr -n user.engram.confidence -v 0.9 "$E/$T"
	assert_errno EINVAL setxattr "$E/$T" user.engram.confidence 1.5
	assert_errno EINVAL setxattr "$E/$T" user.engram.confidence abc
	assert_errno EINVAL setxattr "$E/$T" user.engram.confidence -0.1
	run getfattr --absolute-names --only-values -n user.engram.confidence "$E/$T"
	python3 -c 'import sys; assert abs(float(sys.argv[1]) - 0.9) < 1e-9, sys.argv[1]' "$output"
}

@test "where, who and tags round-trip as xattrs" {
	echo x >"$E/$T"
	setfattr -n user.engram.where -v "the station" "$E/$T"
	setfattr -n user.engram.who -v "Alice, Bob" "$E/$T"
	setfattr -n user.engram.tags -v "coffee,friends" "$E/$T"
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.where "$E/$T")" "the station"
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.who "$E/$T")" "Alice, Bob"
	assert_eq "$(getfattr --absolute-names --only-values -n user.engram.tags "$E/$T")" "coffee,friends"
	run getfattr --absolute-names -d -m '^user\.' "$E/$T"
	[[ $output == *'user.engram.where="the station"'* ]]
	[[ $output == *'user.engram.tags="coffee,friends"'* ]]
	setfattr -x user.engram.who "$E/$T"
	assert_errno ENODATA getxattr "$E/$T" user.engram.who
	# Content is untouched by metadata.
	assert_eq "$(cat "$E/$T")" x
}

@test "user.engram.concepts is read-only" {
	echo x >"$E/$T"
	assert_errno EPERM setxattr "$E/$T" user.engram.concepts "made-up 1.0"
	assert_errno EPERM removexattr "$E/$T" user.engram.concepts
}

@test "hard links, symlinks and device nodes are refused with EPERM" {
	echo x >"$E/$T"
	assert_errno EPERM link "$E/$T" "$E/$T.hard"
	assert_errno EPERM symlink "$E/$T" "$E/$T.sym"
	assert_errno EPERM mknod "$E/$T.fifo" fifo
	assert_errno EPERM mknod "$E/$T.chr" chr
	assert_errno EPERM mknod "$E/$T.sock" sock
	run ln "$E/$T" "$E/$T.ln"
	[[ $output == *"Operation not permitted"* ]]
	run ln -s "$E/$T" "$E/$T.lns"
	[[ $output == *"Operation not permitted"* ]]
	run bash -c 'ls "$1" | grep -c "^$2\."' _ "$E" "$T"
	assert_eq "$output" 0
}

@test "a 255-byte name works and a 256-byte name gives ENAMETOOLONG" {
	n255=$(printf 'n%.0s' $(seq 255))
	n256=$(printf 'n%.0s' $(seq 256))
	mkdir "$E/$T"
	echo ok >"$E/$T/$n255"
	assert_eq "$(cat "$E/$T/$n255")" ok
	assert_eq "$(ls "$E/$T")" "$n255"
	assert_errno ENAMETOOLONG write "$E/$T/$n256" x
	assert_errno ENAMETOOLONG mkdir "$E/$T/$n256"
	assert_errno ENAMETOOLONG rename "$E/$T/$n255" "$E/$T/$n256"
	assert_eq "$(ls "$E/$T")" "$n255"
}

@test "an episode of exactly max_episode_bytes is accepted and one byte more gives EFBIG, unchanged" {
	set_flag store.max_episode_bytes 4096
	assert_errno OK writen "$E/$T" 4096 a
	assert_eq "$(stat -c %s "$E/$T")" 4096
	assert_errno EFBIG writen "$E/$T" 4097 b
	assert_eq "$(stat -c %s "$E/$T")" 4096
	assert_eq "$(tr -d a <"$E/$T" | wc -c)" 0 "the stored episode is unchanged"
	assert_errno EFBIG appendn "$E/$T" 1 c
	assert_eq "$(stat -c %s "$E/$T")" 4096
	assert_eq "$(tr -d a <"$E/$T" | wc -c)" 0 "the stored episode is unchanged"
	run bash -c 'head -c 5000 /dev/zero >"$1"' _ "$E/$T"
	[[ $output == *"File too large"* ]]
	assert_eq "$(tr -d a <"$E/$T" | wc -c)" 0 "the stored episode is unchanged"
	assert_errno EFBIG writen "$E/$T.new" 4097
	[[ ! -e $E/$T.new || $(stat -c %s "$E/$T.new") -eq 0 ]]
}

@test "the default max_episode_bytes is 1 MiB" {
	assert_eq "$(cat "$M/flags/store.max_episode_bytes")" 1048576
	assert_errno OK writen "$E/$T" 1048576 m
	assert_eq "$(stat -c %s "$E/$T")" 1048576
	assert_errno EFBIG writen "$E/$T.big" 1048577
	assert_errno EFBIG appendn "$E/$T" 1
	assert_eq "$(stat -c %s "$E/$T")" 1048576
}

@test "an unlinked episode stays readable through an open descriptor" {
	echo "still here" >"$E/$T"
	exec 7<"$E/$T"
	rm "$E/$T"
	[ ! -e "$E/$T" ]
	run cat <&7
	exec 7<&-
	assert_eq "$output" "still here"
}

@test "fsync of an episode succeeds and the content is there" {
	assert_errno OK fsyncwrite "$E/$T" "synced content"
	assert_eq "$(cat "$E/$T")" "synced content"
	dd if=/dev/zero of="$E/$T.dd" bs=1k count=8 conv=fsync status=none
	assert_eq "$(stat -c %s "$E/$T.dd")" 8192
}

@test "2,000 episodes copied in with cp are all listed and recallable" {
	src=$BATS_TEST_TMPDIR/bulk
	mkdir -p "$src"
	python3 - "$src" <<-'EOF'
		import random, string, sys
		rnd = random.Random(4242)
		seen = set()
		with open(sys.argv[1] + "/../words", "w") as idx:
		    for i in range(2000):
		        while True:
		            w = "zb" + "".join(rnd.choice(string.ascii_lowercase) for _ in range(9))
		            if w not in seen:
		                seen.add(w)
		                break
		        name = "ep-%04d" % i
		        with open("%s/%s" % (sys.argv[1], name), "w") as f:
		            f.write("Note %d about %s, written during the bulk import test.\n" % (i, w))
		        idx.write("%s %s\n" % (name, w))
	EOF
	mkdir "$E/$T"
	cp "$src"/* "$E/$T/"
	assert_eq "$(ls "$E/$T" | wc -l)" 2000
	shuf -n 50 --random-source=<(yes) "$BATS_TEST_TMPDIR/words" >"$BATS_TEST_TMPDIR/sample"
	while read -r name word; do
		top=$(head -n 1 "$M/recall/$word" | cut -f 1)
		assert_eq "$top" "$T/$name" "top result for '$word'"
	done <"$BATS_TEST_TMPDIR/sample"
}

@test "vim -es edits an episode" {
	command -v vim >/dev/null || skip "vim is not installed"
	printf 'line one\nline two\n' >"$E/$T"
	HOME=$BATS_TEST_TMPDIR vim -es -u NONE -i NONE -c '%s/two/2/' -c 'wq' "$E/$T" </dev/null
	assert_eq "$(cat "$E/$T")" $'line one\nline 2'
	run bash -c 'ls -A "$1" | grep -c "\.swp$"' _ "$E"
	assert_eq "$output" 0
}
