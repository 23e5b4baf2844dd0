#!/usr/bin/env bats
# POSIX behaviour of episodes/: what engramfs offers, and the errno of what
# it refuses (docs/posix.md is the table these tests hold it to).  One
# mount with allow_other (the daemon adds default_permissions), so that the
# permission bits are enforced for `nobody`.  Ends with a short run of the
# fsx-style exerciser and fio's verify job; the long runs are
# tests/fsx/run.sh.

load helpers
load helpers_more

setup_file() {
	setup_mount --public -o allow_other
	chmod 755 "$M/episodes"
}

teardown_file() {
	teardown_mount
}

setup() {
	mark_log
	E=$M/episodes
	T=p$BATS_TEST_NUMBER
	mkdir -p "$E/$T"
	chmod 777 "$E/$T"
	D=$E/$T
}

teardown() {
	check_log
}

# ---- open flags --------------------------------------------------------

@test "O_CREAT|O_EXCL creates a new episode and refuses an existing one with EEXIST" {
	assert_errno_more OK excl "$D/new"
	assert_errno_more EEXIST excl "$D/new"
	assert_errno_more EEXIST openflags "$D/new" w,creat,excl,trunc
	[[ -f $D/new && $(stat -c %s "$D/new") == 0 ]]
}

@test "O_TRUNC empties an episode, committed at close" {
	printf 'some old text' >"$D/t"
	assert_errno_more OK openflags "$D/t" w,trunc
	assert_eq "$(stat -c %s "$D/t")" 0
	assert_eq "$(cat "$D/t")" ""
	printf 'new' >"$D/t"
	assert_eq "$(cat "$D/t")" new
}

@test "O_APPEND writes land at the end, from several opens in turn" {
	printf 'one' >"$D/a"
	printf ' two' >>"$D/a"
	assert_errno OK append "$D/a" " three"
	assert_eq "$(cat "$D/a")" "one two three"
	# pwrite on an O_APPEND descriptor appends (Linux).
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_APPEND); os.pwrite(fd, b"!", 0); os.close(fd)' "$D/a"
	assert_eq "$(cat "$D/a")" "one two three!"
}

@test "O_DIRECTORY on an episode is ENOTDIR; a folder opened for writing is EISDIR" {
	echo x >"$D/f"
	mkdir "$D/dir"
	assert_errno_more ENOTDIR openflags "$D/f" r,directory
	assert_errno_more EISDIR openflags "$D/dir" w
	assert_errno_more OK openflags "$D/dir" r,directory
}

@test "a sparse write zero-fills the hole; truncate grows with zeros and shrinks" {
	printf 'ab' >"$D/s"
	assert_errno_more OK writeat "$D/s" 10 cd
	assert_eq "$(od -An -c "$D/s" | tr -s ' ' | tr -d '\n')" " a b \0 \0 \0 \0 \0 \0 \0 \0 c d"
	truncate -s 20 "$D/s"
	assert_eq "$(stat -c %s "$D/s")" 20
	assert_eq "$(tail -c 8 "$D/s" | od -An -tx1 | tr -d ' \n')" 0000000000000000
	truncate -s 1 "$D/s"
	assert_eq "$(cat "$D/s")" a
}

@test "a reader opened during a rewrite sees the old content whole, the next reader the new" {
	printf 'the old content' >"$D/r"
	run python3 - "$D/r" <<-'EOF'
		import os, sys
		p = sys.argv[1]
		w = os.open(p, os.O_WRONLY | os.O_TRUNC)
		os.write(w, b"the new")
		r = os.open(p, os.O_RDONLY)
		during = os.read(r, 100)
		os.close(w)
		same_fd = os.pread(r, 100, 0)
		os.close(r)
		after = open(p, "rb").read()
		print(during.decode(), "|", same_fd.decode(), "|", after.decode())
	EOF
	assert_eq "$output" "the old content | the old content | the new"
}

