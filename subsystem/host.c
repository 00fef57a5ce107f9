/*
 * host.c - sessions, channels and the loop that moves bytes between them.
 *
 * Server->client: backend stdout -> JSONL reader -> journal (seq assigned) ->
 * encoded into the channel's output buffer while it has room -> channel. The
 * journal is the only queue, so a slow or absent client becomes journal growth,
 * then spill to disk, then a backend blocked on its stdout: never a drop.
 * Client->server: channel -> frame decoder or JSONL reader -> duplicate check ->
 * the subsystem's own methods or the backend's stdin buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxs_config.h"

#include <cJSON.h>
#include <sodium.h>

#include "proto/buf.h"
#include "proto/frame.h"
#include "proto/journal.h"
#include "proto/jrpc.h"
#include "proto/jsonl.h"
#include "subsystem/backend.h"
#include "subsystem/ctl.h"
#include "subsystem/host.h"
#include "subsystem/log.h"
#include "subsystem/serve.h"

#define READ_CHUNK (64 * 1024)
#define OUT_HIGH (512 * 1024)          /* stop encoding into a channel's buffer */
#define TO_BACKEND_LOW (1024 * 1024)   /* stop reading the channel above this */
#define STOP_GRACE_MS 3000             /* EOF -> SIGTERM -> SIGKILL steps */
#define ERRTAIL 1024
#define ACK_EVERY 64                   /* PROTOCOL.md 3.1 */
#define ACK_IDLE_MS 100
#define ERR_BUDGET 16                  /* stderr reads per round */
#define ERRLOG_MAX (64u * 1024)        /* stderr bytes logged per window ... */
#define ERRLOG_WINDOW_MS 10000u        /* ... of this length */
#define SPILL_RELOG_MS 60000           /* a lasting spill failure is logged again */
#define OUT_EOF_GRACE_MS 3000          /* stdout closed, process still running */
#define BUSY_PING_MS 5000              /* PING a client whose input waits */
#define EXPIRED_KEEP 64                /* expired sessions remembered */

enum chan_state { CH_HELLO, CH_OPEN, CH_CLOSING };

struct session;

struct chan {
	struct chan *next;
	int pfi;		/* its first pollfd this round; 0: added since */
	int in, out, ctl;
	int framed;
	enum chan_state state;
	char backend[64];
	struct jsonl_reader *lines;   /* plain mode input */
	struct frame_dec *dec;        /* framed mode input */
	struct frame_enc *enc;
	struct buf *obuf;             /* bytes waiting for the channel */
	struct session *s;
	int in_eof;
	int dead;
	uint64_t ack_sent;
	int64_t ack_due_ms;           /* when an owed ACK must go out; 0: none owed */
	int64_t busy_ping_ms;         /* last PING sent while its input waits */
	int exit_code;
	char reason[512];
	uint8_t *big;                 /* a message over one chunk, being sent */
	size_t big_len, big_off;
	int64_t close_by_ms;          /* closing: close by then even if unflushed
				       * (0: once flushed) */
	struct backend_user *user;    /* who asked (ATTACH_USER); NULL: this
				       * process. A new session takes it over. */
};

static void
chan_drop_big(struct chan *ch)
{
	free(ch->big);
	ch->big = NULL;
	ch->big_len = ch->big_off = 0;
}

struct session {
	struct session *next;
	int pfi;		/* its first pollfd this round; 0: added since */
	unsigned id;
	uint8_t token[FRAME_TOKEN_LEN];
	int resumable;
	char backend_name[64];
	const struct sconf_backend *conf_be;
	int be_started;        /* backend_start() ran (plain mode starts it lazily) */
	int never_ran;         /* ended before anything needed the backend */
	int start_failed;      /* backend_start() failed: start_err says why */
	char start_err[600];
	struct backend be;
	struct backend_user *user;  /* whose environment and umask it runs with */
	int be_exited, be_status, be_eof, be_output;
	struct buf *to_be;
	struct jsonl_reader *from_be;
	struct journal *j;
	char errtail[ERRTAIL];
	size_t errtail_len;
	uint64_t in_next;      /* next expected client seq */
	uint64_t send_next;    /* next journal seq to put on the channel */
	struct chan *ch;
	time_t started;
	int64_t detached_ms;   /* when the last channel went away; 0 attached */
	int stop_stage;        /* 0 running, 1 stdin closed, 2 TERM sent, 3 KILL sent */
	int64_t stop_at_ms;
	int closed_by_client;
	int finished;          /* CLOSE sent or due; remove when flushed */
	int64_t out_eof_ms;    /* when its stdout reached EOF */
	int out_closed;        /* closed its stdout while still running: stopped */
	int spill_err;         /* journal spill error last logged (errno), or 0 */
	int64_t spill_log_ms;  /* when it was logged */
	int64_t errlog_start_ms;  /* the current window of stderr logging */
	uint64_t errlog_bytes, errlog_dropped;
	uint64_t bytes_in, bytes_out;
};

struct ctlconn {
	struct ctlconn *next;
	int pfi;		/* its pollfd this round; 0: added since (see host_loop) */
	int fd;
	int has_chan;
};

struct host {
	const struct sconf *c;
	int daemon;
	int lfd;
	struct chan *chans;
	struct session *sessions;
	struct ctlconn *ctls;
	unsigned next_id;
	time_t started;
	int64_t idle_since_ms;
	int exit_code;
	char reason[512];
	int stopping;
	char journal_dir[4096];
	char journal_why[4200];       /* why journal_dir is not used ("" if it is) */
	char id[CTL_ID_LEN + 1];      /* identity (ctl.h); "" in attached mode */
	const char *conf_path;        /* as given with -f, or NULL */
	char dir[4096];               /* runtime directory (daemon) */
	int superseded;               /* a newer host serves new sessions */
	char attached[256];           /* WELCOME's note: why sessions end with their
				       * channel here ("": not said) */
	int64_t next_check_ms;        /* when to look for a newer host again */
	struct backend_user *attach_user; /* for the channel being added (ctl) */
	/* Sessions ended by DetachTimeout, newest last (a ring), so that a late
	 * resume hears "session expired" rather than "unknown session". */
	struct {
		uint8_t token[FRAME_TOKEN_LEN];
		unsigned id;
		int64_t when_ms;
	} expired[EXPIRED_KEEP];
	unsigned nexpired;            /* ever recorded */
};

static int sigchld_pipe[2] = { -1, -1 };
static volatile sig_atomic_t got_term;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_sigchld(int sig)
{
	int e = errno;
	char c = 0;

	(void)sig;
	if (write(sigchld_pipe[1], &c, 1) < 0) {
		/* the pipe is full: a wake-up is already pending */
	}
	errno = e;
}

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- who asked for a session -------------------------------------------- */

static void
user_free(struct backend_user *u)
{
	if (u == NULL)
		return;
	backend_env_free(u->env);
	free(u);
}

/* Parses ATTACH_USER's "u32 umask, u32 envlen, env" at p (n bytes). Returns the
 * user and its length in *used, or NULL when malformed or out of memory. */
static struct backend_user *
user_parse(const uint8_t *p, size_t n, size_t *used)
{
	struct backend_user *u;
	uint32_t um, el;

	if (n < 8)
		return NULL;
	memcpy(&um, p, 4);
	memcpy(&el, p + 4, 4);
	if (el > n - 8 || el > CTL_MAX_ENV || (el > 0 && p[8 + el - 1] != '\0'))
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->umask = (mode_t)(um & 0777);
	if ((u->env = backend_env_split((const char *)p + 8, el)) == NULL) {
		free(u);
		return NULL;
	}
	*used = 8 + el;
	return u;
}

/* ---- sessions ------------------------------------------------------------ */

static void chan_close(struct host *h, struct chan *ch, int code, const char *why);

