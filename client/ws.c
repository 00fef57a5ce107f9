/*
 * ws.c - WebSocket server side: upgrade request, frame decoder, frame encoders.
 *
 * The decoder moves payload bytes out of its input as soon as they arrive
 * (unmasked into the message being assembled, or into the control payload), so
 * its input never holds more than one frame header after ws_dec_next() returns
 * 0, and a length is checked against the message limit before any of its
 * payload is buffered.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/ws.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A big buffer kept after a big message would pin its memory for the
 * lifetime of a mostly idle connection. */
#define MSG_KEEP	(256 * 1024)

/* ---- sniffing ------------------------------------------------------------- */

enum ws_kind
ws_sniff(const void *data, size_t len)
{
	const char *p = data;
	size_t n;

	if (len == 0)
		return WS_KIND_MORE;
	if (*p == '{' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		return WS_KIND_JSONL;
	n = len < 4 ? len : 4;
	if (memcmp(p, "GET ", n) != 0)
		return WS_KIND_OTHER;
	return n < 4 ? WS_KIND_MORE : WS_KIND_HTTP;
}

/* ---- SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept -------------------- */

struct sha1 {
	uint32_t h[5];
	uint64_t total;
	uint8_t blk[64];
	size_t n;
};

static uint32_t
rol(uint32_t x, int k)
{
	return (x << k) | (x >> (32 - k));
}

static void
sha1_block(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0];
	b = h[1];
	c = h[2];
	d = h[3];
	e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

static void
sha1_init(struct sha1 *s)
{
	static const uint32_t iv[5] = {
		0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0
	};

	memcpy(s->h, iv, sizeof(iv));
	s->total = 0;
	s->n = 0;
}

static void
sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t take;

	s->total += len;
	while (len > 0) {
		if (s->n == 0 && len >= 64) {
			sha1_block(s->h, p);
			p += 64;
			len -= 64;
			continue;
		}
		take = 64 - s->n < len ? 64 - s->n : len;
		memcpy(s->blk + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n == 64) {
			sha1_block(s->h, s->blk);
			s->n = 0;
		}
	}
}