# ---- rename and unlink -------------------------------------------------

@test "rename over an existing episode replaces it atomically and keeps the inode of the source" {
	printf 'source' >"$D/src"
	printf 'target' >"$D/dst"
	ino=$(stat -c %i "$D/src")
	mv -f "$D/src" "$D/dst"
	assert_eq "$(cat "$D/dst")" source
	assert_eq "$(stat -c %i "$D/dst")" "$ino"
	[[ ! -e $D/src ]]
	assert_eq "$(ls "$D")" dst
}

@test "renameat2: NOREPLACE is EEXIST over an existing name; EXCHANGE and WHITEOUT are EINVAL" {
	echo a >"$D/a"
	echo b >"$D/b"
	assert_errno_more EEXIST renameat2 "$D/a" "$D/b" noreplace
	assert_errno_more OK renameat2 "$D/a" "$D/c" noreplace
	assert_errno_more EINVAL renameat2 "$D/c" "$D/b" exchange
	assert_errno_more EINVAL renameat2 "$D/c" "$D/w" whiteout
	assert_eq "$(cat "$D/b")" b
	assert_eq "$(cat "$D/c")" a
}

@test "renames of folders follow POSIX errno rules" {
	mkdir -p "$D/d/sub" "$D/empty" "$D/full"
	echo x >"$D/full/x"
	echo f >"$D/f"
	assert_errno EINVAL rename "$D/d" "$D/d/sub/inside"
	assert_errno EISDIR rename "$D/f" "$D/d"
	assert_errno ENOTDIR rename "$D/d" "$D/f"
	assert_errno ENOTEMPTY rename "$D/d" "$D/full"
	assert_errno OK rename "$D/d" "$D/empty"
	[[ -d $D/empty/sub && ! -e $D/d ]]
	# Out of episodes/ into the fixed tree: refused.
	assert_errno EPERM rename "$D/f" "$M/f"
}

@test "unlink while open: the descriptor keeps reading and writing, the name is gone for good" {
	printf 'hello' >"$D/u"
	run python3 - "$D/u" <<-'EOF'
		import os, sys
		p = sys.argv[1]
		fd = os.open(p, os.O_RDWR)
		os.unlink(p)
		a = os.pread(fd, 100, 0)
		st = os.fstat(fd)
		os.pwrite(fd, b"J", 0)
		b = os.pread(fd, 100, 0)
		os.fsync(fd)
		os.close(fd)
		print(a.decode(), st.st_nlink, st.st_size, b.decode(), os.path.exists(p))
	EOF
	assert_eq "$output" "hello 0 5 Jello False"
	[[ -z $(ls "$D") ]]
	assert_eq "$(status_value episodes)" "$(find "$E" -type f | wc -l)"
}

@test "rmdir, unlink and mkdir give ENOTEMPTY, ENOTDIR, EISDIR and EEXIST" {
	mkdir "$D/d"
	echo x >"$D/d/x"
	assert_errno ENOTEMPTY rmdir "$D/d"
	assert_errno ENOTDIR rmdir "$D/d/x"
	assert_errno EISDIR unlink "$D/d"
	assert_errno EEXIST mkdir "$D/d"
	assert_errno EEXIST mkdir "$D/d/x"
	rm "$D/d/x"
	assert_errno OK rmdir "$D/d"
}

# ---- times -------------------------------------------------------------

