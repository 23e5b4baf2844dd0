/*
 * test_query.c - recall query parsing (names and query-file bodies) and
 * result formatting.  Pure functions: no store is opened.
 */
#include <errno.h>
#include <math.h>
#include <time.h>

#include <json-c/json.h>
#include <utf8proc.h>

#include "harness.h"

#define WHY 256

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static void name_ok(const char *name, struct store_query *q)
{
	char why[WHY] = "";
	int err = store_query_parse_name(name, strlen(name), q, why, WHY);

	if (err)
		fail_msg("'%s': %d %s", name, err, why);
}

/* Fails with ERR and REASON, and leaves the query untouched. */
static void name_fails(const char *name, int err, const char *reason)
{
	struct store_query q, before;
	char why[WHY] = "";

	memset(&q, 0xa5, sizeof(q));
	before = q;
	assert_int_equal(store_query_parse_name(name, strlen(name), &q, why,
						WHY), err);
	assert_string_equal(why, reason);
	assert_memory_equal(&q, &before, sizeof(q));
}

static void body_ok(const char *body, struct store_query *q)
{
	char why[WHY] = "";
	int err = store_query_parse_body(body, strlen(body), q, why, WHY);

	if (err)
		fail_msg("'%s': %d %s", body, err, why);
}

static void body_fails(const char *body, int err, const char *reason)
{
	struct store_query q, before;
	char why[WHY] = "";

	memset(&q, 0xa5, sizeof(q));
	before = q;
	assert_int_equal(store_query_parse_body(body, strlen(body), &q, why,
						WHY), err);
	assert_string_equal(why, reason);
	assert_memory_equal(&q, &before, sizeof(q));
}

static void assert_defaults(const struct store_query *q)
{
	assert_int_equal(q->limit, 0);
	assert_int_equal(q->format, STORE_FORMAT_TEXT);
	assert_int_equal(q->mode, STORE_MODE_AUTO);
	assert_null(q->under);
	assert_null(q->user);
	assert_true(q->since == INT64_MIN);
	assert_true(q->until == INT64_MAX);
	assert_true(q->min_confidence < 0);
	assert_int_equal(q->budget, 0);
}

static void cue_is(const char *name, const char *cue)
{
	struct store_query q;

	name_ok(name, &q);
	assert_string_equal(q.cue, cue);
	store_query_release(&q);
}

/* ------------------------------------------------------------------ */
/* names: where the options are                                       */
/* ------------------------------------------------------------------ */

static void test_plain_name_is_cue_with_defaults(void **state)
{
	struct store_query q;

	name_ok("coffee with alice", &q);
	assert_string_equal(q.cue, "coffee with alice");
	assert_defaults(&q);
	store_query_release(&q);
	cue_is("  coffee \t", "coffee");
}

static void test_question_marks_in_questions_are_cue(void **state)
{
	cue_is("where is alice?", "where is alice?");
	cue_is("what? who?", "what? who?");
	cue_is("is e=mc2? really", "is e=mc2? really");
	cue_is("why?", "why?");
	cue_is("?", "?");
	cue_is("a?b", "a?b");
}

static void test_options_follow_the_last_question_mark(void **state)
{
	struct store_query q;

	name_ok("where is alice?limit=3", &q);
	assert_string_equal(q.cue, "where is alice");
	assert_int_equal(q.limit, 3);
	store_query_release(&q);

	name_ok("what? who?limit=2&format=json", &q);
	assert_string_equal(q.cue, "what? who");
	assert_int_equal(q.limit, 2);
	assert_int_equal(q.format, STORE_FORMAT_JSON);
	store_query_release(&q);

	/* the last '?' ends the name: nothing after it, so all cue */
	cue_is("x?limit=3?", "x?limit=3?");
	/* blanks around the options part are ignored */
	name_ok("coffee ? limit=4 ", &q);
	assert_string_equal(q.cue, "coffee");
	assert_int_equal(q.limit, 4);
	store_query_release(&q);
}

static void test_text_not_shaped_like_options_is_cue(void **state)
{
	cue_is("x?Limit=3", "x?Limit=3");
	cue_is("x?limit=3&", "x?limit=3&");
	cue_is("x?limit=3&&format=json", "x?limit=3&&format=json");
	cue_is("x?limit=3&verbose", "x?limit=3&verbose");
	cue_is("x?=3", "x?=3");
	cue_is("x?l1mit=3", "x?l1mit=3");
	cue_is("x?limit 3", "x?limit 3");
}

static void test_every_option(void **state)
{
	struct store_query q;

	name_ok("coffee?limit=7&format=paths&mode=blended&under=work/daily/"
		"&user=alice&since=2024-05-01&until=2024-05-02T10:00:00Z"
		"&min_confidence=0.25&budget=4096", &q);
	assert_string_equal(q.cue, "coffee");
	assert_int_equal(q.limit, 7);
	assert_int_equal(q.format, STORE_FORMAT_PATHS);
	assert_int_equal(q.mode, STORE_MODE_BLENDED);
	assert_string_equal(q.under, "work/daily");
	assert_string_equal(q.user, "alice");
	assert_true(q.since == 1714521600);
	assert_true(q.until == 1714644000);
	assert_true(q.min_confidence == 0.25);
	assert_int_equal(q.budget, 4096);
	store_query_release(&q);
}

