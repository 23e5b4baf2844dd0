#!/usr/bin/env python3
"""driver.py - workload and checker of the crash harness (tests/crash/crash.sh).

usage:
  driver.py init  STATE MNT                 model of a fresh mount (flags read
                                            from MNT), folders a/ and b/ made
  driver.py run   STATE MNT SEED CYCLE      mixed workload until the daemon
                                            dies (or --seconds pass)
  driver.py check STATE MNT CYCLE           after the remount: compare the
                                            mount with the model, then make
                                            what was found the next base

STATE is a directory outside the mount:
  base.json      the model after the last check: path -> [ino, sha256, len],
                 flags, every inode number ever seen and the episode it named
  blobs/SHA      every version of every episode the driver wrote in full
  ops-C.log      one JSON line per step of cycle C, written before the step
                 ("begin") and after it ("end", with the result)

The model.  The daemon commits an episode at close or fsync, each commit
one RocksDB batch in one write-ahead log, so whatever survives a crash is
the state after some PREFIX of the steps the driver issued, one at a time
(create at open, commit at close or fsync, rename, unlink, flag write).
The check accepts a prefix P of the cycle's steps iff the mount shows
exactly the model after P, and P reaches at least the last step that was
acknowledged durable (an fsync'd commit, or a flag write, which is
synchronous).  Hence:
  - every episode acknowledged by fsync is byte-exact (unless a later step
    changed it, and then the change is what is there);
  - no episode is half-written: an episode holds a version written in full
    (a blob) or the empty content of its create, never a mix;
  - an O_TRUNC rewrite or an append interrupted by the crash leaves the old
    content (a rewrite commits at close, README);
  - flags hold their last acknowledged value;
  - inode numbers: an episode keeps its number (across rename and crash),
    and no new episode ever gets a number seen before for another one.
A SIGKILL of the daemon loses nothing completed (the WAL is in the page
cache, db.c); a prefix shorter than all completed steps is allowed by the
contract (only fsync promises durability) but reported, and STRICT=1 makes
it a failure.

Exit status: 0 ok, 1 a property broke (each problem printed), 2 usage or
an unexpected error (errno other than the dead mount's ENOTCONN).
"""

import errno
import hashlib
import json
import os
import random
import re
import sys
import time

DEAD = (errno.ENOTCONN, errno.ECONNABORTED)
FLAGS = {
    # flag name -> values the workload sets (canonical text, as cat prints)
    "recall.default_limit": ["3", "7", "10", "25"],
    "recall.bm25_b": ["0.25", "0.5", "0.75"],
    "fan_effect": ["0", "1"],
    "recall.snippet_chars": ["40", "100", "200"],
    "blended_recall": ["0", "1"],
    "dual_memory_types": ["1"],
}
FOLDERS = ["", "a", "b"]
MAX_EPISODES = 120
MAX_BYTES = 200 * 1024  # well under store.max_episode_bytes
WORDS = ("alice bob carol station coffee bike chain river garden market "
         "train ticket lunch meeting report budget sunday monday rain "
         "window kitchen piano letter harbour lantern orchard meadow").split()


def sha(b):
    return hashlib.sha256(b).hexdigest()


EMPTY = sha(b"")


class Fail(Exception):
    pass


# ---------------------------------------------------------------- state


def load_base(state):
    with open(os.path.join(state, "base.json")) as f:
        return json.load(f)


def save_base(state, base):
    tmp = os.path.join(state, "base.json.tmp")
    with open(tmp, "w") as f:
        json.dump(base, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(state, "base.json"))


def put_blob(state, data):
    h = sha(data)
    p = os.path.join(state, "blobs", h)
    if not os.path.exists(p):
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.replace(p + ".tmp", p)
    return h


def get_blob(state, h):
    if h == EMPTY:
        return b""
    with open(os.path.join(state, "blobs", h), "rb") as f:
        return f.read()


