#!/usr/bin/env python3
"""errno.py - perform one file operation and print how it ended.

usage: errno.py OP ARGS...

Prints OK, or the symbolic errno name of the first failing system call
(EINVAL, EFBIG, ...), so end-to-end tests compare errno exactly:

    [ "$(python3 errno.py setxattr "$M/episodes/x" user.engram.confidence 1.5)" = EINVAL ]

Exit status 0 either way; 2 on a usage error.  Writes go through one
descriptor and end with close(2), where engramfs commits, so a refusal at
commit shows as the error of close.

ops:
  write PATH TEXT            open(O_WRONLY|O_CREAT|O_TRUNC), write, close
  writen PATH N [CHAR]       the same with N bytes of CHAR (default 'x')
  append PATH TEXT           open(O_WRONLY|O_APPEND|O_CREAT), write, close
  appendn PATH N [CHAR]
  fsyncwrite PATH TEXT       write, fsync, close
  read PATH                  open(O_RDONLY), read to the end, close
  open PATH FLAGS            FLAGS: comma list of r w rw creat excl trunc append
  create PATH                open(O_WRONLY|O_CREAT|O_EXCL)
  mkdir PATH | rmdir PATH | unlink PATH
  rename SRC DST | link SRC DST | symlink TARGET PATH
  mknod PATH fifo|chr|blk|sock|reg
  setxattr PATH NAME VALUE [create|replace]
  getxattr PATH NAME | removexattr PATH NAME | listxattr PATH
  truncate PATH N | chmod PATH OCTAL | chown PATH UID GID
  utime PATH SECONDS         set atime and mtime
  query PATH CUE             open(O_RDWR), write CUE, read the answer
"""

import errno
import os
import stat
import sys


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view[:65536])
        view = view[n:]


def _write(path, data, flags, sync=False):
    fd = os.open(path, flags, 0o666)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
    except OSError:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    os.close(fd)


def _read(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        while os.read(fd, 65536):
            pass
    finally:
        os.close(fd)


def _nbytes(args):
    ch = args[2] if len(args) > 2 else "x"
    return ch.encode()[:1] * int(args[1])


FLAG_BITS = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
             "creat": os.O_CREAT, "excl": os.O_EXCL, "trunc": os.O_TRUNC,
             "append": os.O_APPEND}

NODE_TYPES = {"fifo": stat.S_IFIFO, "chr": stat.S_IFCHR, "blk": stat.S_IFBLK,
              "sock": stat.S_IFSOCK, "reg": stat.S_IFREG}

W = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
A = os.O_WRONLY | os.O_CREAT | os.O_APPEND


def _open(path, spec):
    flags = 0
    for word in spec.split(","):
        flags |= FLAG_BITS[word]
    os.close(os.open(path, flags, 0o666))


def _query(path, cue):
    fd = os.open(path, os.O_RDWR)
    try:
        _write_all(fd, cue.encode())
        while os.read(fd, 65536):
            pass
    finally:
        os.close(fd)


def _setxattr(a):
    flags = 0
    if len(a) > 3:
        flags = {"create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}[a[3]]
    os.setxattr(a[0], a[1], a[2].encode(), flags)


def _mknod(path, kind):
    dev = os.makedev(1, 3) if kind in ("chr", "blk") else 0
    os.mknod(path, 0o644 | NODE_TYPES[kind], dev)


OPS = {
    "write": (2, lambda a: _write(a[0], a[1].encode(), W)),
    "writen": (2, lambda a: _write(a[0], _nbytes(a), W)),
    "append": (2, lambda a: _write(a[0], a[1].encode(), A)),
    "appendn": (2, lambda a: _write(a[0], _nbytes(a), A)),
    "fsyncwrite": (2, lambda a: _write(a[0], a[1].encode(), W, sync=True)),
    "read": (1, lambda a: _read(a[0])),
    "open": (2, lambda a: _open(a[0], a[1])),
    "create": (1, lambda a: os.close(os.open(a[0], os.O_WRONLY | os.O_CREAT
                                             | os.O_EXCL, 0o666))),
    "mkdir": (1, lambda a: os.mkdir(a[0])),
    "rmdir": (1, lambda a: os.rmdir(a[0])),
    "unlink": (1, lambda a: os.unlink(a[0])),
    "rename": (2, lambda a: os.rename(a[0], a[1])),
    "link": (2, lambda a: os.link(a[0], a[1])),
    "symlink": (2, lambda a: os.symlink(a[0], a[1])),
    "mknod": (2, lambda a: _mknod(a[0], a[1])),
    "setxattr": (3, _setxattr),
    "getxattr": (2, lambda a: os.getxattr(a[0], a[1])),
    "removexattr": (2, lambda a: os.removexattr(a[0], a[1])),
    "listxattr": (1, lambda a: os.listxattr(a[0])),
    "truncate": (2, lambda a: os.truncate(a[0], int(a[1]))),
    "chmod": (2, lambda a: os.chmod(a[0], int(a[1], 8))),
    "chown": (3, lambda a: os.chown(a[0], int(a[1]), int(a[2]))),
    "utime": (2, lambda a: os.utime(a[0], (int(a[1]), int(a[1])))),
    "query": (2, lambda a: _query(a[0], a[1])),
}


def main(argv):
    if len(argv) < 2 or argv[1] not in OPS or len(argv) - 2 < OPS[argv[1]][0]:
        sys.stderr.write(__doc__)
        return 2
    try:
        OPS[argv[1]][1](argv[2:])
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)))
        return 0
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
