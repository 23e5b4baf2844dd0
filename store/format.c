/*
 * format.c - rendering recall results as text, JSON or paths.
 *
 *   text   one line per result, TSV:
 *          name TAB score TAB pathway TAB when TAB snippet LF
 *          score "%.4f", when ISO-8601 UTC ("2026-11-21T09:16:24Z").
 *          Names are bytes and may hold tabs or newlines; in name and
 *          snippet every control byte (0x00-0x1f, 0x7f) becomes a space, so
 *          a line is always one result of five fields and a terminal gets
 *          no escape sequences.
 *   json   one object and LF:
 *          {"cue":..., "mode":"blended", "cohort":"treatment"|"control"|null,
 *           "results":[{"name","score","pathway","when","confidence",
 *                       "snippet","path"}]}
 *          cohort is null unless the cohort decided the mode (mode=auto);
 *          path is there when a mount point is given.  Strings go through
 *          fmt_utf8 first: json-c copies bytes >= 0x80 as they are, so an
 *          invalid UTF-8 byte is replaced by U+FFFD here, or the output
 *          would not be JSON.  Numbers are written "%.4f" (as in text)
 *          through json_object_new_double_s, not json-c's "%.17g" noise.
 *   paths  MOUNT/episodes/NAME LF per result, for xargs.  A name holding a
 *          newline cannot be one line of a line format, so it is left out
 *          (NEEDSWORK: a NUL-separated format, for xargs -0).
 *
 * Budget.  With q->budget > 0 the answer is cut at whole results so that
 * it fits: text and paths stop before the first line that would overflow;
 * JSON keeps the envelope and adds result objects while they fit.  The
 * results are ranked, so the cut never skips a result to fit a later,
 * smaller one.  If not even the empty answer fits, the empty answer is
 * returned anyway (empty text, or the JSON envelope): a caller can always
 * parse what it gets.
 *
 * On success *out is malloc'd and NUL-terminated (never NULL, even when
 * empty) and *len excludes the NUL; on failure both are untouched.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <utf8proc.h>

#include "store.h"

/* compact output, and "a/b" rather than json-c's default "a\/b" */
#define FMT_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct fmt_buf {
	char *p;		/* NUL-terminated once anything was added */
	size_t len, cap;
};

