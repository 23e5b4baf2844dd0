/*
 * inode.c - inode classes and numbers, and the recall nodes.
 *
 * Numbering.  The kernel knows a node by a 64-bit number that must stay
 * valid while it holds a lookup on it.  Three ranges:
 *
 *   1                          the mount root (FUSE_ROOT_ID)
 *   2 .. STORE_INO_LIMIT-1     store inodes, used as they are: episodes/ is
 *                              STORE_ROOT_INO.  The store never reuses a
 *                              number, so no generation numbers are needed
 *                              and the daemon keeps no per-inode table
 *                              for them: FORGET of a store inode is a no-op.
 *   STORE_INO_LIMIT ...        synthetic nodes: fixed numbers for the
 *                              directories and root files, base + flag id
 *                              for flags/NAME, a counter for snapshots/NAME
 *                              (EFS_INO_SNAP_BASE; snapshots.c), base +
 *                              concept id for concepts/LABEL
 *                              (EFS_INO_CONCEPT_BASE, up to
 *                              the recall range; concepts.c), and a counter
 *                              for recall/NAME starting at
 *                              EFS_INO_RECALL_BASE.
 *
 * Recall nodes.  Every name under recall/ resolves, so a node must be made
 * on lookup and dropped when the kernel forgets it, or a loop over 10,000
 * distinct cues would leak 10,000 nodes.  A node lives in two chained hash
 * tables (by name and by number) with the kernel's lookup count; FORGET and
 * FORGET_MULTI subtract and free at zero.  Numbers come from a counter and
 * are never reused within a mount (2^40 of them before the range would run
 * into nothing), so a stale number the kernel still holds cannot name a
 * different cue.  The tables grow and shrink with the node count; one
 * mutex guards both (lookups are short; recall itself runs outside it).
 *
 * Rejected: encoding the cue in the inode number (a hash) - collisions
 * would make two cues share a node; keeping nodes forever - the leak above.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "efs.h"

enum efs_class efs_ino_class(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return EFS_C_ROOT;
	if (ino >= STORE_ROOT_INO && ino < STORE_INO_LIMIT)
		return EFS_C_STORE;
	switch (ino) {
	case EFS_INO_RECALL:    return EFS_C_RECALL_DIR;
	case EFS_INO_FLAGS:     return EFS_C_FLAGS_DIR;
	case EFS_INO_CONCEPTS:  return EFS_C_CONCEPTS_DIR;
	case EFS_INO_SNAPSHOTS: return EFS_C_SNAPSHOTS_DIR;
	case EFS_INO_QUERY:     return EFS_C_QUERY;
	case EFS_INO_METRICS:   return EFS_C_METRICS;
	case EFS_INO_STATUS:    return EFS_C_STATUS;
	case EFS_INO_CTL:       return EFS_C_CTL;
	case EFS_INO_HISTORY:   return EFS_C_HISTORY;
	default: break;
	}
	if (ino >= EFS_INO_FLAG_BASE && ino < EFS_INO_FLAG_BASE + FLAG__COUNT)
		return EFS_C_FLAG;
	if (ino >= EFS_INO_SNAP_BASE && ino < EFS_INO_SNAP_BASE + (1ULL << 32))
		return EFS_C_SNAPSHOT;
	if (ino >= EFS_INO_CONCEPT_BASE && ino < EFS_INO_RECALL_BASE)
		return EFS_C_CONCEPT;
	if (ino >= EFS_INO_RECALL_BASE)
		return EFS_C_RECALL;
	return EFS_C_NONE;
}

void efs_synth_stat(const struct efs *fs, fuse_ino_t ino, mode_t mode,
		    nlink_t nlink, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = mode;
	st->st_nlink = nlink;
	st->st_uid = fs->owner_uid;
	st->st_gid = fs->owner_gid;
	st->st_blksize = 4096;
	st->st_atim = fs->started;
	st->st_mtim = fs->started;
	st->st_ctim = fs->started;
}

void efs_synth_entry(const struct efs *fs, fuse_ino_t ino, mode_t mode,
		     nlink_t nlink, double timeout,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = timeout;
	e->entry_timeout = timeout;
	efs_synth_stat(fs, ino, mode, nlink, &e->attr);
}

void efs_store_stat(struct efs *fs, const struct store_attr *a,
		    struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
	if (S_ISREG(a->mode))
		efs_estate_stat(fs, a->ino, st);
	st->st_blocks = (st->st_size + 511) / 512;
}

/* ------------------------------------------------------------------ */
/* Recall nodes                                                       */
/* ------------------------------------------------------------------ */

