/*
 * loadtest_scenario.c - scenario files of `engramctl loadtest`.
 *
 * A scenario is an ini file (libinih, as the daemon's config):
 *
 *   [scenario]  name, description, threads, duration_s, warmup_s, seed,
 *               corpus (episodes written before the run, not measured),
 *               words (mean words per generated episode),
 *               burst_on_s, burst_off_s (load in bursts; 0 = steady)
 *   [mix]       create, read, recall, flag: weights of the operations
 *   [recall]    limit, mode, users (N > 0: cohort keys u0..uN-1, figures
 *               per cohort), and the cue classes' weights: exact,
 *               partial, noisy, miss
 *   [flags]     flag = value, set for the run and put back after it
 *   [slo]       OP_p99_ms (create, read, recall, flag, recall.control,
 *               recall.treatment), max_error_rate, min_ops_per_s
 *
 * Unknown sections and keys are errors (a misspelt SLO would otherwise
 * pass silently), reported as FILE:LINE like `engramctl config check`.
 *
 * Where a name is looked for: a NAME with a '/' or ending in .conf is a
 * path; otherwise NAME.conf in $ENGRAMCTL_SCENARIOS, ./config/scenarios
 * (a checkout), then CTL_SCENARIO_DIR (the installed copies).
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadtest.h"

#ifndef CTL_SCENARIO_DIR
#define CTL_SCENARIO_DIR "/usr/local/share/engramfs/scenarios"
#endif

const char *const lt_op_names[LT_NOPS] = { "create", "read", "recall", "flag",
					   "recall.control",
					   "recall.treatment" };
const char *const lt_cue_names[LT_NCUES] = { "exact", "partial", "noisy",
					     "miss" };

struct lt_parse {
	struct lt_scenario *s;
	char why[200];
};

static int lt_bad(struct lt_parse *p, const char *sec, const char *key,
		  const char *want)
{
	snprintf(p->why, sizeof(p->why), "[%s] %s: %s", sec, key, want);
	return 0;
}

static int lt_uint(struct lt_parse *p, const char *sec, const char *key,
		   const char *val, unsigned max, unsigned *out)
{
	uint64_t v;

	if (!ctl_parse_u64(val, &v) || v > max) {
		char want[64];

		snprintf(want, sizeof(want), "expected a whole number 0..%u",
			 max);
		return lt_bad(p, sec, key, want);
	}
	*out = (unsigned)v;
	return 1;
}

static int lt_num(struct lt_parse *p, const char *sec, const char *key,
		  const char *val, double *out)
{
	if (!ctl_parse_double(val, out) || *out < 0)
		return lt_bad(p, sec, key, "expected a number >= 0");
	return 1;
}

static int lt_str(char **dst, const char *val)
{
	free(*dst);
	*dst = ctl_xstrdup(val);
	return 1;
}

static int lt_section_scenario(struct lt_parse *p, const char *k,
			       const char *v)
{
	struct lt_scenario *s = p->s;

	if (!strcmp(k, "name"))
		return lt_str(&s->name, v);
	if (!strcmp(k, "description"))
		return lt_str(&s->description, v);
	if (!strcmp(k, "threads"))
		return lt_uint(p, "scenario", k, v, 1024, &s->threads) &&
		       (s->threads || lt_bad(p, "scenario", k, "at least 1"));
	if (!strcmp(k, "duration_s"))
		return lt_num(p, "scenario", k, v, &s->duration_s);
	if (!strcmp(k, "warmup_s"))
		return lt_num(p, "scenario", k, v, &s->warmup_s);
	if (!strcmp(k, "seed"))
		return ctl_parse_u64(v, &s->seed) ||
		       lt_bad(p, "scenario", k, "expected a whole number");
	if (!strcmp(k, "corpus"))
		return lt_uint(p, "scenario", k, v, 10000000, &s->corpus);
	if (!strcmp(k, "words"))
		return lt_uint(p, "scenario", k, v, 100000, &s->words);
	if (!strcmp(k, "burst_on_s"))
		return lt_num(p, "scenario", k, v, &s->burst_on_s);
	if (!strcmp(k, "burst_off_s"))
		return lt_num(p, "scenario", k, v, &s->burst_off_s);
	return lt_bad(p, "scenario", k, "unknown key");
}

static int lt_index(const char *const *names, int n, const char *k)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], k))
			return i;
	return -1;
}

static int lt_section_recall(struct lt_parse *p, const char *k, const char *v)
{
	int i = lt_index(lt_cue_names, LT_NCUES, k);

	if (i >= 0)
		return lt_uint(p, "recall", k, v, 1000000, &p->s->cues[i]);
	if (!strcmp(k, "limit"))
		return lt_uint(p, "recall", k, v, 10000, &p->s->limit);
	if (!strcmp(k, "users"))
		return lt_uint(p, "recall", k, v, 1000000, &p->s->users);
	if (!strcmp(k, "mode"))
		return lt_str(&p->s->mode, v);
	return lt_bad(p, "recall", k, "unknown key");
}

static int lt_section_slo(struct lt_parse *p, const char *k, const char *v)
{
	size_t n = strlen(k);
	char op[64];
	int i;

	if (!strcmp(k, "max_error_rate"))
		return lt_num(p, "slo", k, v, &p->s->max_error_rate);
	if (!strcmp(k, "min_ops_per_s"))
		return lt_num(p, "slo", k, v, &p->s->min_ops_per_s);
	if (n > 7 && n - 7 < sizeof(op) && !strcmp(k + n - 7, "_p99_ms")) {
		memcpy(op, k, n - 7);
		op[n - 7] = '\0';
		i = lt_index(lt_op_names, LT_NOPS, op);
		if (i >= 0)
			return lt_num(p, "slo", k, v, &p->s->p99_ms[i]);
	}
	return lt_bad(p, "slo", k, "unknown key");
}

static int lt_section_flags(struct lt_parse *p, const char *k, const char *v)
{
	struct lt_scenario *s = p->s;

	if (s->nflags == LT_MAX_FLAGS)
		return lt_bad(p, "flags", k, "too many flags");
	s->flag_name[s->nflags] = ctl_xstrdup(k);
	s->flag_value[s->nflags++] = ctl_xstrdup(v);
	return 1;
}

static int lt_handler(void *user, const char *sec, const char *k,
		      const char *v)
{
	struct lt_parse *p = user;
	int i;

	if (!strcmp(sec, "scenario"))
		return lt_section_scenario(p, k, v);
	if (!strcmp(sec, "mix")) {
		i = lt_index(lt_op_names, LT_OP_MIX, k);
		return i >= 0 ? lt_uint(p, sec, k, v, 1000000, &p->s->mix[i])
			      : lt_bad(p, sec, k, "unknown operation");
	}
	if (!strcmp(sec, "recall"))
		return lt_section_recall(p, k, v);
	if (!strcmp(sec, "flags"))
		return lt_section_flags(p, k, v);
	if (!strcmp(sec, "slo"))
		return lt_section_slo(p, k, v);
	snprintf(p->why, sizeof(p->why), "unknown section [%s]", sec);
	return 0;
}

static void lt_defaults(struct lt_scenario *s)
{
	memset(s, 0, sizeof(*s));
	s->threads = 4;
	s->duration_s = 30;
	s->warmup_s = 3;
	s->seed = 1;
	s->corpus = 500;
	s->words = 40;
	s->limit = 10;
	s->mix[LT_READ] = 1;
	s->cues[LT_CUE_EXACT] = 1;
	for (int i = 0; i < LT_NOPS; i++)
		s->p99_ms[i] = -1;
	s->max_error_rate = -1;
	s->min_ops_per_s = -1;
}

/* The file NAME stands for (malloc'd), or NULL. */
static char *lt_find(const char *name)
{
	const char *dirs[] = { getenv("ENGRAMCTL_SCENARIOS"),
			       "config/scenarios", CTL_SCENARIO_DIR };
	size_t n = strlen(name), i;
	char *path;

	if (strchr(name, '/') || (n > 5 && !strcmp(name + n - 5, ".conf")))
		return ctl_xstrdup(name);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!dirs[i] || !*dirs[i])
			continue;
		path = ctl_xprintf("%s/%s.conf", dirs[i], name);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

