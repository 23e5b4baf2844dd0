/*
 * benchclient.c - the client side of `make bench`: ingest, read and recall
 * loops with plain system calls, timed in-process.
 *
 * Why C and not a shell loop: the targets are thousands of operations per
 * second and sub-millisecond latencies; spawning `cat` or `cp` per file
 * would measure fork and exec, not the file system.
 *
 * Usage: benchclient [OPTIONS] COMMAND ARGS...  Commands (one
 * machine-readable line of key=value pairs on stdout each):
 *   ingest DIR N SIZE [SEED]   create+write+close N files of ~SIZE bytes
 *   fill STORE N SIZE [SEED]   the same N episodes written straight into
 *                              the unmounted store in directory STORE
 *                              through libengram (bc_cmd_fill says why)
 *   read DIR N [SIZE [SEED]]   open+read+close each of them, in a shuffled
 *                              order, and check the bytes
 *   stat DIR N                 stat(2) each of them, in a shuffled order
 *   recall MNT N CUE...        N open+read+close of MNT/recall/<cue>,
 *                              cycling through the cues; latency percentiles
 *   time PATH N                N open+read+close of PATH (metrics render)
 *   flagrecall MNT FLAG V1 V2 N CUE  N times: write V1 or V2 (in turn) to
 *                              MNT/flags/FLAG, then recall CUE; the time
 *                              from the write to the recall's answer
 *   cues K COUNT N [SIZE [SEED]]  print COUNT cues of K words, one a
 *                              line, drawn from the texts of episodes 0..N-1
 *   text I SIZE [SEED]         print the text of episode I (to inspect)
 * Options:
 *   -c CORPUS   episode I's text is line I of CORPUS plus a newline (see
 *               corpus.py) instead of the synthetic model below
 *   -o FIRST    ingest episodes FIRST..FIRST+N-1 (to grow a store)
 *   -j THREADS  ingest or recall from THREADS threads at once; ingest
 *               gives thread T the episodes T, T+THREADS, ...
 *   -y          fsync(2) each episode before close (durable ingest)
 *   -m SECONDS  stop a loop after this long (at least 10 calls are made);
 *               rates count what was done
 *   -f CUEFILE  recall: cues from CUEFILE, `cue<TAB>source` lines; a hit
 *               is the source episode among the results
 *   -q SUFFIX   recall: append SUFFIX (e.g. "?mode=blended") to each cue
 *
 * Threads (-j) share nothing but the file system: each has its own
 * buffers and latency array, merged after the join.
 *
 * Text model, without -c (`make bench` gives -c and corpus.py's public
 * text; this model remains for quick experiments and for `cues` and
 * `text`, which know only it).  Episode I is named ep-%06d and its text
 * comes from a xorshift64* generator seeded from (SEED, I), so any one
 * text can be rebuilt without the others (the cue generator relies on
 * this).  Words
 * are drawn from
 *  - a vocabulary of BC_VOCAB pseudo-words (two or three consonant-vowel
 *    syllables, unique by construction), with the Zipf frequencies of
 *    English content words (see BC_ZIPF_Q), so cue terms meet posting
 *    lists from a few dozen episodes to several hundred;
 *  - a few dozen real English function words (stop words, which the
 *    store's analyser must drop);
 *  - one word unique to the episode ("zor" + four syllables encoding I),
 *    so a cue carrying it has exactly one right answer.
 * Sentences of 4-11 words, capitalised, ending in a period.  Not English,
 * but it tokenises, stems and distributes like running text.
 *
 * Cues.  A cue of K words picks a random episode and K distinct content
 * words of its text; one cue in four swaps in the episode's unique word.
 * Document frequencies of cue terms therefore follow the corpus's own
 * distribution, as when a person recalls words of something they wrote.
 * When a cue carries a unique word, `recall` checks that the episode it
 * names is among the results and reports hits=FOUND/ASKED.
 *
 * Rejected: an embedded list of 2,000 real English words (bulky, and its
 * stems would collide unpredictably), and /usr/share/dict (not installed
 * everywhere, so the run would not be reproducible across machines).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/* Vocabulary size: about what everyday notes use. */
#define BC_VOCAB        2000
/*
 * Zipf offset: vocabulary rank r has weight 1/(r + q).  In English the
 * head of Zipf's curve (ranks 1 to ~100) is function words, which we draw
 * separately (bc_function_words); content words start near rank 100, so
 * q = 100 gives their frequencies.  The most common content word then
 * occurs in ~7% of 200-byte episodes and the rarest in ~0.2%.  A small q
 * (2.7 fits whole-corpus counts, function words included) would put one
 * pseudo-word in two thirds of all episodes, more than "the"; set
 * BENCH_ZIPF_Q=2.7 in the environment to measure that harsher case.
 */
#define BC_ZIPF_Q       100.0
/* Share of tokens that are function words in English prose is near half;
 * we use a bit less so 200-byte episodes keep ~20 content words. */
#define BC_FUNC_SHARE   0.35
/* Content words remembered per text, for the cue generator. */
#define BC_MAX_WORDS    4096
/* Buffer for one read(2); episodes and recall answers are far smaller. */
#define BC_READ_BUF     (64 * 1024)
#define BC_DEFAULT_SEED 20261121ULL
/* Episode size when a command does not say: the target's ~200 bytes. */
#define BC_DEFAULT_SIZE 200

