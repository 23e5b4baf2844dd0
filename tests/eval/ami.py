#!/usr/bin/env python3
"""ami.py - adjusted mutual information of two clusterings, stdlib only.

    AMI(U, V) = (MI - E[MI]) / (mean(H(U), H(V)) - E[MI])

MI and entropies in nats.  E[MI] is the expected mutual information of
two random clusterings with the same cluster sizes, under the
hypergeometric model (Vinh, Epps and Bailey, "Information theoretic
measures for clusterings comparison", JMLR 11, 2010, eq. 24a):

    E[MI] = sum_i sum_j sum_{n=max(1, a_i+b_j-N)}^{min(a_i, b_j)}
              n/N * log(N n / (a_i b_j)) *
              a_i! b_j! (N-a_i)! (N-b_j)! /
              (N! n! (a_i-n)! (b_j-n)! (N-a_i-b_j+n)!)

The normaliser is the arithmetic mean of the entropies (the default of
scikit-learn since 0.22); mean="max" gives the variant Vinh et al.
recommend, mean="geometric" / "min" the others.

Cost: the triple sum is evaluated once per distinct pair of sizes (a, b)
and multiplied by how often that pair occurs, so a clustering with
thousands of singletons costs no more than one with a few sizes.

Self-test: python3 ami.py  (E[MI] against brute force over all
permutations of small labelings, hand-worked values, invariances).
"""
import itertools
import math
import random
import sys
from collections import Counter


def _contingency(u, v):
    if len(u) != len(v):
        raise ValueError("labelings differ in length")
    return Counter(zip(u, v))


def entropy(labels):
    n = len(labels)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log(c / n) for c in Counter(labels).values())


def mutual_info(u, v):
    n = len(u)
    if n == 0:
        return 0.0
    cu, cv = Counter(u), Counter(v)
    mi = 0.0
    for (a, b), nij in _contingency(u, v).items():
        mi += nij / n * math.log(n * nij / (cu[a] * cv[b]))
    return max(mi, 0.0)


def expected_mutual_info(a_sizes, b_sizes, n):
    """E[MI] for cluster sizes A_SIZES and B_SIZES of N items."""
    lg = math.lgamma
    lfact_n = lg(n + 1)
    ca, cb = Counter(a_sizes), Counter(b_sizes)
    emi = 0.0
    for a, ma in ca.items():
        for b, mb in cb.items():
            lo = max(1, a + b - n)
            hi = min(a, b)
            if lo > hi:
                continue
            # the n-independent part of the log probability
            base = (lg(a + 1) + lg(b + 1) + lg(n - a + 1) + lg(n - b + 1)
                    - lfact_n)
            s = 0.0
            for nij in range(lo, hi + 1):
                logp = base - (lg(nij + 1) + lg(a - nij + 1) +
                               lg(b - nij + 1) + lg(n - a - b + nij + 1))
                s += nij / n * math.log(n * nij / (a * b)) * math.exp(logp)
            emi += ma * mb * s
    return emi


def _mean(x, y, how):
    if how == "arithmetic":
        return (x + y) / 2
    if how == "max":
        return max(x, y)
    if how == "min":
        return min(x, y)
    if how == "geometric":
        return math.sqrt(x * y)
    raise ValueError(how)


def ami(u, v, mean="arithmetic"):
    """Adjusted mutual information of labelings U and V (same items, same
    order; labels are any hashable values)."""
    n = len(u)
    if n != len(v):
        raise ValueError("labelings differ in length")
    cu, cv = Counter(u), Counter(v)
    # one cluster each, or every item its own cluster in both: identical
    # trivial clusterings agree perfectly (the usual convention)
    if (len(cu) == len(cv) == 1) or (len(cu) == len(cv) == n):
        return 1.0
    hu, hv = entropy(u), entropy(v)
    mi = mutual_info(u, v)
    emi = expected_mutual_info(list(cu.values()), list(cv.values()), n)
    den = _mean(hu, hv, mean) - emi
    if abs(den) < 1e-15:
        return 0.0
    return (mi - emi) / den


# ---------------------------------------------------------------------------
# Self-test
# ---------------------------------------------------------------------------

def _brute_emi(u, v):
    """Mean MI over all distinct arrangements of V against U: exactly the
    hypergeometric model (every permutation equally likely)."""
    tot, cnt = 0.0, 0
    for p in itertools.permutations(v):
        tot += mutual_info(u, list(p))
        cnt += 1
    return tot / cnt