static void test_format_and_mode_values(void **state)
{
	static const char *const formats[] = { "text", "json", "paths" };
	static const char *const modes[] = { "auto", "episodic", "semantic",
					     "blended" };
	struct store_query q;
	char name[64];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "x?format=%s", formats[i]);
		name_ok(name, &q);
		assert_int_equal(q.format, i);
		store_query_release(&q);
	}
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "x?mode=%s", modes[i]);
		name_ok(name, &q);
		assert_int_equal(q.mode, i);
		store_query_release(&q);
	}
	name_fails("x?format=xml", -EINVAL,
		   "bad value for 'format': expected one of text json paths");
	name_fails("x?format=JSON", -EINVAL,
		   "bad value for 'format': expected one of text json paths");
	name_fails("x?mode=both", -EINVAL,
		   "bad value for 'mode': expected one of auto episodic semantic blended");
}

/* ------------------------------------------------------------------ */
/* names: errors                                                      */
/* ------------------------------------------------------------------ */

static void test_option_errors(void **state)
{
	name_fails("x?foo=1", -EINVAL, "unknown option 'foo'");
	name_fails("what about a=b?c=d", -EINVAL, "unknown option 'c'");
	name_fails("x?cue=y", -EINVAL, "unknown option 'cue'");
	name_fails("x?limit=3&limit=4", -EINVAL, "option 'limit' given twice");
	name_fails("x?limit=3&limit=3", -EINVAL, "option 'limit' given twice");
	name_fails("x?under=", -EINVAL, "empty value for 'under'");
	name_fails("x?limit=3&user=", -EINVAL, "empty value for 'user'");
	/* the first problem from the left is the one reported */
	name_fails("x?foo=1&limit=0", -EINVAL, "unknown option 'foo'");
}

static void test_empty_cue(void **state)
{
	name_fails("?limit=3", -EINVAL, "empty cue");
	name_fails("   ?limit=3", -EINVAL, "empty cue");
	name_fails("", -EINVAL, "empty cue");
	name_fails(" \t ", -EINVAL, "empty cue");
}

static void test_name_too_long(void **state)
{
	char name[STORE_NAME_MAX + 2];
	struct store_query q;

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name_fails(name, -ENAMETOOLONG, "name longer than 255 bytes");
	name[STORE_NAME_MAX] = '\0';
	name_ok(name, &q);
	assert_int_equal(strlen(q.cue), STORE_NAME_MAX);
	store_query_release(&q);
}

static void test_name_is_not_nul_terminated(void **state)
{
	const char buf[] = "coffee?limit=3&format=jsonXXXX";
	struct store_query q;
	char why[WHY];

	assert_int_equal(store_query_parse_name(buf, 26, &q, why, WHY), 0);
	assert_string_equal(q.cue, "coffee");
	assert_int_equal(q.format, STORE_FORMAT_JSON);
	store_query_release(&q);
	/* a NUL inside the cue part */
	assert_int_equal(store_query_parse_name("a\0b", 3, &q, why, WHY),
			 -EINVAL);
	assert_string_equal(why, "cue contains a nul byte");
}

static void test_why_may_be_null(void **state)
{
	struct store_query q;

	assert_int_equal(store_query_parse_name("x?foo=1", 7, &q, NULL, 0),
			 -EINVAL);
	assert_int_equal(store_query_parse_body("?foo=1", 6, &q, NULL, 0),
			 -EINVAL);
}

static void test_limit_values(void **state)
{
	static const char range[] = "limit must be between 1 and 10000";
	static const char bad[] =
		"bad value for 'limit': expected a whole number between 1 and 10000";
	struct store_query q;

	name_ok("x?limit=1", &q);
	assert_int_equal(q.limit, 1);
	store_query_release(&q);
	name_ok("x?limit=10000", &q);
	assert_int_equal(q.limit, 10000);
	store_query_release(&q);
	name_ok("x?limit=007", &q);
	assert_int_equal(q.limit, 7);
	store_query_release(&q);

	name_fails("x?limit=0", -EINVAL, range);
	name_fails("x?limit=10001", -EINVAL, range);
	name_fails("x?limit=99999999999999999999999999", -EINVAL, range);
	name_fails("x?limit=-1", -EINVAL, bad);
	name_fails("x?limit=+3", -EINVAL, bad);
	name_fails("x?limit=1e12", -EINVAL, bad);
	name_fails("x?limit=2.0", -EINVAL, bad);
	name_fails("x?limit=ten", -EINVAL, bad);
	name_fails("x?limit=3%20", -EINVAL, bad);
}

