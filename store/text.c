/*
 * text.c - text analysis: the one place where bytes become index terms.
 *
 * text_analyze() turns an episode or a recall cue into a sorted bag of
 * terms; text_snippet() makes the short display line of recall output.
 * Both take arbitrary bytes (not NUL-terminated, maybe binary, maybe bad
 * UTF-8) and never fail on content, only on memory.
 *
 * Pipeline, one pass over the input:
 *   1. decode UTF-8 (utf8proc_iterate); an invalid byte is a separator;
 *   2. map each code point with utf8proc_decompose_char: case folding,
 *      compatibility decomposition, marks and default-ignorables dropped
 *      ("Café" -> "cafe", "ﬁ" -> "fi", soft hyphen vanishes).  ASCII skips
 *      utf8proc: its mapping is just tolower;
 *   3. tokens are maximal runs of letters and digits (L* and N*) of the
 *      mapped text, so categories are judged after normalisation;
 *   4. apostrophes (' U+2019 U+02BC) between word characters stay in the
 *      token until it ends, then: a clitic tail ('s 'll 're 've 'd 'm) is
 *      dropped ("alice's" -> "alice", "we'll" -> "we"), any other
 *      apostrophe is removed and the parts joined ("don't" -> "dont",
 *      "o'brien" -> "obrien").  Leading and trailing apostrophes are quotes;
 *   5. canonical composition of the token (Hangul jamo back to syllables:
 *      the N in NFKC), tokens over TEXT_TERM_MAX bytes dropped;
 *   6. stop words (English list below, in folded form, joined
 *      contractions included) are kept unstemmed and marked `stop`: the
 *      index has them (a cue like "to be or not to be" is all stop
 *      words, and short cues lean on them: measured, dropping them cost
 *      0.18 recall@10 on partial cues against FTS5, which keeps them),
 *      but they do not count in the length, and consolidation and the
 *      concept side drop them (text_terms_drop_stop).  Other words get
 *      English Snowball stemming; tokens of digits only (every code
 *      point N*) are kept as they are;
 *   7. terms are counted in a per-thread hash table (xxh3, seeded per
 *      process) whose strings live in one arena; the unique terms are sorted and copied out in a single
 *      allocation.
 *
 * Ownership: text_terms.v and all term strings are ONE malloc block (the
 * strings follow the array).  Free it only with text_terms_release; never
 * free or realloc a term string on its own.
 *
 * Threads: sb_stemmer is not thread-safe, so each thread gets its own
 * context (stemmer, arena, hash table, token buffer) behind a pthread key
 * whose destructor frees it at thread exit.  No locks; the stop-word table
 * is built once under pthread_once and read-only afterwards.  Scratch
 * bigger than TEXT_KEEP_BYTES is freed after each call, so one huge
 * episode does not pin memory in a worker thread.
 *
 * Rejected:
 *  - utf8proc_map over the whole input: it refuses invalid UTF-8 (we would
 *    need a sanitising copy first), allocates, and costs more than the
 *    ASCII fast path for the common English text;
 *  - composing before tokenising: marks are stripped anyway, and judging
 *    categories on mapped code points handles ligatures, full-width forms
 *    and circled digits for free;
 *  - keeping apostrophes in terms (Snowball accepts them): "dont" typed
 *    in a cue would then miss "don't" in an episode;
 *  - sorting every token occurrence: a 1 MiB episode has ~200k tokens but
 *    a few thousand distinct terms; hashing first keeps the sort small;
 *  - one malloc per term string: measurable on the commit path, and
 *    callers only ever read the terms.
 *
 * Known costs of the choices: stripping marks also strips the vowel signs
 * of Indic scripts and the voicing marks of kana; joining apostrophes
 * glues French elisions ("l'homme" -> "lhomme").  Both are consistent
 * between episodes and cues, which is what recall needs.  Measured: about
 * 5 us for a 200-byte English episode, a third of it in Snowball.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libstemmer.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "store_i.h"

/* Longest term kept, in bytes after normalisation.  Real words are far
 * shorter; longer runs are hashes, base64, URLs without punctuation. */
#define TEXT_TERM_MAX	64

/* Code points buffered per token.  Composition shrinks at most 3:1
 * (Hangul L V T -> one 3-byte syllable), so a token of more code points
 * can never fit TEXT_TERM_MAX bytes and is dropped unseen. */
