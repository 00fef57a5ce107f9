/*
 * sshconn.h - the SSH connection of codex-connect: ssh_config resolution, host key
 * verification against known_hosts, authentication, ProxyJump, and the session
 * channels the tunnel runs on. Built on libssh 0.10.
 *
 * The behaviour follows ssh(1) wherever the user would notice: the host as typed
 * is an ssh_config alias; command-line values beat ssh_config, and for -o the first
 * value given wins; an unknown host key is asked about (or refused when nobody can
 * be asked), a changed or revoked one is always refused; agent, key files,
 * keyboard-interactive and password are tried in that order among what the server
 * offers; prompts go to /dev/tty, or to $SSH_ASKPASS where ssh would use it.
 *
 * Every function is blocking and runs to completion (ConnectTimeout bounds the
 * network waits; prompts wait for the user). Nothing here exits or writes to stdout.
 *
 * Helper processes: a ProxyCommand runs as a child; each ProxyJump hop is a
 * forked child that keeps running libssh to relay the jump host's channel. They
 * are reaped by sshconn_close(). Forking a process that runs library code is only
 * safe in a single-threaded program, which codex-connect is.
 *
 * ssh_config is resolved here as ssh(1) resolves it (client/sshopt.c: Host and
 * Match blocks, Include, every IdentityFile and CertificateFile, tokens), not by
 * libssh. Known limits (libssh 0.10 does not expose what would be needed): a
 * user certificate needs its private key in a file (the agent cannot sign for
 * it through libssh), and host certificates cannot be checked (libssh 0.10
 * never offers a certificate host key algorithm: a host trusted only through
 * @cert-authority is unknown).
 */
#ifndef CXS_CLIENT_SSHCONN_H
#define CXS_CLIENT_SSHCONN_H

#include <stddef.h>
#include <stdio.h>

#include <libssh/libssh.h>

#include "proto/err.h"

/* Failures: 0 is success, the codes below are negative. */
#define SSHCONN_ERR_NOMEM	-1	/* allocation failed */
#define SSHCONN_ERR_ARG		-2	/* bad host syntax, bad or unknown -o option */
#define SSHCONN_ERR_CONNECT	-3	/* DNS, TCP, ProxyCommand or jump host: the
					 * network; a later retry may work */
#define SSHCONN_ERR_PROTOCOL	-4	/* the SSH handshake failed or the
					 * connection was lost */
#define SSHCONN_ERR_HOSTKEY	-5	/* host key unknown and not accepted,
					 * changed, or not checkable */
