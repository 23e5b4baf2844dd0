# helpers_more.bash - what the reliability and security bats files share
# on top of helpers.bash (15-posix, 62-hostile, 65-full-disk, 68-multiuser).
#
#     load helpers
#     load helpers_more

# errno_more OP ARGS: like errno_of (errno.py) for the operations errno.py
# does not have; prints OK or the symbolic errno.
#   renameat2 SRC DST noreplace|exchange|whiteout
#   fallocate PATH MODE          (0, keep_size, punch_hole)
#   tmpfile DIR                  open(O_TMPFILE)
#   excl PATH                    open(O_CREAT|O_EXCL|O_WRONLY), close
#   openflags PATH FLAGS         FLAGS: comma list (r w rw creat excl trunc
#                                append directory nofollow)
#   readdir PATH                 list a folder
#   readn PATH N                 read N bytes from the start, print nothing
#   writeat PATH OFFSET TEXT     open O_WRONLY, pwrite, close
#   utimens PATH ATIME MTIME     seconds; "omit" or "now" allowed
errno_more() {
	python3 - "$@" <<-'EOF'
		import ctypes, errno, os, sys
		libc = ctypes.CDLL(None, use_errno=True)
		def check(r):
		    if r != 0:
		        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
		FL = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
		      "creat": os.O_CREAT, "excl": os.O_EXCL, "trunc": os.O_TRUNC,
		      "append": os.O_APPEND, "directory": os.O_DIRECTORY,
		      "nofollow": os.O_NOFOLLOW}
		def openflags(p, spec):
		    f = 0
		    for w in spec.split(","):
		        f |= FL[w]
		    os.close(os.open(p, f, 0o644))
		def renameat2(a, b, how):
		    flags = {"noreplace": 1, "exchange": 2, "whiteout": 4}[how]
		    check(libc.renameat2(-100, a.encode(), -100, b.encode(), flags))
		def fallocate(p, mode):
		    m = {"0": 0, "keep_size": 1, "punch_hole": 3}[mode]
		    fd = os.open(p, os.O_RDWR)
		    try:
		        check(libc.fallocate(fd, m, ctypes.c_long(0), ctypes.c_long(4096)))
		    finally:
		        os.close(fd)
		def writeat(p, off, text):
		    fd = os.open(p, os.O_WRONLY)
		    try:
		        os.pwrite(fd, text.encode(), int(off))
		    finally:
		        os.close(fd)
		def readn(p, n):
		    with open(p, "rb") as f:
		        f.read(int(n))
		def utimens(p, a, m):
		    def ts(v):
		        if v == "omit":
		            return (0, (1 << 30) - 2)
		        if v == "now":
		            return (0, (1 << 30) - 1)
		        return (int(v), 0)
		    arr = (ctypes.c_long * 4)(*ts(a), *ts(m))
		    check(libc.utimensat(-100, p.encode(), arr, 0))
		ops = {
		    "renameat2": lambda a: renameat2(*a),
		    "fallocate": lambda a: fallocate(*a),
		    "tmpfile": lambda a: os.close(os.open(a[0], os.O_TMPFILE | os.O_RDWR, 0o600)),
		    "excl": lambda a: os.close(os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)),
		    "openflags": lambda a: openflags(*a),
		    "readdir": lambda a: os.listdir(a[0]),
		    "readn": lambda a: readn(*a),
		    "writeat": lambda a: writeat(*a),
		    "utimens": lambda a: utimens(*a),
		}
		try:
		    ops[sys.argv[1]](sys.argv[2:])
		except OSError as e:
		    print(errno.errorcode.get(e.errno, str(e.errno)))
		    sys.exit(0)
		print("OK")
	EOF
}

assert_errno_more() {	# assert_errno_more EXPECTED OP ARGS...
	local want=$1 got
	shift
	got=$(errno_more "$@")
	if [[ $got != "$want" ]]; then
		e2e_fail "$*: expected $want, got $got"
		return 1
	fi
}

# A copy of errno.py every user can run (bats' own dirs are root-only).
public_errno_py() {
	if [[ ! -r $MOUNT_BASE/errno.py ]]; then
		cp "$ERRNO_PY" "$MOUNT_BASE/errno.py"
		chmod 755 "$MOUNT_BASE/errno.py"
	fi
	echo "$MOUNT_BASE/errno.py"
}

# as_user UID[:GID] CMD...: run CMD with that uid and gid, no other groups.
as_user() {
	local uid=${1%%:*} gid=${1#*:}
	[[ $1 == *:* ]] || gid=$uid
	shift
	setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
}

# errno_as UID[:GID] OP ARGS: errno.py's answer for that user.
errno_as() {
	local who=$1 py
	shift
	py=$(public_errno_py)
	as_user "$who" /usr/bin/python3 "$py" "$@"
}

assert_errno_as() {	# assert_errno_as EXPECTED UID[:GID] OP ARGS...
	local want=$1 who=$2 got
	shift 2
	got=$(errno_as "$who" "$@")
	if [[ $got != "$want" ]]; then
		e2e_fail "as uid $who: $*: expected $want, got $got"
		return 1
	fi
}

# status_value KEY: the value of one "key: value" line of MNT/status.
status_value() {
	sed -n "s/^$1: //p" "$M/status"
}

# daemon_rss_kib: resident memory of the daemon.
daemon_rss_kib() {
	refresh_pid
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

# build_fsx OUT: compile tests/fsx/fsx.c (no library needed).
build_fsx() {
	local src=$E2E_DIR/../fsx/fsx.c
	[[ -x $1 && $1 -nt $src ]] && return 0
	${CC:-cc} -std=c11 -O2 -D_FILE_OFFSET_BITS=64 -D_GNU_SOURCE -o "$1" "$src"
}

# no_abort_in_log: the daemon's log shows no failed assertion (Debian's
# RocksDB is built with assertions) nor an uncaught C++ exception; a daemon
# that dies at unmount is otherwise unnoticed by teardown_mount.
no_abort_in_log() {
	if grep -Eq "Assertion .* failed|terminate called" "$LOG" 2>/dev/null; then
		e2e_fail "the daemon aborted; log:" "$(grep -Ev 'warning: write: IO error' "$LOG" | tail -n 8)"
		return 1
	fi
}

# daemon_is_sanitized: the daemon was built with AddressSanitizer (its
# quarantine and shadow memory make RSS meaningless as a leak measure;
# LeakSanitizer checks leaks at exit instead).
daemon_is_sanitized() {
	nm -D "$ENGRAMFS" 2>/dev/null | grep -q '__asan_init'
}
