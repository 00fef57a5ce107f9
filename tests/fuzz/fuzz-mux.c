/*
 * fuzz-mux.c - the connection-sharing messages (proto/mux.h) against arbitrary
 * input.
 *
 * The first byte seeds the generator that cuts the rest into feeds (and caps
 * their size). Every feed larger than mux_room() must be refused whole; every
 * message handed out is compared with a one-shot reading of the whole input
 * written from the table in mux.h, and encoded again with mux_put(): since the
 * encoding is unique, the encoded messages must give back exactly the bytes
 * consumed so far, and a second decoder must read each one back the same. The
 * error is checked to be sticky and the decoder never to hold more than one
 * message. Any disagreement abort()s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/mux.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz-mux: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

/* The smallest and largest body of each type, as mux.h documents them. */
static int
body_range(int type, size_t *lo, size_t *hi)
{
	switch (type) {
	case MUX_OPEN:		/* u8 version, u8 flags, a name of 1..64 */
		*lo = 3;
		*hi = 2 + 64;
		return 1;
	case MUX_OPENED:	/* u8 flags */
		*lo = *hi = 1;
		return 1;
	case MUX_FAIL:		/* u8 code, text */
		*lo = 1;
		*hi = 1 + MUX_MAX_TEXT;
		return 1;
	case MUX_DATA:
		*lo = 1;
		*hi = MUX_MAX_BODY;
		return 1;
	case MUX_EOF:
	case MUX_CHECK:
	case MUX_QUIT:
	case MUX_PROBE:
		*lo = *hi = 0;
		return 1;
	case MUX_STDERR:
	case MUX_EXIT:
	case MUX_INFO:
		*lo = 0;
		*hi = MUX_MAX_TEXT;
		return 1;
	default:
		return 0;
	}
}

/* The reference: the next message of the whole input, read in one go. Returns
 * 1 with *type, *body and *len, 0 at the end (a partial message included), or
 * the error the header shows. */
static int
ref_next(const uint8_t *p, size_t n, size_t *off, int *type,
    const uint8_t **body, size_t *len)
{
	size_t left = n - *off, lo, hi;
	unsigned long l;

	if (left < MUX_HDR)
		return 0;
	p += *off;
	l = (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
	if (l == 0 || l > 1 + (unsigned long)MUX_MAX_BODY)
		return PROTO_ERR_TOO_LARGE;
	if (!body_range(p[4], &lo, &hi) || l - 1 < lo || l - 1 > hi)
		return PROTO_ERR_INVALID;
	if (left < 4 + l)
		return 0;
	*type = p[4];
	*body = p + MUX_HDR;
	*len = l - 1;
	*off += 4 + l;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mux_dec *d, *d2;
	struct mux_msg m, m2;
	struct buf *out, *one;
	const uint8_t *in, *wbody = NULL;
	size_t n, off = 0, k, cap, room, pending, roff = 0, wlen = 0;
	unsigned int x;
	int r = 0, want, wtype = 0;

	if (size == 0)
		return 0;
	in = data + 1;
	n = size - 1;
	cap = (size_t)(data[0] & 0x3f) * 97 + 1;
	x = data[0] | 0x100u;
	if ((d = mux_dec_new()) == NULL || (d2 = mux_dec_new()) == NULL ||
	    (out = buf_new(n + 1)) == NULL ||
	    (one = buf_new(MUX_HDR + MUX_MAX_BODY)) == NULL)
		abort();
	while (off < n && r == 0) {
		x = x * 1103515245u + 12345u;
		k = (x >> 16) % (cap + 1);
		if (k > n - off)
			k = n - off;
		room = mux_room(d);
		pending = mux_pending(d);
		CHECK(room + pending == MUX_HDR + MUX_MAX_BODY);
		if (k > room) {
			/* Too much is refused whole. */
			CHECK(mux_feed(d, in + off, k) == PROTO_ERR_FULL);
			CHECK(mux_pending(d) == pending);
			k = room;
		}
		CHECK(mux_feed(d, in + off, k) == 0);
		CHECK(mux_pending(d) == pending + k);
		off += k;
		while ((r = mux_next(d, &m)) == 1) {
			want = ref_next(in, n, &roff, &wtype, &wbody, &wlen);
			CHECK(want == 1);
			CHECK(m.type == wtype && m.len == wlen &&
			    (m.len == 0 || memcmp(m.body, wbody, m.len) == 0));
			/* Encoded again: the bytes it came from, and read back
			 * the same by a decoder fed it whole. */
			buf_reset(one);
			CHECK(mux_put(one, m.type, m.body, m.len) == 0);
			CHECK(buf_put(out, buf_ptr(one), buf_len(one)) == 0);
			CHECK(mux_feed(d2, buf_ptr(one), buf_len(one)) == 0);
			CHECK(mux_next(d2, &m2) == 1);
			CHECK(m2.type == m.type && m2.len == m.len &&
			    (m.len == 0 || memcmp(m2.body, m.body, m.len) == 0));
			CHECK(mux_next(d2, &m2) == 0 && mux_pending(d2) == 0);
		}
		/* Everything handed out so far is exactly what was consumed. */
		CHECK(buf_len(out) == off - mux_pending(d));
		CHECK(buf_len(out) == roff);
		CHECK(buf_len(out) == 0 || memcmp(buf_ptr(out), in, buf_len(out)) == 0);
		if (r == 0) {
			/* Waiting for more: there is room for it. */
			CHECK(mux_room(d) > 0);
			CHECK(mux_pending(d) < MUX_HDR + MUX_MAX_BODY);
			continue;
		}
		/* An error: the reference sees it at the same message, and it
		 * stays. */
		CHECK(r == PROTO_ERR_TOO_LARGE || r == PROTO_ERR_INVALID);
		CHECK(ref_next(in, n, &roff, &wtype, &wbody, &wlen) == r);
		CHECK(mux_next(d, &m) == r);
		if (mux_room(d) > 0 && off < n) {
			CHECK(mux_feed(d, in + off, 1) == 0);
			CHECK(mux_next(d, &m) == r);
		}
	}
	if (r == 0) {
		/* At the end only a partial message may be left. */
		CHECK(ref_next(in, n, &roff, &wtype, &wbody, &wlen) == 0);
		CHECK(mux_next(d, &m) == 0);
		CHECK(mux_pending(d) == n - roff);
	}
	mux_dec_free(d);
	mux_dec_free(d2);
	buf_free(out);
	buf_free(one);
	return 0;
}
