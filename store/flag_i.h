/*
 * flag_i.h - the commit path of the flag registry, shared by flag.c and
 * config.c.  Not API: fs/ and ctl/ use store_flag_set() from store.h.
 */
#ifndef ENGRAM_FLAG_I_H
#define ENGRAM_FLAG_I_H

#include "store_i.h"

/* One new value for one flag (already parsed and range-checked). */
struct flag_change {
	enum store_flag_id id;
	double value;
};

/*
 * Commit N changes as one synchronous batch, under st->write_lock:
 * for each change whose value differs from the current one (or from an
 * earlier change of the same flag in CH), a CF_FLAGS record and a history
 * line "TIME uid=UID NAME OLD -> NEW source=SOURCE".  EXTRA (may be NULL;
 * owned by the caller, who destroys it) is filled by the caller with more
 * puts and is written in the same batch, even when no value changes.
 * Nothing is written when nothing changed and EXTRA is NULL or empty.
 *
 * On success the new values are published for store_flag_get() before the
 * lock is released, and *changed (may be NULL) gets the number of changes
 * that altered a value.  On failure (-EIO, -ENOSPC, -EROFS) nothing is
 * published and *changed is untouched.
 */
int flag_commit(struct store *st, const struct flag_change *ch, size_t n,
		uint32_t uid, const char *source, rocksdb_writebatch_t *extra,
		size_t *changed);

/* Canonical text of the default, parsed: what store_flag_get returns for
 * a flag never set. */
double flag_default(enum store_flag_id id);

#endif