static void
sha1_final(struct sha1 *s, uint8_t out[20])
{
	uint64_t bits = s->total * 8;
	int i;

	s->blk[s->n++] = 0x80;
	if (s->n > 56) {
		memset(s->blk + s->n, 0, 64 - s->n);
		sha1_block(s->h, s->blk);
		s->n = 0;
	}
	memset(s->blk + s->n, 0, 56 - s->n);
	for (i = 0; i < 8; i++)
		s->blk[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_block(s->h, s->blk);
	for (i = 0; i < 20; i++)
		out[i] = (uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

void
ws_sha1(const void *data, size_t len, uint8_t out[20])
{
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, data, len);
	sha1_final(&s, out);
}

static void
base64(const uint8_t *in, size_t len, char *out)
{
	uint32_t v;

	for (; len >= 3; in += 3, len -= 3) {
		v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
		*out++ = b64chars[v >> 18];
		*out++ = b64chars[(v >> 12) & 63];
		*out++ = b64chars[(v >> 6) & 63];
		*out++ = b64chars[v & 63];
	}
	if (len > 0) {
		v = (uint32_t)in[0] << 16 | (len > 1 ? (uint32_t)in[1] << 8 : 0);
		*out++ = b64chars[v >> 18];
		*out++ = b64chars[(v >> 12) & 63];
		*out++ = len > 1 ? b64chars[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

void
ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1])
{
	struct sha1 s;
	uint8_t md[20];

	sha1_init(&s);
	sha1_update(&s, key, keylen);
	sha1_update(&s, ws_guid, sizeof(ws_guid) - 1);
	sha1_final(&s, md);
	base64(md, sizeof(md), out);
}

/* 16 bytes in base64 are 22 symbols and "==". */
static int
key_valid(const char *k)
{
	size_t i;

	if (strlen(k) != 24 || k[22] != '=' || k[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (k[i] == '\0' || strchr(b64chars, k[i]) == NULL)
			return 0;
	return 1;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* Incremental validator: bytes still expected, and the range of the next one. */
struct utf8 {
	uint8_t need, lo, hi;
};

static int
utf8_feed(struct utf8 *u, const uint8_t *p, size_t n)
{
	size_t i = 0;
	uint64_t w;
	uint8_t c;

	while (i < n) {
		c = p[i];
		if (u->need > 0) {
			if (c < u->lo || c > u->hi)
				return 0;
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
			i++;
			continue;
		}
		/* JSON is mostly ASCII: skip it a word at a time. */
		if (i + 8 <= n) {
			memcpy(&w, p + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		i++;
		if (c < 0x80)
			continue;
		u->lo = 0x80;
		u->hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			u->need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			u->need = 2;
			if (c == 0xe0)
				u->lo = 0xa0;		/* overlong */
			else if (c == 0xed)
				u->hi = 0x9f;		/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			u->need = 3;
			if (c == 0xf0)
				u->lo = 0x90;		/* overlong */
			else if (c == 0xf4)
				u->hi = 0x8f;		/* past U+10FFFF */
		} else
			return 0;
	}
	return 1;
}

int
ws_utf8_valid(const void *data, size_t len)
{
	struct utf8 u = { 0, 0x80, 0xbf };

	return utf8_feed(&u, data, len) && u.need == 0;
}

/* ---- the HTTP upgrade ----------------------------------------------------- */

struct field {
	const char *name;
	const char *value;
};

struct ws_http {
	char req[WS_MAX_REQUEST + 1];
	size_t len;
	int eol;		/* 1 after '\n', 2 after "\n\r": an empty line ends */
	int result;		/* sticky ws_http_feed() result once decided */
	int status;
	const char *reason;
	const char *path;
	struct field f[WS_MAX_FIELDS];
	size_t nf;
	char accept[WS_ACCEPT_LEN + 1];
	size_t max_message;
};

struct ws_http *
ws_http_new(size_t max_message)
{
	struct ws_http *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
	h->reason = "";
	return h;
}

void
ws_http_free(struct ws_http *h)
{
	free(h);
}

static int
refuse(struct ws_http *h, int status, const char *reason)
{
	h->status = status;
	h->reason = reason;
	h->result = status == 431 ? PROTO_ERR_TOO_LARGE : PROTO_ERR_INVALID;
	return h->result;
}

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Does any field called name hold token in its comma-separated list? */
static int
has_token(const struct ws_http *h, const char *name, const char *token)
{
	const char *s, *e, *t;
	size_t i, tl = strlen(token);

	for (i = 0; i < h->nf; i++) {
		if (strcasecmp(h->f[i].name, name) != 0)
			continue;
		for (s = h->f[i].value;; s = e + 1) {
			while (*s == ' ' || *s == '\t')
				s++;
			for (e = s; *e != '\0' && *e != ','; e++)
				;
			for (t = e; t > s && (t[-1] == ' ' || t[-1] == '\t'); t--)
				;
			if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0)
				return 1;
			if (*e == '\0')
				break;
		}
	}
	return 0;
}

static size_t
count_fields(const struct ws_http *h, const char *name, const char **first)
{
	size_t i, n = 0;

	*first = NULL;
	for (i = 0; i < h->nf; i++) {
		if (strcasecmp(h->f[i].name, name) != 0)
			continue;
		if (n++ == 0)
			*first = h->f[i].value;
	}
	return n;
}

/* Cuts the next line out of *pp (ending in "\n" or "\r\n"), NUL-terminated. */
static char *
next_line(char **pp)
{
	char *line = *pp, *nl;

	if ((nl = strchr(line, '\n')) == NULL)
		return NULL;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*pp = nl + 1;
	return line;
}

static int
parse_request_line(struct ws_http *h, char *line, int *not_get)
{
	char *sp1, *sp2, *p;

	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || strchr(sp2 + 1, ' ') != NULL)
		return 0;
	*sp1 = *sp2 = '\0';
	if (*line == '\0' || sp1[1] == '\0')
		return 0;
	for (p = line; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return 0;
	for (p = sp1 + 1; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0)
		return 0;
	h->path = sp1 + 1;
	*not_get = strcmp(line, "GET") != 0;
	return 1;
}

static int
parse_request(struct ws_http *h)
{
	char *p = h->req, *line, *colon, *v, *e;
	const char *val;
	size_t n;
	int not_get = 0;

	h->req[h->len] = '\0';
	if (memchr(h->req, '\0', h->len) != NULL)
		return refuse(h, 400, "NUL byte in request");
	if ((line = next_line(&p)) == NULL ||
	    !parse_request_line(h, line, &not_get))
		return refuse(h, 400, "malformed request line");
	while ((line = next_line(&p)) != NULL && *line != '\0') {
		if (*line == ' ' || *line == '\t')
			return refuse(h, 400, "folded header line");
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return refuse(h, 400, "malformed header line");
		*colon = '\0';
		for (v = line; *v != '\0'; v++)
			if (!is_tchar((unsigned char)*v))
				return refuse(h, 400, "malformed header name");
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		for (e = v; *e != '\0'; e++)
			if (((unsigned char)*e < 0x20 && *e != '\t') || *e == 0x7f)
				return refuse(h, 400, "control character in header");
		if (h->nf == WS_MAX_FIELDS)
			return refuse(h, 431, "too many header fields");
		h->f[h->nf].name = line;
		h->f[h->nf].value = v;
		h->nf++;
	}

	if (not_get)
		return refuse(h, 405, "only GET upgrades to WebSocket");
	if (count_fields(h, "Origin", &val) > 0)
		return refuse(h, 403, "requests with an Origin are refused");
	/* Health probes, as on the app server's own listener: answered, closed. */
	if (!has_token(h, "Upgrade", "websocket") &&
	    (strcmp(h->path, "/readyz") == 0 || strcmp(h->path, "/healthz") == 0))
		return refuse(h, 200, "ok");
	if (count_fields(h, "Transfer-Encoding", &val) > 0 ||
	    ((n = count_fields(h, "Content-Length", &val)) > 0 &&
	    (n > 1 || strcmp(val, "0") != 0)))
		return refuse(h, 400, "a request body is not allowed");
	if (!has_token(h, "Upgrade", "websocket"))
		return refuse(h, 400, "not a WebSocket upgrade (Upgrade: websocket)");
	if (!has_token(h, "Connection", "upgrade"))
		return refuse(h, 400, "Connection: upgrade missing");
	if (count_fields(h, "Sec-WebSocket-Version", &val) != 1 ||
	    strcmp(val, "13") != 0)
		return refuse(h, 426, "only WebSocket version 13 is supported");
	if (count_fields(h, "Sec-WebSocket-Key", &val) != 1 || !key_valid(val))
		return refuse(h, 400, "invalid Sec-WebSocket-Key");
	ws_accept_key(val, strlen(val), h->accept);
	h->status = 101;
	h->result = 1;
	return 1;
}

int
ws_http_feed(struct ws_http *h, const void *data, size_t len, size_t *used)
{
	const char *p = data;
	size_t i;
	char c;

	*used = 0;
	if (h->result != 0)
		return h->result;
	for (i = 0; i < len; i++) {
		if (h->len == WS_MAX_REQUEST) {
			*used = i;
			return refuse(h, 431, "request header too large");
		}
		c = p[i];
		h->req[h->len++] = c;
		if (c == '\n') {
			if (h->eol != 0) {
				*used = i + 1;
				return parse_request(h);
			}
			h->eol = 1;
		} else if (c == '\r' && h->eol == 1)
			h->eol = 2;
		else
			h->eol = 0;
	}
	*used = len;
	return 0;
}

int
ws_http_status(const struct ws_http *h)
{
	return h->status;
}

const char *
ws_http_reason(const struct ws_http *h)
{
	return h->reason;
}

const char *
ws_http_path(const struct ws_http *h)
{
	return h->path;
}

const char *
ws_http_header(const struct ws_http *h, const char *name)
{
	const char *v;

	if (h->result == 0)
		return NULL;
	count_fields(h, name, &v);
	return v;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	default: return "Error";
	}
}

int
ws_http_response(const struct ws_http *h, struct buf *out)
{
	char resp[1024];
	int n;

	if (h->result == 0)
		return PROTO_ERR_ARG;
	if (h->status == 101)
		n = snprintf(resp, sizeof(resp),
		    "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Accept: %s\r\n"
		    "x-codex-websocket-max-unfragmented-message-bytes: %zu\r\n"
		    "\r\n", h->accept, h->max_message);
	else
		n = snprintf(resp, sizeof(resp),
		    "HTTP/1.1 %d %s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %zu\r\n"
		    "Connection: close\r\n"
		    "%s"
		    "\r\n"
		    "%s\n", h->status, status_text(h->status),
		    strlen(h->reason) + 1,
		    h->status == 426 ? "Sec-WebSocket-Version: 13\r\n" :
		    h->status == 405 ? "Allow: GET\r\n" : "",
		    h->reason);
	if (n < 0 || (size_t)n >= sizeof(resp))
		return PROTO_ERR_TOO_LARGE;	/* reasons are short and static */
	return buf_put(out, resp, (size_t)n);
}

/* ---- the frame decoder ------------------------------------------------------ */

enum dec_state { ST_HEADER, ST_PAYLOAD, ST_CLOSED, ST_ERROR };

struct ws_dec {
	struct buf *in;
	struct buf *msg;
	size_t max_message;
	enum dec_state state;
	/* the frame being read */
	int opcode;
	int fin;
	uint64_t left;		/* payload bytes still to come */
	size_t pos;		/* payload bytes seen: the mask's phase */
	uint8_t mask[4];
	/* the message being assembled */
	int msg_op;		/* WS_OP_TEXT or WS_OP_BINARY while open, else 0 */
	int delivered;		/* msg was handed out: clear it on the next call */
	struct utf8 u8;
	uint8_t ctl[WS_MAX_CONTROL];
	size_t ctl_len;
	/* the sticky error */
	int err;
	int code;
	const char *reason;
};

struct ws_dec *
ws_dec_new(size_t max_message)
{
	struct ws_dec *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->max_message = max_message ? max_message : WS_DEFAULT_MAX_MESSAGE;
	d->reason = "";
	if ((d->in = buf_new(SIZE_MAX)) == NULL ||
	    (d->msg = buf_new(d->max_message)) == NULL) {
		ws_dec_free(d);
		return NULL;
	}
	return d;
}

void
ws_dec_free(struct ws_dec *d)
{
	if (d == NULL)
		return;
	buf_free(d->in);
	buf_free(d->msg);
	free(d);
}

static int
dec_fail(struct ws_dec *d, int err, int code, const char *reason)
{
	d->state = ST_ERROR;
	d->err = err;
	d->code = code;
	d->reason = reason;
	buf_reset(d->in);
	return err;
}

int
ws_dec_feed(struct ws_dec *d, const void *data, size_t len)
{
	if (d->state == ST_ERROR || d->state == ST_CLOSED || len == 0)
		return 0;
	if (buf_put(d->in, data, len) != 0)
		return PROTO_ERR_NOMEM;
	return 0;
}

/* XOR with the mask, a word at a time (8 is a multiple of the mask's 4). */
static void
unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
    size_t pos)
{
	uint8_t m[8];
	uint64_t mw, w;
	size_t i;

	for (i = 0; i < 8; i++)
		m[i] = mask[(pos + i) & 3];
	memcpy(&mw, m, 8);
	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= mw;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ m[i & 7];
}

/*
 * Parses a frame header from the input. Every rule is checked as soon as the
 * bytes it needs are there, so a split input fails exactly like a whole one.
 * Returns 1 when the header was taken, 0 for more input, or an error.
 */
static int
read_header(struct ws_dec *d)
{
	const uint8_t *p = buf_ptr(d->in);
	size_t have = buf_len(d->in), ext, hlen, i;
	uint64_t len;
	int op, fin, control;

	if (have < 2)
		return 0;
	fin = (p[0] & 0x80) != 0;
	op = p[0] & 0x0f;
	if (p[0] & 0x70)
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "reserved bits set");
	switch (op) {
	case WS_OP_CONT:
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		control = 0;
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		control = 1;
		break;
	default:
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "unknown opcode");
	}
	if (!(p[1] & 0x80))
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "unmasked client frame");
	len = p[1] & 0x7f;
	if (control) {
		if (!fin)
			return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
			    "fragmented control frame");
		if (len > WS_MAX_CONTROL)
			return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
			    "control frame too long");
	} else if (op == WS_OP_CONT && d->msg_op == 0)
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "continuation frame without a message");
	else if (op != WS_OP_CONT && d->msg_op != 0)
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "new message inside a fragmented one");
	ext = len == 126 ? 2 : len == 127 ? 8 : 0;
	if (have < 2 + ext)
		return 0;
	if (ext > 0) {
		for (len = 0, i = 0; i < ext; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63)
			return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
			    "payload length with the top bit set");
	}
	if (!control && len > d->max_message - buf_len(d->msg))
		return dec_fail(d, PROTO_ERR_TOO_LARGE, WS_CLOSE_TOO_BIG,
		    "message too big");
	hlen = 2 + ext + 4;
	if (have < hlen)
		return 0;
	memcpy(d->mask, p + 2 + ext, 4);
	buf_consume(d->in, hlen);
	d->opcode = op;
	d->fin = fin;
	d->left = len;
	d->pos = 0;
	d->ctl_len = 0;
	if (!control && op != WS_OP_CONT) {
		d->msg_op = op;
		d->u8.need = 0;
	}
	d->state = ST_PAYLOAD;
	return 1;
}

