/*
 * config.c - the config file: the same sections and keys as the flag
 * registry (flag.c), read with libinih, validated whole, applied by diff.
 *
 *   [features]                    ; flags/blended_recall
 *   blended_recall = 1
 *   [recall]                      ; flags/recall.bm25_k1
 *   bm25_k1 = 1.2
 *
 * Loading.  store_config_load reads the whole file and collects every
 * problem, one "FILE:LINE: ..." line each, before saying no: an operator
 * fixes a file in one round, not one error per restart.  A file with any
 * problem is refused as a whole and *cfg is untouched.  Problems: syntax
 * (a line that is neither [section], key = value nor a comment), unknown
 * section, unknown key, a key outside any section, a key set twice, a bad
 * value (the flag parser's reason), both base weights 0, a line longer
 * than inih's buffer, an unreadable file.
 *
 * inih is driven through ini_parse_stream with our own line reader,
 * because the handler inih calls gets no line number (INI_HANDLER_LINENO
 * is fixed when the library is built) and ini_parse reports only the first
 * bad line.  The reader counts lines, and it checks the shape of each line
 * itself so that every syntax error is reported, handing inih a blank line
 * in place of a bad one.  It also hands inih each line without its leading
 * blanks: inih would take an indented line as the continuation of the
 * previous value (multi-line values), and no flag value spans lines, so an
 * indented "key = value" is simply a key.  "#" starts a comment after a
 * blank, as ";" does in inih, since operators bring TOML habits from the
 * runbook ("blended_recall = false  # ramp later").  Inih's runtime
 * option variables (ini_allow_multiline, ...) exist only in Debian's
 * build, so they are left alone.
 *
 * Applying.  CF_DEFAULT "cfg/<flag name>" holds the canonical text last
 * applied from a config file.  store_config_apply sets only the keys whose
 * file value differs from that record (or that have none), so a runtime
 * write to flags/ survives a restart with an unchanged file, and an edited
 * key wins over the runtime value.  All keys of one apply are committed in
 * one synchronous batch (flag_commit): the running store never holds half
 * of a config file.  A key whose file value equals the running value gets
 * its cfg/ record and no history line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "flag_i.h"

#define CONFIG_KEY_PREFIX "cfg/"

struct config_ctx {
	const char *path;
	FILE *in;
	char *line;		/* getline buffer */
	size_t cap;
	int lineno;		/* of the line inih is working on */
	bool section_bad;	/* current [section] was refused: skip its keys */
	int key_line[FLAG__COUNT];	/* line that set each key, 0 = none */
	struct store_config cfg;
	FILE *err;		/* open_memstream over errbuf */
	char *errbuf;
	size_t errlen;
	int nerr;
	int read_errno;		/* getline failed with this */
};

