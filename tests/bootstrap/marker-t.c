/*
 * marker-t.c - tests of the bootstrap's answer/noise splitter (bootstrap/marker.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap/marker.h"
#include "tests/tap.h"

#define TAG "Tg0123456789abcdefghijKL"
#define M "@@" TAG "@@ "                 /* the answer prefix, 29 bytes */
#define MT "@@t@@ "                      /* the same for the tag "t" */
#define IN(s) s, sizeof(s) - 1

enum chunking {
	SPLIT_AT,     /* two feeds, the first of arg bytes */
	EVERY,        /* feeds of arg bytes */
	VARYING       /* pseudo-random feeds of 1..arg bytes */
};

struct scase {
	const char *name;
	const char *in;
	size_t len;
	const char *tag;         /* NULL: TAG */
	size_t max_line;         /* 0: default */
	size_t max_noise;        /* 0: default */
	/*
	 * "A:WORD/argc:args|" per answer, "N:line|" per noise line, "P:piece|" per
	 * piece of a long one, "E:NAME|" for the error that stops it, "R:bytes|"
	 * for what marker_dec_rest() gave after an EXEC answer. Bytes outside
	 * 0x20..0x7e and '\' are written \xHH.
	 */
	const char *want;
};

struct outcome {
	char log[16384];
	size_t used;
	int violations;          /* broken invariants, see record() */
	char rest[8192];
	size_t restlen;
};

static void
put(struct outcome *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		if (o->used + 5 >= sizeof(o->log))
			bail("event log overflow");
		c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || c == '\\') {
			o->log[o->used++] = '\\';
			o->log[o->used++] = 'x';
			o->log[o->used++] = hex[c >> 4];
			o->log[o->used++] = hex[c & 15];
		} else
			o->log[o->used++] = (char)c;
	}
	o->log[o->used] = '\0';
}

static void
puts_raw(struct outcome *o, const char *s)
{
	size_t n = strlen(s);

	if (o->used + n + 1 > sizeof(o->log))
		bail("event log overflow");
	memcpy(o->log + o->used, s, n + 1);
	o->used += n;
}

static const char *
err_name(int r)
{
	switch (r) {
	case PROTO_ERR_INVALID: return "INVALID";
	case PROTO_ERR_TOO_LARGE: return "TOO_LARGE";
	case PROTO_ERR_NOMEM: return "NOMEM";
	case PROTO_ERR_FULL: return "FULL";
	default: return "OTHER";
	}
}

static size_t
eff_line(const struct scase *c)
{
	return c->max_line ? c->max_line : MARKER_DEFAULT_MAX_LINE;
}

/* What a drained decoder may hold: an unfinished line or a possible prefix. */
static size_t
held_bound(const struct scase *c)
{
	size_t plen = strlen(c->tag ? c->tag : TAG) + 5;

	return eff_line(c) + 1 > plen - 1 ? eff_line(c) + 1 : plen - 1;
}

/* Logs one event and checks what every event must satisfy. */
static void
record(struct outcome *o, const struct marker_event *ev, size_t max_line)
{
	char buf[64], join[8192];
	size_t i, w, jl = 0, al;
	int k;