static const char *const bc_onsets[] = {
	"b", "d", "f", "g", "h", "k", "l", "m", "n", "p",
	"r", "t", "v", "w", "br", "st", "tr", "pl", "gr", "sh",
};
#define BC_NONSETS (sizeof(bc_onsets) / sizeof(bc_onsets[0]))
/* No 'y': the stemmer rewrites a final y, which could merge two words. */
static const char bc_vowels[] = "aeiou";
#define BC_NVOWELS  (sizeof(bc_vowels) - 1)
#define BC_NSYLL    (BC_NONSETS * BC_NVOWELS)	/* 100 syllables */

static const char *const bc_function_words[] = {
	"the", "a", "of", "and", "to", "in", "with", "at", "for", "on",
	"was", "we", "my", "after", "then", "about", "from", "her", "his",
	"their", "it", "is", "that", "by", "our", "before", "into", "again",
};
#define BC_NFUNC (sizeof(bc_function_words) / sizeof(bc_function_words[0]))

/*
 * English words the syllable scheme can spell that stop-word lists drop
 * ("here" is in engramfs's list): a content word that the analyser
 * discards would make its one-word cue answer nothing.  Such a word gets
 * two more syllables, which keeps it unique (no other word has four).
 */
static const char *const bc_avoid[] = {
	"here", "were", "more", "have", "done", "gone", "none", "mine",
	"made", "make", "same", "before", "become", "became", "hereto",
};
#define BC_NAVOID (sizeof(bc_avoid) / sizeof(bc_avoid[0]))

/* Fewest calls of a loop cut short by -m, so percentiles mean something. */
#define BC_MIN_CALLS    10
#define BC_MAX_THREADS  64

/* The command-line options (see the top of the file). */
struct bc_options {
	const char *corpus;
	size_t first;
	size_t threads;
	bool fsync;
	double max_seconds;	/* 0: no limit */
	const char *cue_file;
	const char *suffix;
};

/* A corpus file, mapped: line I is episode I. */
struct bc_corpus {
	const char *map;
	size_t map_len;
	const char **line;	/* start of each line */
	size_t *len;		/* its length, newline excluded */
	size_t n;
};

static struct bc_options bc_opt = { .threads = 1, .suffix = "" };

static int bc_usage(void);
static struct bc_corpus bc_corpus;

static char bc_vocab[BC_VOCAB][16];
static double bc_cdf[BC_VOCAB];
static double bc_zipf_q = BC_ZIPF_Q;

struct bc_rng {
	uint64_t s;
};

struct bc_doc {
	char *text;
	size_t len;
	int words[BC_MAX_WORDS];	/* vocabulary indices, in order */
	size_t nwords;
	char unique[24];
};

/* ------------------------------------------------------------------ */
/* Random numbers: splitmix64 to seed, xorshift64* to draw             */
/* ------------------------------------------------------------------ */

static uint64_t bc_splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void bc_rng_init(struct bc_rng *r, uint64_t seed, uint64_t stream)
{
	r->s = bc_splitmix(seed ^ bc_splitmix(stream));
	if (!r->s)
		r->s = 1;	/* xorshift's one forbidden state */
}

static uint64_t bc_rng_next(struct bc_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

static double bc_rng_unit(struct bc_rng *r)
{
	return (double)(bc_rng_next(r) >> 11) / 9007199254740992.0; /* 2^53 */
}

static size_t bc_rng_below(struct bc_rng *r, size_t n)
{
	return (size_t)(bc_rng_next(r) % n);
}

/* ------------------------------------------------------------------ */
/* Vocabulary                                                         */
/* ------------------------------------------------------------------ */

static void bc_syllable(size_t k, char *out)
{
	strcat(out, bc_onsets[k / BC_NVOWELS]);
	strncat(out, &bc_vowels[k % BC_NVOWELS], 1);
}

/*
 * Word I.  K, a permutation of the ranks (7919 is prime to BC_VOCAB),
 * spreads short and long words over the frequencies.  Half the words have
 * two syllables, half three.  Each syllable ends in its only vowel, so a
 * word splits into syllables one way only; the first two syllables,
 * (a, (b + 7a) mod 100), determine K within its half, so no two words are
 * equal.  The third syllable only adds length.
 */
static void bc_vocab_word(size_t i, char *out)
{
	size_t k = (i * 7919) % BC_VOCAB, half = BC_VOCAB / 2;
	size_t a, b;

	a = (k % half) % BC_NSYLL;
	b = (k % half) / BC_NSYLL;
	out[0] = '\0';
	bc_syllable(a, out);
	bc_syllable((b + 7 * a) % BC_NSYLL, out);
	if (k >= half)
		bc_syllable((13 * a + 29) % BC_NSYLL, out);
	for (a = 0; a < BC_NAVOID; a++)
		if (strcmp(out, bc_avoid[a]) == 0)
			strcat(out, "lulu");
}

static void bc_vocab_init(void)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < BC_VOCAB; i++) {
		bc_vocab_word(i, bc_vocab[i]);
		sum += 1.0 / ((double)i + bc_zipf_q);
		bc_cdf[i] = sum;
	}
	for (i = 0; i < BC_VOCAB; i++)
		bc_cdf[i] /= sum;
}

