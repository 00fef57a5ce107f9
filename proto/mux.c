#include <stdlib.h>
#include <string.h>

#include "proto/mux.h"

struct mux_dec {
	uint8_t b[MUX_HDR + MUX_MAX_BODY];
	size_t off;	/* start of what is not handed out yet */
	size_t len;	/* end of what was fed */
	int err;
};

struct mux_dec *
mux_dec_new(void)
{
	return calloc(1, sizeof(struct mux_dec));
}

void
mux_dec_free(struct mux_dec *d)
{
	free(d);
}

size_t
mux_room(const struct mux_dec *d)
{
	return sizeof(d->b) - (d->len - d->off);
}

size_t
mux_pending(const struct mux_dec *d)
{
	return d->len - d->off;
}

int
mux_feed(struct mux_dec *d, const void *data, size_t len)
{
	if (len > mux_room(d))
		return PROTO_ERR_FULL;
	if (d->off > 0) {
		memmove(d->b, d->b + d->off, d->len - d->off);
		d->len -= d->off;
		d->off = 0;
	}
	if (len > 0)
		memcpy(d->b + d->len, data, len);
	d->len += len;
	return 0;
}

static size_t
max_body(int type)
{
	switch (type) {
	case MUX_OPEN:
		return 2 + 64;
	case MUX_OPENED:
		return 1;
	case MUX_DATA:
		return MUX_MAX_BODY;
	case MUX_EOF:
	case MUX_CHECK:
	case MUX_QUIT:
	case MUX_PROBE:
		return 0;
	case MUX_FAIL:
		return 1 + MUX_MAX_TEXT;
	case MUX_STDERR:
	case MUX_EXIT:
	case MUX_INFO:
		return MUX_MAX_TEXT;
	default:
		return (size_t)-1;
	}
}

int
mux_next(struct mux_dec *d, struct mux_msg *m)
{
	const uint8_t *p;
	uint32_t n;
	size_t max;

	if (d->err != 0)
		return d->err;
	if (d->len - d->off < MUX_HDR)
		return 0;
	p = d->b + d->off;
	n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n < 1 || n - 1 > MUX_MAX_BODY)
		return d->err = PROTO_ERR_TOO_LARGE;
	max = max_body(p[4]);
	if (max == (size_t)-1 || n - 1 > max ||
	    ((p[4] == MUX_DATA || p[4] == MUX_OPENED) && n - 1 == 0) ||
	    (p[4] == MUX_OPEN && n - 1 < 3) || (p[4] == MUX_FAIL && n - 1 < 1))
		return d->err = PROTO_ERR_INVALID;
	if (d->len - d->off < 4 + (size_t)n)
		return 0;
	m->type = p[4];
	m->body = p + MUX_HDR;
	m->len = n - 1;
	d->off += 4 + (size_t)n;
	return 1;
}

int
mux_put(struct buf *b, int type, const void *body, size_t len)
{
	uint8_t h[MUX_HDR];
	size_t max = max_body(type);

	if (max == (size_t)-1 || len > max)
		return PROTO_ERR_ARG;
	if (buf_avail(b) < MUX_HDR + len)
		return PROTO_ERR_FULL;
	h[0] = (uint8_t)((len + 1) >> 24);
	h[1] = (uint8_t)((len + 1) >> 16);
	h[2] = (uint8_t)((len + 1) >> 8);
	h[3] = (uint8_t)(len + 1);
	h[4] = (uint8_t)type;
	if (buf_put(b, h, sizeof(h)) != 0 || (len > 0 && buf_put(b, body, len) != 0))
		return PROTO_ERR_FULL;
	return 0;
}
