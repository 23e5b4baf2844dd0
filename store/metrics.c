/*
 * metrics.c - the counters behind the metrics and status files.
 *
 * What is counted.  Recalls by cohort and pathway mode, recall errors and
 * recall latency by cohort (metrics_recall, from recall.c); flag changes
 * (metrics_flag_change, from flag.c, once per flag whose value changed);
 * and every file system operation the daemon reports: count, errors and
 * latency per operation (store_metrics_fs_op, from fs/).  Levels such as
 * the number of episodes are not kept here: they are the counters db.c
 * already mirrors in struct store, read as they are (not through
 * store_counts(), which takes the writer lock for next_ino), and flag
 * values come from store_flag_get().  Rendering reads only memory and never the
 * database, so it costs the same with ten episodes or ten million.
 *
 * Why atomics.  Updates come from every FUSE worker thread, on hot paths
 * (lookup, getattr, read).  An update is two or three relaxed fetch-adds on
 * uint64_t: no lock, and no ordering, because no counter guards other data.
 * Rejected: a mutex (every getattr would queue behind a render); per-thread
 * shards (FUSE runs about ten workers, so contention is low, and shards
 * would cost memory and a sum at render).  A render that races an update
 * may see a histogram's _sum one observation ahead of or behind its
 * buckets; every Prometheus client has the same race and rate() does not
 * care.  _count is not stored: it is the sum of the buckets read in the same
 * pass, so it always equals the +Inf bucket.  The sum is kept in integer
 * nanoseconds because C11 has no atomic add for double (a CAS loop would
 * spin under contention) and is printed as an exact decimal.
 *
 * Buckets.  One slot per bucket holds the observations that fall in it and
 * not in the bucket below (one increment per observation); render turns
 * slots into cumulative le buckets.  Bounds run from 100 us (a cached
 * lookup) to 2.5 s (an fsync on a busy disk), in the 1-2.5-5 steps of the
 * Prometheus clients, plus 15 ms: the rollout runbook's recall SLO ("P99
 * under 15 ms") queries le="0.015", so that bucket must exist.  Every
 * histogram uses the same bounds, so panels compare.  The le texts are
 * written out in the table, never formatted from doubles, so they keep the
 * spelling dashboards match on.
 *
 * Names.  engram_episodes_total is fixed by DESIGN (dashboards divide by
 * it) but is a level: rm lowers it.  As a counter, rate() would read each
 * drop as a restart; as a gauge, promtool rejects the _total suffix.  It is
 * therefore exposed as untyped, which Prometheus stores like a gauge.  Names
 * we choose ourselves follow the conventions (engram_folders is a gauge).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "concept_i.h"

#ifndef ENGRAM_VERSION
#define ENGRAM_VERSION "0.1.0"	/* the Makefile may pass -DENGRAM_VERSION */
#endif

#define METRICS_NCOHORT (STORE_COHORT_TREATMENT + 1)
#define METRICS_NMODE   (STORE_MODE_BLENDED + 1)

/* Finite bucket bounds, ascending; see "Buckets" above. */
static const struct metrics_bound {
	uint64_t ns;
	const char *le;
} metrics_bounds[] = {
	{ 100000, "0.0001" },     { 250000, "0.00025" },
	{ 500000, "0.0005" },     { 1000000, "0.001" },
	{ 2500000, "0.0025" },    { 5000000, "0.005" },
	{ 10000000, "0.01" },     { 15000000, "0.015" },
	{ 25000000, "0.025" },    { 50000000, "0.05" },
	{ 100000000, "0.1" },     { 250000000, "0.25" },
	{ 500000000, "0.5" },     { 1000000000, "1" },
	{ 2500000000u, "2.5" },
};
#define METRICS_NBOUNDS (sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

/* Observations above the largest bound: about 31 years, so that sums in
 * nanoseconds cannot overflow from one absurd value. */
#define METRICS_MAX_SECONDS 1e9

struct metrics_hist {
	_Atomic uint64_t slot[METRICS_NBOUNDS + 1];	/* last: above all bounds */
	_Atomic uint64_t sum_ns;
};

struct store_metrics {
	struct timespec started;	/* CLOCK_MONOTONIC, for uptime */

