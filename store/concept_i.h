/*
 * concept_i.h - what concept.c offers consolidate.c and metrics.c.
 *
 * store_i.h holds the dual-memory contract the rest of the store uses
 * (commit hooks, the read API of the semantic pathway).  This header is
 * the private seam between the two halves of dual memory: concept.c owns
 * the concept cache, the records and bindings and their encodings;
 * consolidate.c owns the run that changes them.  Nothing outside those
 * two files needs more than concept_stats().
 */
#ifndef ENGRAM_CONCEPT_I_H
#define ENGRAM_CONCEPT_I_H

#include "store_i.h"

/* ---- metrics and status ------------------------------------------- */

struct concept_stats {
	uint64_t concepts;		/* live concepts */
	uint64_t bindings;		/* live bindings (sum of member counts) */
	uint64_t formed_total;		/* concepts formed since open */
	uint64_t bindings_created_total;	/* bindings created since open */
	uint64_t failures_total;	/* runs that ended in an error */
	uint64_t runs_total;		/* runs, empty ones included */
	uint64_t analysed_total;	/* episodes read and analysed by runs */
	double coherence_sum;		/* over live concepts, for the mean */
	double last_run_seconds;
	int64_t last_run_end;		/* unix seconds; 0 = never */
};
/* A consistent-enough snapshot (each field read atomically). */
void concept_stats(struct store *st, struct concept_stats *out);

/* ---- small hash maps (run and cache) ------------------------------- */

/* uint64 -> uint64, open addressing; key 0 is reserved (empty). */
struct concept_map {
	uint64_t *k, *v;
	size_t cap, n;
};
int concept_map_init(struct concept_map *m, size_t hint);
void concept_map_free(struct concept_map *m);
void concept_map_clear(struct concept_map *m);	/* empty, keeps its memory */
/* Value slot of KEY, or NULL. */
uint64_t *concept_map_get(const struct concept_map *m, uint64_t key);
/* Value slot of KEY, added with value 0 if absent; NULL on ENOMEM.
 * The slot is valid until the next put. */
uint64_t *concept_map_put(struct concept_map *m, uint64_t key);
void concept_map_del(struct concept_map *m, uint64_t key);

/* Interned strings: string <-> dense id, in order of first sight. */
struct concept_tab {
	char **s;		/* id -> NUL-terminated copy */
	uint32_t *slot;		/* open addressing: id + 1, 0 = empty */
	size_t n, cap, scap;
};
/* Id of S[0..len), or -1. */
long concept_tab_find(const struct concept_tab *t, const char *s,
		      size_t len);
int concept_tab_add(struct concept_tab *t, const char *s, size_t len,
		    uint32_t *id);
void concept_tab_free(struct concept_tab *t);

/* ---- records ------------------------------------------------------- */

#define CONCEPT_TOP_TERMS   64	/* centroid terms kept for matching */
#define CONCEPT_LABEL_TERMS 3	/* terms a label is made of */
#define CONCEPT_SHOW_TERMS  5	/* "terms:" line of the concept file */

struct concept_term {
	char *term;		/* stem */
	float w;		/* weight in the unit-length centroid */
};

/* A concept record (CF_CONCEPTS, key = id); layout in concept.c. */
struct concept_rec {
	uint64_t id;
	char *label;		/* "coffee-alice-station" */
	char *label_stems;	/* stems the label came from, space separated */
	char *shown;		/* the top terms as words, space separated */
	char *shown_stems;	/* their stems, to know when to redo them */
	double coherence;
	uint32_t members;
	uint32_t changes;	/* member changes since strengths were redone */
	int64_t formed, updated;	/* unix seconds */
	struct concept_term *top;	/* heaviest first */
	uint32_t ntop;
};
void concept_rec_release(struct concept_rec *r);
int concept_rec_get(struct store *st, uint64_t id, struct concept_rec *out);
int concept_rec_put(rocksdb_writebatch_t *b, struct store *st,
		    const struct concept_rec *r);
/* Record, sum vector and label entry of concept R go. */
void concept_rec_del(rocksdb_writebatch_t *b, struct store *st,
		     const struct concept_rec *r);

/* The member sum vector (CF_CONCEPTS, keys 0xff id stem): all terms. */
struct concept_sum {
	struct concept_term *v;
	uint32_t n;
};
int concept_sum_get(struct store *st, uint64_t id, struct concept_sum *out);
/* Stage one term's new weight (0 deletes it). */
void concept_sum_set(rocksdb_writebatch_t *b, struct store *st, uint64_t id,
		     const char *term, float w);
void concept_sum_release(struct concept_sum *s);

/* Bindings in both directions, value = strength (double). */
void concept_binding_put(rocksdb_writebatch_t *b, struct store *st,
			 uint64_t ino, uint64_t cid, double strength);
void concept_binding_del(rocksdb_writebatch_t *b, struct store *st,
			 uint64_t ino, uint64_t cid);

/* ---- labels -------------------------------------------------------- */

/*
 * For each of the K stems, the lower-case ASCII word that analyses to it
 * most often in the text of episodes INOS[0..n) (at most 8 are read); the
 * stem itself when no word does.  WORDS[i] are malloc'd.
 */
int concept_words(struct store *st, const uint64_t *inos, size_t n,
		  char *const *stems, size_t k, char **words);
/* Join WORDS, each stripped to [a-z0-9], with '-' into BUF (at most 200
 * bytes), skipping those left empty; "concept" if all are.  SIZE >= 8. */
void concept_label_base(char *const *words, size_t k, char *buf,
			size_t size);

/* ---- the cache, for the run ---------------------------------------- */

/* Runs are serialised by this mutex (never held by readers). */
void concept_run_lock(struct store *st);
void concept_run_unlock(struct store *st);
/* Set by store_background_stop: a run stops between chunks. */
bool concept_run_cancelled(struct store *st);
void concept_run_cancel(struct store *st, bool on);
/* The next value for a dirty key (strictly increasing in a process). */
uint64_t concept_dirty_seq(struct store *st);

/*
 * Concepts whose top centroid terms overlap the vector TERMS/W (unit
 * length), best approximate cosine first: at most MAX, into OUT (caller's
 * array).  The run's candidate search; recall uses concept_match.
 */
size_t concept_candidates(struct store *st, char *const *terms,
			  const float *w, size_t n, size_t max,
			  struct concept_hit *out);

/* Make the run's results visible: PUT records replace or add concepts,
 * DEL ids go, N becomes the vector count.  Called after the batch that
 * wrote them.  On ENOMEM the cache is marked stale and reloaded by the
 * next run (concept_reload_if_stale). */
void concept_publish(struct store *st, struct concept_rec *const *put,
		     size_t nput, const uint64_t *del, size_t ndel,
		     uint64_t n_vectors);
int concept_reload_if_stale(struct store *st);
/* The cache missed a written change: reload it before the next run. */
void concept_cache_stale(struct store *st);
void concept_count_run(struct store *st, double seconds, bool failed,
		       uint64_t formed, uint64_t bindings_created,
		       uint64_t analysed);

/* consolidate.c: mark every indexed episode dirty once, when a store made
 * before dual memory is opened (meta/dual_schema absent). */
int dirty_seed_all(struct store *st);

#endif
