/*
 * fuzz-ctl.c - the packets a session host accepts on its control socket
 * (subsystem/ctl.h: ctl_recv() and the host's handling of ATTACH, ATTACH_USER,
 * FIND, STATUS, STOP and anything else), a sequence of them per run over up to
 * four connections, with the fake backend of fakebe.h for the sessions that
 * attached channels start.
 *
 * Input: byte 0 the fakes' behaviour (FAKEBE_*, low 8 bits), then operations: a
 * byte, low nibble the kind, high nibble its argument a.
 *   0 connect; 1 ATTACH and 2 ATTACH_USER on connection a & 3 (fds: a >> 2 picks
 *   one socket twice, two pipes, one fd, three fds; the next byte the backend
 *   name, whether the user part is well formed, and what the channel says first:
 *   nothing, a HELLO, a resume of a known session, raw bytes); 3 FIND (a known
 *   token, one never issued, a short or a long one; maybe with an fd); 4 STATUS
 *   (maybe with a payload and an fd); 5 STOP; 6 a packet of any type, length and
 *   fd count; 7 an empty packet, maybe with fds; 8 close a connection; 9 act on a
 *   channel (HELLO, bytes, EOF, close); 10 a packet shorter than its type; 11 a
 *   packet over the host's buffer; 12 nothing (the host runs).
 * The host runs until nothing moves after each operation.
 *
 * What is checked: answers are well formed (ACCEPTED empty and once per channel,
 * FIND one byte saying 1 exactly for the tokens of live sessions and 0 for tokens
 * never issued, STATUS one JSON object, DONE at least a code) and carry no fds; a
 * FIND on a connection that sent nothing else gets its answer; the connection of
 * a STOP stays open until the host has finished; channels begin with the magic and
 * a WELCOME, ERROR or CLOSE frame; the host finishes within 10 s of host_stop; no
 * fd (those refused included), child process or journal file is left after a run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "proto/buf.h"
#include "proto/frame.h"
#include "subsystem/config.h"
#include "subsystem/ctl.h"
#include "subsystem/host.h"
#include "tests/fuzz/fakebe.h"
#include "tests/fuzz/fuzz.h"

#define NCONN 4
#define NCHAN 8
#define NTOK 8
#define PHASE_MS 10000
#define HOST_ID "0123456789abcdef"

struct conn {
	int fd;            /* -1: none */
	int eof;           /* the host closed it */
	int dirty;         /* we sent something that may make the host drop it */
	int attached;      /* an ATTACH was sent on it */
	int accepted;
	int stop;          /* a STOP was sent on it */
	int finds[64];     /* expected FIND answers: 1, 0, or -1 (either) */
	int nfind, findhead;
	int status_asked;
};

struct chn {
	int fd;            /* our end: reads the host's output (and writes, if rw) */
	int wfd;           /* where we write (fd, or a pipe's write end) */
	int closed, eof_sent;
	uint8_t *r;
	size_t rlen, magic;
	int frames, welcomed, terminal;
	int raw;           /* we wrote bytes of our own: its session may end */
	struct frame_dec *dec;
	int tok;           /* index in toks once welcomed, -1 */
};

struct tok {
	uint8_t t[FRAME_TOKEN_LEN];
	int live;          /* welcomed, and nothing said it ended */
};

struct run {
	struct host *h;
	int done, stopped, early;
	struct conn c[NCONN];
	struct chn ch[NCHAN];
	int nch;
	struct tok toks[NTOK];
	int ntoks;
};

static struct sconf conf;
static char top_dir[64], run_dir[128], journal_dir[128];
static int lfd = -1, lockfd = -1, ready;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-ctl: %s\n", what);
	abort();
}