	_Atomic uint64_t recalls[METRICS_NCOHORT][METRICS_NMODE];
	_Atomic uint64_t recall_errors[METRICS_NCOHORT];
	struct metrics_hist recall_time[METRICS_NCOHORT];

	_Atomic uint64_t flag_changes;

	_Atomic uint64_t fs_ops[STORE_OP__COUNT];
	_Atomic uint64_t fs_errors[STORE_OP__COUNT];
	struct metrics_hist fs_time[STORE_OP__COUNT];

	/* Blended recall, by cohort; results by pathway. */
	_Atomic uint64_t blended[METRICS_NCOHORT];
	_Atomic uint64_t convergent[METRICS_NCOHORT];
	_Atomic uint64_t completed[METRICS_NCOHORT];
	struct metrics_hist blended_time[METRICS_NCOHORT];
	_Atomic uint64_t results[METRICS_NCOHORT][4];	/* by pathway */
	_Atomic uint64_t semantic_timeouts;
	_Atomic uint64_t fan_penalties;

	/* Consolidation runs (the rest comes from concept_stats()). */
	struct metrics_hist consolidation_time;

	/*
	 * Reserved: consolidation (engram_concepts_total,
	 * engram_bindings_total, engram_concepts_formed_total,
	 * engram_bindings_created_total, engram_concept_coherence,
	 * engram_consolidation_duration_seconds,
	 * engram_consolidation_failures_total).  Each gets its counters here,
	 * an update function declared in store_i.h and a step in
	 * metrics_render_all(), in the same commit as the code that updates
	 * it: a metric that is never updated is worse than none.
	 */
};

static const char *const metrics_cohort_name[METRICS_NCOHORT] = {
	[STORE_COHORT_CONTROL] = "control",
	[STORE_COHORT_TREATMENT] = "treatment",
};

/* "auto" only appears for recalls that failed before a mode was chosen. */
static const char *const metrics_mode_name[METRICS_NMODE] = {
	[STORE_MODE_AUTO] = "auto",
	[STORE_MODE_EPISODIC] = "episodic",
	[STORE_MODE_SEMANTIC] = "semantic",
	[STORE_MODE_BLENDED] = "blended",
};

_Static_assert(STORE_OP_XATTR + 1 == STORE_OP__COUNT,
	       "name every operation in metrics_op_name");
static const char *const metrics_op_name[STORE_OP__COUNT] = {
	[STORE_OP_LOOKUP] = "lookup",   [STORE_OP_GETATTR] = "getattr",
	[STORE_OP_READDIR] = "readdir", [STORE_OP_OPEN] = "open",
	[STORE_OP_READ] = "read",       [STORE_OP_WRITE] = "write",
	[STORE_OP_CREATE] = "create",   [STORE_OP_FLUSH] = "flush",
	[STORE_OP_FSYNC] = "fsync",     [STORE_OP_UNLINK] = "unlink",
	[STORE_OP_RENAME] = "rename",   [STORE_OP_SETATTR] = "setattr",
	[STORE_OP_MKDIR] = "mkdir",     [STORE_OP_RMDIR] = "rmdir",
	[STORE_OP_XATTR] = "xattr",
};

/* ------------------------------------------------------------------ */
/* Updating                                                           */
/* ------------------------------------------------------------------ */

static void metrics_inc(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t metrics_load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Seconds to nanoseconds; negative and NaN count as 0. */
static uint64_t metrics_ns(double seconds)
{
	if (!(seconds > 0))
		return 0;
	if (seconds > METRICS_MAX_SECONDS)
		seconds = METRICS_MAX_SECONDS;
	return (uint64_t)(seconds * 1e9 + 0.5);
}

static void metrics_observe(struct metrics_hist *h, double seconds)
{
	uint64_t ns = metrics_ns(seconds);
	size_t i = 0;

	while (i < METRICS_NBOUNDS && ns > metrics_bounds[i].ns)
		i++;
	metrics_inc(&h->slot[i], 1);
	metrics_inc(&h->sum_ns, ns);
}

int metrics_init(struct store *st)
{
	struct store_metrics *m;

	/* calloc's zero bytes are a valid zero for lock-free atomics on
	 * every platform we build for. */
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &m->started);
	st->metrics = m;
	return 0;
}

