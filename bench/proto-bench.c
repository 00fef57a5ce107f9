/*
 * proto-bench.c - how fast the tunnel's own code is, next to memcpy.
 *
 * One run measures, on a realistic mix (Codex agent-message deltas, command output,
 * one 20 MiB fs/readFile result): framing encode+decode without and with zlib
 * level 1 (zero-copy encoder chunks copied into the decoder's space as a read()
 * would), the zlib ratio, journal append+get+ack, and memcpy of the same messages as
 * the ceiling. Every decoded message is compared with its input before anything is
 * timed; a mismatch exits 1. Best of a few repetitions; about 10 s at most.
 *
 * Usage: proto-bench [--json] [--quick] [--strict]
 *   --json    one JSON object on stdout instead of the table
 *   --quick   fewer and smaller repetitions (CI smoke run)
 *   --strict  exit 2 when a goal is missed
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/frame.h"
#include "proto/journal.h"

#define MB 1e6			/* figures are in decimal megabytes */
#define GOAL_FRAMING 0.5	/* uncompressed framing / memcpy */
#define GOAL_ZLIB_DELTAS 5.0	/* reduction on the delta stream */

enum { P_DELTAS, P_OUTPUT, P_READFILE, NPARTS };

static const char *part_name[NPARTS] = { "deltas", "output", "readfile" };

struct msg {
	uint8_t *p;
	size_t len;
};

struct part {
	struct msg *m;
	size_t n;
	uint64_t bytes;
};

/* What one pass through the framing code produced. */
struct pass {
	double secs[NPARTS];
	uint64_t wire[NPARTS];		/* bytes on the wire, headers included */
	uint64_t payload[NPARTS];	/* DATA payload bytes (compressed if on) */
};

static struct part parts[NPARTS];
static uint8_t *sink;		/* memcpy destination, as big as the largest message */
static size_t sink_len;
static volatile uint8_t sink_byte;

static void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "proto-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the mix ------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

struct sb {
	char *d;
	size_t len, cap;
};

static void
sb_put(struct sb *s, const char *p, size_t n)
{
	size_t ncap;

	if (s->len + n + 1 > s->cap) {
		ncap = s->cap == 0 ? 4096 : s->cap;
		while (ncap < s->len + n + 1)
			ncap *= 2;
		if ((s->d = realloc(s->d, ncap)) == NULL)
			fatal("out of memory");
		s->cap = ncap;
	}
	memcpy(s->d + s->len, p, n);
	s->len += n;
	s->d[s->len] = '\0';
}

static void
sb_puts(struct sb *s, const char *p)
{
	sb_put(s, p, strlen(p));
}

static void sb_printf(struct sb *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *s, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		fatal("sb_printf overflow");
	sb_put(s, tmp, (size_t)n);
}

static void
b64(struct sb *out, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	uint32_t v;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = tab[v & 63];
		sb_put(out, q, 4);
	}
	if (i < n) {
		v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = '=';
		sb_put(out, q, 4);
	}
}

static void
part_add(struct part *pt, const char *p, size_t len)
{
	struct msg *m;

	if ((pt->m = realloc(pt->m, (pt->n + 1) * sizeof(*pt->m))) == NULL ||
	    (m = &pt->m[pt->n], m->p = malloc(len)) == NULL)
		fatal("out of memory");
	memcpy(m->p, p, len);
	m->len = len;
	pt->n++;
	pt->bytes += len;
}

static const char *words[] = {
	"the", "a", "function", "returns", "value", "file", "we", "need", "to",
	"check", "whether", "buffer", "is", "empty", "and", "then", "call", "it",
	"test", "passes", "now", "Let", "me", "look", "at", "`src/main.rs`", "error",
	"handling", "should", "be", "fixed", "in", "this", "module", "because", "of",
	"configuration", "I'll", "update", "the", "implementation", "so", "that",
	"it", "handles", "edge", "cases", "like", "`None`", "or", "an", "invalid",
	"path.", "Done.", "Next,", "run", "`cargo", "test`", "again:", "42", "tests",
	"ok", "with", "no", "warnings", "on", "Linux", "here's", "what", "changed:",
};

static const char thread_id[] = "019a3c1e-7d2b-7c31-9f4e-2a6b8c0d1e2f";
static const char turn_id[] = "7";

