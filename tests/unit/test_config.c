/*
 * test_config.c - config files (store/config.c): the shipped files load
 * cleanly, every kind of problem is reported with FILE:LINE and the whole
 * file is refused, and applying sets only the keys that changed in the
 * file since the last apply, across reopen.
 *
 * The shipped files are read from $ENGRAM_SRCDIR/config (default: the
 * current directory, as `make unit` runs from the repository root).
 */
#include <errno.h>
#include <unistd.h>

#include "harness.h"
#include "store_i.h"
#include "flag_i.h"

static char tmpdir[64];

static int config_setup(void **state)
{
	return harness_mkdir(tmpdir);
}

static int config_teardown(void **state)
{
	harness_rm_rf(tmpdir);
	return 0;
}

static int store_setup(void **state)
{
	return config_setup(state) || harness_open(state);
}

static int store_teardown(void **state)
{
	harness_close(state);
	return config_teardown(state);
}

/* Write TEXT to NAME in the temp dir; the path goes to PATH. */
static void write_file(const char *name, const char *text, char *path,
		       size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Load TEXT as a file; returns the load's result, errors in *errors. */
static int load_text(const char *text, struct store_config *cfg,
		     char **errors, char *path, size_t size)
{
	write_file("test.conf", text, path, size);
	return store_config_load(path, cfg, errors);
}

static void assert_loads(const char *text, struct store_config *cfg)
{
	char path[128], *errors = (char *)"unset";

	memset(cfg, 0, sizeof(*cfg));
	if (load_text(text, cfg, &errors, path, sizeof(path)))
		fail_msg("refused: %s", errors ? errors : "(no errors)");
	assert_null(errors);
}

/* TEXT is refused with exactly the lines WANT ("LINE: message\n" each,
 * the path prepended here), and the config is left untouched. */
static void assert_refused(const char *text, const char *want)
{
	struct store_config cfg, before;
	char path[128], expect[2048], *errors = NULL;
	const char *p, *nl;
	size_t n = 0;

	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	assert_int_equal(load_text(text, &cfg, &errors, path, sizeof(path)),
			 -EINVAL);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	for (p = want; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		n += snprintf(expect + n, sizeof(expect) - n, "%s:%.*s\n", path,
			      (int)(nl - p), p);
	}
	assert_non_null(errors);
	assert_string_equal(errors, expect);
	free(errors);
}

static void shipped_path(const char *name, char *path, size_t size)
{
	const char *src = getenv("ENGRAM_SRCDIR");

	snprintf(path, size, "%s/config/%s", src ? src : ".", name);
	if (access(path, R_OK))
		fail_msg("cannot read %s (run from the repository root or set ENGRAM_SRCDIR)",
			 path);
}

static void load_shipped(const char *name, struct store_config *cfg)
{
	char path[512], *errors = NULL;

	shipped_path(name, path, sizeof(path));
	memset(cfg, 0, sizeof(*cfg));
	if (store_config_load(path, cfg, &errors))
		fail_msg("%s refused:\n%s", name, errors ? errors : "");
	assert_null(errors);
}

/* ------------------------------------------------------------------ */
/* The shipped files                                                  */
/* ------------------------------------------------------------------ */

static void test_engramfs_conf_lists_every_key_at_its_default(void **state)
{
	struct store_config cfg;
	int id;

	load_shipped("engramfs.conf", &cfg);
	for (id = 0; id < FLAG__COUNT; id++) {
		if (!cfg.set[id])
			fail_msg("engramfs.conf lacks %s", store_flag_def(id)->name);
		assert_true(cfg.value[id] == flag_default(id));
	}
}

static void test_development_conf_turns_everything_on(void **state)
{
	struct store_config cfg;

	load_shipped("development.conf", &cfg);
	assert_true(cfg.set[FLAG_DUAL_MEMORY_TYPES] &&
		    cfg.value[FLAG_DUAL_MEMORY_TYPES] == 1);
	assert_true(cfg.set[FLAG_BLENDED_RECALL] &&
		    cfg.value[FLAG_BLENDED_RECALL] == 1);
	assert_true(cfg.set[FLAG_FAN_EFFECT] && cfg.value[FLAG_FAN_EFFECT] == 1);
	assert_true(cfg.set[FLAG_MONITORING] && cfg.value[FLAG_MONITORING] == 1);
	assert_true(cfg.set[FLAG_BR_COHORT_SAMPLING_RATE] &&
		    cfg.value[FLAG_BR_COHORT_SAMPLING_RATE] == 1);
	assert_true(cfg.set[FLAG_CONS_INTERVAL_S] &&
		    cfg.value[FLAG_CONS_INTERVAL_S] == 60);
}

static void test_production_conf_is_the_conservative_start(void **state)
{
	struct store_config cfg;

	load_shipped("production.conf", &cfg);
	assert_true(cfg.set[FLAG_DUAL_MEMORY_TYPES] &&
		    cfg.value[FLAG_DUAL_MEMORY_TYPES] == 0);
	assert_true(cfg.set[FLAG_BLENDED_RECALL] &&
		    cfg.value[FLAG_BLENDED_RECALL] == 0);
	assert_true(cfg.set[FLAG_FAN_EFFECT] && cfg.value[FLAG_FAN_EFFECT] == 0);
	assert_true(cfg.set[FLAG_MONITORING] && cfg.value[FLAG_MONITORING] == 1);
	assert_true(cfg.set[FLAG_BR_COHORT_SAMPLING_RATE] &&
		    cfg.value[FLAG_BR_COHORT_SAMPLING_RATE] == 0);
	assert_true(cfg.set[FLAG_BR_COHORT_SEED] &&
		    cfg.value[FLAG_BR_COHORT_SEED] == 42);
	assert_true(cfg.value[FLAG_BR_BASE_EPISODIC_WEIGHT] == 0.7);
	assert_true(cfg.value[FLAG_BR_BASE_SEMANTIC_WEIGHT] == 0.3);
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */
/* ------------------------------------------------------------------ */

static void test_syntax_that_is_accepted(void **state)
{
	struct store_config cfg;

	assert_loads("\xEF\xBB\xBF# a BOM, comments of both kinds\r\n"
		     "; semicolon comment\n"
		     "\n"
		     "[features]\r\n"
		     "blended_recall = true   # TOML habit\n"
		     "  fan_effect=on\n"
		     "\tmonitoring: no ; inline\n"
		     "[ recall ]\n"
		     "bm25_k1 = 1.5\n"
		     "decay_function = two_component\n"
		     "[features]\n"
		     "dual_memory_types = 0\n",
		     &cfg);
	assert_true(cfg.set[FLAG_BLENDED_RECALL] &&
		    cfg.value[FLAG_BLENDED_RECALL] == 1);
	assert_true(cfg.set[FLAG_FAN_EFFECT] && cfg.value[FLAG_FAN_EFFECT] == 1);
	assert_true(cfg.set[FLAG_MONITORING] && cfg.value[FLAG_MONITORING] == 0);
	assert_true(cfg.set[FLAG_RECALL_BM25_K1] &&
		    cfg.value[FLAG_RECALL_BM25_K1] == 1.5);
	assert_true(cfg.value[FLAG_RECALL_DECAY_FUNCTION] == 3);
	assert_true(cfg.set[FLAG_DUAL_MEMORY_TYPES] &&
		    cfg.value[FLAG_DUAL_MEMORY_TYPES] == 0);
	assert_false(cfg.set[FLAG_RECALL_BM25_B]);
}

static void test_empty_file_sets_nothing(void **state)
{
	struct store_config cfg;
	int id;

	assert_loads("", &cfg);
	for (id = 0; id < FLAG__COUNT; id++)
		assert_false(cfg.set[id]);
	assert_loads("# only a comment\n[recall]\n", &cfg);
}

static void test_bad_value_names_file_line_key_and_rule(void **state)
{
	assert_refused("[recall]\n"
		       "bm25_b = 0.5\n"
		       "bm25_k1 = 7\n",
		       "3: key 'recall.bm25_k1': expected a number between 0 and 3\n");
	assert_refused("[features]\nblended_recall = maybe\n",
		       "2: key 'features.blended_recall': expected one of 1 0 true false on off yes no\n");
	assert_refused("[recall]\ndecay_function = Power\n",
		       "2: key 'recall.decay_function': expected one of none exponential power two_component\n");
	assert_refused("[consolidation]\ninterval_s = -1\n",
		       "2: key 'consolidation.interval_s': expected an integer between 0 and 86400\n");
	assert_refused("[recall]\nbm25_k1 =\n",
		       "2: key 'recall.bm25_k1': expected a number between 0 and 3\n");
}

static void test_unknown_section_and_key(void **state)
{
	assert_refused("[recal]\n"
		       "bm25_k1 = 1\n"
		       "whatever = 2\n"
		       "[recall]\n"
		       "bm25_k3 = 1\n"
		       "[]\n",
		       "1: unknown section [recal]\n"
		       "5: unknown key 'bm25_k3' in section [recall]\n"
		       "6: unknown section []\n");
	/* A key the flags know, in the wrong section. */
	assert_refused("[features]\nbm25_k1 = 1\n",
		       "2: unknown key 'bm25_k1' in section [features]\n");
}

static void test_key_outside_any_section(void **state)
{
	assert_refused("blended_recall = 1\n[features]\nfan_effect = 1\n",
		       "1: key 'blended_recall' is outside any [section]\n");
}

static void test_duplicate_key(void **state)
{
	assert_refused("[features]\n"
		       "blended_recall = 1\n"
		       "[recall]\n"
		       "bm25_k1 = 1\n"
		       "[features]\n"
		       "blended_recall = 0\n",
		       "6: key 'features.blended_recall': set twice (first on line 2)\n");
}

static void test_syntax_errors(void **state)
{
	assert_refused("[features\n"
		       "blended_recall = 1\n"
		       "[recall]\n"
		       "bm25_k1 1.2\n"
		       "= 3\n"
		       "bm25_b = 0.5\n",
		       "1: syntax error: '[features' has no closing ']'\n"
		       "4: syntax error: expected 'key = value', [section] or a comment\n"
		       "5: syntax error: no key before '='\n");
}

static void test_long_line(void **state)
{
	char text[600];

	snprintf(text, sizeof(text), "[recall]\nbm25_k1 = 1%0300d\nbm25_b = 2\n",
		 0);
	assert_refused(text,
		       "2: line too long (limit 198 bytes)\n"
		       "3: key 'recall.bm25_b': expected a number between 0 and 1\n");
	/* 198 bytes fit (inih's 200-byte buffer less newline and NUL). */
	{
		struct store_config cfg;
		char line[300] = "bm25_b = 0.5 ;";

		memset(line + 14, 'x', 198 - 14);
		snprintf(text, sizeof(text), "[recall]\n%.198s\n", line);
		assert_loads(text, &cfg);
		assert_true(cfg.value[FLAG_RECALL_BM25_B] == 0.5);
		snprintf(text, sizeof(text), "[recall]\n%.198sx\n", line);
		assert_refused(text, "2: line too long (limit 198 bytes)\n");
	}
	/* A long comment is just a comment. */
	memset(text, '#', 400);
	snprintf(text + 400, sizeof(text) - 400, "\n[recall]\nbm25_b = 0.5\n");
	{
		struct store_config cfg;

		assert_loads(text, &cfg);
		assert_true(cfg.value[FLAG_RECALL_BM25_B] == 0.5);
	}
}

static void test_nul_byte_in_a_line(void **state)
{
	struct store_config cfg, before;
	char path[128], want[256], *errors = NULL;
	static const char text[] = "[recall]\nbm25_k1 = 1\0 junk\nbm25_b = 0.5\n";
	FILE *f;

	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, f), sizeof(text) - 1);
	assert_int_equal(fclose(f), 0);
	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	assert_int_equal(store_config_load(path, &cfg, &errors), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: line contains a NUL byte\n", path);
	assert_string_equal(errors, want);
	free(errors);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_weights_both_zero(void **state)
{
	struct store_config cfg;

	assert_refused("[blended_recall]\n"
		       "base_episodic_weight = 0\n"
		       "base_semantic_weight = 0.0\n",
		       "3: weights cannot be normalised: base_episodic_weight and base_semantic_weight are both 0\n");
	/* One of them 0 is fine: episodic only, or semantic only. */
	assert_loads("[blended_recall]\nbase_semantic_weight = 0\n", &cfg);
	assert_loads("[blended_recall]\nbase_episodic_weight = 0\n", &cfg);
}

static void test_every_problem_is_reported_at_once(void **state)
{
	assert_refused("[features]\n"
		       "blended_recall = 2\n"
		       "nope = 1\n"
		       "[blended_recall]\n"
		       "cohort_sampling_rate = 5%\n"
		       "base_episodic_weight = 0\n"
		       "base_semantic_weight = 0\n"
		       "[recall]\n"
		       "bm25_k1 = nan\n"
		       "bm25_k1 = 1\n",
		       "2: key 'features.blended_recall': expected one of 1 0 true false on off yes no\n"
		       "3: unknown key 'nope' in section [features]\n"
		       "5: key 'blended_recall.cohort_sampling_rate': expected a number between 0 and 1\n"
		       "9: key 'recall.bm25_k1': expected a number between 0 and 3\n"
		       "10: key 'recall.bm25_k1': set twice (first on line 9)\n"
		       "7: weights cannot be normalised: base_episodic_weight and base_semantic_weight are both 0\n");
}

static void test_unreadable_file(void **state)
{
	struct store_config cfg, before;
	char path[128], want[256], *errors = NULL;

	memset(&cfg, 0x5a, sizeof(cfg));
	before = cfg;
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(store_config_load(path, &cfg, &errors), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: %s\n", path,
		 strerror(ENOENT));
	assert_string_equal(errors, want);
	free(errors);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	errors = NULL;
	assert_int_equal(store_config_load(tmpdir, &cfg, &errors), -EISDIR);
	snprintf(want, sizeof(want), "%s: cannot read: %s\n", tmpdir,
		 strerror(EISDIR));
	assert_string_equal(errors, want);
	free(errors);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
	/* errors may be NULL. */
	assert_int_equal(store_config_load(path, &cfg, NULL), -ENOENT);
}

/* ------------------------------------------------------------------ */
/* Applying                                                           */
/* ------------------------------------------------------------------ */

static void load_into(const char *text, struct store_config *cfg)
{
	assert_loads(text, cfg);
}

static char *history(struct store *st)
{
	char *h = NULL;
	size_t len;

	assert_int_equal(store_flag_history(st, &h, &len), 0);
	return h;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int set(struct store *st, enum store_flag_id id, const char *text)
{
	return store_flag_set(st, id, text, strlen(text), 1000, "write", NULL,
			      0);
}

static void test_apply_sets_keys_with_source_config(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;
	char *h;

	load_into("[features]\nblended_recall = 1\n[recall]\nbm25_k1 = 1.5\n",
		  &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 2);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.5);
	h = history(st);
	assert_int_equal(count_lines(h), 2);
	assert_non_null(strstr(h, " uid=0 blended_recall 0 -> 1 source=config\n"));
	assert_non_null(strstr(h, " uid=0 recall.bm25_k1 1.2 -> 1.5 source=config\n"));
	free(h);
}

/* The operator's runtime write survives a re-apply of an unchanged file;
 * a key edited in the file wins; the others are left alone. */
static void test_apply_only_keys_changed_in_the_file(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;
	char *h;

	load_into("[features]\nblended_recall = 1\n[recall]\nbm25_k1 = 1.5\n",
		  &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "0"), 0);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 0);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	load_into("[features]\nblended_recall = 1\n[recall]\nbm25_k1 = 2\n",
		  &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 1);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 2);
	/* Now the file's blended_recall changes: it wins over the write. */
	load_into("[features]\nblended_recall = no\n", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 1);	/* recorded, value already 0 */
	load_into("[features]\nblended_recall = yes\n", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 1);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	h = history(st);
	assert_int_equal(count_lines(h), 5);	/* 2 config, 1 write, 2 config */
	free(h);
}

