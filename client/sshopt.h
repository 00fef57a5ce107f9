/*
 * sshopt.h - the options of one connection, resolved as ssh(1) resolves them.
 * Internal to the sshconn modules; sshconn_check_option() and
 * sshconn_print_config() in client/sshconn.h are the public face.
 *
 *  - the host as typed: alias, host, user@host, user@host:port, [v6]:port, bare
 *    v6, ssh://user@host:port; user and host names that could carry shell
 *    syntax into a ProxyCommand are refused;
 *  - -o options, in the three spellings ssh(1) takes ("Key=Value", "Key Value",
 *    "Key = Value"), and every line of ssh_config go through one interpreter,
 *    the way ssh(1) runs both through process_config_line(): -o first, then -l
 *    and -p, user@ and :port of the host as typed, then the files. For most
 *    keywords the first value obtained wins; IdentityFile and CertificateFile
 *    accumulate (duplicates dropped); ProxyJump and ProxyCommand exclude each
 *    other in ssh(1)'s way;
 *  - ssh_config is read by client/sshconf.c (Include, globs, the lines as
 *    written) and evaluated here: Host and Match blocks (all, host,
 *    originalhost, user, localuser, exec run through the shell as ssh(1)
 *    does, canonical and final with ssh(1)'s second pass), IgnoreUnknown;
 *    tokens (%C %d %h %i %j %k %L %l %n %p %r %u %%), ${VAR} and ~ where
 *    ssh(1) expands them;
 *  - the result goes to libssh explicitly (libssh never reads ssh_config
 *    itself: SSH_OPTIONS_PROCESS_CONFIG is off), and can be printed as
 *    `ssh -G` prints it.
 * Every keyword ssh(1) 9.x knows is accepted. Those that do not apply to a
 * tunnel are ignored (a debug line says so); those codex-connect does not
 * support and that would change what the connection does (LocalForward,
 * RemoteCommand, ForwardAgent yes...) are named once in a warning. An unknown
 * keyword in a file is a warning (ssh(1) refuses to run), on the command line
 * an error.
 * Failures are negative SSHCONN_ERR_* codes with one line for the user in the
 * err buffer (x->err for the functions taking a struct ctx).
 */
#ifndef CXS_CLIENT_SSHOPT_H
#define CXS_CLIENT_SSHOPT_H

#include <stddef.h>
#include <stdio.h>

#include "proto/err.h"

struct ctx;

#define SSHOPT_MAX_IDS		100	/* IdentityFile, CertificateFile (ssh's) */
#define SSHOPT_MAX_KEYS		192	/* entries of the keyword table */

/* StrictHostKeyChecking. */
enum {
	SSHOPT_STRICT_YES = 1, SSHOPT_STRICT_NO, SSHOPT_STRICT_ACCEPT_NEW,
	SSHOPT_STRICT_ASK
};

/*
 * The options: -1 or NULL is "not obtained". sshopt_apply() fills it from -o,
 * sshopt_load_config() from the rest and then completes it (hostname, user and
 * port are final afterwards). Paths are as written; sshopt_expand() expands
 * them. ssh_config's HostKeyAlias, HashKnownHosts and RevokedHostKeys go to
 * client/hostkey.c (x->hk) instead.
 */
/* ControlPersist: yes (or 0), no; unset: SSHOPT_PERSIST_DEFAULT seconds. */
#define SSHOPT_PERSIST_FOREVER	(-2)
#define SSHOPT_PERSIST_NO	(-3)
#define SSHOPT_PERSIST_DEFAULT	60