void metrics_free(struct store *st)
{
	free(st->metrics);
	st->metrics = NULL;
}

void metrics_recall(struct store *st, enum store_cohort cohort,
		    enum store_mode mode, double seconds, bool failed)
{
	struct store_metrics *m = st->metrics;

	if (!m || (unsigned)cohort >= METRICS_NCOHORT ||
	    (unsigned)mode >= METRICS_NMODE)
		return;
	metrics_inc(&m->recalls[cohort][mode], 1);
	if (failed)
		metrics_inc(&m->recall_errors[cohort], 1);
	metrics_observe(&m->recall_time[cohort], seconds);
}

void metrics_blended(struct store *st, enum store_cohort cohort,
		     double seconds, uint64_t convergent, uint64_t completed,
		     bool timed_out, uint64_t fan_penalties)
{
	struct store_metrics *m = st->metrics;

	if (!m)
		return;
	metrics_inc(&m->blended[cohort], 1);
	metrics_inc(&m->convergent[cohort], convergent);
	metrics_inc(&m->completed[cohort], completed);
	metrics_observe(&m->blended_time[cohort], seconds);
	metrics_inc(&m->semantic_timeouts, timed_out ? 1 : 0);
	metrics_inc(&m->fan_penalties, fan_penalties);
}

void metrics_consolidation(struct store *st, double seconds)
{
	if (st->metrics)
		metrics_observe(&st->metrics->consolidation_time, seconds);
}

void metrics_results(struct store *st, enum store_cohort cohort,
		     enum store_pathway pathway, uint64_t n)
{
	if (st->metrics && pathway < 4)
		metrics_inc(&st->metrics->results[cohort][pathway], n);
}

void metrics_flag_change(struct store *st)
{
	if (st->metrics)
		metrics_inc(&st->metrics->flag_changes, 1);
}

void store_metrics_fs_op(struct store *st, enum store_fs_op op,
			 double seconds, bool failed)
{
	struct store_metrics *m = st->metrics;

	if (!m || (unsigned)op >= STORE_OP__COUNT)
		return;
	metrics_inc(&m->fs_ops[op], 1);
	if (failed)
		metrics_inc(&m->fs_errors[op], 1);
	metrics_observe(&m->fs_time[op], seconds);
}

/* ------------------------------------------------------------------ */
/* An output buffer that grows; the first failure sticks               */
/* ------------------------------------------------------------------ */

struct metrics_out {
	char *buf;
	size_t len, cap;	/* buf[len] is always NUL */
	int err;
};

/* A whole exposition is about 30 KiB; start big enough for it. */
#define METRICS_OUT_INITIAL (64 * 1024)

static int metrics_out_init(struct metrics_out *o, size_t cap)
{
	o->buf = malloc(cap);
	if (!o->buf)
		return -ENOMEM;
	o->buf[0] = '\0';
	o->len = 0;
	o->cap = cap;
	o->err = 0;
	return 0;
}

static bool metrics_reserve(struct metrics_out *o, size_t more)
{
	size_t cap = o->cap;
	char *p;

	if (o->err)
		return false;
	if (o->len + more < o->cap)
		return true;
	while (cap <= o->len + more)
		cap *= 2;
	p = realloc(o->buf, cap);
	if (!p) {
		o->err = -ENOMEM;
		return false;
	}
	o->buf = p;
	o->cap = cap;
	return true;
}

