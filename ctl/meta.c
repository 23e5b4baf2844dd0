/*
 * meta.c - episodes in transit: metadata read from a file and applied to
 * an open episode, and the JSON line that import and export share.
 *
 * Metadata are what the mount keeps about an episode besides its bytes:
 * when (the mtime, to the nanosecond), user.engram.confidence (always
 * present on the mount, 0.7 by default), user.engram.where, .who and
 * .tags (absent unless set).  Other user.* attributes are not carried
 * (NEEDSWORK: an "xattrs" object would carry them; nothing needs it yet).
 *
 * Order of application (ctl_meta_apply): attributes, then the mtime.  An
 * episode whose mtime is the item's is therefore complete, which is the
 * rule import resumes by.  A mtime set on an episode with pending writes
 * is kept by the mount with them and committed with them at close (as
 * for `cp -p`), so the close cannot move it, and the episode is stored
 * and indexed once.  Import sets the attributes before it writes the
 * content (ctl_meta_apply_attrs, ctl_meta_apply_when): the store then
 * has no content whose postings a confidence change would rewrite.
 *
 * JSON: content goes as a JSON string when the bytes are valid UTF-8 (a
 * NUL is fine: \u0000), else as "content_base64", so any episode
 * round-trips byte for byte.  Attribute values are strings as stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

void ctl_meta_release(struct ctl_meta *m)
{
	free(m->confidence);
	free(m->where);
	free(m->who);
	free(m->tags);
	memset(m, 0, sizeof(*m));
}

void ctl_item_release(struct ctl_item *it)
{
	free(it->name);
	free(it->content);
	ctl_meta_release(&it->meta);
	memset(it, 0, sizeof(*it));
}

/* ------------------------------------------------------------------ */
/* Reading and applying                                               */
/* ------------------------------------------------------------------ */

/* One attribute as a string, or NULL when it is not there. */
static char *ctl_meta_getx(int fd, const char *name)
{
	char buf[4096], *v;
	ssize_t n = fgetxattr(fd, name, buf, sizeof(buf) - 1);

	if (n >= 0) {
		buf[n] = '\0';
		return ctl_xstrdup(buf);
	}
	if (errno != ERANGE)
		return NULL;	/* ENODATA, ENOTSUP: not set */
	n = fgetxattr(fd, name, NULL, 0);
	if (n < 0)
		return NULL;
	v = ctl_xmalloc((size_t)n + 1);
	n = fgetxattr(fd, name, v, (size_t)n);
	if (n < 0) {
		free(v);
		return NULL;
	}
	v[n] = '\0';
	return v;
}

/* Is NAME in the NUL-separated LIST of <list, n>? */
static bool ctl_meta_listed(const char *list, ssize_t n, const char *name)
{
	const char *p = list, *end = list + (n > 0 ? n : 0);

	for (; p < end; p += strlen(p) + 1)
		if (!strcmp(p, name))
			return true;
	return false;
}

int ctl_meta_read_fd(int fd, struct ctl_meta *m, struct stat *st)
{
	static const char *const names[] = { CTL_XATTR_CONFIDENCE,
					     CTL_XATTR_WHERE, CTL_XATTR_WHO,
					     CTL_XATTR_TAGS };
	char **dst[] = { &m->confidence, &m->where, &m->who, &m->tags };
	char list[4096];
	ssize_t n;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (fstat(fd, st) < 0)
		return -errno;
	m->has_when = true;
	m->when = st->st_mtim;
	/* One listxattr instead of four lookups: most local files have
	 * none, and the mount lists user.engram.confidence always.  A list
	 * too long for the buffer: ask for each. */
	n = flistxattr(fd, list, sizeof(list));
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (n < 0 ? errno == ERANGE
			  : ctl_meta_listed(list, n, names[i]))
			*dst[i] = ctl_meta_getx(fd, names[i]);
	return 0;
}

int ctl_meta_read(const char *path, struct ctl_meta *m, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0)
		return -errno;
	r = ctl_meta_read_fd(fd, m, st);
	close(fd);
	return r;
}

/* Set NAME to VAL, or remove it when VAL is NULL and the episode is not
 * fresh (a rewritten episode must not keep an old attribute). */
static int ctl_meta_setx(int fd, const char *name, const char *val,
			 bool fresh)
{
	if (val)
		return fsetxattr(fd, name, val, strlen(val), 0) < 0 ? -errno
								  : 0;
	if (fresh || fremovexattr(fd, name) == 0 || errno == ENODATA)
		return 0;
	return -errno;
}