/* Moves what has arrived of the payload to where it belongs. */
static int
take_payload(struct ws_dec *d)
{
	const uint8_t *src = buf_ptr(d->in);
	uint8_t *dst;
	size_t n = buf_len(d->in);

	if (n > d->left)
		n = (size_t)d->left;
	if (n == 0)
		return 0;
	if (d->opcode & 0x8) {
		unmask(d->ctl + d->ctl_len, src, n, d->mask, d->pos);
		d->ctl_len += n;
	} else {
		if (buf_reserve(d->msg, n, &dst) != 0)
			return dec_fail(d, PROTO_ERR_NOMEM, WS_CLOSE_INTERNAL,
			    "out of memory");
		unmask(dst, src, n, d->mask, d->pos);
		/* Fail fast: invalid text is refused before the message ends. */
		if (d->msg_op == WS_OP_TEXT && !utf8_feed(&d->u8, dst, n))
			return dec_fail(d, PROTO_ERR_INVALID,
			    WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a text message");
		buf_commit(d->msg, n);
	}
	buf_consume(d->in, n);
	d->pos += n;
	d->left -= n;
	return 0;
}

static int
control_event(struct ws_dec *d, struct ws_event *ev)
{
	int code;

	ev->data = d->ctl;
	ev->len = d->ctl_len;
	ev->close_code = 0;
	switch (d->opcode) {
	case WS_OP_PING:
		ev->type = WS_EV_PING;
		return 1;
	case WS_OP_PONG:
		ev->type = WS_EV_PONG;
		return 1;
	default:
		break;
	}
	if (d->ctl_len == 1)
		return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
		    "close frame with a 1-byte body");
	code = WS_CLOSE_NO_STATUS;
	if (d->ctl_len >= 2) {
		code = d->ctl[0] << 8 | d->ctl[1];
		if (!ws_close_code_valid(code))
			return dec_fail(d, PROTO_ERR_INVALID, WS_CLOSE_PROTOCOL,
			    "invalid close code");
		if (!ws_utf8_valid(d->ctl + 2, d->ctl_len - 2))
			return dec_fail(d, PROTO_ERR_INVALID,
			    WS_CLOSE_INVALID_DATA, "invalid UTF-8 in a close reason");
		ev->data = d->ctl + 2;
		ev->len = d->ctl_len - 2;
	}
	ev->type = WS_EV_CLOSE;
	ev->close_code = code;
	/* Nothing may follow a close frame, and an open message never ends. */
	d->state = ST_CLOSED;
	buf_reset(d->in);
	buf_reset(d->msg);
	d->msg_op = 0;
	return 1;
}