static void metrics_put(struct metrics_out *o, const char *s, size_t n)
{
	if (!metrics_reserve(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void metrics_puts(struct metrics_out *o, const char *s)
{
	metrics_put(o, s, strlen(s));
}

static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	size_t room = o->cap - o->len;
	va_list ap;
	int n;

	if (o->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= room && metrics_reserve(o, (size_t)n)) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
	}
	if (n < 0 && !o->err)
		o->err = -EINVAL;
	if (o->err)
		return;
	o->len += (size_t)n;
}

/* Text format 0.0.4 escaping: label values escape \ " and newline, HELP
 * text escapes \ and newline. */
static void metrics_put_escaped(struct metrics_out *o, const char *s,
				bool label)
{
	const char *special = label ? "\\\n\"" : "\\\n";

	for (;;) {
		size_t n = strcspn(s, special);

		metrics_put(o, s, n);
		s += n;
		if (!*s)
			return;
		if (*s == '\n')
			metrics_put(o, "\\n", 2);
		else if (*s == '"')
			metrics_put(o, "\\\"", 2);
		else
			metrics_put(o, "\\\\", 2);
		s++;
	}
}

/* ------------------------------------------------------------------ */
/* Text format 0.0.4                                                  */
/* ------------------------------------------------------------------ */

/* A label pair; a NULL name ends a list. */
struct metrics_label {
	const char *name, *value;
};

static void metrics_family(struct metrics_out *o, const char *name,
			   const char *type, const char *help)
{
	metrics_printf(o, "# HELP %s ", name);
	metrics_put_escaped(o, help, false);
	metrics_printf(o, "\n# TYPE %s %s\n", name, type);
}

/* One sample line: NAME SUFFIX {labels} VALUE.  L0 and L1 may be NULL. */
static void metrics_sample(struct metrics_out *o, const char *name,
			   const char *suffix, const struct metrics_label *l0,
			   const struct metrics_label *l1, const char *value)
{
	const struct metrics_label *l[2] = { l0, l1 };
	bool open = false;

	metrics_puts(o, name);
	metrics_puts(o, suffix);
	for (size_t i = 0; i < 2; i++) {
		if (!l[i])
			continue;
		metrics_puts(o, open ? "," : "{");
		open = true;
		metrics_puts(o, l[i]->name);
		metrics_puts(o, "=\"");
		metrics_put_escaped(o, l[i]->value, true);
		metrics_puts(o, "\"");
	}
	metrics_puts(o, open ? "} " : " ");
	metrics_puts(o, value);
	metrics_puts(o, "\n");
}

static void metrics_sample_u64(struct metrics_out *o, const char *name,
			       const struct metrics_label *l0,
			       const struct metrics_label *l1, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	metrics_sample(o, name, "", l0, l1, buf);
}

/* Nanoseconds as exact decimal seconds: "12.000500000". */
static void metrics_fmt_ns(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u,
		 ns % 1000000000u);
}

/* Shortest of %.15g and %.17g that reads back as V; Go's spellings of the
 * non-finite values. */
static void metrics_fmt_double(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, "%cInf", v > 0 ? '+' : '-');
	else {
		snprintf(buf, size, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, size, "%.17g", v);
	}
}

/* The series of histogram H labelled L: cumulative buckets, +Inf, _sum
 * and _count (the +Inf value, read in the same pass). */
static void metrics_hist_render(struct metrics_out *o, const char *name,
				const struct metrics_label *l,
				struct metrics_hist *h)
{
	uint64_t cum = 0;
	char buf[32];

	for (size_t i = 0; i <= METRICS_NBOUNDS; i++) {
		struct metrics_label le = {
			"le", i < METRICS_NBOUNDS ? metrics_bounds[i].le
						  : "+Inf"
		};

		cum += metrics_load(&h->slot[i]);
		snprintf(buf, sizeof(buf), "%" PRIu64, cum);
		metrics_sample(o, name, "_bucket", l, &le, buf);
	}
	metrics_fmt_ns(buf, sizeof(buf), metrics_load(&h->sum_ns));
	metrics_sample(o, name, "_sum", l, NULL, buf);
	snprintf(buf, sizeof(buf), "%" PRIu64, cum);
	metrics_sample(o, name, "_count", l, NULL, buf);
}

static uint64_t metrics_uptime_ns(const struct store_metrics *m)
{
	struct timespec now;
	int64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (int64_t)(now.tv_sec - m->started.tv_sec) * 1000000000 +
	     (now.tv_nsec - m->started.tv_nsec);
	return ns > 0 ? (uint64_t)ns : 0;
}

