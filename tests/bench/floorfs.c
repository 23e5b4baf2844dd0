/*
 * floorfs.c - the FUSE floor: a minimal in-memory file system for benchmarks.
 *
 * Purpose.  engramfs's ingest target is relative: creating episodes through
 * the mount must run at least half as fast as the same loop against a file
 * system that does nothing but answer the kernel.  floorfs is that file
 * system.  Whatever it costs is the price of the kernel round trips alone
 * (syscall, /dev/fuse request, thread wake-up, reply), so
 * engramfs/floorfs is the share of the time engramfs spends on real work.
 *
 * To be a fair floor it must look to the kernel like the daemon does:
 *  - libfuse low-level API (FUSE_USE_VERSION 34), multithreaded session
 *    loop with the default idle-thread count, no clone_fd;
 *  - the same mount options (default_permissions, an fsname), the same
 *    entry and attribute timeouts (1.0 s) and the same capabilities
 *    (DONT_MASK, ATOMIC_O_TRUNC; no writeback cache), no keep_cache, no
 *    direct I/O on regular files;
 *  - a negative lookup answered with ENOENT, so O_CREAT costs a LOOKUP
 *    and a CREATE as it does on engramfs.
 * It must also do as little as possible: no persistence, no permissions of
 * its own (the kernel checks them with default_permissions), no folders.
 *
 * Data.  One flat directory, the root.  Nodes live in a growing array
 * indexed by inode number (never reused) and in a chained hash table keyed
 * by name.  A node's content is one malloc'd buffer.
 *
 * Invariants.
 *  1. A node is in the name table iff it is linked (nlink == 1).
 *  2. A node is freed when it is unlinked and its lookup count is zero
 *     (the kernel holds a lookup while a file is open, so an open
 *     unlinked file keeps its content until its last FORGET).
 *  3. readdir offsets are inode numbers: stable under concurrent create
 *     and unlink, since numbers only grow.
 *
 * Locking.  One mutex (floor_lock) guards everything.  The floor is not
 * meant to scale past the benchmark's single client; a mutex held for a
 * few hundred nanoseconds is not what we measure.
 *
 * Rejected: the high-level API (path lookups and its own inode cache would
 * make the floor slower than a low-level daemon, flattering it), and a
 * tmpfs baseline (no FUSE round trips, so not a floor for a FUSE daemon).
 *
 * Usage: floorfs [-f] [-d] [-s] [-o opt,...] MOUNTPOINT
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <limits.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Same timeouts as engramfs gives for episodes. */
#define FLOOR_TIMEOUT     1.0
/* Inode numbers start after the root (1), as in any FUSE file system. */
#define FLOOR_FIRST_INO   2
/* Buckets of the name table; a power of two, enough for 10^5 files
 * at a load factor near one. */
#define FLOOR_BUCKETS     (1u << 17)
/* Largest file; the benchmark writes a few hundred bytes. */
#define FLOOR_MAX_SIZE    (64u << 20)

struct floor_node {
	fuse_ino_t ino;
	char *name;
	struct floor_node *next;	/* hash chain */
	uint64_t nlookup;
	unsigned nlink;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec atime, mtime, ctime;
	char *data;
	size_t size, cap;
};

static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;
static struct floor_node **floor_nodes;	/* by ino - FLOOR_FIRST_INO */
static size_t floor_nnodes, floor_capnodes;
static struct floor_node *floor_table[FLOOR_BUCKETS];
static struct timespec floor_root_time;

/* ------------------------------------------------------------------ */
/* Nodes and names                                                    */
/* ------------------------------------------------------------------ */

/* FNV-1a: short names, no need for anything stronger. */
static uint32_t floor_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h & (FLOOR_BUCKETS - 1);
}

static struct floor_node *floor_find(const char *name)
{
	struct floor_node *n = floor_table[floor_hash(name)];

	while (n && strcmp(n->name, name) != 0)
		n = n->next;
	return n;
}

static struct floor_node *floor_by_ino(fuse_ino_t ino)
{
	if (ino < FLOOR_FIRST_INO || ino - FLOOR_FIRST_INO >= floor_nnodes)
		return NULL;
	return floor_nodes[ino - FLOOR_FIRST_INO];
}

static void floor_link(struct floor_node *n)
{
	uint32_t h = floor_hash(n->name);

	n->next = floor_table[h];
	floor_table[h] = n;
	n->nlink = 1;
}

