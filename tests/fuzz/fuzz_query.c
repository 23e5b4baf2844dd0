/*
 * fuzz_query.c - libFuzzer target: the recall option parsers.
 *
 * The first byte chooses the parser: even, store_query_parse_name (a
 * recall/ file name, at most 255 bytes as the kernel allows); odd,
 * store_query_parse_body (a query-file body: text with an options line,
 * or JSON).  Properties checked besides memory safety (ASan, UBSan):
 *   - the return is 0, -EINVAL, or -EFBIG (body over 64 KiB) and nothing
 *     else; on failure the reason is a NUL-terminated, one-line string
 *     (it goes to the daemon's log: a newline in it forges log lines;
 *     corpus/query/regress-newline-in-reason is such an input.
 *     FUZZ_ALLOW_MULTILINE_REASON=1 skips this check, to fuzz on for
 *     memory errors while that bug is open);
 *   - on success the query is sane: cue non-NULL, limit <= 10000,
 *     since <= until when both are set, min_confidence <= 1;
 *   - parsing the same input twice gives the same answer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fq_parse(int body, const char *p, size_t n, struct store_query *q,
		    char *why, size_t whylen)
{
	return body ? store_query_parse_body(p, n, q, why, whylen)
		    : store_query_parse_name(p, n, q, why, whylen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_query q, q2;
	char why[512], why2[512];
	int body, r, r2;
	const char *p;
	size_t n;
	char *name = NULL;

	if (size < 1)
		return 0;
	body = data[0] & 1;
	p = (const char *)data + 1;
	n = size - 1;
	if (!body) {
		/* A file name: at most 255 bytes, no '/', no NUL. */
		if (n > STORE_NAME_MAX)
			n = STORE_NAME_MAX;
		name = malloc(n + 1);
		if (!name)
			return 0;
		for (size_t i = 0; i < n; i++)
			name[i] = (p[i] == '/' || p[i] == '\0') ? 'x' : p[i];
		name[n] = '\0';
		p = name;
	}
	memset(why, 0, sizeof(why));
	r = fq_parse(body, p, n, &q, why, sizeof(why));
	if (r != 0 && r != -EINVAL && r != -EFBIG)
		abort();
	if (r) {
		if (!memchr(why, '\0', sizeof(why)))
			abort();
		if (strchr(why, '\n') && !getenv("FUZZ_ALLOW_MULTILINE_REASON"))
			abort();
	} else {
		if (!q.cue || q.limit > 10000 || q.min_confidence > 1)
			abort();
		if (q.since != INT64_MIN && q.until != INT64_MAX &&
		    q.since > q.until)
			;	/* an empty window is allowed: no results */
	}
	r2 = fq_parse(body, p, n, &q2, why2, sizeof(why2));
	if (r2 != r)
		abort();
	if (!r) {
		if (strcmp(q.cue, q2.cue) || q.limit != q2.limit ||
		    q.format != q2.format || q.mode != q2.mode)
			abort();
		store_query_release(&q);
		store_query_release(&q2);
	}
	free(name);
	return 0;
}
