/*
 * frame-t.c - tests of the framed tunnel codec (proto/frame.c, PROTOCOL.md 2).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define ZLIB_CONST
#include <zlib.h>

#include "proto/frame.h"
#include "tests/tap.h"

#define MiB (1024u * 1024u)

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		bail("out of memory");
	return p;
}

static struct buf *
xbuf(size_t max)
{
	struct buf *b = buf_new(max);

	if (b == NULL)
		bail("out of memory");
	return b;
}

static struct frame_dec *
xdec(size_t max, int zlib)
{
	struct frame_dec *d = frame_dec_new(max);

	if (d == NULL || frame_dec_set_zlib(d, zlib) != 0)
		bail("frame_dec_new");
	return d;
}

static struct frame_enc *
xenc(int level, size_t chunk)
{
	struct frame_enc *e = frame_enc_new();

	if (e == NULL || frame_enc_set_zlib(e, level) != 0)
		bail("frame_enc_new");
	if (chunk)
		frame_enc_set_chunk(e, chunk);
	return e;
}

/* Appends hex bytes ("92 04 01"; spaces ignored) to b. */
static void
put_hex(struct buf *b, const char *hex)
{
	unsigned v;
	uint8_t byte;

	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		if (sscanf(hex, "%2x", &v) != 1)
			bail("bad hex %s", hex);
		byte = (uint8_t)v;
		if (buf_put(b, &byte, 1) != 0)
			bail("buf_put");
		hex += 2;
	}
}

static void
put_u32(struct buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
	    (uint8_t)v };

	if (buf_put(b, p, 4) != 0)
		bail("buf_put");
}

/* Appends one frame whose body is the given hex. */
static void
put_frame_hex(struct buf *b, const char *hex)
{
	struct buf *t = xbuf(1 << 20);

	put_hex(t, hex);
	put_u32(b, (uint32_t)buf_len(t));
	if (buf_put(b, buf_ptr(t), buf_len(t)) != 0)
		bail("buf_put");
	buf_free(t);
}

/* Appends one frame with a raw body. */
static void
put_frame_raw(struct buf *b, const void *body, size_t n)
{
	put_u32(b, (uint32_t)n);
	if (buf_put(b, body, n) != 0)
		bail("buf_put");
}

static void
xput(int r, const char *what)
{
	if (r != 0)
		bail("%s: %s", what, proto_strerror(r));
}

/* An owned copy of one decoded event. */
struct ev {
	enum frame_type type;
	uint64_t seq;
	uint64_t ack;
	unsigned code;
	int compressed;
	uint8_t *data;          /* DATA message, PING/PONG opaque, ERROR reason */
	size_t len;
	struct frame_info info;
};

struct evlist {
	struct ev *v;
	size_t n;
	size_t cap;
};

static void
ev_add(struct evlist *l, const struct frame *f)
{
	struct ev *e;
	const void *src = NULL;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		if ((l->v = realloc(l->v, l->cap * sizeof(*l->v))) == NULL)
			bail("out of memory");
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->type = f->type;
	switch (f->type) {
	case FRAME_HELLO:
	case FRAME_WELCOME:
		e->info = f->u.info;
		break;
	case FRAME_DATA:
		e->seq = f->u.data.seq;
		e->compressed = f->u.data.compressed;
		src = f->u.data.msg;
		e->len = f->u.data.len;
		if (src == NULL)
			bail("DATA event with a NULL message");
		break;
	case FRAME_ACK:
		e->ack = f->u.ack_next;
		break;
	case FRAME_PING:
	case FRAME_PONG:
		src = f->u.ping.opaque;
		e->len = f->u.ping.len;
		break;
	case FRAME_ERROR:
	case FRAME_CLOSE:
		e->code = f->u.error.code;
		src = f->u.error.reason;
		e->len = strlen(f->u.error.reason);
		break;
	}
	e->data = xmalloc(e->len + 1);
	if (e->len > 0)
		memcpy(e->data, src, e->len);
	e->data[e->len] = 0;
}

static void
evlist_free(struct evlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].data);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
info_same(const struct frame_info *a, const struct frame_info *b)
{
	return a->version == b->version && a->min_version == b->min_version &&
	    a->features == b->features && strcmp(a->backend, b->backend) == 0 &&
	    a->has_token == b->has_token &&
	    (!a->has_token || memcmp(a->token, b->token, FRAME_TOKEN_LEN) == 0) &&
	    a->next == b->next && a->resumed == b->resumed &&
	    a->max_message == b->max_message;
}

