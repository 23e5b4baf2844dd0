/*
 * offline.c - what the offline verbs (restore, verify) share: quiet store
 * logging and the "is a daemon holding this data dir?" test.
 *
 * A store opened read-only does not take RocksDB's lock, so opening it
 * cannot tell whether a mount has it.  The lock itself can: RocksDB
 * holds a POSIX record lock (fcntl F_SETLK) on DATADIR/LOCK for as long
 * as the database is open for writing, and F_GETLK reports the holder
 * without taking anything.  store_open's -EBUSY (a writable open, or a
 * store that checks itself) is mapped to the same message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "store.h"

static void ctl_store_log(int level, const char *msg)
{
	(void)level;
	fprintf(stderr, "store: %s\n", msg);
}

void ctl_offline_init(void)
{
	/* errors only: the verbs say what went wrong themselves */
	store_log_set(ctl_store_log, STORE_LOG_ERR);
}

bool ctl_store_in_use(const char *datadir, pid_t *pid)
{
	char *path = ctl_xprintf("%s/LOCK", datadir);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool busy = false;

	free(path);
	if (fd < 0)
		return false;
	/* F_GETLK wants a descriptor open for the lock type asked about
	 * only on some systems; Linux answers for a read-only one. */
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
		busy = true;
		*pid = fl.l_pid;
	}
	close(fd);
	return busy;
}

int ctl_store_busy_error(const char *datadir)
{
	return ctl_error("store '%s' is in use by a mount (unmount it "
			 "first)", datadir);
}
