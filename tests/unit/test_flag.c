/*
 * test_flag.c - the flag registry (store/flag.c): the table, parsing and
 * formatting of every type, runtime values, persistence across reopen,
 * the history, and failed writes that must leave everything unchanged.
 */
#include <errno.h>
#include <pthread.h>

#include "harness.h"
#include "store_i.h"
#include "flag_i.h"

#define WHY_LEN 160

/* Parse TEXT (a C string) as flag ID; the reason goes to why. */
static int parse(enum store_flag_id id, const char *text, double *v,
		 char *why)
{
	return store_flag_parse(id, text, strlen(text), v, why, WHY_LEN);
}

static void assert_parses(enum store_flag_id id, const char *text,
			  double want)
{
	char why[WHY_LEN] = "";
	double v = -12345;

	if (parse(id, text, &v, why))
		fail_msg("'%s' refused for %s: %s", text,
			 store_flag_def(id)->name, why);
	assert_true(v == want);
}

/* TEXT is refused with REASON and *value is left alone. */
static void assert_refused(enum store_flag_id id, const char *text,
			   const char *reason)
{
	char why[WHY_LEN] = "";
	double v = -12345;

	assert_int_equal(parse(id, text, &v, why), -EINVAL);
	assert_true(v == -12345);
	assert_string_equal(why, reason);
}

static int set(struct store *st, enum store_flag_id id, const char *text,
	       uint32_t uid, const char *source)
{
	char why[WHY_LEN] = "";

	return store_flag_set(st, id, text, strlen(text), uid, source, why,
			      sizeof(why));
}