#define SSHCONN_ERR_AUTH	-6	/* no authentication method succeeded */
#define SSHCONN_ERR_CHANNEL	-7	/* the server refused a session channel
					 * (typically sshd's MaxSessions) */
#define SSHCONN_ERR_REFUSED	-8	/* the server refused the subsystem or
					 * the command on an open channel */

/* Returns a static string naming the code; never NULL. */
const char *sshconn_strerror(int err);

/*
 * Asks the user one question. prompt is the whole text to show, possibly several
 * lines, ending in ": " or "? "; echo is 0 for secrets. Stores the answer, without
 * its newline and NUL-terminated, in buf (at most len - 1 bytes) and returns 0; or
 * returns -1 when nobody can be asked or the user cancelled, with buf empty.
 */
typedef int (*sshconn_prompt_fn)(void *arg, const char *prompt, int echo,
    char *buf, size_t len);

/*
 * Shows the user one message that is not an error: a server banner, "Permanently
 * added ... to the list of known hosts", the host key change warning, debug lines
 * ("debug1: ...") when verbose. msg may span lines and has no final newline.
 */
typedef void (*sshconn_notice_fn)(void *arg, const char *msg);

/*
 * The prompt ssh(1) would use: /dev/tty with echo turned off for secrets (the
 * terminal is restored if a signal interrupts); with no terminal, or when
 * SSH_ASKPASS_REQUIRE=force, the $SSH_ASKPASS program (default
 * /usr/bin/ssh-askpass) is run with the prompt as its argument, provided DISPLAY
 * or WAYLAND_DISPLAY is set or SSH_ASKPASS_REQUIRE=force, and not when it is
 * "never". arg is unused.
 */
int sshconn_prompt_default(void *arg, const char *prompt, int echo, char *buf,
    size_t len);

/* Writes msg and a newline to stderr. arg is unused. */
void sshconn_notice_default(void *arg, const char *msg);

/*
 * What to connect to and how. Only host is required; zero or NULL elsewhere
 * means "as ssh_config says". The struct and its strings are only read during
 * sshconn_open().
 */
struct sshconn_opts {
	const char *host;		/* as typed: alias, host, user@host,
					 * user@host:port, [v6addr]:port,
					 * ssh://user@host:port */
	const char *config_file;	/* -F; NULL: the user's ~/.ssh/config,
					 * then /etc/ssh/ssh_config */
	const char *user;		/* -l; beats user@ in host */
	int port;			/* -p; beats :port in host; 0: unset */
	const char *const *identities;	/* -i, tried first, in order */
	size_t nidentities;
	const char *const *options;	/* -o "Key=Value" or "Key Value" */
	size_t noptions;
	int verbose;			/* -v count: 1 our debug lines, 2 and 3
					 * add libssh's protocol and packet logs */
	int batch;			/* never prompt (also -o BatchMode=yes) */
	sshconn_prompt_fn prompt;	/* NULL: sshconn_prompt_default */
	void *prompt_arg;
	sshconn_notice_fn notice;	/* NULL: sshconn_notice_default */
	void *notice_arg;
};

/*
 * Checks one -o option without connecting, so a command line can be rejected
 * before any prompt. Returns 0, or SSHCONN_ERR_ARG with a message naming the key
 * (a keyword ssh_config does not have, a bad value for one that is honoured,
 * Host, Match or Include).
 *
 * Every ssh_config keyword is accepted, as in a file. Honoured: HostName, User,
 * Port, IdentityFile (repeatable), CertificateFile (repeatable), IdentitiesOnly,
 * IdentityAgent, ProxyJump, ProxyCommand, StrictHostKeyChecking (yes, no,
 * accept-new, ask), UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlgorithms,
 * ConnectTimeout, ServerAliveInterval, ServerAliveCountMax, BatchMode,
 * PreferredAuthentications, PubkeyAuthentication, KbdInteractiveAuthentication,
 * PasswordAuthentication, NumberOfPasswordPrompts, KexAlgorithms, Ciphers, MACs,
 * PubkeyAcceptedAlgorithms, AddressFamily, LogLevel, RekeyLimit, IgnoreUnknown
 * (and the host key keywords below). Keywords without meaning for a tunnel
 * (ControlMaster, ControlPath, ControlPersist, Compression, SendEnv, ...) are
 * ignored; unsupported ones that would change behaviour (LocalForward,
 * RemoteCommand, ForwardAgent yes, ...) pass here and are named in a warning
 * when connecting.
 */
int sshconn_check_option(const char *option, char *err, size_t errlen)
    PROTO_WUR PROTO_NONNULL(1);

/*
 * sshconn_check_option() for every key sshconn_open() takes: those above and
 * the host key keywords client/hostkey.c reads itself, HostKeyAlias,
 * HashKnownHosts (yes, no) and RevokedHostKeys. The same returns. Command
 * lines use this one.
 */
int sshconn_check_any_option(const char *option, char *err, size_t errlen)
    PROTO_WUR PROTO_NONNULL(1);

/*
 * Resolves opts as sshconn_open() would, without connecting, and writes the
 * result to out as `ssh -G` does: lowercase "keyword value" lines (host, user,
 * hostname, port, identityfile per file, certificatefile, identitiesonly,
 * proxyjump, proxycommand, stricthostkeychecking, userknownhostsfile,
 * hostkeyalias, hashknownhosts, batchmode, connecttimeout, ...). Match exec
 * commands run, as with ssh -G. Warnings go to the notice callback. Returns 0,
 * or a negative SSHCONN_ERR_* code with a message in err.
 */
int sshconn_print_config(const struct sshconn_opts *opts, FILE *out,
    char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2);

/*
 * What connection sharing (client/share.h) needs to know about a destination,
 * resolved from opts and ssh_config without connecting.
 */
struct sshconn_dest {
	/* Hex SHA-256 of what makes two connections interchangeable: the
	 * host name connected to, port, user, ProxyJump and ProxyCommand. */
	char key[65];
	int master;		/* ControlMaster: 0 no (use a master, start none),
				 * 1 auto (also yes, ask, autoask; the default) */
	char path[256];		/* ControlPath expanded; "" not given; "none" */
	int persist;		/* ControlPersist in seconds; -1 for ever */
};

/* Fills d for opts. Returns 0, or a negative SSHCONN_ERR_* code with a message
 * in err (a bad host, a ControlPath token that does not expand, ...). */
int sshconn_resolve_dest(const struct sshconn_opts *opts,
    struct sshconn_dest *d, char *err, size_t errlen) PROTO_WUR
    PROTO_NONNULL(1, 2);

struct sshconn;

/*
 * Resolves opts->host through ssh_config, connects (directly, through ProxyJump
 * hosts, each verified and authenticated the same way, or through a
 * ProxyCommand), verifies the host key and authenticates. On success returns 0
 * and stores a new connection in *out, to be released with sshconn_close().
 * On failure returns a negative SSHCONN_ERR_* code, writes a one-line message
 * fit for the user to err (when errlen > 0; multi-line warnings such as a
 * changed host key go to the notice callback first) and leaves *out untouched.
 * A jump host's failure is reported with its own code, the message prefixed
 * "jump host NAME: ". As with ssh(1), jump hosts get the config file, verbosity,
 * batch flag and prompts, not the -o options or identities.
 */
int sshconn_open(const struct sshconn_opts *opts, struct sshconn **out,
    char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2);

/*
 * Opens a session channel and requests subsystem on it. On success returns 0 and
 * stores the channel in *out; it belongs to the caller, who frees it with
 * ssh_channel_free() before sshconn_close(). Returns SSHCONN_ERR_CHANNEL when the
 * server refuses the channel itself (sshd's MaxSessions), SSHCONN_ERR_REFUSED when
 * it refuses the subsystem (not registered in sshd_config), SSHCONN_ERR_PROTOCOL
 * when the connection is gone; *out is then untouched.
 */
int sshconn_open_channel(struct sshconn *c, const char *subsystem,
    ssh_channel *out, char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2, 3);

/* The same with an exec request: the server runs command through the user's
 * shell. SSHCONN_ERR_REFUSED when the server refuses to run it. */
int sshconn_open_exec(struct sshconn *c, const char *command, ssh_channel *out,
    char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2, 3);

/*
 * Sends an SSH_MSG_IGNORE, which keeps NAT and firewall state alive and makes a
 * dead TCP connection fail on write. Liveness itself (a reply that does not come)
 * is the tunnel's PING frames' job. Returns 0 or SSHCONN_ERR_PROTOCOL.
 */
int sshconn_keepalive(struct sshconn *c) PROTO_WUR PROTO_NONNULL(1);

/* How authentication went: "with METHOD (server offers: ...)"; owned by c. */
const char *sshconn_auth_info(const struct sshconn *c) PROTO_NONNULL(1);

/* The libssh session, for channel I/O; owned by c. */
ssh_session sshconn_session(const struct sshconn *c) PROTO_NONNULL(1);
/* The descriptor to poll for input; owned by c (do not close it). */
int sshconn_fd(const struct sshconn *c) PROTO_NONNULL(1);
/* For messages: the name as typed (without user and port), the remote user, the
 * host name actually connected to (after HostName) and the port. Owned by c. */
const char *sshconn_alias(const struct sshconn *c) PROTO_NONNULL(1);
const char *sshconn_user(const struct sshconn *c) PROTO_NONNULL(1);
const char *sshconn_host(const struct sshconn *c) PROTO_NONNULL(1);
int sshconn_port(const struct sshconn *c) PROTO_NONNULL(1);
/* ServerAliveInterval in seconds (0: off) and ServerAliveCountMax (default 3). */
int sshconn_alive_interval(const struct sshconn *c) PROTO_NONNULL(1);
int sshconn_alive_count_max(const struct sshconn *c) PROTO_NONNULL(1);

/*
 * Disconnects, frees the session, closes the descriptor and reaps the helper
 * processes (jump relays, ProxyCommand), waiting a bounded time for them. Channels
 * still open are freed with the session. NULL is allowed.
 */
void sshconn_close(struct sshconn *c);

#endif
