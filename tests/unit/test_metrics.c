/*
 * test_metrics.c - the metrics and status files.
 *
 * Every test gets a fresh store.  The exposition is checked by a small
 * parser of the text format 0.0.4 (HELP and TYPE once per family, every
 * other line a sample of the family just announced, label escapes,
 * cumulative histograms with sorted le and +Inf last, _count equal to
 * +Inf) and, where installed, by `promtool check metrics`, which must
 * report nothing at all.  A timing loop reports the cost of one render.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "store_i.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
/* ------------------------------------------------------------------ */

static char *render(struct store *st, size_t *len)
{
	char *out = NULL;
	size_t n = 0;

	assert_int_equal(store_metrics_render(st, &out, &n), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), n);
	if (len)
		*len = n;
	return out;
}

/* Value of the sample whose name and labels are exactly SERIES. */
static double value_in(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	fail_msg("no sample '%s'", series);
	return -1;
}

static double metric(struct store *st, const char *series)
{
	char *out = render(st, NULL);
	double v = value_in(out, series);

	free(out);
	return v;
}

static void set_flag(struct store *st, enum store_flag_id id, const char *v)
{
	char why[128] = "";

	if (store_flag_set(st, id, v, strlen(v), 0, "write", why, sizeof(why)))
		fail_msg("cannot set flag %d to '%s': %s", id, v, why);
}

/* ------------------------------------------------------------------ */
/* A checker for text format 0.0.4                                     */
/* ------------------------------------------------------------------ */

#define MAX_FAMILIES 64

struct expo {
	char families[MAX_FAMILIES][96];
	size_t nfamilies;
	char type[16];		/* of the current (last) family */
	char key[640];		/* histogram series: family and labels
				 * other than le */
	double last_le, last_bucket;
	bool inf_seen;
	int lineno;
};

static bool is_name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c == ':' || (!first && c >= '0' && c <= '9');
}

/* Length of the metric or label name at P (0 if none). */
static size_t name_len(const char *p)
{
	size_t n = 0;

	while (is_name_char(p[n], n == 0))
		n++;
	return n;
}

static const char *cur_family(const struct expo *e)
{
	assert_true(e->nfamilies > 0);
	return e->families[e->nfamilies - 1];
}

static void expo_help(struct expo *e, const char *line)
{
	size_t n = name_len(line);

	assert_true(n > 0 && n < sizeof(e->families[0]) && line[n] == ' ');
	for (size_t i = 0; i < e->nfamilies; i++)
		if (strlen(e->families[i]) == n &&
		    !strncmp(e->families[i], line, n))
			fail_msg("line %d: second HELP for %.*s", e->lineno,
				 (int)n, line);
	assert_true(e->nfamilies < MAX_FAMILIES);
	snprintf(e->families[e->nfamilies++], sizeof(e->families[0]), "%.*s",
		 (int)n, line);
	e->type[0] = '\0';
	e->key[0] = '\0';
}

static void expo_type(struct expo *e, const char *line)
{
	static const char *const types[] = { "counter", "gauge", "histogram",
					     "summary", "untyped" };
	const char *fam = cur_family(e);
	size_t n = strlen(fam);
	bool known = false;

	if (strncmp(line, fam, n) || line[n] != ' ')
		fail_msg("line %d: TYPE not right after HELP of %s", e->lineno,
			 fam);
	if (e->type[0])
		fail_msg("line %d: second TYPE for %s", e->lineno, fam);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		known |= !strcmp(line + n + 1, types[i]);
	assert_true(known);
	snprintf(e->type, sizeof(e->type), "%s", line + n + 1);
	if (!strcmp(e->type, "counter"))
		assert_true(n > 6 && !strcmp(fam + n - 6, "_total"));
}

/* Parse {a="x",le="y"} at *P: labels other than le into KEY, le into LE. */
static void expo_labels(struct expo *e, const char **pp, char *key,
			size_t ksize, char *le, size_t lesize)
{
	const char *p = *pp;
	size_t klen = 0;

	key[0] = le[0] = '\0';
	if (*p != '{')
		return;
	for (p++; *p != '}'; p++) {
		char name[64], val[256];
		size_t n = name_len(p), v = 0;

		if (!n || n >= sizeof(name) || p[n] != '=' || p[n + 1] != '"')
			fail_msg("line %d: bad label at '%s'", e->lineno, p);
		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		for (p += n + 2; *p != '"'; p++) {
			assert_true(*p && *p != '\n' && v + 1 < sizeof(val));
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					fail_msg("line %d: bad escape",
						 e->lineno);
			}
			val[v++] = *p;
		}
		val[v] = '\0';
		if (!strcmp(name, "le"))
			snprintf(le, lesize, "%s", val);
		else
			klen += (size_t)snprintf(key + klen, ksize - klen,
						 "%s=%s;", name, val);
		assert_true(klen < ksize);
		if (p[1] == ',')
			p++;
	}
	*pp = p + 1;
}