/* Levels: uptime and the store's mirrored counters. */
static void metrics_render_levels(struct metrics_out *o, struct store *st)
{
	char buf[32];

	metrics_family(o, "engram_uptime_seconds", "gauge",
		       "Seconds since the store was opened.");
	metrics_fmt_ns(buf, sizeof(buf), metrics_uptime_ns(st->metrics));
	metrics_sample(o, "engram_uptime_seconds", "", NULL, NULL, buf);

	/* untyped, not gauge: see "Names" at the top */
	metrics_family(o, "engram_episodes_total", "untyped",
		       "Episodes stored now (a level: rm lowers it).");
	metrics_sample_u64(o, "engram_episodes_total", NULL, NULL,
			   metrics_load(&st->n_episodes));
	metrics_family(o, "engram_folders", "gauge",
		       "Folders under episodes/ stored now.");
	metrics_sample_u64(o, "engram_folders", NULL, NULL,
			   metrics_load(&st->n_folders));
	metrics_family(o, "engram_episode_bytes", "gauge",
		       "Content bytes of all episodes stored now.");
	metrics_sample_u64(o, "engram_episode_bytes", NULL, NULL,
			   metrics_load(&st->n_bytes));
}

static void metrics_render_recall(struct metrics_out *o,
				  struct store_metrics *m)
{
	metrics_family(o, "engram_recall_total", "counter",
		       "Recalls run, by cohort and pathway mode used.");
	for (int c = 0; c < METRICS_NCOHORT; c++) {
		struct metrics_label lc = { "cohort", metrics_cohort_name[c] };

		for (int md = 0; md < METRICS_NMODE; md++) {
			struct metrics_label lm = { "mode",
						    metrics_mode_name[md] };
			uint64_t v = metrics_load(&m->recalls[c][md]);

			if (md != STORE_MODE_AUTO || v)
				metrics_sample_u64(o, "engram_recall_total",
						   &lc, &lm, v);
		}
	}
	metrics_family(o, "engram_recall_errors_total", "counter",
		       "Recalls that failed, by cohort.");
	for (int c = 0; c < METRICS_NCOHORT; c++) {
		struct metrics_label lc = { "cohort", metrics_cohort_name[c] };

		metrics_sample_u64(o, "engram_recall_errors_total", &lc, NULL,
				   metrics_load(&m->recall_errors[c]));
	}
	metrics_family(o, "engram_recall_duration_seconds", "histogram",
		       "Recall latency in seconds, by cohort.");
	for (int c = 0; c < METRICS_NCOHORT; c++) {
		struct metrics_label lc = { "cohort", metrics_cohort_name[c] };

		metrics_hist_render(o, "engram_recall_duration_seconds", &lc,
				    &m->recall_time[c]);
	}
}

static const char *const metrics_pathway_name[4] = {
	[STORE_PATHWAY_EPISODIC] = "episodic",
	[STORE_PATHWAY_SEMANTIC] = "semantic",
	[STORE_PATHWAY_CONVERGENT] = "convergent",
	[STORE_PATHWAY_COMPLETED] = "completed",
};

/* One counter family with a cohort label. */
static void metrics_by_cohort(struct metrics_out *o, const char *name,
			      const char *help, _Atomic uint64_t *v)
{
	metrics_family(o, name, "counter", help);
	for (int c = 0; c < METRICS_NCOHORT; c++) {
		struct metrics_label lc = { "cohort", metrics_cohort_name[c] };

		metrics_sample_u64(o, name, &lc, NULL, metrics_load(&v[c]));
	}
}

static void metrics_render_blended(struct metrics_out *o,
				   struct store_metrics *m)
{
	metrics_by_cohort(o, "engram_blended_recall_total",
			  "Recalls answered by the blended pathway.",
			  m->blended);
	metrics_by_cohort(o, "engram_blended_recall_convergent_total",
			  "Blended results found by both pathways.",
			  m->convergent);
	metrics_by_cohort(o, "engram_blended_recall_pattern_completed_total",
			  "Blended results added by pattern completion.",
			  m->completed);
	metrics_family(o, "engram_blended_recall_duration_seconds",
		       "histogram", "Blended recall latency in seconds.");
	for (int c = 0; c < METRICS_NCOHORT; c++) {
		struct metrics_label lc = { "cohort", metrics_cohort_name[c] };

		metrics_hist_render(o, "engram_blended_recall_duration_seconds",
				    &lc, &m->blended_time[c]);
	}
	metrics_family(o, "engram_recall_results_total", "counter",
		       "Results returned, by cohort and pathway.");
	for (int c = 0; c < METRICS_NCOHORT; c++)
		for (int p = 0; p < 4; p++) {
			struct metrics_label lc = { "cohort",
						    metrics_cohort_name[c] };
			struct metrics_label lp = { "pathway",
						    metrics_pathway_name[p] };

			metrics_sample_u64(o, "engram_recall_results_total",
					   &lc, &lp,
					   metrics_load(&m->results[c][p]));
		}
	metrics_family(o, "engram_semantic_pathway_timeout_total", "counter",
		       "Semantic pathways abandoned past semantic_timeout_ms.");
	metrics_sample_u64(o, "engram_semantic_pathway_timeout_total", NULL,
			   NULL, metrics_load(&m->semantic_timeouts));
	metrics_family(o, "engram_fan_effect_penalties_total", "counter",
		       "Concept-to-member activations divided by a fan.");
	metrics_sample_u64(o, "engram_fan_effect_penalties_total", NULL, NULL,
			   metrics_load(&m->fan_penalties));
}

