/*
 * frame.c - the framed tunnel codec of PROTOCOL.md section 2.
 *
 * Encoding writes DATA headers by hand (they are on the hot path and have one
 * fixed shape) and lets msgpack-c pack the control frames. Decoding never hands
 * untrusted bytes to msgpack-c: frame_mp_check() validates a body first and a
 * small reader below walks it.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>
#include <msgpack.h>

#include "proto/frame.h"

#define MP_DEPTH        8               /* PROTOCOL.md 2.1 */
#define MP_DEPTH_LIMIT  32              /* hard cap of frame_mp_check() */
#define DATA_HDR_MAX    (4 + 17)        /* length + [3, seq, flags, bin hdr] */

#define IN_MIN_READ     (64u * 1024u)   /* space offered for reads of small frames */
#define IN_CAP          (4 + FRAME_MAX + IN_MIN_READ)
#define FEED_STEP       (16u * 1024u)   /* feed() stages at most this before parsing */
#define MSG_KEEP        (1024u * 1024u) /* reassembly buffer kept across messages */
#define CTL_MAX         2048            /* largest control frame we encode */
#define ZROOM           (4 + 64)        /* deflate buffer beyond one chunk */

static const uint8_t empty_bytes[1];
static const uint8_t sync_tail[4] = { 0x00, 0x00, 0xff, 0xff };
static const uint8_t empty_block[1] = { 0x00 };  /* stored, not final; LEN follows */

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | *p++;
	return v;
}

/* ---- msgpack checking and reading ---------------------------------------- */

int
frame_mp_check(const uint8_t *p, size_t len, unsigned max_depth)
{
	size_t left[MP_DEPTH_LIMIT];
	const uint8_t *end;
	unsigned depth = 0;
	size_t need, count, lenbytes, avail;
	int container, ismap;
	uint8_t b;

	if (len == 0 || p == NULL)
		return PROTO_ERR_INCOMPLETE;
	if (max_depth > MP_DEPTH_LIMIT)
		max_depth = MP_DEPTH_LIMIT;
	end = p + len;
	for (;;) {
		if (p == end)
			return PROTO_ERR_INCOMPLETE;
		b = *p++;
		need = count = lenbytes = 0;
		container = ismap = 0;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			;
		else if (b <= 0x8f) {
			container = ismap = 1;
			count = b & 0x0f;
		} else if (b <= 0x9f) {
			container = 1;
			count = b & 0x0f;
		} else if (b <= 0xbf)
			need = b & 0x1f;
		else {
			switch (b) {
			case 0xc1:
				return PROTO_ERR_INVALID;
			case 0xc4: case 0xc5: case 0xc6:        /* bin */
				lenbytes = (size_t)1 << (b - 0xc4);
				break;
			case 0xc7: case 0xc8: case 0xc9:        /* ext: + type byte */
				lenbytes = (size_t)1 << (b - 0xc7);
				need = 1;
				break;
			case 0xca:
				need = 4;
				break;
			case 0xcb:
				need = 8;
				break;
			case 0xcc: case 0xcd: case 0xce: case 0xcf:
				need = (size_t)1 << (b - 0xcc);
				break;
			case 0xd0: case 0xd1: case 0xd2: case 0xd3:
				need = (size_t)1 << (b - 0xd0);
				break;
			case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
				need = 1 + ((size_t)1 << (b - 0xd4));
				break;
			case 0xd9: case 0xda: case 0xdb:        /* str */
				lenbytes = (size_t)1 << (b - 0xd9);
				break;
			case 0xdc: case 0xdd:
				container = 1;
				lenbytes = (size_t)2 << (b - 0xdc);
				break;
			default:                                /* 0xde, 0xdf */
				container = ismap = 1;
				lenbytes = (size_t)2 << (b - 0xde);
				break;
			}
		}
		avail = (size_t)(end - p);
		if (lenbytes > 0) {
			if (lenbytes > avail)
				return PROTO_ERR_INCOMPLETE;
			if (container)
				count = (size_t)get_be(p, lenbytes);
			else
				need += (size_t)get_be(p, lenbytes);
			p += lenbytes;
			avail -= lenbytes;
		}
		if (container) {
			/* Every element takes at least one byte: a count the rest of the
			 * body cannot hold is refused before it is believed. */
			if (count > (ismap ? avail / 2 : avail))
				return PROTO_ERR_INCOMPLETE;
			if (depth >= max_depth)
				return PROTO_ERR_INVALID;
			if (count > 0) {
				left[depth++] = ismap ? count * 2 : count;
				continue;
			}
		} else {
			if (need > avail)
				return PROTO_ERR_INCOMPLETE;
			p += need;
		}
		/* One value is complete; close the containers it completes. */
		for (;;) {
			if (depth == 0)
				return p == end ? 0 : PROTO_ERR_INVALID;
			if (--left[depth - 1] > 0)
				break;
			depth--;
		}
	}
}

/*
 * A reader over a body that frame_mp_check() accepted. The bounds checks stay as
 * a second line of defence; they cost little.
 */
struct mpr {
	const uint8_t *p;
	const uint8_t *end;
};

static int
mp_len(struct mpr *r, size_t n, uint64_t *v)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	*v = get_be(r->p, n);
	r->p += n;
	return 0;
}

/* A non-negative integer in any msgpack int format. */
static int
mp_uint(struct mpr *r, uint64_t *v)
{
	uint8_t b;
	uint64_t u;
	size_t n;

	if (r->p >= r->end)
		return -1;
	b = *r->p;
	if (b <= 0x7f) {
		r->p++;
		*v = b;
		return 0;
	}
	if (b >= 0xcc && b <= 0xcf)
		n = (size_t)1 << (b - 0xcc);
	else if (b >= 0xd0 && b <= 0xd3)
		n = (size_t)1 << (b - 0xd0);
	else
		return -1;
	if ((size_t)(r->end - r->p) < n + 1)
		return -1;
	u = get_be(r->p + 1, n);
	/* signed formats: the top bit of the value is its sign */
	if (b >= 0xd0 && (u >> (n * 8 - 1)) != 0)
		return -1;
	r->p += n + 1;
	*v = u;
	return 0;
}

static int
mp_raw(struct mpr *r, int str, const uint8_t **data, size_t *len)
{
	uint8_t b;
	uint64_t n;

	if (r->p >= r->end)
		return -1;
	b = *r->p;
	if (str && b >= 0xa0 && b <= 0xbf) {
		r->p++;
		n = b & 0x1f;
	} else if ((str && b >= 0xd9 && b <= 0xdb) || (!str && b >= 0xc4 && b <= 0xc6)) {
		r->p++;
		if (mp_len(r, (size_t)1 << (b - (str ? 0xd9 : 0xc4)), &n) != 0)
			return -1;
	} else
		return -1;
	if (n > (uint64_t)(r->end - r->p))
		return -1;
	*data = r->p;
	*len = (size_t)n;
	r->p += n;
	return 0;
}