	if (ev->kind == MARKER_EV_NOISE) {
		puts_raw(o, ev->more ? "P:" : "N:");
		put(o, ev->noise, ev->len);
		puts_raw(o, "|");
		if (ev->len == 0 || ev->len > max_line ||
		    memchr(ev->noise, '\n', ev->len) != NULL ||
		    (ev->more && ev->len != max_line) || ev->word != NULL)
			o->violations++;
		return;
	}
	if (ev->kind != MARKER_EV_ANSWER || ev->word == NULL || ev->args == NULL) {
		o->violations++;
		return;
	}
	snprintf(buf, sizeof(buf), "/%d:", ev->argc);
	puts_raw(o, "A:");
	put(o, ev->word, strlen(ev->word));
	puts_raw(o, buf);
	put(o, ev->args, strlen(ev->args));
	puts_raw(o, "|");
	/* The word's alphabet and size; argv joined by spaces gives args back. */
	w = strlen(ev->word);
	if (w == 0 || w > MARKER_MAX_WORD || ev->noise != NULL)
		o->violations++;
	for (i = 0; i < w; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", ev->word[i]) == NULL)
			o->violations++;
	al = strlen(ev->args);
	if (ev->argc < 0 || ev->argc > MARKER_MAX_ARGS || (ev->argc == 0) != (al == 0))
		o->violations++;
	for (k = 0; k < ev->argc && k < MARKER_MAX_ARGS; k++) {
		if (ev->argv[k] == NULL || jl + strlen(ev->argv[k]) + 2 > sizeof(join)) {
			o->violations++;
			return;
		}
		if (k > 0)
			join[jl++] = ' ';
		memcpy(join + jl, ev->argv[k], strlen(ev->argv[k]));
		jl += strlen(ev->argv[k]);
		if (k < MARKER_MAX_ARGS - 1 && strchr(ev->argv[k], ' ') != NULL)
			o->violations++;
	}
	for (; k < MARKER_MAX_ARGS; k++)
		if (ev->argv[k] != NULL)
			o->violations++;
	if (jl != al || memcmp(join, ev->args, al) != 0)
		o->violations++;
}

static void
take_rest(struct marker_dec *d, struct outcome *o)
{
	const uint8_t *p = NULL;
	size_t n = marker_dec_rest(d, &p);

	if (p == NULL || o->restlen + n > sizeof(o->rest))
		bail("rest overflow");
	memcpy(o->rest + o->restlen, p, n);
	o->restlen += n;
	if (marker_dec_buffered(d) != 0)
		o->violations++;
}

/* After the error r: every call returns it, and *ev is left alone. */
static void
check_sticky(struct marker_dec *d, int r, struct outcome *o)
{
	struct marker_event ev;
	const uint8_t *p;
	char why[128];

	snprintf(why, sizeof(why), "%s", marker_dec_reason(d));
	memset(&ev, 0xa5, sizeof(ev));
	ev.kind = (enum marker_kind)77;
	if (why[0] == '\0' || marker_dec_next(d, &ev) != r ||
	    marker_dec_finish(d, &ev) != r || marker_dec_feed(d, "x\n", 2) != r ||
	    marker_dec_next(d, &ev) != r || ev.kind != (enum marker_kind)77 ||
	    strcmp(why, marker_dec_reason(d)) != 0 || marker_dec_rest(d, &p) != 0)
		o->violations++;
}

/*
 * Drains d with next() (or finish() at the end). Returns 1 when the stream
 * stopped: an error, or an EXEC answer after which the rest was taken.
 */
static int
drain(struct marker_dec *d, struct outcome *o, size_t max_line, int eof,
    int *exec)
{
	struct marker_event ev;
	int r;

	for (;;) {
		r = eof ? marker_dec_finish(d, &ev) : marker_dec_next(d, &ev);
		if (r == 0)
			return 0;
		if (r < 0) {
			puts_raw(o, "E:");
			puts_raw(o, err_name(r));
			puts_raw(o, "|");
			check_sticky(d, r, o);
			return 1;
		}
		if (r != 1) {
			o->violations++;
			return 1;
		}
		record(o, &ev, max_line);
		if (ev.kind == MARKER_EV_ANSWER && strcmp(ev.word, "EXEC") == 0) {
			*exec = 1;
			take_rest(d, o);
			return 1;
		}
	}
}

static unsigned long rng = 1;

static size_t
rand_upto(size_t n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return 1 + (size_t)(rng >> 33) % n;
}

static struct marker_dec *
decoder(const struct scase *c)
{
	struct marker_limits lim = { c->max_line, c->max_noise, 0 };
	struct marker_dec *d = marker_dec_new(c->tag ? c->tag : TAG, &lim);

	if (d == NULL)
		bail("marker_dec_new failed");
	return d;
}

/* Feeds c->in cut by cuts[0..ncuts) (ascending), draining after every feed. */
static void
run_cuts(const struct scase *c, const size_t *cuts, size_t ncuts, struct outcome *o)
{
	struct marker_dec *d;
	size_t off = 0, end, i, max_line = eff_line(c);
	int stopped = 0, exec = 0, r;

	memset(o, 0, sizeof(*o));
	d = decoder(c);
	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? cuts[i] : c->len;
		if (stopped && !exec)
			break;
		r = marker_dec_feed(d, c->in + off, end - off);
		if (r != 0)
			bail("feed failed: %d", r);
		if (!exec && marker_dec_buffered(d) > held_bound(c) + (end - off))
			o->violations++;
		off = end;
		if (exec) {
			take_rest(d, o);
			continue;
		}
		stopped = drain(d, o, max_line, 0, &exec);
		if (!stopped && marker_dec_buffered(d) > held_bound(c))
			o->violations++;
	}
	if (!stopped) {
		stopped = drain(d, o, max_line, 1, &exec);
		if (!stopped && marker_dec_buffered(d) != 0)
			o->violations++;
	}
	if (exec) {
		struct marker_event ev;

		if (marker_dec_next(d, &ev) != 0 || marker_dec_finish(d, &ev) != 0)
			o->violations++;
		puts_raw(o, "R:");
		put(o, o->rest, o->restlen);
		puts_raw(o, "|");
	}
	marker_dec_free(d);
}

