/*
 * verify.c - store_verify: walk the whole store and report every place
 * where what is derived from the episodes disagrees with them.
 *
 * What is checked (each failure is one line of the report):
 *   tree       every folder entry (CF_DIRENTS parent|name -> child) is in
 *              an existing folder and names an existing inode whose record
 *              carries that name, that parent and the entry's file type;
 *              every inode but the root is named by exactly one entry; the
 *              root exists and is its own parent; a folder's nlink is 2 +
 *              its subfolders; every inode number is below meta/next_ino.
 *   content    an episode's size and hash match its content; content and
 *              xattrs belong to existing inodes.
 *   index      an episode's indexed flag agrees with its name (db.c,
 *              invariant 3); an indexed episode has a posting for every
 *              term of its current content (text_analyze of
 *              store_content_read) carrying that term's tf and the
 *              episode's length, time and confidence; every posting
 *              (term | 0 | ino) belongs to an existing indexed episode
 *              whose content has the term.
 *   counters   meta/episodes, folders, indexed, bytes, total_len (as
 *              loaded at open) equal what the walk counts; meta/vectors
 *              equals the stored vectors.
 *   concepts   every binding ('e' ino cid, 'c' cid ino; concept.c) has its
 *              mirror with the same strength, in 0..1, and names an
 *              existing episode and an existing concept; a concept record
 *              has its label entry and a label entry its record; sum
 *              vector keys belong to a concept; a vector (CF_VECTORS)
 *              names an existing concept or the pool; a concept's member
 *              count equals the vectors that name it (consolidate.c,
 *              invariant 1), and it has no more bindings than members.
 *
 * Passes, each a streaming scan of one column family:
 *   1. dirents: each entry's child record is read; the child gets a name
 *      count in the inode map, its parent a subfolder count.
 *   2. inodes: tree, content and index checks per record, the counters.
 *      An indexed episode's content is analysed; the number of its terms
 *      goes into the inode map, and the sum of the hashes (xxh64) of the
 *      postings it should have (key, tf, length, time, confidence) into
 *      the fingerprint map.  No posting is read here.
 *   3. postings: each is looked up in the inode map, counted down and
 *      its hash taken off its episode's sum.  An indexed episode whose
 *      count or sum is not zero afterwards is a suspect (3a): its terms'
 *      postings are read one by one and each missing or wrong one named;
 *      3b scans the postings again and names those of suspects whose
 *      term is not in the content.  A sound store never takes 3a or 3b,
 *      so it costs one scan of the postings, not a point get per posting
 *      (20,000 episodes of 60 terms, measured: 1.3 s of CPU instead of
 *      9); a difference that cancels out in a 64-bit sum is not a worry.
 *   4. content and xattr orphans; 5. concepts; 6. labels; 7. vectors;
 *   8. bindings; 9. the counters, and per concept members and bindings.
 *
 * Memory: the inode map (concept_map: 16 bytes a slot, about 32 MB for a
 * million inodes; the value packs a name count, type bits and the count
 * of postings), the fingerprint map (as much again for the indexed
 * episodes), a map of folders with subfolders, three small maps of
 * concepts, and the report, which keeps its first VERIFY_REPORT_MAX lines
 * and counts the rest.  Names and terms are printed with control bytes
 * replaced by '?', so a problem stays one line.
 *
 * Consistency: meant for a quiet store (engramctl verify opens it
 * read-only, offline).  The readers it reuses (inode_get,
 * store_content_read, concept_rec_get) read the latest state, not one
 * RocksDB snapshot, so on a mounted store a commit between two reads can
 * show as a passing problem.  NEEDSWORK: snapshot reads need a read
 * options seam in those readers (store_i.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "concept_i.h"

/* Lines kept in the report; past it problems are only counted (a store
 * broken everywhere must not make a report of gigabytes). */
#define VERIFY_REPORT_MAX 10000
#define VERIFY_TERM_MAX 64	/* text.c drops longer tokens */

/* The inode map's value. */
#define VERIFY_NAMES    0xffULL	/* entries naming it, saturating */
#define VERIFY_EXISTS   (1ULL << 8)
#define VERIFY_FILE     (1ULL << 9)
#define VERIFY_DIR      (1ULL << 10)
#define VERIFY_INDEXED  (1ULL << 11)
#define VERIFY_SUSPECT  (1ULL << 12)	/* its postings do not add up */
#define VERIFY_POST_SHIFT 32		/* postings still expected */

