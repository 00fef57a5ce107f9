/*
 * transport.h - the byte stream an SSH session runs on, for the sshconn modules
 * (internal to them): a TCP connection, a ProxyCommand's standard input and
 * output, or a direct-tcpip channel through ProxyJump hosts, relayed by a
 * helper process.
 *
 * The functions that connect store in *fdp a descriptor the caller owns and
 * return 0, or return a negative SSHCONN_ERR_* code with one line for the user
 * in x->err and *fdp untouched. The helper processes they start (ProxyCommand
 * children, jump relays) are recorded in x->c, to be reaped with
 * transport_reap_helpers().
 */
#ifndef CXS_CLIENT_TRANSPORT_H
#define CXS_CLIENT_TRANSPORT_H

#include <stddef.h>

#include "proto/err.h"

struct ctx;
struct sshconn;

/*
 * Connects to host:port, family AF_UNSPEC, AF_INET or AF_INET6, trying every
 * address in turn for at most x->timeout seconds each. SSHCONN_ERR_CONNECT
 * names the host, the port and the system's reason (with "did you mean" when
 * the name is close to an ssh_config alias).
 */
int transport_tcp_connect(struct ctx *x, const char *host, int port,
    int family, int *fdp) PROTO_WUR PROTO_NONNULL(1, 2, 5);

/*
 * Runs the ProxyCommand tmpl, its %h %p %r %n %% expanded, through $SHELL (or
 * /bin/sh) with its stdin and stdout on *fdp; its stderr stays ours.
 * SSHCONN_ERR_ARG for an unknown %-token, SSHCONN_ERR_CONNECT, _NOMEM.
 */
int transport_spawn_proxy(struct ctx *x, const char *tmpl, const char *host,
    int port, const char *user, int *fdp) PROTO_WUR
    PROTO_NONNULL(1, 2, 3, 5, 6);

/*
 * Reaches host:port through the ProxyJump hosts in spec ("a,b,c": through c,
 * reached through b, reached through a). The last hop is opened with
 * sshconn_open_depth() at x->depth + 1, verified and authenticated like any
 * target with our config file, verbosity, batch flag and prompts but not our
 * -o options; at most MAX_JUMPS hops. A jump host's own failure is returned
 * with its code, the message prefixed "jump host NAME: ".
 */
int transport_open_jump(struct ctx *x, const char *spec, const char *host,
    int port, int *fdp) PROTO_WUR PROTO_NONNULL(1, 2, 3, 5);

/*
 * After a failed handshake over a ProxyCommand: when the command (the last
 * helper) exits within half a second, reaps it, writes to x->err that it
 * exited, naming the host as name, and returns 1; otherwise returns 0.
 */
int transport_proxy_failed(struct ctx *x, const char *name)
    PROTO_NONNULL(1, 2);

/*
 * Waits up to two seconds for each helper of c to exit (a relay does once our
 * end of its socketpair is closed), then sends it SIGTERM and, a second later,
 * SIGKILL. The list is empty afterwards.
 */
void transport_reap_helpers(struct sshconn *c) PROTO_NONNULL(1);

/*
 * In a forked helper: closes every descriptor but the ones in keep[] (nkeep of
 * them); stdin and stdout become /dev/null unless kept, stderr stays.
 */
void transport_close_fds(const int *keep, size_t nkeep);

/* For messages: "alias (host)" when the name typed is not the host name, else
 * host; truncated to len. */
void transport_where(struct ctx *x, const char *host, char *buf, size_t len)
    PROTO_NONNULL(1, 2, 3);

#endif