static int bc_vocab_draw(struct bc_rng *r)
{
	double u = bc_rng_unit(r);
	size_t lo = 0, hi = BC_VOCAB - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (bc_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo;
}

/* "zor" + four syllables, the digits of I in base BC_NSYLL. */
static void bc_unique_word(size_t i, char *out)
{
	size_t d;

	strcpy(out, "zor");
	for (d = 0; d < 4; d++, i /= BC_NSYLL)
		bc_syllable(i % BC_NSYLL, out);
}

/* Inverse of bc_unique_word; false when WORD is not one. */
static bool bc_unique_index(const char *word, size_t *out)
{
	size_t i = 0, scale = 1, k, d;
	char syl[8];

	if (strncmp(word, "zor", 3) != 0)
		return false;
	word += 3;
	for (d = 0; d < 4; d++, scale *= BC_NSYLL) {
		for (k = 0; k < BC_NSYLL; k++) {
			syl[0] = '\0';
			bc_syllable(k, syl);
			if (strncmp(word, syl, strlen(syl)) == 0)
				break;
		}
		if (k == BC_NSYLL)
			return false;
		word += strlen(syl);
		i += k * scale;
	}
	*out = i;
	return *word == '\0' || *word == ' ';
}

/* ------------------------------------------------------------------ */
/* Texts                                                              */
/* ------------------------------------------------------------------ */

static void bc_doc_release(struct bc_doc *d)
{
	free(d->text);
	d->text = NULL;
}

/* Append WORD (capitalised at a sentence start) if it fits in SIZE. */
static bool bc_doc_add(struct bc_doc *d, size_t size, const char *word,
		       bool cap)
{
	size_t n = strlen(word);

	if (d->len + n + 3 > size)	/* space, word, ".\n" */
		return false;
	if (d->len)
		d->text[d->len++] = ' ';
	memcpy(d->text + d->len, word, n);
	if (cap && word[0] >= 'a' && word[0] <= 'z')
		d->text[d->len] = (char)(word[0] - 'a' + 'A');
	d->len += n;
	return true;
}

static const char *bc_next_word(struct bc_doc *d, struct bc_rng *r,
				size_t pos, size_t upos)
{
	int w;

	if (pos == upos)
		return d->unique;
	if (bc_rng_unit(r) < BC_FUNC_SHARE)
		return bc_function_words[bc_rng_below(r, BC_NFUNC)];
	w = bc_vocab_draw(r);
	if (d->nwords < BC_MAX_WORDS)
		d->words[d->nwords++] = w;
	return bc_vocab[w];
}

/* Episode I from the corpus: its line and a newline. */
static int bc_doc_from_corpus(struct bc_doc *d, size_t i)
{
	if (i >= bc_corpus.n) {
		fprintf(stderr, "benchclient: corpus has %zu episodes, not %zu\n",
			bc_corpus.n, i + 1);
		return -ERANGE;
	}
	d->len = bc_corpus.len[i] + 1;
	d->nwords = 0;
	d->unique[0] = '\0';
	d->text = malloc(d->len + 1);
	if (!d->text)
		return -ENOMEM;
	memcpy(d->text, bc_corpus.line[i], d->len - 1);
	d->text[d->len - 1] = '\n';
	d->text[d->len] = '\0';
	return 0;
}

static int bc_doc_build(struct bc_doc *d, size_t i, size_t size,
			uint64_t seed)
{
	size_t pos, upos, left = 0;
	struct bc_rng r;
	const char *w;

	if (bc_corpus.map)
		return bc_doc_from_corpus(d, i);
	size = size < 32 ? 32 : size;
	d->text = malloc(size + 1);
	if (!d->text)
		return -ENOMEM;
	d->len = d->nwords = 0;
	bc_unique_word(i, d->unique);
	bc_rng_init(&r, seed, i);
	upos = bc_rng_below(&r, 8);	/* early, so short texts carry it */
	for (pos = 0;; pos++) {
		w = bc_next_word(d, &r, pos, upos);
		if (!bc_doc_add(d, size, w, left == 0))
			break;
		if (left == 0)
			left = 4 + bc_rng_below(&r, 8);
		if (--left == 0)
			d->text[d->len++] = '.';
	}
	if (d->len && d->text[d->len - 1] != '.')
		d->text[d->len++] = '.';
	d->text[d->len++] = '\n';
	d->text[d->len] = '\0';
	return 0;
}

static void bc_episode_name(size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "ep-%06zu", i);
}

/* Texts of episodes FIRST..FIRST+N-1, built before any clock starts. */
static int bc_docs_build(size_t n, size_t size, uint64_t seed,
			 struct bc_doc **out)
{
	struct bc_doc *v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (bc_doc_build(&v[i], bc_opt.first + i, size, seed) < 0) {
			while (i--)
				bc_doc_release(&v[i]);
			free(v);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

static void bc_docs_free(struct bc_doc *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bc_doc_release(&v[i]);
	free(v);
}

/* ------------------------------------------------------------------ */
/* Timing and small helpers                                           */
/* ------------------------------------------------------------------ */

static double bc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bc_error(const char *what, const char *path)
{
	fprintf(stderr, "benchclient: cannot %s '%s': %s\n", what, path,
		strerror(errno));
	return 1;
}

static int bc_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-') {
		fprintf(stderr, "benchclient: bad number '%s'\n", s);
		return -EINVAL;
	}
	*out = (size_t)v;
	return 0;
}

static uint64_t bc_seed_arg(int argc, char **argv, int i)
{
	return argc > i ? strtoull(argv[i], NULL, 0) : BC_DEFAULT_SEED;
}

static int bc_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read the whole file at FD into BUF (up to SIZE); -1 on error. */
static ssize_t bc_read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)got;
		got += (size_t)n;
		if (got == size)	/* larger than we keep: drain */
			got = 0;
	}
}

/* ------------------------------------------------------------------ */
/* ingest and read                                                    */
/* ------------------------------------------------------------------ */

