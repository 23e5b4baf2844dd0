/*
 * rocksdb_sync.c - the durable-ingest reference of `make bench`: a plain
 * RocksDB put loop with sync=true, what one would write without engramfs.
 *
 *   rocksdb_sync CORPUS DBDIR N [THREADS]
 *
 * Puts key ep-%06d -> line I of CORPUS for I in 0..N-1, each put its own
 * WriteOptions.sync=true write (an fsync of the WAL per episode), from
 * THREADS threads (default 1; thread T takes I = T, T+THREADS, ...).
 * Several threads let RocksDB's write group commit concurrent puts with
 * one fsync, which is the trick the issue asks engramfs to play; one
 * thread is the plain loop.  Default options otherwise (create_if_missing),
 * so the reference is untuned RocksDB, as engramfs's store starts from.
 * Prints: rocksdb_sync puts=N threads=T seconds=S puts_per_s=R
 *
 * Rejected: batching several episodes into one WriteBatch (that is not
 * "durable per episode": a crash could lose the whole batch).
 */
#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RS_MAX_THREADS 64
#define RS_LINE_MAX    4096

struct rs_job {
	pthread_t tid;
	rocksdb_t *db;
	char **lines;
	size_t n, t, threads;
	int err;
};

static double rs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first N lines of CORPUS, newline kept (the episode's bytes). */
static char **rs_lines_load(const char *corpus, size_t n)
{
	char buf[RS_LINE_MAX], **v = calloc(n ? n : 1, sizeof(*v));
	FILE *f = fopen(corpus, "r");
	size_t i = 0;

	if (!f || !v) {
		fprintf(stderr, "rocksdb_sync: cannot read '%s': %s\n", corpus,
			strerror(errno));
		if (f)
			fclose(f);
		free(v);
		return NULL;
	}
	while (i < n && fgets(buf, sizeof(buf), f))
		if (!(v[i++] = strdup(buf)))
			break;
	fclose(f);
	if (i < n || !v[n - 1]) {
		fprintf(stderr, "rocksdb_sync: '%s' has fewer than %zu lines\n",
			corpus, n);
		while (i--)
			free(v[i]);
		free(v);
		return NULL;
	}
	return v;
}

static void *rs_thread(void *arg)
{
	struct rs_job *j = arg;
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	char key[32], *err = NULL;
	size_t i;

	rocksdb_writeoptions_set_sync(wo, 1);
	for (i = j->t; i < j->n && !err; i += j->threads) {
		snprintf(key, sizeof(key), "ep-%06zu", i);
		rocksdb_put(j->db, wo, key, strlen(key), j->lines[i],
			    strlen(j->lines[i]), &err);
	}
	if (err) {
		fprintf(stderr, "rocksdb_sync: cannot put: %s\n", err);
		rocksdb_free(err);
		j->err = 1;
	}
	rocksdb_writeoptions_destroy(wo);
	return NULL;
}

/* Run THREADS put loops over LINES; nonzero on any failure. */
static int rs_run(rocksdb_t *db, char **lines, size_t n, size_t threads)
{
	struct rs_job jobs[RS_MAX_THREADS];
	size_t t, started = 0;
	int err = 0;

	for (t = 0; t < threads; t++) {
		jobs[t] = (struct rs_job){ .db = db, .lines = lines, .n = n,
			.t = t, .threads = threads };
		if (pthread_create(&jobs[t].tid, NULL, rs_thread, &jobs[t])) {
			err = 1;
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++) {
		pthread_join(jobs[t].tid, NULL);
		err |= jobs[t].err;
	}
	return err;
}

int main(int argc, char **argv)
{
	rocksdb_options_t *opt;
	rocksdb_t *db;
	char **lines, *err = NULL;
	size_t n, threads, i;
	double t0, dt;
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: rocksdb_sync CORPUS DBDIR N [THREADS]\n");
		return 2;
	}
	n = strtoul(argv[3], NULL, 10);
	threads = argc > 4 ? strtoul(argv[4], NULL, 10) : 1;
	if (!n || !threads || threads > RS_MAX_THREADS)
		return 2;
	lines = rs_lines_load(argv[1], n);
	if (!lines)
		return 1;
	opt = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(opt, 1);
	db = rocksdb_open(opt, argv[2], &err);
	if (err) {
		fprintf(stderr, "rocksdb_sync: cannot open '%s': %s\n", argv[2], err);
		rocksdb_free(err);
		return 1;
	}
	t0 = rs_now();
	rc = rs_run(db, lines, n, threads);
	dt = rs_now() - t0;
	rocksdb_close(db);
	rocksdb_options_destroy(opt);
	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	if (rc)
		return 1;
	printf("rocksdb_sync puts=%zu threads=%zu seconds=%.4f puts_per_s=%.0f\n",
	       n, threads, dt, (double)n / dt);
	return 0;
}
