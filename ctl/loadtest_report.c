/*
 * loadtest_report.c - figures, SLOs and the report of `engramctl
 * loadtest`, and the soak samples of the daemon.
 *
 * Percentiles are nearest-rank over every recorded latency (sorted; a
 * 30 s run at tens of thousands of operations a second sorts in
 * milliseconds, and exact figures beat a histogram's buckets here).
 * Throughput counts successful operations of the measured window.  The
 * error rate is errors / (operations + errors).
 *
 * The JSON report has one object per operation under "ops", the SLO
 * verdicts under "slo", and, for tools that read the whole-run figures,
 * "latency" {p50_ms, p95_ms, p99_ms, max_ms}, "throughput"
 * {ops_per_sec} and "errors" {count, error_rate}.
 *
 * Soak samples come from the mount, as everything engramctl knows: one
 * read of MNT/metrics a sample gives engram_process_resident_memory_bytes,
 * engram_process_open_fds and engram_store_disk_bytes (the daemon's own
 * view: it works across pid namespaces, users and machines, where /proc
 * and du of the data dir do not).  The pid and data dir shown come from
 * MNT/status.  A value the metrics do not have is -1.  Growth is last
 * minus first, also per hour.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "loadtest.h"

struct lt_figures {
	uint64_t count, errors;
	double ops_per_s, p50, p95, p99, max;
};

static int lt_float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static double lt_rank(const float *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)ceil(q * (double)n);
	return v[i ? i - 1 : 0];
}

static void lt_figures_of(struct lt_series *s, double secs,
			  struct lt_figures *f)
{
	qsort(s->v, s->n, sizeof(*s->v), lt_float_cmp);
	f->count = s->n;
	f->errors = s->errors;
	f->ops_per_s = secs > 0 ? (double)s->n / secs : 0;
	f->p50 = lt_rank(s->v, s->n, 0.50);
	f->p95 = lt_rank(s->v, s->n, 0.95);
	f->p99 = lt_rank(s->v, s->n, 0.99);
	f->max = s->n ? s->v[s->n - 1] : 0;
}

/* Every operation of the mix in one series (the whole-run figures). */
static void lt_total(const struct lt_result *res, struct lt_series *all)
{
	int k;

	memset(all, 0, sizeof(*all));
	for (k = 0; k < LT_OP_MIX; k++) {
		const struct lt_series *s = &res->op[k];

		all->v = ctl_xrealloc(all->v, (all->n + s->n + 1) *
						      sizeof(*all->v));
		if (s->n)
			memcpy(all->v + all->n, s->v, s->n * sizeof(*s->v));
		all->n += s->n;
		all->errors += s->errors;
	}
}

/* ------------------------------------------------------------------ */
/* SLOs                                                               */
/* ------------------------------------------------------------------ */

struct lt_slo {
	char name[64];
	double limit, value;
	bool ok, min;	/* min: value must be >= limit */
};

static size_t lt_slos(const struct lt_scenario *s,
		      const struct lt_figures *f, const struct lt_figures *all,
		      struct lt_slo *v)
{
	double total = (double)(all->count + all->errors);
	size_t n = 0;
	int k;

	for (k = 0; k < LT_NOPS; k++) {
		if (s->p99_ms[k] < 0)
			continue;
		snprintf(v[n].name, sizeof(v[n].name), "%s_p99_ms",
			 lt_op_names[k]);
		v[n].limit = s->p99_ms[k];
		v[n].value = f[k].p99;
		v[n].min = false;
		v[n].ok = f[k].p99 <= s->p99_ms[k];
		n++;
	}
	if (s->max_error_rate >= 0) {
		snprintf(v[n].name, sizeof(v[n].name), "max_error_rate");
		v[n].limit = s->max_error_rate;
		v[n].value = total > 0 ? (double)all->errors / total : 0;
		v[n].min = false;
		v[n].ok = v[n].value <= v[n].limit;
		n++;
	}
	if (s->min_ops_per_s >= 0) {
		snprintf(v[n].name, sizeof(v[n].name), "min_ops_per_s");
		v[n].limit = s->min_ops_per_s;
		v[n].value = all->ops_per_s;
		v[n].min = true;
		v[n].ok = v[n].value >= v[n].limit;
		n++;
	}
	return n;
}

