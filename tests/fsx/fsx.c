/*
 * fsx.c - a file system exerciser in the spirit of fsx (Apple, then
 * xfstests): random operations on a few episode files, every read compared
 * with an in-memory model of what each file must hold.
 *
 * usage: fsx [-N OPS] [-S SEED] [-f FILES] [-l MAXLEN] [-o MAXIO] [-M] [-q]
 *            [-v] DIR
 *
 *   -N OPS     operations (default 100000)
 *   -S SEED    seed (default: the time; printed); the sequence of
 *              operations is a function of the seed alone, so a failure is
 *              reproduced by running again with the same -S, -N, -f, -l, -o
 *   -f FILES   files fsx-0 .. fsx-(FILES-1) in DIR (default 4)
 *   -l MAXLEN  largest file (default 256 KiB; keep it under
 *              store.max_episode_bytes, 1 MiB by default)
 *   -o MAXIO   largest single read or write (default 64 KiB)
 *   -M         no mmap operations
 *   -q         only the summary;  -v  every operation
 *
 * Operations (each file has one O_RDWR descriptor, open or closed):
 *   write      pwrite at a random offset, holes zero-filled
 *   read       pread at a random offset, compared byte for byte (and the
 *              length: short exactly at end of file)
 *   truncate   ftruncate to a random size, growing or shrinking
 *   append     a second descriptor with O_APPEND writes, then closes
 *   mapwrite   mmap(MAP_SHARED) a range inside the file, write, msync
 *   mapread    mmap a range and compare
 *   fsync      fsync: the commit point of engramfs
 *   reopen     close (commit) and open again, then the whole file is read
 *              and compared, and its size checked with fstat
 *   roread     an O_RDONLY open reads the committed content (engramfs
 *              gives read-only opens a snapshot of the last commit); done
 *              only when the file has no uncommitted change
 *   rename     rename to another name and back while open, or close two
 *              files and rename one over the other (the model follows)
 *   stat       stat size equals the model's
 *
 * Output: one summary line "fsx: seed S: N ops (...), M mismatches"; on the
 * first mismatch the operation number, the seed, the file, the offset, the
 * expected and actual bytes and the last operations on that file, then
 * exit status 1.  Any unexpected errno: exit status 2, with the same
 * details.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FSX_MAXFILES 64
#define FSX_HIST 32	/* operations remembered per file */

enum fsx_op { OP_WRITE, OP_READ, OP_TRUNCATE, OP_APPEND, OP_MAPWRITE,
	      OP_MAPREAD, OP_FSYNC, OP_REOPEN, OP_ROREAD, OP_RENAME,
	      OP_STAT, OP__COUNT };

static const char *const fsx_op_name[OP__COUNT] = {
	"write", "read", "truncate", "append", "mapwrite", "mapread",
	"fsync", "reopen", "roread", "rename", "stat",
};

/* Weights: reads and writes dominate, as in fsx. */
static const unsigned fsx_weight[OP__COUNT] = {
	[OP_WRITE] = 24, [OP_READ] = 20, [OP_TRUNCATE] = 7, [OP_APPEND] = 7,
	[OP_MAPWRITE] = 5, [OP_MAPREAD] = 5, [OP_FSYNC] = 4, [OP_REOPEN] = 8,
	[OP_ROREAD] = 5, [OP_RENAME] = 3, [OP_STAT] = 4,
};

struct fsx_file {
	char *good;		/* what the file must hold */
	size_t len;
	char *committed;	/* as of the last fsync or close */
	size_t clen;
	bool dirty;		/* changed since the last commit */
	int fd;			/* -1 when closed */
	char hist[FSX_HIST][96];
	unsigned nhist;
};

static struct {
	const char *dir;
	uint64_t seed, rng;
	unsigned long nops, op;
	unsigned nfiles;
	size_t maxlen, maxio;
	bool nomap, quiet, verbose;
	long pagesize;
	unsigned long count[OP__COUNT];
	unsigned long mismatches;
	struct fsx_file f[FSX_MAXFILES];
	char *buf, *temp;
} fsx;

/* ---- the seeded generator (splitmix64): same seed, same run ---------- */