/* A new session for ch, which hands over who asked (ch->user) when it works. */
static struct session *
sess_new(struct host *h, struct chan *ch, const char *backend, int resumable,
    char *err, size_t errlen)
{
	const struct sconf_backend *be = sconf_backend(h->c, backend);
	struct journal_limits lim;
	struct session *s;
	int i;

	if (be == NULL) {
		int n = snprintf(err, errlen, "unknown backend \"%s\" (configured:",
		    backend && *backend ? backend : h->c->default_backend);

		for (i = 0; i < h->c->nbackends && n > 0 && (size_t)n < errlen; i++)
			n += snprintf(err + n, errlen - (size_t)n, " %s",
			    h->c->backends[i].name);
		if (n > 0 && (size_t)n < errlen)
			snprintf(err + n, errlen - (size_t)n, ")");
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->be.pid = 0;
	s->be.in = s->be.out = s->be.err = -1;
	lim.mem_max = h->c->journal_memory;
	/* A session that cannot be resumed gains nothing from a disk journal:
	 * past the memory bound its backend simply waits, like on a pipe. */
	lim.disk_max = resumable ? h->c->journal_disk : 0;
	lim.spill_dir = h->journal_dir[0] ? h->journal_dir : NULL;
	s->j = journal_new(&lim, 1);
	s->from_be = jsonl_new(h->c->max_message);
	s->to_be = buf_new(TO_BACKEND_LOW + h->c->max_message + READ_CHUNK + 16);
	if (s->j == NULL || s->from_be == NULL || s->to_be == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	snprintf(s->backend_name, sizeof(s->backend_name), "%s", be->name);
	s->conf_be = be;
	randombytes_buf(s->token, sizeof(s->token));
	s->resumable = resumable;
	s->id = ++h->next_id;
	s->in_next = 1;
	s->send_next = 1;
	s->started = time(NULL);
	s->user = ch->user;
	ch->user = NULL;
	s->next = h->sessions;
	h->sessions = s;
	return s;
fail:
	journal_free(s->j);
	jsonl_free(s->from_be);
	buf_free(s->to_be);
	free(s);
	return NULL;
}

/* Starts the session's backend (once). Returns 0, or -1 with why in err. */
static int
sess_start(struct host *h, struct session *s, char *err, size_t errlen)
{
	if (s->be_started)
		return 0;
	s->be_started = 1;
	if (backend_start(&s->be, h->c, s->conf_be, s->user, err, errlen) != 0) {
		/* Nothing runs: the session is over as if it had exited. */
		s->be_exited = 1;
		s->be_eof = 1;
		s->be_status = 127 << 8;
		s->start_failed = 1;
		snprintf(s->start_err, sizeof(s->start_err), "%s", err);
		return -1;
	}
	return 0;
}

static void
sess_free(struct session *s)
{
	close_fd(&s->be.in);
	close_fd(&s->be.out);
	close_fd(&s->be.err);
	journal_free(s->j);
	jsonl_free(s->from_be);
	buf_free(s->to_be);
	user_free(s->user);
	sodium_memzero(s->token, sizeof(s->token));
	free(s);
}

/*
 * Begins stopping the backend: EOF first, then signals on a timer. EOF waits until
 * every message accepted before the stop was written to the backend (be_write
 * closes its stdin then), and the timer waits while that input still moves, so a
 * request sent just before a close is answered, as on a pipe.
 */
static void
sess_stop(struct session *s)
{
	if (s->stop_stage > 0)
		return;
	s->stop_stage = 1;
	s->stop_at_ms = now_ms() + STOP_GRACE_MS;
	if (!s->be_started) {
		/* Nothing ever needed the backend: nothing to stop. */
		s->be_started = 1;
		s->never_ran = 1;
		s->be_exited = 1;
		s->be_eof = 1;
		return;
	}
	if (buf_len(s->to_be) == 0)
		close_fd(&s->be.in);
}

static void
sess_errtail(struct session *s, const char *p, size_t n)
{
	if (n >= ERRTAIL) {
		p += n - (ERRTAIL - 1);
		n = ERRTAIL - 1;
	}
	if (s->errtail_len + n >= ERRTAIL) {
		size_t drop = s->errtail_len + n - (ERRTAIL - 1);

		memmove(s->errtail, s->errtail + drop, s->errtail_len - drop);
		s->errtail_len -= drop;
	}
	memcpy(s->errtail + s->errtail_len, p, n);
	s->errtail_len += n;
	s->errtail[s->errtail_len] = '\0';
}

/* The reason a finished backend gives the client, and the CLOSE code. */
static unsigned
sess_exit_reason(const struct session *s, char *out, size_t outlen)
{
	char st[128], tail[ERRTAIL], *p;
	size_t n;

	backend_describe_status(s->be_status, st, sizeof(st));
	/* The last non-empty lines of stderr say why, usually. */
	memcpy(tail, s->errtail, s->errtail_len + 1);
	n = strlen(tail);
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		tail[--n] = '\0';
	for (p = tail; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	p = n > 300 ? tail + n - 300 : tail;
	if (s->out_closed && s->stop_stage >= 2) {
		snprintf(out, outlen, "backend %s closed its output but kept running; "
		    "stopped it: %s%s%s", s->backend_name, st, *p ? ": " : "", p);
		return FRAME_CODE_BACKEND_EXITED;
	}
	if (!s->be_output) {
		snprintf(out, outlen, "backend %s failed: %s exited with %s%s%s",
		    s->backend_name, s->be.how, st, *p ? ": " : "", p);
		return FRAME_CODE_BACKEND_FAILED;
	}
	snprintf(out, outlen, "backend %s exited with %s%s%s", s->backend_name, st,
	    *p ? ": " : "", p);
	return FRAME_CODE_BACKEND_EXITED;
}

/*
 * Whether a backend told to stop ended as it should: it exited with status 0 on
 * its EOF, or our own TERM/KILL ended it. Anything else is worth a word to the
 * client even after it asked to close.
 */
static int
sess_ended_well(const struct session *s)
{
	if (WIFEXITED(s->be_status))
		return WEXITSTATUS(s->be_status) == 0;
	return WIFSIGNALED(s->be_status) && s->stop_stage >= 2 &&
	    (WTERMSIG(s->be_status) == SIGTERM || WTERMSIG(s->be_status) == SIGKILL);
}

/* Journals a reply built by jrpc_*_text() and frees it. */
static int
sess_reply(struct session *s, char *text)
{
	int r;

	if (text == NULL)
		return -1;
	r = journal_append(s->j, text, strlen(text));
	free(text);
	return r;
}

static char *status_json(struct host *h);

/* A message from the client: our own methods, a parse error, or the backend's. */
static void
sess_from_client(struct host *h, struct session *s, const uint8_t *msg, size_t len)
{
	struct jrpc_msg m;
	struct jrpc_reject rej;
	uint8_t *dst, *p;
	int r;

	memset(&m, 0, sizeof(m));
	memset(&rej, 0, sizeof(rej));
	s->bytes_in += len;
	r = jrpc_parse((const char *)msg, len, &m, &rej);
	if (r == PROTO_ERR_JSON) {
		char why[256];

		snprintf(why, sizeof(why), "Parse error: %s", rej.message);
		PROTO_IGNORE(sess_reply(s, jrpc_error_text(NULL, JRPC_PARSE_ERROR, why, NULL, NULL)));
		cJSON_Delete(rej.id);
		return;
	}
	if (r == PROTO_ERR_INVALID) {
		/* JSON but no message (a batch, a scalar, ...): never the backend's. */
		PROTO_IGNORE(sess_reply(s, jrpc_error_text(rej.id, JRPC_INVALID_REQUEST,
		    rej.message, NULL, NULL)));
		cJSON_Delete(rej.id);
		return;
	}
	cJSON_Delete(rej.id);
	if (r == 0 && m.kind == JRPC_REQUEST && strncmp(m.method, "codex-ssh/", 10) == 0) {
		if (strcmp(m.method, "codex-ssh/status") == 0) {
			char *js = status_json(h);
			cJSON *res = js ? cJSON_Parse(js) : NULL;

			free(js);
			if (res != NULL)
				PROTO_IGNORE(sess_reply(s, jrpc_result_text(m.id, res, NULL)));
			else
				PROTO_IGNORE(sess_reply(s, jrpc_error_text(m.id, JRPC_INTERNAL_ERROR,
				    "status unavailable", NULL, NULL)));
			cJSON_Delete(res);
		} else {
			char why[200];

			snprintf(why, sizeof(why), "method not found: %.120s", m.method);
			PROTO_IGNORE(sess_reply(s, jrpc_error_text(m.id, JRPC_METHOD_NOT_FOUND,
			    why, NULL, NULL)));
		}
		jrpc_msg_free(&m);
		return;
	}
	if (!s->be_started) {
		char err[600];

		/* Plain mode starts the backend for the first message that needs it,
		 * so a channel that only asks codex-ssh/status starts none. */
		if (sess_start(h, s, err, sizeof(err)) != 0)
			log_error("session %u: %s", s->id, err);
		else
			log_info("session %u: backend %s started", s->id, s->backend_name);
	}
	if (s->start_failed) {
		/* Every request gets the reason, so an IDE can show it. */
		char why[700];

		snprintf(why, sizeof(why), "codex-subsystem: %s", s->start_err);
		if (r == 0 && m.kind == JRPC_REQUEST)
			PROTO_IGNORE(sess_reply(s, jrpc_error_text(m.id, JRPC_INTERNAL_ERROR,
			    why, NULL, NULL)));
		jrpc_msg_free(&m);
		return;
	}
	jrpc_msg_free(&m);
	if (s->be.in < 0) {
		log_verbose("session %u: backend gone, dropping a client message", s->id);
		return;
	}
	if (buf_reserve(s->to_be, len + 1, &dst) != 0) {
		log_error("session %u: backend input buffer full", s->id);
		return;
	}
	/* The backend reads lines. A framed message is one JSON text that may be
	 * spread over lines (pretty-printed); in a valid text a raw CR or LF can
	 * only be whitespace, so a space keeps its meaning and makes it one line. */
	memcpy(dst, msg, len);
	for (p = dst; (p = memchr(p, '\n', len - (size_t)(p - dst))) != NULL; )
		*p = ' ';
	for (p = dst; (p = memchr(p, '\r', len - (size_t)(p - dst))) != NULL; )
		*p = ' ';
	dst[len] = '\n';
	buf_commit(s->to_be, len + 1);
}

/* ---- channels ------------------------------------------------------------ */

/* Frees what a channel owns (its fds are closed by chan_close). */
static void
chan_free(struct chan *ch)
{
	chan_drop_big(ch);
	buf_free(ch->obuf);
	frame_dec_free(ch->dec);
	frame_enc_free(ch->enc);
	jsonl_free(ch->lines);
	user_free(ch->user);
	free(ch);
}

static struct chan *
chan_new(struct host *h, int in, int out, int framed, const char *backend, int ctl)
{
	struct chan *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	ch->user = h->attach_user;
	h->attach_user = NULL;
	ch->in = in;
	ch->out = out;
	ch->ctl = ctl;
	ch->framed = framed;
	ch->state = framed ? CH_HELLO : CH_OPEN;
	snprintf(ch->backend, sizeof(ch->backend), "%s", backend ? backend : "");
	ch->obuf = buf_new(OUT_HIGH + 2 * FRAME_MAX + 4096);
	if (framed) {
		ch->dec = frame_dec_new(h->c->max_message);
		ch->enc = frame_enc_new();
	} else
		ch->lines = jsonl_new(h->c->max_message);
	if (ch->obuf == NULL || (framed && (ch->dec == NULL || ch->enc == NULL)) ||
	    (!framed && ch->lines == NULL))
		goto fail;
	if (framed && frame_put_magic(ch->obuf) != 0)
		goto fail;
	fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
	if (out != in)
		fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
	ch->next = h->chans;
	h->chans = ch;
	return ch;
fail:
	chan_free(ch);
	return NULL;
}

/* Sends an ERROR frame (framed) and lets the channel close once it is flushed. */
static void
chan_fail(struct chan *ch, unsigned code, const char *why)
{
	log_info("channel error %u: %s", code, why);
	if (ch->framed && ch->state != CH_CLOSING)
		PROTO_IGNORE(frame_put_error(ch->obuf, code, why));
	snprintf(ch->reason, sizeof(ch->reason), "%s", why);
	ch->exit_code = 1;
	ch->state = CH_CLOSING;
}

static void
chan_attach(struct chan *ch, struct session *s)
{
	ch->s = s;
	s->ch = ch;
	s->detached_ms = 0;
}

/* Detaches and frees a channel; tells its codex-subsystem process to exit. */
static void
chan_close(struct host *h, struct chan *ch, int code, const char *why)
{
	struct session *s = ch->s;

	if (ch->dead)
		return;
	ch->dead = 1;
	if (why != NULL && ch->reason[0] == '\0')
		snprintf(ch->reason, sizeof(ch->reason), "%s", why);
	if (code != 0 && ch->exit_code == 0)
		ch->exit_code = code;
	if (s != NULL) {
		s->ch = NULL;
		ch->s = NULL;
		/* A client that sent CLOSE still gets what its backend says until
		 * it exits: when the link is lost before our CLOSE went out, the
		 * session waits for a resume like any other. */
		if (!s->resumable || !h->daemon ||
		    (s->closed_by_client && ch->state == CH_CLOSING)) {
			if (s->closed_by_client)
				s->finished = 1;
			sess_stop(s);
		}
		else if (!s->finished) {
			s->detached_ms = now_ms();
			log_info("session %u detached (%s); keeping it for %u s", s->id,
			    ch->reason[0] ? ch->reason : "channel closed",
			    h->c->detach_timeout);
		}
	}
	if (ch->in != ch->out)
		close_fd(&ch->out);
	close_fd(&ch->in);
	ch->out = -1;
	if (ch->ctl >= 0) {
		uint8_t pkt[600];
		uint32_t ec = (uint32_t)ch->exit_code;
		size_t rl = strlen(ch->reason);

		memcpy(pkt, &ec, 4);
		memcpy(pkt + 4, ch->reason, rl);
		(void)ctl_send(ch->ctl, CTL_DONE, pkt, 4 + rl, NULL, 0);
		/* The ctl connection is closed with its ctlconn entry. */
	} else {
		h->exit_code = ch->exit_code;
		snprintf(h->reason, sizeof(h->reason), "%s", ch->reason);
	}
}

static struct session *
find_session(struct host *h, const uint8_t *token)
{
	struct session *s, *found = NULL;

	/* Compare against every session in constant time per token. A finished
	 * session (expired, closed by its client, its end delivered) is only
	 * waiting for its backend to go: it cannot be resumed (as CTL_FIND says). */
	for (s = h->sessions; s != NULL; s = s->next)
		if (sodium_memcmp(s->token, token, FRAME_TOKEN_LEN) == 0 &&
		    s->resumable && !s->finished)
			found = s;
	return found;
}

/* Remembers that session s ended by the detach timeout. */
static void
expired_add(struct host *h, const struct session *s)
{
	unsigned i = h->nexpired++ % EXPIRED_KEEP;

	memcpy(h->expired[i].token, s->token, FRAME_TOKEN_LEN);
	h->expired[i].id = s->id;
	h->expired[i].when_ms = now_ms();
}

/* The expired session of token: its slot, or -1. Constant time per token. */
static int
expired_find(const struct host *h, const uint8_t *token)
{
	unsigned i, n = h->nexpired < EXPIRED_KEEP ? h->nexpired : EXPIRED_KEEP;
	int found = -1;

	for (i = 0; i < n; i++)
		if (sodium_memcmp(h->expired[i].token, token, FRAME_TOKEN_LEN) == 0)
			found = (int)i;
	return found;
}

static void
chan_hello(struct host *h, struct chan *ch, const struct frame_info *hi)
{
	struct frame_info wi;
	struct session *s;
	char err[600];
	unsigned minv = hi->min_version ? hi->min_version : 1;
	int i;

	if (hi->version < FRAME_PROTOCOL_VERSION || minv > FRAME_PROTOCOL_VERSION) {
		snprintf(err, sizeof(err), "no common protocol version (client speaks "
		    "%u..%u, server 1)", minv, hi->version);
		chan_fail(ch, FRAME_CODE_VERSION, err);
		return;
	}
	memset(&wi, 0, sizeof(wi));
	wi.version = FRAME_PROTOCOL_VERSION;
	wi.features = hi->features & FRAME_FEAT_ZLIB;
	wi.max_message = h->c->max_message;
	snprintf(wi.attached, sizeof(wi.attached), "%s", h->attached);
	if (hi->has_token) {
		s = h->daemon ? find_session(h, hi->token) : NULL;
		if (s == NULL && h->daemon && (i = expired_find(h, hi->token)) >= 0) {
			snprintf(err, sizeof(err), "session expired: it was detached for "
			    "longer than DetachTimeout (%u s) and ended %lld s ago, "
			    "its backend with it", h->c->detach_timeout,
			    (long long)((now_ms() - h->expired[i].when_ms) / 1000));
			log_info("session %u: a resume came after it expired",
			    h->expired[i].id);
			chan_fail(ch, FRAME_CODE_EXPIRED, err);
			return;
		}
		if (s == NULL) {
			chan_fail(ch, FRAME_CODE_UNKNOWN_SESSION, "unknown session: it "
			    "ended, expired, or belongs to another host");
			return;
		}
		if (journal_can_replay(s->j, hi->next) != 0) {
			snprintf(err, sizeof(err), "resume impossible: client expects "
			    "message %llu, server holds %llu..%llu",
			    (unsigned long long)hi->next,
			    (unsigned long long)journal_first_seq(s->j),
			    (unsigned long long)journal_next_seq(s->j));
			chan_fail(ch, FRAME_CODE_RESUME, err);
			return;
		}
		if (s->ch != NULL) {
			struct chan *old = s->ch;

			/* The old channel loses the session at once and says why
			 * before it closes: once flushed, or soon anyway (its
			 * client has probably stopped reading). */
			if (old->state != CH_CLOSING)
				PROTO_IGNORE(frame_put_close(old->obuf, FRAME_CODE_BUSY,
				    "session taken over by a new connection"));
			snprintf(old->reason, sizeof(old->reason), "session taken over "
			    "by a new connection");
			old->state = CH_CLOSING;
			old->close_by_ms = now_ms() + STOP_GRACE_MS;
			old->s = NULL;
			s->ch = NULL;
		}
		PROTO_IGNORE(journal_ack(s->j, hi->next));
		s->send_next = hi->next;
		wi.resumed = 1;
		log_info("session %u resumed from message %llu", s->id,
		    (unsigned long long)hi->next);
	} else {
		s = sess_new(h, ch, hi->backend[0] ? hi->backend : ch->backend, h->daemon,
		    err, sizeof(err));
		if (s == NULL) {
			chan_fail(ch, FRAME_CODE_BACKEND_FAILED, err);
			return;
		}
		if (sess_start(h, s, err, sizeof(err)) != 0) {
			s->finished = 1;
			chan_fail(ch, FRAME_CODE_BACKEND_FAILED, err);
			return;
		}
		log_info("session %u started with backend %s", s->id, s->backend_name);
	}
	memcpy(wi.token, s->token, FRAME_TOKEN_LEN);
	wi.has_token = 1;
	wi.next = s->in_next;
	chan_attach(ch, s);
	if (frame_put_welcome(ch->obuf, &wi) != 0 ||
	    frame_enc_set_zlib(ch->enc, (wi.features & FRAME_FEAT_ZLIB) ? 1 : 0) != 0 ||
	    frame_dec_set_zlib(ch->dec, (wi.features & FRAME_FEAT_ZLIB) != 0) != 0) {
		chan_fail(ch, FRAME_CODE_INTERNAL, "out of memory");
		return;
	}
	ch->ack_sent = s->in_next;
	ch->state = CH_OPEN;
}

/* One decoded frame from a framed channel. */
static void
chan_frame(struct host *h, struct chan *ch, const struct frame *f)
{
	struct session *s = ch->s;
	char why[200];

	if (ch->state == CH_HELLO) {
		if (f->type != FRAME_HELLO) {
			chan_fail(ch, FRAME_CODE_PROTOCOL, "the first frame must be HELLO");
			return;
		}
		chan_hello(h, ch, &f->u.info);
		return;
	}
	if (ch->state != CH_OPEN || s == NULL)
		return;
	switch (f->type) {
	case FRAME_DATA:
		if (f->u.data.seq < s->in_next)
			return; /* a duplicate after resume: already delivered */
		if (f->u.data.seq > s->in_next) {
			snprintf(why, sizeof(why), "message %llu arrived, expected %llu",
			    (unsigned long long)f->u.data.seq,
			    (unsigned long long)s->in_next);
			chan_fail(ch, FRAME_CODE_PROTOCOL, why);
			return;
		}
		s->in_next++;
		sess_from_client(h, s, f->u.data.msg, f->u.data.len);
		break;
	case FRAME_ACK:
		if (f->u.ack_next > s->send_next) {
			snprintf(why, sizeof(why), "ACK %llu beyond the last message sent "
			    "(%llu)", (unsigned long long)f->u.ack_next,
			    (unsigned long long)s->send_next - 1);
			chan_fail(ch, FRAME_CODE_PROTOCOL, why);
			return;
		}
		PROTO_IGNORE(journal_ack(s->j, f->u.ack_next));
		break;
	case FRAME_PING:
		PROTO_IGNORE(frame_put_pong(ch->obuf, f->u.ping.opaque, f->u.ping.len));
		break;
	case FRAME_PONG:
		break;
	case FRAME_CLOSE:
		/* Like EOF on a pipe: the backend gets EOF, what it still says
		 * is delivered, and CLOSE follows once it has exited. */
		log_info("session %u closed by the client", s->id);
		s->closed_by_client = 1;
		sess_stop(s);
		break;
	case FRAME_ERROR:
		snprintf(ch->reason, sizeof(ch->reason), "client error %u: %s",
		    f->u.error.code, f->u.error.reason);
		log_info("%s", ch->reason);
		ch->state = CH_CLOSING;
		break;
	default:
		chan_fail(ch, FRAME_CODE_PROTOCOL, "HELLO or WELCOME after the handshake");
		break;
	}
}

/* Puts the ACK the client is owed into the channel's buffer. */
static void
chan_ack(struct chan *ch)
{
	if (ch->s != NULL && ch->s->in_next != ch->ack_sent &&
	    frame_put_ack(ch->obuf, ch->s->in_next) == 0)
		ch->ack_sent = ch->s->in_next;
	ch->ack_due_ms = 0;
}

/* Handles the frames decoded so far; -1 when the channel failed. */
static int
chan_decode(struct host *h, struct chan *ch)
{
	struct frame f;
	int r;

	while ((r = frame_dec_next(ch->dec, &f)) == 1) {
		chan_frame(h, ch, &f);
		if (ch->state == CH_CLOSING || ch->dead)
			return 0;
	}
	if (r < 0) {
		chan_fail(ch, frame_dec_code(ch->dec), frame_dec_reason(ch->dec));
		return -1;
	}
	return 0;
}

/* Reads what the channel has; returns -1 once it is gone. */
static void
chan_read(struct host *h, struct chan *ch)
{
	uint8_t *dst;
	const char *line;
	size_t len;
	ssize_t n;
	long room;
	int r, budget = 16;

	while (budget-- > 0 && ch->state != CH_CLOSING && !ch->dead) {
		if (ch->s != NULL && buf_len(ch->s->to_be) >= TO_BACKEND_LOW)
			break;
		if (ch->framed) {
			room = frame_dec_space(ch->dec, &dst);
			if (room <= 0) {
				chan_fail(ch, frame_dec_code(ch->dec), frame_dec_reason(ch->dec));
				break;
			}
			n = read(ch->in, dst, (size_t)room);
		} else {
			static uint8_t tmp[READ_CHUNK];

			dst = tmp;
			n = read(ch->in, tmp, sizeof(tmp));
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			ch->in_eof = 1;
			break;
		}
		if (ch->framed) {
			frame_dec_commit(ch->dec, (size_t)n);
			if (chan_decode(h, ch) < 0)
				break;
		} else {
			if (jsonl_feed(ch->lines, dst, (size_t)n) != 0) {
				chan_fail(ch, 0, "out of memory");
				break;
			}
			while ((r = jsonl_next(ch->lines, &line, &len)) != 0) {

				if (r == PROTO_ERR_LINE_TOO_LONG) {
					char why[128];

					snprintf(why, sizeof(why), "message too large: over %zu "
					    "bytes", h->c->max_message);
					PROTO_IGNORE(sess_reply(ch->s, jrpc_error_text(NULL,
					    JRPC_INVALID_REQUEST, why, NULL, NULL)));
					continue;
				}
				if (r < 0)
					break;
				sess_from_client(h, ch->s, (const uint8_t *)line, len);
			}
		}
		if ((size_t)n < (size_t)READ_CHUNK / 2)
			break;
	}
	if (ch->in_eof && !ch->framed && ch->s != NULL && !ch->dead) {
		if (jsonl_finish(ch->lines, &line, &len) == 1)
			sess_from_client(h, ch->s, (const uint8_t *)line, len);
	}
	/* Acknowledge what reached us: at once when 64 messages are owed, else
	 * in front of the next DATA (chan_fill) or after 100 ms (host_run), so a
	 * request and its reply cost one write each way, not two. */
	if (ch->framed && ch->s != NULL && ch->state == CH_OPEN &&
	    ch->s->in_next != ch->ack_sent) {
		if (ch->s->in_next - ch->ack_sent >= ACK_EVERY)
			chan_ack(ch);
		else if (ch->ack_due_ms == 0)
			ch->ack_due_ms = now_ms() + ACK_IDLE_MS;
	}
}

/*
 * Moves journalled messages into the channel's buffer while it has room. A message
 * bigger than one chunk is copied out of the journal first: it is sent over many
 * rounds of the loop, and the journal may move its bytes meanwhile.
 */
static void
chan_fill(struct chan *ch)
{
	struct session *s = ch->s;
	struct frame_chunk fc;
	const uint8_t *msg;
	size_t len, n;
	int r;

	if (s == NULL || ch->state != CH_OPEN)
		return;
	while (buf_len(ch->obuf) < OUT_HIGH) {
		if (ch->framed && frame_enc_busy(ch->enc)) {
			r = frame_enc_chunk(ch->enc, &fc);
			if (r < 0) {
				chan_fail(ch, FRAME_CODE_INTERNAL, "encoder failed");
				return;
			}
			if (buf_put(ch->obuf, fc.hdr, fc.hdrlen) != 0 ||
			    buf_put(ch->obuf, fc.payload, fc.paylen) != 0) {
				chan_fail(ch, FRAME_CODE_INTERNAL, "output buffer overflow");
				return;
			}
			if (r == 0) {
				s->send_next++;
				chan_drop_big(ch);
			}
			continue;
		}
		if (!ch->framed && ch->big != NULL) {
			/* A big plain message goes out a piece at a time. */
			n = ch->big_len - ch->big_off;
			if (n > OUT_HIGH)
				n = OUT_HIGH;
			if (buf_put(ch->obuf, ch->big + ch->big_off, n) != 0) {
				chan_fail(ch, 0, "output buffer overflow");
				return;
			}
			ch->big_off += n;
			if (ch->big_off < ch->big_len)
				continue;
			chan_drop_big(ch);
			if (buf_put(ch->obuf, "\n", 1) != 0) {
				chan_fail(ch, 0, "output buffer overflow");
				return;
			}
			s->send_next++;
			PROTO_IGNORE(journal_ack(s->j, s->send_next));
			continue;
		}
		if (s->send_next >= journal_next_seq(s->j))
			break;
		if (journal_get(s->j, s->send_next, &msg, &len) != 0) {
			chan_fail(ch, FRAME_CODE_INTERNAL, "journal read failed");
			return;
		}
		s->bytes_out += len;
		if (ch->framed && s->in_next != ch->ack_sent)
			chan_ack(ch);
		if (len > FRAME_MAX_PAYLOAD) {
			if ((ch->big = malloc(len)) == NULL) {
				chan_fail(ch, FRAME_CODE_INTERNAL, "out of memory");
				return;
			}
			memcpy(ch->big, msg, len);
			ch->big_len = len;
			ch->big_off = 0;
			msg = ch->big;
			if (!ch->framed)
				continue;
		}
		if (ch->framed) {
			/* Tiny messages compress badly alone, but the shared stream
			 * makes even deltas cheap: compress everything. */
			if (frame_enc_begin(ch->enc, s->send_next, msg, len, 1) != 0) {
				chan_fail(ch, FRAME_CODE_INTERNAL, "encoder busy");
				return;
			}
			continue;
		}
		if (buf_put(ch->obuf, msg, len) != 0 || buf_put(ch->obuf, "\n", 1) != 0) {
			chan_fail(ch, 0, "output buffer overflow");
			return;
		}
		s->send_next++;
		/* Plain mode has no acks: what is written is delivered. */
		PROTO_IGNORE(journal_ack(s->j, s->send_next));
	}
}

/* Whether the channel has more to send than its buffer holds. */
static int
chan_has_more(const struct chan *ch)
{
	const struct session *s = ch->s;

	if (s == NULL || ch->state != CH_OPEN)
		return 0;
	return ch->big != NULL || (ch->framed && frame_enc_busy(ch->enc)) ||
	    s->send_next < journal_next_seq(s->j);
}

static void
chan_write(struct chan *ch)
{
	ssize_t n;

	while (buf_len(ch->obuf) > 0 && ch->out >= 0) {
		n = write(ch->out, buf_ptr(ch->obuf), buf_len(ch->obuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			ch->in_eof = 1;
			buf_reset(ch->obuf);
			snprintf(ch->reason, sizeof(ch->reason), "channel closed");
			return;
		}
		buf_consume(ch->obuf, (size_t)n);
	}
}

/* ---- backend I/O -------------------------------------------------------- */

/*
 * The backend wrote a line over MaxMessage: it is dropped as it arrives (never
 * held whole), and the client learns of it the way a plain-mode client learns of
 * its own over-long line: an error with id null, in the stream where the message
 * would have been.
 */
static void
be_too_long(struct host *h, struct session *s)
{
	char why[300], msg[320];

	snprintf(why, sizeof(why), "backend %s sent a message over the %zu-byte limit "
	    "(MaxMessage); it was dropped", s->backend_name, h->c->max_message);
	log_error("session %u: %s", s->id, why);
	snprintf(msg, sizeof(msg), "codex-subsystem: %s", why);
	PROTO_IGNORE(sess_reply(s, jrpc_error_text(NULL, JRPC_INTERNAL_ERROR, msg,
	    NULL, NULL)));
}

static void
be_read(struct host *h, struct session *s)
{
	uint8_t tmp[READ_CHUNK];
	cJSON *last = NULL;
	const char *line;
	size_t len;
	ssize_t n;
	int r, budget = 8;

	while (budget-- > 0 && s->be.out >= 0 && !journal_full(s->j)) {
		n = read(s->be.out, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			r = jsonl_finish(s->from_be, &line, &len);
			/* A last line without its line end is a message only if it
			 * is whole: a backend killed in the middle of a write leaves
			 * a cut one, which the client must not get as JSON. */
			if (r == 1 && (last = cJSON_ParseWithLength(line, len)) != NULL)
				PROTO_IGNORE(journal_append(s->j, line, len));
			else if (r == 1)
				log_info("session %u: the backend's output ended inside a "
				    "message (%zu bytes); dropped", s->id, len);
			else if (r == PROTO_ERR_LINE_TOO_LONG)
				be_too_long(h, s);
			cJSON_Delete(last);
			close_fd(&s->be.out);
			s->be_eof = 1;
			s->out_eof_ms = now_ms();
			break;
		}
		s->be_output = 1;
		if (jsonl_feed(s->from_be, tmp, (size_t)n) != 0) {
			log_error("session %u: out of memory reading the backend", s->id);
			break;
		}
		while ((r = jsonl_next(s->from_be, &line, &len)) != 0) {
			if (r == PROTO_ERR_LINE_TOO_LONG) {
				be_too_long(h, s);
				continue;
			}
			if (r < 0)
				break;
			if (journal_append(s->j, line, len) != 0)
				log_error("session %u: journal out of memory", s->id);
		}
		if ((size_t)n < sizeof(tmp))
			break;
	}
}

/* Says how much stderr the log was spared since the last time. */
static void
be_err_unlogged(struct session *s)
{
	if (s->errlog_dropped > 0)
		log_verbose("session %u: %llu more bytes of backend stderr not logged "
		    "(at most %u per %u s)", s->id,
		    (unsigned long long)s->errlog_dropped, ERRLOG_MAX,
		    ERRLOG_WINDOW_MS / 1000);
	s->errlog_dropped = 0;
}

/*
 * Reads a bounded amount per round, so a backend flooding stderr cannot starve
 * its own stdout or the other sessions, and logs a bounded share of it, so the
 * flood cannot rotate everything else out of the log.
 */
static void
be_read_err(struct session *s)
{
	char tmp[4096];
	ssize_t n;
	int64_t now;
	int budget = ERR_BUDGET;

	while (budget-- > 0) {
		n = read(s->be.err, tmp, sizeof(tmp) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			be_err_unlogged(s);
			close_fd(&s->be.err);
			return;
		}
		tmp[n] = '\0';
		sess_errtail(s, tmp, (size_t)n);
		now = now_ms();
		if (now - s->errlog_start_ms >= ERRLOG_WINDOW_MS) {
			be_err_unlogged(s);
			s->errlog_start_ms = now;
			s->errlog_bytes = 0;
		}
		if (s->errlog_bytes >= ERRLOG_MAX) {
			s->errlog_dropped += (uint64_t)n;
			continue;
		}
		s->errlog_bytes += (uint64_t)n;
		log_verbose("session %u backend stderr: %.*s", s->id,
		    (int)(n > 1000 ? 1000 : n), tmp);
	}
}

static void
be_write(struct session *s)
{
	ssize_t n;

	while (buf_len(s->to_be) > 0 && s->be.in >= 0) {
		n = write(s->be.in, buf_ptr(s->to_be), buf_len(s->to_be));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* The backend closed its stdin: it is on its way out. */
			buf_reset(s->to_be);
			close_fd(&s->be.in);
			return;
		}
		buf_consume(s->to_be, (size_t)n);
		if (s->stop_stage == 1)
			s->stop_at_ms = now_ms() + STOP_GRACE_MS;
	}
	/* Stopping: the last accepted message is in, now the EOF. */
	if (s->stop_stage > 0 && buf_len(s->to_be) == 0)
		close_fd(&s->be.in);
}

static void
reap(struct host *h)
{
	struct session *s;
	char c[64];
	int status;
	pid_t pid;

	while (read(sigchld_pipe[0], c, sizeof(c)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (s = h->sessions; s != NULL; s = s->next) {
			if (s->be.pid == pid) {
				char st[128];

				backend_describe_status(status, st, sizeof(st));
				log_info("session %u: backend pid %ld exited with %s", s->id,
				    (long)pid, st);
				s->be_exited = 1;
				s->be_status = status;
				/* Its process group may still hold commands it ran. */
				if (s->stop_stage > 0)
					kill(-pid, SIGKILL);
				s->be.pid = 0;
				close_fd(&s->be.in);
			}
		}
	}
}

/* ---- status ------------------------------------------------------------- */

/* This host and its sessions (those with a backend) as a JSON object. */
static cJSON *
status_obj(struct host *h)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	struct session *s;
	time_t now = time(NULL);

	if (root == NULL)
		return NULL;
	cJSON_AddStringToObject(root, "version", PACKAGE_VERSION);
	cJSON_AddNumberToObject(root, "host_pid", (double)getpid());
	cJSON_AddNumberToObject(root, "host_uptime_s", (double)(now - h->started));
	cJSON_AddStringToObject(root, "mode", h->daemon ? "daemon" : "attached");
	cJSON_AddStringToObject(root, "identity", h->id);
	if (h->conf_path != NULL)
		cJSON_AddStringToObject(root, "config", h->conf_path);
	else
		cJSON_AddNullToObject(root, "config");
	cJSON_AddBoolToObject(root, "draining", h->daemon && h->superseded);
	if (h->journal_why[0] != '\0')
		cJSON_AddStringToObject(root, "journal_refused", h->journal_why);
	arr = cJSON_AddArrayToObject(root, "sessions");
	for (s = h->sessions; s != NULL && arr != NULL; s = s->next) {
		cJSON *o;
		const char *state = s->be_exited ? "exited" :
		    s->ch != NULL ? "attached" : "detached";

		if (!s->be_started || s->never_ran)
			continue;  /* a channel that only asked us something */
		if ((o = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddNumberToObject(o, "id", s->id);
		cJSON_AddStringToObject(o, "backend", s->backend_name);
		if (s->be.pid > 0)
			cJSON_AddNumberToObject(o, "pid", (double)s->be.pid);
		else
			cJSON_AddNullToObject(o, "pid");
		cJSON_AddStringToObject(o, "state", state);
		cJSON_AddBoolToObject(o, "resumable", s->resumable);
		cJSON_AddNumberToObject(o, "uptime_s", (double)(now - s->started));
		cJSON_AddNumberToObject(o, "bytes_in", (double)s->bytes_in);
		cJSON_AddNumberToObject(o, "bytes_out", (double)s->bytes_out);
		cJSON_AddNumberToObject(o, "messages_out", (double)(journal_next_seq(s->j) - 1));
		cJSON_AddNumberToObject(o, "journal_mem_bytes", (double)journal_mem_bytes(s->j));
		cJSON_AddNumberToObject(o, "journal_disk_bytes", (double)journal_disk_bytes(s->j));
		if (journal_disk_error(s->j) != 0)
			cJSON_AddStringToObject(o, "journal_error",
			    strerror(journal_disk_error(s->j)));
		else
			cJSON_AddNullToObject(o, "journal_error");
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}

/*
 * codex-ssh/status: every session host of this user, this one included (asking
 * this one through its own socket would wait for itself).
 */
static char *
status_json(struct host *h)
{
	return serve_status_json(h->c, status_obj(h), h->daemon ? h->id : NULL);
}

/* ---- the loop ----------------------------------------------------------- */

struct host *
host_new(const struct sconf *c, int daemon, int ctl_fd)
{
	struct host *h = calloc(1, sizeof(*h));
	struct sigaction sa;
	const char *home = getenv("HOME");

	if (h == NULL)
		return NULL;
	h->c = c;
	h->daemon = daemon;
	h->lfd = ctl_fd;
	h->started = time(NULL);
	h->idle_since_ms = now_ms();
	if (c->journal_dir != NULL)
		snprintf(h->journal_dir, sizeof(h->journal_dir), "%s", c->journal_dir);
	else if (home != NULL && home[0] == '/')
		snprintf(h->journal_dir, sizeof(h->journal_dir), "%s/.codex/ssh/journal",
		    home);
	if (h->journal_dir[0] != '\0' && log_mkdirs(h->journal_dir, 1) != 0) {
		log_error("journal directory %s: %s; spilling disabled", h->journal_dir,
		    strerror(errno));
		h->journal_dir[0] = '\0';
	} else if (h->journal_dir[0] != '\0' &&
	    log_check_dir(h->journal_dir, 022, h->journal_why,
	    sizeof(h->journal_why)) != 0) {
		/* Another user's, a link, or writable by others: journals stay
		 * in memory (JournalMemory) and status says why. */
		log_error("journal directory: %s; spilling disabled", h->journal_why);
		h->journal_dir[0] = '\0';
	}
	if (sigchld_pipe[0] < 0 && pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(h);
		return NULL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_term;
	sa.sa_flags = 0;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Past RLIMIT_FSIZE a write (journal spill, log) fails with EFBIG, which the
	 * journal handles; the default action would kill every session. */
	signal(SIGXFSZ, SIG_IGN);
	return h;
}

void
host_set_attached(struct host *h, const char *why)
{
	snprintf(h->attached, sizeof(h->attached), "%s", why);
}

int
host_add_channel(struct host *h, int in, int out, int framed, const char *backend,
    int ctl, const void *pre, size_t prelen)
{
	struct chan *ch = chan_new(h, in, out, framed, backend, ctl);
	char err[600];
	struct session *s;

	if (ch == NULL)
		return -1;
	if (prelen > 0 && (framed ? frame_dec_feed(ch->dec, pre, prelen) :
	    jsonl_feed(ch->lines, pre, prelen)) != 0 &&
	    (!framed || frame_dec_code(ch->dec) == FRAME_CODE_NORMAL ||
	    frame_dec_code(ch->dec) == FRAME_CODE_INTERNAL)) {
		ch->in = ch->out = -1;  /* the caller still owns them */
		ch->dead = 1;
		return -1;
	}
	/* The HELLO a subsystem read to route the channel: handle it now (a bad
	 * one is refused the usual way), no more input may ever come to wake us. */
	if (framed && prelen > 0)
		PROTO_IGNORE(chan_decode(h, ch));
	if (!framed) {
		/* Plain mode: a session now, ending with the channel. */
		s = sess_new(h, ch, backend, 0, err, sizeof(err));
		if (s == NULL) {
			size_t rl;
			char *t = jrpc_error_text(NULL, JRPC_INTERNAL_ERROR, err, NULL, &rl);

			if (t != NULL) {
				PROTO_IGNORE(buf_put(ch->obuf, t, rl));
				PROTO_IGNORE(buf_put(ch->obuf, "\n", 1));
				free(t);
			}
			snprintf(ch->reason, sizeof(ch->reason), "codex-subsystem: %s", err);
			ch->exit_code = 1;
			ch->state = CH_CLOSING;
			return 0;
		}
		chan_attach(ch, s);
	}
	return 0;
}

static void
ctl_accept(struct host *h)
{
	struct ctlconn *cc;
	int fd;

	while ((fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (!ctl_peer_ok(fd)) {
			log_error("refused a control connection from another user");
			close(fd);
			continue;
		}
		if ((cc = calloc(1, sizeof(*cc))) == NULL) {
			close(fd);
			continue;
		}
		cc->fd = fd;
		cc->next = h->ctls;
		h->ctls = cc;
	}
}

/* Returns -1 when the connection should be dropped. */
static int
ctl_handle(struct host *h, struct ctlconn *cc)
{
	static uint8_t pkt[1 + 255 + 8 + CTL_MAX_ENV + CTL_MAX_PRE];
	uint8_t yes;
	char name[256];
	uint32_t type;
	size_t len, nl, ul = 0;
	int fds[2], nfds, r;
	char *js;
	cJSON *obj;
	struct session *s;

	r = ctl_recv(cc->fd, &type, pkt, sizeof(pkt), &len, fds, &nfds);
	if (r < 0 && errno == EAGAIN)
		return 0;
	if (r <= 0)
		return -1;
	/* Only an ATTACH hands over fds: any sent with another packet are closed. */
	if (type != CTL_ATTACH && type != CTL_ATTACH_USER) {
		for (r = 0; r < nfds; r++)
			close(fds[r]);
		nfds = 0;
	}
	switch (type) {
	case CTL_ATTACH:
	case CTL_ATTACH_USER:
		nl = len > 0 ? pkt[0] : 0;
		if (nfds != 2 || cc->has_chan || len < 1 + nl || h->stopping ||
		    (type == CTL_ATTACH_USER && (h->attach_user = user_parse(pkt + 1 +
		    nl, len - 1 - nl, &ul)) == NULL)) {
			for (r = 0; r < nfds; r++)
				close(fds[r]);
			return -1;
		}
		memcpy(name, pkt + 1, nl);
		name[nl] = '\0';
		r = host_add_channel(h, fds[0], fds[1], 1, name, cc->fd, pkt + 1 + nl + ul,
		    len - 1 - nl - ul);
		user_free(h->attach_user);  /* not taken when the channel failed */
		h->attach_user = NULL;
		if (r != 0) {
			close(fds[0]);
			close(fds[1]);
			return -1;
		}
		cc->has_chan = 1;
		/* The subsystem process may let go of the channel now. */
		(void)ctl_send(cc->fd, CTL_ACCEPTED, NULL, 0, NULL, 0);
		return 0;
	case CTL_FIND:
		yes = 0;
		if (len == FRAME_TOKEN_LEN) {
			for (s = h->sessions; s != NULL; s = s->next)
				if (sodium_memcmp(s->token, pkt, FRAME_TOKEN_LEN) == 0 &&
				    s->resumable && !s->finished)
					yes = 1;
			/* Its resume is answered here: "session expired". */
			if (expired_find(h, pkt) >= 0)
				yes = 1;
		}
		sodium_memzero(pkt, len);
		(void)ctl_send(cc->fd, CTL_FIND, &yes, 1, NULL, 0);
		return 0;
	case CTL_STATUS:
		obj = status_obj(h);
		js = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;
		cJSON_Delete(obj);
		if (js != NULL) {
			(void)ctl_send(cc->fd, CTL_STATUS, js, strlen(js), NULL, 0);
			free(js);
		}
		return 0;
	case CTL_STOP:
		/* The connection stays open until we exit: the caller waits. */
		log_info("asked to stop");
		h->stopping = 1;
		return 0;
	default:
		return -1;
	}
}

/* Drops dead channels, their ctl connections, and finished sessions. */
static void
sweep(struct host *h)
{
	struct chan **cp = &h->chans, *ch;
	struct session **sp = &h->sessions, *s;
	struct ctlconn **kp = &h->ctls, *cc;

	while ((ch = *cp) != NULL) {
		if (!ch->dead) {
			cp = &ch->next;
			continue;
		}
		*cp = ch->next;
		for (kp = &h->ctls; (cc = *kp) != NULL; kp = &cc->next) {
			if (cc->fd == ch->ctl) {
				*kp = cc->next;
				close(cc->fd);
				free(cc);
				break;
			}
		}
		chan_free(ch);
	}
	while ((s = *sp) != NULL) {
		int gone = s->be_exited && s->be.pid == 0 && s->be_eof &&
		    s->be.err < 0 && s->ch == NULL &&
		    (s->finished || (s->stop_stage > 0 && !(s->closed_by_client &&
		    s->detached_ms > 0)) || !s->resumable || !h->daemon);

		if (!gone) {
			sp = &s->next;
			continue;
		}
		*sp = s->next;
		be_err_unlogged(s);
		log_info("session %u ended", s->id);
		sess_free(s);
	}
}

/*
 * A journal that cannot spill (full disk, RLIMIT_FSIZE, an unusable JournalDir)
 * keeps what it holds in memory and blocks the backend until the client reads:
 * nothing is lost, but the log says why the session stalls. Logged when it
 * starts, and again at most once a minute while it lasts.
 */
static void
sess_check_spill(struct host *h, struct session *s, int64_t now)
{
	int e = journal_disk_error(s->j);

	if (e != 0 && (e != s->spill_err || now - s->spill_log_ms >= SPILL_RELOG_MS)) {
		log_error("session %u: the journal cannot spill to %s: %s; %zu bytes "
		    "held in memory, the backend waits until the client reads", s->id,
		    h->journal_dir[0] ? h->journal_dir : "(no JournalDir)", strerror(e),
		    journal_mem_bytes(s->j));
		s->spill_log_ms = now;
	}
	s->spill_err = e;
}

/* End-of-session logic that runs after I/O: backend gone, channel gone, timers. */
static void
housekeep(struct host *h, int64_t now)
{
	struct session *s;
	struct chan *ch;

	for (s = h->sessions; s != NULL; s = s->next) {
		ch = s->ch;
		/* The backend is finished and everything it said was handed over. */
		if (s->be_exited && s->be_eof && ch != NULL && ch->state == CH_OPEN &&
		    s->send_next >= journal_next_seq(s->j) && ch->big == NULL &&
		    (!ch->framed || !frame_enc_busy(ch->enc))) {
			char why[600];
			unsigned code = sess_exit_reason(s, why, sizeof(why));

			s->finished = 1;
			if (s->never_ran) {
				if (ch->framed)
					PROTO_IGNORE(frame_put_close(ch->obuf,
					    FRAME_CODE_NORMAL, "session closed"));
				ch->state = CH_CLOSING;
				continue;
			}
			if (s->start_failed) {
				/* The request that needed it was answered with why. */
				snprintf(ch->reason, sizeof(ch->reason), "codex-subsystem: %s",
				    s->start_err);
				ch->exit_code = 1;
				if (ch->framed)
					PROTO_IGNORE(frame_put_close(ch->obuf,
					    FRAME_CODE_BACKEND_FAILED, s->start_err));
				ch->state = CH_CLOSING;
				continue;
			}
			if (s->closed_by_client && sess_ended_well(s)) {
				if (ch->framed)
					PROTO_IGNORE(frame_put_close(ch->obuf,
					    FRAME_CODE_NORMAL, "session closed"));
				ch->state = CH_CLOSING;
				continue;
			}
			if (ch->framed) {
				PROTO_IGNORE(frame_put_close(ch->obuf, code, why));
			} else if (code == FRAME_CODE_BACKEND_FAILED ||
			    !WIFEXITED(s->be_status) || WEXITSTATUS(s->be_status) != 0) {
				size_t rl;
				char *t = jrpc_error_text(NULL, JRPC_INTERNAL_ERROR, why,
				    NULL, &rl);

				if (t != NULL) {
					PROTO_IGNORE(buf_put(ch->obuf, t, rl));
					PROTO_IGNORE(buf_put(ch->obuf, "\n", 1));
					free(t);
				}
			}
			if (code == FRAME_CODE_BACKEND_FAILED || !WIFEXITED(s->be_status) ||
			    WEXITSTATUS(s->be_status) != 0) {
				snprintf(ch->reason, sizeof(ch->reason), "codex-subsystem: %s",
				    why);
				ch->exit_code = WIFEXITED(s->be_status) &&
				    WEXITSTATUS(s->be_status) != 0 ?
				    WEXITSTATUS(s->be_status) : 1;
			}
			ch->state = CH_CLOSING;
		}
		/* Detached too long. */
		if (ch == NULL && s->detached_ms > 0 && !s->finished &&
		    (s->stop_stage == 0 || s->closed_by_client) &&
		    now - s->detached_ms >= (int64_t)h->c->detach_timeout * 1000) {
			log_info("session %u: detach timeout, stopping the backend", s->id);
			expired_add(h, s);
			s->finished = 1;
			sess_stop(s);
		}
		/* A client that sent CLOSE and lost its link before our CLOSE: once
		 * the backend has exited and the client has acknowledged all it
		 * said, only our CLOSE is left to tell, and nobody needs it. */
		if (ch == NULL && s->closed_by_client && s->detached_ms > 0 &&
		    s->be_exited && journal_first_seq(s->j) == journal_next_seq(s->j))
			s->finished = 1;
		/* A detached session whose backend has exited and nobody came back. */
		if (ch == NULL && s->be_exited && s->detached_ms > 0 &&
		    now - s->detached_ms >= (int64_t)h->c->detach_timeout * 1000)
			s->finished = 1;
		/* Its stdout closed and it still runs a while later: it can never
		 * answer again, so it is stopped (TERM at once, then KILL). */
		if (s->be_eof && !s->be_exited && s->be.pid > 0 && s->stop_stage == 0 &&
		    now - s->out_eof_ms >= OUT_EOF_GRACE_MS) {
			log_error("session %u: backend %s closed its output but is still "
			    "running: stopping it", s->id, s->backend_name);
			s->out_closed = 1;
			sess_stop(s);
			s->stop_at_ms = now;
		}
		sess_check_spill(h, s, now);
		/* EOF -> TERM -> KILL. */
		if (s->stop_stage > 0 && s->be.pid > 0 && now >= s->stop_at_ms) {
			if (s->stop_stage == 1) {
				backend_signal(&s->be, SIGTERM);
				s->stop_stage = 2;
			} else {
				backend_signal(&s->be, SIGKILL);
				s->stop_stage = 3;
			}
			s->stop_at_ms = now + STOP_GRACE_MS;
		}
		/* A stopping session does not need the rest of the backend's output. */
		if (s->stop_stage > 0 && s->ch == NULL && s->be_exited) {
			close_fd(&s->be.out);
			close_fd(&s->be.err);
			s->be_eof = 1;
		}
	}
	for (ch = h->chans; ch != NULL; ch = ch->next) {
		if (ch->dead)
			continue;
		if (ch->state == CH_CLOSING && (buf_len(ch->obuf) == 0 || ch->out < 0 ||
		    (ch->close_by_ms != 0 && now >= ch->close_by_ms)))
			chan_close(h, ch, 0, NULL);
		else if (ch->in_eof && !ch->framed && ch->s != NULL) {
			/* Plain mode: EOF goes on to the backend (after what it has
			 * not read yet), which then exits as codex app-server does;
			 * its last words still reach the client before the channel
			 * closes. */
			sess_stop(ch->s);
		} else if (ch->in_eof)
			chan_close(h, ch, 0, "channel closed by the client");
	}
}

static int
idle(struct host *h)
{
	return h->sessions == NULL && h->chans == NULL;
}

/* The loop of host_run; step_ms >= 0 runs one round only, waiting at most that
 * long (host_step). Returns 1 once there is nothing left to do, else 0. */
static int
host_loop(struct host *h, int step_ms)
{
	struct pollfd *pf = NULL;
	size_t pfcap = 0, n;
	struct chan *ch;
	struct session *s;
	struct ctlconn *cc, *ccn;
	int64_t now, timeout;
	int busy, done = 1;

	for (;;) {
		size_t need = 2;

		now = now_ms();
		if (got_term && !h->stopping) {
			log_info("terminating: stopping every session");
			h->stopping = 1;
		}
		if (h->stopping) {
			for (s = h->sessions; s != NULL; s = s->next) {
				s->finished = 1;
				sess_stop(s);
			}
			for (ch = h->chans; ch != NULL; ch = ch->next)
				if (ch->state != CH_CLOSING && !ch->dead) {
					if (ch->framed)
						PROTO_IGNORE(frame_put_close(ch->obuf, FRAME_CODE_INTERNAL,
						    "session host is shutting down"));
					ch->state = CH_CLOSING;
				}
		}
		busy = 0;
		for (ch = h->chans; ch != NULL; ch = ch->next) {
			int k;

			if (!ch->dead && ch->ack_due_ms != 0 && now >= ch->ack_due_ms &&
			    ch->state == CH_OPEN)
				chan_ack(ch);
			/* Not reading the channel while the backend does not take its
			 * input: a PING now and then tells the client that the server
			 * lives, or its silence check would cut a healthy link. */
			if (!ch->dead && ch->framed && ch->state == CH_OPEN && ch->s != NULL &&
			    buf_len(ch->s->to_be) >= TO_BACKEND_LOW &&
			    now - ch->busy_ping_ms >= BUSY_PING_MS) {
				PROTO_IGNORE(frame_put_ping(ch->obuf, "busy", 4));
				ch->busy_ping_ms = now;
			}
			/* Refill as long as the channel takes everything at once. */
			for (k = 0; k < 16 && !ch->dead; k++) {
				chan_fill(ch);
				chan_write(ch);
				if (buf_len(ch->obuf) > 0 || !chan_has_more(ch))
					break;
			}
			if (!ch->dead && buf_len(ch->obuf) == 0 && chan_has_more(ch))
				busy = 1;
		}
		housekeep(h, now);
		sweep(h);
		if (idle(h)) {
			if (!h->daemon || h->stopping)
				break;
		} else
			h->idle_since_ms = now;
		if (h->daemon && idle(h) &&
		    now - h->idle_since_ms >= (int64_t)h->c->idle_timeout * 1000) {
			log_info("idle for %u s with no session: exiting",
			    h->c->idle_timeout);
			break;
		}
		/* A host of an older binary or configuration drains: it keeps its
		 * sessions, and leaves as soon as it has none. */
		if (h->daemon && now >= h->next_check_ms) {
			h->next_check_ms = now + 1000;
			if (!h->superseded && ctl_superseded(h->dir, h->id)) {
				h->superseded = 1;
				log_info("a newer session host serves new sessions; this one "
				    "exits when its last session ends");
			}
		}
		if (h->daemon && h->superseded && idle(h) &&
		    now - h->idle_since_ms >= 1000) {
			log_info("superseded and idle: exiting");
			break;
		}

		for (ch = h->chans; ch != NULL; ch = ch->next)
			need += 2;
		for (s = h->sessions; s != NULL; s = s->next)
			need += 3;
		for (cc = h->ctls; cc != NULL; cc = cc->next)
			need += 1;
		if (need > pfcap) {
			struct pollfd *np = realloc(pf, need * 2 * sizeof(*pf));

			if (np == NULL) {
				log_error("out of memory");
				break;
			}
			pf = np;
			pfcap = need * 2;
		}
		n = 0;
		pf[n++] = (struct pollfd){ .fd = sigchld_pipe[0], .events = POLLIN };
		pf[n++] = (struct pollfd){ .fd = h->stopping ? -1 : h->lfd,
		    .events = POLLIN };
		for (ch = h->chans; ch != NULL; ch = ch->next) {
			int rd = !ch->dead && !ch->in_eof && ch->state != CH_CLOSING &&
			    (ch->s == NULL || buf_len(ch->s->to_be) < TO_BACKEND_LOW);

			ch->pfi = n;
			pf[n++] = (struct pollfd){ .fd = rd ? ch->in : -1, .events = POLLIN };
			pf[n++] = (struct pollfd){ .fd = !ch->dead && buf_len(ch->obuf) > 0 ?
			    ch->out : -1, .events = POLLOUT };
		}
		for (s = h->sessions; s != NULL; s = s->next) {
			s->pfi = n;
			pf[n++] = (struct pollfd){ .fd = journal_full(s->j) ? -1 : s->be.out,
			    .events = POLLIN };
			pf[n++] = (struct pollfd){ .fd = s->be.err, .events = POLLIN };
			pf[n++] = (struct pollfd){ .fd = buf_len(s->to_be) > 0 ? s->be.in : -1,
			    .events = POLLOUT };
		}
		for (cc = h->ctls; cc != NULL; cc = cc->next) {
			cc->pfi = n;
			pf[n++] = (struct pollfd){ .fd = cc->fd, .events = POLLIN };
		}

		timeout = busy ? 0 : 1000;
		for (s = h->sessions; s != NULL; s = s->next) {
			if (s->stop_stage > 0 && s->be.pid > 0 && s->stop_at_ms - now < timeout)
				timeout = s->stop_at_ms - now;
			/* Ended during housekeep (an EOF that needed no backend): its
			 * channel closes on the next round, not after a poll timeout. */
			if (s->be_exited && s->be_eof && s->ch != NULL &&
			    s->ch->state == CH_OPEN && s->ch->big == NULL &&
			    s->send_next >= journal_next_seq(s->j) &&
			    (!s->ch->framed || !frame_enc_busy(s->ch->enc)))
				timeout = 0;
		}
		for (ch = h->chans; ch != NULL; ch = ch->next) {
			if (!ch->dead && ch->ack_due_ms != 0 && ch->ack_due_ms - now < timeout)
				timeout = ch->ack_due_ms - now;
			if (!ch->dead && ch->close_by_ms != 0 && ch->close_by_ms - now < timeout)
				timeout = ch->close_by_ms - now;
		}
		if (step_ms >= 0 && timeout > step_ms)
			timeout = step_ms;
		if (timeout < 0)
			timeout = 0;
		if (poll(pf, n, (int)timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}

		/*
		 * Each entry belongs to the object that filled it (pfi). Objects
		 * added while handling this round (ctl_accept, a HELLO's session)
		 * are at the head of their lists and have no entry: they wait
		 * for the next round, and nobody reads another's or past n.
		 */
		if (pf[0].revents)
			reap(h);
		if (pf[1].revents)
			ctl_accept(h);
		for (ch = h->chans; ch != NULL; ch = ch->next) {
			if (ch->dead || ch->pfi == 0)
				continue;
			if (pf[ch->pfi + 1].revents & (POLLOUT | POLLERR | POLLHUP))
				chan_write(ch);
			if (pf[ch->pfi].revents)
				chan_read(h, ch);
		}
		for (s = h->sessions; s != NULL; s = s->next) {
			if (s->pfi != 0) {
				if (pf[s->pfi + 2].revents)
					be_write(s);
				if (pf[s->pfi].revents)
					be_read(h, s);
				if (pf[s->pfi + 1].revents)
					be_read_err(s);
			}
			if (buf_len(s->to_be) > 0)
				be_write(s);
		}
		for (cc = h->ctls; cc != NULL; cc = ccn) {
			ccn = cc->next;
			if (cc->pfi != 0 && pf[cc->pfi].revents && ctl_handle(h, cc) < 0) {
				/* The subsystem process went away: so did its channel. */
				for (ch = h->chans; ch != NULL; ch = ch->next)
					if (ch->ctl == cc->fd && !ch->dead) {
						ch->ctl = -1;
						chan_close(h, ch, 0, "codex-subsystem process exited");
					}
				close(cc->fd);
				cc->fd = -2;
			}
		}
		/* Drop ctl connections marked above. */
		{
			struct ctlconn **kp = &h->ctls;

			while ((cc = *kp) != NULL) {
				if (cc->fd == -2) {
					*kp = cc->next;
					free(cc);
				} else
					kp = &cc->next;
			}
		}
		/* A ctl fd closed above may be reused; channels refer to it by number. */
		if (step_ms >= 0) {
			done = 0;
			break;
		}
	}
	free(pf);
	return done;
}

int
host_run(struct host *h, char *reason, size_t reasonlen)
{
	(void)host_loop(h, -1);
	if (reason != NULL && reasonlen > 0)
		snprintf(reason, reasonlen, "%s", h->reason);
	return h->exit_code;
}

int
host_step(struct host *h, int timeout_ms)
{
	return host_loop(h, timeout_ms < 0 ? 0 : timeout_ms);
}

void
host_stop(struct host *h)
{
	h->stopping = 1;
}

void
host_free(struct host *h)
{
	struct chan *ch;
	struct session *s;
	struct ctlconn *cc;

	if (h == NULL)
		return;
	while ((ch = h->chans) != NULL) {
		h->chans = ch->next;
		if (!ch->dead)
			chan_close(h, ch, 0, NULL);
		chan_free(ch);
	}
	while ((s = h->sessions) != NULL) {
		h->sessions = s->next;
		backend_signal(&s->be, SIGKILL);
		sess_free(s);
	}
	sodium_memzero(h->expired, sizeof(h->expired));
	while ((cc = h->ctls) != NULL) {
		h->ctls = cc->next;
		if (cc->fd >= 0)
			close(cc->fd);
		free(cc);
	}
	free(h);
}

/* Tells the codex-subsystem that started us how the start went (see serve.c). */
static void
say_ready(int fd, const char *word, const char *detail)
{
	if (fd < 0)
		return;
	dprintf(fd, "%s%s%s\n", word, detail ? ": " : "", detail ? detail : "");
	close(fd);
}

int
host_daemon_main(const struct sconf *c, const char *conf_path, int ready_fd,
    const char *expect_id)
{
	char dir[4096], err[512], id[CTL_ID_LEN + 1], sp[4200], sd[4200];
	struct host *h;
	int lfd, lockfd, rc;

	ctl_identity(c, id);
	if (expect_id != NULL && strcmp(expect_id, id) != 0) {
		snprintf(err, sizeof(err), "the configuration or the codex-subsystem "
		    "binary changed while the session host started; try again");
		log_error("%s (identity %s, expected %s)", err, id, expect_id);
		say_ready(ready_fd, "error", err);
		return 1;
	}
	ctl_rundir(c, dir, sizeof(dir));
	if (ctl_rundir_prepare(dir, err, sizeof(err)) != 0) {
		log_error("%s", err);
		say_ready(ready_fd, "error", err);
		return 1;
	}
	lfd = ctl_serve(dir, id, &lockfd, err, sizeof(err));
	if (lfd < 0) {
		if (errno == EWOULDBLOCK) {
			log_verbose("%s; exiting", err);
			say_ready(ready_fd, "busy", NULL);
			return 0;
		}
		log_error("%s", err);
		say_ready(ready_fd, "error", err);
		return 1;
	}
	log_info("session host %s listening on %s/host-%s.sock (config %s)", id, dir,
	    id, conf_path ? conf_path : "default");
	if ((h = host_new(c, 1, lfd)) == NULL) {
		log_error("out of memory");
		say_ready(ready_fd, "error", "out of memory");
		return 1;
	}
	memcpy(h->id, id, sizeof(h->id));
	h->conf_path = conf_path;
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	say_ready(ready_fd, "ready", NULL);
	/* If something kills us from outside, the next channels will know. */
	ctl_statedir(c, sd, sizeof(sd));
	ctl_alive_mark(sd, id);
	rc = host_run(h, NULL, 0);
	host_free(h);
	ctl_alive_clear(sd, id);
	snprintf(sp, sizeof(sp), "%s/host-%s.sock", dir, id);
	/* A successor of the same identity may own the name by now: only our
	 * own socket is removed (we still hold the lock, so no one else's). */
	(void)unlink(sp);
	close(lfd);
	close(lockfd);
	log_info("session host exits");
	return rc;
}
