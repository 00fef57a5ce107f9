/*
 * fuzz-marker.c - feeds the input to the bootstrap's marker decoder in pieces and
 * compares every event with a one-shot reading of the whole input, checking the
 * bounds on the way. An EXEC answer hands over: the bytes marker_dec_rest() gives
 * from then on must be exactly the rest of the input.
 *
 * The first byte picks the limits and the feed sizes: bits 7-6 max_line, bit 5
 * the tag, bit 4 the noise limit, bits 3-0 seed the generator and cap the size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/marker.h"
#include "tests/fuzz/fuzz.h"

static const size_t lines[4] = { 64, 8, 3, 0 };
static const char *const tags[2] = { "k", "Tag42" };
static const size_t noises[2] = { 0, 100 };

/* The reference: the whole input at once, in the simplest possible way. */
struct ref {
	const char *p;
	size_t n, off;
	const char *tag;
	size_t max_line, max_noise, noise;
	int bol, err;
	char word[MARKER_MAX_WORD + 1];
	char args[MARKER_DEFAULT_MAX_LINE + 1];
	int argc;
};

static int
ref_noise(struct ref *rf, size_t k)
{
	if (rf->noise + k > rf->max_noise)
		return rf->err = PROTO_ERR_TOO_LARGE;
	rf->noise += k;
	return 0;
}

/* Returns 1 (an answer in rf->word and rf->args, or noise in s, len and more),
 * 0 at the end, or the error. */
static int
ref_next(struct ref *rf, int *answer, const char **s, size_t *len, int *more)
{
	char prefix[MARKER_MAX_TAG + 6];
	const char *line, *nl, *body;
	size_t n, content, plen, blen, alen, w, i;

	if (rf->err)
		return rf->err;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "@@%s@@ ", rf->tag);
	while (rf->off < rf->n) {
		line = rf->p + rf->off;
		nl = memchr(line, '\n', rf->n - rf->off);
		n = nl != NULL ? (size_t)(nl - line) : rf->n - rf->off;
		content = n > 0 && line[n - 1] == '\r' ? n - 1 : n;
		if (rf->bol && n >= plen && memcmp(line, prefix, plen) == 0) {
			/* Too long wins: it is known before the end. */
			if (content > rf->max_line)
				return rf->err = PROTO_ERR_TOO_LARGE;
			if (nl == NULL)
				return rf->err = PROTO_ERR_INVALID;
			if (memchr(line, '\0', content) != NULL)
				return rf->err = PROTO_ERR_INVALID;
			body = line + plen;
			blen = content - plen;
			for (w = 0; w < blen && body[w] != ' '; w++)
				if (!((body[w] >= 'A' && body[w] <= 'Z') ||
				    (body[w] >= '0' && body[w] <= '9') || body[w] == '_'))
					return rf->err = PROTO_ERR_INVALID;
			if (w == 0 || w > MARKER_MAX_WORD)
				return rf->err = PROTO_ERR_INVALID;
			memcpy(rf->word, body, w);
			rf->word[w] = '\0';
			alen = w < blen ? blen - w - 1 : 0;
			memcpy(rf->args, body + w + (w < blen), alen);
			rf->args[alen] = '\0';
			rf->argc = alen > 0;
			for (i = 0; i < alen; i++)
				rf->argc += rf->args[i] == ' ';
			if (rf->argc > MARKER_MAX_ARGS)
				rf->argc = MARKER_MAX_ARGS;
			rf->off += n + 1;
			rf->bol = 1;
			*answer = 1;
			return 1;
		}
		*answer = 0;
		*s = line;
		if (content > rf->max_line) {
			if (ref_noise(rf, rf->max_line) != 0)
				return rf->err;
			rf->off += rf->max_line;
			rf->bol = 0;
			*len = rf->max_line;
			*more = 1;
			return 1;
		}
		if (ref_noise(rf, n + (nl != NULL)) != 0)
			return rf->err;
		rf->off += n + (nl != NULL);
		if (content == 0 && rf->bol)
			continue;
		rf->bol = 1;
		*len = content;
		*more = 0;
		return 1;
	}
	return 0;
}

