/*
 * sshopt.h - the options of one connection, resolved as ssh(1) resolves them.
 * Internal to the sshconn modules; sshconn_check_option() in client/sshconn.h
 * is the public face.
 *
 *  - the host as typed: alias, host, user@host, user@host:port, [v6]:port, bare
 *    v6, ssh://user@host:port; user and host names that could carry shell
 *    syntax into a ProxyCommand are refused;
 *  - -o options, in the three spellings ssh(1) takes ("Key=Value", "Key Value",
 *    "Key = Value"); the first value given for a key wins, IdentityFile
 *    accumulates;
 *  - ssh_config, read by libssh into the session and by client/sshconf.c for
 *    what libssh does not expose, with the command line beating the file.
 * Failures are negative SSHCONN_ERR_* codes with one line for the user in the
 * err buffer (x->err for the functions taking a struct ctx).
 */
#ifndef CXS_CLIENT_SSHOPT_H
#define CXS_CLIENT_SSHOPT_H

#include <stddef.h>

#include "proto/err.h"

struct ctx;

#define SSHOPT_MAX_IDS		32	/* identity files tried */

/* StrictHostKeyChecking. */
enum {
	SSHOPT_STRICT_YES = 1, SSHOPT_STRICT_NO, SSHOPT_STRICT_ACCEPT_NEW,
	SSHOPT_STRICT_ASK
};

/* Values from -o; -1 or NULL is "not given". As in ssh(1), the first value
 * given for a key wins; IdentityFile accumulates. */
struct sshopt {
	int strict;
	char *known_hosts;
	char *global_known_hosts;
	int connect_timeout;
	int alive_interval;
	int alive_count_max;
	int port;
	char *user;
	char *hostname;
	char *ids[SSHOPT_MAX_IDS];
	size_t nids;
	int identities_only;
	int batch;
	char *proxyjump;
	char *proxycommand;
	int family;
	char *preferred;
	int pubkey_auth;
	int kbdint_auth;
	int password_auth;
	int password_prompts;
	char *kex;
	char *ciphers;
	char *macs;
	char *hostkeys;
	int log_level;
};

/* The host as typed, split (sshopt_parse_target()). */
struct sshopt_target {
	char *user;		/* NULL: not given */
	char *host;
	int port;		/* 0: not given */
};

/* Sets every field of s to "not given". */
void sshopt_init(struct sshopt *s) PROTO_NONNULL(1);
/* Frees what s holds and sets it to "not given" again. */
void sshopt_clear(struct sshopt *s) PROTO_NONNULL(1);

/*
 * Parses one -o option and, when s is not NULL, records it in s unless the key
 * already has a value. Returns 0, SSHCONN_ERR_ARG (unknown or unsupported key,
 * bad value) or SSHCONN_ERR_NOMEM, with a message naming the key in err.
 */
int sshopt_apply(struct sshopt *s, const char *opt, char *err, size_t errlen)
    PROTO_WUR PROTO_NONNULL(2);

/* An ssh_config StrictHostKeyChecking value as sshconf gives it: the
 * SSHOPT_STRICT_* value, or -1 for NULL or anything else. */
int sshopt_strict_from_config(const char *v);

/*
 * Splits the host as typed into t (its strings are t's). Returns 0, or
 * SSHCONN_ERR_ARG or SSHCONN_ERR_NOMEM with a message in err and t cleared.
 */
int sshopt_parse_target(const char *in, struct sshopt_target *t, char *err,
    size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2);
/* Frees what t holds and zeroes it. */
void sshopt_target_clear(struct sshopt_target *t) PROTO_NONNULL(1);

/*
 * Reads ssh_config with client/sshconf.c (-F alone, else the user's and the
 * system file) into x->cfg and resolves the alias x->tg.host into x->ch
 * (x->have_ch); sshconf's warnings become debug lines. A file sshconf cannot
 * load leaves x->cfg NULL and is not an error: libssh's reading still applies.
 * Returns 0 or SSHCONN_ERR_NOMEM.
 */
int sshopt_load_config(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

/*
 * Sets on x->c->session, after libssh has read ssh_config, what the command
 * line says (user, port, -o HostName, known_hosts files, algorithms, the
 * timeout), so that it beats the file. Returns 0, SSHCONN_ERR_ARG with a
 * message in x->err, or SSHCONN_ERR_NOMEM.
 */
int sshopt_apply_overrides(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

#endif