static void
run(const struct scase *c, enum chunking how, size_t arg, struct outcome *o)
{
	static size_t cuts[8192];
	size_t n = 0, off = 0, k;

	for (;;) {
		switch (how) {
		case SPLIT_AT:
			k = n == 0 ? arg : c->len;
			break;
		case EVERY:
			k = arg;
			break;
		default:
			k = rand_upto(arg);
			break;
		}
		if (k >= c->len - off || n == sizeof(cuts) / sizeof(cuts[0]))
			break;
		off += k;
		cuts[n++] = off;
	}
	run_cuts(c, cuts, n, o);
}

static const struct scase cases[] = {
	{ "three answers among noise", IN("Last login: Mon\r\nhello\n"
	    M "HELLO 1 linux x86_64\n" "noise between\n"
	    M "FOUND /usr/bin/codex-subsystem 0.3\r\n" M "READY\n" "bye"),
	  NULL, 0, 0,
	  "N:Last login: Mon|N:hello|A:HELLO/3:1 linux x86_64|N:noise between|"
	  "A:FOUND/2:/usr/bin/codex-subsystem 0.3|A:READY/0:|N:bye|" },
	{ "answers only", IN(M "HELLO\n" M "A_1 x\n"), NULL, 0, 0,
	  "A:HELLO/0:|A:A_1/1:x|" },
	{ "empty input", IN(""), NULL, 0, 0, "" },
	{ "noise only", IN("one\ntwo\n"), NULL, 0, 0, "N:one|N:two|" },
	{ "wrong tags and near misses are noise", IN(
	    "@@Tg0123456789abcdefghijKX@@ HELLO\n"
	    "@@Tg0123456789abcdefghijK@@ HELLO\n"
	    "@@" TAG "X@@ HELLO\n"
	    "@@" TAG "@@HELLO\n"
	    " " M "HELLO\n"
	    "@@" TAG "@\n"
	    "@@\n"
	    M "OK\n"), NULL, 0, 0,
	  "N:@@Tg0123456789abcdefghijKX@@ HELLO|N:@@Tg0123456789abcdefghijK@@ HELLO|"
	  "N:@@" TAG "X@@ HELLO|N:@@" TAG "@@HELLO|N: " M "HELLO|"
	  "N:@@" TAG "@|N:@@|A:OK/0:|" },
	{ "a marker after noise with no newline is not at a line start",
	  IN("hello" M "HELLO\n" M "OK\n"), NULL, 0, 0,
	  "N:hello" M "HELLO|A:OK/0:|" },
	{ "the script's newline before the marker", IN("hello\n" M "HELLO\n"),
	  NULL, 0, 0, "N:hello|A:HELLO/0:|" },
	{ "CRLF, lone CRs", IN(M "A x\r\n" "noise\r\n" "\r\n" "\r\r\n"
	    M "B a\rb\r\n" "c\rd\n"), NULL, 0, 0,
	  "A:A/1:x|N:noise|N:\\x0d|A:B/1:a\\x0db|N:c\\x0dd|" },
	{ "empty lines are not reported", IN("\n\n" M "X\n\n\n\r\n"), NULL, 0, 0,
	  "A:X/0:|" },
	{ "args split at single spaces", IN(M "W a  b \n" M "W \n" M "W  \n"),
	  NULL, 0, 0, "A:W/4:a  b |A:W/0:|A:W/2: |" },
	{ "lowercase word", IN("pre\n" M "hello\n"), NULL, 0, 0,
	  "N:pre|E:INVALID|" },
	{ "empty word: the prefix alone", IN(M "\n"), NULL, 0, 0, "E:INVALID|" },
	{ "empty word: two spaces", IN(M " X\n"), NULL, 0, 0, "E:INVALID|" },
	{ "word with a dash", IN(M "EX-EC\n"), NULL, 0, 0, "E:INVALID|" },
	{ "word then a tab", IN(M "WORD\tx\n"), NULL, 0, 0, "E:INVALID|" },
	{ "word with a CR before CRLF", IN(M "WORD\r\r\n"), NULL, 0, 0, "E:INVALID|" },
	{ "word of 32 bytes", IN(M "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 x\n"),
	  NULL, 0, 0, "A:ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/1:x|" },
	{ "word of 33 bytes", IN(M "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 x\n"),
	  NULL, 0, 0, "E:INVALID|" },
	{ "NUL in an answer line", IN(M "X a\0b\n"), NULL, 0, 0, "E:INVALID|" },
	{ "NUL in noise is fine", IN("a\0b\n" M "X\n"), NULL, 0, 0,
	  "N:a\\x00b|A:X/0:|" },
	{ "answer of exactly max_line bytes", IN(MT "W 01234567\n" MT "W 01234567\r\n"),
	  "t", 16, 0, "A:W/1:01234567|A:W/1:01234567|" },
	{ "answer one byte over max_line", IN("x\n" MT "W 012345678\nafter\n"),
	  "t", 16, 0, "N:x|E:TOO_LARGE|" },
	{ "answer over max_line with a CR inside", IN(MT "W 01234567\r\r\n"),
	  "t", 16, 0, "E:TOO_LARGE|" },
	{ "answer over max_line that never ends", IN(MT "W 0123456789abcdefghij"),
	  "t", 16, 0, "E:TOO_LARGE|" },
	{ "a prefix longer than max_line", IN("ab\n" M "X\n"), NULL, 8, 0,
	  "N:ab|E:TOO_LARGE|" },
	{ "noise in pieces", IN("123456789abcdefghij\n12345678\r\n123456789\r\n"
	    "12345678\r\r\n1234567890123456\nabcdefghijk"), "t", 8, 0,
	  "P:12345678|P:9abcdefg|N:hij|N:12345678|P:12345678|N:9|"
	  "P:12345678|N:\\x0d|P:12345678|N:90123456|P:abcdefgh|N:ijk|" },
	{ "a marker inside a long line is noise", IN("12345678" MT "X\n" MT "Y\n"),
	  "t", 8, 0, "P:12345678|N:" MT "X|A:Y/0:|" },
	{ "a possible prefix longer than max_line", IN("@@" TAG "@@\n"), NULL, 8, 0,
	  "P:@@Tg0123|P:456789ab|P:cdefghij|N:KL@@|" },
	{ "noise up to the limit, then an answer", IN("0123456789\nabcdefgh\n"
	    M "X\n"), NULL, 0, 20, "N:0123456789|N:abcdefgh|A:X/0:|" },
	{ "noise over the limit", IN("0123456789\nabcdefgh\n" "x\n" M "X\n"),
	  NULL, 0, 20, "N:0123456789|N:abcdefgh|E:TOO_LARGE|" },
	{ "empty lines count as noise", IN("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
	    M "X\n"), NULL, 0, 20, "E:TOO_LARGE|" },
	{ "pieces count as noise", IN("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), "t", 8, 20,
	  "P:aaaaaaaa|P:aaaaaaaa|E:TOO_LARGE|" },
	{ "trailing partial line", IN(M "X\n" "tail"), NULL, 0, 0, "A:X/0:|N:tail|" },
	{ "trailing partial line with a CR", IN("tail\r"), NULL, 0, 0, "N:tail|" },
	{ "trailing partial line of max_line and a CR", IN("12345678\r"), "t", 8, 0,
	  "N:12345678|" },
	{ "trailing possible prefix", IN("x\n@@t@"), "t", 0, 0, "N:x|N:@@t@|" },
	{ "trailing unterminated answer", IN("x\n" M "EXEC"), NULL, 0, 0,
	  "N:x|E:INVALID|" },
	{ "trailing unterminated answer with a CR", IN(MT "W 01234567\r"), "t", 16, 0,
	  "E:INVALID|" },
	{ "EXEC: protocol bytes are not parsed", IN("motd\n" M "HELLO\n"
	    M "EXEC /usr/bin/codex-subsystem\n" "\0cxssh\r\n\x01\x02\n" M "bad\n"
	    "\n\ntail"), NULL, 0, 0,
	  "N:motd|A:HELLO/0:|A:EXEC/1:/usr/bin/codex-subsystem|"
	  "R:\\x00cxssh\\x0d\\x0a\\x01\\x02\\x0a" M "bad\\x0a\\x0a\\x0atail|" },
	{ "EXEC with CRLF and nothing after", IN(M "EXEC\r\n"), NULL, 0, 0,
	  "A:EXEC/0:|R:|" },
	{ "EXEC followed by empty lines", IN(M "EXEC\n\n\r\n"), NULL, 0, 0,
	  "A:EXEC/0:|R:\\x0a\\x0d\\x0a|" },
	{ "EXEC followed by what would be errors", IN(MT "EXEC\n"
	    "12345678901234567890" MT "x\n" MT "WAY_TOO_LONG_ANSWER_LINE\n"),
	  "t", 10, 10, "A:EXEC/0:|R:12345678901234567890" MT "x\\x0a" MT
	  "WAY_TOO_LONG_ANSWER_LINE\\x0a|" },
};

static void
test_cases(void)
{
	const struct scase *c;
	struct outcome o;
	size_t i, at, size, bad;
	int seed;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		run(c, SPLIT_AT, c->len, &o);
		is_str(o.log, c->want, "%s: in one feed", c->name);
		ok(o.violations == 0, "%s: in one feed keeps the invariants", c->name);
		bad = 0;
		for (at = 0; at <= c->len; at++) {
			run(c, SPLIT_AT, at, &o);
			if (strcmp(o.log, c->want) != 0 || o.violations != 0) {
				if (bad++ == 0)
					diag("    split at %zu: %s (%d)", at, o.log,
					    o.violations);
			}
		}
		ok(bad == 0, "%s: split at each of %zu offsets", c->name, c->len + 1);
		bad = 0;
		for (size = 1; size <= 4; size++) {
			run(c, EVERY, size, &o);
			if (strcmp(o.log, c->want) != 0 || o.violations != 0) {
				if (bad++ == 0)
					diag("    %zu at a time: %s (%d)", size, o.log,
					    o.violations);
			}
		}
		ok(bad == 0, "%s: fed 1 to 4 bytes at a time", c->name);
		bad = 0;
		for (seed = 1; seed <= 20; seed++) {
			rng = (unsigned long)seed;
			run(c, VARYING, 13, &o);
			if (strcmp(o.log, c->want) != 0 || o.violations != 0)
				bad++;
		}
		ok(bad == 0, "%s: fed in varying pieces", c->name);
	}
}