static void
check(int cond, const char *what)
{
	if (!cond)
		fail(what);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	check(d != NULL, "opendir /proc/self/fd");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static int
dir_count(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
cleanup(void)
{
	char p[300];

	if (lfd >= 0)
		close(lfd);
	if (lockfd >= 0)
		close(lockfd);
	snprintf(p, sizeof(p), "%s/host-%s.sock", run_dir, HOST_ID);
	unlink(p);
	snprintf(p, sizeof(p), "%s/host-%s.lock", run_dir, HOST_ID);
	unlink(p);
	rmdir(run_dir);
	rmdir(journal_dir);
	rmdir(top_dir);
}

static void
setup(void)
{
	char tmpl[] = "/tmp/cxs-fuzz-ctl-XXXXXX", path[300], err[600], *dir;
	FILE *f;

	if ((dir = mkdtemp(tmpl)) == NULL)
		fail("mkdtemp");
	snprintf(top_dir, sizeof(top_dir), "%s", dir);
	snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
	snprintf(journal_dir, sizeof(journal_dir), "%s/journal", dir);
	atexit(cleanup);
	snprintf(path, sizeof(path), "%s/subsystem.conf", dir);
	check((f = fopen(path, "w")) != NULL, "cannot write the configuration");
	fprintf(f, "Backend fake fake\nBackend broken broken\nDefaultBackend fake\n"
	    "LoginShell no\nJournalMemory 16K\nJournalDisk 1M\nMaxMessage 64K\n"
	    "DetachTimeout 10m\nIdleTimeout 10m\nRuntimeDir %s\nJournalDir %s\n"
	    "LogFile none\n", run_dir, journal_dir);
	fclose(f);
	sconf_init(&conf);
	if (sconf_load_file(&conf, path, 1, err, sizeof(err)) != 0)
		fail(err);
	unlink(path);
	if (ctl_rundir_prepare(run_dir, err, sizeof(err)) != 0)
		fail(err);
	if ((lfd = ctl_serve(run_dir, HOST_ID, &lockfd, err, sizeof(err))) < 0)
		fail(err);
	host_free(host_new(&conf, 1, lfd));
	ready = 1;
}

/* ---- input ------------------------------------------------------------------ */

struct in {
	const uint8_t *p;
	size_t n, off;
};

static unsigned
in_byte(struct in *in)
{
	return in->off < in->n ? in->p[in->off++] : 0;
}

static size_t
in_bytes(struct in *in, size_t want, const uint8_t **p)
{
	size_t n = in->n - in->off < want ? in->n - in->off : want;

	*p = in->p + in->off;
	in->off += n;
	return n;
}

/* ---- the host's answers --------------------------------------------------------- */

static void
got_answer(struct run *x, struct conn *c, uint32_t type, const uint8_t *p, size_t len)
{
	cJSON *j;

	(void)x;
	switch (type) {
	case CTL_ACCEPTED:
		check(len == 0 && c->attached && !c->accepted, "ACCEPTED where no "
		    "ATTACH waited for it");
		c->accepted = 1;
		break;
	case CTL_FIND:
		check(len == 1 && p[0] <= 1, "a FIND answer is one byte, 0 or 1");
		check(c->findhead < c->nfind, "a FIND answer nobody asked for");
		if (c->finds[c->findhead] >= 0)
			check(p[0] == c->finds[c->findhead], "FIND answered wrong: a live "
			    "session not found, or a token never issued found");
		c->findhead++;
		break;
	case CTL_STATUS:
		check(c->status_asked > 0, "a STATUS answer nobody asked for");
		c->status_asked--;
		j = cJSON_ParseWithLength((const char *)p, len);
		check(j != NULL && cJSON_IsObject(j) &&
		    cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "sessions")),
		    "STATUS is not a JSON object with sessions");
		cJSON_Delete(j);
		break;
	case CTL_DONE:
		check(len >= 4 && c->attached, "a DONE without a channel or a code");
		break;
	default:
		fail("an answer of an unknown type");
	}
}

static int
drain_conn(struct run *x, struct conn *c)
{
	static uint8_t buf[CTL_MAX_PACKET];
	uint32_t type;
	size_t len;
	int fds[2], nfds, r, prog = 0;

	while (c->fd >= 0 && !c->eof) {
		r = ctl_recv(c->fd, &type, buf, sizeof(buf), &len, fds, &nfds);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		/* The host closed with packets of ours unread: a reset. */
		if (r < 0 && errno == ECONNRESET)
			r = 0;
		check(r >= 0, "a malformed packet from the host");
		prog = 1;
		if (r == 0) {
			c->eof = 1;
			if (!c->dirty && !c->attached && !x->stopped)
				check(c->findhead == c->nfind && c->status_asked == 0,
				    "the host closed a connection with a question open");
			if (c->stop && !c->dirty)
				check(x->done, "the host closed a STOP's connection before "
				    "it finished");
			break;
		}
		check(nfds == 0, "the host sent fds");
		got_answer(x, c, type, buf, len);
	}
	return prog;
}