struct verify {
	struct store *st;
	struct concept_map inos;	/* ino -> VERIFY_* */
	struct concept_map subdirs;	/* folder -> subfolders */
	struct concept_map fps;		/* episode -> postings hash */
	struct concept_map concepts;	/* cid -> members + 1 */
	struct concept_map vectors;	/* cid -> vectors naming it */
	struct concept_map bound;	/* cid -> 'c' bindings */
	uint64_t episodes, folders, indexed, bytes, total_len, nvectors;
	uint64_t parent, next_ino;	/* pass 1: last parent checked */
	bool parent_ok, suspects;
	/* pass 3b: the terms of the last episode analysed */
	uint64_t cached_ino;
	struct text_terms cached;
	char *out;
	size_t len, cap, lines;
	uint64_t problems;
	bool oom;
};

typedef int verify_fn(struct verify *v, const unsigned char *k, size_t klen,
		      const unsigned char *val, size_t vlen);

/* ---- the report ------------------------------------------------------ */

/* Append one line to the report; on ENOMEM remember it. */
static void verify_vline(struct verify *v, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	for (;;) {
		va_copy(aq, ap);
		n = vsnprintf(v->out + v->len, v->cap - v->len, fmt, aq);
		va_end(aq);
		if (n < 0 || (size_t)n + 1 < v->cap - v->len)
			break;
		char *p = realloc(v->out, v->cap * 2 + (size_t)n);

		if (!p) {
			v->oom = true;
			return;
		}
		v->out = p;
		v->cap = v->cap * 2 + (size_t)n;
	}
	if (n < 0)
		return;
	v->len += (size_t)n;
	v->out[v->len++] = '\n';
	v->out[v->len] = '\0';
	v->lines++;
}

