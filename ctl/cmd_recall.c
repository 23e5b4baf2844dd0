/*
 * cmd_recall.c - engramctl recall CUE: ask the mount.
 *
 * A short cue is read as MNT/recall/CUE?OPTIONS.  The options part is
 * always there (format= at least), so the cue is everything before the
 * LAST '?' and a cue that itself ends in "?a=b" cannot be mistaken for
 * options.  A cue that cannot be a file name - longer than 255 bytes with
 * its options, or with a '/' or a newline - goes through MNT/query: one
 * write of the cue and a last line "?OPTIONS" (or, for a cue that starts
 * with '{', a JSON object, since a body starting with '{' is JSON), then
 * the answer is read on the same descriptor.
 *
 * The question is parsed with libengram's own parser before it is sent,
 * so a bad option gets its reason here ("bad value for 'since': ...")
 * instead of a bare EINVAL from the mount.  The answer is printed as the
 * mount gives it: TSV lines, or JSON with --json.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"
#include "store.h"

struct cmd_recall {
	const char *limit, *mode, *since, *until, *under, *user;
};

/* "key=value&..." from the options that were given. */
static char *cmd_recall_options(const struct ctl *c,
				const struct cmd_recall *o)
{
	const char *keys[] = { "limit", "mode", "since", "until", "under",
			       "user" };
	const char *vals[] = { o->limit, o->mode, o->since, o->until,
			       o->under, o->user };
	char *s = ctl_xstrdup(c->json ? "format=json" : "format=text"), *e;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!vals[i])
			continue;
		e = ctl_escape_value(vals[i]);
		s = ctl_xrealloc(s, strlen(s) + strlen(keys[i]) + strlen(e) + 3);
		strcat(strcat(strcat(strcat(s, "&"), keys[i]), "="), e);
		free(e);
	}
	return s;
}

static char *cmd_recall_json_body(const struct ctl *c,
				  const struct cmd_recall *o, const char *cue)
{
	struct json_object *q = json_object_new_object();
	uint64_t n;
	char *s;

	json_object_object_add(q, "cue", json_object_new_string(cue));
	json_object_object_add(q, "format", json_object_new_string(
						    c->json ? "json" : "text"));
	if (o->limit && ctl_parse_u64(o->limit, &n))
		json_object_object_add(q, "limit",
				       json_object_new_int64((int64_t)n));
	else if (o->limit)
		json_object_object_add(q, "limit",
				       json_object_new_string(o->limit));
#define CMD_RECALL_STR(k) \
	if (o->k) \
		json_object_object_add(q, #k, json_object_new_string(o->k))
	CMD_RECALL_STR(mode);
	CMD_RECALL_STR(since);
	CMD_RECALL_STR(until);
	CMD_RECALL_STR(under);
	CMD_RECALL_STR(user);
#undef CMD_RECALL_STR
	s = ctl_xstrdup(json_object_to_json_string_ext(
		q, JSON_C_TO_STRING_PLAIN));
	json_object_put(q);
	return s;
}

/* Check the question as the mount will; 0 or 2 with the reason. */
static int cmd_recall_check(const char *text, size_t len, bool body)
{
	struct store_query q;
	char why[256] = "";
	int r = body ? store_query_parse_body(text, len, &q, why, sizeof(why))
		     : store_query_parse_name(text, len, &q, why, sizeof(why));

	if (r < 0)
		return ctl_usage_error("%s", why[0] ? why : strerror(-r));
	store_query_release(&q);
	return 0;
}

static int cmd_recall_print(int fd, const char *what)
{
	char *buf;
	size_t len;
	int r = ctl_read_fd(fd, &buf, &len);

	if (r == -EINVAL)
		return ctl_error("the mount refused the query (see its log)");
	if (r < 0)
		return ctl_error("cannot recall from '%s': %s", what,
				 strerror(-r));
	fwrite(buf, 1, len, stdout);
	free(buf);
	return 0;
}

static int cmd_recall_name(struct ctl *c, const char *name)
{
	char *path = ctl_xprintf("%s/recall/%s", c->mount, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0) {
		r = errno == EINVAL ? ctl_error("the mount refused the query "
						"(see its log)")
				    : ctl_error("cannot open '%s': %s", path,
						strerror(errno));
		free(path);
		return r;
	}
	r = cmd_recall_print(fd, path);
	close(fd);
	free(path);
	return r;
}

static int cmd_recall_query(struct ctl *c, const char *body)
{
	char *path = ctl_path(c, "query");
	int fd = open(path, O_RDWR | O_CLOEXEC), r;

	if (fd < 0) {
		r = ctl_error("cannot open '%s': %s", path, strerror(errno));
		free(path);
		return r;
	}
	r = ctl_write_all(fd, body, strlen(body));
	if (r < 0)
		r = ctl_error("cannot write the query to '%s': %s", path,
			      strerror(-r));
	else
		r = cmd_recall_print(fd, path);
	close(fd);
	free(path);
	return r;
}

static int cmd_recall_run(struct ctl *c, const struct cmd_recall *o,
			  const char *cue)
{
	char *opts = cmd_recall_options(c, o), *q;
	const char *lead = cue + strspn(cue, " \t\r\n");
	int r;

	q = ctl_xprintf("%s?%s", cue, opts);
	if (strlen(q) <= STORE_NAME_MAX && !strpbrk(cue, "/\n")) {
		r = cmd_recall_check(q, strlen(q), false);
		if (!r)
			r = cmd_recall_name(c, q);
	} else {
		free(q);
		q = *lead == '{' ? cmd_recall_json_body(c, o, cue)
				 : ctl_xprintf("%s\n?%s\n", cue, opts);
		r = cmd_recall_check(q, strlen(q), true);
		if (!r)
			r = cmd_recall_query(c, q);
	}
	free(q);
	free(opts);
	return r;
}

int cmd_recall(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "limit", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "under", required_argument, NULL, 'U' },
		{ "user", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_recall o = { 0 };
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "hl:m:", opts)) != -1) {
		switch (opt) {
		case 'l': o.limit = optarg; break;
		case 'm': o.mode = optarg; break;
		case 's': o.since = optarg; break;
		case 'u': o.until = optarg; break;
		case 'U': o.under = optarg; break;
		case 'k': o.user = optarg; break;
		default: return ctl_usage(c, opt == 'h');
		}
	}
	if (optind + 1 != argc)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	return cmd_recall_run(c, &o, argv[optind]);
}