/* ---- channels --------------------------------------------------------------------- */

static void
got_frame(struct run *x, struct chn *ch, const struct frame *f)
{
	int i;

	check(!ch->terminal, "a frame after ERROR or CLOSE");
	if (ch->frames++ == 0)
		check(f->type == FRAME_WELCOME || f->type == FRAME_ERROR ||
		    f->type == FRAME_CLOSE, "a channel's first frame is not WELCOME, "
		    "ERROR or CLOSE");
	switch (f->type) {
	case FRAME_WELCOME:
		check(ch->frames == 1 && f->u.info.has_token, "a bad WELCOME");
		ch->welcomed = 1;
		for (i = 0; i < x->ntoks; i++)
			if (memcmp(x->toks[i].t, f->u.info.token, FRAME_TOKEN_LEN) == 0)
				break;
		check(f->u.info.resumed == (i < x->ntoks), "resumed a session never "
		    "seen, or a new one with an old token");
		if (i == x->ntoks && x->ntoks < NTOK) {
			memcpy(x->toks[i].t, f->u.info.token, FRAME_TOKEN_LEN);
			/* Live, as long as its backend cannot end by itself. */
			x->toks[i].live = ch->raw || x->early ? -1 : 1;
			x->ntoks++;
		}
		ch->tok = i < x->ntoks ? i : -1;
		if (ch->tok >= 0 && ch->raw)
			x->toks[ch->tok].live = -1;
		check(frame_dec_set_zlib(ch->dec, (f->u.info.features &
		    FRAME_FEAT_ZLIB) != 0) == 0, "zlib");
		break;
	case FRAME_ERROR:
	case FRAME_CLOSE:
		ch->terminal = 1;
		/* Its session may have ended: FIND may say either from now on. */
		if (ch->tok >= 0)
			x->toks[ch->tok].live = -1;
		break;
	default:
		break;
	}
}

static int
drain_chan(struct run *x, struct chn *ch)
{
	static const uint8_t magic[] = FRAME_MAGIC;
	uint8_t tmp[65536];
	struct frame f;
	ssize_t n;
	size_t off;
	uint32_t len;
	int prog = 0, r;

	while (ch->fd >= 0 && !ch->closed) {
		n = read(ch->fd, tmp, sizeof(tmp));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		prog = 1;
		if (n <= 0) {
			ch->closed = 1;
			if (ch->tok >= 0)
				x->toks[ch->tok].live = x->toks[ch->tok].live > 0 ? 1 : -1;
			break;
		}
		ch->r = realloc(ch->r, ch->rlen + (size_t)n);
		check(ch->r != NULL, "out of memory");
		memcpy(ch->r + ch->rlen, tmp, (size_t)n);
		ch->rlen += (size_t)n;
		off = 0;
		while (ch->magic < FRAME_MAGIC_LEN && off < ch->rlen) {
			check(ch->r[off] == magic[ch->magic], "a channel without the magic");
			ch->magic++;
			off++;
		}
		while (ch->rlen - off >= 4) {
			len = (uint32_t)ch->r[off] << 24 | (uint32_t)ch->r[off + 1] << 16 |
			    (uint32_t)ch->r[off + 2] << 8 | ch->r[off + 3];
			check(len >= 2 && len <= FRAME_MAX, "a bad frame length");
			if (ch->rlen - off < 4 + (size_t)len)
				break;
			check(frame_dec_feed(ch->dec, ch->r + off, 4 + (size_t)len) == 0,
			    frame_dec_reason(ch->dec));
			off += 4 + (size_t)len;
			while ((r = frame_dec_next(ch->dec, &f)) == 1)
				got_frame(x, ch, &f);
			check(r == 0, frame_dec_reason(ch->dec));
		}
		memmove(ch->r, ch->r + off, ch->rlen - off);
		ch->rlen -= off;
	}
	return prog;
}

static int
io(struct run *x)
{
	int prog = fakebe_pump(), i;

	for (i = 0; i < NCONN; i++)
		prog |= drain_conn(x, &x->c[i]);
	for (i = 0; i < x->nch; i++)
		prog |= drain_chan(x, &x->ch[i]);
	return prog;
}

static int
round_once(struct run *x, int wait_ms)
{
	int prog = io(x);

	if (!x->done && host_step(x->h, prog ? 0 : wait_ms))
		x->done = 1;
	return io(x) | prog;
}

