/*
 * fake-app-server.c - a fast stand-in for `codex app-server --stdio`, used by the
 * end-to-end tests of the tunnel.
 *
 * It speaks the same transport as the real server (one JSON message per line on
 * stdin/stdout, no "jsonrpc" member), answers the handshake with the same errors, and
 * plays scripted turns whose shape follows a real turn: turn/started, item/started,
 * N item/agentMessage/delta, item/completed, thread/tokenUsage/updated,
 * turn/completed. Deltas carry "d<k> " (k = 0..N-1) so a test can check order and
 * exactly-once delivery.
 *
 * Behaviour knobs: command-line options (--deltas N ...), defaulted from the
 * environment (FAKE_DELTAS ...), and overridable per turn by key=value words in the
 * prompt text, so one running fake serves several scenarios:
 *
 *   deltas=N       agent message deltas per turn (10)
 *   rate=R         deltas per second, fractions allowed; 0 = as fast as possible (0)
 *   approval=1     ask item/commandExecution/requestApproval before the deltas
 *   crash=K        after K deltas, exit with status 3 (off, or -1)
 *   abort=K        after K deltas, SIGKILL ourselves (off, or -1)
 *   big=BYTES      one item/commandExecution/outputDelta whose delta is BYTES long
 *                  (suffixes k, M, G are binary); params also carry "sha256"
 *   bigsum=0       leave the sha256 out of the big message
 *   stopread=1     never read stdin again (a backend that does not read)
 *   delta-size=S   pad each delta string to S bytes
 *   tag=WORD       deltas carry "WORD:d<k> " (letters, digits, - and _, at most
 *                  32), so a test running many sessions sees a mix-up
 *
 * Process-wide options: --exit-at-start CODE, --banner TEXT (printed with a newline
 * before anything else), --pid-file PATH, --log PATH (append every received line),
 * --reply-delay MS (spend MS on every request before answering it), with
 * FAKE_EXIT_AT_START, FAKE_BANNER, FAKE_PID_FILE, FAKE_LOG, FAKE_REPLY_DELAY. A first argument
 * "app-server" and --listen stdio:// or --stdio are accepted, so a symlink named
 * codex on PATH stands in for `codex app-server`.
 *
 * Extras the real server does not have, for tests of the client→server direction:
 * request "fake/echo" answers its params unchanged; "fake/sha256" answers
 * {"length":L,"sha256":HEX} of the string params.data.
 *
 * Output is built in a buffer and written in large batches on a non-blocking stdout;
 * turns stop generating while the buffer is above a low mark, and stdin stops being
 * read while it is above a high mark, so memory stays bounded and nothing is dropped.
 */
#include "cxs_config.h"

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#define FAKE_VERSION	"0.1"
#define ERR_INVALID	-32600

/* Generation pauses above OUT_LOW; stdin is not read above OUT_HIGH. */
#define OUT_LOW		(256 * 1024)
#define OUT_HIGH	(16 * 1024 * 1024)
#define READ_CHUNK	(256 * 1024)
/* Longer input lines are dropped: above the tunnel's 256 MiB message limit. */
#define MAX_LINE	((size_t)300 * 1024 * 1024)
/* The big message is produced in slices of this size. */
#define BIG_SLICE	(64 * 1024)
/* How long a final flush may wait for a reader that does not read. */
#define FLUSH_SECS	10

#define MAX_COUNT	1000000000000LL		/* deltas, crash=, abort= */
#define MAX_BIG		(16LL * 1024 * 1024 * 1024)
#define MAX_DELTA_SIZE	(64LL * 1024 * 1024)

struct knobs {
	long long	deltas;
	double		rate;
	int		approval;
	long long	crash;		/* -1: off */
	long long	abort_at;	/* -1: off */
	long long	big;		/* 0: off */
	int		bigsum;
	int		stopread;
	long long	delta_size;
	char		tag[33];	/* "": none */
};

enum tstate {
	T_STARTED,		/* emit turn/started */
	T_APPROVAL_ASK,		/* send the server->client request */
	T_APPROVAL_WAIT,	/* wait for the client's answer */
	T_APPROVAL_DONE,	/* emit the command's output or its decline */
	T_BIG_BEGIN,
	T_BIG_STREAM,		/* the big line is open in the output buffer */
	T_BIG_END,
	T_MSG_BEGIN,
	T_DELTAS,
	T_MSG_END,
	T_USAGE,
	T_COMPLETE,
	T_GONE
};

struct turn {
	struct knobs	k;
	enum tstate	state;
	int		thread;		/* thr-N */
	int		id;		/* turn-N */
	int		msg_item;	/* msg-N, 0 until started */
	int		cmd_item;	/* cmd-N of the approval */
	int		big_item;	/* cmd-N of the big output */
	long long	req_id;		/* approval request id */
	int		accepted;
	int		interrupted;
	long long	sent;		/* deltas emitted */
	uint64_t	start_ns;	/* when the deltas began, for rate */
	long long	big_left;
	uint64_t	big_rng;
	crypto_hash_sha256_state big_sha;
	char		*delta_prefix;	/* everything up to the delta text */
	size_t		delta_prefix_len;
};

struct thread {
	int		id;
	long long	created;
};

struct outbuf {
	char	*d;
	size_t	off, len, alloc;
};

struct fake {
	struct knobs	defaults;
	struct outbuf	out;
	/* Whole lines produced while the big line is open wait here. */
	struct outbuf	deferred;
	int		line_open;

	char		*in;
	size_t		in_len, in_alloc;
	size_t		in_scanned;	/* leading bytes known to hold no newline */
	int		in_skipping;	/* dropping an over-long line */
	int		in_eof;
	int		stop_reading;

	int		initialized;
	struct thread	*threads;
	size_t		nthreads;
	struct turn	**turns;
	size_t		nturns;
	size_t		rr;		/* round-robin position in turns */
	int		next_thread, next_turn, next_item;
	long long	next_req;

	int		log_fd;
	long		reply_delay_ms;	/* --reply-delay: a slow backend */
	int		fl0, fl1;	/* original fd flags, restored on exit */
};

static struct fake *G;	/* for fake_exit() */

static void fake_exit(int code) __attribute__((noreturn));

static void
fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fake: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fake_exit(1);
}