static char *history(struct store *st)
{
	char *h = NULL;
	size_t len = 0;

	assert_int_equal(store_flag_history(st, &h, &len), 0);
	assert_non_null(h);
	assert_int_equal(strlen(h), len);
	return h;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Line I (from 0) of S without its time stamp, and the stamp's shape. */
static void assert_line(const char *s, size_t i, const char *want)
{
	const char *line = s, *nl;

	while (i-- && (line = strchr(line, '\n')))
		line++;
	assert_non_null(line);
	nl = strchr(line, '\n');
	assert_non_null(nl);
	/* "2026-11-21T09:16:24Z " */
	assert_true(nl - line > 21);
	assert_true(line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
		    line[13] == ':' && line[16] == ':' && line[19] == 'Z' &&
		    line[20] == ' ');
	assert_int_equal((size_t)(nl - line - 21), strlen(want));
	assert_memory_equal(line + 21, want, strlen(want));
}

/* ------------------------------------------------------------------ */
/* The table                                                          */
/* ------------------------------------------------------------------ */

static void test_every_flag_is_described_and_findable(void **state)
{
	char name[128], text[64];
	int id;

	for (id = 0; id < FLAG__COUNT; id++) {
		const struct store_flag_def *d = store_flag_def(id);

		assert_non_null(d);
		assert_non_null(d->name);
		assert_non_null(d->section);
		assert_non_null(d->key);
		assert_non_null(d->help);
		assert_true(strlen(d->help) > 10);
		if (!strcmp(d->section, "features"))
			snprintf(name, sizeof(name), "%s", d->key);
		else
			snprintf(name, sizeof(name), "%s.%s", d->section,
				 d->key);
		assert_string_equal(d->name, name);
		assert_int_equal(store_flag_find(d->name), id);
		assert_int_equal(store_flag_find_key(d->section, d->key), id);
		if (d->type == STORE_FLAG_ENUM)
			assert_non_null(d->choices);
		if (d->type == STORE_FLAG_INT || d->type == STORE_FLAG_DOUBLE)
			assert_true(d->min <= d->max);
		/* The default parses and is already canonical. */
		store_flag_format(id, flag_default(id), text, sizeof(text));
		assert_string_equal(text, d->def);
	}
	assert_null(store_flag_def(FLAG__COUNT));
	assert_null(store_flag_def((enum store_flag_id)-1));
}

static void test_names_follow_the_design(void **state)
{
	assert_int_equal(store_flag_find("dual_memory_types"),
			 FLAG_DUAL_MEMORY_TYPES);
	assert_int_equal(store_flag_find("blended_recall"), FLAG_BLENDED_RECALL);
	assert_int_equal(store_flag_find("fan_effect"), FLAG_FAN_EFFECT);
	assert_int_equal(store_flag_find("monitoring"), FLAG_MONITORING);
	assert_int_equal(store_flag_find("blended_recall.cohort_sampling_rate"),
			 FLAG_BR_COHORT_SAMPLING_RATE);
	assert_int_equal(store_flag_find("consolidation.interval_s"),
			 FLAG_CONS_INTERVAL_S);
	assert_int_equal(store_flag_find("recall.bm25_k1"), FLAG_RECALL_BM25_K1);
	assert_int_equal(store_flag_find("fan_effect.divisor"), FLAG_FAN_DIVISOR);
	assert_int_equal(store_flag_find("store.max_episode_bytes"),
			 FLAG_STORE_MAX_EPISODE_BYTES);
	assert_int_equal(store_flag_find_key("features", "blended_recall"),
			 FLAG_BLENDED_RECALL);
	assert_int_equal(store_flag_find_key("recall", "bm25_k1"),
			 FLAG_RECALL_BM25_K1);
	assert_int_equal(store_flag_find("features.blended_recall"), -ENOENT);
	assert_int_equal(store_flag_find("bm25_k1"), -ENOENT);
	assert_int_equal(store_flag_find(""), -ENOENT);
	assert_int_equal(store_flag_find(NULL), -ENOENT);
	assert_int_equal(store_flag_find_key("recall", "nope"), -ENOENT);
	assert_int_equal(store_flag_find_key("nope", "bm25_k1"), -ENOENT);
}

static void test_defaults_are_the_documented_ones(void **state)
{
	assert_true(flag_default(FLAG_DUAL_MEMORY_TYPES) == 1);
	assert_true(flag_default(FLAG_BLENDED_RECALL) == 0);
	assert_true(flag_default(FLAG_FAN_EFFECT) == 0);
	assert_true(flag_default(FLAG_MONITORING) == 1);
	assert_true(flag_default(FLAG_BR_COHORT_SAMPLING_RATE) == 0);
	assert_true(flag_default(FLAG_BR_COHORT_SEED) == 42);
	assert_true(flag_default(FLAG_BR_BASE_EPISODIC_WEIGHT) == 0.7);
	assert_true(flag_default(FLAG_BR_BASE_SEMANTIC_WEIGHT) == 0.3);
	assert_true(flag_default(FLAG_RECALL_DEFAULT_LIMIT) == 10);
	assert_true(flag_default(FLAG_RECALL_DECAY_FUNCTION) == 2);	/* power */
	assert_true(flag_default(FLAG_FAN_DIVISOR) == 1);		/* sqrt */
	assert_true(flag_default(FLAG_STORE_MAX_EPISODE_BYTES) == 1048576);
}

/* ------------------------------------------------------------------ */
/* Parsing and formatting                                             */
/* ------------------------------------------------------------------ */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "1", "true", "on", "yes", "TRUE",
					   "On", "yEs", "1\n", " yes \n",
					   "\ttrue\r\n" };
	static const char *const no[] = { "0", "false", "off", "no", "FALSE",
					  "Off", "NO", "0\n" };
	static const char *const bad[] = { "", "\n", "  ", "2", "-1", "tru",
					   "1 1", "yes please", "01", "y",
					   "enabled" };
	const char *why = "expected one of 1 0 true false on off yes no";
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		assert_parses(FLAG_BLENDED_RECALL, yes[i], 1);
	for (i = 0; i < sizeof(no) / sizeof(*no); i++)
		assert_parses(FLAG_BLENDED_RECALL, no[i], 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_refused(FLAG_BLENDED_RECALL, bad[i], why);
}

static void test_parse_int(void **state)
{
	const char *why = "expected an integer between 0 and 86400";

	assert_parses(FLAG_CONS_INTERVAL_S, "300", 300);
	assert_parses(FLAG_CONS_INTERVAL_S, "0", 0);
	assert_parses(FLAG_CONS_INTERVAL_S, "86400\n", 86400);
	assert_parses(FLAG_CONS_INTERVAL_S, " 007 ", 7);
	assert_refused(FLAG_CONS_INTERVAL_S, "86401", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "-1", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "+5", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "1.0", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "1e3", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "0x10", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "3 00", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "", why);
	assert_refused(FLAG_CONS_INTERVAL_S, "99999999999999999999999", why);
	assert_refused(FLAG_CONS_MIN_CLUSTER_SIZE, "1",
		       "expected an integer between 2 and 10000");
	/* The seed goes up to 2^53, the last integer a double holds. */
	assert_parses(FLAG_BR_COHORT_SEED, "9007199254740992",
		      9007199254740992.0);
	assert_refused(FLAG_BR_COHORT_SEED, "9007199254740993",
		       "expected an integer between 0 and 9007199254740992");
}

