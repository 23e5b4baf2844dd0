/*
 * fts5bench.c - the recall reference of `make bench`: SQLite FTS5, bm25
 * top-10, in-process, on the same episodes and cues as engramfs.
 *
 *   fts5bench CORPUS DBFILE CUEDIR CALLS ROUNDS MAXSEC SIZE...
 *
 * For each SIZE, ascending: add the corpus lines up to SIZE (line I is
 * rowid I, as episode ep-I) in one transaction, then for each cue class
 * (rare, two, four, common, typo) run ROUNDS rounds of CALLS queries, cycling
 * through CUEDIR/cues-SIZE-CLASS.txt (corpus.py's files, `cue<TAB>src`);
 * a round stops after MAXSEC seconds (0: never) once it has made
 * FB_MIN_CALLS queries, so a slow size cannot stall the suite.
 * A query is what a program embedding SQLite would run for a recall:
 *   SELECT rowid, substr(body, 1, 100) FROM ep WHERE ep MATCH ?
 *   ORDER BY rank LIMIT 10
 * with the cue's words quoted and OR-ed ("a" OR "b"), rank = bm25, the
 * porter stemmer over unicode61 (the nearest thing to engramfs's
 * analyser), all rows stepped.  One statement, prepared once, reset
 * between queries.  Prints, one line each (key=value, like benchclient):
 *   fts5-build size=N seconds=S db_bytes=B
 *   fts5 size=N class=C round=R n=.. p50_ms=.. p99_ms=.. mean_ms=.. hits=F/A
 * The database is a file (DBFILE), built with journal_mode=OFF and
 * synchronous=OFF; queries run with SQLite's default page cache and the
 * OS page cache warm, as engramfs's do.
 *
 * Rejected: ORDER BY bm25(ep) (the same ranking; `rank` lets FTS5 use its
 * own top-k path), and an in-memory database (an engine a user embeds
 * keeps its index on disk).
 */
#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The longest corpus line we accept; corpus.py writes at most ~230. */
#define FB_LINE_MAX  4096
#define FB_MATCH_MAX 1024
/* Fewest queries of a round cut short by MAXSEC. */
#define FB_MIN_CALLS 10

static double fb_max_seconds;

static const char *const fb_classes[] = { "rare", "two", "four", "common",
					   "typo" };
#define FB_NCLASSES (sizeof(fb_classes) / sizeof(fb_classes[0]))

struct fb_cue {
	char match[FB_MATCH_MAX];	/* "a" OR "b" */
	long src;
};

static double fb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fb_sql_error(sqlite3 *db, const char *what)
{
	fprintf(stderr, "fts5bench: cannot %s: %s\n", what, sqlite3_errmsg(db));
	return -EIO;
}

static int fb_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	fprintf(stderr, "fts5bench: cannot run '%s': %s\n", sql, msg);
	sqlite3_free(msg);
	return -EIO;
}

/* Add corpus lines *HAVE..SIZE-1 from F (positioned at line *HAVE). */
static int fb_fill(sqlite3 *db, FILE *f, long *have, long size)
{
	static char line[FB_LINE_MAX];
	sqlite3_stmt *ins;
	size_t len;
	int err = 0;

	if (sqlite3_prepare_v2(db, "INSERT INTO ep(rowid, body) VALUES (?, ?)",
			       -1, &ins, NULL) != SQLITE_OK)
		return fb_sql_error(db, "prepare the insert");
	err = fb_exec(db, "BEGIN");
	while (!err && *have < size && fgets(line, sizeof(line), f)) {
		len = strlen(line);
		sqlite3_bind_int64(ins, 1, *have);
		sqlite3_bind_text(ins, 2, line, (int)len, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			err = fb_sql_error(db, "insert");
		sqlite3_reset(ins);
		(*have)++;
	}
	sqlite3_finalize(ins);
	if (!err)
		err = fb_exec(db, "COMMIT");
	if (!err && *have < size) {
		fprintf(stderr, "fts5bench: the corpus has only %ld lines\n", *have);
		err = -ERANGE;
	}
	return err;
}

/* CUE's words as an FTS5 query: each quoted, OR-ed. */
static void fb_match(const char *cue, char *out, size_t size)
{
	char words[FB_MATCH_MAX], *w, *save = NULL;
	size_t n = 0, len = strnlen(cue, FB_MATCH_MAX - 1);

	memcpy(words, cue, len);	/* longer cues are cut */
	words[len] = '\0';
	out[0] = '\0';
	for (w = strtok_r(words, " ", &save); w && n < size;
	     w = strtok_r(NULL, " ", &save))
		n += (size_t)snprintf(out + n, size - n, "%s\"%s\"",
				      n ? " OR " : "", w);
}

/* The cues of CUEDIR/cues-SIZE-CLASS.txt; *N gets their number. */
static struct fb_cue *fb_cues_load(const char *dir, long size,
				   const char *cls, size_t *n)
{
	char path[4096], line[FB_LINE_MAX], *tab;
	struct fb_cue *v = NULL, *nv;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cues-%ld-%s.txt", dir, size, cls);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "fts5bench: cannot open '%s': %s\n", path,
			strerror(errno));
		return NULL;
	}
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (*n == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		tab = strchr(line, '\t');
		v[*n].src = tab ? strtol(tab + 1, NULL, 10) : -1;
		if (tab)
			*tab = '\0';
		fb_match(line, v[(*n)++].match, FB_MATCH_MAX);
	}
	fclose(f);
	return v;
}

