/*
 * query.c - reading a recall query: recall/ file names and query-file
 * bodies, into one struct store_query.
 *
 * A query arrives in one of three spellings:
 *
 *   recall/NAME        coffee with alice?limit=3&format=json
 *   query, plain text  a long cue, lines kept\n?limit=3&since=7d\n
 *   query, JSON        {"cue": "coffee with alice", "limit": 3}
 *
 * Where the options are.  In a name they follow the LAST '?', and only
 * when the text after it has the shape of options: every '&'-separated
 * part is [a-z_]+ '=' VALUE.  The shape decides, not the keys: "where is
 * alice?" and "is e=mc2? really" are plain cues, while "x?colour=red" is
 * an options part with an unknown key and fails with EINVAL, so that a
 * misspelt key is an error and not a silent change of cue.  In a plain
 * body the options stand alone on the last non-empty line, which starts
 * with '?'; a one-line body "cue?limit=3" is all cue.  Blanks around the
 * options part are ignored.  Empty parts ("a=1&&b=2", a trailing '&')
 * break the shape, so such a text is cue.
 *
 * Values in names and options lines may use %XX escapes: %26 for '&',
 * %3F for '?', %25 for '%', %2F for '/' (a name cannot carry '/', so
 * "under=work%2Fdaily" is how a name says "work/daily").  '+' is a plus
 * sign, not a space: file names are not form-encoded, and ISO offsets
 * ("+02:00") need it.  JSON values are taken literally.
 *
 * One table (query_opts) knows the keys.  Every spelling funnels into
 * query_claim() (unknown key, repeated key) and query_set() (empty value,
 * NUL byte, then the key's own setter), so a value is checked by one piece
 * of code only.  JSON numbers are first written as text: since/until as
 * "@SECONDS", which the time parser also accepts from names (GNU date's
 * spelling of unix time).
 *
 * Times.  since/until take 2024-05-01 (midnight UTC), 2024-05-01T10:00Z,
 * 2024-05-01T10:00:00[.fff](Z|+HH:MM|-HH:MM|+HHMM|+HH), 'T' may be 't' or
 * a space, a clock without a zone is UTC (everything engramfs prints is
 * UTC); or an age 30s 15m 12h 7d 2w, meaning now minus that; or @SECONDS.
 *
 * Invariants:
 *  1. Parsing fills a private struct query_parse; *q is written only on
 *     success and nothing leaks on failure.  A previous content of *q is
 *     overwritten, not released.
 *  2. On failure why gets one lower-case line without final period; on
 *     success why is untouched.  why may be NULL.
 *  3. On success cue is non-empty, trimmed, without NUL bytes, and
 *     since <= until.
 *
 * Rejected: deciding "is it options?" by known keys (a typo would turn
 * options into cue words); '+' as space (see above); JSON strings for
 * numbers ("limit": "3") - the types say what the caller meant.
 * json-c keeps the last of repeated JSON keys, so the body's top-level
 * keys are also scanned in the raw text (query_json_repeated) to refuse a
 * repeated key as names and options lines do.  Keys are compared as
 * written: "cue" and "\u0063ue" are not caught as the same key.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "store.h"

#define QUERY_LIMIT_MAX  10000		/* hard cap; recall.max_limit may be lower */
#define QUERY_BUDGET_MAX (1u << 30)	/* 1 GiB of answer is surely a mistake */
#define QUERY_USER_MAX   128		/* cohort keys are ids, not essays */
#define QUERY_UNDER_MAX  4095		/* PATH_MAX less its NUL */
#define QUERY_NUM_MAX    64		/* longer number text is not a number */

struct query_parse {
	struct store_query q;
	unsigned seen;		/* bit i: query_opts[i] was given */
	int64_t now;		/* unix seconds, for ages */
	char *why;
	size_t whylen;
};

typedef int query_set_fn(struct query_parse *p, const char *key,
			 const char *v, size_t n);

/* What a JSON body may give for a key; JEPOCH: numbers are unix time. */
enum { QUERY_JSTR = 1, QUERY_JINT = 2, QUERY_JDBL = 4, QUERY_JEPOCH = 8 };

