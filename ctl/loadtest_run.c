/*
 * loadtest_run.c - the seeded workload of `engramctl loadtest`.
 *
 * Everything the load does is a file operation on the mount, as any
 * client's would be:
 *
 *   create   write a new episode (open O_CREAT|O_TRUNC, write, close):
 *            MNT/episodes/loadtest/w-PID-THREAD-N
 *   read     read a corpus episode whole
 *   recall   read MNT/recall/CUE?limit=L[&mode=M][&user=uK]
 *   flag     read MNT/flags/recall.default_limit
 *
 * Determinism.  The corpus (loadtest/cSEED-wWORDS-K, written before the
 * run and kept for the next one) is a function of seed and words.  Each
 * thread has its own generator, seeded from (seed, thread), that picks
 * the operations, the episodes and the cues; so the sequence of
 * operations of every thread is the same from run to run, and only how
 * far each thread gets depends on the machine.  Text is drawn from a
 * fixed vocabulary of pseudo-words (syllables indexed by number) with a
 * skew towards low indices, so a few words are common and most are rare,
 * as in prose; none contains a 'q', so "miss" cues (qz...) match nothing.
 *
 * Cue classes, all built from a corpus episode's words: exact (4
 * consecutive words), partial (every other word of 8), noisy (4 words
 * with a letter changed in each: typos), miss (words in no episode).
 *
 * Time.  Operations that start during the warm-up are not recorded; the
 * figures cover [t_measure, t_end).  With burst_on_s/burst_off_s the
 * threads work flat out for on seconds and sleep for off seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loadtest.h"

#define LT_VOCAB 2048		/* pseudo-words in the vocabulary */
#define LT_TEXT_MAX 65536	/* bytes of a generated episode, at most */
#define LT_CUE_WORDS 4

struct lt_thread {
	struct lt_run *r;
	unsigned idx;
	uint64_t rng;
	struct lt_series op[LT_NOPS];
	uint64_t created;	/* names used by create */
	uint64_t done;		/* operations, for the soak (atomic) */
	pthread_t tid;
	char text[LT_TEXT_MAX];
};

struct lt_priv {
	struct lt_thread *t;
	char *dir;		/* MNT/episodes/loadtest */
	char *old[LT_MAX_FLAGS];	/* values before the run */
};

/* ------------------------------------------------------------------ */
/* Generator and text                                                 */
/* ------------------------------------------------------------------ */

/* splitmix64: small, fast, and good enough to drive a workload. */
static uint64_t lt_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static double lt_unit(uint64_t *s)
{
	return (double)(lt_next(s) >> 11) / 9007199254740992.0;
}

static unsigned lt_pick(uint64_t *s, const unsigned *w, unsigned n)
{
	unsigned sum = 0, i, x;

	for (i = 0; i < n; i++)
		sum += w[i];
	x = (unsigned)(lt_next(s) % sum);
	for (i = 0; i + 1 < n && x >= w[i]; i++)
		x -= w[i];
	return i;
}

/* Word I of the vocabulary into buf (at least 16 bytes); its length. */
static size_t lt_word(unsigned i, char *buf)
{
	static const char *const syl[16] = { "ka", "lo", "mi", "ne", "ru",
					     "ta", "so", "vi", "de", "ba",
					     "po", "gu", "fe", "zi", "ho",
					     "ja" };
	uint64_t h = i + 1;
	size_t n = 0;
	unsigned k, parts;

	h = lt_next(&h);
	parts = 2 + (unsigned)(h & 1) + (i >= 256);
	for (k = 0; k < parts; k++, h >>= 4) {
		memcpy(buf + n, syl[(h >> 1) & 15], 2);
		n += 2;
	}
	buf[n] = '\0';
	return n;
}

/* Skewed towards common words: index = V * u^2. */
static unsigned lt_word_index(uint64_t *s)
{
	double u = lt_unit(s);

	return (unsigned)(LT_VOCAB * u * u);
}