static int bc_ingest_one(const char *dir, size_t i, const struct bc_doc *d)
{
	char path[4096], name[32];
	int fd;

	bc_episode_name(i, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return bc_error("create", path);
	if (bc_write_all(fd, d->text, d->len) < 0) {
		close(fd);
		return bc_error("write", path);
	}
	if (bc_opt.fsync && fsync(fd) < 0) {
		close(fd);
		return bc_error("fsync", path);
	}
	if (close(fd) < 0)	/* engramfs commits at close */
		return bc_error("close", path);
	return 0;
}

/* The deadline of a loop started at T0 (-m), or infinity. */
static double bc_deadline(double t0)
{
	return bc_opt.max_seconds > 0 ? t0 + bc_opt.max_seconds : INFINITY;
}

/*
 * Run FN on each of the N (<= BC_MAX_THREADS) jobs in JOBS, SIZE bytes
 * each, and wait for them; *STARTED: how many ran.  Non-zero when a
 * thread could not be started (those before it still ran).
 */
static int bc_threads(void *jobs, size_t size, size_t n, void *(*fn)(void *),
		      size_t *started)
{
	pthread_t tid[BC_MAX_THREADS];
	char *p = jobs;
	int err = 0;

	*started = 0;
	for (size_t t = 0; t < n && t < BC_MAX_THREADS && !err; t++) {
		if (pthread_create(&tid[t], NULL, fn, p + t * size) != 0)
			err = 1;
		else
			(*started)++;
	}
	for (size_t t = 0; t < *started; t++)
		pthread_join(tid[t], NULL);
	return err;
}

/* One ingest thread: episodes T, T+THREADS, ... of DOCS. */
struct bc_ingest_job {
	const char *dir;
	const struct bc_doc *docs;
	size_t n, t, done;
	double deadline;
	int err;
};

static void *bc_ingest_thread(void *arg)
{
	struct bc_ingest_job *j = arg;
	size_t i;

	for (i = j->t; i < j->n && !j->err; i += bc_opt.threads) {
		if (j->done >= BC_MIN_CALLS && bc_now() > j->deadline)
			break;
		j->err = bc_ingest_one(j->dir, bc_opt.first + i, &j->docs[i]);
		j->done += !j->err;
	}
	return NULL;
}

/* Run the ingest threads over DOCS; *done gets the files written. */
static int bc_ingest_run(const char *dir, const struct bc_doc *docs,
			 size_t n, size_t *done)
{
	struct bc_ingest_job jobs[BC_MAX_THREADS] = { { 0 } };
	double deadline = bc_deadline(bc_now());
	size_t t, started;
	int err;

	for (t = 0; t < bc_opt.threads; t++)
		jobs[t] = (struct bc_ingest_job){ .dir = dir, .docs = docs,
			.n = n, .t = t, .deadline = deadline };
	err = bc_threads(jobs, sizeof(*jobs), bc_opt.threads, bc_ingest_thread,
			 &started);
	*done = 0;
	for (t = 0; t < started; t++) {
		*done += jobs[t].done;
		err = err ? err : jobs[t].err;
	}
	return err;
}

static int bc_cmd_ingest(int argc, char **argv)
{
	size_t n, size, done = 0;
	struct bc_doc *docs;
	double t0, dt;
	int err;

	if (bc_parse_size(argv[1], &n) < 0 || bc_parse_size(argv[2], &size) < 0)
		return 2;
	if (bc_docs_build(n, size, bc_seed_arg(argc, argv, 3), &docs) < 0)
		return 1;
	t0 = bc_now();
	err = bc_ingest_run(argv[0], docs, n, &done);
	dt = bc_now() - t0;
	bc_docs_free(docs, n);
	if (err)
		return err;
	printf("ingest files=%zu size=%zu threads=%zu fsync=%d seconds=%.4f "
	       "files_per_s=%.0f\n", done, size, bc_opt.threads, bc_opt.fsync,
	       dt, (double)done / dt);
	return 0;
}

/*
 * Episodes FIRST..FIRST+N-1 written into the store in STORE through
 * libengram, the daemon's own store code without FUSE, while nothing has
 * it mounted: one store_create and one store_content_write each, as the
 * daemon's create and close do.  `make bench` grows its size ladder so:
 * through the mount 1M episodes took 10-16 of the suite's 20 minutes,
 * and the fill is not a judged figure (ingest through the mount is, in
 * its own section, against the FUSE floor).
 */
static int bc_cmd_fill(int argc, char **argv)
{
	size_t n, size, i, done = 0;
	uint64_t seed = bc_seed_arg(argc, argv, 3);
	struct store *st;
	struct store_attr a;
	struct bc_doc d;
	char name[32];
	double t0, dt;
	int err;

	if (bc_parse_size(argv[1], &n) < 0 || bc_parse_size(argv[2], &size) < 0)
		return 2;
	err = store_open(argv[0], NULL, &st);
	if (err) {
		fprintf(stderr, "benchclient: cannot open the store in %s: %s\n",
			argv[0], strerror(-err));
		return 1;
	}
	t0 = bc_now();
	for (i = bc_opt.first; !err && i < bc_opt.first + n; i++) {
		err = bc_doc_build(&d, i, size, seed);
		if (err)
			break;
		bc_episode_name(i, name, sizeof(name));
		err = store_create(st, STORE_ROOT_INO, name, S_IFREG | 0644,
				   getuid(), getgid(), &a);
		if (!err)
			err = store_content_write(st, a.ino, d.text, d.len, 0, &a);
		bc_doc_release(&d);
		done += !err;
	}
	dt = bc_now() - t0;
	store_close(st);
	if (err) {
		fprintf(stderr, "benchclient: fill: episode %zu: %s\n", i - 1,
			strerror(-err));
		return 1;
	}
	printf("fill episodes=%zu seconds=%.4f episodes_per_s=%.0f\n", done,
	       dt, (double)done / dt);
	return 0;
}

/* Fisher-Yates: the order files are read back in. */
static size_t *bc_shuffle(size_t n, uint64_t seed)
{
	size_t *v = malloc((n ? n : 1) * sizeof(*v)), i, j, t;
	struct bc_rng r;

	if (!v)
		return NULL;
	for (i = 0; i < n; i++)
		v[i] = i;
	bc_rng_init(&r, seed, UINT64_MAX);
	for (i = n; i > 1; i--) {
		j = bc_rng_below(&r, i);
		t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
	return v;
}

/* Returns 1 on a system error, 0 otherwise; *bad counts wrong content. */
static int bc_read_one(const char *dir, size_t i, const struct bc_doc *d,
		       char *buf, size_t *bad)
{
	char path[4096], name[32];
	ssize_t got;
	int fd;

	bc_episode_name(i, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bc_error("open", path);
	got = bc_read_all(fd, buf, BC_READ_BUF);
	if (got < 0) {
		close(fd);
		return bc_error("read", path);
	}
	close(fd);
	if ((size_t)got != d->len || memcmp(buf, d->text, d->len) != 0)
		(*bad)++;
	return 0;
}

/* Read N files of DIR in a shuffled order; *dt gets the time taken. */
static int bc_read_pass(const char *dir, const struct bc_doc *docs,
			const size_t *order, size_t n, double *dt,
			size_t *bad)
{
	char *buf = malloc(BC_READ_BUF);
	size_t i;
	double t0;
	int err = 0;

	if (!buf)
		return 1;
	t0 = bc_now();
	for (i = 0; i < n && !err; i++)
		err = bc_read_one(dir, bc_opt.first + order[i], &docs[order[i]],
				  buf, bad);
	*dt = bc_now() - t0;
	free(buf);
	return err;
}

static int bc_cmd_read(int argc, char **argv)
{
	size_t n, bad = 0, *order, size = BC_DEFAULT_SIZE;
	uint64_t seed = bc_seed_arg(argc, argv, 3);
	struct bc_doc *docs;
	double dt;
	int err = 1;

	if (bc_parse_size(argv[1], &n) < 0 ||
	    (argc > 2 && bc_parse_size(argv[2], &size) < 0))
		return 2;
	/* The expected bytes, rebuilt as ingest made them. */
	if (bc_docs_build(n, size, seed, &docs) < 0)
		return 1;
	order = bc_shuffle(n, seed);
	if (order)
		err = bc_read_pass(argv[0], docs, order, n, &dt, &bad);
	bc_docs_free(docs, n);
	free(order);
	if (err)
		return err;
	printf("read files=%zu seconds=%.4f files_per_s=%.0f bad=%zu\n",
	       n, dt, (double)n / dt, bad);
	return bad ? 1 : 0;
}

/* stat(2) episodes 0..N-1 of DIR in a shuffled order (the read's). */
static int bc_cmd_stat(int argc, char **argv)
{
	char path[4096], name[32];
	size_t n, i, *order;
	struct stat st;
	double t0, dt;

	if (bc_parse_size(argv[1], &n) < 0)
		return 2;
	order = bc_shuffle(n, BC_DEFAULT_SEED);
	if (!order)
		return 1;
	t0 = bc_now();
	for (i = 0; i < n; i++) {
		bc_episode_name(bc_opt.first + order[i], name, sizeof(name));
		snprintf(path, sizeof(path), "%s/%s", argv[0], name);
		if (stat(path, &st) < 0) {
			free(order);
			return bc_error("stat", path);
		}
	}
	dt = bc_now() - t0;
	free(order);
	printf("stat files=%zu seconds=%.4f files_per_s=%.0f\n", n, dt,
	       (double)n / dt);
	return 0;
}

/* ------------------------------------------------------------------ */
/* recall                                                             */
/* ------------------------------------------------------------------ */

/* A cue and the episode it was drawn from (-1: none known). */
struct bc_cue {
	const char *text;
	long src;
};

struct bc_cues {
	struct bc_cue *v;
	size_t n;
	char *buf;		/* the cue file's bytes, when -f */
};

struct bc_recall_stats {
	double *lat;		/* seconds, one per call */
	size_t n, empty, bytes;
	size_t asked, found;	/* cues with a known right answer */
};

/* One recall thread: calls T, T+THREADS, ... of the run. */
struct bc_recall_job {
	const char *mnt;
	const struct bc_cues *cues;
	size_t calls, t;
	double deadline;
	struct bc_recall_stats s;
	int err;
};

/* Does a line of OUT (text format) start with NAME and a tab? */
static bool bc_lists(const char *out, size_t len, const char *name)
{
	char pat[48];
	size_t n;

	n = (size_t)snprintf(pat, sizeof(pat), "\n%s\t", name);
	if (len >= n - 1 && memcmp(out, pat + 1, n - 1) == 0)
		return true;
	return memmem(out, len, pat, n) != NULL;
}

/* Did the answer name the episode the cue is known to come from: its
 * source (-f) or the episode whose unique word it carries? */
static void bc_check_hit(const struct bc_cue *cue, const char *out,
			 size_t len, struct bc_recall_stats *s)
{
	const char *w = cue->text;
	char name[32];
	size_t idx;

	if (cue->src >= 0) {
		idx = (size_t)cue->src;
	} else {
		while (w && !bc_unique_index(w, &idx)) {
			w = strchr(w, ' ');
			w = w ? w + 1 : NULL;
		}
		if (!w)
			return;
	}
	s->asked++;
	bc_episode_name(idx, name, sizeof(name));
	s->found += bc_lists(out, len, name);
}

/* Time one open+read+close of PATH into S; the answer is left in BUF. */
static int bc_time_read(const char *path, char *buf, ssize_t *got,
			struct bc_recall_stats *s)
{
	double t0 = bc_now();
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bc_error("open", path);
	*got = bc_read_all(fd, buf, BC_READ_BUF);
	close(fd);
	s->lat[s->n++] = bc_now() - t0;
	if (*got < 0)
		return bc_error("read", path);
	s->bytes += (size_t)*got;
	s->empty += *got == 0;
	return 0;
}

static int bc_recall_one(const char *mnt, const struct bc_cue *cue,
			 char *buf, struct bc_recall_stats *s)
{
	char path[4096];
	ssize_t got;
	int err;

	snprintf(path, sizeof(path), "%s/recall/%s%s", mnt, cue->text,
		 bc_opt.suffix);
	err = bc_time_read(path, buf, &got, s);
	if (!err)
		bc_check_hit(cue, buf, (size_t)got, s);
	return err;
}

static void *bc_recall_thread(void *arg)
{
	struct bc_recall_job *j = arg;
	char *buf = malloc(BC_READ_BUF);
	size_t i;

	j->s.lat = malloc((j->calls / bc_opt.threads + 1) * sizeof(double));
	if (!buf || !j->s.lat)
		j->err = 1;
	for (i = j->t; i < j->calls && !j->err; i += bc_opt.threads) {
		if (j->s.n >= BC_MIN_CALLS && bc_now() > j->deadline)
			break;
		j->err = bc_recall_one(j->mnt, &j->cues->v[i % j->cues->n],
				       buf, &j->s);
	}
	free(buf);
	return NULL;
}

static int bc_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted V, in milliseconds. */
static double bc_pct_ms(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);

	return 1e3 * v[k ? k - 1 : 0];
}

/* Print S's latency line, LABEL first; S is sorted on the way. */
static void bc_latency_report(const char *label, struct bc_recall_stats *s,
			      double wall)
{
	double sum = 0;
	size_t i;

	qsort(s->lat, s->n, sizeof(double), bc_cmp_double);
	for (i = 0; i < s->n; i++)
		sum += s->lat[i];
	printf("%s n=%zu threads=%zu seconds=%.4f calls_per_s=%.1f "
	       "p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f "
	       "empty=%zu bytes_per_call=%zu hits=%zu/%zu\n",
	       label, s->n, bc_opt.threads, wall, (double)s->n / wall,
	       bc_pct_ms(s->lat, s->n, 50), bc_pct_ms(s->lat, s->n, 95),
	       bc_pct_ms(s->lat, s->n, 99), 1e3 * s->lat[s->n - 1],
	       1e3 * sum / (double)s->n, s->empty, s->bytes / s->n,
	       s->found, s->asked);
}

/* Fold the jobs' stats into OUT (which takes over the latencies). */
static int bc_recall_merge(struct bc_recall_job *jobs, size_t njobs,
			   struct bc_recall_stats *out)
{
	size_t t, total = 0;

	for (t = 0; t < njobs; t++)
		total += jobs[t].s.n;
	out->lat = malloc((total ? total : 1) * sizeof(double));
	if (!out->lat)
		return 1;
	for (t = 0; t < njobs; t++) {
		memcpy(out->lat + out->n, jobs[t].s.lat,
		       jobs[t].s.n * sizeof(double));
		out->n += jobs[t].s.n;
		out->empty += jobs[t].s.empty;
		out->bytes += jobs[t].s.bytes;
		out->asked += jobs[t].s.asked;
		out->found += jobs[t].s.found;
	}
	return out->n ? 0 : 1;
}

static int bc_recall_run(const char *mnt, const struct bc_cues *cues,
			 size_t calls)
{
	struct bc_recall_job jobs[BC_MAX_THREADS] = { { 0 } };
	struct bc_recall_stats all = { 0 };
	double t0 = bc_now(), deadline = bc_deadline(t0);
	size_t t, started;
	int err;

	for (t = 0; t < bc_opt.threads; t++)
		jobs[t] = (struct bc_recall_job){ .mnt = mnt, .cues = cues,
			.calls = calls, .t = t, .deadline = deadline };
	err = bc_threads(jobs, sizeof(*jobs), bc_opt.threads, bc_recall_thread,
			 &started);
	for (t = 0; t < started; t++)
		err = err ? err : jobs[t].err;
	if (!err)
		err = bc_recall_merge(jobs, started, &all);
	if (!err)
		bc_latency_report("recall", &all, bc_now() - t0);
	for (t = 0; t < started; t++)
		free(jobs[t].s.lat);
	free(all.lat);
	return err;
}

/* Cues of the -f file: `cue<TAB>source` lines. */
static int bc_cues_load(const char *file, struct bc_cues *c)
{
	FILE *f = fopen(file, "r");
	char *line, *tab, *save = NULL;
	size_t cap = 0;
	long len;

	if (!f)
		return bc_error("open", file);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	c->buf = calloc((size_t)len + 1, 1);
	if (!c->buf || fread(c->buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		return bc_error("read", file);
	}
	fclose(f);
	for (line = strtok_r(c->buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (c->n == cap) {
			cap = cap ? 2 * cap : 256;
			c->v = realloc(c->v, cap * sizeof(*c->v));
			if (!c->v)
				return 1;
		}
		tab = strchr(line, '\t');
		c->v[c->n].src = tab ? strtol(tab + 1, NULL, 10) : -1;
		if (tab)
			*tab = '\0';
		c->v[c->n++].text = line;
	}
	return c->n ? 0 : (fprintf(stderr, "benchclient: no cues in '%s'\n",
				   file), 1);
}

/* Cues from the command line: the synthetic model's unique words. */
static int bc_cues_args(int argc, char **argv, struct bc_cues *c)
{
	int i;

	c->v = calloc((size_t)argc, sizeof(*c->v));
	if (!c->v)
		return 1;
	for (i = 0; i < argc; i++)
		c->v[c->n++] = (struct bc_cue){ .text = argv[i], .src = -1 };
	return 0;
}

static int bc_cmd_recall(int argc, char **argv)
{
	struct bc_cues cues = { 0 };
	size_t n;
	int err;

	if (bc_parse_size(argv[1], &n) < 0 || n == 0 ||
	    (!bc_opt.cue_file && argc < 3))
		return bc_usage();
	if (bc_opt.cue_file)
		err = bc_cues_load(bc_opt.cue_file, &cues);
	else
		err = bc_cues_args(argc - 2, argv + 2, &cues);
	if (!err)
		err = bc_recall_run(argv[0], &cues, n);
	free(cues.v);
	free(cues.buf);
	return err;
}

/* time PATH N: N open+read+close of one file (metrics, status). */
static int bc_cmd_time(int argc, char **argv)
{
	struct bc_recall_stats s = { 0 };
	char *buf = malloc(BC_READ_BUF);
	double t0 = bc_now(), deadline = bc_deadline(t0);
	ssize_t got;
	size_t n, i;
	int err = 0;

	if (bc_parse_size(argv[1], &n) < 0 || n == 0) {
		free(buf);
		return 2;
	}
	s.lat = malloc(n * sizeof(double));
	if (!buf || !s.lat)
		err = 1;
	for (i = 0; i < n && !err; i++) {
		if (i >= BC_MIN_CALLS && bc_now() > deadline)
			break;
		err = bc_time_read(argv[0], buf, &got, &s);
	}
	if (!err)
		bc_latency_report("time", &s, bc_now() - t0);
	free(s.lat);
	free(buf);
	return err;
}

/* One write(2) of VALUE and a newline, as `echo VALUE >` does: a flag
 * takes each write as a whole value. */
static int bc_flag_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	char line[256];
	int n;

	if (fd < 0)
		return bc_error("open", path);
	n = snprintf(line, sizeof(line), "%s\n", value);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    bc_write_all(fd, line, (size_t)n) < 0) {
		close(fd);
		return bc_error("write", path);
	}
	return close(fd) < 0 ? bc_error("close", path) : 0;
}

/*
 * flagrecall MNT FLAG V1 V2 N CUE: the time from the start of a flag
 * write to the end of the next recall's answer, which must already be
 * computed under the new value (recall is computed fresh at open).
 */
static int bc_cmd_flagrecall(int argc, char **argv)
{
	struct bc_recall_stats s = { 0 }, scratch = { 0 };
	struct bc_cue cue = { .text = argv[5], .src = -1 };
	char flag[4096], *buf = malloc(BC_READ_BUF);
	double t0, start = bc_now();
	size_t n, i;
	int err = 0;

	if (bc_parse_size(argv[4], &n) < 0 || n == 0) {
		free(buf);
		return 2;
	}
	snprintf(flag, sizeof(flag), "%s/flags/%s", argv[0], argv[1]);
	s.lat = malloc(n * sizeof(double));
	scratch.lat = malloc(sizeof(double));
	if (!buf || !s.lat || !scratch.lat)
		err = 1;
	for (i = 0; i < n && !err; i++) {
		t0 = bc_now();
		err = bc_flag_write(flag, argv[2 + i % 2]);
		scratch.n = 0;
		if (!err)
			err = bc_recall_one(argv[0], &cue, buf, &scratch);
		s.lat[s.n++] = bc_now() - t0;
	}
	if (!err)
		err = bc_flag_write(flag, argv[2]);
	if (!err)
		bc_latency_report("flagrecall", &s, bc_now() - start);
	free(scratch.lat);
	free(s.lat);
	free(buf);
	return err;
}

/* ------------------------------------------------------------------ */
/* cues and text                                                      */
/* ------------------------------------------------------------------ */

/* K distinct content words of D (fewer if it has fewer), space-joined. */
static void bc_cue_print(const struct bc_doc *d, size_t k, struct bc_rng *r)
{
	size_t picked[8], np = 0, j, tries;
	int w;

	for (tries = 0; np < k && tries < 100; tries++) {
		w = d->words[bc_rng_below(r, d->nwords)];
		for (j = 0; j < np && (int)picked[j] != w; j++)
			;
		if (j == np)
			picked[np++] = (size_t)w;
	}
	j = bc_rng_below(r, 4) == 0 ? bc_rng_below(r, np) : np;
	for (tries = 0; tries < np; tries++)
		printf("%s%s", tries ? " " : "",
		       tries == j ? d->unique : bc_vocab[picked[tries]]);
	putchar('\n');
}

static int bc_cmd_cues(int argc, char **argv)
{
	size_t k, count, n, c, size = BC_DEFAULT_SIZE;
	uint64_t seed = bc_seed_arg(argc, argv, 4);
	struct bc_doc d;
	struct bc_rng r;

	if (bc_parse_size(argv[0], &k) < 0 ||
	    bc_parse_size(argv[1], &count) < 0 ||
	    bc_parse_size(argv[2], &n) < 0 || k < 1 || k > 8 || n < 1 ||
	    (argc > 3 && bc_parse_size(argv[3], &size) < 0))
		return 2;
	bc_rng_init(&r, seed, 0x637565ULL + k);	/* "cue": one stream per K */
	for (c = 0; c < count; c++) {
		if (bc_doc_build(&d, bc_rng_below(&r, n), size, seed) < 0)
			return 1;
		if (d.nwords)
			bc_cue_print(&d, k, &r);
		else
			printf("%s\n", d.unique);
		bc_doc_release(&d);
	}
	return 0;
}

static int bc_cmd_text(int argc, char **argv)
{
	struct bc_doc d;
	size_t i, size;

	if (bc_parse_size(argv[0], &i) < 0 || bc_parse_size(argv[1], &size) < 0)
		return 2;
	if (bc_doc_build(&d, i, size, bc_seed_arg(argc, argv, 2)) < 0)
		return 1;
	fwrite(d.text, 1, d.len, stdout);
	bc_doc_release(&d);
	return 0;
}

/* Map CORPUS and index its lines (-c). */
static int bc_corpus_load(const char *file)
{
	struct bc_corpus *c = &bc_corpus;
	struct stat st;
	const char *p, *end, *nl;
	size_t cap;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		if (fd >= 0)
			close(fd);
		return bc_error("load the corpus", file);
	}
	c->map_len = (size_t)st.st_size;
	c->map = mmap(NULL, c->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (c->map == MAP_FAILED)
		return bc_error("map", file);
	cap = c->map_len / 64 + 16;	/* lines are ~200 bytes */
	c->line = malloc(cap * sizeof(*c->line));
	c->len = malloc(cap * sizeof(*c->len));
	end = c->map + c->map_len;
	for (p = c->map; c->line && c->len && p < end && c->n < cap; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl ? nl : end;
		c->line[c->n] = p;
		c->len[c->n++] = (size_t)(nl - p);
	}
	return c->line && c->len ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

struct bc_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	int min_args;
	const char *usage;
};

static const struct bc_command bc_commands[] = {
	{ "ingest", bc_cmd_ingest, 3, "ingest DIR N SIZE [SEED]" },
	{ "fill", bc_cmd_fill, 3, "fill STORE N SIZE [SEED]" },
	{ "read", bc_cmd_read, 2, "read DIR N [SIZE [SEED]]" },
	{ "stat", bc_cmd_stat, 2, "stat DIR N" },
	{ "recall", bc_cmd_recall, 2, "recall MNT N CUE... (or -f CUEFILE)" },
	{ "time", bc_cmd_time, 2, "time PATH N" },
	{ "flagrecall", bc_cmd_flagrecall, 6, "flagrecall MNT FLAG V1 V2 N CUE" },
	{ "cues", bc_cmd_cues, 3, "cues K COUNT N [SIZE [SEED]]" },
	{ "text", bc_cmd_text, 2, "text I SIZE [SEED]" },
};
#define BC_NCOMMANDS (sizeof(bc_commands) / sizeof(bc_commands[0]))

static int bc_usage(void)
{
	size_t i;

	fprintf(stderr, "usage:\n");
	for (i = 0; i < BC_NCOMMANDS; i++)
		fprintf(stderr, "  benchclient [OPTIONS] %s\n",
			bc_commands[i].usage);
	fprintf(stderr, "options: -c CORPUS -o FIRST -j THREADS -y -m SECONDS "
		"-f CUEFILE -q SUFFIX\n");
	return 2;
}

/* Parse the options into bc_opt; returns the index of the command. */
static int bc_options_parse(int argc, char **argv)
{
	size_t v;
	int c;

	while ((c = getopt(argc, argv, "+c:o:j:ym:f:q:")) != -1) {
		switch (c) {
		case 'c': bc_opt.corpus = optarg; break;
		case 'y': bc_opt.fsync = true; break;
		case 'f': bc_opt.cue_file = optarg; break;
		case 'q': bc_opt.suffix = optarg; break;
		case 'm': bc_opt.max_seconds = strtod(optarg, NULL); break;
		case 'o':
			if (bc_parse_size(optarg, &bc_opt.first) < 0)
				return -1;
			break;
		case 'j':
			if (bc_parse_size(optarg, &v) < 0 || v < 1 ||
			    v > BC_MAX_THREADS)
				return -1;
			bc_opt.threads = v;
			break;
		default:
			return -1;
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	const struct bc_command *c;
	size_t i;
	int cmd;

	cmd = bc_options_parse(argc, argv);
	if (cmd < 0 || cmd >= argc)
		return bc_usage();
	if (bc_opt.corpus && bc_corpus_load(bc_opt.corpus) != 0)
		return 1;
	if (getenv("BENCH_ZIPF_Q"))
		bc_zipf_q = strtod(getenv("BENCH_ZIPF_Q"), NULL);
	if (!(bc_zipf_q > 0 && bc_zipf_q < 1e6)) {
		fprintf(stderr, "benchclient: BENCH_ZIPF_Q must be in (0, 1e6)\n");
		return 2;
	}
	bc_vocab_init();
	for (i = 0; i < BC_NCOMMANDS; i++) {
		c = &bc_commands[i];
		if (strcmp(argv[cmd], c->name) != 0)
			continue;
		if (argc - cmd - 1 < c->min_args)
			return bc_usage();
		return c->fn(argc - cmd - 1, argv + cmd + 1);
	}
	return bc_usage();
}
