/*
 * share.c - the shared connection: where its socket is, starting the master,
 * the master's loop, and a channel through it as the link sees it.
 *
 * The master is single-threaded: one poll() over its listening socket, the SSH
 * connection and one socket per channel. Opening a channel (and the bootstrap
 * behind it) is done in blocking mode, as the link does it; relaying is not:
 * the master reads a channel only while the client's queue has room and a
 * client only while the channel's queue has room, so a slow reader closes the
 * SSH window and the remote journal absorbs the rest.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>	/* ssh_send_keepalive(), a client call too */
#include <sodium.h>

#include "client/share.h"
#include "client/transport.h"
#include "proto/buf.h"
#include "proto/mux.h"

#define TX_MAX (1024 * 1024)       /* queued for a client or a channel */
#define TX_HIGH (256 * 1024)       /* stop reading the other side above this */
#define OPEN_WAIT_MS (10 * 60 * 1000) /* an upload on a slow link */
#define FIRST_WAIT_MS 10000        /* for the first client, whatever persists */
#define PROBE_MS 3000              /* a live server answers a keepalive by then */
#define SPARE_MS 10000             /* a spare channel is used this long, then closed */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- where ---------------------------------------------------------------- */

int
share_private_dir(const char *dir, int create, char *err, size_t errlen)
{
	struct stat st;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s must be a directory owned by you with mode "
		    "0700 (it is %s, uid %lu, mode %03o)", dir, S_ISDIR(st.st_mode) ?
		    "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link" :
		    "not a directory", (unsigned long)st.st_uid,
		    (unsigned)(st.st_mode & 0777));
		errno = EPERM;
		return -1;
	}
	return 0;
}

void
share_default_dir(char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat sb;

	if (xdg != NULL && xdg[0] == '/' && stat(xdg, &sb) == 0 &&
	    S_ISDIR(sb.st_mode) && sb.st_uid == getuid() &&
	    strlen(xdg) + 40 < len)
		snprintf(out, len, "%s/codex-connect", xdg);
	else
		snprintf(out, len, "/tmp/codex-connect-%lu", (unsigned long)getuid());
}

int
share_where(const struct sshconn_opts *o, const char *version,
    struct share_where *w, char *err, size_t errlen)
{
	struct sshconn_dest d;
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	char dir[sizeof(w->path)], *slash;
	size_t i;
	int rc;

	memset(w, 0, sizeof(*w));
	if ((rc = sshconn_resolve_dest(o, &d, err, errlen)) != 0)
		return rc;
	if (strcmp(d.path, "none") == 0) {
		snprintf(err, errlen, "ControlPath none: not sharing the connection");
		return 0;
	}
	/* The key: the destination and our version (a master of another
	 * version would bootstrap another codex-subsystem). */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)d.key, strlen(d.key) + 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)version, strlen(version) + 1);
	crypto_hash_sha256_final(&st, h);
	for (i = 0; i < 8; i++)
		snprintf(w->key + 2 * i, 3, "%02x", h[i]);
	w->may_start = d.master;
	w->persist_s = d.persist;
	if (d.path[0] != '\0') {
		if (strlen(d.path) + 4 >= sizeof(w->path)) {
			snprintf(err, errlen, "ControlPath %s is too long for a unix "
			    "socket: not sharing the connection", d.path);
			return 0;
		}
		snprintf(w->path, sizeof(w->path), "%s.cxs", d.path);
		snprintf(dir, sizeof(dir), "%s", w->path);
		if ((slash = strrchr(dir, '/')) == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == dir)
			dir[1] = '\0';
		else
			*slash = '\0';
		if (share_private_dir(dir, 0, err, errlen) != 0) {
			w->unsafe = errno != ENOENT;
			return 0;
		}
		return 1;
	}
	share_default_dir(dir, sizeof(dir));
	if (share_private_dir(dir, 1, err, errlen) != 0) {
		w->unsafe = 1;
		return 0;
	}
	snprintf(w->path, sizeof(w->path), "%s/cm-%s.sock", dir, w->key);
	return 1;
}

/* ---- connecting ----------------------------------------------------------- */

/* Connects to the socket at path, checking that a process of ours listens.
 * The descriptor, or -1 with errno (ENOENT, ECONNREFUSED: no master; EPERM:
 * someone else's). */
static int
sock_connect(const char *path)
{
	struct sockaddr_un sun;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
	    cred.uid != getuid()) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Writes all of p to a blocking socket (sock) or pipe; 0 or -1. */
