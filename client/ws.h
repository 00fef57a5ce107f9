/*
 * ws.h - the server side of WebSocket (RFC 6455) over any byte stream, as the
 * real Codex app server speaks it on its unix:// socket: an HTTP/1.1 upgrade on
 * any path, then one JSON-RPC message per text frame. We are the server; the
 * Codex TUI is the client.
 *
 * Independent parts, none of which does I/O:
 *   ws_sniff()   tells an HTTP upgrade from raw JSONL on a fresh connection;
 *   ws_http_*    a bounded parser of the upgrade request and its response;
 *   ws_dec_*     a feed/next frame decoder with sticky errors;
 *   ws_enc_*     encoders of server frames (never masked).
 * No extension or subprotocol is ever negotiated.
 */
#ifndef CXS_CLIENT_WS_H
#define CXS_CLIENT_WS_H

#include <stddef.h>
#include <stdint.h>
#include "proto/buf.h"
#include "proto/err.h"

#define WS_MAX_REQUEST		(16 * 1024)	/* request line + headers */
#define WS_MAX_FIELDS		100		/* header fields per request */
#define WS_DEFAULT_MAX_MESSAGE	(16 * 1024 * 1024)
#define WS_MAX_CONTROL		125		/* control frame payload */
#define WS_MAX_FRAME_HEADER	14
#define WS_ACCEPT_LEN		28		/* base64 of a SHA-1 */

/* Opcodes (RFC 6455 5.2). */
#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa

/* Close codes (RFC 6455 7.4.1) used here. */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_NO_STATUS	1005	/* reported, never sent: empty close */
#define WS_CLOSE_INVALID_DATA	1007
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011

/* ---- telling the protocols apart ----------------------------------------- */

enum ws_kind {
	WS_KIND_MORE,	/* too few bytes to tell (empty, or a prefix of "GET ") */
	WS_KIND_HTTP,	/* starts with "GET " */
	WS_KIND_JSONL,	/* starts with '{' or whitespace */
	WS_KIND_OTHER	/* neither: refuse the connection */
};

/* Classifies the first len bytes a client sent. */
enum ws_kind ws_sniff(const void *data, size_t len);

/* ---- the HTTP upgrade ------------------------------------------------------ */

struct ws_http;

/* A parser for one upgrade request; the 101 response will announce max_message
 * (0: WS_DEFAULT_MAX_MESSAGE) as x-codex-websocket-max-unfragmented-message-bytes.
 * NULL on allocation failure. Free with ws_http_free(). */
struct ws_http *ws_http_new(size_t max_message) PROTO_WUR;
/* Frees h; NULL allowed. */
void ws_http_free(struct ws_http *h);

/*
 * Feeds bytes of the connection. Takes bytes up to the end of the request
 * header and stores in *used how many it took; the rest (len - *used) belongs to
 * the WebSocket stream. Returns:
 *   0   more bytes are needed (*used == len);
 *   1   the request is complete and acceptable (ws_http_status() is 101);
 *   PROTO_ERR_INVALID   the request is answered without an upgrade: answer with
 *       ws_http_response() and close (ws_http_status() is 200 for a health probe,
 *       GET /readyz or /healthz without Origin, else 400, 403, 405 or 426);
 *   PROTO_ERR_TOO_LARGE the header passed WS_MAX_REQUEST bytes (status 431);
 * The result is sticky: later calls return it again and take nothing.
 * A request is acceptable when it is "GET <path> HTTP/1.1" with
 * Upgrade: websocket, Connection including "upgrade", Sec-WebSocket-Version: 13,
 * one Sec-WebSocket-Key that is base64 of 16 bytes, no body and no Origin
 * header (browsers are refused with 403, as the real server does).
 */
int ws_http_feed(struct ws_http *h, const void *data, size_t len, size_t *used)
    PROTO_WUR PROTO_NONNULL(1, 4);

/* 0 while incomplete, 101 once accepted, else the refusal's HTTP status. */
int ws_http_status(const struct ws_http *h) PROTO_NONNULL(1);
/* Why a request was refused (static text), or "" . */
const char *ws_http_reason(const struct ws_http *h) PROTO_NONNULL(1);
/* The request target once the request line is parsed (even when refused
 * later), else NULL. Owned by h. */
const char *ws_http_path(const struct ws_http *h) PROTO_NONNULL(1);
/* The first value of header field name (case-insensitive), without surrounding
 * whitespace, once the request is complete; NULL if absent. Owned by h. */
const char *ws_http_header(const struct ws_http *h, const char *name)
    PROTO_NONNULL(1, 2);

/*
 * Appends the response to out: "101 Switching Protocols" with
 * Sec-WebSocket-Accept after ws_http_feed() returned 1, or the refusal (with a
 * one-line text/plain body naming the reason and "Connection: close").
 * Returns 0, PROTO_ERR_ARG while the request is incomplete, or buf_put()'s error.
 */
int ws_http_response(const struct ws_http *h, struct buf *out)
    PROTO_WUR PROTO_NONNULL(1, 2);

/* ---- the frame decoder ------------------------------------------------------ */

enum ws_event_type {
	WS_EV_TEXT = 1,	/* a whole text message, valid UTF-8 */
	WS_EV_BINARY,	/* a whole binary message (the app server ignores them) */
	WS_EV_PING,	/* answer with ws_enc_pong() carrying the same data */
	WS_EV_PONG,
	WS_EV_CLOSE	/* answer with ws_close_reply(), then close the stream */
};