static void
note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fake: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL)
		fatal("out of memory (%zu bytes)", n);
	return q;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output buffer ---------------------------------------------------------- */

static char *
ob_reserve(struct outbuf *b, size_t n)
{
	if (b->alloc - b->off - b->len >= n)
		return b->d + b->off + b->len;
	/* Reclaim written space before growing. */
	if (b->off > 0) {
		memmove(b->d, b->d + b->off, b->len);
		b->off = 0;
		if (b->alloc - b->len >= n)
			return b->d + b->len;
	}
	while (b->alloc - b->len < n)
		b->alloc = b->alloc ? b->alloc * 2 : 64 * 1024;
	b->d = xrealloc(b->d, b->alloc);
	return b->d + b->len;
}

static void
ob_put(struct outbuf *b, const void *p, size_t n)
{
	memcpy(ob_reserve(b, n), p, n);
	b->len += n;
}

static void
ob_puts(struct outbuf *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void
ob_putll(struct outbuf *b, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	ob_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Every complete message goes through here: it must not land inside the open
 * big line, so it waits in the deferred buffer until that line is closed. */
static struct outbuf *
line_target(struct fake *f)
{
	return f->line_open ? &f->deferred : &f->out;
}

static size_t
out_pending(const struct fake *f)
{
	return f->out.len + f->deferred.len;
}

static void
close_line(struct fake *f)
{
	f->line_open = 0;
	if (f->deferred.len > 0) {
		ob_put(&f->out, f->deferred.d + f->deferred.off, f->deferred.len);
		f->deferred.off = f->deferred.len = 0;
	}
}

/* Writes what it can without blocking. Returns -1 when the reader is gone. */
static int
flush_some(struct fake *f)
{
	ssize_t n;

	while (f->out.len > 0) {
		n = write(STDOUT_FILENO, f->out.d + f->out.off, f->out.len);
		if (n > 0) {
			f->out.off += (size_t)n;
			f->out.len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return -1;
	}
	f->out.off = 0;
	return 0;
}

/* Writes everything buffered, waiting at most FLUSH_SECS for the reader. Used
 * before exiting, so a test knows exactly what was sent before a crash. */
static void
flush_all(struct fake *f)
{
	uint64_t deadline = mono_ns() + (uint64_t)FLUSH_SECS * 1000000000u;
	struct pollfd pfd;
	uint64_t now;

	while (f->out.len > 0) {
		if (flush_some(f) < 0)
			return;
		if (f->out.len == 0)
			break;
		now = mono_ns();
		if (now >= deadline) {
			note("gave up flushing %zu bytes", f->out.len);
			return;
		}
		pfd.fd = STDOUT_FILENO;
		pfd.events = POLLOUT;
		(void)poll(&pfd, 1, (int)((deadline - now) / 1000000) + 1);
	}
}

static void
fake_exit(int code)
{
	/* O_NONBLOCK lives in the shared file description: give it back. */
	if (G != NULL) {
		if (G->fl0 != -1)
			(void)fcntl(STDIN_FILENO, F_SETFL, G->fl0);
		if (G->fl1 != -1)
			(void)fcntl(STDOUT_FILENO, F_SETFL, G->fl1);
	}
	_exit(code);
}

/* ---- messages ------------------------------------------------------------- */

/* Starts a notification; the caller appends the params members and calls
 * notif_end(). */
static struct outbuf *
notif_begin(struct fake *f, const char *method)
{
	struct outbuf *b = line_target(f);

	ob_puts(b, "{\"method\":\"");
	ob_puts(b, method);
	ob_puts(b, "\",\"params\":{");
	return b;
}

static void
notif_end(struct outbuf *b)
{
	ob_puts(b, "},\"emittedAtMs\":");
	ob_putll(b, wall_ms());
	ob_puts(b, "}\n");
}

static void
put_ids(struct outbuf *b, const struct turn *t)
{
	ob_puts(b, "\"threadId\":\"thr-");
	ob_putll(b, t->thread);
	ob_puts(b, "\",\"turnId\":\"turn-");
	ob_putll(b, t->id);
	ob_puts(b, "\"");
}

/* Appends a cJSON message as one line; takes ownership of msg. */
static void
send_json(struct fake *f, cJSON *msg)
{
	char *s = cJSON_PrintUnformatted(msg);
	struct outbuf *b = line_target(f);

	if (s == NULL)
		fatal("cJSON_PrintUnformatted failed");
	ob_puts(b, s);
	ob_put(b, "\n", 1);
	cJSON_free(s);
	cJSON_Delete(msg);
}

static void
send_result(struct fake *f, const cJSON *id, cJSON *result)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddItemToObject(m, "id", cJSON_Duplicate(id, 1));
	cJSON_AddItemToObject(m, "result", result);
	send_json(f, m);
}

static void
send_error(struct fake *f, const cJSON *id, int code, const char *msg)
{
	cJSON *m = cJSON_CreateObject(), *e = cJSON_CreateObject();

	cJSON_AddItemToObject(m, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddItemToObject(m, "error", e);
	send_json(f, m);
}

static cJSON *
thread_json(const struct thread *th)
{
	cJSON *o = cJSON_CreateObject(), *st = cJSON_CreateObject();
	char id[32];

	snprintf(id, sizeof(id), "thr-%d", th->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "preview", "");
	cJSON_AddStringToObject(o, "modelProvider", "fake");
	cJSON_AddNumberToObject(o, "createdAt", (double)th->created);
	cJSON_AddNumberToObject(o, "updatedAt", (double)th->created);
	cJSON_AddStringToObject(st, "type", "idle");
	cJSON_AddItemToObject(o, "status", st);
	cJSON_AddNullToObject(o, "path");
	cJSON_AddStringToObject(o, "cwd", "/tmp");
	cJSON_AddStringToObject(o, "cliVersion", "0.0.0-fake");
	cJSON_AddStringToObject(o, "source", "appServer");
	cJSON_AddItemToObject(o, "turns", cJSON_CreateArray());
	return o;
}

static cJSON *
turn_json(const struct turn *t, const char *status)
{
	cJSON *o = cJSON_CreateObject();
	char id[32];

	snprintf(id, sizeof(id), "turn-%d", t->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddItemToObject(o, "items", cJSON_CreateArray());
	cJSON_AddStringToObject(o, "status", status);
	cJSON_AddNullToObject(o, "error");
	return o;
}

/* ---- knobs ---------------------------------------------------------------- */

/* Parses a non-negative integer with an optional binary suffix (k, M, G). */
static int
parse_size(const char *s, int suffixes, long long max, long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (suffixes && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; end++; break;
		case 'm': case 'M': mul = 1ULL << 20; end++; break;
		case 'g': case 'G': mul = 1ULL << 30; end++; break;
		default: break;
		}
	}
	if (*end != '\0' || v > (unsigned long long)max / mul)
		return -1;
	*out = (long long)(v * mul);
	return 0;
}

/* crash= and abort= take a count, or off/-1 to disable. */
static int
parse_trigger(const char *s, long long *out)
{
	if (strcmp(s, "-1") == 0 || strcmp(s, "off") == 0 ||
	    strcmp(s, "none") == 0) {
		*out = -1;
		return 0;
	}
	return parse_size(s, 0, MAX_COUNT, out);
}

static int
parse_bool(const char *s, int *out)
{
	if (strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0)
		*out = 1;
	else if (strcmp(s, "0") == 0 || strcmp(s, "no") == 0 ||
	    strcmp(s, "false") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* Returns 0, -1 for a bad value, -2 for an unknown key. */
static int
knob_set(struct knobs *k, const char *key, const char *val)
{
	double d;
	char *end;

	if (strcmp(key, "deltas") == 0)
		return parse_size(val, 0, MAX_COUNT, &k->deltas);
	if (strcmp(key, "rate") == 0) {
		errno = 0;
		d = strtod(val, &end);
		if (errno != 0 || end == val || *end != '\0' || !(d >= 0) || d > 1e9)
			return -1;
		k->rate = d;
		return 0;
	}
	if (strcmp(key, "approval") == 0)
		return parse_bool(val, &k->approval);
	if (strcmp(key, "crash") == 0)
		return parse_trigger(val, &k->crash);
	if (strcmp(key, "abort") == 0)
		return parse_trigger(val, &k->abort_at);
	if (strcmp(key, "big") == 0)
		return parse_size(val, 1, MAX_BIG, &k->big);
	if (strcmp(key, "bigsum") == 0)
		return parse_bool(val, &k->bigsum);
	if (strcmp(key, "stopread") == 0)
		return parse_bool(val, &k->stopread);
	if (strcmp(key, "delta-size") == 0 || strcmp(key, "delta_size") == 0)
		return parse_size(val, 1, MAX_DELTA_SIZE, &k->delta_size);
	if (strcmp(key, "tag") == 0) {
		/* Copied into JSON as it is: only characters needing no escape. */
		if (strlen(val) >= sizeof(k->tag) ||
		    strspn(val, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_") != strlen(val))
			return -1;
		memcpy(k->tag, val, strlen(val) + 1);
		return 0;
	}
	return -2;
}

static const char *const knob_names[] = {
	"deltas", "rate", "approval", "crash", "abort", "big", "bigsum",
	"stopread", "delta-size", "tag", NULL
};

/* Applies FAKE_<KEY> environment variables (delta-size is FAKE_DELTA_SIZE). */
static void
knobs_from_env(struct knobs *k)
{
	char var[64], *p;
	const char *v;
	size_t i;

	for (i = 0; knob_names[i] != NULL; i++) {
		snprintf(var, sizeof(var), "FAKE_%s", knob_names[i]);
		for (p = var; *p != '\0'; p++)
			*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ?
			    *p - 'a' + 'A' : *p);
		if ((v = getenv(var)) != NULL && *v != '\0' &&
		    knob_set(k, knob_names[i], v) != 0)
			fatal("bad value for %s: %s", var, v);
	}
}

/*
 * Applies key=value words of a prompt. Unknown keys are ordinary prose and are
 * ignored; a known key with a bad value is reported (a typo in a test should not
 * silently run the default scenario). Returns 0 or -1 with *bad set to the word.
 */
static int
knobs_from_text(struct knobs *k, const char *text, char *bad, size_t badsz)
{
	const char *p = text, *w, *eq;
	char word[256];
	size_t n;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			return 0;
		w = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r')
			p++;
		n = (size_t)(p - w);
		if (n >= sizeof(word))
			continue;
		memcpy(word, w, n);
		word[n] = '\0';
		if ((eq = strchr(word, '=')) == NULL)
			continue;
		word[eq - word] = '\0';
		if (knob_set(k, word, eq + 1) == -1) {
			word[eq - word] = '=';
			snprintf(bad, badsz, "%s", word);
			return -1;
		}
	}
}

/* ---- turns ---------------------------------------------------------------- */

static void
turn_free(struct turn *t)
{
	free(t->delta_prefix);
	free(t);
}

/* Flushes what was produced, then dies the way crash= or abort= asked. */
static void
turn_die(struct fake *f, int sig)
{
	flush_all(f);
	if (sig != 0) {
		note("killing myself on purpose (abort=)");
		(void)raise(SIGKILL);
	}
	note("crashing on purpose (crash=)");
	fake_exit(3);
}

static void
emit_item_started(struct fake *f, const struct turn *t, const char *type,
    const char *prefix, int item)
{
	struct outbuf *b = notif_begin(f, "item/started");

	put_ids(b, t);
	ob_puts(b, ",\"item\":{\"type\":\"");
	ob_puts(b, type);
	ob_puts(b, "\",\"id\":\"");
	ob_puts(b, prefix);
	ob_putll(b, item);
	if (strcmp(type, "agentMessage") == 0)
		ob_puts(b, "\",\"text\":\"\"}");
	else
		ob_puts(b, "\",\"command\":\"echo hi\",\"cwd\":\"/tmp\","
		    "\"status\":\"inProgress\"}");
	notif_end(b);
}

static void
emit_cmd_completed(struct fake *f, const struct turn *t, int item,
    const char *status, const char *output)
{
	struct outbuf *b = notif_begin(f, "item/completed");

	put_ids(b, t);
	ob_puts(b, ",\"item\":{\"type\":\"commandExecution\",\"id\":\"cmd-");
	ob_putll(b, item);
	ob_puts(b, "\",\"command\":\"echo hi\",\"cwd\":\"/tmp\",\"status\":\"");
	ob_puts(b, status);
	ob_puts(b, "\"");
	if (output != NULL) {
		ob_puts(b, ",\"exitCode\":0,\"aggregatedOutput\":\"");
		ob_puts(b, output);
		ob_puts(b, "\"");
	}
	ob_puts(b, "}");
	notif_end(b);
}

static void
emit_output_delta(struct fake *f, const struct turn *t, int item, const char *text)
{
	struct outbuf *b = notif_begin(f, "item/commandExecution/outputDelta");

	put_ids(b, t);
	ob_puts(b, ",\"itemId\":\"cmd-");
	ob_putll(b, item);
	ob_puts(b, "\",\"delta\":\"");
	ob_puts(b, text);
	ob_puts(b, "\"");
	notif_end(b);
}

static const char pad_text[] = "the quick brown fox jumps over the lazy dog ";

/* The hot path: one item/agentMessage/delta line from a prebuilt prefix. */
static void
emit_delta(struct fake *f, struct turn *t)
{
	struct outbuf *b = line_target(f);
	size_t start, used, padn, chunk;

	ob_put(b, t->delta_prefix, t->delta_prefix_len);
	start = b->len;
	if (t->k.tag[0] != '\0') {
		ob_puts(b, t->k.tag);
		ob_put(b, ":", 1);
	}
	ob_put(b, "d", 1);
	ob_putll(b, t->sent);
	ob_put(b, " ", 1);
	used = b->len - start;
	if (t->k.delta_size > 0 && (size_t)t->k.delta_size > used) {
		padn = (size_t)t->k.delta_size - used;
		while (padn > 0) {
			chunk = padn < sizeof(pad_text) - 1 ? padn : sizeof(pad_text) - 1;
			ob_put(b, pad_text, chunk);
			padn -= chunk;
		}
	}
	ob_puts(b, "\"},\"emittedAtMs\":");
	ob_putll(b, wall_ms());
	ob_put(b, "}\n", 2);
	t->sent++;
}

static const char big_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Appends up to one slice of the big delta: base64-alphabet characters from an
 * xorshift64 generator (8 characters per step, 6 bits each), so the content is
 * not periodic and a reordered or repeated chunk changes the sha256.
 */
static void
big_slice(struct fake *f, struct turn *t)
{
	size_t n = t->big_left < BIG_SLICE ? (size_t)t->big_left : BIG_SLICE, i, j;
	uint64_t s = t->big_rng, v;
	char *p = ob_reserve(&f->out, n);

	for (i = 0; i < n; ) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		v = s;
		for (j = 0; j < 8 && i < n; j++, i++) {
			p[i] = big_alphabet[v & 63];
			v >>= 6;
		}
	}
	if (t->k.bigsum)
		crypto_hash_sha256_update(&t->big_sha, (const unsigned char *)p, n);
	f->out.len += n;
	t->big_rng = s;
	t->big_left -= (long long)n;
}

static void
big_close(struct fake *f, struct turn *t)
{
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];

	ob_puts(&f->out, "\"");
	if (t->k.bigsum) {
		crypto_hash_sha256_final(&t->big_sha, md);
		sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
		ob_puts(&f->out, ",\"sha256\":\"");
		ob_puts(&f->out, hex);
		ob_puts(&f->out, "\"");
	}
	ob_puts(&f->out, "},\"emittedAtMs\":");
	ob_putll(&f->out, wall_ms());
	ob_puts(&f->out, "}\n");
	close_line(f);
}

/*
 * Advances one turn by one message. Returns 1 when it produced something, 0 when
 * it waits (approval, rate), -1 when it is finished. *due gets the monotonic time
 * at which a rate-limited turn can go on.
 */
static int
turn_step(struct fake *f, struct turn *t, uint64_t now, uint64_t *due)
{
	struct outbuf *b, pre;
	uint64_t when;
	char msg[64];

	if (t->interrupted) {
		switch (t->state) {
		case T_BIG_STREAM:
			/* Close the line early; the sha256 covers what was sent. */
			t->big_left = 0;
			break;
		case T_APPROVAL_ASK:
		case T_APPROVAL_WAIT:
		case T_APPROVAL_DONE:
		case T_BIG_BEGIN:
		case T_BIG_END:
		case T_MSG_BEGIN:
			t->state = T_COMPLETE;
			break;
		case T_DELTAS:
		case T_USAGE:
			t->state = T_MSG_END;
			break;
		default:
			break;
		}
	}

	switch (t->state) {
	case T_STARTED:
		b = notif_begin(f, "turn/started");
		ob_puts(b, "\"threadId\":\"thr-");
		ob_putll(b, t->thread);
		ob_puts(b, "\",\"turn\":{\"id\":\"turn-");
		ob_putll(b, t->id);
		ob_puts(b, "\",\"items\":[],\"status\":\"inProgress\",\"error\":null}");
		notif_end(b);
		t->state = t->k.approval ? T_APPROVAL_ASK : T_BIG_BEGIN;
		return 1;
	case T_APPROVAL_ASK:
		t->cmd_item = ++f->next_item;
		t->req_id = f->next_req++;
		b = line_target(f);
		ob_puts(b, "{\"id\":");
		ob_putll(b, t->req_id);
		ob_puts(b, ",\"method\":\"item/commandExecution/requestApproval\","
		    "\"params\":{");
		put_ids(b, t);
		ob_puts(b, ",\"itemId\":\"cmd-");
		ob_putll(b, t->cmd_item);
		ob_puts(b, "\",\"command\":\"echo hi\",\"cwd\":\"/tmp\","
		    "\"reason\":\"fake\"}}\n");
		t->state = T_APPROVAL_WAIT;
		return 1;
	case T_APPROVAL_WAIT:
		return 0;
	case T_APPROVAL_DONE:
		b = notif_begin(f, "serverRequest/resolved");
		ob_puts(b, "\"threadId\":\"thr-");
		ob_putll(b, t->thread);
		ob_puts(b, "\",\"requestId\":");
		ob_putll(b, t->req_id);
		notif_end(b);
		if (t->accepted) {
			emit_item_started(f, t, "commandExecution", "cmd-", t->cmd_item);
			emit_output_delta(f, t, t->cmd_item, "hi\\n");
			emit_cmd_completed(f, t, t->cmd_item, "completed", "hi\\n");
		} else
			emit_cmd_completed(f, t, t->cmd_item, "declined", NULL);
		t->state = T_BIG_BEGIN;
		return 1;
	case T_BIG_BEGIN:
		if (t->k.big <= 0) {
			t->state = T_MSG_BEGIN;
			return turn_step(f, t, now, due);
		}
		t->big_item = ++f->next_item;
		emit_item_started(f, t, "commandExecution", "cmd-", t->big_item);
		/* Whole lines already queued go first; then the big line owns
		 * the output buffer until it is closed. */
		close_line(f);
		b = &f->out;
		ob_puts(b, "{\"method\":\"item/commandExecution/outputDelta\","
		    "\"params\":{");
		put_ids(b, t);
		ob_puts(b, ",\"itemId\":\"cmd-");
		ob_putll(b, t->big_item);
		ob_puts(b, "\",\"delta\":\"");
		f->line_open = 1;
		t->big_left = t->k.big;
		t->big_rng = 0x9E3779B97F4A7C15ULL;
		crypto_hash_sha256_init(&t->big_sha);
		t->state = T_BIG_STREAM;
		return 1;
	case T_BIG_STREAM:
		if (t->big_left > 0)
			big_slice(f, t);
		if (t->big_left == 0) {
			big_close(f, t);
			t->state = T_BIG_END;
		}
		return 1;
	case T_BIG_END:
		emit_cmd_completed(f, t, t->big_item, "completed", NULL);
		t->state = t->interrupted ? T_COMPLETE : T_MSG_BEGIN;
		return 1;
	case T_MSG_BEGIN:
		t->msg_item = ++f->next_item;
		emit_item_started(f, t, "agentMessage", "msg-", t->msg_item);
		/* Everything before the delta text is the same for the
		 * whole turn: build it once. */
		memset(&pre, 0, sizeof(pre));
		ob_puts(&pre, "{\"method\":\"item/agentMessage/delta\",\"params\":{");
		put_ids(&pre, t);
		ob_puts(&pre, ",\"itemId\":\"msg-");
		ob_putll(&pre, t->msg_item);
		ob_puts(&pre, "\",\"delta\":\"");
		t->delta_prefix = pre.d;
		t->delta_prefix_len = pre.len;
		t->start_ns = now;
		t->state = T_DELTAS;
		return 1;
	case T_DELTAS:
		if (t->k.crash >= 0 && t->sent == t->k.crash)
			turn_die(f, 0);
		if (t->k.abort_at >= 0 && t->sent == t->k.abort_at)
			turn_die(f, SIGKILL);
		if (t->sent >= t->k.deltas) {
			t->state = T_MSG_END;
			return turn_step(f, t, now, due);
		}
		if (t->k.rate > 0) {
			when = t->start_ns + (uint64_t)((double)t->sent * 1e9 / t->k.rate);
			if (when > now) {
				if (*due == 0 || when < *due)
					*due = when;
				return 0;
			}
		}
		emit_delta(f, t);
		return 1;
	case T_MSG_END:
		b = notif_begin(f, "item/completed");
		put_ids(b, t);
		ob_puts(b, ",\"item\":{\"type\":\"agentMessage\",\"id\":\"msg-");
		ob_putll(b, t->msg_item);
		snprintf(msg, sizeof(msg), "(%lld deltas)", t->sent);
		ob_puts(b, "\",\"text\":\"");
		ob_puts(b, msg);
		ob_puts(b, "\"}");
		notif_end(b);
		t->state = t->interrupted ? T_COMPLETE : T_USAGE;
		return 1;
	case T_USAGE:
		b = notif_begin(f, "thread/tokenUsage/updated");
		put_ids(b, t);
		ob_puts(b, ",\"tokenUsage\":{\"total\":{\"totalTokens\":");
		ob_putll(b, t->sent);
		ob_puts(b, ",\"inputTokens\":0,\"cachedInputTokens\":0,"
		    "\"outputTokens\":");
		ob_putll(b, t->sent);
		ob_puts(b, ",\"reasoningOutputTokens\":0},\"last\":{\"totalTokens\":");
		ob_putll(b, t->sent);
		ob_puts(b, ",\"inputTokens\":0,\"cachedInputTokens\":0,"
		    "\"outputTokens\":");
		ob_putll(b, t->sent);
		ob_puts(b, ",\"reasoningOutputTokens\":0},\"modelContextWindow\":null}");
		notif_end(b);
		t->state = T_COMPLETE;
		return 1;
	case T_COMPLETE:
		b = notif_begin(f, "turn/completed");
		ob_puts(b, "\"threadId\":\"thr-");
		ob_putll(b, t->thread);
		ob_puts(b, "\",\"turn\":{\"id\":\"turn-");
		ob_putll(b, t->id);
		ob_puts(b, "\",\"items\":[],\"status\":\"");
		ob_puts(b, t->interrupted ? "interrupted" : "completed");
		ob_puts(b, "\",\"error\":null}");
		notif_end(b);
		t->state = T_GONE;
		return -1;
	case T_GONE:
		return -1;
	}
	return -1;
}

static void
turn_remove(struct fake *f, size_t i)
{
	turn_free(f->turns[i]);
	memmove(&f->turns[i], &f->turns[i + 1],
	    (f->nturns - i - 1) * sizeof(*f->turns));
	f->nturns--;
}

/* The turn whose big line is open, if any: it alone may produce until it ends. */
static struct turn *
streaming_turn(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->nturns; i++)
		if (f->turns[i]->state == T_BIG_STREAM)
			return f->turns[i];
	return NULL;
}

/*
 * Runs the turns round-robin while the output is below OUT_LOW. Returns 1 when it
 * stopped only because the output is full (there is more to do as soon as it
 * drains), else 0; *due gets the monotonic time of the next rate-limited step
 * (0 if none).
 */
static int
generate(struct fake *f, uint64_t *duep)
{
	uint64_t now = mono_ns(), due;
	struct turn *t;
	int progress, n, r;
	size_t i;

	for (;;) {
		due = 0;
		progress = 0;
		if ((t = streaming_turn(f)) != NULL) {
			while (f->out.len < OUT_LOW && t->state == T_BIG_STREAM)
				(void)turn_step(f, t, now, &due);
			if (t->state == T_BIG_STREAM) {
				*duep = 0;
				return 1;
			}
		}
		for (i = 0; i < f->nturns && out_pending(f) < OUT_LOW; i++) {
			if (f->rr >= f->nturns)
				f->rr = 0;
			t = f->turns[f->rr];
			/* A small batch per turn keeps turns interleaved
			 * without paying the loop per message. */
			r = 0;
			for (n = 0; n < 64 && out_pending(f) < OUT_LOW; n++) {
				if ((r = turn_step(f, t, now, &due)) == 0)
					break;
				/* -1 also emitted something: turn/completed. */
				progress = 1;
				if (r < 0)
					break;
				if (t->state == T_BIG_STREAM)
					break;
			}
			if (r < 0)
				turn_remove(f, f->rr);
			else
				f->rr++;
			if (streaming_turn(f) != NULL)
				break;
		}
		*duep = due;
		/* Full: whether or not this call got anywhere, any turn may
		 * have more to say once the output drains. */
		if (out_pending(f) >= OUT_LOW)
			return f->nturns > 0;
		if (!progress)
			return 0;
		now = mono_ns();
	}
}

/* ---- requests ------------------------------------------------------------- */

static const cJSON *
get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Finds "thr-N" among our threads; returns N or 0. */
static int
find_thread(const struct fake *f, const cJSON *id)
{
	const char *s = cJSON_GetStringValue(id);
	char *end;
	long n;
	size_t i;

	if (s == NULL || strncmp(s, "thr-", 4) != 0)
		return 0;
	n = strtol(s + 4, &end, 10);
	if (*end != '\0' || n <= 0 || n > INT_MAX)
		return 0;
	for (i = 0; i < f->nthreads; i++)
		if (f->threads[i].id == (int)n)
			return (int)n;
	return 0;
}

static void
h_initialize(struct fake *f, const cJSON *id, const cJSON *params)
{
	cJSON *r;

	if (f->initialized) {
		send_error(f, id, ERR_INVALID, "Already initialized");
		return;
	}
	if (!cJSON_IsObject(get(params, "clientInfo"))) {
		send_error(f, id, ERR_INVALID,
		    "Invalid request: missing field `clientInfo`");
		return;
	}
	f->initialized = 1;
	r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "userAgent", "fake-app-server/" FAKE_VERSION);
	cJSON_AddStringToObject(r, "codexHome", "/tmp/fake");
	cJSON_AddStringToObject(r, "platformFamily", "unix");
	cJSON_AddStringToObject(r, "platformOs", "linux");
	send_result(f, id, r);
}

static void
h_thread_start(struct fake *f, const cJSON *id, const cJSON *params)
{
	struct thread *th;
	struct outbuf *b;
	cJSON *r, *sb;
	char *s;

	f->threads = xrealloc(f->threads, (f->nthreads + 1) * sizeof(*f->threads));
	th = &f->threads[f->nthreads++];
	th->id = ++f->next_thread;
	th->created = wall_ms() / 1000;

	r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "thread", thread_json(th));
	cJSON_AddStringToObject(r, "model", "fake-model");
	cJSON_AddStringToObject(r, "modelProvider", "fake");
	cJSON_AddStringToObject(r, "cwd", "/tmp");
	cJSON_AddStringToObject(r, "approvalPolicy", "on-request");
	sb = cJSON_CreateObject();
	cJSON_AddStringToObject(sb, "type", "readOnly");
	cJSON_AddItemToObject(r, "sandbox", sb);
	cJSON_AddNullToObject(r, "reasoningEffort");
	send_result(f, id, r);

	r = thread_json(th);
	if ((s = cJSON_PrintUnformatted(r)) == NULL)
		fatal("cJSON_PrintUnformatted failed");
	b = notif_begin(f, "thread/started");
	ob_puts(b, "\"thread\":");
	ob_puts(b, s);
	notif_end(b);
	cJSON_free(s);
	cJSON_Delete(r);
}