int
ws_dec_next(struct ws_dec *d, struct ws_event *ev)
{
	struct buf *nb;
	int r;

	if (d->state == ST_ERROR)
		return d->err;
	if (d->state == ST_CLOSED)
		return 0;
	if (d->delivered) {
		d->delivered = 0;
		if (buf_len(d->msg) > MSG_KEEP &&
		    (nb = buf_new(d->max_message)) != NULL) {
			buf_free(d->msg);
			d->msg = nb;
		} else
			buf_reset(d->msg);
	}
	for (;;) {
		if (d->state == ST_HEADER && (r = read_header(d)) <= 0)
			return r;
		if ((r = take_payload(d)) < 0)
			return r;
		if (d->left > 0)
			return 0;
		d->state = ST_HEADER;
		if (d->opcode & 0x8)
			return control_event(d, ev);
		if (!d->fin)
			continue;
		if (d->msg_op == WS_OP_TEXT && d->u8.need != 0)
			return dec_fail(d, PROTO_ERR_INVALID,
			    WS_CLOSE_INVALID_DATA, "truncated UTF-8 in a text message");
		ev->type = d->msg_op == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
		ev->data = buf_ptr(d->msg);
		ev->len = buf_len(d->msg);
		ev->close_code = 0;
		d->msg_op = 0;
		d->delivered = 1;
		return 1;
	}
}