@test "utimensat: touch -d sets both times, -m only mtime, -a only atime, UTIME_OMIT keeps" {
	echo x >"$D/t"
	touch -d '2024-05-01T10:00:00Z' "$D/t"
	assert_eq "$(stat -c '%X %Y' "$D/t")" "1714557600 1714557600"
	touch -m -d '2023-01-02T03:04:05Z' "$D/t"
	assert_eq "$(stat -c '%X %Y' "$D/t")" "1714557600 1672628645"
	touch -a -d '2022-01-01T00:00:00Z' "$D/t"
	assert_eq "$(stat -c '%X %Y' "$D/t")" "1640995200 1672628645"
	assert_errno_more OK utimens "$D/t" omit 1000000000
	assert_eq "$(stat -c '%X %Y' "$D/t")" "1640995200 1000000000"
	# Nanoseconds are kept.
	python3 -c 'import os,sys; os.utime(sys.argv[1], ns=(1714557600123456789, 1714557600987654321))' "$D/t"
	assert_eq "$(stat -c '%.9Y' "$D/t")" 1714557600.987654321
	# A write moves mtime to now; ctime moves with every change.
	c0=$(stat -c %Z "$D/t")
	sleep 1.1
	echo y >>"$D/t"
	[[ $(stat -c %Y "$D/t") -ge $((c0 + 1)) && $(stat -c %Z "$D/t") -ge $((c0 + 1)) ]]
}

@test "cp -p keeps the time it sets (write, futimens, close)" {
	echo "from outside" >"$BATS_TEST_TMPDIR/src"
	touch -d '2021-06-01T12:00:00Z' "$BATS_TEST_TMPDIR/src"
	cp -p "$BATS_TEST_TMPDIR/src" "$D/copied"
	assert_eq "$(stat -c %Y "$D/copied")" 1622548800
	assert_eq "$(cat "$D/copied")" "from outside"
}

# ---- permissions with default_permissions --------------------------------

@test "chmod is enforced for another user: 0600 is EACCES to read and write, 0644 readable" {
	printf 'private' >"$D/p"
	chmod 600 "$D/p"
	assert_errno_as EACCES 65534 read "$D/p"
	assert_errno_as EACCES 65534 append "$D/p" more
	chmod 644 "$D/p"
	assert_errno_as OK 65534 read "$D/p"
	assert_errno_as EACCES 65534 append "$D/p" more
	chmod 666 "$D/p"
	assert_errno_as OK 65534 append "$D/p" " more"
	assert_eq "$(cat "$D/p")" "private more"
}

@test "chown is enforced: the new owner may write; others may not chmod or chown (EPERM)" {
	printf 'x' >"$D/o"
	chmod 600 "$D/o"
	assert_errno_as EPERM 65534 chmod "$D/o" 666
	assert_errno_as EPERM 65534 chown "$D/o" 65534 65534
	chown 65534:65534 "$D/o"
	assert_eq "$(stat -c '%u %g %a' "$D/o")" "65534 65534 600"
	assert_errno_as OK 65534 write "$D/o" mine
	assert_errno_as OK 65534 chmod "$D/o" 640
	# Giving a file away is root's privilege, even for the owner.
	assert_errno_as EPERM 65534 chown "$D/o" 0 0
	assert_eq "$(cat "$D/o")" mine
}

@test "a folder's bits are enforced: no write permission, no create or unlink (EACCES)" {
	mkdir "$D/ro"
	echo x >"$D/ro/x"
	chmod 755 "$D/ro"
	assert_errno_as EACCES 65534 write "$D/ro/new" x
	assert_errno_as EACCES 65534 unlink "$D/ro/x"
	assert_errno_as EACCES 65534 mkdir "$D/ro/sub"
	chmod 700 "$D/ro"
	assert_errno_as EACCES 65534 read "$D/ro/x"
	chmod 1777 "$D/ro"
	# Sticky folder: others may create but not remove root's files.
	assert_errno_as OK 65534 write "$D/ro/theirs" y
	assert_errno_as EPERM 65534 unlink "$D/ro/x"
	assert_errno_as OK 65534 unlink "$D/ro/theirs"
}

@test "ownership and mode follow the creator's uid, gid and umask" {
	run as_user 65534 sh -c "umask 027; echo hi > '$D/byn'; mkdir '$D/dn'"
	[ "$status" -eq 0 ]
	assert_eq "$(stat -c '%u %g %a' "$D/byn")" "65534 65534 640"
	assert_eq "$(stat -c '%u %g %a' "$D/dn")" "65534 65534 750"
}

