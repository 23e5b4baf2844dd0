/*
 * err.c - the one place where RocksDB's error strings become errno values.
 *
 * RocksDB's C API reports failure as a malloc'd string in *errptr whose
 * prefix is the Status code name ("IO error: No space left on device",
 * "Corruption: ...", "Resource busy: ...").  We map by prefix, log the
 * whole text once with what we were doing, and free the string.
 *
 *   "IO error: ...No space left..." -> ENOSPC
 *   "IO error: While lock file" / "Resource busy" -> EBUSY
 *   "IO error: ..."                 -> EIO
 *   "Corruption: ..."               -> EIO, logged at ERR as corruption
 *   "Invalid argument: ..."         -> EINVAL
 *   "NotFound: ..."                 -> ENOENT
 *   anything else                   -> EIO
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"

static bool err_has(const char *s, const char *needle)
{
	return strstr(s, needle) != NULL;
}

static int err_classify(const char *s)
{
	if (err_has(s, "No space left") || err_has(s, "ENOSPC"))
		return -ENOSPC;
	if (err_has(s, "lock file") || err_has(s, "lock hold") ||
	    err_has(s, "Resource busy") ||
	    err_has(s, "Resource temporarily unavailable"))
		return -EBUSY;
	if (!strncmp(s, "Corruption", 10))
		return -EIO;
	if (!strncmp(s, "Invalid argument", 16))
		return -EINVAL;
	if (!strncmp(s, "NotFound", 8) || !strncmp(s, "Not found", 9))
		return -ENOENT;
	if (err_has(s, "Read-only file system"))
		return -EROFS;
	return -EIO;
}

int err_from_rocksdb(char **errptr, const char *what)
{
	int err;

	if (!errptr || !*errptr)
		return 0;
	err = err_classify(*errptr);
	store_log(!strncmp(*errptr, "Corruption", 10) ? STORE_LOG_ERR
						       : STORE_LOG_WARNING,
		  "%s: %s%s (%s)", what,
		  !strncmp(*errptr, "Corruption", 10) ? "DATABASE CORRUPTION: "
						      : "",
		  *errptr, strerror(-err));
	free(*errptr);
	*errptr = NULL;
	return err;
}
