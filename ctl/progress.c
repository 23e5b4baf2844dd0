/*
 * progress.c - progress of a bulk verb (import, export) on stderr.
 *
 * On a terminal one line is redrawn in place, at most every 100 ms:
 *
 *   import  4521/10000  45%  1523/s  eta 0:04
 *
 * Otherwise (a log, a pipe, CI) a plain line every CTL_PROGRESS_EVERY
 * items, so that a log shows steady progress without a line per item:
 *
 *   import: 4000/10000 items, 1523/s, eta 4s
 *
 * The rate is the average since the start: bulk moves are steady, and an
 * average does not jump around on a terminal.  Counters are updated by
 * worker threads under one mutex; the cost (a lock per item) is nothing
 * next to the file operations each item makes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"

struct ctl_progress {
	pthread_mutex_t lock;
	const char *what;
	uint64_t done, total, next_line;
	double start, last_draw;
	bool tty, quiet, drawn;
};

struct ctl_progress *ctl_progress_new(const char *what, uint64_t total,
				      bool quiet)
{
	struct ctl_progress *p = ctl_xmalloc(sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	p->what = what;
	p->done = 0;
	p->total = total;
	p->next_line = CTL_PROGRESS_EVERY;
	p->start = ctl_now();
	p->last_draw = 0;
	p->tty = isatty(STDERR_FILENO);
	p->quiet = quiet;
	p->drawn = false;
	return p;
}

void ctl_progress_set_total(struct ctl_progress *p, uint64_t total)
{
	pthread_mutex_lock(&p->lock);
	p->total = total;
	pthread_mutex_unlock(&p->lock);
}

static void ctl_progress_eta(const struct ctl_progress *p, double rate,
			     char *buf, size_t size)
{
	double left;
	long s;

	if (!p->total || rate <= 0 || p->done > p->total) {
		snprintf(buf, size, "?");
		return;
	}
	left = (double)(p->total - p->done) / rate;
	s = (long)(left + 0.5);
	if (p->tty)
		snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
	else
		snprintf(buf, size, "%lds", s);
}

static void ctl_progress_draw(struct ctl_progress *p, double now)
{
	double el = now - p->start, rate = el > 0 ? (double)p->done / el : 0;
	char eta[32], tot[32] = "";

	ctl_progress_eta(p, rate, eta, sizeof(eta));
	if (p->total)
		snprintf(tot, sizeof(tot), "/%llu",
			 (unsigned long long)p->total);
	if (p->tty) {
		fprintf(stderr, "\r%s  %llu%s", p->what,
			(unsigned long long)p->done, tot);
		if (p->total)
			fprintf(stderr, "  %3d%%",
				(int)(100.0 * (double)p->done /
				      (double)p->total));
		fprintf(stderr, "  %.0f/s  eta %s\033[K", rate, eta);
	} else {
		fprintf(stderr, "%s: %llu%s items, %.0f/s, eta %s\n", p->what,
			(unsigned long long)p->done, tot, rate, eta);
	}
	p->drawn = true;
	p->last_draw = now;
}

void ctl_progress_add(struct ctl_progress *p, uint64_t n)
{
	double now;

	pthread_mutex_lock(&p->lock);
	p->done += n;
	if (!p->quiet) {
		if (p->tty) {
			now = ctl_now();
			if (now - p->last_draw >= 0.1)
				ctl_progress_draw(p, now);
		} else if (p->done >= p->next_line) {
			p->next_line = (p->done / CTL_PROGRESS_EVERY + 1) *
				       CTL_PROGRESS_EVERY;
			ctl_progress_draw(p, ctl_now());
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void ctl_progress_done(struct ctl_progress *p)
{
	if (!p->quiet && (p->tty || p->done % CTL_PROGRESS_EVERY)) {
		ctl_progress_draw(p, ctl_now());
		if (p->tty)
			fputc('\n', stderr);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}
