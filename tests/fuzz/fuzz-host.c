/*
 * fuzz-host.c - the session host's whole channel input path (subsystem/host.c),
 * fed as a byte stream through a socketpair, plain and framed, with the fake
 * backend of fakebe.h. The target drives the host's loop itself (host_step) and
 * after each write lets it run until nothing moves any more, so a run is
 * deterministic.
 *
 * Input: four header bytes, then the channel stream.
 *   byte 0: bit 0 framed; bit 1 the stream is a list of operations (below) rather
 *           than raw bytes; bit 2 the host is the daemon (sessions outlive their
 *           channel and can be resumed) rather than attached; bit 3 a valid HELLO
 *           goes first; bits 4-5 how the stream is written: after every operation,
 *           in pieces of (byte 1 % 64) + 1 bytes, in random pieces (seeded by byte
 *           1), or all at once; bit 6 the HELLO asks for zlib; bit 7 the first
 *           frame reaches the host the way CTL_ATTACH hands it over (pre).
 *   byte 2 and bits 0-1 of byte 3: the fakes' behaviour (FAKEBE_*, 9 bits).
 *   byte 3: bits 2-3 the channel's backend ("", "fake", "broken", "nope"); bit 4
 *           the host says why sessions are attached (WELCOME's note); bit 5
 *           DetachTimeout 0 (a detached session expires at once).
 * Operations (framed): a byte, low nibble the kind, high nibble its argument:
 *   0 message (template) as the next DATA; 1 DATA with a wrong seq; 2 ACK;
 *   3 PING; 4 CLOSE; 5 ERROR; 6 HELLO or WELCOME after the handshake; 7 raw bytes;
 *   8 DATA of raw bytes; 9 write and settle now; 10 a new channel: resume the
 *   last or first session, with a zero token or none, taking over the old channel
 *   or after its EOF, at a chosen `next`, maybe with a version we cannot share;
 *   11 a frame of an unknown type; 12 a big message (at, over the limit, or over
 *   a chunk); 13 a message in small chunks, the last one maybe missing; 14 EOF
 *   now, or the client vanishes (both directions closed); 15 the fakes started
 *   from now on behave as the next two bytes say.
 * Operations (plain): 0 message + LF, 1 message + CRLF, 2 a blank line, 3 raw
 *   bytes, 4 a line over the limit, 9 write and settle, 14 the client vanishes,
 *   the rest like 0.
 *
 * What is checked, beyond ASan/UBSan: every write of the host decodes (framed:
 * the magic, then valid frames: WELCOME or ERROR first, DATA in sequence from
 * where the client asked, the same bytes for a seq seen twice, ACKs that never go
 * back, PONGs answering our PINGs in order, nothing after ERROR or CLOSE, no EOF
 * without one unless the client ended first; plain: lines of JSON); every line of
 * the backend reaches the client once, in order, and all of them when a session
 * ends (unless the client skipped some on resume); the backend gets one JSON
 * object per line, only messages the client sent, in order; a channel closes
 * within 10 s of its EOF and the host finishes within 10 s of host_stop; no child
 * process, no fd and no journal file is left after a run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "proto/buf.h"
#include "proto/frame.h"
#include "subsystem/config.h"
#include "subsystem/host.h"
#include "tests/fuzz/fakebe.h"
#include "tests/fuzz/fuzz.h"

#define MAX_CHANS 6
#define MAX_SESS 8
#define PHASE_MS 10000

struct ping {
	size_t len;
	uint8_t opaque[FRAME_MAX_OPAQUE];
};

struct sess {
	int used, plain;
	uint8_t token[FRAME_TOKEN_LEN];
	int fake;               /* fakebe index, -1 */
	uint64_t max_seen;      /* highest seq delivered on any of its channels */
	uint64_t *hash;         /* hash[seq]: what seq held (0: not seen) */
	size_t nhash;
	int skipped;            /* a resume asked to skip messages never delivered */
	int ended;              /* it ended (CLOSE after its backend, or plain EOF) */
	int open;               /* its channels the host has not closed yet */
	unsigned resumed;       /* WELCOMEs that resumed it */
	unsigned taken;         /* its channels closed with CLOSE busy: taken
				 * over by one of those resumes */
	uint8_t *got;           /* got[n]: fake line n delivered */
	size_t ngot;
};

struct ch {
	int fd, framed;
	int eof_sent, err_sent, closed;   /* closed: the host's EOF came */
	int dead;                         /* host_add_channel refused it */
	uint8_t *st;                      /* bytes queued: st[stoff..stlen) are
					   * not released yet */
	size_t stlen, stoff, stcap;
	uint8_t *w;                       /* bytes released, still to write */
	size_t wlen, woff, wcap;
	unsigned pieces;                  /* released in pieces so far */
	/* the host's view of what we wrote */
	struct frame_dec *mirror;
	int mirror_hello, mirror_bad;
	uint64_t *sent;                   /* framed: hashes of DATA messages */
	size_t nsent, sentcap;
	uint8_t *ptext;                   /* plain: everything we wrote */
	size_t plen, pcap;
	struct ping *pings;               /* every PING we wrote, in order */
	size_t npings, pingcap, pinghead;
	/* what the host wrote */
	uint8_t *r;
	size_t rlen, rcap;
	size_t magic;
	struct frame_dec *dec;
	int frames, terminal, welcomed;
	int sess;
	uint64_t data_next;               /* 0: not known yet */
	uint64_t last_ack;
	uint64_t last_n[FAKEBE_MAX];
	/* our side of the protocol */
	struct frame_enc *enc;
	int zlib, hello_known, asked_resume;
	uint64_t asked_next;
	uint64_t client_next;
};

struct run {
	struct host *h;
	int done, daemon, expire;
	struct ch ch[MAX_CHANS];
	int nch, cur;
	struct sess s[MAX_SESS];
	uint64_t max_client_seq;
	uint32_t rnd;
	unsigned split, piece;
	int id, nbig;
};

