/*
 * err.h - error codes returned by every proto/ function.
 *
 * 0 is success; failures are negative PROTO_ERR_* values. proto_strerror() names
 * them. No proto/ function prints, exits or aborts on bad input.
 */
#ifndef CXS_PROTO_ERR_H
#define CXS_PROTO_ERR_H

#define PROTO_OK                 0
#define PROTO_ERR_NOMEM         -1  /* allocation failed */
#define PROTO_ERR_INCOMPLETE    -2  /* more input needed; not fatal */
#define PROTO_ERR_TOO_LARGE     -3  /* a length or size beyond its limit */
#define PROTO_ERR_INVALID       -4  /* malformed input (see the decoder's reason) */
#define PROTO_ERR_ARG           -5  /* bad argument from the caller */
#define PROTO_ERR_ZLIB          -6  /* deflate/inflate failed */
#define PROTO_ERR_IO            -7  /* a system call failed; errno is kept */
#define PROTO_ERR_FULL          -8  /* a bound was reached; retry after draining */
#define PROTO_ERR_RESUME        -9  /* cannot replay from the requested seq */
#define PROTO_ERR_JSON         -10  /* not a JSON text */
#define PROTO_ERR_LINE_TOO_LONG -11 /* a JSONL line exceeded its bound (reported once) */

/* Returns a static string naming the code; never NULL. */
const char *proto_strerror(int err);

#if defined(__GNUC__)
#define PROTO_WUR __attribute__((warn_unused_result))
#define PROTO_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define PROTO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PROTO_WUR
#define PROTO_NONNULL(...)
#define PROTO_PRINTF(f, a)
#endif

/* Drops a result on purpose (a cast to void does not silence warn_unused_result). */
#define PROTO_IGNORE(x) do { if ((x) != 0) { /* best effort */ } } while (0)

#endif
