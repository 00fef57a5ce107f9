/*
 * mux-t.c - the messages between codex-connect and its connection master
 * (proto/mux.h): round trips whatever the split of the input, every bound
 * (length, type, body per type) refused and the error sticky, the decoder never
 * holding more than one whole message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "proto/mux.h"
#include "tests/tap.h"

/* Feeds the bytes of b in pieces of step and collects the messages. */
static int
decode(const struct buf *b, size_t step, int *types, size_t *lens, int max)
{
	struct mux_dec *d = mux_dec_new();
	struct mux_msg m;
	const uint8_t *p = buf_ptr(b);
	size_t left = buf_len(b), k;
	int n = 0, r;

	if (d == NULL)
		bail("out of memory");
	while (left > 0) {
		k = left < step ? left : step;
		if (k > mux_room(d))
			k = mux_room(d);
		if (k == 0 || mux_feed(d, p, k) != 0) {
			n = -100;
			break;
		}
		p += k;
		left -= k;
		while ((r = mux_next(d, &m)) == 1 && n < max) {
			types[n] = m.type;
			lens[n++] = m.len;
		}
		if (r < 0) {
			n = r;
			break;
		}
	}
	mux_dec_free(d);
	return n;
}

/* What the decoder says of raw bytes. */
static int
verdict(const uint8_t *p, size_t len)
{
	struct mux_dec *d = mux_dec_new();
	struct mux_msg m;
	int r;

	if (d == NULL || mux_feed(d, p, len) != 0)
		bail("feed");
	r = mux_next(d, &m);
	if (r < 0 && mux_next(d, &m) != r)
		r = 99;	/* not sticky */
	mux_dec_free(d);
	return r;
}

int
main(void)
{
	static uint8_t big[MUX_MAX_BODY + 1];
	struct buf *b = buf_new(1 << 20);
	uint8_t open[] = { 1, MUX_OPEN_EARLY, 'c', 'o', 'd', 'e', 'x' }, fl = 1;
	int types[16];
	size_t lens[16], steps[] = { 1, 3, 5, 4096, 1 << 20 }, i;
	uint8_t raw[8];

	plan_lazy();
	memset(big, 'x', sizeof(big));
	if (b == NULL)
		bail("out of memory");
	ok(mux_put(b, MUX_OPEN, open, sizeof(open)) == 0 &&
	    mux_put(b, MUX_DATA, big, MUX_MAX_BODY) == 0 &&
	    mux_put(b, MUX_OPENED, &fl, 1) == 0 &&
	    mux_put(b, MUX_EOF, NULL, 0) == 0 &&
	    mux_put(b, MUX_INFO, "alive", 5) == 0 &&
	    mux_put(b, MUX_PROBE, NULL, 0) == 0, "six messages encoded");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int n = decode(b, steps[i], types, lens, 16);

		ok(n == 6 && types[0] == MUX_OPEN && lens[0] == sizeof(open) &&
		    types[1] == MUX_DATA && lens[1] == MUX_MAX_BODY &&
		    types[2] == MUX_OPENED && types[3] == MUX_EOF && lens[3] == 0 &&
		    types[4] == MUX_INFO && lens[4] == 5 && types[5] == MUX_PROBE,
		    "decoded whole, fed %zu bytes at a time (%d messages)", steps[i], n);
	}

	/* Bounds on the encoding side. */
	buf_reset(b);
	is_int(mux_put(b, MUX_DATA, big, MUX_MAX_BODY + 1), PROTO_ERR_ARG,
	    "DATA over %d bytes is not encoded", MUX_MAX_BODY);
	is_int(mux_put(b, MUX_INFO, big, MUX_MAX_TEXT + 1), PROTO_ERR_ARG,
	    "INFO over %d bytes is not encoded", MUX_MAX_TEXT);
	is_int(mux_put(b, 77, NULL, 0), PROTO_ERR_ARG, "an unknown type is not encoded");
	is_int(buf_len(b), 0, "  and nothing was written");
	{
		struct buf *small = buf_new(8);

		is_int(mux_put(small, MUX_DATA, big, 4), PROTO_ERR_FULL,
		    "a full buffer: PROTO_ERR_FULL");
		is_int(buf_len(small), 0, "  nothing written");
		buf_free(small);
	}

	/* Hostile input. */
#define RAW(l, t) (raw[0] = (uint8_t)((l) >> 24), raw[1] = (uint8_t)((l) >> 16), \
	raw[2] = (uint8_t)((l) >> 8), raw[3] = (uint8_t)(l), raw[4] = (t))
	RAW(0, MUX_EOF);
	is_int(verdict(raw, 5), PROTO_ERR_TOO_LARGE, "length 0 refused, sticky");
	RAW(0xffffffffu, MUX_DATA);
	is_int(verdict(raw, 5), PROTO_ERR_TOO_LARGE, "length 2^32-1 refused before any body");
	RAW(MUX_MAX_BODY + 2, MUX_DATA);
	is_int(verdict(raw, 5), PROTO_ERR_TOO_LARGE, "a body one over the bound refused");
	RAW(1, 0);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "type 0 refused");
	RAW(1, 200);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "type 200 refused");
	RAW(1, MUX_DATA);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "an empty DATA refused");
	RAW(3, MUX_EOF);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "EOF with a body refused");
	RAW(3, MUX_OPEN);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "OPEN without a subsystem name refused");
	RAW(2 + 2 + 65, MUX_OPEN);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "OPEN with a 65-byte name refused");
	RAW(1, MUX_FAIL);
	is_int(verdict(raw, 5), PROTO_ERR_INVALID, "FAIL without its code refused");
	RAW(1, MUX_EOF);
	is_int(verdict(raw, 4), 0, "four bytes: more input needed");
	is_int(verdict(raw, 5), 1, "EOF: one message");

	/* The decoder holds at most one whole message. */
	{
		struct mux_dec *d = mux_dec_new();

		is_int(mux_room(d), MUX_HDR + MUX_MAX_BODY, "room: one whole message");
		is_int(mux_feed(d, big, MUX_HDR + MUX_MAX_BODY + 1), PROTO_ERR_FULL,
		    "more than that is refused");
		is_int(mux_pending(d), 0, "  and not taken");
		mux_dec_free(d);
	}
	buf_free(b);
	return done_testing();
}
