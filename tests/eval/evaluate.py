#!/usr/bin/env python3
"""evaluate.py - the quality targets of issue 3, measured on a real mount.

Normally started by tests/eval/run.sh (`make eval`), which installs the
corpora, makes a private temp dir and always unmounts.  By hand:

    python3 tests/eval/evaluate.py --build-dir build --tmp DIR [--out bench/out]

What it does, per corpus, each store a fresh engramfs data dir:

 1. Known-item recall (fortunes, wordnet).  A seeded sample of K episodes;
    from each, one sentence (>= 4 words, not a sentence of any other
    episode) is the cue.  Variants:
      exact     the sentence as it is;
      partial   half its words dropped at random, then a typo (swap two
                adjacent letters, drop one, or replace one) in a quarter of
                the remaining words;
      held-out  the sentence is cut out of the stored episode before
                ingest (a second store), so only its context is in memory;
                episodes with >= 3 sentences only.
    Metrics: R@10 (known item in the top 10) and MRR@10.  Systems, in the
    same run on the same texts: engramfs mode=episodic, engramfs
    mode=blended (after `consolidate`), and SQLite FTS5 bm25 with the
    `porter unicode61` tokenizer, the cue's words OR-ed, top 10.  Also the
    top-10 overlap of blended with episodic on exact cues.
 2. Concepts (fortunes, wordnet): AMI (ami.py) of the concepts under
    MNT/concepts/ against the labels (fortune category, WordNet
    lexicographer file; never ingested), against a random clustering with
    the same cluster sizes (mean of EVAL_RANDOM_RUNS seeds) and against a
    lexical nearest-neighbour clustering from FTS5 (each episode linked to
    its top-1 FTS5 neighbour for its own 8 rarest words; connected
    components of at least consolidation.min_cluster_size episodes).
    AMI is computed over the clustered episodes ("covered"), and over all
    episodes with each unclustered one a singleton ("all").
 3. Dated corpus (changelogs, entry dates as mtimes): (a) cue "what changed recently in
    X" for every package X with >= 3 entries: is X's newest entry first,
    nDCG@10 with gain 1/(1 + date rank) over X's entries, date order of
    X's entries within the top 10; (b) a change item as the cue, R@10 and
    MRR on the oldest fifth of the corpus (by date) and the newest fifth.

Undated corpora get one common mtime (a day before the run) so that
recency cannot decide anything there.  recall.rehearsal_weight is set to
0 for the run: every evaluation recall would otherwise rehearse its
results and make later cues depend on earlier ones (each cue is meant to
be an independent trial).  consolidation.interval_s is set to 0 so that
concepts form exactly when the script says `consolidate`.  Everything
else is the daemon's default.

Environment: EVAL_QUICK=1 (fortunes only, 60 cues a variant), EVAL_K
(cues per variant, default 1000), EVAL_SEED (1), EVAL_CORPORA
(comma list), EVAL_WORDNET_N (synsets sampled, 20000), EVAL_CHANGELOG_MAX
(0 = every entry found), EVAL_RANDOM_RUNS (5), EVAL_CLUSTERING=0 (skip
the FTS5 neighbour clustering, the slowest part; concepts are still read),
EVAL_FLAGS="recall.bm25_b=0.5,..." (set these flags too, for experiments;
the report says so in its header).

Exit status 0 whatever the targets say (this is a measurement); 1 when
something breaks (no mount, a crash).
"""
import argparse
import errno
import json
import math
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict

sys.dont_write_bytecode = True	# no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ami as amimod  # noqa: E402
import corpora  # noqa: E402

LIMIT = 10
MIN_WORDS = 4			# a cue sentence has at least this many words
MIN_WORDS_CHANGELOG = 5
NN_TERMS = 8			# words per document in the FTS5 neighbour query
NN_MAX_DF = 0.05		# ... chosen among words in at most 5% of documents
NAME_MAX = 255

# Operationalised targets (issue 3, "Quality targets").
TGT_EPISODIC_GAP = 0.02		# episodic >= FTS5 - 0.02 (R@10 and MRR)
TGT_BLEND_GAIN = 0.05		# blended R@10 >= episodic + 0.05 (partial, held-out)
TGT_BLEND_HARM = 0.01		# blended R@10 >= episodic - 0.01 (exact)
TGT_OVERLAP = 0.85		# top-10 overlap blended/episodic on exact cues
TGT_AMI_MARGIN = 0.05		# "clearly above random": >= random + 0.05
TGT_NEWEST_FIRST = 0.90		# share of "what changed recently in X" whose top hit is X's newest
TGT_AGE_GAP = 0.02		# |R@10 oldest fifth - R@10 newest fifth|