#define TEXT_TOK_CPS	256

/* utf8proc_decompose_char output for one code point: the longest
 * compatibility decomposition is 18 (U+FDFA). */
#define TEXT_MAP_CPS	32

#define TEXT_MAP_OPTS	(UTF8PROC_COMPOSE | UTF8PROC_COMPAT | \
			 UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | \
			 UTF8PROC_IGNORE)

/* Per-thread scratch kept between calls; beyond it, freed after use.
 * Covers texts of ~10 KiB, which is nearly every episode and cue. */
#define TEXT_KEEP_BYTES	(64 * 1024)

#define TEXT_SLOTS_MIN	64	/* first hash table: ~30 distinct terms */
#define TEXT_APOS	0x27

/* ------------------------------------------------------------------ */
/* Stop words                                                         */
/* ------------------------------------------------------------------ */

/*
 * Common English function words (165), in the form tokens have when they
 * are looked up: case-folded, apostrophes resolved ("don't" -> "dont",
 * "you're" -> "you").  Checked before stemming, so the entries are not
 * stemmed.  Left out on purpose although some lists have them: "may"
 * (the month) and time words ("today", "yesterday") that people do put
 * in cues.
 */
static const char *const text_stop_words[] = {
	"a", "about", "above", "after", "again", "against", "all", "also",
	"am", "an", "and", "any", "are", "arent", "as", "at",
	"be", "because", "been", "before", "being", "below", "between",
	"both", "but", "by",
	"can", "cant", "could", "couldnt",
	"did", "didnt", "do", "does", "doesnt", "doing", "dont", "down",
	"during",
	"each", "either", "else", "ever", "every",
	"few", "for", "from", "further",
	"had", "hadnt", "has", "hasnt", "have", "havent", "having", "he",
	"her", "here", "hers", "herself", "him", "himself", "his", "how",
	"however",
	"i", "if", "in", "into", "is", "isnt", "it", "its", "itself",
	"just",
	"me", "might", "more", "most", "much", "must", "mustnt", "my",
	"myself",
	"neither", "no", "nor", "not", "now",
	"of", "off", "on", "once", "only", "or", "other", "ought", "our",
	"ours", "ourselves", "out", "over", "own",
	"same", "shall", "shant", "she", "should", "shouldnt", "so", "some",
	"such",
	"than", "that", "the", "their", "theirs", "them", "themselves",
	"then", "there", "these", "they", "this", "those", "though",
	"through", "thus", "to", "too",
	"under", "until", "up", "upon", "us",
	"very",
	"was", "wasnt", "we", "were", "werent", "what", "whatever", "when",
	"where", "whether", "which", "while", "who", "whom", "whose", "why",
	"will", "with", "within", "without", "wont", "would", "wouldnt",
	"yet", "you", "your", "yours", "yourself", "yourselves",
};

#define TEXT_STOP_N	(sizeof(text_stop_words) / sizeof(text_stop_words[0]))
#define TEXT_STOP_SLOTS	512	/* power of two, load < 0.4 */

static const char *text_stop_tab[TEXT_STOP_SLOTS];
static size_t text_stop_maxlen;

/* Per-process seed, so an episode cannot be crafted to make every term
 * collide in the term table (a quadratic commit).  Output order does not
 * depend on it: terms are sorted. */
static uint64_t text_seed;

static uint32_t text_hash(const char *s, size_t n)
{
	return (uint32_t)XXH3_64bits_withSeed(s, n, text_seed);
}