static int lt_check(struct lt_scenario *s)
{
	unsigned sum = 0, cues = 0;
	int i;

	for (i = 0; i < LT_OP_MIX; i++)
		sum += s->mix[i];
	for (i = 0; i < LT_NCUES; i++)
		cues += s->cues[i];
	if (!sum)
		return ctl_error("%s: [mix] has no operation with a weight",
				 s->file);
	if (s->mix[LT_RECALL] && !cues)
		return ctl_error("%s: [recall] has no cue class with a weight",
				 s->file);
	if ((s->mix[LT_READ] || s->mix[LT_RECALL]) && !s->corpus)
		return ctl_error("%s: read and recall need corpus > 0",
				 s->file);
	if (s->duration_s <= 0)
		return ctl_error("%s: duration_s must be more than 0", s->file);
	return 0;
}

int lt_scenario_load(const char *name, struct lt_scenario *s)
{
	struct lt_parse p = { .s = s };
	char *file = lt_find(name);
	int line;

	lt_defaults(s);
	if (!file)
		return ctl_error("no scenario '%s' (looked in "
				 "$ENGRAMCTL_SCENARIOS, config/scenarios, %s)",
				 name, CTL_SCENARIO_DIR);
	s->file = file;
	line = ini_parse(file, lt_handler, &p);
	if (line < 0)
		return ctl_error("cannot read scenario '%s': %s", file,
				 strerror(errno ? errno : EIO));
	if (line > 0) {
		fprintf(stderr, "%s:%d: %s\n", file, line,
			p.why[0] ? p.why : "syntax error");
		return CTL_EXIT_FAIL;
	}
	if (!s->name)
		s->name = ctl_xstrdup(name);
	return lt_check(s);
}

void lt_scenario_release(struct lt_scenario *s)
{
	unsigned i;

	free(s->name);
	free(s->file);
	free(s->description);
	free(s->mode);
	for (i = 0; i < s->nflags; i++) {
		free(s->flag_name[i]);
		free(s->flag_value[i]);
	}
	memset(s, 0, sizeof(*s));
}