static int
mp_container(struct mpr *r, int map, size_t *count)
{
	uint8_t b, fix = map ? 0x80 : 0x90, big = map ? 0xde : 0xdc;
	uint64_t n;

	if (r->p >= r->end)
		return -1;
	b = *r->p;
	if (b >= fix && b <= fix + 0x0f) {
		r->p++;
		*count = b & 0x0f;
		return 0;
	}
	if (b != big && b != big + 1)
		return -1;
	r->p++;
	if (mp_len(r, (size_t)2 << (b - big), &n) != 0)
		return -1;
	*count = (size_t)n;
	return 0;
}

static int
mp_bool(struct mpr *r, int *v)
{
	if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3))
		return -1;
	*v = *r->p++ == 0xc3;
	return 0;
}

/* Skips one value (with everything inside it). */
static int
mp_skip(struct mpr *r)
{
	size_t todo = 1, count, need;
	uint64_t n;
	uint8_t b;

	while (todo > 0) {
		if (r->p >= r->end)
			return -1;
		todo--;
		b = *r->p++;
		need = 0;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			continue;
		if (b <= 0x8f) {
			todo += (size_t)(b & 0x0f) * 2;
			continue;
		}
		if (b <= 0x9f) {
			todo += b & 0x0f;
			continue;
		}
		if (b <= 0xbf)
			need = b & 0x1f;
		else if (b >= 0xc4 && b <= 0xc6) {
			if (mp_len(r, (size_t)1 << (b - 0xc4), &n) != 0)
				return -1;
			need = (size_t)n;
		} else if (b >= 0xc7 && b <= 0xc9) {
			if (mp_len(r, (size_t)1 << (b - 0xc7), &n) != 0)
				return -1;
			need = (size_t)n + 1;
		} else if (b == 0xca)
			need = 4;
		else if (b == 0xcb)
			need = 8;
		else if (b >= 0xcc && b <= 0xcf)
			need = (size_t)1 << (b - 0xcc);
		else if (b >= 0xd0 && b <= 0xd3)
			need = (size_t)1 << (b - 0xd0);
		else if (b >= 0xd4 && b <= 0xd8)
			need = 1 + ((size_t)1 << (b - 0xd4));
		else if (b >= 0xd9 && b <= 0xdb) {
			if (mp_len(r, (size_t)1 << (b - 0xd9), &n) != 0)
				return -1;
			need = (size_t)n;
		} else if (b >= 0xdc) {         /* array16/32, map16/32 */
			int map = b >= 0xde;

			if (mp_len(r, (size_t)2 << (b - (map ? 0xde : 0xdc)), &n) != 0)
				return -1;
			/* counts were bounded by the body size in frame_mp_check() */
			if (n > (uint64_t)(r->end - r->p))
				return -1;
			count = (size_t)n;
			todo += map ? count * 2 : count;
			continue;
		} else
			return -1;
		if (need > (size_t)(r->end - r->p))
			return -1;
		r->p += need;
	}
	return 0;
}

/* ---- encoding ------------------------------------------------------------ */

struct frame_enc {
	size_t chunk;           /* chunk size for the next message */
	int level;              /* 0: compression off */
	int zinit;
	int zbroken;            /* the deflate stream lost step with the peer */
	z_stream zs;

	/* the message in progress */
	int busy;
	int zmsg;
	uint64_t seq;
	const uint8_t *msg;
	size_t len;
	size_t off;             /* bytes of msg chunked, or given to deflate */
	size_t mchunk;

	/* deflate output not yet sent: zout[zstart..zend) */
	uint8_t *zout;
	size_t zcap;
	size_t zstart;
	size_t zend;
	int zdone;
};

struct frame_enc *
frame_enc_new(void)
{
	struct frame_enc *enc = calloc(1, sizeof(*enc));

	if (enc == NULL)
		return NULL;
	enc->chunk = FRAME_MAX_PAYLOAD;
	return enc;
}

void
frame_enc_free(struct frame_enc *enc)
{
	if (enc == NULL)
		return;
	if (enc->zinit)
		deflateEnd(&enc->zs);
	free(enc->zout);
	free(enc);
}

int
frame_enc_set_zlib(struct frame_enc *enc, int level)
{
	if (level < 0 || level > 9)
		return PROTO_ERR_ARG;
	enc->busy = 0;
	enc->zbroken = 0;
	if (enc->zinit && (level == 0 || level != enc->level)) {
		deflateEnd(&enc->zs);
		enc->zinit = 0;
	}
	enc->level = level;
	if (level == 0)
		return 0;
	if (enc->zinit)
		return deflateReset(&enc->zs) == Z_OK ? 0 : PROTO_ERR_ZLIB;
	memset(&enc->zs, 0, sizeof(enc->zs));
	switch (deflateInit2(&enc->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY)) {
	case Z_OK:
		enc->zinit = 1;
		return 0;
	case Z_MEM_ERROR:
		enc->level = 0;
		return PROTO_ERR_NOMEM;
	default:
		enc->level = 0;
		return PROTO_ERR_ZLIB;
	}
}

void
frame_enc_set_chunk(struct frame_enc *enc, size_t chunk)
{
	if (chunk < 1)
		chunk = 1;
	if (chunk > FRAME_MAX_PAYLOAD)
		chunk = FRAME_MAX_PAYLOAD;
	enc->chunk = chunk;
}

int
frame_enc_busy(const struct frame_enc *enc)
{
	return enc->busy;
}

static size_t
uint_size(uint64_t v)
{
	if (v < 0x80)
		return 1;
	if (v <= 0xff)
		return 2;
	if (v <= 0xffff)
		return 3;
	if (v <= 0xffffffff)
		return 5;
	return 9;
}

static size_t
bin_hdr_size(size_t len)
{
	return len <= 0xff ? 2 : len <= 0xffff ? 3 : 5;
}

/* Bytes of a DATA frame's header (length included) for a payload of len bytes. */
static size_t
data_hdr_size(uint64_t seq, size_t len)
{
	return 4 + 2 + uint_size(seq) + 1 + bin_hdr_size(len);
}

/* Writes the length and [3, seq, flags, bin header] of a DATA frame. */
static size_t
data_hdr(uint8_t *h, uint64_t seq, unsigned flags, size_t paylen)
{
	uint8_t *p = h + 4;
	size_t n;

	*p++ = 0x94;
	*p++ = FRAME_DATA;
	n = uint_size(seq);
	if (n == 1)
		*p = (uint8_t)seq;
	else {
		*p = n == 2 ? 0xcc : n == 3 ? 0xcd : n == 5 ? 0xce : 0xcf;
		for (size_t i = 1; i < n; i++)
			p[i] = (uint8_t)(seq >> (8 * (n - 1 - i)));
	}
	p += n;
	*p++ = (uint8_t)flags;
	if (paylen <= 0xff) {
		*p++ = 0xc4;
		*p++ = (uint8_t)paylen;
	} else if (paylen <= 0xffff) {
		*p++ = 0xc5;
		*p++ = (uint8_t)(paylen >> 8);
		*p++ = (uint8_t)paylen;
	} else {
		*p++ = 0xc6;
		put_be32(p, (uint32_t)paylen);
		p += 4;
	}
	put_be32(h, (uint32_t)((size_t)(p - h - 4) + paylen));
	return (size_t)(p - h);
}