static void test_apply_across_reopen(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;

	load_into("[features]\nblended_recall = 1\nfan_effect = 1\n", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(set(st, FLAG_FAN_EFFECT, "0"), 0);
	st = harness_reopen(st);
	*state = st;
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 0);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	assert_true(store_flag_get(st, FLAG_FAN_EFFECT) == 0);
	load_into("[features]\nblended_recall = 0\nfan_effect = 1\n", &cfg);
	st = harness_reopen(st);
	*state = st;
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 1);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	assert_true(store_flag_get(st, FLAG_FAN_EFFECT) == 0);
}

/* A file value equal to the running one is recorded without a history
 * line, so a later runtime write is not undone by the same file. */
static void test_apply_of_current_value_is_recorded_silently(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;
	char *h;

	load_into("[features]\nblended_recall = 0\n", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 1);
	h = history(st);
	assert_string_equal(h, "");
	free(h);
	assert_int_equal(set(st, FLAG_BLENDED_RECALL, "1"), 0);
	assert_int_equal(store_config_apply(st, &cfg, NULL), 0);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
}

/* A refused file applies nothing, not even its good keys. */
static void test_broken_file_is_refused_as_a_whole(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	char path[128], *errors = NULL;
	char *h;

	load_into("[features]\nblended_recall = 1\n", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, NULL), 0);
	assert_int_equal(load_text("[features]\nblended_recall = 0\n"
				   "fan_effect = 1\n"
				   "[recall]\nbm25_k1 = 9\n",
				   &cfg, &errors, path, sizeof(path)), -EINVAL);
	free(errors);
	/* cfg still holds the last good file: applying it changes nothing. */
	assert_false(cfg.set[FLAG_FAN_EFFECT]);
	assert_int_equal(store_config_apply(st, &cfg, NULL), 0);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 1);
	assert_true(store_flag_get(st, FLAG_FAN_EFFECT) == 0);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.2);
	h = history(st);
	assert_int_equal(count_lines(h), 1);
	free(h);
}