def _close(x, y, tol=1e-9):
    return abs(x - y) <= tol * max(1.0, abs(x), abs(y))


def selftest(verbose=True):
    ok = True

    def check(name, cond):
        nonlocal ok
        ok = ok and cond
        if verbose:
            print("%-58s %s" % (name, "ok" if cond else "FAILED"))

    ln2 = math.log(2)
    # Hand example 1: U = V = [0,0,1,1].  Of the C(4,2)=6 ways to place
    # V's two 0s, 1 gives n11 = 2 and 1 gives n11 = 0 (MI = ln 2 each),
    # 4 give n11 = 1 (MI = 0): E[MI] = ln2/3, and AMI = 1.
    u = [0, 0, 1, 1]
    check("E[MI]([0,0,1,1],[0,0,1,1]) = ln2/3 (by hand)",
          _close(expected_mutual_info([2, 2], [2, 2], 4), ln2 / 3))
    check("AMI(U, U) = 1", _close(ami(u, u), 1.0))
    # Hand example 2: U = [0,0,1,1], V = [0,1,0,1]: MI = 0, so
    # AMI = (0 - ln2/3) / (ln2 - ln2/3) = -1/2.
    check("AMI([0,0,1,1],[0,1,0,1]) = -1/2 (by hand)",
          _close(ami(u, [0, 1, 0, 1]), -0.5))
    # Hand example 3: U = [0,0,0,1,1,1], V = [0,0,0,0,0,1] (sizes 5, 1).
    # V's singleton lands in either U cluster: n = 1 with prob 1/2 each
    # way, MI is then (1/6)ln(6/3) + (3/6)ln(6*3/15) + (2/6)ln(6*2/15)
    # whichever way, so E[MI] = MI and AMI = 0.
    uu, vv = [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 1]
    mi3 = (1 / 6) * math.log(2) + 0.5 * math.log(18 / 15) + \
        (2 / 6) * math.log(12 / 15)
    check("MI of hand example 3", _close(mutual_info(uu, vv), mi3))
    check("AMI of hand example 3 = 0 (E[MI] = MI)", abs(ami(uu, vv)) < 1e-12)
    # E[MI] against brute force over all permutations, several shapes
    cases = [
        ([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]),
        ([0, 0, 0, 0, 1, 1, 2], [0, 1, 1, 1, 2, 2, 2]),
        ([0, 0, 1, 1, 1, 2, 2, 3], [0, 0, 0, 0, 1, 1, 1, 1]),
        ([0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 1, 1]),
    ]
    for a, b in cases:
        e = expected_mutual_info(list(Counter(a).values()),
                                 list(Counter(b).values()), len(a))
        check("E[MI] = brute force, sizes %s vs %s" %
              (sorted(Counter(a).values()), sorted(Counter(b).values())),
              _close(e, _brute_emi(a, b), 1e-9))
    # invariances: renaming labels, swapping arguments
    a, b = cases[1]
    ren = ["x%d" % (7 - i) for i in a]
    check("AMI invariant to renaming labels", _close(ami(a, b), ami(ren, b)))
    check("AMI symmetric", _close(ami(a, b), ami(b, a)))
    # chance level: random clusterings of fixed sizes average about 0
    rng = random.Random(7)
    truth = [i % 5 for i in range(200)]
    pred = [i % 8 for i in range(200)]
    vals = []
    for _ in range(200):
        rng.shuffle(pred)
        vals.append(ami(truth, pred))
    m = sum(vals) / len(vals)
    check("mean AMI of 200 random clusterings ~ 0 (%.4f)" % m, abs(m) < 0.01)
    # a clustering that refines the truth scores well above chance
    refine = [t * 2 + (i % 2) for i, t in enumerate(truth)]
    check("AMI of a refinement > 0.5 (%.3f)" % ami(truth, refine),
          ami(truth, refine) > 0.5)
    # max normaliser never gives more than arithmetic
    check("AMI(max) <= AMI(arithmetic)",
          ami(a, b, "max") <= ami(a, b) + 1e-12)
    return ok


if __name__ == "__main__":
    good = selftest()
    print("ami self-test: %s" % ("passed" if good else "FAILED"))
    sys.exit(0 if good else 1)