int
frame_enc_begin(struct frame_enc *enc, uint64_t seq, const void *msg, size_t len,
    int compress)
{
	if (enc->busy)
		return PROTO_ERR_ARG;
	if (msg == NULL && len > 0)
		return PROTO_ERR_ARG;
	enc->zmsg = compress && enc->level > 0;
	if (enc->zmsg && enc->zbroken)
		return PROTO_ERR_ZLIB;
	enc->mchunk = enc->chunk;
	if (enc->zmsg && enc->zcap != enc->mchunk + ZROOM) {
		uint8_t *z = realloc(enc->zout, enc->mchunk + ZROOM);

		if (z == NULL)
			return PROTO_ERR_NOMEM;
		enc->zout = z;
		enc->zcap = enc->mchunk + ZROOM;
	}
	enc->seq = seq;
	enc->msg = len > 0 ? msg : empty_bytes;
	enc->len = len;
	enc->off = 0;
	enc->zstart = enc->zend = 0;
	enc->zdone = 0;
	enc->busy = 1;
	return 0;
}

/*
 * Deflates until one chunk plus 4 bytes are pending or the message is flushed:
 * the last 4 bytes can be recognised as the flush marker, which is not sent,
 * only once the flush is known to have ended there. deflate() always gets more
 * than 6 bytes of room: with less, a sync flush can repeat its marker forever.
 */
static int
enc_chunk_z(struct frame_enc *enc, struct frame_chunk *out)
{
	z_stream *zs = &enc->zs;
	size_t want = enc->mchunk + 4, have, give;
	int flush, r;

	if (enc->len == 0) {
		/* zlib refuses a second sync flush with no input in between, so
		 * the empty stored block such a flush would give is written here;
		 * between blocks it leaves the stream as it was */
		out->payload = empty_block;
		out->paylen = sizeof(empty_block);
		out->hdrlen = data_hdr(out->hdr, enc->seq,
		    FRAME_F_ZLIB | FRAME_F_LAST, out->paylen);
		enc->busy = 0;
		return 0;
	}
	while (enc->zend - enc->zstart < want && !enc->zdone) {
		if (enc->zstart > 0) {
			memmove(enc->zout, enc->zout + enc->zstart,
			    enc->zend - enc->zstart);
			enc->zend -= enc->zstart;
			enc->zstart = 0;
		}
		if (zs->avail_in == 0 && enc->off < enc->len) {
			give = enc->len - enc->off;
			if (give > UINT_MAX)
				give = UINT_MAX;
			zs->next_in = enc->msg + enc->off;
			zs->avail_in = (uInt)give;
			enc->off += give;
		}
		flush = enc->off == enc->len ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		zs->next_out = enc->zout + enc->zend;
		zs->avail_out = (uInt)(enc->zcap - enc->zend);
		r = deflate(zs, flush);
		enc->zend = enc->zcap - zs->avail_out;
		if (r != Z_OK && r != Z_BUF_ERROR)
			goto fail;
		if (flush == Z_SYNC_FLUSH && zs->avail_in == 0 && zs->avail_out > 0)
			enc->zdone = 1;
	}
	have = enc->zend - enc->zstart;
	out->payload = enc->zout + enc->zstart;
	if (enc->zdone && have <= want) {
		if (have < 4 || memcmp(enc->zout + enc->zend - 4, sync_tail, 4) != 0)
			goto fail;
		out->paylen = have - 4;
		out->hdrlen = data_hdr(out->hdr, enc->seq,
		    FRAME_F_ZLIB | FRAME_F_LAST, out->paylen);
		enc->busy = 0;
		return 0;
	}
	out->paylen = enc->mchunk;
	out->hdrlen = data_hdr(out->hdr, enc->seq, FRAME_F_ZLIB, out->paylen);
	enc->zstart += enc->mchunk;
	return 1;
 fail:
	enc->busy = 0;
	enc->zbroken = 1;
	return PROTO_ERR_ZLIB;
}

int
frame_enc_chunk(struct frame_enc *enc, struct frame_chunk *out)
{
	size_t n;
	int last;

	if (!enc->busy)
		return PROTO_ERR_ARG;
	if (enc->zmsg)
		return enc_chunk_z(enc, out);
	n = enc->len - enc->off;
	if (n > enc->mchunk)
		n = enc->mchunk;
	last = enc->off + n == enc->len;
	out->payload = enc->msg + enc->off;
	out->paylen = n;
	out->hdrlen = data_hdr(out->hdr, enc->seq, last ? FRAME_F_LAST : 0, n);
	enc->off += n;
	if (!last)
		return 1;
	enc->busy = 0;
	return 0;
}

/* An upper bound of the bytes frame_put_data() appends. */
static size_t
put_data_bound(struct frame_enc *enc, uint64_t seq, size_t len, int zmsg)
{
	size_t chunk = enc->chunk, full, rem, plen;

	if (!zmsg) {
		full = len / chunk;
		rem = len % chunk;
		plen = full * (data_hdr_size(seq, chunk) + chunk);
		if (rem > 0 || len == 0)
			plen += data_hdr_size(seq, rem) + rem;
		return plen;
	}
	/* deflateBound() covers a Z_FINISH; the sync flush adds an empty stored
	 * block (at most 5 bytes) on top of any partial block */
	plen = (size_t)deflateBound(&enc->zs, (uLong)len) + 16;
	return plen + (plen / chunk + 1) * DATA_HDR_MAX;
}

int
frame_put_data(struct frame_enc *enc, struct buf *out, uint64_t seq,
    const void *msg, size_t len, int compress)
{
	struct frame_chunk c;
	size_t start = buf_len(out), bound;
	uint8_t *dst;
	int r, more;

	if (enc->busy)
		return PROTO_ERR_ARG;
	if (msg == NULL && len > 0)
		return PROTO_ERR_ARG;
	/* Reserving everything first means a full or failing buffer is found before
	 * the deflate stream moves on: a stream advanced by a message that was never
	 * sent would be out of step with the peer's inflater. */
	bound = put_data_bound(enc, seq, len, compress && enc->level > 0);
	if ((r = buf_reserve(out, bound, &dst)) != 0)
		return r;
	if ((r = frame_enc_begin(enc, seq, msg, len, compress)) != 0)
		return r;
	do {
		if ((more = frame_enc_chunk(enc, &c)) < 0) {
			r = more;
			goto fail;
		}
		if ((r = buf_put(out, c.hdr, c.hdrlen)) != 0 ||
		    (r = buf_put(out, c.payload, c.paylen)) != 0)
			goto fail;
	} while (more);
	return 0;
 fail:
	if (enc->zmsg)
		enc->zbroken = 1;
	enc->busy = 0;
	buf_unput(out, buf_len(out) - start);
	return r;
}