static uint64_t fsx_rand(void)
{
	uint64_t z = (fsx.rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t fsx_below(size_t n)
{
	return n ? (size_t)(fsx_rand() % n) : 0;
}

/* ---- reporting ---------------------------------------------------------- */

static void fsx_path(unsigned i, char *out, size_t n)
{
	snprintf(out, n, "%s/fsx-%u", fsx.dir, i);
}

static void fsx_note(unsigned i, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fsx_note(unsigned i, const char *fmt, ...)
{
	struct fsx_file *f = &fsx.f[i];
	char *h = f->hist[f->nhist++ % FSX_HIST];
	va_list ap;
	int n;

	n = snprintf(h, 96, "%lu ", fsx.op);
	va_start(ap, fmt);
	vsnprintf(h + n, (size_t)(96 - n), fmt, ap);
	va_end(ap);
	if (fsx.verbose)
		printf("fsx: fsx-%u: %s\n", i, h);
}

static void fsx_history(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	unsigned k = f->nhist > FSX_HIST ? f->nhist - FSX_HIST : 0;

	printf("fsx: last operations on fsx-%u (op number, what):\n", i);
	for (; k < f->nhist; k++)
		printf("fsx:   %s\n", f->hist[k % FSX_HIST]);
}

static void fsx_summary(void)
{
	printf("fsx: seed %" PRIu64 ": %lu ops (", fsx.seed, fsx.op);
	for (int k = 0; k < OP__COUNT; k++)
		printf("%s%s %lu", k ? ", " : "", fsx_op_name[k], fsx.count[k]);
	printf("), %lu mismatches\n", fsx.mismatches);
}

static void fsx_die(unsigned i, const char *what, int err)
	__attribute__((noreturn));

static void fsx_die(unsigned i, const char *what, int err)
{
	printf("fsx: ERROR at op %lu (seed %" PRIu64 "): fsx-%u: %s: %s\n",
	       fsx.op, fsx.seed, i, what, strerror(err));
	fsx_history(i);
	fsx_summary();
	exit(2);
}

/* Compare N bytes read at OFF with the model. */
static void fsx_check(unsigned i, const char *what, const char *model,
		      size_t mlen, const char *got, size_t off, size_t want,
		      size_t n)
{
	size_t expect = off >= mlen ? 0 : (mlen - off < want ? mlen - off : want);
	size_t bad;

	if (n == expect && (!n || !memcmp(model + off, got, n)))
		return;
	fsx.mismatches++;
	printf("fsx: MISMATCH at op %lu (seed %" PRIu64 "): fsx-%u: %s of %zu "
	       "bytes at offset %zu (file length %zu in the model): ",
	       fsx.op, fsx.seed, i, what, want, off, mlen);
	if (n != expect) {
		printf("got %zu bytes, expected %zu\n", n, expect);
	} else {
		for (bad = 0; bad < n && model[off + bad] == got[bad]; bad++)
			;
		printf("first difference at offset %zu: expected 0x%02x, got "
		       "0x%02x\n", off + bad, (unsigned char)model[off + bad],
		       (unsigned char)got[bad]);
		printf("fsx:   expected:");
		for (size_t k = bad; k < n && k < bad + 16; k++)
			printf(" %02x", (unsigned char)model[off + k]);
		printf("\nfsx:   got:     ");
		for (size_t k = bad; k < n && k < bad + 16; k++)
			printf(" %02x", (unsigned char)got[k]);
		printf("\n");
	}
	fsx_history(i);
	fsx_summary();
	exit(1);
}

/* ---- the model ---------------------------------------------------------- */

static void fsx_resize(struct fsx_file *f, size_t len)
{
	if (len > f->len)
		memset(f->good + f->len, 0, len - f->len);
	f->len = len;
}

static void fsx_commit(struct fsx_file *f)
{
	memcpy(f->committed, f->good, f->len);
	f->clen = f->len;
	f->dirty = false;
}

/* Data of a write: fsx's pattern, the offset and the op number mixed, so
 * a byte at the wrong place or from another write shows. */
static void fsx_fill(char *p, size_t off, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (char)(((off + k) % 251) ^ (fsx.op & 0xff) ^ 0x5a);
	if (n)
		p[0] = (char)(fsx.op % 255 + 1);	/* never all zero */
}

/* ---- operations --------------------------------------------------------- */

static void fsx_open(unsigned i)
{
	char path[4096];
	struct fsx_file *f = &fsx.f[i];

	fsx_path(i, path, sizeof(path));
	f->fd = open(path, O_RDWR | O_CREAT, 0644);
	if (f->fd < 0)
		fsx_die(i, "open", errno);
}

static void fsx_close(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];

	if (f->fd < 0)
		return;
	if (close(f->fd) < 0)
		fsx_die(i, "close", errno);
	f->fd = -1;
	fsx_commit(f);
}

static void fsx_ensure_open(unsigned i)
{
	if (fsx.f[i].fd < 0)
		fsx_open(i);
}

static void op_write(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	size_t off = fsx_below(fsx.maxlen);
	size_t n = 1 + fsx_below(fsx.maxio);
	ssize_t r;

	if (off + n > fsx.maxlen)
		n = fsx.maxlen - off;
	fsx_ensure_open(i);
	fsx_fill(fsx.buf, off, n);
	fsx_note(i, "write %zu at %zu (len %zu)", n, off, f->len);
	r = pwrite(f->fd, fsx.buf, n, (off_t)off);
	if (r < 0)
		fsx_die(i, "pwrite", errno);
	if ((size_t)r != n)
		fsx_die(i, "pwrite: short write", EIO);
	if (off + n > f->len)
		fsx_resize(f, off + n);
	memcpy(f->good + off, fsx.buf, n);
	f->dirty = true;
}

static void op_read(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	size_t off = fsx_below(f->len + f->len / 8 + 1);
	size_t n = 1 + fsx_below(fsx.maxio);
	ssize_t r;

	fsx_ensure_open(i);
	fsx_note(i, "read %zu at %zu (len %zu)", n, off, f->len);
	r = pread(f->fd, fsx.temp, n, (off_t)off);
	if (r < 0)
		fsx_die(i, "pread", errno);
	fsx_check(i, "read", f->good, f->len, fsx.temp, off, n, (size_t)r);
}

static void op_truncate(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	size_t len = fsx_below(fsx.maxlen + 1);

	/* Half of them shrink to at most the current length. */
	if (fsx_rand() & 1 && f->len)
		len = fsx_below(f->len + 1);
	fsx_ensure_open(i);
	fsx_note(i, "truncate to %zu (len %zu)", len, f->len);
	if (ftruncate(f->fd, (off_t)len) < 0)
		fsx_die(i, "ftruncate", errno);
	fsx_resize(f, len);
	f->dirty = true;
}

static void op_append(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	size_t n = 1 + fsx_below(fsx.maxio / 4);
	char path[4096];
	ssize_t r;
	int fd;

	if (f->len + n > fsx.maxlen)
		return op_truncate(i);
	fsx_ensure_open(i);
	fsx_path(i, path, sizeof(path));
	fsx_fill(fsx.buf, f->len, n);
	fsx_note(i, "append %zu (len %zu)", n, f->len);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd < 0)
		fsx_die(i, "open O_APPEND", errno);
	r = write(fd, fsx.buf, n);
	if (r < 0)
		fsx_die(i, "write O_APPEND", errno);
	if ((size_t)r != n)
		fsx_die(i, "write O_APPEND: short write", EIO);
	memcpy(f->good + f->len, fsx.buf, n);	/* good has maxlen room */
	f->len += n;
	/* The close commits the shared state: the whole file, the other
	 * descriptor's writes included. */
	if (close(fd) < 0)
		fsx_die(i, "close O_APPEND", errno);
	fsx_commit(f);
}

/* A page-aligned mapping of [off, off+n) inside the file. */
static void op_map(unsigned i, bool write)
{
	struct fsx_file *f = &fsx.f[i];
	size_t off, n, pgoff, delta;
	char *p;

	if (f->len == 0)
		return op_write(i);
	off = fsx_below(f->len);
	n = 1 + fsx_below(fsx.maxio);
	if (off + n > f->len)
		n = f->len - off;
	pgoff = off & ~((size_t)fsx.pagesize - 1);
	delta = off - pgoff;
	fsx_ensure_open(i);
	fsx_note(i, "map%s %zu at %zu (len %zu)", write ? "write" : "read", n,
		 off, f->len);
	p = mmap(NULL, n + delta, PROT_READ | (write ? PROT_WRITE : 0),
		 MAP_SHARED, f->fd, (off_t)pgoff);
	if (p == MAP_FAILED)
		fsx_die(i, "mmap", errno);
	if (write) {
		fsx_fill(fsx.buf, off, n);
		memcpy(p + delta, fsx.buf, n);
		if (msync(p, n + delta, MS_SYNC) < 0)
			fsx_die(i, "msync", errno);
		memcpy(f->good + off, fsx.buf, n);
		f->dirty = true;
	} else {
		memcpy(fsx.temp, p + delta, n);
	}
	if (munmap(p, n + delta) < 0)
		fsx_die(i, "munmap", errno);
	if (!write)
		fsx_check(i, "mapread", f->good, f->len, fsx.temp, off, n, n);
}

static void op_fsync(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];

	fsx_ensure_open(i);
	fsx_note(i, "fsync (len %zu)", f->len);
	if (fsync(f->fd) < 0)
		fsx_die(i, "fsync", errno);
	fsx_commit(f);
}

