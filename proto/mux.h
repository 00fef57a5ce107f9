/*
 * mux.h - the messages between codex-connect and its connection master
 * (client/share.h) on a unix socket: 4-byte big-endian length, 1-byte type,
 * body (PROTOCOL.md 8).
 *
 * The decoder is fed bytes as they arrive and hands out whole messages; a bad
 * length or type is a sticky error. It never holds more than MUX_HDR +
 * MUX_MAX_BODY bytes.
 */
#ifndef CXS_PROTO_MUX_H
#define CXS_PROTO_MUX_H

#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/err.h"

#define MUX_HDR 5
#define MUX_MAX_BODY 32768
#define MUX_MAX_TEXT 4096	/* FAIL, STDERR, EXIT, INFO bodies */

enum mux_type {
	MUX_OPEN = 1,		/* C→M: u8 version, u8 flags, subsystem name */
	MUX_OPENED = 2,		/* M→C: u8 flags (MUX_OPENED_PLAIN) */
	MUX_FAIL = 3,		/* M→C: u8 code (negated SSHCONN_ERR_*), text */
	MUX_DATA = 4,		/* both: channel bytes, 1..MUX_MAX_BODY */
	MUX_EOF = 5,		/* both: no more data this way */
	MUX_STDERR = 6,		/* M→C: what the remote wrote on stderr */
	MUX_EXIT = 7,		/* M→C: what its exit status says */
	MUX_CHECK = 8,		/* C→M: how are you? */
	MUX_INFO = 9,		/* M→C: the answer to CHECK or QUIT, text */
	MUX_QUIT = 10,		/* C→M: exit now */
	MUX_PROBE = 11		/* C→M: is the connection alive? INFO "alive",
				 * or the master exits (it was not) */
};

/* MUX_OPEN flags. */
#define MUX_OPEN_NO_BOOTSTRAP	0x01
#define MUX_OPEN_VERBOSE	0x02
#define MUX_OPEN_QUIET		0x04
#define MUX_OPEN_EARLY		0x08	/* the next DATA is the tunnel's handshake,
					 * sent before OPENED: dropped when the
					 * channel turns out plain */
/* MUX_OPENED flags. */
#define MUX_OPENED_PLAIN	0x01

struct mux_msg {
	int type;
	const uint8_t *body;	/* valid until the next mux_feed() */
	size_t len;
};

struct mux_dec;

struct mux_dec *mux_dec_new(void) PROTO_WUR;
void mux_dec_free(struct mux_dec *d);
/* Bytes mux_feed() takes now (0 while a whole message waits to be taken). */
size_t mux_room(const struct mux_dec *d) PROTO_NONNULL(1);
/* Appends at most mux_room() bytes: 0, or PROTO_ERR_FULL for more. Messages
 * handed out before are invalidated. */
int mux_feed(struct mux_dec *d, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);
/* 1 and *m, 0 when more input is needed, or a sticky PROTO_ERR_INVALID /
 * PROTO_ERR_TOO_LARGE (a length out of range, a type we do not know, a body
 * that does not fit its type). */
int mux_next(struct mux_dec *d, struct mux_msg *m) PROTO_WUR PROTO_NONNULL(1, 2);
/* Bytes fed but not yet handed out. */
size_t mux_pending(const struct mux_dec *d) PROTO_NONNULL(1);

/* Appends one message to b: 0, PROTO_ERR_ARG (body too long for type) or
 * PROTO_ERR_FULL (b's bound). */
int mux_put(struct buf *b, int type, const void *body, size_t len)
    PROTO_WUR PROTO_NONNULL(1);

#endif