static void metrics_gauge_double(struct metrics_out *o, const char *name,
				 const char *help, double v)
{
	char buf[40];

	metrics_family(o, name, "gauge", help);
	metrics_fmt_double(buf, sizeof(buf), v);
	metrics_sample(o, name, "", NULL, NULL, buf);
}

static void metrics_counter(struct metrics_out *o, const char *name,
			    const char *help, uint64_t v)
{
	metrics_family(o, name, "counter", help);
	metrics_sample_u64(o, name, NULL, NULL, v);
}

/* Concepts and consolidation: levels from the concept cache, counters
 * since open, the run duration histogram. */
static void metrics_render_concepts(struct metrics_out *o, struct store *st)
{
	struct concept_stats cs;

	concept_stats(st, &cs);
	/* untyped like engram_episodes_total: a level whose name DESIGN
	 * fixes with _total, which promtool refuses on a gauge */
	metrics_family(o, "engram_concepts_total", "untyped",
		       "Concepts that exist now.");
	metrics_sample_u64(o, "engram_concepts_total", NULL, NULL,
			   cs.concepts);
	metrics_family(o, "engram_bindings_total", "untyped",
		       "Episode-to-concept bindings that exist now.");
	metrics_sample_u64(o, "engram_bindings_total", NULL, NULL,
			   cs.bindings);
	metrics_counter(o, "engram_concepts_formed_total",
			"Concepts formed by consolidation.", cs.formed_total);
	metrics_counter(o, "engram_bindings_created_total",
			"Bindings created by consolidation.",
			cs.bindings_created_total);
	metrics_counter(o, "engram_consolidation_failures_total",
			"Consolidation runs that failed.", cs.failures_total);
	metrics_gauge_double(o, "engram_concept_coherence",
			     "Mean coherence of the concepts that exist now.",
			     cs.concepts ? cs.coherence_sum / (double)cs.concepts
					 : 0);
	metrics_family(o, "engram_consolidation_duration_seconds",
		       "histogram", "Consolidation run duration in seconds.");
	metrics_hist_render(o, "engram_consolidation_duration_seconds", NULL,
			    &st->metrics->consolidation_time);
}

/* Resident set size of this process, from /proc/self/statm. */
static uint64_t metrics_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Open file descriptors of this process (a leak shows here first). */
static uint64_t metrics_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	uint64_t n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n > 3 ? n - 3 : 0;	/* ".", "..", and opendir's own */
}

/* Process and database figures: memory, descriptors, bytes on disk. */
static void metrics_render_process(struct metrics_out *o, struct store *st)
{
	struct store_usage u;
	char buf[32];

	store_usage(st, &u);
	metrics_family(o, "engram_process_resident_memory_bytes", "gauge",
		       "Resident memory of the daemon in bytes.");
	snprintf(buf, sizeof(buf), "%" PRIu64, metrics_rss_bytes());
	metrics_sample(o, "engram_process_resident_memory_bytes", "", NULL,
		       NULL, buf);
	metrics_family(o, "engram_process_open_fds", "gauge",
		       "Open file descriptors of the daemon.");
	metrics_sample_u64(o, "engram_process_open_fds", NULL, NULL,
			   metrics_open_fds());
	metrics_family(o, "engram_store_disk_bytes", "gauge",
		       "RocksDB table and log files of the store, in bytes.");
	metrics_sample_u64(o, "engram_store_disk_bytes", NULL, NULL,
			   u.disk_bytes);
	metrics_family(o, "engram_store_pending_compaction_bytes", "gauge",
		       "Bytes RocksDB estimates compaction still has to "
		       "rewrite.");
	metrics_sample_u64(o, "engram_store_pending_compaction_bytes", NULL,
			   NULL, u.pending_compaction_bytes);
	metrics_family(o, "engram_store_memtable_bytes", "gauge",
		       "Bytes held in RocksDB memtables.");
	metrics_sample_u64(o, "engram_store_memtable_bytes", NULL, NULL,
			   u.memtable_bytes);
}