/* Control frames are packed into a bounded stack buffer, then appended at once,
 * so a failure leaves the caller's buffer untouched. */
struct ctl {
	uint8_t d[CTL_MAX];
	size_t len;
	int over;
};

static int
ctl_write(void *data, const char *p, size_t len)
{
	struct ctl *c = data;

	if (len > sizeof(c->d) - c->len) {
		c->over = 1;
		return -1;
	}
	memcpy(c->d + c->len, p, len);
	c->len += len;
	return 0;
}

static void
ctl_init(struct ctl *c, msgpack_packer *pk)
{
	c->len = 4;             /* the frame length goes first */
	c->over = 0;
	msgpack_packer_init(pk, c, ctl_write);
}

static int
ctl_finish(struct ctl *c, int packerr, struct buf *out)
{
	if (packerr != 0 || c->over || c->len - 4 > FRAME_MAX)
		return PROTO_ERR_ARG;
	put_be32(c->d, (uint32_t)(c->len - 4));
	return buf_put(out, c->d, c->len);
}

static int
pack_key(msgpack_packer *pk, const char *key)
{
	size_t n = strlen(key);

	return msgpack_pack_str(pk, n) | msgpack_pack_str_body(pk, key, n);
}

static int
pack_features(msgpack_packer *pk, unsigned features)
{
	int r = pack_key(pk, "features");

	if (features & FRAME_FEAT_ZLIB)
		return r | msgpack_pack_array(pk, 1) | pack_key(pk, "zlib");
	return r | msgpack_pack_array(pk, 0);
}

static int
put_info(struct buf *out, enum frame_type type, const struct frame_info *info)
{
	msgpack_packer pk;
	struct ctl c;
	size_t blen, alen, n;
	int r, hello = type == FRAME_HELLO;

	if ((info->features & ~FRAME_FEAT_ZLIB) != 0)
		return PROTO_ERR_ARG;
	blen = strnlen(info->backend, sizeof(info->backend));
	if (blen == sizeof(info->backend))
		return PROTO_ERR_ARG;
	if (!hello && !info->has_token)
		return PROTO_ERR_ARG;
	if (hello)
		n = 2 + (info->min_version != 0) + (blen > 0) +
		    (info->has_token != 0) + (info->has_token || info->next != 0) +
		    (info->max_message != 0);
	else
		n = 5 + (info->max_message != 0) + (info->attached[0] != '\0');
	alen = strnlen(info->attached, sizeof(info->attached));
	if (alen == sizeof(info->attached))
		return PROTO_ERR_ARG;
	ctl_init(&c, &pk);
	r = msgpack_pack_array(&pk, 2) | msgpack_pack_uint8(&pk, (uint8_t)type) |
	    msgpack_pack_map(&pk, n);
	r |= pack_key(&pk, "version") | msgpack_pack_unsigned_int(&pk, info->version);
	if (hello && info->min_version != 0)
		r |= pack_key(&pk, "min_version") |
		    msgpack_pack_unsigned_int(&pk, info->min_version);
	r |= pack_features(&pk, info->features);
	if (hello && blen > 0)
		r |= pack_key(&pk, "backend") | msgpack_pack_str(&pk, blen) |
		    msgpack_pack_str_body(&pk, info->backend, blen);
	if (info->has_token)
		r |= pack_key(&pk, "token") | msgpack_pack_bin(&pk, FRAME_TOKEN_LEN) |
		    msgpack_pack_bin_body(&pk, info->token, FRAME_TOKEN_LEN);
	if (!hello || info->has_token || info->next != 0)
		r |= pack_key(&pk, "next") | msgpack_pack_uint64(&pk, info->next);
	if (!hello)
		r |= pack_key(&pk, "resumed") |
		    (info->resumed ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk));
	if (info->max_message != 0)
		r |= pack_key(&pk, "max_message") |
		    msgpack_pack_uint64(&pk, info->max_message);
	if (!hello && alen > 0)
		r |= pack_key(&pk, "attached") | msgpack_pack_str(&pk, alen) |
		    msgpack_pack_str_body(&pk, info->attached, alen);
	return ctl_finish(&c, r, out);
}

int
frame_put_magic(struct buf *out)
{
	return buf_put(out, FRAME_MAGIC, FRAME_MAGIC_LEN);
}

int
frame_put_hello(struct buf *out, const struct frame_info *info)
{
	return put_info(out, FRAME_HELLO, info);
}

int
frame_put_welcome(struct buf *out, const struct frame_info *info)
{
	return put_info(out, FRAME_WELCOME, info);
}

int
frame_put_ack(struct buf *out, uint64_t next)
{
	msgpack_packer pk;
	struct ctl c;

	ctl_init(&c, &pk);
	return ctl_finish(&c, msgpack_pack_array(&pk, 2) |
	    msgpack_pack_uint8(&pk, FRAME_ACK) | msgpack_pack_uint64(&pk, next), out);
}

static int
put_ping(struct buf *out, enum frame_type type, const void *opaque, size_t len)
{
	msgpack_packer pk;
	struct ctl c;

	if (len > FRAME_MAX_OPAQUE || (opaque == NULL && len > 0))
		return PROTO_ERR_ARG;
	ctl_init(&c, &pk);
	return ctl_finish(&c, msgpack_pack_array(&pk, 2) |
	    msgpack_pack_uint8(&pk, (uint8_t)type) | msgpack_pack_bin(&pk, len) |
	    msgpack_pack_bin_body(&pk, len > 0 ? opaque : empty_bytes, len), out);
}

int
frame_put_ping(struct buf *out, const void *opaque, size_t len)
{
	return put_ping(out, FRAME_PING, opaque, len);
}

int
frame_put_pong(struct buf *out, const void *opaque, size_t len)
{
	return put_ping(out, FRAME_PONG, opaque, len);
}

static int
put_error(struct buf *out, enum frame_type type, unsigned code, const char *reason)
{
	msgpack_packer pk;
	struct ctl c;
	size_t n = strnlen(reason, FRAME_MAX_REASON + 1);

	if (n > FRAME_MAX_REASON)
		return PROTO_ERR_ARG;
	ctl_init(&c, &pk);
	return ctl_finish(&c, msgpack_pack_array(&pk, 3) |
	    msgpack_pack_uint8(&pk, (uint8_t)type) |
	    msgpack_pack_unsigned_int(&pk, code) | msgpack_pack_str(&pk, n) |
	    msgpack_pack_str_body(&pk, reason, n), out);
}

int
frame_put_error(struct buf *out, unsigned code, const char *reason)
{
	return put_error(out, FRAME_ERROR, code, reason);
}

int
frame_put_close(struct buf *out, unsigned code, const char *reason)
{
	return put_error(out, FRAME_CLOSE, code, reason);
}

/* ---- decoding ------------------------------------------------------------ */

enum { ST_HDR, ST_PAYLOAD };