/* A text of about WORDS words into buf; its length. */
static size_t lt_text(uint64_t *s, unsigned words, char *buf, size_t cap)
{
	unsigned n = words / 2 + (unsigned)(lt_next(s) % (words + 1)), i;
	size_t len = 0;
	char w[16];

	for (i = 0; i < n && len + 20 < cap; i++) {
		size_t k = lt_word(lt_word_index(s), w);

		memcpy(buf + len, w, k);
		len += k;
		buf[len++] = (i + 1) % 12 == 0 || i + 1 == n ? '.' : ' ';
		if (buf[len - 1] == '.' && i + 1 < n)
			buf[len++] = ' ';
	}
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

/* Corpus episode K: its text (same for every run with this seed). */
static size_t lt_corpus_text(const struct lt_scenario *sc, unsigned k,
			     char *buf, size_t cap)
{
	uint64_t s = sc->seed * 0x100000001B3ULL + k;

	return lt_text(&s, sc->words, buf, cap);
}

static char *lt_corpus_path(struct lt_run *r, unsigned k)
{
	struct lt_priv *p = r->priv;

	return ctl_xprintf("%s/c%llu-w%u-%u", p->dir,
			   (unsigned long long)r->s->seed, r->s->words, k);
}

/* ------------------------------------------------------------------ */
/* Cues                                                               */
/* ------------------------------------------------------------------ */

/* Word N (0-based) of TEXT: pointer and length, or NULL past the end. */
static const char *lt_nth_word(const char *text, unsigned n, size_t *len)
{
	const char *p = text;

	for (;;) {
		p += strspn(p, " .\n");
		if (!*p)
			return NULL;
		*len = strcspn(p, " .\n");
		if (!n--)
			return p;
		p += *len;
	}
}

static void lt_cue_append(char *cue, size_t cap, const char *w, size_t n,
			  bool typo, uint64_t *s)
{
	size_t len = strlen(cue);

	if (len + n + 2 >= cap)
		return;
	if (len)
		cue[len++] = ' ';
	memcpy(cue + len, w, n);
	if (typo && n > 2)
		cue[len + 1 + lt_next(s) % (n - 2)] = 'x';
	cue[len + n] = '\0';
}

static void lt_cue(struct lt_thread *t, enum lt_cue cls, char *cue,
		   size_t cap)
{
	const struct lt_scenario *sc = t->r->s;
	unsigned k = (unsigned)(lt_next(&t->rng) % sc->corpus), i, first;
	unsigned span = cls == LT_CUE_PARTIAL ? 2 * LT_CUE_WORDS
					      : LT_CUE_WORDS;
	const char *w;
	size_t n;
	char word[16];

	cue[0] = '\0';
	if (cls == LT_CUE_MISS) {
		for (i = 0; i < 3; i++) {
			snprintf(word, sizeof(word), "qz%06x",
				 (unsigned)(lt_next(&t->rng) & 0xFFFFFF));
			lt_cue_append(cue, cap, word, strlen(word), false,
				      &t->rng);
		}
		return;
	}
	lt_corpus_text(sc, k, t->text, sizeof(t->text));
	first = (unsigned)(lt_next(&t->rng) % (sc->words / 2 + 1));
	for (i = 0; i < span; i++) {
		w = lt_nth_word(t->text, first + i, &n);
		if (!w)
			break;
		if (cls != LT_CUE_PARTIAL || i % 2 == 0)
			lt_cue_append(cue, cap, w, n, cls == LT_CUE_NOISY,
				      &t->rng);
	}
	if (!cue[0])
		snprintf(cue, cap, "kalo");
}

/* ------------------------------------------------------------------ */
/* Operations                                                         */
/* ------------------------------------------------------------------ */

static int lt_read_path(const char *path, char *buf, size_t cap,
			size_t *got)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	ssize_t k;

	*got = 0;
	if (fd < 0)
		return -errno;
	while ((k = read(fd, buf + *got, cap - *got - 1)) > 0) {
		*got += (size_t)k;
		if (*got + 1 == cap)
			*got = 0;	/* keep the tail: only size matters */
	}
	if (k < 0)
		r = -errno;
	buf[*got] = '\0';
	close(fd);
	return r;
}

static int lt_op_create(struct lt_thread *t)
{
	struct lt_priv *p = t->r->priv;
	char *path = ctl_xprintf("%s/w-%ld-%u-%llu", p->dir, (long)getpid(),
				 t->idx, (unsigned long long)t->created++);
	size_t len = lt_text(&t->rng, t->r->s->words, t->text,
			     sizeof(t->text));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r = fd < 0 ? -errno : ctl_write_all(fd, t->text, len);

	if (fd >= 0 && close(fd) < 0 && !r)
		r = -errno;
	free(path);
	return r;
}

static int lt_op_read(struct lt_thread *t)
{
	char *path = lt_corpus_path(t->r, (unsigned)(lt_next(&t->rng) %
						     t->r->s->corpus));
	size_t got;
	int r = lt_read_path(path, t->text, sizeof(t->text), &got);

	free(path);
	return r;
}

