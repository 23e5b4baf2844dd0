#!/usr/bin/env python3
"""corpus.py - the seeded text corpus and recall cues of `make bench`.

    corpus.py make OUT N [SEED]            N episodes, one a line, in OUT
    corpus.py cues CORPUS OUTDIR COUNT N...  cue files for the first N
                                           episodes of CORPUS, each N

Text.  Public text that Debian ships: the fortune cookies of the
`fortunes` package (/usr/share/games/fortunes) and the Debian changelogs
of the installed packages (/usr/share/doc/*/changelog.Debian.gz), about
25 MB, split into fragments of at most FRAG_MAX bytes.  Episode I is two
to four fragments drawn at random (each from either source alike), about EP_TARGET bytes
cut at a word, with variation so a million episodes are not a few
hundred thousand repeated: a word in WORD_SWAP is swapped for a word
drawn from the whole text by its frequency, numbers are redrawn, and one
episode in three gets a made-up proper name (syllables, Zipf-drawn from
NAMES), which gives the long tail of rare words real notes have.  One
random.Random(SEED) drives it all in episode order, so the first N
episodes of a larger corpus are the corpus of N: the 10k, 100k and 1M
stores of the bench are prefixes of one another.

An episode's line carries no newline; its file content is the line and a
newline.  Never commit the output (bench/out and the temp dirs hold it).

Cues, per size N, from the first N episodes and their document
frequencies (words [a-z]+ of three letters or more, not stop words of the
store's analyser, store/text.c):
  rare    one word: the rarest content word of a random episode
  two     two distinct content words of a random episode
  four    four distinct content words of a random episode
  common  one of the COMMON most frequent content words, in turn
  typo    two distinct content words of a random episode, the longer with
          two neighbouring letters swapped into a word no episode has
          (what blended recall's cue completion works on)
File OUTDIR/cues-N-CLASS.txt, a line per cue: `cue<TAB>source episode`
(-1 for common).  OUTDIR/cues-N-df.txt gives each class's median document
frequency of its cue words, so the table can say what "rare" meant.

Rejected: synthetic words only (what benchclient's model does: it
tokenises like text but has no real-world term distribution), and
downloading a corpus (the bench must run offline).
"""
import collections
import glob
import gzip
import os
import random
import re
import sys

FRAG_MAX = 160          # bytes of one fragment: two or three make an episode
EP_TARGET = 200         # the "~200 bytes"
EP_MAX = 230            # hard cut, at a word
WORD_SWAP = 12          # one word in this many is swapped (variation)
NAMES = 200000          # made-up proper names to draw from
COMMON = 20             # the common-word class cycles through these
DEFAULT_SEED = 20261121

FORTUNES = "/usr/share/games/fortunes"
CHANGELOGS = "/usr/share/doc/*/changelog.Debian.gz"

# Kept in step with store/text.c: a stop word in a cue answers nothing.
STOP = set("""a about above after again against all also am an and any are
arent as at be because been before being below between both but by can cant
could couldnt did didnt do does doesnt doing dont down during each either
else ever every few for from further had hadnt has hasnt have havent having
he her here hers herself him himself his how however i if in into is isnt it
its itself just me might more most much must mustnt my myself neither no nor
not now of off on once only or other ought our ours ourselves out over own
same shall shant she should shouldnt so some such than that the their theirs
them themselves then there these they this those though through thus to too
under until up upon us very was wasnt we were werent what whatever when
where whether which while who whom whose why will with within without wont
would wouldnt yet you your yours yourself yourselves""".split())

WORD_RE = re.compile(r"[a-z]+")
SPACE_RE = re.compile(r"\s+")
DIGITS_RE = re.compile(r"\d+")


def clean(text):
    """One line of printable ASCII, whitespace folded."""
    text = text.encode("ascii", "ignore").decode("ascii")
    return SPACE_RE.sub(" ", text).strip()


def fortune_texts():
    for path in sorted(glob.glob(os.path.join(FORTUNES, "*"))):
        if os.path.isdir(path) or path.endswith((".dat", ".u8")):
            continue
        with open(path, "rb") as f:
            raw = f.read().decode("utf-8", "ignore")
        for cookie in raw.split("\n%\n"):
            yield clean(cookie)


def changelog_texts():
    """The entries ('* ...' with their continuation lines) of each log."""
    for path in sorted(glob.glob(CHANGELOGS)):
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="ignore") as f:
                lines = f.read().splitlines()
        except (OSError, EOFError):
            continue
        entry = []
        for line in lines:
            s = line.strip()
            if line.startswith("  ") and not s.startswith("--"):
                if s.startswith(("* ", "- ", "+ ")) and entry:
                    yield clean(" ".join(entry))
                    entry = []
                entry.append(s.lstrip("*-+ "))
            elif entry:
                yield clean(" ".join(entry))
                entry = []
        if entry:
            yield clean(" ".join(entry))


def fragments(text):
    """TEXT cut at words into pieces of at most FRAG_MAX bytes."""
    piece = []
    size = 0
    for w in text.split(" "):
        if size + len(w) + 1 > FRAG_MAX and piece:
            yield " ".join(piece)
            piece, size = [], 0
        piece.append(w[:FRAG_MAX])
        size += len(w) + 1
    if piece:
        yield " ".join(piece)


