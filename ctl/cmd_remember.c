/*
 * cmd_remember.c - engramctl remember: store one episode.
 *
 *   engramctl remember [--name N] [--when T] [--tag T]... [TEXT | -]
 *
 * TEXT (the arguments joined by blanks) is stored with a final newline,
 * as `echo TEXT > MNT/episodes/N` would; "-" or no TEXT reads standard
 * input as is.  Without --name the episode is named after the time,
 * YYYYMMDD-HHMMSS in UTC, with -2, -3 ... on a clash: the create is
 * O_EXCL, so two engramctl runs in the same second never overwrite each
 * other.  An existing --name is refused unless --force.  The name is
 * printed on standard output.  Metadata: --when sets the mtime, --tag
 * (repeatable) user.engram.tags as "a,b", --confidence, --where, --who.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

struct cmd_remember {
	const char *name;
	bool force;
	struct ctl_meta meta;
};

/* Create the episode: its fd, with the name used in *name. */
static int cmd_remember_create(struct ctl *c, struct cmd_remember *o,
			       char **name)
{
	char base[32], *path;
	struct tm tm;
	time_t now = time(NULL);
	int fd, i;

	if (o->name) {
		path = ctl_xprintf("%s/episodes/%s", c->mount, o->name);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
				(o->force ? O_TRUNC : O_EXCL), 0644);
		free(path);
		*name = ctl_xstrdup(o->name);
		return fd < 0 ? -errno : fd;
	}
	gmtime_r(&now, &tm);
	strftime(base, sizeof(base), "%Y%m%d-%H%M%S", &tm);
	for (i = 1, fd = -EEXIST; i < 1000 && fd == -EEXIST; i++) {
		*name = i == 1 ? ctl_xstrdup(base)
			       : ctl_xprintf("%s-%d", base, i);
		path = ctl_xprintf("%s/episodes/%s", c->mount, *name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			fd = -errno;
		free(path);
		if (fd == -EEXIST)
			free(*name);
	}
	return fd;
}

static char *cmd_remember_text(int argc, char **argv, size_t *len)
{
	size_t n = 0;
	char *t;
	int i;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	t = ctl_xmalloc(n + 1);
	t[0] = '\0';
	for (i = 0; i < argc; i++) {
		strcat(t, argv[i]);
		strcat(t, i + 1 < argc ? " " : "\n");
	}
	*len = n;
	return t;
}

static int cmd_remember_write(struct ctl *c, struct cmd_remember *o,
			      const char *buf, size_t len)
{
	const char *step = "";
	char *name = NULL, *root;
	int fd, r = 0;

	if (o->name && !ctl_relpath_ok(o->name))
		return ctl_usage_error("bad name '%s'", o->name);
	if (o->name) {
		root = ctl_path(c, "episodes");
		r = ctl_mkdir_parents(root, o->name);
		free(root);
	}
	if (r < 0)
		return ctl_error("cannot create the folders of '%s': %s",
				 o->name, strerror(-r));
	fd = cmd_remember_create(c, o, &name);
	if (fd == -EEXIST)
		return ctl_error("episode '%s' exists (forget it, or "
				 "--force)", name);
	if (fd < 0)
		return ctl_error("cannot create episode '%s': %s", name,
				 strerror(-fd));
	r = ctl_write_all(fd, buf, len);
	if (!r)
		r = ctl_meta_apply(fd, &o->meta, !o->force, &step);
	else
		step = "content";
	if (close(fd) < 0 && !r)
		r = -errno, step = "content";
	if (r < 0)
		r = ctl_error("cannot store episode '%s' (%s): %s", name, step,
			      strerror(-r));
	else
		printf("%s\n", name);
	free(name);
	return r;
}

static int cmd_remember_opt(struct cmd_remember *o, int opt)
{
	char *t;

	switch (opt) {
	case 'n':
		o->name = optarg;
		return 0;
	case 'f':
		o->force = true;
		return 0;
	case 'w':
		if (ctl_time_parse(optarg, &o->meta.when) < 0)
			return ctl_usage_error("bad time '%s'", optarg);
		o->meta.has_when = true;
		return 0;
	case 't':
		t = o->meta.tags ? ctl_xprintf("%s,%s", o->meta.tags, optarg)
				 : ctl_xstrdup(optarg);
		free(o->meta.tags);
		o->meta.tags = t;
		return 0;
	case 'c':
		free(o->meta.confidence);
		o->meta.confidence = ctl_xstrdup(optarg);
		return 0;
	case 'W':
		free(o->meta.where);
		o->meta.where = ctl_xstrdup(optarg);
		return 0;
	case 'H':
		free(o->meta.who);
		o->meta.who = ctl_xstrdup(optarg);
		return 0;
	default:
		return CTL_EXIT_USAGE;
	}
}

int cmd_remember(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "name", required_argument, NULL, 'n' },
		{ "when", required_argument, NULL, 'w' },
		{ "tag", required_argument, NULL, 't' },
		{ "confidence", required_argument, NULL, 'c' },
		{ "where", required_argument, NULL, 'W' },
		{ "who", required_argument, NULL, 'H' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_remember o = { 0 };
	char *buf;
	size_t len;
	double d;
	int opt, r = 0;

	while (!r && (opt = ctl_getopt(c, argc, argv, "hn:w:t:f", opts)) != -1) {
		if (opt == 'h' || opt == '?') {
			ctl_meta_release(&o.meta);
			return ctl_usage(c, opt == 'h');
		}
		r = cmd_remember_opt(&o, opt);
	}
	if (!r && o.meta.confidence &&
	    !(ctl_parse_double(o.meta.confidence, &d) && d >= 0 && d <= 1))
		r = ctl_usage_error("bad confidence '%s': expected a number "
				    "between 0 and 1", o.meta.confidence);
	if (!r && !(r = ctl_mount_resolve(c))) {
		if (optind == argc ||
		    (optind + 1 == argc && !strcmp(argv[optind], "-")))
			r = ctl_read_fd(STDIN_FILENO, &buf, &len) < 0
				    ? ctl_error("cannot read standard input")
				    : 0;
		else
			buf = cmd_remember_text(argc - optind, argv + optind,
						&len);
		if (!r) {
			r = cmd_remember_write(c, &o, buf, len);
			free(buf);
		}
	}
	ctl_meta_release(&o.meta);
	return r;
}
