/*
 * marker.c - splits a shell's stdout into the bootstrap's answers and noise.
 *
 * feed() only appends: lines are cut one per next() call, so nothing past the
 * line of the last event has been interpreted when the caller takes the rest.
 * Which bytes form an event depends only on the bytes, never on where feeds
 * ended: a line is cut into pieces, or an answer line declared too long, only
 * once more than max_line bytes of content are certain, and a held '\r' right
 * after max_line bytes may still be the first half of "\r\n".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "bootstrap/marker.h"

struct marker_dec {
	struct buf *in;
	char prefix[MARKER_MAX_TAG + 6];   /* "@@" tag "@@ " */
	size_t plen;
	size_t max_line, max_noise;
	size_t noise;       /* noise bytes consumed so far */
	size_t scanned;     /* held bytes from the front known to hold no '\n' */
	int bol;            /* the front of in is the start of a line */
	int rest;           /* marker_dec_rest() was called: no more parsing */
	int err;
	char why[96];
	char *text;         /* word, args and split args of the last answer */
	size_t textcap;
};

static int fail(struct marker_dec *d, int err, const char *fmt, ...)
    PROTO_PRINTF(3, 4);

static int
fail(struct marker_dec *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->err = err;
	return err;
}

static int
is_tag_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

static int
is_word_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

struct marker_dec *
marker_dec_new(const char *tag, const struct marker_limits *lim)
{
	struct marker_dec *d;
	size_t tlen, i, max_buffer = 0, floor;

	tlen = strnlen(tag, MARKER_MAX_TAG + 1);
	if (tlen == 0 || tlen > MARKER_MAX_TAG)
		return NULL;
	for (i = 0; i < tlen; i++)
		if (!is_tag_char((unsigned char)tag[i]))
			return NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	snprintf(d->prefix, sizeof(d->prefix), "@@%s@@ ", tag);
	d->plen = tlen + 5;
	d->max_line = MARKER_DEFAULT_MAX_LINE;
	d->max_noise = MARKER_DEFAULT_MAX_NOISE;
	if (lim != NULL) {
		if (lim->max_line != 0)
			d->max_line = lim->max_line;
		if (lim->max_noise != 0)
			d->max_noise = lim->max_noise;
		max_buffer = lim->max_buffer;
	}
	/* Keeps max_line + 2 and the text's 2 * max_line + 3 from wrapping. */
	if (d->max_line > SIZE_MAX / 4)
		d->max_line = SIZE_MAX / 4;
	if (max_buffer == 0)
		max_buffer = MARKER_DEFAULT_MAX_BUFFER;
	floor = (d->max_line > d->plen ? d->max_line : d->plen) + 2;
	if (max_buffer < floor)
		max_buffer = floor;
	if ((d->in = buf_new(max_buffer)) == NULL) {
		free(d);
		return NULL;
	}
	d->bol = 1;
	return d;
}

void
marker_dec_free(struct marker_dec *d)
{
	if (d == NULL)
		return;
	buf_free(d->in);
	free(d->text);
	free(d);
}

int
marker_dec_feed(struct marker_dec *d, const void *data, size_t len)
{
	if (d->err)
		return d->err;
	switch (buf_put(d->in, data, len)) {
	case 0:
		return 0;
	case PROTO_ERR_TOO_LARGE:
		return PROTO_ERR_FULL;
	default:
		return PROTO_ERR_NOMEM;
	}
}

/* Drops n bytes of the front that hold no '\n' (or all of a line with it). */
static void
consume(struct marker_dec *d, size_t n)
{
	buf_consume(d->in, n);
	d->scanned = d->scanned > n ? d->scanned - n : 0;
}

/*
 * True when more than max_line bytes of content are certain in the held bytes
 * with no line end: a '\r' that is the (max_line + 1)th byte may end the line.
 */
static int
over_line(const struct marker_dec *d, const uint8_t *p, size_t held)
{
	return held > d->max_line + 1 ||
	    (held == d->max_line + 1 && p[held - 1] != '\r');
}

static int
count_noise(struct marker_dec *d, size_t n)
{
	if (n > d->max_noise - d->noise)
		return fail(d, PROTO_ERR_TOO_LARGE,
		    "too much output before the bootstrap answered "
		    "(more than %zu bytes)", d->max_noise);
	d->noise += n;
	return 0;
}