static void floor_unlink_node(struct floor_node *n)
{
	struct floor_node **p = &floor_table[floor_hash(n->name)];

	while (*p != n)
		p = &(*p)->next;
	*p = n->next;
	n->next = NULL;
	n->nlink = 0;
}

/* Free N if nothing refers to it any more (invariant 2). */
static void floor_maybe_free(struct floor_node *n)
{
	if (n->nlink || n->nlookup)
		return;
	floor_nodes[n->ino - FLOOR_FIRST_INO] = NULL;
	free(n->name);
	free(n->data);
	free(n);
}

static int floor_slot(void)
{
	struct floor_node **v;
	size_t cap;

	if (floor_nnodes < floor_capnodes)
		return 0;
	cap = floor_capnodes ? 2 * floor_capnodes : 1024;
	v = realloc(floor_nodes, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	floor_nodes = v;
	floor_capnodes = cap;
	return 0;
}

static int floor_new(const char *name, mode_t mode,
		     const struct fuse_ctx *ctx, struct floor_node **out)
{
	struct floor_node *n;

	if (floor_slot() < 0)
		return -ENOMEM;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return -ENOMEM;
	}
	n->ino = FLOOR_FIRST_INO + floor_nnodes;
	n->mode = S_IFREG | (mode & 07777 & ~ctx->umask);
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	n->atime = n->ctime = n->mtime;
	floor_nodes[floor_nnodes++] = n;
	floor_link(n);
	*out = n;
	return 0;
}

