/*
 * ws-t.c - tests of the WebSocket server side (client/ws.c).
 *
 * Upgrade requests and frame streams are tables; every entry is fed whole,
 * split in two at every offset, and one byte at a time, and must give the
 * same outcome each way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ws.h"
#include "tests/tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- SHA-1 and the accept key ---------------------------------------------- */

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void
test_sha1(void)
{
	static const struct {
		const char *in;
		size_t repeat;	/* of the letter 'a' when in is NULL */
		const char *want;
	} v[] = {
		/* FIPS 180 examples */
		{ "abc", 0, "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0,
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 0,
		  "a49b2446a02c645bf419f995b67091253a04a259" },
		{ NULL, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
		/* padding boundaries */
		{ NULL, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
		{ NULL, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
		{ NULL, 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
		{ NULL, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
		{ NULL, 65, "11655326c708d70319be2610e8a57d9a5b959d3b" },
		{ NULL, 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" },
		{ NULL, 128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0" },
	};
	uint8_t md[20];
	char got[41], *a;
	size_t i;

	for (i = 0; i < N(v); i++) {
		if (v[i].in != NULL)
			ws_sha1(v[i].in, strlen(v[i].in), md);
		else {
			if ((a = malloc(v[i].repeat)) == NULL)
				bail("out of memory");
			memset(a, 'a', v[i].repeat);
			ws_sha1(a, v[i].repeat, md);
			free(a);
		}
		hex(md, sizeof(md), got);
		is_str(got, v[i].want, "sha1 vector %zu", i);
	}
}

static void
test_accept_key(void)
{
	char out[WS_ACCEPT_LEN + 1];

	/* RFC 6455 section 1.3 */
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	is_str(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept key, RFC example");
	ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
	is_str(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", "accept key, second key");
}

/* ---- sniffing ------------------------------------------------------------- */

static void
test_sniff(void)
{
	static const struct {
		const char *in;
		enum ws_kind want;
	} v[] = {
		{ "", WS_KIND_MORE },
		{ "G", WS_KIND_MORE },
		{ "GE", WS_KIND_MORE },
		{ "GET", WS_KIND_MORE },
		{ "GET ", WS_KIND_HTTP },
		{ "GET / HTTP/1.1\r\n", WS_KIND_HTTP },
		{ "{\"id\":1}", WS_KIND_JSONL },
		{ " {", WS_KIND_JSONL },
		{ "\n", WS_KIND_JSONL },
		{ "\t", WS_KIND_JSONL },
		{ "\r\n", WS_KIND_JSONL },
		{ "GETX", WS_KIND_OTHER },
		{ "get ", WS_KIND_OTHER },
		{ "POST / HTTP/1.1", WS_KIND_OTHER },
		{ "[1]", WS_KIND_OTHER },
		{ "\x16\x03\x01", WS_KIND_OTHER },
	};

	char label[64];
	size_t i, j, n;

	for (i = 0; i < N(v); i++) {
		for (j = 0, n = 0; v[i].in[j] != '\0' && n + 5 < sizeof(label); j++)
			n += (size_t)snprintf(label + n, sizeof(label) - n,
			    (unsigned char)v[i].in[j] < 0x20 ? "\\x%02x" : "%c",
			    (unsigned char)v[i].in[j]);
		label[n] = '\0';
		is_int(ws_sniff(v[i].in, strlen(v[i].in)), v[i].want,
		    "sniff \"%s\"", label);
	}
}

/* ---- the HTTP upgrade ----------------------------------------------------- */

#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"
#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"

static const struct {
	const char *label;
	const char *req;
	int result;
	int status;
} upgrades[] = {
	{ "plain upgrade",
	  "GET / HTTP/1.1\r\nHost: localhost\r\n" UPG KEY VER "\r\n", 1, 101 },
	{ "any path, lists, case, bare LF",
	  "GET /some/path?x=1 HTTP/1.1\n"
	  "host: localhost\n"
	  "connection: keep-alive,  UPGRADE \n"
	  "upgrade: h2c, WebSocket\n"
	  "sec-websocket-version:13\n"
	  "SEC-WEBSOCKET-KEY:   x3JJHMbDL1EzLkh9GBhXDw==  \n"
	  "Sec-WebSocket-Extensions: permessage-deflate\n"
	  "Sec-WebSocket-Protocol: chat\n"
	  "\n", 1, 101 },
	{ "Connection over two fields",
	  "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
	  "Upgrade: websocket\r\n" KEY VER "Content-Length: 0\r\n\r\n", 1, 101 },
	{ "Origin refused",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "Origin: http://evil.example\r\n\r\n",
	  PROTO_ERR_INVALID, 403 },
	{ "empty Origin refused",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "origin:\r\n\r\n",
	  PROTO_ERR_INVALID, 403 },
	{ "POST", "POST / HTTP/1.1\r\n" UPG KEY VER "\r\n", PROTO_ERR_INVALID, 405 },
	{ "health probe /readyz", "GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n",
	  PROTO_ERR_INVALID, 200 },
	{ "health probe /healthz", "GET /healthz HTTP/1.1\r\n\r\n",
	  PROTO_ERR_INVALID, 200 },
	{ "health probe with an Origin refused",
	  "GET /healthz HTTP/1.1\r\nOrigin: http://evil.example\r\n\r\n",
	  PROTO_ERR_INVALID, 403 },
	{ "health path POSTed", "POST /readyz HTTP/1.1\r\n\r\n", PROTO_ERR_INVALID,
	  405 },
	{ "other path without upgrade", "GET /ready HTTP/1.1\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "upgrade on /readyz is an upgrade",
	  "GET /readyz HTTP/1.1\r\n" UPG KEY VER "\r\n", 1, 101 },
	{ "HTTP/1.0", "GET / HTTP/1.0\r\n" UPG KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "no Upgrade", "GET / HTTP/1.1\r\nConnection: Upgrade\r\n" KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "Upgrade: h2c",
	  "GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "no Connection",
	  "GET / HTTP/1.1\r\nUpgrade: websocket\r\n" KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "Connection: upgraded is not upgrade",
	  "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgraded\r\n"
	  KEY VER "\r\n", PROTO_ERR_INVALID, 400 },
	{ "version 8",
	  "GET / HTTP/1.1\r\n" UPG KEY "Sec-WebSocket-Version: 8\r\n\r\n",
	  PROTO_ERR_INVALID, 426 },
	{ "no version", "GET / HTTP/1.1\r\n" UPG KEY "\r\n", PROTO_ERR_INVALID, 426 },
	{ "two versions", "GET / HTTP/1.1\r\n" UPG KEY VER VER "\r\n",
	  PROTO_ERR_INVALID, 426 },
	{ "no key", "GET / HTTP/1.1\r\n" UPG VER "\r\n", PROTO_ERR_INVALID, 400 },
	{ "two keys", "GET / HTTP/1.1\r\n" UPG KEY KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "short key",
	  "GET / HTTP/1.1\r\n" UPG "Sec-WebSocket-Key: abc=\r\n" VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "key of 17 bytes",
	  "GET / HTTP/1.1\r\n" UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQE=\r\n"
	  VER "\r\n", PROTO_ERR_INVALID, 400 },
	{ "key with a bad character",
	  "GET / HTTP/1.1\r\n" UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n"
	  VER "\r\n", PROTO_ERR_INVALID, 400 },
	{ "body announced",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "Content-Length: 5\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "chunked body",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "Transfer-Encoding: chunked\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "folded header",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "X-A: b\r\n c\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "header without colon",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "Nonsense\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "space before colon",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "Host : x\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "empty header name",
	  "GET / HTTP/1.1\r\n" UPG KEY VER ": x\r\n\r\n", PROTO_ERR_INVALID, 400 },
	{ "control character in a value",
	  "GET / HTTP/1.1\r\n" UPG KEY VER "X-A: a\x01" "b\r\n\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "request line without version", "GET /\r\n" UPG KEY VER "\r\n",
	  PROTO_ERR_INVALID, 400 },
	{ "request line with two spaces",
	  "GET  / HTTP/1.1\r\n" UPG KEY VER "\r\n", PROTO_ERR_INVALID, 400 },
	{ "empty request line", "\r\n\r\n", PROTO_ERR_INVALID, 400 },
	{ "target with a control character",
	  "GET /\x7f HTTP/1.1\r\n" UPG KEY VER "\r\n", PROTO_ERR_INVALID, 400 },
};

struct http_outcome {
	int result;
	int status;
	size_t used;
};

/* Feeds req then some frame bytes in pieces of step (0: split once at cut). */
static struct http_outcome
feed_http(const char *req, size_t rlen, size_t cut, size_t step)
{
	struct http_outcome o = { 0, 0, 0 };
	struct ws_http *h;
	char *all;
	size_t n = rlen + 3, off = 0, piece, used;
	int r = 0;

	if ((h = ws_http_new(0)) == NULL || (all = malloc(n)) == NULL)
		bail("out of memory");
	memcpy(all, req, rlen);
	memcpy(all + rlen, "\x81\x80z", 3);
	while (off < n) {
		piece = step ? step : (off < cut ? cut - off : n - off);
		if (piece > n - off)
			piece = n - off;
		r = ws_http_feed(h, all + off, piece, &used);
		o.used += used;
		if (r != 0)
			break;
		off += piece;
	}
	/* Sticky: nothing more is taken. */
	if (r != 0 && (ws_http_feed(h, "x", 1, &used) != r || used != 0))
		r = 99;
	o.result = r;
	o.status = ws_http_status(h);
	ws_http_free(h);
	free(all);
	return o;
}

static void
test_upgrades(void)
{
	struct http_outcome whole, o;
	size_t i, k, len;
	int same;

	for (i = 0; i < N(upgrades); i++) {
		len = strlen(upgrades[i].req);
		whole = feed_http(upgrades[i].req, len, len + 3, 0);
		is_int(whole.result, upgrades[i].result, "upgrade %s: result",
		    upgrades[i].label);
		is_int(whole.status, upgrades[i].status, "upgrade %s: status",
		    upgrades[i].label);
		if (whole.result == 1)
			is_int((long long)whole.used, (long long)len,
			    "upgrade %s: frame bytes left over", upgrades[i].label);
		same = 1;
		for (k = 0; k <= len + 3 && same; k++) {
			o = feed_http(upgrades[i].req, len, k, 0);
			same = o.result == whole.result && o.status == whole.status &&
			    (whole.result != 1 || o.used == whole.used);
		}
		o = feed_http(upgrades[i].req, len, 0, 1);
		same = same && o.result == whole.result && o.status == whole.status &&
		    (whole.result != 1 || o.used == whole.used);
		ok(same, "upgrade %s: same at every split", upgrades[i].label);
	}
}

static void
test_responses(void)
{
	static const char req[] = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\n"
	    UPG KEY VER "\r\n";
	static const char want101[] =
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	    "x-codex-websocket-max-unfragmented-message-bytes: 16777216\r\n"
	    "\r\n";
	struct ws_http *h;
	struct buf *out;
	size_t used;
	const char *s;

	if ((h = ws_http_new(0)) == NULL || (out = buf_new(4096)) == NULL)
		bail("out of memory");
	is_int(ws_http_response(h, out), PROTO_ERR_ARG, "no response before the end");
	ok(ws_http_path(h) == NULL, "no path before the request line");
	ok(ws_http_header(h, "Host") == NULL, "no header before the end");
	is_int(ws_http_feed(h, req, sizeof(req) - 1, &used), 1, "RFC request accepted");
	is_int(ws_http_response(h, out), 0, "101 built");
	is_mem(buf_ptr(out), buf_len(out), want101, sizeof(want101) - 1,
	    "101 response");
	is_str(ws_http_path(h), "/chat", "path");
	is_str(ws_http_header(h, "host"), "server.example.com", "header lookup");
	ok(ws_http_header(h, "Origin") == NULL, "absent header");
	is_str(ws_http_reason(h), "", "no reason when accepted");
	ws_http_free(h);

	/* The announced limit follows the decoder's. */
	buf_reset(out);
	if ((h = ws_http_new(1000)) == NULL)
		bail("out of memory");
	PROTO_IGNORE(ws_http_feed(h, req, sizeof(req) - 1, &used));
	is_int(ws_http_response(h, out), 0, "101 with a custom limit");
	ok(memmem(buf_ptr(out), buf_len(out),
	    "max-unfragmented-message-bytes: 1000\r\n", 38) != NULL,
	    "custom limit announced");
	ws_http_free(h);

	buf_reset(out);
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	s = "GET / HTTP/1.1\r\n" UPG KEY VER "Origin: x\r\n\r\n";
	is_int(ws_http_feed(h, s, strlen(s), &used), PROTO_ERR_INVALID, "403 request");
	is_int(ws_http_response(h, out), 0, "403 built");
	ok(buf_len(out) > 24 && memcmp(buf_ptr(out), "HTTP/1.1 403 Forbidden\r\n",
	    24) == 0, "403 status line");
	ok(memmem(buf_ptr(out), buf_len(out), "Connection: close\r\n", 19) != NULL,
	    "403 closes");
	s = "\r\n\r\nrequests with an Origin are refused\n";
	ok(memmem(buf_ptr(out), buf_len(out), s, strlen(s)) != NULL,
	    "403 body is the reason");
	ws_http_free(h);

	buf_reset(out);
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	s = "GET / HTTP/1.1\r\n" UPG KEY "Sec-WebSocket-Version: 7\r\n\r\n";
	PROTO_IGNORE(ws_http_feed(h, s, strlen(s), &used));
	is_int(ws_http_response(h, out), 0, "426 built");
	ok(memmem(buf_ptr(out), buf_len(out), "Sec-WebSocket-Version: 13\r\n",
	    27) != NULL, "426 names the version");
	ws_http_free(h);

	buf_reset(out);
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	s = "PUT / HTTP/1.1\r\n\r\n";
	PROTO_IGNORE(ws_http_feed(h, s, strlen(s), &used));
	is_int(ws_http_response(h, out), 0, "405 built");
	ok(memmem(buf_ptr(out), buf_len(out), "Allow: GET\r\n", 12) != NULL,
	    "405 names GET");
	ws_http_free(h);
	buf_free(out);
}

/* A valid request padded to exactly total bytes. */
static char *
padded_request(size_t total)
{
	static const char head[] = "GET / HTTP/1.1\r\n" UPG KEY VER "X-Pad: ";
	char *r;
	size_t fill;

	if ((r = malloc(total + 1)) == NULL)
		bail("out of memory");
	fill = total - (sizeof(head) - 1) - 4;
	memcpy(r, head, sizeof(head) - 1);
	memset(r + sizeof(head) - 1, 'p', fill);
	memcpy(r + sizeof(head) - 1 + fill, "\r\n\r\n", 5);
	return r;
}

static void
test_http_limits(void)
{
	struct ws_http *h;
	struct buf *out;
	char *r, *many;
	size_t used, i, n;

	r = padded_request(WS_MAX_REQUEST);
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	is_int(ws_http_feed(h, r, WS_MAX_REQUEST, &used), 1,
	    "request of exactly the limit accepted");
	ws_http_free(h);
	free(r);

	r = padded_request(WS_MAX_REQUEST + 1);
	if ((h = ws_http_new(0)) == NULL || (out = buf_new(4096)) == NULL)
		bail("out of memory");
	is_int(ws_http_feed(h, r, WS_MAX_REQUEST + 1, &used), PROTO_ERR_TOO_LARGE,
	    "request over the limit refused");
	is_int(ws_http_status(h), 431, "with 431");
	is_int((long long)used, WS_MAX_REQUEST, "after taking the limit");
	is_int(ws_http_response(h, out), 0, "431 built");
	ok(buf_len(out) > 12 && memcmp(buf_ptr(out), "HTTP/1.1 431", 12) == 0,
	    "431 status line");
	ws_http_free(h);
	buf_free(out);
	free(r);

	/* Endless header without an empty line, fed in small pieces. */
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	for (i = 0; i < 4000; i++)
		if (ws_http_feed(h, "X-A: b\r\n", 8, &used) != 0)
			break;
	is_int(ws_http_status(h), 431, "endless header refused");
	ws_http_free(h);

	/* One field too many. */
	if ((many = malloc(WS_MAX_REQUEST)) == NULL)
		bail("out of memory");
	n = (size_t)snprintf(many, WS_MAX_REQUEST, "GET / HTTP/1.1\r\n" UPG KEY VER);
	for (i = 4; i <= WS_MAX_FIELDS; i++)
		n += (size_t)snprintf(many + n, WS_MAX_REQUEST - n, "X: y\r\n");
	n += (size_t)snprintf(many + n, WS_MAX_REQUEST - n, "\r\n");
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	is_int(ws_http_feed(h, many, n, &used), PROTO_ERR_TOO_LARGE,
	    "more than %d fields refused", WS_MAX_FIELDS);
	is_int(ws_http_status(h), 431, "with 431");
	ws_http_free(h);
	free(many);

	/* A NUL byte inside the header. */
	if ((h = ws_http_new(0)) == NULL)
		bail("out of memory");
	is_int(ws_http_feed(h, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26, &used),
	    PROTO_ERR_INVALID, "NUL byte refused");
	is_int(ws_http_status(h), 400, "with 400");
	ws_http_free(h);
}

/* ---- frames ----------------------------------------------------------------- */

#define FIN	0x80
#define RSV1	0x40
#define RSV2	0x20
#define RSV3	0x10

struct tframe {
	uint8_t b0;		/* FIN, RSV and opcode */
	int unmasked;
	const char *payload;	/* NULL: none */
	int len;		/* -1: strlen(payload) */
	int lenform;		/* force 2 or 8 extended length bytes */
	uint64_t claim;		/* a length to announce with no payload sent */
};

struct tstream {
	const char *label;
	size_t max;		/* decoder limit, 0: default */
	struct tframe f[8];
	const char *want;	/* event log, see log_event() */
};

#define T(s)		{ FIN | WS_OP_TEXT, 0, s, -1, 0, 0 }
#define TN(s, n)	{ FIN | WS_OP_TEXT, 0, s, n, 0, 0 }
#define T0(s)		{ WS_OP_TEXT, 0, s, -1, 0, 0 }
#define C0(s)		{ WS_OP_CONT, 0, s, -1, 0, 0 }
#define C(s)		{ FIN | WS_OP_CONT, 0, s, -1, 0, 0 }
#define PING(s)		{ FIN | WS_OP_PING, 0, s, -1, 0, 0 }
#define PONG(s)		{ FIN | WS_OP_PONG, 0, s, -1, 0, 0 }
#define CLOSE(s, n)	{ FIN | WS_OP_CLOSE, 0, s, n, 0, 0 }
#define BIN(s, n)	{ FIN | WS_OP_BINARY, 0, s, n, 0, 0 }

static char big200[201], big125[126], big126[127];

static const struct tstream streams[] = {
	{ "one text message", 0, { T("hello") }, "T:hello|" },
	{ "empty text message", 0, { T("") }, "T:|" },
	{ "binary message", 0, { BIN("\xff\x00\xfe", 3) }, "B:3|" },
	{ "two messages", 0, { T("a"), T("b") }, "T:a|T:b|" },
	{ "fragmented", 0, { T0("hel"), C("lo") }, "T:hello|" },
	{ "fragments with ping and pong between", 0,
	  { T0("a"), PING("p"), C0("b"), PONG("q"), C("c") },
	  "PING:p|PONG:q|T:abc|" },
	{ "empty fragments", 0, { T0(""), C0(""), C("") }, "T:|" },
	{ "binary fragments", 0,
	  { { WS_OP_BINARY, 0, "ab", 2, 0, 0 }, C("c") }, "B:3|" },
	{ "16-bit length", 0, { T(big200) }, "T#200|" },
	{ "non-minimal 16-bit length", 0,
	  { { FIN | WS_OP_TEXT, 0, "abc", -1, 2, 0 } }, "T:abc|" },
	{ "non-minimal 64-bit length", 0,
	  { { FIN | WS_OP_TEXT, 0, "abc", -1, 8, 0 } }, "T:abc|" },
	{ "ping payload of 125", 0, { PING(big125) }, "PING#125|" },
	{ "ping then message", 0, { PING(""), T("x") }, "PING:|T:x|" },

	{ "unmasked text", 0, { { FIN | WS_OP_TEXT, 1, "x", -1, 0, 0 } },
	  "E:1002|" },
	{ "unmasked ping", 0, { { FIN | WS_OP_PING, 1, "", -1, 0, 0 } },
	  "E:1002|" },
	{ "RSV1", 0, { { FIN | RSV1 | WS_OP_TEXT, 0, "x", -1, 0, 0 } },
	  "E:1002|" },
	{ "RSV2", 0, { { FIN | RSV2 | WS_OP_TEXT, 0, "x", -1, 0, 0 } },
	  "E:1002|" },
	{ "RSV3 on a continuation", 0,
	  { T0("a"), { FIN | RSV3 | WS_OP_CONT, 0, "x", -1, 0, 0 } }, "E:1002|" },
	{ "opcode 3", 0, { { FIN | 3, 0, "x", -1, 0, 0 } }, "E:1002|" },
	{ "opcode 0xb", 0, { { FIN | 0xb, 0, "", -1, 0, 0 } }, "E:1002|" },
	{ "fragmented ping", 0, { { WS_OP_PING, 0, "x", -1, 0, 0 } }, "E:1002|" },
	{ "ping of 126", 0, { PING(big126) }, "E:1002|" },
	{ "ping with a 16-bit length", 0,
	  { { FIN | WS_OP_PING, 0, "x", -1, 2, 0 } }, "E:1002|" },
	{ "continuation first", 0, { C("x") }, "E:1002|" },
	{ "text inside a fragmented text", 0, { T0("a"), T("b") }, "E:1002|" },
	{ "binary inside a fragmented text", 0, { T0("a"), BIN("b", 1) },
	  "E:1002|" },
	{ "error is final", 0, { C("x"), T("a") }, "E:1002|" },
	{ "64-bit length with the top bit", 0,
	  { { FIN | WS_OP_TEXT, 0, NULL, 0, 8, 0x8000000000000001ULL } },
	  "E:1002|" },

	{ "close without a body", 0, { CLOSE("", 0), T("ignored") }, "C:1005:|" },
	{ "close with code and reason", 0, { CLOSE("\x03\xe8" "bye", 5) },
	  "C:1000:bye|" },
	{ "close with a 1-byte body", 0, { CLOSE("\x03", 1) }, "E:1002|" },
	{ "close with code 1005", 0, { CLOSE("\x03\xed", 2) }, "E:1002|" },
	{ "close with a bad reason", 0, { CLOSE("\x03\xe8\xc0\xaf", 4) },
	  "E:1007|" },
	{ "close between fragments", 0, { T0("a"), CLOSE("\x0f\xa0", 2), C("b") },
	  "C:4000:|" },

	{ "UTF-8 across fragments", 0, { T0("\xe2"), C0("\x82"), C("\xac") },
	  "T:\\xe2\\x82\\xac|" },
	{ "4-byte UTF-8", 0, { T("\xf0\x9f\x98\x80") }, "T:\\xf0\\x9f\\x98\\x80|" },
	{ "edges of UTF-8", 0,
	  { T("\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\xc2\x80\x7f") },
	  "T:\\xed\\x9f\\xbf\\xee\\x80\\x80\\xf4\\x8f\\xbf\\xbf\\xc2\\x80\\x7f|" },
	{ "overlong 2 bytes", 0, { T("\xc0\xaf") }, "E:1007|" },
	{ "overlong 3 bytes", 0, { T("\xe0\x80\xaf") }, "E:1007|" },
	{ "overlong 4 bytes", 0, { T("\xf0\x80\x80\xaf") }, "E:1007|" },
	{ "high surrogate", 0, { T("\xed\xa0\x80") }, "E:1007|" },
	{ "low surrogate", 0, { T("\xed\xbf\xbf") }, "E:1007|" },
	{ "past U+10FFFF", 0, { T("\xf4\x90\x80\x80") }, "E:1007|" },
	{ "0xf5 lead", 0, { T("\xf5\x80\x80\x80") }, "E:1007|" },
	{ "0xff", 0, { T("ab\xff") }, "E:1007|" },
	{ "lone continuation", 0, { T("abcdefghij\x80") }, "E:1007|" },
	{ "truncated at the end", 0, { T("abc\xe2\x82") }, "E:1007|" },
	{ "truncated before ASCII", 0, { T("\xe2\x82" "abcdefghijk") }, "E:1007|" },
	{ "surrogate across fragments", 0, { T0("\xed"), C("\xa0\x80") },
	  "E:1007|" },
	{ "truncated in the last fragment", 0, { T0("a\xe2"), C("\x82") },
	  "E:1007|" },
	{ "invalid UTF-8 fails before the end", 0, { T0("\xc0"), C0("x") },
	  "E:1007|" },
	{ "binary is not UTF-8 checked", 0, { BIN("\xc0\xaf", 2) }, "B:2|" },
	{ "NUL is valid UTF-8", 0, { TN("a\0b", 3) }, "T:a\\x00b|" },

	{ "message at the limit", 8, { T("12345678") }, "T:12345678|" },
	{ "message over the limit", 8, { T("123456789") }, "E:1009|" },
	{ "fragments over the limit", 8, { T0("12345"), PING("x"), C("6789") },
	  "PING:x|E:1009|" },
	{ "control frames are not counted", 8, { T0("1234"), PING("xxxxxxxxxx"),
	  C("5678") }, "PING:xxxxxxxxxx|T:12345678|" },
	{ "a 2^62 claim", 0,
	  { { FIN | WS_OP_TEXT, 0, NULL, 0, 8, 1ULL << 62 } }, "E:1009|" },
	{ "a 2^32 claim in a continuation", 0,
	  { T0("a"), { FIN | WS_OP_CONT, 0, NULL, 0, 8, 1ULL << 32 } },
	  "E:1009|" },
	{ "a 16 MiB + 1 claim", 0,
	  { { FIN | WS_OP_BINARY, 0, NULL, 0, 8, 16 * 1024 * 1024 + 1 } },
	  "E:1009|" },
};

/* Appends one client frame; the mask changes with idx. */
static size_t
build_frame(uint8_t *out, const struct tframe *f, size_t idx)
{
	uint8_t mask[4] = { (uint8_t)(0x37 + idx), 0xfa, (uint8_t)(0x21 ^ idx),
	    0x80 };
	const uint8_t *pl = (const uint8_t *)f->payload;
	uint64_t len;
	size_t n = 0, i, pn;
	int form = f->lenform;

	pn = pl == NULL ? 0 : f->len >= 0 ? (size_t)f->len : strlen(f->payload);
	len = f->claim ? f->claim : pn;
	out[n++] = f->b0;
	if (form == 0)
		form = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
	if (form == 0)
		out[n++] = (uint8_t)len;
	else if (form == 2) {
		out[n++] = 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 127;
		for (i = 0; i < 8; i++)
			out[n++] = (uint8_t)(len >> (56 - 8 * i));
	}
	if (!f->unmasked) {
		out[1] |= 0x80;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	for (i = 0; i < pn; i++)
		out[n + i] = f->unmasked ? pl[i] : pl[i] ^ mask[i & 3];
	return n + pn;
}

static void
log_event(char *log, size_t sz, const struct ws_event *ev)
{
	size_t n = strlen(log), i;
	const char *tag;

	switch (ev->type) {
	case WS_EV_TEXT: tag = "T"; break;
	case WS_EV_BINARY:
		snprintf(log + n, sz - n, "B:%zu|", ev->len);
		return;
	case WS_EV_PING: tag = "PING"; break;
	case WS_EV_PONG: tag = "PONG"; break;
	case WS_EV_CLOSE:
		n += (size_t)snprintf(log + n, sz - n, "C:%d:", ev->close_code);
		tag = NULL;
		break;
	default: tag = "?"; break;
	}
	if (tag != NULL && ev->len > 32) {
		snprintf(log + n, sz - n, "%s#%zu|", tag, ev->len);
		return;
	}
	if (tag != NULL)
		n += (size_t)snprintf(log + n, sz - n, "%s:", tag);
	for (i = 0; i < ev->len && n + 8 < sz; i++) {
		if (ev->data[i] >= 0x20 && ev->data[i] < 0x7f)
			log[n++] = (char)ev->data[i];
		else
			n += (size_t)snprintf(log + n, sz - n, "\\x%02x",
			    ev->data[i]);
	}
	snprintf(log + n, sz - n, "|");
}

/* Drains events; returns 1 once the stream ended in an error. */
static int
drain(struct ws_dec *d, char *log, size_t sz)
{
	struct ws_event ev;
	int r;

	while ((r = ws_dec_next(d, &ev)) == 1)
		log_event(log, sz, &ev);
	if (r < 0) {
		snprintf(log + strlen(log), sz - strlen(log), "E:%d|",
		    ws_dec_close_code(d));
		/* Sticky. */
		if (ws_dec_next(d, &ev) != r)
			snprintf(log + strlen(log), sz - strlen(log), "NOT-STICKY|");
		return 1;
	}
	return 0;
}

/* Runs bytes through a decoder in pieces (step 0: split once at cut). */
static void
run_bytes(const uint8_t *s, size_t n, size_t max, size_t cut, size_t step,
    char *log, size_t sz)
{
	struct ws_dec *d;
	size_t off = 0, piece;

	log[0] = '\0';
	if ((d = ws_dec_new(max)) == NULL)
		bail("out of memory");
	while (off < n) {
		piece = step ? step : (off < cut ? cut - off : n - off);
		if (piece > n - off)
			piece = n - off;
		if (ws_dec_feed(d, s + off, piece) != 0)
			bail("feed failed");
		off += piece;
		if (drain(d, log, sz))
			break;
	}
	if (off == n && n == 0)
		PROTO_IGNORE(drain(d, log, sz));
	ws_dec_free(d);
}

static void
test_streams(void)
{
	uint8_t bytes[4096];
	char whole[2048], got[2048];
	size_t i, j, n, k, bad;

	memset(big200, 'x', sizeof(big200) - 1);
	memset(big125, 'y', sizeof(big125) - 1);
	memset(big126, 'z', sizeof(big126) - 1);
	for (i = 0; i < N(streams); i++) {
		n = 0;
		for (j = 0; j < N(streams[i].f) && (streams[i].f[j].payload != NULL ||
		    streams[i].f[j].claim != 0); j++)
			n += build_frame(bytes + n, &streams[i].f[j], j);
		run_bytes(bytes, n, streams[i].max, n, 0, whole, sizeof(whole));
		is_str(whole, streams[i].want, "frames %s", streams[i].label);
		bad = SIZE_MAX;
		for (k = 0; k <= n && bad == SIZE_MAX; k++) {
			run_bytes(bytes, n, streams[i].max, k, 0, got, sizeof(got));
			if (strcmp(got, whole) != 0)
				bad = k;
		}
		run_bytes(bytes, n, streams[i].max, 0, 1, got, sizeof(got));
		if (bad == SIZE_MAX && strcmp(got, whole) != 0)
			bad = 0;
		if (!ok(bad == SIZE_MAX, "frames %s: same at every split",
		    streams[i].label))
			diag("differs at %zu: %s", bad, got);
	}
}

/* Close codes in a received close frame. */
static void
test_close_codes(void)
{
	static const struct {
		int code;
		int valid;
	} v[] = {
		{ 0, 0 }, { 999, 0 }, { 1000, 1 }, { 1001, 1 }, { 1002, 1 },
		{ 1003, 1 }, { 1004, 0 }, { 1005, 0 }, { 1006, 0 }, { 1007, 1 },
		{ 1008, 1 }, { 1009, 1 }, { 1010, 1 }, { 1011, 1 }, { 1012, 1 },
		{ 1013, 1 }, { 1014, 1 }, { 1015, 0 }, { 1016, 0 }, { 2000, 0 },
		{ 2999, 0 }, { 3000, 1 }, { 3999, 1 }, { 4000, 1 }, { 4999, 1 },
		{ 5000, 0 }, { 65535, 0 },
	};
	struct tframe f = CLOSE(NULL, 2);
	uint8_t body[2], bytes[32];
	char log[128], want[64];
	size_t i, n;

	for (i = 0; i < N(v); i++) {
		is_int(ws_close_code_valid(v[i].code), v[i].valid,
		    "close code %d valid", v[i].code);
		body[0] = (uint8_t)(v[i].code >> 8);
		body[1] = (uint8_t)v[i].code;
		f.payload = (const char *)body;
		n = build_frame(bytes, &f, i);
		run_bytes(bytes, n, 0, n, 0, log, sizeof(log));
		if (v[i].valid)
			snprintf(want, sizeof(want), "C:%d:|", v[i].code);
		else
			snprintf(want, sizeof(want), "E:1002|");
		is_str(log, want, "close frame with code %d", v[i].code);
	}
}

static void
test_utf8(void)
{
	static const struct {
		const char *s;
		size_t len;
		int valid;
	} v[] = {
		{ "", 0, 1 },
		{ "plain ascii, long enough for words", 34, 1 },
		{ "\xc2\x80", 2, 1 },
		{ "\xdf\xbf", 2, 1 },
		{ "\xe0\xa0\x80", 3, 1 },
		{ "\xef\xbf\xbf", 3, 1 },
		{ "\xf0\x90\x80\x80", 4, 1 },
		{ "\xf4\x8f\xbf\xbf", 4, 1 },
		{ "aaaaaaaaaaaaaaa\xe2\x82\xac", 18, 1 },
		{ "\xc1\xbf", 2, 0 },
		{ "\xe0\x9f\xbf", 3, 0 },
		{ "\xf0\x8f\xbf\xbf", 4, 0 },
		{ "\xed\xa0\x80", 3, 0 },
		{ "\xf4\x90\x80\x80", 4, 0 },
		{ "aaaaaaaa\xc0\xaf", 10, 0 },
		{ "aaaaaaaa\xe2\x82", 10, 0 },
		{ "\x80", 1, 0 },
		{ "\xc2", 1, 0 },
		{ "\xc2\x41", 2, 0 },
		{ "\xf8\x88\x80\x80\x80", 5, 0 },
	};
	size_t i;

	for (i = 0; i < N(v); i++)
		is_int(ws_utf8_valid(v[i].s, v[i].len), v[i].valid, "utf8 vector %zu",
		    i);
}

/* ---- decoder behaviour beyond one stream ------------------------------------ */

static void
test_claims(void)
{
	struct tframe f = { FIN | WS_OP_TEXT, 0, NULL, 0, 8, 1ULL << 62 };
	struct ws_event ev;
	struct ws_dec *d;
	uint8_t bytes[32];
	size_t n;

	/* The length alone condemns the frame: no mask, no payload needed. */
	n = build_frame(bytes, &f, 0);
	if ((d = ws_dec_new(0)) == NULL)
		bail("out of memory");
	if (ws_dec_feed(d, bytes, 10) != 0)
		bail("feed");
	is_int(ws_dec_next(d, &ev), PROTO_ERR_TOO_LARGE,
	    "oversize claim refused from the length alone");
	is_int(ws_dec_close_code(d), WS_CLOSE_TOO_BIG, "with 1009");
	is_str(ws_dec_reason(d), "message too big", "reason");
	is_int((long long)ws_dec_buffered(d), 0, "nothing buffered");
	is_int(ws_dec_feed(d, bytes + 10, n - 10), 0, "feeding after an error");
	is_int((long long)ws_dec_buffered(d), 0, "is dropped");
	ws_dec_free(d);

	/* A claim within the limit allocates only what arrives. */
	f.b0 = FIN | WS_OP_BINARY;
	f.claim = 8 * 1024 * 1024;
	n = build_frame(bytes, &f, 0);
	memcpy(bytes + n, "abcd", 4);
	if ((d = ws_dec_new(0)) == NULL)
		bail("out of memory");
	if (ws_dec_feed(d, bytes, n + 4) != 0)
		bail("feed");
	is_int(ws_dec_next(d, &ev), 0, "big claim waits for its payload");
	is_int((long long)ws_dec_buffered(d), 4, "holding what arrived");
	ws_dec_free(d);
}

struct frame_pos {
	size_t start, hl, pl;	/* offset, header length, payload length */
};

/* Masks a server frame sequence as a client would send it, and records where
 * each frame lies (up to maxf frames). */
static size_t
mask_frames(const uint8_t *in, size_t n, uint8_t *out, struct frame_pos *fp,
    size_t maxf, size_t *nf)
{
	size_t i = 0, o = 0, hl, j;
	uint64_t len;
	uint8_t mask[4] = { 1, 2, 3, 4 };

	*nf = 0;
	while (i < n) {
		len = in[i + 1] & 0x7f;
		hl = len == 126 ? 4 : len == 127 ? 10 : 2;
		if (len == 126)
			len = (uint64_t)in[i + 2] << 8 | in[i + 3];
		else if (len == 127)
			for (len = 0, j = 0; j < 8; j++)
				len = len << 8 | in[i + 2 + j];
		if (*nf == maxf)
			bail("too many frames");
		fp[*nf].start = o;
		fp[*nf].hl = hl + 4;
		fp[*nf].pl = (size_t)len;
		(*nf)++;
		memcpy(out + o, in + i, hl);
		out[o + 1] |= 0x80;
		memcpy(out + o + hl, mask, 4);
		o += hl + 4;
		i += hl;
		for (j = 0; j < len; j++)
			out[o + j] = in[i + j] ^ mask[j & 3];
		o += (size_t)len;
		i += (size_t)len;
		mask[0]++;
	}
	return o;
}

/* Payload bytes within the first prefix bytes of a masked stream. */
static size_t
payload_in(const struct frame_pos *fp, size_t nf, size_t prefix)
{
	size_t i, sum = 0, body;

	for (i = 0; i < nf; i++) {
		if (prefix <= fp[i].start + fp[i].hl)
			break;
		body = prefix - fp[i].start - fp[i].hl;
		sum += body < fp[i].pl ? body : fp[i].pl;
	}
	return sum;
}

static void
test_encoders(void)
{
	static const struct {
		uint64_t len;
		size_t hl;
		const char *hdr;
	} hv[] = {
		{ 0, 2, "\x81\x00" },
		{ 125, 2, "\x81\x7d" },
		{ 126, 4, "\x81\x7e\x00\x7e" },
		{ 65535, 4, "\x81\x7e\xff\xff" },
		{ 65536, 10, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00" },
		{ 1ULL << 32, 10, "\x81\x7f\x00\x00\x00\x01\x00\x00\x00\x00" },
	};
	uint8_t hdr[WS_MAX_FRAME_HEADER];
	char reason[200];
	struct buf *out;
	struct ws_event ev;
	size_t i, hl;

	for (i = 0; i < N(hv); i++) {
		hl = ws_frame_header(hdr, WS_OP_TEXT, 1, hv[i].len);
		is_mem(hdr, hl, hv[i].hdr, hv[i].hl, "frame header for %llu",
		    (unsigned long long)hv[i].len);
	}
	hl = ws_frame_header(hdr, WS_OP_CONT, 0, 3);
	is_mem(hdr, hl, "\x00\x03", 2, "continuation header without FIN");

	if ((out = buf_new(1 << 20)) == NULL)
		bail("out of memory");
	is_int(ws_enc_text(out, "hi", 2, 0), 0, "text encoded");
	is_mem(buf_ptr(out), buf_len(out), "\x81\x02hi", 4, "text frame");
	buf_reset(out);
	is_int(ws_enc_text(out, "", 0, 0), 0, "empty text encoded");
	is_mem(buf_ptr(out), buf_len(out), "\x81\x00", 2, "empty text frame");
	buf_reset(out);
	is_int(ws_enc_text(out, "abcdefg", 7, 3), 0, "fragmented text encoded");
	is_mem(buf_ptr(out), buf_len(out), "\x01\x03" "abc\x00\x03" "def\x80\x01g",
	    13, "fragmented text frames");
	buf_reset(out);
	is_int(ws_enc_text(out, "abcdef", 6, 3), 0, "exact multiple encoded");
	is_mem(buf_ptr(out), buf_len(out), "\x01\x03" "abc\x80\x03" "def", 10,
	    "exact multiple: no empty last frame");
	buf_reset(out);

	is_int(ws_enc_ping(out, big125, 125), 0, "ping of 125");
	is_int((long long)buf_len(out), 127, "ping size");
	is_int(ws_enc_ping(out, big126, 126), PROTO_ERR_ARG, "ping of 126 refused");
	is_int(ws_enc_pong(out, big126, 126), PROTO_ERR_ARG, "pong of 126 refused");
	buf_reset(out);
	is_int(ws_enc_pong(out, "p", 1), 0, "pong");
	is_mem(buf_ptr(out), buf_len(out), "\x8a\x01p", 3, "pong frame");
	buf_reset(out);
	is_int(ws_enc_ping(out, NULL, 0), 0, "empty ping");
	is_mem(buf_ptr(out), buf_len(out), "\x89\x00", 2, "empty ping frame");
	buf_reset(out);

	is_int(ws_enc_close(out, 0, "ignored"), 0, "empty close");
	is_mem(buf_ptr(out), buf_len(out), "\x88\x00", 2, "empty close frame");
	buf_reset(out);
	is_int(ws_enc_close(out, 1000, "bye"), 0, "close 1000");
	is_mem(buf_ptr(out), buf_len(out), "\x88\x05\x03\xe8" "bye", 7,
	    "close frame");
	buf_reset(out);
	is_int(ws_enc_close(out, 1005, NULL), PROTO_ERR_ARG, "close 1005 refused");
	is_int(ws_enc_close(out, 999, NULL), PROTO_ERR_ARG, "close 999 refused");
	memset(reason, 'r', sizeof(reason));
	reason[sizeof(reason) - 1] = '\0';
	is_int(ws_enc_close(out, 1001, reason), 0, "long reason");
	is_int((long long)buf_len(out), 127, "cut to 125 bytes of payload");
	buf_reset(out);
	/* "\xe2\x82\xac" straddles byte 123 of the reason: it goes whole. */
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 122, "\xe2\x82\xac", 3);
	reason[sizeof(reason) - 1] = '\0';
	is_int(ws_enc_close(out, 1001, reason), 0, "reason cut in a character");
	is_int((long long)buf_len(out), 2 + 2 + 122, "cut before the character");
	ok(ws_utf8_valid(buf_ptr(out) + 4, buf_len(out) - 4), "still UTF-8");
	buf_reset(out);

	memset(&ev, 0, sizeof(ev));
	ev.type = WS_EV_CLOSE;
	ev.close_code = WS_CLOSE_NO_STATUS;
	is_int(ws_close_reply(&ev, out), 0, "reply to an empty close");
	is_mem(buf_ptr(out), buf_len(out), "\x88\x00", 2, "is an empty close");
	buf_reset(out);
	ev.close_code = 4001;
	is_int(ws_close_reply(&ev, out), 0, "reply to close 4001");
	is_mem(buf_ptr(out), buf_len(out), "\x88\x02\x0f\xa1", 4, "echoes the code");
	buf_reset(out);
	ev.type = WS_EV_TEXT;
	is_int(ws_close_reply(&ev, out), PROTO_ERR_ARG, "reply to a non-close");

	/* The buffer's bound is reported. */
	buf_free(out);
	if ((out = buf_new(3)) == NULL)
		bail("out of memory");
	is_int(ws_enc_text(out, "abcd", 4, 0), PROTO_ERR_TOO_LARGE,
	    "full output buffer reported");
	buf_free(out);
}

static void
test_error_close(void)
{
	struct ws_dec *d;
	struct ws_event ev;
	struct buf *out;
	struct tframe f = T("12345");
	uint8_t bytes[32];
	size_t n;

	if ((d = ws_dec_new(4)) == NULL || (out = buf_new(256)) == NULL)
		bail("out of memory");
	is_int(ws_dec_close_frame(d, out), PROTO_ERR_ARG, "no close frame without error");
	is_int(ws_dec_close_code(d), 0, "no close code without error");
	is_str(ws_dec_reason(d), "", "no reason without error");
	n = build_frame(bytes, &f, 0);
	if (ws_dec_feed(d, bytes, n) != 0)
		bail("feed");
	is_int(ws_dec_next(d, &ev), PROTO_ERR_TOO_LARGE, "over the limit of 4");
	is_int(ws_dec_close_frame(d, out), 0, "error close built");
	is_mem(buf_ptr(out), buf_len(out), "\x88\x11\x03\xf1message too big", 19,
	    "error close frame");
	ws_dec_free(d);
	buf_free(out);
}

/* A long message sent by ws_enc_text() in many frames comes back whole, and
 * the decoder never holds more than the message plus a header of input. */
static void
test_round_trip(void)
{
	const size_t total = 3 * 1024 * 1024 + 7, chunk = 65536;
	struct frame_pos fp[64];
	struct buf *srv;
	struct ws_dec *d;
	struct ws_event ev;
	uint8_t *msg, *masked;
	size_t i, n, nf, off, piece, worst = 0, held, events = 0;
	int r, nr, okay = 1;

	if ((msg = malloc(total)) == NULL || (srv = buf_new(SIZE_MAX)) == NULL)
		bail("out of memory");
	for (i = 0; i < total; i++)
		msg[i] = (uint8_t)('a' + i % 26);
	memcpy(msg + 1000, "\xe2\x82\xac", 3);
	if (ws_enc_text(srv, msg, total, 100000) != 0)
		bail("encode");
	if ((masked = malloc(buf_len(srv) + 4096)) == NULL)
		bail("out of memory");
	n = mask_frames(buf_ptr(srv), buf_len(srv), masked, fp, N(fp), &nf);
	/* Twice: the second message reuses (or replaces) the message buffer. */
	if ((d = ws_dec_new(0)) == NULL)
		bail("out of memory");
	for (r = 0; r < 2; r++) {
		for (off = 0; off < n; off += piece) {
			piece = n - off < chunk ? n - off : chunk;
			if (ws_dec_feed(d, masked + off, piece) != 0)
				bail("feed");
			while ((nr = ws_dec_next(d, &ev)) == 1) {
				events++;
				okay = okay && ev.type == WS_EV_TEXT &&
				    ev.len == total && memcmp(ev.data, msg, total) == 0;
			}
			if (nr != 0)
				okay = 0;
			/* What is held beyond the message assembled so far. */
			held = ws_dec_buffered(d);
			if (off + piece < n)
				held -= payload_in(fp, nf, off + piece);
			if (held > worst)
				worst = held;
		}
	}
	ok(okay && events == 2, "3 MiB message in frames of 100000, twice");
	ok(worst < WS_MAX_FRAME_HEADER, "input held stays below a header "
	    "(worst %zu)", worst);
	ws_dec_free(d);
	buf_free(srv);
	free(masked);
	free(msg);
}

static void
test_after_close(void)
{
	struct tframe fr[2] = { CLOSE("\x03\xe8", 2), T("x") };
	struct ws_dec *d;
	struct ws_event ev;
	uint8_t bytes[64];
	size_t n;

	n = build_frame(bytes, &fr[0], 0);
	n += build_frame(bytes + n, &fr[1], 1);
	if ((d = ws_dec_new(0)) == NULL)
		bail("out of memory");
	if (ws_dec_feed(d, bytes, n) != 0)
		bail("feed");
	is_int(ws_dec_next(d, &ev), 1, "close event");
	is_int(ev.type, WS_EV_CLOSE, "is a close");
	is_int(ws_dec_next(d, &ev), 0, "nothing after close");
	is_int(ws_dec_feed(d, bytes, n), 0, "feeding after close");
	is_int(ws_dec_next(d, &ev), 0, "still nothing");
	is_int((long long)ws_dec_buffered(d), 0, "input dropped");
	ws_dec_free(d);
	ws_dec_free(NULL);
	ws_http_free(NULL);
}

int
main(void)
{
	plan_lazy();
	test_sha1();
	test_accept_key();
	test_sniff();
	test_upgrades();
	test_responses();
	test_http_limits();
	test_streams();
	test_close_codes();
	test_utf8();
	test_claims();
	test_encoders();
	test_error_close();
	test_round_trip();
	test_after_close();
	return done_testing();
}