struct frame_dec {
	/* staged input: [rpos, wpos) is unparsed */
	uint8_t *in;
	size_t incap;
	size_t rpos;
	size_t wpos;
	int direct;             /* the last space() pointed into msg */
	size_t offered;         /* what the last space() allowed */

	int state;
	size_t remaining;       /* ST_PAYLOAD: chunk bytes still to come */
	int chunk_last;

	/* the message being reassembled */
	int in_msg;
	uint64_t seq;
	int mzlib;
	uint8_t *msg;
	size_t mlen;
	size_t mcap;
	size_t max_message;
	int release;            /* msg was handed out; reuse it on the next call */

	int zlib_on;
	int zinit;
	z_stream zs;

	int err;
	unsigned code;
	char why[160];
	char text[FRAME_MAX_REASON + 1];
};

/* Header fields of one DATA frame. */
struct dhdr {
	uint64_t seq;
	uint64_t flags;
	size_t paylen;
	size_t hdrlen;          /* body bytes before the payload (fast path) */
};

static int dec_fail(struct frame_dec *d, int err, unsigned code, const char *fmt, ...)
    PROTO_PRINTF(4, 5);

static int
dec_fail(struct frame_dec *d, int err, unsigned code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	d->err = err;
	d->code = code;
	return err;
}

#define VIOLATION(d, ...) \
	dec_fail((d), PROTO_ERR_INVALID, FRAME_CODE_PROTOCOL, __VA_ARGS__)

struct frame_dec *
frame_dec_new(size_t max_message)
{
	struct frame_dec *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	if ((d->in = malloc(IN_CAP)) == NULL) {
		free(d);
		return NULL;
	}
	d->incap = IN_CAP;
	d->max_message = max_message ? max_message : FRAME_DEFAULT_MAX_MESSAGE;
	if (d->max_message > SIZE_MAX / 2)      /* max_message + 1 must not wrap */
		d->max_message = SIZE_MAX / 2;
	return d;
}

void
frame_dec_free(struct frame_dec *d)
{
	if (d == NULL)
		return;
	if (d->zinit)
		inflateEnd(&d->zs);
	free(d->in);
	free(d->msg);
	free(d);
}

int
frame_dec_set_zlib(struct frame_dec *d, int on)
{
	if (d->in_msg)
		return PROTO_ERR_ARG;
	d->zlib_on = on != 0;
	if (!d->zlib_on)
		return 0;
	if (d->zinit)
		return inflateReset(&d->zs) == Z_OK ? 0 : PROTO_ERR_ZLIB;
	memset(&d->zs, 0, sizeof(d->zs));
	switch (inflateInit2(&d->zs, -15)) {
	case Z_OK:
		d->zinit = 1;
		return 0;
	case Z_MEM_ERROR:
		d->zlib_on = 0;
		return PROTO_ERR_NOMEM;
	default:
		d->zlib_on = 0;
		return PROTO_ERR_ZLIB;
	}
}

static void
msg_drop_big(struct frame_dec *d)
{
	if (d->mcap > MSG_KEEP) {
		free(d->msg);
		d->msg = NULL;
		d->mcap = 0;
	}
}

void
frame_dec_reset(struct frame_dec *d)
{
	d->rpos = d->wpos = 0;
	d->direct = 0;
	d->offered = 0;
	d->state = ST_HDR;
	d->remaining = 0;
	d->in_msg = 0;
	d->mlen = 0;
	d->release = 0;
	msg_drop_big(d);
	d->err = 0;
	d->code = 0;
	d->why[0] = '\0';
	if (d->zinit && inflateReset(&d->zs) != Z_OK)
		dec_fail(d, PROTO_ERR_ZLIB, FRAME_CODE_INTERNAL, "inflateReset failed");
}

const char *
frame_dec_reason(const struct frame_dec *d)
{
	return d->err ? d->why : "";
}

unsigned
frame_dec_code(const struct frame_dec *d)
{
	return d->err ? d->code : FRAME_CODE_NORMAL;
}

int
frame_dec_mid_message(const struct frame_dec *d)
{
	return d->in_msg;
}

/* Forgets the message handed out by the previous call. The buffer is kept:
 * growing a large one again costs more than the copy it holds, and it never
 * exceeds max_message + 1. frame_dec_reset() gives a large one back. */
static void
msg_release(struct frame_dec *d)
{
	if (!d->release)
		return;
	d->release = 0;
	d->mlen = 0;
}

/* Makes room for need bytes of message in total (need <= max_message + 1). */
static int
msg_reserve(struct frame_dec *d, size_t need)
{
	size_t ncap;
	uint8_t *n;

	if (need <= d->mcap)
		return 0;
	ncap = d->mcap < 16384 ? 16384 : d->mcap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > d->max_message + 1)
		ncap = d->max_message + 1;
	if (ncap < need)
		ncap = need;
	if ((n = realloc(d->msg, ncap)) == NULL)
		return dec_fail(d, PROTO_ERR_NOMEM, FRAME_CODE_INTERNAL,
		    "out of memory for a %zu-byte message", need);
	d->msg = n;
	d->mcap = ncap;
	return 0;
}

static int
too_large(struct frame_dec *d)
{
	return dec_fail(d, PROTO_ERR_TOO_LARGE, FRAME_CODE_TOO_LARGE,
	    "message %llu exceeds the limit of %zu bytes",
	    (unsigned long long)d->seq, d->max_message);
}

/*
 * Inflates p[0..n) onto the message. The output buffer never grows past
 * max_message + 1 bytes, so a bomb costs at most the limit: the one byte of
 * slack is how "more output than allowed" is told from "exactly the limit".
 */
static int
msg_inflate(struct frame_dec *d, const uint8_t *p, size_t n)
{
	z_stream *zs = &d->zs;
	size_t room, give;
	int r;

	zs->next_in = p;
	zs->avail_in = 0;
	for (;;) {
		if (zs->avail_in == 0 && n > 0) {
			give = n > UINT_MAX ? UINT_MAX : n;
			zs->next_in = p;
			zs->avail_in = (uInt)give;
			p += give;
			n -= give;
		}
		if (d->mlen == d->mcap) {
			if (d->mcap > d->max_message)
				return too_large(d);
			if ((r = msg_reserve(d, d->mlen + 1)) != 0)
				return r;
		}
		room = d->mcap - d->mlen;
		if (room > UINT_MAX)
			room = UINT_MAX;
		zs->next_out = d->msg + d->mlen;
		zs->avail_out = (uInt)room;
		r = inflate(zs, Z_SYNC_FLUSH);
		d->mlen += room - zs->avail_out;
		if (d->mlen > d->max_message)
			return too_large(d);
		if (r == Z_STREAM_END)
			return dec_fail(d, PROTO_ERR_ZLIB, FRAME_CODE_PROTOCOL,
			    "inflate: the deflate stream of message %llu ended",
			    (unsigned long long)d->seq);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return dec_fail(d, PROTO_ERR_ZLIB, FRAME_CODE_PROTOCOL,
			    "inflate: %s in message %llu",
			    zs->msg ? zs->msg : "error", (unsigned long long)d->seq);
		if (zs->avail_in == 0 && n == 0 && zs->avail_out > 0)
			return 0;
	}
}

