/*
 * loadtest.h - the load generator behind `engramctl loadtest`.
 *
 *   loadtest_scenario.c  scenario files (ini, libinih) into struct lt_scenario
 *   loadtest_run.c       the seeded workload: corpus, threads, operations,
 *                        latencies; flags set for the run and put back
 *   loadtest_report.c    percentiles, SLO checks, the text and JSON report,
 *                        soak sampling of the daemon
 *   cmd_loadtest.c       the verb: options, order of the phases
 */
#ifndef ENGRAMCTL_LOADTEST_H
#define ENGRAMCTL_LOADTEST_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

/* Operations.  The two recall.COHORT rows are recall again, split by the
 * cohort the mount reported (scenarios with users > 0). */
enum lt_op { LT_CREATE, LT_READ, LT_RECALL, LT_FLAG, LT_OP_MIX,
	     LT_RECALL_CONTROL = LT_OP_MIX, LT_RECALL_TREATMENT, LT_NOPS };

/* Cue classes of recall. */
enum lt_cue { LT_CUE_EXACT, LT_CUE_PARTIAL, LT_CUE_NOISY, LT_CUE_MISS,
	      LT_NCUES };

#define LT_MAX_FLAGS 16

struct lt_scenario {
	char *name, *file, *description;
	unsigned threads;
	double duration_s, warmup_s;
	uint64_t seed;
	unsigned corpus;		/* episodes written before the run */
	unsigned words;			/* mean words of a generated episode */
	double burst_on_s, burst_off_s;	/* 0: steady load */
	unsigned mix[LT_OP_MIX];	/* weights */
	unsigned cues[LT_NCUES];	/* weights */
	unsigned limit;			/* recall limit= */
	char *mode;			/* recall mode=, NULL: the default */
	unsigned users;			/* > 0: user=u0..u(N-1) */
	char *flag_name[LT_MAX_FLAGS], *flag_value[LT_MAX_FLAGS];
	unsigned nflags;
	double p99_ms[LT_NOPS];		/* < 0: no SLO */
	double max_error_rate;		/* < 0: no SLO */
	double min_ops_per_s;		/* < 0: no SLO */
};

extern const char *const lt_op_names[LT_NOPS];
extern const char *const lt_cue_names[LT_NCUES];

/* Find NAME (a path, or a name under the scenario dirs) and parse it.
 * 0, or 1/2 after printing the problem. */
int lt_scenario_load(const char *name, struct lt_scenario *s);
void lt_scenario_release(struct lt_scenario *s);

/* Latencies of one operation, in milliseconds. */
struct lt_series {
	float *v;
	size_t n, cap;
	uint64_t errors;
};

struct lt_result {
	struct lt_series op[LT_NOPS];
	double measured_s;	/* the window after warm-up */
	bool interrupted;
};

struct lt_run {
	const struct ctl *c;
	const struct lt_scenario *s;
	bool keep;		/* leave the created episodes */
	volatile sig_atomic_t *stop;
	/* filled by lt_run_start */
	double t_start, t_measure, t_end;
	void *priv;
};

/* Write the corpus (what is missing of it), set the scenario's flags.
 * 0 or 1 after printing the problem. */
int lt_run_prepare(struct lt_run *r);
/* Start the threads; lt_run_wait joins them and merges the figures,
 * lt_run_finish removes created episodes and puts the flags back. */
int lt_run_start(struct lt_run *r);
void lt_run_wait(struct lt_run *r, struct lt_result *res);
void lt_run_finish(struct lt_run *r);
/* Operations done so far (for the soak samples). */
uint64_t lt_run_ops(struct lt_run *r);

void lt_result_release(struct lt_result *res);

/* Soak: samples of the daemon taken while the load runs. */
struct lt_sample {
	double t;		/* seconds since the start of the run */
	long rss_kb;		/* -1: unknown (all three) */
	long fds;
	long long store_bytes;	/* RocksDB files (engram_store_disk_bytes) */
	uint64_t ops;
};

struct lt_soak {
	long pid;		/* from MNT/status, for the report */
	char *data_dir;
	char *metrics;		/* MNT/metrics, where the samples come from */
	bool warned;		/* said once that it cannot be read */
	struct lt_sample *v;
	size_t n;
};

int lt_soak_init(const struct ctl *c, struct lt_soak *k);
void lt_soak_sample(struct lt_soak *k, double t, uint64_t ops);
void lt_soak_release(struct lt_soak *k);

/* The report: text on stdout (unless json), JSON to stdout (json) and/or
 * REPORT_FILE.  Returns the number of SLOs missed. */
int lt_report(const struct ctl *c, const struct lt_scenario *s,
	      const struct lt_result *res, const struct lt_soak *soak,
	      const char *report_file);

#endif