static void
settle(struct run *x)
{
	int64_t deadline = now_ms() + PHASE_MS;
	int idle = 0;

	while (idle < 2) {
		if (round_once(x, 0))
			idle = 0;
		else
			idle++;
		check(now_ms() < deadline, "the host did not settle within 10 s");
	}
}

/* ---- sending ---------------------------------------------------------------------- */

/* One packet: type (if withtype), payload, and nfds fds. Returns 0 or -1. */
static int
send_pkt(int fd, int withtype, uint32_t type, const void *p, size_t len,
    const int *fds, int nfds)
{
	struct msghdr mh;
	struct iovec iov[2];
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct cmsghdr *c;
	int k = 0;

	memset(&mh, 0, sizeof(mh));
	if (withtype) {
		iov[k].iov_base = &type;
		iov[k++].iov_len = sizeof(type);
	}
	if (len > 0) {
		iov[k].iov_base = (void *)(uintptr_t)p;
		iov[k++].iov_len = len;
	}
	mh.msg_iov = k > 0 ? iov : NULL;
	mh.msg_iovlen = (size_t)k;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -1 : 0;
}

static struct conn *
conn_get(struct run *x, unsigned i)
{
	struct conn *c = &x->c[i % NCONN];

	return c->fd >= 0 && !c->eof ? c : NULL;
}

static void
connect_one(struct run *x)
{
	struct sockaddr_un sun;
	int i, fd;

	for (i = 0; i < NCONN; i++)
		if (x->c[i].fd < 0)
			break;
	if (i == NCONN)
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/host-%s.sock", run_dir, HOST_ID);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	check(fd >= 0, "socket");
	check(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0, "connect");
	memset(&x->c[i], 0, sizeof(x->c[i]));
	x->c[i].fd = fd;
}

/* Fds for a packet (kind: 0 one socket twice, 1 two pipes, 2 one fd, 3 three);
 * a channel is recorded for the first two. Returns how many, in fds. */
static int
make_fds(struct run *x, unsigned kind, int fds[3], struct chn **chp)
{
	struct chn *ch = NULL;
	int sv[2], p1[2], p2[2];

	*chp = NULL;
	if (x->nch < NCHAN && kind <= 1) {
		ch = &x->ch[x->nch++];
		memset(ch, 0, sizeof(*ch));
		ch->tok = -1;
		check((ch->dec = frame_dec_new(conf.max_message)) != NULL, "oom");
		*chp = ch;
	}
	switch (kind) {
	case 0:
		check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "sp");
		fcntl(sv[0], F_SETFL, O_NONBLOCK);
		fds[0] = fds[1] = sv[1];
		if (ch != NULL)
			ch->fd = ch->wfd = sv[0];
		else
			close(sv[0]);
		return 2;
	case 1:
		check(pipe2(p1, O_CLOEXEC) == 0 && pipe2(p2, O_CLOEXEC) == 0, "pipe");
		fcntl(p2[0], F_SETFL, O_NONBLOCK);
		fcntl(p1[1], F_SETFL, O_NONBLOCK);
		fds[0] = p1[0];
		fds[1] = p2[1];
		if (ch != NULL) {
			ch->fd = p2[0];
			ch->wfd = p1[1];
		} else {
			close(p2[0]);
			close(p1[1]);
		}
		return 2;
	case 2:
		fds[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
		return 1;
	default:
		check(pipe2(p1, O_CLOEXEC) == 0, "pipe");
		fds[0] = p1[0];
		fds[1] = p1[1];
		fds[2] = open("/dev/null", O_RDWR | O_CLOEXEC);
		return 3;
	}
}

/* Closes our copies of fds sent (the host has its own now, or none). */
static void
close_sent(const int *fds, int n)
{
	int i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (fds[j] == fds[i])
				break;
		if (j == i)
			close(fds[i]);
	}
}

static void
put_hello(struct buf *b, const uint8_t *token, const char *backend)
{
	struct frame_info hi;

	memset(&hi, 0, sizeof(hi));
	hi.version = FRAME_PROTOCOL_VERSION;
	snprintf(hi.backend, sizeof(hi.backend), "%s", backend);
	if (token != NULL) {
		hi.has_token = 1;
		memcpy(hi.token, token, FRAME_TOKEN_LEN);
		hi.next = 1;
	}
	check(frame_put_hello(b, &hi) == 0, "frame_put_hello");
}

