/*
 * sshconn-int.h - internal to the sshconn modules (client/sshconn.c, prompt.c,
 * sshopt.c, transport.c, hostkey.c, auth.c); nothing else may include it.
 *
 * What they share: the connection (struct sshconn, opaque outside), the state
 * of one sshconn_open() in progress (struct ctx, on sshconn_open_depth()'s
 * stack), and the message helpers. A step that fails writes one line for the
 * user to x->err with errf() and returns a negative SSHCONN_ERR_* code; other
 * news goes to the caller's notice callback through notice()/noticef(), debug
 * lines through debugf() (shown with -v only).
 */
#ifndef CXS_CLIENT_SSHCONN_INT_H
#define CXS_CLIENT_SSHCONN_INT_H

#include <sys/types.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <libssh/libssh.h>

#include "client/hostkey.h"
#include "client/sshconf.h"
#include "client/sshconn.h"
#include "client/sshopt.h"
#include "proto/err.h"

#define MAX_JUMPS		8	/* ProxyJump hops, nested or listed */
#define MAX_HELPERS		(2 * MAX_JUMPS + 2)
#define MAX_ANSWER		1024	/* one prompt's answer */

struct sshconn {
	ssh_session session;
	int fd;			/* transport, ours to close after ssh_free() */
	char *alias;
	char *user;
	char *host;
	int port;
	int alive_interval;
	int alive_count_max;
	pid_t helpers[MAX_HELPERS];	/* relays and proxy commands to reap */
	size_t nhelpers;
	char auth[400];			/* how authentication went, for doctor */
};

/* ---- one sshconn_open() in progress -------------------------------------- */

struct ctx {
	const struct sshconn_opts *o;
	int depth;			/* 0 for the target, 1.. for jump hosts */
	struct sshopt os;
	struct sshopt_target tg;
	struct sshconf *cfg;
	struct sshconf_host ch;		/* what sshconf says about the alias */
	int have_ch;
	struct hostkey_conf hk;		/* HostKeyAlias, HashKnownHosts,
					 * RevokedHostKeys: -o, then ssh_config */
	struct sshconn *c;
	char *home;
	char *local_user;
	char *known_hosts;		/* as libssh uses them, for messages */
	char *global_known_hosts;
	char hostport[320];		/* "host" or "[host]:port", known_hosts key */
	int verbose;
	int batch;
	int timeout;
	char tried[1024];		/* authentication attempts, for the error */
	char notes[512];
	char *err;
	size_t errlen;
};

/*
 * sshconn_open() for a target (depth 0) or a jump host (depth 1..): the whole
 * story, with sshconn_open()'s contract but without libssh's initialisation;
 * transport_open_jump() recurses through it.
 */
int sshconn_open_depth(const struct sshconn_opts *o, int depth,
    struct sshconn **out, char *err, size_t errlen) PROTO_WUR
    PROTO_NONNULL(1, 3);

/* Frees c (NULL allowed) as sshconn_close() does; disconnect 0 drops the
 * session without a word on the wire. */
void sshconn_free(struct sshconn *c, int disconnect);

/* Disconnects s with an SSH_MSG_DISCONNECT that really goes out; s is still to
 * be freed by the caller. */
void sshconn_goodbye(ssh_session s) PROTO_NONNULL(1);

/* ---- message helpers ----------------------------------------------------- */

static inline void errf(char *err, size_t errlen, const char *fmt, ...)
    PROTO_PRINTF(3, 4);

static inline void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Appends to a fixed buffer, truncating quietly: these are message texts. */
static inline void catf(char *buf, size_t len, const char *fmt, ...)
    PROTO_PRINTF(3, 4);

static inline void
catf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static inline int
set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static inline void debugf(struct ctx *x, const char *fmt, ...)
    PROTO_PRINTF(2, 3);
static inline void noticef(struct ctx *x, const char *fmt, ...)
    PROTO_PRINTF(2, 3);

static inline void
notice(struct ctx *x, const char *msg)
{
	if (x->o->notice != NULL)
		x->o->notice(x->o->notice_arg, msg);
	else
		sshconn_notice_default(NULL, msg);
}

static inline void
noticef(struct ctx *x, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	notice(x, msg);
}

static inline void
debugf(struct ctx *x, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n;

	if (x->verbose < 1)
		return;
	n = snprintf(msg, sizeof(msg), "debug1: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	notice(x, msg);
}

static inline const char *
sess_error(struct ctx *x)
{
	const char *e = ssh_get_error(x->c->session);

	return e != NULL && *e != '\0' ? e : "unknown error";
}

#endif