/* Parses the answer line p[0..len) (prefix included, no line end) into d->text. */
static int
answer(struct marker_dec *d, const uint8_t *p, size_t len, struct marker_event *ev)
{
	const uint8_t *body = p + d->plen;
	size_t blen = len - d->plen, w, alen, need, i;
	char *t, *a, *s, *nt;
	int argc = 0;

	if (memchr(p, '\0', len) != NULL)
		return fail(d, PROTO_ERR_INVALID, "NUL byte in an answer line");
	for (w = 0; w < blen && body[w] != ' '; w++)
		if (!is_word_char(body[w]))
			return fail(d, PROTO_ERR_INVALID,
			    "answer word with byte 0x%02x", body[w]);
	if (w == 0)
		return fail(d, PROTO_ERR_INVALID, "empty answer word");
	if (w > MARKER_MAX_WORD)
		return fail(d, PROTO_ERR_INVALID,
		    "answer word of %zu bytes (at most %u)", w, MARKER_MAX_WORD);
	alen = w < blen ? blen - w - 1 : 0;
	need = w + 2 * alen + 3;
	if (need > d->textcap) {
		if ((nt = realloc(d->text, need)) == NULL)
			return fail(d, PROTO_ERR_NOMEM, "out of memory");
		d->text = nt;
		d->textcap = need;
	}
	t = d->text;
	memcpy(t, body, w);
	t[w] = '\0';
	a = t + w + 1;
	if (alen > 0)
		memcpy(a, body + w + 1, alen);
	a[alen] = '\0';
	s = a + alen + 1;
	memcpy(s, a, alen + 1);
	memset(ev, 0, sizeof(*ev));
	if (alen > 0) {
		ev->argv[argc++] = s;
		for (i = 0; i < alen && argc < MARKER_MAX_ARGS; i++) {
			if (s[i] == ' ') {
				s[i] = '\0';
				ev->argv[argc++] = s + i + 1;
			}
		}
	}
	ev->kind = MARKER_EV_ANSWER;
	ev->word = t;
	ev->args = a;
	ev->argc = argc;
	return 1;
}

static void
noise_event(struct marker_event *ev, const uint8_t *p, size_t len, int more)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = MARKER_EV_NOISE;
	ev->noise = (const char *)p;
	ev->len = len;
	ev->more = more;
}

static int
step(struct marker_dec *d, struct marker_event *ev, int eof)
{
	const uint8_t *p, *nl;
	size_t held, n, content, k;
	int r, was_bol;

	if (d->err)
		return d->err;
	if (d->rest)
		return 0;
	for (;;) {
		p = buf_ptr(d->in);
		held = buf_len(d->in);
		if (held == 0)
			return 0;
		nl = NULL;
		if (held > d->scanned)
			nl = memchr(p + d->scanned, '\n', held - d->scanned);
		if (nl == NULL)
			d->scanned = held;
		n = nl != NULL ? (size_t)(nl - p) : held;
		/* Bytes of the line without its end, when the end is known. */
		content = n > 0 && p[n - 1] == '\r' ? n - 1 : n;

		if (d->bol && memcmp(p, d->prefix, n < d->plen ? n : d->plen) == 0) {
			if (n >= d->plen) {
				if (nl != NULL ? content > d->max_line :
				    over_line(d, p, held))
					return fail(d, PROTO_ERR_TOO_LARGE,
					    "answer line too long (more than "
					    "%zu bytes)", d->max_line);
				if (nl == NULL && eof)
					return fail(d, PROTO_ERR_INVALID,
					    "output ended inside an answer line");
				if (nl == NULL)
					return 0;
				if ((r = answer(d, p, content, ev)) != 1)
					return r;
				consume(d, n + 1);
				d->bol = 1;
				return 1;
			}
			/* Could still become the prefix. */
			if (nl == NULL && !eof)
				return 0;
		}

		/* Noise. */
		if (nl == NULL && !eof) {
			if (!over_line(d, p, held))
				return 0;
			content = held;     /* more than max_line, that is all we need */
		}
		if (content > d->max_line) {
			if ((r = count_noise(d, d->max_line)) != 0)
				return r;
			consume(d, d->max_line);
			d->bol = 0;
			noise_event(ev, p, d->max_line, 1);
			return 1;
		}
		k = nl != NULL ? n + 1 : held;
		if ((r = count_noise(d, k)) != 0)
			return r;
		consume(d, k);
		was_bol = d->bol;
		d->bol = 1;
		/* An empty line is not worth an event; the end of a long one is. */
		if (content == 0 && was_bol)
			continue;
		noise_event(ev, p, content, 0);
		return 1;
	}
}

int
marker_dec_next(struct marker_dec *d, struct marker_event *ev)
{
	return step(d, ev, 0);
}

int
marker_dec_finish(struct marker_dec *d, struct marker_event *ev)
{
	return step(d, ev, 1);
}

const char *
marker_dec_reason(const struct marker_dec *d)
{
	return d->err ? d->why : "";
}

size_t
marker_dec_rest(struct marker_dec *d, const uint8_t **p)
{
	size_t n;

	d->rest = 1;
	*p = buf_ptr(d->in);
	if (d->err)
		return 0;
	n = buf_len(d->in);
	/* buf_consume() only moves an offset: the bytes stay until the next feed. */
	consume(d, n);
	return n;
}

size_t
marker_dec_buffered(const struct marker_dec *d)
{
	return buf_len(d->in);
}