static void
attach(struct run *x, int user, unsigned a, struct in *in)
{
	static const char *const names[] = { "", "fake", "broken", "no such" };
	struct conn *c = conn_get(x, a & 3);
	struct buf *b = buf_new(CTL_MAX_PACKET);
	struct chn *ch;
	unsigned v = in_byte(in), um, i;
	const uint8_t *p;
	size_t n, el;
	int fds[3], nfds;
	char env[256];

	check(b != NULL, "oom");
	if (c == NULL) {
		buf_free(b);
		return;
	}
	/* Name: u8 n then n bytes; v bit 7 claims more than there is. */
	n = strlen(names[v & 3]);
	if (v & 0x80)
		check(buf_put(b, "\xff", 1) == 0 && buf_put(b, "ab", 2) == 0, "put");
	else
		check(buf_put(b, (uint8_t[]){ (uint8_t)n }, 1) == 0 &&
		    buf_put(b, names[v & 3], n) == 0, "put");
	if (user) {
		/* u32 umask, u32 envlen, env: well formed unless v bits 2-3. */
		n = (size_t)snprintf(env, sizeof(env), "HOME=/nonexistent%cLANG=C%cX=%u",
		    0, 0, in_byte(in)) + 1;
		el = (v >> 2 & 3) == 1 ? n + 1000 : (v >> 2 & 3) == 2 ? n - 1 : n;
		um = (v >> 2 & 3) == 3 ? 0xffffffffu : 022;
		check(buf_put(b, &um, 4) == 0 && buf_put(b, (uint32_t[]){ (uint32_t)el },
		    4) == 0 && buf_put(b, env, n) == 0, "put");
	}
	/* What the channel said first (v bits 4-6). */
	switch (v >> 4 & 7) {
	case 1:
		put_hello(b, NULL, "");
		break;
	case 2:
		i = in_byte(in);
		put_hello(b, x->ntoks > 0 ? x->toks[i % (unsigned)x->ntoks].t :
		    (const uint8_t *)"01234567890123456789012345678901", "");
		break;
	case 3:
		n = in_bytes(in, in_byte(in), &p);
		check(buf_put(b, p, n) == 0, "put");
		break;
	case 4:
		put_hello(b, NULL, "broken");
		break;
	default:
		break;
	}
	nfds = make_fds(x, a >> 2, fds, &ch);
	if (ch != NULL && (v >> 4 & 7) == 3)
		ch->raw = 1;
	c->attached = 1;
	c->dirty = 1;
	if (send_pkt(c->fd, 1, user ? CTL_ATTACH_USER : CTL_ATTACH, buf_ptr(b),
	    buf_len(b), fds, nfds) != 0 && ch != NULL) {
		ch->closed = 1;
	}
	close_sent(fds, nfds);
	buf_free(b);
}

static void
find(struct run *x, unsigned a, struct in *in)
{
	struct conn *c = conn_get(x, a & 3);
	uint8_t t[FRAME_TOKEN_LEN + 8];
	unsigned v = in_byte(in);
	size_t n = FRAME_TOKEN_LEN;
	int expect = 0, fds[3], nfds = 0, i;
	struct chn *ch;

	if (c == NULL)
		return;
	memset(t, 0xa5, sizeof(t));
	switch (v & 3) {
	case 0:
		if (x->ntoks > 0) {
			i = (int)((v >> 2) % (unsigned)x->ntoks);
			memcpy(t, x->toks[i].t, FRAME_TOKEN_LEN);
			expect = x->stopped || x->toks[i].live < 0 ? -1 : 1;
		}
		break;
	case 1:
		t[v >> 2 & 31] ^= 1;   /* a token never issued (with odds 2^-255) */
		break;
	case 2:
		n = (v >> 2) % FRAME_TOKEN_LEN;
		break;
	default:
		n = FRAME_TOKEN_LEN + 1 + (v >> 2) % 7;
		break;
	}
	if (a & 8) {
		nfds = make_fds(x, 2, fds, &ch);
		c->dirty = 1;
	}
	if (send_pkt(c->fd, 1, CTL_FIND, t, n, fds, nfds) == 0 &&
	    c->nfind < (int)(sizeof(c->finds) / sizeof(c->finds[0])))
		c->finds[c->nfind++] = expect;
	else
		c->dirty = 1;
	close_sent(fds, nfds);
}

