/*
 * cmd_config.c - engramctl config check FILE: is FILE a config file the
 * daemon would accept?
 *
 * It runs the daemon's own parser (store_config_load: the one table of
 * flags drives both), so "ok" here means `engramfs -o config=FILE`
 * starts, and a reload of FILE is applied.  Problems are printed as the
 * daemon logs them, "FILE:LINE: key 'recall.bm25_k1': expected a number
 * between 0 and 3", one per line on stderr, and the exit status is 1.
 * --json: {"file": ..., "ok": bool, "keys": N, "errors": [...]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "store.h"

static int cmd_config_keys(const struct store_config *cfg)
{
	int i, n = 0;

	for (i = 0; i < FLAG__COUNT; i++)
		n += cfg->set[i];
	return n;
}

static void cmd_config_json(const char *file, int r,
			    const struct store_config *cfg, char *errors)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	char *line, *save;

	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "ok", json_object_new_boolean(r == 0));
	json_object_object_add(o, "keys",
			       json_object_new_int(r ? 0 : cmd_config_keys(cfg)));
	for (line = errors ? strtok_r(errors, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_object_array_add(a, json_object_new_string(line));
	json_object_object_add(o, "errors", a);
	ctl_json_print(o);
}

static int cmd_config_check(struct ctl *c, const char *file)
{
	struct store_config cfg;
	char *errors = NULL;
	int r = store_config_load(file, &cfg, &errors);

	if (c->json)
		cmd_config_json(file, r, &cfg, errors);
	else if (r == 0)
		printf("%s: ok (%d keys)\n", file, cmd_config_keys(&cfg));
	else if (errors)
		fputs(errors, stderr);
	else
		ctl_error("cannot check '%s': %s", file, strerror(-r));
	free(errors);
	return r ? CTL_EXIT_FAIL : 0;
}

int cmd_config(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (argc - optind != 2 || strcmp(argv[optind], "check"))
		return ctl_usage(c, false);
	return cmd_config_check(c, argv[optind + 1]);
}