/* Checks a DATA header against the message in progress and prepares for its
 * payload. nocopy: the chunk is a whole message delivered in place. */
static int
chunk_begin(struct frame_dec *d, const struct dhdr *h, int nocopy)
{
	int z = (h->flags & FRAME_F_ZLIB) != 0;

	if ((h->flags & ~(uint64_t)(FRAME_F_LAST | FRAME_F_ZLIB)) != 0)
		return VIOLATION(d, "DATA flags 0x%llx have unknown bits",
		    (unsigned long long)h->flags);
	if (h->paylen > FRAME_MAX_PAYLOAD)
		return VIOLATION(d, "DATA payload of %zu bytes exceeds %u",
		    h->paylen, FRAME_MAX_PAYLOAD);
	if (z && !d->zlib_on)
		return VIOLATION(d, "compressed DATA while compression is off");
	if (d->in_msg) {
		if (h->seq != d->seq)
			return VIOLATION(d, "DATA seq %llu inside message %llu",
			    (unsigned long long)h->seq, (unsigned long long)d->seq);
		if (z != d->mzlib)
			return VIOLATION(d, "ZLIB flag changed inside message %llu",
			    (unsigned long long)d->seq);
	} else {
		msg_release(d);
		d->mlen = 0;
		d->seq = h->seq;
		d->mzlib = z;
		if (!nocopy)
			d->in_msg = 1;
	}
	if (z)
		return 0;
	if (h->paylen > d->max_message - d->mlen)
		return too_large(d);
	return nocopy ? 0 : msg_reserve(d, d->mlen + h->paylen);
}

static int
chunk_bytes(struct frame_dec *d, const uint8_t *p, size_t n)
{
	if (d->mzlib)
		return msg_inflate(d, p, n);
	if (n > 0) {
		memcpy(d->msg + d->mlen, p, n);
		d->mlen += n;
	}
	return 0;
}

static int
msg_finish(struct frame_dec *d, struct frame *f)
{
	int r;

	if (d->mzlib) {
		if ((r = msg_inflate(d, sync_tail, sizeof(sync_tail))) != 0)
			return r;
		/* A sender's sync flush leaves the inflater between blocks; anything
		 * else means the message was cut or padded. */
		if ((d->zs.data_type & 0xc7) != 0x80)
			return dec_fail(d, PROTO_ERR_ZLIB, FRAME_CODE_PROTOCOL,
			    "inflate: message %llu does not end at a flush point",
			    (unsigned long long)d->seq);
	}
	memset(f, 0, sizeof(*f));
	f->type = FRAME_DATA;
	f->u.data.seq = d->seq;
	f->u.data.msg = d->msg != NULL ? d->msg : empty_bytes;
	f->u.data.len = d->mlen;
	f->u.data.compressed = d->mzlib;
	d->in_msg = 0;
	d->release = 1;
	return 1;
}

/* A DATA chunk whose payload is all present. Returns 1 with an event, 0 when
 * the chunk was absorbed, or an error. */
static int
data_whole(struct frame_dec *d, const struct dhdr *h, const uint8_t *pay,
    struct frame *f)
{
	int last = (h->flags & FRAME_F_LAST) != 0, r;
	int nocopy = last && !d->in_msg && !(h->flags & FRAME_F_ZLIB);

	if ((r = chunk_begin(d, h, nocopy)) != 0)
		return r;
	if (nocopy) {
		memset(f, 0, sizeof(*f));
		f->type = FRAME_DATA;
		f->u.data.seq = h->seq;
		f->u.data.msg = pay;
		f->u.data.len = h->paylen;
		return 1;
	}
	if ((r = chunk_bytes(d, pay, h->paylen)) != 0)
		return r;
	return last ? msg_finish(d, f) : 0;
}

/*
 * The DATA header in the shape every encoder of this protocol writes:
 * 94 03 seq flags bin-header, with the payload filling the body. Returns 1 when
 * parsed, 0 when more bytes are needed to tell, -1 for any other shape (which
 * the general path then judges).
 */
static int
data_fast(const uint8_t *b, size_t have, size_t n, struct dhdr *h)
{
	size_t i, k;
	uint8_t c;

#define NEED(x) do { if ((x) > have) return have == n ? -1 : 0; } while (0)
	NEED(3);
	if (b[0] != 0x94 || b[1] != FRAME_DATA)
		return -1;
	c = b[2];
	if (c <= 0x7f) {
		h->seq = c;
		i = 3;
	} else if (c >= 0xcc && c <= 0xcf) {
		k = (size_t)1 << (c - 0xcc);
		NEED(3 + k);
		h->seq = get_be(b + 3, k);
		i = 3 + k;
	} else
		return -1;
	NEED(i + 2);
	if (b[i] > 0x7f)
		return -1;
	h->flags = b[i++];
	c = b[i++];
	if (c < 0xc4 || c > 0xc6)
		return -1;
	k = (size_t)1 << (c - 0xc4);
	NEED(i + k);
	h->paylen = (size_t)get_be(b + i, k);
	i += k;
#undef NEED
	if (i > n || h->paylen != n - i)
		return -1;
	h->hdrlen = i;
	return 1;
}

static int
read_uint_field(struct frame_dec *d, struct mpr *r, const char *what, uint64_t max,
    uint64_t *v)
{
	if (mp_uint(r, v) != 0)
		return VIOLATION(d, "%s is not a uint", what);
	if (*v > max)
		return VIOLATION(d, "%s %llu is out of range", what,
		    (unsigned long long)*v);
	return 0;
}

#define K_VERSION       0x01
#define K_MIN_VERSION   0x02
#define K_FEATURES      0x04
#define K_BACKEND       0x08
#define K_TOKEN         0x10
#define K_NEXT          0x20
#define K_RESUMED       0x40
#define K_MAX_MESSAGE   0x80
#define K_ATTACHED      0x100

static int
keyis(const uint8_t *k, size_t klen, const char *name)
{
	return klen == strlen(name) && memcmp(k, name, klen) == 0;
}

