#!/usr/bin/env python3
"""driver.py - the concurrent load of tests/stress/stress.sh.

usage: driver.py MNT SECONDS [WRITERS] [RECALLERS] [SEED]

Processes (not threads: no GIL between them), all started at once:
  writer i     (default 8) in episodes/w<i>/ only: create, rewrite,
               append, fsync, rename (also over its own episodes), unlink,
               xattrs; keeps a model of its folder and reads back what it
               wrote (byte-exact); at the end compares the whole folder
               with the model
  recaller j   (default 8) recall/ with random cues and options, and the
               query file: every answer must parse (text: 5 fields, score
               in 0..1; json: an object with results); reads concepts/
  consolidator `echo consolidate > ctl` in a loop, dual_memory_types on
Any error (an errno, a mismatch, an answer that does not parse) is printed
and makes the exit status 1.  Prints one line of figures per role.
The folder models are written to MNT/../stress-model.json for the harness.
"""

import errno
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import time

WORDS = ("alice bob carol station coffee bike chain river garden market "
         "train ticket lunch meeting report budget sunday monday rain window "
         "kitchen piano letter harbour lantern orchard meadow zeppelin "
         "hangar rivet girder blueprint").split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).encode()


def writer(mnt, i, seconds, seed, out):
    rng = random.Random(seed * 100 + i)
    d = os.path.join(mnt, "episodes", "w%d" % i)
    model = {}
    n = {"ops": 0, "fsync": 0, "reads": 0}
    errors = []
    end = time.monotonic() + seconds

    def put(name, data, flags, sync):
        fd = os.open(os.path.join(d, name), flags, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
                n["fsync"] += 1
        finally:
            os.close(fd)

    try:
        os.mkdir(d)
        while time.monotonic() < end:
            n["ops"] += 1
            r = rng.random()
            names = sorted(model)
            if r < 0.30 or not names:
                name = "e%d" % rng.randrange(10 ** 6)
                data = text(rng, rng.randrange(1, 400))
                put(name, data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    rng.random() < 0.3)
                model[name] = data
            elif r < 0.45:
                name = rng.choice(names)
                data = text(rng, rng.randrange(1, 400))
                put(name, data, os.O_WRONLY | os.O_TRUNC, rng.random() < 0.3)
                model[name] = data
            elif r < 0.60:
                name = rng.choice(names)
                add = text(rng, rng.randrange(1, 50))
                if len(model[name]) + len(add) < 200000:
                    put(name, add, os.O_WRONLY | os.O_APPEND, False)
                    model[name] += add
            elif r < 0.70:
                a = rng.choice(names)
                b = rng.choice(names) if rng.random() < 0.4 else \
                    "r%d" % rng.randrange(10 ** 6)
                if a != b:
                    os.rename(os.path.join(d, a), os.path.join(d, b))
                    model[b] = model.pop(a)
            elif r < 0.78 and len(names) > 5:
                name = rng.choice(names)
                os.unlink(os.path.join(d, name))
                del model[name]
            elif r < 0.82:
                name = rng.choice(names)
                os.setxattr(os.path.join(d, name), "user.engram.confidence",
                            b"%.2f" % rng.random())
            else:
                name = rng.choice(names)
                with open(os.path.join(d, name), "rb") as f:
                    got = f.read()
                n["reads"] += 1
                if got != model[name]:
                    errors.append("writer %d: %s reads %d bytes, wrote %d"
                                  % (i, name, len(got), len(model[name])))
                    break
        # The end: the folder is exactly the model.
        found = sorted(os.listdir(d))
        if found != sorted(model):
            errors.append("writer %d: folder has %s, model %s"
                          % (i, found[:10], sorted(model)[:10]))
        for name, data in model.items():
            with open(os.path.join(d, name), "rb") as f:
                if f.read() != data:
                    errors.append("writer %d: %s differs at the end" % (i, name))
    except OSError as e:
        errors.append("writer %d: %s" % (i, e))
    out.put(("writer", i, n, errors,
             {k: hashlib.sha256(v).hexdigest() for k, v in model.items()}))


def recaller(mnt, j, seconds, seed, out):
    rng = random.Random(seed * 1000 + j)
    n = {"recalls": 0, "results": 0, "queries": 0, "concepts": 0}
    errors = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end and len(errors) < 5:
            cue = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4)))
            r = rng.random()
            if r < 0.6:
                opts = rng.choice(["", "?limit=5", "?mode=episodic",
                                   "?mode=blended&limit=20", "?mode=semantic",
                                   "?under=w%d" % rng.randrange(8),
                                   "?min_confidence=0.2", "?budget=500"])
                with open(os.path.join(mnt, "recall", cue + opts), "rb") as f:
                    ans = f.read()
                n["recalls"] += 1
                for line in ans.split(b"\n"):
                    if not line:
                        continue
                    fields = line.split(b"\t")
                    if len(fields) != 5 or not 0 <= float(fields[1]) <= 1:
                        errors.append("recaller %d: bad line %r" % (j, line))
                    n["results"] += 1
            elif r < 0.8:
                with open(os.path.join(mnt, "recall", cue + "?format=json"),
                          "rb") as f:
                    obj = json.loads(f.read())
                if "results" not in obj:
                    errors.append("recaller %d: json without results" % j)
                n["results"] += len(obj["results"])
                n["recalls"] += 1
            elif r < 0.9:
                fd = os.open(os.path.join(mnt, "query"), os.O_RDWR)
                try:
                    os.write(fd, (cue + "\n?limit=3").encode())
                    while os.read(fd, 65536):
                        pass
                finally:
                    os.close(fd)
                n["queries"] += 1
            else:
                cdir = os.path.join(mnt, "concepts")
                for c in os.listdir(cdir)[:3]:
                    try:
                        with open(os.path.join(cdir, c), "rb") as f:
                            f.read()
                    except FileNotFoundError:
                        pass  # dissolved between listing and reading
                n["concepts"] += 1
    except (OSError, ValueError) as e:
        errors.append("recaller %d: %s" % (j, e))
    out.put(("recaller", j, n, errors, None))