static int fmt_add(struct fmt_buf *b, const void *s, size_t n)
{
	size_t cap = b->cap ? b->cap : 256;
	char *np;

	if (b->cap - b->len <= n) {
		while (cap - b->len <= n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int fmt_str(struct fmt_buf *b, const char *s)
{
	return fmt_add(b, s ? s : "", s ? strlen(s) : 0);
}

/* Append S with control bytes turned into spaces. */
static int fmt_clean(struct fmt_buf *b, const char *s)
{
	size_t from = b->len, i;
	int err = fmt_str(b, s);

	for (i = from; !err && i < b->len; i++)
		if ((unsigned char)b->p[i] < 0x20 || b->p[i] == 0x7f)
			b->p[i] = ' ';
	return err;
}

/* Append S with each invalid UTF-8 byte replaced by U+FFFD. */
static int fmt_utf8(struct fmt_buf *b, const char *s)
{
	const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)(s ? s : "");
	utf8proc_ssize_t n = (utf8proc_ssize_t)strlen((const char *)u), k;
	utf8proc_int32_t cp;
	int err = fmt_add(b, "", 0);

	while (!err && n > 0) {
		k = utf8proc_iterate(u, n, &cp);
		if (k > 0) {
			err = fmt_add(b, u, (size_t)k);
		} else {
			err = fmt_add(b, "\xEF\xBF\xBD", 3);
			k = 1;
		}
		u += k;
		n -= k;
	}
	return err;
}

/* json-c writes NaN and Infinity, which are not JSON. */
static double fmt_finite(double d)
{
	return isfinite(d) ? d : 0;
}

static void fmt_when(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "unknown");
}

static const char *fmt_pathway(enum store_pathway p)
{
	static const char *const names[] = { "episodic", "semantic",
					     "convergent", "completed" };

	return (unsigned)p < 4 ? names[p] : "unknown";
}

static const char *fmt_mode(enum store_mode m)
{
	static const char *const names[] = { "auto", "episodic", "semantic",
					     "blended" };

	return (unsigned)m < 4 ? names[m] : "unknown";
}

/* ------------------------------------------------------------------ */
/* text and paths                                                     */
/* ------------------------------------------------------------------ */

static int fmt_text_line(struct fmt_buf *b, const struct store_result *res)
{
	char mid[128], when[64];
	int err;

	fmt_when(res->when, when, sizeof(when));
	snprintf(mid, sizeof(mid), "\t%.4f\t%s\t%s\t",
		 fmt_finite(res->score), fmt_pathway(res->pathway), when);
	err = fmt_clean(b, res->name);
	if (!err)
		err = fmt_str(b, mid);
	if (!err)
		err = fmt_clean(b, res->snippet);
	if (!err)
		err = fmt_add(b, "\n", 1);
	return err;
}

/* MOUNT without trailing slashes, so "/" gives "/episodes/x". */
static int fmt_episode_path(struct fmt_buf *b, const char *mount,
			    const char *name)
{
	size_t m = strlen(mount);
	int err;

	while (m && mount[m - 1] == '/')
		m--;
	err = fmt_add(b, mount, m);
	if (!err)
		err = fmt_str(b, "/episodes/");
	if (!err)
		err = fmt_str(b, name);
	return err;
}

static int fmt_path_line(struct fmt_buf *b, const char *mount,
			 const struct store_result *res)
{
	int err;

	if (res->name && strchr(res->name, '\n'))
		return 0;	/* not representable, see the top */
	err = fmt_episode_path(b, mount, res->name);
	if (!err)
		err = fmt_add(b, "\n", 1);
	return err;
}

static int fmt_lines(const struct store_results *r,
		     const struct store_query *q, const char *mount,
		     struct fmt_buf *out)
{
	struct fmt_buf line = { 0 };
	size_t i;
	int err = fmt_add(out, "", 0);

	for (i = 0; !err && i < r->n; i++) {
		line.len = 0;
		if (q->format == STORE_FORMAT_PATHS)
			err = fmt_path_line(&line, mount, &r->v[i]);
		else
			err = fmt_text_line(&line, &r->v[i]);
		if (err || line.len == 0)
			continue;
		if (q->budget && out->len + line.len > q->budget)
			break;
		err = fmt_add(out, line.p, line.len);
	}
	free(line.p);
	return err;
}

/* ------------------------------------------------------------------ */
/* json                                                               */
/* ------------------------------------------------------------------ */

static struct json_object *fmt_json_string(const char *s)
{
	struct fmt_buf b = { 0 };
	struct json_object *o = NULL;

	if (fmt_utf8(&b, s) == 0)
		o = json_object_new_string_len(b.p, (int)b.len);
	free(b.p);
	return o;
}

static struct json_object *fmt_json_number(double d)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.4f", fmt_finite(d));
	return json_object_new_double_s(fmt_finite(d), buf);
}

/* Add KEY: V to OBJ; V NULL means json-c ran out of memory. */
static int fmt_json_put(struct json_object *obj, const char *key,
			struct json_object *v)
{
	if (!v || json_object_object_add(obj, key, v) != 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* [{"label": ..., "weight": ...}, ...]: the concepts behind a result. */
static struct json_object *fmt_json_concepts(const struct store_result *res)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < res->nconcepts; i++) {
		struct json_object *c = json_object_new_object();
		int err = c ? 0 : -ENOMEM;

