/*
 * config.c - the -o config=FILE file: applied at start, on
 * `echo reload > ctl`, and when the file changes (inotify).
 *
 * A reload parses and validates the whole file first
 * (store_config_load); a file with any problem is refused as a whole,
 * every problem is logged ("FILE:LINE: key 'k': reason") and the running
 * values stay.  A clean file is applied by store_config_apply, which sets
 * only the keys whose value in the file changed since the last applied
 * file, so runtime writes to flags/ survive an unrelated edit.  One reload
 * at a time (fs->config_lock).
 *
 * The watcher watches the file's directory, not the file: editors and
 * config management replace files by rename, which would end a watch on
 * the old inode.  Events naming the file (written and closed, moved or
 * created there) start a quiet period of EFS_CONFIG_SETTLE_MS; the reload
 * runs when no further event came in it, so a save in several writes is
 * read once, complete, well within the one second the design allows.
 */
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "efs.h"

#define EFS_CONFIG_SETTLE_MS 200

struct efs_watch {
	pthread_t thread;
	int ifd;		/* inotify */
	int stopfd;		/* eventfd: stop the thread */
	char *base;		/* file name within the directory */
};

int efs_config_reload(struct efs *fs, const char *source)
{
	struct store_config cfg;
	char *errors = NULL;
	size_t applied = 0;
	int r;

	pthread_mutex_lock(&fs->config_lock);
	r = store_config_load(fs->config, &cfg, &errors);
	if (r < 0) {
		char *line, *save = NULL;

		if (!errors || !*errors)
			efs_log(LOG_ERR, "config '%s': %s", fs->config,
				strerror(-r));
		for (line = errors ? strtok_r(errors, "\n", &save) : NULL;
		     line; line = strtok_r(NULL, "\n", &save))
			efs_log(LOG_ERR, "%s", line);
		efs_log(LOG_ERR, "config '%s': refused (%s), running values "
			"unchanged", fs->config, source);
		goto out;
	}
	r = store_config_apply(fs->st, &cfg, &applied);
	if (r < 0)
		efs_log(LOG_ERR, "config '%s': apply failed: %s", fs->config,
			strerror(-r));
	else
		efs_log(applied ? LOG_NOTICE : LOG_INFO,
			"config '%s': %zu key%s applied (%s)", fs->config,
			applied, applied == 1 ? "" : "s", source);
out:
	free(errors);
	pthread_mutex_unlock(&fs->config_lock);
	return r;
}

/* Did the events in BUF/LEN touch our file? */
static bool efs_watch_hit(const struct efs_watch *w, const char *buf,
			  ssize_t len)
{
	const char *p = buf;

	while (p < buf + len) {
		const struct inotify_event *ev = (const void *)p;

		if (ev->mask & IN_Q_OVERFLOW)
			return true;	/* events were lost: look anyway */
		if (ev->len && !strcmp(ev->name, w->base))
			return true;
		p += sizeof(*ev) + ev->len;
	}
	return false;
}

static void *efs_watch_main(void *arg)
{
	struct efs *fs = arg;
	struct efs_watch *w = fs->watch;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool pending = false;

	for (;;) {
		struct pollfd pfd[2] = { { w->ifd, POLLIN, 0 },
					 { w->stopfd, POLLIN, 0 } };
		int n = poll(pfd, 2, pending ? EFS_CONFIG_SETTLE_MS : -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (pfd[1].revents & POLLIN))
			break;
		if (n == 0) {
			pending = false;
			(void)efs_config_reload(fs, "file changed");
			continue;
		}
		if (pfd[0].revents & POLLIN) {
			ssize_t len = read(w->ifd, buf, sizeof(buf));

			if (len > 0 && efs_watch_hit(w, buf, len))
				pending = true;
		}
	}
	return NULL;
}

int efs_config_watch_start(struct efs *fs)
{
	struct efs_watch *w = calloc(1, sizeof(*w));
	char *dircopy = NULL, *basecopy = NULL;
	sigset_t all, old;
	int r = -ENOMEM;

	if (!w || !(dircopy = strdup(fs->config)) ||
	    !(basecopy = strdup(fs->config)) ||
	    !(w->base = strdup(basename(basecopy))))
		goto fail;
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	w->stopfd = eventfd(0, EFD_CLOEXEC);
	if (w->ifd < 0 || w->stopfd < 0 ||
	    inotify_add_watch(w->ifd, dirname(dircopy),
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
		r = -errno;
		goto fail;
	}
	fs->watch = w;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&w->thread, NULL, efs_watch_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		fs->watch = NULL;
		goto fail;
	}
	free(dircopy);
	free(basecopy);
	return 0;
fail:
	efs_log(LOG_WARNING, "config '%s': cannot watch: %s", fs->config,
		strerror(-r));
	if (w) {
		if (w->ifd > 0)
			close(w->ifd);
		if (w->stopfd > 0)
			close(w->stopfd);
		free(w->base);
		free(w);
	}
	free(dircopy);
	free(basecopy);
	return r;
}

void efs_config_watch_stop(struct efs *fs)
{
	struct efs_watch *w = fs->watch;
	uint64_t one = 1;

	if (!w)
		return;
	if (write(w->stopfd, &one, sizeof(one)) != sizeof(one))
		efs_log(LOG_WARNING, "config watcher: cannot stop: %s",
			strerror(errno));
	else
		pthread_join(w->thread, NULL);
	fs->watch = NULL;
	close(w->ifd);
	close(w->stopfd);
	free(w->base);
	free(w);
}
