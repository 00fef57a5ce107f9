/*
 * fuzz-frame.c - the frame decoder against arbitrary input.
 *
 * Input: one seed byte, then the stream. The seed picks how the stream is fed
 * (whole, fixed pieces, space/commit, random pieces) and the chunk size used when
 * decoded messages are encoded again. The decoder runs with zlib on and a small
 * message limit. Every event is re-encoded and decoded by a second pair, and must
 * come back the same; frame_mp_check() is compared with msgpack-c on what it
 * accepts (never on what it refuses: that is where msgpack-c allocates what a
 * header claims). Any disagreement abort()s.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "proto/frame.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_MESSAGE (64u * 1024u)

struct rt {
	struct frame_enc *enc;  /* zlib level 1: re-encodes across the whole input */
	struct frame_dec *dec;
	struct buf *out;
};

static void
check(int cond)
{
	if (!cond)
		abort();
}

static unsigned
mp_depth(const msgpack_object *o)
{
	unsigned d = 0, x;
	uint32_t i;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (i = 0; i < o->via.array.size; i++)
			if ((x = mp_depth(&o->via.array.ptr[i])) > d)
				d = x;
		return d + 1;
	}
	if (o->type == MSGPACK_OBJECT_MAP) {
		for (i = 0; i < o->via.map.size; i++) {
			if ((x = mp_depth(&o->via.map.ptr[i].key)) > d)
				d = x;
			if ((x = mp_depth(&o->via.map.ptr[i].val)) > d)
				d = x;
		}
		return d + 1;
	}
	return 0;
}

/* Whatever frame_mp_check() accepts, msgpack-c must read as one value of exactly
 * those bytes, nested no deeper than allowed. */
static void
check_mp(const uint8_t *p, size_t len)
{
	msgpack_unpacked u;
	size_t off = 0;

	if (len == 0 || frame_mp_check(p, len, 8) != 0)
		return;
	msgpack_unpacked_init(&u);
	check(msgpack_unpack_next(&u, (const char *)p, len, &off) ==
	    MSGPACK_UNPACK_SUCCESS);
	check(off == len);
	check(mp_depth(&u.data) <= 8);
	msgpack_unpacked_destroy(&u);
}

static int
info_same(const struct frame_info *a, const struct frame_info *b)
{
	return a->version == b->version && a->min_version == b->min_version &&
	    a->features == b->features && strcmp(a->backend, b->backend) == 0 &&
	    a->has_token == b->has_token &&
	    memcmp(a->token, b->token, sizeof(a->token)) == 0 &&
	    a->next == b->next && a->resumed == b->resumed &&
	    a->max_message == b->max_message;
}

static void
roundtrip(struct rt *rt, const struct frame *f)
{
	struct frame g;
	int r = PROTO_ERR_ARG;

	buf_reset(rt->out);
	switch (f->type) {
	case FRAME_HELLO:
		r = frame_put_hello(rt->out, &f->u.info);
		break;
	case FRAME_WELCOME:
		r = frame_put_welcome(rt->out, &f->u.info);
		break;
	case FRAME_DATA:
		check(f->u.data.msg != NULL && f->u.data.len <= FUZZ_MAX_MESSAGE);
		r = frame_put_data(rt->enc, rt->out, f->u.data.seq, f->u.data.msg,
		    f->u.data.len, f->u.data.compressed);
		break;
	case FRAME_ACK:
		r = frame_put_ack(rt->out, f->u.ack_next);
		break;
	case FRAME_PING:
		r = frame_put_ping(rt->out, f->u.ping.opaque, f->u.ping.len);
		break;
	case FRAME_PONG:
		r = frame_put_pong(rt->out, f->u.ping.opaque, f->u.ping.len);
		break;
	case FRAME_ERROR:
		r = frame_put_error(rt->out, f->u.error.code, f->u.error.reason);
		break;
	case FRAME_CLOSE:
		r = frame_put_close(rt->out, f->u.error.code, f->u.error.reason);
		break;
	}
	check(r == 0);
	check(frame_dec_feed(rt->dec, buf_ptr(rt->out), buf_len(rt->out)) == 0);
	check(frame_dec_next(rt->dec, &g) == 1);
	check(g.type == f->type);
	switch (f->type) {
	case FRAME_HELLO:
	case FRAME_WELCOME:
		check(info_same(&f->u.info, &g.u.info));
		break;
	case FRAME_DATA:
		check(g.u.data.seq == f->u.data.seq && g.u.data.len == f->u.data.len &&
		    g.u.data.compressed == f->u.data.compressed &&
		    memcmp(g.u.data.msg, f->u.data.msg, f->u.data.len) == 0);
		break;
	case FRAME_ACK:
		check(g.u.ack_next == f->u.ack_next);
		break;
	case FRAME_PING:
	case FRAME_PONG:
		check(g.u.ping.len == f->u.ping.len && g.u.ping.len <= FRAME_MAX_OPAQUE &&
		    memcmp(g.u.ping.opaque, f->u.ping.opaque, f->u.ping.len) == 0);
		break;
	case FRAME_ERROR:
	case FRAME_CLOSE:
		check(g.u.error.code == f->u.error.code &&
		    strcmp(g.u.error.reason, f->u.error.reason) == 0);
		break;
	}
	check(frame_dec_next(rt->dec, &g) == 0);
}