static void
h_thread_list(struct fake *f, const cJSON *id, const cJSON *params)
{
	cJSON *r = cJSON_CreateObject(), *a = cJSON_CreateArray();
	size_t i;

	for (i = f->nthreads; i > 0; i--)	/* newest first */
		cJSON_AddItemToArray(a, thread_json(&f->threads[i - 1]));
	cJSON_AddItemToObject(r, "data", a);
	cJSON_AddNullToObject(r, "nextCursor");
	send_result(f, id, r);
}

static void
h_turn_start(struct fake *f, const cJSON *id, const cJSON *params)
{
	const cJSON *input = get(params, "input"), *it;
	struct knobs k = f->defaults;
	const char *text, *type;
	struct turn *t;
	char bad[300], msg[400];
	cJSON *r;
	int thr;

	if ((thr = find_thread(f, get(params, "threadId"))) == 0) {
		send_error(f, id, ERR_INVALID, "thread not found");
		return;
	}
	if (!cJSON_IsArray(input)) {
		send_error(f, id, ERR_INVALID,
		    "Invalid request: missing field `input`");
		return;
	}
	cJSON_ArrayForEach(it, input) {
		text = cJSON_GetStringValue(get(it, "text"));
		type = cJSON_GetStringValue(get(it, "type"));
		if (text == NULL || type == NULL || strcmp(type, "text") != 0)
			continue;
		if (knobs_from_text(&k, text, bad, sizeof(bad)) != 0) {
			snprintf(msg, sizeof(msg), "fake: bad knob %s", bad);
			send_error(f, id, ERR_INVALID, msg);
			return;
		}
	}

	t = xrealloc(NULL, sizeof(*t));
	memset(t, 0, sizeof(*t));
	t->k = k;
	t->thread = thr;
	t->id = ++f->next_turn;
	t->state = T_STARTED;
	f->turns = xrealloc(f->turns, (f->nturns + 1) * sizeof(*f->turns));
	f->turns[f->nturns++] = t;

	r = cJSON_CreateObject();
	cJSON_AddItemToObject(r, "turn", turn_json(t, "inProgress"));
	send_result(f, id, r);
	if (k.stopread)
		f->stop_reading = 1;
}

