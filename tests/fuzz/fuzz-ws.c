/*
 * fuzz-ws.c - fuzz target for client/ws.c: the upgrade parser, the frame
 * decoder and the encoders.
 *
 * Input: byte 0 picks the mode and the decoder limit, byte 1 seeds how the rest
 * is cut into feeds. Every input is run once whole and once in pieces; the two
 * runs must agree. Broken invariants abort().
 *   mode 0: the rest is an HTTP request; what follows it goes to a decoder.
 *   mode 1: the rest is raw client frames.
 *   mode 2: the rest describes frames (see build_frames()) that are masked
 *           here, so that valid fragmentation and UTF-8 are easy to reach.
 *   mode 3: the rest is a text message for the encoder; it is masked, decoded
 *           and must come back unchanged (or fail as invalid UTF-8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ws.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz-ws: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

/* A code point decoder, written differently from ws.c's range table. */
static int
oracle_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = p[i] & 0x1f;
			min = 0x80;
		} else if ((p[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = p[i] & 0x0f;
			min = 0x800;
		} else if ((p[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = p[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* A small PRNG for piece sizes. */
static uint32_t
next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* FNV-1a over the event stream, to compare runs. */
static void
mix(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 1099511628211ULL;
	}
}

struct run {
	uint64_t hash;
	int err;		/* final error, 0 if none */
	int closed;
	size_t text_events;
	/* the last text message, for mode 3 */
	uint8_t *last;
	size_t last_len;
};

static void
check_event(const struct ws_event *ev, size_t max, struct run *r, int keep)
{
	switch (ev->type) {
	case WS_EV_TEXT:
		CHECK(ev->len <= max);
		CHECK(oracle_utf8(ev->data, ev->len));
		CHECK(ws_utf8_valid(ev->data, ev->len));
		r->text_events++;
		if (keep) {
			free(r->last);
			r->last = malloc(ev->len + 1);
			CHECK(r->last != NULL);
			if (ev->len > 0)
				memcpy(r->last, ev->data, ev->len);
			r->last_len = ev->len;
		}
		break;
	case WS_EV_BINARY:
		CHECK(ev->len <= max);
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		CHECK(ev->len <= WS_MAX_CONTROL);
		break;
	case WS_EV_CLOSE:
		CHECK(ev->len <= WS_MAX_CONTROL - 2);
		CHECK(ev->close_code == WS_CLOSE_NO_STATUS ||
		    ws_close_code_valid(ev->close_code));
		CHECK(ev->close_code != WS_CLOSE_NO_STATUS || ev->len == 0);
		CHECK(oracle_utf8(ev->data, ev->len));
		r->closed = 1;
		break;
	default:
		CHECK(0);
	}
	mix(&r->hash, &ev->type, sizeof(ev->type));
	mix(&r->hash, &ev->close_code, sizeof(ev->close_code));
	mix(&r->hash, &ev->len, sizeof(ev->len));
	if (ev->len > 0)
		mix(&r->hash, ev->data, ev->len);
}

/* Decodes data in pieces (seed 0: whole); fills *r. */
static void
decode(const uint8_t *data, size_t len, size_t max, uint32_t seed, int keep,
    struct run *r)
{
	struct ws_dec *d;
	struct ws_event ev;
	struct buf *out;
	size_t off = 0, piece;
	uint32_t s = seed;
	int e = 0, code;

	memset(r, 0, sizeof(*r));
	r->hash = 14695981039346656037ULL;
	if (max == 0)
		max = WS_DEFAULT_MAX_MESSAGE;
	d = ws_dec_new(max);
	CHECK(d != NULL);
	do {
		piece = len - off;
		if (seed != 0 && piece > 0)
			piece = 1 + next_rand(&s) % (piece < 300 ? piece : 300);
		CHECK(ws_dec_feed(d, data + off, piece) == 0);
		off += piece;
		while ((e = ws_dec_next(d, &ev)) == 1)
			check_event(&ev, max, r, keep);
		if (e != 0)
			break;
		/* Between feeds only a header's worth of input is held. */
		CHECK(ws_dec_buffered(d) <= max + WS_MAX_FRAME_HEADER);
		CHECK(!r->closed || ws_dec_buffered(d) == 0);
	} while (off < len);
	if (e != 0) {
		CHECK(e == PROTO_ERR_INVALID || e == PROTO_ERR_TOO_LARGE);
		code = ws_dec_close_code(d);
		CHECK(e != PROTO_ERR_TOO_LARGE || code == WS_CLOSE_TOO_BIG);
		CHECK(e != PROTO_ERR_INVALID || code == WS_CLOSE_PROTOCOL ||
		    code == WS_CLOSE_INVALID_DATA);
		CHECK(ws_dec_reason(d)[0] != '\0');
		CHECK(ws_dec_next(d, &ev) == e);
		CHECK(ws_dec_buffered(d) <= max);
		out = buf_new(256);
		CHECK(out != NULL);
		CHECK(ws_dec_close_frame(d, out) == 0);
		CHECK(buf_len(out) >= 4 && buf_len(out) <= 2 + WS_MAX_CONTROL);
		buf_free(out);
		mix(&r->hash, &code, sizeof(code));
	} else
		CHECK(ws_dec_close_code(d) == 0);
	r->err = e;
	ws_dec_free(d);
}

static void
decode_both(const uint8_t *data, size_t len, size_t max, uint32_t seed)
{
	struct run a, b;

	decode(data, len, max, 0, 0, &a);
	decode(data, len, max, seed | 1, 0, &b);
	CHECK(a.hash == b.hash && a.err == b.err && a.closed == b.closed);
}

/* Feeds an HTTP request whole or in pieces; returns the result and *used. */
static int
http_run(const uint8_t *data, size_t len, uint32_t seed, size_t *taken,
    struct ws_http **hp)
{
	struct ws_http *h;
	size_t off = 0, piece, used;
	uint32_t s = seed;
	int r = 0;

	h = ws_http_new(0);
	CHECK(h != NULL);
	*taken = 0;
	while (off < len) {
		piece = len - off;
		if (seed != 0)
			piece = 1 + next_rand(&s) % (piece < 64 ? piece : 64);
		r = ws_http_feed(h, data + off, piece, &used);
		CHECK(used <= piece);
		*taken += used;
		if (r != 0)
			break;
		CHECK(used == piece);
		off += piece;
	}
	*hp = h;
	return r;
}

static void
fuzz_http(const uint8_t *data, size_t len, size_t max, uint32_t seed)
{
	struct ws_http *h1, *h2;
	struct buf *out;
	size_t t1, t2;
	const char *key, *resp;
	char accept[WS_ACCEPT_LEN + 1];
	enum ws_kind kind;
	int r1, r2, st;

	kind = ws_sniff(data, len);
	CHECK(kind != WS_KIND_HTTP || (len >= 4 && memcmp(data, "GET ", 4) == 0));
	CHECK(kind != WS_KIND_MORE || len < 4);
	r1 = http_run(data, len, 0, &t1, &h1);
	r2 = http_run(data, len, seed | 1, &t2, &h2);
	CHECK(r1 == r2 && ws_http_status(h1) == ws_http_status(h2));
	CHECK(r1 == 0 || r1 == 1 || r1 == PROTO_ERR_INVALID ||
	    r1 == PROTO_ERR_TOO_LARGE);
	CHECK(t1 <= WS_MAX_REQUEST && t1 <= len);
	st = ws_http_status(h1);
	out = buf_new(8192);
	CHECK(out != NULL);
	if (r1 == 0) {
		CHECK(st == 0 && t1 == len);
		CHECK(ws_http_response(h1, out) == PROTO_ERR_ARG);
	} else if (r1 == 1) {
		CHECK(st == 101 && t1 == t2 && kind == WS_KIND_HTTP);
		CHECK(ws_http_path(h1) != NULL && ws_http_path(h1)[0] != '\0');
		key = ws_http_header(h1, "sec-websocket-key");
		CHECK(key != NULL && strlen(key) == 24);
		CHECK(ws_http_header(h1, "origin") == NULL);
		CHECK(ws_http_response(h1, out) == 0);
		ws_accept_key(key, 24, accept);
		resp = (const char *)buf_ptr(out);
		CHECK(memmem(resp, buf_len(out), accept, WS_ACCEPT_LEN) != NULL);
		CHECK(buf_len(out) > 12 && memcmp(resp, "HTTP/1.1 101", 12) == 0);
		/* What follows the request is the WebSocket stream. */
		decode_both(data + t1, len - t1, max, seed);
	} else {
		CHECK(st == 400 || st == 403 || st == 405 || st == 426 ||
		    st == 431);
		CHECK((r1 == PROTO_ERR_TOO_LARGE) == (st == 431));
		CHECK(ws_http_reason(h1)[0] != '\0');
		CHECK(ws_http_response(h1, out) == 0);
		CHECK(memcmp(buf_ptr(out), "HTTP/1.1 4", 10) == 0);
	}
	buf_free(out);
	ws_http_free(h1);
	ws_http_free(h2);
}

/*
 * Mode 2: a list of [b0][n][m][payload: n & 0x7f bytes] records, each sent as
 * one masked frame with first byte b0 (its RSV bits cleared unless n has its
 * top bit, so that most frames are valid), a payload of at most 125 bytes and
 * a mask derived from m.
 */
static size_t
build_frames(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t i = 0, o = 0, n, k;
	uint8_t b0, mask[4];

	while (i + 3 <= len) {
		b0 = in[i];
		n = in[i + 1] & 0x7f;
		if (n > WS_MAX_CONTROL)
			n = WS_MAX_CONTROL;
		if (!(in[i + 1] & 0x80))
			b0 &= 0x8f;
		mask[0] = in[i + 2];
		mask[1] = (uint8_t)(in[i + 2] * 3);
		mask[2] = (uint8_t)(in[i + 2] ^ 0x5a);
		mask[3] = (uint8_t)(in[i + 2] + 1);
		i += 3;
		if (n > len - i)
			n = len - i;
		out[o++] = b0;
		out[o++] = (uint8_t)(0x80 | n);
		memcpy(out + o, mask, 4);
		o += 4;
		for (k = 0; k < n; k++)
			out[o + k] = in[i + k] ^ mask[k & 3];
		o += n;
		i += n;
	}
	return o;
}

/* Mode 3: encoder, then client masking, then decoder. */
static void
fuzz_roundtrip(const uint8_t *data, size_t len, uint32_t seed)
{
	struct buf *srv;
	struct run a;
	uint8_t *masked, mask[4] = { 0x11, 0x22, 0x33, 0x44 };
	const uint8_t *p;
	size_t max_frame = 1 + seed % 64, n, i, o = 0, hl, pl, k;
	char reason[256];
	int valid = oracle_utf8(data, len);

	srv = buf_new(SIZE_MAX);
	CHECK(srv != NULL);
	CHECK(ws_enc_text(srv, data, len, max_frame) == 0);
	/* Each frame grows by its 4-byte mask: at most 3x for 1-byte frames. */
	masked = malloc(buf_len(srv) * 3 + 16);
	CHECK(masked != NULL);
	/* Re-frame as a client: set the mask bit, insert a mask, XOR. */
	p = buf_ptr(srv);
	n = buf_len(srv);
	for (i = 0; i < n; i += hl + pl) {
		CHECK((p[i] & 0x70) == 0);
		pl = p[i + 1] & 0x7f;
		hl = 2;
		if (pl == 126) {
			pl = (size_t)p[i + 2] << 8 | p[i + 3];
			hl = 4;
		} else if (pl == 127) {
			for (pl = 0, k = 0; k < 8; k++)
				pl = pl << 8 | p[i + 2 + k];
			hl = 10;
		}
		CHECK(pl <= max_frame);
		memcpy(masked + o, p + i, hl);
		masked[o + 1] |= 0x80;
		memcpy(masked + o + hl, mask, 4);
		o += hl + 4;
		for (k = 0; k < pl; k++)
			masked[o + k] = p[i + hl + k] ^ mask[k & 3];
		o += pl;
		mask[0]++;
	}
	decode(masked, o, 0, seed | 1, 1, &a);
	if (valid) {
		CHECK(a.err == 0 && a.text_events == 1 && a.last_len == len);
		CHECK(len == 0 || memcmp(a.last, data, len) == 0);
	} else {
		CHECK(a.err == PROTO_ERR_INVALID && a.text_events == 0);
	}
	free(a.last);
	free(masked);

	/* A close reason of any bytes is cut to fit, never mid-character. */
	n = len < sizeof(reason) - 1 ? len : sizeof(reason) - 1;
	memcpy(reason, data, n);
	reason[n] = '\0';
	buf_reset(srv);
	CHECK(ws_enc_close(srv, 1000 + (int)(seed % 4), reason) == 0);
	CHECK(buf_len(srv) >= 4 && buf_len(srv) <= 2 + WS_MAX_CONTROL);
	if (valid && memchr(data, 0, len) == NULL)
		CHECK(ws_utf8_valid(buf_ptr(srv) + 4, buf_len(srv) - 4));
	buf_free(srv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[4] = { 0, 16, 130, 70000 };
	uint8_t *frames;
	size_t max, n;
	uint32_t seed;

	if (size < 2)
		return 0;
	max = limits[(data[0] >> 2) & 3];
	seed = data[1] | (uint32_t)data[0] << 8;
	switch (data[0] & 3) {
	case 0:
		fuzz_http(data + 2, size - 2, max, seed);
		break;
	case 1:
		decode_both(data + 2, size - 2, max, seed);
		break;
	case 2:
		/* Each 3-byte record head grows into a 6-byte frame head. */
		frames = malloc(2 * size + 16);
		CHECK(frames != NULL);
		n = build_frames(data + 2, size - 2, frames);
		decode_both(frames, n, max, seed);
		free(frames);
		break;
	default:
		fuzz_roundtrip(data + 2, size - 2, seed);
		break;
	}
	return 0;
}