static void verify_problem(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verify_problem(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	v->problems++;
	if (v->lines >= VERIFY_REPORT_MAX || v->oom)
		return;
	va_start(ap, fmt);
	verify_vline(v, fmt, ap);
	va_end(ap);
}

static void verify_summary(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verify_summary(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verify_vline(v, fmt, ap);
	va_end(ap);
}

/* A name or term for the report: at most 255 bytes, control bytes '?'. */
static const char *verify_show(char *buf, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	if (n > STORE_NAME_MAX)
		n = STORE_NAME_MAX;
	for (i = 0; i < n; i++)
		buf[i] = s[i] < 0x20 || s[i] == 0x7f ? '?' : (char)s[i];
	buf[n] = '\0';
	return buf;
}

/* ---- scans and maps -------------------------------------------------- */

static int verify_scan(struct verify *v, enum db_cf cf, verify_fn *fn)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it;
	char *err = NULL;
	int rc = 0;

	/* A whole scan would push the working set out of the cache. */
	rocksdb_readoptions_set_fill_cache(ro, 0);
	/* Postings have a prefix extractor: iterate in total order. */
	rocksdb_readoptions_set_total_order_seek(ro, 1);
	it = rocksdb_create_iterator_cf(v->st->db, ro, v->st->cf[cf]);
	for (rocksdb_iter_seek_to_first(it); !rc && rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *val = rocksdb_iter_value(it, &vlen);

		rc = fn(v, (const unsigned char *)k, klen,
			(const unsigned char *)val, vlen);
	}
	rocksdb_iter_get_error(it, &err);
	if (!rc && err)
		rc = err_from_rocksdb(&err, "verify");
	free(err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

static uint64_t verify_get(const struct concept_map *m, uint64_t key)
{
	uint64_t *p = key ? concept_map_get(m, key) : NULL;

	return p ? *p : 0;
}

/* Add BITS to KEY's value; -ENOMEM. */
static int verify_or(struct concept_map *m, uint64_t key, uint64_t bits)
{
	uint64_t *p = key ? concept_map_put(m, key) : NULL;

	if (key && !p)
		return -ENOMEM;
	if (p)
		*p |= bits;
	return 0;
}

static int verify_add(struct concept_map *m, uint64_t key, uint64_t n)
{
	uint64_t *p = key ? concept_map_put(m, key) : NULL;

	if (key && !p)
		return -ENOMEM;
	if (p)
		*p += n;
	return 0;
}

/* ---- pass 1: folder entries ------------------------------------------ */

/* Is PARENT an existing folder?  (Entries come grouped by parent.) */
static int verify_parent(struct verify *v, uint64_t parent)
{
	struct inode_rec r;
	int rc;

	if (v->parent == parent)
		return 0;
	v->parent = parent;
	rc = inode_get(v->st, parent, &r);
	if (rc == -ENOMEM)
		return rc;
	v->parent_ok = !rc && S_ISDIR(r.a.mode);
	if (!rc)
		inode_rec_release(&r);
	if (!v->parent_ok)
		verify_problem(v, "folder %" PRIu64 " has entries but %s",
			       parent, rc ? "does not exist" : "is no folder");
	return 0;
}

static void verify_entry_record(struct verify *v, uint64_t parent,
				const char *name, const struct inode_rec *r,
				const unsigned char *val, size_t vlen)
{
	char a[STORE_NAME_MAX + 1];
	uint32_t mode;

	if (strcmp(r->name, name) || r->a.parent != parent)
		verify_problem(v, "entry '%s' in folder %" PRIu64 " -> inode %"
			       PRIu64 ": the inode says it is '%s' in folder %"
			       PRIu64, name, parent, r->a.ino,
			       verify_show(a, r->name, strlen(r->name)),
			       r->a.parent);
	if (vlen >= 12) {
		memcpy(&mode, val + 8, 4);
		if ((mode & S_IFMT) != (r->a.mode & S_IFMT))
			verify_problem(v, "entry '%s' in folder %" PRIu64
				       " -> inode %" PRIu64 ": file type "
				       "differs from the inode's", name,
				       parent, r->a.ino);
	}
}

/* One more name for INO; a folder also counts as PARENT's subfolder. */
static int verify_named(struct verify *v, uint64_t ino, uint64_t parent,
			bool dir)
{
	uint64_t *p = concept_map_put(&v->inos, ino);

	if (!p)
		return -ENOMEM;
	if ((*p & VERIFY_NAMES) < VERIFY_NAMES)
		(*p)++;
	return dir ? verify_add(&v->subdirs, parent, 1) : 0;
}

static int verify_dirent(struct verify *v, const unsigned char *k,
			 size_t klen, const unsigned char *val, size_t vlen)
{
	char name[STORE_NAME_MAX + 1];
	uint64_t parent, ino;
	struct inode_rec r;
	int rc;

	if (klen <= 8 || klen - 8 > STORE_NAME_MAX || vlen < 8) {
		verify_problem(v, "folder entry: malformed key or value (%zu, "
			       "%zu bytes)", klen, vlen);
		return 0;
	}
	parent = be64_get(k);
	ino = be64_get(val);
	verify_show(name, k + 8, klen - 8);
	rc = verify_parent(v, parent);
	if (!rc)
		rc = inode_get(v->st, ino, &r);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		verify_problem(v, "entry '%s' in folder %" PRIu64 " -> inode %"
			       PRIu64 ": %s", name, parent, ino,
			       rc == -ENOENT ? "no such inode"
					     : "unreadable record");
		return 0;
	}
	verify_entry_record(v, parent, name, &r, val, vlen);
	rc = verify_named(v, ino, parent, S_ISDIR(r.a.mode));
	inode_rec_release(&r);
	return rc;
}

/* ---- pass 2: inodes -------------------------------------------------- */

/* What the posting of term T of episode R says, as a hash: its key, tf,
 * document length, time and confidence byte (index.c). */
static uint64_t verify_fp(const unsigned char *key, size_t klen, uint32_t tf,
			  uint32_t dl, int64_t when, unsigned conf)
{
	unsigned char buf[VERIFY_TERM_MAX + 9 + 17];

	memcpy(buf, key, klen);
	memcpy(buf + klen, &tf, 4);
	memcpy(buf + klen + 4, &dl, 4);
	memcpy(buf + klen + 8, &when, 8);
	buf[klen + 16] = (unsigned char)conf;
	return XXH64(buf, klen + 17, 0);
}

static size_t verify_posting_key_of(unsigned char *key, const char *term,
				    uint64_t ino)
{
	size_t n = strnlen(term, VERIFY_TERM_MAX);

	memcpy(key, term, n);
	key[n] = '\0';
	be64_put(key + n + 1, ino);
	return n + 9;
}

static unsigned verify_conf_byte(double c)
{
	return (unsigned)lround((c < 0 ? 0 : c > 1 ? 1 : c) * 255.0);
}

/* The posting of term T for episode R: there, and saying what R says.
 * (The slow path: a point get, for suspects only.) */
static int verify_posting_of(struct verify *v, const struct inode_rec *r,
			     const struct text_term *t)
{
	unsigned char key[VERIFY_TERM_MAX + 16];
	size_t klen = verify_posting_key_of(key, t->term, r->a.ino), vlen;
	struct posting p;
	char *val;
	int rc = db_get(v->st, CF_POSTINGS, key, klen, &val, &vlen);

	if (rc == -ENOENT)
		verify_problem(v, "episode %" PRIu64 ": term '%s' has no "
			       "posting", r->a.ino, t->term);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = posting_decode((const unsigned char *)val, vlen, &p);
	free(val);
	if (rc || p.tf != t->tf || p.dl != r->dl ||
	    p.when != r->a.mtime.tv_sec ||
	    verify_conf_byte(p.conf) != verify_conf_byte(r->a.confidence))
		verify_problem(v, "posting '%s' -> inode %" PRIu64 ": %s",
			       t->term, r->a.ino, rc ? "bad value"
			       : "tf, length, time or confidence differ from "
				 "the episode's");
	return 0;
}

/* Index checks of indexed episode R with content BUF: the hash of the
 * postings it should have goes into the fingerprint map, their number
 * into *nterms. */
static int verify_index(struct verify *v, const struct inode_rec *r,
			const char *buf, size_t len, uint64_t *nterms)
{
	unsigned char key[VERIFY_TERM_MAX + 16];
	unsigned conf = verify_conf_byte(r->a.confidence);
	struct text_terms t;
	uint64_t fp = 0;
	int rc = text_analyze(buf, len, &t);

	if (rc)
		return rc;
	if (t.length != r->dl)
		verify_problem(v, "episode %" PRIu64 ": document length %"
			       PRIu32 ", its content has %" PRIu32, r->a.ino,
			       r->dl, t.length);
	v->total_len += r->dl;
	for (size_t i = 0; i < t.n; i++)
		fp += verify_fp(key, verify_posting_key_of(key, t.v[i].term,
							   r->a.ino),
				t.v[i].tf, r->dl, r->a.mtime.tv_sec, conf);
	*nterms = t.n;
	text_terms_release(&t);
	return verify_add(&v->fps, r->a.ino, fp);
}

static int verify_episode(struct verify *v, const struct inode_rec *r)
{
	char *buf = NULL, a[STORE_NAME_MAX + 1];
	uint64_t nterms = 0, bits = VERIFY_EXISTS | VERIFY_FILE;
	size_t len = 0;
	int rc = store_content_read(v->st, r->a.ino, &buf, &len);

	if (rc)
		return rc;
	v->episodes++;
	v->bytes += r->a.size;
	if (len != r->a.size)
		verify_problem(v, "episode %" PRIu64 ": size %" PRIu64 ", its "
			       "content has %zu bytes", r->a.ino, r->a.size,
			       len);
	if (XXH64(buf, len, 0) != r->a.hash)
		verify_problem(v, "episode %" PRIu64 ": hash differs from its "
			       "content", r->a.ino);
	if (r->indexed == name_is_hidden(r->name))
		verify_problem(v, "episode %" PRIu64 " ('%s'): %s", r->a.ino,
			       verify_show(a, r->name, strlen(r->name)),
			       r->indexed ? "indexed, but its name is hidden"
				       : "not indexed, but its name is plain");
	if (r->indexed) {
		v->indexed++;
		bits |= VERIFY_INDEXED;
		rc = verify_index(v, r, buf, len, &nterms);
	}
	free(buf);
	if (!rc)
		rc = verify_or(&v->inos, r->a.ino,
			       bits | nterms << VERIFY_POST_SHIFT);
	return rc;
}

static int verify_folder(struct verify *v, const struct inode_rec *r)
{
	uint64_t sub = verify_get(&v->subdirs, r->a.ino);

	if (r->a.ino != STORE_ROOT_INO)
		v->folders++;
	else if (r->a.parent != STORE_ROOT_INO)
		verify_problem(v, "the root folder's parent is %" PRIu64
			       ", not itself", r->a.parent);
	if (r->a.nlink != 2 + sub)
		verify_problem(v, "folder %" PRIu64 ": nlink %" PRIu32 ", it "
			       "has %" PRIu64 " subfolders", r->a.ino,
			       r->a.nlink, sub);
	return verify_or(&v->inos, r->a.ino, VERIFY_EXISTS | VERIFY_DIR);
}

/* Tree checks common to files and folders. */
static void verify_names(struct verify *v, const struct inode_rec *r)
{
	uint64_t names = verify_get(&v->inos, r->a.ino) & VERIFY_NAMES;
	char a[STORE_NAME_MAX + 1];

	if (r->a.ino >= v->next_ino)
		verify_problem(v, "inode %" PRIu64 ": not below meta/next_ino %"
			       PRIu64, r->a.ino, v->next_ino);
	if (r->a.ino == STORE_ROOT_INO ? names != 0 : names != 1)
		verify_problem(v, "inode %" PRIu64 " ('%s'): named by %" PRIu64
			       "%s entries", r->a.ino,
			       verify_show(a, r->name, strlen(r->name)), names,
			       names == VERIFY_NAMES ? " or more" : "");
}

static int verify_inode(struct verify *v, const unsigned char *k, size_t klen,
			const unsigned char *val, size_t vlen)
{
	struct inode_rec r;
	int rc;

	if (klen != 8) {
		verify_problem(v, "inode: malformed key (%zu bytes)", klen);
		return 0;
	}
	rc = inode_get(v->st, be64_get(k), &r);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		verify_problem(v, "inode %" PRIu64 ": unreadable record",
			       be64_get(k));
		return 0;
	}
	verify_names(v, &r);
	if (S_ISDIR(r.a.mode))
		rc = verify_folder(v, &r);
	else if (S_ISREG(r.a.mode))
		rc = verify_episode(v, &r);
	else
		verify_problem(v, "inode %" PRIu64 ": mode 0%o is neither file "
			       "nor folder", r.a.ino, r.a.mode);
	inode_rec_release(&r);
	return rc;
}

/* ---- pass 3: postings ------------------------------------------------ */

/* Split a posting key into term and inode; false if malformed. */
static bool verify_posting_key(struct verify *v, const unsigned char *k,
			       size_t klen, char *term, uint64_t *ino,
			       bool quiet)
{
	const unsigned char *z = memchr(k, 0, klen);
	size_t tlen = z ? (size_t)(z - k) : klen;

	if (!z || !tlen || klen - tlen != 9 || tlen > VERIFY_TERM_MAX) {
		if (!quiet)
			verify_problem(v, "posting: malformed key '%s' (%zu "
				       "bytes)", verify_show(term, k, tlen),
				       klen);
		return false;
	}
	verify_show(term, k, (size_t)(z - k));
	*ino = be64_get(z + 1);
	return true;
}

/* Count the posting down and take its hash off the episode's. */
static void verify_posting_fp(struct verify *v, uint64_t *p, uint64_t ino,
			      const unsigned char *k, size_t klen,
			      const unsigned char *val, size_t vlen)
{
	uint64_t *fp = concept_map_get(&v->fps, ino);
	struct posting ps;

	if (*p >> VERIFY_POST_SHIFT == 0)
		*p |= VERIFY_SUSPECT;	/* more postings than terms */
	else
		*p -= 1ULL << VERIFY_POST_SHIFT;
	if (fp && !posting_decode(val, vlen, &ps))
		*fp -= verify_fp(k, klen, ps.tf, ps.dl, ps.when,
				 verify_conf_byte(ps.conf));
	else
		*p |= VERIFY_SUSPECT;
}

static int verify_posting(struct verify *v, const unsigned char *k,
			  size_t klen, const unsigned char *val, size_t vlen)
{
	char term[STORE_NAME_MAX + 1];
	uint64_t ino, *p;
	const char *why = NULL;

	if (!verify_posting_key(v, k, klen, term, &ino, false))
		return 0;
	p = concept_map_get(&v->inos, ino);
	if (!p || !(*p & VERIFY_EXISTS))
		why = "no such episode";
	else if (!(*p & VERIFY_FILE))
		why = "a folder";
	else if (!(*p & VERIFY_INDEXED))
		why = "the episode is not indexed";
	else
		verify_posting_fp(v, p, ino, k, klen, val, vlen);
	if (why)
		verify_problem(v, "posting '%s' -> inode %" PRIu64 ": %s", term,
			       ino, why);
	return 0;
}

/* Pass 3a: an indexed episode whose postings did not add up is checked
 * term by term (missing, wrong values) and marked for pass 3b. */
static int verify_suspect(struct verify *v, uint64_t ino)
{
	struct text_terms t = { 0 };
	struct inode_rec r;
	char *buf = NULL;
	size_t len = 0;
	int rc = inode_get(v->st, ino, &r);

	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = store_content_read(v->st, ino, &buf, &len);
	if (!rc)
		rc = text_analyze(buf, len, &t);
	free(buf);
	for (size_t i = 0; !rc && i < t.n; i++)
		rc = verify_posting_of(v, &r, &t.v[i]);
	text_terms_release(&t);
	inode_rec_release(&r);
	return rc;
}

static int verify_suspects(struct verify *v)
{
	struct concept_map *m = &v->inos;
	int rc = 0;

	for (size_t i = 0; !rc && i < m->cap; i++) {
		uint64_t ino = m->k[i], *p = &m->v[i];

		if (!ino || !(*p & VERIFY_INDEXED) ||
		    (!(*p & VERIFY_SUSPECT) && !(*p >> VERIFY_POST_SHIFT) &&
		     !verify_get(&v->fps, ino)))
			continue;
		*p |= VERIFY_SUSPECT;
		v->suspects = true;
		rc = verify_suspect(v, ino);
	}
	return rc;
}

static int verify_term_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct text_term *)elem)->term);
}

