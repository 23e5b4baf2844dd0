/*
 * fuzz_config.c - libFuzzer target: the config file parser (libinih with
 * our line reader, store_config_load).
 *
 * The input is written to a temporary file, which store_config_load reads.
 * Properties besides memory safety:
 *   - 0 or -EINVAL; on -EINVAL, *errors is non-empty and every line of it
 *     starts with the file name and a line number ("FILE:N: ...");
 *     on 0, *errors is NULL or empty;
 *   - every value marked set is inside its flag's range.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fc_path[64];
static int fc_fd = -1;

static void fc_quiet(int level, const char *msg)
{
	(void)level;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_config cfg;
	char *errors = NULL;
	int r;

	if (fc_fd < 0) {
		const char *tmp = getenv("TMPDIR");

		store_log_set(fc_quiet, STORE_LOG_ERR);
		snprintf(fc_path, sizeof(fc_path), "%s/fuzz-config-XXXXXX",
			 tmp ? tmp : "/tmp");
		fc_fd = mkstemp(fc_path);
		if (fc_fd < 0)
			abort();
	}
	if (ftruncate(fc_fd, 0) || pwrite(fc_fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&cfg, 0, sizeof(cfg));
	r = store_config_load(fc_path, &cfg, &errors);
	if (r == 0) {
		if (errors && *errors)
			abort();
		for (int id = 0; id < FLAG__COUNT; id++) {
			const struct store_flag_def *def = store_flag_def(id);

			if (!cfg.set[id] || def->type == STORE_FLAG_BOOL ||
			    def->type == STORE_FLAG_ENUM)
				continue;
			if (cfg.value[id] < def->min || cfg.value[id] > def->max)
				abort();
		}
	} else if (r == -EINVAL) {
		size_t plen = strlen(fc_path);
		const char *line = errors;

		if (!errors || !*errors)
			abort();
		while (line && *line) {
			if (strncmp(line, fc_path, plen) || line[plen] != ':')
				abort();
			line = strchr(line, '\n');
			if (line)
				line++;
		}
	} else {
		abort();
	}
	free(errors);
	return 0;
}
