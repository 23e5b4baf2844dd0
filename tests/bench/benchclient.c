/*
 * benchclient.c - the client side of `make bench`: ingest, read and recall
 * loops with plain system calls, timed in-process.
 *
 * Why C and not a shell loop: the targets are thousands of operations per
 * second and sub-millisecond latencies; spawning `cat` or `cp` per file
 * would measure fork and exec, not the file system.
 *
 * Commands (one machine-readable line of key=value pairs on stdout each):
 *   ingest DIR N SIZE [SEED]   create+write+close N files of ~SIZE bytes
 *   read DIR N [SIZE [SEED]]   open+read+close each of them, in a shuffled
 *                              order, and check the bytes
 *   recall MNT N CUE...        N open+read+close of MNT/recall/<cue>,
 *                              cycling through the cues; latency percentiles
 *   cues K COUNT N [SIZE [SEED]]  print COUNT cues of K words, one a
 *                              line, drawn from the texts of episodes 0..N-1
 *   text I SIZE [SEED]         print the text of episode I (to inspect)
 *
 * Text model.  Episode I is named ep-%06d and its text comes from a
 * xorshift64* generator seeded from (SEED, I), so any one text can be
 * rebuilt without the others (the cue generator relies on this).  Words
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
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static int bc_doc_build(struct bc_doc *d, size_t i, size_t size,
			uint64_t seed)
{
	size_t pos, upos, left = 0;
	struct bc_rng r;
	const char *w;

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

/* All N texts, built before any clock starts. */
static int bc_docs_build(size_t n, size_t size, uint64_t seed,
			 struct bc_doc **out)
{
	struct bc_doc *v = calloc(n ? n : 1, sizeof(*v));
	size_t i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (bc_doc_build(&v[i], i, size, seed) < 0) {
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
	if (close(fd) < 0)	/* engramfs commits at close */
		return bc_error("close", path);
	return 0;
}

static int bc_cmd_ingest(int argc, char **argv)
{
	size_t n, size, i;
	struct bc_doc *docs;
	double t0, dt;
	int err = 0;

	if (bc_parse_size(argv[1], &n) < 0 || bc_parse_size(argv[2], &size) < 0)
		return 2;
	if (bc_docs_build(n, size, bc_seed_arg(argc, argv, 3), &docs) < 0)
		return 1;
	t0 = bc_now();
	for (i = 0; i < n && !err; i++)
		err = bc_ingest_one(argv[0], i, &docs[i]);
	dt = bc_now() - t0;
	bc_docs_free(docs, n);
	if (err)
		return err;
	printf("ingest files=%zu size=%zu seconds=%.4f files_per_s=%.0f\n",
	       n, size, dt, (double)n / dt);
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
		err = bc_read_one(dir, order[i], &docs[order[i]], buf, bad);
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

/* ------------------------------------------------------------------ */
/* recall                                                             */
/* ------------------------------------------------------------------ */

struct bc_recall_stats {
	double *lat;		/* seconds, one per call */
	size_t n, empty, bytes;
	size_t asked, found;	/* cues with a unique word */
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

/* Did the answer name the episode whose unique word is in CUE? */
static void bc_check_hit(const char *cue, const char *out, size_t len,
			 struct bc_recall_stats *s)
{
	const char *w = cue;
	char name[32];
	size_t idx;

	while (w && !bc_unique_index(w, &idx)) {
		w = strchr(w, ' ');
		w = w ? w + 1 : NULL;
	}
	if (!w)
		return;
	s->asked++;
	bc_episode_name(idx, name, sizeof(name));
	s->found += bc_lists(out, len, name);
}

static int bc_recall_one(const char *mnt, const char *cue, char *buf,
			 struct bc_recall_stats *s)
{
	char path[4096];
	double t0;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "%s/recall/%s", mnt, cue);
	t0 = bc_now();
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bc_error("open", path);
	got = bc_read_all(fd, buf, BC_READ_BUF);
	close(fd);
	s->lat[s->n++] = bc_now() - t0;
	if (got < 0)
		return bc_error("read", path);
	s->bytes += (size_t)got;
	s->empty += got == 0;
	bc_check_hit(cue, buf, (size_t)got, s);
	return 0;
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

static void bc_recall_report(struct bc_recall_stats *s)
{
	double sum = 0;
	size_t i;

	qsort(s->lat, s->n, sizeof(double), bc_cmp_double);
	for (i = 0; i < s->n; i++)
		sum += s->lat[i];
	printf("recall n=%zu p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "mean_ms=%.3f empty=%zu bytes_per_call=%zu hits=%zu/%zu\n",
	       s->n, bc_pct_ms(s->lat, s->n, 50), bc_pct_ms(s->lat, s->n, 95),
	       bc_pct_ms(s->lat, s->n, 99), 1e3 * s->lat[s->n - 1],
	       1e3 * sum / (double)s->n, s->empty, s->bytes / s->n,
	       s->found, s->asked);
}

static int bc_cmd_recall(int argc, char **argv)
{
	struct bc_recall_stats s = { 0 };
	char *buf;
	size_t n, i;
	int err = 0;

	if (bc_parse_size(argv[1], &n) < 0 || n == 0)
		return 2;
	buf = malloc(BC_READ_BUF);
	s.lat = malloc(n * sizeof(double));
	if (!buf || !s.lat)
		err = 1;
	for (i = 0; i < n && !err; i++)
		err = bc_recall_one(argv[0], argv[2 + i % (size_t)(argc - 2)],
				    buf, &s);
	if (!err)
		bc_recall_report(&s);
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
	{ "read", bc_cmd_read, 2, "read DIR N [SIZE [SEED]]" },
	{ "recall", bc_cmd_recall, 3, "recall MNT N CUE..." },
	{ "cues", bc_cmd_cues, 3, "cues K COUNT N [SIZE [SEED]]" },
	{ "text", bc_cmd_text, 2, "text I SIZE [SEED]" },
};
#define BC_NCOMMANDS (sizeof(bc_commands) / sizeof(bc_commands[0]))

static int bc_usage(void)
{
	size_t i;

	fprintf(stderr, "usage:\n");
	for (i = 0; i < BC_NCOMMANDS; i++)
		fprintf(stderr, "  benchclient %s\n", bc_commands[i].usage);
	return 2;
}

int main(int argc, char **argv)
{
	const struct bc_command *c;
	size_t i;

	if (argc < 2)
		return bc_usage();
	if (getenv("BENCH_ZIPF_Q"))
		bc_zipf_q = strtod(getenv("BENCH_ZIPF_Q"), NULL);
	if (!(bc_zipf_q > 0 && bc_zipf_q < 1e6)) {
		fprintf(stderr, "benchclient: BENCH_ZIPF_Q must be in (0, 1e6)\n");
		return 2;
	}
	bc_vocab_init();
	for (i = 0; i < BC_NCOMMANDS; i++) {
		c = &bc_commands[i];
		if (strcmp(argv[1], c->name) != 0)
			continue;
		if (argc - 2 < c->min_args)
			return bc_usage();
		return c->fn(argc - 2, argv + 2);
	}
	return bc_usage();
}