/* Read the whole file through FD and compare with MODEL. */
static void fsx_read_all(unsigned i, int fd, const char *what,
			 const char *model, size_t mlen)
{
	size_t got = 0;
	ssize_t r;

	while ((r = pread(fd, fsx.temp + got, fsx.maxlen + 1 - got,
			  (off_t)got)) > 0)
		got += (size_t)r;
	if (r < 0)
		fsx_die(i, what, errno);
	fsx_check(i, what, model, mlen, fsx.temp, 0, fsx.maxlen + 1, got);
}

static void op_reopen(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	struct stat st;

	fsx_note(i, "close and reopen (len %zu)", f->len);
	fsx_close(i);
	fsx_open(i);
	if (fstat(f->fd, &st) < 0)
		fsx_die(i, "fstat", errno);
	if ((size_t)st.st_size != f->len) {
		printf("fsx: MISMATCH at op %lu (seed %" PRIu64 "): fsx-%u: "
		       "size %lld after reopen, the model has %zu\n", fsx.op,
		       fsx.seed, i, (long long)st.st_size, f->len);
		fsx.mismatches++;
		fsx_history(i);
		fsx_summary();
		exit(1);
	}
	fsx_read_all(i, f->fd, "read after reopen", f->good, f->len);
}

static void op_roread(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	char path[4096];
	int fd;

	if (f->dirty)
		return op_fsync(i);
	fsx_path(i, path, sizeof(path));
	fsx_note(i, "read-only open and read (len %zu)", f->clen);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fsx_die(i, "open O_RDONLY", errno);
	fsx_read_all(i, fd, "read-only read", f->committed, f->clen);
	if (close(fd) < 0)
		fsx_die(i, "close O_RDONLY", errno);
}