/* ------------------------------------------------------------------ */
/* Text                                                               */
/* ------------------------------------------------------------------ */

static void lt_text_row(const char *name, const struct lt_figures *f)
{
	printf("%-17s %9llu %7llu %10.1f %8.3f %8.3f %8.3f %9.3f\n", name,
	       (unsigned long long)f->count, (unsigned long long)f->errors,
	       f->ops_per_s, f->p50, f->p95, f->p99, f->max);
}

static void lt_text_soak(const struct lt_soak *k)
{
	size_t i;

	printf("\nsoak: daemon pid %ld, data dir %s, samples from %s\n",
	       k->pid, k->data_dir ? k->data_dir : "?", k->metrics);
	printf("%8s %10s %6s %14s %12s\n", "t_s", "rss_kb", "fds",
	       "store_bytes", "ops");
	for (i = 0; i < k->n; i++)
		printf("%8.1f %10ld %6ld %14lld %12llu\n", k->v[i].t,
		       k->v[i].rss_kb, k->v[i].fds, k->v[i].store_bytes,
		       (unsigned long long)k->v[i].ops);
	if (k->n >= 2)
		printf("growth: rss %+ld kB, fds %+ld, store %+lld bytes "
		       "over %.0f s\n",
		       k->v[k->n - 1].rss_kb - k->v[0].rss_kb,
		       k->v[k->n - 1].fds - k->v[0].fds,
		       k->v[k->n - 1].store_bytes - k->v[0].store_bytes,
		       k->v[k->n - 1].t - k->v[0].t);
}

static void lt_text(const struct lt_scenario *s, const struct lt_result *res,
		    const struct lt_figures *f, const struct lt_figures *all,
		    const struct lt_slo *slo, size_t nslo, int missed)
{
	size_t i;
	int k;

	printf("scenario %s (%s): %u threads, %.1f s measured after %.1f s "
	       "warm-up, seed %llu%s\n", s->name, s->file, s->threads,
	       res->measured_s, s->warmup_s, (unsigned long long)s->seed,
	       res->interrupted ? ", interrupted" : "");
	printf("%-17s %9s %7s %10s %8s %8s %8s %9s\n", "op", "count", "errors",
	       "ops/s", "p50_ms", "p95_ms", "p99_ms", "max_ms");
	for (k = 0; k < LT_NOPS; k++)
		if (f[k].count || f[k].errors)
			lt_text_row(lt_op_names[k], &f[k]);
	lt_text_row("total", all);
	for (i = 0; i < nslo; i++)
		printf("slo %-22s %10.3f %s %-10g %s\n", slo[i].name,
		       slo[i].value, slo[i].min ? ">=" : "<=", slo[i].limit,
		       slo[i].ok ? "ok" : "MISSED");
	printf("result: %s\n", missed ? "fail" : "pass");
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */
/* ------------------------------------------------------------------ */

static struct json_object *lt_json_num(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
}

static struct json_object *lt_json_figures(const struct lt_figures *f)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "count",
			       json_object_new_int64((int64_t)f->count));
	json_object_object_add(o, "errors",
			       json_object_new_int64((int64_t)f->errors));
	json_object_object_add(o, "ops_per_s", lt_json_num(f->ops_per_s));
	json_object_object_add(o, "p50_ms", lt_json_num(f->p50));
	json_object_object_add(o, "p95_ms", lt_json_num(f->p95));
	json_object_object_add(o, "p99_ms", lt_json_num(f->p99));
	json_object_object_add(o, "max_ms", lt_json_num(f->max));
	return o;
}

