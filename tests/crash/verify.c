/*
 * verify.c - offline check of a data dir, for the crash and stress
 * harnesses: open the store read-only with the public API (store.h only,
 * as LMDB's mdb_stat), walk the whole tree and check that it agrees with
 * itself, then run store_verify (index, bindings, counters) when the
 * library has it.
 *
 * usage: verify DATADIR [LISTING]
 *
 * Checks, each problem one line on stdout:
 *  1. every entry of a folder looks up to the same inode, names the
 *     folder as its parent, and store_path() gives the path walked;
 *  2. no inode number appears twice, and each is below the persistent
 *     counter (store_counts.next_ino) and at or above STORE_FIRST_INO;
 *  3. an episode's content has the size and the xxh64 of its record;
 *  4. a folder's nlink is 2 + its subfolders;
 *  5. the counters (episodes, folders, indexed, bytes) equal the sums
 *     over the walk (indexed: names not starting with '.');
 *  6. every flag value is inside its range;
 *  7. store_verify reports no problem (built with -DHAVE_STORE_VERIFY
 *     when libengram.a defines it: tests/crash/build-verify.sh).
 * LISTING, if given, gets "path<TAB>ino<TAB>size<TAB>xxh64" per episode.
 *
 * Exit status: 0 clean, 1 problems, 2 the store did not open.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "store.h"

struct vf_walk {
	struct store *st;
	FILE *listing;
	uint64_t *inos;
	size_t ninos, cap;
	uint64_t episodes, folders, indexed, bytes, next_ino;
	long problems;
};

static void vf_problem(struct vf_walk *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void vf_problem(struct vf_walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("verify: ");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	w->problems++;
}

static void vf_log(int level, const char *msg)
{
	if (level <= STORE_LOG_WARNING || getenv("VERIFY_VERBOSE"))
		fprintf(stderr, "verify: store log <%d>: %s\n", level, msg);
}

static int vf_seen(struct vf_walk *w, uint64_t ino)
{
	for (size_t i = 0; i < w->ninos; i++)
		if (w->inos[i] == ino)
			return 1;
	if (w->ninos == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 1024;
		uint64_t *p = realloc(w->inos, cap * sizeof(*p));

		if (!p)
			abort();
		w->inos = p;
		w->cap = cap;
	}
	w->inos[w->ninos++] = ino;
	return 0;
}

struct vf_dir {
	struct vf_walk *w;
	uint64_t ino;
	const char *path;	/* "" for the root */
	uint32_t subdirs;
	char **names;		/* subfolders to descend into */
	uint64_t *sub;
	size_t nsub;
};

static void vf_file(struct vf_walk *w, const char *path,
		    const struct store_attr *a)
{
	char *buf = NULL;
	size_t len = 0;
	int r = store_content_read(w->st, a->ino, &buf, &len);
	uint64_t h;

	if (r < 0) {
		vf_problem(w, "'%s' (inode %" PRIu64 "): content unreadable: %s",
			   path, a->ino, strerror(-r));
		return;
	}
	h = XXH64(buf, len, 0);
	if (len != a->size)
		vf_problem(w, "'%s' (inode %" PRIu64 "): %zu bytes of content, "
			   "the record says %" PRIu64, path, a->ino, len,
			   a->size);
	if (h != a->hash)
		vf_problem(w, "'%s' (inode %" PRIu64 "): content hash %016" PRIx64
			   ", the record says %016" PRIx64, path, a->ino, h,
			   a->hash);
	if (w->listing)
		fprintf(w->listing, "%s\t%" PRIu64 "\t%zu\t%016" PRIx64 "\n",
			path, a->ino, len, h);
	w->episodes++;
	w->bytes += len;
	free(buf);
}

static int vf_entry(void *ctx, const char *name, const struct store_attr *a)
{
	struct vf_dir *d = ctx;
	struct vf_walk *w = d->w;
	struct store_attr b;
	char *path, *sp = NULL;
	int r;

	if (asprintf(&path, "%s%s%s", d->path, *d->path ? "/" : "", name) < 0)
		abort();
	r = store_lookup(w->st, d->ino, name, &b);
	if (r < 0 || b.ino != a->ino)
		vf_problem(w, "'%s': readdir gives inode %" PRIu64 ", lookup "
			   "%s %" PRIu64, path, a->ino, r < 0 ? strerror(-r) : "",
			   r < 0 ? 0 : b.ino);
	if (a->parent != d->ino)
		vf_problem(w, "'%s' (inode %" PRIu64 "): parent %" PRIu64
			   ", found in folder %" PRIu64, path, a->ino,
			   a->parent, d->ino);
	if (vf_seen(w, a->ino))
		vf_problem(w, "'%s': inode %" PRIu64 " appears twice in the tree",
			   path, a->ino);
	if (a->ino < STORE_FIRST_INO || a->ino >= w->next_ino)
		vf_problem(w, "'%s': inode %" PRIu64 " outside [%llu, next_ino "
			   "%" PRIu64 ")", path, a->ino, STORE_FIRST_INO,
			   w->next_ino);
	r = store_path(w->st, a->ino, &sp);
	if (r < 0 || strcmp(sp, path))
		vf_problem(w, "'%s' (inode %" PRIu64 "): store_path gives '%s'",
			   path, a->ino, r < 0 ? strerror(-r) : sp);
	free(sp);
	if (name[0] != '.' && S_ISREG(a->mode))
		w->indexed++;
	if (S_ISDIR(a->mode)) {
		char **nn = realloc(d->names, (d->nsub + 1) * sizeof(*nn));
		uint64_t *ns = realloc(d->sub, (d->nsub + 1) * sizeof(*ns));

		if (!nn || !ns)
			abort();
		d->names = nn;
		d->sub = ns;
		d->names[d->nsub] = path;
		d->sub[d->nsub++] = a->ino;
		d->subdirs++;
		w->folders++;
		return 0;
	}
	if (S_ISREG(a->mode))
		vf_file(w, path, a);
	else
		vf_problem(w, "'%s': mode %o is neither file nor folder", path,
			   a->mode);
	free(path);
	return 0;
}