static void text_seed_init(void)
{
	struct timespec ts;

	if (getrandom(&text_seed, sizeof(text_seed), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(text_seed))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);	/* early boot: weaker, fine */
	text_seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		    (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
}

static void text_stop_build(void)
{
	size_t i, n, h;

	for (i = 0; i < TEXT_STOP_N; i++) {
		n = strlen(text_stop_words[i]);
		if (n > text_stop_maxlen)
			text_stop_maxlen = n;
		h = text_hash(text_stop_words[i], n) & (TEXT_STOP_SLOTS - 1);
		while (text_stop_tab[h])
			h = (h + 1) & (TEXT_STOP_SLOTS - 1);
		text_stop_tab[h] = text_stop_words[i];
	}
}

/* W is NUL-terminated, N bytes. */
static bool text_is_stop(const char *w, size_t n)
{
	size_t h;

	if (n > text_stop_maxlen)
		return false;
	h = text_hash(w, n) & (TEXT_STOP_SLOTS - 1);
	for (; text_stop_tab[h]; h = (h + 1) & (TEXT_STOP_SLOTS - 1))
		if (!strcmp(text_stop_tab[h], w))
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* Per-thread context                                                 */
/* ------------------------------------------------------------------ */

struct text_uterm {
	size_t off;		/* string in the arena */
	const char *s;		/* arena + off, once the arena stops moving */
	uint32_t len, tf, hash;
	bool stop;		/* every occurrence was a stop word */
};

struct text_ctx {
	struct sb_stemmer *stemmer;
	bool unstemmed;		/* text_words: terms as written (folded) */

	char *arena;		/* distinct terms, NUL-terminated */
	size_t alen, acap;
	struct text_uterm *u;	/* distinct terms in order of appearance */
	size_t nu, ucap;
	uint32_t *slot;		/* open addressing: index into u + 1, 0 = empty */
	size_t nslot;

	int32_t cp[TEXT_TOK_CPS];	/* token being built */
	size_t ncp;
	bool tok_ascii, tok_long;
	char word[TEXT_TERM_MAX + 5];	/* encoded token, room for one more
					 * char before the length check */
};

static pthread_once_t text_once = PTHREAD_ONCE_INIT;
static pthread_key_t text_key;
static bool text_key_ok;

static void text_ctx_free(void *p)
{
	struct text_ctx *c = p;

	if (!c)
		return;
	sb_stemmer_delete(c->stemmer);
	free(c->arena);
	free(c->u);
	free(c->slot);
	free(c);
}

/*
 * Key destructors do not run for the thread that calls exit(), normally
 * main: free its context here, so valgrind runs of the unit tests and
 * the offline tools end with nothing lost (Snowball keeps an interior
 * pointer, which valgrind reports as "possibly lost").  Other threads'
 * contexts are untouched; a later call in this thread makes a new one.
 */
static void text_at_exit(void)
{
	text_ctx_free(pthread_getspecific(text_key));
	pthread_setspecific(text_key, NULL);
}

static void text_once_init(void)
{
	text_seed_init();
	text_stop_build();
	text_key_ok = pthread_key_create(&text_key, text_ctx_free) == 0;
	if (text_key_ok)
		atexit(text_at_exit);
}

bool text_stop_word(const char *w)
{
	if (pthread_once(&text_once, text_once_init))
		return false;
	return text_is_stop(w, strlen(w));
}

static struct text_ctx *text_ctx_get(void)
{
	struct text_ctx *c;

	if (pthread_once(&text_once, text_once_init) || !text_key_ok)
		return NULL;
	c = pthread_getspecific(text_key);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->stemmer = sb_stemmer_new("english", "UTF_8");
	if (!c->stemmer || pthread_setspecific(text_key, c)) {
		text_ctx_free(c);
		return NULL;
	}
	return c;
}

static void text_tok_reset(struct text_ctx *c)
{
	c->ncp = 0;
	c->tok_ascii = true;
	c->tok_long = false;
}

static void text_ctx_reset(struct text_ctx *c)
{
	c->alen = 0;
	c->nu = 0;
	if (c->slot)
		memset(c->slot, 0, c->nslot * sizeof(*c->slot));
	text_tok_reset(c);
}

/* Give back scratch that only a big text needed. */
static void text_ctx_trim(struct text_ctx *c)
{
	if (c->acap > TEXT_KEEP_BYTES) {
		free(c->arena);
		c->arena = NULL;
		c->acap = 0;
	}
	if (c->ucap * sizeof(*c->u) > TEXT_KEEP_BYTES) {
		free(c->u);
		c->u = NULL;
		c->ucap = 0;
	}
	if (c->nslot * sizeof(*c->slot) > TEXT_KEEP_BYTES) {
		free(c->slot);
		c->slot = NULL;
		c->nslot = 0;
	}
}

/* ------------------------------------------------------------------ */
/* Term table                                                         */
/* ------------------------------------------------------------------ */

/* P (capacity *CAP elements of SIZE bytes) with room for NEED elements:
 * P itself, a grown copy, or NULL (P still valid, *CAP unchanged). */
static void *text_grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	p = realloc(p, n * size);
	if (p)
		*cap = n;
	return p;
}

/* Double the hash table (or create it) and re-insert every term. */
static int text_slots_grow(struct text_ctx *c)
{
	size_t n = c->nslot ? c->nslot * 2 : TEXT_SLOTS_MIN, i, h;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (i = 0; i < c->nu; i++) {
		h = c->u[i].hash & (n - 1);
		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = (uint32_t)(i + 1);
	}
	free(c->slot);
	c->slot = s;
	c->nslot = n;
	return 0;
}

/* Count one occurrence of the N-byte term W; STOP: it is a stop word,
 * indexed but not counted in the length. */
static int text_term_add(struct text_ctx *c, const char *w, size_t n,
			 bool stop)
{
	uint32_t hash = text_hash(w, n);
	struct text_uterm *t;
	size_t h;
	char *a;

	if ((c->nu + 1) * 2 > c->nslot && text_slots_grow(c))
		return -ENOMEM;
	for (h = hash & (c->nslot - 1); c->slot[h];
	     h = (h + 1) & (c->nslot - 1)) {
		t = &c->u[c->slot[h] - 1];
		if (t->hash == hash && t->len == n &&
		    !memcmp(c->arena + t->off, w, n)) {
			t->tf++;
			t->stop = t->stop && stop;
			return 0;
		}
	}
	a = text_grow(c->arena, &c->acap, c->alen + n + 1, 1);
	if (!a)
		return -ENOMEM;
	c->arena = a;
	t = text_grow(c->u, &c->ucap, c->nu + 1, sizeof(*c->u));
	if (!t)
		return -ENOMEM;
	c->u = t;
	memcpy(c->arena + c->alen, w, n);
	c->arena[c->alen + n] = '\0';
	c->u[c->nu] = (struct text_uterm){ .off = c->alen, .len = (uint32_t)n,
					   .tf = 1, .hash = hash,
					   .stop = stop };
	c->alen += n + 1;
	c->slot[h] = (uint32_t)++c->nu;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tokens                                                             */
/* ------------------------------------------------------------------ */

static bool text_is_word(int32_t cp)
{
	utf8proc_category_t cat;

	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
		       (cp >= 'A' && cp <= 'Z');
	cat = utf8proc_category(cp);
	return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
	       (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

static bool text_is_digit(int32_t cp)
{
	utf8proc_category_t cat;

	if (cp < 0x80)
		return cp >= '0' && cp <= '9';
	cat = utf8proc_category(cp);
	return cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO;
}

static void text_tok_push(struct text_ctx *c, int32_t cp)
{
	if (c->ncp == TEXT_TOK_CPS) {
		c->tok_long = true;
		return;
	}
	c->cp[c->ncp++] = cp;
	if (cp >= 0x80)
		c->tok_ascii = false;
}

/* Is the segment at CP (up to the next apostrophe) an English clitic? */
static bool text_is_clitic(const int32_t *cp, size_t n)
{
	size_t len = 0;

	while (len < n && cp[len] != TEXT_APOS)
		len++;
	if (len == 1)
		return cp[0] == 's' || cp[0] == 'd' || cp[0] == 'm';
	if (len == 2)
		return (cp[0] == 'l' && cp[1] == 'l') ||
		       (cp[0] == 'r' && cp[1] == 'e') ||
		       (cp[0] == 'v' && cp[1] == 'e');
	return false;
}

/* Resolve apostrophes in place (see the top of the file); new length. */
static size_t text_apos_resolve(int32_t *cp, size_t n)
{
	size_t i, o = 0;

	if (n && cp[n - 1] == TEXT_APOS)
		n--;
	for (i = 0; i < n; i++) {
		if (cp[i] != TEXT_APOS)
			cp[o++] = cp[i];
		else if (text_is_clitic(cp + i + 1, n - i - 1))
			break;
	}
	return o;
}

/* Compose and encode the first N code points of the token into c->word.
 * Byte length, or -1 when longer than TEXT_TERM_MAX. */
static int text_tok_encode(struct text_ctx *c, size_t n)
{
	utf8proc_ssize_t m, k;
	size_t o = 0;

	if (c->tok_ascii) {
		if (n > TEXT_TERM_MAX)
			return -1;
		for (k = 0; k < (utf8proc_ssize_t)n; k++)
			c->word[k] = (char)c->cp[k];
		c->word[n] = '\0';
		return (int)n;
	}
	m = utf8proc_normalize_utf32(c->cp, (utf8proc_ssize_t)n,
				     UTF8PROC_COMPOSE);
	if (m < 0)
		return -1;
	for (k = 0; k < m; k++) {
		o += (size_t)utf8proc_encode_char(c->cp[k],
					(utf8proc_uint8_t *)c->word + o);
		if (o > TEXT_TERM_MAX)
			return -1;
	}
	c->word[o] = '\0';
	return (int)o;
}

/* The token is complete: resolve, filter, stem, count. */
static int text_tok_emit(struct text_ctx *c)
{
	size_t n = text_apos_resolve(c->cp, c->ncp), i;
	const sb_symbol *stem;
	bool digits = true;
	int wlen, slen;

	if (!n)
		return 0;
	for (i = 0; i < n && digits; i++)
		digits = text_is_digit(c->cp[i]);
	wlen = text_tok_encode(c, n);
	if (wlen <= 0)
		return 0;
	if (digits)
		return text_term_add(c, c->word, (size_t)wlen, false);
	if (text_is_stop(c->word, (size_t)wlen))
		return text_term_add(c, c->word, (size_t)wlen, true);
	if (c->unstemmed)
		return text_term_add(c, c->word, (size_t)wlen, false);
	stem = sb_stemmer_stem(c->stemmer, (const sb_symbol *)c->word, wlen);
	if (!stem)
		return -ENOMEM;
	slen = sb_stemmer_length(c->stemmer);
	if (slen <= 0)
		return text_term_add(c, c->word, (size_t)wlen, false);
	return text_term_add(c, (const char *)stem, (size_t)slen, false);
}

static int text_tok_end(struct text_ctx *c)
{
	int err = 0;

	if (c->ncp && !c->tok_long)
		err = text_tok_emit(c);
	text_tok_reset(c);
	return err;
}

/* An apostrophe continues a token; two in a row end it; one with no
 * token before it is a quote. */
static int text_tok_apos(struct text_ctx *c)
{
	if (!c->ncp)
		return 0;
	if (c->cp[c->ncp - 1] == TEXT_APOS)
		return text_tok_end(c);
	text_tok_push(c, TEXT_APOS);
	return 0;
}

static int text_feed_ascii(struct text_ctx *c, int32_t b)
{
	if (b >= 'A' && b <= 'Z')
		b += 'a' - 'A';
	if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')) {
		text_tok_push(c, b);
		return 0;
	}
	if (b == '\'')
		return text_tok_apos(c);
	return text_tok_end(c);
}

/* A non-ASCII code point: map it (fold, decompose, strip) and feed the
 * result.  An empty mapping (a mark, a soft hyphen) leaves the token
 * open, so "cafe" + U+0301 + "s" stays one word. */
static int text_feed_uni(struct text_ctx *c, int32_t cp)
{
	utf8proc_int32_t m[TEXT_MAP_CPS];
	utf8proc_ssize_t n, k;
	int err = 0;

	if (cp == 0x2019 || cp == 0x02bc)
		return text_tok_apos(c);
	n = utf8proc_decompose_char(cp, m, TEXT_MAP_CPS, TEXT_MAP_OPTS, NULL);
	if (n < 0 || n > TEXT_MAP_CPS)
		return text_tok_end(c);
	for (k = 0; k < n && !err; k++) {
		if (m[k] == TEXT_APOS)
			err = text_tok_apos(c);
		else if (text_is_word(m[k]))
			text_tok_push(c, m[k]);
		else
			err = text_tok_end(c);
	}
	return err;
}

/* Decode one code point at S (LEN > 0 bytes) into *CP; its byte length.
 * An invalid byte gives *CP = -1 and length 1. */
static size_t text_decode(const unsigned char *s, size_t len, int32_t *cp)
{
	utf8proc_ssize_t k;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	k = utf8proc_iterate(s, len > 4 ? 4 : (utf8proc_ssize_t)len, cp);
	if (k < 1) {
		*cp = -1;
		return 1;
	}
	return (size_t)k;
}

static int text_scan(struct text_ctx *c, const unsigned char *s, size_t len)
{
	size_t i = 0;
	int32_t cp;
	int err = 0;

	while (i < len && !err) {
		i += text_decode(s + i, len - i, &cp);
		if (cp < 0)
			err = text_tok_end(c);
		else if (cp < 0x80)
			err = text_feed_ascii(c, cp);
		else
			err = text_feed_uni(c, cp);
	}
	return err ? err : text_tok_end(c);
}

/* ------------------------------------------------------------------ */
/* Output                                                             */
/* ------------------------------------------------------------------ */

static int text_uterm_cmp(const void *a, const void *b)
{
	return strcmp(((const struct text_uterm *)a)->s,
		      ((const struct text_uterm *)b)->s);
}

/* Sort the distinct terms and copy them into one block. */
static int text_build(struct text_ctx *c, struct text_terms *out)
{
	struct text_term *v = NULL;
	size_t i, bytes = 0;
	char *p;

	for (i = 0; i < c->nu; i++) {
		c->u[i].s = c->arena + c->u[i].off;
		bytes += c->u[i].len + 1;
	}
	if (c->nu) {
		qsort(c->u, c->nu, sizeof(*c->u), text_uterm_cmp);
		v = malloc(c->nu * sizeof(*v) + bytes);
		if (!v)
			return -ENOMEM;
		p = (char *)(v + c->nu);
		for (i = 0; i < c->nu; i++) {
			memcpy(p, c->u[i].s, c->u[i].len + 1);
			v[i].term = p;
			v[i].tf = c->u[i].tf;
			v[i].stop = c->u[i].stop;
			p += c->u[i].len + 1;
		}
	}
	out->v = v;
	out->n = c->nu;
	/* the length counts the terms that are not stop words, all their
	 * occurrences: a stem that is also a stop word ("thes" -> "the")
	 * is content for all of them */
	out->length = 0;
	for (i = 0; i < out->n; i++)
		out->length += v[i].stop ? 0 : v[i].tf;
	return 0;
}

static int text_run(const char *buf, size_t len, bool stem,
		    struct text_terms *out)
{
	struct text_ctx *c = text_ctx_get();
	int err;

	if (!c)
		return -ENOMEM;
	if (!buf)
		len = 0;
	text_ctx_reset(c);
	c->unstemmed = !stem;
	err = text_scan(c, (const unsigned char *)buf, len);
	if (!err)
		err = text_build(c, out);
	text_ctx_trim(c);
	return err;
}

int text_analyze(const char *buf, size_t len, struct text_terms *out)
{
	return text_run(buf, len, true, out);
}

int text_words(const char *buf, size_t len, struct text_terms *out)
{
	return text_run(buf, len, false, out);
}

void text_terms_drop_stop(struct text_terms *t)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].stop)
			t->v[k++] = t->v[i];
	t->n = k;
}