static struct sconf conf, conf_expire;  /* the second: DetachTimeout 0 */
static char top_dir[64], journal_dir[512];
static int ready;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-host: %s\n", what);
	abort();
}

static void
check(int cond, const char *what)
{
	if (!cond)
		fail(what);
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	check(q != NULL, "out of memory");
	return q;
}

/* Makes room for need bytes in *p (capacity *cap), doubling. */
static void
room(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = *cap * 2 > need ? *cap * 2 : need + 4096;
	*p = xrealloc(*p, *cap);
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
	return n - 1;   /* the directory's own fd */
}

static int
dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n == 0;
}

static void
cleanup(void)
{
	rmdir(journal_dir);
	rmdir(top_dir);
}

static void
setup(void)
{
	char tmpl[] = "/tmp/cxs-fuzz-host-XXXXXX", path[600], err[600], *dir;
	FILE *f;

	if ((dir = mkdtemp(tmpl)) == NULL)
		fail("mkdtemp");
	snprintf(top_dir, sizeof(top_dir), "%s", dir);
	atexit(cleanup);
	snprintf(journal_dir, sizeof(journal_dir), "%s/journal", dir);
	snprintf(path, sizeof(path), "%s/subsystem.conf", dir);
	check((f = fopen(path, "w")) != NULL, "cannot write the configuration");
	fprintf(f, "Backend fake fake\nBackend broken broken\nDefaultBackend fake\n"
	    "LoginShell no\nJournalMemory 16K\nJournalDisk 1M\nMaxMessage 512K\n"
	    "DetachTimeout 10m\nIdleTimeout 10m\nRuntimeDir %s/run\nJournalDir %s\n"
	    "LogFile none\n", dir, journal_dir);
	fclose(f);
	sconf_init(&conf);
	if (sconf_load_file(&conf, path, 1, err, sizeof(err)) != 0)
		fail(err);
	check((f = fopen(path, "a")) != NULL, "cannot write the configuration");
	fprintf(f, "DetachTimeout 0\n");
	fclose(f);
	sconf_init(&conf_expire);
	if (sconf_load_file(&conf_expire, path, 1, err, sizeof(err)) != 0)
		fail(err);
	unlink(path);
	/* What a host keeps for the whole process (the SIGCHLD pipe) exists now. */
	host_free(host_new(&conf, 0, -1));
	ready = 1;
}

/* ---- the session records ------------------------------------------------- */

static int
sess_new(struct run *x, const uint8_t *token, int plain)
{
	int i;

	for (i = 0; i < MAX_SESS; i++)
		if (!x->s[i].used)
			break;
	check(i < MAX_SESS, "too many sessions for one run");
	memset(&x->s[i], 0, sizeof(x->s[i]));
	x->s[i].used = 1;
	x->s[i].plain = plain;
	x->s[i].fake = -1;
	if (token != NULL)
		memcpy(x->s[i].token, token, FRAME_TOKEN_LEN);
	return i;
}

static int
sess_find(struct run *x, const uint8_t *token)
{
	int i;

	for (i = 0; i < MAX_SESS; i++)
		if (x->s[i].used && !x->s[i].plain &&
		    memcmp(x->s[i].token, token, FRAME_TOKEN_LEN) == 0)
			return i;
	return -1;
}

/* The first deliverable line of fake f after line n (0 if none written yet). */
static uint64_t
next_deliverable(int f, uint64_t n)
{
	uint64_t w = fakebe_written(f);

	for (n++; n <= w; n++)
		if (fakebe_deliverable(f, n))
			return n;
	return 0;
}

/* A message the host sent on c: JSON, and a fake's line in its place. */
static void
got_message(struct run *x, struct ch *c, const uint8_t *p, size_t len, int fresh)
{
	struct sess *s = &x->s[c->sess];
	char *t = xrealloc(NULL, len + 1);
	const char *end = NULL, *m;
	cJSON *j, *par, *be, *n;
	uint64_t k, want;
	int f, i;

	memcpy(t, p, len);
	t[len] = '\0';
	j = cJSON_ParseWithOpts(t, &end, 1);
	check(j != NULL && strlen(t) == len, "the host sent a message that is not "
	    "one JSON text");
	m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "method"));
	if (m != NULL && strncmp(m, "fake/", 5) == 0) {
		par = cJSON_GetObjectItemCaseSensitive(j, "params");
		be = cJSON_GetObjectItemCaseSensitive(par, "be");
		n = cJSON_GetObjectItemCaseSensitive(par, "n");
		check(cJSON_IsNumber(be) && cJSON_IsNumber(n), "a fake line lost its params");
		f = be->valueint;
		k = (uint64_t)n->valuedouble;
		check(f >= 0 && f < fakebe_count(), "a line of a fake that never ran");
		if (s->fake < 0) {
			/* Its first line tells which backend a session has. */
			for (i = 0; i < MAX_SESS; i++)
				check(!x->s[i].used || x->s[i].fake != f, "a line of "
				    "another session's backend");
			s->fake = f;
		}
		check(s->fake == f, "a line of another session's backend");
		check(fakebe_deliverable(f, k), "a backend line the host should not "
		    "deliver (never written whole, or over the limit)");
		/* In order, none skipped, from the first when the channel started
		 * at the session's first message. */
		if (c->last_n[f] != 0 || fresh) {
			want = next_deliverable(f, c->last_n[f]);
			check(k == want, "backend lines out of order, lost or repeated");
		}
		c->last_n[f] = k;
		if (k >= s->ngot) {
			s->got = xrealloc(s->got, (size_t)k + 1);
			memset(s->got + s->ngot, 0, (size_t)k + 1 - s->ngot);
			s->ngot = (size_t)k + 1;
		}
		s->got[k] = 1;
	}
	cJSON_Delete(j);
	free(t);
}

/* ---- what the host writes -------------------------------------------------- */