/* Recall; *op becomes the cohort row when the scenario has users. */
static int lt_op_recall(struct lt_thread *t, enum lt_op *cohort)
{
	const struct lt_scenario *sc = t->r->s;
	char cue[200], opts[128], *path;
	size_t got, n;
	int r;

	lt_cue(t, (enum lt_cue)lt_pick(&t->rng, sc->cues, LT_NCUES), cue,
	       sizeof(cue));
	n = (size_t)snprintf(opts, sizeof(opts), "limit=%u", sc->limit);
	if (sc->mode)
		n += (size_t)snprintf(opts + n, sizeof(opts) - n, "&mode=%s",
				      sc->mode);
	if (sc->users)
		snprintf(opts + n, sizeof(opts) - n, "&user=u%u&format=json",
			 (unsigned)(lt_next(&t->rng) % sc->users));
	path = ctl_xprintf("%s/recall/%s?%s", t->r->c->mount, cue, opts);
	r = lt_read_path(path, t->text, sizeof(t->text), &got);

	free(path);
	*cohort = LT_NOPS;
	if (!r && sc->users)
		*cohort = strstr(t->text, "\"cohort\":\"treatment\"")
				  ? LT_RECALL_TREATMENT
				  : LT_RECALL_CONTROL;
	return r;
}

static int lt_op_flag(struct lt_thread *t)
{
	char *path = ctl_xprintf("%s/flags/recall.default_limit",
				 t->r->c->mount);
	size_t got;
	int r = lt_read_path(path, t->text, sizeof(t->text), &got);

	free(path);
	return r;
}

/* ------------------------------------------------------------------ */
/* Threads                                                            */
/* ------------------------------------------------------------------ */

static void lt_series_add(struct lt_series *s, double ms, bool failed)
{
	if (failed) {
		s->errors++;
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = ctl_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (float)ms;
}

/* In a burst scenario, sleep through the quiet part; false to stop. */
static bool lt_burst_wait(struct lt_thread *t, double now)
{
	const struct lt_scenario *sc = t->r->s;
	double cycle = sc->burst_on_s + sc->burst_off_s, phase, left;

	if (sc->burst_on_s <= 0 || sc->burst_off_s <= 0)
		return true;
	phase = fmod(now - t->r->t_start, cycle);
	if (phase < sc->burst_on_s)
		return true;
	left = fmin(cycle - phase, 0.05);
	usleep((useconds_t)(left * 1e6));
	return false;
}

static void lt_one(struct lt_thread *t, double t0)
{
	enum lt_op op = (enum lt_op)lt_pick(&t->rng, t->r->s->mix, LT_OP_MIX);
	enum lt_op cohort = LT_NOPS;
	double t1;
	int r;

	switch (op) {
	case LT_CREATE: r = lt_op_create(t); break;
	case LT_READ: r = lt_op_read(t); break;
	case LT_RECALL: r = lt_op_recall(t, &cohort); break;
	default: r = lt_op_flag(t); break;
	}
	t1 = ctl_now();
	__atomic_fetch_add(&t->done, 1, __ATOMIC_RELAXED);
	if (t0 < t->r->t_measure || t0 >= t->r->t_end)
		return;
	lt_series_add(&t->op[op], (t1 - t0) * 1e3, r < 0);
	if (cohort != LT_NOPS)
		lt_series_add(&t->op[cohort], (t1 - t0) * 1e3, false);
}

static void *lt_thread_main(void *arg)
{
	struct lt_thread *t = arg;
	double now;

	while (!*t->r->stop && (now = ctl_now()) < t->r->t_end)
		if (lt_burst_wait(t, now))
			lt_one(t, now);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Phases                                                             */
/* ------------------------------------------------------------------ */

static int lt_corpus(struct lt_run *r)
{
	char *buf = ctl_xmalloc(LT_TEXT_MAX), *path;
	struct stat st;
	unsigned k, made = 0;
	size_t len;
	int rc = 0;

	for (k = 0; k < r->s->corpus && !rc && !*r->stop; k++) {
		len = lt_corpus_text(r->s, k, buf, LT_TEXT_MAX);
		path = lt_corpus_path(r, k);
		if (stat(path, &st) < 0 || (size_t)st.st_size != len) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
						    O_CLOEXEC, 0644);

			rc = fd < 0 ? -errno : ctl_write_all(fd, buf, len);
			if (fd >= 0 && close(fd) < 0 && !rc)
				rc = -errno;
			made++;
		}
		if (rc)
			ctl_error("cannot write corpus episode '%s': %s", path,
				  strerror(-rc));
		free(path);
	}
	if (made && !rc)
		fprintf(stderr, "loadtest: wrote %u corpus episodes\n", made);
	free(buf);
	return rc ? CTL_EXIT_FAIL : 0;
}

