/*
 * hostkey.h - is this the host we meant? For the sshconn modules (internal to
 * them). The server's host key is checked against the known_hosts files libssh
 * uses (UserKnownHostsFile, then GlobalKnownHostsFile), with
 * StrictHostKeyChecking applied as ssh(1) applies it:
 *  - a known, matching key passes;
 *  - a changed key, or a key of another type than the one recorded, is always
 *    refused, after ssh(1)'s warning naming the offending file and line;
 *  - an unknown key is recorded (no, accept-new), refused (yes) or asked about
 *    (ask, the default), and recorded when the user says yes or types its
 *    fingerprint.
 */
#ifndef CXS_CLIENT_HOSTKEY_H
#define CXS_CLIENT_HOSTKEY_H

#include "proto/err.h"

struct ctx;

/*
 * Checks x->c->session's host key after the handshake; x->hostport names the
 * host in known_hosts, and x->known_hosts and x->global_known_hosts are the
 * files, for messages. strict is an SSHOPT_STRICT_* value. Returns 0 when the
 * key is accepted; SSHCONN_ERR_HOSTKEY when it is not, or cannot be checked;
 * SSHCONN_ERR_PROTOCOL when it cannot be read; with one line in x->err (a
 * multi-line warning goes to the notice callback first).
 */
int hostkey_verify(struct ctx *x, int strict) PROTO_WUR PROTO_NONNULL(1);

#endif