static void
h_turn_interrupt(struct fake *f, const cJSON *id, const cJSON *params)
{
	const char *tid = cJSON_GetStringValue(get(params, "turnId"));
	char name[32];
	size_t i;

	for (i = 0; tid != NULL && i < f->nturns; i++) {
		snprintf(name, sizeof(name), "turn-%d", f->turns[i]->id);
		if (strcmp(name, tid) == 0 && !f->turns[i]->interrupted) {
			f->turns[i]->interrupted = 1;
			send_result(f, id, cJSON_CreateObject());
			return;
		}
	}
	send_error(f, id, ERR_INVALID, "no active turn to interrupt");
}

static void
h_fake_echo(struct fake *f, const cJSON *id, const cJSON *params)
{
	send_result(f, id, cJSON_Duplicate(params, 1));
}

static void
h_fake_sha256(struct fake *f, const cJSON *id, const cJSON *params)
{
	const char *s = cJSON_GetStringValue(get(params, "data"));
	unsigned char md[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
	cJSON *r;

	if (s == NULL) {
		send_error(f, id, ERR_INVALID, "Invalid request: missing field `data`");
		return;
	}
	crypto_hash_sha256(md, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
	r = cJSON_CreateObject();
	cJSON_AddNumberToObject(r, "length", (double)strlen(s));
	cJSON_AddStringToObject(r, "sha256", hex);
	send_result(f, id, r);
}

static const struct handler {
	const char *method;
	void (*fn)(struct fake *, const cJSON *, const cJSON *);
} handlers[] = {
	{ "initialize",		h_initialize },
	{ "thread/start",	h_thread_start },
	{ "thread/list",	h_thread_list },
	{ "turn/start",		h_turn_start },
	{ "turn/interrupt",	h_turn_interrupt },
	{ "fake/echo",		h_fake_echo },
	{ "fake/sha256",	h_fake_sha256 },
	{ NULL,			NULL }
};

static void
handle_request(struct fake *f, const cJSON *id, const char *method,
    const cJSON *params)
{
	const struct handler *h;

	for (h = handlers; h->method != NULL; h++)
		if (strcmp(h->method, method) == 0)
			break;
	if (h->method == NULL) {
		send_error(f, id, ERR_INVALID, "unknown method");
		return;
	}
	if (params == NULL) {
		send_error(f, id, ERR_INVALID, "missing field `params`");
		return;
	}
	if (!f->initialized && h->fn != h_initialize) {
		send_error(f, id, ERR_INVALID, "Not initialized");
		return;
	}
	if (f->reply_delay_ms > 0) {
		/* A slow server: it takes this long over every request. */
		struct timespec ts = { f->reply_delay_ms / 1000,
		    (f->reply_delay_ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	h->fn(f, id, params);
}

/* A client's answer to one of our requests (approvals). */
static void
handle_response(struct fake *f, const cJSON *id, const cJSON *msg)
{
	const char *d = cJSON_GetStringValue(get(get(msg, "result"), "decision"));
	struct turn *t;
	size_t i;

	if (!cJSON_IsNumber(id))
		return;
	for (i = 0; i < f->nturns; i++) {
		t = f->turns[i];
		if (t->state != T_APPROVAL_WAIT || (double)t->req_id != id->valuedouble)
			continue;
		t->accepted = d != NULL && (strcmp(d, "accept") == 0 ||
		    strcmp(d, "acceptForSession") == 0);
		t->state = T_APPROVAL_DONE;
		return;
	}
	note("response to unknown request id %g", id->valuedouble);
}

static void
handle_line(struct fake *f, const char *line, size_t len)
{
	const cJSON *id, *method;
	cJSON *msg;

	if (f->log_fd != -1) {
		(void)!write(f->log_fd, line, len);
		(void)!write(f->log_fd, "\n", 1);
	}
	/* Like the real server, a line that is not JSON gets no answer. */
	if ((msg = cJSON_ParseWithLength(line, len)) == NULL)
		return;
	if (!cJSON_IsObject(msg))
		goto out;
	id = get(msg, "id");
	method = get(msg, "method");
	if (cJSON_IsString(method)) {
		if (cJSON_IsNumber(id) || cJSON_IsString(id))
			handle_request(f, id, method->valuestring, get(msg, "params"));
		/* Notifications ("initialized" and any other) need nothing. */
	} else if (id != NULL && (get(msg, "result") != NULL ||
	    get(msg, "error") != NULL))
		handle_response(f, id, msg);
 out:
	cJSON_Delete(msg);
}

/* Reads what is there and handles complete lines. */
static void
read_input(struct fake *f)
{
	char *nl, *p, *scan, *end;
	size_t have;
	ssize_t n;

	if (f->in_alloc - f->in_len < READ_CHUNK) {
		/* Doubling keeps a 100 MiB line from costing a realloc per read. */
		f->in_alloc = f->in_alloc * 2 > f->in_len + READ_CHUNK ?
		    f->in_alloc * 2 : f->in_len + READ_CHUNK;
		f->in = xrealloc(f->in, f->in_alloc);
	}
	n = read(STDIN_FILENO, f->in + f->in_len, f->in_alloc - f->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		note("stdin: %s", strerror(errno));
		n = 0;
	}
	if (n == 0) {
		f->in_eof = 1;
		/* A last line without its newline still counts. */
		if (f->in_len > 0 && !f->in_skipping && !f->stop_reading)
			handle_line(f, f->in, f->in_len);
		f->in_len = f->in_scanned = 0;
		return;
	}
	f->in_len += (size_t)n;

	/* Only the new bytes can hold a newline: a long line is scanned once. */
	p = f->in;
	scan = f->in + f->in_scanned;
	end = f->in + f->in_len;
	while (!f->stop_reading &&
	    (nl = memchr(scan, '\n', (size_t)(end - scan))) != NULL) {
		if (!f->in_skipping)
			handle_line(f, p, (size_t)(nl - p));
		f->in_skipping = 0;
		p = scan = nl + 1;
	}
	have = (size_t)(end - p);
	if (f->stop_reading)
		have = 0;
	if (have > MAX_LINE) {
		note("dropping an input line longer than %zu bytes", MAX_LINE);
		f->in_skipping = 1;
		have = 0;
	}
	memmove(f->in, p, have);
	f->in_len = f->in_scanned = have;
	/* Give back the memory of a big line once it is handled. */
	if (f->in_alloc > 4 * READ_CHUNK && f->in_len < READ_CHUNK) {
		f->in_alloc = READ_CHUNK * 2;
		f->in = xrealloc(f->in, f->in_alloc);
	}
}

/* ---- main loop ------------------------------------------------------------ */

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return fl;
}

static void
serve(struct fake *f)
{
	struct pollfd pfd[2];
	uint64_t due, now;
	int more, timeout;

	for (;;) {
		more = generate(f, &due);
		if (flush_some(f) < 0) {
			note("stdout: %s", strerror(errno));
			fake_exit(0);
		}
		if (f->in_eof) {
			/* The real server dies with its pipe: no more turns. An
			 * open big line stays cut, as the real one's would be. */
			flush_all(f);
			fake_exit(0);
		}

		timeout = -1;
		if (more && f->out.len < OUT_LOW)
			timeout = 0;	/* drained already: generate again */
		else if (due != 0 && f->out.len < OUT_LOW) {
			now = mono_ns();
			timeout = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		}
		pfd[0].fd = f->stop_reading ? -1 : STDIN_FILENO;
		pfd[0].events = out_pending(f) < OUT_HIGH ? POLLIN : 0;
		/* Always watched: POLLERR tells us the reader went away even
		 * when nothing is pending. */
		pfd[1].fd = STDOUT_FILENO;
		pfd[1].events = f->out.len > 0 ? POLLOUT : 0;
		if (poll(pfd, 2, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			note("stdout closed");
			fake_exit(0);
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
			read_input(f);
	}
}

static void
usage(void)
{
	fputs("usage: fake-app-server [app-server] [--listen stdio://] [--stdio]\n"
	    "         [--deltas N] [--rate R] [--approval 0|1]\n"
	    "         [--crash K] [--abort K] [--big BYTES] [--bigsum 0|1]\n"
	    "         [--stopread 0|1] [--delta-size S] [--tag WORD]\n"
	    "         [--exit-at-start CODE] [--banner TEXT] [--pid-file PATH] [--log PATH]\n"
	    "         [--reply-delay MS]\n", stderr);
	fake_exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "deltas",	required_argument, NULL, 'k' },
		{ "rate",	required_argument, NULL, 'k' },
		{ "approval",	required_argument, NULL, 'k' },
		{ "crash",	required_argument, NULL, 'k' },
		{ "abort",	required_argument, NULL, 'k' },
		{ "big",	required_argument, NULL, 'k' },
		{ "bigsum",	required_argument, NULL, 'k' },
		{ "stopread",	required_argument, NULL, 'k' },
		{ "delta-size",	required_argument, NULL, 'k' },
		{ "tag",	required_argument, NULL, 'k' },
		{ "exit-at-start", required_argument, NULL, 'x' },
		{ "banner",	required_argument, NULL, 'b' },
		{ "pid-file",	required_argument, NULL, 'p' },
		{ "log",	required_argument, NULL, 'l' },
		{ "reply-delay", required_argument, NULL, 'd' },
		{ "stdio",	no_argument,	   NULL, 's' },
		{ "listen",	required_argument, NULL, 'L' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL,		0,		   NULL, 0 }
	};
	static struct fake fake;
	struct fake *f = &fake;
	const char *exit_at = getenv("FAKE_EXIT_AT_START");
	const char *banner = getenv("FAKE_BANNER");
	const char *pidfile = getenv("FAKE_PID_FILE");
	const char *logpath = getenv("FAKE_LOG");
	const char *delay = getenv("FAKE_REPLY_DELAY");
	long long code;
	int ch, idx;
	FILE *fp;

	f->fl0 = f->fl1 = f->log_fd = -1;
	G = f;
	f->defaults.deltas = 10;
	f->defaults.crash = f->defaults.abort_at = -1;
	f->defaults.bigsum = 1;
	knobs_from_env(&f->defaults);

	while ((ch = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		switch (ch) {
		case 'k':
			if (knob_set(&f->defaults, longopts[idx].name, optarg) != 0)
				fatal("bad value for --%s: %s",
				    longopts[idx].name, optarg);
			break;
		case 'x':
			exit_at = optarg;
			break;
		case 'b':
			banner = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'd':
			delay = optarg;
			break;
		case 's':
			break;
		case 'L':
			if (strcmp(optarg, "stdio://") != 0 &&
			    strcmp(optarg, "stdio") != 0)
				fatal("only --listen stdio:// is faked");
			break;
		default:
			usage();
		}
	}
	if (delay != NULL)
		f->reply_delay_ms = atol(delay);
	/* Started as `codex app-server [--listen stdio://]` through a symlink
	 * named codex, it behaves the same. */
	if (optind < argc && strcmp(argv[optind], "app-server") == 0)
		optind++;
	if (optind != argc)
		usage();

	if (pidfile != NULL && *pidfile != '\0') {
		if ((fp = fopen(pidfile, "w")) == NULL ||
		    fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0)
			fatal("%s: %s", pidfile, strerror(errno));
	}
	if (banner != NULL && *banner != '\0') {
		dprintf(STDOUT_FILENO, "%s\n", banner);
	}
	if (exit_at != NULL && *exit_at != '\0') {
		if (parse_size(exit_at, 0, 255, &code) != 0)
			fatal("bad exit code: %s", exit_at);
		fputs("fake: failing on purpose\n", stderr);
		fake_exit((int)code);
	}
	if (logpath != NULL && *logpath != '\0' &&
	    (f->log_fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600)) == -1)
		fatal("%s: %s", logpath, strerror(errno));

	if (sodium_init() < 0)
		fatal("sodium_init failed");
	signal(SIGPIPE, SIG_IGN);
	if ((f->fl0 = set_nonblock(STDIN_FILENO)) == -1 ||
	    (f->fl1 = set_nonblock(STDOUT_FILENO)) == -1)
		fatal("fcntl O_NONBLOCK: %s", strerror(errno));
	serve(f);
	return 0;
}
