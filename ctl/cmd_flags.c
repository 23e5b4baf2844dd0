/*
 * cmd_flags.c - engramctl flags [list | get NAME | set NAME VALUE |
 * history]: the runtime flags under MNT/flags.
 *
 * list prints "NAME<TAB>VALUE" per flag in name order (what the mount
 * lists, so a daemon with more flags than this engramctl knows is shown
 * whole).  set checks the value against the flag registry of libengram
 * first, so a bad value gets the same reason the daemon would log
 * ("expected a number between 0 and 3"); the mount still decides.
 * history is flags/.history; --json parses its lines:
 *   2026-11-21T09:16:24Z uid=1000 blended_recall 0 -> 1 source=write
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "store.h"

int ctl_flag_read(const struct ctl *c, const char *name, char **val)
{
	char *path = ctl_xprintf("%s/flags/%s", c->mount, name), *buf;
	size_t len;
	int r = ctl_read_file(path, &buf, &len);

	free(path);
	if (r < 0)
		return r;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	*val = buf;
	return 0;
}

int ctl_flag_write(const struct ctl *c, const char *name, const char *val)
{
	char *path = ctl_xprintf("%s/flags/%s", c->mount, name);
	char *line = ctl_xprintf("%s\n", val);
	int r = ctl_write_file(path, line, strlen(line), O_TRUNC);

	free(path);
	free(line);
	return r;
}

static int cmd_flags_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The flag names the mount lists, sorted; NULL-terminated. */
static char **cmd_flags_names(const struct ctl *c, size_t *n)
{
	char *path = ctl_path(c, "flags"), **v = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(path);

	*n = 0;
	if (!d) {
		ctl_error("cannot list '%s': %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n + 1 >= cap) {
			cap = cap ? cap * 2 : 64;
			v = ctl_xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = ctl_xstrdup(de->d_name);
	}
	closedir(d);
	free(path);
	if (!v)
		v = ctl_xmalloc(sizeof(*v));
	v[*n] = NULL;
	qsort(v, *n, sizeof(*v), cmd_flags_cmp);
	return v;
}

static int cmd_flags_list(struct ctl *c)
{
	struct json_object *o = c->json ? json_object_new_object() : NULL;
	size_t n, i;
	char **names = cmd_flags_names(c, &n), *val;
	int rc = 0;

	if (!names)
		return CTL_EXIT_FAIL;
	for (i = 0; i < n; i++) {
		int r = ctl_flag_read(c, names[i], &val);

		if (r < 0) {
			rc = ctl_error("cannot read flag '%s': %s", names[i],
				       strerror(-r));
		} else if (o) {
			json_object_object_add(o, names[i],
					       json_object_new_string(val));
		} else {
			printf("%s\t%s\n", names[i], val);
		}
		if (r == 0)
			free(val);
		free(names[i]);
	}
	free(names);
	if (o)
		ctl_json_print(o);
	return rc;
}

static int cmd_flags_get(struct ctl *c, const char *name)
{
	char *val;
	int r = ctl_flag_read(c, name, &val);

	if (r == -ENOENT)
		return ctl_error("no flag '%s' (engramctl flags list)", name);
	if (r < 0)
		return ctl_error("cannot read flag '%s': %s", name,
				 strerror(-r));
	if (c->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, name, json_object_new_string(val));
		ctl_json_print(o);
	} else {
		printf("%s\n", val);
	}
	free(val);
	return 0;
}

static int cmd_flags_set(struct ctl *c, const char *name, const char *val)
{
	char why[256] = "";
	double v;
	int id = store_flag_find(name), r;

	if (id >= 0 && store_flag_parse(id, val, strlen(val), &v, why,
					sizeof(why)) < 0)
		return ctl_error("bad value '%s' for flag '%s': %s", val, name,
				 why);
	r = ctl_flag_write(c, name, val);
	if (r == -ENOENT || r == -EPERM)
		return ctl_error("no flag '%s' (engramctl flags list)", name);
	if (r == -EINVAL)
		return ctl_error("the mount refused '%s' for flag '%s' (see "
				 "its log)", val, name);
	if (r == -EACCES)
		return ctl_error("cannot set flag '%s': only the mount's "
				 "owner or root may", name);
	if (r < 0)
		return ctl_error("cannot set flag '%s': %s", name,
				 strerror(-r));
	return 0;
}

/* One history line as an object, or NULL when it does not parse. */
static struct json_object *cmd_flags_history_line(const char *line)
{
	char when[64], uid[32], flag[256], old[256], arrow[8], nw[256];
	char src[64];
	struct json_object *o;

	if (sscanf(line, "%63s uid=%31s %255s %255s %7s %255s source=%63s",
		   when, uid, flag, old, arrow, nw, src) != 7 ||
	    strcmp(arrow, "->"))
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "time", json_object_new_string(when));
	json_object_object_add(o, "uid", json_object_new_int64(atoll(uid)));
	json_object_object_add(o, "flag", json_object_new_string(flag));
	json_object_object_add(o, "old", json_object_new_string(old));
	json_object_object_add(o, "new", json_object_new_string(nw));
	json_object_object_add(o, "source", json_object_new_string(src));
	return o;
}

static int cmd_flags_history(struct ctl *c)
{
	char *path = ctl_path(c, "flags/.history"), *buf, *line, *save;
	struct json_object *a, *o;
	size_t len;
	int r = ctl_read_file(path, &buf, &len);

	if (r < 0) {
		r = ctl_error("cannot read '%s': %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(path);
	if (!c->json) {
		fwrite(buf, 1, len, stdout);
		free(buf);
		return 0;
	}
	a = json_object_new_array();
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if ((o = cmd_flags_history_line(line)))
			json_object_array_add(a, o);
	ctl_json_print(a);
	free(buf);
	return 0;
}

int cmd_flags(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	const char *sub;
	int opt, r, n;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	n = argc - optind;
	sub = n ? argv[optind] : "list";
	if ((!strcmp(sub, "list") || !strcmp(sub, "history")) && n > 1)
		return ctl_usage(c, false);
	if ((!strcmp(sub, "get") && n != 2) || (!strcmp(sub, "set") && n != 3))
		return ctl_usage(c, false);
	if (strcmp(sub, "list") && strcmp(sub, "history") &&
	    strcmp(sub, "get") && strcmp(sub, "set"))
		return ctl_usage_error("unknown flags command '%s'", sub);
	if ((r = ctl_mount_resolve(c)))
		return r;
	if (!strcmp(sub, "list"))
		return cmd_flags_list(c);
	if (!strcmp(sub, "history"))
		return cmd_flags_history(c);
	if (!strcmp(sub, "get"))
		return cmd_flags_get(c, argv[optind + 1]);
	return cmd_flags_set(c, argv[optind + 1], argv[optind + 2]);
}