/* item/agentMessage/delta as the real app server sends them, ~205 bytes each. */
static void
gen_deltas(struct part *pt, size_t n)
{
	struct sb s = { 0 }, d = { 0 };
	uint64_t ms = 1767225600123ULL;
	unsigned item = 0;
	size_t i, k, nw;

	for (i = 0; i < n; i++) {
		if (i % 400 == 0)
			item++;
		d.len = 0;
		nw = 1 + rnd(3);
		for (k = 0; k < nw; k++) {
			sb_puts(&d, words[rnd(sizeof(words) / sizeof(words[0]))]);
			sb_puts(&d, rnd(12) == 0 ? "\\n\\n" : " ");
		}
		ms += rnd(4);
		s.len = 0;
		sb_printf(&s, "{\"method\":\"item/agentMessage/delta\",\"params\":"
		    "{\"threadId\":\"%s\",\"turnId\":\"%s\",\"itemId\":"
		    "\"msg_%08x%024x\",\"delta\":\"", thread_id, turn_id, item * 2654435761u,
		    item);
		sb_put(&s, d.d, d.len);
		sb_printf(&s, "\"},\"emittedAtMs\":%llu}", (unsigned long long)ms);
		part_add(pt, s.d, s.len);
	}
	free(s.d);
	free(d.d);
}

/* Build logs, test runs and listings: what commands print. */
static void
gen_text(struct sb *t, size_t want, int json_escaped)
{
	static const char *dirs[] = { "src", "src/proto", "tests", "lib/util",
	    "crates/core/src", "vendor/zlib" };
	static const char *names[] = { "frame", "journal", "buf", "parser", "main",
	    "config", "session", "channel", "inflate", "deflate", "hash" };
	const char *nl = json_escaped ? "\\n" : "\n";
	unsigned n;

	while (t->len < want) {
		n = rnd(4);
		if (n == 0)
			sb_printf(t, "   Compiling %s v0.%u.%u (%s/%s)%s", names[rnd(11)],
			    rnd(20), rnd(30), dirs[rnd(6)], names[rnd(11)], nl);
		else if (n == 1)
			sb_printf(t, "test %s::tests::%s_%u ... ok%s", names[rnd(11)],
			    names[rnd(11)], rnd(1000), nl);
		else if (n == 2)
			sb_printf(t, "-rw-r--r-- 1 dev dev %7u Mar %2u %02u:%02u %s/%s.c%s",
			    rnd(200000), 1 + rnd(28), rnd(24), rnd(60), dirs[rnd(6)],
			    names[rnd(11)], nl);
		else
			sb_printf(t, "%s/%s.c:%u:%u: warning: unused variable 'tmp%u' "
			    "[-Wunused-variable]%s", dirs[rnd(6)], names[rnd(11)],
			    rnd(3000), rnd(80), rnd(100), nl);
	}
}

/* item/commandExecution/outputDelta, 4-64 KiB: text, or base64 of binary-ish output. */
static void
gen_output(struct part *pt, size_t n)
{
	struct sb s = { 0 }, t = { 0 };
	size_t i, size;

	for (i = 0; i < n; i++) {
		size = 4096 + rnd(60 * 1024);
		s.len = t.len = 0;
		sb_printf(&s, "{\"method\":\"item/commandExecution/outputDelta\",\"params\":"
		    "{\"threadId\":\"%s\",\"turnId\":\"%s\",\"itemId\":\"call_%016zx\","
		    "\"delta\":\"", thread_id, turn_id, i / 8);
		if (i % 2 == 0) {
			gen_text(&t, size, 1);
			sb_put(&s, t.d, t.len);
		} else {
			gen_text(&t, size * 3 / 4, 0);
			b64(&s, (const uint8_t *)t.d, t.len);
		}
		sb_puts(&s, "\"}}");
		part_add(pt, s.d, s.len);
	}
	free(s.d);
	free(t.d);
}

/* One fs/readFile result of 20 MiB: base64 of a source tree's worth of text. */
static void
gen_readfile(struct part *pt, size_t total)
{
	struct sb s = { 0 }, t = { 0 };

	gen_text(&t, (total - 64) / 4 * 3, 0);
	sb_puts(&s, "{\"id\":42,\"result\":{\"dataBase64\":\"");
	b64(&s, (const uint8_t *)t.d, t.len);
	sb_puts(&s, "\"}}");
	part_add(pt, s.d, s.len);
	free(s.d);
	free(t.d);
}

/* ---- framing ------------------------------------------------------------- */

#define READ_SIZE (64u * 1024u)	/* what one read() of the channel returns at most */