static double expo_number(const struct expo *e, const char *s)
{
	char *end;
	double v;

	if (!strcmp(s, "+Inf"))
		return INFINITY;
	if (!strcmp(s, "-Inf"))
		return -INFINITY;
	if (!strcmp(s, "NaN"))
		return NAN;
	v = strtod(s, &end);
	if (end == s || *end)
		fail_msg("line %d: bad value '%s'", e->lineno, s);
	return v;
}

/* Histogram rules for one _bucket, _sum or _count sample. */
static void expo_histogram(struct expo *e, const char *suffix,
			   const char *key, const char *le, double v)
{
	if (!strcmp(suffix, "_bucket")) {
		double b = expo_number(e, le);

		if (strcmp(key, e->key)) {	/* a new series starts */
			snprintf(e->key, sizeof(e->key), "%s", key);
			e->last_le = -INFINITY;
			e->last_bucket = 0;
			e->inf_seen = false;
		}
		assert_false(e->inf_seen);
		if (!(b > e->last_le) || v < e->last_bucket)
			fail_msg("line %d: le not sorted or not cumulative",
				 e->lineno);
		e->last_le = b;
		e->last_bucket = v;
		e->inf_seen = isinf(b);
		return;
	}
	if (strcmp(key, e->key) || !e->inf_seen)
		fail_msg("line %d: %s before the +Inf bucket", e->lineno,
			 suffix);
	if (!strcmp(suffix, "_count") && v != e->last_bucket)
		fail_msg("line %d: _count is not the +Inf bucket", e->lineno);
}

static void expo_sample(struct expo *e, const char *line)
{
	const char *fam = cur_family(e), *p = line;
	char key[512], le[256], sfx[16];
	size_t n = name_len(line), flen = strlen(fam);

	if (!e->type[0] || strncmp(line, fam, flen))
		fail_msg("line %d: sample outside its family: %s", e->lineno,
			 line);
	assert_true(n >= flen && n - flen < sizeof(sfx));
	snprintf(sfx, sizeof(sfx), "%.*s", (int)(n - flen), line + flen);
	if (!strcmp(e->type, "histogram"))
		assert_true(!strcmp(sfx, "_bucket") || !strcmp(sfx, "_sum") ||
			    !strcmp(sfx, "_count"));
	else
		assert_string_equal(sfx, "");
	p += n;
	expo_labels(e, &p, key, sizeof(key), le, sizeof(le));
	if (*p != ' ')
		fail_msg("line %d: no value: %s", e->lineno, line);
	if (!strcmp(e->type, "histogram")) {
		char series[sizeof(key) + 128];

		/* a series is its family and its labels other than le */
		snprintf(series, sizeof(series), "%s%s",
			 e->families[e->nfamilies - 1], key);
		expo_histogram(e, sfx, series, le, expo_number(e, p + 1));
	} else {
		assert_true(le[0] == '\0');
		expo_number(e, p + 1);
	}
}

/* Check the whole exposition; returns the number of families. */
static size_t check_exposition(const char *text, struct expo *e)
{
	char line[1024];
	const char *p = text;

	memset(e, 0, sizeof(*e));
	while (*p) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);	/* every line ends in a newline */
		assert_true((size_t)(nl - p) < sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		e->lineno++;
		if (!strncmp(line, "# HELP ", 7))
			expo_help(e, line + 7);
		else if (!strncmp(line, "# TYPE ", 7))
			expo_type(e, line + 7);
		else if (line[0] != '#')
			expo_sample(e, line);
		p = nl + 1;
	}
	return e->nfamilies;
}

/* ------------------------------------------------------------------ */
/* Tests                                                              */
/* ------------------------------------------------------------------ */

