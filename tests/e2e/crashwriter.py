#!/usr/bin/env python3
"""crashwriter.py - write episodes with fsync for the kill -9 test, and check
what survived.

usage:
  crashwriter.py write DIR ACKS N [PAUSE_S]
      Write episodes c-000 .. c-(N-1) into DIR, each: open(O_CREAT|O_TRUNC),
      write in 4 KiB pieces with PAUSE_S (default 0.002) after each, fsync,
      close; only then append its name to the local file ACKS (flushed and
      fsync'd).  Stops at the first error.  The pauses spread the time over
      the writes, so a kill most likely lands in the middle of an episode.
  crashwriter.py verify DIR ACKS N
      Every name in ACKS is present and byte-exact.  Every c-* present is
      empty or complete (never a prefix, never foreign bytes).  Prints each
      problem, exits 1 if there is one.
  crashwriter.py word I
      The unique word of episode I (to recall it by).

Content of episode I is deterministic: a unique word, then text, 600 to
~30 KiB long, so a torn write shows as a size or byte mismatch.
"""

import os
import sys
import time


def word(i):
    letters = ""
    n = i
    for _ in range(3):
        letters += chr(ord("a") + n % 26)
        n //= 26
    return "zcrash" + letters


def content(i):
    size = 600 + (i * 7919) % 30000
    line = "%s: episode %d of the crash test, written and then fsync'd.\n" % (word(i), i)
    body = (line * (size // len(line) + 1))[:size]
    return body.encode()


def name(i):
    return "c-%03d" % i


def write(d, acks, n, pause):
    ack = open(acks, "a")
    for i in range(n):
        data = content(i)
        try:
            fd = os.open(os.path.join(d, name(i)),
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for off in range(0, len(data), 4096):
                os.write(fd, data[off:off + 4096])
                time.sleep(pause)
            os.fsync(fd)
            os.close(fd)
        except OSError as e:
            sys.stderr.write("crashwriter: %s: %s\n" % (name(i), e))
            return 0
        ack.write(name(i) + "\n")
        ack.flush()
        os.fsync(ack.fileno())
    return 0


def verify(d, acks, n):
    problems = []
    acked = [l.strip() for l in open(acks) if l.strip()]
    for a in acked:
        i = int(a[2:])
        p = os.path.join(d, a)
        try:
            got = open(p, "rb").read()
        except OSError as e:
            problems.append("%s: acknowledged but unreadable: %s" % (a, e))
            continue
        if got != content(i):
            problems.append("%s: acknowledged but %d bytes differ from the %d written"
                            % (a, len(got), len(content(i))))
    for entry in sorted(os.listdir(d)):
        if not entry.startswith("c-"):
            continue
        i = int(entry[2:])
        got = open(os.path.join(d, entry), "rb").read()
        if got and got != content(i):
            problems.append("%s: half-written: %d bytes, expected 0 or %d"
                            % (entry, len(got), len(content(i))))
    for p in problems:
        print(p)
    print("acknowledged %d, present %d, problems %d"
          % (len(acked), len([e for e in os.listdir(d) if e.startswith("c-")]),
             len(problems)))
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 5 and argv[1] == "write":
        pause = float(argv[5]) if len(argv) > 5 else 0.002
        return write(argv[2], argv[3], int(argv[4]), pause)
    if len(argv) == 5 and argv[1] == "verify":
        return verify(argv[2], argv[3], int(argv[4]))
    if len(argv) == 3 and argv[1] == "word":
        print(word(int(argv[2])))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