/* Run one query; *hit says whether SRC was among the rows. */
static int fb_query(sqlite3 *db, sqlite3_stmt *q, const struct fb_cue *c,
		    bool *hit)
{
	int rc;

	*hit = false;
	sqlite3_bind_text(q, 1, c->match, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*hit |= sqlite3_column_int64(q, 0) == c->src;
		(void)sqlite3_column_text(q, 1);
	}
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : fb_sql_error(db, "query");
}

static int fb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double fb_pct_ms(const double *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p / 100.0 * (double)n);

	return 1e3 * v[k ? k - 1 : 0];
}

/* One round of CALLS queries from the first cue on, as benchclient's
 * rounds are; prints its line. */
static int fb_round(sqlite3 *db, sqlite3_stmt *q, const struct fb_cue *cues,
		    size_t ncues, size_t calls, double *lat)
{
	size_t i, asked = 0, found = 0;
	double t0, sum = 0, start = fb_now();
	bool hit;
	int err = 0;

	for (i = 0; i < calls && !err; i++) {
		const struct fb_cue *c = &cues[i % ncues];

		if (i >= FB_MIN_CALLS && fb_max_seconds > 0 &&
		    fb_now() - start > fb_max_seconds)
			break;

		t0 = fb_now();
		err = fb_query(db, q, c, &hit);
		lat[i] = fb_now() - t0;
		sum += lat[i];
		asked += c->src >= 0;
		found += c->src >= 0 && hit;
	}
	if (err)
		return err;
	calls = i;
	qsort(lat, calls, sizeof(double), fb_cmp_double);
	printf("n=%zu p50_ms=%.3f p99_ms=%.3f mean_ms=%.3f hits=%zu/%zu\n",
	       calls, fb_pct_ms(lat, calls, 50), fb_pct_ms(lat, calls, 99),
	       1e3 * sum / (double)calls, found, asked);
	return 0;
}

static int fb_size_queries(sqlite3 *db, sqlite3_stmt *q, const char *dir,
			   long size, size_t calls, size_t rounds)
{
	double *lat = malloc(calls * sizeof(double));
	struct fb_cue *cues;
	size_t c, r, ncues;
	int err = 0;

	for (c = 0; c < FB_NCLASSES && !err && lat; c++) {
		cues = fb_cues_load(dir, size, fb_classes[c], &ncues);
		if (!cues || !ncues) {
			free(cues);
			err = -ENOENT;
			break;
		}
		for (r = 0; r < rounds && !err; r++) {
			printf("fts5 size=%ld class=%s round=%zu ", size,
			       fb_classes[c], r);
			err = fb_round(db, q, cues, ncues, calls, lat);
			fflush(stdout);
		}
		free(cues);
	}
	free(lat);
	return lat ? err : -ENOMEM;
}

static int fb_open(const char *file, sqlite3 **db)
{
	remove(file);
	if (sqlite3_open(file, db) != SQLITE_OK)
		return fb_sql_error(*db, "open the database");
	return fb_exec(*db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
		       "CREATE VIRTUAL TABLE ep USING fts5(body, "
		       "tokenize='porter unicode61')");
}

static long fb_file_bytes(const char *file)
{
	struct stat st;

	return stat(file, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	long have = 0, size;
	size_t calls, rounds;
	double t0;
	FILE *f;
	int i, err;

	if (argc < 8) {
		fprintf(stderr, "usage: fts5bench CORPUS DBFILE CUEDIR CALLS "
			"ROUNDS MAXSEC SIZE...\n");
		return 2;
	}
	calls = strtoul(argv[4], NULL, 10);
	rounds = strtoul(argv[5], NULL, 10);
	fb_max_seconds = strtod(argv[6], NULL);
	f = fopen(argv[1], "r");
	if (!f || !calls || !rounds) {
		fprintf(stderr, "fts5bench: cannot open '%s' or bad numbers\n",
			argv[1]);
		return 2;
	}
	err = fb_open(argv[2], &db);
	if (!err && sqlite3_prepare_v2(db, "SELECT rowid, substr(body, 1, 100) "
				       "FROM ep WHERE ep MATCH ?1 ORDER BY rank "
				       "LIMIT 10", -1, &q, NULL) != SQLITE_OK)
		err = fb_sql_error(db, "prepare the query");
	for (i = 7; i < argc && !err; i++) {
		size = strtol(argv[i], NULL, 10);
		t0 = fb_now();
		err = fb_fill(db, f, &have, size);
		if (err)
			break;
		printf("fts5-build size=%ld seconds=%.3f db_bytes=%ld\n", size,
		       fb_now() - t0, fb_file_bytes(argv[2]));
		err = fb_size_queries(db, q, argv[3], size, calls, rounds);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	fclose(f);
	return err ? 1 : 0;
}