def log(msg):
    print("[eval %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------
# engramfs mount
# ---------------------------------------------------------------------------

class MountError(Exception):
    pass


class Engram:
    """One fresh store mounted from a private dir; a context manager that
    always unmounts."""

    def __init__(self, daemon, tmp, name):
        self.daemon = daemon
        self.dir = os.path.join(tmp, name)
        self.data = os.path.join(self.dir, "data")
        self.mnt = os.path.join(self.dir, "mnt")
        self.logpath = os.path.join(self.dir, "daemon.log")
        self.proc = None
        self.flags_set = {}
        self.recall_paths = Counter()	# name / query / error

    def __enter__(self):
        os.makedirs(self.data)
        os.makedirs(self.mnt)
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(
            [self.daemon, "-f", self.data, self.mnt],
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        with open(os.path.join(self.dir, "pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        t0 = time.time()
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                raise MountError("engramfs exited (%s): %s" %
                                 (self.proc.returncode, self.log_tail()))
            if time.time() - t0 > 20:
                self.__exit__(None, None, None)
                raise MountError("no mount after 20 s: " + self.log_tail())
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        if self.proc is None:
            return False
        if os.path.ismount(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt],
                               capture_output=True)
            if r.returncode:
                subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                               capture_output=True)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        self.proc = None
        return False

    def log_tail(self, n=1500):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def log_errors(self):
        t = self.log_tail(1 << 20)
        return [ln for ln in t.splitlines()
                if re.search(r"AddressSanitizer|runtime error:|abort|"
                             r"assert|segfault", ln, re.I)]

    def p(self, *parts):
        return os.path.join(self.mnt, *parts)

    def set_flag(self, name, value):
        try:
            with open(self.p("flags", name), "w") as f:
                f.write("%s\n" % value)
            self.flags_set[name] = str(value)
            return True
        except OSError as e:
            self.flags_set[name] = "not set: " + errno.errorcode.get(
                e.errno, str(e.errno))
            return False

    def get_flag(self, name, default=None):
        try:
            with open(self.p("flags", name)) as f:
                return f.read().strip()
        except OSError:
            return default

    def status(self):
        out = {}
        try:
            with open(self.p("status")) as f:
                for ln in f:
                    k, _, v = ln.partition(":")
                    out[k.strip()] = v.strip()
        except OSError:
            pass
        return out

    def ingest(self, docs, texts=None, when=None):
        """Write every document as an episode; mtime = its time."""
        t0 = time.time()
        for i, d in enumerate(docs):
            path = self.p("episodes", d["id"])
            data = (texts[i] if texts is not None else d["text"]).encode()
            with open(path, "wb") as f:
                f.write(data)
            t = d["when"] if d["when"] is not None else when
            if t is not None:
                os.utime(path, (t, t))
        return time.time() - t0

    def recall(self, cue, mode, limit=LIMIT):
        """Names of the results (best first), the effective mode, the JSON
        results; raises OSError when both ways of asking fail."""
        opts = "?mode=%s&limit=%d&format=json" % (mode, limit)
        name = cue + opts
        raw = None
        if ("/" not in cue and len(name.encode()) <= NAME_MAX and
                not cue.startswith(".")):
            try:
                with open(self.p("recall", name), "rb") as f:
                    raw = f.read()
                self.recall_paths["recall/"] += 1
            except OSError:
                raw = None
                self.recall_paths["recall/ failed, retried on query"] += 1
        if raw is None:
            body = json.dumps({"cue": cue, "mode": mode, "limit": limit,
                               "format": "json"}).encode()
            fd = os.open(self.p("query"), os.O_RDWR)
            try:
                os.write(fd, body)
                chunks = []
                while True:
                    b = os.read(fd, 1 << 16)
                    if not b:
                        break
                    chunks.append(b)
            finally:
                os.close(fd)
            raw = b"".join(chunks)
            self.recall_paths["query"] += 1
        obj = json.loads(raw.decode("utf-8"))
        res = obj.get("results", [])
        return [r["name"] for r in res], obj.get("mode"), res

    def metric(self, name):
        """The sum of a metric's samples in MNT/metrics (0 if absent)."""
        total = 0.0
        try:
            with open(self.p("metrics")) as f:
                for ln in f:
                    if ln.startswith(name) and ln[len(name)] in " {":
                        total += float(ln.rsplit(None, 1)[1])
        except (OSError, ValueError, IndexError):
            pass
        return total

    def timeouts(self):
        """Semantic-pathway timeouts so far: each is a blended recall
        that fell back to episodic (semantic_timeout_ms)."""
        return int(self.metric("engram_semantic_pathway_timeout_total"))

    def ctl(self, cmd):
        """Write one command to ctl: (ok, errno name or None, seconds)."""
        t0 = time.time()
        try:
            fd = os.open(self.p("ctl"), os.O_WRONLY)
            try:
                os.write(fd, (cmd + "\n").encode())
            finally:
                os.close(fd)
            return True, None, time.time() - t0
        except OSError as e:
            return False, errno.errorcode.get(e.errno, str(e.errno)), \
                time.time() - t0

    def concepts(self):
        """{concept file name: {"members": [(strength, name)], ...}}."""
        out = {}
        d = self.p("concepts")
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return out
        member = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\t(.+?)\s*$")
        for n in names:
            try:
                with open(os.path.join(d, n), encoding="utf-8",
                          errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            mem = []
            info = {}
            for ln in text.splitlines():
                m = member.match(ln)
                if m and 0 <= float(m.group(1)) <= 1:
                    nm = m.group(2)
                    if "/episodes/" in nm:
                        nm = nm.split("/episodes/", 1)[1]
                    mem.append((float(m.group(1)), nm))
                    continue
                k, sep, v = ln.partition(":")
                if sep and k.strip().lower() in ("coherence", "members",
                                                 "label"):
                    info[k.strip().lower()] = v.strip()
            out[n] = {"members": mem, "info": info}
        return out


# ---------------------------------------------------------------------------
# SQLite FTS5 baseline
# ---------------------------------------------------------------------------

def fts_words(cue):
    """The cue's words as unicode61 splits them, each once, for OR."""
    seen = []
    for w in corpora.words(cue.casefold()):
        if w not in seen:
            seen.append(w)
    return seen


class Fts:
    def __init__(self, texts):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE d USING fts5(body, "
                        "tokenize='porter unicode61')")
        self.db.executemany("INSERT INTO d(rowid, body) VALUES (?, ?)",
                            ((i, t) for i, t in enumerate(texts)))
        self.n = len(texts)

    def search(self, words, limit=LIMIT):
        if not words:
            return []
        q = " OR ".join('"%s"' % w.replace('"', '""') for w in words)
        return [r[0] for r in self.db.execute(
            "SELECT rowid FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT ?",
            (q, limit))]

    def nn_clusters(self, texts, min_size):
        """Lexical nearest-neighbour clustering: each document's top-1 FTS5
        neighbour for its NN_TERMS rarest words (2 <= df <= 5% of the
        documents: words that can link two documents and say something),
        the union of
        those links, components of at least MIN_SIZE documents.  Returns
        {doc index: cluster id}."""
        docw = []
        df = Counter()
        for t in texts:
            s = set(corpora.words(t.casefold()))
            docw.append(s)
            df.update(s)
        n = len(texts)
        parent = list(range(n))

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, s in enumerate(docw):
            ws = sorted((w for w in s if 2 <= df[w] <= NN_MAX_DF * n),
                        key=lambda w: (df[w], w))[:NN_TERMS]
            for j in self.search(ws, 2):
                if j != i:
                    a, b = find(i), find(j)
                    if a != b:
                        parent[a] = b
                    break
        comp = defaultdict(list)
        for i in range(len(texts)):
            comp[find(i)].append(i)
        out = {}
        for cid, (_, mem) in enumerate(sorted(comp.items())):
            if len(mem) >= min_size:
                for i in mem:
                    out[i] = cid
        return out


# ---------------------------------------------------------------------------
# Cues
# ---------------------------------------------------------------------------

def sentence_counts(docs):
    return Counter(s.casefold() for d in docs for s in set(d["sentences"]))


def eligible(doc, counts, min_words, skip_first=False):
    return [i for i, s in enumerate(doc["sentences"])
            if (i > 0 or not skip_first) and len(corpora.words(s)) >= min_words
            and counts[s.casefold()] == 1]


def typo(word, rng):
    pos = [i for i, c in enumerate(word) if c.isalpha()]
    ops = ["swap", "drop", "replace"]
    op = rng.choice(ops)
    w = list(word)
    if op == "swap":
        pairs = [i for i in pos if i + 1 in pos and w[i] != w[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            w[i], w[i + 1] = w[i + 1], w[i]
            return "".join(w)
        op = "replace"
    i = rng.choice(pos)
    if op == "drop":
        del w[i]
        return "".join(w)
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c != w[i].lower()]
    c = rng.choice(letters)
    w[i] = c.upper() if w[i].isupper() else c
    return "".join(w)


def partial_cue(cue, rng):
    """Half the words dropped at random; a typo in a quarter of the rest.
    Returns the cue and the same cue without its typos (the most that
    cue completion could give back)."""
    toks = [t for t in cue.split() if corpora.words(t)]
    n = len(toks)
    keep = sorted(rng.sample(range(n), n - n // 2))
    kept = [toks[i] for i in keep]
    cand = [i for i, t in enumerate(kept) if sum(c.isalpha() for c in t) >= 3]
    m = int(len(kept) / 4 + 0.5)
    clean = " ".join(kept)
    for i in rng.sample(cand, min(m, len(cand))):
        kept[i] = typo(kept[i], rng)
    return " ".join(kept), clean


def known_item_cues(docs, k, seed, corpus):
    """exact/partial cues on the stored texts, held-out cues with their
    cut texts: {"exact": [(doc, cue)], "partial": [...], "heldout": [...],
    "heldout_texts": {doc: text}}."""
    counts = sentence_counts(docs)
    rng = random.Random("%s:%s:exact" % (seed, corpus))
    pool = [i for i, d in enumerate(docs) if eligible(d, counts, MIN_WORDS)]
    pick = sorted(rng.sample(pool, min(k, len(pool))))
    exact, partial, untyped = [], [], []
    prng = random.Random("%s:%s:partial" % (seed, corpus))
    for i in pick:
        s = docs[i]["sentences"][rng.choice(eligible(docs[i], counts,
                                                     MIN_WORDS))]
        exact.append((i, s))
        cue, clean = partial_cue(s, prng)
        partial.append((i, cue))
        untyped.append((i, clean))
    hrng = random.Random("%s:%s:heldout" % (seed, corpus))
    hpool = [i for i, d in enumerate(docs)
             if len(d["sentences"]) >= 3 and eligible(d, counts, MIN_WORDS)]
    hpick = sorted(hrng.sample(hpool, min(k, len(hpool))))
    held, held_texts = [], {}
    for i in hpick:
        d = docs[i]
        j = hrng.choice(eligible(d, counts, MIN_WORDS))
        held.append((i, d["sentences"][j]))
        held_texts[i] = d["sep"].join(s for n, s in enumerate(d["sentences"])
                                      if n != j)
    return {"exact": exact, "partial": partial, "untyped": untyped,
            "heldout": held,
            "heldout_texts": held_texts, "pool": len(pool),
            "heldout_pool": len(hpool)}


# ---------------------------------------------------------------------------
# Running cues
# ---------------------------------------------------------------------------

def run_engram(eng, cues, mode, ids, keep_lists=False):
    """Rank of each cue's known item (None = not in the top 10), plus the
    result lists when asked."""
    index = {d: i for i, d in enumerate(ids)}
    ranks, lists, errs, times = [], [], 0, []
    pathways = Counter()
    eff_modes = Counter()
    for doc, cue in cues:
        t0 = time.perf_counter()
        try:
            names, eff, res = eng.recall(cue, mode)
        except (OSError, ValueError):
            names, eff, res = [], "error", []
            errs += 1
        times.append(time.perf_counter() - t0)
        eff_modes[eff] += 1
        for r in res:
            pathways[r.get("pathway", "?")] += 1
        got = [index.get(n, -1) for n in names]
        ranks.append(got.index(doc) + 1 if doc in got else None)
        if keep_lists:
            lists.append(got)
    return {"ranks": ranks, "lists": lists, "errors": errs,
            "mean_ms": 1000 * sum(times) / max(1, len(times)),
            "pathways": dict(pathways), "modes": dict(eff_modes)}


def run_fts(fts, cues, keep_lists=False):
    ranks, lists, times = [], [], []
    for doc, cue in cues:
        t0 = time.perf_counter()
        got = fts.search(fts_words(cue))
        times.append(time.perf_counter() - t0)
        ranks.append(got.index(doc) + 1 if doc in got else None)
        if keep_lists:
            lists.append(got)
    return {"ranks": ranks, "lists": lists, "errors": 0,
            "mean_ms": 1000 * sum(times) / max(1, len(times))}


def summarize(ranks):
    n = len(ranks)
    if not n:
        return {"n": 0, "r10": None, "mrr": None}
    r10 = sum(1 for r in ranks if r is not None and r <= LIMIT) / n
    mrr = sum(1.0 / r for r in ranks if r is not None and r <= LIMIT) / n
    return {"n": n, "r10": r10, "mrr": mrr}


def paired(a, b):
    """Mean and standard error of the per-cue difference a - b (R@10 and
    reciprocal rank), and the discordant counts."""
    def rr(r):
        return 1.0 / r if r is not None and r <= LIMIT else 0.0

    def hit(r):
        return 1.0 if r is not None and r <= LIMIT else 0.0

    out = {}
    for key, f in (("r10", hit), ("mrr", rr)):
        d = [f(x) - f(y) for x, y in zip(a, b)]
        n = len(d)
        if n < 2:
            out[key] = {"diff": None, "se": None}
            continue
        m = sum(d) / n
        var = sum((x - m) ** 2 for x in d) / (n - 1)
        out[key] = {"diff": m, "se": math.sqrt(var / n)}
    out["only_a"] = sum(1 for x, y in zip(a, b) if hit(x) and not hit(y))
    out["only_b"] = sum(1 for x, y in zip(a, b) if hit(y) and not hit(x))
    return out


def overlap(la, lb):
    vals = []
    for a, b in zip(la, lb):
        a, b = a[:LIMIT], b[:LIMIT]
        den = max(len(a), len(b))
        vals.append(1.0 if den == 0 else len(set(a) & set(b)) / den)
    return sum(vals) / len(vals) if vals else None


# ---------------------------------------------------------------------------
# Clustering
# ---------------------------------------------------------------------------

def concept_assignment(concepts, index):
    """Hard clustering from concept files: each episode goes to the concept
    binding it most strongly.  {doc index: concept id}, plus how many
    episodes were in more than one concept."""
    best = {}
    multi = Counter()
    for cid, (name, c) in enumerate(sorted(concepts.items())):
        for s, nm in c["members"]:
            i = index.get(nm)
            if i is None:
                continue
            multi[i] += 1
            if i not in best or s > best[i][0]:
                best[i] = (s, cid)
    return ({i: v[1] for i, v in best.items()},
            sum(1 for v in multi.values() if v > 1))


def cluster_scores(assign, labels, seed, runs):
    """AMI of a clustering {doc: cluster} against LABELS, covered and all,
    with a random clustering of the same sizes as the baseline."""
    n = len(labels)
    docs = sorted(assign)
    out = {"clusters": len(set(assign.values())), "covered": len(docs),
           "coverage": len(docs) / n if n else 0.0}
    if len(docs) < 2:
        out.update({"ami_covered": None, "ami_all": None,
                    "random_covered": None, "random_all": None})
        return out
    truth_c = [labels[i] for i in docs]
    pred_c = [assign[i] for i in docs]
    out["ami_covered"] = amimod.ami(truth_c, pred_c)
    pred_all = [assign.get(i, ("single", i)) for i in range(n)]
    out["ami_all"] = amimod.ami(labels, pred_all)
    rc, ra = [], []
    for r in range(runs):
        rng = random.Random("%s:random:%d" % (seed, r))
        p = pred_c[:]
        rng.shuffle(p)
        rc.append(amimod.ami(truth_c, p))
        p = pred_all[:]
        rng.shuffle(p)
        ra.append(amimod.ami(labels, p))

    def ms(v):
        m = sum(v) / len(v)
        sd = math.sqrt(sum((x - m) ** 2 for x in v) / max(1, len(v) - 1))
        return {"mean": m, "sd": sd}

    out["random_covered"] = ms(rc)
    out["random_all"] = ms(ra)
    sizes = sorted(Counter(assign.values()).values())
    out["size_median"] = sizes[len(sizes) // 2]
    out["size_max"] = sizes[-1]
    return out


# ---------------------------------------------------------------------------
# Dated corpus
# ---------------------------------------------------------------------------

def dated_recency(lists, pkgs, by_pkg, docs):
    """Scores of "changes in X" result lists (doc indices, best first)."""
    top1_newest = top1_pkg = 0
    ndcg, prec, order_vals = [], [], []
    for got, x in zip(lists, pkgs):
        ent = sorted(by_pkg[x], key=lambda i: -docs[i]["when"])
        newest_t = docs[ent[0]]["when"]
        rank_of = {}
        for r, i in enumerate(ent):
            rank_of[i] = r
        got = got[:LIMIT]
        if got and got[0] in rank_of:
            top1_pkg += 1
            if docs[got[0]]["when"] == newest_t:
                top1_newest += 1
        dcg = sum((1.0 / (1 + rank_of[i])) / math.log2(p + 2)
                  for p, i in enumerate(got) if i in rank_of)
        idcg = sum((1.0 / (1 + r)) / math.log2(r + 2)
                   for r in range(min(LIMIT, len(ent))))
        ndcg.append(dcg / idcg)
        mine = [i for i in got if i in rank_of]
        prec.append(len(mine) / min(LIMIT, len(ent)))
        pairs = conc = 0
        for a in range(len(mine)):
            for b in range(a + 1, len(mine)):
                pairs += 1
                conc += docs[mine[a]]["when"] >= docs[mine[b]]["when"]
        if pairs:
            order_vals.append(conc / pairs)
    n = len(lists)
    return {"n": n, "top1_newest": top1_newest / n if n else None,
            "top1_package": top1_pkg / n if n else None,
            "ndcg10": sum(ndcg) / n if n else None,
            "precision": sum(prec) / n if n else None,
            "date_order": (sum(order_vals) / len(order_vals)
                           if order_vals else None)}


# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------

EXTRA_FLAGS = []		# from EVAL_FLAGS="name=value,name=value"


def setup_flags(eng):
    eng.set_flag("recall.rehearsal_weight", 0)
    eng.set_flag("consolidation.interval_s", 0)
    eng.set_flag("dual_memory_types", 1)
    for name, value in EXTRA_FLAGS:
        if not eng.set_flag(name, value):
            log("  flag %s=%s: %s" % (name, value, eng.flags_set[name]))


def consolidate(eng, res, key):
    ok, err, secs = eng.ctl("consolidate")
    res[key] = {"ok": ok, "error": err, "seconds": round(secs, 2)}
    if ok:
        log("  consolidate: %.1f s" % secs)
    else:
        log("  consolidate: %s (blended recall n/a)" % err)
    return ok


def blended_usable(eng):
    """Does the daemon accept mode=blended?"""
    try:
        eng.recall("probe", "blended")
        return True
    except (OSError, ValueError):
        return False


def eval_known_item(cfg, corpus, docs, out):
    ids = [d["id"] for d in docs]
    texts = [d["text"] for d in docs]
    labels = [d["label"] for d in docs]
    cues = known_item_cues(docs, cfg.k, cfg.seed, corpus)
    res = {"episodes": len(docs), "labels": len(set(labels)),
           "cue_pool": cues["pool"], "heldout_pool": cues["heldout_pool"],
           "variants": {}, "clustering": {}}
    out[corpus] = res
    log("%s: %d episodes, %d labels, %d/%d/%d cues" %
        (corpus, len(docs), len(set(labels)), len(cues["exact"]),
         len(cues["partial"]), len(cues["heldout"])))

    # -- store A: the texts as they are (exact, partial, concepts)
    fts = Fts(texts)
    with Engram(cfg.daemon, cfg.tmp, corpus + "-full") as eng:
        setup_flags(eng)
        secs = eng.ingest(docs, when=cfg.t0)
        st = eng.status()
        res["ingest_s"] = round(secs, 1)
        res["indexed"] = st.get("indexed") or st.get("episodes")
        log("  ingest %d episodes: %.1f s (status: %s indexed)" %
            (len(docs), secs, res["indexed"]))
        runs = {}
        for v in ("exact", "partial"):
            runs[v] = {"episodic": run_engram(eng, cues[v], "episodic", ids,
                                              keep_lists=(v == "exact")),
                       "fts5": run_fts(fts, cues[v])}
        # the ceiling of cue completion: the partial cues, typos undone
        res["partial_untyped"] = summarize(run_engram(
            eng, cues["untyped"], "episodic", ids)["ranks"])
        cons_ok = consolidate(eng, res, "consolidate")
        blend_ok = cons_ok and blended_usable(eng)
        for v in ("exact", "partial"):
            if blend_ok:
                runs[v]["blended"] = run_engram(eng, cues[v], "blended", ids,
                                                keep_lists=(v == "exact"))
        if blend_ok:
            res["overlap_exact"] = overlap(runs["exact"]["blended"]["lists"],
                                           runs["exact"]["episodic"]["lists"])
        concepts = eng.concepts() if cons_ok else {}
        min_size = int(float(eng.get_flag("consolidation.min_cluster_size",
                                          "3")))
        res["semantic_timeouts"] = eng.timeouts()
        res["flags"] = dict(eng.flags_set)
        res["recall_paths"] = dict(eng.recall_paths)
        res["daemon_log_problems"] = eng.log_errors()[:5]
    for v in ("exact", "partial"):
        res["variants"][v] = finish_variant(runs[v], cues[v], ids)

    # -- clustering
    index = {d: i for i, d in enumerate(ids)}
    cl = res["clustering"]
    cl["min_cluster_size"] = min_size
    if concepts:
        assign, multi = concept_assignment(concepts, index)
        cl["concepts"] = cluster_scores(assign, labels, cfg.seed, cfg.runs)
        cl["concepts"]["concept_files"] = len(concepts)
        cl["concepts"]["episodes_in_several"] = multi
    else:
        cl["concepts"] = None
    if cfg.clustering:
        t0 = time.time()
        nn = fts.nn_clusters(texts, min_size)
        cl["fts5_nn"] = cluster_scores(nn, labels, cfg.seed, cfg.runs)
        log("  FTS5 neighbour clustering: %.1f s" % (time.time() - t0))
    else:
        cl["fts5_nn"] = None

    # -- store B: held-out sentences cut out
    htexts = [cues["heldout_texts"].get(i, t) for i, t in enumerate(texts)]
    hfts = Fts(htexts)
    with Engram(cfg.daemon, cfg.tmp, corpus + "-heldout") as eng:
        setup_flags(eng)
        secs = eng.ingest(docs, texts=htexts, when=cfg.t0)
        log("  held-out store, ingest: %.1f s" % secs)
        run = {"episodic": run_engram(eng, cues["heldout"], "episodic", ids),
               "fts5": run_fts(hfts, cues["heldout"])}
        if consolidate(eng, res, "consolidate_heldout") and \
                blended_usable(eng):
            run["blended"] = run_engram(eng, cues["heldout"], "blended", ids)
        res["semantic_timeouts"] += eng.timeouts()
        res["daemon_log_problems"] += eng.log_errors()[:5]
    res["variants"]["heldout"] = finish_variant(run, cues["heldout"], ids)
    res["examples"] = {v: [c for _, c in cues[v][:3]]
                       for v in ("exact", "partial", "heldout")}


def finish_variant(run, cues, ids):
    v = {"cues": len(cues), "systems": {}}
    for sysname, r in run.items():
        s = summarize(r["ranks"])
        s.update({"errors": r["errors"], "mean_ms": round(r["mean_ms"], 3)})
        if "pathways" in r:
            s["pathways"] = r["pathways"]
            s["modes"] = r["modes"]
        v["systems"][sysname] = s
    if "fts5" in run:
        for sysname in ("episodic", "blended"):
            if sysname in run:
                v["systems"][sysname]["vs_fts5"] = paired(
                    run[sysname]["ranks"], run["fts5"]["ranks"])
    if "blended" in run:
        v["systems"]["blended"]["vs_episodic"] = paired(
            run["blended"]["ranks"], run["episodic"]["ranks"])
    # the cues where engramfs episodic and FTS5 disagree (top 10 or not)
    dis = []
    if "fts5" in run and "episodic" in run:
        for n, (doc, cue) in enumerate(cues):
            ranks = {k: r["ranks"][n] for k, r in run.items()}
            if (ranks["episodic"] is None) != (ranks["fts5"] is None):
                dis.append({"doc": ids[doc], "cue": cue, "ranks": ranks})
    v["disagreements"] = dis
    return v


def eval_dated(cfg, docs, out):
    ids = [d["id"] for d in docs]
    texts = [d["text"] for d in docs]
    res = {"episodes": len(docs), "packages": len({d["label"] for d in docs})}
    out["changelogs"] = res
    whens = sorted(d["when"] for d in docs)
    res["dates"] = {"oldest": iso(whens[0]), "newest": iso(whens[-1]),
                    "median": iso(whens[len(whens) // 2])}
    by_pkg = defaultdict(list)
    for i, d in enumerate(docs):
        by_pkg[d["label"]].append(i)
    pkgs = sorted(p for p, v in by_pkg.items() if len(v) >= 3)
    rng = random.Random("%s:changelogs:pkgs" % cfg.seed)
    if len(pkgs) > cfg.k:
        pkgs = sorted(rng.sample(pkgs, cfg.k))
    rq = [(None, "what changed recently in %s" % p) for p in pkgs]
    # specific cues: a change item of an entry in the oldest / newest fifth
    order = sorted(range(len(docs)), key=lambda i: (docs[i]["when"], i))
    fifth = len(docs) // 5
    counts = sentence_counts(docs)
    spec = {}
    for name, part in (("oldest", order[:fifth]), ("newest", order[-fifth:])):
        srng = random.Random("%s:changelogs:%s" % (cfg.seed, name))
        pool = [i for i in part
                if eligible(docs[i], counts, MIN_WORDS_CHANGELOG, True)]
        pick = sorted(srng.sample(pool, min(cfg.k // 2, len(pool))))
        spec[name] = [(i, docs[i]["sentences"][srng.choice(
            eligible(docs[i], counts, MIN_WORDS_CHANGELOG, True))])
            for i in pick]
        res["fifth_" + name] = {"from": iso(docs[part[0]]["when"]),
                                "to": iso(docs[part[-1]]["when"]),
                                "entries": len(part), "cue_pool": len(pool)}
    log("changelogs: %d entries of %d packages (%s .. %s), %d recency cues,"
        " %d + %d specific cues" % (len(docs), res["packages"],
                                    res["dates"]["oldest"][:10],
                                    res["dates"]["newest"][:10], len(rq),
                                    len(spec["oldest"]), len(spec["newest"])))
    fts = Fts(texts)
    with Engram(cfg.daemon, cfg.tmp, "changelogs") as eng:
        setup_flags(eng)
        secs = eng.ingest(docs)
        res["ingest_s"] = round(secs, 1)
        log("  ingest: %.1f s" % secs)
        runs = {"episodic": {}, "fts5": {}}
        runs["episodic"]["recent"] = run_engram(eng, rq, "episodic", ids, True)
        runs["fts5"]["recent"] = run_fts(fts, rq, True)
        for name in ("oldest", "newest"):
            runs["episodic"][name] = run_engram(eng, spec[name], "episodic",
                                                ids)
            runs["fts5"][name] = run_fts(fts, spec[name])
        if consolidate(eng, res, "consolidate") and blended_usable(eng):
            runs["blended"] = {"recent": run_engram(eng, rq, "blended", ids,
                                                    True)}
            for name in ("oldest", "newest"):
                runs["blended"][name] = run_engram(eng, spec[name], "blended",
                                                   ids)
        res["semantic_timeouts"] = eng.timeouts()
        res["flags"] = dict(eng.flags_set)
        res["daemon_log_problems"] = eng.log_errors()[:5]
    res["systems"] = {}
    for sysname, r in runs.items():
        s = {"recent": dated_recency(r["recent"]["lists"], pkgs, by_pkg,
                                     docs)}
        for name in ("oldest", "newest"):
            s[name] = summarize(r[name]["ranks"])
        s["r10_old_minus_new"] = (s["oldest"]["r10"] - s["newest"]["r10"]
                                  if s["oldest"]["n"] and s["newest"]["n"]
                                  else None)
        res["systems"][sysname] = s
    res["examples"] = [c for _, c in rq[:3]] + [c for _, c in
                                                spec["oldest"][:2]]
    # per package: where X's newest entry ranks, and what came first
    det = []
    for n, x in enumerate(pkgs):
        newest = max(by_pkg[x], key=lambda i: docs[i]["when"])
        row = {"package": x, "entries": len(by_pkg[x])}
        for sysname, r in runs.items():
            got = r["recent"]["lists"][n]
            row[sysname] = {
                "newest_rank": got.index(newest) + 1 if newest in got
                else None,
                "top": ("%s %s" % (docs[got[0]]["meta"]["package"],
                                   docs[got[0]]["meta"]["version"])
                        if got and got[0] >= 0 else None)}
        det.append(row)
    res["recent_details"] = det


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def f3(x):
    return "n/a" if x is None else "%.3f" % x


def sgn(x):
    return "n/a" if x is None else "%+.3f" % x


SYS_NAMES = {"episodic": "engramfs episodic", "blended": "engramfs blended",
             "fts5": "SQLite FTS5 bm25"}


def report(results, meta):
    L = []
    L.append("# engramfs quality evaluation (issue 3)")
    L.append("")
    L.append("%s, seed %s, %s; daemon %s. Cues per variant: %s. "
             "Episodic and FTS5 see the same texts and cues in the same run."
             % (meta["date"], meta["seed"],
                "QUICK" if meta["quick"] else "full", meta["daemon"],
                meta["k"]))
    if meta.get("extra_flags"):
        L.append("")
        L.append("**Flags changed for this run (EVAL_FLAGS):** " + ", ".join(
            "%s=%s" % kv for kv in sorted(meta["extra_flags"].items())))
    L.append("")
    ki = [c for c in ("fortunes", "wordnet") if c in results]
    if ki:
        L.append("## Known-item recall")
        L.append("")
        L.append("| corpus | variant | cues | system | R@10 | MRR@10 | "
                 "vs FTS5: dR@10 (+-se) | dMRR (+-se) | only this / only FTS5 |")
        L.append("|---|---|---:|---|---:|---:|---:|---:|---:|")
        for c in ki:
            for v in ("exact", "partial", "heldout"):
                var = results[c]["variants"].get(v)
                if not var:
                    continue
                for s in ("episodic", "blended", "fts5"):
                    x = var["systems"].get(s)
                    if x is None:
                        L.append("| %s | %s | %d | %s | n/a | n/a | | | |" %
                                 (c, v, var["cues"], SYS_NAMES[s]))
                        continue
                    p = x.get("vs_fts5")
                    if p:
                        d = "%s (%.3f) | %s (%.3f) | %d / %d" % (
                            sgn(p["r10"]["diff"]), p["r10"]["se"] or 0,
                            sgn(p["mrr"]["diff"]), p["mrr"]["se"] or 0,
                            p["only_a"], p["only_b"])
                    else:
                        d = " | | "
                    L.append("| %s | %s | %d | %s | %s | %s | %s |" %
                             (c, v, x["n"], SYS_NAMES[s], f3(x["r10"]),
                              f3(x["mrr"]), d))
        L.append("")
        for c in ki:
            r = results[c]
            L.append("- %s: %d episodes, %d labels; ingest %.1f s; "
                     "consolidate: %s; top-10 overlap blended/episodic on "
                     "exact cues: %s; semantic timeouts (fell back to "
                     "episodic): %s" %
                     (c, r["episodes"], r["labels"], r.get("ingest_s", 0),
                      cons_text(r.get("consolidate")),
                      f3(r.get("overlap_exact")),
                      r.get("semantic_timeouts", "n/a")))
            u = r.get("partial_untyped")
            if u and u["n"]:
                L.append("  - %s partial cues with their typos undone (what "
                         "perfect cue completion could reach): episodic "
                         "R@10 %s, MRR %s" % (c, f3(u["r10"]),
                                              f3(u["mrr"])))
        L.append("")
        L.append("## Concepts against labels (AMI, arithmetic normaliser)")
        L.append("")
        L.append("| corpus | clustering | clusters | coverage | AMI covered |"
                 " random same sizes | AMI all (rest singletons) | random |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for c in ki:
            cl = results[c]["clustering"]
            for key, nm in (("concepts", "engramfs concepts"),
                            ("fts5_nn", "FTS5 1-NN components")):
                x = cl.get(key)
                if not x:
                    L.append("| %s | %s | n/a | n/a | n/a | n/a | n/a | n/a |"
                             % (c, nm))
                    continue
                L.append("| %s | %s | %d | %.3f | %s | %s | %s | %s |" % (
                    c, nm, x["clusters"], x["coverage"], f3(x["ami_covered"]),
                    rnd(x.get("random_covered")), f3(x["ami_all"]),
                    rnd(x.get("random_all"))))
        L.append("")
    if "changelogs" in results:
        r = results["changelogs"]
        L.append("## Dated corpus: Debian changelogs")
        L.append("")
        L.append("%d entries of %d installed packages, %s .. %s; oldest "
                 "fifth %s .. %s, newest fifth %s .. %s; consolidate: %s; "
                 "semantic timeouts: %s." % (
                     r["episodes"], r["packages"], r["dates"]["oldest"][:10],
                     r["dates"]["newest"][:10], r["fifth_oldest"]["from"][:10],
                     r["fifth_oldest"]["to"][:10],
                     r["fifth_newest"]["from"][:10],
                     r["fifth_newest"]["to"][:10],
                     cons_text(r.get("consolidate")),
                     r.get("semantic_timeouts", "n/a")))
        L.append("")
        L.append("| system | \"what changed recently in X\" cues | top hit = X's newest | "
                 "top hit is X | nDCG@10 (by date) | date order in top 10 | "
                 "R@10 oldest fifth | R@10 newest fifth | old - new | MRR old / new |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for s in ("episodic", "blended", "fts5"):
            x = r["systems"].get(s)
            if not x:
                L.append("| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | "
                         "n/a | n/a |" % SYS_NAMES[s])
                continue
            q = x["recent"]
            L.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s / %s |"
                     % (SYS_NAMES[s], q["n"], f3(q["top1_newest"]),
                        f3(q["top1_package"]), f3(q["ndcg10"]),
                        f3(q["date_order"]), f3(x["oldest"]["r10"]),
                        f3(x["newest"]["r10"]), sgn(x["r10_old_minus_new"]),
                        f3(x["oldest"]["mrr"]), f3(x["newest"]["mrr"])))
        L.append("")
        L.append("(FTS5 has no notion of time: its row is the lexical "
                 "reference.)")
        L.append("")
    probs = {c: r.get("daemon_log_problems") for c, r in results.items()
             if r.get("daemon_log_problems")}
    if probs:
        L.append("**Daemon log problems** (sanitizer, assert, abort): " +
                 "; ".join("%s: %s" % (c, p[0]) for c, p in probs.items()))
        L.append("")
    L.append("## Quality targets (issue 3)")
    L.append("")
    for t in targets(results):
        L.append("- **%s** %s" % (t["verdict"], t["text"]))
    L.append("")
    return "\n".join(L)


def rnd(x):
    if not x:
        return "n/a"
    return "%.3f +- %.3f" % (x["mean"], x["sd"])


def cons_text(c):
    if not c:
        return "n/a"
    if c["ok"]:
        return "%.1f s" % c["seconds"]
    return "failed (%s)" % c["error"]


def targets(results):
    T = []

    def add(ok, text):
        T.append({"verdict": "n/a" if ok is None else
                  ("met" if ok else "NOT met"), "text": text, "met": ok})

    ki = [c for c in ("fortunes", "wordnet") if c in results]
    # 1. episodic vs FTS5
    worst = []
    ok = True if ki else None
    for c in ki:
        for v, var in results[c]["variants"].items():
            e, f = var["systems"]["episodic"], var["systems"]["fts5"]
            for m in ("r10", "mrr"):
                gap = e[m] - f[m]
                worst.append((gap, "%s/%s %s" % (c, v, m)))
                if gap < -TGT_EPISODIC_GAP:
                    ok = False
    worst.sort()
    add(ok, "Episodic recall alone: R@10 and MRR within %.2f of FTS5 bm25 or "
        "better, every variant (worst: %s)" % (
            TGT_EPISODIC_GAP, ", ".join("%s %+.3f" % (n, g)
                                        for g, n in worst[:3]) or "n/a"))
    # 2. blended
    gain, harm, ov = [], [], []
    have = True
    for c in ki:
        vs = results[c]["variants"]
        for v, var in vs.items():
            b = var["systems"].get("blended")
            if b is None:
                have = False
                continue
            d = b["r10"] - var["systems"]["episodic"]["r10"]
            (harm if v == "exact" else gain).append((d, "%s/%s" % (c, v)))
        if results[c].get("overlap_exact") is not None:
            ov.append((results[c]["overlap_exact"], c))
    have = have and bool(ki)
    add(all(d >= TGT_BLEND_GAIN for d, _ in gain) if have and gain else None,
        "Blended R@10 on partial and held-out cues at least %.2f above "
        "episodic (%s)" % (TGT_BLEND_GAIN, ", ".join(
            "%s %+.3f" % (n, d) for d, n in gain) or "blended n/a"))
    add(all(d >= -TGT_BLEND_HARM for d, _ in harm) if have and harm else None,
        "Blended R@10 on exact cues at most %.2f below episodic (%s)" % (
            TGT_BLEND_HARM, ", ".join("%s %+.3f" % (n, d) for d, n in harm)
            or "blended n/a"))
    add(all(o >= TGT_OVERLAP for o, _ in ov) if have and ov else None,
        "Top-10 overlap blended/episodic on exact cues >= %.2f (%s)" % (
            TGT_OVERLAP, ", ".join("%s %.3f" % (n, o) for o, n in ov)
            or "blended n/a"))
    # 3. concepts
    cres = []
    for c in ki:
        cl = results[c]["clustering"]
        x, nn = cl.get("concepts"), cl.get("fts5_nn")
        if not x or x.get("ami_covered") is None:
            cres.append((None, "%s: no concepts" % c))
            continue
        r = x["random_covered"]["mean"]
        if nn is None or nn.get("ami_covered") is None:
            okc = None	# no lexical baseline (EVAL_CLUSTERING=0)
        else:
            okc = (x["ami_covered"] >= r + TGT_AMI_MARGIN and
                   x["ami_all"] >= x["random_all"]["mean"] + TGT_AMI_MARGIN
                   and x["ami_covered"] > nn["ami_covered"] and
                   x["ami_all"] > nn["ami_all"])
        cres.append((okc, "%s: AMI %.3f (all %.3f) vs random %.3f vs FTS5-NN "
                     "%s (all %s); %d concepts, coverage %.2f" % (
                         c, x["ami_covered"], x["ami_all"], r,
                         f3(nn and nn.get("ami_covered")),
                         f3(nn and nn.get("ami_all")), x["clusters"],
                         x["coverage"])))
    vals = [o for o, _ in cres]
    add(None if (not cres or None in vals) else all(vals),
        "Concepts: AMI clearly above random same-size clustering (>= +%.2f) "
        "and above FTS5 nearest-neighbour clustering (%s)" % (
            TGT_AMI_MARGIN, "; ".join(t for _, t in cres) or "n/a"))
    # 4. dated
    d = results.get("changelogs")
    if d:
        e = d["systems"]["episodic"]
        b = d["systems"].get("blended")
        q = e["recent"]["top1_newest"]
        add(q >= TGT_NEWEST_FIRST,
            "Dated: on \"what changed recently in X\" cues X's newest entry ranks first "
            "(>= %.2f of cues): episodic %.3f%s" % (
                TGT_NEWEST_FIRST, q, "" if not b else ", blended %.3f" %
                b["recent"]["top1_newest"]))
        g = e["r10_old_minus_new"]
        add(abs(g) <= TGT_AGE_GAP,
            "Dated: R@10 on the oldest fifth within %.2f of the newest fifth:"
            " episodic old - new %s (old %.3f, new %.3f; FTS5 %s)%s" % (
                TGT_AGE_GAP, sgn(g), e["oldest"]["r10"], e["newest"]["r10"],
                sgn(d["systems"]["fts5"]["r10_old_minus_new"]),
                "" if not b else ", blended %s" %
                sgn(b["r10_old_minus_new"])))
    else:
        add(None, "Dated corpus: not run")
    return T


# ---------------------------------------------------------------------------

class Cfg:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cfg = Cfg()
    cfg.daemon = os.path.join(os.path.abspath(a.build_dir), "engramfs")
    cfg.tmp = a.tmp
    cfg.quick = os.environ.get("EVAL_QUICK", "0") == "1"
    cfg.k = int(os.environ.get("EVAL_K", "60" if cfg.quick else "1000"))
    cfg.seed = int(os.environ.get("EVAL_SEED", "1"))
    cfg.runs = int(os.environ.get("EVAL_RANDOM_RUNS", "5"))
    cfg.clustering = os.environ.get("EVAL_CLUSTERING", "1") != "0"
    for kv in os.environ.get("EVAL_FLAGS", "").split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            EXTRA_FLAGS.append((k.strip(), v.strip()))
    wn = int(os.environ.get("EVAL_WORDNET_N", "20000"))
    clmax = int(os.environ.get("EVAL_CHANGELOG_MAX", "0"))
    default = "fortunes" if cfg.quick else "fortunes,wordnet,changelogs"
    names = [c for c in os.environ.get("EVAL_CORPORA", default).split(",")
             if c]
    out_dir = a.out or os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "..", "bench", "out")
    os.makedirs(out_dir, exist_ok=True)
    if not os.access(cfg.daemon, os.X_OK):
        log("no daemon at %s (make all)" % cfg.daemon)
        return 1
    now = int(time.time())
    cfg.t0 = now - 86400
    meta = {"date": iso(now), "seed": cfg.seed, "quick": cfg.quick,
            "k": cfg.k, "daemon": cfg.daemon, "host": platform.node(),
            "sqlite": sqlite3.sqlite_version, "corpora": names,
            "extra_flags": dict(EXTRA_FLAGS),
            "skipped": {}}
    results = {}
    t_start = time.time()
    for name in names:
        if not corpora.available(name):
            log("%s: not installed, skipped" % name)
            meta["skipped"][name] = "not installed"
            continue
        t0 = time.time()
        docs = corpora.load(name, seed=cfg.seed, wordnet_n=wn,
                            changelog_max=clmax)
        if name == "changelogs":
            eval_dated(cfg, docs, results)
        else:
            eval_known_item(cfg, name, docs, results)
        results[name]["seconds"] = round(time.time() - t0, 1)
        log("%s done in %.0f s" % (name, time.time() - t0))
    meta["seconds"] = round(time.time() - t_start, 1)
    md = report(results, meta)
    print(md)
    tg = targets(results)
    clean = strip_private(results)
    with open(os.path.join(out_dir, "eval.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(out_dir, "eval.json"), "w") as f:
        json.dump({"meta": meta, "results": clean, "targets": tg}, f,
                  indent=1, sort_keys=True)
        f.write("\n")
    log("wrote %s/eval.md and eval.json (%.0f s in all)" %
        (out_dir, meta["seconds"]))
    return 0


def strip_private(x):
    if isinstance(x, dict):
        return {k: strip_private(v) for k, v in x.items()
                if not k.startswith("_")}
    if isinstance(x, list):
        return [strip_private(v) for v in x]
    return x


def _terminate(signum, frame):
    raise SystemExit(128 + signum)	# unwinds: every mount is unmounted


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sys.exit(main())
    except MountError as e:
        log("mount failed: %s" % e)
        sys.exit(1)