struct ctx {
	struct frame_enc *enc;
	struct frame_dec *dec;
	int verify;
	int zlib;
	const struct msg *const *all;	/* every message of a pass, in order */
	size_t nall;
	uint64_t seq;			/* last sent */
	uint64_t got;			/* last decoded */
	uint8_t *dst;			/* decoder space of the read in progress */
	size_t filled, room;
};

static void
drain(struct ctx *c)
{
	const struct msg *m;
	struct frame f;
	int r;

	while ((r = frame_dec_next(c->dec, &f)) == 1) {
		if (f.type != FRAME_DATA)
			fatal("unexpected frame type %d", (int)f.type);
		if (f.u.data.seq != c->got + 1 || f.u.data.seq > c->seq)
			fatal("decoded seq %llu, want %llu",
			    (unsigned long long)f.u.data.seq,
			    (unsigned long long)c->got + 1);
		m = c->all[c->got++ % c->nall];
		if (f.u.data.len != m->len)
			fatal("seq %llu: decoded %zu bytes, want %zu",
			    (unsigned long long)c->got, f.u.data.len, m->len);
		if (c->verify && memcmp(f.u.data.msg, m->p, m->len) != 0)
			fatal("seq %llu: decoded bytes differ", (unsigned long long)c->got);
	}
	if (r < 0)
		fatal("decoder: %s (%s)", proto_strerror(r), frame_dec_reason(c->dec));
}

/* The read() returns: the decoder gets what was copied into its space. */
static void
read_done(struct ctx *c)
{
	if (c->filled > 0)
		frame_dec_commit(c->dec, c->filled);
	c->filled = c->room = 0;
	drain(c);
}

/*
 * Copies encoder output into the decoder's space the way read() would: several
 * small frames per read, at most READ_SIZE bytes, straight into the message being
 * reassembled when the decoder offers that.
 */
static void
put(struct ctx *c, const uint8_t *p, size_t n)
{
	long room;
	size_t k;

	while (n > 0) {
		if (c->room == 0) {
			read_done(c);
			if ((room = frame_dec_space(c->dec, &c->dst)) <= 0)
				fatal("frame_dec_space: %s", proto_strerror((int)room));
			c->room = (size_t)room < READ_SIZE ? (size_t)room : READ_SIZE;
		}
		k = c->room < n ? c->room : n;
		memcpy(c->dst + c->filled, p, k);
		c->filled += k;
		c->room -= k;
		p += k;
		n -= k;
	}
}

static void
send_msg(struct ctx *c, const struct msg *m, int compress, struct pass *ps, int part)
{
	struct frame_chunk ch;
	int r;

	c->seq++;
	if ((r = frame_enc_begin(c->enc, c->seq, m->p, m->len, compress)) != 0)
		fatal("frame_enc_begin: %s", proto_strerror(r));
	do {
		if ((r = frame_enc_chunk(c->enc, &ch)) < 0)
			fatal("frame_enc_chunk: %s", proto_strerror(r));
		put(c, ch.hdr, ch.hdrlen);
		put(c, ch.payload, ch.paylen);
		ps->wire[part] += ch.hdrlen + ch.paylen;
		ps->payload[part] += ch.paylen;
	} while (r == 1);
}

static void
ctx_open(struct ctx *c, const struct msg *const *all, size_t nall, int zlib, int verify)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->verify = verify;
	c->all = all;
	c->nall = nall;
	c->zlib = zlib;
	if ((c->enc = frame_enc_new()) == NULL || (c->dec = frame_dec_new(0)) == NULL)
		fatal("frame_enc_new/frame_dec_new failed");
	if (zlib && ((r = frame_enc_set_zlib(c->enc, 1)) != 0 ||
	    (r = frame_dec_set_zlib(c->dec, 1)) != 0))
		fatal("zlib on: %s", proto_strerror(r));
}

static void
ctx_close(struct ctx *c)
{
	frame_enc_free(c->enc);
	frame_dec_free(c->dec);
}

/*
 * Sends the whole mix once more through c's encoder/decoder pair, timing each
 * part. The pair lives across repetitions like a session's: buffers the decoder
 * keeps are reused, buffers it gives back are paid for again.
 */
