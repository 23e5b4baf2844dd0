/*
 * cmd_consolidate.c - engramctl consolidate [--wait]: run consolidation.
 *
 * One write of "consolidate" to MNT/ctl; the daemon answers the write
 * when the run is over, so the verb always waits and --wait is accepted
 * for scripts written for a daemon that did not.  Afterwards the status
 * line last_consolidation (and the concept count, when the daemon shows
 * one) is printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void cmd_consolidate_report(struct ctl *c)
{
	const char *keys[] = { "last_consolidation", "concepts" };
	char *status = ctl_status_read(c), *v;
	size_t i;

	if (!status)
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = ctl_kv_get(status, keys[i]);
		if (v)
			printf("%s: %s\n", keys[i], v);
		free(v);
	}
	free(status);
}

int cmd_consolidate(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "wait", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	double t0;
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "hw", opts)) != -1)
		if (opt != 'w')
			return ctl_usage(c, opt == 'h');
	if (optind != argc)
		return ctl_usage(c, false);
	if ((r = ctl_mount_resolve(c)))
		return r;
	t0 = ctl_now();
	r = ctl_command(c, "consolidate");
	if (r < 0)
		return ctl_command_error("consolidate", r);
	printf("consolidated in %.2f s\n", ctl_now() - t0);
	cmd_consolidate_report(c);
	return 0;
}