static struct json_object *lt_json_soak(const struct lt_soak *k)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array(), *x, *g;
	double span;
	size_t i;

	json_object_object_add(o, "pid", json_object_new_int64(k->pid));
	for (i = 0; i < k->n; i++) {
		x = json_object_new_object();
		json_object_object_add(x, "t_s", lt_json_num(k->v[i].t));
		json_object_object_add(x, "rss_kb",
				       json_object_new_int64(k->v[i].rss_kb));
		json_object_object_add(x, "fds",
				       json_object_new_int64(k->v[i].fds));
		json_object_object_add(x, "store_bytes",
				       json_object_new_int64(k->v[i].store_bytes));
		json_object_object_add(x, "ops", json_object_new_int64(
							 (int64_t)k->v[i].ops));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "samples", a);
	if (k->n < 2)
		return o;
	span = k->v[k->n - 1].t - k->v[0].t;
	g = json_object_new_object();
#define LT_GROWTH(f) \
	json_object_object_add(g, #f, json_object_new_int64( \
		(int64_t)(k->v[k->n - 1].f - k->v[0].f)))
	LT_GROWTH(rss_kb);
	LT_GROWTH(fds);
	LT_GROWTH(store_bytes);
#undef LT_GROWTH
	json_object_object_add(g, "seconds", lt_json_num(span));
	json_object_object_add(g, "rss_kb_per_hour", lt_json_num(
		span > 0 ? (double)(k->v[k->n - 1].rss_kb - k->v[0].rss_kb) *
				   3600 / span : 0));
	json_object_object_add(o, "growth", g);
	return o;
}

static struct json_object *lt_json(const struct lt_scenario *s,
				   const struct lt_result *res,
				   const struct lt_figures *f,
				   const struct lt_figures *all,
				   const struct lt_slo *slo, size_t nslo,
				   const struct lt_soak *soak, int missed)
{
	struct json_object *o = json_object_new_object(), *ops, *a, *x;
	double total = (double)(all->count + all->errors);
	size_t i;
	int k;

	json_object_object_add(o, "scenario", json_object_new_string(s->name));
	json_object_object_add(o, "file", json_object_new_string(s->file));
	json_object_object_add(o, "threads", json_object_new_int((int)s->threads));
	json_object_object_add(o, "seed",
			       json_object_new_int64((int64_t)s->seed));
	json_object_object_add(o, "warmup_s", lt_json_num(s->warmup_s));
	json_object_object_add(o, "duration_s", lt_json_num(res->measured_s));
	json_object_object_add(o, "interrupted",
			       json_object_new_boolean(res->interrupted));
	ops = json_object_new_object();
	for (k = 0; k < LT_NOPS; k++)
		if (f[k].count || f[k].errors || k < LT_OP_MIX)
			json_object_object_add(ops, lt_op_names[k],
					       lt_json_figures(&f[k]));
	json_object_object_add(o, "ops", ops);
	x = lt_json_figures(all);
	json_object_object_add(o, "total", x);
	x = json_object_new_object();
	json_object_object_add(x, "p50_ms", lt_json_num(all->p50));
	json_object_object_add(x, "p95_ms", lt_json_num(all->p95));
	json_object_object_add(x, "p99_ms", lt_json_num(all->p99));
	json_object_object_add(x, "max_ms", lt_json_num(all->max));
	json_object_object_add(o, "latency", x);
	x = json_object_new_object();
	json_object_object_add(x, "ops_per_sec", lt_json_num(all->ops_per_s));
	json_object_object_add(o, "throughput", x);
	x = json_object_new_object();
	json_object_object_add(x, "count",
			       json_object_new_int64((int64_t)all->errors));
	json_object_object_add(x, "error_rate", json_object_new_double(
		total > 0 ? (double)all->errors / total : 0));
	json_object_object_add(o, "errors", x);
	a = json_object_new_array();
	for (i = 0; i < nslo; i++) {
		x = json_object_new_object();
		json_object_object_add(x, "name",
				       json_object_new_string(slo[i].name));
		json_object_object_add(x, "limit", lt_json_num(slo[i].limit));
		json_object_object_add(x, "value", lt_json_num(slo[i].value));
		json_object_object_add(x, "ok",
				       json_object_new_boolean(slo[i].ok));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "slo", a);
	json_object_object_add(o, "pass", json_object_new_boolean(!missed));
	if (soak)
		json_object_object_add(o, "soak", lt_json_soak(soak));
	return o;
}

