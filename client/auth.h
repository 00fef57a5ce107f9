/*
 * auth.h - proving who we are to the server, for the sshconn modules (internal
 * to them). As ssh(1): publickey, keyboard-interactive, then password (or the
 * order of -o PreferredAuthentications), each only when not disabled by its
 * -o *Authentication option and offered by the server. publickey offers the
 * agent's keys (unless IdentitiesOnly), then the key files: -i, -o
 * IdentityFile, ssh_config's IdentityFile, else ~/.ssh/id_ed25519, id_ecdsa and
 * id_rsa; when a key's public half can be read, its passphrase is asked only
 * once the server accepts it. A partial success (sshd's AuthenticationMethods)
 * starts the round again. In batch mode nothing is asked: encrypted keys are
 * skipped, keyboard-interactive and password are not tried.
 */
#ifndef CXS_CLIENT_AUTH_H
#define CXS_CLIENT_AUTH_H

#include "proto/err.h"

struct ctx;

/*
 * Authenticates x->c->session as x->c->user after the host key check. Returns 0
 * and stores in x->c->auth which method worked and what the server offers;
 * SSHCONN_ERR_AUTH with "Permission denied ... (tried: ...; server offers:
 * ...)" in x->err; SSHCONN_ERR_PROTOCOL when the connection is lost.
 */
int auth_run(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

#endif
