/*
 * buf.h - a growable byte buffer that can never exceed the maximum set at creation.
 *
 * Data is appended at the end and consumed from the front; consumed space is
 * reclaimed lazily. Pointers returned by buf_ptr()/buf_reserve() are valid until the
 * next call that may grow or compact the buffer.
 */
#ifndef CXS_PROTO_BUF_H
#define CXS_PROTO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

struct buf;

/* Returns a new empty buffer limited to max bytes, or NULL on allocation failure.
 * Free it with buf_free(). */
struct buf *buf_new(size_t max) PROTO_WUR;
/* Frees b and its contents; NULL is allowed. */
void buf_free(struct buf *b);

/* Bytes held. */
size_t buf_len(const struct buf *b) PROTO_NONNULL(1);
/* The maximum set at creation. */
size_t buf_max(const struct buf *b) PROTO_NONNULL(1);
/* Space left before the maximum. */
size_t buf_avail(const struct buf *b) PROTO_NONNULL(1);
/* First held byte (buf_len() bytes are readable); never NULL. */
const uint8_t *buf_ptr(const struct buf *b) PROTO_NONNULL(1);
/* Writable pointer to the first held byte. */
uint8_t *buf_mutable_ptr(struct buf *b) PROTO_NONNULL(1);

/* Appends len bytes. 0, or PROTO_ERR_TOO_LARGE (nothing appended) / PROTO_ERR_NOMEM. */
int buf_put(struct buf *b, const void *data, size_t len) PROTO_WUR PROTO_NONNULL(1);
/* Makes room for len more bytes and stores a pointer to them in *dst; the bytes count
 * as held only after buf_commit(). Same errors as buf_put(). */
int buf_reserve(struct buf *b, size_t len, uint8_t **dst) PROTO_WUR PROTO_NONNULL(1, 3);
/* Marks len bytes written after buf_reserve() as held (len <= what was reserved). */
void buf_commit(struct buf *b, size_t len) PROTO_NONNULL(1);
/* Drops len bytes from the front (len is clamped to buf_len()). */
void buf_consume(struct buf *b, size_t len) PROTO_NONNULL(1);
/* Drops the last len bytes (clamped). */
void buf_unput(struct buf *b, size_t len) PROTO_NONNULL(1);
/* Drops everything; keeps the allocation. */
void buf_reset(struct buf *b) PROTO_NONNULL(1);

#endif