static void test_counters_increase(void **state)
{
	struct store *st = *state;
	const char *rt = "engram_recall_total{cohort=\"treatment\","
			 "mode=\"blended\"}";
	const char *re = "engram_recall_errors_total{cohort=\"treatment\"}";
	double r0 = metric(st, rt), e0 = metric(st, re);
	double f0 = metric(st, "engram_flag_changes_total");

	metrics_recall(st, STORE_COHORT_TREATMENT, STORE_MODE_BLENDED, 0.002,
		       false);
	metrics_recall(st, STORE_COHORT_TREATMENT, STORE_MODE_BLENDED, 0.004,
		       true);
	metrics_flag_change(st);
	store_metrics_fs_op(st, STORE_OP_WRITE, 0.001, false);
	store_metrics_fs_op(st, STORE_OP_WRITE, 0.001, true);

	assert_true(metric(st, rt) == r0 + 2);
	assert_true(metric(st, re) == e0 + 1);
	assert_true(metric(st, "engram_flag_changes_total") == f0 + 1);
	assert_true(metric(st, "engram_fs_operations_total{op=\"write\"}") ==
		    2);
	assert_true(metric(st, "engram_fs_errors_total{op=\"write\"}") == 1);
	assert_true(metric(st, "engram_recall_total{cohort=\"control\","
			       "mode=\"blended\"}") == 0);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
	struct store *st = *state;
	static const double obs[] = { 0.00005, 0.0003, 0.002, 0.014, 0.02,
				      3.0 };
	static const struct { const char *le; double want; } b[] = {
		{ "0.0001", 1 }, { "0.00025", 1 }, { "0.0005", 2 },
		{ "0.001", 2 },  { "0.0025", 3 },  { "0.01", 3 },
		{ "0.015", 4 },  { "0.025", 5 },   { "2.5", 5 },
		{ "+Inf", 6 },
	};
	const char *h = "engram_fs_operation_duration_seconds";
	char series[160], *out;
	struct expo e;

	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		store_metrics_fs_op(st, STORE_OP_RMDIR, obs[i], false);
	out = render(st, NULL);
	check_exposition(out, &e);
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		snprintf(series, sizeof(series),
			 "%s_bucket{op=\"rmdir\",le=\"%s\"}", h, b[i].le);
		assert_true(value_in(out, series) == b[i].want);
	}
	snprintf(series, sizeof(series), "%s_count{op=\"rmdir\"}", h);
	assert_true(value_in(out, series) == 6);
	snprintf(series, sizeof(series), "%s_sum{op=\"rmdir\"}", h);
	assert_true(fabs(value_in(out, series) - 3.03635) < 1e-9);
	free(out);
}

static void test_monitoring_off_gives_empty_output(void **state)
{
	struct store *st = *state;
	size_t len = 1;
	char *out;

	set_flag(st, FLAG_MONITORING, "0");
	out = render(st, &len);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);

	set_flag(st, FLAG_MONITORING, "on");
	out = render(st, &len);
	assert_true(len > 0);
	free(out);
}

static void test_each_family_is_announced_once(void **state)
{
	static const char *const want[] = {
		"engram_uptime_seconds", "engram_episodes_total",
		"engram_folders", "engram_episode_bytes",
		"engram_recall_total", "engram_recall_errors_total",
		"engram_recall_duration_seconds",
		"engram_blended_recall_total",
		"engram_blended_recall_convergent_total",
		"engram_blended_recall_pattern_completed_total",
		"engram_blended_recall_duration_seconds",
		"engram_recall_results_total",
		"engram_semantic_pathway_timeout_total",
		"engram_fan_effect_penalties_total",
		"engram_concepts_total", "engram_bindings_total",
		"engram_concepts_formed_total",
		"engram_bindings_created_total",
		"engram_consolidation_failures_total",
		"engram_concept_coherence",
		"engram_consolidation_duration_seconds",
		"engram_process_resident_memory_bytes",
		"engram_process_open_fds", "engram_store_disk_bytes",
		"engram_store_pending_compaction_bytes",
		"engram_store_memtable_bytes",
		"engram_posting_cache_bytes",
		"engram_posting_cache_lookups_total",
		"engram_flag_changes_total",
		"engram_flag_value", "engram_fs_operations_total",
		"engram_fs_errors_total",
		"engram_fs_operation_duration_seconds",
	};
	struct store *st = *state;
	struct expo e;
	char *out;

	/* a failed recall before the mode was chosen adds mode="auto" */
	metrics_recall(st, STORE_COHORT_CONTROL, STORE_MODE_AUTO, 0.001, true);
	out = render(st, NULL);
	assert_int_equal(check_exposition(out, &e),
			 sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < e.nfamilies; i++)
		assert_string_equal(e.families[i], want[i]);
	assert_true(value_in(out, "engram_recall_total{cohort=\"control\","
				  "mode=\"auto\"}") == 1);
	free(out);
}