struct query_opt {
	const char *key;
	query_set_fn *set;
	unsigned json;		/* QUERY_J* */
	const char *jwant;	/* for "wrong type" */
};

static int query_fail(struct query_parse *p, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int query_fail(struct query_parse *p, int err, const char *fmt, ...)
{
	va_list ap;

	if (p->why && p->whylen) {
		va_start(ap, fmt);
		vsnprintf(p->why, p->whylen, fmt, ap);
		va_end(ap);
		/* a reason is one line, whatever bytes the name carried */
		store_log_sanitise(p->why);
	}
	return err;
}

static int query_oom(struct query_parse *p)
{
	return query_fail(p, -ENOMEM, "out of memory");
}

static bool query_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static void query_trim(const char **s, size_t *n)
{
	while (*n && query_is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && query_is_space((*s)[*n - 1]))
		(*n)--;
}

/* All digits (at least one); saturates at UINT64_MAX so a range check
 * catches overflow. */
static bool query_digits(const char *v, size_t n, uint64_t *out)
{
	uint64_t u = 0;
	unsigned d;
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		d = (unsigned)(v[i] - '0');
		u = u > (UINT64_MAX - d) / 10 ? UINT64_MAX : u * 10 + d;
	}
	*out = u;
	return true;
}

/* Index of <v, n> in the NULL-terminated CHOICES, or -1. */
static int query_choice(const char *v, size_t n, const char *const *choices)
{
	int i;

	for (i = 0; choices[i]; i++)
		if (strlen(choices[i]) == n && memcmp(choices[i], v, n) == 0)
			return i;
	return -1;
}

static int query_dup(struct query_parse *p, char **dst, const char *v,
		     size_t n)
{
	*dst = strndup(v, n);
	return *dst ? 0 : query_oom(p);
}

/* ------------------------------------------------------------------ */
/* Setters, one per key                                               */
/* ------------------------------------------------------------------ */

static int query_set_limit(struct query_parse *p, const char *key,
			   const char *v, size_t n)
{
	uint64_t u;

	if (!query_digits(v, n, &u))
		return query_fail(p, -EINVAL,
				  "bad value for 'limit': expected a whole number between 1 and %d",
				  QUERY_LIMIT_MAX);
	if (u < 1 || u > QUERY_LIMIT_MAX)
		return query_fail(p, -EINVAL,
				  "limit must be between 1 and %d",
				  QUERY_LIMIT_MAX);
	p->q.limit = (size_t)u;
	return 0;
}

static int query_set_budget(struct query_parse *p, const char *key,
			    const char *v, size_t n)
{
	uint64_t u;

	if (!query_digits(v, n, &u) || u < 1 || u > QUERY_BUDGET_MAX)
		return query_fail(p, -EINVAL,
				  "bad value for 'budget': expected a whole number of bytes between 1 and %u",
				  QUERY_BUDGET_MAX);
	p->q.budget = (size_t)u;
	return 0;
}

static int query_set_format(struct query_parse *p, const char *key,
			    const char *v, size_t n)
{
	static const char *const names[] = { "text", "json", "paths", NULL };
	int i = query_choice(v, n, names);

	if (i < 0)
		return query_fail(p, -EINVAL,
				  "bad value for 'format': expected one of text json paths");
	p->q.format = (enum store_format)i;
	return 0;
}

static int query_set_mode(struct query_parse *p, const char *key,
			  const char *v, size_t n)
{
	static const char *const names[] = { "auto", "episodic", "semantic",
					     "blended", NULL };
	int i = query_choice(v, n, names);

	if (i < 0)
		return query_fail(p, -EINVAL,
				  "bad value for 'mode': expected one of auto episodic semantic blended");
	p->q.mode = (enum store_mode)i;
	return 0;
}

static int query_set_user(struct query_parse *p, const char *key,
			  const char *v, size_t n)
{
	if (n > QUERY_USER_MAX)
		return query_fail(p, -EINVAL,
				  "bad value for 'user': expected 1 to %d bytes",
				  QUERY_USER_MAX);
	return query_dup(p, &p->q.user, v, n);
}

