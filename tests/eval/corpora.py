#!/usr/bin/env python3
"""corpora.py - public text from Debian packages, as episodes with labels.

Three corpora, each a list of documents (dicts):

    id         neutral episode name (f000123, w000123, c000123): the only
               name recall ever sees; labels never go into names or text
    text       the episode's content, exactly what is ingested
    sentences  the text cut into sentences (whitespace folded), in order;
    sep        for the corpora with a held-out variant (fortunes, wordnet):
               text == sep.join(sentences), so a sentence can be cut out
    label      the class for clustering (fortunes: category file; wordnet:
               lexicographer file, e.g. noun.food; changelogs: package)
    when       unix seconds (changelogs: the entry's date) or None
    meta       corpus-specific extras (package, version)

  fortunes    /usr/share/games/fortunes/* (Debian fortunes, fortunes-min):
              one episode per fortune, label = the category file.
  wordnet     /usr/share/wordnet/data.noun (wordnet-base): one episode per
              synset, "lemma, lemma: gloss; "example"", label = its
              lexicographer file.  A seeded sample (the whole file is 82k).
  changelogs  /usr/share/doc/*/changelog.Debian.gz of the packages that
              happen to be installed: one episode per entry ("pkg (version)
              dist; urgency" line and the change items; the maintainer
              trailer is left out and its date becomes the episode's time).

Exact duplicate texts are kept once (the first by id order): engramfs
returns identical contents once (DESIGN section 2), so a duplicate would
make a known item unfindable for one system and not the other.

Everything is seeded (random.Random(seed)), nothing reads the clock.
Standard library only.

Run as a script to write the corpora out for a look:
    python3 corpora.py --out DIR [--seed 1] [--wordnet-n 20000]
gives DIR/<corpus>/episodes/<id> and DIR/<corpus>/labels.tsv.
"""
import argparse
import email.utils
import glob
import gzip
import os
import random
import re
import sys

FORTUNE_DIR = "/usr/share/games/fortunes"
WORDNET_DIR = "/usr/share/wordnet"
DOC_DIR = "/usr/share/doc"

# The lexicographer files of WordNet 3.0 (lexnames(5WN)), by number.
LEXNAMES = [
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act",
    "noun.animal", "noun.artifact", "noun.attribute", "noun.body",
    "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
    "noun.process", "noun.quantity", "noun.relation", "noun.shape",
    "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change",
    "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion",
    "verb.motion", "verb.perception", "verb.possession", "verb.social",
    "verb.stative", "verb.weather", "adj.ppl",
]

# Word tokens the way unicode61 sees them (letters and digits).
WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def words(s):
    return WORD_RE.findall(s)


def fold_ws(s):
    return " ".join(s.split())


# ---------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------

# A sentence ends at . ! ? (and closing quotes/brackets after them) before
# white space; an attribution ("-- Mark Twain") is a sentence of its own.
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\s+(?=--\s)")


def split_sentences(text):
    """Sentences of TEXT with white space folded; never empty strings."""
    t = fold_ws(text)
    out = []
    pos = 0
    for m in _SENT_SPLIT.finditer(t):
        piece = t[pos:m.start() + len(m.group(0).rstrip())].strip()
        if piece:
            out.append(piece)
        pos = m.end()
    tail = t[pos:].strip()
    if tail:
        out.append(tail)
    return out


# ---------------------------------------------------------------------------
# Fortunes
# ---------------------------------------------------------------------------

def fortune_files(root=FORTUNE_DIR):
    """Category files: regular files without an extension."""
    if not os.path.isdir(root):
        return []
    out = []
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if "." in name or os.path.islink(p) or not os.path.isfile(p):
            continue
        out.append((name, p))
    return out


def load_fortunes(root=FORTUNE_DIR):
    docs = []
    for cat, path in fortune_files(root):
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
        for chunk in re.split(r"^%\s*$", raw, flags=re.M):
            text = chunk.strip("\n")
            if not text.strip() or len(words(text)) < 2:
                continue
            sents = split_sentences(text)
            docs.append({"text": " ".join(sents), "sentences": sents,
                         "sep": " ", "label": cat, "when": None, "meta": {}})
    return _finish(docs, "f")


# ---------------------------------------------------------------------------
# WordNet glosses
# ---------------------------------------------------------------------------

def parse_wordnet_line(line):
    """(lexname, lemmas, gloss) of one data.* line, or None."""
    if not line or line[0] == " ":
        return None
    head, sep, gloss = line.partition(" | ")
    if not sep:
        return None
    f = head.split()
    try:
        lexnum = int(f[1])
        wcnt = int(f[3], 16)
    except (IndexError, ValueError):
        return None
    lemmas = []
    for i in range(wcnt):
        w = f[4 + 2 * i]
        w = re.sub(r"\([a-z]+\)$", "", w)	# adjective markers
        lemmas.append(w.replace("_", " "))
    lex = LEXNAMES[lexnum] if 0 <= lexnum < len(LEXNAMES) else str(lexnum)
    return lex, lemmas, gloss.strip()


def load_wordnet(n=20000, seed=1, root=WORDNET_DIR, pos=("noun",)):
    """A seeded sample of N synsets (0 = all) of the given parts of speech.

    Text: "lemma, lemma: definition; "example"; "example"" - the segments
    between semicolons are the sentences (the definition with its lemmas
    first, then the usage examples, quotes removed)."""
    rows = []
    for p in pos:
        path = os.path.join(root, "data." + p)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                r = parse_wordnet_line(line)
                if r:
                    rows.append(r)
    if n and n < len(rows):
        rows = random.Random(seed).sample(rows, n)
    docs = []
    for lex, lemmas, gloss in rows:
        segs = [fold_ws(s.strip().strip('"').strip()) for s in gloss.split(";")]
        segs = [s for s in segs if s]
        if not segs:
            continue
        segs[0] = ", ".join(lemmas) + ": " + segs[0]
        docs.append({"text": "; ".join(segs), "sentences": segs,
                     "sep": "; ", "label": lex, "when": None, "meta": {}})
    return _finish(docs, "w")