static void fsx_swap_files(unsigned a, unsigned b)
{
	struct fsx_file t = fsx.f[a];

	fsx.f[a] = fsx.f[b];
	fsx.f[b] = t;
}

static void op_rename(unsigned i)
{
	char from[4096], to[4096];
	unsigned j;

	fsx_path(i, from, sizeof(from));
	if (fsx.nfiles < 2 || fsx_rand() & 1) {
		/* Away and back while open: the descriptor follows. */
		fsx_ensure_open(i);
		snprintf(to, sizeof(to), "%s/fsx-%u.moved", fsx.dir, i);
		fsx_note(i, "rename away and back while open");
		if (rename(from, to) < 0)
			fsx_die(i, "rename away", errno);
		op_write(i);
		if (rename(to, from) < 0)
			fsx_die(i, "rename back", errno);
		return;
	}
	/* Over another file: j takes i's content, i starts empty. */
	j = (i + 1 + (unsigned)fsx_below(fsx.nfiles - 1)) % fsx.nfiles;
	fsx_path(j, to, sizeof(to));
	fsx_note(i, "rename over fsx-%u (len %zu)", j, fsx.f[i].len);
	fsx_note(j, "replaced by fsx-%u (len %zu)", i, fsx.f[i].len);
	fsx_close(i);
	fsx_close(j);
	if (rename(from, to) < 0)
		fsx_die(i, "rename over", errno);
	fsx_swap_files(i, j);
	fsx.f[i].len = 0;
	fsx_commit(&fsx.f[i]);
	fsx_open(i);	/* O_CREAT: a new, empty episode */
}

static void op_stat(unsigned i)
{
	struct fsx_file *f = &fsx.f[i];
	char path[4096];
	struct stat st;

	fsx_path(i, path, sizeof(path));
	fsx_note(i, "stat (len %zu)", f->len);
	if (stat(path, &st) < 0)
		fsx_die(i, "stat", errno);
	if ((size_t)st.st_size != f->len) {
		printf("fsx: MISMATCH at op %lu (seed %" PRIu64 "): fsx-%u: "
		       "stat size %lld, the model has %zu\n", fsx.op, fsx.seed,
		       i, (long long)st.st_size, f->len);
		fsx.mismatches++;
		fsx_history(i);
		fsx_summary();
		exit(1);
	}
}

static enum fsx_op fsx_pick(void)
{
	unsigned total = 0, r;
	int k;