static void test_budget_values(void **state)
{
	static const char bad[] =
		"bad value for 'budget': expected a whole number of bytes between 1 and 1073741824";
	struct store_query q;

	name_ok("x?budget=1073741824", &q);
	assert_int_equal(q.budget, 1u << 30);
	store_query_release(&q);
	name_fails("x?budget=-1", -EINVAL, bad);
	name_fails("x?budget=0", -EINVAL, bad);
	name_fails("x?budget=1073741825", -EINVAL, bad);
	name_fails("x?budget=1k", -EINVAL, bad);
}

static void test_min_confidence_values(void **state)
{
	static const char bad[] =
		"bad value for 'min_confidence': expected a number between 0 and 1";
	struct store_query q;

	name_ok("x?min_confidence=0", &q);
	assert_true(q.min_confidence == 0);
	store_query_release(&q);
	name_ok("x?min_confidence=1", &q);
	assert_true(q.min_confidence == 1);
	store_query_release(&q);
	name_ok("x?min_confidence=.5", &q);
	assert_true(q.min_confidence == 0.5);
	store_query_release(&q);
	name_fails("x?min_confidence=1.5", -EINVAL, bad);
	name_fails("x?min_confidence=-0.1", -EINVAL, bad);
	name_fails("x?min_confidence=nan", -EINVAL, bad);
	name_fails("x?min_confidence=0x1p-1", -EINVAL, bad);
	name_fails("x?min_confidence=0.5.5", -EINVAL, bad);
	name_fails("x?min_confidence=high", -EINVAL, bad);
}

static void test_user_values(void **state)
{
	char name[200];
	struct store_query q;

	snprintf(name, sizeof(name), "x?user=%0128d", 7);
	name_ok(name, &q);
	assert_int_equal(strlen(q.user), 128);
	store_query_release(&q);
	snprintf(name, sizeof(name), "x?user=%0129d", 7);
	name_fails(name, -EINVAL, "bad value for 'user': expected 1 to 128 bytes");
}

static void test_under_values(void **state)
{
	static const char rel[] =
		"bad value for 'under': expected a folder relative to episodes/";
	static const char dots[] = "bad value for 'under': '..' is not allowed";
	struct store_query q;

	name_ok("x?under=work/", &q);
	assert_string_equal(q.under, "work");
	store_query_release(&q);
	name_ok("x?under=a//b/./c///", &q);
	assert_string_equal(q.under, "a/b/c");
	store_query_release(&q);
	name_ok("x?under=..a/b..", &q);
	assert_string_equal(q.under, "..a/b..");
	store_query_release(&q);

	name_fails("x?under=..", -EINVAL, dots);
	name_fails("x?under=a/../b", -EINVAL, dots);
	name_fails("x?under=a/..", -EINVAL, dots);
	name_fails("x?under=/etc", -EINVAL, rel);
	name_fails("x?under=.", -EINVAL, rel);
	name_fails("x?under=./", -EINVAL, rel);
}

static void test_percent_escapes(void **state)
{
	struct store_query q;

	name_ok("x?under=work%2Fdaily", &q);
	assert_string_equal(q.under, "work/daily");
	store_query_release(&q);
	name_ok("x?user=a%26b%3fc%25d+e", &q);
	assert_string_equal(q.user, "a&b?c%d+e");
	store_query_release(&q);
	name_ok("x?user=caf%C3%A9", &q);
	assert_string_equal(q.user, "caf\xC3\xA9");
	store_query_release(&q);
}

static void test_escaped_dots_are_still_dots(void **state)
{
	name_fails("x?under=%2E%2E%2Fwork", -EINVAL,
		   "bad value for 'under': '..' is not allowed");
}

static void test_bad_percent_escapes(void **state)
{
	name_fails("x?under=a%zz", -EINVAL,
		   "bad value for 'under': '%' must start an escape %XX");
	name_fails("x?under=a%2", -EINVAL,
		   "bad value for 'under': '%' must start an escape %XX");
	name_fails("x?user=%", -EINVAL,
		   "bad value for 'user': '%' must start an escape %XX");
	name_fails("x?user=a%00b", -EINVAL,
		   "bad value for 'user': contains a nul byte");
	/* an unknown key is reported before its value is looked at */
	name_fails("x?foo=%zz", -EINVAL, "unknown option 'foo'");
}

/* ------------------------------------------------------------------ */
/* times                                                              */
/* ------------------------------------------------------------------ */

static int64_t since_of(const char *value)
{
	struct store_query q;
	char name[128];
	int64_t t;

	snprintf(name, sizeof(name), "x?since=%s", value);
	name_ok(name, &q);
	t = q.since;
	store_query_release(&q);
	return t;
}

static void test_iso_times(void **state)
{
	assert_true(since_of("2024-05-01") == 1714521600);
	assert_true(since_of("2024-05-01T08:00:00Z") == 1714550400);
	assert_true(since_of("2024-05-01T08:00Z") == 1714550400);
	assert_true(since_of("2024-05-01t08:00:00z") == 1714550400);
	assert_true(since_of("2024-05-01 08:00:00Z") == 1714550400);
	assert_true(since_of("2024-05-01T08:00:00") == 1714550400);
	assert_true(since_of("2024-05-01T08:00:00.999Z") == 1714550400);
	assert_true(since_of("2024-05-01T10:00:00+02:00") == 1714550400);
	assert_true(since_of("2024-05-01T10:00:00+0200") == 1714550400);
	assert_true(since_of("2024-05-01T10:00:00+02") == 1714550400);
	assert_true(since_of("2024-05-01T06:30:00-01:30") == 1714550400);
	assert_true(since_of("2024-02-29") == 1709164800);
	assert_true(since_of("1969-12-31T23:59:59Z") == -1);
	assert_true(since_of("@1714550400") == 1714550400);
	assert_true(since_of("@-5") == -5);
}