/* Pass 3b: name the postings of marked episodes whose term is not in
 * the content. */
static int verify_stray(struct verify *v, const unsigned char *k, size_t klen,
			const unsigned char *val, size_t vlen)
{
	char term[STORE_NAME_MAX + 1], *buf = NULL;
	size_t len = 0;
	uint64_t ino;
	int rc = 0;

	if (!verify_posting_key(v, k, klen, term, &ino, true) ||
	    !(verify_get(&v->inos, ino) & VERIFY_SUSPECT))
		return 0;
	if (v->cached_ino != ino) {
		text_terms_release(&v->cached);
		v->cached_ino = 0;
		rc = store_content_read(v->st, ino, &buf, &len);
		if (!rc)
			rc = text_analyze(buf, len, &v->cached);
		free(buf);
		if (rc)
			return rc;
		v->cached_ino = ino;
	}
	if (!bsearch(term, v->cached.v, v->cached.n, sizeof(*v->cached.v),
		     verify_term_cmp))
		verify_problem(v, "posting '%s' -> inode %" PRIu64 ": the term "
			       "is not in the episode's content", term, ino);
	return 0;
}

/* ---- pass 4: orphans ------------------------------------------------- */

static int verify_content_key(struct verify *v, const unsigned char *k,
			      size_t klen, const unsigned char *val,
			      size_t vlen)
{
	if (klen != 8)
		verify_problem(v, "content: malformed key (%zu bytes)", klen);
	else if (!(verify_get(&v->inos, be64_get(k)) & VERIFY_FILE))
		verify_problem(v, "content of inode %" PRIu64 ": no such "
			       "episode", be64_get(k));
	return 0;
}