/* Compares one result of the decoder with the reference; returns 1 on EXEC. */
static int
compare(struct ref *rf, int r, const struct marker_event *ev)
{
	const char *s = NULL;
	size_t len = 0, al;
	int want, answer = 0, more = 0, k;

	want = ref_next(rf, &answer, &s, &len, &more);
	if (r != want)
		abort();
	if (r != 1)
		return 0;
	if (!answer) {
		if (ev->kind != MARKER_EV_NOISE || ev->len != len || ev->more != more ||
		    len == 0 || memcmp(ev->noise, s, len) != 0 ||
		    memchr(ev->noise, '\n', len) != NULL || ev->word != NULL)
			abort();
		return 0;
	}
	if (ev->kind != MARKER_EV_ANSWER || strcmp(ev->word, rf->word) != 0 ||
	    strcmp(ev->args, rf->args) != 0 || ev->argc != rf->argc ||
	    ev->noise != NULL)
		abort();
	/* argv joined by single spaces is args. */
	for (al = 0, k = 0; k < ev->argc; k++) {
		len = strlen(ev->argv[k]);
		if (memcmp(ev->args + al, ev->argv[k], len) != 0)
			abort();
		al += len;
		if (k + 1 < ev->argc && ev->args[al++] != ' ')
			abort();
	}
	if (al != strlen(ev->args))
		abort();
	return strcmp(ev->word, "EXEC") == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct marker_limits lim;
	struct marker_dec *d;
	struct marker_event ev;
	struct ref *rf;
	const char *in;
	const uint8_t *p;
	size_t n, off, k, cap, bound, plen, got, taken = 0;
	unsigned int x;
	int r = 0, exec = 0, stop = 0;

	if (size == 0)
		return 0;
	if ((rf = calloc(1, sizeof(*rf))) == NULL)
		abort();
	in = (const char *)data + 1;
	n = size - 1;
	rf->p = in;
	rf->n = n;
	rf->bol = 1;
	rf->tag = tags[(data[0] >> 5) & 1];
	memset(&lim, 0, sizeof(lim));
	lim.max_line = lines[data[0] >> 6];
	lim.max_noise = noises[(data[0] >> 4) & 1];
	rf->max_line = lim.max_line ? lim.max_line : MARKER_DEFAULT_MAX_LINE;
	rf->max_noise = lim.max_noise ? lim.max_noise : MARKER_DEFAULT_MAX_NOISE;
	plen = strlen(rf->tag) + 5;
	bound = rf->max_line + 1 > plen - 1 ? rf->max_line + 1 : plen - 1;
	cap = (size_t)(data[0] & 0x0f) * 11 + 1;
	x = data[0] | 0x100;
	if ((d = marker_dec_new(rf->tag, &lim)) == NULL)
		abort();
	for (off = 0; off < n && !stop; off += k) {
		x = x * 1103515245 + 12345;
		k = (x >> 16) % (cap + 1);
		if (k > n - off)
			k = n - off;
		if (marker_dec_feed(d, in + off, k) != 0)
			abort();
		if (exec) {
			/* After the hand-over every byte comes back as it was. */
			got = marker_dec_rest(d, &p);
			if (got != k || memcmp(p, in + off, k) != 0 ||
			    marker_dec_next(d, &ev) != 0)
				abort();
			continue;
		}
		if (marker_dec_buffered(d) > bound + k)
			abort();
		while ((r = marker_dec_next(d, &ev)) != 0) {
			if (compare(rf, r, &ev)) {
				exec = 1;
				taken = marker_dec_rest(d, &p);
				/* The rest starts where the reference stopped and
				 * holds what was fed so far. */
				if (taken != off + k - rf->off ||
				    memcmp(p, in + rf->off, taken) != 0)
					abort();
				break;
			}
			if (r < 0) {
				if (marker_dec_next(d, &ev) != r ||
				    marker_dec_feed(d, "", 0) != r ||
				    marker_dec_reason(d)[0] == '\0')
					abort();
				stop = 1;
				break;
			}
		}
		if (!stop && !exec && marker_dec_buffered(d) > bound)
			abort();
	}
	if (!stop && !exec) {
		while ((r = marker_dec_finish(d, &ev)) != 0) {
			compare(rf, r, &ev);
			if (r < 0)
				break;
		}
		if (r == 0) {
			compare(rf, 0, &ev);
			if (marker_dec_buffered(d) != 0)
				abort();
		}
	}
	if (exec && (marker_dec_finish(d, &ev) != 0 || marker_dec_buffered(d) != 0))
		abort();
	marker_dec_free(d);
	free(rf);
	return 0;
}