int lt_report(const struct ctl *c, const struct lt_scenario *s,
	      const struct lt_result *res, const struct lt_soak *soak,
	      const char *report_file)
{
	struct lt_figures f[LT_NOPS], all;
	struct lt_slo slo[LT_NOPS + 2];
	struct lt_series total;
	struct json_object *o;
	size_t nslo, i;
	int k, missed = 0;
	FILE *out;

	for (k = 0; k < LT_NOPS; k++)
		lt_figures_of((struct lt_series *)&res->op[k], res->measured_s,
			      &f[k]);
	lt_total(res, &total);
	lt_figures_of(&total, res->measured_s, &all);
	free(total.v);
	nslo = lt_slos(s, f, &all, slo);
	for (i = 0; i < nslo; i++)
		missed += !slo[i].ok;
	if (!c->json) {
		lt_text(s, res, f, &all, slo, nslo, missed);
		if (soak)
			lt_text_soak(soak);
	}
	o = lt_json(s, res, f, &all, slo, nslo, soak, missed);
	if (c->json)
		printf("%s\n", json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	if (report_file) {
		out = fopen(report_file, "w");
		if (!out || fprintf(out, "%s\n", json_object_to_json_string_ext(
				o, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
			ctl_error("cannot write report '%s': %s", report_file,
				  strerror(errno));
		if (out)
			fclose(out);
	}
	json_object_put(o);
	return missed;
}

/* ------------------------------------------------------------------ */
/* Soak sampling                                                      */
/* ------------------------------------------------------------------ */

int lt_soak_init(const struct ctl *c, struct lt_soak *k)
{
	char *status = ctl_status_read(c), *pid;

	memset(k, 0, sizeof(*k));
	k->pid = -1;
	if (!status)
		return CTL_EXIT_FAIL;
	pid = ctl_kv_get(status, "pid");
	k->data_dir = ctl_kv_get(status, "data_dir");
	if (pid)
		k->pid = atol(pid);
	free(pid);
	free(status);
	k->metrics = ctl_path(c, "metrics");
	return 0;
}

/* The value of the unlabelled sample NAME in Prometheus text, or -1. */
static double lt_metric(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *p = text;
	char *end;
	double v;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, n) || p[n] != ' ')
			continue;
		v = strtod(p + n + 1, &end);
		return end == p + n + 1 || v < 0 ? -1 : v;
	}
	return -1;
}

void lt_soak_sample(struct lt_soak *k, double t, uint64_t ops)
{
	struct lt_sample *x;
	char *text = NULL;
	size_t len;
	double rss = -1, fds = -1, disk = -1;
	int r = ctl_read_file(k->metrics, &text, &len);

	if (r < 0 && !k->warned) {
		ctl_warning("cannot read '%s': %s; the samples are -1",
			    k->metrics, strerror(-r));
		k->warned = true;
	}
	if (r == 0) {
		rss = lt_metric(text, "engram_process_resident_memory_bytes");
		fds = lt_metric(text, "engram_process_open_fds");
		disk = lt_metric(text, "engram_store_disk_bytes");
	}
	free(text);
	k->v = ctl_xrealloc(k->v, (k->n + 1) * sizeof(*k->v));
	x = &k->v[k->n++];
	x->t = t;
	x->ops = ops;
	x->rss_kb = rss < 0 ? -1 : (long)(rss / 1024);
	x->fds = fds < 0 ? -1 : (long)fds;
	x->store_bytes = disk < 0 ? -1 : (long long)disk;
}

void lt_soak_release(struct lt_soak *k)
{
	free(k->v);
	free(k->data_dir);
	free(k->metrics);
	memset(k, 0, sizeof(*k));
}
