/*
 * link.c - the SSH connection, its streams, keepalive, reconnect and resume.
 *
 * libssh runs in non-blocking mode under our poll(): its socket is polled for
 * input (and for output while libssh holds unsent bytes), ssh_event_dopoll(0)
 * lets it process packets, and channel data is pulled with
 * ssh_channel_read_nonblocking() only while the stream's owner has room, so a
 * slow local client closes the SSH window and the remote journal absorbs the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bootstrap/boot.h"
#include "client/chanio.h"
#include "client/link.h"
#include "client/share.h"
#include "proto/buf.h"
#include "proto/jsonl.h"
#include "proto/mux.h"
#include "proto/tunnel.h"

#define READ_CHUNK (64 * 1024)
#define OUT_MAX (FRAME_MAX * 4 + 1024 * 1024)
#define OUT_HIGH (256 * 1024)

struct stream {
	struct stream *next;
	struct link *l;
	const struct stream_ops *ops;
	void *ctx;
	ssh_channel ch;             /* direct */
	struct share_chan *sc;      /* through the connection master */
	struct tunnel *t;           /* framed */
	struct jsonl_reader *lines; /* plain: from the remote */
	struct buf *out;            /* bytes for the channel */
	uint8_t *pre;               /* bytes the bootstrap read past its last answer */
	size_t prelen;
	int64_t last_rx_ms;
	int64_t last_ping_ms;
	int64_t ack_due_ms;         /* an ACK is owed and must go by then; 0: none */
	int closing;
	int dead;
	int silent;                 /* resumes closed before answering, in a row */
	unsigned end_code;
	char end_reason[FRAME_MAX_REASON + 64];
};