# ---------------------------------------------------------------------------
# Debian changelogs
# ---------------------------------------------------------------------------

_CL_HEAD = re.compile(r"^([a-z0-9][a-z0-9+.-]*) \(([^)\s]+)\)(.*)$")
_CL_TRAIL = re.compile(r"^ -- (.*>)\s+(\S.*)$")


def changelog_files(root=DOC_DIR):
    seen = set()
    out = []
    for p in sorted(glob.glob(os.path.join(root, "*", "changelog.Debian.gz"))):
        try:
            real = os.path.realpath(p)
            st = os.stat(real)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        out.append(real)
    return out


def _items(body_lines):
    """Change items of an entry: bullet lines with their continuations."""
    items = []
    cur = None
    for ln in body_lines:
        s = ln.strip()
        if not s or (s.startswith("[") and s.endswith("]")):
            if cur:
                items.append(cur)
            cur = None
            continue
        m = re.match(r"^[*+-]\s+(.*)$", s)
        if m:
            if cur:
                items.append(cur)
            cur = m.group(1)
        elif cur is None:
            cur = s
        else:
            cur += " " + s
    if cur:
        items.append(cur)
    return [fold_ws(i) for i in items if i.strip()]


def parse_changelog(raw):
    """Entries of one changelog.Debian text: dicts with package, version,
    header, body lines, when (unix seconds)."""
    entries = []
    cur = None
    for line in raw.splitlines():
        m = _CL_HEAD.match(line)
        if m and cur is None:
            cur = {"package": m.group(1), "version": m.group(2),
                   "header": fold_ws(line), "body": []}
            continue
        if cur is None:
            continue
        t = _CL_TRAIL.match(line)
        if t:
            try:
                dt = email.utils.parsedate_to_datetime(t.group(2).strip())
                cur["when"] = int(dt.timestamp())
            except (TypeError, ValueError, IndexError, OverflowError):
                cur["when"] = None
            if cur["when"] is not None:
                entries.append(cur)
            cur = None
            continue
        cur["body"].append(line)
    return entries


def load_changelogs(root=DOC_DIR, max_entries=0, seed=1):
    """Every dated entry of the installed packages' Debian changelogs,
    one per (package, version).  MAX_ENTRIES > 0 keeps a seeded sample."""
    seen = set()
    docs = []
    for path in changelog_files(root):
        try:
            with gzip.open(path, "rb") as f:
                raw = f.read().decode("utf-8", "replace")
        except (OSError, EOFError):
            continue
        for e in parse_changelog(raw):
            key = (e["package"], e["version"])
            if key in seen:
                continue
            seen.add(key)
            items = _items(e["body"])
            if not items:
                continue
            sents = [e["header"]] + items
            docs.append({"text": "\n".join([e["header"], ""] +
                                           ["  * " + i for i in items]),
                         "sentences": sents, "label": e["package"],
                         "when": e["when"],
                         "meta": {"package": e["package"],
                                  "version": e["version"]}})
    if max_entries and len(docs) > max_entries:
        docs = random.Random(seed).sample(docs, max_entries)
    docs.sort(key=lambda d: (d["meta"]["package"], d["when"]))
    return _finish(docs, "c")


# ---------------------------------------------------------------------------

def _finish(docs, prefix):
    """Drop exact duplicate texts, give neutral ids."""
    seen = set()
    out = []
    for d in docs:
        key = fold_ws(d["text"]).lower()
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    for i, d in enumerate(out):
        d["id"] = "%s%06d" % (prefix, i)
    return out


def load(name, seed=1, wordnet_n=20000, changelog_max=0):
    if name == "fortunes":
        return load_fortunes()
    if name == "wordnet":
        return load_wordnet(n=wordnet_n, seed=seed)
    if name == "changelogs":
        return load_changelogs(max_entries=changelog_max, seed=seed)
    raise ValueError("unknown corpus " + name)


def available(name):
    if name == "fortunes":
        return bool(fortune_files())
    if name == "wordnet":
        return os.path.exists(os.path.join(WORDNET_DIR, "data.noun"))
    if name == "changelogs":
        return bool(changelog_files())
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wordnet-n", type=int, default=20000)
    ap.add_argument("corpora", nargs="*",
                    default=["fortunes", "wordnet", "changelogs"])
    a = ap.parse_args()
    for name in a.corpora:
        if not available(name):
            print("%s: not installed, skipped" % name, file=sys.stderr)
            continue
        docs = load(name, seed=a.seed, wordnet_n=a.wordnet_n)
        d = os.path.join(a.out, name, "episodes")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(a.out, name, "labels.tsv"), "w") as lf:
            for doc in docs:
                p = os.path.join(d, doc["id"])
                with open(p, "w", encoding="utf-8") as f:
                    f.write(doc["text"])
                if doc["when"] is not None:
                    os.utime(p, (doc["when"], doc["when"]))
                lf.write("%s\t%s\n" % (doc["id"], doc["label"]))
        print("%s: %d episodes, %d labels" %
              (name, len(docs), len({x["label"] for x in docs})))


if __name__ == "__main__":
    main()