struct efs_rnode {
	struct efs_rnode *next_name, *next_ino;
	fuse_ino_t ino;
	uint64_t nlookup;
	uint64_t hash;
	size_t len;
	char name[];
};

/* Buckets: a power of two, at least EFS_RNODE_MIN; the tables double past
 * one node per bucket and halve below one per eight. */
#define EFS_RNODE_MIN 64

static struct {
	pthread_mutex_t lock;
	struct efs_rnode **by_name, **by_ino;
	size_t nbuckets, count;
	uint64_t next;
} efs_rt = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t efs_ino_bucket(fuse_ino_t ino, size_t n)
{
	/* Numbers are sequential: a multiplicative mix spreads them. */
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 20) & (n - 1);
}

static int efs_rt_resize(size_t n)
{
	struct efs_rnode **bn = calloc(n, sizeof(*bn));
	struct efs_rnode **bi = calloc(n, sizeof(*bi));
	size_t i;

	if (!bn || !bi) {
		free(bn);
		free(bi);
		return -ENOMEM;
	}
	for (i = 0; i < efs_rt.nbuckets; i++) {
		struct efs_rnode *p = efs_rt.by_name[i], *next;

		for (; p; p = next) {
			size_t b = p->hash & (n - 1);

			next = p->next_name;
			p->next_name = bn[b];
			bn[b] = p;
			b = efs_ino_bucket(p->ino, n);
			p->next_ino = bi[b];
			bi[b] = p;
		}
	}
	free(efs_rt.by_name);
	free(efs_rt.by_ino);
	efs_rt.by_name = bn;
	efs_rt.by_ino = bi;
	efs_rt.nbuckets = n;
	return 0;
}

static struct efs_rnode *efs_rt_find_ino(fuse_ino_t ino)
{
	struct efs_rnode *p;

	if (!efs_rt.nbuckets)
		return NULL;
	p = efs_rt.by_ino[efs_ino_bucket(ino, efs_rt.nbuckets)];
	while (p && p->ino != ino)
		p = p->next_ino;
	return p;
}

int efs_rnode_lookup(const char *name, fuse_ino_t *ino)
{
	size_t len = strlen(name);
	uint64_t h = XXH3_64bits(name, len);
	struct efs_rnode *p;
	size_t b;
	int r = 0;

	pthread_mutex_lock(&efs_rt.lock);
	if (!efs_rt.nbuckets && (r = efs_rt_resize(EFS_RNODE_MIN)) < 0)
		goto out;
	for (p = efs_rt.by_name[h & (efs_rt.nbuckets - 1)]; p;
	     p = p->next_name)
		if (p->hash == h && p->len == len &&
		    !memcmp(p->name, name, len))
			break;
	if (!p) {
		if (efs_rt.count >= efs_rt.nbuckets)
			(void)efs_rt_resize(efs_rt.nbuckets * 2); /* best effort */
		p = malloc(sizeof(*p) + len + 1);
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(p->name, name, len + 1);
		p->len = len;
		p->hash = h;
		p->nlookup = 0;
		p->ino = EFS_INO_RECALL_BASE + efs_rt.next++;
		b = h & (efs_rt.nbuckets - 1);
		p->next_name = efs_rt.by_name[b];
		efs_rt.by_name[b] = p;
		b = efs_ino_bucket(p->ino, efs_rt.nbuckets);
		p->next_ino = efs_rt.by_ino[b];
		efs_rt.by_ino[b] = p;
		efs_rt.count++;
	}
	p->nlookup++;
	*ino = p->ino;
out:
	pthread_mutex_unlock(&efs_rt.lock);
	return r;
}