static int floor_resize(struct floor_node *n, size_t size)
{
	char *d;
	size_t cap;

	if (size > FLOOR_MAX_SIZE)
		return -EFBIG;
	if (size > n->cap) {
		cap = n->cap ? n->cap : 256;
		while (cap < size)
			cap *= 2;
		d = realloc(n->data, cap);
		if (!d)
			return -ENOMEM;
		n->data = d;
		n->cap = cap;
	}
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Attributes                                                         */
/* ------------------------------------------------------------------ */

static void floor_root_stat(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0777;
	st->st_nlink = 2;
	st->st_atim = st->st_mtim = st->st_ctim = floor_root_time;
}

static void floor_stat(const struct floor_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_size = (off_t)n->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
}

/* Fill E for N and count the lookup the reply hands to the kernel. */
static void floor_entry(struct floor_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->attr_timeout = FLOOR_TIMEOUT;
	e->entry_timeout = FLOOR_TIMEOUT;
	floor_stat(n, &e->attr);
	n->nlookup++;
}

static void floor_touch_root(void)
{
	clock_gettime(CLOCK_REALTIME, &floor_root_time);
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

static void floor_op_lookup(fuse_req_t req, fuse_ino_t parent,
			    const char *name)
{
	struct fuse_entry_param e;
	struct floor_node *n;

	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	pthread_mutex_lock(&floor_lock);
	n = floor_find(name);
	if (n)
		floor_entry(n, &e);
	pthread_mutex_unlock(&floor_lock);
	if (n)
		fuse_reply_entry(req, &e);
	else
		fuse_reply_err(req, ENOENT);
}

static void floor_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct floor_node *n;

	pthread_mutex_lock(&floor_lock);
	n = floor_by_ino(ino);
	if (n) {
		n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
		floor_maybe_free(n);
	}
	pthread_mutex_unlock(&floor_lock);
	fuse_reply_none(req);
}

static void floor_op_forget_multi(fuse_req_t req, size_t count,
				  struct fuse_forget_data *forgets)
{
	struct floor_node *n;
	size_t i;

	pthread_mutex_lock(&floor_lock);
	for (i = 0; i < count; i++) {
		n = floor_by_ino(forgets[i].ino);
		if (!n)
			continue;
		if (forgets[i].nlookup < n->nlookup)
			n->nlookup -= forgets[i].nlookup;
		else
			n->nlookup = 0;
		floor_maybe_free(n);
	}
	pthread_mutex_unlock(&floor_lock);
	fuse_reply_none(req);
}

static void floor_op_getattr(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct floor_node *n;
	struct stat st;

	pthread_mutex_lock(&floor_lock);
	if (ino == FUSE_ROOT_ID)
		floor_root_stat(&st);
	else if ((n = floor_by_ino(ino)))
		floor_stat(n, &st);
	else
		ino = 0;
	pthread_mutex_unlock(&floor_lock);
	if (ino)
		fuse_reply_attr(req, &st, FLOOR_TIMEOUT);
	else
		fuse_reply_err(req, ENOENT);
}

static void floor_apply_times(struct floor_node *n, const struct stat *attr,
			      int to_set, const struct timespec *now)
{
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime = *now;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime = *now;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = attr->st_mtim;
}

static int floor_setattr_node(struct floor_node *n, const struct stat *attr,
			      int to_set)
{
	struct timespec now;
	int err;

	clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		err = floor_resize(n, (size_t)attr->st_size);
		if (err)
			return err;
		n->mtime = now;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	floor_apply_times(n, attr, to_set, &now);
	n->ctime = now;
	return 0;
}

static void floor_op_setattr(fuse_req_t req, fuse_ino_t ino,
			     struct stat *attr, int to_set,
			     struct fuse_file_info *fi)
{
	struct floor_node *n;
	struct stat st;
	int err = -ENOENT;

	if (ino == FUSE_ROOT_ID) {
		fuse_reply_err(req, EPERM);	/* the root is fixed */
		return;
	}
	pthread_mutex_lock(&floor_lock);
	n = floor_by_ino(ino);
	if (n)
		err = floor_setattr_node(n, attr, to_set);
	if (!err)
		floor_stat(n, &st);
	pthread_mutex_unlock(&floor_lock);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_attr(req, &st, FLOOR_TIMEOUT);
}

static void floor_op_create(fuse_req_t req, fuse_ino_t parent,
			    const char *name, mode_t mode,
			    struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct floor_node *n;
	int err = 0;

	if (parent != FUSE_ROOT_ID || !S_ISREG(mode)) {
		fuse_reply_err(req, parent != FUSE_ROOT_ID ? ENOTDIR : EPERM);
		return;
	}
	pthread_mutex_lock(&floor_lock);
	n = floor_find(name);
	if (n && (fi->flags & O_EXCL))
		err = -EEXIST;
	else if (!n)
		err = floor_new(name, mode, fuse_req_ctx(req), &n);
	if (!err && (fi->flags & O_TRUNC))
		err = floor_resize(n, 0);
	if (!err) {
		floor_entry(n, &e);
		floor_touch_root();
	}
	pthread_mutex_unlock(&floor_lock);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_create(req, &e, fi);
}

static void floor_op_open(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct floor_node *n;
	int err = 0;

	pthread_mutex_lock(&floor_lock);
	n = floor_by_ino(ino);
	if (!n)
		err = -ENOENT;
	else if (fi->flags & O_TRUNC)
		err = floor_resize(n, 0);
	pthread_mutex_unlock(&floor_lock);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_open(req, fi);
}

static void floor_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	struct floor_node *n;
	char *buf = NULL;
	size_t len = 0;

	pthread_mutex_lock(&floor_lock);
	n = floor_by_ino(ino);
	if (n && (size_t)off < n->size) {
		len = n->size - (size_t)off;
		len = len < size ? len : size;
		buf = malloc(len);
		if (buf)
			memcpy(buf, n->data + off, len);
	}
	pthread_mutex_unlock(&floor_lock);
	if (!n)
		fuse_reply_err(req, ENOENT);
	else if (len && !buf)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_buf(req, buf, len);
	free(buf);
}