static void
got_frame(struct run *x, struct ch *c, const struct frame *f)
{
	struct sess *s;
	uint64_t h;
	int i;

	check(!c->terminal, "a frame after ERROR or CLOSE");
	if (c->frames++ == 0)
		check(f->type == FRAME_WELCOME || f->type == FRAME_ERROR ||
		    f->type == FRAME_CLOSE, "the host's first frame is not WELCOME, "
		    "ERROR or CLOSE");
	switch (f->type) {
	case FRAME_WELCOME:
		check(c->frames == 1, "WELCOME after the first frame");
		check(f->u.info.version == FRAME_PROTOCOL_VERSION && f->u.info.has_token,
		    "a WELCOME without version 1 or a token");
		check(f->u.info.max_message == conf.max_message, "WELCOME's max_message");
		check((f->u.info.features & ~FRAME_FEAT_ZLIB) == 0, "unasked features");
		if (c->hello_known) {
			check(!!(f->u.info.features & FRAME_FEAT_ZLIB) == c->zlib,
			    "zlib not as asked");
			check(f->u.info.resumed == c->asked_resume, "resumed not as asked");
		}
		i = sess_find(x, f->u.info.token);
		if (f->u.info.resumed) {
			check(i >= 0, "resumed a session never welcomed");
			check(x->daemon, "resumed in attached mode");
			check(!x->s[i].ended, "resumed a session that had ended");
			/* A resume takes over the channel the host still has, and
			 * that channel's CLOSE busy and EOF may be read before
			 * this WELCOME: it counts as open then. */
			x->s[i].resumed++;
			check(!x->expire || x->s[i].open > 0 ||
			    x->s[i].taken >= x->s[i].resumed, "resumed a session "
			    "detached past DetachTimeout");
			if (c->hello_known) {
				c->data_next = c->asked_next;
				if (c->asked_next > x->s[i].max_seen + 1)
					x->s[i].skipped = 1;
			}
		} else {
			check(i < 0, "a new session with an old token");
			check(f->u.info.next == 1, "a new session expects message 1");
			i = sess_new(x, f->u.info.token, 0);
			c->data_next = 1;
		}
		c->sess = i;
		c->welcomed = 1;
		x->s[i].open++;
		if (c->client_next == 0)
			c->client_next = f->u.info.next;
		check(frame_dec_set_zlib(c->dec, (f->u.info.features &
		    FRAME_FEAT_ZLIB) != 0) == 0, "frame_dec_set_zlib");
		break;
	case FRAME_DATA:
		check(c->welcomed, "DATA before WELCOME");
		check(f->u.data.len <= conf.max_message, "DATA over the limit");
		if (c->data_next == 0)
			c->data_next = f->u.data.seq;
		check(f->u.data.seq == c->data_next, "DATA out of sequence");
		c->data_next++;
		s = &x->s[c->sess];
		h = fakebe_hash(FAKEBE_HASH0, f->u.data.msg, f->u.data.len) | 1;
		check(f->u.data.seq < (1u << 24), "an absurd seq");
		if (f->u.data.seq >= s->nhash) {
			size_t nn = (size_t)f->u.data.seq * 2 + 8;

			s->hash = xrealloc(s->hash, nn * sizeof(*s->hash));
			memset(s->hash + s->nhash, 0, (nn - s->nhash) * sizeof(*s->hash));
			s->nhash = nn;
		}
		check(s->hash[f->u.data.seq] == 0 || s->hash[f->u.data.seq] == h,
		    "a seq sent again with other bytes");
		s->hash[f->u.data.seq] = h;
		if (f->u.data.seq > s->max_seen)
			s->max_seen = f->u.data.seq;
		got_message(x, c, f->u.data.msg, f->u.data.len,
		    !c->asked_resume && c->hello_known);
		break;
	case FRAME_ACK:
		check(c->welcomed, "ACK before WELCOME");
		check(f->u.ack_next >= c->last_ack, "an ACK went back");
		check(f->u.ack_next <= x->max_client_seq + 1, "an ACK of a message "
		    "never sent");
		c->last_ack = f->u.ack_next;
		break;
	case FRAME_PONG:
		check(c->pinghead < c->npings, "a PONG without a PING");
		check(f->u.ping.len == c->pings[c->pinghead].len &&
		    memcmp(f->u.ping.opaque, c->pings[c->pinghead].opaque,
		    f->u.ping.len) == 0,
		    "a PONG that is not the next PING's");
		c->pinghead++;
		break;
	case FRAME_PING:
		break;
	case FRAME_ERROR:
	case FRAME_CLOSE:
		c->terminal = 1;
		if (f->type == FRAME_CLOSE && c->welcomed &&
		    (f->u.error.code == FRAME_CODE_NORMAL ||
		    f->u.error.code == FRAME_CODE_BACKEND_EXITED ||
		    f->u.error.code == FRAME_CODE_BACKEND_FAILED))
			x->s[c->sess].ended = 1;
		if (f->type == FRAME_CLOSE && c->welcomed &&
		    f->u.error.code == FRAME_CODE_BUSY)
			x->s[c->sess].taken++;
		break;
	default:
		fail("the host sent HELLO");
	}
}

static void
decode_framed(struct run *x, struct ch *c)
{
	static const uint8_t magic[] = FRAME_MAGIC;
	struct frame f;
	size_t off = 0, n;
	uint32_t len;
	int r;

	while (c->magic < FRAME_MAGIC_LEN && off < c->rlen) {
		check(c->r[off] == magic[c->magic], "the host's output does not begin "
		    "with the magic");
		c->magic++;
		off++;
	}
	/* One frame at a time: a WELCOME may switch zlib on for what follows. */
	while (c->rlen - off >= 4) {
		len = (uint32_t)c->r[off] << 24 | (uint32_t)c->r[off + 1] << 16 |
		    (uint32_t)c->r[off + 2] << 8 | c->r[off + 3];
		check(len >= 2 && len <= FRAME_MAX, "the host wrote a bad frame length");
		if (c->rlen - off < 4 + (size_t)len)
			break;
		n = 4 + (size_t)len;
		check(frame_dec_feed(c->dec, c->r + off, n) == 0, frame_dec_reason(c->dec));
		off += n;
		while ((r = frame_dec_next(c->dec, &f)) == 1)
			got_frame(x, c, &f);
		check(r == 0, frame_dec_reason(c->dec));
	}
	memmove(c->r, c->r + off, c->rlen - off);
	c->rlen -= off;
}