static void test_parse_double(void **state)
{
	const char *why = "expected a number between 0 and 1";
	static const char *const bad[] = { "nan", "NaN", "inf", "-inf",
					   "infinity", "1.5", "-0.1", "0x1p-1",
					   "1e999", "0.5x", "0,5", ".", "e1",
					   "1e", "--1", "", "\n", "0.5 0.5" };
	size_t i;

	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, "0.05", 0.05);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, "1", 1);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, "1.0\n", 1);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, ".5", 0.5);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, "5e-1", 0.5);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, "+0.25", 0.25);
	assert_parses(FLAG_BR_COHORT_SAMPLING_RATE, " 0 ", 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_refused(FLAG_BR_COHORT_SAMPLING_RATE, bad[i], why);
	assert_refused(FLAG_RECALL_BM25_K1, "3.01",
		       "expected a number between 0 and 3");
	assert_parses(FLAG_RECALL_BM25_K1, "3", 3);
	assert_refused(FLAG_RECALL_DECAY_HALF_LIFE_DAYS, "0",
		       "expected a number between 0.01 and 36500");
}

static void test_parse_minus_zero_is_zero(void **state)
{
	char text[32];
	double v = 1;

	assert_int_equal(parse(FLAG_RECALL_MIN_CONFIDENCE, "-0", &v, NULL), 0);
	store_flag_format(FLAG_RECALL_MIN_CONFIDENCE, v, text, sizeof(text));
	assert_string_equal(text, "0");
}

static void test_parse_enum(void **state)
{
	const char *why = "expected one of none exponential power two_component";

	assert_parses(FLAG_RECALL_DECAY_FUNCTION, "none", 0);
	assert_parses(FLAG_RECALL_DECAY_FUNCTION, "exponential", 1);
	assert_parses(FLAG_RECALL_DECAY_FUNCTION, "power\n", 2);
	assert_parses(FLAG_RECALL_DECAY_FUNCTION, " two_component ", 3);
	assert_refused(FLAG_RECALL_DECAY_FUNCTION, "Power", why);
	assert_refused(FLAG_RECALL_DECAY_FUNCTION, "pow", why);
	assert_refused(FLAG_RECALL_DECAY_FUNCTION, "2", why);
	assert_refused(FLAG_RECALL_DECAY_FUNCTION, "", why);
	assert_parses(FLAG_FAN_DIVISOR, "linear", 0);
	assert_refused(FLAG_FAN_DIVISOR, "log", "expected one of linear sqrt");
}

static void test_parse_odd_input(void **state)
{
	char why[WHY_LEN] = "", big[300];
	double v = -1;

	/* A NUL inside the value is not a blank. */
	assert_int_equal(store_flag_parse(FLAG_MONITORING, "1\0", 2, &v, why,
					  sizeof(why)), -EINVAL);
	assert_int_equal(store_flag_parse(FLAG_MONITORING, "1x", 1, &v, why,
					  sizeof(why)), 0);	/* len counts */
	assert_true(v == 1);
	assert_int_equal(store_flag_parse(FLAG_MONITORING, NULL, 0, &v, why,
					  sizeof(why)), -EINVAL);
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(FLAG_CONS_INTERVAL_S, big, &v, why), -EINVAL);
	assert_int_equal(store_flag_parse(FLAG__COUNT, "1", 1, &v, why,
					  sizeof(why)), -EINVAL);
	/* A short reason buffer is cut, not overrun; no buffer is fine. */
	assert_int_equal(store_flag_parse(FLAG_MONITORING, "x", 1, &v, why, 9),
			 -EINVAL);
	assert_string_equal(why, "expected");
	assert_int_equal(store_flag_parse(FLAG_MONITORING, "x", 1, &v, NULL, 0),
			 -EINVAL);
}

