#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"

struct buf {
	uint8_t *d;
	size_t off;   /* first held byte */
	size_t len;   /* bytes held */
	size_t alloc; /* bytes allocated */
	size_t max;
};

struct buf *
buf_new(size_t max)
{
	struct buf *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->max = max;
	return b;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->d);
	free(b);
}

size_t buf_len(const struct buf *b) { return b->len; }
size_t buf_max(const struct buf *b) { return b->max; }
size_t buf_avail(const struct buf *b) { return b->max - b->len; }

const uint8_t *
buf_ptr(const struct buf *b)
{
	static const uint8_t empty[1];

	return b->d != NULL ? b->d + b->off : empty;
}

uint8_t *
buf_mutable_ptr(struct buf *b)
{
	static uint8_t empty[1];

	return b->d != NULL ? b->d + b->off : empty;
}

int
buf_reserve(struct buf *b, size_t len, uint8_t **dst)
{
	static uint8_t empty[1];
	size_t need, nalloc;
	uint8_t *nd;

	if (len > b->max - b->len)
		return PROTO_ERR_TOO_LARGE;
	/* Nothing allocated yet and nothing asked for: avoid NULL + 0, which is UB. */
	if (b->d == NULL && len == 0) {
		*dst = empty;
		return 0;
	}
	need = b->len + len;
	if (b->off + need > b->alloc) {
		/* Compact first when that is enough and cheap relative to what is held. */
		if (need <= b->alloc && b->off >= b->len) {
			memmove(b->d, b->d + b->off, b->len);
			b->off = 0;
		} else {
			nalloc = b->alloc < 256 ? 256 : b->alloc;
			while (nalloc < need)
				nalloc = nalloc > SIZE_MAX / 2 ? need : nalloc * 2;
			if (nalloc > b->max && b->max >= need)
				nalloc = b->max;
			if (b->off > 0) {
				nd = malloc(nalloc);
				if (nd == NULL)
					return PROTO_ERR_NOMEM;
				if (b->len > 0)
					memcpy(nd, b->d + b->off, b->len);
				free(b->d);
			} else {
				nd = realloc(b->d, nalloc);
				if (nd == NULL)
					return PROTO_ERR_NOMEM;
			}
			b->d = nd;
			b->off = 0;
			b->alloc = nalloc;
		}
	}
	*dst = b->d + b->off + b->len;
	return 0;
}

void
buf_commit(struct buf *b, size_t len)
{
	/* A caller committing more than it reserved must not move past the allocation. */
	if (len > b->alloc - b->off - b->len)
		len = b->alloc - b->off - b->len;
	b->len += len;
}

int
buf_put(struct buf *b, const void *data, size_t len)
{
	uint8_t *dst;
	int r;

	if (len == 0)
		return 0;
	if ((r = buf_reserve(b, len, &dst)) != 0)
		return r;
	memcpy(dst, data, len);
	b->len += len;
	return 0;
}

void
buf_consume(struct buf *b, size_t len)
{
	if (len >= b->len) {
		b->off = 0;
		b->len = 0;
		return;
	}
	b->off += len;
	b->len -= len;
}

void
buf_unput(struct buf *b, size_t len)
{
	b->len -= len < b->len ? len : b->len;
	if (b->len == 0)
		b->off = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}