static int verify_xattr_key(struct verify *v, const unsigned char *k,
			    size_t klen, const unsigned char *val, size_t vlen)
{
	if (klen <= 8)
		verify_problem(v, "xattr: malformed key (%zu bytes)", klen);
	else if (!(verify_get(&v->inos, be64_get(k)) & VERIFY_EXISTS))
		verify_problem(v, "xattr of inode %" PRIu64 ": no such inode",
			       be64_get(k));
	return 0;
}

/* ---- passes 5-8: concepts, labels, vectors, bindings ------------------ */

static int verify_concept(struct verify *v, const unsigned char *k,
			  size_t klen, const unsigned char *val, size_t vlen)
{
	struct concept_rec r;
	uint64_t id;
	char *lv = NULL;
	size_t n;
	int rc;

	if (klen > 9 && k[0] == 0xff) {	/* a term of a sum vector */
		if (!verify_get(&v->concepts, be64_get(k + 1)))
			verify_problem(v, "sum vector of concept %" PRIu64
				       ": no such concept", be64_get(k + 1));
		return 0;
	}
	if (klen != 8)
		return 0;	/* a layout of concept.c's we do not know */
	id = be64_get(k);
	rc = concept_rec_get(v->st, id, &r);
	if (rc == -ENOMEM)
		return rc;
	if (rc) {
		verify_problem(v, "concept %" PRIu64 ": unreadable record", id);
		return 0;
	}
	if (!(r.coherence >= 0 && r.coherence <= 1 + 1e-9))
		verify_problem(v, "concept %" PRIu64 ": coherence %g out of "
			       "0..1", id, r.coherence);
	rc = r.label ? db_get(v->st, CF_LABELS, r.label, strlen(r.label), &lv,
			      &n) : -ENOENT;
	if (rc == -ENOENT ||
	    (!rc && (n != 8 || be64_get((unsigned char *)lv) != id)))
		verify_problem(v, "concept %" PRIu64 ": its label has no entry "
			       "naming it", id);
	free(lv);
	rc = rc == -ENOENT ? 0 : rc;
	if (!rc)
		rc = verify_add(&v->concepts, id, (uint64_t)r.members + 1);
	concept_rec_release(&r);
	return rc;
}

