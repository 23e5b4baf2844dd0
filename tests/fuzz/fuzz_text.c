/*
 * fuzz_text.c - libFuzzer target: text analysis and snippets (store_i.h:
 * text_analyze, text_snippet), what every commit and every recall result
 * runs on user bytes.
 *
 * The first byte is the snippet length in characters; the rest is the
 * text.  Properties besides memory safety:
 *   - text_analyze: terms unique and sorted by strcmp, each non-empty,
 *     at most 64 bytes, valid UTF-8, with tf >= 1; the tf sum of the
 *     terms that are not stop words equals the document length;
 *   - text_snippet: valid UTF-8, no control byte (0x00-0x1f, 0x7f), at most
 *     NCHARS characters, no two spaces in a row.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_i.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid. */
static size_t ft_utf8(const unsigned char *p, size_t n)
{
	size_t k;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		k = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		k = 4, c = p[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (k == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return k;
}

/* Valid UTF-8; *chars gets the number of characters. */
static int ft_valid(const char *s, size_t n, size_t *chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, c = 0, k;

	while (i < n) {
		k = ft_utf8(p + i, n - i);
		if (!k)
			return 0;
		i += k;
		c++;
	}
	*chars = c;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct text_terms t = { 0 };
	size_t nchars, chars, len;
	uint64_t tfsum = 0;
	char *snip = NULL;

	if (size < 1)
		return 0;
	nchars = data[0];
	if (text_analyze((const char *)data + 1, size - 1, &t))
		abort();
	for (size_t i = 0; i < t.n; i++) {
		len = strlen(t.v[i].term);
		if (!len || len > 64 || t.v[i].tf < 1 ||
		    !ft_valid(t.v[i].term, len, &chars))
			abort();
		if (i && strcmp(t.v[i - 1].term, t.v[i].term) >= 0)
			abort();
		tfsum += t.v[i].stop ? 0 : t.v[i].tf;
	}
	if (tfsum != t.length)
		abort();
	text_terms_release(&t);
	if (text_snippet((const char *)data + 1, size - 1, nchars, &snip))
		abort();
	len = strlen(snip);
	if (!ft_valid(snip, len, &chars) || chars > nchars)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)snip[i];

		if (c < 0x20 || c == 0x7f)
			abort();
		if (c == ' ' && i && snip[i - 1] == ' ')
			abort();
	}
	free(snip);
	return 0;
}