static void test_flag_values_and_changes_show(void **state)
{
	struct store *st = *state;
	char series[128], *out;
	double changes = metric(st, "engram_flag_changes_total");

	set_flag(st, FLAG_FAN_EFFECT, "1");
	set_flag(st, FLAG_FAN_EFFECT, "1");	/* same value: no change */
	set_flag(st, FLAG_RECALL_BM25_K1, "1.5");
	out = render(st, NULL);
	assert_true(value_in(out, "engram_flag_changes_total") == changes + 2);
	assert_true(value_in(out, "engram_flag_value{flag=\"fan_effect\"}") ==
		    1);
	for (int id = 0; id < FLAG__COUNT; id++) {
		snprintf(series, sizeof(series), "engram_flag_value{flag=\"%s\"}",
			 store_flag_def(id)->name);
		assert_true(value_in(out, series) == store_flag_get(st, id));
	}
	free(out);
}

static void test_gauges_follow_the_store(void **state)
{
	struct store *st = *state;
	struct store_attr a;
	struct store_counts c;
	double ep = metric(st, "engram_episodes_total");
	double fo = metric(st, "engram_folders");
	double by = metric(st, "engram_episode_bytes");

	assert_int_equal(store_create(st, STORE_ROOT_INO, "work",
				      S_IFDIR | 0755, 1000, 1000, &a), 0);
	assert_int_equal(store_create(st, a.ino, "coffee", S_IFREG | 0644,
				      1000, 1000, &a), 0);
	assert_int_equal(store_content_write(st, a.ino, "Met Alice", 9, 0,
					     &a), 0);
	store_counts(st, &c);
	assert_true(metric(st, "engram_episodes_total") == ep + 1);
	assert_true(metric(st, "engram_episodes_total") == c.episodes);
	assert_true(metric(st, "engram_folders") == fo + 1);
	assert_true(metric(st, "engram_episode_bytes") == by + 9);
	assert_true(metric(st, "engram_episode_bytes") == c.bytes);
}

/* Many threads, exact totals: no update is lost. */
#define RACE_THREADS 8
#define RACE_OPS 20000

static void *race_worker(void *arg)
{
	for (int i = 0; i < RACE_OPS; i++)
		store_metrics_fs_op(arg, STORE_OP_READ, 0.0003, i % 4 == 0);
	return NULL;
}

static void test_concurrent_updates_are_not_lost(void **state)
{
	struct store *st = *state;
	pthread_t t[RACE_THREADS];
	const char *h = "engram_fs_operation_duration_seconds";
	char series[128], *out;

	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_worker, st),
				 0);
	for (int i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	out = render(st, NULL);
	assert_true(value_in(out, "engram_fs_operations_total{op=\"read\"}") ==
		    RACE_THREADS * RACE_OPS);
	assert_true(value_in(out, "engram_fs_errors_total{op=\"read\"}") ==
		    RACE_THREADS * RACE_OPS / 4);
	snprintf(series, sizeof(series), "%s_bucket{op=\"read\",le=\"0.0005\"}",
		 h);
	assert_true(value_in(out, series) == RACE_THREADS * RACE_OPS);
	snprintf(series, sizeof(series), "%s_sum{op=\"read\"}", h);
	assert_true(fabs(value_in(out, series) - RACE_THREADS * RACE_OPS *
							 0.0003) < 1e-6);
	free(out);
}

static void test_promtool_finds_no_problem(void **state)
{
	struct store *st = *state;
	char file[128], cmd[400], report[2048] = "";
	const char *tmp = getenv("TMPDIR");
	size_t len, n;
	char *out;
	FILE *f;
	int fd, rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not installed: check skipped\n");
		skip();
	}
	metrics_recall(st, STORE_COHORT_CONTROL, STORE_MODE_EPISODIC, 0.01,
		       false);
	store_metrics_fs_op(st, STORE_OP_LOOKUP, 0.0002, true);
	out = render(st, &len);
	snprintf(file, sizeof(file), "%s/engram-metrics-XXXXXX",
		 tmp ? tmp : "/tmp");
	fd = mkstemp(file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, out, len), (ssize_t)len);
	close(fd);
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "promtool check metrics < '%s' > '%s.out' 2>&1", file, file);
	rc = system(cmd);
	snprintf(cmd, sizeof(cmd), "%s.out", file);
	f = fopen(cmd, "r");
	assert_non_null(f);
	n = fread(report, 1, sizeof(report) - 1, f);
	report[n] = '\0';
	fclose(f);
	unlink(cmd);
	unlink(file);
	if (rc != 0 || n != 0)
		fail_msg("promtool (status %d): %s", rc, report);
}