static int verify_label(struct verify *v, const unsigned char *k, size_t klen,
			const unsigned char *val, size_t vlen)
{
	char label[STORE_NAME_MAX + 1];
	struct concept_rec r;
	uint64_t id;
	int rc;

	verify_show(label, k, klen);
	if (vlen != 8) {
		verify_problem(v, "label '%s': malformed value", label);
		return 0;
	}
	id = be64_get(val);
	rc = verify_get(&v->concepts, id) ? concept_rec_get(v->st, id, &r)
					  : -ENOENT;
	if (rc == -ENOMEM)
		return rc;
	if (rc || !r.label || strlen(r.label) != klen ||
	    memcmp(r.label, k, klen))
		verify_problem(v, "label '%s' -> concept %" PRIu64 ": %s",
			       label, id, rc ? "no such concept"
					     : "the concept has another label");
	if (!rc)
		concept_rec_release(&r);
	return 0;
}

/* A vector: u8 version | 3 | u32 n | u64 cid (little-endian) | terms. */
static int verify_vector(struct verify *v, const unsigned char *k,
			 size_t klen, const unsigned char *val, size_t vlen)
{
	uint64_t cid;

	if (klen != 8 || vlen < 16 || val[0] != 1) {
		verify_problem(v, "vector: malformed key or value (%zu, %zu "
			       "bytes)", klen, vlen);
		return 0;
	}
	v->nvectors++;
	memcpy(&cid, val + 8, 8);
	if (!cid)
		return 0;	/* in the pool */
	if (!verify_get(&v->concepts, cid))
		verify_problem(v, "vector of inode %" PRIu64 " -> concept %"
			       PRIu64 ": no such concept", be64_get(k), cid);
	return verify_add(&v->vectors, cid, 1);
}