static void vf_dir(struct vf_walk *w, uint64_t ino, const char *path)
{
	struct vf_dir d = { .w = w, .ino = ino, .path = path };
	struct store_attr a;
	int r;

	r = store_readdir(w->st, ino, NULL, vf_entry, &d);
	if (r < 0)
		vf_problem(w, "folder '%s' (inode %" PRIu64 "): readdir: %s",
			   path, ino, strerror(-r));
	if (store_getattr(w->st, ino, &a) == 0 && a.nlink != 2 + d.subdirs)
		vf_problem(w, "folder '%s' (inode %" PRIu64 "): nlink %u, it has "
			   "%u subfolders", path, ino, a.nlink, d.subdirs);
	for (size_t i = 0; i < d.nsub; i++) {
		vf_dir(w, d.sub[i], d.names[i]);
		free(d.names[i]);
	}
	free(d.names);
	free(d.sub);
}

static void vf_counts(struct vf_walk *w)
{
	struct store_counts c;

	store_counts(w->st, &c);
#define VF_COUNT(field)                                                     \
	if (c.field != w->field)                                            \
		vf_problem(w, "counter " #field ": %" PRIu64 ", the tree has "  \
			   "%" PRIu64, c.field, w->field)
	VF_COUNT(episodes);
	VF_COUNT(folders);
	VF_COUNT(indexed);
	VF_COUNT(bytes);
#undef VF_COUNT
}

static void vf_flags(struct vf_walk *w)
{
	for (int id = 0; id < FLAG__COUNT; id++) {
		const struct store_flag_def *def = store_flag_def(id);
		double v = store_flag_get(w->st, id);

		if (def->type == STORE_FLAG_ENUM) {
			size_t n = 0;

			while (def->choices[n])
				n++;
			if (v < 0 || v >= (double)n)
				vf_problem(w, "flag %s: choice %g of %zu",
					   def->name, v, n);
		} else if (def->type == STORE_FLAG_BOOL) {
			if (v != 0 && v != 1)
				vf_problem(w, "flag %s: %g is no boolean",
					   def->name, v);
		} else if (!(v >= def->min && v <= def->max)) {
			vf_problem(w, "flag %s: %g outside %g..%g", def->name, v,
				   def->min, def->max);
		}
	}
}

static void vf_store_verify(struct vf_walk *w)
{
#ifdef HAVE_STORE_VERIFY
	char *report = NULL;
	size_t len = 0;
	int r = store_verify(w->st, &report, &len);

	if (r < 0) {
		vf_problem(w, "store_verify failed: %s", strerror(-r));
	} else if (r > 0) {
		vf_problem(w, "store_verify: %d problems:", r);
		fwrite(report, 1, len, stdout);
		if (len && report[len - 1] != '\n')
			putchar('\n');
	}
	free(report);
	printf("verify: store_verify: %d problems\n", r < 0 ? 0 : r);
#else
	(void)w;
	printf("verify: store_verify: not in libengram.a yet, skipped\n");
#endif
}

int main(int argc, char **argv)
{
	struct store_options opt = { .read_only = true };
	struct vf_walk w = { 0 };
	struct store_counts c;
	int r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s DATADIR [LISTING]\n", argv[0]);
		return 2;
	}
	store_log_set(vf_log, STORE_LOG_DEBUG);
	r = store_open(argv[1], &opt, &w.st);
	if (r < 0) {
		printf("verify: cannot open '%s': %s\n", argv[1], strerror(-r));
		return 2;
	}
	if (argc == 3 && !(w.listing = fopen(argv[2], "w"))) {
		perror(argv[2]);
		return 2;
	}
	store_counts(w.st, &c);
	w.next_ino = c.next_ino;
	vf_dir(&w, STORE_ROOT_INO, "");
	vf_counts(&w);
	vf_flags(&w);
	vf_store_verify(&w);
	printf("verify: %s: %" PRIu64 " episodes, %" PRIu64 " folders, %" PRIu64
	       " bytes, next inode %" PRIu64 ": %ld problems\n", argv[1],
	       w.episodes, w.folders, w.bytes, w.next_ino, w.problems);
	if (w.listing)
		fclose(w.listing);
	store_close(w.st);
	free(w.inos);
	return w.problems ? 1 : 0;
}