static int
ev_same(const struct ev *a, const struct ev *b)
{
	if (a->type != b->type || a->seq != b->seq || a->ack != b->ack ||
	    a->code != b->code || a->compressed != b->compressed ||
	    a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
		return 0;
	if (a->type == FRAME_HELLO || a->type == FRAME_WELCOME)
		return info_same(&a->info, &b->info);
	return 1;
}

static int
evlist_same(const struct evlist *a, const struct evlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!ev_same(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}

/* Is a a prefix of b? */
static int
evlist_prefix(const struct evlist *a, const struct evlist *b)
{
	if (a->n > b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!ev_same(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}

enum feedmode {
	M_ALL,          /* feed everything, then next() */
	M_STEP,         /* feed step bytes, drain, repeat */
	M_SPACE,        /* frame_dec_space/commit at most step bytes, drain, repeat */
	M_RANDOM        /* feed pieces of random size up to step */
};

static int
drain(struct frame_dec *d, struct evlist *l)
{
	struct frame f;
	int r;

	while ((r = frame_dec_next(d, &f)) == 1)
		if (l != NULL)
			ev_add(l, &f);
	return r;
}

/* Decodes s[0..n) into l. Returns 0 or the decoder's error. */
static int
run_dec(struct frame_dec *d, const uint8_t *s, size_t n, enum feedmode m,
    size_t step, struct evlist *l)
{
	size_t off = 0, k;
	uint8_t *dst;
	long space;
	int r;

	if (step == 0)
		step = 1;
	do {
		k = n - off;
		if (m == M_STEP && k > step)
			k = step;
		if (m == M_RANDOM && k > 0)
			k = 1 + (size_t)(rng() % (k < step ? k : step));
		if (m == M_SPACE) {
			if (off < n) {
				if ((space = frame_dec_space(d, &dst)) <= 0)
					return space < 0 ? (int)space : -100;
				k = (size_t)space < k ? (size_t)space : k;
				k = k < step ? k : step;
				memcpy(dst, s + off, k);
				frame_dec_commit(d, k);
			}
		} else if (k > 0 && (r = frame_dec_feed(d, s + off, k)) != 0) {
			int again = drain(d, NULL);

			return again == r ? r : -101;
		}
		off += k;
		if ((r = drain(d, l)) < 0)
			return r;
	} while (off < n);
	return 0;
}

/* Decodes with a fresh decoder; *reason gets a copy of the reason on error. */
static int
decode(const struct buf *s, size_t max, int zlib, enum feedmode m, size_t step,
    struct evlist *l, char *reason, size_t rlen, unsigned *code)
{
	struct frame_dec *d = xdec(max, zlib);
	int r = run_dec(d, buf_ptr(s), buf_len(s), m, step, l);

	if (reason != NULL)
		snprintf(reason, rlen, "%s", frame_dec_reason(d));
	if (code != NULL)
		*code = frame_dec_code(d);
	frame_dec_free(d);
	return r;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

/* ---- control frames ------------------------------------------------------ */

static void
fill_token(uint8_t *t, uint8_t seed)
{
	for (unsigned i = 0; i < FRAME_TOKEN_LEN; i++)
		t[i] = (uint8_t)(seed + i * 7);
}

static void
test_control_roundtrip(void)
{
	static const uint64_t nums[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	    0xffffffffull, 0x100000000ull, UINT64_MAX };
	static const unsigned codes[] = { 0, 1, 5, 10, 127, 128, 65536, UINT_MAX };
	struct frame_info hellos[5], welcomes[3];
	struct buf *b = xbuf(16 * MiB);
	struct evlist want = { 0 }, got = { 0 };
	struct frame f;
	uint8_t opaque[FRAME_MAX_OPAQUE];
	char reason[FRAME_MAX_REASON + 1];
	size_t i;
	int r;

	memset(hellos, 0, sizeof(hellos));
	memset(welcomes, 0, sizeof(welcomes));
	hellos[0].version = 1;
	hellos[1].version = 1;
	hellos[1].min_version = 1;
	hellos[1].features = FRAME_FEAT_ZLIB;
	snprintf(hellos[1].backend, sizeof(hellos[1].backend), "codex");
	hellos[2] = hellos[1];
	hellos[2].has_token = 1;
	fill_token(hellos[2].token, 3);
	hellos[2].next = 0x1234567890ull;
	hellos[2].max_message = 1u << 30;
	hellos[3].version = UINT_MAX;
	hellos[3].min_version = 7;
	memset(hellos[3].backend, 'b', sizeof(hellos[3].backend) - 1);
	hellos[3].next = 5;             /* without a token, still carried */
	hellos[4].version = 2;
	hellos[4].has_token = 1;
	hellos[4].max_message = UINT64_MAX;
	welcomes[0].version = 1;
	welcomes[0].has_token = 1;
	fill_token(welcomes[0].token, 9);
	welcomes[0].next = 1;
	welcomes[1] = welcomes[0];
	welcomes[1].features = FRAME_FEAT_ZLIB;
	welcomes[1].resumed = 1;
	welcomes[1].next = UINT64_MAX;
	welcomes[1].max_message = 64 * MiB;
	welcomes[2] = welcomes[0];
	welcomes[2].version = 0;

	/* Build a stream of every control frame and the events it must give. */
	for (i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
		xput(frame_put_hello(b, &hellos[i]), "hello");
		f.type = FRAME_HELLO;
		f.u.info = hellos[i];
		ev_add(&want, &f);
	}
	for (i = 0; i < sizeof(welcomes) / sizeof(welcomes[0]); i++) {
		xput(frame_put_welcome(b, &welcomes[i]), "welcome");
		f.type = FRAME_WELCOME;
		f.u.info = welcomes[i];
		ev_add(&want, &f);
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		xput(frame_put_ack(b, nums[i]), "ack");
		f.type = FRAME_ACK;
		f.u.ack_next = nums[i];
		ev_add(&want, &f);
	}
	for (i = 0; i < sizeof(opaque); i++)
		opaque[i] = (uint8_t)(i * 13 + 1);
	for (i = 0; i <= FRAME_MAX_OPAQUE; i += (i < 3 ? 1 : 20)) {
		size_t len = i > FRAME_MAX_OPAQUE ? FRAME_MAX_OPAQUE : i;

		xput(frame_put_ping(b, len ? opaque : NULL, len), "ping");
		f.type = FRAME_PING;
		f.u.ping.opaque = opaque;
		f.u.ping.len = len;
		ev_add(&want, &f);
		xput(frame_put_pong(b, opaque, len), "pong");
		f.type = FRAME_PONG;
		ev_add(&want, &f);
	}
	xput(frame_put_ping(b, opaque, FRAME_MAX_OPAQUE), "ping");
	f.type = FRAME_PING;
	f.u.ping.opaque = opaque;
	f.u.ping.len = FRAME_MAX_OPAQUE;
	ev_add(&want, &f);
	memset(reason, 'r', FRAME_MAX_REASON);
	reason[FRAME_MAX_REASON] = '\0';
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *why = i == 0 ? "" : i == 1 ? "bad frame" :
		    i == 2 ? reason : "résumé \xe2\x9c\x93";

		xput(frame_put_error(b, codes[i], why), "error");
		f.type = FRAME_ERROR;
		f.u.error.code = codes[i];
		f.u.error.reason = why;
		ev_add(&want, &f);
		xput(frame_put_close(b, codes[i], why), "close");
		f.type = FRAME_CLOSE;
		ev_add(&want, &f);
	}

	r = decode(b, 0, 0, M_ALL, 0, &got, NULL, 0, NULL);
	is_int(r, 0, "control frames: decode succeeds");
	ok(evlist_same(&got, &want), "control frames: %zu events round trip", want.n);
	evlist_free(&got);
	r = decode(b, 0, 0, M_STEP, 1, &got, NULL, 0, NULL);
	ok(r == 0 && evlist_same(&got, &want), "control frames: byte by byte");
	evlist_free(&got);
	r = decode(b, 0, 0, M_SPACE, 3, &got, NULL, 0, NULL);
	ok(r == 0 && evlist_same(&got, &want), "control frames: space/commit by 3");
	evlist_free(&got);
	evlist_free(&want);

	/* magic */
	buf_reset(b);
	xput(frame_put_magic(b), "magic");
	is_mem(buf_ptr(b), buf_len(b), "\0cxssh\r\n", 8, "magic bytes");
	buf_free(b);
}

static void
test_control_args(void)
{
	struct buf *b = xbuf(1 << 16), *tiny = xbuf(10);
	struct frame_info info;
	char reason[FRAME_MAX_REASON + 2];
	uint8_t opaque[FRAME_MAX_OPAQUE + 1] = { 0 };

	memset(&info, 0, sizeof(info));
	info.version = 1;
	is_int(frame_put_ping(b, opaque, FRAME_MAX_OPAQUE + 1), PROTO_ERR_ARG,
	    "ping: opaque of 65 bytes refused");
	is_int(frame_put_pong(b, opaque, FRAME_MAX_OPAQUE + 1), PROTO_ERR_ARG,
	    "pong: opaque of 65 bytes refused");
	is_int(frame_put_ping(b, NULL, 3), PROTO_ERR_ARG, "ping: NULL opaque with a length");
	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	is_int(frame_put_error(b, 1, reason), PROTO_ERR_ARG, "error: reason of 1025 bytes refused");
	is_int(frame_put_close(b, 1, reason), PROTO_ERR_ARG, "close: reason of 1025 bytes refused");
	memset(info.backend, 'b', sizeof(info.backend));
	is_int(frame_put_hello(b, &info), PROTO_ERR_ARG, "hello: unterminated backend refused");
	info.backend[0] = '\0';
	info.features = 0x80;
	is_int(frame_put_hello(b, &info), PROTO_ERR_ARG, "hello: unknown feature bit refused");
	info.features = 0;
	is_int(frame_put_welcome(b, &info), PROTO_ERR_ARG, "welcome: a token is required");
	is_int((int)buf_len(b), 0, "refused frames append nothing");

	is_int(frame_put_ack(tiny, 1), 0, "ack fits in 10 bytes");
	is_int(frame_put_ack(tiny, UINT64_MAX), PROTO_ERR_TOO_LARGE, "full buffer: TOO_LARGE");
	is_int((int)buf_len(tiny), 4 + 3, "full buffer: nothing appended");
	is_int(frame_put_hello(tiny, &info), PROTO_ERR_TOO_LARGE, "full buffer: hello TOO_LARGE");
	is_int(frame_put_magic(tiny), PROTO_ERR_TOO_LARGE, "full buffer: magic TOO_LARGE");
	is_int((int)buf_len(tiny), 4 + 3, "full buffer: still unchanged");
	buf_free(b);
	buf_free(tiny);
}

/* ---- DATA ---------------------------------------------------------------- */

static void
fill_text(uint8_t *p, size_t n, unsigned seed)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur "
	    "adipiscing elit sed do eiusmod tempor incididunt ut labore\n";
	uint64_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		if (i % 64 == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		p[i] = (uint8_t)words[(i + (x >> 40)) % (sizeof(words) - 1)];
	}
}

/* Checks the chunks the encoder produces for one message. */
static void
check_chunks(size_t len, size_t chunk, int level)
{
	struct frame_enc *e = xenc(level, chunk);
	struct frame_chunk c;
	uint8_t *msg = xmalloc(len);
	size_t frames = 0, total = 0, bad = 0, expect;
	int r, lastseen = 0;

	fill_text(msg, len, (unsigned)len);
	if (frame_enc_begin(e, 77, msg, len, level > 0) != 0)
		bail("begin");
	do {
		r = frame_enc_chunk(e, &c);
		if (r < 0)
			break;
		frames++;
		total += c.paylen;
		if (c.paylen > chunk || c.hdrlen > sizeof(c.hdr) ||
		    (level == 0 && total <= len && c.paylen > 0 &&
		    memcmp(c.payload, msg + total - c.paylen, c.paylen) != 0))
			bad++;
		/* flags byte: 4 length + 94 03 + seq 77 (one byte) */
		if (c.hdr[7] != ((r == 0 ? FRAME_F_LAST : 0) | (level ? FRAME_F_ZLIB : 0)))
			bad++;
		lastseen = r == 0;
	} while (r == 1);
	ok(r == 0 && lastseen && bad == 0 && !frame_enc_busy(e),
	    "encode %zu bytes in chunks of %zu (zlib %d): %zu frames, well formed",
	    len, chunk, level, frames);
	if (level == 0) {
		expect = len == 0 ? 1 : (len + chunk - 1) / chunk;
		ok(frames == expect && total == len, "  %zu frames expected, payload total %zu",
		    expect, total);
		if (len > 0)
			ok(c.payload == msg + len - c.paylen, "  payload points into the message");
	}
	frame_enc_free(e);
	free(msg);
}

static void
roundtrip_data(size_t len, size_t chunk, int level, const char *label)
{
	struct frame_enc *e = xenc(level, chunk);
	struct buf *b = xbuf(len + len / 8 + 65536);
	uint8_t *msg = xmalloc(len);
	struct evlist got = { 0 };
	static const struct {
		enum feedmode m;
		size_t step;
	} modes[] = { { M_ALL, 0 }, { M_STEP, 4096 }, { M_SPACE, 65536 },
	    { M_RANDOM, 100000 }, { M_STEP, 1 } };
	int r, good = 1;

	fill_text(msg, len, (unsigned)len + 1);
	xput(frame_put_data(e, b, 42, msg, len, level > 0), "put_data");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (modes[i].step == 1 && buf_len(b) > 300000)
			continue;
		r = decode(b, 0, level > 0, modes[i].m, modes[i].step, &got, NULL, 0, NULL);
		if (r != 0 || got.n != 1 || got.v[0].type != FRAME_DATA ||
		    got.v[0].seq != 42 || got.v[0].len != len ||
		    got.v[0].compressed != (level > 0) ||
		    memcmp(got.v[0].data, msg, len) != 0) {
			diag("mode %zu: r=%d n=%zu", i, r, got.n);
			good = 0;
		}
		evlist_free(&got);
	}
	ok(good, "DATA %s: %zu bytes, chunk %zu, zlib %d round trips in every feed mode",
	    label, len, chunk, level);
	frame_enc_free(e);
	buf_free(b);
	free(msg);
}

static void
test_data_sizes(void)
{
	static const size_t chunks[] = { 100, 4096, FRAME_MAX_PAYLOAD };
	size_t c, sizes[6];

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		c = chunks[i];
		sizes[0] = 0;
		sizes[1] = 1;
		sizes[2] = c - 1;
		sizes[3] = c;
		sizes[4] = c + 1;
		sizes[5] = 3 * c + 5;
		for (size_t j = 0; j < 6; j++) {
			check_chunks(sizes[j], c, 0);
			roundtrip_data(sizes[j], c, 0, "plain");
			roundtrip_data(sizes[j], c, 6, "zlib");
		}
	}
	for (size_t c2 = 1; c2 <= 8; c2++)
		check_chunks(300, c2, 1);
	check_chunks(FRAME_MAX_PAYLOAD * 3 + 5, FRAME_MAX_PAYLOAD, 9);
	frame_enc_free(NULL);
	frame_dec_free(NULL);
}

static void
test_data_big(void)
{
	size_t len = 20 * MiB;
	struct frame_enc *e = xenc(0, 0);
	struct frame_dec *d = xdec(0, 0);
	struct buf *b = xbuf(len + 65536);
	uint8_t *msg = xmalloc(len);
	struct frame_chunk c;
	struct frame f;
	size_t frames = 0;
	int r, good = 1, got = 0;

	fill_text(msg, len, 5);
	roundtrip_data(len, FRAME_MAX_PAYLOAD, 0, "20 MiB");
	roundtrip_data(len, FRAME_MAX_PAYLOAD, 1, "20 MiB");
	/* zero-copy both ways: chunks written as header + payload pointer, read
	 * with space/commit */
	xput(frame_enc_begin(e, 9, msg, len, 0), "begin");
	do {
		uint8_t *dst;
		const uint8_t *parts[2];
		size_t lens[2];

		if ((r = frame_enc_chunk(e, &c)) < 0)
			break;
		frames++;
		good &= c.payload >= msg && c.payload + c.paylen <= msg + len;
		parts[0] = c.hdr;
		lens[0] = c.hdrlen;
		parts[1] = c.payload;
		lens[1] = c.paylen;
		for (int i = 0; i < 2; i++) {
			while (lens[i] > 0) {
				long space = frame_dec_space(d, &dst);
				size_t n;

				if (space <= 0) {
					good = 0;
					break;
				}
				n = (size_t)space < lens[i] ? (size_t)space : lens[i];
				memcpy(dst, parts[i], n);
				frame_dec_commit(d, n);
				parts[i] += n;
				lens[i] -= n;
			}
		}
		while (frame_dec_next(d, &f) == 1) {
			got++;
			good &= f.type == FRAME_DATA && f.u.data.seq == 9 &&
			    f.u.data.len == len && memcmp(f.u.data.msg, msg, len) == 0;
		}
	} while (r == 1);
	ok(r == 0 && good && got == 1 && frames == len / FRAME_MAX_PAYLOAD,
	    "20 MiB zero-copy: %zu chunks pointing into the message, one event", frames);
	frame_enc_free(e);
	frame_dec_free(d);
	buf_free(b);
	free(msg);
}

/* ---- streams split and truncated ---------------------------------------- */

/* A stream of several small frames, including a message in 7-byte chunks. */
static void
small_stream(struct buf *b, int level)
{
	struct frame_enc *e = xenc(level, 7);
	struct frame_info hi;
	const char *m1 = "{\"id\":1,\"method\":\"initialize\"}";
	const char *m2 = "{\"method\":\"delta\",\"params\":{\"d\":\"hello world\"}}";
	struct frame_chunk c;
	int r;

	memset(&hi, 0, sizeof(hi));
	hi.version = 1;
	hi.features = FRAME_FEAT_ZLIB;
	xput(frame_put_hello(b, &hi), "hello");
	frame_enc_set_chunk(e, FRAME_MAX_PAYLOAD);
	xput(frame_put_data(e, b, 1, m1, strlen(m1), level > 0), "data");
	xput(frame_put_ping(b, "abcd", 4), "ping");
	frame_enc_set_chunk(e, 7);
	if (frame_enc_begin(e, 2, m2, strlen(m2), level > 0) != 0)
		bail("begin");
	do {
		if ((r = frame_enc_chunk(e, &c)) < 0)
			bail("chunk");
		xput(buf_put(b, c.hdr, c.hdrlen), "put");
		xput(buf_put(b, c.payload, c.paylen), "put");
		xput(frame_put_ack(b, 3), "ack");
	} while (r == 1);
	xput(frame_put_data(e, b, 3, "", 0, level > 0), "data");
	put_frame_hex(b, "93 1e a1 78 c0");          /* unknown type 30 */
	xput(frame_put_close(b, 0, "bye"), "close");
	frame_enc_free(e);
}

static void
test_split(int level)
{
	struct buf *b = xbuf(1 << 20);
	struct evlist want = { 0 }, got = { 0 };
	struct frame_dec *d;
	size_t n, k, bad_split = 0, bad_trunc = 0;
	int r;

	small_stream(b, level);
	n = buf_len(b);
	r = decode(b, 0, level > 0, M_ALL, 0, &want, NULL, 0, NULL);
	ok(r == 0 && want.n >= 11, "small stream (zlib %d): %zu bytes, %zu events", level,
	    n, want.n);
	if (want.n >= 11)
		ok(want.v[3].type == FRAME_ACK && want.v[want.n - 4].type == FRAME_DATA &&
		    want.v[want.n - 4].len > 40 && want.v[want.n - 3].type == FRAME_ACK &&
		    want.v[want.n - 2].len == 0 && want.v[want.n - 1].type == FRAME_CLOSE,
		    "  acks interleaved between chunks come before the message");
	for (k = 0; k <= n; k++) {
		d = xdec(0, level > 0);
		r = run_dec(d, buf_ptr(b), k, M_ALL, 0, &got);
		if (r == 0)
			r = run_dec(d, buf_ptr(b) + k, n - k, M_ALL, 0, &got);
		if (r != 0 || !evlist_same(&got, &want))
			bad_split++;
		evlist_free(&got);
		frame_dec_free(d);

		/* truncated at k: a prefix of the events, never a wrong one */
		d = xdec(0, level > 0);
		r = run_dec(d, buf_ptr(b), k, M_STEP, 5, &got);
		if (r != 0 || !evlist_prefix(&got, &want))
			bad_trunc++;
		evlist_free(&got);
		frame_dec_free(d);
	}
	is_int((long long)bad_split, 0, "split at each of %zu offsets gives the same events", n + 1);
	is_int((long long)bad_trunc, 0, "truncated at each offset gives a prefix, no error");
	r = decode(b, 0, level > 0, M_STEP, 1, &got, NULL, 0, NULL);
	ok(r == 0 && evlist_same(&got, &want), "fed byte by byte");
	evlist_free(&got);
	r = decode(b, 0, level > 0, M_SPACE, 1, &got, NULL, 0, NULL);
	ok(r == 0 && evlist_same(&got, &want), "space/commit byte by byte");
	evlist_free(&got);
	for (int i = 0; i < 20; i++) {
		r = decode(b, 0, level > 0, M_RANDOM, 1 + (size_t)i * 3, &got, NULL, 0, NULL);
		if (r != 0 || !evlist_same(&got, &want))
			bad_split++;
		evlist_free(&got);
	}
	is_int((long long)bad_split, 0, "random piece sizes");
	evlist_free(&want);
	buf_free(b);
}

/* ---- malformed input, table driven --------------------------------------- */

struct bad_case {
	const char *name;
	const char *hex;        /* body, length added */
	int err;                /* 0: accepted */
	const char *reason;     /* substring of the reason */
};

static const struct bad_case bad_cases[] = {
	/* shape */
	{ "body not an array (str)", "a1 78", PROTO_ERR_INVALID, "not an array" },
	{ "body not an array (int)", "04 04", PROTO_ERR_INVALID, "not one msgpack value" },
	{ "empty array", "90 c0", PROTO_ERR_INVALID, "not one msgpack value" },
	{ "empty array alone", "90", PROTO_ERR_INVALID, "below 2" },
	{ "empty array16", "dc 00 00", PROTO_ERR_INVALID, "frame array is empty" },
	{ "array [] then nil", "91 90", PROTO_ERR_INVALID, "type is not" },
	{ "type is a str", "91 a1 78", PROTO_ERR_INVALID, "type is not" },
	{ "type 0", "91 00", PROTO_ERR_INVALID, "type is not" },
	{ "type negative", "91 ff", PROTO_ERR_INVALID, "type is not" },
	{ "type is a float", "91 ca 40 40 00 00", PROTO_ERR_INVALID, "type is not" },
	{ "trailing byte after the value", "92 04 01 00", PROTO_ERR_INVALID, "not one msgpack value" },
	{ "reserved byte c1", "92 1f c1", PROTO_ERR_INVALID, "not one msgpack value" },
	{ "truncated str", "92 1f a5 41", PROTO_ERR_INVALID, "truncated" },
	{ "array count beyond body", "94 03 01 03", PROTO_ERR_INVALID, "truncated" },
	/* DATA */
	{ "DATA seq is a str", "94 03 a1 31 01 c4 00", PROTO_ERR_INVALID, "seq is not a uint" },
	{ "DATA seq negative", "94 03 d0 ff 01 c4 00", PROTO_ERR_INVALID, "seq is not a uint" },
	{ "DATA seq nil", "94 03 c0 01 c4 00", PROTO_ERR_INVALID, "seq is not a uint" },
	{ "DATA flags is a bool", "94 03 01 c3 c4 00", PROTO_ERR_INVALID, "flags is not a uint" },
	{ "DATA payload is a str", "94 03 01 01 a2 7b 7d", PROTO_ERR_INVALID, "payload is not a bin" },
	{ "DATA payload is nil", "94 03 01 01 c0", PROTO_ERR_INVALID, "payload is not a bin" },
	{ "DATA missing payload", "93 03 01 01", PROTO_ERR_INVALID, "DATA frame has 2 fields, needs 3" },
	{ "DATA only type", "91 03", PROTO_ERR_INVALID, "needs 3" },
	{ "DATA flag bit 2", "94 03 01 05 c4 00", PROTO_ERR_INVALID, "unknown bits" },
	{ "DATA flag 0x80 (uint8)", "94 03 01 cc 81 c4 00", PROTO_ERR_INVALID, "unknown bits" },
	{ "DATA flags uint64", "94 03 01 cf 80 00 00 00 00 00 00 01 c4 00", PROTO_ERR_INVALID, "unknown bits" },
	{ "DATA ZLIB while off", "94 03 01 03 c4 00", PROTO_ERR_INVALID, "compression is off" },
	{ "DATA ok, seq as int8", "94 03 d0 05 01 c4 01 41", 0, NULL },
	{ "DATA ok, seq as uint64", "94 03 cf ff ff ff ff ff ff ff ff 01 c4 01 41", 0, NULL },
	{ "DATA ok, flags as uint16", "94 03 01 cd 00 01 c4 01 41", 0, NULL },
	{ "DATA ok, bin32 header", "94 03 01 01 c6 00 00 00 01 41", 0, NULL },
	{ "DATA ok, array16", "dc 00 04 03 01 01 c4 01 41", 0, NULL },
	{ "DATA ok, extra fields", "96 03 01 01 c4 01 41 a3 61 62 63 82 01 02 a1 78 90", 0, NULL },
	{ "DATA ok, extra field nil", "95 03 01 01 c4 00 c0", 0, NULL },
	/* ACK */
	{ "ACK next is a str", "92 04 a1 31", PROTO_ERR_INVALID, "ACK next is not a uint" },
	{ "ACK next negative", "92 04 d1 ff 00", PROTO_ERR_INVALID, "not a uint" },
	{ "ACK next is bin", "92 04 c4 01 01", PROTO_ERR_INVALID, "not a uint" },
	{ "ACK missing next", "91 04", PROTO_ERR_INVALID, "ACK frame has 0 fields, needs 1" },
	{ "ACK ok, extra fields", "93 04 05 c0", 0, NULL },
	{ "ACK ok, uint64", "92 04 cf 00 00 00 01 00 00 00 00", 0, NULL },
	/* PING / PONG */
	{ "PING opaque is a str", "92 05 a1 78", PROTO_ERR_INVALID, "PING opaque is not a bin" },
	{ "PING opaque is int", "92 05 01", PROTO_ERR_INVALID, "not a bin" },
	{ "PING missing opaque", "91 05", PROTO_ERR_INVALID, "needs 1" },
	{ "PING opaque 65 bytes", "92 05 c4 41 "
	    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "00000000000000000000000000000000000000000000000000", PROTO_ERR_INVALID, "exceeds 64" },
	{ "PING ok, opaque 64 bytes", "92 05 c4 40 "
	    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000", 0, NULL },
	{ "PONG opaque is nil", "92 06 c0", PROTO_ERR_INVALID, "PONG opaque is not a bin" },
	{ "PONG opaque 65 bytes (bin16)", "92 06 c5 00 41 "
	    "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "00000000000000000000000000000000000000000000000000", PROTO_ERR_INVALID, "exceeds 64" },
	{ "PONG ok, extra fields", "93 06 c4 01 07 93 01 02 03", 0, NULL },
	/* ERROR / CLOSE */
	{ "ERROR code is a str", "93 07 a1 31 a0", PROTO_ERR_INVALID, "code is not a uint" },
	{ "ERROR code negative", "93 07 ff a0", PROTO_ERR_INVALID, "code is not a uint" },
	{ "ERROR code beyond 32 bits", "93 07 cf 00 00 00 01 00 00 00 00 a0", PROTO_ERR_INVALID, "out of range" },
	{ "ERROR reason is bin", "93 07 01 c4 01 78", PROTO_ERR_INVALID, "ERROR reason is not a str" },
	{ "ERROR missing reason", "92 07 01", PROTO_ERR_INVALID, "ERROR frame has 1 fields, needs 2" },
	{ "CLOSE reason is int", "93 08 00 00", PROTO_ERR_INVALID, "CLOSE reason is not a str" },
	{ "CLOSE reason of 1025 bytes", NULL, PROTO_ERR_INVALID, "CLOSE reason of 1025 bytes exceeds 1024" },
	{ "CLOSE code is nil", "93 08 c0 a0", PROTO_ERR_INVALID, "code is not a uint" },
	{ "CLOSE missing both", "91 08", PROTO_ERR_INVALID, "needs 2" },
	{ "CLOSE ok, str8 reason, extra", "94 08 07 d9 03 61 62 63 c3", 0, NULL },
	{ "ERROR ok, reason with NUL", "93 07 09 a3 61 00 62", 0, NULL },
	/* HELLO / WELCOME */
	{ "HELLO info is an array", "92 01 91 01", PROTO_ERR_INVALID, "HELLO info is not a map" },
	{ "HELLO info is nil", "92 01 c0", PROTO_ERR_INVALID, "not a map" },
	{ "HELLO missing info", "91 01", PROTO_ERR_INVALID, "HELLO frame has 0 fields" },
	{ "HELLO int key", "92 01 81 01 01", PROTO_ERR_INVALID, "key that is not a str" },
	{ "HELLO bin key", "92 01 81 c4 07 76 65 72 73 69 6f 6e 01", PROTO_ERR_INVALID, "key that is not a str" },
	{ "HELLO no version", "92 01 80", PROTO_ERR_INVALID, "HELLO has no version" },
	{ "HELLO version is a str", "92 01 81 a7 76 65 72 73 69 6f 6e a1 31", PROTO_ERR_INVALID, "version is not a uint" },
	{ "HELLO version beyond 32 bits", "92 01 81 a7 76 65 72 73 69 6f 6e cf 00 00 00 01 00 00 00 00",
	    PROTO_ERR_INVALID, "version 4294967296 is out of range" },
	{ "HELLO version twice", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a7 76 65 72 73 69 6f 6e 01",
	    PROTO_ERR_INVALID, "repeats key \"version\"" },
	{ "HELLO min_version is bool", "92 01 82 a7 76 65 72 73 69 6f 6e 01 ab 6d 69 6e 5f 76 65 72 73 69 6f 6e c3",
	    PROTO_ERR_INVALID, "min_version is not a uint" },
	{ "HELLO features is a str", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a8 66 65 61 74 75 72 65 73 a4 7a 6c 69 62",
	    PROTO_ERR_INVALID, "features is not an array" },
	{ "HELLO feature is an int", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a8 66 65 61 74 75 72 65 73 92 a4 7a 6c 69 62 01",
	    PROTO_ERR_INVALID, "a feature is not a str" },
	{ "HELLO backend is bin", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a7 62 61 63 6b 65 6e 64 c4 01 78",
	    PROTO_ERR_INVALID, "backend is not a str" },
	{ "HELLO backend with NUL", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a7 62 61 63 6b 65 6e 64 a3 61 00 62",
	    PROTO_ERR_INVALID, "backend name contains NUL" },
	{ "HELLO backend 64 bytes", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a7 62 61 63 6b 65 6e 64 d9 40 "
	    "61616161616161616161616161616161616161616161616161616161616161616161616161616161"
	    "616161616161616161616161616161616161616161616161",
	    PROTO_ERR_INVALID, "backend name of 64 bytes is too long" },
	{ "HELLO ok, backend 63 bytes", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a7 62 61 63 6b 65 6e 64 d9 3f "
	    "61616161616161616161616161616161616161616161616161616161616161616161616161616161"
	    "6161616161616161616161616161616161616161616161", 0, NULL },
	{ "HELLO token 31 bytes", "92 01 83 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e c4 1f "
	    "00000000000000000000000000000000000000000000000000000000000000", PROTO_ERR_INVALID,
	    "token has 31 bytes, not 32" },
	{ "HELLO token 33 bytes", "92 01 83 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e c4 21 "
	    "000000000000000000000000000000000000000000000000000000000000000000", PROTO_ERR_INVALID,
	    "token has 33 bytes" },
	{ "HELLO token is a str", "92 01 83 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e a1 78",
	    PROTO_ERR_INVALID, "token is not a bin" },
	{ "HELLO token without next", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a5 74 6f 6b 65 6e c4 20 "
	    "0000000000000000000000000000000000000000000000000000000000000000", PROTO_ERR_INVALID,
	    "token but no next" },
	{ "HELLO next is a str", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 a1 31",
	    PROTO_ERR_INVALID, "next is not a uint" },
	{ "HELLO max_message negative", "92 01 82 a7 76 65 72 73 69 6f 6e 01 ab 6d 61 78 5f 6d 65 73 73 61 67 65 ff",
	    PROTO_ERR_INVALID, "max_message is not a uint" },
	{ "HELLO ok, unknown keys skipped", "92 01 83 a7 76 65 72 73 69 6f 6e 01 a1 78 82 01 92 03 c4 01 00 02 c0 "
	    "a7 72 65 73 75 6d 65 64 a1 78", 0, NULL },
	{ "HELLO ok, unknown keys of every type", "92 01 de 00 13 a7 76 65 72 73 69 6f 6e 01 "
	    "a1 61 c0  a1 62 c2  a1 63 7f  a1 64 e0  a1 65 cc ff  a1 66 cd ff ff  a1 67 ce 00 00 00 01 "
	    "a1 68 cf 00 00 00 00 00 00 00 01  a1 69 d0 80  a1 6a d1 00 01  a1 6b d2 00 00 00 01 "
	    "a1 6c d3 00 00 00 00 00 00 00 01  a1 6d ca 3f 80 00 00  a1 6e cb 3f f0 00 00 00 00 00 00 "
	    "a1 6f d9 02 68 69  a1 70 da 00 01 78  a1 71 db 00 00 00 01 78 "
	    "a1 72 92 d4 01 02 d5 01 02 03", 0, NULL },
	{ "HELLO ok, unknown keys of every type, then version", "92 01 de 00 11 "
	    "a1 61 c4 01 00  a1 62 c5 00 01 00  a1 63 c6 00 00 00 01 00  a1 64 c7 01 05 00 "
	    "a1 65 c8 00 01 05 00  a1 66 c9 00 00 00 01 05 00  a1 67 d6 01 00 00 00 00 "
	    "a1 68 d7 01 00 00 00 00 00 00 00 00  a1 69 d8 01 00000000000000000000000000000000 "
	    "a1 6a dc 00 02 90 80  a1 6b dd 00 00 00 01 91 c0  a1 6c de 00 01 01 02 "
	    "a1 6d df 00 00 00 01 a1 6b 80  a1 6e 8f 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 "
	    "11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e  a1 6f 9f 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f "
	    "a1 70 bf 61616161616161616161616161616161616161616161616161616161616161 "
	    "a7 76 65 72 73 69 6f 6e 03", 0, NULL },
	{ "HELLO ok, unknown feature names", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a8 66 65 61 74 75 72 65 73 92 a3 66 6f 6f a4 7a 6c 69 62", 0, NULL },
	{ "HELLO ok, map16, extra fields", "93 01 de 00 01 a7 76 65 72 73 69 6f 6e 01 c3", 0, NULL },
	{ "WELCOME resumed is an int", "92 02 84 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e c4 20 "
	    "0000000000000000000000000000000000000000000000000000000000000000 a7 72 65 73 75 6d 65 64 01",
	    PROTO_ERR_INVALID, "resumed is not a bool" },
	{ "WELCOME without token", "92 02 82 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01",
	    PROTO_ERR_INVALID, "WELCOME lacks token or next" },
	{ "WELCOME without next", "92 02 82 a7 76 65 72 73 69 6f 6e 01 a5 74 6f 6b 65 6e c4 20 "
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    PROTO_ERR_INVALID, "WELCOME lacks token or next" },
	{ "WELCOME without version", "92 02 82 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e c4 20 "
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    PROTO_ERR_INVALID, "WELCOME has no version" },
	{ "WELCOME ok, minimal", "92 02 83 a7 76 65 72 73 69 6f 6e 01 a4 6e 65 78 74 01 a5 74 6f 6b 65 6e c4 20 "
	    "0000000000000000000000000000000000000000000000000000000000000000", 0, NULL },
	/* unknown types: skipped after the checks of 2.1 */
	{ "unknown type 9 alone", "91 09", 0, NULL },
	{ "unknown type 31 with fields", "93 1f a1 78 82 01 02 03 90", 0, NULL },
	{ "unknown type 200, uint8", "92 cc c8 c7 02 05 01 02", 0, NULL },
	{ "unknown type, truncated inside", "92 1f c5 00 10 00", PROTO_ERR_INVALID, "truncated" },
	/* hostile counts and lengths */
	{ "map32 claiming 3.7e9 entries", "92 1f df dd dd dd dd 01 02 03 04 05 06 07 08", PROTO_ERR_INVALID, "truncated" },
	{ "HELLO map32 claiming 3.7e9 entries", "92 01 df dd dd dd dd 01 02 03 04 05 06 07", PROTO_ERR_INVALID, "truncated" },
	{ "array32 claiming 4e9 elements", "dd ee 6b 28 00 03 01 01 c4 00", PROTO_ERR_INVALID, "truncated" },
	{ "bin32 claiming 4 GiB", "92 05 c6 ff ff ff ff 00 00", PROTO_ERR_INVALID, "truncated" },
	{ "DATA bin32 claiming 4 GiB", "94 03 01 01 c6 ff ff ff ff 00 00", PROTO_ERR_INVALID, "truncated" },
	{ "str32 claiming 4 GiB", "93 07 01 db ff ff ff ff 41", PROTO_ERR_INVALID, "truncated" },
	{ "ext32 claiming 4 GiB", "92 1f c9 ff ff ff ff 01 41", PROTO_ERR_INVALID, "truncated" },
	{ "map16 claiming 65535 entries", "92 1f de ff ff 01 02", PROTO_ERR_INVALID, "truncated" },
	{ "nesting 9 deep", "92 1f 91 91 91 91 91 91 91 90", PROTO_ERR_INVALID, "nested at most 8" },
	{ "nesting 9 deep via maps", "92 1f 81 01 81 01 81 01 81 01 81 01 81 01 81 01 80", PROTO_ERR_INVALID, "nested at most 8" },
	{ "ok, nesting 8 deep", "92 1f 91 91 91 91 91 91 90", 0, NULL },
	{ "HELLO features nested too deep", "92 01 82 a7 76 65 72 73 69 6f 6e 01 a1 78 91 91 91 91 91 91 91 90",
	    PROTO_ERR_INVALID, "nested at most 8" },
};

static void
test_bad_cases(void)
{
	char reason[256];
	struct evlist got = { 0 };
	unsigned code;
	size_t i;
	int r;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct buf *b = xbuf(1 << 20);

		if (c->hex != NULL)
			put_frame_hex(b, c->hex);
		else {
			/* [8, 0, str16 of 1025 bytes] */
			struct buf *t = xbuf(2048);

			put_hex(t, "93 08 00 da 04 01");
			for (int k = 0; k < 1025; k++)
				put_hex(t, "41");
			put_frame_raw(b, buf_ptr(t), buf_len(t));
			buf_free(t);
		}
		xput(frame_put_ack(b, 99), "ack");       /* decoding goes on after a good one */
		r = decode(b, 0, 0, M_ALL, 0, &got, reason, sizeof(reason), &code);
		if (c->err == 0) {
			ok(r == 0 && got.n >= 1 && got.v[got.n - 1].type == FRAME_ACK,
			    "%s: accepted (%s)", c->name, r ? reason : "ok");
		} else {
			ok(r == c->err && code == FRAME_CODE_PROTOCOL && got.n == 0 &&
			    strstr(reason, c->reason) != NULL,
			    "%s: %s, \"%s\"", c->name, proto_strerror(r), reason);
		}
		evlist_free(&got);
		buf_free(b);
	}
}

static void
test_lengths(void)
{
	static const struct {
		uint32_t len;
		const char *reason;
	} lens[] = {
		{ 0, "frame length 0 is below 2" },
		{ 1, "frame length 1 is below 2" },
		{ FRAME_MAX + 1, "frame length 262209 exceeds 262208" },
		{ 300000, "frame length 300000 exceeds 262208" },
		{ 0xffffffffu, "frame length 4294967295 exceeds 262208" },
	};
	char reason[256];
	struct buf *b;
	uint8_t *body;
	unsigned code;
	size_t before;
	int r, grew = 0;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		b = xbuf(64);
		put_u32(b, lens[i].len);
		put_hex(b, "92 04 01");
		r = decode(b, 0, 0, M_STEP, 1, NULL, reason, sizeof(reason), &code);
		ok(r == PROTO_ERR_INVALID && code == FRAME_CODE_PROTOCOL &&
		    strcmp(reason, lens[i].reason) == 0, "length %u: \"%s\"",
		    lens[i].len, reason);
		buf_free(b);
	}
	/* the oversize length is refused from its 4 bytes alone */
	b = xbuf(64);
	put_u32(b, FRAME_MAX + 1);
	r = decode(b, 0, 0, M_ALL, 0, NULL, NULL, 0, NULL);
	is_int(r, PROTO_ERR_INVALID, "oversize length refused before any body byte");
	buf_free(b);

	/* exactly FRAME_MAX: an unknown frame padded with a bin */
	body = xmalloc(FRAME_MAX);
	memset(body, 0, FRAME_MAX);
	body[0] = 0x92;
	body[1] = 0x1f;
	body[2] = 0xc6;
	body[3] = 0;
	body[4] = (uint8_t)((FRAME_MAX - 7) >> 16);
	body[5] = (uint8_t)((FRAME_MAX - 7) >> 8);
	body[6] = (uint8_t)(FRAME_MAX - 7);
	b = xbuf(2 * FRAME_MAX);
	put_frame_raw(b, body, FRAME_MAX);
	xput(frame_put_ack(b, 5), "ack");
	{
		struct evlist got = { 0 };

		r = decode(b, 0, 0, M_SPACE, 100000, &got, NULL, 0, NULL);
		ok(r == 0 && got.n == 1 && got.v[0].type == FRAME_ACK,
		    "a frame of exactly FRAME_MAX bytes is accepted (and skipped)");
		evlist_free(&got);
		r = decode(b, 0, 0, M_STEP, 1000, &got, NULL, 0, NULL);
		ok(r == 0 && got.n == 1, "  also fed in pieces");
		evlist_free(&got);
	}
	buf_free(b);

	/* DATA with a payload over 256 KiB inside FRAME_MAX */
	b = xbuf(2 * FRAME_MAX);
	body[0] = 0x94;
	body[1] = 0x03;
	body[2] = 0x01;
	body[3] = 0x01;
	body[4] = 0xc6;
	body[5] = 0;
	body[6] = (uint8_t)((FRAME_MAX_PAYLOAD + 1) >> 16);
	body[7] = (uint8_t)((FRAME_MAX_PAYLOAD + 1) >> 8);
	body[8] = (uint8_t)(FRAME_MAX_PAYLOAD + 1);
	put_frame_raw(b, body, 9 + FRAME_MAX_PAYLOAD + 1);
	r = decode(b, 0, 0, M_ALL, 0, NULL, reason, sizeof(reason), NULL);
	ok(r == PROTO_ERR_INVALID && strstr(reason, "exceeds 262144") != NULL,
	    "DATA payload of 256 KiB + 1: \"%s\"", reason);
	buf_free(b);
	free(body);

	/* hostile headers do not allocate what they claim (mallinfo2 sees only
	 * glibc's heap: under a sanitizer or valgrind this checks nothing, but
	 * those refuse absurd allocations by themselves) */
	before = heap_in_use();
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct frame_dec *d = xdec(0, 1);
		struct buf *hb = xbuf(1 << 16);
		size_t peak;

		if (bad_cases[i].hex != NULL)
			put_frame_hex(hb, bad_cases[i].hex);
		(void)run_dec(d, buf_ptr(hb), buf_len(hb), M_ALL, 0, NULL);
		peak = heap_in_use();
		if (peak > before + 2 * MiB) {
			diag("%s: heap grew by %zu", bad_cases[i].name, peak - before);
			grew++;
		}
		frame_dec_free(d);
		buf_free(hb);
	}
	is_int(grew, 0, "no malformed frame makes the decoder allocate more than 2 MiB");
}

static void
test_mp_check(void)
{
	static const struct {
		const char *hex;
		unsigned depth;
		int want;
	} cases[] = {
		{ "", 8, PROTO_ERR_INCOMPLETE },
		{ "c0", 0, 0 },
		{ "90", 0, PROTO_ERR_INVALID },
		{ "90", 1, 0 },
		{ "91 90", 1, PROTO_ERR_INVALID },
		{ "91 90", 2, 0 },
		{ "c1", 8, PROTO_ERR_INVALID },
		{ "01 02", 8, PROTO_ERR_INVALID },
		{ "92 01", 8, PROTO_ERR_INCOMPLETE },
		{ "df ff ff ff ff", 8, PROTO_ERR_INCOMPLETE },
		{ "dd ff ff ff ff 01", 8, PROTO_ERR_INCOMPLETE },
		{ "82 01 02 03", 8, PROTO_ERR_INCOMPLETE },
		{ "82 01 02 03 04", 8, 0 },
		{ "c6 00 00 00 02 01", 8, PROTO_ERR_INCOMPLETE },
		{ "c6 00 00 00 02 01 02", 8, 0 },
		{ "c6 00 00", 8, PROTO_ERR_INCOMPLETE },
		{ "c7 02 05 01 02", 8, 0 },
		{ "c7 02 05 01", 8, PROTO_ERR_INCOMPLETE },
		{ "d4 01 02", 8, 0 },
		{ "d8 01 00000000000000000000000000000000", 8, 0 },
		{ "d8 01 000000000000000000000000000000", 8, PROTO_ERR_INCOMPLETE },
		{ "cb 00 00 00 00 00 00 00 00", 8, 0 },
		{ "ca 00 00 00", 8, PROTO_ERR_INCOMPLETE },
		{ "cf 00 00 00 00 00 00 00 01", 8, 0 },
		{ "d3 ff ff ff ff ff ff ff ff", 8, 0 },
		{ "d9 01 41", 8, 0 },
		{ "da 00 01 41", 8, 0 },
		{ "db 00 00 00 01 41", 8, 0 },
		{ "db 00 00 00 02 41", 8, PROTO_ERR_INCOMPLETE },
		{ "dc 00 02 c2 c3", 8, 0 },
		{ "de 00 01 a1 6b 91 c0", 8, 0 },
		{ "93 01 92 02 03 04", 8, 0 },
		{ "93 01 92 02 03", 8, PROTO_ERR_INCOMPLETE },
		{ "92 92 92 92 90 90 90 90 90", 100, 0 },
	};
	struct buf *b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = xbuf(64);
		put_hex(b, cases[i].hex);
		is_int(frame_mp_check(buf_ptr(b), buf_len(b), cases[i].depth), cases[i].want,
		    "frame_mp_check(%s, depth %u)", cases[i].hex, cases[i].depth);
		buf_free(b);
	}
	is_int(frame_mp_check(NULL, 0, 8), PROTO_ERR_INCOMPLETE, "frame_mp_check(NULL, 0)");
	/* very deep nesting is refused without recursion */
	b = xbuf(1 << 20);
	for (i = 0; i < 100000; i++)
		put_hex(b, "91");
	put_hex(b, "c0");
	is_int(frame_mp_check(buf_ptr(b), buf_len(b), 8), PROTO_ERR_INVALID,
	    "100000 nested arrays refused");
	is_int(frame_mp_check(buf_ptr(b), buf_len(b), 1000000), PROTO_ERR_INVALID,
	    "  even with a huge max_depth (capped)");
	buf_free(b);
}