static void test_ages(void **state)
{
	static const struct { const char *v; int64_t secs; } ages[] = {
		{ "30s", 30 }, { "15m", 900 }, { "12h", 43200 },
		{ "7d", 604800 }, { "2w", 1209600 }, { "0d", 0 },
	};
	int64_t before, t;
	size_t i;

	for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		before = (int64_t)time(NULL);
		t = since_of(ages[i].v);
		assert_true(t >= before - ages[i].secs);
		assert_true(t <= (int64_t)time(NULL) - ages[i].secs);
	}
}

static void test_bad_times(void **state)
{
	static const char *const bad[] = {
		"yesterday", "7", "7y", "d", "-7d", "7.5d", "2024-13-01",
		"2024-00-10", "2023-02-29", "2024-04-31", "2024-5-1",
		"24-05-01", "2024-05-01T", "2024-05-01T25:00Z",
		"2024-05-01T10:60Z", "2024-05-01T10:00:61Z",
		"2024-05-01T10:00:00.Z", "2024-05-01T10:00:00+2",
		"2024-05-01T10:00:00+24:00", "2024-05-01Z", "2024-05-01T10Z",
		"@", "@x", "@99999999999999999999", "9999999999999999999999w",
	};
	char name[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "x?until=%s", bad[i]);
		name_fails(name, -EINVAL,
			   "bad value for 'until': expected ISO-8601 time or an age like 7d");
	}
	name_fails("x?since=1d&until=7d", -EINVAL,
		   "'since' is later than 'until'");
	name_fails("x?since=2024-05-02&until=2024-05-01", -EINVAL,
		   "'since' is later than 'until'");
}

/* ------------------------------------------------------------------ */
/* bodies                                                             */
/* ------------------------------------------------------------------ */

static void test_plain_body(void **state)
{
	struct store_query q;

	body_ok("where is alice?", &q);
	assert_string_equal(q.cue, "where is alice?");
	assert_defaults(&q);
	store_query_release(&q);

	/* newlines inside the cue are kept, the ends are trimmed */
	body_ok("\n  line one\nline two\n\n", &q);
	assert_string_equal(q.cue, "line one\nline two");
	store_query_release(&q);

	/* one line "cue?options" is all cue: options go on their own line */
	body_ok("coffee?limit=3", &q);
	assert_string_equal(q.cue, "coffee?limit=3");
	assert_int_equal(q.limit, 0);
	store_query_release(&q);
}

static void test_body_options_line(void **state)
{
	struct store_query q;

	body_ok("coffee with\nalice?\n?limit=3&format=json&since=7d\n\n", &q);
	assert_string_equal(q.cue, "coffee with\nalice?");
	assert_int_equal(q.limit, 3);
	assert_int_equal(q.format, STORE_FORMAT_JSON);
	assert_true(q.since < (int64_t)time(NULL));
	store_query_release(&q);

	body_ok("cue\r\n  ? under=work%2Fdaily \r\n", &q);
	assert_string_equal(q.cue, "cue");
	assert_string_equal(q.under, "work/daily");
	store_query_release(&q);

	/* a last line that is not options-shaped is cue */
	body_ok("cue\n?what now", &q);
	assert_string_equal(q.cue, "cue\n?what now");
	store_query_release(&q);
	body_ok("cue\n?", &q);
	assert_string_equal(q.cue, "cue\n?");
	store_query_release(&q);
	/* only the last line counts */
	body_ok("cue\n?limit=3\nmore", &q);
	assert_string_equal(q.cue, "cue\n?limit=3\nmore");
	assert_int_equal(q.limit, 0);
	store_query_release(&q);
}

static void test_body_options_errors(void **state)
{
	body_fails("cue\n?colour=red", -EINVAL, "unknown option 'colour'");
	body_fails("cue\n?limit=1&limit=2", -EINVAL, "option 'limit' given twice");
	body_fails("cue\n?limit=0", -EINVAL, "limit must be between 1 and 10000");
	body_fails("?limit=3\n", -EINVAL, "empty cue");
	body_fails("\n\n?limit=3", -EINVAL, "empty cue");
	body_fails("", -EINVAL, "empty cue");
	body_fails(" \n\t", -EINVAL, "empty cue");
}