static void
run_framing(struct ctx *c, struct pass *ps)
{
	size_t i;
	int p;
	double t0;

	memset(ps, 0, sizeof(*ps));
	for (p = 0; p < NPARTS; p++) {
		t0 = now();
		for (i = 0; i < parts[p].n; i++)
			send_msg(c, &parts[p].m[i], c->zlib, ps, p);
		read_done(c);
		ps->secs[p] = now() - t0;
	}
	if (c->got != c->seq)
		fatal("%llu messages sent, %llu decoded", (unsigned long long)c->seq,
		    (unsigned long long)c->got);
}

static void
best_pass(struct pass *best, const struct pass *ps)
{
	int p;

	for (p = 0; p < NPARTS; p++) {
		if (best->secs[p] == 0 || ps->secs[p] < best->secs[p])
			best->secs[p] = ps->secs[p];
		best->wire[p] = ps->wire[p];
		best->payload[p] = ps->payload[p];
	}
}

/* ---- memcpy and journal -------------------------------------------------- */

static void
run_memcpy(double secs[NPARTS])
{
	size_t i;
	int p;
	double t0;

	for (p = 0; p < NPARTS; p++) {
		t0 = now();
		for (i = 0; i < parts[p].n; i++) {
			memcpy(sink, parts[p].m[i].p, parts[p].m[i].len);
			sink_byte ^= sink[parts[p].m[i].len - 1];
		}
		secs[p] = now() - t0;
	}
}

/* Appends, reads back and acks every 64 messages: what a sender does per message. */
static double
run_journal(const struct part *pt, size_t mem_max, uint64_t disk_max, const char *dir)
{
	struct journal_limits lim = { mem_max, disk_max, dir };
	struct journal *j;
	const uint8_t *p;
	size_t i, len;
	double t0, t;
	int r;

	if ((j = journal_new(&lim, 1)) == NULL)
		fatal("journal_new failed");
	t0 = now();
	for (i = 0; i < pt->n; i++) {
		if ((r = journal_append(j, pt->m[i].p, pt->m[i].len)) != 0 ||
		    (r = journal_get(j, i + 1, &p, &len)) != 0)
			fatal("journal: %s", proto_strerror(r));
		if (len != pt->m[i].len || p[len - 1] != pt->m[i].p[len - 1])
			fatal("journal: message %zu differs", i + 1);
		if ((i + 1) % 64 == 0 && (r = journal_ack(j, i + 2)) != 0)
			fatal("journal_ack: %s", proto_strerror(r));
	}
	if ((r = journal_ack(j, pt->n + 1)) != 0)
		fatal("journal_ack: %s", proto_strerror(r));
	t = now() - t0;
	journal_free(j);
	return t;
}

/* ---- report -------------------------------------------------------------- */

static double
rate(double amount, double secs)
{
	return secs > 0 ? amount / secs : 0;
}

static double
sum3(const double v[NPARTS])
{
	return v[0] + v[1] + v[2];
}

