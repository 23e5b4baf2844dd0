/*
 * cmd_loadtest.c - engramctl loadtest: a seeded load against the mount,
 * figures per operation, and exit 1 when the scenario's SLOs are missed.
 *
 *   engramctl loadtest [--scenario NAME|FILE] [--duration S] [--warmup S]
 *                      [--threads N] [--seed N] [--report FILE] [--json]
 *                      [--soak DURATION [--sample-every S]] [--keep]
 *
 * Phases: load the scenario (loadtest_scenario.c); set its [flags] and
 * write whatever is missing of its corpus (not measured); run the threads
 * for warm-up plus duration (loadtest_run.c); remove the episodes the run
 * created (unless --keep) and put the flags back; report
 * (loadtest_report.c).  SIGINT/SIGTERM end the run early: the figures so
 * far are reported, the clean-up still happens, and the exit status is 1.
 *
 * --soak DURATION runs the scenario for DURATION instead of its
 * duration_s and samples the daemon every --sample-every seconds
 * (default 10): RSS, open fds, store size; the report adds the samples
 * and their growth.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadtest.h"

static volatile sig_atomic_t cmd_loadtest_stop;

static void cmd_loadtest_signal(int sig)
{
	(void)sig;
	cmd_loadtest_stop = 1;
}

struct cmd_loadtest {
	const char *scenario, *report;
	double duration, warmup, soak, every;
	uint64_t threads, seed;
	bool has_seed, keep;
};

/* Sleep until the run ends, sampling the daemon when soaking. */
static void cmd_loadtest_watch(struct lt_run *r, struct lt_soak *soak,
			       double every)
{
	double next = r->t_start, now;

	while (!cmd_loadtest_stop && (now = ctl_now()) < r->t_end) {
		if (soak && now >= next) {
			lt_soak_sample(soak, now - r->t_start, lt_run_ops(r));
			next += every;
		}
		usleep((useconds_t)(fmin(0.1, fmax(r->t_end - now, 0.001)) *
				    1e6));
	}
	if (soak)
		lt_soak_sample(soak, ctl_now() - r->t_start, lt_run_ops(r));
}

static int cmd_loadtest_run(struct ctl *c, struct lt_scenario *s,
			    const struct cmd_loadtest *o)
{
	struct lt_run run = { .c = c, .s = s, .keep = o->keep,
			      .stop = &cmd_loadtest_stop };
	struct sigaction sa = { .sa_handler = cmd_loadtest_signal };
	struct lt_soak soak;
	struct lt_result res;
	int r, missed;

	if (o->soak > 0 && lt_soak_init(c, &soak))
		return CTL_EXIT_FAIL;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = lt_run_prepare(&run);
	if (!r)
		r = lt_run_start(&run);
	if (r) {
		lt_run_finish(&run);
		if (o->soak > 0)
			lt_soak_release(&soak);
		return r;
	}
	cmd_loadtest_watch(&run, o->soak > 0 ? &soak : NULL, o->every);
	lt_run_wait(&run, &res);
	lt_run_finish(&run);
	missed = lt_report(c, s, &res, o->soak > 0 ? &soak : NULL, o->report);
	r = missed || res.interrupted ? CTL_EXIT_FAIL : 0;
	lt_result_release(&res);
	if (o->soak > 0)
		lt_soak_release(&soak);
	return r;
}

static int cmd_loadtest_opt(struct cmd_loadtest *o, int opt)
{
	bool ok = true;

	switch (opt) {
	case 's': o->scenario = optarg; break;
	case 'r': o->report = optarg; break;
	case 'k': o->keep = true; break;
	case 'd': ok = ctl_parse_duration(optarg, &o->duration); break;
	case 'w': ok = ctl_parse_duration(optarg, &o->warmup); break;
	case 'S': ok = ctl_parse_duration(optarg, &o->soak) && o->soak > 0;
		  break;
	case 'e': ok = ctl_parse_duration(optarg, &o->every) && o->every > 0;
		  break;
	case 't': ok = ctl_parse_u64(optarg, &o->threads) && o->threads &&
		       o->threads <= 1024;
		  break;
	case 'x': ok = o->has_seed = ctl_parse_u64(optarg, &o->seed); break;
	default: return -1;
	}
	return ok ? 0 : ctl_usage_error("bad value '%s' for an option",
					optarg);
}

int cmd_loadtest(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_COMMON_OPTIONS,
		{ "scenario", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 'x' },
		{ "report", required_argument, NULL, 'r' },
		{ "soak", required_argument, NULL, 'S' },
		{ "sample-every", required_argument, NULL, 'e' },
		{ "keep", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	struct cmd_loadtest o = { .scenario = "mixed", .duration = -1,
				  .warmup = -1, .every = 10 };
	struct lt_scenario s;
	int opt, r;

	while ((opt = ctl_getopt(c, argc, argv, "hs:d:t:", opts)) != -1) {
		r = cmd_loadtest_opt(&o, opt);
		if (r < 0)
			return ctl_usage(c, opt == 'h');
		if (r)
			return r;
	}
	if (optind != argc)
		return ctl_usage(c, false);
	if ((r = lt_scenario_load(o.scenario, &s))) {
		lt_scenario_release(&s);	/* what it read before failing */
		return r;
	}
	if (o.duration > 0)
		s.duration_s = o.duration;
	if (o.soak > 0)
		s.duration_s = o.soak;
	if (o.warmup >= 0)
		s.warmup_s = o.warmup;
	if (o.threads)
		s.threads = (unsigned)o.threads;
	if (o.has_seed)
		s.seed = o.seed;
	r = ctl_mount_resolve(c);
	if (!r)
		r = cmd_loadtest_run(c, &s, &o);
	lt_scenario_release(&s);
	return r;
}