static void test_body_size_limit(void **state)
{
	char *buf = malloc(STORE_QUERY_MAX + 1);
	struct store_query q;
	char why[WHY];

	assert_non_null(buf);
	memset(buf, 'a', STORE_QUERY_MAX + 1);
	assert_int_equal(store_query_parse_body(buf, STORE_QUERY_MAX, &q, why,
						WHY), 0);
	assert_int_equal(strlen(q.cue), STORE_QUERY_MAX);
	store_query_release(&q);
	assert_int_equal(store_query_parse_body(buf, STORE_QUERY_MAX + 1, &q,
						why, WHY), -EFBIG);
	assert_string_equal(why, "query longer than 65536 bytes");
	free(buf);
}

static void test_body_with_byte_order_mark(void **state)
{
	struct store_query q;

	body_ok("\xEF\xBB\xBF{\"cue\":\"x\"}", &q);
	assert_string_equal(q.cue, "x");
	store_query_release(&q);
}

static void test_json_body(void **state)
{
	struct store_query q;

	body_ok("  {\"cue\": \"coffee with alice\", \"limit\": 5,"
		" \"format\": \"json\", \"mode\": \"episodic\","
		" \"under\": \"work/\", \"user\": \"bob\","
		" \"since\": \"2024-05-01\", \"until\": 1714644000,"
		" \"min_confidence\": 0.5, \"budget\": 100}\n", &q);
	assert_string_equal(q.cue, "coffee with alice");
	assert_int_equal(q.limit, 5);
	assert_int_equal(q.format, STORE_FORMAT_JSON);
	assert_int_equal(q.mode, STORE_MODE_EPISODIC);
	assert_string_equal(q.under, "work");
	assert_string_equal(q.user, "bob");
	assert_true(q.since == 1714521600);
	assert_true(q.until == 1714644000);
	assert_true(q.min_confidence == 0.5);
	assert_int_equal(q.budget, 100);
	store_query_release(&q);

	/* literal values: no %-decoding, and newlines in the cue are kept */
	body_ok("{\"cue\": \" a\\nb?limit=3 \", \"user\": \"50%25\"}", &q);
	assert_string_equal(q.cue, "a\nb?limit=3");
	assert_string_equal(q.user, "50%25");
	assert_int_equal(q.limit, 0);
	store_query_release(&q);

	/* numbers: fractional unix time, integer confidence, 7d string */
	body_ok("{\"cue\":\"x\",\"since\":1714550400.7,\"min_confidence\":1,"
		"\"until\":\"0d\"}", &q);
	assert_true(q.since == 1714550400);
	assert_true(q.min_confidence == 1);
	store_query_release(&q);

	body_ok("{\"cue\":\"x\",\"min_confidence\":1e-5}", &q);
	assert_true(q.min_confidence == 1e-5);
	store_query_release(&q);

	/* null means "not given" */
	body_ok("{\"cue\":\"x\",\"under\":null,\"limit\":null}", &q);
	assert_defaults(&q);
	store_query_release(&q);
}

static void test_json_body_errors(void **state)
{
	body_fails("{\"limit\": 3}", -EINVAL, "bad json: missing 'cue'");
	body_fails("{\"cue\": null}", -EINVAL, "bad json: missing 'cue'");
	body_fails("{\"cue\": \"  \"}", -EINVAL, "empty cue");
	body_fails("{\"cue\": 3}", -EINVAL,
		   "wrong type for 'cue': expected a string");
	body_fails("{\"cue\": \"x\", \"colour\": \"red\"}", -EINVAL,
		   "unknown option 'colour'");
	body_fails("{\"cue\": \"x\", \"limit\": \"3\"}", -EINVAL,
		   "wrong type for 'limit': expected an integer");
	body_fails("{\"cue\": \"x\", \"limit\": 3.5}", -EINVAL,
		   "wrong type for 'limit': expected an integer");
	body_fails("{\"cue\": \"x\", \"limit\": 0}", -EINVAL,
		   "limit must be between 1 and 10000");
	body_fails("{\"cue\": \"x\", \"limit\": 1e12}", -EINVAL,
		   "wrong type for 'limit': expected an integer");
	body_fails("{\"cue\": \"x\", \"budget\": -1}", -EINVAL,
		   "bad value for 'budget': expected a whole number of bytes between 1 and 1073741824");
	body_fails("{\"cue\": \"x\", \"format\": 1}", -EINVAL,
		   "wrong type for 'format': expected a string");
	body_fails("{\"cue\": \"x\", \"since\": true}", -EINVAL,
		   "wrong type for 'since': expected a string or a number");
	body_fails("{\"cue\": \"x\", \"since\": 1e300}", -EINVAL,
		   "bad value for 'since': expected ISO-8601 time or an age like 7d");
	body_fails("{\"cue\": \"x\", \"min_confidence\": \"0.5\"}", -EINVAL,
		   "wrong type for 'min_confidence': expected a number");
	body_fails("{\"cue\": \"x\", \"min_confidence\": 2}", -EINVAL,
		   "bad value for 'min_confidence': expected a number between 0 and 1");
	body_fails("{\"cue\": \"x\", \"under\": \"../x\"}", -EINVAL,
		   "bad value for 'under': '..' is not allowed");
	body_fails("{\"cue\": \"x\", \"user\": \"\"}", -EINVAL,
		   "empty value for 'user'");
	body_fails("{\"cue\": \"x\", \"user\": \"a\\u0000b\"}", -EINVAL,
		   "bad value for 'user': contains a nul byte");
	body_fails("{\"cue\": \"a\\u0000b\"}", -EINVAL,
		   "cue contains a nul byte");
	body_fails("{\"cue\": \"x\", \"mode\": [\"auto\"]}", -EINVAL,
		   "wrong type for 'mode': expected a string");
}

