/*
 * util.c - what every verb shares: messages, paths, whole-file reads and
 * writes on the mount, "key: value" text, times and numbers.
 *
 * Synthetic files of the mount (status, flags, recall answers) have size
 * 0 and are read to EOF, so reads never trust st_size.  A write to a flag
 * or to ctl is ONE write(2): the daemon takes each write as one whole
 * value or command, and its errno is the answer.
 *
 * Times are parsed here rather than with strptime(3): strptime knows
 * neither fractions of a second nor "Z", and getdate(3) needs a template
 * file.  The accepted spellings are the mount's own (recall's since=).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

/* ------------------------------------------------------------------ */
/* Messages and memory                                                */
/* ------------------------------------------------------------------ */

static void ctl_vmessage(const char *prefix, const char *fmt, va_list ap)
{
	fflush(stdout);
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ctl_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("error: ", fmt, ap);
	va_end(ap);
	return CTL_EXIT_FAIL;
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("error: ", fmt, ap);
	va_end(ap);
	return CTL_EXIT_USAGE;
}

void ctl_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vmessage("warning: ", fmt, ap);
	va_end(ap);
}

void *ctl_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("error: out of memory\n", stderr);
		exit(CTL_EXIT_FAIL);
	}
	return p;
}

void *ctl_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fputs("error: out of memory\n", stderr);
		exit(CTL_EXIT_FAIL);
	}
	return q;
}

char *ctl_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(ctl_xmalloc(n), s, n);
}

char *ctl_xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		fputs("error: out of memory\n", stderr);
		exit(CTL_EXIT_FAIL);
	}
	return s;
}

char *ctl_path(const struct ctl *c, const char *rel)
{
	return ctl_xprintf("%s/%s", c->mount, rel);
}

/* ------------------------------------------------------------------ */
/* Files                                                              */
/* ------------------------------------------------------------------ */

int ctl_read_fd(int fd, char **buf, size_t *len)
{
	return ctl_read_fd_hint(fd, 0, buf, len);
}