static void config_error(struct config_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One problem line: "FILE:LINE: ..." (LINE 0 = the file as a whole). */
static void config_error(struct config_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;

	if (line > 0)
		fprintf(c->err, "%s:%d: ", c->path, line);
	else
		fprintf(c->err, "%s: ", c->path);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	c->nerr++;
}

static bool config_section_known(const char *name, size_t len)
{
	const struct store_flag_def *d;
	int id;

	for (id = 0; id < FLAG__COUNT; id++) {
		d = store_flag_def(id);
		if (strlen(d->section) == len && !memcmp(d->section, name, len))
			return true;
	}
	return false;
}

/* Cut S at a '#' that follows a blank, then trailing blanks; new length. */
static size_t config_cut_comment(char *s, size_t len)
{
	size_t i;

	for (i = 1; i < len; i++) {
		if (s[i] == '#' && isspace((unsigned char)s[i - 1])) {
			len = i;
			break;
		}
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	s[len] = '\0';
	return len;
}

/*
 * A "[section]" line S: known sections pass, the rest are reported and
 * their keys skipped.  The name is rewritten without blanks ("[ recall ]"
 * becomes "[recall]"; inih would keep them).  Returns the new length, 0 =
 * hand inih a blank line instead.
 */
static size_t config_check_section(struct config_ctx *c, char *s)
{
	char *end = strchr(s, ']');
	char *name = s + 1;
	size_t len;

	if (!end) {
		config_error(c, c->lineno, "syntax error: '%s' has no closing ']'",
			     s);
		c->section_bad = true;
		return 0;
	}
	while (name < end && isspace((unsigned char)*name))
		name++;
	len = (size_t)(end - name);
	while (len && isspace((unsigned char)name[len - 1]))
		len--;
	c->section_bad = !config_section_known(name, len);
	if (c->section_bad)
		config_error(c, c->lineno, "unknown section [%.*s]", (int)len,
			     name);
	memmove(s + 1, name, len);
	memcpy(s + 1 + len, "]", 2);
	return len + 2;
}

/* Check the shape of trimmed line S (not blank, not a comment): its
 * length for inih, or 0 after reporting a syntax error. */
static size_t config_check_line(struct config_ctx *c, char *s, size_t len)
{
	if (*s == '[')
		return config_check_section(c, s);
	if (*s == '=' || *s == ':') {
		config_error(c, c->lineno, "syntax error: no key before '%c'",
			     *s);
		return 0;
	}
	if (!strpbrk(s, "=:")) {
		config_error(c, c->lineno,
			     "syntax error: expected 'key = value', [section] or a comment");
		return 0;
	}
	return len;
}

/*
 * The ini_reader: next physical line, without leading blanks (and the
 * UTF-8 BOM on line 1), with '#' comments cut.  Lines that are blank,
 * comments or syntax errors go to inih as "\n".
 */
static char *config_read_line(char *str, int num, void *stream)
{
	struct config_ctx *c = stream;
	ssize_t n = getline(&c->line, &c->cap, c->in);
	char *s;
	size_t len;
	bool nul;

	if (n < 0) {
		if (ferror(c->in))
			c->read_errno = errno ? errno : EIO;
		return NULL;
	}
	c->lineno++;
	s = c->line;
	if (c->lineno == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		s += 3;
	while (isspace((unsigned char)*s))
		s++;
	nul = memchr(c->line, '\0', (size_t)n) != NULL;
	len = config_cut_comment(s, strlen(s));
	if (nul) {
		config_error(c, c->lineno, "line contains a NUL byte");
		len = 0;
	} else if (!len || *s == ';' || *s == '#') {
		len = 0;	/* blank or comment: nothing for inih */
	} else if (len + 2 > (size_t)num) {
		config_error(c, c->lineno, "line too long (limit %d bytes)",
			     num - 2);
		if (*s == '[')
			c->section_bad = true;
		len = 0;
	} else {
		len = config_check_line(c, s, len);
	}
	memcpy(str, s, len);
	memcpy(str + len, "\n", 2);
	return str;
}

/* The ini_handler: one "key = value" in SECTION. */
static int config_handle(void *user, const char *section, const char *name,
			 const char *value)
{
	struct config_ctx *c = user;
	int id, line = c->lineno;
	char why[256];

	if (c->section_bad)
		return 1;	/* the section was reported already */
	if (!*section) {
		config_error(c, line, "key '%s' is outside any [section]", name);
		return 1;
	}
	id = store_flag_find_key(section, name);
	if (id < 0) {
		config_error(c, line, "unknown key '%s' in section [%s]", name,
			     section);
	} else if (c->key_line[id]) {
		config_error(c, line, "key '%s.%s': set twice (first on line %d)",
			     section, name, c->key_line[id]);
	} else if (store_flag_parse(id, value, strlen(value), &c->cfg.value[id],
				    why, sizeof(why))) {
		c->key_line[id] = line;
		config_error(c, line, "key '%s.%s': %s", section, name, why);
	} else {
		c->key_line[id] = line;
		c->cfg.set[id] = true;
	}
	return 1;	/* always go on: we collect every problem */
}

/* Rules across keys, checked once every key is known. */
static void config_check_whole(struct config_ctx *c)
{
	const enum store_flag_id e = FLAG_BR_BASE_EPISODIC_WEIGHT;
	const enum store_flag_id s = FLAG_BR_BASE_SEMANTIC_WEIGHT;
	double we = c->cfg.set[e] ? c->cfg.value[e] : flag_default(e);
	double ws = c->cfg.set[s] ? c->cfg.value[s] : flag_default(s);
	int line = c->key_line[e] > c->key_line[s] ? c->key_line[e]
						   : c->key_line[s];

	if (we == 0 && ws == 0)
		config_error(c, line,
			     "weights cannot be normalised: base_episodic_weight and base_semantic_weight are both 0");
}

/* Run inih over the open file; problems go to c->err. */
static int config_parse(struct config_ctx *c)
{
	int rc = ini_parse_stream(config_read_line, c, config_handle, c);

	if (rc == -2)
		return -ENOMEM;
	if (c->read_errno) {
		config_error(c, 0, "cannot read: %s", strerror(c->read_errno));
		return -c->read_errno;
	}
	/* The reader hands inih only well-formed lines; this is a backstop
	 * for a rule of inih's that the reader does not know. */
	if (rc > 0 && c->nerr == 0)
		config_error(c, rc, "syntax error");
	config_check_whole(c);
	return c->nerr ? -EINVAL : 0;
}

/* Hand over the collected problems (or NULL) to *errors. */
static void config_give_errors(struct config_ctx *c, char **errors)
{
	fclose(c->err);
	if (errors && c->nerr)
		*errors = c->errbuf;
	else
		free(c->errbuf);
	if (errors && !c->nerr)
		*errors = NULL;
}

int store_config_load(const char *path, struct store_config *cfg,
		      char **errors)
{
	struct config_ctx *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->path = path;
	c->err = open_memstream(&c->errbuf, &c->errlen);
	if (!c->err) {
		free(c);
		return -ENOMEM;
	}
	c->in = fopen(path, "r");
	if (!c->in) {
		rc = -errno;
		config_error(c, 0, "cannot open: %s", strerror(-rc));
	} else {
		rc = config_parse(c);
		fclose(c->in);
	}
	free(c->line);
	if (!rc)
		*cfg = c->cfg;
	config_give_errors(c, errors);
	free(c);
	return rc;
}

/* Is TEXT what was last applied from a config file for flag ID? */
static int config_applied_before(struct store *st, enum store_flag_id id,
				 const char *text, bool *same)
{
	const char *name = store_flag_def(id)->name;
	char key[96], *val = NULL;
	size_t vlen = 0;
	int rc;

	snprintf(key, sizeof(key), CONFIG_KEY_PREFIX "%s", name);
	rc = db_get(st, CF_DEFAULT, key, strlen(key), &val, &vlen);
	if (rc == -ENOENT) {
		*same = false;
		return 0;
	}
	if (rc)
		return rc;
	*same = vlen == strlen(text) && !memcmp(val, text, vlen);
	free(val);
	return 0;
}

/* Stage into B the cfg/ records of the keys that changed in the file,
 * and list them in CH; the number listed goes to *n. */
static int config_stage(struct store *st, const struct store_config *cfg,
			rocksdb_writebatch_t *b, struct flag_change *ch,
			size_t *n)
{
	char key[96], text[64];
	bool same;
	int id, rc;

	*n = 0;
	for (id = 0; id < FLAG__COUNT; id++) {
		if (!cfg->set[id])
			continue;
		store_flag_format(id, cfg->value[id], text, sizeof(text));
		rc = config_applied_before(st, id, text, &same);
		if (rc)
			return rc;
		if (same)
			continue;
		snprintf(key, sizeof(key), CONFIG_KEY_PREFIX "%s",
			 store_flag_def(id)->name);
		rocksdb_writebatch_put_cf(b, st->cf[CF_DEFAULT], key,
					  strlen(key), text, strlen(text));
		ch[(*n)++] = (struct flag_change){ id, cfg->value[id] };
	}
	return 0;
}

int store_config_apply(struct store *st, const struct store_config *cfg,
		       size_t *applied)
{
	struct flag_change ch[FLAG__COUNT];
	rocksdb_writebatch_t *b;
	size_t n = 0, changed = 0;
	int rc;

	if (st->read_only)
		return -EROFS;
	b = rocksdb_writebatch_create();
	rc = config_stage(st, cfg, b, ch, &n);
	if (!rc && n)
		rc = flag_commit(st, ch, n, 0, "config", b, &changed);
	rocksdb_writebatch_destroy(b);
	if (rc) {
		store_log(STORE_LOG_WARNING, "config: cannot apply: %s",
			  strerror(-rc));
		return rc;
	}
	if (n)
		store_log(STORE_LOG_INFO,
			  "config: applied %zu key(s) changed in the file, %zu flag value(s) changed",
			  n, changed);
	if (applied)
		*applied = n;
	return 0;
}