static void metrics_render_pcache(struct metrics_out *o, struct store *st)
{
	struct pcache_stats ps;

	pcache_stats(st->pcache, &ps);
	metrics_family(o, "engram_posting_cache_bytes", "gauge",
		       "Bytes of decoded postings of frequent terms kept in "
		       "memory (store/pcache.c).");
	metrics_sample_u64(o, "engram_posting_cache_bytes", NULL, NULL,
			   ps.bytes);
	metrics_family(o, "engram_posting_cache_lookups_total", "counter",
		       "Cue terms looked up in the posting cache, by result.");
	metrics_sample_u64(o, "engram_posting_cache_lookups_total",
			   &(struct metrics_label){ "result", "hit" }, NULL,
			   ps.hits);
	metrics_sample_u64(o, "engram_posting_cache_lookups_total",
			   &(struct metrics_label){ "result", "miss" }, NULL,
			   ps.misses);
}

static void metrics_render_flags(struct metrics_out *o, struct store *st)
{
	char buf[40];

	metrics_family(o, "engram_flag_changes_total", "counter",
		       "Flag values changed (by write, config or ctl).");
	metrics_sample_u64(o, "engram_flag_changes_total", NULL, NULL,
			   metrics_load(&st->metrics->flag_changes));
	metrics_family(o, "engram_flag_value", "gauge",
		       "Current value of each flag (booleans 0 or 1, "
		       "enums the index of the choice).");
	for (int id = 0; id < FLAG__COUNT; id++) {
		struct metrics_label lf = { "flag", store_flag_def(id)->name };

		metrics_fmt_double(buf, sizeof(buf), store_flag_get(st, id));
		metrics_sample(o, "engram_flag_value", "", &lf, NULL, buf);
	}
}

static void metrics_render_fs(struct metrics_out *o, struct store_metrics *m)
{
	metrics_family(o, "engram_fs_operations_total", "counter",
		       "File system operations handled, by operation.");
	for (int op = 0; op < STORE_OP__COUNT; op++) {
		struct metrics_label l = { "op", metrics_op_name[op] };

		metrics_sample_u64(o, "engram_fs_operations_total", &l, NULL,
				   metrics_load(&m->fs_ops[op]));
	}
	metrics_family(o, "engram_fs_errors_total", "counter",
		       "File system operations that returned an error, "
		       "by operation.");
	for (int op = 0; op < STORE_OP__COUNT; op++) {
		struct metrics_label l = { "op", metrics_op_name[op] };

		metrics_sample_u64(o, "engram_fs_errors_total", &l, NULL,
				   metrics_load(&m->fs_errors[op]));
	}
	metrics_family(o, "engram_fs_operation_duration_seconds", "histogram",
		       "File system operation latency in seconds, "
		       "by operation.");
	for (int op = 0; op < STORE_OP__COUNT; op++) {
		struct metrics_label l = { "op", metrics_op_name[op] };

		metrics_hist_render(o, "engram_fs_operation_duration_seconds",
				    &l, &m->fs_time[op]);
	}
}

static void metrics_render_all(struct metrics_out *o, struct store *st)
{
	metrics_render_levels(o, st);
	metrics_render_recall(o, st->metrics);
	metrics_render_blended(o, st->metrics);
	metrics_render_concepts(o, st);
	metrics_render_process(o, st);
	metrics_render_pcache(o, st);
	metrics_render_flags(o, st);
	metrics_render_fs(o, st->metrics);
	/* Consolidation and blending families go here (see the reserved
	 * block in struct store_metrics). */
}

