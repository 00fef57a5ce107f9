/*
 * link.h - one SSH connection to the remote host carrying any number of streams,
 * each stream being one remote session of codex-subsystem on its own channel.
 *
 * In framed mode (the default) every stream rides proto/tunnel.h: when the
 * connection dies (read error, or no frame for dead_after seconds), the link
 * reconnects with exponential backoff and jitter, verifies the host key again,
 * reopens a channel per stream and resumes each session with its token; the
 * stream's owner sees neither a gap nor a duplicate. In plain mode nothing can be
 * resumed: a lost link ends the streams.
 *
 * Unless sharing is off (no_share, ControlPath none), the connection itself
 * belongs to a connection master process shared by every codex-connect for
 * the destination (client/share.h); the link then has one socket per stream
 * to the master. When the master goes away, the link reconnects through a
 * new one (started by whichever client comes first) and resumes.
 *
 * The link has no loop of its own: the program's poll() loop asks it for its
 * descriptors (link_pollfds) and its next deadline (link_timeout_ms), and
 * calls link_run() after every poll.
 */
#ifndef CXS_CLIENT_LINK_H
#define CXS_CLIENT_LINK_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "client/sshconn.h"

struct link_opts {
	struct sshconn_opts ssh;
	const char *subsystem;     /* "codex" */
	const char *backend;       /* NULL: the server's default */
	int plain;                 /* JSONL, no resume */
	int compress;              /* offer zlib (framed) */
	int ping_interval_ms;      /* PING every ...; 0 = 5000 */
	int dead_after_ms;         /* no frame for ... = link dead; 0 = 15000 */
	int give_up_ms;            /* stop reconnecting after ...; 0 = 300000 */
	int quiet;                 /* no status line on the terminal */
	int no_bootstrap;          /* a refused subsystem is an error, no exec fallback */
	int no_share;              /* a connection of our own, no master */
	const char *version;       /* ours: the bootstrap runs codex-subsystem VERSION */
	const char *const *build_dirs; /* where our static builds are (boot.h) */
};

struct link;
struct stream;

/* What a stream tells its owner. Called from link_run(). */
struct stream_ops {
	/* One message from the remote session, without line end. */
	void (*message)(void *ctx, const uint8_t *msg, size_t len);
	/* The session is over: code per PROTOCOL.md 2.6, reason for the user. The
	 * stream is freed right after this returns. */
	void (*ended)(void *ctx, unsigned code, const char *reason);
	/* Bytes the owner can still take now; the link stops reading the channel
	 * (and so back-pressures the remote journal) while this is 0. NULL: always. */
	size_t (*room)(void *ctx);
};

/* Connects (the first connection's failure is returned, not retried). Returns a
 * link or NULL with a message in err. */
struct link *link_open(const struct link_opts *o, char *err, size_t errlen);
/* Ends every stream without telling the server to close them (sessions stay
 * resumable on the server until its detach timeout), disconnects, frees. */
void link_free(struct link *l);

/* Opens a stream: a new remote session. Returns NULL with a message in err. */
struct stream *link_stream(struct link *l, const struct stream_ops *ops, void *ctx,
    char *err, size_t errlen);
/* Queues one message (no line end) for the remote session. 0 or -1. */
int stream_send(struct stream *s, const void *msg, size_t len);
/* True while the remote does not take what was queued (its backend does not
 * read): the owner stops reading its source until this clears, so the remote's
 * back-pressure reaches the local client instead of growing our memory. */
int stream_full(const struct stream *s);
/* Asks the server to end the session; ended() follows. */
void stream_close(struct stream *s);
/* Frees the stream now without a word to the server (a local client vanished). */
void stream_abandon(struct stream *s);
/* The owner goes away but the session should still end properly: stream_close()
 * if not done yet, and what the remote still says is dropped; the link frees the
 * stream when the server has closed it. */
void stream_orphan(struct stream *s);

/* Poll integration: fills at most max pollfds (at most link_npollfds() are
 * wanted) and returns how many, gives the time until the link needs
 * attention, and does the work after poll() with the pollfds it filled. */
int link_pollfds(struct link *l, struct pollfd *pf, int max);
int link_npollfds(const struct link *l);
int link_timeout_ms(struct link *l);
void link_run(struct link *l, const struct pollfd *pf, int npf);
/* The program blocked on the user (a prompt): do not count that time against
 * the server's liveness. */
void link_touch(struct link *l);
/* Nonzero once the link gave up reconnecting; *reason says why. */
int link_failed(const struct link *l, const char **reason);
/* Number of live streams. */
int link_nstreams(const struct link *l);
/* The connection's names, for messages. */
const char *link_target(const struct link *l);

#endif