/* Every cut into three feeds, for the answers and for the EXEC hand-over. */
static void
test_three_feeds(void)
{
	static const char *const which[] = {
		"three answers among noise", "EXEC: protocol bytes are not parsed"
	};
	const struct scase *c = NULL;
	struct outcome o;
	size_t cuts[2], a, b, w, i;
	int bad;

	for (w = 0; w < sizeof(which) / sizeof(which[0]); w++) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			if (strcmp(cases[i].name, which[w]) == 0)
				c = &cases[i];
		if (c == NULL)
			bail("no case %s", which[w]);
		bad = 0;
		for (a = 0; a <= c->len; a++) {
			for (b = a; b <= c->len; b++) {
				cuts[0] = a;
				cuts[1] = b;
				run_cuts(c, cuts, 2, &o);
				if (strcmp(o.log, c->want) != 0 || o.violations != 0)
					bad++;
			}
		}
		ok(bad == 0, "%s: every cut into three feeds", c->name);
	}
}

static struct marker_dec *
dec(const char *tag, size_t max_line, size_t max_noise, size_t max_buffer)
{
	struct marker_limits lim = { max_line, max_noise, max_buffer };
	struct marker_dec *d = marker_dec_new(tag, &lim);

	if (d == NULL)
		bail("marker_dec_new failed");
	return d;
}