struct link {
	struct link_opts o;
	/* o.ssh plus ConnectTimeout=10 (the user's own -o wins: first value counts),
	 * so one attempt into a dead network does not stall the program for 30 s. */
	struct sshconn_opts reconnect_ssh;
	const char *reconnect_options[70];
	struct sshconn *c;
	ssh_event ev;
	int up;
	struct stream *streams;
	int64_t down_since_ms;
	int64_t next_try_ms;
	int attempts;
	int failed;
	char reason[600];
	char target[300];
	int bootstrap;              /* the subsystem was refused: use the exec fallback */
	int told_attached;          /* the server's "attached" note was shown */
	int sharing;                /* channels go through the master at sw */
	int suspect;                /* went down for silence: probe the master */
	struct share_where sw;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
status(struct link *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
status(struct link *l, const char *fmt, ...)
{
	va_list ap;

	if (l->o.quiet)
		return;
	fprintf(stderr, "codex-connect: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Frees the channel (before the session it belongs to goes away). */
static void
stream_drop_channel(struct stream *s)
{
	if (s->ch != NULL) {
		ssh_channel_free(s->ch);
		s->ch = NULL;
	}
	share_chan_free(s->sc);
	s->sc = NULL;
	s->prelen = 0;
	buf_reset(s->out);
}

static void
stream_end(struct stream *s, unsigned code, const char *reason)
{
	if (s->dead)
		return;
	s->dead = 1;
	s->end_code = code;
	snprintf(s->end_reason, sizeof(s->end_reason), "%s", reason);
}

/* What a stream's channel needs, from the link's options. */
static void
link_req(struct link *l, struct chanio_req *r)
{
	memset(r, 0, sizeof(*r));
	r->subsystem = l->o.subsystem;
	r->no_bootstrap = l->o.no_bootstrap;
	r->version = l->o.version;
	r->build_dirs = l->o.build_dirs;
	r->host = l->target;
	r->verbose = l->o.ssh.verbose > 0;
	r->progress = !l->o.quiet && isatty(2);
}

/* The remote runs the plain app server (the bootstrap's last resort): this
 * stream speaks JSONL from now on, and the tunnel's handshake is not sent. */
static int
stream_go_plain(struct stream *s, char *err, size_t errlen)
{
	if (s->t == NULL)
		return 0;
	buf_reset(s->out);
	tunnel_free(s->t);
	s->t = NULL;
	if (s->lines == NULL &&
	    (s->lines = jsonl_new(FRAME_DEFAULT_MAX_MESSAGE)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return SSHCONN_ERR_NOMEM;
	}
	return 0;
}

/* share_open() found no master (or it went away): the link is down. */
#define ATTACH_NO_MASTER 1

/*
 * Opens the channel of s (directly, or through the connection master) and
 * starts (or resumes) its session. 0, ATTACH_NO_MASTER, or an SSHCONN_ERR_*
 * code with err.
 */
static int link_connect_direct(struct link *l, const struct sshconn_opts *o,
    char *err, size_t errlen);

static int
stream_attach(struct stream *s, char *err, size_t errlen)
{
	struct link *l = s->l;
	struct chanio_req req;
	int r = 0, plain = 0;

	link_req(l, &req);
	free(s->pre);
	s->pre = NULL;
	s->prelen = 0;
	buf_reset(s->out);
	/* A CLOSE sent on the channel that was lost may never have arrived: say it
	 * again once the resumed session has everything we sent. */
	if (s->t != NULL && s->closing == 3)
		s->closing = 1;
	if (s->t != NULL && tunnel_connect(s->t, s->out) != 0) {
		snprintf(err, errlen, "out of memory");
		return SSHCONN_ERR_NOMEM;
	}
	if (l->sharing) {
		/* The handshake goes with the request (no round trip). */
		r = share_open(&l->sw, &req, buf_ptr(s->out), buf_len(s->out),
		    &s->sc, &plain, err, errlen);
		if (r == 0 && buf_len(s->out) <= MUX_MAX_BODY)
			buf_reset(s->out);
		else if (r == SSHCONN_ERR_CHANNEL && l->streams == s &&
		    s->next == NULL) {
			/* The shared connection has all the channels sshd allows
			 * (MaxSessions): this link gets a connection of its own. */
			if (l->o.ssh.verbose > 0)
				fprintf(stderr, "codex-connect: %s; using a connection "
				    "of our own\n", err);
			l->sharing = 0;
			r = link_connect_direct(l, &l->reconnect_ssh, err, errlen);
			if (r != 0)
				return r;
		}
	}
	if (!l->sharing)
		r = chanio_open_session(l->c, &req, &l->bootstrap, &s->ch, &s->pre,
		    &s->prelen, &plain, err, errlen);
	if (r != 0)
		return r;
	if (plain && (r = stream_go_plain(s, err, errlen)) != 0)
		return r;
	s->last_rx_ms = now_ms();
	s->last_ping_ms = s->last_rx_ms;
	s->ack_due_ms = 0;
	return 0;
}

static void
link_down(struct link *l, const char *why)
{
	struct stream *s;

	if (!l->up)
		return;
	l->up = 0;
	for (s = l->streams; s != NULL; s = s->next) {
		stream_drop_channel(s);
		if (s->dead)
			continue;
		if (s->t != NULL)
			tunnel_disconnected(s->t);
		else
			stream_end(s, FRAME_CODE_INTERNAL, "connection lost, and a plain-mode "
			    "session cannot be resumed");
	}
	if (l->ev != NULL && l->c != NULL)
		ssh_event_remove_session(l->ev, sshconn_session(l->c));
	sshconn_close(l->c);
	l->c = NULL;
	l->down_since_ms = now_ms();
	l->attempts = 0;
	l->next_try_ms = l->down_since_ms;
	snprintf(l->reason, sizeof(l->reason), "%s", why);
	status(l, "connection to %s lost (%s); reconnecting", l->target, why);
}

/*
 * The wait before the next reconnect attempt. A refused or unreachable host answers
 * at once, so early attempts are cheap: for the first 30 s of an outage the wait
 * stays under half a second, so a session resumes within about a second of the
 * network coming back (a laptop waking up, Wi-Fi returning). Longer outages back
 * off exponentially to 5 s, then to 30 s after two minutes.
 */
static int64_t
backoff_ms(int attempts, int64_t down_for_ms)
{
	int64_t d = 125, cap;
	int i;

	cap = down_for_ms < 30000 ? 500 : down_for_ms < 120000 ? 5000 : 30000;
	for (i = 0; i < attempts && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	/* Jitter: between half and all of the delay, so clients do not stampede. */
	return d / 2 + (int64_t)randombytes_uniform((uint32_t)(d / 2 + 1));
}

/*
 * Gets the connection: through the master when sharing (starting one if none
 * listens), else a direct one. 0, or an SSHCONN_ERR_* code with err. Without a
 * master to use or start, the link connects directly from now on.
 */
static int
link_connect(struct link *l, const struct sshconn_opts *o, char *err,
    size_t errlen)
{
	struct chanio_req req;
	int r;

	if (l->sharing) {
		link_req(l, &req);
		if (l->suspect) {
			(void)share_probe(&l->sw);
			l->suspect = 0;
		}
		/* The master's blocking steps are bounded by ConnectTimeout. */
		r = share_ensure(&l->sw, &l->reconnect_ssh, &req, err, errlen);
		if (r <= 0)
			return r;
		if (l->o.ssh.verbose > 0)
			fprintf(stderr, "codex-connect: %s; connecting directly\n", err);
		l->sharing = 0;
	}
	return link_connect_direct(l, o, err, errlen);
}

/* A connection of the link's own. 0, or an SSHCONN_ERR_* code with err. */
static int
link_connect_direct(struct link *l, const struct sshconn_opts *o, char *err,
    size_t errlen)
{
	int r;

	if ((r = sshconn_open(o, &l->c, err, errlen)) != 0)
		return r;
	ssh_set_blocking(sshconn_session(l->c), 0);
	ssh_event_add_session(l->ev, sshconn_session(l->c));
	return 0;
}

static void
try_reconnect(struct link *l)
{
	struct stream *s;
	char err[600] = "";
	int r, n = 0;
	int64_t now;

	l->attempts++;
	r = link_connect(l, &l->reconnect_ssh, err, sizeof(err));
	if (r != 0) {
		if (r == SSHCONN_ERR_HOSTKEY || r == SSHCONN_ERR_AUTH ||
		    r == SSHCONN_ERR_ARG) {
			/* Retrying cannot fix these: say so and stop. */
			snprintf(l->reason, sizeof(l->reason), "%s", err);
			l->failed = 1;
			for (s = l->streams; s != NULL; s = s->next)
				stream_end(s, FRAME_CODE_INTERNAL, err);
			return;
		}
		now = now_ms();
		if (now - l->down_since_ms >= (int64_t)l->o.give_up_ms) {
			snprintf(l->reason, sizeof(l->reason), "gave up reconnecting to "
			    "%s after %.1f s: %s", l->target,
			    (double)(now - l->down_since_ms) / 1000.0, err);
			l->failed = 1;
			for (s = l->streams; s != NULL; s = s->next)
				stream_end(s, FRAME_CODE_INTERNAL, l->reason);
			return;
		}
		/* The last attempt is made when the time is up, not after it. */
		l->next_try_ms = now + backoff_ms(l->attempts, now - l->down_since_ms);
		if (l->next_try_ms > l->down_since_ms + l->o.give_up_ms)
			l->next_try_ms = l->down_since_ms + l->o.give_up_ms;
		status(l, "reconnect attempt %d failed: %s; next in %.1f s", l->attempts,
		    err, (double)(l->next_try_ms - now) / 1000.0);
		return;
	}
	l->up = 1;
	for (s = l->streams; s != NULL; s = s->next) {
		if (s->dead)
			continue;
		r = stream_attach(s, err, sizeof(err));
		if (l->sharing && r == SSHCONN_ERR_PROTOCOL)
			r = ATTACH_NO_MASTER;  /* its connection failed: a new one */
		if (r == ATTACH_NO_MASTER) {
			/* The master went away again: the next attempt starts one. */
			l->up = 0;
			for (s = l->streams; s != NULL; s = s->next)
				stream_drop_channel(s);
			now = now_ms();
			l->next_try_ms = now + backoff_ms(l->attempts,
			    now - l->down_since_ms);
			status(l, "reconnect attempt %d failed: %s", l->attempts, err);
			return;
		}
		if (r != 0)
			stream_end(s, FRAME_CODE_INTERNAL, err);
		else
			n++;
	}
	status(l, "reconnected to %s after %.1f s; resuming %d session%s", l->target,
	    (double)(now_ms() - l->down_since_ms) / 1000.0, n, n == 1 ? "" : "s");
}

struct link *
link_open(const struct link_opts *o, char *err, size_t errlen)
{
	struct link *l = calloc(1, sizeof(*l));
	char why[600];
	int r;

	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->o = *o;
	if (l->o.subsystem == NULL)
		l->o.subsystem = "codex";
	if (l->o.ping_interval_ms <= 0)
		l->o.ping_interval_ms = 5000;
	if (l->o.dead_after_ms <= 0)
		l->o.dead_after_ms = 15000;
	if (l->o.give_up_ms <= 0)
		l->o.give_up_ms = 300000;
	if (l->o.version == NULL)
		l->o.version = "";
	snprintf(l->target, sizeof(l->target), "%s", o->ssh.host);
	l->reconnect_ssh = l->o.ssh;
	{
		size_t i, n = l->o.ssh.noptions < 64 ? l->o.ssh.noptions : 64;

		for (i = 0; i < n; i++)
			l->reconnect_options[i] = l->o.ssh.options[i];
		l->reconnect_options[n++] = "ConnectTimeout=10";
		l->reconnect_ssh.options = l->reconnect_options;
		l->reconnect_ssh.noptions = n;
	}
	l->ev = ssh_event_new();
	if (l->ev == NULL) {
		snprintf(err, errlen, "out of memory");
		free(l);
		return NULL;
	}
	if (!o->no_share) {
		r = share_where(&l->o.ssh, l->o.version, &l->sw, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "%s", why);
			ssh_event_free(l->ev);
			free(l);
			return NULL;
		}
		l->sharing = r;
		if (r == 0 && (o->ssh.verbose > 0 || l->sw.unsafe))
			fprintf(stderr, "codex-connect: %s%s\n", why, l->sw.unsafe ?
			    "; not sharing the connection" : "");
	}
	if (link_connect(l, &l->o.ssh, err, errlen) != 0) {
		ssh_event_free(l->ev);
		free(l);
		return NULL;
	}
	l->up = 1;
	return l;
}

static void
stream_free(struct stream *s)
{
	stream_drop_channel(s);
	free(s->pre);
	tunnel_free(s->t);
	jsonl_free(s->lines);
	buf_free(s->out);
	free(s);
}

void
link_free(struct link *l)
{
	struct stream *s;

	if (l == NULL)
		return;
	while ((s = l->streams) != NULL) {
		l->streams = s->next;
		stream_free(s);
	}
	if (l->ev != NULL && l->c != NULL)
		ssh_event_remove_session(l->ev, sshconn_session(l->c));
	sshconn_close(l->c);
	if (l->ev != NULL)
		ssh_event_free(l->ev);
	free(l);
}

struct stream *
link_stream(struct link *l, const struct stream_ops *ops, void *ctx, char *err,
    size_t errlen)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct tunnel_opts to;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->l = l;
	s->ops = ops;
	s->ctx = ctx;
	s->out = buf_new(OUT_MAX);
	if (l->o.plain) {
		s->lines = jsonl_new(FRAME_DEFAULT_MAX_MESSAGE);
	} else {
		memset(&to, 0, sizeof(to));
		to.features = l->o.compress ? FRAME_FEAT_ZLIB : 0;
		to.backend = l->o.backend;
		to.journal.mem_max = 64u << 20;
		s->t = tunnel_new(&to);
	}
	if (s->out == NULL || (l->o.plain ? s->lines == NULL : s->t == NULL)) {
		snprintf(err, errlen, "out of memory");
		stream_free(s);
		return NULL;
	}
	s->next = l->streams;
	l->streams = s;
	if (l->up) {
		int r = stream_attach(s, err, errlen);

		if (r == ATTACH_NO_MASTER) {
			/* The master went away: reconnect, and attach then. */
			link_down(l, err);
		} else if (r != 0) {
			l->streams = s->next;
			stream_free(s);
			return NULL;
		}
	}
	return s;
}

int
stream_send(struct stream *s, const void *msg, size_t len)
{
	if (s->dead)
		return -1;
	if (s->t != NULL)
		return tunnel_send(s->t, msg, len) == 0 ? 0 : -1;
	if (buf_put(s->out, msg, len) != 0 || buf_put(s->out, "\n", 1) != 0)
		return -1;
	return 0;
}

int
stream_full(const struct stream *s)
{
	if (s->dead)
		return 0;
	/* Framed: what the server has not acknowledged fills the journal. Plain:
	 * what the channel has not taken fills the output buffer. */
	return s->t != NULL ? tunnel_full(s->t) : buf_len(s->out) >= OUT_HIGH;
}

void
stream_close(struct stream *s)
{
	if (s->dead || s->closing)
		return;
	/*
	 * Framed: CLOSE goes once every queued message is on the wire (after the
	 * handshake, and after a resume if the link is down now); the server then
	 * gives the backend EOF, delivers what it still says, and answers CLOSE.
	 * Plain: EOF does the same. Either way nothing the backend says is lost.
	 */
	s->closing = s->t != NULL ? 1 : 2;
}

void
stream_orphan(struct stream *s)
{
	stream_close(s);
	s->ops = NULL;
}

void
stream_abandon(struct stream *s)
{
	s->ops = NULL;
	stream_end(s, FRAME_CODE_NORMAL, "abandoned");
}

int
link_pollfds(struct link *l, struct pollfd *pf, int max)
{
	struct stream *s;
	int n = 0;

	if (!l->up)
		return 0;
	if (l->sharing) {
		for (s = l->streams; s != NULL && n < max; s = s->next) {
			if (s->sc == NULL)
				continue;
			pf[n].fd = share_chan_fd(s->sc);
			pf[n].events = share_chan_events(s->sc);
			pf[n++].revents = 0;
		}
		return n;
	}
	if (l->c == NULL || max < 1)
		return 0;
	pf->fd = sshconn_fd(l->c);
	pf->events = POLLIN;
	if (ssh_get_poll_flags(sshconn_session(l->c)) & SSH_WRITE_PENDING)
		pf->events |= POLLOUT;
	pf->revents = 0;
	return 1;
}

int
link_npollfds(const struct link *l)
{
	return l->sharing ? link_nstreams(l) : 1;
}

int
link_timeout_ms(struct link *l)
{
	int64_t now = now_ms(), t = l->o.ping_interval_ms;
	struct stream *s;

	if (l->failed)
		return 1000;
	if (!l->up)
		return (int)(l->next_try_ms > now ? l->next_try_ms - now : 0);
	for (s = l->streams; s != NULL; s = s->next) {
		if (s->dead)
			return 0;
		/* Data already read off the socket (libssh buffered it during a
		 * blocking channel open): the socket will not wake us for it. */
		if ((s->ch != NULL || s->prelen > 0) && (s->ops == NULL ||
		    s->ops->room == NULL || s->ops->room(s->ctx) > 0) &&
		    (s->prelen > 0 || ssh_channel_poll(s->ch, 0) > 0))
			return 0;
		if (s->t != NULL) {
			int64_t d = s->last_ping_ms + l->o.ping_interval_ms - now;

			if (d < t)
				t = d;
			if (s->ack_due_ms != 0 && s->ack_due_ms - now < t)
				t = s->ack_due_ms - now;
		}
		if (buf_len(s->out) > 0 && t > 50)
			t = 50;  /* the SSH window may reopen without the fd waking us */
	}
	return t < 0 ? 0 : (int)t;
}

/*
 * After the channel's EOF: did the remote program end on its own with something to
 * say? True when it wrote to stderr (codex-subsystem's fatal errors: bad config,
 * runtime directory refused, …), or when a framed session closed before WELCOME
 * while the SSH connection itself is fine (for a resume, twice in a row). Fills
 * why for the user.
 */
static int
stream_server_said(struct stream *s, char *why, size_t whylen)
{
	char err[512];
	int n, k = 0;

	if (s->sc != NULL)
		k = snprintf(err, sizeof(err), "%s", share_chan_stderr(s->sc));
	else
		while (k < (int)sizeof(err) - 1 &&
		    (n = ssh_channel_read_nonblocking(s->ch, err + k,
		    (uint32_t)(sizeof(err) - 1 - (size_t)k), 1)) > 0)
			k += n;
	if (k >= (int)sizeof(err))
		k = (int)sizeof(err) - 1;
	err[k > 0 ? k : 0] = '\0';
	while (k > 0 && (err[k - 1] == '\n' || err[k - 1] == '\r'))
		err[--k] = '\0';
	if (k > 0) {
		snprintf(why, whylen, "the server ended the session: %s", err);
		return 1;
	}
	if (s->t != NULL && !tunnel_welcomed(s->t) && (s->sc != NULL ||
	    ssh_is_connected(sshconn_session(s->l->c)))) {
		/* A resume gets one more try: its channel may have been a
		 * connection master's spare whose codex-subsystem died with the
		 * session's (pkill codex-subsystem). Twice in a row is an answer. */
		if (tunnel_has_session(s->t) && s->silent++ == 0)
			return 0;
		if (s->sc != NULL)
			snprintf(err, sizeof(err), "%s", share_chan_exit_note(s->sc));
		else
			chanio_exit_note(sshconn_session(s->l->c), s->ch, err,
			    sizeof(err));
		snprintf(why, whylen, "the server closed the %s channel before "
		    "answering%s (see ~/.codex/ssh/log/subsystem.log on %s)",
		    s->l->o.subsystem, err, s->l->target);
		return 1;
	}
	return 0;
}

/* Handles everything the remote sent on one stream; -1 when the link broke. */
static int
stream_pump_in(struct stream *s, int64_t now)
{
	struct tunnel_event ev;
	uint8_t buf[READ_CHUNK];
	const char *line;
	size_t len, want;
	int n, r, eof = 0;

	for (;;) {
		if (s->dead || (s->ch == NULL && s->sc == NULL))
			return 0;
		want = sizeof(buf);
		if (s->ops != NULL && s->ops->room != NULL) {
			size_t room = s->ops->room(s->ctx);

			if (room == 0)
				return 0;
			if (room < want)
				want = room < 4096 ? 4096 : room;
		}
		if (s->prelen > 0) {
			/* What the bootstrap read past its last answer comes first. */
			n = (int)(s->prelen < want ? s->prelen : want);
			memcpy(buf, s->pre, (size_t)n);
			memmove(s->pre, s->pre + n, s->prelen - (size_t)n);
			s->prelen -= (size_t)n;
		} else if (s->sc != NULL)
			n = share_chan_read(s->sc, buf, want);
		else
			n = ssh_channel_read_nonblocking(s->ch, buf, (uint32_t)want, 0);
		/* SSH_EOF (-127) once the remote's EOF was read: handled below. */
		if (s->sc != NULL && n == SHARE_EOF)
			eof = 1, n = 0;
		if (s->sc == NULL && (n == SSH_EOF || n == SSH_AGAIN))
			n = 0;
		if (n < 0)
			return -1;
		if (n == 0) {
			if (s->sc == NULL)
				eof = ssh_channel_is_eof(s->ch) ||
				    ssh_channel_is_closed(s->ch);
			if (eof) {
				char why[700];

				if (stream_server_said(s, why, sizeof(why))) {
					/* The remote program failed before (or instead of)
					 * the protocol: reconnecting would only repeat it. */
					stream_end(s, FRAME_CODE_INTERNAL, why);
					return 0;
				}
				if (s->t == NULL) {
					stream_end(s, FRAME_CODE_NORMAL, "session ended");
					return 0;
				}
				/* The server went away without CLOSE: resume may tell why. */
				return -1;
			}
			return 0;
		}
		s->last_rx_ms = now;
		if (s->t == NULL) {
			if (jsonl_feed(s->lines, buf, (size_t)n) != 0)
				return -1;
			while ((r = jsonl_next(s->lines, &line, &len)) != 0) {
				if (r < 0)
					continue;
				/* The app server sends JSON objects only; anything else
				 * is a login shell's chatter (the app-server fallback). */
				if (line[0] != '{' && line[0] != ' ' && line[0] != '\t') {
					if (s->l->o.ssh.verbose > 0)
						fprintf(stderr, "codex-connect: %s: %.*s\n",
						    s->l->target, (int)(len > 300 ? 300 : len), line);
					continue;
				}
				if (s->ops != NULL)
					s->ops->message(s->ctx, (const uint8_t *)line, len);
			}
			continue;
		}
		if (tunnel_feed(s->t, buf, (size_t)n) != 0) {
			stream_end(s, FRAME_CODE_PROTOCOL, "the server did not answer in "
			    "framed mode (is codex-subsystem installed there?)");
			return 0;
		}
		while ((r = tunnel_next(s->t, s->out, &ev)) == 1) {
			switch (ev.type) {
			case TUNNEL_EV_WELCOME:
				s->silent = 0;
				if (ev.attached[0] != '\0' && !s->l->told_attached) {
					status(s->l, "%s: %s", s->l->target, ev.attached);
					s->l->told_attached = 1;
				}
				break;
			case TUNNEL_EV_MESSAGE:
				if (s->ack_due_ms == 0)
					s->ack_due_ms = now + 100;
				if (s->ops != NULL)
					s->ops->message(s->ctx, ev.msg, ev.len);
				break;
			case TUNNEL_EV_CLOSE:
			case TUNNEL_EV_ERROR:
				stream_end(s, ev.code, ev.reason);
				return 0;
			default:
				break;
			}
			if (s->dead)
				return 0;
		}
		if (r < 0) {
			stream_end(s, ev.code, ev.reason);
			return 0;
		}
	}
}

static int
stream_pump_out(struct stream *s, int64_t now)
{
	int n;

	if (s->ch == NULL && s->sc == NULL)
		return 0;
	if (s->t != NULL) {
		if (now - s->last_ping_ms >= s->l->o.ping_interval_ms &&
		    tunnel_welcomed(s->t)) {
			PROTO_IGNORE(tunnel_ping(s->t, s->out, (uint64_t)now));
			s->last_ping_ms = now;
		}
		PROTO_IGNORE(tunnel_flush(s->t, s->out, OUT_HIGH));
		if (tunnel_ack_owed(s->t) == 0)
			s->ack_due_ms = 0;
		else if (s->ack_due_ms != 0 && now >= s->ack_due_ms) {
			PROTO_IGNORE(tunnel_ack(s->t, s->out));
			s->ack_due_ms = 0;
		}
	}
	while (buf_len(s->out) > 0 && s->sc != NULL) {
		size_t len = buf_len(s->out), room = share_chan_room(s->sc);

		if (room == 0)
			break;
		n = share_chan_write(s->sc, buf_ptr(s->out), len < room ? len : room);
		if (n <= 0)
			break;
		buf_consume(s->out, (size_t)n);
	}
	if (s->sc != NULL && share_chan_flush(s->sc) < 0)
		return -1;
	while (buf_len(s->out) > 0 && s->ch != NULL) {
		size_t len = buf_len(s->out);
		uint32_t win = ssh_channel_window_size(s->ch);

		if (win == 0)
			break;
		if (len > win)
			len = win;
		if (len > 32768)
			len = 32768;
		n = ssh_channel_write(s->ch, buf_ptr(s->out), (uint32_t)len);
		if (n == SSH_ERROR)
			return -1;
		if (n <= 0)
			break;
		buf_consume(s->out, (size_t)n);
	}
	if (s->closing == 1 && tunnel_welcomed(s->t) && tunnel_sent_all(s->t)) {
		PROTO_IGNORE(tunnel_close(s->t, s->out));
		s->closing = 3;
		return stream_pump_out(s, now);
	}
	if (s->closing == 2 && buf_len(s->out) == 0) {
		if (s->sc != NULL)
			share_chan_send_eof(s->sc);
		else
			ssh_channel_send_eof(s->ch);
		s->closing = 3;
	}
	return 0;
}

void
link_run(struct link *l, const struct pollfd *pf, int npf)
{
	struct stream *s, **sp;
	int64_t now = now_ms();
	int broken = 0;
	const char *why = "connection lost";

	if (l->failed)
		goto sweep;
	if (!l->up) {
		if (now >= l->next_try_ms)
			try_reconnect(l);
		if (!l->up)
			goto sweep;
	}
	if (!l->sharing) {
		if (pf != NULL && npf > 0 && pf->revents != 0)
			ssh_event_dopoll(l->ev, 0);
		if (!ssh_is_connected(sshconn_session(l->c))) {
			link_down(l, "the SSH connection closed");
			goto sweep;
		}
	}
	for (s = l->streams; s != NULL && !broken; s = s->next) {
		if (s->dead)
			continue;
		if (stream_pump_in(s, now) < 0) {
			broken = 1;
			why = l->sharing ? "the connection master went away" :
			    ssh_get_error(sshconn_session(l->c));
			if (why == NULL || *why == '\0')
				why = "the channel closed";
			break;
		}
		if (s->t != NULL && now - s->last_rx_ms > l->o.dead_after_ms) {
			broken = 1;
			why = "no answer from the server";
			l->suspect = 1;
			break;
		}
		if (!s->dead && stream_pump_out(s, now) < 0) {
			broken = 1;
			why = "write failed";
		}
	}
	if (broken) {
		char w[300];

		snprintf(w, sizeof(w), "%s", why);
		link_down(l, w);
	} else if (!l->sharing && (ssh_get_poll_flags(sshconn_session(l->c)) &
	    SSH_WRITE_PENDING))
		ssh_event_dopoll(l->ev, 0);
sweep:
	sp = &l->streams;
	while ((s = *sp) != NULL) {
		if (!s->dead) {
			sp = &s->next;
			continue;
		}
		*sp = s->next;
		if (s->ops != NULL && s->ops->ended != NULL)
			s->ops->ended(s->ctx, s->end_code, s->end_reason);
		stream_free(s);
	}
}

void
link_touch(struct link *l)
{
	struct stream *s;
	int64_t now = now_ms();

	for (s = l->streams; s != NULL; s = s->next)
		s->last_rx_ms = now;
}

int
link_failed(const struct link *l, const char **reason)
{
	if (reason != NULL)
		*reason = l->reason;
	return l->failed;
}

int
link_nstreams(const struct link *l)
{
	const struct stream *s;
	int n = 0;

	for (s = l->streams; s != NULL; s = s->next)
		n++;
	return n;
}

const char *
link_target(const struct link *l)
{
	return l->target;
}