def load_pools():
    """Fragments of each source; sources are drawn alike, so the 2.5 MB
    of fortunes weigh as much as the 23 MB of changelogs."""
    pools = []
    for source in (fortune_texts(), changelog_texts()):
        pool = [f for text in source if len(text) >= 20
                for f in fragments(text) if len(f) >= 20]
        if pool:
            pools.append(pool)
    if not pools:
        sys.exit("corpus: no text under %s or %s (install fortunes)"
                 % (FORTUNES, CHANGELOGS))
    return pools


def make_names(rng):
    onsets = "b d f g h k l m n p r s t v w z br dr kr st tr sh".split()
    seen, names = set(), []
    while len(names) < NAMES:
        w = "".join(rng.choice(onsets) + rng.choice("aeiou")
                    for _ in range(rng.randint(2, 4)))
        w += rng.choice(["", "n", "s", "k", "l"])
        if w not in seen and w not in STOP:
            seen.add(w)
            names.append(w.capitalize())
    return names


def zipf_index(rng, n):
    """An index in [0, n), Zipf-like (weight about 1/(i+1))."""
    return min(n - 1, int(n ** rng.random()) - 1)


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.pools = load_pools()
        self.words = [w for pool in self.pools for f in pool
                      for w in f.split(" ") if w.isalpha()]
        self.names = make_names(self.rng)

    def vary(self, words):
        rng = self.rng
        for i, w in enumerate(words):
            if rng.randrange(WORD_SWAP) == 0:
                words[i] = rng.choice(self.words)
            elif w[:1].isdigit():
                words[i] = DIGITS_RE.sub(
                    lambda m: str(rng.randrange(10 ** len(m.group()))), w)
        if rng.randrange(3) == 0:
            name = self.names[zipf_index(rng, NAMES)]
            words.insert(rng.randrange(len(words) + 1), name)
        return words

    def episode(self):
        rng = self.rng
        words = []
        while sum(len(w) + 1 for w in words) < EP_TARGET - 20:
            words += rng.choice(rng.choice(self.pools)).split(" ")
        words = self.vary(words)
        text = ""
        for w in words:
            if len(text) + len(w) + 1 > EP_MAX:
                break
            text = text + " " + w if text else w
        return text


def cmd_make(out, n, seed=DEFAULT_SEED):
    gen = Generator(int(seed))
    with open(out, "w", encoding="ascii") as f:
        for _ in range(int(n)):
            f.write(gen.episode() + "\n")


def content_words(line):
    return {w for w in WORD_RE.findall(line.lower().replace("'", ""))
            if len(w) >= 3 and w not in STOP}


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else 0


def typo_cue(line, df, rng):
    """Two content words of LINE, the longer mistyped; None if it has no
    word to mistype into a word no episode has."""
    ws = sorted(content_words(line))
    if len(ws) < 2:
        return None
    pick = rng.sample(ws, 2)
    pick.sort(key=len, reverse=True)
    w = pick[0]
    spots = [i for i in range(1, len(w) - 2) if w[i] != w[i + 1]]
    rng.shuffle(spots)
    for i in spots:
        t = w[:i] + w[i + 1] + w[i] + w[i + 2:]
        if t not in df:
            return [t, pick[1]]
    return None


def write_cues(outdir, n, count, lines, df, rng):
    """The cue files of size N; LINES holds the first N episodes."""
    common = [w for w, _ in df.most_common(COMMON)]
    cues = {"rare": [], "two": [], "four": [], "common": [], "typo": []}
    # the typo class draws from its own stream, so the other classes'
    # cues stay what they were before it existed
    trng = random.Random("%d:typo:%d" % (DEFAULT_SEED, n))
    while len(cues["typo"]) < count:
        src = trng.randrange(n)
        pick = typo_cue(lines[src], df, trng)
        if pick:
            cues["typo"].append((pick, src))
    for c in range(count):
        cues["common"].append(([common[c % len(common)]], -1))
    for k, cls in ((1, "rare"), (2, "two"), (4, "four")):
        while len(cues[cls]) < count:
            src = rng.randrange(n)
            ws = sorted(content_words(lines[src]))
            if len(ws) < k:
                continue
            if cls == "rare":
                low = min(df[w] for w in ws)
                pick = [rng.choice([w for w in ws if df[w] == low])]
            else:
                pick = rng.sample(ws, k)
            cues[cls].append((pick, src))
    with open(os.path.join(outdir, "cues-%d-df.txt" % n), "w") as dff:
        for cls, v in cues.items():
            with open(os.path.join(outdir, "cues-%d-%s.txt" % (n, cls)),
                      "w") as f:
                for pick, src in v:
                    f.write("%s\t%d\n" % (" ".join(pick), src))
            dff.write("%s %d\n" % (cls, median(
                [df[w] for pick, _ in v for w in pick])))


def cmd_cues(corpus, outdir, count, *sizes):
    """One pass; Counter.update counts in C, the costly part at 1M."""
    sizes = sorted(int(s) for s in sizes)
    rng = random.Random(DEFAULT_SEED + 1)
    df, lines = collections.Counter(), []
    with open(corpus, encoding="ascii") as f:
        for line in f:
            if len(lines) == sizes[-1]:
                break
            lines.append(line)
            df.update(content_words(line))
            if len(lines) in sizes:
                write_cues(outdir, len(lines), int(count), lines, df, rng)
    if len(lines) < sizes[-1]:
        sys.exit("corpus: %s has %d episodes, fewer than %d"
                 % (corpus, len(lines), sizes[-1]))


def main(argv):
    if len(argv) >= 3 and argv[1] == "make":
        cmd_make(*argv[2:5])
    elif len(argv) >= 6 and argv[1] == "cues":
        cmd_cues(*argv[2:])
    else:
        sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv)