static int query_set_confidence(struct query_parse *p, const char *key,
				const char *v, size_t n)
{
	char buf[QUERY_NUM_MAX], *end;
	double d;
	size_t i;

	/* strtod alone would take "nan", "inf" and hex floats */
	for (i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", v[i]))
			break;
	if (i == n && n < sizeof(buf)) {
		memcpy(buf, v, n);
		buf[n] = '\0';
		d = strtod(buf, &end);
		if (end == buf + n && d >= 0 && d <= 1) {
			p->q.min_confidence = d;
			return 0;
		}
	}
	return query_fail(p, -EINVAL,
			  "bad value for 'min_confidence': expected a number between 0 and 1");
}

/*
 * under: relative to episodes/; empty components and "." are dropped, a
 * trailing '/' is stripped, ".." is refused (a query must not climb out).
 */
static int query_set_under(struct query_parse *p, const char *key,
			   const char *v, size_t n)
{
	const char *c = v, *end = v + n, *slash;
	char *s;
	size_t o = 0, k;

	if (v[0] == '/' || n > QUERY_UNDER_MAX)
		return query_fail(p, -EINVAL,
				  "bad value for 'under': expected a folder relative to episodes/");
	s = malloc(n + 1);
	if (!s)
		return query_oom(p);
	for (; c < end; c = slash + 1) {
		slash = memchr(c, '/', (size_t)(end - c));
		if (!slash)
			slash = end;
		k = (size_t)(slash - c);
		if (k == 2 && c[0] == '.' && c[1] == '.') {
			free(s);
			return query_fail(p, -EINVAL,
					  "bad value for 'under': '..' is not allowed");
		}
		if (k == 0 || (k == 1 && c[0] == '.'))
			continue;
		if (o)
			s[o++] = '/';
		memcpy(s + o, c, k);
		o += k;
	}
	s[o] = '\0';
	if (o == 0) {
		free(s);
		return query_fail(p, -EINVAL,
				  "bad value for 'under': expected a folder relative to episodes/");
	}
	p->q.under = s;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Times                                                              */
/* ------------------------------------------------------------------ */

/* Exactly N digits at *s, advancing *s. */
static bool query_fixed(const char **s, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *s < n)
		return false;
	for (; n > 0; n--, (*s)++) {
		if (**s < '0' || **s > '9')
			return false;
		v = v * 10 + (**s - '0');
	}
	*out = v;
	return true;
}

static bool query_take(const char **s, const char *end, const char *set)
{
	if (*s < end && **s && strchr(set, **s)) {
		(*s)++;
		return true;
	}
	return false;
}

static int query_mdays(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
				      30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD */
static bool query_iso_date(const char **s, const char *end, struct tm *tm)
{
	int y, m, d;

	if (!query_fixed(s, end, 4, &y) || !query_take(s, end, "-") ||
	    !query_fixed(s, end, 2, &m) || !query_take(s, end, "-") ||
	    !query_fixed(s, end, 2, &d))
		return false;
	if (m < 1 || m > 12 || d < 1 || d > query_mdays(y, m))
		return false;
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	return true;
}

/* HH:MM[:SS[.fff]]; the fraction is read and dropped. */
static bool query_iso_clock(const char **s, const char *end, struct tm *tm)
{
	int h, m, sec = 0;

	if (!query_fixed(s, end, 2, &h) || !query_take(s, end, ":") ||
	    !query_fixed(s, end, 2, &m) || h > 23 || m > 59)
		return false;
	if (query_take(s, end, ":")) {
		if (!query_fixed(s, end, 2, &sec) || sec > 59)
			return false;
		if (query_take(s, end, ".") && !query_take(s, end, "0123456789"))
			return false;
		while (query_take(s, end, "0123456789"))
			;
	}
	tm->tm_hour = h;
	tm->tm_min = m;
	tm->tm_sec = sec;
	return true;
}

/* Nothing (UTC), Z, or +HH[[:]MM] / -HH[[:]MM]; *off in seconds east. */
static bool query_iso_zone(const char **s, const char *end, int64_t *off)
{
	int sign, h, m = 0;

	*off = 0;
	if (*s == end || query_take(s, end, "Zz"))
		return true;
	if (**s != '+' && **s != '-')
		return false;
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (!query_fixed(s, end, 2, &h) || h > 23)
		return false;
	if (*s < end) {
		query_take(s, end, ":");
		if (!query_fixed(s, end, 2, &m) || m > 59)
			return false;
	}
	*off = sign * (h * 3600 + m * 60);
	return true;
}

static bool query_iso(const char *s, const char *end, int64_t *out)
{
	struct tm tm;
	int64_t off = 0;

	memset(&tm, 0, sizeof(tm));
	if (!query_iso_date(&s, end, &tm))
		return false;
	if (s < end && (!query_take(&s, end, "Tt ") ||
			!query_iso_clock(&s, end, &tm) ||
			!query_iso_zone(&s, end, &off)))
		return false;
	if (s != end)
		return false;
	/* fields were range-checked, so timegm cannot fail here */
	*out = (int64_t)timegm(&tm) - off;
	return true;
}

/* 30s 15m 12h 7d 2w: NOW minus that. */
static bool query_age(const char *v, size_t n, int64_t now, int64_t *out)
{
	static const char units[] = "smhdw";
	static const int64_t secs[] = { 1, 60, 3600, 86400, 7 * 86400 };
	const char *u;
	uint64_t k;

	if (n < 2 || !(u = memchr(units, v[n - 1], sizeof(units) - 1)) ||
	    !query_digits(v, n - 1, &k))
		return false;
	if (k > (uint64_t)INT64_MAX / (uint64_t)secs[u - units])
		return false;
	/* now >= 0 and age <= INT64_MAX: the difference fits */
	*out = now - (int64_t)k * secs[u - units];
	return true;
}

/* @SECONDS, possibly negative. */
static bool query_epoch(const char *v, size_t n, int64_t *out)
{
	bool neg = n > 1 && v[1] == '-';
	uint64_t k;

	if (n < 2 || v[0] != '@' || !query_digits(v + 1 + neg, n - 1 - neg, &k) ||
	    k > (uint64_t)INT64_MAX)
		return false;
	*out = neg ? -(int64_t)k : (int64_t)k;
	return true;
}

static int query_set_time(struct query_parse *p, const char *key,
			  const char *v, size_t n)
{
	int64_t t;

	if (!query_epoch(v, n, &t) && !query_age(v, n, p->now, &t) &&
	    !query_iso(v, v + n, &t))
		return query_fail(p, -EINVAL,
				  "bad value for '%s': expected ISO-8601 time or an age like 7d",
				  key);
	if (strcmp(key, "since") == 0)
		p->q.since = t;
	else
		p->q.until = t;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The table and the funnel                                           */
/* ------------------------------------------------------------------ */

static const struct query_opt query_opts[] = {
	{ "limit", query_set_limit, QUERY_JINT, "an integer" },
	{ "format", query_set_format, QUERY_JSTR, "a string" },
	{ "mode", query_set_mode, QUERY_JSTR, "a string" },
	{ "under", query_set_under, QUERY_JSTR, "a string" },
	{ "user", query_set_user, QUERY_JSTR, "a string" },
	{ "since", query_set_time, QUERY_JSTR | QUERY_JINT | QUERY_JDBL |
	  QUERY_JEPOCH, "a string or a number" },
	{ "until", query_set_time, QUERY_JSTR | QUERY_JINT | QUERY_JDBL |
	  QUERY_JEPOCH, "a string or a number" },
	{ "min_confidence", query_set_confidence, QUERY_JINT | QUERY_JDBL,
	  "a number" },
	{ "budget", query_set_budget, QUERY_JINT, "an integer" },
};
#define QUERY_NOPTS (sizeof(query_opts) / sizeof(query_opts[0]))

/* Find KEY in the table and mark it given: its index, or -EINVAL. */
static int query_claim(struct query_parse *p, const char *key, size_t klen)
{
	size_t i;

	for (i = 0; i < QUERY_NOPTS; i++)
		if (strlen(query_opts[i].key) == klen &&
		    memcmp(query_opts[i].key, key, klen) == 0)
			break;
	if (i == QUERY_NOPTS)
		return query_fail(p, -EINVAL, "unknown option '%.*s'",
				  (int)klen, key);
	if (p->seen & (1u << i))
		return query_fail(p, -EINVAL, "option '%s' given twice",
				  query_opts[i].key);
	p->seen |= 1u << i;
	return (int)i;
}

static int query_set(struct query_parse *p, int i, const char *v, size_t n)
{
	const char *key = query_opts[i].key;

	if (n == 0)
		return query_fail(p, -EINVAL, "empty value for '%s'", key);
	if (memchr(v, '\0', n))
		return query_fail(p, -EINVAL,
				  "bad value for '%s': contains a nul byte", key);
	return query_opts[i].set(p, key, v, n);
}

static int query_cue(struct query_parse *p, const char *s, size_t n)
{
	query_trim(&s, &n);
	if (n == 0)
		return query_fail(p, -EINVAL, "empty cue");
	if (memchr(s, '\0', n))
		return query_fail(p, -EINVAL, "cue contains a nul byte");
	return query_dup(p, &p->q.cue, s, n);
}

/* ------------------------------------------------------------------ */
/* Options text: key=value&key=value                                  */
/* ------------------------------------------------------------------ */

/* Every '&'-separated part is [a-z_]+ '=' anything. */
static bool query_is_options(const char *s, size_t n)
{
	const char *c = s, *end = s + n, *k;

	if (n == 0)
		return false;
	for (;;) {
		k = c;
		while (c < end && ((*c >= 'a' && *c <= 'z') || *c == '_'))
			c++;
		if (c == k || c == end || *c != '=')
			return false;
		c = memchr(c, '&', (size_t)(end - c));
		if (!c)
			return true;
		c++;
	}
}

static int query_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode %XX escapes of <v, n> into DST (room for n bytes). */
static int query_unescape(struct query_parse *p, int i, const char *v,
			  size_t n, char *dst, size_t *dlen)
{
	size_t o = 0, j;
	int hi, lo;

	for (j = 0; j < n; j++) {
		if (v[j] != '%') {
			dst[o++] = v[j];
			continue;
		}
		hi = j + 2 < n ? query_hex(v[j + 1]) : -1;
		lo = j + 2 < n ? query_hex(v[j + 2]) : -1;
		if (hi < 0 || lo < 0)
			return query_fail(p, -EINVAL,
					  "bad value for '%s': '%%' must start an escape %%XX",
					  query_opts[i].key);
		dst[o++] = (char)(hi * 16 + lo);
		j += 2;
	}
	*dlen = o;
	return 0;
}

/* Apply an options text already known to be options-shaped. */
static int query_options(struct query_parse *p, const char *s, size_t n)
{
	const char *c = s, *end = s + n, *eq, *amp;
	char *buf = malloc(n + 1);
	size_t dlen = 0;
	int i, err = 0;

	if (!buf)
		return query_oom(p);
	for (; !err && c < end; c = amp + 1) {
		amp = memchr(c, '&', (size_t)(end - c));
		if (!amp)
			amp = end;
		eq = memchr(c, '=', (size_t)(amp - c));
		i = query_claim(p, c, (size_t)(eq - c));
		if (i < 0)
			err = i;
		else
			err = query_unescape(p, i, eq + 1,
					     (size_t)(amp - eq - 1), buf, &dlen);
		if (!err)
			err = query_set(p, i, buf, dlen);
	}
	free(buf);
	return err;
}

/* ------------------------------------------------------------------ */
/* JSON bodies                                                        */
/* ------------------------------------------------------------------ */

/* The value of option I as text, in NUM when it is a number. */
static int query_json_text(struct query_parse *p, int i,
			   struct json_object *v, char num[QUERY_NUM_MAX],
			   const char **text, size_t *n)
{
	const struct query_opt *o = &query_opts[i];
	enum json_type t = json_object_get_type(v);
	double d;

	*text = num;
	if (t == json_type_string && (o->json & QUERY_JSTR)) {
		*text = json_object_get_string(v);
		*n = (size_t)json_object_get_string_len(v);
		return 0;
	}
	if (t == json_type_int && (o->json & QUERY_JINT)) {
		*n = (size_t)snprintf(num, QUERY_NUM_MAX, "%s%" PRId64,
				      o->json & QUERY_JEPOCH ? "@" : "",
				      json_object_get_int64(v));
		return 0;
	}
	if (t == json_type_double && (o->json & QUERY_JDBL)) {
		d = json_object_get_double(v);
		if (!(o->json & QUERY_JEPOCH))
			*n = (size_t)snprintf(num, QUERY_NUM_MAX, "%.17g", d);
		else if (d > -9e18 && d < 9e18)	/* fits int64_t */
			*n = (size_t)snprintf(num, QUERY_NUM_MAX, "@%" PRId64,
					      (int64_t)floor(d));
		else
			return query_fail(p, -EINVAL,
					  "bad value for '%s': expected ISO-8601 time or an age like 7d",
					  o->key);
		return 0;
	}
	return query_fail(p, -EINVAL, "wrong type for '%s': expected %s",
			  o->key, o->jwant);
}

static int query_json_member(struct query_parse *p, const char *key,
			     struct json_object *v)
{
	char num[QUERY_NUM_MAX];
	const char *text;
	size_t n = 0;
	int i, err;

	if (strcmp(key, "cue") == 0) {
		if (json_object_is_type(v, json_type_null))
			return 0;	/* reported as missing */
		if (!json_object_is_type(v, json_type_string))
			return query_fail(p, -EINVAL,
					  "wrong type for 'cue': expected a string");
		return query_cue(p, json_object_get_string(v),
				 (size_t)json_object_get_string_len(v));
	}
	i = query_claim(p, key, strlen(key));
	if (i < 0)
		return i;
	if (json_object_is_type(v, json_type_null))
		return 0;	/* null: as if not given */
	err = query_json_text(p, i, v, num, &text, &n);
	return err ? err : query_set(p, i, text, n);
}

static int query_json_check(struct query_parse *p, struct json_tokener *tok,
			    struct json_object *obj, const char *s, size_t n)
{
	enum json_tokener_error e = json_tokener_get_error(tok);
	size_t end;

	if (!obj && e == json_tokener_continue)
		return query_fail(p, -EINVAL, "bad json: unexpected end of input");
	if (!obj)
		return query_fail(p, -EINVAL, "bad json: %s",
				  json_tokener_error_desc(e));
	end = json_tokener_get_parse_end(tok);
	while (end < n && query_is_space(s[end]))
		end++;
	if (end < n)
		return query_fail(p, -EINVAL,
				  "bad json: text after the closing brace");
	if (!json_object_is_type(obj, json_type_object))
		return query_fail(p, -EINVAL, "bad json: expected an object");
	return 0;
}

/* The span of the top-level key that starts at S[i] ('"'). */
static size_t query_json_key_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n && s[i] != '"'; i++)
		if (s[i] == '\\')
			i++;
	return i;
}

/*
 * A top-level key written twice in the raw text S of a parsed object:
 * its name into KEY, true.  Walks strings, escapes and nesting; a key is
 * a string at depth 1 right after '{' or ','.
 */
static bool query_json_repeated(const char *s, size_t n, char *key,
				size_t keysize)
{
	size_t start[64], len[64], k = 0, depth = 0;
	bool want_key = false;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '"') {
			size_t e = query_json_key_end(s, n, i);

			if (depth == 1 && want_key && k < 64) {
				start[k] = i + 1;
				len[k] = e - i - 1;
				for (size_t j = 0; j < k; j++)
					if (len[j] == len[k] &&
					    !memcmp(s + start[j], s + start[k],
						    len[k])) {
						snprintf(key, keysize, "%.*s",
							 (int)len[k],
							 s + start[k]);
						return true;
					}
				k++;
			}
			want_key = false;
			i = e;
		} else if (c == '{' || c == '[') {
			depth++;
			want_key = c == '{' && depth == 1;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (c == ',' && depth == 1) {
			want_key = true;
		}
	}
	return false;
}

