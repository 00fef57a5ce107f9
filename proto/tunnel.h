/*
 * tunnel.h - the client's end of a framed session (PROTOCOL.md 1.2, 2, 3), across
 * any number of connections. No I/O: the caller moves bytes between the tunnel and
 * whatever carries it (an SSH channel, a pipe to `ssh -s`).
 *
 * Outgoing messages are journalled until the server acknowledges them, so a
 * message sent just before a cut is retransmitted after the resume and dropped by
 * the server if it had arrived. Incoming messages are checked against the next
 * expected seq: duplicates are dropped, gaps are errors.
 */
#ifndef CXS_PROTO_TUNNEL_H
#define CXS_PROTO_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include "proto/buf.h"
#include "proto/err.h"
#include "proto/frame.h"
#include "proto/journal.h"

struct tunnel;

struct tunnel_opts {
	unsigned features;        /* FRAME_FEAT_* offered */
	const char *backend;      /* NULL or "" = the server's default */
	size_t max_message;       /* 0 = FRAME_DEFAULT_MAX_MESSAGE */
	struct journal_limits journal;   /* for outgoing messages */
};

enum tunnel_ev {
	TUNNEL_EV_WELCOME = 1,    /* handshake done (resumed or new) */
	TUNNEL_EV_MESSAGE,        /* one server message, in order, exactly once */
	TUNNEL_EV_PONG,           /* answer to tunnel_ping() */
	TUNNEL_EV_CLOSE,          /* the server ended the session */
	TUNNEL_EV_ERROR           /* the server sent ERROR, or we found a violation */
};

struct tunnel_event {
	enum tunnel_ev type;
	const uint8_t *msg;       /* MESSAGE: valid until the next tunnel call */
	size_t len;
	uint64_t seq;
	int resumed;              /* WELCOME */
	const char *attached;     /* WELCOME: the server's note that sessions end
				   * with their channel, or "" (valid until the
				   * next tunnel call) */
	unsigned code;            /* CLOSE, ERROR: PROTOCOL.md 2.6 */
	char reason[FRAME_MAX_REASON + 1];
};

/* Returns a tunnel with no session yet, or NULL. Copies opts. */
struct tunnel *tunnel_new(const struct tunnel_opts *opts) PROTO_WUR PROTO_NONNULL(1);
void tunnel_free(struct tunnel *t);

/*
 * Starts a connection: resets the codec and appends the magic and HELLO (a resume
 * when a session exists) to out. Returns 0 or a negative error.
 */
int tunnel_connect(struct tunnel *t, struct buf *out) PROTO_WUR PROTO_NONNULL(1, 2);
/* The connection is gone: partial input is dropped; the session and the journal
 * of unacknowledged messages are kept for the next tunnel_connect(). */
void tunnel_disconnected(struct tunnel *t) PROTO_NONNULL(1);

/*
 * Bytes from the server. Before the server's magic, other bytes (a login shell's
 * noise) are skipped; up to 64 KiB of them are tolerated. Returns 0 or an error.
 */
int tunnel_feed(struct tunnel *t, const void *data, size_t len) PROTO_WUR PROTO_NONNULL(1);

/*
 * Next event: 1 and *ev, 0 when more input is needed, negative on a fatal error
 * (ev->reason says why; also reported once as TUNNEL_EV_ERROR). Replies that the
 * protocol requires (PONG, ACK) are appended to out.
 */
int tunnel_next(struct tunnel *t, struct buf *out, struct tunnel_event *ev)
    PROTO_WUR PROTO_NONNULL(1, 2, 3);

/* Queues one message for the server (journalled; sent by tunnel_flush()). */
int tunnel_send(struct tunnel *t, const void *msg, size_t len) PROTO_WUR PROTO_NONNULL(1);

/*
 * Appends DATA frames for queued messages (and an ACK, see below) to out until out holds
 * high bytes, has less than one frame of room left, or nothing is left. Only while
 * connected and welcomed. Returns 0 or a negative error.
 */
int tunnel_flush(struct tunnel *t, struct buf *out, size_t high) PROTO_WUR PROTO_NONNULL(1, 2);

/*
 * Acks: tunnel_flush() acks on its own only in front of outgoing DATA or once 64
 * messages are owed. The caller acks the rest with tunnel_ack() within 100 ms of
 * the first message owed (PROTOCOL.md 3.1); tunnel_ack_owed() says how many.
 * tunnel_ack() returns 0 (also when nothing is owed) or buf_put()'s error.
 */
uint64_t tunnel_ack_owed(const struct tunnel *t) PROTO_NONNULL(1);
int tunnel_ack(struct tunnel *t, struct buf *out) PROTO_WUR PROTO_NONNULL(1, 2);

int tunnel_ping(struct tunnel *t, struct buf *out, uint64_t cookie) PROTO_WUR PROTO_NONNULL(1, 2);
/* Asks the server to end the session (CLOSE 0). */
int tunnel_close(struct tunnel *t, struct buf *out) PROTO_WUR PROTO_NONNULL(1, 2);

/* State for callers and status lines. */
int tunnel_welcomed(const struct tunnel *t) PROTO_NONNULL(1);
int tunnel_has_session(const struct tunnel *t) PROTO_NONNULL(1);
uint64_t tunnel_next_expected(const struct tunnel *t) PROTO_NONNULL(1);
/* True when every queued message has been put on the wire (maybe not acked). */
int tunnel_sent_all(const struct tunnel *t) PROTO_NONNULL(1);
/* Messages queued or sent but not yet acknowledged by the server. */
size_t tunnel_unacked(const struct tunnel *t) PROTO_NONNULL(1);
/* True while the journal of those is past its bounds (journal_full()): the
 * caller should stop reading what it sends until acks make room. */
int tunnel_full(const struct tunnel *t) PROTO_NONNULL(1);
/* Copies the session token (for tests and for resuming from another process). */
int tunnel_token(const struct tunnel *t, uint8_t token[FRAME_TOKEN_LEN]) PROTO_NONNULL(1, 2);
/* Adopts a session from elsewhere (token + next expected server seq). */
void tunnel_adopt(struct tunnel *t, const uint8_t token[FRAME_TOKEN_LEN], uint64_t next)
    PROTO_NONNULL(1, 2);

#endif
