#!/usr/bin/env python3
"""report.py - the tables and JSON of `make bench`, targets judged.

    report.py RESULTS.tsv OUTDIR

RESULTS.tsv is what the sections recorded (lib.sh: `m ID LABEL UNIT
V1,V2,...` figures and `i KEY VALUE` notes).  This file knows which
figure is whose reference (REFS) and the targets of issue 6 (TARGETS,
judged on medians), so the shell only measures.  Writes:
  - Markdown on stdout and in OUTDIR/results.md: a main table (value,
    reference, ratio, target, met?) and a recall table (p50/p99 of each
    size, cue class and mode, with FTS5, grep -rl and rg -l beside);
  - OUTDIR/results.tsv: RESULTS.tsv as measured (report.py can be rerun
    on it);
  - OUTDIR/results.json: every figure (median, min, max, rounds), its
    references and ratios, each target and its verdict, and the notes.
Ratio is always engramfs / reference, so for rates higher is better and
for times lower is.  The last line is `N passed, N failed` (targets met
and missed; a quick run, which judges nothing, counts itself as one).
Exit status 1 when a judged target is missed or a daemon log showed
errors.
"""
import json
import math
import os
import re
import shutil
import sys

# Which figures a figure is set against, by ID pattern (first match).
REFS = [
    (r"ingest\.(\dw)$", [r"ingest.\1.floor", r"ingest.\1.tmpfs"]),
    (r"durable\.8w$", ["durable.rocks1", "durable.rocks8"]),
    (r"(read|stat)\.(cold|warm)$", [r"\1.\2.tmpfs", r"\1.\2.floor"]),
    (r"(ls|lsl)\.cold$", [r"\1.cold.plain"]),
    (r"disk\.(\d+)$", [r"disk.\1.raw"]),
    (r"threads\.2$", ["threads.1"]),
    (r"recall\.(\d+)\.\w+\.(\w+)\.(p50|p99)$", [r"fts5.\1.\2.\3"]),
]

# The targets of issue 6: ID pattern, text, test(median, ratio).  A
# recall row is judged only at the size the target names.
TARGETS = [
    (r"ingest\.1w$", ">= 0.7 x floor", lambda v, r: r["ingest.1w.floor"] >= 0.7),
    (r"durable\.8w$", ">= 4000/s", lambda v, r: v >= 4000),
    (r"(read|stat)\.warm$", ">= 0.8 x tmpfs",
     lambda v, r: min(x for k, x in r.items() if k.endswith(".tmpfs")) >= 0.8),
    (r"ls\.cold$", "< 0.5 s", lambda v, r: v < 0.5),
    (r"recall\.100000\.\w+\.\w+\.p50$", "< 1 ms, <= 1.5 x FTS5",
     lambda v, r: v < 1 and all(x <= 1.5 for x in r.values())),
    (r"recall\.100000\.\w+\.\w+\.p99$", "< 5 ms", lambda v, r: v < 5),
    (r"recall\.1000000\.\w+\.\w+\.p99$", "< 20 ms", lambda v, r: v < 20),
    (r"mount\.1000000$", "< 1 s", lambda v, r: v < 1),
    (r"rss\.1000000$", "< 256 MB", lambda v, r: v < 256),
    (r"disk\.1000000$", "<= 1.5 x raw", lambda v, r: r["disk.1000000.raw"] <= 1.5),
    (r"threads\.2$", ">= 1.6 x 1 thread", lambda v, r: r["threads.1"] >= 1.6),
]

CLASSES = ["rare", "two", "four", "common", "typo"]
MODES = ["episodic", "blended"]


def median(v):
    v = sorted(x for x in v if not math.isnan(x))
    if not v:
        return math.nan
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def num(x):
    try:
        return float(x)
    except ValueError:
        return math.nan


def fmt(x):
    if x is None or math.isnan(x):
        return "n/a"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.3g" % x