static void
op_status(struct run *x, unsigned a, struct in *in)
{
	struct conn *c = conn_get(x, a & 3);
	const uint8_t *p;
	size_t n = 0;
	int fds[3], nfds = 0;
	struct chn *ch;

	if (c == NULL)
		return;
	if (a & 4)
		n = in_bytes(in, in_byte(in), &p);
	else
		p = NULL;
	if (a & 8) {
		nfds = make_fds(x, 2, fds, &ch);
		c->dirty = 1;
	}
	if (send_pkt(c->fd, 1, CTL_STATUS, p, n, fds, nfds) == 0)
		c->status_asked++;
	else
		c->dirty = 1;
	close_sent(fds, nfds);
}

static void
op_raw(struct run *x, unsigned a, struct in *in)
{
	struct conn *c = conn_get(x, a & 3);
	uint8_t tb[4];
	const uint8_t *p;
	uint32_t type;
	size_t n, i;
	int fds[3], nfds = 0;
	struct chn *ch;

	for (i = 0; i < 4; i++)
		tb[i] = (uint8_t)in_byte(in);
	memcpy(&type, tb, 4);
	n = in_bytes(in, in_byte(in), &p);
	if (c == NULL)
		return;
	if (a >> 2)
		nfds = make_fds(x, a >> 2, fds, &ch);
	c->dirty = 1;
	if (type == CTL_ATTACH || type == CTL_ATTACH_USER)
		c->attached = 1;
	if (type == CTL_STOP) {
		x->stopped = 1;
		c->stop = 1;
	}
	if (send_pkt(c->fd, 1, type, p, n, fds, nfds) == 0) {
		/* Questions get answers, whatever they carry. */
		if (type == CTL_FIND && c->nfind < (int)(sizeof(c->finds) /
		    sizeof(c->finds[0])))
			c->finds[c->nfind++] = -1;
		if (type == CTL_STATUS)
			c->status_asked++;
	}
	close_sent(fds, nfds);
}

static void
chan_act(struct run *x, unsigned a, struct in *in)
{
	struct chn *ch;
	struct buf *b;
	const uint8_t *p;
	size_t n;
	unsigned i;

	if (x->nch == 0)
		return;
	ch = &x->ch[(unsigned)x->nch - 1 - (a >> 2) % (unsigned)x->nch];
	if (ch->closed || ch->fd < 0)
		return;
	switch (a & 3) {
	case 0:
	case 1:
		if (ch->eof_sent)
			break;
		check((b = buf_new(8192)) != NULL, "oom");
		if (a & 1) {
			n = in_bytes(in, in_byte(in), &p);
			check(buf_put(b, p, n) == 0, "put");
			ch->raw = 1;
			if (ch->tok >= 0)
				x->toks[ch->tok].live = -1;
		} else {
			i = in_byte(in);
			put_hello(b, (i & 1) && x->ntoks > 0 ?
			    x->toks[(i >> 1) % (unsigned)x->ntoks].t : NULL, "");
		}
		if (write(ch->wfd, buf_ptr(b), buf_len(b)) < 0) {
			/* the host's end is gone, or full: fine either way */
		}
		buf_free(b);
		break;
	case 2:
		if (!ch->eof_sent) {
			ch->eof_sent = 1;
			if (ch->wfd != ch->fd)
				close(ch->wfd);
			else
				shutdown(ch->fd, SHUT_WR);
			ch->wfd = -1;
		}
		break;
	default:
		/* Gone entirely. */
		if (ch->wfd >= 0 && ch->wfd != ch->fd)
			close(ch->wfd);
		close(ch->fd);
		ch->fd = ch->wfd = -1;
		ch->closed = 1;
		break;
	}
}

