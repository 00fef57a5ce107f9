/*
 * jsonl.c - splits a byte stream into lines with a hard bound on line length.
 *
 * The bound on memory assumes the usual loop: feed, then jsonl_next() until it
 * returns 0. At that point at most max_line bytes of an unfinished line are held,
 * so a feed of len bytes brings the total to at most max_line + len.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "proto/buf.h"
#include "proto/jsonl.h"

struct jsonl_reader {
	struct buf *in;
	size_t max_line;
	size_t scanned;   /* held bytes from the front known to hold no '\n' */
	size_t seen;      /* bytes of the over-long line being discarded */
	int discarding;   /* dropping input up to the next '\n' */
	int report;       /* an over-long line awaits its report */
	int cr_held;      /* a final '\r' of a max_line line was dropped */
	int cr_eaten;     /* ... and the '\n' after it came: do not strip again */
};

struct jsonl_reader *
jsonl_new(size_t max_line)
{
	struct jsonl_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->in = buf_new(SIZE_MAX)) == NULL) {
		free(r);
		return NULL;
	}
	r->max_line = max_line;
	return r;
}

void
jsonl_free(struct jsonl_reader *r)
{
	if (r == NULL)
		return;
	buf_free(r->in);
	free(r);
}

static size_t
add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static void
start_discard(struct jsonl_reader *r, size_t seen, int report)
{
	buf_reset(r->in);
	r->scanned = 0;
	r->seen = seen;
	r->discarding = 1;
	r->report = report;
	r->cr_held = 0;
	r->cr_eaten = 0;
}

int
jsonl_feed(struct jsonl_reader *r, const void *data, size_t len)
{
	const char *p = data, *nl;

	if (len == 0)
		return 0;
	/*
	 * A held '\r' was the last byte a line of exactly max_line bytes could
	 * have; anything but '\n' after it makes the line too long.
	 */
	if (r->cr_held) {
		r->cr_held = 0;
		if (*p == '\n')
			r->cr_eaten = 1;
		else
			start_discard(r, add_sat(r->max_line, 1), 1);
	}
	/* The rest of an over-long line is dropped as it arrives, never held. */
	if (r->discarding) {
		if ((nl = memchr(p, '\n', len)) == NULL) {
			r->seen = add_sat(r->seen, len);
			return 0;
		}
		r->seen = add_sat(r->seen, (size_t)(nl - p));
		r->discarding = 0;
		len -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	if (buf_put(r->in, p, len) != 0)
		return PROTO_ERR_NOMEM;
	return 0;
}

static int
is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

int
jsonl_next(struct jsonl_reader *r, const char **line, size_t *len)
{
	const char *p, *nl;
	size_t held, n;

	if (r->report) {
		r->report = 0;
		*len = r->seen;
		return PROTO_ERR_LINE_TOO_LONG;
	}
	for (;;) {
		p = (const char *)buf_ptr(r->in);
		held = buf_len(r->in);
		nl = NULL;
		if (held > r->scanned)
			nl = memchr(p + r->scanned, '\n', held - r->scanned);
		if (nl == NULL)
			break;
		n = (size_t)(nl - p);
		/* buf_consume() only moves an offset: the bytes stay put. */
		buf_consume(r->in, n + 1);
		r->scanned = 0;
		if (r->cr_eaten)
			r->cr_eaten = 0;
		else if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > r->max_line) {
			*len = n;
			return PROTO_ERR_LINE_TOO_LONG;
		}
		if (is_blank(p, n))
			continue;
		*line = p;
		*len = n;
		return 1;
	}
	r->scanned = held;
	if (held > r->max_line) {
		/* max_line bytes and a '\r' may still end in a valid "\r\n". */
		if (held - 1 == r->max_line && p[held - 1] == '\r') {
			buf_unput(r->in, 1);
			r->scanned = held - 1;
			r->cr_held = 1;
			return 0;
		}
		*len = held;
		start_discard(r, held, 0);
		return PROTO_ERR_LINE_TOO_LONG;
	}
	return 0;
}

int
jsonl_finish(struct jsonl_reader *r, const char **line, size_t *len)
{
	const char *p;
	size_t n;
	int ret;

	if ((ret = jsonl_next(r, line, len)) != 0)
		return ret;
	/* An over-long line cut short by the end was reported by jsonl_next(). */
	p = (const char *)buf_ptr(r->in);
	n = buf_len(r->in);
	if (!r->cr_held && n > 0 && p[n - 1] == '\r')
		n--;
	buf_reset(r->in);
	r->scanned = 0;
	r->discarding = 0;
	r->seen = 0;
	r->cr_held = 0;
	r->cr_eaten = 0;
	if (is_blank(p, n))
		return 0;
	*line = p;
	*len = n;
	return 1;
}

size_t
jsonl_buffered(const struct jsonl_reader *r)
{
	return buf_len(r->in);
}