void text_terms_release(struct text_terms *t)
{
	if (!t)
		return;
	free(t->v);	/* the term strings live in the same block */
	memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* Snippets                                                           */
/* ------------------------------------------------------------------ */

/* White space and control characters fold to one space.  U+FEFF (a byte
 * order mark at the top of Windows notes) counts as white space. */
static bool text_is_blank(int32_t cp)
{
	utf8proc_category_t cat;

	if (cp < 0x80)
		return cp <= 0x20 || cp == 0x7f;
	if (cp == 0xfeff)
		return true;
	cat = utf8proc_category(cp);
	return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
	       cat == UTF8PROC_CATEGORY_ZP || cat == UTF8PROC_CATEGORY_CC;
}

/*
 * Every output byte comes from a distinct input byte (a folded space
 * stands for at least one blank), and each of the at most NCHARS
 * characters is at most 4 bytes: the buffer is min(LEN, 4 * NCHARS) + 1.
 */
int text_snippet(const char *buf, size_t len, size_t nchars, char **out)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t cap, i = 0, o = 0, count = 0, k;
	bool space = false;
	int32_t cp;
	char *r;

	if (!buf)
		len = 0;
	cap = len;
	if (nchars < cap / 4)
		cap = nchars * 4;
	r = malloc(cap + 1);
	if (!r)
		return -ENOMEM;
	while (i < len && count < nchars) {
		k = text_decode(s + i, len - i, &cp);
		if (cp >= 0 && text_is_blank(cp)) {
			space = o > 0;
		} else if (cp >= 0) {
			if (space && count + 1 == nchars)
				break;	/* no room for a word after the space */
			if (space) {
				r[o++] = ' ';
				count++;
				space = false;
			}
			memcpy(r + o, s + i, k);
			o += k;
			count++;
		}
		i += k;
	}
	r[o] = '\0';
	*out = r;
	return 0;
}