static int
dec_info(struct frame_dec *d, struct mpr *r, int hello, struct frame_info *info)
{
	const char *what = hello ? "HELLO" : "WELCOME";
	const uint8_t *k, *v;
	size_t n, klen, vlen, nf;
	unsigned seen = 0, bit;
	uint64_t u;
	int e;

	memset(info, 0, sizeof(*info));
	if (mp_container(r, 1, &n) != 0)
		return VIOLATION(d, "%s info is not a map", what);
	while (n-- > 0) {
		if (mp_raw(r, 1, &k, &klen) != 0)
			return VIOLATION(d, "%s has a key that is not a str", what);
		bit = 0;
		if (keyis(k, klen, "version"))
			bit = K_VERSION;
		else if (keyis(k, klen, "features"))
			bit = K_FEATURES;
		else if (keyis(k, klen, "token"))
			bit = K_TOKEN;
		else if (keyis(k, klen, "next"))
			bit = K_NEXT;
		else if (keyis(k, klen, "max_message"))
			bit = K_MAX_MESSAGE;
		else if (hello && keyis(k, klen, "min_version"))
			bit = K_MIN_VERSION;
		else if (hello && keyis(k, klen, "backend"))
			bit = K_BACKEND;
		else if (!hello && keyis(k, klen, "resumed"))
			bit = K_RESUMED;
		else if (!hello && keyis(k, klen, "attached"))
			bit = K_ATTACHED;
		if (bit == 0) {
			if (mp_skip(r) != 0)
				return VIOLATION(d, "%s map is malformed", what);
			continue;
		}
		if (seen & bit)
			return VIOLATION(d, "%s repeats key \"%.*s\"", what,
			    (int)klen, (const char *)k);
		seen |= bit;
		switch (bit) {
		case K_VERSION:
			if ((e = read_uint_field(d, r, "version", UINT_MAX, &u)) != 0)
				return e;
			info->version = (unsigned)u;
			break;
		case K_MIN_VERSION:
			if ((e = read_uint_field(d, r, "min_version", UINT_MAX, &u)) != 0)
				return e;
			info->min_version = (unsigned)u;
			break;
		case K_NEXT:
			if ((e = read_uint_field(d, r, "next", UINT64_MAX, &u)) != 0)
				return e;
			info->next = u;
			break;
		case K_MAX_MESSAGE:
			if ((e = read_uint_field(d, r, "max_message", UINT64_MAX,
			    &u)) != 0)
				return e;
			info->max_message = u;
			break;
		case K_RESUMED:
			if (mp_bool(r, &info->resumed) != 0)
				return VIOLATION(d, "resumed is not a bool");
			break;
		case K_TOKEN:
			if (mp_raw(r, 0, &v, &vlen) != 0)
				return VIOLATION(d, "token is not a bin");
			if (vlen != FRAME_TOKEN_LEN)
				return VIOLATION(d, "token has %zu bytes, not %u",
				    vlen, FRAME_TOKEN_LEN);
			memcpy(info->token, v, FRAME_TOKEN_LEN);
			info->has_token = 1;
			break;
		case K_BACKEND:
			if (mp_raw(r, 1, &v, &vlen) != 0)
				return VIOLATION(d, "backend is not a str");
			if (vlen >= sizeof(info->backend))
				return VIOLATION(d,
				    "backend name of %zu bytes is too long", vlen);
			if (memchr(v, '\0', vlen) != NULL)
				return VIOLATION(d, "backend name contains NUL");
			memcpy(info->backend, v, vlen);
			break;
		case K_ATTACHED:
			if (mp_raw(r, 1, &v, &vlen) != 0)
				return VIOLATION(d, "attached is not a str");
			/* A note for the user: keep what fits, never fail on it. */
			if (vlen >= sizeof(info->attached))
				vlen = sizeof(info->attached) - 1;
			memcpy(info->attached, v, vlen);
			for (nf = 0; nf < vlen; nf++)
				if (info->attached[nf] == '\0')
					info->attached[nf] = '?';
			break;
		case K_FEATURES:
			if (mp_container(r, 0, &nf) != 0)
				return VIOLATION(d, "features is not an array");
			while (nf-- > 0) {
				if (mp_raw(r, 1, &v, &vlen) != 0)
					return VIOLATION(d, "a feature is not a str");
				if (keyis(v, vlen, "zlib"))
					info->features |= FRAME_FEAT_ZLIB;
			}
			break;
		}
	}
	if (!(seen & K_VERSION))
		return VIOLATION(d, "%s has no version", what);
	if (!hello && (seen & (K_TOKEN | K_NEXT)) != (K_TOKEN | K_NEXT))
		return VIOLATION(d, "WELCOME lacks token or next");
	if (hello && (seen & K_TOKEN) && !(seen & K_NEXT))
		return VIOLATION(d, "HELLO has a token but no next");
	return 0;
}