int
main(int argc, char **argv)
{
	int json = 0, quick = 0, strict = 0, i, k, p, reps, zreps;
	struct pass plain, zlib, ps;
	double mc[NPARTS], mcbest[NPARTS], jdelta = 0, jmix = 0, jspill = 0, t;
	uint64_t total = 0, nmsgs = 0, zwire = 0;
	double framing_mb_s, memcpy_mb_s, zlib_mb_s, ratio[NPARTS], wratio[NPARTS];
	char dir[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	struct part mix;
	const struct msg **all;
	struct ctx c;
	size_t n;
	int goal_framing, goal_zlib;
	double bench_t0 = now();

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--strict") == 0)
			strict = 1;
		else {
			fprintf(stderr, "usage: proto-bench [--json] [--quick] [--strict]\n");
			return 64;
		}
	}
	reps = quick ? 2 : 10;
	zreps = quick ? 1 : 3;

	gen_deltas(&parts[P_DELTAS], quick ? 5000 : 20000);
	gen_output(&parts[P_OUTPUT], quick ? 50 : 200);
	gen_readfile(&parts[P_READFILE], quick ? (4u << 20) : (20u << 20));
	for (p = 0; p < NPARTS; p++) {
		total += parts[p].bytes;
		nmsgs += parts[p].n;
		for (i = 0; (size_t)i < parts[p].n; i++)
			if (parts[p].m[i].len > sink_len)
				sink_len = parts[p].m[i].len;
	}
	if ((sink = malloc(sink_len)) == NULL)
		fatal("out of memory");
	memset(sink, 0, sink_len);
	if ((all = malloc(nmsgs * sizeof(*all))) == NULL)
		fatal("out of memory");
	for (n = 0, p = 0; p < NPARTS; p++)
		for (i = 0; (size_t)i < parts[p].n; i++)
			all[n++] = &parts[p].m[i];

	/* Checked passes first: every decoded message compared with its input. */
	ctx_open(&c, all, nmsgs, 0, 1);
	run_framing(&c, &plain);
	ctx_close(&c);
	ctx_open(&c, all, nmsgs, 1, 1);
	run_framing(&c, &zlib);
	ctx_close(&c);

	memset(&plain, 0, sizeof(plain));
	memset(&zlib, 0, sizeof(zlib));
	memset(mcbest, 0, sizeof(mcbest));
	ctx_open(&c, all, nmsgs, 0, 0);
	for (i = 0; i < reps; i++) {
		run_framing(&c, &ps);
		best_pass(&plain, &ps);
		/* memcpy is cheap: more samples, taken between the framing ones. */
		for (k = 0; k < 3; k++) {
			run_memcpy(mc);
			for (p = 0; p < NPARTS; p++)
				if (mcbest[p] == 0 || mc[p] < mcbest[p])
					mcbest[p] = mc[p];
		}
	}
	ctx_close(&c);
	ctx_open(&c, all, nmsgs, 1, 0);
	for (i = 0; i < zreps; i++) {
		run_framing(&c, &ps);
		best_pass(&zlib, &ps);
	}
	ctx_close(&c);

	snprintf(dir, sizeof(dir), "%s", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	mix.n = 0;
	mix.bytes = total;
	if ((mix.m = malloc(nmsgs * sizeof(*mix.m))) == NULL)
		fatal("out of memory");
	for (p = 0; p < NPARTS; p++) {
		memcpy(mix.m + mix.n, parts[p].m, parts[p].n * sizeof(*mix.m));
		mix.n += parts[p].n;
	}
	for (i = 0; i < reps; i++) {
		t = run_journal(&parts[P_DELTAS], 64u << 20, 0, NULL);
		jdelta = jdelta == 0 || t < jdelta ? t : jdelta;
		t = run_journal(&mix, 64u << 20, 0, NULL);
		jmix = jmix == 0 || t < jmix ? t : jmix;
		t = run_journal(&parts[P_DELTAS], 0, 1ULL << 30, dir);
		jspill = jspill == 0 || t < jspill ? t : jspill;
	}

	framing_mb_s = rate((double)total / MB, sum3(plain.secs));
	memcpy_mb_s = rate((double)total / MB, sum3(mcbest));
	zlib_mb_s = rate((double)total / MB, sum3(zlib.secs));
	for (p = 0; p < NPARTS; p++) {
		ratio[p] = zlib.payload[p] > 0 ?
		    (double)parts[p].bytes / (double)zlib.payload[p] : 0;
		wratio[p] = zlib.wire[p] > 0 ?
		    (double)parts[p].bytes / (double)zlib.wire[p] : 0;
		zwire += zlib.wire[p];
	}
	goal_framing = framing_mb_s >= GOAL_FRAMING * memcpy_mb_s;
	goal_zlib = ratio[P_DELTAS] >= GOAL_ZLIB_DELTAS;

	if (json) {
		printf("{\"framing_mb_s\":%.1f,\"framing_msgs_s\":%.0f,"
		    "\"framing_zlib_mb_s\":%.1f,\"framing_zlib_msgs_s\":%.0f,"
		    "\"memcpy_mb_s\":%.1f,\"framing_vs_memcpy\":%.3f,"
		    "\"zlib_ratio_deltas\":%.2f,\"zlib_ratio_output\":%.2f,"
		    "\"zlib_ratio_readfile\":%.2f,\"zlib_wire_ratio_deltas\":%.2f,"
		    "\"zlib_wire_ratio_mix\":%.2f,"
		    "\"journal_msgs_s\":%.0f,\"journal_mb_s\":%.1f,"
		    "\"journal_spill_msgs_s\":%.0f,",
		    framing_mb_s, rate((double)nmsgs, sum3(plain.secs)),
		    zlib_mb_s, rate((double)nmsgs, sum3(zlib.secs)),
		    memcpy_mb_s, memcpy_mb_s > 0 ? framing_mb_s / memcpy_mb_s : 0,
		    ratio[P_DELTAS], ratio[P_OUTPUT], ratio[P_READFILE],
		    wratio[P_DELTAS], zwire > 0 ? (double)total / (double)zwire : 0,
		    rate((double)parts[P_DELTAS].n, jdelta),
		    rate((double)total / MB, jmix),
		    rate((double)parts[P_DELTAS].n, jspill));
		for (p = 0; p < NPARTS; p++)
			printf("\"%s_messages\":%zu,\"%s_bytes\":%llu,"
			    "\"%s_framing_mb_s\":%.1f,\"%s_framing_msgs_s\":%.0f,"
			    "\"%s_framing_zlib_mb_s\":%.1f,\"%s_framing_zlib_msgs_s\":%.0f,"
			    "\"%s_memcpy_mb_s\":%.1f,",
			    part_name[p], parts[p].n, part_name[p],
			    (unsigned long long)parts[p].bytes,
			    part_name[p], rate((double)parts[p].bytes / MB, plain.secs[p]),
			    part_name[p], rate((double)parts[p].n, plain.secs[p]),
			    part_name[p], rate((double)parts[p].bytes / MB, zlib.secs[p]),
			    part_name[p], rate((double)parts[p].n, zlib.secs[p]),
			    part_name[p], rate((double)parts[p].bytes / MB, mcbest[p]));
		printf("\"goal_framing_half_memcpy\":%s,\"goal_zlib_deltas_5x\":%s,"
		    "\"verified\":true,\"seconds\":%.1f}\n",
		    goal_framing ? "true" : "false", goal_zlib ? "true" : "false",
		    now() - bench_t0);
	} else {
		printf("proto-bench: %llu messages, %.1f MB (MB = 10^6 bytes); best of %d "
		    "(zlib: %d); decoded output verified\n\n",
		    (unsigned long long)nmsgs, (double)total / MB, reps, zreps);
		printf("%-10s %7s %9s %11s %11s %11s %11s %11s %8s\n", "part",
		    "msgs", "avg B", "memcpy MB/s", "frame MB/s", "frame msg/s",
		    "zlib MB/s", "zlib msg/s", "zlib x");
		for (p = 0; p < NPARTS; p++)
			printf("%-10s %7zu %9.0f %11.0f %11.0f %11.0f %11.1f %11.0f %8.2f\n",
			    part_name[p], parts[p].n,
			    (double)parts[p].bytes / (double)parts[p].n,
			    rate((double)parts[p].bytes / MB, mcbest[p]),
			    rate((double)parts[p].bytes / MB, plain.secs[p]),
			    rate((double)parts[p].n, plain.secs[p]),
			    rate((double)parts[p].bytes / MB, zlib.secs[p]),
			    rate((double)parts[p].n, zlib.secs[p]), ratio[p]);
		printf("%-10s %7llu %9.0f %11.0f %11.0f %11.0f %11.1f %11.0f %8.2f\n\n",
		    "whole mix", (unsigned long long)nmsgs, (double)total / (double)nmsgs,
		    memcpy_mb_s, framing_mb_s, rate((double)nmsgs, sum3(plain.secs)),
		    zlib_mb_s, rate((double)nmsgs, sum3(zlib.secs)),
		    zwire > 0 ? (double)total / (double)zwire : 0);
		printf("zlib on the wire (frame headers included): deltas x%.2f, "
		    "output x%.2f, readfile x%.2f\n", wratio[P_DELTAS],
		    wratio[P_OUTPUT], wratio[P_READFILE]);
		printf("journal append+get+ack: deltas %.0f msg/s in memory, %.0f msg/s "
		    "spilled; whole mix %.0f MB/s\n\n",
		    rate((double)parts[P_DELTAS].n, jdelta),
		    rate((double)parts[P_DELTAS].n, jspill), rate((double)total / MB, jmix));
		printf("goal: uncompressed framing >= %.1f x memcpy: %.3f x  %s\n",
		    GOAL_FRAMING, memcpy_mb_s > 0 ? framing_mb_s / memcpy_mb_s : 0,
		    goal_framing ? "met" : "MISSED");
		printf("goal: zlib on deltas >= %.0fx reduction:    %.2f x  %s\n",
		    GOAL_ZLIB_DELTAS, ratio[P_DELTAS], goal_zlib ? "met" : "MISSED");
		printf("(%.1f s)\n", now() - bench_t0);
	}

	for (p = 0; p < NPARTS; p++) {
		for (i = 0; (size_t)i < parts[p].n; i++)
			free(parts[p].m[i].p);
		free(parts[p].m);
	}
	free(mix.m);
	free(all);
	free(sink);
	if (strict && (!goal_framing || !goal_zlib))
		return 2;
	return 0;
}