# ---- refused operations, each with its errno ------------------------------

@test "hard links, symlinks and device nodes are EPERM; mknod of a regular file works" {
	echo x >"$D/f"
	assert_errno EPERM link "$D/f" "$D/l"
	assert_errno EPERM symlink f "$D/s"
	for k in fifo chr blk sock; do
		assert_errno EPERM mknod "$D/n-$k" "$k"
	done
	assert_errno OK mknod "$D/n-reg" reg
	[[ -f $D/n-reg ]]
	assert_eq "$(stat -c %h "$D/f")" 1
}

@test "fallocate and O_TMPFILE are EOPNOTSUPP (ENOTSUP, the same number); posix_fallocate falls back" {
	echo x >"$D/f"
	assert_errno_more ENOTSUP fallocate "$D/f" 0
	assert_errno_more ENOTSUP fallocate "$D/f" punch_hole
	assert_errno_more ENOTSUP tmpfile "$D"
	python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.posix_fallocate(fd, 0, 100); os.close(fd)' "$D/f"
	assert_eq "$(stat -c %s "$D/f")" 100
}

@test "names: 255 bytes work, 256 are ENAMETOOLONG; '.' and '..' resolve as usual" {
	long=$(printf 'n%.0s' {1..255})
	assert_errno OK write "$D/$long" x
	assert_errno ENAMETOOLONG write "$D/${long}n" x
	assert_errno ENAMETOOLONG mkdir "$D/${long}n"
	assert_eq "$(cat "$D/../$T/$long")" x
	assert_eq "$(cd "$D/." && cat "$long")" x
}

@test "xattrs: only user.*, ENODATA when missing, E2BIG over 64 KiB, CREATE and REPLACE" {
	echo x >"$D/f"
	assert_errno ENOTSUP setxattr "$D/f" trusted.x 1
	assert_errno ENOTSUP setxattr "$D/f" security.x 1
	assert_errno ENODATA getxattr "$D/f" user.nope
	assert_errno OK setxattr "$D/f" user.k v create
	assert_errno EEXIST setxattr "$D/f" user.k v create
	assert_errno ENODATA setxattr "$D/f" user.other v replace
	big=$(head -c 65537 /dev/zero | tr '\0' x)
	assert_errno E2BIG setxattr "$D/f" user.big "$big"
	assert_errno OK setxattr "$D/f" user.big "${big:1}"
	assert_errno EPERM setxattr "$D/f" user.engram.concepts x
	assert_errno EPERM removexattr "$D/f" user.engram.concepts
	assert_errno EINVAL setxattr "$D/f" user.engram.confidence 1.5
	assert_errno ENODATA removexattr "$D/f" user.nope
}

@test "a write or truncate past store.max_episode_bytes is EFBIG and changes nothing" {
	printf 'kept' >"$D/big"
	assert_errno EFBIG truncate "$D/big" $((1024 * 1024 + 1))
	assert_errno EFBIG writen "$D/big" $((1024 * 1024 + 1))
	assert_eq "$(cat "$D/big")" kept
	assert_errno OK truncate "$D/big" $((1024 * 1024))
	assert_eq "$(stat -c %s "$D/big")" $((1024 * 1024))
}

@test "the fixed tree refuses changes: EPERM to create, remove or rename, EACCES to write" {
	assert_errno EPERM write "$M/newfile" x
	assert_errno EPERM mkdir "$M/newdir"
	assert_errno EPERM unlink "$M/status"
	assert_errno EPERM rmdir "$M/episodes"
	assert_errno EPERM rename "$M/episodes" "$M/eps"
	assert_errno EPERM rename "$M/flags/fan_effect" "$M/flags/x"
	assert_errno EPERM chmod "$M/flags/fan_effect" 666
	assert_errno EACCES write "$M/status" x
	assert_errno EACCES write "$M/metrics" x
	assert_errno EACCES write "$M/flags/.history" x
	assert_errno EPERM write "$M/concepts/x" x
	assert_errno ENOTSUP setxattr "$M/status" user.x 1
}