/* ---- reassembly ------------------------------------------------------------ */

static void
test_reassembly(void)
{
	struct frame_enc *e = xenc(0, 10);
	struct frame_dec *d;
	struct buf *b = xbuf(1 << 20);
	struct frame_chunk c;
	struct evlist got = { 0 };
	struct frame f;
	const char *m = "0123456789abcdefghijklmnopqrstuvwxyz";
	char reason[256];
	unsigned code;
	int r, mid_ok = 1, n = 0;

	/* PING, ACK and PONG between chunks, and mid_message() tracking it */
	if (frame_enc_begin(e, 5, m, strlen(m), 0) != 0)
		bail("begin");
	is_int(frame_enc_begin(e, 6, m, 3, 0), PROTO_ERR_ARG, "begin while busy: ARG");
	ok(frame_enc_busy(e), "encoder busy mid-message");
	d = xdec(0, 0);
	do {
		r = frame_enc_chunk(e, &c);
		buf_reset(b);
		xput(buf_put(b, c.hdr, c.hdrlen), "put");
		xput(buf_put(b, c.payload, c.paylen), "put");
		xput(frame_put_ping(b, "p", 1), "ping");
		xput(frame_put_ack(b, (uint64_t)n), "ack");
		xput(run_dec(d, buf_ptr(b), buf_len(b), M_ALL, 0, &got), "dec");
		if (r == 1 && !frame_dec_mid_message(d))
			mid_ok = 0;
		n++;
	} while (r == 1);
	ok(!frame_dec_mid_message(d) && mid_ok, "mid_message true between chunks, false after");
	ok(got.n == 9 && got.v[0].type == FRAME_PING && got.v[1].type == FRAME_ACK &&
	    got.v[6].type == FRAME_DATA && got.v[6].len == strlen(m) &&
	    memcmp(got.v[6].data, m, strlen(m)) == 0 && got.v[8].type == FRAME_ACK,
	    "4 chunks with PING/ACK between: %zu events, message whole", got.n);
	evlist_free(&got);
	is_int(frame_enc_chunk(e, &c), PROTO_ERR_ARG, "chunk without a message: ARG");
	frame_dec_free(d);

	/* seq changes inside a message */
	buf_reset(b);
	put_frame_hex(b, "94 03 05 00 c4 01 41");
	put_frame_hex(b, "94 03 06 01 c4 01 42");
	r = decode(b, 0, 0, M_ALL, 0, NULL, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_INVALID && code == FRAME_CODE_PROTOCOL &&
	    strcmp(reason, "DATA seq 6 inside message 5") == 0, "seq change mid-message: \"%s\"", reason);
	/* the ZLIB flag changes inside a message */
	buf_reset(b);
	put_frame_hex(b, "94 03 05 00 c4 01 41");
	put_frame_hex(b, "94 03 05 03 c4 01 42");
	r = decode(b, 0, 1, M_STEP, 3, NULL, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_INVALID && strstr(reason, "ZLIB flag changed") != NULL,
	    "ZLIB flag change mid-message: \"%s\"", reason);
	/* a DATA with a new seq after a finished message is fine (seq is the
	 * session's business) and so is a repeated one */
	buf_reset(b);
	put_frame_hex(b, "94 03 05 01 c4 01 41");
	put_frame_hex(b, "94 03 09 00 c4 01 42");
	put_frame_hex(b, "94 03 09 01 c4 01 43");
	put_frame_hex(b, "94 03 09 01 c4 00");
	r = decode(b, 0, 0, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 3 && got.v[1].seq == 9 && got.v[1].len == 2 &&
	    memcmp(got.v[1].data, "BC", 2) == 0 && got.v[2].len == 0,
	    "seq continuity is not the decoder's business");
	evlist_free(&got);
	/* empty chunks all the way */
	buf_reset(b);
	for (int i = 0; i < 1000; i++)
		put_frame_hex(b, "94 03 07 00 c4 00");
	put_frame_hex(b, "94 03 07 01 c4 00");
	r = decode(b, 0, 0, M_STEP, 77, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 1 && got.v[0].len == 0, "1001 empty chunks: one empty message");
	evlist_free(&got);
	/* ERROR in the middle of a message is delivered */
	buf_reset(b);
	put_frame_hex(b, "94 03 05 00 c4 01 41");
	xput(frame_put_error(b, 9, "gone"), "error");
	d = xdec(0, 0);
	xput(frame_dec_feed(d, buf_ptr(b), buf_len(b)), "feed");
	r = frame_dec_next(d, &f);
	ok(r == 1 && f.type == FRAME_ERROR && f.u.error.code == 9 &&
	    strcmp(f.u.error.reason, "gone") == 0 && frame_dec_mid_message(d),
	    "ERROR between chunks is delivered");
	is_int(frame_dec_set_zlib(d, 1), PROTO_ERR_ARG, "set_zlib mid-message: ARG");
	frame_dec_reset(d);
	ok(!frame_dec_mid_message(d), "reset drops the partial message");
	frame_dec_free(d);

	frame_enc_free(e);
	buf_free(b);
}

