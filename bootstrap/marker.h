/*
 * marker.h - picks the bootstrap script's answers out of a shell's stdout.
 *
 * The bootstrap runs a POSIX script under /bin/sh on an exec channel. Its stdout
 * mixes what the user's rc files print (noise) with the script's answers: lines
 * that start with "@@<tag>@@ " where tag is random per connection. After its last
 * answer the script execs codex-subsystem, whose protocol bytes follow on the
 * same stream; marker_dec_rest() hands those back untouched.
 *
 * An answer line is "@@<tag>@@ WORD" or "@@<tag>@@ WORD ARGS" at the start of a
 * line, ended by "\n" or "\r\n": WORD is 1..MARKER_MAX_WORD bytes of [A-Z0-9_],
 * ARGS anything after one space (no NUL). Every other line is noise. A line that
 * begins like the prefix but differs from it (another tag, no space) is noise.
 *
 * Feed bytes as they arrive, then call marker_dec_next() until it returns 0.
 * Input is only parsed by marker_dec_next()/marker_dec_finish(), one line at a
 * time, so the bytes after the line of an event are never looked at until the
 * next call. Events do not depend on how the input was cut into feeds.
 */
#ifndef CXS_BOOTSTRAP_MARKER_H
#define CXS_BOOTSTRAP_MARKER_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

#define MARKER_MAX_TAG 64u                 /* bytes of a tag, [A-Za-z0-9] */
#define MARKER_MAX_WORD 32u                /* bytes of an answer's word */
#define MARKER_MAX_ARGS 16                 /* entries of marker_event.argv */
#define MARKER_DEFAULT_MAX_LINE 4096u
#define MARKER_DEFAULT_MAX_NOISE (1024u * 1024u)
#define MARKER_DEFAULT_MAX_BUFFER (1024u * 1024u)

/* Bounds; 0 in a field means its default. */
struct marker_limits {
	/* Bytes of one line without its line end, prefix included. A longer answer
	 * line is an error; a longer noise line is reported in pieces of this size. */
	size_t max_line;
	/* Noise bytes (line ends included) the decoder accepts in all; one more is
	 * an error, so a host that floods stdout cannot keep us reading forever. */
	size_t max_noise;
	/* Bytes held at once. Raised to max(max_line, prefix length) + 2, so that a
	 * caller that drains marker_dec_next() can always feed one more byte. */
	size_t max_buffer;
};

enum marker_kind {
	MARKER_EV_ANSWER = 1,
	MARKER_EV_NOISE = 2
};

/*
 * One event. Pointers point into the decoder and stay valid until the next call
 * on it. Fields of the other kind are zero/NULL.
 */
struct marker_event {
	enum marker_kind kind;
	/* MARKER_EV_ANSWER; all strings NUL-terminated. */
	const char *word;                  /* "EXEC" */
	const char *args;                  /* the line after the word and one space,
					    * without the line end; "" if none */
	int argc;                          /* 0 when args is "" */
	/* args split at each single space ("a  b" is "a", "", "b"); the last of
	 * MARKER_MAX_ARGS entries holds the rest of args, spaces included. */
	const char *argv[MARKER_MAX_ARGS];
	/* MARKER_EV_NOISE: one line without its line end, never empty, never with
	 * '\n' (empty lines are not reported), not NUL-terminated. A line longer
	 * than max_line comes in pieces of max_line bytes with more set on each
	 * but the last. */
	const char *noise;
	size_t len;
	int more;
};

struct marker_dec;

/*
 * Returns a decoder for answers marked with tag (1..MARKER_MAX_TAG bytes of
 * [A-Za-z0-9], copied), with the bounds of lim (NULL: all defaults). Returns NULL
 * if tag is not such a string or on allocation failure. Free with
 * marker_dec_free().
 */
struct marker_dec *marker_dec_new(const char *tag, const struct marker_limits *lim)
    PROTO_WUR PROTO_NONNULL(1);
/* Frees d; NULL allowed. */
void marker_dec_free(struct marker_dec *d);

/*
 * Appends len bytes of input (copied). Returns 0, PROTO_ERR_FULL (it would hold
 * more than max_buffer bytes: nothing appended, not sticky; drain with
 * marker_dec_next() or marker_dec_rest() and feed again, or feed less),
 * PROTO_ERR_NOMEM (nothing appended, not sticky) or the sticky error. Invalidates
 * the pointers of earlier events.
 */
int marker_dec_feed(struct marker_dec *d, const void *data, size_t len)
    PROTO_WUR PROTO_NONNULL(1);

/*
 * Decodes the next event: returns 1 and fills *ev, 0 when more input is needed
 * (or after marker_dec_rest()), or a negative error that is sticky (every later
 * feed/next/finish returns it) with marker_dec_reason() set:
 *   PROTO_ERR_INVALID    an answer line with a malformed word or a NUL byte,
 *   PROTO_ERR_TOO_LARGE  an answer line over max_line ("answer line too long",
 *                        raised as soon as it is longer, before its line end), or
 *                        noise over max_noise ("too much output before the
 *                        bootstrap answered"),
 *   PROTO_ERR_NOMEM.
 * *ev is untouched unless 1 is returned. After a caller drains this to 0, the
 * decoder holds at most max(max_line + 1, prefix length - 1) bytes.
 */
int marker_dec_next(struct marker_dec *d, struct marker_event *ev)
    PROTO_WUR PROTO_NONNULL(1, 2);

/*
 * At end of input: like marker_dec_next(), and then the end counts as a line end.
 * Returns 1 with each remaining event, the last being the unterminated final line
 * as noise (a final '\r' dropped), then 0 with nothing held. An unterminated
 * answer line is PROTO_ERR_INVALID ("output ended inside an answer line"): the
 * script ends each answer with a newline, so it was cut short.
 */
int marker_dec_finish(struct marker_dec *d, struct marker_event *ev)
    PROTO_WUR PROTO_NONNULL(1, 2);

/* The reason of the sticky error ("" if none); owned by d. */
const char *marker_dec_reason(const struct marker_dec *d) PROTO_NONNULL(1);

/*
 * Stops parsing and takes the bytes held after the line of the last event: call
 * it on the answer the caller decides is the last one (e.g. "EXEC"); what follows
 * are codex-subsystem's protocol bytes. Sets *p (never NULL) and returns how many
 * bytes are there; they are valid until the next call on d and no longer held by
 * it. From then on marker_dec_next()/finish() return 0 and every later feed is
 * returned as is by the next marker_dec_rest(). After a sticky error it returns 0.
 */
size_t marker_dec_rest(struct marker_dec *d, const uint8_t **p) PROTO_NONNULL(1, 2);

/* Bytes currently held (for tests and status). */
size_t marker_dec_buffered(const struct marker_dec *d) PROTO_NONNULL(1);

#endif
