/*
 * log.c - the store's log hook.
 *
 * The store never decides where lines go: the daemon routes them to stderr
 * or the journal, unit tests silence them.  The level is checked before
 * formatting, so a debug line costs a comparison when it is off.
 */
#include <stdarg.h>
#include <stdio.h>

#include "store_i.h"

static void log_stderr(int level, const char *msg)
{
	fprintf(stderr, "engram<%d>: %s\n", level, msg);
}

static store_log_fn *log_fn = log_stderr;
static int log_max_level = STORE_LOG_INFO;

void store_log_set(store_log_fn *fn, int max_level)
{
	log_fn = fn ? fn : log_stderr;
	log_max_level = max_level;
}

/*
 * One message, one line: control characters in what callers pass (a
 * recall name, a JSON key, a flag value) become '?', so nobody can forge
 * log lines through a file name.
 */
void store_log_sanitise(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void store_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	store_log_sanitise(msg);
	log_fn(level, msg);
}
