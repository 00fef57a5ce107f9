/*
 * knownhosts.h - known_hosts files read as ssh(1) reads them (OpenSSH's
 * hostfile.c and match.c), without libssh: one line is an optional marker
 * (@cert-authority or @revoked), the host field, the key type and the base64
 * key, then a comment. The host field is a comma-separated list of patterns
 * with * ? and !negation compared in lower case ("[host]:port" is written as
 * such), or one hashed name "|1|base64(salt)|base64(HMAC-SHA1(salt, name))".
 * Lines that cannot be read are skipped, as ssh(1) skips them. The keys
 * themselves are left to the caller (client/hostkey.c reads them with libssh).
 */
#ifndef CXS_CLIENT_KNOWNHOSTS_H
#define CXS_CLIENT_KNOWNHOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#define KNOWNHOSTS_MAX_LINE	(64 * 1024)	/* longer lines are skipped */
#define KNOWNHOSTS_MAX_NAME	1024		/* longest name that can be hashed */
#define KNOWNHOSTS_SALT_LEN	20
#define KNOWNHOSTS_HASHED_LEN	(3 + 28 + 1 + 28)	/* "|1|" salt "|" mac */

enum knownhosts_marker {
	KNOWNHOSTS_PLAIN,	/* no marker */
	KNOWNHOSTS_CA,		/* @cert-authority */
	KNOWNHOSTS_REVOKED	/* @revoked */
};

/* One line. The strings point into the line that was split. */
struct knownhosts_entry {
	const char *file;	/* as given to the reader */
	int line;		/* from 1 */
	enum knownhosts_marker marker;
	const char *hosts;	/* the host field as written */
	const char *type;	/* the key type word, not checked */
	const char *b64;	/* the key, not checked */
};

/*
 * Splits one line (NUL-terminated; cut at its first CR or LF) in place. Returns
 * 1 with marker, hosts, type and b64 of *e set (file and line untouched), or 0
 * for a line to skip: blank, a comment, an unknown or a second marker, or a
 * missing field.
 */
int knownhosts_split(char *line, struct knownhosts_entry *e) PROTO_NONNULL(1, 2);

/*
 * 1 when the host field hosts names name (given in lower case): a hashed field
 * by its HMAC, a pattern list when one pattern matches and no !negated one
 * does; 0 when it does not; -1 for a hashed field that cannot be read.
 */
int knownhosts_match(const char *name, const char *hosts) PROTO_NONNULL(1, 2);

typedef void (*knownhosts_fn)(const struct knownhosts_entry *e, void *arg);

/*
 * Calls fn for every line of file that splits and whose host field names name,
 * in order; the entry is valid during the call. Returns 0 (also when the file
 * does not exist), or -1 with errno set when it cannot be read.
 */
int knownhosts_foreach(const char *file, const char *name, knownhosts_fn fn,
    void *arg) PROTO_WUR PROTO_NONNULL(2, 3);

/* The same over the len bytes of text, which file names in the entries.
 * Returns 0, or PROTO_ERR_NOMEM (fn may have been called for earlier lines). */
int knownhosts_foreach_buf(const char *text, size_t len, const char *file,
    const char *name, knownhosts_fn fn, void *arg) PROTO_WUR
    PROTO_NONNULL(3, 4, 5);

/*
 * Writes name hashed with salt, as ssh(1) and ssh-keygen -H write it, to out.
 * Returns 0, or -1 when name is longer than KNOWNHOSTS_MAX_NAME.
 */
int knownhosts_hash(const uint8_t salt[KNOWNHOSTS_SALT_LEN], const char *name,
    char out[KNOWNHOSTS_HASHED_LEN + 1]) PROTO_WUR PROTO_NONNULL(1, 2, 3);

/* The next word of *pp separated by blanks (space, tab), NUL-terminated in
 * place; *pp moves past it. NULL when there is none. */
char *knownhosts_word(char **pp) PROTO_NONNULL(1);

#endif