int efs_rnode_name(fuse_ino_t ino, char **name)
{
	struct efs_rnode *p;
	int r = 0;

	pthread_mutex_lock(&efs_rt.lock);
	p = efs_rt_find_ino(ino);
	if (!p)
		r = -ENOENT;
	else if (!(*name = strdup(p->name)))
		r = -ENOMEM;
	pthread_mutex_unlock(&efs_rt.lock);
	return r;
}

static void efs_rt_unlink(struct efs_rnode *node)
{
	struct efs_rnode **pp;

	pp = &efs_rt.by_name[node->hash & (efs_rt.nbuckets - 1)];
	while (*pp != node)
		pp = &(*pp)->next_name;
	*pp = node->next_name;
	pp = &efs_rt.by_ino[efs_ino_bucket(node->ino, efs_rt.nbuckets)];
	while (*pp != node)
		pp = &(*pp)->next_ino;
	*pp = node->next_ino;
	efs_rt.count--;
}

void efs_rnode_forget(fuse_ino_t ino, uint64_t nlookup)
{
	struct efs_rnode *p;

	pthread_mutex_lock(&efs_rt.lock);
	p = efs_rt_find_ino(ino);
	if (p) {
		p->nlookup = nlookup < p->nlookup ? p->nlookup - nlookup : 0;
		if (!p->nlookup) {
			efs_rt_unlink(p);
			free(p);
			if (efs_rt.nbuckets > EFS_RNODE_MIN &&
			    efs_rt.count < efs_rt.nbuckets / 8)
				(void)efs_rt_resize(efs_rt.nbuckets / 2);
		}
	}
	pthread_mutex_unlock(&efs_rt.lock);
}

size_t efs_rnode_count(void)
{
	size_t n;

	pthread_mutex_lock(&efs_rt.lock);
	n = efs_rt.count;
	pthread_mutex_unlock(&efs_rt.lock);
	return n;
}

void efs_rnode_clear(void)
{
	size_t i;

	pthread_mutex_lock(&efs_rt.lock);
	for (i = 0; i < efs_rt.nbuckets; i++) {
		struct efs_rnode *p = efs_rt.by_name[i], *next;

		for (; p; p = next) {
			next = p->next_name;
			free(p);
		}
	}
	free(efs_rt.by_name);
	free(efs_rt.by_ino);
	efs_rt.by_name = efs_rt.by_ino = NULL;
	efs_rt.nbuckets = efs_rt.count = 0;
	pthread_mutex_unlock(&efs_rt.lock);
}

/* ------------------------------------------------------------------ */
/* Callers                                                            */
/* ------------------------------------------------------------------ */

/*
 * Supplementary groups come from /proc (fuse_req_getgroups); when that is
 * not possible (the caller is gone, no /proc) recall runs with the primary
 * group only, which can only hide results, never reveal more.
 */
void efs_caller_init(struct efs_caller *ec, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t tmp[32];
	gid_t *list = tmp;
	int n;
	size_t i;

	memset(ec, 0, sizeof(*ec));
	ec->c.uid = ctx->uid;
	ec->c.gid = ctx->gid;
	n = fuse_req_getgroups(req, 32, tmp);
	if (n > 32) {
		list = calloc((size_t)n, sizeof(*list));
		ec->big = calloc((size_t)n, sizeof(*ec->big));
		if (!list || !ec->big ||
		    fuse_req_getgroups(req, n, list) != n)
			n = 0;
	}
	if (n <= 0) {
		if (list != tmp)
			free(list);
		free(ec->big);
		ec->big = NULL;
		return;
	}
	for (i = 0; i < (size_t)n; i++)
		(ec->big ? ec->big : ec->small)[i] = list[i];
	ec->c.groups = ec->big ? ec->big : ec->small;
	ec->c.ngroups = (size_t)n;
	if (list != tmp)
		free(list);
}

void efs_caller_release(struct efs_caller *ec)
{
	free(ec->big);
	ec->big = NULL;
}
