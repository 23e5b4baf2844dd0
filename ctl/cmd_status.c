/*
 * cmd_status.c - engramctl status: is the mount alive, what it holds, the
 * caller's cohort, the last consolidation, and which flags differ from
 * their defaults.
 *
 * The text is MNT/status as the daemon renders it (its "key: value"
 * lines are already the stable interface), then "flag.NAME: VALUE" for
 * every flag whose value differs from the built-in default.  --json gives
 * {"status": {...}, "flags": {every flag}}: numbers as numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "store.h"

/* Does TEXT (the mount's value) differ from the flag's default? */
static bool cmd_status_changed(enum store_flag_id id, const char *text)
{
	const struct store_flag_def *d = store_flag_def(id);
	double now, def;

	if (store_flag_parse(id, text, strlen(text), &now, NULL, 0) < 0 ||
	    store_flag_parse(id, d->def, strlen(d->def), &def, NULL, 0) < 0)
		return strcmp(text, d->def) != 0;
	return now != def;
}

static void cmd_status_flags_text(struct ctl *c)
{
	char *val;
	int i;

	for (i = 0; i < FLAG__COUNT; i++) {
		const char *name = store_flag_def(i)->name;

		if (ctl_flag_read(c, name, &val) < 0)
			continue;	/* a flag this daemon does not have */
		if (cmd_status_changed(i, val))
			printf("flag.%s: %s\n", name, val);
		free(val);
	}
}

static struct json_object *cmd_status_flags_json(struct ctl *c)
{
	struct json_object *fl = json_object_new_object();
	char *val;
	double d;
	int i;

	for (i = 0; i < FLAG__COUNT; i++) {
		const char *name = store_flag_def(i)->name;

		if (ctl_flag_read(c, name, &val) < 0)
			continue;
		if (store_flag_def(i)->type != STORE_FLAG_ENUM &&
		    ctl_parse_double(val, &d))
			json_object_object_add(fl, name,
					       json_object_new_double_s(d, val));
		else
			json_object_object_add(fl, name,
					       json_object_new_string(val));
		free(val);
	}
	return fl;
}

static void cmd_status_json(struct ctl *c, const char *status)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "status", ctl_kv_to_json(status));
	json_object_object_add(o, "flags", cmd_status_flags_json(c));
	ctl_json_print(o);
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	char *status;
	int opt, r = 0;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (optind != argc)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	status = ctl_status_read(c);
	if (!status)
		return CTL_EXIT_FAIL;
	if (c->json) {
		cmd_status_json(c, status);
	} else {
		fputs(status, stdout);
		cmd_status_flags_text(c);
	}
	free(status);
	return r;
}