int ctl_meta_apply_attrs(int fd, const struct ctl_meta *m, bool fresh,
			 const char **step)
{
	const char *conf = m->confidence;
	int r = 0;

	/* A fresh episode has the default confidence already. */
	if (!conf && !fresh)
		conf = CTL_DEFAULT_CONFIDENCE;
	if (conf && (!fresh || strcmp(conf, CTL_DEFAULT_CONFIDENCE)))
		r = fsetxattr(fd, CTL_XATTR_CONFIDENCE, conf, strlen(conf), 0)
			    < 0 ? -errno : 0;
	if (r < 0)
		return *step = "confidence", r;
	if ((r = ctl_meta_setx(fd, CTL_XATTR_WHERE, m->where, fresh)))
		return *step = "where", r;
	if ((r = ctl_meta_setx(fd, CTL_XATTR_WHO, m->who, fresh)))
		return *step = "who", r;
	if ((r = ctl_meta_setx(fd, CTL_XATTR_TAGS, m->tags, fresh)))
		return *step = "tags", r;
	return 0;
}

int ctl_meta_apply_when(int fd, const struct ctl_meta *m, const char **step)
{
	struct timespec ts[2];

	if (!m->has_when)
		return 0;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1] = m->when;
	if (futimens(fd, ts) < 0)
		return *step = "when", -errno;
	return 0;
}

int ctl_meta_apply(int fd, const struct ctl_meta *m, bool fresh,
		   const char **step)
{
	int r = ctl_meta_apply_attrs(fd, m, fresh, step);

	return r ? r : ctl_meta_apply_when(fd, m, step);
}

/* ------------------------------------------------------------------ */
/* Content encodings                                                  */
/* ------------------------------------------------------------------ */

/* Strict UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
static bool ctl_utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			need = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			need = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			need = 3, cp = c & 0x07;
		else
			return false;
		if (n - i <= need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
			return false;
		i += need + 1;
	}
	return true;
}

static const char ctl_b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *ctl_base64_encode(const unsigned char *s, size_t n)
{
	char *out = ctl_xmalloc((n + 2) / 3 * 4 + 1), *w = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
			     s[i + 2];

		*w++ = ctl_b64[v >> 18];
		*w++ = ctl_b64[(v >> 12) & 63];
		*w++ = ctl_b64[(v >> 6) & 63];
		*w++ = ctl_b64[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 |
			     (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);

		*w++ = ctl_b64[v >> 18];
		*w++ = ctl_b64[(v >> 12) & 63];
		*w++ = i + 1 < n ? ctl_b64[(v >> 6) & 63] : '=';
		*w++ = '=';
	}
	*w = '\0';
	return out;
}

static int ctl_b64_value(char c)
{
	const char *p = c ? strchr(ctl_b64, c) : NULL;

	return p ? (int)(p - ctl_b64) : -1;
}

/* Decode <s, n> (padding optional); -EINVAL on a bad character. */
static int ctl_base64_decode(const char *s, size_t n, char **out,
			     size_t *len)
{
	char *b = ctl_xmalloc(n / 4 * 3 + 3);
	uint32_t acc = 0;
	size_t w = 0, i;
	int bits = 0, v;

	while (n && s[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		v = ctl_b64_value(s[i]);
		if (v < 0) {
			free(b);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b[w++] = (char)(acc >> bits);
		}
	}
	*out = b;
	*len = w;
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                               */
/* ------------------------------------------------------------------ */

static void ctl_json_add_str(struct json_object *o, const char *k,
			     const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

char *ctl_item_to_json(const struct ctl_item *it, bool with_content)
{
	struct json_object *o = json_object_new_object();
	const struct ctl_meta *m = &it->meta;
	char when[CTL_TIME_MAX], *line, *b64;
	double d;

	ctl_json_add_str(o, "name", it->name);
	if (it->folder) {
		ctl_json_add_str(o, "type", "folder");
		goto out;
	}
	if (m->has_when) {
		ctl_time_format(&m->when, when, sizeof(when));
		ctl_json_add_str(o, "when", when);
	}
	if (m->confidence && ctl_parse_double(m->confidence, &d))
		json_object_object_add(o, "confidence",
				       json_object_new_double_s(d, m->confidence));
	ctl_json_add_str(o, "where", m->where);
	ctl_json_add_str(o, "who", m->who);
	ctl_json_add_str(o, "tags", m->tags);
	if (!with_content)
		goto out;
	if (ctl_utf8_ok((const unsigned char *)it->content, it->len)) {
		json_object_object_add(o, "content",
				       json_object_new_string_len(
					       it->content ? it->content : "",
					       (int)it->len));
	} else {
		b64 = ctl_base64_encode((const unsigned char *)it->content,
					it->len);
		json_object_object_add(o, "content_base64",
				       json_object_new_string(b64));
		free(b64);
	}
out:
	line = ctl_xstrdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return line;
}

/* A string member, or NULL; -EINVAL when present with another type. */
static int ctl_json_str(struct json_object *o, const char *k, char **out,
			char *why, size_t whylen)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(
		    v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen, "'%s' is not a string", k);
		return -EINVAL;
	}
	*out = ctl_xstrdup(json_object_get_string(v));
	return 0;
}

/* The shortest text that reads back as D. */
static char *ctl_double_text(double d)
{
	char buf[40];
	int prec;

	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(buf, sizeof(buf), "%.17g", d);
	return ctl_xstrdup(buf);
}

static int ctl_json_when(struct json_object *o, struct ctl_meta *m,
			 char *why, size_t whylen)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(o, "when", &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		if (ctl_time_parse(json_object_get_string(v), &m->when) < 0)
			goto bad;
	} else if (json_object_is_type(v, json_type_int) ||
		   json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		m->when.tv_sec = (time_t)floor(d);
		m->when.tv_nsec = (long)((d - floor(d)) * 1e9);
	} else {
		goto bad;
	}
	m->has_when = true;
	return 0;
bad:
	snprintf(why, whylen, "bad 'when': expected ISO-8601 time or unix "
		 "seconds");
	return -EINVAL;
}