def load(path):
    figs, notes = {}, {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] == "m" and len(p) >= 5:
                vals = [num(x) for x in p[4].split(",") if x != ""]
                figs[p[1]] = {"label": p[2], "unit": p[3], "rounds": vals,
                              "median": median(vals),
                              "min": min(vals) if vals else math.nan,
                              "max": max(vals) if vals else math.nan}
            elif p[0] == "i" and len(p) >= 3:
                notes[p[1]] = p[2]
    return figs, notes


def refs_of(fid, figs):
    for pat, subs in REFS:
        if re.match(pat, fid):
            return [re.sub(pat, s, fid) for s in subs
                    if re.sub(pat, s, fid) in figs]
    return []


def judge(fid, fig, quick):
    for pat, text, test in TARGETS:
        if re.match(pat, fid):
            if quick:
                return text, "-"
            try:
                ok = test(fig["median"], fig["ratios"])
            except (KeyError, ValueError):
                ok = False
            return text, "met" if ok else "missed"
    return "-", "-"


def enrich(figs, quick):
    used = set()
    for fid, fig in figs.items():
        fig["refs"] = refs_of(fid, figs)
        used.update(fig["refs"])
        fig["ratios"] = {r: fig["median"] / figs[r]["median"]
                         if figs[r]["median"] else math.nan
                         for r in fig["refs"]}
        fig["target"], fig["verdict"] = judge(fid, fig, quick)
    return used


def spread(fig):
    if len(fig["rounds"]) < 2:
        return fmt(fig["median"])
    return "%s (%s-%s)" % (fmt(fig["median"]), fmt(fig["min"]),
                           fmt(fig["max"]))


