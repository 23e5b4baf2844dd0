/*
 * cmd_concepts.c - engramctl concepts [NAME]: the concepts consolidation
 * formed, as MNT/concepts/ shows them.
 *
 * Without NAME: one label per line, in name order (--json: an array).
 * With NAME: the concept file as the daemon renders it (--json:
 * {"name": ..., "text": ...}; the file's own layout is the daemon's).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"

static int cmd_concepts_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_concepts_list(struct ctl *c)
{
	char *path = ctl_path(c, "concepts"), **v = NULL;
	struct json_object *a;
	struct dirent *de;
	size_t n = 0, i;
	DIR *d = opendir(path);

	if (!d) {
		i = (size_t)ctl_error("cannot list '%s': %s", path,
				      strerror(errno));
		free(path);
		return (int)i;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		v = ctl_xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = ctl_xstrdup(de->d_name);
	}
	closedir(d);
	free(path);
	if (n)
		qsort(v, n, sizeof(*v), cmd_concepts_cmp);
	a = c->json ? json_object_new_array() : NULL;
	for (i = 0; i < n; i++) {
		if (a)
			json_object_array_add(a, json_object_new_string(v[i]));
		else
			printf("%s\n", v[i]);
		free(v[i]);
	}
	free(v);
	if (a)
		ctl_json_print(a);
	return 0;
}

static int cmd_concepts_show(struct ctl *c, const char *name)
{
	char *path, *buf;
	struct json_object *o;
	size_t len;
	int r;

	if (strchr(name, '/') || !ctl_relpath_ok(name))
		return ctl_error("no concept '%s'", name);
	path = ctl_xprintf("%s/concepts/%s", c->mount, name);
	r = ctl_read_file(path, &buf, &len);
	free(path);
	if (r == -ENOENT)
		return ctl_error("no concept '%s'", name);
	if (r < 0)
		return ctl_error("cannot read concept '%s': %s", name,
				 strerror(-r));
	if (c->json) {
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "text",
				       json_object_new_string_len(buf, (int)len));
		ctl_json_print(o);
	} else {
		fwrite(buf, 1, len, stdout);
	}
	free(buf);
	return 0;
}

int cmd_concepts(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (argc - optind > 1)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	if (optind == argc)
		return cmd_concepts_list(c);
	return cmd_concepts_show(c, argv[optind]);
}