static void
feed(struct marker_dec *d, const void *s, size_t len)
{
	if (marker_dec_feed(d, s, len) != 0)
		bail("feed failed");
}

/* 0 to 18 arguments: argv holds 16 at most, the last taking the rest. */
static void
test_args(void)
{
	struct marker_dec *d;
	struct marker_event ev;
	char line[256], args[256], want[16];
	size_t off;
	int n, k, r, bad;

	for (n = 0; n <= MARKER_MAX_ARGS + 2; n++) {
		d = dec(TAG, 0, 0, 0);
		args[0] = '\0';
		for (k = 1, off = 0; k <= n; k++)
			off += (size_t)snprintf(args + off, sizeof(args) - off,
			    k > 1 ? " a%d" : "a%d", k);
		snprintf(line, sizeof(line), M "ARGS%s%s\n", n ? " " : "", args);
		feed(d, line, strlen(line));
		r = marker_dec_next(d, &ev);
		bad = r != 1 || ev.kind != MARKER_EV_ANSWER ||
		    strcmp(ev.word, "ARGS") != 0 ||
		    strcmp(ev.args, args) != 0 ||
		    ev.argc != (n < MARKER_MAX_ARGS ? n : MARKER_MAX_ARGS);
		for (k = 0; !bad && k < ev.argc; k++) {
			snprintf(want, sizeof(want), "a%d", k + 1);
			if (k == MARKER_MAX_ARGS - 1 && n > MARKER_MAX_ARGS)
				bad = strncmp(ev.argv[k], "a16 a17", 7) != 0 ||
				    strcmp(ev.argv[k] + strlen(ev.argv[k]) - 3,
				    n == 17 ? "a17" : "a18") != 0;
			else
				bad = strcmp(ev.argv[k], want) != 0;
		}
		for (; !bad && k < MARKER_MAX_ARGS; k++)
			bad = ev.argv[k] != NULL;
		ok(!bad, "answer with %d args: argc %d", n, r == 1 ? ev.argc : -1);
		is_int(marker_dec_next(d, &ev), 0, "then nothing");
		marker_dec_free(d);
	}
}