static int lt_flags_set(struct lt_run *r)
{
	struct lt_priv *p = r->priv;
	const struct lt_scenario *s = r->s;
	unsigned i;
	int e;

	for (i = 0; i < s->nflags; i++) {
		e = ctl_flag_read(r->c, s->flag_name[i], &p->old[i]);
		if (e == 0)
			e = ctl_flag_write(r->c, s->flag_name[i],
					   s->flag_value[i]);
		if (e < 0)
			return ctl_error("cannot set flag '%s' to '%s': %s",
					 s->flag_name[i], s->flag_value[i],
					 strerror(-e));
	}
	return 0;
}

int lt_run_prepare(struct lt_run *r)
{
	struct lt_priv *p = ctl_xmalloc(sizeof(*p));

	memset(p, 0, sizeof(*p));
	r->priv = p;
	p->dir = ctl_xprintf("%s/episodes/loadtest", r->c->mount);
	if (mkdir(p->dir, 0755) < 0 && errno != EEXIST)
		return ctl_error("cannot create '%s': %s", p->dir,
				 strerror(errno));
	if (lt_flags_set(r))
		return CTL_EXIT_FAIL;
	return lt_corpus(r);
}

int lt_run_start(struct lt_run *r)
{
	struct lt_priv *p = r->priv;
	unsigned i;

	p->t = ctl_xmalloc(r->s->threads * sizeof(*p->t));
	memset(p->t, 0, r->s->threads * sizeof(*p->t));
	r->t_start = ctl_now();
	r->t_measure = r->t_start + r->s->warmup_s;
	r->t_end = r->t_measure + r->s->duration_s;
	for (i = 0; i < r->s->threads; i++) {
		struct lt_thread *t = &p->t[i];

		t->r = r;
		t->idx = i;
		t->rng = r->s->seed ^ (0xD1B54A32D192ED03ULL * (i + 1));
		if (pthread_create(&t->tid, NULL, lt_thread_main, t)) {
			*r->stop = 1;
			while (i--)
				pthread_join(p->t[i].tid, NULL);
			return ctl_error("cannot start load threads");
		}
	}
	return 0;
}

uint64_t lt_run_ops(struct lt_run *r)
{
	struct lt_priv *p = r->priv;
	uint64_t n = 0;
	unsigned i;

	for (i = 0; p->t && i < r->s->threads; i++)
		n += __atomic_load_n(&p->t[i].done, __ATOMIC_RELAXED);
	return n;
}

static void lt_series_merge(struct lt_series *into, struct lt_series *from)
{
	if (from->n) {
		into->v = ctl_xrealloc(into->v,
				       (into->n + from->n) * sizeof(*into->v));
		memcpy(into->v + into->n, from->v, from->n * sizeof(*from->v));
		into->n += from->n;
	}
	into->errors += from->errors;
	free(from->v);
	memset(from, 0, sizeof(*from));
}

void lt_run_wait(struct lt_run *r, struct lt_result *res)
{
	struct lt_priv *p = r->priv;
	double end;
	unsigned i;
	int k;

	memset(res, 0, sizeof(*res));
	for (i = 0; i < r->s->threads; i++)
		pthread_join(p->t[i].tid, NULL);
	end = fmin(ctl_now(), r->t_end);
	res->measured_s = fmax(end - r->t_measure, 0);
	res->interrupted = *r->stop != 0;
	for (i = 0; i < r->s->threads; i++)
		for (k = 0; k < LT_NOPS; k++)
			lt_series_merge(&res->op[k], &p->t[i].op[k]);
}

void lt_run_finish(struct lt_run *r)
{
	struct lt_priv *p = r->priv;
	char *path;
	unsigned i;
	uint64_t n;

	if (!p)
		return;
	for (i = 0; p->t && !r->keep && i < r->s->threads; i++) {
		for (n = 0; n < p->t[i].created; n++) {
			path = ctl_xprintf("%s/w-%ld-%u-%llu", p->dir,
					   (long)getpid(), i,
					   (unsigned long long)n);
			unlink(path);
			free(path);
		}
	}
	for (i = 0; i < r->s->nflags; i++) {
		if (p->old[i] && strcmp(p->old[i], r->s->flag_value[i]))
			ctl_flag_write(r->c, r->s->flag_name[i], p->old[i]);
		free(p->old[i]);
	}
	free(p->t);
	free(p->dir);
	free(p);
	r->priv = NULL;
}

void lt_result_release(struct lt_result *res)
{
	for (int k = 0; k < LT_NOPS; k++)
		free(res->op[k].v);
	memset(res, 0, sizeof(*res));
}