static void floor_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			   size_t size, off_t off, struct fuse_file_info *fi)
{
	struct floor_node *n;
	size_t end = (size_t)off + size;
	int err = -ENOENT;

	pthread_mutex_lock(&floor_lock);
	n = floor_by_ino(ino);
	if (n)
		err = end > n->size ? floor_resize(n, end) : 0;
	if (!err) {
		memcpy(n->data + off, buf, size);
		clock_gettime(CLOCK_REALTIME, &n->mtime);
		n->ctime = n->mtime;
	}
	pthread_mutex_unlock(&floor_lock);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void floor_op_flush(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void floor_op_release(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void floor_op_unlink(fuse_req_t req, fuse_ino_t parent,
			    const char *name)
{
	struct floor_node *n;

	pthread_mutex_lock(&floor_lock);
	n = parent == FUSE_ROOT_ID ? floor_find(name) : NULL;
	if (n) {
		floor_unlink_node(n);
		clock_gettime(CLOCK_REALTIME, &n->ctime);
		floor_touch_root();
		floor_maybe_free(n);
	}
	pthread_mutex_unlock(&floor_lock);
	fuse_reply_err(req, n ? 0 : ENOENT);
}

/* ------------------------------------------------------------------ */
/* Directory listing                                                  */
/* ------------------------------------------------------------------ */

/* Add one entry to BUF; returns false when it does not fit. */
static bool floor_dirent(fuse_req_t req, char *buf, size_t size,
			 size_t *used, const char *name, fuse_ino_t ino,
			 mode_t mode, off_t next)
{
	struct stat st = { .st_ino = ino, .st_mode = mode };
	size_t need;

	need = fuse_add_direntry(req, buf + *used, size - *used, name, &st,
				 next);
	if (need > size - *used)
		return false;
	*used += need;
	return true;
}

/*
 * Offsets: 0 = start, 1 = after ".", 2 = after "..", otherwise the inode
 * number of the last entry returned plus one (invariant 3).
 */
static size_t floor_fill(fuse_req_t req, char *buf, size_t size, off_t off)
{
	size_t used = 0, i;
	struct floor_node *n;

	if (off < 1 && !floor_dirent(req, buf, size, &used, ".",
				     FUSE_ROOT_ID, S_IFDIR, 1))
		return used;
	if (off < 2 && !floor_dirent(req, buf, size, &used, "..",
				     FUSE_ROOT_ID, S_IFDIR, 2))
		return used;
	i = off < FLOOR_FIRST_INO ? 0 : (size_t)off - FLOOR_FIRST_INO;
	for (; i < floor_nnodes; i++) {
		n = floor_nodes[i];
		if (!n || !n->nlink)
			continue;
		if (!floor_dirent(req, buf, size, &used, n->name, n->ino,
				  n->mode, (off_t)n->ino + 1))
			break;
	}
	return used;
}

static void floor_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			     off_t off, struct fuse_file_info *fi)
{
	char *buf;
	size_t used;

	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&floor_lock);
	used = floor_fill(req, buf, size, off);
	pthread_mutex_unlock(&floor_lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* The capabilities engramfs asks for (fs/ops.c), and no others. */
static void floor_op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_DONT_MASK)
		conn->want |= FUSE_CAP_DONT_MASK;	/* floor_new applies it */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;	/* floor_op_open */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_op_init,
	.lookup = floor_op_lookup,
	.forget = floor_op_forget,
	.forget_multi = floor_op_forget_multi,
	.getattr = floor_op_getattr,
	.setattr = floor_op_setattr,
	.create = floor_op_create,
	.open = floor_op_open,
	.read = floor_op_read,
	.write = floor_op_write,
	.flush = floor_op_flush,
	.release = floor_op_release,
	.unlink = floor_op_unlink,
	.readdir = floor_op_readdir,
};

/* ------------------------------------------------------------------ */
/* Main: the same mount ladder as the daemon                          */
/* ------------------------------------------------------------------ */

static void floor_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] [-s] [-o opt,...] MOUNTPOINT\n"
	       "An in-memory FUSE file system that measures the FUSE floor.\n",
	       prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static int floor_serve(struct fuse_session *se,
		       const struct fuse_cmdline_opts *o)
{
	struct fuse_loop_config cfg = {
		.clone_fd = o->clone_fd,
		.max_idle_threads = o->max_idle_threads,
	};
	/*
	 * UINT_MAX means "not given"; libfuse 3.14 logs a spurious "invalid
	 * max threads" line when handed it, so pass no config at all then,
	 * which selects the same defaults quietly.
	 */
	bool dflt = !o->clone_fd && o->max_idle_threads == UINT_MAX;
	int err;

	if (fuse_set_signal_handlers(se) != 0)
		return 1;
	if (fuse_session_mount(se, o->mountpoint) != 0) {
		fuse_remove_signal_handlers(se);
		return 1;
	}
	fuse_daemonize(o->foreground);
	if (o->singlethread)
		err = fuse_session_loop(se);
	else
		err = fuse_session_loop_mt(se, dflt ? NULL : &cfg);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &o) != 0)
		return 1;
	if (o.show_help || !o.mountpoint) {
		floor_usage(argv[0]);
		ret = o.show_help ? 0 : 1;
		goto out_free_args;
	}
	if (fuse_opt_add_arg(&args, "-odefault_permissions,fsname=floorfs,"
			     "subtype=floorfs") != 0)
		goto out_free_args;
	floor_touch_root();
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		goto out_free_args;
	ret = floor_serve(se, &o);
	fuse_session_destroy(se);
out_free_args:
	free(o.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