@test "flock and fcntl locks work on episodes (the kernel's local locks)" {
	echo x >"$D/l"
	run python3 - "$D/l" <<-'EOF'
		import fcntl, os, sys
		a = os.open(sys.argv[1], os.O_RDWR)
		b = os.open(sys.argv[1], os.O_RDWR)
		fcntl.flock(a, fcntl.LOCK_EX)
		try:
		    fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
		    print("second lock granted")
		except BlockingIOError:
		    print("second lock refused")
		fcntl.flock(a, fcntl.LOCK_UN)
		fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB)
		print("granted after unlock")
	EOF
	assert_eq "$output" $'second lock refused\ngranted after unlock'
}

@test "st_nlink: 1 for episodes, 2 + subfolders for folders; statfs answers" {
	mkdir -p "$D/f/a" "$D/f/b"
	echo x >"$D/f/x"
	assert_eq "$(stat -c %h "$D/f")" 4
	assert_eq "$(stat -c %h "$D/f/x")" 1
	rmdir "$D/f/b"
	assert_eq "$(stat -c %h "$D/f")" 3
	assert_eq "$(stat -f -c %l "$M")" 255
}

@test "a large folder lists every name once, also with seekdir" {
	for i in $(seq 1 400); do : >"$D/file-$i"; done
	assert_eq "$(ls "$D" | wc -l)" 400
	assert_eq "$(ls "$D" | sort -u | wc -l)" 400
	run python3 - "$D" <<-'EOF'
		import ctypes, os, sys
		libc = ctypes.CDLL(None)
		libc.opendir.restype = ctypes.c_void_p
		libc.readdir.restype = ctypes.c_void_p
		libc.telldir.restype = ctypes.c_long
		d = libc.opendir(sys.argv[1].encode())
		names, pos = [], None
		# d_name is at offset 19 in struct dirent64 on x86-64
		while True:
		    ent = libc.readdir(ctypes.c_void_p(d))
		    if not ent:
		        break
		    name = ctypes.string_at(ent + 19).decode()
		    names.append(name)
		    if len(names) == 200:
		        pos = libc.telldir(ctypes.c_void_p(d))
		libc.seekdir(ctypes.c_void_p(d), ctypes.c_long(pos))
		again = []
		while True:
		    ent = libc.readdir(ctypes.c_void_p(d))
		    if not ent:
		        break
		    again.append(ctypes.string_at(ent + 19).decode())
		libc.closedir(ctypes.c_void_p(d))
		print(len(names), len(set(names)), again == names[200:])
	EOF
	assert_eq "$output" "402 402 True"
}

# ---- data integrity: short runs of the long harnesses ----------------------

@test "fsx-style exerciser: 3,000 seeded operations, zero mismatches" {
	build_fsx "$BATS_FILE_TMPDIR/fsx"
	mkdir "$D/fsx"
	seed=${FSX_SEED:-$RANDOM}
	run "$BATS_FILE_TMPDIR/fsx" -N "${FSX_E2E_OPS:-3000}" -S "$seed" -q "$D/fsx"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *", 0 mismatches"* ]]
}

@test "fio randwrite with crc32c verify on episodes" {
	command -v fio >/dev/null || skip "fio is not installed (Debian package fio; tests/fsx/run.sh installs it)"
	mkdir "$D/fio"
	run fio --name=v --directory="$D/fio" --rw=randwrite --bs=4k --size=256k \
		--verify=crc32c --do_verify=1 --ioengine=psync --fallocate=none \
		--numjobs=2
	echo "$output" | grep -E 'err=|verify' || true
	[ "$status" -eq 0 ]
	! grep -Eq 'err= *[1-9]|verify failed' <<<"$output"
}