static void
test_rest(void)
{
	static const char exec_line[] = M "EXEC 1\n";
	struct marker_dec *d;
	struct marker_event ev;
	const uint8_t *p;
	size_t n, at;
	int r, bad = 0;

	/* In the same feed as the EXEC line, and with an answer after it. */
	d = dec(TAG, 0, 0, 0);
	feed(d, IN(M "HELLO\n" M "EXEC\n" "\0proto\n" M "X\n"));
	r = marker_dec_next(d, &ev);
	ok(r == 1 && strcmp(ev.word, "HELLO") == 0, "first answer");
	r = marker_dec_next(d, &ev);
	ok(r == 1 && strcmp(ev.word, "EXEC") == 0, "then EXEC");
	n = marker_dec_rest(d, &p);
	is_mem(p, n, IN("\0proto\n" M "X\n"), "rest: the bytes after the EXEC line");
	is_int((long long)marker_dec_buffered(d), 0, "none of them held any more");
	is_int(marker_dec_next(d, &ev), 0, "no more events after rest");
	n = marker_dec_rest(d, &p);
	is_int((long long)n, 0, "a second rest gives nothing new");
	feed(d, IN("more\n" M "Y\n"));
	is_int(marker_dec_next(d, &ev), 0, "later feeds are not parsed");
	is_int(marker_dec_finish(d, &ev), 0, "nor at the end");
	n = marker_dec_rest(d, &p);
	is_mem(p, n, IN("more\n" M "Y\n"), "rest gives later feeds as they were");
	marker_dec_free(d);

	/* The EXEC line split at every offset, the protocol bytes in its last feed. */
	for (at = 0; at < sizeof(exec_line) - 1; at++) {
		d = dec(TAG, 0, 0, 0);
		feed(d, exec_line, at);
		r = marker_dec_next(d, &ev);
		if (r != 0)
			bad++;
		feed(d, exec_line + at, sizeof(exec_line) - 1 - at);
		feed(d, IN("\0cxssh\r\n"));
		r = marker_dec_next(d, &ev);
		if (r != 1 || strcmp(ev.word, "EXEC") != 0 || strcmp(ev.args, "1") != 0)
			bad++;
		n = marker_dec_rest(d, &p);
		if (n != 8 || memcmp(p, "\0cxssh\r\n", 8) != 0)
			bad++;
		marker_dec_free(d);
	}
	ok(bad == 0, "EXEC line split at each offset: rest is exactly what follows");

	/* Before any event: everything fed. */
	d = dec(TAG, 0, 0, 0);
	feed(d, IN("a\nb"));
	n = marker_dec_rest(d, &p);
	is_mem(p, n, IN("a\nb"), "rest before any event: everything fed");
	marker_dec_free(d);

	/* After a noise piece: the rest of that line. */
	d = dec("t", 4, 0, 0);
	feed(d, IN("abcdefgh\n"));
	r = marker_dec_next(d, &ev);
	ok(r == 1 && ev.more && ev.len == 4, "a piece");
	n = marker_dec_rest(d, &p);
	is_mem(p, n, IN("efgh\n"), "rest after a piece: the rest of its line");
	marker_dec_free(d);
}