/* Returns 0, or the decoder's error. */
static int
drain(struct frame_dec *d, struct rt *rt)
{
	struct frame f;
	int r;

	while ((r = frame_dec_next(d, &f)) == 1)
		roundtrip(rt, &f);
	if (r < 0) {
		unsigned code = frame_dec_code(d);

		check(frame_dec_reason(d)[0] != '\0');
		check(code == FRAME_CODE_PROTOCOL || code == FRAME_CODE_TOO_LARGE ||
		    code == FRAME_CODE_INTERNAL);
		check(frame_dec_next(d, &f) == r);
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_dec *d = NULL;
	struct rt rt = { NULL, NULL, NULL };
	uint8_t seed, *dst;
	uint32_t x;
	size_t off = 0, n, piece;
	long space;
	int r = 0, r2;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	check_mp(data, size);
	if (size > 8)
		check_mp(data + 4, size - 4);   /* the first frame's body, more or less */

	d = frame_dec_new(FUZZ_MAX_MESSAGE);
	rt.enc = frame_enc_new();
	rt.dec = frame_dec_new(FUZZ_MAX_MESSAGE);
	rt.out = buf_new(4 * FUZZ_MAX_MESSAGE);
	if (d == NULL || rt.enc == NULL || rt.dec == NULL || rt.out == NULL ||
	    frame_dec_set_zlib(d, 1) != 0 || frame_dec_set_zlib(rt.dec, 1) != 0 ||
	    frame_enc_set_zlib(rt.enc, 1) != 0)
		abort();
	frame_enc_set_chunk(rt.enc, seed & 0x80 ? (size_t)(seed & 0x1f) + 1 :
	    FRAME_MAX_PAYLOAD);

	x = seed * 2654435761u + 1;
	piece = (size_t)(seed >> 2) + 1;
	while (off < size && r == 0) {
		n = size - off;
		switch (seed & 3) {
		case 0:
			break;
		case 1:
			n = n < piece ? n : piece;
			break;
		case 2:
			space = frame_dec_space(d, &dst);
			check(space > 0 || space == PROTO_ERR_FULL);
			if (space == PROTO_ERR_FULL) {
				r = drain(d, &rt);
				continue;
			}
			n = n < (size_t)space ? n : (size_t)space;
			n = n < piece * 7 ? n : piece * 7;
			memcpy(dst, data + off, n);
			frame_dec_commit(d, n);
			off += n;
			r = drain(d, &rt);
			continue;
		default:
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			n = n < 1 + x % 300 ? n : 1 + x % 300;
			break;
		}
		r = frame_dec_feed(d, data + off, n);
		off += n;
		r2 = drain(d, &rt);
		check(r == 0 || r2 == r);       /* a feed error is the sticky one */
		r = r2;
	}
	if (r == 0)
		r = drain(d, &rt);

	/* reset makes the decoder usable again, whatever happened */
	frame_dec_reset(d);
	buf_reset(rt.out);
	check(frame_put_ack(rt.out, 7) == 0);
	check(frame_dec_feed(d, buf_ptr(rt.out), buf_len(rt.out)) == 0);
	{
		struct frame f;

		check(frame_dec_next(d, &f) == 1 && f.type == FRAME_ACK &&
		    f.u.ack_next == 7);
	}

	frame_dec_free(d);
	frame_dec_free(rt.dec);
	frame_enc_free(rt.enc);
	buf_free(rt.out);
	return 0;
}