static void
test_unknown_and_extra(void)
{
	struct buf *b = xbuf(1 << 20);
	struct evlist got = { 0 };
	int r;

	put_frame_hex(b, "91 09");
	put_frame_hex(b, "97 03 01 01 c4 02 68 69 a1 78 82 01 02 03 90 c0");
	put_frame_hex(b, "93 1f c4 03 01 02 03 93 01 02 03");
	put_frame_hex(b, "94 04 07 a3 61 62 63 c0");
	put_frame_hex(b, "95 07 05 a2 6f 6b 01 02");
	put_frame_hex(b, "92 cd 01 00 c0");
	r = decode(b, 0, 0, M_STEP, 2, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 3 && got.v[0].type == FRAME_DATA && got.v[0].len == 2 &&
	    memcmp(got.v[0].data, "hi", 2) == 0 && got.v[1].type == FRAME_ACK &&
	    got.v[1].ack == 7 && got.v[2].type == FRAME_ERROR && got.v[2].code == 5 &&
	    strcmp((char *)got.v[2].data, "ok") == 0,
	    "unknown types skipped, extra fields ignored");
	evlist_free(&got);
	/* a NUL inside a reason does not cut it short */
	buf_reset(b);
	put_frame_hex(b, "93 08 00 a3 61 00 62");
	r = decode(b, 0, 0, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 1 && strcmp((char *)got.v[0].data, "a?b") == 0,
	    "NUL in a reason is replaced: \"%s\"", got.n ? (char *)got.v[0].data : "");
	evlist_free(&got);
	buf_free(b);
}

