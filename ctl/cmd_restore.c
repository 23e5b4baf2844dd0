/*
 * cmd_restore.c - engramctl restore SRC DATADIR: bring a snapshot
 * (MNT/snapshots/NAME, or a copy of one) or a backup dir (engramctl
 * backup) into DATADIR, offline.
 *
 * DATADIR must not exist or be empty (store_restore refuses otherwise),
 * so a restore never mixes with a live store; a DATADIR a daemon holds
 * is refused with the "in use" message before anything is touched.
 * Mount DATADIR afterwards with engramfs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "store.h"

static int cmd_restore_run(const char *src, const char *dir)
{
	struct stat sb;
	double t0;
	pid_t pid;
	int r;

	if (stat(src, &sb) < 0)
		return ctl_error("cannot open '%s': %s", src, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return ctl_error("'%s' is not a snapshot or backup dir", src);
	if (ctl_store_in_use(dir, &pid))
		return ctl_store_busy_error(dir);
	t0 = ctl_now();
	r = store_restore(src, dir);
	if (r == -EEXIST || r == -ENOTEMPTY)
		return ctl_error("data dir '%s' is not empty", dir);
	if (r == -EBUSY)
		return ctl_store_busy_error(dir);
	if (r < 0)
		return ctl_error("cannot restore '%s' into '%s': %s", src, dir,
				 strerror(-r));
	printf("restored '%s' into '%s' (%.2f s)\n", src, dir, ctl_now() - t0);
	return 0;
}

int cmd_restore(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	int opt;

	while ((opt = ctl_getopt(c, argc, argv, "h", opts)) != -1)
		return ctl_usage(c, opt == 'h');
	if (argc - optind != 2)
		return ctl_usage(c, false);
	ctl_offline_init();
	return cmd_restore_run(argv[optind], argv[optind + 1]);
}
