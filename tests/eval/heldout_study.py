#!/usr/bin/python3
"""heldout_study.py - how much can any text-only "semantic" method add on
held-out cues?  An offline study, not part of make eval.

Issue 3 asks blended recall to find at least 0.05 more than episodic
recall on held-out cues: a sentence cut out of a stored episode, asked
for by that sentence.  engramfs's semantic pathway adds nothing there
(make eval: -0.003).  This script asks whether any of the standard ways
to bring corpus-level knowledge into ranking would, on the same corpora
and the very same cues (evaluate.known_item_cues, same seed):

  bm25        plain BM25 (k1 1.2, b 0.75) over the held-out texts, the
              reference every row is compared with;
  score-reg   cluster/neighbour smoothing of scores (Diaz 2005; the
              spirit of Liu and Croft 2004's cluster-based retrieval):
              score(d) + a x mean score of d's k nearest neighbours;
              (document expansion from the same neighbours, Tao et al.
              2006, gives the very same ranking: BM25 is linear in the
              document's term weights);
  prf         pseudo-relevance feedback (RM3-like): the cue expanded by
              the top terms of its m best documents;
  assoc       global term association: each cue word adds its 10 most
              associated words (positive PMI over documents);
  lsa         latent semantic analysis (truncated SVD, 100 and 300
              dimensions) blended with normalised BM25.

Each row gives R@10, MRR@10 and R@50 over the held-out cues.  The run
of 2026-11-21 (1,000 cues a corpus) is in tests/eval/README.md: no
method moves R@10 by more than +0.007 on either corpus, and LSA lowers
it; so the held-out target is out of reach of what the text of the
store alone can say (see docs/recall.md).

Needs Debian's python3-numpy, python3-scipy, python3-sklearn and
python3-stemmer (PyStemmer: the same Snowball English stemmer as
engramfs), and the corpora of make eval (fortunes, wordnet-base).

    /usr/bin/python3 tests/eval/heldout_study.py [fortunes|wordnet] [K]
"""
import os
import re
import sys

import numpy as np
import scipy.sparse as sp
import Stemmer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.preprocessing import normalize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora            # noqa: E402
import evaluate as E      # noqa: E402

K1, B = 1.2, 0.75


class Vocab:
    def __init__(self):
        self.ids = {}
        self.stem = Stemmer.Stemmer("english")

    def tokens(self, text):
        ws = [w for w in re.findall(r"\w+", text.lower())
              if w not in ENGLISH_STOP_WORDS and not w.isdigit()]
        return self.stem.stemWords(ws)

    def counts(self, texts, grow):
        rows, cols, vals = [], [], []
        for i, t in enumerate(texts):
            c = {}
            for w in self.tokens(t):
                if w not in self.ids:
                    if not grow:
                        continue
                    self.ids[w] = len(self.ids)
                j = self.ids[w]
                c[j] = c.get(j, 0) + 1
            for j, v in c.items():
                rows.append(i)
                cols.append(j)
                vals.append(v)
        return rows, cols, vals