static void test_json_body_syntax_errors(void **state)
{
	struct store_query q;
	char why[WHY];

	body_fails("{\"cue\": \"x\"", -EINVAL, "bad json: unexpected end of input");
	body_fails("{\"cue\": \"x\"} trailing", -EINVAL,
		   "bad json: text after the closing brace");
	body_fails("{\"cue\": \"x\"}{}", -EINVAL,
		   "bad json: text after the closing brace");
	assert_int_equal(store_query_parse_body("{'cue': 'x'}", 12, &q, why,
						WHY), -EINVAL);
	assert_true(strncmp(why, "bad json: ", 10) == 0);
	assert_int_equal(store_query_parse_body("{\"cue\":\"x\",}", 12, &q, why,
						WHY), -EINVAL);
	assert_true(strncmp(why, "bad json: ", 10) == 0);
	/* a body that does not start with '{' is text, even if it is JSON */
	body_ok("[\"x\"]", &q);
	assert_string_equal(q.cue, "[\"x\"]");
	store_query_release(&q);
}

static void test_release(void **state)
{
	struct store_query q;

	memset(&q, 0, sizeof(q));
	store_query_release(&q);
	store_query_release(NULL);
	name_ok("x?under=a&user=b", &q);
	store_query_release(&q);
	assert_null(q.cue);
	assert_null(q.under);
	assert_null(q.user);
	store_query_release(&q);
}

/* ------------------------------------------------------------------ */
/* formatting                                                         */
/* ------------------------------------------------------------------ */

static char n1[] = "work/standup", s1[] = "Met Alice for coffee";
static char n2[] = "tab\there\nnl", s2[] = "snip\tpet\r";
static char n3[] = "bad\xff\xc0\xafutf8", s3[] = "\xed\xa0\x80 surrogate";

static struct store_result results3[] = {
	{ .ino = 17, .name = n1, .score = 0.87654,
	  .pathway = STORE_PATHWAY_EPISODIC, .when = 1795252584,
	  .confidence = 0.7, .snippet = s1 },
	{ .ino = 18, .name = n2, .score = 0.5,
	  .pathway = STORE_PATHWAY_CONVERGENT, .when = 0, .confidence = 1.0,
	  .snippet = s2 },
	{ .ino = 19, .name = n3, .score = 0.1,
	  .pathway = STORE_PATHWAY_COMPLETED, .when = 1714550400,
	  .confidence = 0.25, .snippet = s3 },
};

static struct store_results make_results(size_t n)
{
	struct store_results r;

	memset(&r, 0, sizeof(r));
	r.v = results3;
	r.n = n;
	r.mode = STORE_MODE_BLENDED;
	r.cohort = STORE_COHORT_TREATMENT;
	r.cohort_applies = true;
	return r;
}

static struct store_query make_query(enum store_format f, size_t budget)
{
	static char cue[] = "coffee";
	struct store_query q;

	memset(&q, 0, sizeof(q));
	q.cue = cue;
	q.format = f;
	q.budget = budget;
	return q;
}

static char *format(const struct store_results *r, const struct store_query *q,
		    const char *mount, size_t *len)
{
	char *out = NULL;

	assert_int_equal(store_results_format(r, q, mount, &out, len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), *len);
	return out;
}

static const char line1[] =
	"work/standup\t0.8765\tepisodic\t2026-11-21T09:16:24Z\tMet Alice for coffee\n";
static const char line2[] =
	"tab here nl\t0.5000\tconvergent\t1970-01-01T00:00:00Z\tsnip pet \n";

static void test_text_format(void **state)
{
	struct store_results r = make_results(2);
	struct store_query q = make_query(STORE_FORMAT_TEXT, 0);
	char expect[256];
	size_t len;
	char *out = format(&r, &q, NULL, &len);

	snprintf(expect, sizeof(expect), "%s%s", line1, line2);
	assert_string_equal(out, expect);
	free(out);
}

static void test_text_format_budget(void **state)
{
	struct store_results r = make_results(3);
	struct store_query q = make_query(STORE_FORMAT_TEXT,
					  strlen(line1) + strlen(line2) - 1);
	size_t len;
	char *out = format(&r, &q, NULL, &len);

	assert_string_equal(out, line1);
	free(out);
	q.budget = strlen(line1) + strlen(line2);
	out = format(&r, &q, NULL, &len);
	assert_int_equal(len, q.budget);
	free(out);
	q.budget = strlen(line1) - 1;
	out = format(&r, &q, NULL, &len);
	assert_int_equal(len, 0);
	free(out);
}

