/*
 * fuzz_flag.c - libFuzzer target: the flag value parser.
 *
 * The first byte chooses the flag (modulo FLAG__COUNT), the rest is the
 * text written to flags/NAME.  Properties besides memory safety:
 *   - 0 or -EINVAL only; on -EINVAL a one-line reason;
 *   - an accepted value is inside the flag's range (booleans 0 or 1, an
 *     enum a valid choice index), finite;
 *   - round trip: the canonical text of the value (store_flag_format)
 *     parses again to the same value, and formats to the same text.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct store_flag_def *def;
	enum store_flag_id id;
	char why[256], text[128], text2[128];
	double v, v2;
	int r;

	if (size < 1)
		return 0;
	id = (enum store_flag_id)(data[0] % FLAG__COUNT);
	def = store_flag_def(id);
	memset(why, 0, sizeof(why));
	r = store_flag_parse(id, (const char *)data + 1, size - 1, &v, why,
			     sizeof(why));
	if (r == -EINVAL) {
		if (!memchr(why, '\0', sizeof(why)) || strchr(why, '\n') ||
		    !why[0])
			abort();
		return 0;
	}
	if (r != 0 || !isfinite(v))
		abort();
	switch (def->type) {
	case STORE_FLAG_BOOL:
		if (v != 0 && v != 1)
			abort();
		break;
	case STORE_FLAG_ENUM: {
		size_t n = 0;

		while (def->choices[n])
			n++;
		if (v < 0 || v >= (double)n || v != floor(v))
			abort();
		break;
	}
	case STORE_FLAG_INT:
		if (v != floor(v))
			abort();
		/* fall through */
	case STORE_FLAG_DOUBLE:
		if (v < def->min || v > def->max)
			abort();
		break;
	}
	store_flag_format(id, v, text, sizeof(text));
	if (store_flag_parse(id, text, strlen(text), &v2, why, sizeof(why)))
		abort();	/* the canonical text must parse */
	store_flag_format(id, v2, text2, sizeof(text2));
	if (strcmp(text, text2))
		abort();	/* and be a fixed point */
	return 0;
}