def top_k_rows(m, k):
    """Keep the K largest entries of each row of sparse M."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for i in range(m.shape[0]):
        s, e = m.indptr[i], m.indptr[i + 1]
        if e == s:
            continue
        order = np.argsort(-m.data[s:e])[:k]
        rows += [i] * len(order)
        cols += list(m.indices[s:e][order])
        vals += list(m.data[s:e][order])
    return sp.csr_matrix((vals, (rows, cols)), shape=m.shape)


class Study:
    def __init__(self, corpus, k):
        docs = corpora.load(corpus, seed=1, wordnet_n=20000,
                            changelog_max=0)
        cues = E.known_item_cues(docs, k, 1, corpus)
        texts = [cues["heldout_texts"].get(i, d["text"])
                 for i, d in enumerate(docs)]
        self.voc = Vocab()
        r, c, v = self.voc.counts(texts, True)
        n, nv = len(texts), len(self.voc.ids)
        self.tf = sp.csr_matrix((v, (r, c)), shape=(n, nv), dtype=float)
        self.df = np.asarray((self.tf > 0).sum(0)).ravel()
        self.idf = np.log(1 + (n - self.df + 0.5) / (self.df + 0.5))
        dl = np.asarray(self.tf.sum(1)).ravel()
        t = self.tf.tocoo()
        w = t.data * (K1 + 1) / (t.data + K1 * (1 - B + B * dl[t.row] /
                                                  dl.mean()))
        self.bm = sp.csr_matrix((w * self.idf[t.col], (t.row, t.col)),
                                shape=(n, nv))
        self.tfidf = normalize(self.tf.multiply(self.idf).tocsr())
        held = cues["heldout"]
        r, c, v = self.voc.counts([q for _, q in held], False)
        self.q = sp.csr_matrix(((np.array(v) > 0).astype(float), (r, c)),
                               shape=(len(held), nv))
        self.target = np.array([d for d, _ in held])
        self.rows = []

    def score(self, s, name):
        s = np.asarray(s.todense()) if sp.issparse(s) else s
        ts = s[np.arange(len(self.target)), self.target]
        rank = (s > ts[:, None]).sum(1) + 1
        rank[ts <= 0] = 1 << 30
        r10 = (rank <= 10).mean()
        mrr = np.where(rank <= 10, 1.0 / rank, 0).mean()
        self.rows.append((name, r10, mrr, (rank <= 50).mean()))
        return s

    def run(self):
        base = self.score(self.q @ self.bm.T, "bm25")
        sim = (self.tfidf @ self.tfidf.T).tolil()
        sim.setdiag(0)
        sim = sim.tocsr()
        sim.eliminate_zeros()
        for k in (5, 10, 20):
            nn = normalize(top_k_rows(sim, k), norm="l1")
            around = np.asarray((nn @ base.T).T)
            for a in (0.2, 0.5):
                self.score(base + a * around,
                           "score-reg k=%d a=%.1f" % (k, a))
        order = np.argsort(-base, axis=1)
        for m in (3, 10):
            rows = np.repeat(np.arange(len(self.target)), m)
            fb = sp.csr_matrix((np.ones(rows.size),
                                (rows, order[:, :m].ravel())),
                               shape=(len(self.target), base.shape[1]))
            exp = normalize(top_k_rows(normalize(fb @ self.tfidf,
                                                 norm="l1"), 20), norm="l1")
            exp = sp.csr_matrix(exp.multiply(self.q.sum(1).A))
            for a in (0.1, 0.3):
                self.score((self.q + a * exp) @ self.bm.T,
                           "prf m=%d a=%.1f" % (m, a))
        bin_ = (self.tf > 0).astype(float).tocsc()
        co = (bin_.T @ bin_).tocoo()
        n = self.tf.shape[0]
        pmi = np.log(co.data * n / (self.df[co.row] * self.df[co.col]))
        keep = (co.row != co.col) & (co.data >= 2) & (pmi > 0)
        assoc = sp.csr_matrix((pmi[keep] * np.minimum(co.data[keep], 10),
                               (co.row[keep], co.col[keep])),
                              shape=(self.q.shape[1],) * 2)
        assoc = normalize(top_k_rows(assoc, 10), norm="l1")
        for a in (0.1, 0.2, 0.4):
            self.score((self.q + a * (self.q @ assoc)) @ self.bm.T,
                       "assoc a=%.1f" % a)
        qn = normalize(self.q.multiply(self.idf).tocsr())
        top = base.max(1, keepdims=True) + 1e-9
        for dims in (100, 300):
            svd = TruncatedSVD(dims, random_state=1).fit(self.tfidf)
            lsa = normalize(svd.transform(qn)) @ \
                normalize(svd.transform(self.tfidf)).T
            self.score(lsa, "lsa%d alone" % dims)
            for a in (0.1, 0.2):
                self.score(base / top + a * lsa, "bm25 + %.1f lsa%d" %
                           (a, dims))


def main():
    corpus = sys.argv[1] if len(sys.argv) > 1 else "fortunes"
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    st = Study(corpus, k)
    st.run()
    base = st.rows[0][1]
    print("%s held-out, %d cues\n" % (corpus, len(st.target)))
    print("| method | R@10 | vs bm25 | MRR@10 | R@50 |")
    print("| --- | --- | --- | --- | --- |")
    for name, r10, mrr, r50 in st.rows:
        print("| %s | %.3f | %+.3f | %.3f | %.3f |" %
              (name, r10, r10 - base, mrr, r50))
    return 0


if __name__ == "__main__":
    sys.exit(main())