/* ---- compression ----------------------------------------------------------- */

static size_t
delta_json(char *out, size_t cap, unsigned i)
{
	static const char *const words[] = { "The", " quick", " brown", " fox",
	    " jumps", " over", " the", " lazy", " dog", ".", "\\n", " Running",
	    " `make check`", " now", "…" };
	int n = snprintf(out, cap,
	    "{\"method\":\"item/agentMessage/delta\",\"params\":{\"threadId\":"
	    "\"0199a0c2-7f3e-7d40-b1c5-3c0f5e1e2b7a\",\"turnId\":\"%u\",\"itemId\":"
	    "\"msg_%u\",\"delta\":\"%s\"}}", i / 400, i / 40,
	    words[i % (sizeof(words) / sizeof(words[0]))]);

	return (size_t)n;
}

static void
test_zlib_many(void)
{
	unsigned count = 5000;
	struct frame_enc *e = xenc(6, 0);
	struct frame_dec *d;
	struct buf *b = xbuf(64 * MiB);
	struct evlist got = { 0 };
	char msg[512];
	size_t raw = 0, n;
	unsigned i, bad = 0;
	int r;

	for (i = 0; i < count; i++) {
		n = delta_json(msg, sizeof(msg), i);
		raw += n;
		xput(frame_put_data(e, b, i + 1, msg, n, 1), "put_data");
	}
	ok(raw > 5 * buf_len(b), "%u compressed deltas: %zu bytes raw, %zu framed (%.1fx)",
	    count, raw, buf_len(b), (double)raw / (double)buf_len(b));
	/* again, with every 7th message plain (it must not touch the stream) and
	 * some pings */
	xput(frame_enc_set_zlib(e, 6), "set_zlib");
	buf_reset(b);
	for (i = 0; i < count; i++) {
		n = delta_json(msg, sizeof(msg), i);
		xput(frame_put_data(e, b, i + 1, msg, n, i % 7 != 3), "put_data");
		if (i % 500 == 0)
			xput(frame_put_ping(b, "x", 1), "ping");
	}
	d = xdec(0, 1);
	r = run_dec(d, buf_ptr(b), buf_len(b), M_RANDOM, 3000, &got);
	ok(r == 0 && got.n == count + 10, "decoded in random pieces: %zu events", got.n);
	for (i = 0, n = 0; n < got.n; n++) {
		if (got.v[n].type == FRAME_PING)
			continue;
		size_t len = delta_json(msg, sizeof(msg), i);

		if (got.v[n].type != FRAME_DATA || got.v[n].seq != i + 1 ||
		    got.v[n].len != len || memcmp(got.v[n].data, msg, len) != 0 ||
		    got.v[n].compressed != (i % 7 != 3))
			bad++;
		i++;
	}
	ok(bad == 0 && i == count, "every message equals its input");
	evlist_free(&got);
	frame_dec_free(d);

	/* a fresh stream at every connection: the same encoder after set_zlib */
	xput(frame_enc_set_zlib(e, 6), "set_zlib");
	buf_reset(b);
	n = delta_json(msg, sizeof(msg), 1);
	xput(frame_put_data(e, b, 1, msg, n, 1), "put_data");
	r = decode(b, 0, 1, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 1 && got.v[0].len == n, "set_zlib restarts the stream");
	evlist_free(&got);
	/* compression asked but off: sent plain */
	xput(frame_enc_set_zlib(e, 0), "set_zlib");
	buf_reset(b);
	xput(frame_put_data(e, b, 1, msg, n, 1), "put_data");
	r = decode(b, 0, 0, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 1 && !got.v[0].compressed, "compress with zlib off sends plain");
	evlist_free(&got);
	is_int(frame_enc_set_zlib(e, 10), PROTO_ERR_ARG, "set_zlib(10): ARG");
	is_int(frame_enc_set_zlib(e, -1), PROTO_ERR_ARG, "set_zlib(-1): ARG");

	/* levels and small chunks */
	for (int level = 1; level <= 9; level += 4) {
		for (size_t chunk = 1; chunk <= 9; chunk += 4) {
			struct frame_enc *e2 = xenc(level, chunk);

			buf_reset(b);
			for (i = 0; i < 50; i++) {
				n = delta_json(msg, sizeof(msg), i * 3);
				xput(frame_put_data(e2, b, i, msg, n, 1), "put_data");
			}
			r = decode(b, 0, 1, M_RANDOM, 50, &got, NULL, 0, NULL);
			bad = r != 0 || got.n != 50;
			for (i = 0; !bad && i < 50; i++) {
				n = delta_json(msg, sizeof(msg), i * 3);
				bad = got.v[i].len != n || memcmp(got.v[i].data, msg, n) != 0;
			}
			ok(!bad, "zlib level %d, chunk %zu: 50 messages round trip", level, chunk);
			evlist_free(&got);
			frame_enc_free(e2);
		}
	}
	frame_enc_free(e);
	buf_free(b);
}