struct ws_event {
	enum ws_event_type type;
	const uint8_t *data;	/* message, ping/pong payload, or close reason */
	size_t len;
	int close_code;		/* WS_EV_CLOSE: the peer's code, or
				 * WS_CLOSE_NO_STATUS for an empty close */
};

struct ws_dec;

/* A decoder for frames sent by a client, accepting messages of up to
 * max_message bytes (0: WS_DEFAULT_MAX_MESSAGE). NULL on allocation failure.
 * Free with ws_dec_free(). */
struct ws_dec *ws_dec_new(size_t max_message) PROTO_WUR;
/* Frees d; NULL allowed. */
void ws_dec_free(struct ws_dec *d);

/*
 * Appends len bytes of the stream. Returns 0 or PROTO_ERR_NOMEM. Data of an
 * earlier event is invalidated. After an error or a close event the input is
 * dropped. Between this call and the ws_dec_next() that returns 0, the decoder
 * holds at most the message being assembled (<= max_message), one control
 * payload and len + WS_MAX_FRAME_HEADER bytes of input.
 */
int ws_dec_feed(struct ws_dec *d, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);

/*
 * Gets the next event. Returns 1 and fills *ev (ev->data is valid until the next
 * feed/next call), 0 when more input is needed (and forever after a close), or a
 * sticky error: PROTO_ERR_INVALID (a protocol violation, or invalid UTF-8),
 * PROTO_ERR_TOO_LARGE (a message over max_message, detected from the frame
 * header before its payload is buffered), PROTO_ERR_NOMEM. After an error send
 * ws_dec_close_frame() and close the stream. *ev is untouched unless 1.
 */
int ws_dec_next(struct ws_dec *d, struct ws_event *ev) PROTO_WUR PROTO_NONNULL(1, 2);

/* After an error: a short static reason, else "". */
const char *ws_dec_reason(const struct ws_dec *d) PROTO_NONNULL(1);
/* After an error: the close code to send (1002 protocol, 1007 invalid UTF-8,
 * 1009 too big, 1011 out of memory); 0 when there is no error. */
int ws_dec_close_code(const struct ws_dec *d) PROTO_NONNULL(1);
/* Bytes of input held and bytes of message assembled (for tests). */
size_t ws_dec_buffered(const struct ws_dec *d) PROTO_NONNULL(1);

/* ---- encoders (server frames: never masked) ------------------------------- */

/* Writes the header of one unmasked frame to hdr and returns its length (2, 4
 * or 10). opcode is a WS_OP_* value. */
size_t ws_frame_header(uint8_t hdr[WS_MAX_FRAME_HEADER], int opcode, int fin,
    uint64_t len) PROTO_NONNULL(1);

/*
 * Appends a whole text message, fragmented into frames of at most max_frame
 * payload bytes (0: WS_DEFAULT_MAX_MESSAGE) so a client honouring the 16 MiB
 * frame limit takes any length. data must be UTF-8 (not checked). Returns 0
 * or buf_put()'s error (then out may hold a partial message: drop the stream).
 */
int ws_enc_text(struct buf *out, const void *data, size_t len, size_t max_frame)
    PROTO_WUR PROTO_NONNULL(1);
/* Appends a ping or a pong; len <= WS_MAX_CONTROL else PROTO_ERR_ARG. */
int ws_enc_ping(struct buf *out, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);
int ws_enc_pong(struct buf *out, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);
/*
 * Appends a close frame: code 0 sends an empty body, otherwise code must be
 * sendable (ws_close_code_valid()) or PROTO_ERR_ARG. reason (NULL allowed) is
 * cut at a UTF-8 boundary to fit in the 125-byte payload.
 */
int ws_enc_close(struct buf *out, int code, const char *reason)
    PROTO_WUR PROTO_NONNULL(1);

/* ---- closing ------------------------------------------------------------- */
/*
 * The close handshake: whoever closes first sends a close frame and then
 * sends no more data; the other side answers with a close frame of its own;
 * then the server closes the stream. So: on WS_EV_CLOSE append
 * ws_close_reply() and close once it is written; to close first, append
 * ws_enc_close(), keep reading (ignoring messages) until WS_EV_CLOSE or a
 * timeout, then close; after a decoder error append ws_dec_close_frame() and
 * close.
 */

/* The answer to a received close: the same code, or an empty body when the
 * peer sent none. ev must be a WS_EV_CLOSE event. */
int ws_close_reply(const struct ws_event *ev, struct buf *out)
    PROTO_WUR PROTO_NONNULL(1, 2);
/* The close frame reporting the decoder's error (code and reason).
 * PROTO_ERR_ARG when there is no error. */
int ws_dec_close_frame(const struct ws_dec *d, struct buf *out)
    PROTO_WUR PROTO_NONNULL(1, 2);
/* 1 if code may appear in a close frame (RFC 6455 7.4: 1000-1003, 1007-1014,
 * 3000-4999), else 0. */
int ws_close_code_valid(int code);

/* ---- building blocks, exposed for tests ------------------------------------ */

/* 1 if the len bytes are well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF), else 0. */
int ws_utf8_valid(const void *data, size_t len);
/* SHA-1 (FIPS 180-4) of len bytes. */
void ws_sha1(const void *data, size_t len, uint8_t out[20]);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + RFC 6455 GUID)),
 * NUL-terminated in out. */
void ws_accept_key(const char *key, size_t keylen, char out[WS_ACCEPT_LEN + 1])
    PROTO_NONNULL(1, 3);

#endif