/* Hand the buffer over, or free it and return the sticky error. */
static int metrics_out_finish(struct metrics_out *o, char **out, size_t *len)
{
	if (o->err) {
		free(o->buf);
		return o->err;
	}
	*out = o->buf;
	*len = o->len;
	return 0;
}

/*
 * The whole exposition, malloc'd and NUL-terminated.  With monitoring off
 * it is an empty string (len 0).  -ENOMEM leaves *out and *len untouched.
 */
int store_metrics_render(struct store *st, char **out, size_t *len)
{
	struct metrics_out o;
	bool on;
	int err;

	if (!st->metrics)
		return -EINVAL;
	on = store_flag_get(st, FLAG_MONITORING) != 0;
	err = metrics_out_init(&o, on ? METRICS_OUT_INITIAL : 1);
	if (err)
		return err;
	if (on)
		metrics_render_all(&o, st);
	return metrics_out_finish(&o, out, len);
}

/* ------------------------------------------------------------------ */
/* Status                                                             */
/* ------------------------------------------------------------------ */

static uint64_t metrics_recalls_sum(struct store_metrics *m)
{
	uint64_t n = 0;

	for (int c = 0; c < METRICS_NCOHORT; c++)
		for (int md = 0; md < METRICS_NMODE; md++)
			n += metrics_load(&m->recalls[c][md]);
	return n;
}

/* The caller's cohort, and the mode recall?mode=auto would use for it. */
static void metrics_status_caller(struct metrics_out *o, struct store *st,
				  const struct store_caller *c)
{
	enum store_cohort cohort;
	char key[16];
	bool blended;

	snprintf(key, sizeof(key), "%" PRIu32, c->uid);
	cohort = store_cohort_of(st, key, strlen(key));
	blended = store_flag_get(st, FLAG_BLENDED_RECALL) != 0 &&
		  cohort == STORE_COHORT_TREATMENT;
	metrics_printf(o, "cohort: %s\nmode: %s\n",
		       cohort == STORE_COHORT_TREATMENT ? "treatment"
							: "control",
		       blended ? "blended" : "episodic");
}

/* Concept count and the end of the last consolidation run. */
static void metrics_status_consolidation(struct metrics_out *o,
					 struct store *st)
{
	struct concept_stats cs;
	char when[32];
	time_t t;
	struct tm tm;

	concept_stats(st, &cs);
	metrics_printf(o, "concepts: %" PRIu64 "\nbindings: %" PRIu64 "\n",
		       cs.concepts, cs.bindings);
	if (!cs.last_run_end) {
		metrics_puts(o, "last_consolidation: never\n");
		return;
	}
	t = (time_t)cs.last_run_end;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	metrics_printf(o, "last_consolidation: %s\nlast_consolidation_s: %.3f\n",
		       when, cs.last_run_seconds);
}

/*
 * "key: value" lines, then EXTRA as is.  C may be NULL (no caller, as in
 * offline tools): the cohort and mode lines are left out.
 */
int store_status_render(struct store *st, const struct store_caller *c,
			const char *extra, char **out, size_t *len)
{
	struct store_metrics *m = st->metrics;
	struct metrics_out o;
	int err;

	if (!m)
		return -EINVAL;
	err = metrics_out_init(&o, 1024);
	if (err)
		return err;
	metrics_printf(&o, "version: %s\ndata_dir: %s\nuptime_s: %" PRIu64
		       "\n", ENGRAM_VERSION, store_dir(st),
		       metrics_uptime_ns(m) / 1000000000u);
	metrics_printf(&o, "episodes: %" PRIu64 "\nfolders: %" PRIu64
		       "\nindexed: %" PRIu64 "\nbytes: %" PRIu64 "\n",
		       metrics_load(&st->n_episodes),
		       metrics_load(&st->n_folders),
		       metrics_load(&st->n_indexed), metrics_load(&st->n_bytes));
	metrics_printf(&o, "recalls: %" PRIu64 "\nflag_changes: %" PRIu64 "\n",
		       metrics_recalls_sum(m), metrics_load(&m->flag_changes));
	if (c)
		metrics_status_caller(&o, st, c);
	metrics_status_consolidation(&o, st);
	if (extra)
		metrics_puts(&o, extra);
	return metrics_out_finish(&o, out, len);
}
