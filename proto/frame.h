/*
 * frame.h - the framed tunnel protocol of PROTOCOL.md: encoder and streaming decoder.
 *
 * The encoder turns messages into DATA chunks (with optional zlib, one deflate
 * stream per direction) and control frames into bytes. The decoder is a feed/next
 * state machine: it checks every length and count before using it, reassembles
 * chunks, inflates, and stops at the first error, which is sticky and has a reason
 * string. Sequence rules that depend on session state (duplicates, resume) are the
 * caller's; the decoder checks only what one frame stream can tell.
 */
#ifndef CXS_PROTO_FRAME_H
#define CXS_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"
#include "proto/buf.h"

#define FRAME_PROTOCOL_VERSION 1
#define FRAME_MAGIC "\0cxssh\r\n"
#define FRAME_MAGIC_LEN 8
#define FRAME_MAX_PAYLOAD (256u * 1024u)           /* bytes of one chunk */
#define FRAME_MAX (FRAME_MAX_PAYLOAD + 64u)        /* bytes of one frame body */
#define FRAME_DEFAULT_MAX_MESSAGE (256u * 1024u * 1024u)
#define FRAME_MAX_REASON 1024u
#define FRAME_MAX_OPAQUE 64u
#define FRAME_TOKEN_LEN 32u
#define FRAME_MAX_FEATURES 16u

enum frame_type {
	FRAME_HELLO = 1,
	FRAME_WELCOME = 2,
	FRAME_DATA = 3,
	FRAME_ACK = 4,
	FRAME_PING = 5,
	FRAME_PONG = 6,
	FRAME_ERROR = 7,
	FRAME_CLOSE = 8
};

/* DATA flags */
#define FRAME_F_LAST 0x1u
#define FRAME_F_ZLIB 0x2u

/* ERROR / CLOSE codes (PROTOCOL.md 2.6) */
enum frame_code {
	FRAME_CODE_NORMAL = 0,
	FRAME_CODE_PROTOCOL = 1,
	FRAME_CODE_VERSION = 2,
	FRAME_CODE_RESUME = 3,
	FRAME_CODE_UNKNOWN_SESSION = 4,
	FRAME_CODE_TOO_LARGE = 5,
	FRAME_CODE_BACKEND_FAILED = 6,
	FRAME_CODE_BACKEND_EXITED = 7,
	FRAME_CODE_EXPIRED = 8,
	FRAME_CODE_INTERNAL = 9,
	FRAME_CODE_BUSY = 10
};

/* Feature bits (names on the wire: "zlib"). Unknown names are ignored. */
#define FRAME_FEAT_ZLIB 0x1u

/* HELLO and WELCOME share one shape; fields a frame type does not use are zero.
 * A decoded WELCOME always has a token; a decoded HELLO with a token has next. */
struct frame_info {
	unsigned version;          /* HELLO: highest spoken; WELCOME: chosen */
	unsigned min_version;      /* HELLO only; 0 means 1 */
	unsigned features;         /* FRAME_FEAT_* bits */
	char backend[64];          /* HELLO: "" = server's default */
	int has_token;
	uint8_t token[FRAME_TOKEN_LEN];
	uint64_t next;             /* next expected seq of the peer's messages */
	int resumed;               /* WELCOME */
	uint64_t max_message;      /* 0 = not stated */
	char attached[256];        /* WELCOME, optional: why sessions on this server
				    * cannot outlive their channel ("": they can) */
};

/*
 * One decoded event. Pointers point into the decoder and stay valid until the next
 * frame_dec_* call on it.
 */
struct frame {
	enum frame_type type;
	union {
		struct frame_info info;          /* HELLO, WELCOME */
		struct {                         /* DATA: one whole message */
			uint64_t seq;
			const uint8_t *msg;
			size_t len;
			int compressed;          /* it arrived with FRAME_F_ZLIB */
		} data;
		uint64_t ack_next;               /* ACK */
		struct {                         /* PING, PONG */
			const uint8_t *opaque;
			size_t len;
		} ping;
		struct {                         /* ERROR, CLOSE */
			unsigned code;
			const char *reason;      /* NUL-terminated, <= FRAME_MAX_REASON;
						  * a NUL sent inside it reads as '?' */
		} error;
	} u;
};