/* Every line "key: value"; returns the value of KEY (static buffer). */
static const char *status_value(const char *text, const char *key)
{
	static char val[256];
	size_t n = strlen(key);
	const char *p = text;

	for (; *p; p = strchr(p, '\n') + 1) {
		const char *nl = strchr(p, '\n');

		assert_non_null(nl);
		if (!strncmp(p, key, n) && !strncmp(p + n, ": ", 2)) {
			snprintf(val, sizeof(val), "%.*s",
				 (int)(nl - p - n - 2), p + n + 2);
			return val;
		}
	}
	return NULL;
}

static void test_status_lines(void **state)
{
	static const char *const keys[] = {
		"version", "data_dir", "uptime_s", "episodes", "folders",
		"indexed", "bytes", "recalls", "flag_changes", "cohort",
		"mode", "concepts", "bindings", "last_consolidation",
	};
	struct store *st = *state;
	struct store_caller c = { .uid = 1000, .gid = 1000 };
	char *out, *p;
	size_t len;

	metrics_recall(st, STORE_COHORT_CONTROL, STORE_MODE_EPISODIC, 0.001,
		       false);
	metrics_recall(st, STORE_COHORT_TREATMENT, STORE_MODE_BLENDED, 0.001,
		       true);
	assert_int_equal(store_status_render(st, &c, "mount: /mnt/x\n", &out,
					     &len), 0);
	assert_int_equal(strlen(out), len);
	p = out;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t n = strlen(keys[i]);

		if (strncmp(p, keys[i], n) || strncmp(p + n, ": ", 2))
			fail_msg("expected '%s: ' at '%s'", keys[i], p);
		p = strchr(p, '\n') + 1;
	}
	assert_string_equal(p, "mount: /mnt/x\n");
	assert_string_equal(status_value(out, "data_dir"), store_dir(st));
	assert_string_equal(status_value(out, "recalls"), "2");
	assert_string_equal(status_value(out, "last_consolidation"), "never");
	/* defaults: blended_recall off, sampling rate 0 */
	assert_string_equal(status_value(out, "cohort"), "control");
	assert_string_equal(status_value(out, "mode"), "episodic");
	free(out);

	set_flag(st, FLAG_BLENDED_RECALL, "1");
	set_flag(st, FLAG_BR_COHORT_SAMPLING_RATE, "1");
	assert_int_equal(store_status_render(st, &c, NULL, &out, &len), 0);
	assert_string_equal(status_value(out, "cohort"), "treatment");
	assert_string_equal(status_value(out, "mode"), "blended");
	assert_string_equal(status_value(out, "flag_changes"), "2");
	free(out);
}

static void test_status_without_caller(void **state)
{
	struct store *st = *state;
	char *out;
	size_t len;

	assert_int_equal(store_status_render(st, NULL, NULL, &out, &len), 0);
	assert_null(status_value(out, "cohort"));
	assert_non_null(status_value(out, "episodes"));
	free(out);
}

/* Rendering only reads counters; report what it costs. */
static void test_render_is_cheap(void **state)
{
	struct store *st = *state;
	struct timespec t0, t1;
	const int rounds = harness_slow() ? 50 : 2000;
	size_t len = 0;
	double us;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < rounds; i++)
		free(render(st, &len));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 +
	      (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / rounds;
	print_message("render: %.1f us per render, %zu bytes\n", us, len);
	if (!harness_slow())
		assert_true(us < 5000);	/* the design's budget */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_counters_increase),
		T(test_histogram_buckets_are_cumulative),
		T(test_monitoring_off_gives_empty_output),
		T(test_each_family_is_announced_once),
		T(test_flag_values_and_changes_show),
		T(test_gauges_follow_the_store),
		T(test_concurrent_updates_are_not_lost),
		T(test_promtool_finds_no_problem),
		T(test_status_lines),
		T(test_status_without_caller),
		T(test_render_is_cheap),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