/* Raw-deflates src with the given final flush (Z_SYNC_FLUSH strips the marker). */
static size_t
raw_deflate(const void *src, size_t n, int flush, uint8_t *out, size_t cap)
{
	z_stream zs;
	size_t len;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		bail("deflateInit2");
	zs.next_in = src;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, flush) == Z_STREAM_ERROR)
		bail("deflate");
	len = cap - zs.avail_out;
	deflateEnd(&zs);
	if (flush == Z_SYNC_FLUSH)
		len -= 4;
	return len;
}

/* Appends DATA frames carrying a compressed payload in chunks. */
static void
put_z_chunks(struct buf *b, uint64_t seq, const uint8_t *z, size_t n, size_t chunk)
{
	struct frame_chunk c;
	size_t off = 0, k;
	int last;

	do {
		k = n - off < chunk ? n - off : chunk;
		last = off + k == n;
		/* build the header through an uncompressed encoder, then patch flags */
		c.hdrlen = 0;
		{
			struct frame_enc *e = xenc(0, chunk);
			int r;

			if (frame_enc_begin(e, seq, z + off, k, 0) != 0)
				bail("begin");
			r = frame_enc_chunk(e, &c);
			if (r != 0)
				bail("chunk");
			frame_enc_free(e);
		}
		c.hdr[4 + 2 + (seq < 128 ? 1 : 2)] = (uint8_t)(FRAME_F_ZLIB | (last ? FRAME_F_LAST : 0));
		xput(buf_put(b, c.hdr, c.hdrlen), "put");
		xput(buf_put(b, z + off, k), "put");
		off += k;
	} while (off < n);
}