static int query_json(struct query_parse *p, const char *s, size_t n)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *obj;
	struct json_object_iterator it, end;
	int err;

	if (!tok)
		return query_oom(p);
	/* strict: no comments, single quotes, NaN or trailing commas;
	 * what follows the object is checked by query_json_check */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
			       JSON_TOKENER_ALLOW_TRAILING_CHARS);
	obj = json_tokener_parse_ex(tok, s, (int)n);
	err = query_json_check(p, tok, obj, s, n);
	if (!err) {
		char key[64];

		if (query_json_repeated(s, n, key, sizeof(key)))
			err = query_fail(p, -EINVAL, "option '%s' given twice",
					 key);
	}
	if (!err) {
		it = json_object_iter_begin(obj);
		end = json_object_iter_end(obj);
		for (; !err && !json_object_iter_equal(&it, &end);
		     json_object_iter_next(&it))
			err = query_json_member(p,
						json_object_iter_peek_name(&it),
						json_object_iter_peek_value(&it));
	}
	if (!err && !p->q.cue)
		err = query_fail(p, -EINVAL, "bad json: missing 'cue'");
	json_object_put(obj);
	json_tokener_free(tok);
	return err;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                       */
/* ------------------------------------------------------------------ */

static void query_init(struct query_parse *p, char *why, size_t whylen)
{
	memset(p, 0, sizeof(*p));
	p->q.limit = 0;
	p->q.format = STORE_FORMAT_TEXT;
	p->q.mode = STORE_MODE_AUTO;
	p->q.since = INT64_MIN;
	p->q.until = INT64_MAX;
	p->q.min_confidence = -1;
	p->q.budget = 0;
	p->now = (int64_t)time(NULL);
	if (p->now < 0)
		p->now = 0;
	p->why = why;
	p->whylen = whylen;
}

