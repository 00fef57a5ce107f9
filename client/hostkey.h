/*
 * hostkey.h - is this the host we meant? For the sshconn modules (internal to
 * them). The server's host key is checked against the known_hosts files libssh
 * uses (UserKnownHostsFile, then GlobalKnownHostsFile), read here line by line
 * as ssh(1) reads them: host patterns with * ? and !negation, [host]:port,
 * hashed |1| entries, and the @revoked and @cert-authority markers that
 * libssh 0.10's own parser skips. StrictHostKeyChecking applies as in ssh(1):
 *  - a revoked key (an @revoked line, or RevokedHostKeys) is always refused,
 *    whatever StrictHostKeyChecking says (ssh(1) lets StrictHostKeyChecking=no
 *    through with a warning; we do not), and never recorded;
 *  - a known, matching key passes; for a port other than 22 a key recorded for
 *    the bare host name passes too, as in ssh(1);
 *  - a changed key, or a key of another type than the one recorded, is always
 *    refused, after ssh(1)'s warning naming the offending file and line;
 *  - an unknown key is recorded (no, accept-new), refused (yes) or asked about
 *    (ask, the default), and recorded when the user says yes or types its
 *    fingerprint; hashed when HashKnownHosts is yes.
 * HostKeyAlias replaces "host" / "[host]:port" as the name looked up and
 * written. libssh 0.10 never offers a certificate host key algorithm, so the
 * host shows its plain key; for a host that an @cert-authority line names and
 * no plain line decides, the certificate for that key is fetched with
 * ssh-keyscan -c (not through ProxyJump/ProxyCommand) and checked by
 * client/hostcert.c as ssh(1) checks it. A certificate that fails leaves the
 * plain key, judged as an unknown host, as in ssh(1), with the reason in the
 * messages.
 */
#ifndef CXS_CLIENT_HOSTKEY_H
#define CXS_CLIENT_HOSTKEY_H

#include <stddef.h>

#include "proto/err.h"

struct ctx;

#define HOSTKEY_MAX_NAME	1024	/* longest HostKeyAlias */

/* The host key keywords libssh 0.10 ignores. */
struct hostkey_conf {
	char *alias;		/* HostKeyAlias, lowercased as ssh(1) does;
				 * NULL: none */
	int hash;		/* HashKnownHosts: 1 yes, 0 no, -1 not given */
	char *revoked;		/* RevokedHostKeys as given (~ and %-tokens are
				 * expanded when used), "none", or NULL */
};

/* Sets every field of hc to "not given". */
void hostkey_conf_init(struct hostkey_conf *hc) PROTO_NONNULL(1);
/* Frees what hc holds and sets it to "not given" again. */
void hostkey_conf_clear(struct hostkey_conf *hc) PROTO_NONNULL(1);

/*
 * Records keyword (HostKeyAlias, HashKnownHosts or RevokedHostKeys, in any
 * case) with value in hc, unless hc already has a value for it: as in ssh(1)
 * the first value wins, so feed the command line first, then ssh_config in
 * order. This is how an ssh_config resolver hands these keywords over. With hc
 * NULL the value is only checked. Returns 0; 1 when keyword is none of these
 * (nothing done); SSHCONN_ERR_ARG (bad value) or SSHCONN_ERR_NOMEM with a
 * message in err.
 */
int hostkey_conf_set(struct hostkey_conf *hc, const char *keyword,
    const char *value, char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(2, 3);

/* hostkey_conf_set() for one -o option in ssh(1)'s spellings ("Key=Value",
 * "Key Value", "Key = Value"); the same returns. */
int hostkey_conf_option(struct hostkey_conf *hc, const char *opt, char *err,
    size_t errlen) PROTO_WUR PROTO_NONNULL(2);

/*
 * Before the handshake: completes x->hk with what ssh_config says (x->ch)
 * where the command line said nothing, and, with a HostKeyAlias and no
 * HostKeyAlgorithms given, has libssh prefer the key types known_hosts records
 * for the alias (libssh does that by itself for the host name only). Returns 0,
 * SSHCONN_ERR_ARG (a HostKeyAlgorithms of certificate types alone, which libssh
 * 0.10 cannot use) or SSHCONN_ERR_NOMEM, with one line in x->err.
 */
int hostkey_prepare(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

/*
 * Checks x->c->session's host key after the handshake; x->hk.alias, else
 * x->hostport, names the host in known_hosts, and x->known_hosts and
 * x->global_known_hosts are the files. strict is an SSHOPT_STRICT_* value.
 * Returns 0 when the key is accepted; SSHCONN_ERR_HOSTKEY when it is not, or
 * cannot be checked; SSHCONN_ERR_PROTOCOL when it cannot be read; with one
 * line in x->err (a multi-line warning goes to the notice callback first).
 */
int hostkey_verify(struct ctx *x, int strict) PROTO_WUR PROTO_NONNULL(1);

#endif