static void
test_zlib_limits(void)
{
	size_t big = 1 * MiB, zlen, before, peak;
	uint8_t *zeros = xmalloc(big), *z = xmalloc(big);
	struct buf *b = xbuf(4 * MiB);
	struct frame_enc *e = xenc(9, 0);
	struct frame_dec *d;
	struct evlist got = { 0 };
	char reason[256];
	unsigned code;
	int r;

	memset(zeros, 0, big);
	/* the bomb: 1 MiB of zeros is about 1 KiB compressed */
	xput(frame_put_data(e, b, 1, zeros, big, 1), "put_data");
	ok(buf_len(b) < 4096, "1 MiB of zeros compresses to %zu bytes", buf_len(b));
	before = heap_in_use();
	d = xdec(64 * 1024, 1);
	r = run_dec(d, buf_ptr(b), buf_len(b), M_ALL, 0, NULL);
	peak = heap_in_use();
	ok(r == PROTO_ERR_TOO_LARGE && frame_dec_code(d) == FRAME_CODE_TOO_LARGE &&
	    strstr(frame_dec_reason(d), "exceeds the limit of 65536") != NULL,
	    "bomb with a 64 KiB limit: ERROR 5, \"%s\"", frame_dec_reason(d));
	ok(peak < before + 1 * MiB, "  inflated no more than the limit (heap +%zu)",
	    peak > before ? peak - before : 0);
	is_int(frame_dec_next(d, &(struct frame){ 0 }), PROTO_ERR_TOO_LARGE, "  sticky");
	frame_dec_free(d);

	/* exactly at the limit, and one byte over, compressed and plain */
	for (int level = 0; level <= 6; level += 6) {
		struct frame_enc *e2 = xenc(level, 1000);

		buf_reset(b);
		xput(frame_put_data(e2, b, 1, zeros, 65536, level > 0), "put_data");
		r = decode(b, 65536, 1, M_STEP, 100, &got, NULL, 0, NULL);
		ok(r == 0 && got.n == 1 && got.v[0].len == 65536,
		    "zlib %d: a message of exactly the limit passes", level);
		evlist_free(&got);
		frame_enc_free(e2);
		e2 = xenc(level, 1000);
		buf_reset(b);
		xput(frame_put_data(e2, b, 2, zeros, 65537, level > 0), "put_data");
		r = decode(b, 65536, 1, M_STEP, 100, &got, reason, sizeof(reason), &code);
		ok(r == PROTO_ERR_TOO_LARGE && code == FRAME_CODE_TOO_LARGE && got.n == 0,
		    "zlib %d: one byte over the limit is ERROR 5 (%s)", level, reason);
		evlist_free(&got);
		frame_enc_free(e2);
	}
	/* a single plain chunk larger than the limit is refused from its header */
	buf_reset(b);
	xput(frame_put_data(e, b, 3, zeros, 5000, 0), "put_data");
	r = decode(b, 4999, 0, M_STEP, 20, &got, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_TOO_LARGE && code == FRAME_CODE_TOO_LARGE,
	    "plain single chunk over the limit: \"%s\"", reason);

	/* inflate errors */
	buf_reset(b);
	put_frame_hex(b, "94 03 01 03 c4 04 ff ff ff ff");
	r = decode(b, 0, 1, M_ALL, 0, NULL, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_ZLIB && code == FRAME_CODE_PROTOCOL, "garbage compressed payload: "
	    "PROTO_ERR_ZLIB, code 1 (\"%s\")", reason);
	/* a stream ended with Z_FINISH */
	buf_reset(b);
	zlen = raw_deflate("hello hello hello", 17, Z_FINISH, z, big);
	put_z_chunks(b, 1, z, zlen, 1000);
	r = decode(b, 0, 1, M_ALL, 0, NULL, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_ZLIB && strstr(reason, "ended") != NULL, "final deflate block: \"%s\"",
	    reason);
	/* a message cut before its flush point */
	buf_reset(b);
	zlen = raw_deflate(zeros, 100000, Z_SYNC_FLUSH, z, big);
	put_z_chunks(b, 1, z, zlen - 3, 1000);
	r = decode(b, 0, 1, M_ALL, 0, NULL, reason, sizeof(reason), &code);
	ok(r == PROTO_ERR_ZLIB && code == FRAME_CODE_PROTOCOL, "message cut short: \"%s\"",
	    reason);
	/* the same stream whole, in chunks of 1: fine */
	buf_reset(b);
	zlen = raw_deflate(zeros, 100000, Z_SYNC_FLUSH, z, big);
	put_z_chunks(b, 1, z, zlen, 1);
	r = decode(b, 0, 1, M_RANDOM, 1000, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 1 && got.v[0].len == 100000 && got.v[0].compressed,
	    "foreign deflater, chunks of 1 byte: accepted");
	evlist_free(&got);

	frame_enc_free(e);
	buf_free(b);
	free(zeros);
	free(z);
}

/* frame_put_data() on a buffer too small leaves it and the stream intact. */
static void
test_put_data_full(void)
{
	struct frame_enc *e = xenc(6, 0);
	struct buf *small = xbuf(100), *b = xbuf(1 << 20);
	struct evlist got = { 0 };
	uint8_t msg[5000];
	size_t before;
	int r;

	fill_text(msg, sizeof(msg), 3);
	xput(frame_put_data(e, b, 1, msg, 100, 1), "put_data");
	xput(buf_put(small, "xy", 2), "put");
	before = buf_len(small);
	is_int(frame_put_data(e, small, 2, msg, sizeof(msg), 1), PROTO_ERR_TOO_LARGE,
	    "compressed message into a small buffer: TOO_LARGE");
	is_int(frame_put_data(e, small, 2, msg, sizeof(msg), 0), PROTO_ERR_TOO_LARGE,
	    "plain message into a small buffer: TOO_LARGE");
	is_int((long long)buf_len(small), (long long)before, "  buffer unchanged");
	ok(!frame_enc_busy(e), "  encoder not busy");
	xput(frame_put_data(e, b, 2, msg, sizeof(msg), 1), "put_data");
	r = decode(b, 0, 1, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 2 && got.v[1].len == sizeof(msg) &&
	    memcmp(got.v[1].data, msg, sizeof(msg)) == 0,
	    "  the deflate stream is still in step after the refusal");
	evlist_free(&got);
	/* exact fit works for plain data */
	buf_free(small);
	small = xbuf(4 + 6 + 95);
	is_int(frame_put_data(e, small, 1, msg, 95, 0), 0, "plain message of exactly the room left");
	is_int((long long)buf_len(small), 105, "  105 bytes");
	is_int(frame_put_data(e, small, 1, NULL, 5, 0), PROTO_ERR_ARG, "NULL message with a length: ARG");
	is_int(frame_enc_begin(e, 1, NULL, 5, 0), PROTO_ERR_ARG, "begin: NULL message with a length: ARG");
	/* set_zlib abandons a message in progress */
	xput(frame_enc_begin(e, 1, msg, sizeof(msg), 1), "begin");
	xput(frame_enc_set_zlib(e, 6), "set_zlib");
	ok(!frame_enc_busy(e), "set_zlib abandons the message in progress");
	frame_enc_free(e);
	buf_free(small);
	buf_free(b);
}

/* ---- zero-copy input, errors, reset ---------------------------------------- */

static void
test_space(void)
{
	struct frame_enc *e = xenc(0, 0);
	struct frame_dec *d = xdec(0, 0);
	struct buf *b = xbuf(4 * MiB);
	size_t len = 3 * FRAME_MAX_PAYLOAD + 5, hdr;
	uint8_t *msg = xmalloc(len), *dst;
	struct frame f;
	long space;
	int r, fulls = 0;

	fill_text(msg, len, 11);
	xput(frame_put_data(e, b, 300, msg, len, 0), "put_data");
	hdr = 4 + 2 + 3 + 1 + 5;        /* seq 300 is cd 01 2c */
	space = frame_dec_space(d, &dst);
	ok(space >= 65536, "space offers a staging buffer of %ld bytes", space);
	memcpy(dst, buf_ptr(b), hdr + 1000);
	frame_dec_commit(d, hdr + 1000);
	is_int(frame_dec_next(d, &f), 0, "header and 1000 payload bytes: no event");
	space = frame_dec_space(d, &dst);
	is_int(space, FRAME_MAX_PAYLOAD - 1000, "space offers exactly the rest of the payload");
	memcpy(dst, buf_ptr(b) + hdr + 1000, (size_t)space);
	frame_dec_commit(d, (size_t)space);
	ok(frame_dec_mid_message(d), "mid-message after the first chunk");
	/* the rest through feed() */
	xput(frame_dec_feed(d, buf_ptr(b) + hdr + FRAME_MAX_PAYLOAD,
	    buf_len(b) - hdr - FRAME_MAX_PAYLOAD), "feed");
	r = frame_dec_next(d, &f);
	ok(r == 1 && f.type == FRAME_DATA && f.u.data.len == len &&
	    memcmp(f.u.data.msg, msg, len) == 0, "the message is whole");
	is_int(frame_dec_next(d, &f), 0, "then nothing");

	/* without next(), the staging buffer fills up: FULL, not growth */
	buf_reset(b);
	while (buf_len(b) < 2 * MiB)
		xput(frame_put_ping(b, "12345678", 8), "ping");
	{
		size_t off = 0;

		while (off < buf_len(b)) {
			space = frame_dec_space(d, &dst);
			if (space == PROTO_ERR_FULL) {
				fulls++;
				while ((r = frame_dec_next(d, &f)) == 1)
					;
				if (r != 0)
					break;
				continue;
			}
			if (space <= 0)
				break;
			if ((size_t)space > buf_len(b) - off)
				space = (long)(buf_len(b) - off);
			memcpy(dst, buf_ptr(b) + off, (size_t)space);
			frame_dec_commit(d, (size_t)space);
			off += (size_t)space;
		}
		ok(fulls > 0 && off == buf_len(b), "space says FULL when input waits for next()");
	}
	frame_dec_free(d);
	frame_enc_free(e);
	buf_free(b);
	free(msg);
}

