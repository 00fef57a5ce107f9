/*
 * auth.h - proving who we are to the server, for the sshconn modules (internal
 * to them). As ssh(1): publickey, keyboard-interactive, then password (or the
 * order of PreferredAuthentications), each only when not disabled by its
 * *Authentication option and offered by the server. publickey offers, in
 * ssh(1)'s order: CertificateFile certificates (with the key of the identity
 * file they certify), the agent's keys that an IdentityFile names, the agent's
 * other keys unless IdentitiesOnly, then the identity files (-i, -o
 * IdentityFile, every IdentityFile of ssh_config; else ssh(1)'s defaults
 * ~/.ssh/id_rsa, id_ecdsa, id_ed25519...), each followed by its -cert.pub.
 * IdentityAgent chooses the agent (none: no agent). When a key's public half
 * can be read, its passphrase is asked, or the agent asked to sign, only once
 * the server accepts it. A partial success (sshd's AuthenticationMethods)
 * starts the round again with the keys not offered yet. In batch mode nothing
 * is asked: encrypted keys are skipped, keyboard-interactive and password are
 * not tried. No wait for the server lasts longer than the ConnectTimeout (30 s
 * by default), and a server that disconnects (MaxAuthTries) ends it at once.
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