static int
write_all(int fd, const uint8_t *p, size_t n, int sock)
{
	ssize_t w;

	while (n > 0) {
		w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Sends what b holds as far as the non-blocking socket fd takes it: 0, or
 * -1 when the peer is gone. */
static int
send_queued(int fd, struct buf *b)
{
	ssize_t n;

	while (buf_len(b) > 0) {
		n = send(fd, buf_ptr(b), buf_len(b), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		buf_consume(b, (size_t)n);
	}
	return 0;
}

/* Reads the next message of a blocking socket into d and m, waiting at most
 * ms. 1, 0 at EOF, -1 on error or timeout (errno ETIMEDOUT). */
static int
read_msg(int fd, struct mux_dec *d, struct mux_msg *m, int ms)
{
	uint8_t b[4096];
	int64_t end = now_ms() + ms;
	struct pollfd pf;
	ssize_t n;
	int r;

	for (;;) {
		if ((r = mux_next(d, m)) != 0)
			return r > 0 ? 1 : (errno = EPROTO, -1);
		pf.fd = fd;
		pf.events = POLLIN;
		r = poll(&pf, 1, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = read(fd, b, mux_room(d) < sizeof(b) ? mux_room(d) : sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (mux_feed(d, b, (size_t)n) != 0)
			return -1;
	}
}

/* ---- the master ------------------------------------------------------------ */

struct mconn {
	struct mconn *next;
	size_t pfi;                /* its pollfd this round; 0: accepted since */
	int fd;
	int errfd;                 /* the client's stderr, during OPEN */
	struct mux_dec *dec;
	struct buf *tx;            /* messages for the client */
	struct buf *to_ch;         /* data for the channel */
	ssh_channel ch;
	int opened;
	int in_eof;                /* the client sent EOF */
	int ch_eof_sent;
	int ended;                 /* EOF sent to the client: close once flushed */
	int quitter;               /* asked us to exit: closed when we are gone */
	int prober;                /* waits for a sign of life from the server */
	int drop_early;            /* plain channel: drop the early handshake */
	int dead;
	char errtail[512];
	size_t errlen;
};

struct master {
	struct sshconn *c;
	ssh_event ev;
	int lfd;
	struct share_where w;
	const char *host;
	struct chanio_req req;     /* version, build dirs */
	int bootstrap;
	struct mconn *conns;
	int nconns;
	int64_t idle_since;
	int64_t last_rx;
	int64_t last_probe;
	int64_t probe_since;       /* a client asked: is the connection alive? */
	int alive_ms;              /* probe after this much silence */
	int dead_ms;               /* and give up after this much */
	int64_t started;
	unsigned long opened_total;
	int quit;
	dev_t sock_dev;
	ino_t sock_ino;
	/* A channel opened ahead, its subsystem started and waiting, for the
	 * next client: a connect then costs no round trip to sshd and no
	 * program start there. Only with the registered subsystem, and closed
	 * after SPARE_MS, so that a session never starts on a subsystem
	 * (binary, config) much older than its connect. */
	ssh_channel spare;
	char spare_name[65];
	int64_t spare_at;
	int want_spare;
};

static void
spare_drop(struct master *ms)
{
	if (ms->spare != NULL) {
		ssh_channel_close(ms->spare);
		ssh_channel_free(ms->spare);
		ms->spare = NULL;
	}
}

/* The spare, if it fits name and is still fresh and untouched; else NULL. */
static ssh_channel
spare_take(struct master *ms, const char *name)
{
	ssh_channel ch = ms->spare;

	if (ch == NULL)
		return NULL;
	ms->spare = NULL;
	if (ms->bootstrap || strcmp(ms->spare_name, name) != 0 ||
	    now_ms() - ms->spare_at >= SPARE_MS || ssh_channel_is_eof(ch) ||
	    ssh_channel_is_closed(ch) || ssh_channel_poll(ch, 0) != 0 ||
	    ssh_channel_poll(ch, 1) != 0) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
		return NULL;
	}
	return ch;
}

static void
spare_open(struct master *ms)
{
	char err[300];
	int was = ssh_is_blocking(sshconn_session(ms->c));

	ms->want_spare = 0;
	if (ms->spare != NULL || ms->bootstrap)
		return;
	ssh_set_blocking(sshconn_session(ms->c), 1);
	if (sshconn_open_channel(ms->c, ms->spare_name, &ms->spare, err,
	    sizeof(err)) != 0)
		ms->spare = NULL;	/* MaxSessions, say: no spare then */
	else
		ms->spare_at = now_ms();
	ssh_set_blocking(sshconn_session(ms->c), was);
}

static volatile sig_atomic_t master_stop;

static void
master_signal(int sig)
{
	(void)sig;
	master_stop = 1;
}

static void
mconn_free(struct mconn *m)
{
	if (m->ch != NULL) {
		ssh_channel_close(m->ch);
		ssh_channel_free(m->ch);
	}
	if (m->errfd >= 0)
		close(m->errfd);
	if (m->fd >= 0)
		close(m->fd);
	mux_dec_free(m->dec);
	buf_free(m->tx);
	buf_free(m->to_ch);
	free(m);
}

static void
say(struct mconn *m, int type, const char *text)
{
	size_t n = strlen(text);

	if (n > MUX_MAX_TEXT)
		n = MUX_MAX_TEXT;
	if (mux_put(m->tx, type, text, n) != 0)
		m->dead = 1;
}

/* OPEN: the channel, in blocking mode, with the client's stderr as ours. */
static void
master_open(struct master *ms, struct mconn *m, const struct mux_msg *msg)
{
	struct chanio_req r = ms->req;
	char name[65], err[900];
	uint8_t *pre = NULL, fl;
	size_t prelen = 0, off;
	int plain = 0, rc, saved = -1;

	if (msg->body[0] != SHARE_PROTO_VERSION) {
		snprintf(err, sizeof(err), "%cthe connection master speaks version %d, "
		    "not %d", 1, SHARE_PROTO_VERSION, msg->body[0]);
		say(m, MUX_FAIL, err);
		m->ended = 1;
		return;
	}
	fl = msg->body[1];
	snprintf(name, sizeof(name), "%.*s", (int)(msg->len - 2), msg->body + 2);
	r.subsystem = name;
	r.no_bootstrap = (fl & MUX_OPEN_NO_BOOTSTRAP) != 0;
	r.verbose = (fl & MUX_OPEN_VERBOSE) != 0;
	r.progress = !(fl & MUX_OPEN_QUIET) && m->errfd >= 0 && isatty(m->errfd);
	if (m->errfd >= 0) {
		fflush(stderr);
		saved = dup(2);
		dup2(m->errfd, 2);
	}
	if ((m->ch = spare_take(ms, name)) != NULL)
		rc = 0;
	else
		rc = chanio_open_session(ms->c, &r, &ms->bootstrap, &m->ch, &pre,
		    &prelen, &plain, err + 1, sizeof(err) - 1);
	ms->last_rx = now_ms();
	if (rc == 0 && !ms->bootstrap) {
		snprintf(ms->spare_name, sizeof(ms->spare_name), "%s", name);
		ms->want_spare = 1;
	}
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
	}
	if (m->errfd >= 0) {
		close(m->errfd);
		m->errfd = -1;
	}
	if (rc != 0) {
		m->ch = NULL;
		err[0] = (char)(uint8_t)-rc;
		say(m, MUX_FAIL, err);
		m->ended = 1;
		free(pre);
		/* The connection failed under us: make way for a new master. */
		if (rc == SSHCONN_ERR_PROTOCOL ||
		    !ssh_is_connected(sshconn_session(ms->c)))
			ms->quit = 1;
		return;
	}
	ms->opened_total++;
	m->drop_early = plain && (fl & MUX_OPEN_EARLY);
	fl = plain ? MUX_OPENED_PLAIN : 0;
	if (mux_put(m->tx, MUX_OPENED, &fl, 1) != 0)
		m->dead = 1;
	for (off = 0; off < prelen && !m->dead; ) {
		size_t n = prelen - off > MUX_MAX_BODY ? MUX_MAX_BODY : prelen - off;

		if (mux_put(m->tx, MUX_DATA, pre + off, n) != 0)
			m->dead = 1;
		off += n;
	}
	free(pre);
	m->opened = 1;
}

static void
master_info(struct master *ms, char *out, size_t len)
{
	char persist[32];

	if (ms->w.persist_s < 0)
		snprintf(persist, sizeof(persist), "for ever");
	else
		snprintf(persist, sizeof(persist), "%d s", ms->w.persist_s);
	/* The CHECK connection itself is not a channel. */
	snprintf(out, len, "master running (pid %ld) for %s: %s@%s port %d, up "
	    "%lld s, %d channel%s open, %lu opened in all, persists %s after the "
	    "last", (long)getpid(), ms->host, sshconn_user(ms->c),
	    sshconn_host(ms->c), sshconn_port(ms->c),
	    (long long)((now_ms() - ms->started) / 1000), ms->nconns - 1,
	    ms->nconns - 1 == 1 ? "" : "s", ms->opened_total, persist);
}

/* What the client sent; -1 when it went away or broke the protocol. */
static int
mconn_read(struct master *ms, struct mconn *m)
{
	uint8_t b[MUX_MAX_BODY + MUX_HDR];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *c;
	struct mux_msg msg;
	char info[400];
	ssize_t n;
	size_t want;
	int r;

	for (;;) {
		if (m->ended || m->dead)
			return 0;
		if (m->opened && buf_len(m->to_ch) >= TX_HIGH)
			return 0;
		want = mux_room(m->dec);
		if (want > sizeof(b))
			want = sizeof(b);
		if (want == 0)
			return -1;
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = b;
		iov.iov_len = want;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		n = recvmsg(m->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len == CMSG_LEN(sizeof(int))) {
				int fd;

				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
				if (m->errfd >= 0 || m->opened)
					close(fd);
				else
					m->errfd = fd;
			}
		if (mux_feed(m->dec, b, (size_t)n) != 0)
			return -1;
		while ((r = mux_next(m->dec, &msg)) == 1) {
			if (!m->opened) {
				switch (msg.type) {
				case MUX_OPEN:
					master_open(ms, m, &msg);
					break;
				case MUX_CHECK:
					master_info(ms, info, sizeof(info));
					say(m, MUX_INFO, info);
					m->ended = 1;
					break;
				case MUX_PROBE:
					/* Answered once the server says anything. */
					m->prober = 1;
					if (ms->probe_since == 0) {
						ms->probe_since = now_ms();
						(void)ssh_send_keepalive(
						    sshconn_session(ms->c));
					}
					break;
				case MUX_QUIT:
					say(m, MUX_INFO, "exiting");
					m->ended = 1;
					m->quitter = 1;
					ms->quit = 1;
					break;
				default:
					return -1;
				}
				if (!m->opened)
					return 0;
				continue;
			}
			if (msg.type == MUX_DATA && m->drop_early)
				m->drop_early = 0;
			else if (msg.type == MUX_DATA && !m->in_eof) {
				if (buf_put(m->to_ch, msg.body, msg.len) != 0)
					return -1;
			} else if (msg.type == MUX_EOF)
				m->in_eof = 1;
			else
				return -1;
		}
		if (r < 0)
			return -1;
	}
}

/* Moves bytes between the channel and the client's queues. */
static void
mconn_pump(struct mconn *m)
{
	uint8_t b[MUX_MAX_BODY];
	char note[300];
	int n;

	if (!m->opened || m->ended || m->dead)
		return;
	while (buf_len(m->to_ch) > 0) {
		uint32_t win = ssh_channel_window_size(m->ch);
		size_t len = buf_len(m->to_ch);

		if (win == 0)
			break;
		if (len > win)
			len = win;
		if (len > 32768)
			len = 32768;
		n = ssh_channel_write(m->ch, buf_ptr(m->to_ch), (uint32_t)len);
		if (n <= 0)
			break;
		buf_consume(m->to_ch, (size_t)n);
	}
	if (m->in_eof && !m->ch_eof_sent && buf_len(m->to_ch) == 0) {
		ssh_channel_send_eof(m->ch);
		m->ch_eof_sent = 1;
	}
	while (buf_len(m->tx) < TX_HIGH) {
		n = ssh_channel_read_nonblocking(m->ch, b, sizeof(b), 0);
		if (n <= 0)
			break;
		if (mux_put(m->tx, MUX_DATA, b, (size_t)n) != 0) {
			m->dead = 1;
			return;
		}
	}
	while (m->errlen < sizeof(m->errtail) - 1 &&
	    (n = ssh_channel_read_nonblocking(m->ch, m->errtail + m->errlen,
	    (uint32_t)(sizeof(m->errtail) - 1 - m->errlen), 1)) > 0)
		m->errlen += (size_t)n;
	/* libssh calls every channel closed once the connection is dead: that is
	 * no EOF from the remote, and a plain-mode client would take it for the
	 * session's normal end. The master goes away instead, and they know. */
	if ((ssh_channel_is_eof(m->ch) || (ssh_channel_is_closed(m->ch) &&
	    ssh_is_connected(ssh_channel_get_session(m->ch)))) &&
	    ssh_channel_poll(m->ch, 0) <= 0 && buf_len(m->tx) < TX_HIGH) {
		/* Everything read: say what the remote program left behind. */
		if (m->errlen > 0)
			say(m, MUX_STDERR, m->errtail);
		note[0] = '\0';
		if (!ssh_channel_is_closed(m->ch))
			chanio_exit_note(ssh_channel_get_session(m->ch), m->ch, note,
			    sizeof(note));
		if (note[0] != '\0')
			say(m, MUX_EXIT, note);
		if (mux_put(m->tx, MUX_EOF, NULL, 0) != 0)
			m->dead = 1;
		m->ended = 1;
	}
}

static int
mconn_flush(struct mconn *m)
{
	return send_queued(m->fd, m->tx);
}

static void
master_accept(struct master *ms)
{
	struct ucred cred;
	socklen_t cl;
	struct mconn *m;
	int fd;

	while ((fd = accept4(ms->lfd, NULL, NULL, SOCK_CLOEXEC |
	    SOCK_NONBLOCK)) >= 0) {
		cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
		    cred.uid != getuid()) {
			close(fd);
			continue;
		}
		if ((m = calloc(1, sizeof(*m))) == NULL ||
		    (m->dec = mux_dec_new()) == NULL ||
		    (m->tx = buf_new(TX_MAX)) == NULL ||
		    (m->to_ch = buf_new(TX_MAX)) == NULL) {
			if (m != NULL) {
				mux_dec_free(m->dec);
				buf_free(m->tx);
				free(m);
			}
			close(fd);
			continue;
		}
		m->fd = fd;
		m->errfd = -1;
		m->next = ms->conns;
		ms->conns = m;
		ms->nconns++;
	}
}

/* Removes our socket if it is still ours (a new master may have replaced it). */
static void
master_unlink(struct master *ms)
{
	struct stat st;

	if (lstat(ms->w.path, &st) == 0 && st.st_dev == ms->sock_dev &&
	    st.st_ino == ms->sock_ino)
		(void)unlink(ms->w.path);
}

/*
 * Whether a channel has data libssh already read off the socket (during a
 * blocking open, say) that a client can take now: then poll() must not wait,
 * since the socket will not wake it for bytes already read.
 */
static int
master_buffered(struct master *ms)
{
	struct mconn *m;

	for (m = ms->conns; m != NULL; m = m->next)
		if (m->opened && !m->ended && !m->dead && m->ch != NULL &&
		    buf_len(m->tx) < TX_HIGH && (ssh_channel_poll(m->ch, 0) > 0 ||
		    ssh_channel_poll(m->ch, 1) > 0 || ssh_channel_is_eof(m->ch) ||
		    ssh_channel_is_closed(m->ch)))
			return 1;
	return 0;
}

static void
master_loop(struct master *ms)
{
	struct pollfd *pf = NULL;
	struct mconn *m, **mp;
	size_t cap = 0, n, i;
	int64_t now, t, persist;
	int timeout;

	ms->started = ms->last_rx = ms->last_probe = ms->idle_since = now_ms();
	ssh_set_blocking(sshconn_session(ms->c), 0);
	while (!master_stop && !ms->quit) {
		now = now_ms();
		/* The connection's liveness: after alive_ms of silence ask the
		 * server for a reply (keepalive@openssh.com); nothing for dead_ms
		 * and the connection is gone. */
		if (now - ms->last_rx >= ms->dead_ms)
			break;
		if (ms->probe_since != 0) {
			/* A client saw its session go silent: alive only if the
			 * server answers within PROBE_MS. */
			if (ms->last_rx >= ms->probe_since) {
				for (m = ms->conns; m != NULL; m = m->next)
					if (m->prober) {
						say(m, MUX_INFO, "alive");
						m->prober = 0;
						m->ended = 1;
					}
				ms->probe_since = 0;
			} else if (now - ms->probe_since >= PROBE_MS)
				break;
		}
		if (now - ms->last_rx >= ms->alive_ms &&
		    now - ms->last_probe >= ms->alive_ms / 2) {
			(void)ssh_send_keepalive(sshconn_session(ms->c));
			ms->last_probe = now;
		}
		/* The program that started us connects right after; give it
		 * time even with ControlPersist no. */
		persist = (int64_t)ms->w.persist_s * 1000;
		if (ms->opened_total == 0 && persist < FIRST_WAIT_MS)
			persist = FIRST_WAIT_MS;
		if (ms->nconns == 0 && ms->w.persist_s >= 0 &&
		    now - ms->idle_since >= persist)
			break;
		timeout = ms->alive_ms / 2;
		if (ms->probe_since != 0 && timeout > 100)
			timeout = 100;
		if (ms->spare != NULL && ms->spare_at + SPARE_MS - now < timeout)
			timeout = (int)(ms->spare_at + SPARE_MS - now > 0 ?
			    ms->spare_at + SPARE_MS - now : 0);
		if (ms->nconns == 0 && ms->w.persist_s >= 0) {
			t = ms->idle_since + persist - now;
			if (t < timeout)
				timeout = (int)(t < 0 ? 0 : t);
		}
		n = 2 + (size_t)ms->nconns;
		if (n > cap) {
			struct pollfd *np = realloc(pf, n * 2 * sizeof(*pf));

			if (np == NULL)
				break;
			pf = np;
			cap = n * 2;
		}
		pf[0] = (struct pollfd){ .fd = ms->lfd, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = sshconn_fd(ms->c), .events = POLLIN };
		if (ssh_get_poll_flags(sshconn_session(ms->c)) & SSH_WRITE_PENDING)
			pf[1].events |= POLLOUT;
		i = 2;
		for (m = ms->conns; m != NULL; m = m->next, i++) {
			m->pfi = i;
			pf[i] = (struct pollfd){ .fd = m->fd, .events = 0 };
			if (!m->ended && (!m->opened || buf_len(m->to_ch) < TX_HIGH))
				pf[i].events |= POLLIN;
			if (buf_len(m->tx) > 0)
				pf[i].events |= POLLOUT;
			if (m->opened && (buf_len(m->to_ch) > 0 ||
			    buf_len(m->tx) >= TX_HIGH) && timeout > 50)
				timeout = 50;  /* a window may reopen unseen */
		}
		if (master_buffered(ms))
			timeout = 0;
		if (poll(pf, i, timeout) < 0 && errno != EINTR)
			break;
		if (pf[1].revents & POLLIN)
			ms->last_rx = now_ms();
		if (pf[1].revents != 0)
			ssh_event_dopoll(ms->ev, 0);
		if (!ssh_is_connected(sshconn_session(ms->c)))
			break;
		if (pf[0].revents & POLLIN)
			master_accept(ms);
		/* Clients accepted just now are at the head of the list with no
		 * entry in this round's array: they are read on the next. */
		for (m = ms->conns; m != NULL; m = m->next) {
			if (m->pfi != 0 && (pf[m->pfi].revents &
			    (POLLIN | POLLHUP | POLLERR)) && mconn_read(ms, m) < 0)
				m->dead = 1;
			if (!m->dead)
				mconn_pump(m);
			if (!m->dead && mconn_flush(m) < 0)
				m->dead = 1;
		}
		if (ssh_get_poll_flags(sshconn_session(ms->c)) & SSH_WRITE_PENDING)
			ssh_event_dopoll(ms->ev, 0);
		if (ms->spare != NULL && now_ms() - ms->spare_at >= SPARE_MS)
			spare_drop(ms);
		else if (ms->want_spare)
			spare_open(ms);
		for (mp = &ms->conns; (m = *mp) != NULL; ) {
			if (m->dead || (m->ended && buf_len(m->tx) == 0 &&
			    !m->quitter)) {
				*mp = m->next;
				mconn_free(m);
				if (--ms->nconns == 0)
					ms->idle_since = now_ms();
				continue;
			}
			mp = &m->next;
		}
	}
	/* Stop taking clients first, so that they start a new master at once. */
	master_unlink(ms);
	spare_drop(ms);
	close(ms->lfd);
	while ((m = ms->conns) != NULL) {
		ms->conns = m->next;
		(void)mconn_flush(m);
		if (m->quitter) {
			/* Left open: it closes when this process is gone. */
			m->fd = -1;
		}
		mconn_free(m);
	}
	free(pf);
}

static int
master_listen(struct master *ms, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ms->w.path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* We hold the lock and nobody answered there: what is left is stale. */
	if (lstat(ms->w.path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(ms->w.path);
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(fd, 64) != 0) {
		umask(old);
		snprintf(err, errlen, "%s: %s", ms->w.path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (stat(ms->w.path, &st) == 0) {
		ms->sock_dev = st.st_dev;
		ms->sock_ino = st.st_ino;
	}
	ms->lfd = fd;
	return 0;
}

/* The report to the starting process: "OK", "N why" (could not listen: go
 * direct) or "E<code> why". */
static void
report(int fd, char kind, int code, const char *why)
{
	char b[1100];
	int n;

	if (kind == 'E')
		n = snprintf(b, sizeof(b), "E%d %s", code, why);
	else
		n = snprintf(b, sizeof(b), "%c %s", kind, why);
	if (n > 0)
		(void)write_all(fd, (const uint8_t *)b, (size_t)n < sizeof(b) ?
		    (size_t)n : sizeof(b) - 1, 0);
}

/* The master process: never returns. */
static void
master_main(const struct share_where *w, const struct sshconn_opts *o,
    const struct chanio_req *r, int rfd, int lockfd)
{
	struct master ms;
	struct sigaction sa;
	char err[1000];
	int keep[3] = { 2, rfd, lockfd }, rc, nul;

	transport_close_fds(keep, 3);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	memset(&ms, 0, sizeof(ms));
	ms.w = *w;
	ms.req = *r;
	ms.host = o->host;
	ms.lfd = -1;
	if ((rc = sshconn_open(o, &ms.c, err, sizeof(err))) != 0) {
		report(rfd, 'E', -rc, err);
		_exit(1);
	}
	if (master_listen(&ms, err, sizeof(err)) != 0 ||
	    (ms.ev = ssh_event_new()) == NULL) {
		report(rfd, 'N', 0, err);
		sshconn_close(ms.c);
		_exit(1);
	}
	ssh_event_add_session(ms.ev, sshconn_session(ms.c));
	ms.alive_ms = sshconn_alive_interval(ms.c) > 0 ?
	    sshconn_alive_interval(ms.c) * 1000 : 5000;
	ms.dead_ms = ms.alive_ms * (sshconn_alive_count_max(ms.c) > 0 ?
	    sshconn_alive_count_max(ms.c) : 3) + ms.alive_ms / 2;
	report(rfd, 'O', 0, "K");
	close(rfd);
	close(lockfd);
	/* Detach: out of the terminal's process group and session. */
	(void)setsid();
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(nul, 2);
		close(nul);
	}
	master_loop(&ms);
	ssh_event_remove_session(ms.ev, sshconn_session(ms.c));
	ssh_event_free(ms.ev);
	sshconn_close(ms.c);
	_exit(0);
}

/* Forks the master (through an intermediate child, so that it is nobody's
 * child to reap) and waits for its report. 0: it listens; 1: it could not
 * listen (go direct); or a negative SSHCONN_ERR_* with err. */
static int
master_start(const struct share_where *w, const struct sshconn_opts *o,
    const struct chanio_req *r, int lockfd, char *err, size_t errlen)
{
	char b[1100];
	size_t got = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	if (pipe2(p, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return SSHCONN_ERR_NOMEM;
	}
	fflush(stderr);
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return SSHCONN_ERR_NOMEM;
	}
	if (pid == 0) {
		close(p[0]);
		if (fork() == 0)
			master_main(w, o, r, p[1], lockfd);
		_exit(0);
	}
	close(p[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	while (got < sizeof(b) - 1) {
		n = read(p[0], b + got, sizeof(b) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	b[got] = '\0';
	if (got >= 2 && b[0] == 'O')
		return 0;
	if (got >= 2 && b[0] == 'N') {
		snprintf(err, errlen, "the connection master cannot listen: %s",
		    b + 2);
		return 1;
	}
	if (got >= 2 && b[0] == 'E') {
		char *sp = strchr(b, ' ');
		int code = atoi(b + 1);

		snprintf(err, errlen, "%s", sp != NULL ? sp + 1 : "failed");
		return code > 0 ? -code : SSHCONN_ERR_PROTOCOL;
	}
	snprintf(err, errlen, "the connection master ended before connecting");
	return SSHCONN_ERR_PROTOCOL;
}

/* ---- the client side -------------------------------------------------------- */

static int
lock_open(const struct share_where *w)
{
	char lp[sizeof(w->path) + 8];
	int fd;

	snprintf(lp, sizeof(lp), "%s.lock", w->path);
	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

int
share_ensure(const struct share_where *w, const struct sshconn_opts *o,
    const struct chanio_req *r, char *err, size_t errlen)
{
	int fd, lockfd, rc;

	if ((fd = sock_connect(w->path)) >= 0) {
		close(fd);
		return 0;
	}
	if (errno == EPERM) {
		snprintf(err, errlen, "%s: the master there is not yours", w->path);
		return 1;
	}
	if (!w->may_start) {
		snprintf(err, errlen, "no connection master at %s (ControlMaster "
		    "no)", w->path);
		return 1;
	}
	if ((lockfd = lock_open(w)) < 0) {
		snprintf(err, errlen, "%s.lock: %s", w->path, strerror(errno));
		return 1;
	}
	/* Someone may have started one while we waited for the lock. */
	if ((fd = sock_connect(w->path)) >= 0) {
		close(fd);
		rc = 0;
	} else
		rc = master_start(w, o, r, lockfd, err, errlen);
	close(lockfd);
	return rc;
}

struct share_chan {
	int fd;
	struct mux_dec *dec;
	struct buf *tx;
	struct mux_msg cur;        /* a DATA message being read */
	size_t curoff;
	int eof;                   /* EOF came */
	int eof_queued;            /* our EOF is queued */
	int want_eof;
	char errtail[512];
	char note[300];
};

static void
chan_free(struct share_chan *sc)
{
	if (sc == NULL)
		return;
	if (sc->fd >= 0)
		close(sc->fd);
	mux_dec_free(sc->dec);
	buf_free(sc->tx);
	free(sc);
}

int
share_open(const struct share_where *w, const struct chanio_req *r,
    const void *early, size_t earlylen, struct share_chan **out, int *plain,
    char *err, size_t errlen)
{
	struct share_chan *sc;
	uint8_t body[2 + 64], fl = 0;
	struct mux_msg m;
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr *c;
	struct buf *b;
	size_t nl = strlen(r->subsystem);
	int fd, two = 2, rc;

	if ((fd = sock_connect(w->path)) < 0) {
		snprintf(err, errlen, "no connection master at %s: %s", w->path,
		    strerror(errno));
		return 1;
	}
	if (nl > 64 || (sc = calloc(1, sizeof(*sc))) == NULL) {
		close(fd);
		snprintf(err, errlen, nl > 64 ? "subsystem name too long" :
		    "out of memory");
		return SSHCONN_ERR_ARG;
	}
	sc->fd = fd;
	sc->dec = mux_dec_new();
	sc->tx = buf_new(TX_MAX);
	b = buf_new(2 * MUX_HDR + sizeof(body) + earlylen);
	if (sc->dec == NULL || sc->tx == NULL || b == NULL) {
		buf_free(b);
		chan_free(sc);
		snprintf(err, errlen, "out of memory");
		return SSHCONN_ERR_NOMEM;
	}
	body[0] = SHARE_PROTO_VERSION;
	if (r->no_bootstrap)
		fl |= MUX_OPEN_NO_BOOTSTRAP;
	if (r->verbose)
		fl |= MUX_OPEN_VERBOSE;
	if (!r->progress)
		fl |= MUX_OPEN_QUIET;
	if (earlylen > 0 && earlylen <= MUX_MAX_BODY)
		fl |= MUX_OPEN_EARLY;
	body[1] = fl;
	memcpy(body + 2, r->subsystem, nl);
	PROTO_IGNORE(mux_put(b, MUX_OPEN, body, 2 + nl));
	/* The handshake goes along: no round trip for it. */
	if (fl & MUX_OPEN_EARLY)
		PROTO_IGNORE(mux_put(b, MUX_DATA, early, earlylen));
	/* The message goes with our stderr, for what the bootstrap says. */
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = buf_mutable_ptr(b);
	iov.iov_len = buf_len(b);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fcntl(2, F_GETFD) != -1) {
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &two, sizeof(two));
	}
	while ((rc = (int)sendmsg(fd, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (rc != (int)buf_len(b)) {
		buf_free(b);
		chan_free(sc);
		snprintf(err, errlen, "the connection master went away");
		return 1;
	}
	buf_free(b);
	rc = read_msg(fd, sc->dec, &m, OPEN_WAIT_MS);
	if (rc <= 0) {
		snprintf(err, errlen, "the connection master went away%s",
		    rc < 0 && errno == ETIMEDOUT ? " (no answer)" : "");
		chan_free(sc);
		return 1;
	}
	if (m.type == MUX_FAIL) {
		int code = m.body[0];

		snprintf(err, errlen, "%.*s", (int)(m.len - 1), m.body + 1);
		chan_free(sc);
		return code > 0 && code < 64 ? -code : SSHCONN_ERR_PROTOCOL;
	}
	if (m.type != MUX_OPENED) {
		snprintf(err, errlen, "the connection master answered message %d",
		    m.type);
		chan_free(sc);
		return SSHCONN_ERR_PROTOCOL;
	}
	*plain = (m.body[0] & MUX_OPENED_PLAIN) != 0;
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	*out = sc;
	return 0;
}

int
share_chan_fd(const struct share_chan *sc)
{
	return sc->fd;
}

short
share_chan_events(const struct share_chan *sc)
{
	return (short)(POLLIN | (buf_len(sc->tx) > 0 ? POLLOUT : 0));
}

int
share_chan_read(struct share_chan *sc, void *buf, size_t len)
{
	uint8_t b[16384];
	size_t k;
	ssize_t n;
	int r;

	for (;;) {
		if (sc->cur.type == MUX_DATA && sc->curoff < sc->cur.len) {
			k = sc->cur.len - sc->curoff;
			if (k > len)
				k = len;
			memcpy(buf, sc->cur.body + sc->curoff, k);
			sc->curoff += k;
			return (int)k;
		}
		sc->cur.type = 0;
		if (sc->eof)
			return SHARE_EOF;
		while ((r = mux_next(sc->dec, &sc->cur)) == 1) {
			switch (sc->cur.type) {
			case MUX_DATA:
				sc->curoff = 0;
				break;
			case MUX_STDERR:
				snprintf(sc->errtail, sizeof(sc->errtail), "%.*s",
				    (int)sc->cur.len, sc->cur.body);
				break;
			case MUX_EXIT:
				snprintf(sc->note, sizeof(sc->note), "%.*s",
				    (int)sc->cur.len, sc->cur.body);
				break;
			case MUX_EOF:
				sc->eof = 1;
				break;
			default:
				return -1;
			}
			if (sc->cur.type == MUX_DATA || sc->eof)
				break;
		}
		if (r < 0)
			return -1;
		if (r == 1)
			continue;
		k = mux_room(sc->dec);
		n = read(sc->fd, b, k < sizeof(b) ? k : sizeof(b));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		if (mux_feed(sc->dec, b, (size_t)n) != 0)
			return -1;
	}
}

size_t
share_chan_room(const struct share_chan *sc)
{
	size_t a = buf_avail(sc->tx);

	if (sc->want_eof || buf_len(sc->tx) >= TX_HIGH || a < MUX_HDR + 1024)
		return 0;
	return (a - MUX_HDR) / (MUX_MAX_BODY + MUX_HDR) * MUX_MAX_BODY +
	    ((a - MUX_HDR) % (MUX_MAX_BODY + MUX_HDR) > MUX_HDR ?
	    (a - MUX_HDR) % (MUX_MAX_BODY + MUX_HDR) - MUX_HDR : 0);
}

int
share_chan_write(struct share_chan *sc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0, k;

	while (done < len) {
		k = len - done > MUX_MAX_BODY ? MUX_MAX_BODY : len - done;
		if (mux_put(sc->tx, MUX_DATA, p + done, k) != 0)
			break;
		done += k;
	}
	return (int)done;
}

int
share_chan_flush(struct share_chan *sc)
{
	if (sc->want_eof && !sc->eof_queued &&
	    mux_put(sc->tx, MUX_EOF, NULL, 0) == 0)
		sc->eof_queued = 1;
	return send_queued(sc->fd, sc->tx);
}

void
share_chan_send_eof(struct share_chan *sc)
{
	sc->want_eof = 1;
	(void)share_chan_flush(sc);
}

const char *
share_chan_stderr(const struct share_chan *sc)
{
	return sc->errtail;
}

const char *
share_chan_exit_note(const struct share_chan *sc)
{
	return sc->note;
}

void
share_chan_free(struct share_chan *sc)
{
	chan_free(sc);
}

/*
 * Sends a body-less request of type to w's master and reads its INFO answer
 * into info (at most timeout_ms). Then, when wait_gone (or when there was no
 * answer), waits until the master closes the connection: it does so last, when
 * it exits. 0 with info; 1 when no master listens there or it did not answer.
 */
static int
ask_master(const struct share_where *w, int type, char *info, size_t infolen,
    int timeout_ms, int wait_gone)
{
	struct mux_dec *d;
	struct mux_msg m;
	uint8_t h[MUX_HDR] = { 0, 0, 0, 1, (uint8_t)type }, x;
	int fd, rc = 1;

	if ((fd = sock_connect(w->path)) < 0)
		return 1;
	if ((d = mux_dec_new()) != NULL && write_all(fd, h, sizeof(h), 1) == 0 &&
	    read_msg(fd, d, &m, timeout_ms) == 1 && m.type == MUX_INFO) {
		snprintf(info, infolen, "%.*s", (int)m.len, m.body);
		rc = 0;
	}
	if (wait_gone || rc != 0)
		while (read(fd, &x, 1) > 0)
			;
	mux_dec_free(d);
	close(fd);
	return rc;
}

int
share_probe(const struct share_where *w)
{
	char info[64];

	/* Not alive: it exits, and is gone when ask_master() returns, so that
	 * a new master can take its place. */
	return ask_master(w, MUX_PROBE, info, sizeof(info), PROBE_MS + 2000, 0);
}

int
share_control(const struct share_where *w, const char *cmd, char *err,
    size_t errlen)
{
	char info[MUX_MAX_TEXT + 1];
	int quit = strcmp(cmd, "exit") == 0;

	if (access(w->path, F_OK) != 0) {
		snprintf(err, errlen, "no connection master running (%s: %s)",
		    w->path, strerror(errno));
		return 1;
	}
	if (ask_master(w, quit ? MUX_QUIT : MUX_CHECK, info, sizeof(info), 10000,
	    quit) != 0) {
		snprintf(err, errlen, "no connection master answers at %s", w->path);
		return 1;
	}
	printf("%s\n", info);
	return 0;
}
