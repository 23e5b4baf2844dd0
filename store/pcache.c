/*
 * pcache.c - the decoded postings of frequent terms, kept in memory.
 *
 * Recall of a common word reads every posting of it (no order of the
 * postings lets the episodic pathway stop early for a one-word cue): at
 * 1M episodes a word in 8% of them is 78,000 postings, and RocksDB's
 * iterator was 52% of the daemon's CPU on such cues (perf; Debian's
 * build keeps its assertions).  The list of a term that recall read in
 * full, when it has at least PCACHE_MIN_DF postings, is kept here in a
 * compact array, 16 bytes a posting, and the next recall of the term
 * walks the array instead of the iterator: the same postings in the same
 * order, so the same answer.  Memory is bounded: least recently used
 * lists go first (PCACHE_BYTES, or store_options.posting_cache_bytes).
 *
 * Coherence.  index.c notes the term of every posting it puts in or
 * drops from a batch (pcache_note, per thread); db_write, once the batch
 * is written and before it returns, bumps the generation of each noted
 * term's bucket and drops the lists in it (pcache_written).  A reader
 * takes the generation before it opens its iterator, and its list is
 * inserted only if that generation has not moved (pcache_offer).  So a
 * list read from a snapshot older than a write is never inserted after
 * the write returned, and one inserted before it returned is dropped by
 * it: once a write has returned no recall sees the postings from before
 * it, as without the cache.  A batch noting more than PCACHE_NOTES
 * buckets (the index upgrade) empties the whole cache.
 *
 * A list is kept only if every posting fits the compact form (inode
 * number and time in 32 bits); otherwise the term is simply not cached.
 *
 * Rejected: caching raw RocksDB blocks harder (the block cache already
 * holds them; the cost is the iterator, not the reads); a per-term
 * generation table (unbounded memory; buckets cost a false invalidation
 * now and then).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "store_i.h"

#define PCACHE_BUCKETS	4096	/* hash chains and generations */
#define PCACHE_NOTES	512	/* buckets noted per batch before "all" */

struct pc_list {
	struct pc_list *chain;		/* same bucket */
	struct pc_list *prev, *next;	/* LRU, most recent first */
	unsigned refs;			/* readers + 1 while in the table */
	size_t bytes;
	uint32_t bucket;
	struct pcache_list pub;		/* what readers see */
	char term[];
};

struct pcache {
	pthread_mutex_t lock;
	size_t budget, used;
	struct pc_list *bucket[PCACHE_BUCKETS];
	uint64_t gen[PCACHE_BUCKETS];
	struct pc_list *head, *tail;
	_Atomic uint64_t hits, misses;
};

/* The buckets the calling thread's current batch touches. */
static _Thread_local struct {
	uint16_t b[PCACHE_NOTES];
	size_t n;
	bool all;
} pc_notes;

static uint32_t pc_bucket(const char *term, size_t tl)
{
	return (uint32_t)(XXH3_64bits(term, tl) % PCACHE_BUCKETS);
}

int pcache_create(size_t budget, struct pcache **out)
{
	struct pcache *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pthread_mutex_init(&pc->lock, NULL);
	pc->budget = budget;
	*out = pc;
	return 0;
}

static void pc_unref(struct pc_list *l)
{
	if (--l->refs == 0) {
		free(l->pub.v);
		free(l);
	}
}

/* Take L out of the table and the LRU (lock held); readers keep it. */
static void pc_remove(struct pcache *pc, struct pc_list *l)
{
	struct pc_list **pp = &pc->bucket[l->bucket];

	while (*pp != l)
		pp = &(*pp)->chain;
	*pp = l->chain;
	if (l->prev)
		l->prev->next = l->next;
	else
		pc->head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	else
		pc->tail = l->prev;
	pc->used -= l->bytes;
	pc_unref(l);
}

static void pc_drop_bucket(struct pcache *pc, uint32_t b)
{
	pc->gen[b]++;
	while (pc->bucket[b])
		pc_remove(pc, pc->bucket[b]);
}

void pcache_destroy(struct pcache *pc)
{
	if (!pc)
		return;
	for (uint32_t b = 0; b < PCACHE_BUCKETS; b++)
		pc_drop_bucket(pc, b);
	pthread_mutex_destroy(&pc->lock);
	free(pc);
}

uint64_t pcache_gen(struct pcache *pc, const char *term, size_t tl)
{
	uint32_t b = pc_bucket(term, tl);
	uint64_t g;

	pthread_mutex_lock(&pc->lock);
	g = pc->gen[b];
	pthread_mutex_unlock(&pc->lock);
	return g;
}