/* The mirror of binding K (the same pair seen from the other side). */
static int verify_mirror(struct verify *v, const unsigned char *k,
			 double s, bool *missing, bool *differs)
{
	unsigned char m[17];
	char *val;
	size_t n;
	double ms;
	int rc;

	m[0] = k[0] == 'e' ? 'c' : 'e';
	memcpy(m + 1, k + 9, 8);
	memcpy(m + 9, k + 1, 8);
	rc = db_get(v->st, CF_BINDINGS, m, 17, &val, &n);
	*missing = rc == -ENOENT;
	*differs = false;
	if (rc)
		return *missing ? 0 : rc;
	*differs = n != 8;
	if (n == 8) {
		memcpy(&ms, val, 8);
		*differs = ms != s;
	}
	free(val);
	return 0;
}

/* 'e' entries are checked in full; a 'c' entry only when it has no 'e'
 * mirror (otherwise its pair was checked from the other side). */
static int verify_binding(struct verify *v, const unsigned char *k,
			  size_t klen, const unsigned char *val, size_t vlen)
{
	bool ep = klen == 17 && k[0] == 'e', missing, differs;
	uint64_t ino, cid;
	double s;
	int rc;

	if (klen != 17 || (k[0] != 'e' && k[0] != 'c') || vlen != 8) {
		verify_problem(v, "binding: malformed key or value (%zu, %zu "
			       "bytes)", klen, vlen);
		return 0;
	}
	ino = be64_get(k + (ep ? 1 : 9));
	cid = be64_get(k + (ep ? 9 : 1));
	memcpy(&s, val, 8);
	rc = verify_mirror(v, k, s, &missing, &differs);
	if (!rc && !ep)
		rc = verify_add(&v->bound, cid, 1);
	if (rc || (!ep && !missing))
		return rc;
	if (missing || differs)
		verify_problem(v, "binding of episode %" PRIu64 " to concept %"
			       PRIu64 ": %s", ino, cid, missing ?
			       (ep ? "no 'c' mirror" : "no 'e' mirror")
			       : "the mirror's strength differs");
	if (!(s >= 0 && s <= 1))
		verify_problem(v, "binding of episode %" PRIu64 " to concept %"
			       PRIu64 ": strength %g out of 0..1", ino, cid, s);
	if (!(verify_get(&v->inos, ino) & VERIFY_FILE))
		verify_problem(v, "binding of episode %" PRIu64 " to concept %"
			       PRIu64 ": no such episode", ino, cid);
	if (!verify_get(&v->concepts, cid))
		verify_problem(v, "binding of episode %" PRIu64 " to concept %"
			       PRIu64 ": no such concept", ino, cid);
	return 0;
}

/* ---- pass 9: counters ------------------------------------------------ */

static void verify_counter(struct verify *v, const char *name, uint64_t kept,
			   uint64_t counted)
{
	if (kept != counted)
		verify_problem(v, "counter meta/%s: %" PRIu64 ", counted %"
			       PRIu64, name, kept, counted);
}