def is_blob(state, h):
    return h == EMPTY or os.path.exists(os.path.join(state, "blobs", h))


# ---------------------------------------------------------------- init


def cmd_init(state, mnt):
    os.makedirs(os.path.join(state, "blobs"), exist_ok=True)
    flags = {}
    for name in FLAGS:
        with open(os.path.join(mnt, "flags", name)) as f:
            flags[name] = f.read().strip()
    for d in FOLDERS[1:]:
        os.mkdir(os.path.join(mnt, "episodes", d))
    base = {"files": {}, "flags": flags, "inos": {}, "next_uid": 0,
            "uids": {}, "folders": FOLDERS[1:]}
    save_base(state, base)
    return 0


# ---------------------------------------------------------------- run


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.i = 0

    def begin(self, **kw):
        self.i += 1
        kw["i"] = self.i
        kw["st"] = "begin"
        self.f.write(json.dumps(kw, sort_keys=True) + "\n")
        return self.i

    def end(self, i, **kw):
        kw["i"] = i
        kw["st"] = "end"
        self.f.write(json.dumps(kw, sort_keys=True) + "\n")


class Runner:
    """The workload.  self.files is the model of the mount as it is now
    (every step so far completed): path -> [ino, sha, len, uid]."""

    def __init__(self, state, mnt, seed, cycle):
        self.state, self.mnt, self.cycle = state, mnt, cycle
        self.rng = random.Random(seed)
        base = load_base(state)
        self.base = base
        self.files = {p: v[:] + [base["uids"].get(p)]
                      for p, v in base["files"].items()}
        self.flags = dict(base["flags"])
        self.inos = dict(base["inos"])  # str(ino) -> uid
        self.next_uid = base["next_uid"]
        self.log = Log(os.path.join(state, "ops-%d.log" % cycle))
        self.n = {"steps": 0, "fsync": 0, "reads": 0, "recalls": 0,
                  "consolidate": 0, "consolidate_enosys": 0}

    def ep(self, path):
        return os.path.join(self.mnt, "episodes", path)

    # ---- content

    def text(self, size):
        out = []
        n = 0
        while n < size:
            w = self.rng.choice(WORDS)
            if self.rng.random() < 0.1:
                w = "zq%06d" % self.rng.randrange(10 ** 6)
            out.append(w)
            n += len(w) + 1
            if self.rng.random() < 0.08:
                out.append("\n")
        return " ".join(out).encode()[:size]

    def content(self):
        r = self.rng.random()
        if r < 0.05:
            return b""
        size = self.rng.choice([self.rng.randrange(1, 200),
                                self.rng.randrange(200, 8192),
                                self.rng.randrange(8192, 40000)])
        if r < 0.2:
            return self.rng.randbytes(size)
        return self.text(size)

    # ---- steps

    def new_path(self):
        d = self.rng.choice(FOLDERS)
        name = "e%d-%d" % (self.cycle, self.rng.randrange(10 ** 6))
        return "%s/%s" % (d, name) if d else name

    def pick(self):
        return self.rng.choice(sorted(self.files)) if self.files else None

    def write_pieces(self, fd, data):
        view = memoryview(data)
        while view:
            k = min(len(view), self.rng.choice([512, 4096, 16384]))
            n = os.write(fd, view[:k])
            view = view[n:]
            if self.rng.random() < 0.05:
                time.sleep(0.001)

    def commit_step(self, path, data, sync, fd):
        """fsync (sync) or close: the step that commits DATA to PATH."""
        h = put_blob(self.state, data)
        i = self.log.begin(op="commit", path=path, sha=h, len=len(data),
                           sync=sync)
        try:
            if sync:
                os.fsync(fd)
            else:
                os.close(fd)
        except OSError as e:
            self.log.end(i, errno=e.errno)
            raise
        self.log.end(i, ok=True)
        self.files[path][1:3] = [h, len(data)]
        if sync:
            self.n["fsync"] += 1

    def op_create(self):
        if len(self.files) >= MAX_EPISODES:
            return self.op_unlink()
        path = self.new_path()
        if path in self.files:
            return
        data = self.content()
        uid = "u%d" % self.next_uid
        self.next_uid += 1
        i = self.log.begin(op="create", path=path, uid=uid)
        try:
            fd = os.open(self.ep(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o644)
        except OSError as e:
            self.log.end(i, errno=e.errno)
            raise
        try:
            ino = os.fstat(fd).st_ino
        except OSError as e:
            self.log.end(i, ok=True, ino=None)
            self.files[path] = [None, EMPTY, 0, uid]
            raise
        self.log.end(i, ok=True, ino=ino)
        if str(ino) in self.inos:
            raise Fail("create %s: inode %d reused (it named episode %s)"
                       % (path, ino, self.inos[str(ino)]))
        self.inos[str(ino)] = uid
        self.files[path] = [ino, EMPTY, 0, uid]
        self.fill(path, fd, data)

    def fill(self, path, fd, data, result=None):
        """Write DATA to FD, then fsync or close: the episode holds RESULT
        (default DATA; the old content and DATA for an append)."""
        self.write_pieces(fd, data)
        sync = self.rng.random() < 0.5
        self.commit_step(path, data if result is None else result, sync, fd)
        if sync:
            try:
                os.close(fd)  # not dirty any more: commits nothing
            except OSError as e:
                if e.errno not in DEAD:
                    raise

    def op_rewrite(self):
        path = self.pick()
        if path is None:
            return self.op_create()
        data = self.content()
        fd = os.open(self.ep(path), os.O_WRONLY | os.O_TRUNC)
        self.fill(path, fd, data)

    def op_append(self):
        path = self.pick()
        if path is None:
            return self.op_create()
        old = get_blob(self.state, self.files[path][1])
        add = self.text(self.rng.randrange(1, 3000))
        if len(old) + len(add) > MAX_BYTES:
            return self.op_rewrite()
        fd = os.open(self.ep(path), os.O_WRONLY | os.O_APPEND)
        self.fill(path, fd, add, old + add)

    def op_rename(self):
        src = self.pick()
        if src is None:
            return
        if self.rng.random() < 0.4 and len(self.files) > 1:
            dst = self.pick()  # over an existing episode
            if dst == src:
                return
        else:
            dst = self.new_path()
            if dst in self.files:
                return
        i = self.log.begin(op="rename", path=src, to=dst)
        try:
            os.rename(self.ep(src), self.ep(dst))
        except OSError as e:
            self.log.end(i, errno=e.errno)
            raise
        self.log.end(i, ok=True)
        self.files[dst] = self.files.pop(src)

    def op_unlink(self):
        path = self.pick()
        if path is None:
            return
        i = self.log.begin(op="unlink", path=path)
        try:
            os.unlink(self.ep(path))
        except OSError as e:
            self.log.end(i, errno=e.errno)
            raise
        self.log.end(i, ok=True)
        del self.files[path]

    def op_flag(self):
        name = self.rng.choice(sorted(FLAGS))
        self.set_flag(name, self.rng.choice(FLAGS[name]))

    def set_flag(self, name, value):
        i = self.log.begin(op="flag", name=name, value=value)
        try:
            fd = os.open(os.path.join(self.mnt, "flags", name),
                         os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, (value + "\n").encode())
            finally:
                os.close(fd)
        except OSError as e:
            self.log.end(i, errno=e.errno)
            raise
        self.log.end(i, ok=True)
        self.flags[name] = value

    def op_consolidate(self):
        if self.flags.get("dual_memory_types") != "1":
            return self.set_flag("dual_memory_types", "1")
        i = self.log.begin(op="consolidate")
        try:
            fd = os.open(os.path.join(self.mnt, "ctl"), os.O_WRONLY)
            try:
                os.write(fd, b"consolidate\n")
            finally:
                os.close(fd)
        except OSError as e:
            self.log.end(i, errno=e.errno)
            if e.errno == errno.ENOSYS:
                self.n["consolidate_enosys"] += 1
                return
            raise
        self.log.end(i, ok=True)
        self.n["consolidate"] += 1

    def op_read(self):
        path = self.pick()
        if path is None:
            return
        with open(self.ep(path), "rb") as f:
            got = f.read()
        want = self.files[path][1]
        if sha(got) != want:
            raise Fail("read %s during the run: %d bytes, sha %s; the model "
                       "has %d bytes, sha %s" % (path, len(got), sha(got)[:12],
                                                 self.files[path][2],
                                                 want[:12]))
        ino = self.files[path][0]
        if ino is not None and os.stat(self.ep(path)).st_ino != ino:
            raise Fail("stat %s during the run: inode %d, the model has %d"
                       % (path, os.stat(self.ep(path)).st_ino, ino))
        self.n["reads"] += 1

    def op_recall(self):
        cue = self.rng.choice(WORDS) + " " + self.rng.choice(WORDS)
        with open(os.path.join(self.mnt, "recall", cue), "rb") as f:
            f.read()
        self.n["recalls"] += 1

    def run(self, seconds):
        ops = [(self.op_create, 22), (self.op_rewrite, 12),
               (self.op_append, 14), (self.op_rename, 10),
               (self.op_unlink, 7), (self.op_flag, 5),
               (self.op_consolidate, 3), (self.op_read, 20),
               (self.op_recall, 7)]
        funcs = [f for f, _ in ops]
        weights = [w for _, w in ops]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.rng.choices(funcs, weights)[0]()
        return 0


def cmd_run(state, mnt, seed, cycle, seconds):
    r = Runner(state, mnt, seed, cycle)
    rc = 0
    try:
        r.run(seconds)
        how = "ran out of time"
    except OSError as e:
        if e.errno in DEAD:
            how = "the mount died"
        else:
            how = "unexpected error"
            print("driver: cycle %d: unexpected error: %s" % (cycle, e))
            rc = 2
    except Fail as e:
        how = "property broken"
        print("driver: cycle %d: %s" % (cycle, e))
        rc = 1
    print("driver: cycle %d: %d steps, %d fsync'd, %d reads, %d recalls, "
          "%d consolidations (%d ENOSYS); %s"
          % (cycle, r.log.i, r.n["fsync"], r.n["reads"], r.n["recalls"],
             r.n["consolidate"], r.n["consolidate_enosys"], how))
    return rc


# ---------------------------------------------------------------- check


def read_steps(state, cycle):
    """The cycle's steps in order: dicts with the begin fields and 'res':
    'ok', 'failed' (a clean refusal, never applied), or 'inflight'."""
    steps = {}
    path = os.path.join(state, "ops-%d.log" % cycle)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        for line in f:
            if not line.endswith("\n"):
                break
            rec = json.loads(line)
            if rec["st"] == "begin":
                rec["res"] = "inflight"
                steps[rec["i"]] = rec
            elif rec.get("ok"):
                steps[rec["i"]]["res"] = "ok"
                if "ino" in rec:
                    steps[rec["i"]]["ino"] = rec["ino"]
            elif rec.get("errno") in DEAD:
                steps[rec["i"]]["res"] = "inflight"
            else:
                steps[rec["i"]]["res"] = "failed"
    return [steps[k] for k in sorted(steps)]


def apply(model, s):
    files, flags = model
    op = s["op"]
    if op == "create":
        files[s["path"]] = [s.get("ino"), EMPTY, 0, s["uid"]]
    elif op == "commit":
        if s["path"] in files:
            files[s["path"]] = files[s["path"]][:1] + [s["sha"], s["len"]] \
                + files[s["path"]][3:]
    elif op == "rename":
        if s["path"] in files:
            files[s["to"]] = files.pop(s["path"])
    elif op == "unlink":
        files.pop(s["path"], None)
    elif op == "flag":
        flags[s["name"]] = s["value"]


def observe(mnt, folders):
    files = {}
    root = os.path.join(mnt, "episodes")
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for fn in filenames:
            p = fn if rel == "." else rel + "/" + fn
            full = os.path.join(dirpath, fn)
            with open(full, "rb") as f:
                data = f.read()
            st = os.stat(full)
            if st.st_size != len(data):
                raise Fail("%s: stat says %d bytes, read gives %d"
                           % (p, st.st_size, len(data)))
            files[p] = [st.st_ino, sha(data), len(data)]
    flags = {}
    for name in FLAGS:
        with open(os.path.join(mnt, "flags", name)) as f:
            flags[name] = f.read().strip()
    return files, flags


def diff(state, model, seen, inos):
    """Problems between the model (files, flags) and what is SEEN."""
    mf, mflags = model
    sf, sflags = seen
    out = []
    for p in sorted(set(mf) | set(sf)):
        m, s = mf.get(p), sf.get(p)
        if s is not None and not is_blob(state, s[1]):
            out.append("%s: HALF-WRITTEN or foreign: %d bytes (sha %s) are no "
                       "version the driver wrote in full" % (p, s[2], s[1][:12]))
            continue
        if m is None:
            out.append("%s: present (%d bytes) but the model has no such "
                       "episode" % (p, s[2]))
        elif s is None:
            out.append("%s: MISSING (the model has %d bytes, sha %s)"
                       % (p, m[2], m[1][:12]))
        elif m[1] != s[1]:
            out.append("%s: %d bytes (sha %s), the model has %d bytes "
                       "(sha %s)" % (p, s[2], s[1][:12], m[2], m[1][:12]))
        elif m[0] is not None and m[0] != s[0]:
            out.append("%s: INODE %d, the model has %d" % (p, s[0], m[0]))
        elif m[0] is None and str(s[0]) in inos and inos[str(s[0])] != m[3]:
            out.append("%s: INODE %d REUSED: it named episode %s"
                       % (p, s[0], inos[str(s[0])]))
    for k in sorted(mflags):
        if mflags[k] != sflags.get(k):
            out.append("flag %s: %s, the model has %s"
                       % (k, sflags.get(k), mflags[k]))
    return out


def check_counts_and_recall(state, mnt, files):
    """status agrees with the walk; recall finds episodes by a unique
    word (the index survived with the content)."""
    out = []
    with open(os.path.join(mnt, "status")) as f:
        status = dict(l.rstrip("\n").split(": ", 1) for l in f if ": " in l)
    if int(status.get("episodes", -1)) != len(files):
        out.append("status says episodes: %s, the mount has %d"
                   % (status.get("episodes"), len(files)))
    tried = 0
    for p in sorted(files):
        words = re.findall(rb"(?<![0-9A-Za-z])zq[0-9]{6}(?![0-9A-Za-z])",
                           get_blob(state, files[p][1]))
        if not words:
            continue
        w = words[0].decode()
        with open(os.path.join(mnt, "recall", w + "?limit=1000&format=paths"),
                  "rb") as f:
            got = f.read().decode(errors="replace").splitlines()
        want = os.path.join(mnt, "episodes", p)
        if want not in got:
            out.append("recall of '%s' does not find %s (%d results)"
                       % (w, p, len(got)))
        tried += 1
        if tried == 5:
            break
    return out


def cmd_check(state, mnt, cycle, strict):
    base = load_base(state)
    steps = read_steps(state, cycle)
    # Only steps that reached the daemon count: a clean refusal changed
    # nothing (and the driver stops at the first unexpected one).
    live = [s for s in steps if s["res"] != "failed"]
    done = [s for s in live if s["res"] == "ok"]
    n_done = len(done)
    # The last acknowledged durable step: an fsync'd commit or a flag.
    durable = 0
    for k, s in enumerate(live):
        if s["res"] == "ok" and ((s["op"] == "commit" and s["sync"])
                                 or s["op"] == "flag"):
            durable = k + 1
    model = ({p: v[:] + [base["uids"].get(p)] for p, v in base["files"].items()},
             dict(base["flags"]))
    prefixes = []
    for k in range(len(live) + 1):
        if k >= durable:
            prefixes.append((k, ({p: v[:] for p, v in model[0].items()},
                                 dict(model[1]))))
        if k < len(live):
            apply(model, live[k])
    seen = observe(mnt, base["folders"])
    best = None
    for k, m in reversed(prefixes):
        d = diff(state, m, seen, base["inos"])
        if not d:
            best = (k, m, d)
            break
        if best is None or len(d) < len(best[2]):
            best = (k, m, d)
    k, m, problems = best
    acked = sum(1 for p, v in m[0].items()
                if any(s["res"] == "ok" and s["op"] == "commit" and s["sync"]
                       and s["path"] == p for s in live))
    print("check: cycle %d: %d steps (%d completed, %d in flight), last "
          "durable at step %d; %d episodes on the mount, %d of them fsync'd "
          "this cycle" % (cycle, len(live), n_done, len(live) - n_done,
                          durable, len(seen[0]), acked))
    if problems:
        print("check: cycle %d: FAILED: no prefix of the steps at or after "
              "the last durable one (%d) gives what the mount shows; the "
              "nearest, after %d steps, differs in:" % (cycle, durable, k))
        for p in problems:
            print("  " + p)
        return 1
    problems = check_counts_and_recall(state, mnt, seen[0])
    if problems:
        print("check: cycle %d: FAILED:" % cycle)
        for p in problems:
            print("  " + p)
        return 1
    lost = n_done - sum(1 for s in live[:k] if s["res"] == "ok")
    print("check: cycle %d: ok: the mount is the model after %d of %d "
          "steps%s" % (cycle, k, len(live),
                       "" if not lost else
                       "; %d completed (not fsync'd) steps lost" % lost))
    if lost and strict:
        print("check: STRICT: a SIGKILL of the daemon must lose no "
              "completed step (db.c: the WAL is in the page cache)")
        return 1
    # The state found is the next base; every inode number joins the set.
    base["files"] = {p: v[:3] for p, v in seen[0].items()}
    base["uids"] = {p: m[0][p][3] for p in seen[0]}
    for p, v in seen[0].items():
        base["inos"][str(v[0])] = m[0][p][3]
    for s in steps:
        if s["op"] == "create" and s.get("ino") is not None:
            base["inos"].setdefault(str(s["ino"]), s["uid"])
    base["flags"] = seen[1]
    base["next_uid"] = max([base["next_uid"]] +
                           [int(s["uid"][1:]) + 1 for s in steps
                            if s["op"] == "create"])
    base.setdefault("checked", 0)
    base["checked"] += len(seen[0])
    base.setdefault("acked", 0)
    base["acked"] += acked
    save_base(state, base)
    print("check: totals: %d episodes checked, %d fsync'd episodes checked, "
          "%d inode numbers seen" % (base["checked"], base["acked"],
                                     len(base["inos"])))
    return 0


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "init":
            return cmd_init(argv[2], argv[3])
        if len(argv) in (6, 7) and argv[1] == "run":
            secs = float(argv[6]) if len(argv) == 7 else 60.0
            return cmd_run(argv[2], argv[3], int(argv[4]), int(argv[5]), secs)
        if len(argv) == 5 and argv[1] == "check":
            return cmd_check(argv[2], argv[3], int(argv[4]),
                             os.environ.get("STRICT") == "1")
    except Fail as e:
        print("check: FAILED: %s" % e)
        return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