/* A failed write applies none of the file's keys, and the next apply
 * retries all of them. */
static void test_apply_is_all_or_nothing(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;
	char *h;

	load_into("[features]\nblended_recall = 1\n[recall]\nbm25_k1 = 1.5\n"
		  "max_depth = 3\n", &cfg);
	db_fault_write(st, 1, ENOSPC);
	assert_int_equal(store_config_apply(st, &cfg, &applied), -ENOSPC);
	assert_int_equal(applied, 99);
	assert_true(store_flag_get(st, FLAG_BLENDED_RECALL) == 0);
	assert_true(store_flag_get(st, FLAG_RECALL_BM25_K1) == 1.2);
	h = history(st);
	assert_string_equal(h, "");
	free(h);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 3);
	assert_true(store_flag_get(st, FLAG_RECALL_MAX_DEPTH) == 3);
}

static void test_apply_of_shipped_production_conf(void **state)
{
	struct store *st = *state;
	struct store_config cfg;
	size_t applied = 99;

	load_shipped("production.conf", &cfg);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_true(applied > 10);
	assert_true(store_flag_get(st, FLAG_DUAL_MEMORY_TYPES) == 0);
	assert_true(store_flag_get(st, FLAG_MONITORING) == 1);
	assert_int_equal(store_config_apply(st, &cfg, &applied), 0);
	assert_int_equal(applied, 0);
}