static void test_empty_results(void **state)
{
	struct store_results r = make_results(0);
	struct store_query q = make_query(STORE_FORMAT_TEXT, 0);
	size_t len = 99;
	char *out = format(&r, &q, "/mnt", &len);

	assert_int_equal(len, 0);
	free(out);
	q.format = STORE_FORMAT_PATHS;
	out = format(&r, &q, "/mnt", &len);
	assert_int_equal(len, 0);
	free(out);
	q.format = STORE_FORMAT_JSON;
	out = format(&r, &q, "/mnt", &len);
	assert_string_equal(out, "{\"cue\":\"coffee\",\"mode\":\"blended\","
			    "\"cohort\":\"treatment\",\"results\":[]}\n");
	free(out);
}

static void test_paths_format(void **state)
{
	struct store_results r = make_results(3);
	struct store_query q = make_query(STORE_FORMAT_PATHS, 0);
	char *out = NULL;
	size_t len;

	out = format(&r, &q, "/mnt/e/", &len);
	/* the name holding a newline cannot be a line, so it is left out */
	assert_string_equal(out, "/mnt/e/episodes/work/standup\n"
			    "/mnt/e/episodes/bad\xff\xc0\xafutf8\n");
	free(out);
	out = format(&r, &q, "/", &len);
	assert_string_equal(out, "/episodes/work/standup\n"
			    "/episodes/bad\xff\xc0\xafutf8\n");
	free(out);
	q.budget = strlen("/m/episodes/work/standup\n");
	out = format(&r, &q, "/m", &len);
	assert_string_equal(out, "/m/episodes/work/standup\n");
	free(out);
	assert_int_equal(store_results_format(&r, &q, NULL, &out, &len),
			 -EINVAL);
}

static bool valid_utf8(const char *s, size_t n)
{
	const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;

	while (n > 0) {
		k = utf8proc_iterate(u, (utf8proc_ssize_t)n, &cp);
		if (k <= 0)
			return false;
		u += k;
		n -= (size_t)k;
	}
	return true;
}

/* Parse OUT strictly, as a JSON consumer would. */
static struct json_object *parse_json(const char *out, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	assert_true(len > 0 && out[len - 1] == '\n');
	assert_true(valid_utf8(out, len));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, out, (int)len - 1);
	assert_non_null(o);
	assert_int_equal(json_tokener_get_parse_end(tok), len - 1);
	json_tokener_free(tok);
	return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static void test_json_format(void **state)
{
	struct store_results r = make_results(3);
	struct store_query q = make_query(STORE_FORMAT_JSON, 0);
	struct json_object *o, *arr, *e, *v;
	size_t len;
	char *out = format(&r, &q, "/mnt", &len);

	o = parse_json(out, len);
	assert_string_equal(jstr(o, "cue"), "coffee");
	assert_string_equal(jstr(o, "mode"), "blended");
	assert_string_equal(jstr(o, "cohort"), "treatment");
	assert_true(json_object_object_get_ex(o, "results", &arr));
	assert_int_equal(json_object_array_length(arr), 3);
	e = json_object_array_get_idx(arr, 0);
	assert_string_equal(jstr(e, "name"), "work/standup");
	assert_string_equal(jstr(e, "pathway"), "episodic");
	assert_string_equal(jstr(e, "when"), "2026-11-21T09:16:24Z");
	assert_string_equal(jstr(e, "snippet"), "Met Alice for coffee");
	assert_string_equal(jstr(e, "path"), "/mnt/episodes/work/standup");
	assert_true(json_object_object_get_ex(e, "score", &v));
	assert_true(fabs(json_object_get_double(v) - 0.8765) < 1e-9);
	assert_true(json_object_object_get_ex(e, "confidence", &v));
	assert_true(fabs(json_object_get_double(v) - 0.7) < 1e-9);
	/* bytes are kept in JSON strings: tabs and newlines are escaped */
	e = json_object_array_get_idx(arr, 1);
	assert_string_equal(jstr(e, "name"), "tab\there\nnl");
	/* invalid UTF-8 becomes U+FFFD, one per bad byte */
	e = json_object_array_get_idx(arr, 2);
	assert_string_equal(jstr(e, "name"),
			    "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDutf8");
	assert_string_equal(jstr(e, "snippet"),
			    "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD surrogate");
	assert_string_equal(jstr(e, "pathway"), "completed");
	/* '/' is not escaped */
	assert_non_null(strstr(out, "\"work/standup\""));
	json_object_put(o);
	free(out);
}

static void test_json_format_cue_and_cohort(void **state)
{
	static char cue[] = "caf\xe9 \"quoted\"\n";
	struct store_results r = make_results(1);
	struct store_query q = make_query(STORE_FORMAT_JSON, 0);
	struct json_object *o, *v, *e;
	size_t len;
	char *out;

	q.cue = cue;
	r.cohort_applies = false;
	r.mode = STORE_MODE_EPISODIC;
	out = format(&r, &q, NULL, &len);
	o = parse_json(out, len);
	assert_string_equal(jstr(o, "cue"), "caf\xEF\xBF\xBD \"quoted\"\n");
	assert_string_equal(jstr(o, "mode"), "episodic");
	assert_true(json_object_object_get_ex(o, "cohort", &v));
	assert_null(v);
	assert_true(json_object_object_get_ex(o, "results", &v));
	e = json_object_array_get_idx(v, 0);
	assert_false(json_object_object_get_ex(e, "path", NULL));
	json_object_put(o);
	free(out);
}

