/*
 * rehearse.c - recall history, written behind recall's back.
 *
 * Every episode a recall returns is rehearsed: its recall count goes up
 * and its last-recall time moves to now (CF_RSTAT, by merge), which
 * slows its decay in later recalls.  Writing that inside the recall put
 * the recall in RocksDB's write queue behind whatever batch was being
 * written, a consolidation chunk of thousands of keys among them: recall
 * p99 went from a few milliseconds to 100 ms while consolidation ran.
 *
 * So recall only appends inode numbers to a queue (a mutex and a memcpy)
 * and one thread writes the queue as a batch of merges every
 * REHEARSE_PERIOD_MS, or sooner when REHEARSE_WAKE numbers wait.  The
 * history lags by at most that period; it is a ranking hint, so a crash
 * losing the last period of it is harmless.  The queue is bounded: past
 * REHEARSE_MAX numbers, new ones are dropped (and counted in the log
 * once per flush) rather than growing memory under a recall storm.
 *
 * Lock: r->lock guards the queue and the stop flag; the thread swaps the
 * queue out under the lock and writes without it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"

#define REHEARSE_PERIOD_MS 200	/* how stale recall history may be */
#define REHEARSE_WAKE 1024	/* numbers that make the thread write now */
#define REHEARSE_MAX 65536	/* queue bound: 512 KiB */

struct rehearse {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool stop;
	uint64_t *ino;
	size_t n, cap;
	uint64_t dropped;
};

static void rehearse_write(struct store *st, const uint64_t *ino, size_t n)
{
	rocksdb_writebatch_t *b = rocksdb_writebatch_create();
	int64_t now = now_ns();
	uint64_t one = 1;
	unsigned char key[8];
	char val[16];
	int rc;

	memcpy(val, &one, 8);
	memcpy(val + 8, &now, 8);
	for (size_t i = 0; i < n; i++) {
		be64_put(key, ino[i]);
		rocksdb_writebatch_merge_cf(b, st->cf[CF_RSTAT],
					    (const char *)key, 8, val, 16);
	}
	rc = db_write(st, b, false);
	if (rc)
		store_log(STORE_LOG_WARNING, "recall history not updated: %s",
			  strerror(-rc));
	rocksdb_writebatch_destroy(b);
}

/* Wait for work or the period; take the queue.  Returns false to stop. */
static bool rehearse_take(struct rehearse *r, uint64_t **ino, size_t *n)
{
	struct timespec until;
	bool go_on;

	pthread_mutex_lock(&r->lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += REHEARSE_PERIOD_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!r->stop && r->n < REHEARSE_WAKE &&
	       pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
		;
	*ino = r->ino;
	*n = r->n;
	r->ino = NULL;
	r->n = r->cap = 0;
	if (r->dropped)
		store_log(STORE_LOG_NOTICE,
			  "recall history: %llu rehearsals dropped (queue full)",
			  (unsigned long long)r->dropped);
	r->dropped = 0;
	go_on = !r->stop;
	pthread_mutex_unlock(&r->lock);
	return go_on;
}

static void *rehearse_main(void *arg)
{
	struct store *st = arg;
	uint64_t *ino;
	size_t n;
	bool go_on;

	do {
		go_on = rehearse_take(st->rehearse, &ino, &n);
		if (n)
			rehearse_write(st, ino, n);
		free(ino);
	} while (go_on);
	return NULL;
}

int rehearse_start(struct store *st)
{
	struct rehearse *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	st->rehearse = r;
	rc = pthread_create(&r->thread, NULL, rehearse_main, st);
	if (rc) {
		st->rehearse = NULL;
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return -rc;
	}
	return 0;
}

/* Write what is queued and stop the thread; NULL-safe. */
void rehearse_stop(struct store *st)
{
	struct rehearse *r = st->rehearse;

	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r->ino);
	free(r);
	st->rehearse = NULL;
}

static bool rehearse_grow(struct rehearse *r, size_t more)
{
	size_t cap = r->cap ? r->cap : 256;
	uint64_t *v;

	while (cap < r->n + more)
		cap *= 2;
	if (cap == r->cap)
		return true;
	v = realloc(r->ino, cap * sizeof(*v));
	if (!v)
		return false;
	r->ino = v;
	r->cap = cap;
	return true;
}

void rehearse_note(struct store *st, const uint64_t *ino, size_t n)
{
	struct rehearse *r = st->rehearse;

	if (!r || !n)
		return;	/* read-only store: no history */
	pthread_mutex_lock(&r->lock);
	if (r->n + n > REHEARSE_MAX || !rehearse_grow(r, n)) {
		r->dropped += n;
	} else {
		memcpy(r->ino + r->n, ino, n * sizeof(*ino));
		r->n += n;
		if (r->n >= REHEARSE_WAKE)
			pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}
