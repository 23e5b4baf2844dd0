/*
 * cmd_snapshot.c - engramctl snapshot create NAME | list | delete NAME:
 * hot snapshots, which are folders of MNT/snapshots.
 *
 * create is mkdir(2) (the daemon takes a consistent checkpoint before the
 * mkdir returns), delete is rmdir(2), list is the folder's listing with
 * each snapshot's time (its mtime): "NAME<TAB>TIME", oldest first;
 * --json gives [{"name": ..., "time": ...}].
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ctl.h"

struct cmd_snap {
	char *name;
	struct timespec t;
};

static int cmd_snap_cmp(const void *a, const void *b)
{
	const struct cmd_snap *x = a, *y = b;

	if (x->t.tv_sec != y->t.tv_sec)
		return x->t.tv_sec < y->t.tv_sec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmd_snap_list(struct ctl *c, const char *dir)
{
	struct json_object *a = c->json ? json_object_new_array() : NULL, *o;
	struct cmd_snap *v = NULL;
	char when[CTL_TIME_MAX], *p;
	struct dirent *de;
	struct stat st;
	size_t n = 0, i;
	DIR *d = opendir(dir);

	if (!d) {
		json_object_put(a);
		return ctl_error("cannot list '%s': %s", dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		p = ctl_xprintf("%s/%s", dir, de->d_name);
		v = ctl_xrealloc(v, (n + 1) * sizeof(*v));
		v[n].name = ctl_xstrdup(de->d_name);
		v[n].t = stat(p, &st) == 0 ? st.st_mtim : (struct timespec){ 0 };
		n++;
		free(p);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmd_snap_cmp);
	for (i = 0; i < n; i++) {
		v[i].t.tv_nsec = 0;
		ctl_time_format(&v[i].t, when, sizeof(when));
		if (a) {
			o = json_object_new_object();
			json_object_object_add(o, "name",
					       json_object_new_string(v[i].name));
			json_object_object_add(o, "time",
					       json_object_new_string(when));
			json_object_array_add(a, o);
		} else {
			printf("%s\t%s\n", v[i].name, when);
		}
		free(v[i].name);
	}
	free(v);
	if (a)
		ctl_json_print(a);
	return 0;
}

static int cmd_snap_change(const char *sub, const char *dir, const char *name)
{
	bool create = !strcmp(sub, "create");
	char *path;
	int r;

	if (strchr(name, '/') || !ctl_relpath_ok(name) || name[0] == '.')
		return ctl_usage_error("bad snapshot name '%s'", name);
	path = ctl_xprintf("%s/%s", dir, name);
	r = create ? mkdir(path, 0755) : rmdir(path);
	r = r < 0 ? -errno : 0;
	free(path);
	if (r == -EEXIST)
		return ctl_error("snapshot '%s' exists", name);
	if (r == -ENOENT && !create)
		return ctl_error("no snapshot '%s'", name);
	if (r == -ENOSYS)
		return ctl_error("snapshots: this engramfs does not take them "
				 "yet (ENOSYS)");
	if (r < 0)
		return ctl_error("cannot %s snapshot '%s': %s", sub, name,
				 strerror(-r));
	return 0;
}

int cmd_snapshot(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	const char *sub;
	char *dir;
	int opt, r, n;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	n = argc - optind;
	sub = n ? argv[optind] : "list";
	if (!strcmp(sub, "list") ? n > 1
	    : (strcmp(sub, "create") && strcmp(sub, "delete")) || n != 2)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	dir = ctl_path(c, "snapshots");
	r = !strcmp(sub, "list") ? cmd_snap_list(c, dir)
				 : cmd_snap_change(sub, dir, argv[optind + 1]);
	free(dir);
	return r;
}