/* ---- encoding ---------------------------------------------------------- */

struct frame_enc;

/* Returns a new encoder (compression off), or NULL on allocation failure. */
struct frame_enc *frame_enc_new(void) PROTO_WUR;
void frame_enc_free(struct frame_enc *enc);
/* Turns compression on at zlib level (1..9) or off (0), starting a fresh deflate
 * stream either way and abandoning any message in progress (a new connection).
 * Returns 0, PROTO_ERR_ARG (level out of range), PROTO_ERR_ZLIB or PROTO_ERR_NOMEM. */
int frame_enc_set_zlib(struct frame_enc *enc, int level) PROTO_WUR PROTO_NONNULL(1);
/* Chunk size used for DATA payloads (1..FRAME_MAX_PAYLOAD; default the maximum).
 * For tests. */
void frame_enc_set_chunk(struct frame_enc *enc, size_t chunk) PROTO_NONNULL(1);

/*
 * Starts encoding one message. msg must stay valid and unchanged until the last
 * chunk was taken. compress is honoured only when zlib is on. Returns 0,
 * PROTO_ERR_ARG if a message is already in progress.
 */
int frame_enc_begin(struct frame_enc *enc, uint64_t seq, const void *msg,
    size_t len, int compress) PROTO_WUR PROTO_NONNULL(1);

/*
 * Produces the next DATA frame of the message begun: its bytes are hdr[0..hdrlen)
 * followed by payload[0..paylen) (payload points into msg or into the encoder and is
 * valid until the next call). Returns 1 when a frame was produced and more follow, 0
 * when this was the last one, negative on error (PROTO_ERR_ARG when no message is in
 * progress, PROTO_ERR_ZLIB, PROTO_ERR_NOMEM). Lets a relay interleave control frames
 * between chunks and write without copying the payload.
 */
struct frame_chunk {
	uint8_t hdr[32];
	size_t hdrlen;
	const uint8_t *payload;
	size_t paylen;
};
int frame_enc_chunk(struct frame_enc *enc, struct frame_chunk *out)
    PROTO_WUR PROTO_NONNULL(1, 2);

/* True while a message begun is not fully chunked. */
int frame_enc_busy(const struct frame_enc *enc) PROTO_NONNULL(1);

/* Convenience: begin + every chunk appended to out. On error out is left as it was.
 * The room needed is reserved first, so PROTO_ERR_TOO_LARGE (out too small)
 * leaves the deflate stream untouched. A compressed message that fails after
 * deflating began leaves the stream out of step with the peer: later compressed
 * messages fail with PROTO_ERR_ZLIB until frame_enc_set_zlib(). */
int frame_put_data(struct frame_enc *enc, struct buf *out, uint64_t seq,
    const void *msg, size_t len, int compress) PROTO_WUR PROTO_NONNULL(1, 2);

/* Control frames, appended to out. Each returns 0, PROTO_ERR_TOO_LARGE (out is full;
 * nothing appended), PROTO_ERR_ARG (a field beyond its limit, an unknown feature
 * bit, a WELCOME without a token) or PROTO_ERR_NOMEM. */
int frame_put_magic(struct buf *out) PROTO_WUR PROTO_NONNULL(1);
int frame_put_hello(struct buf *out, const struct frame_info *info) PROTO_WUR PROTO_NONNULL(1, 2);
int frame_put_welcome(struct buf *out, const struct frame_info *info) PROTO_WUR PROTO_NONNULL(1, 2);
int frame_put_ack(struct buf *out, uint64_t next) PROTO_WUR PROTO_NONNULL(1);
int frame_put_ping(struct buf *out, const void *opaque, size_t len) PROTO_WUR PROTO_NONNULL(1);
int frame_put_pong(struct buf *out, const void *opaque, size_t len) PROTO_WUR PROTO_NONNULL(1);
int frame_put_error(struct buf *out, unsigned code, const char *reason) PROTO_WUR PROTO_NONNULL(1, 3);
int frame_put_close(struct buf *out, unsigned code, const char *reason) PROTO_WUR PROTO_NONNULL(1, 3);