def consolidator(mnt, seconds, out):
    n = {"runs": 0, "enosys": 0}
    errors = []
    end = time.monotonic() + seconds
    try:
        with open(os.path.join(mnt, "flags", "dual_memory_types"), "w") as f:
            f.write("1\n")
        with open(os.path.join(mnt, "flags", "consolidation.min_cluster_size"), "w") as f:
            f.write("2\n")
        while time.monotonic() < end:
            fd = os.open(os.path.join(mnt, "ctl"), os.O_WRONLY)
            try:
                os.write(fd, b"consolidate\n")
                n["runs"] += 1
            except OSError as e:
                if e.errno != errno.ENOSYS:
                    raise
                n["enosys"] += 1
                time.sleep(1)
            finally:
                os.close(fd)
            time.sleep(0.05)
    except OSError as e:
        errors.append("consolidator: %s" % e)
    out.put(("consolidator", 0, n, errors, None))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    mnt, seconds = argv[1], float(argv[2])
    nw = int(argv[3]) if len(argv) > 3 else 8
    nr = int(argv[4]) if len(argv) > 4 else 8
    seed = int(argv[5]) if len(argv) > 5 else int(time.time())
    out = mp.Queue()
    procs = [mp.Process(target=writer, args=(mnt, i, seconds, seed, out))
             for i in range(nw)]
    procs += [mp.Process(target=recaller, args=(mnt, j, seconds, seed, out))
              for j in range(nr)]
    procs.append(mp.Process(target=consolidator, args=(mnt, seconds, out)))
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [e for r in results for e in r[3]]
    tot = {}
    for role, _, n, _, _ in results:
        t = tot.setdefault(role, {})
        for k, v in n.items():
            t[k] = t.get(k, 0) + v
    for role in ("writer", "recaller", "consolidator"):
        print("stress: %ss: %s" % (role, ", ".join("%s %d" % kv for kv in
                                                  sorted(tot.get(role, {}).items()))))
    models = {"w%d" % r[1]: r[4] for r in results if r[0] == "writer"}
    with open(os.path.join(os.path.dirname(mnt), "stress-model.json"), "w") as f:
        json.dump(models, f)
    for e in errors:
        print("stress: ERROR: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