const char *
ws_dec_reason(const struct ws_dec *d)
{
	return d->reason;
}

int
ws_dec_close_code(const struct ws_dec *d)
{
	return d->state == ST_ERROR ? d->code : 0;
}

size_t
ws_dec_buffered(const struct ws_dec *d)
{
	return buf_len(d->in) + buf_len(d->msg);
}

/* ---- encoders -------------------------------------------------------------- */

size_t
ws_frame_header(uint8_t hdr[WS_MAX_FRAME_HEADER], int opcode, int fin,
    uint64_t len)
{
	int i;

	hdr[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		hdr[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		hdr[1] = 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		return 4;
	}
	hdr[1] = 127;
	for (i = 0; i < 8; i++)
		hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

static int
put_frame(struct buf *out, int opcode, int fin, const void *data, size_t len)
{
	uint8_t hdr[WS_MAX_FRAME_HEADER], *dst;
	size_t hl = ws_frame_header(hdr, opcode, fin, len);
	int r;

	if (len > SIZE_MAX - hl)
		return PROTO_ERR_TOO_LARGE;
	if ((r = buf_reserve(out, hl + len, &dst)) != 0)
		return r;
	memcpy(dst, hdr, hl);
	if (len > 0)
		memcpy(dst + hl, data, len);
	buf_commit(out, hl + len);
	return 0;
}

int
ws_enc_text(struct buf *out, const void *data, size_t len, size_t max_frame)
{
	const uint8_t *p = data;
	size_t n;
	int r, op = WS_OP_TEXT;

	if (max_frame == 0)
		max_frame = WS_DEFAULT_MAX_MESSAGE;
	do {
		n = len < max_frame ? len : max_frame;
		if ((r = put_frame(out, op, n == len, p, n)) != 0)
			return r;
		op = WS_OP_CONT;
		p += n;
		len -= n;
	} while (len > 0);
	return 0;
}

int
ws_enc_ping(struct buf *out, const void *data, size_t len)
{
	if (len > WS_MAX_CONTROL)
		return PROTO_ERR_ARG;
	return put_frame(out, WS_OP_PING, 1, data, len);
}

int
ws_enc_pong(struct buf *out, const void *data, size_t len)
{
	if (len > WS_MAX_CONTROL)
		return PROTO_ERR_ARG;
	return put_frame(out, WS_OP_PONG, 1, data, len);
}

int
ws_enc_close(struct buf *out, int code, const char *reason)
{
	uint8_t body[WS_MAX_CONTROL];
	size_t rl;

	if (code == 0)
		return put_frame(out, WS_OP_CLOSE, 1, NULL, 0);
	if (!ws_close_code_valid(code))
		return PROTO_ERR_ARG;
	body[0] = (uint8_t)(code >> 8);
	body[1] = (uint8_t)code;
	rl = reason != NULL ? strlen(reason) : 0;
	if (rl > WS_MAX_CONTROL - 2) {
		rl = WS_MAX_CONTROL - 2;
		/* Never cut a character in two: back up to a lead byte. */
		while (rl > 0 && ((unsigned char)reason[rl] & 0xc0) == 0x80)
			rl--;
	}
	if (rl > 0)
		memcpy(body + 2, reason, rl);
	return put_frame(out, WS_OP_CLOSE, 1, body, 2 + rl);
}

int
ws_close_reply(const struct ws_event *ev, struct buf *out)
{
	if (ev->type != WS_EV_CLOSE)
		return PROTO_ERR_ARG;
	if (ev->close_code == WS_CLOSE_NO_STATUS)
		return ws_enc_close(out, 0, NULL);
	return ws_enc_close(out, ev->close_code, NULL);
}

int
ws_dec_close_frame(const struct ws_dec *d, struct buf *out)
{
	if (d->state != ST_ERROR)
		return PROTO_ERR_ARG;
	return ws_enc_close(out, d->code, d->reason);
}

int
ws_close_code_valid(int code)
{
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}