static void test_format_is_canonical_and_round_trips(void **state)
{
	static const double vals[] = { 0, 1, 0.05, 0.1, 0.3, 0.7, 1.0 / 3,
				       0.1 + 0.2, 1e-7, 0.999999999999 };
	char text[64];
	double v;
	size_t i;

	store_flag_format(FLAG_BR_COHORT_SAMPLING_RATE, 0.05, text,
			  sizeof(text));
	assert_string_equal(text, "0.05");
	store_flag_format(FLAG_BR_COHORT_SAMPLING_RATE, 0.1 + 0.2, text,
			  sizeof(text));
	assert_string_equal(text, "0.30000000000000004");
	store_flag_format(FLAG_RECALL_DECAY_HALF_LIFE_DAYS, 36500, text,
			  sizeof(text));
	assert_string_equal(text, "36500");
	for (i = 0; i < sizeof(vals) / sizeof(*vals); i++) {
		store_flag_format(FLAG_BR_COHORT_SAMPLING_RATE, vals[i], text,
				  sizeof(text));
		assert_int_equal(parse(FLAG_BR_COHORT_SAMPLING_RATE, text, &v,
				       NULL), 0);
		assert_true(v == vals[i]);
	}
	store_flag_format(FLAG_STORE_MAX_EPISODE_BYTES, 67108864, text,
			  sizeof(text));
	assert_string_equal(text, "67108864");
	store_flag_format(FLAG_BR_COHORT_SEED, 9007199254740992.0, text,
			  sizeof(text));
	assert_string_equal(text, "9007199254740992");
	store_flag_format(FLAG_FAN_EFFECT, 1, text, sizeof(text));
	assert_string_equal(text, "1");
	store_flag_format(FLAG_FAN_EFFECT, 0, text, sizeof(text));
	assert_string_equal(text, "0");
	store_flag_format(FLAG_RECALL_DECAY_FUNCTION, 3, text, sizeof(text));
	assert_string_equal(text, "two_component");
	store_flag_format(FLAG_FAN_DIVISOR, 0, text, sizeof(text));
	assert_string_equal(text, "linear");
}

/* ------------------------------------------------------------------ */
/* Runtime values and history                                         */
/* ------------------------------------------------------------------ */

static void test_fresh_store_has_defaults_and_no_history(void **state)
{
	struct store *st = *state;
	char *h;
	int id;

	for (id = 0; id < FLAG__COUNT; id++)
		assert_true(store_flag_get(st, id) == flag_default(id));
	h = history(st);
	assert_string_equal(h, "");
	free(h);
}

static void test_set_then_get(void **state)
{
	struct store *st = *state;

	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "on\n", 1000, "write"), 0);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	assert_int_equal(set(st, FLAG_RECALL_BM25_K1, "1.5", 1000, "write"), 0);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.5);
	assert_int_equal(set(st, FLAG_RECALL_DECAY_FUNCTION, "exponential", 0,
			     "ctl"), 0);
	assert_true(store_flag_get(st, FLAG_RECALL_DECAY_FUNCTION) == 1);
	assert_int_equal(set(st, FLAG_CONS_INTERVAL_S, "0", 0, "ctl"), 0);
	assert_true(store_flag_get(st, FLAG_CONS_INTERVAL_S) == 0);
}

static void test_bad_value_is_refused_and_changes_nothing(void **state)
{
	struct store *st = *state;
	char why[WHY_LEN] = "";
	char *h;

	assert_int_equal(set(st, FLAG_RECALL_BM25_K1, "1.5", 1000, "write"), 0);
	assert_int_equal(store_flag_set(st, FLAG_RECALL_BM25_K1, "7\n", 2, 1000,
					"write", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "expected a number between 0 and 3");
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.5);
	assert_int_equal(store_flag_set(st, FLAG_BLENDED_RECALL, "maybe", 5, 0,
					"write", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "expected one of 1 0 true false on off yes no");
	assert_int_equal(store_flag_set(st, FLAG__COUNT, "1", 1, 0, "write",
					why, sizeof(why)), -EINVAL);
	h = history(st);
	assert_int_equal(count_lines(h), 1);
	free(h);
}

static void test_setting_the_current_value_records_nothing(void **state)
{
	struct store *st = *state;
	char *h;

	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "0", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_MONITORING, "yes", 1000, "write"), 0);
	h = history(st);
	assert_string_equal(h, "");
	free(h);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "true", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_RECALL_BM25_B, "0.75", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_RECALL_BM25_B, "7.5e-1", 1000, "write"), 0);
	h = history(st);
	assert_int_equal(count_lines(h), 1);
	free(h);
}