struct sshopt {
	int strict;
	char *known_hosts;		/* first UserKnownHostsFile */
	char *known_hosts_all;		/* all of them, space separated */
	char *global_known_hosts;	/* first GlobalKnownHostsFile */
	char *global_known_hosts_all;
	int connect_timeout;
	int alive_interval;
	int alive_count_max;
	int port;
	char *user;
	char *hostname;
	char *ids[SSHOPT_MAX_IDS];	/* IdentityFile, -i first */
	size_t nids;
	char *certs[SSHOPT_MAX_IDS];	/* CertificateFile */
	size_t ncerts;
	int identities_only;
	char *identity_agent;		/* IdentityAgent: a path, "none" or
					 * "SSH_AUTH_SOCK" ($VAR: that variable) */
	int batch;
	char *proxyjump;		/* "none" counts as a value */
	char *proxycommand;		/* "none" too; set to "none" by a
					 * ProxyJump, as in ssh(1) */
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
	char *pubkey_algos;		/* PubkeyAcceptedAlgorithms */
	long long rekey_data;		/* RekeyLimit: bytes, 0 default */
	int rekey_time;			/* seconds, 0 none */
	int log_level;
	int canonicalize;		/* CanonicalizeHostname: 1 yes/always */
	int permit_local_command;
	int local_command;		/* a LocalCommand applies */
	char *ignore_unknown;
	int control_master;		/* 0 no (use a master, start none), 1
					 * yes/auto/ask/autoask */
	char *control_path;		/* as written; "none": no sharing */
	int control_persist;		/* seconds, or SSHOPT_PERSIST_* */
	/* Per keyword-table entry: 1 a warning to give (seen on the command
	 * line), 2 given. */
	unsigned char said[SSHOPT_MAX_KEYS];
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
 * already has a value. Returns 0, SSHCONN_ERR_ARG (unknown key, bad value, a
 * keyword the command line cannot take: Host, Match, Include) or
 * SSHCONN_ERR_NOMEM, with a message naming the key in err. A supported key
 * that does not apply is accepted; an unsupported one too, marked in s->said
 * so that sshopt_load_config() names it.
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
 * Completes x->os, which holds the -o options: -l, -p and -i (x->o), user@
 * and :port (x->tg), then ssh_config: -F alone, else the user's and the system
 * file; "-F none" reads nothing. The files are read with client/sshconf.c into
 * x->cfg, which also resolves the alias into x->ch (for "did you mean" and
 * the listing); sshconf's warnings become debug lines. Every Host and Match
 * block is evaluated here, with a second pass when a Match asks for final or
 * canonical, or CanonicalizeHostname is on. Warnings (unsupported options,
 * unknown keywords, bad values: the line is skipped) go to the notice
 * callback. Afterwards x->os.hostname is the host to connect to (HostName with
 * %h expanded, lowercased unless an address), x->os.user and x->os.port are
 * set, and x->verbose and x->batch include LogLevel and BatchMode. Returns 0,
 * SSHCONN_ERR_ARG with a message in x->err (the -F file cannot be read) or
 * SSHCONN_ERR_NOMEM.
 */
int sshopt_load_config(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

/*
 * Sets on x->c->session what was resolved: host, user, port, known_hosts files,
 * algorithms, rekey limits, the timeout, and turns libssh's own reading of
 * ssh_config off. Returns 0, SSHCONN_ERR_ARG with a message in x->err (a value
 * libssh refuses, a path that cannot be expanded) or SSHCONN_ERR_NOMEM.
 */
int sshopt_apply_overrides(struct ctx *x) PROTO_WUR PROTO_NONNULL(1);

/* What sshopt_expand() expands, as ssh(1) does for the keyword at hand. */
#define SSHOPT_EXPAND_TILDE	0x1	/* ~ and ~user */
#define SSHOPT_EXPAND_ENV	0x2	/* ${VAR} */
#define SSHOPT_EXPAND_TOKENS	0x4	/* %C %d %h %i %j %k %L %l %n %p %r %u %% */
#define SSHOPT_EXPAND_PATH	0x7	/* IdentityFile, CertificateFile,
					 * UserKnownHostsFile, IdentityAgent */

/*
 * Expands in after sshopt_load_config(), with the values resolved (the host
 * after HostName, the remote user, the port, x->hk.alias for %k). Returns 0
 * with a new string in *out (the caller frees it), or SSHCONN_ERR_ARG (an
 * unknown token, an unset variable) with a message in x->err, or
 * SSHCONN_ERR_NOMEM.
 */
int sshopt_expand(struct ctx *x, const char *in, int what, char **out)
    PROTO_WUR PROTO_NONNULL(1, 2, 4);

/*
 * Writes the resolution as `ssh -G` does: lowercase "keyword value" lines,
 * identityfile and certificatefile once per file, the defaults where ssh(1)
 * shows them. Returns 0, or SSHCONN_ERR_ARG / SSHCONN_ERR_NOMEM with a message
 * in x->err.
 */
int sshopt_print(struct ctx *x, FILE *out) PROTO_WUR PROTO_NONNULL(1, 2);

#endif