static int verify_counters(struct verify *v)
{
	struct store *st = v->st;
	uint64_t nv = 0;
	char *val;
	size_t n;
	int rc = db_get(st, CF_DEFAULT, "meta/vectors", 12, &val, &n);

	if (rc && rc != -ENOENT)
		return rc;
	if (!rc) {
		nv = n == 8 ? be64_get((unsigned char *)val) : UINT64_MAX;
		free(val);
	}
	verify_counter(v, "episodes", st->n_episodes, v->episodes);
	verify_counter(v, "folders", st->n_folders, v->folders);
	verify_counter(v, "indexed", st->n_indexed, v->indexed);
	verify_counter(v, "bytes", st->n_bytes, v->bytes);
	verify_counter(v, "total_len", st->total_len, v->total_len);
	verify_counter(v, "vectors", nv, v->nvectors);
	if (!(verify_get(&v->inos, STORE_ROOT_INO) & VERIFY_DIR))
		verify_problem(v, "the root folder (inode %llu) is missing",
			       (unsigned long long)STORE_ROOT_INO);
	return 0;
}

static void verify_members(struct verify *v)
{
	const struct concept_map *m = &v->concepts;

	for (size_t i = 0; i < m->cap; i++) {
		uint64_t id = m->k[i], members, nv, nb;

		if (!id)
			continue;
		members = m->v[i] - 1;
		nv = verify_get(&v->vectors, id);
		nb = verify_get(&v->bound, id);
		if (members != nv)
			verify_problem(v, "concept %" PRIu64 ": %" PRIu64
				       " members, %" PRIu64 " vectors name it",
				       id, members, nv);
		if (nb > members)
			verify_problem(v, "concept %" PRIu64 ": %" PRIu64
				       " bindings but %" PRIu64 " members", id,
				       nb, members);
	}
}

/* ---- the walk -------------------------------------------------------- */

static int verify_init(struct verify *v, struct store *st)
{
	struct store_counts c;

	memset(v, 0, sizeof(*v));
	v->st = st;
	v->parent = UINT64_MAX;	/* no folder checked yet */
	store_counts(st, &c);
	v->next_ino = c.next_ino;
	v->cap = 4096;
	v->out = malloc(v->cap);
	if (!v->out || concept_map_init(&v->inos, 1024) ||
	    concept_map_init(&v->subdirs, 64) ||
	    concept_map_init(&v->fps, 1024) ||
	    concept_map_init(&v->concepts, 64) ||
	    concept_map_init(&v->vectors, 64) ||
	    concept_map_init(&v->bound, 64))
		return -ENOMEM;
	v->out[0] = '\0';
	return 0;
}

static void verify_release(struct verify *v)
{
	concept_map_free(&v->inos);
	concept_map_free(&v->subdirs);
	concept_map_free(&v->fps);
	concept_map_free(&v->concepts);
	concept_map_free(&v->vectors);
	concept_map_free(&v->bound);
	text_terms_release(&v->cached);
	free(v->out);
}

static int verify_walk(struct verify *v)
{
	static const struct {
		enum db_cf cf;
		verify_fn *fn;
	} passes[] = {
		{ CF_DIRENTS, verify_dirent },
		{ CF_INODES, verify_inode },
		{ CF_POSTINGS, verify_posting },
		{ CF_CONTENT, verify_content_key },
		{ CF_XATTRS, verify_xattr_key },
		{ CF_CONCEPTS, verify_concept },
		{ CF_LABELS, verify_label },
		{ CF_VECTORS, verify_vector },
		{ CF_BINDINGS, verify_binding },
	};
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(passes) / sizeof(*passes); i++) {
		rc = verify_scan(v, passes[i].cf, passes[i].fn);
		if (!rc && passes[i].cf == CF_POSTINGS)
			rc = verify_suspects(v);
		if (!rc && passes[i].cf == CF_POSTINGS && v->suspects)
			rc = verify_scan(v, CF_POSTINGS, verify_stray);
	}
	if (!rc)
		rc = verify_counters(v);
	if (!rc)
		verify_members(v);
	return rc;
}

int store_verify(struct store *st, char **report, size_t *len)
{
	struct verify v;
	int rc = verify_init(&v, st);

	if (!rc)
		rc = verify_walk(&v);
	if (!rc && v.problems > v.lines)
		verify_summary(&v, "... and %" PRIu64 " more problems",
			       v.problems - v.lines);
	if (!rc && v.oom)
		rc = -ENOMEM;
	if (rc) {
		verify_release(&v);
		return rc;
	}
	store_log(v.problems ? STORE_LOG_WARNING : STORE_LOG_INFO,
		  "verify '%s': %" PRIu64 " problems", st->dir, v.problems);
	*report = v.out;
	*len = v.len;
	v.out = NULL;
	verify_release(&v);
	return v.problems > INT32_MAX ? INT32_MAX : (int)v.problems;
}