/* ---- decoding ---------------------------------------------------------- */

struct frame_dec;

/* Returns a decoder for a stream that starts with a frame (the magic has been
 * consumed by the caller) accepting messages up to max_message bytes (0 means
 * FRAME_DEFAULT_MAX_MESSAGE), or NULL on allocation failure. */
struct frame_dec *frame_dec_new(size_t max_message) PROTO_WUR;
void frame_dec_free(struct frame_dec *dec);
/* Turns inflation on (fresh stream) or off. DATA with FRAME_F_ZLIB while off is an
 * error. PROTO_ERR_ARG while a message is partly received (reset first). Call it
 * on the WELCOME (or HELLO) event, before more input or frame_dec_next(): feeding
 * input decodes DATA that follows the frames already taken. */
int frame_dec_set_zlib(struct frame_dec *dec, int on) PROTO_WUR PROTO_NONNULL(1);
/* Drops any partial frame and partial message, clears the error and restarts the
 * inflate stream (a new connection). A large reassembly buffer, otherwise kept
 * for the next message, is given back. */
void frame_dec_reset(struct frame_dec *dec) PROTO_NONNULL(1);

/* Copies len bytes of input in. Returns 0, PROTO_ERR_NOMEM, or the sticky error.
 * Input is decoded as far as it can be without producing events; what waits for
 * frame_dec_next() is buffered, so memory stays within FRAME_MAX + max_message +
 * a constant only for a caller that drains frame_dec_next() between feeds. */
int frame_dec_feed(struct frame_dec *dec, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);
/*
 * Zero-copy input: stores in *dst where the next input bytes should be written and
 * returns how many may be written there (> 0), or a negative error. After writing n
 * (<= that) bytes, call frame_dec_commit(dec, n). While a large payload is being
 * received, *dst points straight into the message being reassembled. Returns
 * PROTO_ERR_FULL when the input buffer is full of frames waiting for
 * frame_dec_next(); never when every event was taken before.
 */
long frame_dec_space(struct frame_dec *dec, uint8_t **dst) PROTO_WUR PROTO_NONNULL(1, 2);
void frame_dec_commit(struct frame_dec *dec, size_t n) PROTO_NONNULL(1);

/*
 * Decodes the next event: returns 1 and fills *f, 0 when more input is needed, or a
 * negative error (sticky: every later call returns it) with frame_dec_reason() set
 * and frame_dec_code() giving the ERROR code to send (FRAME_CODE_PROTOCOL or
 * FRAME_CODE_TOO_LARGE; FRAME_CODE_INTERNAL when memory ran out). The error is
 * PROTO_ERR_INVALID (a violation), PROTO_ERR_TOO_LARGE (message limit),
 * PROTO_ERR_ZLIB (inflate failed; code 1) or PROTO_ERR_NOMEM. *f is untouched
 * unless 1 is returned. Frames of unknown type are skipped. A DATA event is one
 * whole, decompressed message.
 */
int frame_dec_next(struct frame_dec *dec, struct frame *f) PROTO_WUR PROTO_NONNULL(1, 2);

/* The reason of the sticky error ("" if none); static or owned by dec. */
const char *frame_dec_reason(const struct frame_dec *dec) PROTO_NONNULL(1);
/* The ERROR code for the sticky error; FRAME_CODE_NORMAL (0) if none. */
unsigned frame_dec_code(const struct frame_dec *dec) PROTO_NONNULL(1);
/* True while a message is partly received (some of its chunk bytes arrived). */
int frame_dec_mid_message(const struct frame_dec *dec) PROTO_NONNULL(1);

/* ---- msgpack checking (used by the decoder, exported for tests/fuzzing) ---- */

/*
 * Checks that p[0..len) holds exactly one well-formed msgpack value whose every
 * length and count fits in the bytes present, nested at most max_depth deep (the
 * outermost array or map is depth 1; max_depth is capped at 32). Returns 0 or
 * PROTO_ERR_INVALID / PROTO_ERR_INCOMPLETE (truncated, or a length or count
 * larger than the bytes left).
 */
int frame_mp_check(const uint8_t *p, size_t len, unsigned max_depth) PROTO_WUR;

#endif
