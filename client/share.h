/*
 * share.h - the shared connection: one SSH connection per destination, used by
 * every codex-connect of the user (PROTOCOL.md 8).
 *
 * The first codex-connect for a destination (same host name, port, user,
 * ProxyJump and ProxyCommand, and the same codex-connect version) forks the
 * connection master: the child connects and authenticates with the terminal of
 * the program that started it (so a host with 2FA asks once), listens on a
 * private unix socket, then detaches. Every codex-connect, the first one
 * included, opens its channels through the master, one socket connection per
 * channel: the master opens the session channel (the subsystem, or the
 * bootstrap's exec fallback) and relays bytes both ways, with back-pressure.
 * The master checks each peer's uid; the client checks the master's. It stays
 * while it has channels and ControlPersist seconds after the last one (60 by
 * default); it exits when its SSH connection dies, and the clients, who own the
 * resume state, reconnect through a new master and resume.
 *
 * OpenSSH's ssh_config keywords, read for this: ControlPath none turns sharing
 * off; another ControlPath names our socket with ".cxs" appended (never
 * OpenSSH's own socket, whose protocol differs), in a directory that must be
 * the user's and closed to others; ControlMaster no uses a master but never
 * starts one; ControlPersist yes, no or a time.
 */
#ifndef CXS_CLIENT_SHARE_H
#define CXS_CLIENT_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "client/chanio.h"
#include "client/sshconn.h"

#define SHARE_PROTO_VERSION 1

/* Where the master of a destination listens, and what it may do. */
struct share_where {
	char path[108];            /* the socket (sun_path's size) */
	int may_start;             /* ControlMaster: start one when none listens */
	int persist_s;             /* ControlPersist; -1 for ever */
	char key[17];              /* the destination's key, for messages */
	int unsafe;                /* not sharing because the socket's directory
				    * is not private (another user's, a link,
				    * open to others): worth a warning */
};

/* codex-connect's own directory for its sockets: $XDG_RUNTIME_DIR/codex-connect
 * when XDG_RUNTIME_DIR is a directory of ours, else /tmp/codex-connect-UID. */
void share_default_dir(char *out, size_t len);

/* dir must be a directory of ours with mode 0700, never a symbolic link
 * (created so when missing and create is set): 0, or -1 with why in err and
 * errno EPERM (not private) or what lstat/mkdir said. */
int share_private_dir(const char *dir, int create, char *err, size_t errlen);

/*
 * Resolves where o's master listens: ControlPath from ssh_config, else
 * $XDG_RUNTIME_DIR/codex-ssh/ (or /tmp/codex-ssh-UID/), created 0700 and
 * refused unless it is ours, a directory and closed to others. Returns 1 with
 * w filled, 0 when sharing is off for o (ControlPath none, or a directory that
 * cannot be used: why in err), or a negative SSHCONN_ERR_* with err.
 */
int share_where(const struct sshconn_opts *o, const char *version,
    struct share_where *w, char *err, size_t errlen);

/* One channel through the master. */
struct share_chan;

/*
 * Makes sure a master listens at w: when none answers and w->may_start, starts
 * one with o (under a lock, so that concurrent clients start one between
 * them; o should set a ConnectTimeout, which also bounds the master's blocking
 * channel opens on a connection that died unseen). Blocking: the master
 * connects and authenticates meanwhile, with our terminal for prompts. Returns 0 when one listens; 1 when there is none and
 * none may be started, or it could not listen (connect directly; why in err);
 * or a negative SSHCONN_ERR_* code with a message in err (it could not connect
 * or authenticate).
 */
int share_ensure(const struct share_where *w, const struct sshconn_opts *o,
    const struct chanio_req *r, char *err, size_t errlen);

/*
 * Opens a channel through w's master for r (r->subsystem, r->no_bootstrap,
 * r->verbose, r->progress; the rest is the master's). Our stderr goes to the
 * master with the request, for what the bootstrap says (its progress bar, the
 * plain fallback's note). early (earlylen bytes, at most MUX_MAX_BODY; 0
 * for none) is the tunnel's handshake, sent along with the request and
 * dropped by the master if the channel turns out plain. Blocking. Returns 0 with *out and *plain (the remote
 * runs the plain app server); 1 when no master answers or it went away (the
 * link is down); or a negative SSHCONN_ERR_* code with a message in err (the
 * remote refused the channel, the bootstrap failed).
 */
int share_open(const struct share_where *w, const struct chanio_req *r,
    const void *early, size_t earlylen, struct share_chan **out, int *plain,
    char *err, size_t errlen);

/* The descriptor to poll, and the events wanted (POLLIN, POLLOUT when
 * something is queued for the master). */
int share_chan_fd(const struct share_chan *sc);
short share_chan_events(const struct share_chan *sc);

/*
 * Reads channel data into buf: the byte count (> 0), 0 when nothing is there
 * now, SHARE_EOF once the remote's EOF came and everything before it was read,
 * or -1 when the master went away without EOF (the link is down).
 */
#define SHARE_EOF (-127)
int share_chan_read(struct share_chan *sc, void *buf, size_t len);
/* Room for share_chan_write() now (0 while the master does not keep up). */
size_t share_chan_room(const struct share_chan *sc);
/* Queues len bytes (at most share_chan_room()) for the channel; the bytes
 * accepted, or -1 when the master is gone. */
int share_chan_write(struct share_chan *sc, const void *buf, size_t len);
/* Sends what is queued as far as the socket takes it; -1 when it broke. */
int share_chan_flush(struct share_chan *sc);
/* Ends our side of the channel once the queue is sent. */
void share_chan_send_eof(struct share_chan *sc);
/* After SHARE_EOF: what the remote program wrote on stderr (one line, may be
 * "") and what its exit status says ("; it exited with ..." or ""). */
const char *share_chan_stderr(const struct share_chan *sc);
const char *share_chan_exit_note(const struct share_chan *sc);
/* Closes the socket: the master closes the channel. NULL is allowed. */
void share_chan_free(struct share_chan *sc);

/*
 * A session through w's master went silent: asks the master whether its
 * connection is alive (the server answers a keepalive within 3 s). Returns 0
 * when it is; 1 when no master answers or its connection was dead (it exits
 * then, and is gone when this returns).
 */
int share_probe(const struct share_where *w);

/*
 * `codex-connect -O check|exit HOST`: asks w's master how it is (printed on
 * stdout) or to exit now (its channels end; their clients reconnect). Returns
 * 0, or 1 with a message in err when no master runs.
 */
int share_control(const struct share_where *w, const char *cmd, char *err,
    size_t errlen);

#endif