static void
test_errors(void)
{
	static const struct {
		const char *in;
		size_t len;
		size_t max_line, max_noise;
		int err;
		const char *reason;
	} errs[] = {
		{ IN(M "lower\n"), 0, 0, PROTO_ERR_INVALID, "answer word with byte 0x6c" },
		{ IN(M "\n"), 0, 0, PROTO_ERR_INVALID, "empty answer word" },
		{ IN(M "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\n"), 0, 0, PROTO_ERR_INVALID,
		  "answer word of 33 bytes (at most 32)" },
		{ IN(M "X \0\n"), 0, 0, PROTO_ERR_INVALID, "NUL byte in an answer line" },
		{ IN(M "X 123456789012345678901234567890\n"), 40, 0,
		  PROTO_ERR_TOO_LARGE, "answer line too long (more than 40 bytes)" },
		{ IN("0123456789\n"), 0, 10, PROTO_ERR_TOO_LARGE,
		  "too much output before the bootstrap answered (more than 10 bytes)" },
		{ IN(M "X"), 0, 0, PROTO_ERR_INVALID, "output ended inside an answer line" },
	};
	struct marker_dec *d;
	struct marker_event ev;
	const uint8_t *p;
	size_t i;
	int r;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		d = dec(TAG, errs[i].max_line, errs[i].max_noise, 0);
		is_str(marker_dec_reason(d), "", "no reason before an error");
		feed(d, errs[i].in, errs[i].len);
		memset(&ev, 0x5a, sizeof(ev));
		r = marker_dec_next(d, &ev);
		if (r == 0)
			r = marker_dec_finish(d, &ev);
		is_int(r, errs[i].err, "error %zu: %s", i, proto_strerror(errs[i].err));
		is_str(marker_dec_reason(d), errs[i].reason, "error %zu: reason", i);
		ok(((unsigned char *)&ev)[0] == 0x5a &&
		    ((unsigned char *)&ev)[sizeof(ev) - 1] == 0x5a,
		    "error %zu: the event is untouched", i);
		is_int(marker_dec_feed(d, "x\n", 2), r, "error %zu: feed repeats it", i);
		is_int(marker_dec_next(d, &ev), r, "error %zu: next repeats it", i);
		is_int(marker_dec_finish(d, &ev), r, "error %zu: finish repeats it", i);
		is_int((long long)marker_dec_rest(d, &p), 0, "error %zu: no rest", i);
		marker_dec_free(d);
	}
}

/* The answer bound at its default, byte by byte: raised before the newline. */
static void
test_long_answer(void)
{
	struct marker_dec *d;
	struct marker_event ev;
	char *line;
	size_t i, len = MARKER_DEFAULT_MAX_LINE, worst = 0;
	int r = 0, early = 0;

	if ((line = malloc(len + 3)) == NULL)
		bail("out of memory");
	memcpy(line, M "LONG ", strlen(M) + 5);
	memset(line + strlen(M) + 5, 'x', len - strlen(M) - 5);
	memcpy(line + len, "\r\n", 2);

	d = dec(TAG, 0, 0, 0);
	for (i = 0; i < len + 2; i++) {
		feed(d, line + i, 1);
		if (i < len + 1)
			early += marker_dec_next(d, &ev) != 0;
		if (marker_dec_buffered(d) > worst)
			worst = marker_dec_buffered(d);
	}
	r = marker_dec_next(d, &ev);
	ok(early == 0 && r == 1 && strlen(ev.args) == len - strlen(M) - 5,
	    "answer of %zu bytes and CRLF fed byte by byte", len);
	ok(worst == len + 2, "held at most the line and its end (%zu)", worst);
	marker_dec_free(d);

	line[len] = 'x';
	d = dec(TAG, 0, 0, 0);
	for (i = 0; i < len + 1 && r >= 0; i++) {
		feed(d, line + i, 1);
		r = marker_dec_next(d, &ev);
	}
	ok(r == PROTO_ERR_TOO_LARGE && i == len + 1,
	    "one byte more: too long as soon as it arrives, no newline needed");
	marker_dec_free(d);
	free(line);
}