static int query_finish(struct query_parse *p, int err, struct store_query *q)
{
	if (!err && p->q.since > p->q.until)
		err = query_fail(p, -EINVAL, "'since' is later than 'until'");
	if (err) {
		store_query_release(&p->q);
		return err;
	}
	*q = p->q;
	return 0;
}

int store_query_parse_name(const char *name, size_t len,
			   struct store_query *q, char *why, size_t whylen)
{
	struct query_parse p;
	const char *mark, *opt;
	size_t cue_len = len, n;
	int err = 0;

	query_init(&p, why, whylen);
	if (len > STORE_NAME_MAX)
		return query_fail(&p, -ENAMETOOLONG,
				  "name longer than %d bytes", STORE_NAME_MAX);
	mark = len ? memrchr(name, '?', len) : NULL;
	if (mark) {
		opt = mark + 1;
		n = (size_t)(name + len - opt);
		query_trim(&opt, &n);
		if (query_is_options(opt, n)) {
			cue_len = (size_t)(mark - name);
			err = query_options(&p, opt, n);
		}
	}
	if (!err)
		err = query_cue(&p, name, cue_len);
	return query_finish(&p, err, q);
}

/* Plain body: the last non-empty line is options if it is '?' + options. */
static int query_text(struct query_parse *p, const char *s, size_t n)
{
	const char *ls, *le = s + n, *opt;
	size_t on;
	int err;

	while (le > s && query_is_space(le[-1]))
		le--;
	ls = le;
	while (ls > s && ls[-1] != '\n')
		ls--;
	opt = ls;
	on = (size_t)(le - ls);
	query_trim(&opt, &on);
	if (on && opt[0] == '?') {
		opt++;
		on--;
		query_trim(&opt, &on);
		if (query_is_options(opt, on)) {
			err = query_options(p, opt, on);
			if (err)
				return err;
			n = (size_t)(ls - s);
		}
	}
	return query_cue(p, s, n);
}

int store_query_parse_body(const char *buf, size_t len,
			   struct store_query *q, char *why, size_t whylen)
{
	struct query_parse p;
	const char *lead;
	int err;

	query_init(&p, why, whylen);
	if (len > STORE_QUERY_MAX)
		return query_fail(&p, -EFBIG, "query longer than %d bytes",
				  STORE_QUERY_MAX);
	/* a UTF-8 byte order mark, as some editors write, is not cue */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	lead = buf;
	while (lead < buf + len && query_is_space(*lead))
		lead++;
	if (lead < buf + len && *lead == '{')
		err = query_json(&p, lead, (size_t)(buf + len - lead));
	else
		err = query_text(&p, buf, len);
	return query_finish(&p, err, q);
}

void store_query_release(struct store_query *q)
{
	if (!q)
		return;
	free(q->cue);
	free(q->under);
	free(q->user);
	memset(q, 0, sizeof(*q));
}
