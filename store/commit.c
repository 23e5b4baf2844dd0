/*
 * commit.c - group commit: concurrent fsyncs share one sync of the log.
 *
 * A durable episode is a write of its batch to RocksDB's write-ahead log
 * followed by an fsync of that log (store_sync).  Writes that read first
 * hold st->write_lock across rocksdb_write, so a write with sync=true
 * would hold it across the fsync as well and every other writer would
 * queue behind a disk flush: one fsync per episode however many writers.
 * Instead the daemon commits an fsync'ed episode like any other (the
 * batch reaches the log file, not the disk) and then calls store_sync,
 * which syncs the log outside every lock, shared:
 *
 *   want = the database's latest sequence number (covers the caller's
 *          write, which has returned)
 *   while synced < want:
 *       a sync is running: wait for it, then look again (it may have
 *                          started before the caller's write)
 *       else lead: target = latest sequence, sync the log unlocked,
 *                  synced = target, wake everyone
 *
 * Every writer that arrives while a sync runs is covered by the next one,
 * so N concurrent fsyncs cost about two log syncs, not N.  A failed sync
 * is the leader's error; waiters find synced unchanged and lead a retry
 * of their own, so each caller gets the outcome of a sync that started
 * after its write.  A store_sync with nothing written since the last
 * sync costs no disk flush at all.
 *
 * The cost: a write is visible to readers before it is durable (as in a
 * file system's page cache); it is durable when store_sync returns, which
 * is what fsync promises.
 *
 * Rejected: sync=true writes (RocksDB batches concurrent sync writes in
 * its write group, but the write lock lets only one in at a time);
 * dropping the write lock around the write (counters and document
 * frequencies are read-modify-write); a timer that delays syncs to batch
 * more (adds latency to a lone writer for no gain: the running sync is
 * the batching window).
 */
#include <errno.h>

#include "store_i.h"

void commit_init(struct store *st)
{
	pthread_mutex_init(&st->commit.lock, NULL);
	pthread_cond_init(&st->commit.done, NULL);
	st->commit.syncing = false;
	st->commit.synced = 0;
	st->commit.syncs = 0;
}

void commit_destroy(struct store *st)
{
	pthread_cond_destroy(&st->commit.done);
	pthread_mutex_destroy(&st->commit.lock);
}

/* Sync the log as the leader (g->lock held; dropped meanwhile). */
static int commit_lead(struct store *st, struct commit_group *g)
{
	uint64_t target = rocksdb_get_latest_sequence_number(st->db);
	char *err = NULL;
	int rc;

	g->syncing = true;
	pthread_mutex_unlock(&g->lock);
	rocksdb_flush_wal(st->db, 1, &err);
	rc = err_from_rocksdb(&err, "sync");
	pthread_mutex_lock(&g->lock);
	g->syncing = false;
	if (!rc && target > g->synced)
		g->synced = target;
	if (!rc)
		g->syncs++;
	pthread_cond_broadcast(&g->done);
	return rc;
}

int commit_sync(struct store *st)
{
	struct commit_group *g = &st->commit;
	uint64_t want;
	int rc = 0;

	if (st->read_only)
		return 0;
	want = rocksdb_get_latest_sequence_number(st->db);
	pthread_mutex_lock(&g->lock);
	while (!rc && g->synced < want) {
		if (g->syncing)
			pthread_cond_wait(&g->done, &g->lock);
		else
			rc = commit_lead(st, g);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}
