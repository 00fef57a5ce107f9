/*
 * jsonl.h - a streaming reader of newline-delimited lines (JSONL).
 *
 * Feed bytes as they arrive, then call jsonl_next() until it says more input is
 * needed. CR before LF is stripped; empty lines (and lines of only spaces/tabs) are
 * skipped. A line longer than the bound is reported once and then discarded up to
 * its newline without being buffered; the stream goes on after it.
 * The reader does not parse JSON: see jrpc.h.
 */
#ifndef CXS_PROTO_JSONL_H
#define CXS_PROTO_JSONL_H

#include <stddef.h>
#include "proto/err.h"

struct jsonl_reader;

/* Returns a reader whose lines may be at most max_line bytes (without the line end),
 * or NULL on allocation failure. */
struct jsonl_reader *jsonl_new(size_t max_line) PROTO_WUR;
/* Frees r; NULL allowed. */
void jsonl_free(struct jsonl_reader *r);

/* Appends len bytes of input. Returns 0 or PROTO_ERR_NOMEM. Lines returned by an
 * earlier jsonl_next() are invalidated. The reader never holds more than
 * max_line + len bytes at once, whatever the input. */
int jsonl_feed(struct jsonl_reader *r, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);

/*
 * Gets the next complete line. Returns:
 *   1  and *line and *len (not NUL-terminated; valid until the next feed/next call),
 *   0  when no complete line is buffered (feed more),
 *   PROTO_ERR_LINE_TOO_LONG once per over-long line (*len gets the bytes seen so
 *      far, at least max_line + 1); the rest of that line is skipped.
 */
int jsonl_next(struct jsonl_reader *r, const char **line, size_t *len)
    PROTO_WUR PROTO_NONNULL(1, 2, 3);

/*
 * At end of input: returns 1 and the final unterminated line if there is one
 * (non-blank), else 0. A partial over-long line yields PROTO_ERR_LINE_TOO_LONG
 * if it was not reported yet.
 */
int jsonl_finish(struct jsonl_reader *r, const char **line, size_t *len)
    PROTO_WUR PROTO_NONNULL(1, 2, 3);

/* Bytes currently buffered (for tests and status). */
size_t jsonl_buffered(const struct jsonl_reader *r) PROTO_NONNULL(1);

#endif
