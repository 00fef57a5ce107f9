/*
 * journal.h - the sender's store of sequenced messages, kept until acknowledged.
 *
 * Messages get consecutive seqs starting at the first seq given to journal_new().
 * Held messages live in memory up to a memory bound, then in an unlinked private
 * file up to a disk bound. Past both, appends still succeed (nothing accepted is
 * lost) but journal_full() turns true so the caller stops reading its source: that
 * is the back-pressure. A disk write error (ENOSPC, EIO) is handled the same way:
 * the message stays in memory and journal_full() is true.
 */
#ifndef CXS_PROTO_JOURNAL_H
#define CXS_PROTO_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

struct journal;

struct journal_limits {
	size_t mem_max;        /* bytes of messages held in memory */
	uint64_t disk_max;     /* bytes of the spill file; 0 = never spill */
	const char *spill_dir; /* directory for the spill file: a real directory of
	                        * ours that nobody else can write (else the spill
	                        * fails with EPERM); NULL = no spill */
};

/* Returns a journal whose first message will get first_seq (>= 1), or NULL on
 * allocation failure (or first_seq 0). The limits are copied (spill_dir too). */
struct journal *journal_new(const struct journal_limits *lim, uint64_t first_seq)
    PROTO_WUR PROTO_NONNULL(1);
/* Frees j and removes its spill file; NULL allowed. */
void journal_free(struct journal *j);

/* Copies msg in under seq journal_next_seq() and advances it. Returns 0, or
 * PROTO_ERR_NOMEM (nothing stored). */
int journal_append(struct journal *j, const void *msg, size_t len)
    PROTO_WUR PROTO_NONNULL(1);

/* Discards every message with seq < next. Returns 0, or PROTO_ERR_ARG if next is
 * beyond journal_next_seq() (nothing changes). Acks below the first held are no-ops. */
int journal_ack(struct journal *j, uint64_t next) PROTO_WUR PROTO_NONNULL(1);

/*
 * Reads message seq: stores a pointer to its bytes in *msg (valid until the next
 * call on j) and its length in *len. Returns 0; PROTO_ERR_RESUME if seq was
 * acknowledged and discarded or is not yet appended (>= journal_next_seq());
 * PROTO_ERR_IO if the spill file cannot be read; PROTO_ERR_NOMEM if no room can be
 * allocated to read a spilled message into. Reading in increasing seq order is
 * cheap whatever the storage.
 */
int journal_get(struct journal *j, uint64_t seq, const uint8_t **msg, size_t *len)
    PROTO_WUR PROTO_NONNULL(1, 3, 4);

/* Whether a peer whose next expected seq is next can be served: 0 if
 * journal_first_seq() <= next <= journal_next_seq(), else PROTO_ERR_RESUME. */
int journal_can_replay(const struct journal *j, uint64_t next) PROTO_NONNULL(1);

uint64_t journal_first_seq(const struct journal *j) PROTO_NONNULL(1); /* oldest held */
uint64_t journal_next_seq(const struct journal *j) PROTO_NONNULL(1);  /* next to assign */
size_t journal_count(const struct journal *j) PROTO_NONNULL(1);
size_t journal_mem_bytes(const struct journal *j) PROTO_NONNULL(1);
uint64_t journal_disk_bytes(const struct journal *j) PROTO_NONNULL(1);
/* True when both bounds are reached (or the disk failed): stop reading the source. */
int journal_full(const struct journal *j) PROTO_NONNULL(1);
/* The error (errno value) that stopped spilling or reading the spill file, or 0;
 * cleared once the spill file has drained and spilling starts afresh. */
int journal_disk_error(const struct journal *j) PROTO_NONNULL(1);

#endif