static void
run_ops(struct run *x, struct in *in)
{
	unsigned op, k, a;
	struct conn *c;
	const uint8_t *p;
	size_t n;
	int fds[3], nfds;
	struct chn *ch;

	while (in->off < in->n && !x->done) {
		op = in_byte(in);
		k = op & 15;
		a = op >> 4;
		switch (k) {
		case 0:
			connect_one(x);
			break;
		case 1:
		case 2:
			attach(x, k == 2, a, in);
			break;
		case 3:
			find(x, a, in);
			break;
		case 4:
			op_status(x, a, in);
			break;
		case 5:
			if ((c = conn_get(x, a & 3)) != NULL &&
			    send_pkt(c->fd, 1, CTL_STOP, NULL, 0, NULL, 0) == 0) {
				c->stop = 1;
				x->stopped = 1;
			}
			break;
		case 6:
			op_raw(x, a, in);
			break;
		case 7:
			/* An empty packet reads as EOF: fds sent with it must not
			 * stay with the host. */
			if ((c = conn_get(x, a & 3)) != NULL) {
				nfds = a >> 2 ? make_fds(x, a >> 2, fds, &ch) : 0;
				c->dirty = 1;
				(void)send_pkt(c->fd, 0, 0, NULL, 0, fds, nfds);
				close_sent(fds, nfds);
			}
			break;
		case 8:
			if ((c = conn_get(x, a & 3)) != NULL) {
				close(c->fd);
				c->fd = -1;
			}
			break;
		case 9:
			chan_act(x, a, in);
			break;
		case 10:
			if ((c = conn_get(x, a & 3)) != NULL) {
				n = in_bytes(in, 1 + (a >> 2) % 3, &p);
				nfds = a >> 2 ? make_fds(x, 2, fds, &ch) : 0;
				c->dirty = 1;
				(void)send_pkt(c->fd, 0, 0, p, n, fds, nfds);
				close_sent(fds, nfds);
			}
			break;
		case 11:
			/* Over the host's buffer: truncated, refused, fds closed. */
			if ((c = conn_get(x, a & 3)) != NULL) {
				static uint8_t huge[1 + 255 + 8 + CTL_MAX_ENV + CTL_MAX_PRE +
				    64];

				memset(huge, 'h', sizeof(huge));
				nfds = a >> 2 ? make_fds(x, a >> 2, fds, &ch) : 0;
				c->dirty = 1;
				if (a >> 2 <= 1)
					c->attached = 1;
				(void)send_pkt(c->fd, 1, CTL_ATTACH, huge, sizeof(huge), fds,
				    nfds);
				close_sent(fds, nfds);
			}
			break;
		default:
			break;
		}
		settle(x);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run *x;
	struct in in;
	int64_t deadline;
	int i, fd, fds_before;

	if (size < 1)
		return 0;
	if (!ready)
		setup();
	fds_before = count_fds();
	x = calloc(1, sizeof(*x));
	check(x != NULL, "oom");
	for (i = 0; i < NCONN; i++)
		x->c[i].fd = -1;
	fakebe_begin(conf.max_message);
	fakebe_mode(data[0]);
	x->early = FAKEBE_EARLY(data[0]) != 0;
	in.p = data + 1;
	in.n = size - 1;
	in.off = 0;
	check((x->h = host_new(&conf, 1, lfd)) != NULL, "host_new");
	run_ops(x, &in);

	/* The end: the channels go away, then the host stops. */
	for (i = 0; i < x->nch; i++)
		if (x->ch[i].wfd >= 0 && !x->ch[i].eof_sent) {
			if (x->ch[i].wfd != x->ch[i].fd)
				close(x->ch[i].wfd);
			else
				shutdown(x->ch[i].fd, SHUT_WR);
			x->ch[i].wfd = -1;
			x->ch[i].eof_sent = 1;
		}
	settle(x);
	host_stop(x->h);
	x->stopped = 1;
	deadline = now_ms() + PHASE_MS;
	while (!x->done) {
		round_once(x, 5);
		check(now_ms() < deadline, "the host did not finish 10 s after host_stop");
	}
	io(x);
	host_free(x->h);
	check(fakebe_unreaped() == 0, "a backend process was left behind");
	fakebe_end();
	for (i = 0; i < NCONN; i++)
		if (x->c[i].fd >= 0)
			close(x->c[i].fd);
	for (i = 0; i < x->nch; i++) {
		if (x->ch[i].wfd >= 0 && x->ch[i].wfd != x->ch[i].fd)
			close(x->ch[i].wfd);
		if (x->ch[i].fd >= 0)
			close(x->ch[i].fd);
		free(x->ch[i].r);
		frame_dec_free(x->ch[i].dec);
	}
	free(x);
	/* Connections the host never accepted must not reach the next run. */
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	/* (Counted per run: libFuzzer's symbolizer may add pipes between runs.) */
	check(count_fds() == fds_before, "a file descriptor was left open");
	check(dir_count(journal_dir) == 0, "a journal file was left behind");
	check(dir_count(run_dir) == 2, "something was left in the runtime directory");
	return 0;
}