static void
test_new_and_limits(void)
{
	struct marker_dec *d;
	struct marker_event ev;
	char tag[MARKER_MAX_TAG + 2], big[200];
	size_t i;
	int r, bad = 0;

	ok(marker_dec_new("", NULL) == NULL, "empty tag refused");
	ok(marker_dec_new("a b", NULL) == NULL, "tag with a space refused");
	ok(marker_dec_new("a@b", NULL) == NULL, "tag with @ refused");
	ok(marker_dec_new("a\nb", NULL) == NULL, "tag with a newline refused");
	memset(tag, 'A', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	ok(marker_dec_new(tag, NULL) == NULL, "tag of %u bytes refused",
	    MARKER_MAX_TAG + 1);
	tag[MARKER_MAX_TAG] = '\0';
	d = marker_dec_new(tag, NULL);
	ok(d != NULL, "tag of %u bytes taken, NULL limits", MARKER_MAX_TAG);
	if (d != NULL) {
		feed(d, "@@", 2);
		feed(d, tag, MARKER_MAX_TAG);
		feed(d, IN("@@ OK\n"));
		r = marker_dec_next(d, &ev);
		ok(r == 1 && strcmp(ev.word, "OK") == 0, "and its answers read");
	}
	marker_dec_free(d);
	marker_dec_free(NULL);

	/* max_buffer: a feed that would hold more fails, appends nothing, and
	 * is not sticky. */
	memset(big, 'n', sizeof(big));
	d = dec("t", 8, 0, 100);
	is_int(marker_dec_feed(d, big, 101), PROTO_ERR_FULL, "feed over max_buffer: FULL");
	is_int((long long)marker_dec_buffered(d), 0, "nothing appended");
	is_int(marker_dec_feed(d, big, 100), 0, "max_buffer bytes fit");
	is_int(marker_dec_feed(d, big, 1), PROTO_ERR_FULL, "one more does not");
	while ((r = marker_dec_next(d, &ev)) == 1)
		;
	is_int(r, 0, "drained");
	is_int(marker_dec_feed(d, big, 50), 0, "then a feed fits again");
	marker_dec_free(d);

	/* A tiny max_buffer is raised so that a draining caller never sees FULL. */
	d = dec(TAG, 4, 0, 1);
	for (i = 0; i < sizeof(M) - 2; i++) {
		if (marker_dec_feed(d, &M[i], 1) != 0 || marker_dec_next(d, &ev) != 0)
			bad++;
	}
	ok(bad == 0, "max_buffer below a prefix is raised to hold one");
	marker_dec_free(d);

	/* Default noise limit: 1 MiB of noise in lines, then one more byte. */
	d = dec(TAG, 0, 0, 0);
	memset(big, 'z', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	bad = 0;
	for (i = 0; i < MARKER_DEFAULT_MAX_NOISE / sizeof(big); i++) {
		feed(d, big, sizeof(big));
		if (marker_dec_next(d, &ev) != 1 || ev.len != sizeof(big) - 1 ||
		    marker_dec_next(d, &ev) != 0)
			bad++;
	}
	feed(d, big, MARKER_DEFAULT_MAX_NOISE % sizeof(big) - 1);
	feed(d, IN("\n"));
	r = marker_dec_next(d, &ev);
	ok(bad == 0 && r == 1, "1 MiB of noise by default");
	feed(d, IN("\n"));
	is_int(marker_dec_next(d, &ev), PROTO_ERR_TOO_LARGE, "and not a byte more");
	marker_dec_free(d);
}

int
main(void)
{
	plan_lazy();
	test_cases();
	test_three_feeds();
	test_args();
	test_rest();
	test_errors();
	test_long_answer();
	test_new_and_limits();
	return done_testing();
}
