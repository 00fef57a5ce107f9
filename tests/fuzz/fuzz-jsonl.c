/*
 * fuzz-jsonl.c - feeds the input to the line reader in pieces and compares every
 * result with a one-shot split of the whole input, checking the bounds on the way.
 *
 * The first byte picks the bound (its top two bits) and the feed sizes (the rest
 * seeds the generator and caps the size).
 */
#include <stdlib.h>
#include <string.h>

#include "proto/jsonl.h"
#include "tests/fuzz/fuzz.h"

static const size_t bounds[4] = { 64, 8, 1, 0 };

/* The reference: the whole input at once, in the simplest possible way. */
struct ref {
	const char *p;
	size_t n, off, max_line;
};

static int
ref_next(struct ref *rf, const char **line, size_t *len)
{
	const char *s, *nl;
	size_t n, i;
	int blank;

	while (rf->off < rf->n) {
		s = rf->p + rf->off;
		nl = memchr(s, '\n', rf->n - rf->off);
		n = nl != NULL ? (size_t)(nl - s) : rf->n - rf->off;
		rf->off += n + (nl != NULL);
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > rf->max_line) {
			*len = n;
			return PROTO_ERR_LINE_TOO_LONG;
		}
		for (blank = 1, i = 0; i < n; i++)
			if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
				blank = 0;
		if (!blank) {
			*line = s;
			*len = n;
			return 1;
		}
	}
	return 0;
}

static void
compare(struct ref *rf, int r, const char *line, size_t len)
{
	const char *wline = NULL;
	size_t wlen = 0;
	int want;

	want = ref_next(rf, &wline, &wlen);
	if (r != want)
		abort();
	if (r == 1 && (len != wlen || len > rf->max_line ||
	    memcmp(line, wline, len) != 0 || memchr(line, '\n', len) != NULL))
		abort();
	/* A report counts raw bytes, so a CR the reference stripped may be in. */
	if (r == PROTO_ERR_LINE_TOO_LONG &&
	    (len <= rf->max_line || len > wlen + 1))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonl_reader *rd;
	struct ref rf;
	const char *in, *line;
	size_t n, off, k, len, cap;
	unsigned int x;
	int r;

	if (size == 0)
		return 0;
	in = (const char *)data + 1;
	n = size - 1;
	memset(&rf, 0, sizeof(rf));
	rf.p = in;
	rf.n = n;
	rf.max_line = bounds[data[0] >> 6];
	cap = (size_t)(data[0] & 0x3f) * 3 + 1;
	x = data[0] | 0x100;
	if ((rd = jsonl_new(rf.max_line)) == NULL)
		abort();
	for (off = 0; off < n; off += k) {
		x = x * 1103515245 + 12345;
		k = (x >> 16) % (cap + 1);
		if (k > n - off)
			k = n - off;
		if (jsonl_feed(rd, in + off, k) != 0)
			abort();
		if (jsonl_buffered(rd) > rf.max_line + k)
			abort();
		while ((r = jsonl_next(rd, &line, &len)) != 0)
			compare(&rf, r, line, len);
		if (jsonl_buffered(rd) > rf.max_line)
			abort();
	}
	while ((r = jsonl_finish(rd, &line, &len)) != 0)
		compare(&rf, r, line, len);
	compare(&rf, 0, NULL, 0);
	if (jsonl_buffered(rd) != 0)
		abort();
	jsonl_free(rd);
	return 0;
}