static const char *
type_name(uint64_t type)
{
	static const char *const names[] = { "", "HELLO", "WELCOME", "DATA", "ACK",
	    "PING", "PONG", "ERROR", "CLOSE" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

/*
 * The general path: a whole frame body, any shape. Returns 1 with an event, 0
 * when the frame produced none (skipped, or a DATA chunk absorbed), or an error.
 */
static int
dec_body(struct frame_dec *d, const uint8_t *body, size_t n, struct frame *f)
{
	struct mpr r = { body, body + n };
	struct frame ev;
	struct dhdr h;
	const uint8_t *v;
	size_t count, need, vlen, i;
	uint64_t type, u;
	int e;

	switch (frame_mp_check(body, n, MP_DEPTH)) {
	case 0:
		break;
	case PROTO_ERR_INCOMPLETE:
		return VIOLATION(d, "frame body of %zu bytes holds a truncated "
		    "msgpack value", n);
	default:
		return VIOLATION(d, "frame body of %zu bytes is not one msgpack value "
		    "nested at most %d deep", n, MP_DEPTH);
	}
	if (mp_container(&r, 0, &count) != 0)
		return VIOLATION(d, "frame is not an array");
	if (count == 0)
		return VIOLATION(d, "frame array is empty");
	if (mp_uint(&r, &type) != 0 || type == 0)
		return VIOLATION(d, "frame type is not a positive integer");
	switch (type) {
	case FRAME_HELLO: case FRAME_WELCOME: case FRAME_ACK: case FRAME_PING:
	case FRAME_PONG:
		need = 2;
		break;
	case FRAME_ERROR: case FRAME_CLOSE:
		need = 3;
		break;
	case FRAME_DATA:
		need = 4;
		break;
	default:
		return 0;       /* unknown types are skipped (2.2) */
	}
	if (count < need)
		return VIOLATION(d, "%s frame has %zu fields, needs %zu",
		    type_name(type), count - 1, need - 1);
	/* built aside so that a failure leaves *f as it was */
	memset(&ev, 0, sizeof(ev));
	ev.type = (enum frame_type)type;
	switch (type) {
	case FRAME_HELLO:
	case FRAME_WELCOME:
		if ((e = dec_info(d, &r, type == FRAME_HELLO, &ev.u.info)) != 0)
			return e;
		break;
	case FRAME_ACK:
		if ((e = read_uint_field(d, &r, "ACK next", UINT64_MAX, &u)) != 0)
			return e;
		ev.u.ack_next = u;
		break;
	case FRAME_PING:
	case FRAME_PONG:
		if (mp_raw(&r, 0, &v, &vlen) != 0)
			return VIOLATION(d, "%s opaque is not a bin", type_name(type));
		if (vlen > FRAME_MAX_OPAQUE)
			return VIOLATION(d, "%s opaque of %zu bytes exceeds %u",
			    type_name(type), vlen, FRAME_MAX_OPAQUE);
		ev.u.ping.opaque = v;
		ev.u.ping.len = vlen;
		break;
	case FRAME_ERROR:
	case FRAME_CLOSE:
		if ((e = read_uint_field(d, &r, "code", UINT_MAX, &u)) != 0)
			return e;
		if (mp_raw(&r, 1, &v, &vlen) != 0)
			return VIOLATION(d, "%s reason is not a str", type_name(type));
		if (vlen > FRAME_MAX_REASON)
			return VIOLATION(d, "%s reason of %zu bytes exceeds %u",
			    type_name(type), vlen, FRAME_MAX_REASON);
		/* The reason becomes a C string; a NUL inside would cut it short
		 * without anyone noticing. */
		for (i = 0; i < vlen; i++)
			d->text[i] = v[i] != '\0' ? (char)v[i] : '?';
		d->text[vlen] = '\0';
		ev.u.error.code = (unsigned)u;
		ev.u.error.reason = d->text;
		break;
	default:        /* FRAME_DATA */
		if ((e = read_uint_field(d, &r, "DATA seq", UINT64_MAX, &h.seq)) != 0 ||
		    (e = read_uint_field(d, &r, "DATA flags", UINT64_MAX, &h.flags)) != 0)
			return e;
		if (mp_raw(&r, 0, &v, &vlen) != 0)
			return VIOLATION(d, "DATA payload is not a bin");
		h.paylen = vlen;
		h.hdrlen = 0;
		return data_whole(d, &h, v, f);
	}
	*f = ev;
	return 1;
}

/*
 * Runs the decoder over staged input. With f NULL (called from commit) it only
 * takes steps that cannot produce an event and stops before any that would, so
 * events still come out of frame_dec_next() in stream order and every error is
 * found after the events before it.
 */
static int
dec_run(struct frame_dec *d, struct frame *f)
{
	struct dhdr h;
	const uint8_t *p;
	size_t avail, n, have;
	int r;

	for (;;) {
		avail = d->wpos - d->rpos;
		if (d->state == ST_PAYLOAD) {
			if (d->remaining > 0) {
				if (avail == 0)
					return 0;
				n = avail < d->remaining ? avail : d->remaining;
				if ((r = chunk_bytes(d, d->in + d->rpos, n)) != 0)
					return r;
				d->rpos += n;
				d->remaining -= n;
				if (d->remaining > 0)
					return 0;
			}
			if (!d->chunk_last) {
				d->state = ST_HDR;
				continue;
			}
			if (f == NULL)
				return 0;
			d->state = ST_HDR;
			return msg_finish(d, f);
		}
		if (avail < 4)
			return 0;
		p = d->in + d->rpos;
		n = (size_t)get_be(p, 4);
		if (n < 2)
			return VIOLATION(d, "frame length %zu is below 2", n);
		if (n > FRAME_MAX)
			return VIOLATION(d, "frame length %zu exceeds %u", n, FRAME_MAX);
		have = avail - 4 < n ? avail - 4 : n;
		r = data_fast(p + 4, have, n, &h);
		if (r == 0)
			return 0;
		if (r > 0 && have < n) {
			/* The payload streams in (maybe straight into the message,
			 * see frame_dec_space()). */
			if ((r = chunk_begin(d, &h, 0)) != 0)
				return r;
			d->rpos += 4 + h.hdrlen;
			d->state = ST_PAYLOAD;
			d->remaining = h.paylen;
			d->chunk_last = (h.flags & FRAME_F_LAST) != 0;
			continue;
		}
		if (have < n)
			return 0;
		if (r > 0) {
			if (f == NULL && (h.flags & FRAME_F_LAST))
				return 0;
			d->rpos += 4 + n;
			/* f may be NULL only for a chunk that is not the last */
			r = data_whole(d, &h, p + 4 + h.hdrlen, f);
		} else {
			if (f == NULL)
				return 0;
			d->rpos += 4 + n;
			r = dec_body(d, p + 4, n, f);
		}
		if (r != 0)
			return r;
	}
}

int
frame_dec_next(struct frame_dec *d, struct frame *f)
{
	if (d->err)
		return d->err;
	msg_release(d);
	return dec_run(d, f);
}

long
frame_dec_space(struct frame_dec *d, uint8_t **dst)
{
	size_t held;

	d->offered = 0;
	d->direct = 0;
	if (d->err)
		return d->err;
	if (d->state == ST_PAYLOAD && !d->mzlib && d->remaining > 0 &&
	    d->rpos == d->wpos) {
		*dst = d->msg + d->mlen;
		d->direct = 1;
		d->offered = d->remaining;
		return (long)d->offered;
	}
	held = d->wpos - d->rpos;
	if (held == 0) {
		d->rpos = d->wpos = 0;
		if (d->incap > IN_CAP) {
			/* feed() grew it for a caller that fed without decoding */
			uint8_t *n = realloc(d->in, IN_CAP);

			if (n != NULL) {
				d->in = n;
				d->incap = IN_CAP;
			}
		}
		/* Between the chunks of a plain message the next thing is most
		 * likely its next header: reading only that much lets the payload
		 * after it be read straight into place. */
		if (d->in_msg && !d->mzlib) {
			d->offered = DATA_HDR_MAX;
			*dst = d->in;
			return DATA_HDR_MAX;
		}
	} else if (d->rpos > 0 && d->incap - d->wpos < IN_MIN_READ) {
		memmove(d->in, d->in + d->rpos, held);
		d->rpos = 0;
		d->wpos = held;
	}
	if (d->wpos == d->incap)
		return PROTO_ERR_FULL;
	*dst = d->in + d->wpos;
	d->offered = d->incap - d->wpos;
	return (long)d->offered;
}

void
frame_dec_commit(struct frame_dec *d, size_t n)
{
	if (n > d->offered)
		n = d->offered;
	d->offered = 0;
	if (d->err || n == 0)
		return;
	if (d->direct) {
		d->mlen += n;
		d->remaining -= n;
	} else
		d->wpos += n;
	d->direct = 0;
	(void)dec_run(d, NULL);
}

int
frame_dec_feed(struct frame_dec *d, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t *dst, *nin;
	long space;
	size_t n;

	while (len > 0) {
		space = frame_dec_space(d, &dst);
		if (space == PROTO_ERR_FULL) {
			/* Input nobody decoded yet: the caller's memory, not ours. */
			if (d->incap > SIZE_MAX / 2 ||
			    (nin = realloc(d->in, d->incap * 2)) == NULL)
				return PROTO_ERR_NOMEM;
			d->in = nin;
			d->incap *= 2;
			continue;
		}
		if (space < 0)
			return (int)space;
		n = (size_t)space;
		/* Staging a little at a time lets a large payload's header be
		 * parsed early, so the rest of it is copied straight into place. */
		if (!d->direct && n > FEED_STEP)
			n = FEED_STEP;
		if (n > len)
			n = len;
		memcpy(dst, p, n);
		frame_dec_commit(d, n);
		p += n;
		len -= n;
	}
	return d->err;
}