static void test_history_lines_and_order(void **state)
{
	struct store *st = *state;
	char *h;

	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_BR_COHORT_SAMPLING_RATE, "0.05", 0,
			     "config"), 0);
	assert_int_equal(set(st, FLAG_RECALL_DECAY_FUNCTION, "none\n", 0,
			     "ctl"), 0);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "off", 4294967295u,
			     "write"), 0);
	h = history(st);
	assert_int_equal(count_lines(h), 4);
	assert_line(h, 0, "uid=1000 blended_recall 0 -> 1 source=write");
	assert_line(h, 1, "uid=0 blended_recall.cohort_sampling_rate 0 -> 0.05 source=config");
	assert_line(h, 2, "uid=0 recall.decay_function power -> none source=ctl");
	assert_line(h, 3, "uid=4294967295 blended_recall 1 -> 0 source=write");
	free(h);
}

static void test_history_source_is_one_word(void **state)
{
	struct store *st = *state;
	char *h;

	assert_int_equal(set(st, FLAG_FAN_EFFECT, "1", 7, "x y\nz"), 0);
	assert_int_equal(store_flag_set(st, FLAG_FAN_EFFECT, "0", 1, 7, NULL,
					NULL, 0), 0);
	h = history(st);
	assert_line(h, 0, "uid=7 fan_effect 0 -> 1 source=unknown");
	assert_line(h, 1, "uid=7 fan_effect 1 -> 0 source=unknown");
	free(h);
}

/* More than 256 lines: the big-endian keys keep them in order. */
static void test_history_keeps_order_past_one_key_byte(void **state)
{
	struct store *st = *state;
	char text[32], want[96], *h;
	int i;

	for (i = 1; i <= 260; i++) {
		snprintf(text, sizeof(text), "%d", 100 + i);
		assert_int_equal(set(st, FLAG_BR_COHORT_SEED, text, 0, "ctl"), 0);
	}
	h = history(st);
	assert_int_equal(count_lines(h), 260);
	for (i = 1; i <= 260; i += 37) {
		snprintf(want, sizeof(want),
			 "uid=0 blended_recall.cohort_seed %d -> %d source=ctl",
			 i == 1 ? 42 : 99 + i, 100 + i);
		assert_line(h, (size_t)i - 1, want);
	}
	free(h);
}

static void test_values_and_history_survive_reopen(void **state)
{
	struct store *st = *state;
	char *h;

	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_BR_COHORT_SAMPLING_RATE, "0.25", 1000,
			     "write"), 0);
	assert_int_equal(set(st, FLAG_FAN_DIVISOR, "linear", 1000, "write"), 0);
	assert_int_equal(set(st, FLAG_BR_COHORT_SEED, "9007199254740992", 0,
			     "ctl"), 0);
	st = harness_reopen(st);
	*state = st;
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	assert_true(store_flag_get(st, FLAG_BR_COHORT_SAMPLING_RATE) == 0.25);
	assert_true(store_flag_get(st, FLAG_FAN_DIVISOR) == 0);
	assert_true(store_flag_get(st, FLAG_BR_COHORT_SEED) ==
		    9007199254740992.0);
	assert_true(store_flag_get(st, FLAG_MONITORING) == 1);
	/* The sequence goes on after the last line, not over it. */
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "0", 1000, "write"), 0);
	st = harness_reopen(st);
	*state = st;
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	h = history(st);
	assert_int_equal(count_lines(h), 5);
	assert_line(h, 0, "uid=1000 blended_recall 0 -> 1 source=write");
	assert_line(h, 4, "uid=1000 blended_recall 1 -> 0 source=write");
	free(h);
}

/* A stored value the registry no longer accepts (a range narrowed in a
 * new version) falls back to the default at open. */
static void test_invalid_stored_value_falls_back_to_default(void **state)
{
	struct store *st = *state;
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();

	rocksdb_writebatch_put_cf(b, st->cf[CF_FLAGS], "recall.bm25_k1", 14,
				  "42", 2);
	rocksdb_writebatch_put_cf(b, st->cf[CF_FLAGS], "recall.bm25_b", 13,
				  "0.5", 3);
	assert_int_equal(db_write(st, b, true), 0);
	rocksdb_writebatch_destroy(b);
	st = harness_reopen(st);
	*state = st;
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.2);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_B) == 0.5);
	assert_int_equal(set(st, FLAG_RECALL_BM25_K1, "2", 0, "write"), 0);
	st = harness_reopen(st);
	*state = st;
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 2);
}