		if (!err)
			err = fmt_json_put(c, "label",
					   fmt_json_string(res->concepts[i].label));
		if (!err)
			err = fmt_json_put(c, "weight",
					   fmt_json_number(res->concepts[i].weight));
		if (err || json_object_array_add(a, c)) {
			json_object_put(c);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static struct json_object *fmt_json_result(const struct store_result *res,
					   const char *mount)
{
	struct json_object *o = json_object_new_object();
	struct fmt_buf path = { 0 };
	char when[64];
	int err = o ? 0 : -ENOMEM;

	fmt_when(res->when, when, sizeof(when));
	if (!err)
		err = fmt_json_put(o, "name", fmt_json_string(res->name));
	if (!err)
		err = fmt_json_put(o, "score", fmt_json_number(res->score));
	if (!err)
		err = fmt_json_put(o, "pathway",
				   json_object_new_string(fmt_pathway(res->pathway)));
	if (!err)
		err = fmt_json_put(o, "when", json_object_new_string(when));
	if (!err)
		err = fmt_json_put(o, "confidence",
				   fmt_json_number(res->confidence));
	if (!err)
		err = fmt_json_put(o, "snippet", fmt_json_string(res->snippet));
	if (!err)
		err = fmt_json_put(o, "concepts", fmt_json_concepts(res));
	if (!err && mount)
		err = fmt_episode_path(&path, mount, res->name);
	if (!err && mount)
		err = fmt_json_put(o, "path", fmt_json_string(path.p));
	free(path.p);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *fmt_json_envelope(const struct store_results *r,
					     const struct store_query *q,
					     struct json_object **arr)
{
	struct json_object *env = json_object_new_object();
	int err = env ? 0 : -ENOMEM;

	if (!err)
		err = fmt_json_put(env, "cue", fmt_json_string(q->cue));
	if (!err)
		err = fmt_json_put(env, "mode",
				   json_object_new_string(fmt_mode(r->mode)));
	if (!err && r->cohort_applies)
		err = fmt_json_put(env, "cohort", json_object_new_string(
			r->cohort == STORE_COHORT_TREATMENT ? "treatment" : "control"));
	else if (!err)
		err = json_object_object_add(env, "cohort", NULL) ? -ENOMEM : 0;
	*arr = err ? NULL : json_object_new_array();
	if (!err)
		err = fmt_json_put(env, "results", *arr);
	if (err) {
		json_object_put(env);
		return NULL;
	}
	return env;
}

/* Serialised length of O, or 0 when json-c ran out of memory. */
static size_t fmt_json_len(struct json_object *o)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(o, FMT_JSON_FLAGS, &n);

	return s ? n : 0;
}

/* Add results to ARR while the whole answer (with its LF) fits. */
static int fmt_json_fill(const struct store_results *r,
			 const struct store_query *q, const char *mount,
			 struct json_object *env, struct json_object *arr)
{
	size_t used = fmt_json_len(env) + 1, need, i;
	struct json_object *o;

	for (i = 0; i < r->n; i++) {
		o = fmt_json_result(&r->v[i], mount);
		need = o ? fmt_json_len(o) : 0;
		if (need == 0) {
			json_object_put(o);
			return -ENOMEM;
		}
		need += i ? 1 : 0;	/* the comma */
		if (q->budget && used + need > q->budget) {
			json_object_put(o);
			break;
		}
		if (json_object_array_add(arr, o) != 0) {
			json_object_put(o);
			return -ENOMEM;
		}
		used += need;
	}
	return 0;
}

static int fmt_json(const struct store_results *r,
		    const struct store_query *q, const char *mount,
		    struct fmt_buf *out)
{
	struct json_object *arr, *env = fmt_json_envelope(r, q, &arr);
	const char *s;
	size_t n = 0;
	int err;

	if (!env)
		return -ENOMEM;
	err = fmt_json_fill(r, q, mount, env, arr);
	s = err ? NULL : json_object_to_json_string_length(env, FMT_JSON_FLAGS, &n);
	/* the fill counted lengths piecewise; drop results if that was off */
	while (s && q->budget && n + 1 > q->budget &&
	       json_object_array_length(arr) > 0) {
		json_object_array_del_idx(arr, json_object_array_length(arr) - 1, 1);
		s = json_object_to_json_string_length(env, FMT_JSON_FLAGS, &n);
	}
	if (!err && !s)
		err = -ENOMEM;
	if (!err)
		err = fmt_add(out, s, n);
	if (!err)
		err = fmt_add(out, "\n", 1);
	json_object_put(env);
	return err;
}

int store_results_format(const struct store_results *r,
			 const struct store_query *q, const char *mount,
			 char **out, size_t *len)
{
	struct fmt_buf b = { 0 };
	int err;

	if (!r || !q || !out || !len || (r->n && !r->v))
		return -EINVAL;
	if (q->format == STORE_FORMAT_JSON)
		err = fmt_json(r, q, mount, &b);
	else if (q->format == STORE_FORMAT_TEXT)
		err = fmt_lines(r, q, mount, &b);
	else if (q->format == STORE_FORMAT_PATHS && mount)
		err = fmt_lines(r, q, mount, &b);
	else
		err = -EINVAL;
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}