const struct pcache_list *pcache_get(struct pcache *pc, const char *term,
				     size_t tl)
{
	uint32_t b = pc_bucket(term, tl);
	struct pc_list *l;

	pthread_mutex_lock(&pc->lock);
	for (l = pc->bucket[b]; l; l = l->chain)
		if (l->pub.n && strlen(l->term) == tl &&
		    !memcmp(l->term, term, tl))
			break;
	if (l) {
		l->refs++;
		if (l->prev) {	/* to the front */
			l->prev->next = l->next;
			if (l->next)
				l->next->prev = l->prev;
			else
				pc->tail = l->prev;
			l->prev = NULL;
			l->next = pc->head;
			pc->head->prev = l;
			pc->head = l;
		}
	}
	pthread_mutex_unlock(&pc->lock);
	atomic_fetch_add(l ? &pc->hits : &pc->misses, 1);
	return l ? &l->pub : NULL;
}

void pcache_release(struct pcache *pc, const struct pcache_list *pub)
{
	struct pc_list *l;

	if (!pub)
		return;
	l = (struct pc_list *)((char *)pub - offsetof(struct pc_list, pub));
	pthread_mutex_lock(&pc->lock);
	pc_unref(l);
	pthread_mutex_unlock(&pc->lock);
}

/* The compact form of V, or NULL if a posting does not fit it. */
static struct pcache_posting *pc_pack(const struct posting_hit *v, size_t n)
{
	struct pcache_posting *w = malloc(n * sizeof(*w));

	for (size_t i = 0; w && i < n; i++) {
		const struct posting *po = &v[i].po;
		double c = po->conf * 255.0 + 0.5;

		if (v[i].ino > UINT32_MAX || po->when > INT32_MAX ||
		    po->when < INT32_MIN || po->tf > UINT16_MAX || c < 0 ||
		    c >= 256) {
			free(w);
			return NULL;
		}
		w[i] = (struct pcache_posting){
			.ino = (uint32_t)v[i].ino, .when = (int32_t)po->when,
			.dl = po->dl, .tf = (uint16_t)po->tf,
			.conf = (uint8_t)c,
		};
	}
	return w;
}

void pcache_offer(struct pcache *pc, const char *term, size_t tl,
		  uint64_t gen, const struct posting_hit *v, size_t n)
{
	uint32_t b = pc_bucket(term, tl);
	size_t bytes = sizeof(struct pc_list) + tl + 1 +
		       n * sizeof(struct pcache_posting);
	struct pc_list *l;
	struct pcache_posting *w;

	if (n < PCACHE_MIN_DF || bytes > pc->budget / 4)
		return;
	pthread_mutex_lock(&pc->lock);
	for (l = pc->bucket[b]; l; l = l->chain)
		if (strlen(l->term) == tl && !memcmp(l->term, term, tl))
			break;
	pthread_mutex_unlock(&pc->lock);
	if (l || !(w = pc_pack(v, n)))
		return;		/* another reader was first, or no fit */
	l = calloc(1, sizeof(*l) + tl + 1);
	if (!l) {
		free(w);
		return;
	}
	memcpy(l->term, term, tl);
	l->pub.v = w;
	l->pub.n = n;
	l->bytes = bytes;
	l->bucket = b;
	l->refs = 1;
	pthread_mutex_lock(&pc->lock);
	if (pc->gen[b] != gen) {	/* written since the reader began */
		pthread_mutex_unlock(&pc->lock);
		pc_unref(l);
		return;
	}
	while (pc->used + bytes > pc->budget && pc->tail)
		pc_remove(pc, pc->tail);
	l->chain = pc->bucket[b];
	pc->bucket[b] = l;
	l->next = pc->head;
	if (pc->head)
		pc->head->prev = l;
	pc->head = l;
	if (!pc->tail)
		pc->tail = l;
	pc->used += bytes;
	pthread_mutex_unlock(&pc->lock);
}

void pcache_note(const char *term, size_t tl)
{
	uint16_t b = (uint16_t)pc_bucket(term, tl);

	if (pc_notes.all)
		return;
	for (size_t i = pc_notes.n; i > 0; i--)
		if (pc_notes.b[i - 1] == b)
			return;
	if (pc_notes.n == PCACHE_NOTES)
		pc_notes.all = true;
	else
		pc_notes.b[pc_notes.n++] = b;
}

void pcache_written(struct pcache *pc)
{
	if (!pc_notes.n && !pc_notes.all)
		return;
	if (pc) {
		pthread_mutex_lock(&pc->lock);
		if (pc_notes.all)
			for (uint32_t b = 0; b < PCACHE_BUCKETS; b++)
				pc_drop_bucket(pc, b);
		else
			for (size_t i = 0; i < pc_notes.n; i++)
				pc_drop_bucket(pc, pc_notes.b[i]);
		pthread_mutex_unlock(&pc->lock);
	}
	pc_notes.n = 0;
	pc_notes.all = false;
}

void pcache_stats(struct pcache *pc, struct pcache_stats *out)
{
	pthread_mutex_lock(&pc->lock);
	out->bytes = pc->used;
	out->budget = pc->budget;
	pthread_mutex_unlock(&pc->lock);
	out->hits = atomic_load(&pc->hits);
	out->misses = atomic_load(&pc->misses);
}