static int ctl_json_confidence(struct json_object *o, struct ctl_meta *m,
			       char *why, size_t whylen)
{
	struct json_object *v;
	double d;

	if (!json_object_object_get_ex(o, "confidence", &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_string) &&
	    ctl_parse_double(json_object_get_string(v), &d))
		;
	else if (json_object_is_type(v, json_type_int) ||
		 json_object_is_type(v, json_type_double))
		d = json_object_get_double(v);
	else
		d = -1;
	if (!(d >= 0 && d <= 1)) {
		snprintf(why, whylen, "bad 'confidence': expected a number "
			 "between 0 and 1");
		return -EINVAL;
	}
	m->confidence = ctl_double_text(d);
	return 0;
}

static int ctl_json_content(struct json_object *o, struct ctl_item *it,
			    bool need, char *why, size_t whylen)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, "content", &v) &&
	    json_object_is_type(v, json_type_string)) {
		it->len = (size_t)json_object_get_string_len(v);
		it->content = ctl_xmalloc(it->len + 1);
		memcpy(it->content, json_object_get_string(v), it->len + 1);
		return 0;
	}
	if (json_object_object_get_ex(o, "content_base64", &v) &&
	    json_object_is_type(v, json_type_string)) {
		if (ctl_base64_decode(json_object_get_string(v),
				      (size_t)json_object_get_string_len(v),
				      &it->content, &it->len) == 0)
			return 0;
		snprintf(why, whylen, "bad 'content_base64'");
		return -EINVAL;
	}
	if (!need)
		return 0;
	snprintf(why, whylen, "missing 'content' (a string)");
	return -EINVAL;
}

static int ctl_item_fields(struct json_object *o, bool need_content,
			   struct ctl_item *it, char *why, size_t whylen)
{
	char *type = NULL;
	int r;

	if ((r = ctl_json_str(o, "name", &it->name, why, whylen)))
		return r;
	if (!it->name || !ctl_relpath_ok(it->name)) {
		snprintf(why, whylen, it->name ? "bad 'name': not a relative "
			 "path" : "missing 'name'");
		return -EINVAL;
	}
	if ((r = ctl_json_str(o, "type", &type, why, whylen)))
		return r;
	it->folder = type && !strcmp(type, "folder");
	free(type);
	if (it->folder)
		return 0;
	if ((r = ctl_json_when(o, &it->meta, why, whylen)) ||
	    (r = ctl_json_confidence(o, &it->meta, why, whylen)) ||
	    (r = ctl_json_str(o, "where", &it->meta.where, why, whylen)) ||
	    (r = ctl_json_str(o, "who", &it->meta.who, why, whylen)) ||
	    (r = ctl_json_str(o, "tags", &it->meta.tags, why, whylen)))
		return r;
	return ctl_json_content(o, it, need_content, why, whylen);
}

int ctl_item_from_json(const char *line, size_t len, bool need_content,
		       struct ctl_item *it, char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;
	int r = -EINVAL;

	memset(it, 0, sizeof(*it));
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || !json_object_is_type(o, json_type_object))
		snprintf(why, whylen, "bad json: %s",
			 o ? "expected an object"
			   : json_tokener_error_desc(
				     json_tokener_get_error(tok)));
	else
		r = ctl_item_fields(o, need_content, it, why, whylen);
	json_object_put(o);
	json_tokener_free(tok);
	if (r)
		ctl_item_release(it);
	return r;
}