def main_table(figs, used, out):
    out.append("| measure | value (median; min-max) | reference | ratio "
               "| target | met? |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for fid, fig in figs.items():
        if fid in used or fid.startswith(("recall.", "fts5.", "grep.", "rg.")):
            continue
        label = "%s, %s" % (fig["label"], fig["unit"])
        refs = fig["refs"] or [None]
        for i, ref in enumerate(refs):
            r = figs[ref] if ref else None
            out.append("| %s | %s | %s | %s | %s | %s |" % (
                label if i == 0 else "", spread(fig) if i == 0 else "",
                "%s: %s" % (r["label"], spread(r)) if r else "-",
                fmt(fig["ratios"][ref]) if ref else "-",
                fig["target"] if i == 0 else "",
                fig["verdict"] if i == 0 else ""))


def recall_table(figs, notes, out):
    sizes = sorted({int(f.split(".")[1]) for f in figs
                    if f.startswith("recall.")})
    out.append("| episodes | cue | mode | p50 ms | p99 ms | FTS5 p50 | "
               "FTS5 p99 | p50 / FTS5 | grep -rl ms | rg -l ms | target "
               "| met? |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | "
               "--- | --- | --- |")
    for n in sizes:
        for cls in CLASSES:
            for mode in MODES:
                p50 = figs.get("recall.%d.%s.%s.p50" % (n, mode, cls))
                p99 = figs.get("recall.%d.%s.%s.p99" % (n, mode, cls))
                if not p50 or not p99:
                    continue
                f50 = figs.get("fts5.%d.%s.p50" % (n, cls), {})
                f99 = figs.get("fts5.%d.%s.p99" % (n, cls), {})
                g = figs.get("grep.%d.%s" % (n, cls), {})
                rg = figs.get("rg.%d.%s" % (n, cls), {})
                verdicts = [v for v in (p50["verdict"], p99["verdict"])
                            if v != "-"]
                targets = [t for t in (p50["target"], p99["target"])
                           if t != "-"]
                out.append("| %d | %s (df %s) | %s | %s | %s | %s | %s | %s "
                           "| %s | %s | %s | %s |" % (
                               n, cls, notes.get("df.%d.%s" % (n, cls), "?"),
                               mode, spread(p50), spread(p99),
                               fmt(f50.get("median", math.nan)),
                               fmt(f99.get("median", math.nan)),
                               fmt(p50["ratios"].get(
                                   "fts5.%d.%s.p50" % (n, cls), math.nan)),
                               fmt(g.get("median", math.nan)),
                               fmt(rg.get("median", math.nan)),
                               "; ".join(targets) or "-",
                               ("missed" if "missed" in verdicts else "met")
                               if verdicts else "-"))


def hits_lines(notes):
    """One line a size: how often the episode a cue was drawn from is
    among the answers (first round; common cues have no source)."""
    lines = []
    sizes = sorted({int(k.split(".")[1]) for k in notes
                    if k.startswith("hits.")})
    for n in sizes:
        parts = []
        for mode in MODES:
            for cls in ("rare", "two", "four"):
                v = notes.get("hits.%d.%s.%s" % (n, mode, cls))
                if v:
                    parts.append("%s %s %s" % (mode, cls, v.split()[0]))
        for cls in ("rare", "two", "four"):
            v = notes.get("fts5.hits.%d.%s.0" % (n, cls))
            if v:
                parts.append("FTS5 %s %s" % (cls, v))
        lines.append("- source episode in the top 10 at %d: %s"
                     % (n, ", ".join(parts)))
    return lines


def clean(x):
    """JSON has no NaN: null instead."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: report.py RESULTS.tsv OUTDIR")
    figs, notes = load(argv[1])
    quick = notes.get("quick") == "1"
    used = enrich(figs, quick)
    missed = [f for f, v in figs.items() if v["verdict"] == "missed"]
    log_errors = notes.get("daemon_log_errors") == "yes"
    out = ["engramfs bench: sizes %s, %s round(s), %s, load %s at start, "
           "%s s%s" % (notes.get("sizes"), notes.get("rounds"),
                       notes.get("placement"), notes.get("load_at_start"),
                       fmt(num(notes.get("seconds", "nan"))),
                       ", QUICK (not judged)" if quick else ""), ""]
    main_table(figs, used, out)
    out += ["", "Recall (open/read/close of recall/<cue>?mode=MODE; df = "
            "median document frequency of the cue words; FTS5 in-process; "
            "grep/rg over the same episodes as plain files):", ""]
    recall_table(figs, notes, out)
    out += ["", "Notes:"] + ["- %s: %s" % (k, v) for k, v in notes.items()
                             if k.startswith(("fill.", "consolidate.",
                                              "concepts.", "fts5.build",
                                              "rg"))]
    out += hits_lines(notes)
    if not quick:
        out += ["", "Targets missed: %s" % (", ".join(missed) or "none")]
    if log_errors:
        out += ["", "A daemon's log showed errors (see the bench output)."]
    text = "\n".join(out) + "\n"
    os.makedirs(argv[2], exist_ok=True)
    if os.path.abspath(argv[1]) != os.path.abspath(
            os.path.join(argv[2], "results.tsv")):
        shutil.copy(argv[1], os.path.join(argv[2], "results.tsv"))
    with open(os.path.join(argv[2], "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(argv[2], "results.json"), "w") as f:
        json.dump(clean({"quick": quick, "notes": notes, "figures": figs,
                         "targets_missed": missed,
                         "targets_met": None if quick else not missed,
                         "daemon_log_errors": log_errors}), f, indent=1)
    sys.stdout.write(text)
    print("results: %s/results.md, %s/results.json" % (argv[2], argv[2]))
    print(summary(figs, quick, missed, log_errors))
    return 1 if (not quick and missed) or log_errors else 0


def summary(figs, quick, missed, log_errors):
    """The last line, as every suite of `make test` and .ci/run ends: the
    targets met and missed; a quick run counts itself, one check that
    passed when it ran through with clean daemon logs."""
    if quick:
        return "%d passed, %d failed" % (0 if log_errors else 1,
                                         1 if log_errors else 0)
    met = sum(1 for v in figs.values() if v["verdict"] == "met")
    return "%d passed, %d failed" % (met, len(missed) + bool(log_errors))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