static void test_json_format_budget(void **state)
{
	struct store_results r = make_results(3);
	struct store_query q = make_query(STORE_FORMAT_JSON, 0);
	struct json_object *o, *arr;
	size_t full, len, budget, count, prev = 0;
	char *out;

	out = format(&r, &q, "/mnt", &full);
	free(out);
	/* every budget yields valid JSON no longer than the budget (once the
	 * envelope fits), with a prefix of the results */
	for (budget = 1; budget <= full + 1; budget++) {
		q.budget = budget;
		out = format(&r, &q, "/mnt", &len);
		o = parse_json(out, len);
		assert_true(json_object_object_get_ex(o, "results", &arr));
		count = json_object_array_length(arr);
		if (count > 0)
			assert_true(len <= budget);
		assert_true(count >= prev);
		if (count > 0)
			assert_string_equal(jstr(json_object_array_get_idx(arr, 0),
						 "name"), "work/standup");
		prev = count;
		json_object_put(o);
		free(out);
	}
	assert_int_equal(prev, 3);
	/* exactly the full length keeps all three; one less drops one */
	q.budget = full;
	out = format(&r, &q, "/mnt", &len);
	assert_int_equal(len, full);
	free(out);
	q.budget = full - 1;
	out = format(&r, &q, "/mnt", &len);
	o = parse_json(out, len);
	assert_true(json_object_object_get_ex(o, "results", &arr));
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_put(o);
	free(out);
}

static void test_json_budget_smaller_than_envelope(void **state)
{
	struct store_results r = make_results(3);
	struct store_query q = make_query(STORE_FORMAT_JSON, 5);
	size_t len;
	char *out = format(&r, &q, NULL, &len);

	assert_string_equal(out, "{\"cue\":\"coffee\",\"mode\":\"blended\","
			    "\"cohort\":\"treatment\",\"results\":[]}\n");
	free(out);
}

static void test_format_rejects_bad_arguments(void **state)
{
	struct store_results r = make_results(1);
	struct store_query q = make_query((enum store_format)7, 0);
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(store_results_format(&r, &q, "/m", &out, &len),
			 -EINVAL);
	assert_null(out);
	q.format = STORE_FORMAT_TEXT;
	r.v = NULL;
	assert_int_equal(store_results_format(&r, &q, "/m", &out, &len),
			 -EINVAL);
	assert_int_equal(store_results_format(&r, NULL, "/m", &out, &len),
			 -EINVAL);
}

static void test_round_trip_name_to_text(void **state)
{
	struct store_results r = make_results(1);
	struct store_query q;
	size_t len;
	char *out;

	name_ok("met alice?format=text&budget=10", &q);
	out = format(&r, &q, NULL, &len);
	assert_int_equal(len, 0);
	free(out);
	store_query_release(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_name_is_cue_with_defaults),
		cmocka_unit_test(test_question_marks_in_questions_are_cue),
		cmocka_unit_test(test_options_follow_the_last_question_mark),
		cmocka_unit_test(test_text_not_shaped_like_options_is_cue),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_format_and_mode_values),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_empty_cue),
		cmocka_unit_test(test_name_too_long),
		cmocka_unit_test(test_name_is_not_nul_terminated),
		cmocka_unit_test(test_why_may_be_null),
		cmocka_unit_test(test_limit_values),
		cmocka_unit_test(test_budget_values),
		cmocka_unit_test(test_min_confidence_values),
		cmocka_unit_test(test_user_values),
		cmocka_unit_test(test_under_values),
		cmocka_unit_test(test_percent_escapes),
		cmocka_unit_test(test_escaped_dots_are_still_dots),
		cmocka_unit_test(test_bad_percent_escapes),
		cmocka_unit_test(test_iso_times),
		cmocka_unit_test(test_ages),
		cmocka_unit_test(test_bad_times),
		cmocka_unit_test(test_plain_body),
		cmocka_unit_test(test_body_options_line),
		cmocka_unit_test(test_body_options_errors),
		cmocka_unit_test(test_body_size_limit),
		cmocka_unit_test(test_body_with_byte_order_mark),
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_json_body_errors),
		cmocka_unit_test(test_json_body_syntax_errors),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_text_format_budget),
		cmocka_unit_test(test_empty_results),
		cmocka_unit_test(test_paths_format),
		cmocka_unit_test(test_json_format),
		cmocka_unit_test(test_json_format_cue_and_cohort),
		cmocka_unit_test(test_json_format_budget),
		cmocka_unit_test(test_json_budget_smaller_than_envelope),
		cmocka_unit_test(test_format_rejects_bad_arguments),
		cmocka_unit_test(test_round_trip_name_to_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