static void
test_odds(void)
{
	static const uint64_t seqs[] = { 0, 127, 128, 65536, 0xffffffffull,
	    0x100000000ull, UINT64_MAX };
	struct frame_enc *e = xenc(0, 0), *z = xenc(3, 0);
	struct frame_dec *d;
	struct buf *b = xbuf(16 * MiB);
	struct evlist got = { 0 };
	struct frame f;
	size_t i, n, count = 0;
	uint8_t *big;
	int r, good = 1;

	/* seq sizes of every width, plain and compressed */
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		xput(frame_put_data(e, b, seqs[i], "abc", 3, 0), "put_data");
		xput(frame_put_data(z, b, seqs[i], "abcabc", 6, 1), "put_data");
	}
	r = decode(b, 0, 1, M_STEP, 3, &got, NULL, 0, NULL);
	for (i = 0; r == 0 && i < got.n && i / 2 < sizeof(seqs) / sizeof(seqs[0]); i++)
		good &= got.v[i].seq == seqs[i / 2] && got.v[i].len == (i % 2 ? 6u : 3u);
	ok(r == 0 && good && got.n == 2 * sizeof(seqs) / sizeof(seqs[0]),
	    "seq of every msgpack width round trips");
	evlist_free(&got);

	/* chunk sizes are clamped to 1..FRAME_MAX_PAYLOAD */
	buf_reset(b);
	frame_enc_set_chunk(e, 0);
	xput(frame_put_data(e, b, 1, "xyz", 3, 0), "put_data");
	frame_enc_set_chunk(e, (size_t)1 << 40);
	big = xmalloc(FRAME_MAX_PAYLOAD + 1);
	memset(big, 'q', FRAME_MAX_PAYLOAD + 1);
	xput(frame_put_data(e, b, 2, big, FRAME_MAX_PAYLOAD + 1, 0), "put_data");
	is_int((long long)buf_len(b), 3 * 11 + (13 + FRAME_MAX_PAYLOAD) + 11,
	    "chunk 0 acts as 1, a huge chunk as 256 KiB");
	r = decode(b, 0, 0, M_ALL, 0, &got, NULL, 0, NULL);
	ok(r == 0 && got.n == 2 && got.v[1].len == FRAME_MAX_PAYLOAD + 1, "  and decodes");
	evlist_free(&got);

	/* feeding a lot without next() grows the input buffer; draining shrinks it */
	buf_reset(b);
	while (buf_len(b) < 3 * MiB)
		xput(frame_put_ping(b, "feedfeed", 8), "ping");
	d = xdec(SIZE_MAX, 0);
	xput(frame_dec_feed(d, buf_ptr(b), buf_len(b)), "feed");
	while ((r = frame_dec_next(d, &f)) == 1)
		count++;
	n = buf_len(b) / (4 + 12);
	ok(r == 0 && count == n, "3 MiB of pings fed at once: %zu events", count);
	{
		uint8_t *dst;
		long space = frame_dec_space(d, &dst);

		ok(space > 0 && space < 1024 * 1024, "  input buffer back to its size (%ld)", space);
	}
	/* a large message, then reset gives its buffer back; decoding goes on */
	buf_reset(b);
	xput(frame_put_data(e, b, 1, big, FRAME_MAX_PAYLOAD + 1, 0), "put_data");
	for (i = 0; i < 8; i++)
		xput(frame_put_data(e, b, 1, big, FRAME_MAX_PAYLOAD, 0), "put_data");
	xput(run_dec(d, buf_ptr(b), buf_len(b), M_STEP, 100000, &got), "decode");
	ok(got.n == 9 && got.v[0].len == FRAME_MAX_PAYLOAD + 1, "large message after the pings");
	evlist_free(&got);
	frame_dec_reset(d);
	buf_reset(b);
	xput(frame_put_data(e, b, 1, big, FRAME_MAX_PAYLOAD + 1, 0), "put_data");
	xput(run_dec(d, buf_ptr(b), buf_len(b), M_STEP, 7777, &got), "decode");
	ok(got.n == 1 && got.v[0].len == FRAME_MAX_PAYLOAD + 1 &&
	    memcmp(got.v[0].data, big, FRAME_MAX_PAYLOAD + 1) == 0, "  and after reset");
	evlist_free(&got);
	frame_dec_free(d);
	free(big);
	frame_enc_free(e);
	frame_enc_free(z);
	buf_free(b);
}

static void
test_sticky(void)
{
	struct frame_dec *d = xdec(0, 0);
	struct buf *b = xbuf(1 << 16);
	struct frame f;
	uint8_t *dst;
	char reason[256];
	int r;

	xput(frame_put_ack(b, 1), "ack");
	put_frame_hex(b, "92 04 a1 31");
	xput(frame_put_ack(b, 2), "ack");
	xput(frame_dec_feed(d, buf_ptr(b), buf_len(b)), "feed");
	r = frame_dec_next(d, &f);
	ok(r == 1 && f.type == FRAME_ACK && f.u.ack_next == 1, "the frame before the error comes out");
	memset(&f, 0x55, sizeof(f));
	r = frame_dec_next(d, &f);
	is_int(r, PROTO_ERR_INVALID, "then the error");
	ok(((uint8_t *)&f)[0] == 0x55, "  the frame is left untouched");
	snprintf(reason, sizeof(reason), "%s", frame_dec_reason(d));
	is_str(reason, "ACK next is not a uint", "  reason");
	is_int(frame_dec_next(d, &f), PROTO_ERR_INVALID, "sticky: next");
	is_int(frame_dec_feed(d, "x", 1), PROTO_ERR_INVALID, "sticky: feed");
	is_int(frame_dec_space(d, &dst), PROTO_ERR_INVALID, "sticky: space");
	frame_dec_commit(d, 5);
	is_str(frame_dec_reason(d), reason, "sticky: reason unchanged");
	is_int(frame_dec_code(d), FRAME_CODE_PROTOCOL, "code 1");
	frame_dec_reset(d);
	is_str(frame_dec_reason(d), "", "reset clears the reason");
	is_int(frame_dec_code(d), 0, "reset clears the code");
	xput(frame_dec_feed(d, buf_ptr(b), 7), "feed");
	r = frame_dec_next(d, &f);
	ok(r == 1 && f.type == FRAME_ACK && f.u.ack_next == 1, "decoding works after reset");
	is_int(frame_dec_next(d, &f), 0, "  and waits for more");
	frame_dec_free(d);
	buf_free(b);
}

/* The bench mix: many small deltas, command outputs, one 20 MiB message. */
static size_t
mix_encode(struct frame_enc *e, struct buf *b, const uint8_t *src, size_t big)
{
	size_t total = 0, n;
	uint64_t seq = 1;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 20000; i++) {
		n = 50 + (size_t)(rng() % 151);
		xput(frame_put_data(e, b, seq++, src + (i * 97) % 4096, n, 0), "put");
		total += n;
		if (i % 100 == 0) {
			n = 4096 + (size_t)(rng() % (60 * 1024));
			xput(frame_put_data(e, b, seq++, src + i, n, 0), "put");
			total += n;
		}
	}
	xput(frame_put_data(e, b, seq, src, big, 0), "put");
	return total + big;
}

/* Decodes as a reader of 64 KiB socket reads would; returns the bytes seen. */
static size_t
mix_decode(struct frame_dec *d, const struct buf *b, int *bad)
{
	const uint8_t *s = buf_ptr(b);
	size_t off = 0, n, got = 0;
	struct frame f;
	uint8_t *dst;
	long space;
	int r;

	while (off < buf_len(b)) {
		if ((space = frame_dec_space(d, &dst)) <= 0) {
			*bad = 1;
			break;
		}
		n = buf_len(b) - off;
		n = (size_t)space < n ? (size_t)space : n;
		memcpy(dst, s + off, n);
		frame_dec_commit(d, n);
		off += n;
		while ((r = frame_dec_next(d, &f)) == 1)
			got += f.u.data.len;
		*bad |= r != 0;
	}
	return got;
}

static volatile uint8_t sink;

static void
test_mix_bench(void)
{
	struct frame_enc *e = xenc(0, 0);
	struct frame_dec *d = xdec(0, 0);
	struct buf *b = xbuf(64 * MiB);
	size_t big = 20 * MiB, total = 0, got = 0;
	uint8_t *src = xmalloc(big), *copy = xmalloc(64 * MiB);
	double t0, t1, t2, te = 1e9, td = 1e9, tm = 1e9;
	int bad = 0;

	fill_text(src, big, 1);
	memset(copy, 1, 64 * MiB);
	for (int round = 0; round < 4; round++) {
		buf_reset(b);
		t0 = now();
		total = mix_encode(e, b, src, big);
		t1 = now();
		got = mix_decode(d, b, &bad);
		t2 = now();
		if (round > 0) {
			te = t1 - t0 < te ? t1 - t0 : te;
			td = t2 - t1 < td ? t2 - t1 : td;
		}
		t0 = now();
		memcpy(copy, buf_ptr(b), buf_len(b));
		sink += copy[buf_len(b) - 1];   /* keep the copy from being elided */
		t1 = now();
		tm = t1 - t0 < tm ? t1 - t0 : tm;
	}
	ok(!bad && got == total, "bench mix: %zu bytes of messages decoded", got);
	diag("bench mix (warm, best of 3): frame_put_data %.0f MB/s, decode (64 KiB reads) "
	    "%.0f MB/s, both %.0f MB/s; memcpy %.0f MB/s",
	    total / te / 1e6, total / td / 1e6, total / (te + td) / 1e6, total / tm / 1e6);
	frame_enc_free(e);
	frame_dec_free(d);
	buf_free(b);
	free(src);
	free(copy);
}

int
main(void)
{
	plan_lazy();
	test_control_roundtrip();
	test_control_args();
	test_data_sizes();
	test_split(0);
	test_split(6);
	test_bad_cases();
	test_lengths();
	test_mp_check();
	test_reassembly();
	test_unknown_and_extra();
	test_zlib_many();
	test_zlib_limits();
	test_put_data_full();
	test_space();
	test_sticky();
	test_odds();
	test_data_big();
	test_mix_bench();
	return done_testing();
}