static void
decode_plain(struct run *x, struct ch *c)
{
	size_t off = 0;
	uint8_t *nl;

	while ((nl = memchr(c->r + off, '\n', c->rlen - off)) != NULL) {
		got_message(x, c, c->r + off, (size_t)(nl - (c->r + off)), 1);
		off = (size_t)(nl - c->r) + 1;
	}
	memmove(c->r, c->r + off, c->rlen - off);
	c->rlen -= off;
}

/* Reads what the host wrote on c; returns 1 if anything came. */
static int
drain(struct run *x, struct ch *c)
{
	uint8_t tmp[65536];
	ssize_t n;
	int prog = 0;

	while (c->fd >= 0 && !c->closed) {
		n = read(c->fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		prog = 1;
		if (n <= 0) {
			c->closed = 1;
			if (c->welcomed)
				x->s[c->sess].open--;
			if (c->framed) {
				check(c->rlen == 0, "the host's output ends inside a frame");
				check(c->magic == FRAME_MAGIC_LEN, "the host closed a framed "
				    "channel before its magic");
				check(c->terminal || c->eof_sent || c->err_sent,
				    "the host closed a framed channel without ERROR or CLOSE");
			} else {
				check(c->rlen == 0, "the host's output ends inside a line");
				if (c->sess >= 0)
					x->s[c->sess].ended = 1;
			}
			break;
		}
		room(&c->r, &c->rcap, c->rlen + (size_t)n);
		memcpy(c->r + c->rlen, tmp, (size_t)n);
		c->rlen += (size_t)n;
		if (c->framed)
			decode_framed(x, c);
		else
			decode_plain(x, c);
	}
	return prog;
}

/* ---- what we write --------------------------------------------------------- */

/* The host's view of bytes we send on c (the same decoder on the same bytes). */
static void
mirror(struct run *x, struct ch *c, const uint8_t *p, size_t len)
{
	struct frame f;
	int r;

	if (len == 0)
		return;
	if (!c->framed) {
		room(&c->ptext, &c->pcap, c->plen + len);
		memcpy(c->ptext + c->plen, p, len);
		c->plen += len;
		return;
	}
	if (c->mirror_bad || frame_dec_feed(c->mirror, p, len) != 0) {
		c->mirror_bad = 1;
		return;
	}
	while ((r = frame_dec_next(c->mirror, &f)) == 1) {
		if (f.type == FRAME_HELLO && !c->mirror_hello) {
			c->mirror_hello = 1;
			if (frame_dec_set_zlib(c->mirror,
			    (f.u.info.features & FRAME_FEAT_ZLIB) != 0) != 0) {
				c->mirror_bad = 1;
				return;
			}
		} else if (f.type == FRAME_DATA) {
			if (c->nsent == c->sentcap) {
				c->sentcap = c->sentcap ? c->sentcap * 2 : 64;
				c->sent = xrealloc(c->sent, c->sentcap * sizeof(*c->sent));
			}
			c->sent[c->nsent++] = fakebe_hash(FAKEBE_HASH0, f.u.data.msg,
			    f.u.data.len);
			if (f.u.data.seq < (1ull << 32) && f.u.data.seq > x->max_client_seq)
				x->max_client_seq = f.u.data.seq;
		} else if (f.type == FRAME_PING) {
			/* All of them: a stream written at once holds hundreds. */
			if (c->npings == c->pingcap) {
				c->pingcap = c->pingcap ? c->pingcap * 2 : 16;
				c->pings = xrealloc(c->pings, c->pingcap * sizeof(*c->pings));
			}
			c->pings[c->npings].len = f.u.ping.len;
			memcpy(c->pings[c->npings++].opaque, f.u.ping.opaque, f.u.ping.len);
		}
	}
	if (r < 0)
		c->mirror_bad = 1;
}

/* Writes what c has pending, as far as the socket takes it; 1 if anything went. */
static int
push(struct run *x, struct ch *c)
{
	ssize_t n;
	int prog = 0;

	(void)x;
	while (c->fd >= 0 && c->woff < c->wlen && !c->closed) {
		n = send(c->fd, c->w + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The host closed its end; what it did not read is lost. */
			c->woff = c->wlen;
			break;
		}
		c->woff += (size_t)n;
		prog = 1;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	return prog;
}

static void
queue(struct run *x, struct ch *c, const void *p, size_t len)
{
	if (c->eof_sent || c->dead || len == 0)
		return;
	if (c->stoff == c->stlen)
		c->stoff = c->stlen = 0;
	room(&c->st, &c->stcap, c->stlen + len);
	memcpy(c->st + c->stlen, p, len);
	c->stlen += len;
	mirror(x, c, p, len);
}

/* Releases up to n staged bytes of c for writing. */
static void
release(struct ch *c, size_t n)
{
	if (n > c->stlen - c->stoff)
		n = c->stlen - c->stoff;
	if (n == 0)
		return;
	room(&c->w, &c->wcap, c->wlen + n);
	memcpy(c->w + c->wlen, c->st + c->stoff, n);
	c->wlen += n;
	c->stoff += n;
}

/* ---- driving the host ------------------------------------------------------- */

/* The fakes, our writes and our reads; 1 if anything moved. */
static int
io(struct run *x)
{
	int prog = fakebe_pump(), i;

	for (i = 0; i < x->nch; i++) {
		prog |= push(x, &x->ch[i]);
		prog |= drain(x, &x->ch[i]);
	}
	return prog;
}

/* One round of the host between our I/O; it waits (at most wait_ms) only when
 * nothing on our side moved, so it waits for itself alone (a child's exit). */
static int
round_once(struct run *x, int wait_ms)
{
	int prog = io(x);

	if (!x->done && host_step(x->h, prog ? 0 : wait_ms))
		x->done = 1;
	return io(x) | prog;
}

/* Runs the host until nothing moves for a few rounds. */
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

static void
send_eof(struct run *x, struct ch *c)
{
	int64_t deadline = now_ms() + PHASE_MS;

	if (c->eof_sent || c->dead)
		return;
	while (c->wlen > 0 && !c->closed) {
		round_once(x, 1);
		check(now_ms() < deadline, "the host read nothing of a channel for 10 s");
	}
	c->eof_sent = 1;
	if (!c->closed)
		shutdown(c->fd, SHUT_WR);
}

/* The client vanishes: the host's next write fails, its next read sees EOF.
 * Shut down before the close: a backend child being spawned meanwhile holds a
 * copy of our end until its exec has closed it, and the host must see the end
 * now, not when that child lets go (x->s[].open says so from here on). */
static void
hang_up(struct run *x, struct ch *c)
{
	if (c->fd < 0 || c->dead)
		return;
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	c->fd = -1;
	if (c->welcomed && !c->closed)
		x->s[c->sess].open--;
	c->closed = 1;
	c->eof_sent = 1;
}

/* After our EOF the host must close the channel soon. */
static void
wait_closed(struct run *x, struct ch *c)
{
	int64_t deadline = now_ms() + PHASE_MS;

	while (!c->closed && !c->dead) {
		round_once(x, 5);
		check(now_ms() < deadline, "a channel still open 10 s after its EOF");
	}
}

static struct ch *
chan_open(struct run *x, int framed, const char *backend, const uint8_t *pre,
    size_t prelen)
{
	struct ch *c;
	int sv[2];

	check(x->nch < MAX_CHANS, "too many channels");
	c = &x->ch[x->nch++];
	memset(c, 0, sizeof(*c));
	c->framed = framed;
	c->sess = -1;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	c->fd = sv[0];
	if (framed) {
		check((c->dec = frame_dec_new(conf.max_message)) != NULL &&
		    (c->mirror = frame_dec_new(conf.max_message)) != NULL &&
		    (c->enc = frame_enc_new()) != NULL, "out of memory");
	} else {
		/* The only channel of an attached host: its backend is fake 0. */
		c->sess = sess_new(x, NULL, 1);
		x->s[c->sess].fake = 0;
	}
	mirror(x, c, pre, prelen);
	if (host_add_channel(x->h, sv[1], sv[1], framed, backend, -1, pre, prelen) != 0) {
		/* Refused: the fds are still ours. */
		close(sv[1]);
		c->dead = 1;
		c->closed = 1;
	}
	x->cur = (int)(c - x->ch);
	return c;
}

/* ---- building the stream ---------------------------------------------------- */

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

static void
put_hello(struct run *x, struct ch *c, const uint8_t *token, uint64_t next,
    const char *backend, unsigned flaw)
{
	struct frame_info hi;
	struct buf *b = buf_new(4096);

	check(b != NULL, "out of memory");
	memset(&hi, 0, sizeof(hi));
	/* flaw 1: a version below ours; 2: only versions above ours. */
	hi.version = flaw == 1 ? 0 : flaw == 2 ? FRAME_PROTOCOL_VERSION + 1 :
	    FRAME_PROTOCOL_VERSION;
	hi.min_version = flaw == 2 ? FRAME_PROTOCOL_VERSION + 1 : 0;
	hi.features = c->zlib ? FRAME_FEAT_ZLIB : 0;
	snprintf(hi.backend, sizeof(hi.backend), "%s", backend);
	if (token != NULL) {
		hi.has_token = 1;
		memcpy(hi.token, token, FRAME_TOKEN_LEN);
		hi.next = next;
		c->asked_resume = 1;
		c->asked_next = next;
	} else
		c->client_next = 1;
	c->hello_known = 1;
	if (frame_put_hello(b, &hi) == 0)
		queue(x, c, buf_ptr(b), buf_len(b));
	buf_free(b);
	if (c->zlib)
		check(frame_enc_set_zlib(c->enc, 1) == 0, "frame_enc_set_zlib");
}

/* A JSON-RPC-ish message from the table; *len gets its length. Caller frees. */
static char *
template(struct run *x, unsigned k, struct in *in, size_t *len)
{
	static const char *const t[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"thread/start\",\"params\":{}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"initialized\"}",
		"{\"id\":%d,\"result\":{\"ok\":true}}",
		"{\"id\":%d,\"error\":{\"code\":-32000,\"message\":\"no\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"codex-ssh/status\"}",
		"{\"id\":%d,\"method\":\"codex-ssh/nope\",\"params\":[]}",
		"{\"id\":%d,",
		"[{\"id\":%d,\"method\":\"a\"}]",
		"%d",
		("{\n  \"id\": %d,\r\n  \"method\": \"turn/start\",\n  \"params\": "
		    "{\"text\": \"a\\nb\"}\n}"),
		"{\"id\":\"s\\u00e9-%d\",\"method\":\"m\\n\",\"params\":null}",
		"{\"id\":%d,\"method\":\"\xff\"}",
		"{\"id\":%d,\"id\":2,\"method\":\"a\"}",
		"{}",
		"{\"id\":%d,\"method\":\"x\",\"params\":{\"t\":\"\\u0000\"}}",
	};
	const uint8_t *p;
	const char *pct;
	char *s;
	size_t n;
	int id;

	if (k >= sizeof(t) / sizeof(t[0])) {
		n = in_bytes(in, in_byte(in), &p);
		s = xrealloc(NULL, n + 1);
		memcpy(s, p, n);
		*len = n;
		return s;
	}
	/* "%d" in a template is the next id. */
	s = xrealloc(NULL, 256);
	id = ++x->id;
	if ((pct = strstr(t[k], "%d")) == NULL)
		*len = (size_t)snprintf(s, 256, "%s", t[k]);
	else
		*len = (size_t)snprintf(s, 256, "%.*s%d%s", (int)(pct - t[k]), t[k], id,
		    pct + 2);
	return s;
}

/* A big message: k 0 at the limit, 1 over it, 2 over one chunk. Past a few, a
 * small one (each costs milliseconds, and the journal fills up). */
static char *
big(struct run *x, unsigned k, size_t *len)
{
	size_t n = k == 0 ? conf.max_message : k == 1 ? conf.max_message + 1 :
	    FRAME_MAX_PAYLOAD + 1000;

	if (++x->nbig > 3)
		n = 100;
	char *s = xrealloc(NULL, n + 1);
	int h = snprintf(s, n, "{\"id\":%d,\"method\":\"big\",\"params\":{\"p\":\"", ++x->id);

	memset(s + h, 'y', n - (size_t)h - 3);
	memcpy(s + n - 3, "\"}}", 3);
	*len = n;
	return s;
}

static void
put_data(struct run *x, struct ch *c, uint64_t seq, const void *msg, size_t len,
    size_t chunk, int drop_last)
{
	struct frame_chunk fc;
	struct buf *b;
	int r;

	check((b = buf_new(FRAME_MAX * 8 + len * 2 + 4096)) != NULL, "out of memory");
	frame_enc_set_chunk(c->enc, chunk);
	if (frame_enc_begin(c->enc, seq, msg, len, c->zlib) != 0) {
		buf_free(b);
		return;
	}
	do {
		r = frame_enc_chunk(c->enc, &fc);
		check(r >= 0, "frame_enc_chunk");
		if (r == 0 && drop_last) {
			/* The encoder moved on; the host never sees the end. */
			break;
		}
		check(buf_put(b, fc.hdr, fc.hdrlen) == 0 &&
		    buf_put(b, fc.payload, fc.paylen) == 0, "buf_put");
	} while (r == 1);
	queue(x, c, buf_ptr(b), buf_len(b));
	buf_free(b);
}

static void
put_ctl(struct run *x, struct ch *c, int type, unsigned a, struct in *in)
{
	struct buf *b = buf_new(8192);
	const uint8_t *p;
	uint8_t op[FRAME_MAX_OPAQUE + 1];
	size_t n;
	uint64_t v;
	int r = 0;

	check(b != NULL, "out of memory");
	switch (type) {
	case 2:
		switch (a & 7) {
		case 0: v = x->s[c->sess >= 0 ? c->sess : 0].max_seen + 1; break;
		case 1: v = 0; break;
		case 2: v = 1; break;
		case 3: v = c->data_next + 1; break;
		case 4: v = UINT64_MAX; break;
		case 5: v = c->data_next; break;
		default: v = in_byte(in); break;
		}
		r = frame_put_ack(b, v);
		break;
	case 3:
		n = a == 15 ? FRAME_MAX_OPAQUE : a * 4;
		n = in_bytes(in, n, &p);
		memcpy(op, p, n);
		r = frame_put_ping(b, op, n);
		break;
	case 4:
		r = frame_put_close(b, a, "bye");
		break;
	case 5:
		r = frame_put_error(b, a, "client trouble");
		c->err_sent = 1;
		break;
	case 6:
		if (a & 1) {
			struct frame_info wi;

			memset(&wi, 0, sizeof(wi));
			wi.version = 1;
			wi.has_token = 1;
			r = frame_put_welcome(b, &wi);
		} else {
			struct frame_info hi;

			memset(&hi, 0, sizeof(hi));
			hi.version = 1;
			r = frame_put_hello(b, &hi);
		}
		break;
	case 11: {
		/* [type, 1, "x"]: a type this version does not know is ignored. */
		uint8_t fr[] = { 0, 0, 0, 5, 0x93, (uint8_t)(9 + a), 1, 0xa1, 'x' };

		r = buf_put(b, fr, sizeof(fr));
		break;
	}
	}
	if (r == 0)
		queue(x, c, buf_ptr(b), buf_len(b));
	buf_free(b);
}

/* Writes what is queued on the current channel and lets the host run. */
static void
flush(struct run *x)
{
	struct ch *c = &x->ch[x->cur];

	release(c, c->stlen - c->stoff);
	push(x, c);
	settle(x);
}

/* The split: after an operation, what is released for the host now. */
static void
maybe_flush(struct run *x)
{
	struct ch *c = &x->ch[x->cur];

	switch (x->split) {
	case 0:
		flush(x);
		break;
	case 1:
	case 2:
		/* At most 256 pieces (each lets the host run); then the rest of
		 * the stream goes at once. */
		if (c->pieces >= 256) {
			flush(x);
			break;
		}
		while (c->stlen - c->stoff >= x->piece && !c->closed) {
			release(c, x->piece);
			c->pieces++;
			push(x, c);
			settle(x);
			if (x->split == 2) {
				x->rnd ^= x->rnd << 13;
				x->rnd ^= x->rnd >> 17;
				x->rnd ^= x->rnd << 5;
				x->piece = 1 + x->rnd % 97;
			}
		}
		break;
	default:
		break;
	}
}

/* A new channel for the session of token (NULL: a new session). */
static void
new_channel(struct run *x, unsigned a, struct in *in, const char *backend)
{
	struct ch *old = &x->ch[x->cur], *c;
	const uint8_t *token = NULL;
	uint8_t zero[FRAME_TOKEN_LEN];
	uint64_t next = 1, last = 0;
	unsigned nb = in_byte(in), flaw = in_byte(in) & 3;
	int i, si = -1;

	if (!x->daemon || x->nch == MAX_CHANS || x->done)
		return;
	memset(zero, 0, sizeof(zero));
	switch (a & 3) {
	case 0:
		si = old->sess;
		break;
	case 1:
		for (i = 0; i < MAX_SESS; i++)
			if (x->s[i].used && !x->s[i].plain) {
				si = i;
				break;
			}
		break;
	case 2:
		token = zero;
		break;
	default:
		break;
	}
	if (si >= 0 && x->s[si].used && !x->s[si].plain) {
		token = x->s[si].token;
		last = x->s[si].max_seen;
	}
	switch (nb & 3) {
	case 0: next = last + 1; break;
	case 1: next = 1; break;
	case 2: next = last; break;
	default: next = (a & 8) ? last + 2 : nb >> 2; break;
	}
	flush(x);
	if (!(a & 4)) {
		send_eof(x, old);
		wait_closed(x, old);
	}
	c = chan_open(x, 1, backend, NULL, 0);
	c->zlib = old->zlib;
	put_hello(x, c, token, next, "", flaw == 3 ? 0 : flaw);
	flush(x);
}

static void
run_ops(struct run *x, struct in *in, const char *backend)
{
	struct ch *c;
	unsigned op, k, a;
	const uint8_t *p;
	size_t len;
	char *m;

	while (in->off < in->n) {
		c = &x->ch[x->cur];
		op = in_byte(in);
		k = op & 15;
		a = op >> 4;
		if (!c->framed) {
			switch (k) {
			case 1:
				m = template(x, a, in, &len);
				queue(x, c, m, len);
				queue(x, c, "\r\n", 2);
				free(m);
				break;
			case 2:
				queue(x, c, a & 1 ? " \t\n" : "\n", a & 1 ? 3 : 1);
				break;
			case 3:
				len = in_bytes(in, a * 16 + in_byte(in), &p);
				queue(x, c, p, len);
				break;
			case 4:
				m = big(x, a % 3, &len);
				queue(x, c, m, len);
				queue(x, c, "\n", 1);
				free(m);
				break;
			case 9:
				flush(x);
				break;
			case 14:
				flush(x);
				hang_up(x, c);
				break;
			default:
				m = template(x, a, in, &len);
				queue(x, c, m, len);
				queue(x, c, "\n", 1);
				free(m);
				break;
			}
			maybe_flush(x);
			continue;
		}
		switch (k) {
		case 0:
			m = template(x, a, in, &len);
			put_data(x, c, c->client_next++, m, len, FRAME_MAX_PAYLOAD, 0);
			free(m);
			break;
		case 1:
			m = template(x, in_byte(in) & 15, in, &len);
			put_data(x, c, (a & 3) == 0 ? c->client_next - 1 :
			    (a & 3) == 1 ? c->client_next + 1 : (a & 3) == 2 ? 0 :
			    UINT64_MAX, m, len, FRAME_MAX_PAYLOAD, 0);
			free(m);
			break;
		case 7:
			len = in_bytes(in, a * 16 + in_byte(in), &p);
			queue(x, c, p, len);
			break;
		case 8:
			len = in_bytes(in, in_byte(in), &p);
			put_data(x, c, c->client_next++, p, len, FRAME_MAX_PAYLOAD, 0);
			break;
		case 9:
			flush(x);
			break;
		case 10:
			new_channel(x, a, in, backend);
			break;
		case 12:
			m = big(x, a % 3, &len);
			put_data(x, c, c->client_next++, m, len, FRAME_MAX_PAYLOAD, 0);
			free(m);
			break;
		case 13:
			m = template(x, in_byte(in) & 15, in, &len);
			put_data(x, c, c->client_next++, m, len, (a & 7) + 1, a >> 3);
			free(m);
			break;
		case 14:
			flush(x);
			if (a & 1)
				hang_up(x, c);
			else
				send_eof(x, c);
			break;
		case 15:
			k = in_byte(in);
			fakebe_mode(k | (in_byte(in) & 1) << 8);
			break;
		default:
			put_ctl(x, c, (int)k, a, in);
			break;
		}
		maybe_flush(x);
	}
}

static void
free_run(struct run *x)
{
	int i;

	for (i = 0; i < x->nch; i++) {
		struct ch *c = &x->ch[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->st);
		free(c->w);
		free(c->r);
		free(c->sent);
		free(c->ptext);
		free(c->pings);
		frame_dec_free(c->dec);
		frame_dec_free(c->mirror);
		frame_enc_free(c->enc);
	}
	for (i = 0; i < MAX_SESS; i++) {
		free(x->s[i].hash);
		free(x->s[i].got);
	}
}

/* The lines a plain channel's stream holds, as the host's line reader sees them. */
static size_t
plain_lines(const struct ch *c, uint64_t **out)
{
	uint64_t *v = NULL;
	size_t n = 0, off = 0, e, len;

	while (off < c->plen) {
		const uint8_t *nl = memchr(c->ptext + off, '\n', c->plen - off);
		size_t i;
		int blank = 1;

		e = nl != NULL ? (size_t)(nl - c->ptext) : c->plen;
		len = e - off;
		if (nl != NULL && len > 0 && c->ptext[e - 1] == '\r')
			len--;
		for (i = 0; i < len; i++)
			if (c->ptext[off + i] != ' ' && c->ptext[off + i] != '\t')
				blank = 0;
		if (!blank) {
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = fakebe_hash(FAKEBE_HASH0, c->ptext + off, len);
		}
		off = e + 1;
	}
	*out = v;
	return n;
}

/* What the backends got is what their sessions' clients sent, in order; what
 * they said reached the client whole when the session ended. */
static void
final_checks(struct run *x)
{
	int si, i, f;
	size_t k, j, nsent;
	uint64_t n, w, *sent;

	for (si = 0; si < MAX_SESS; si++) {
		struct sess *s = &x->s[si];

		if (!s->used)
			continue;
		check(s->taken <= s->resumed, "a channel closed as taken over that "
		    "no resume took over");
		if ((f = s->fake) < 0)
			continue;
		/* Every message sent on the session's channels, in channel order. */
		k = 0;
		for (i = 0; i < x->nch && k < fakebe_received(f); i++) {
			const struct ch *c = &x->ch[i];

			if (c->sess != si)
				continue;
			if (c->framed) {
				sent = c->sent;
				nsent = c->nsent;
			} else
				nsent = plain_lines(c, &sent);
			for (j = 0; j < nsent && k < fakebe_received(f); j++)
				if (sent[j] == fakebe_line_hash(f, k))
					k++;
			if (!c->framed)
				free(sent);
		}
		check(k == fakebe_received(f), "the backend got a message the client "
		    "did not send, or out of order");
		if (!s->ended || s->skipped)
			continue;
		w = fakebe_written(f);
		for (n = 1; n <= w; n++)
			if (fakebe_deliverable(f, n))
				check(n < s->ngot && s->got[n], "a session ended without "
				    "delivering every line of its backend");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const backends[] = { "", "fake", "broken", "nope" };
	struct run *x;
	struct in in;
	const char *backend;
	unsigned b0, b1, fb;
	int64_t deadline;
	int i, fds_before;

	if (size < 4)
		return 0;
	if (!ready)
		setup();
	fds_before = count_fds();
	x = calloc(1, sizeof(*x));
	check(x != NULL, "out of memory");
	b0 = data[0];
	b1 = data[1];
	fb = data[2] | (data[3] & 1u) << 8;
	backend = backends[(data[3] >> 2) & 3];
	in.p = data + 4;
	in.n = size - 4;
	in.off = 0;
	x->daemon = (b0 & 1) && (b0 & 4);
	x->expire = (data[3] & 32) != 0;
	x->split = (b0 >> 4) & 3;
	x->piece = (b1 & 63) + 1;
	x->rnd = b1 * 2654435761u + 1;

	fakebe_begin(conf.max_message);
	fakebe_mode(fb);
	check((x->h = host_new(data[3] & 32 ? &conf_expire : &conf, x->daemon, -1)) !=
	    NULL, "host_new");
	if (data[3] & 16)
		host_set_attached(x->h, "fuzz: attached on purpose");

	if (b0 & 1) {
		/* Framed: the host's input starts after the magic (serve.c read it). */
		struct ch *c;
		struct buf *b = buf_new(in.n + FRAME_MAX + 4096);
		size_t prelen = 0;

		check(b != NULL, "out of memory");
		if (b0 & 8) {
			struct frame_info hi;

			memset(&hi, 0, sizeof(hi));
			hi.version = FRAME_PROTOCOL_VERSION;
			hi.features = (b0 & 64) ? FRAME_FEAT_ZLIB : 0;
			check(frame_put_hello(b, &hi) == 0, "frame_put_hello");
		} else if (!(b0 & 2))
			check(buf_put(b, in.p, in.n) == 0, "buf_put");
		if (b0 & 128) {
			/* What serve.c's read_hello() takes: the first frame whole if it
			 * fits CTL_MAX_PRE (4096), else its length only. */
			size_t have = buf_len(b);
			const uint8_t *q = buf_ptr(b);

			if (have >= 4) {
				uint32_t l = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 |
				    (uint32_t)q[2] << 8 | q[3];

				prelen = l > 4096 - 4 ? 4 : 4 + (size_t)l;
				if (prelen > have)
					prelen = have;
			}
		}
		c = chan_open(x, 1, backend, buf_ptr(b), prelen);
		if (b0 & 8) {
			c->zlib = (b0 & 64) != 0;
			c->hello_known = 1;
			c->client_next = 1;
			if (c->zlib)
				check(frame_enc_set_zlib(c->enc, 1) == 0, "zlib");
		}
		if (!c->dead)
			queue(x, c, buf_ptr(b) + prelen, buf_len(b) - prelen);
		buf_free(b);
		if (prelen > 0 && !c->dead)
			settle(x);
		if (b0 & 2)
			run_ops(x, &in, backend);
		else if (b0 & 8)
			queue(x, c, in.p, in.n);
	} else {
		struct ch *c;
		const uint8_t *pre = NULL;
		size_t prelen = 0;

		/* Plain, raw: serve.c passes the first byte (never NUL) as pre. */
		if (!(b0 & 2) && in.n > 0 && in.p[0] == 0) {
			in.p++;
			in.n--;
		}
		if (!(b0 & 2) && in.n > 0) {
			pre = in.p;
			prelen = 1;
			in.p++;
			in.n--;
		}
		c = chan_open(x, 0, backend, pre, prelen);
		if (b0 & 2)
			run_ops(x, &in, backend);
		else
			queue(x, c, in.p, in.n);
	}
	maybe_flush(x);

	/* The end: EOF on every channel, each must close; then stop the host. */
	for (i = 0; i < x->nch; i++) {
		x->cur = i;
		flush(x);
		send_eof(x, &x->ch[i]);
		wait_closed(x, &x->ch[i]);
	}
	host_stop(x->h);
	deadline = now_ms() + PHASE_MS;
	while (!x->done) {
		round_once(x, 5);
		check(now_ms() < deadline, "the host did not finish 10 s after host_stop");
	}
	settle(x);
	final_checks(x);
	host_free(x->h);
	/* (Not waitpid(-1): libFuzzer's symbolizer may be a child of ours.) */
	check(fakebe_unreaped() == 0, "a backend process was left behind");
	fakebe_end();
	free_run(x);
	free(x);

	/* (Counted per run: libFuzzer's symbolizer may add pipes between runs.) */
	check(count_fds() == fds_before, "a file descriptor was left open");
	check(dir_empty(journal_dir), "a journal file was left behind");
	return 0;
}