static void test_failed_write_changes_nothing(void **state)
{
	struct store *st = *state;
	char *h;

	db_fault_write(st, 1, EIO);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"), -EIO);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	db_fault_write(st, 1, ENOSPC);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"),
			 -ENOSPC);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	h = history(st);
	assert_string_equal(h, "");
	free(h);
	/* The next write works and takes the first history key. */
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1", 1000, "write"), 0);
	st = harness_reopen(st);
	*state = st;
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	h = history(st);
	assert_int_equal(count_lines(h), 1);
	assert_line(h, 0, "uid=1000 blended_recall 0 -> 1 source=write");
	free(h);
}

static void test_commit_of_several_values_is_one_batch(void **state)
{
	struct store *st = *state;
	struct flag_change ch[] = {
		{ FLAG_BLENDED_RECALL, 1 },
		{ FLAG_FAN_EFFECT, 0 },		/* unchanged: no line */
		{ FLAG_RECALL_BM25_K1, 2 },
		{ FLAG_BLENDED_RECALL, 0 },	/* changes it back */
	};
	size_t changed = 99;
	char *h;

	db_fault_write(st, 1, EIO);
	assert_int_equal(flag_commit(st, ch, 4, 0, "config", NULL, &changed),
			 -EIO);
	assert_int_equal(changed, 99);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.2);
	assert_int_equal(flag_commit(st, ch, 4, 0, "config", NULL, &changed), 0);
	assert_int_equal(changed, 3);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 2);
	h = history(st);
	assert_int_equal(count_lines(h), 3);
	assert_line(h, 0, "uid=0 blended_recall 0 -> 1 source=config");
	assert_line(h, 1, "uid=0 recall.bm25_k1 1.2 -> 2 source=config");
	assert_line(h, 2, "uid=0 blended_recall 1 -> 0 source=config");
	free(h);
}

struct setter {
	struct store *st;
	int base;
};

static void *setter_run(void *arg)
{
	struct setter *s = arg;
	char text[32];
	int i;

	for (i = 0; i < 40; i++) {
		snprintf(text, sizeof(text), "%d", s->base + i);
		if (set(s->st, FLAG_BR_COHORT_SEED, text, 0, "write"))
			return arg;
	}
	return NULL;
}

/* Concurrent writers: every change has its line, each line's old value
 * is the previous line's new value, and the last one is what get sees. */
static void test_concurrent_sets_keep_history_consistent(void **state)
{
	struct store *st = *state;
	struct setter a = { st, 1000 }, b = { st, 2000 };
	pthread_t ta, tb;
	void *ra, *rb;
	char *h, *line, *save = NULL;
	long prev = 42, old, new;
	size_t n = 0;

	assert_int_equal(pthread_create(&ta, NULL, setter_run, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, setter_run, &b), 0);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	assert_null(ra);
	assert_null(rb);
	h = history(st);
	for (line = strtok_r(h, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), n++) {
		assert_int_equal(sscanf(line + 21,
					"uid=0 blended_recall.cohort_seed %ld -> %ld",
					&old, &new), 2);
		assert_int_equal(old, prev);
		prev = new;
	}
	assert_int_equal(n, 80);
	assert_true(store_flag_get(st, FLAG_BR_COHORT_SEED) == (double)prev);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_flag_is_described_and_findable),
		cmocka_unit_test(test_names_follow_the_design),
		cmocka_unit_test(test_defaults_are_the_documented_ones),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_double),
		cmocka_unit_test(test_parse_minus_zero_is_zero),
		cmocka_unit_test(test_parse_enum),
		cmocka_unit_test(test_parse_odd_input),
		cmocka_unit_test(test_format_is_canonical_and_round_trips),
#define T(f) cmocka_unit_test_setup_teardown(f, harness_open, harness_close)
		T(test_fresh_store_has_defaults_and_no_history),
		T(test_set_then_get),
		T(test_bad_value_is_refused_and_changes_nothing),
		T(test_setting_the_current_value_records_nothing),
		T(test_history_lines_and_order),
		T(test_history_source_is_one_word),
		T(test_history_keeps_order_past_one_key_byte),
		T(test_values_and_history_survive_reopen),
		T(test_invalid_stored_value_falls_back_to_default),
		T(test_failed_write_changes_nothing),
		T(test_commit_of_several_values_is_one_batch),
		T(test_concurrent_sets_keep_history_consistent),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