	for (k = 0; k < OP__COUNT; k++)
		if (!(fsx.nomap && (k == OP_MAPREAD || k == OP_MAPWRITE)))
			total += fsx_weight[k];
	r = (unsigned)fsx_below(total);
	for (k = 0; k < OP__COUNT; k++) {
		if (fsx.nomap && (k == OP_MAPREAD || k == OP_MAPWRITE))
			continue;
		if (r < fsx_weight[k])
			break;
		r -= fsx_weight[k];
	}
	return (enum fsx_op)k;
}

static void fsx_step(void)
{
	unsigned i = (unsigned)fsx_below(fsx.nfiles);
	enum fsx_op op = fsx_pick();

	fsx.count[op]++;
	switch (op) {
	case OP_WRITE: op_write(i); break;
	case OP_READ: op_read(i); break;
	case OP_TRUNCATE: op_truncate(i); break;
	case OP_APPEND: op_append(i); break;
	case OP_MAPWRITE: op_map(i, true); break;
	case OP_MAPREAD: op_map(i, false); break;
	case OP_FSYNC: op_fsync(i); break;
	case OP_REOPEN: op_reopen(i); break;
	case OP_ROREAD: op_roread(i); break;
	case OP_RENAME: op_rename(i); break;
	case OP_STAT: op_stat(i); break;
	case OP__COUNT: break;
	}
}

static void fsx_usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-N OPS] [-S SEED] [-f FILES] [-l MAXLEN] "
		"[-o MAXIO] [-M] [-q] [-v] DIR\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	int c;

	fsx.nops = 100000;
	fsx.seed = (uint64_t)time(NULL);
	fsx.nfiles = 4;
	fsx.maxlen = 256 * 1024;
	fsx.maxio = 64 * 1024;
	while ((c = getopt(argc, argv, "N:S:f:l:o:Mqv")) != -1) {
		switch (c) {
		case 'N': fsx.nops = strtoul(optarg, NULL, 0); break;
		case 'S': fsx.seed = strtoull(optarg, NULL, 0); break;
		case 'f': fsx.nfiles = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'l': fsx.maxlen = strtoul(optarg, NULL, 0); break;
		case 'o': fsx.maxio = strtoul(optarg, NULL, 0); break;
		case 'M': fsx.nomap = true; break;
		case 'q': fsx.quiet = true; break;
		case 'v': fsx.verbose = true; break;
		default: fsx_usage(argv[0]);
		}
	}
	if (optind != argc - 1 || !fsx.nfiles || fsx.nfiles > FSX_MAXFILES ||
	    !fsx.maxlen || !fsx.maxio)
		fsx_usage(argv[0]);
	if (fsx.maxio > fsx.maxlen)
		fsx.maxio = fsx.maxlen;
	fsx.dir = argv[optind];
	fsx.rng = fsx.seed;
	fsx.pagesize = sysconf(_SC_PAGESIZE);
	fsx.buf = malloc(fsx.maxlen + 1);
	fsx.temp = malloc(fsx.maxlen + 1);
	if (!fsx.buf || !fsx.temp)
		return 2;
	for (unsigned i = 0; i < fsx.nfiles; i++) {
		char path[4096];

		fsx.f[i].good = calloc(1, fsx.maxlen + 1);
		fsx.f[i].committed = calloc(1, fsx.maxlen + 1);
		if (!fsx.f[i].good || !fsx.f[i].committed)
			return 2;
		fsx_path(i, path, sizeof(path));
		fsx.f[i].fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (fsx.f[i].fd < 0)
			fsx_die(i, "create", errno);
	}
	if (!fsx.quiet)
		printf("fsx: seed %" PRIu64 ", %lu ops on %u files in %s, "
		       "files up to %zu bytes, I/O up to %zu\n", fsx.seed,
		       fsx.nops, fsx.nfiles, fsx.dir, fsx.maxlen, fsx.maxio);
	for (fsx.op = 1; fsx.op <= fsx.nops; fsx.op++) {
		fsx_step();
		if (!fsx.quiet && fsx.op % 10000 == 0)
			printf("fsx: %lu ops\n", fsx.op);
	}
	fsx.op = fsx.nops;
	/* The end: every file closed, reopened read-only and compared. */
	for (unsigned i = 0; i < fsx.nfiles; i++) {
		char path[4096];
		int fd;

		fsx_close(i);
		fsx_path(i, path, sizeof(path));
		fd = open(path, O_RDONLY);
		if (fd < 0)
			fsx_die(i, "final open", errno);
		fsx_read_all(i, fd, "final read", fsx.f[i].good, fsx.f[i].len);
		close(fd);
	}
	fsx_summary();
	return fsx.mismatches ? 1 : 0;
}