int ctl_read_fd_hint(int fd, size_t hint, char **buf, size_t *len)
{
	size_t cap = hint ? hint + 1 : 4096, n = 0;
	char *b = ctl_xmalloc(cap + 1), *nb;
	ssize_t k;

	for (;;) {
		if (n == cap) {
			cap *= 2;
			nb = realloc(b, cap + 1);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		k = read(fd, b + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			k = -errno;
			free(b);
			return (int)k;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int ctl_read_file(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = ctl_read_fd(fd, buf, len);
	close(fd);
	return r;
}

int ctl_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t k;

	while (len) {
		k = write(fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int ctl_write_file(const char *path, const char *buf, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644), r = 0;
	ssize_t k;

	if (fd < 0)
		return -errno;
	k = write(fd, buf, len);
	if (k < 0)
		r = -errno;
	else if ((size_t)k != len)
		r = -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

int ctl_command(const struct ctl *c, const char *cmd)
{
	char *path = ctl_path(c, "ctl");
	int r = ctl_write_file(path, cmd, strlen(cmd), 0);

	free(path);
	return r;
}

int ctl_command_error(const char *cmd, int err)
{
	if (err == -ENOSYS)
		return ctl_error("'%s': this engramfs does not do it yet "
				 "(ENOSYS)", cmd);
	if (err == -EACCES)
		return ctl_error("'%s': only the mount's owner or root may "
				 "write ctl", cmd);
	if (err == -EINVAL)
		return ctl_error("'%s': the mount refused the command (see "
				 "its log)", cmd);
	return ctl_error("'%s' failed: %s", cmd, strerror(-err));
}

/* ------------------------------------------------------------------ */
/* "key: value" text                                                  */
/* ------------------------------------------------------------------ */

char *ctl_kv_get(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text, *e;

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			e = strchr(p, '\n');
			if (!e)
				e = p + strlen(p);
			return strndup(p, (size_t)(e - p));
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

char *ctl_status_read(const struct ctl *c)
{
	char *path = ctl_path(c, "status"), *buf = NULL;
	size_t len;
	int r = ctl_read_file(path, &buf, &len);

	if (r < 0)
		ctl_error("cannot read '%s': %s", path, strerror(-r));
	free(path);
	return r < 0 ? NULL : buf;
}

/* A value that reads whole as a number becomes a JSON number. */
static struct json_object *ctl_json_value(const char *v)
{
	double d;

	if (*v && !isspace((unsigned char)*v) && ctl_parse_double(v, &d) &&
	    isfinite(d) && strspn(v, "0123456789.-+eE") == strlen(v))
		return json_object_new_double_s(d, v);
	return json_object_new_string(v);
}

struct json_object *ctl_kv_to_json(const char *text)
{
	struct json_object *o = json_object_new_object();
	const char *p = text, *e, *colon;

	while (*p) {
		e = strchr(p, '\n');
		if (!e)
			e = p + strlen(p);
		colon = memchr(p, ':', (size_t)(e - p));
		if (colon) {
			char *k = strndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			char *val;

			while (v < e && *v == ' ')
				v++;
			val = strndup(v, (size_t)(e - v));
			json_object_object_add(o, k, ctl_json_value(val));
			free(k);
			free(val);
		}
		p = *e ? e + 1 : e;
	}
	return o;
}

void ctl_json_print(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(
			       o, JSON_C_TO_STRING_PLAIN |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* ------------------------------------------------------------------ */
/* Numbers                                                            */
/* ------------------------------------------------------------------ */

bool ctl_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool ctl_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/* Seconds per unit of an age or a duration; 0 for no unit letter. */
static double ctl_unit_seconds(char u)
{
	switch (u) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	default: return 0;
	}
}

bool ctl_parse_duration(const char *s, double *out)
{
	char *end;
	double v, mul = 1;

	if (!s || !*s)
		return false;
	v = strtod(s, &end);
	if (end == s || !isfinite(v) || v < 0)
		return false;
	if (*end) {
		mul = ctl_unit_seconds(*end);
		if (!mul || end[1])
			return false;
	}
	*out = v * mul;
	return true;
}

char *ctl_escape_value(const char *s)
{
	char *out = ctl_xmalloc(strlen(s) * 3 + 1), *w = out;

	for (; *s; s++) {
		if (strchr("&?%/", *s))
			w += sprintf(w, "%%%02X", (unsigned char)*s);
		else
			*w++ = *s;
	}
	*w = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* Times                                                              */
/* ------------------------------------------------------------------ */

double ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* N digits at *s into *out. */
static bool ctl_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

/* ".fff" up to nanoseconds. */
static long ctl_fraction(const char **s)
{
	long ns = 0, scale = 100000000;

	if (**s != '.' && **s != ',')
		return 0;
	for ((*s)++; isdigit((unsigned char)**s); (*s)++) {
		ns += (**s - '0') * scale;
		scale /= 10;
	}
	return ns;
}

/* Z, +HH:MM, -HHMM, +HH or nothing: the offset east of UTC in seconds. */
static bool ctl_zone(const char **s, long *off)
{
	int h = 0, m = 0, sign;

	*off = 0;
	if (**s == 'Z' || **s == 'z') {
		(*s)++;
		return true;
	}
	if (**s != '+' && **s != '-')
		return **s == '\0';
	sign = **s == '-' ? -1 : 1;
	(*s)++;
	if (!ctl_digits(s, 2, &h))
		return false;
	if (**s == ':')
		(*s)++;
	if (**s && !ctl_digits(s, 2, &m))
		return false;
	*off = sign * (h * 3600L + m * 60L);
	return true;
}

static bool ctl_iso_parse(const char *s, struct timespec *out)
{
	struct tm tm = { 0 };
	long off = 0, ns = 0;
	time_t t;

	if (!ctl_digits(&s, 4, &tm.tm_year) || *s++ != '-' ||
	    !ctl_digits(&s, 2, &tm.tm_mon) || *s++ != '-' ||
	    !ctl_digits(&s, 2, &tm.tm_mday))
		return false;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (!ctl_digits(&s, 2, &tm.tm_hour) || *s++ != ':' ||
		    !ctl_digits(&s, 2, &tm.tm_min))
			return false;
		if (*s == ':') {
			s++;
			if (!ctl_digits(&s, 2, &tm.tm_sec))
				return false;
			ns = ctl_fraction(&s);
		}
	}
	if (!ctl_zone(&s, &off) || *s || tm.tm_mon < 1 || tm.tm_mon > 12 ||
	    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	out->tv_sec = t - off;
	out->tv_nsec = ns;
	return true;
}

int ctl_time_parse(const char *s, struct timespec *out)
{
	struct timespec now;
	double v, mul;
	char *end;

	clock_gettime(CLOCK_REALTIME, &now);
	if (!strcmp(s, "now")) {
		*out = now;
		return 0;
	}
	if (s[0] == '@') {
		if (!ctl_parse_double(s + 1, &v))
			return -EINVAL;
		out->tv_sec = (time_t)floor(v);
		out->tv_nsec = (long)llround((v - floor(v)) * 1e9) % 1000000000L;
		return 0;
	}
	if (ctl_iso_parse(s, out))
		return 0;
	v = strtod(s, &end);
	if (end != s && isdigit((unsigned char)*s) && end[0] && !end[1] &&
	    (mul = ctl_unit_seconds(*end)) > 0) {
		out->tv_sec = now.tv_sec - (time_t)llround(v * mul);
		out->tv_nsec = now.tv_nsec;
		return 0;
	}
	return -EINVAL;
}

void ctl_time_format(const struct timespec *ts, char *buf, size_t size)
{
	struct tm tm;
	size_t n;

	gmtime_r(&ts->tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts->tv_nsec)
		snprintf(buf + n, size - n, ".%09ldZ", ts->tv_nsec);
	else
		snprintf(buf + n, size - n, "Z");
}

/* ------------------------------------------------------------------ */
/* Relative paths                                                     */
/* ------------------------------------------------------------------ */

bool ctl_relpath_ok(const char *p)
{
	const char *c = p, *e;
	size_t n;

	if (!*p || *p == '/')
		return false;
	for (;;) {
		e = strchr(c, '/');
		n = e ? (size_t)(e - c) : strlen(c);
		if (n == 0 || n > 255 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!e)
			return true;
		c = e + 1;
	}
}

int ctl_mkdir_parents(const char *root, const char *rel)
{
	char *path = ctl_xprintf("%s/%s", root, rel);
	char *p = path + strlen(root) + 1, *slash;
	int r = 0;

	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*slash = '/';
		p = slash + 1;
	}
	free(path);
	return r;
}