int main(void)
{
#define C(f) cmocka_unit_test_setup_teardown(f, config_setup, config_teardown)
#define S(f) cmocka_unit_test_setup_teardown(f, store_setup, store_teardown)
	const struct CMUnitTest tests[] = {
		C(test_engramfs_conf_lists_every_key_at_its_default),
		C(test_development_conf_turns_everything_on),
		C(test_production_conf_is_the_conservative_start),
		C(test_syntax_that_is_accepted),
		C(test_empty_file_sets_nothing),
		C(test_bad_value_names_file_line_key_and_rule),
		C(test_unknown_section_and_key),
		C(test_key_outside_any_section),
		C(test_duplicate_key),
		C(test_syntax_errors),
		C(test_long_line),
		C(test_nul_byte_in_a_line),
		C(test_weights_both_zero),
		C(test_every_problem_is_reported_at_once),
		C(test_unreadable_file),
		S(test_apply_sets_keys_with_source_config),
		S(test_apply_only_keys_changed_in_the_file),
		S(test_apply_across_reopen),
		S(test_apply_of_current_value_is_recorded_silently),
		S(test_broken_file_is_refused_as_a_whole),
		S(test_apply_is_all_or_nothing),
		S(test_apply_of_shipped_production_conf),
	};
#undef C
#undef S

	return cmocka_run_group_tests(tests, NULL, NULL);
}
