/*
 * cmd_verify.c - engramctl verify DATADIR: check a stopped store.
 *
 * Opens DATADIR read-only with libengram and runs store_verify, which
 * checks that every index entry, binding and counter agrees with the
 * episodes.  Each problem is printed on its own line; the exit status is
 * 1 when there is any, so a script (or a unit's ExecStartPre) can gate on
 * it.  A data dir a daemon holds is refused: a read-only view of a store
 * that is being written is not a consistent one (offline.c).
 * --json: {"datadir": ..., "problems": N, "report": [lines]}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "ctl.h"
#include "store.h"

static void cmd_verify_json(const char *dir, int n, char *report)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	char *line, *save;

	json_object_object_add(o, "datadir", json_object_new_string(dir));
	json_object_object_add(o, "problems", json_object_new_int(n));
	for (line = report ? strtok_r(report, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_object_array_add(a, json_object_new_string(line));
	json_object_object_add(o, "report", a);
	ctl_json_print(o);
}

static int cmd_verify_open(const char *dir, struct store **st)
{
	struct store_options opt = { .read_only = true };
	struct stat sb;
	pid_t pid;
	int r;

	if (stat(dir, &sb) < 0)
		return ctl_error("cannot open store '%s': %s", dir,
				 strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return ctl_error("'%s' is not a data dir", dir);
	if (ctl_store_in_use(dir, &pid))
		return ctl_store_busy_error(dir);
	r = store_open(dir, &opt, st);
	if (r == -EBUSY)
		return ctl_store_busy_error(dir);
	if (r < 0)
		return ctl_error("cannot open store '%s': %s", dir,
				 strerror(-r));
	return 0;
}

static int cmd_verify_run(struct ctl *c, const char *dir)
{
	struct store *st;
	char *report = NULL;
	size_t len = 0;
	int n;

	if (cmd_verify_open(dir, &st))
		return CTL_EXIT_FAIL;
	n = store_verify(st, &report, &len);
	store_close(st);
	if (n < 0)
		return ctl_error("cannot verify store '%s': %s", dir,
				 strerror(-n));
	if (c->json) {
		cmd_verify_json(dir, n, report);
	} else {
		if (report)
			fwrite(report, 1, len, stdout);
		if (n)
			printf("store '%s': %d problem%s\n", dir, n,
			       n == 1 ? "" : "s");
		else
			printf("store '%s': ok\n", dir);
	}
	free(report);
	return n ? CTL_EXIT_FAIL : 0;
}

int cmd_verify(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (optind + 1 != argc)
		return ctl_usage(c, false);
	ctl_offline_init();
	return cmd_verify_run(c, argv[optind]);
}
