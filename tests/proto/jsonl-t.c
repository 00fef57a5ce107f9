/*
 * jsonl-t.c - tests of the streaming line reader (proto/jsonl.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/jsonl.h"
#include "tests/tap.h"

enum chunking {
	SPLIT_AT,     /* two feeds, the first of arg bytes */
	EVERY,        /* feeds of arg bytes */
	VARYING       /* pseudo-random feeds of 1..arg bytes */
};

struct outcome {
	char events[4096];    /* "L:<line>|" per line, "T|" per over-long line */
	size_t used;
	int violations;       /* broken invariants (see check_line) */
};

static void
add_event(struct outcome *o, const char *prefix, const char *line, size_t len)
{
	size_t pl = strlen(prefix);

	if (o->used + pl + len + 2 > sizeof(o->events))
		bail("event log overflow");
	memcpy(o->events + o->used, prefix, pl);
	o->used += pl;
	if (len > 0)
		memcpy(o->events + o->used, line, len);
	o->used += len;
	o->events[o->used++] = '|';
	o->events[o->used] = '\0';
}

static void
record(struct outcome *o, int r, const char *line, size_t len, size_t max_line)
{
	size_t i;
	int blank = 1;

	if (r == 1) {
		for (i = 0; i < len; i++)
			if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
				blank = 0;
		if (len > max_line || memchr(line, '\n', len) != NULL || blank)
			o->violations++;
		add_event(o, "L:", line, len);
	} else if (r == PROTO_ERR_LINE_TOO_LONG) {
		if (len <= max_line)
			o->violations++;
		add_event(o, "T", NULL, 0);
	} else if (r != 0)
		o->violations++;
}

static int
drain(struct jsonl_reader *rd, struct outcome *o, size_t max_line)
{
	const char *line;
	size_t len;
	int r;

	while ((r = jsonl_next(rd, &line, &len)) != 0)
		record(o, r, line, len, max_line);
	return r;
}

static unsigned long rng = 1;

static size_t
rand_upto(size_t n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return 1 + (size_t)(rng >> 33) % n;
}

/* Feeds s[0..n) in the given chunking, draining after every feed. */
static void
run(const char *s, size_t n, size_t max_line, enum chunking how, size_t arg,
    struct outcome *o)
{
	struct jsonl_reader *rd;
	const char *line;
	size_t off = 0, k, len;
	int r, first = 1;

	memset(o, 0, sizeof(*o));
	if ((rd = jsonl_new(max_line)) == NULL)
		bail("out of memory");
	while (off < n || first) {
		switch (how) {
		case SPLIT_AT:
			k = first ? arg : n - off;
			break;
		case EVERY:
			k = arg;
			break;
		default:
			k = rand_upto(arg);
			break;
		}
		if (k > n - off)
			k = n - off;
		if (jsonl_feed(rd, s + off, k) != 0)
			bail("feed failed");
		if (jsonl_buffered(rd) > max_line + k)
			o->violations++;
		off += k;
		first = 0;
		drain(rd, o, max_line);
		if (jsonl_buffered(rd) > max_line)
			o->violations++;
	}
	while ((r = jsonl_finish(rd, &line, &len)) != 0)
		record(o, r, line, len, max_line);
	if (jsonl_buffered(rd) != 0)
		o->violations++;
	jsonl_free(rd);
}

struct stream_case {
	const char *in;
	size_t max_line;
	const char *want;
};

static const struct stream_case streams[] = {
	{ "alpha\n\r\n  \t \nbeta\r\n12345678\nabcdefgh\r\n123456789\n"
	  "waytoolongline with more\r\nx\r\r\n\t\r \ngamma",
	  8, "L:alpha|L:beta|L:12345678|L:abcdefgh|T|T|L:x\r|L:gamma|" },
	{ "{\"id\":1,\"method\":\"initialize\"}\n{\"method\":\"initialized\"}\n",
	  64, "L:{\"id\":1,\"method\":\"initialize\"}|"
	  "L:{\"method\":\"initialized\"}|" },
	{ "one\ntwo\nabcdefghijk", 8, "L:one|L:two|T|" },
	{ "one\nabcdefgh\r", 8, "L:one|L:abcdefgh|" },
	{ "abc\r", 8, "L:abc|" },
	{ "  \r", 8, "" },
	{ "", 8, "" },
	{ "\n\n\r\n", 8, "" },
	{ "12345678\rX\nok\n", 8, "T|L:ok|" },
	{ "12345678\r\r\nok\n", 8, "T|L:ok|" },
	{ "12345678\r", 8, "L:12345678|" },
	{ "1234567\r\r", 8, "L:1234567\r|" },
	{ "1234567\r\r\nok\n", 8, "L:1234567\r|L:ok|" },
	{ "1234567\r\r\r\nok\n", 8, "T|L:ok|" },
	{ "123456789", 8, "T|" },
	{ "abcdefghijklmnopqrstuvwxyz\nshort\nabcdefghijklmnopqrstuvwxyz", 8,
	  "T|L:short|T|" },
	{ "a\nb\n          \nc", 0, "T|T|T|T|" },
	{ "\r\n\n", 0, "" },
	{ "\r\n \n\t\n", 0, "T|T|" },   /* too long beats blank */
	{ "x\ny\n", 1, "L:x|L:y|" },
};

static void
test_streams(void)
{
	const struct stream_case *c;
	struct outcome o;
	size_t i, at, n, size, bad;
	int seed;

	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		c = &streams[i];
		n = strlen(c->in);
		run(c->in, n, c->max_line, SPLIT_AT, n, &o);
		is_str(o.events, c->want, "stream %zu in one feed", i);
		ok(o.violations == 0, "stream %zu in one feed keeps bounds", i);
		bad = 0;
		for (at = 0; at <= n; at++) {
			run(c->in, n, c->max_line, SPLIT_AT, at, &o);
			if (strcmp(o.events, c->want) != 0 || o.violations != 0) {
				if (bad++ == 0)
					diag("    split at %zu: %s", at, o.events);
			}
		}
		ok(bad == 0, "stream %zu split at each of %zu offsets", i, n + 1);
		bad = 0;
		for (size = 1; size <= 4; size++) {
			run(c->in, n, c->max_line, EVERY, size, &o);
			if (strcmp(o.events, c->want) != 0 || o.violations != 0)
				bad++;
		}
		ok(bad == 0, "stream %zu fed 1 to 4 bytes at a time", i);
		bad = 0;
		for (seed = 1; seed <= 20; seed++) {
			rng = (unsigned long)seed;
			run(c->in, n, c->max_line, VARYING, 13, &o);
			if (strcmp(o.events, c->want) != 0 || o.violations != 0)
				bad++;
		}
		ok(bad == 0, "stream %zu fed in varying pieces", i);
	}
}

/* Two split points: every way to cut the stream into three feeds. */
static void
test_three_feeds(void)
{
	static const char in[] = "ab\r\n12345678\r\nxy\r\n123456789\r\nz";
	const char *want = "L:ab|L:12345678|L:xy|T|L:z|";
	struct jsonl_reader *rd;
	struct outcome o;
	const char *line;
	size_t n = sizeof(in) - 1, a, b, len;
	int r, bad = 0;

	for (a = 0; a <= n; a++) {
		for (b = a; b <= n; b++) {
			memset(&o, 0, sizeof(o));
			if ((rd = jsonl_new(8)) == NULL)
				bail("out of memory");
			if (jsonl_feed(rd, in, a) != 0 ||
			    jsonl_feed(rd, in + a, 0) != 0)
				bail("feed failed");
			drain(rd, &o, 8);
			if (jsonl_feed(rd, in + a, b - a) != 0)
				bail("feed failed");
			drain(rd, &o, 8);
			if (jsonl_feed(rd, in + b, n - b) != 0)
				bail("feed failed");
			drain(rd, &o, 8);
			while ((r = jsonl_finish(rd, &line, &len)) != 0)
				record(&o, r, line, len, 8);
			if (strcmp(o.events, want) != 0 || o.violations != 0)
				bad++;
			jsonl_free(rd);
		}
	}
	ok(bad == 0, "every cut into three feeds gives the same lines");
}

static struct jsonl_reader *
reader(size_t max_line)
{
	struct jsonl_reader *rd = jsonl_new(max_line);

	if (rd == NULL)
		bail("out of memory");
	return rd;
}

static void
feed(struct jsonl_reader *rd, const char *s)
{
	if (jsonl_feed(rd, s, strlen(s)) != 0)
		bail("feed failed");
}

static void
test_long_line(void)
{
	struct jsonl_reader *rd;
	const char *line;
	size_t len, i;
	int r, reports = 0, lines = 0, bounded = 1;

	/* The newline of the long line comes several feeds later. */
	rd = reader(8);
	feed(rd, "0123456789abc");
	r = jsonl_next(rd, &line, &len);
	ok(r == PROTO_ERR_LINE_TOO_LONG && len == 13,
	    "over-long line reported with the bytes seen (%zu)", len);
	is_int(jsonl_next(rd, &line, &len), 0, "and only once");
	is_int((long long)jsonl_buffered(rd), 0, "its bytes are dropped");
	feed(rd, "defghijklmnopqrstuvwxyz");
	is_int((long long)jsonl_buffered(rd), 0, "its rest is not buffered");
	is_int(jsonl_next(rd, &line, &len), 0, "nor reported again");
	feed(rd, "ghi\nok\n");
	r = jsonl_next(rd, &line, &len);
	ok(r == 1 && len == 2 && memcmp(line, "ok", 2) == 0,
	    "the stream goes on after its newline");
	is_int(jsonl_next(rd, &line, &len), 0, "then nothing more");
	jsonl_free(rd);

	/* The same one byte at a time. */
	rd = reader(8);
	for (i = 0; i < 100; i++) {
		if (jsonl_feed(rd, i < 99 ? "x" : "\n", 1) != 0)
			bail("feed failed");
		bounded &= jsonl_buffered(rd) <= 9;
		while ((r = jsonl_next(rd, &line, &len)) != 0) {
			if (r == PROTO_ERR_LINE_TOO_LONG && len == 9)
				reports++;
			else
				lines++;
		}
	}
	feed(rd, "{}\n");
	r = jsonl_next(rd, &line, &len);
	ok(reports == 1 && lines == 0 && bounded && r == 1 && len == 2,
	    "over-long line fed byte by byte: one report, bounded, stream goes on");
	jsonl_free(rd);

	/* Reported at the end when its newline never comes. */
	rd = reader(8);
	feed(rd, "123456789");
	r = jsonl_finish(rd, &line, &len);
	ok(r == PROTO_ERR_LINE_TOO_LONG && len == 9,
	    "finish reports an unreported over-long tail");
	is_int(jsonl_finish(rd, &line, &len), 0, "then reports nothing");
	jsonl_free(rd);

	rd = reader(8);
	feed(rd, "123456789");
	r = jsonl_next(rd, &line, &len);
	is_int(r, PROTO_ERR_LINE_TOO_LONG, "over-long tail reported by next");
	is_int(jsonl_finish(rd, &line, &len), 0, "and not again by finish");
	jsonl_free(rd);

	/* A complete over-long line in one feed, followed by good lines. */
	rd = reader(4);
	feed(rd, "abcdefgh\r\nabcd\r\n");
	r = jsonl_next(rd, &line, &len);
	ok(r == PROTO_ERR_LINE_TOO_LONG && len == 8,
	    "over-long complete line: its length without CRLF");
	r = jsonl_next(rd, &line, &len);
	ok(r == 1 && len == 4 && memcmp(line, "abcd", 4) == 0,
	    "exact-bound line after it");
	jsonl_free(rd);
}

static void
test_finish(void)
{
	struct jsonl_reader *rd;
	const char *line;
	size_t len;
	int r;

	rd = reader(64);
	feed(rd, "{\"a\":1}\n{\"b\":2}");
	r = jsonl_finish(rd, &line, &len);
	ok(r == 1 && len == 7 && memcmp(line, "{\"a\":1}", 7) == 0,
	    "finish returns complete lines first");
	r = jsonl_finish(rd, &line, &len);
	ok(r == 1 && len == 7 && memcmp(line, "{\"b\":2}", 7) == 0,
	    "then the unterminated one");
	is_int(jsonl_finish(rd, &line, &len), 0, "then nothing");
	is_int((long long)jsonl_buffered(rd), 0, "and holds nothing");
	feed(rd, "again\n");
	r = jsonl_next(rd, &line, &len);
	ok(r == 1 && len == 5, "the reader can be fed after finish");
	jsonl_free(rd);

	rd = reader(64);
	is_int(jsonl_finish(rd, &line, &len), 0, "finish of an empty reader");
	if (jsonl_feed(rd, NULL, 0) != 0)
		bail("feed failed");
	is_int(jsonl_next(rd, &line, &len), 0, "an empty feed gives nothing");
	feed(rd, " \t ");
	is_int(jsonl_finish(rd, &line, &len), 0, "a blank tail is not a line");
	jsonl_free(rd);
	jsonl_free(NULL);
}

/* A bound that holds whatever the input: max_line + one feed. */
static void
test_memory_bound(void)
{
	struct jsonl_reader *rd;
	const char *line;
	char chunk[1000];
	size_t i, worst = 0, len;
	int r, reports = 0;

	memset(chunk, 'x', sizeof(chunk));
	rd = reader(64);
	for (i = 0; i < 1024; i++) {
		if (jsonl_feed(rd, chunk, sizeof(chunk)) != 0)
			bail("feed failed");
		if (jsonl_buffered(rd) > worst)
			worst = jsonl_buffered(rd);
		while ((r = jsonl_next(rd, &line, &len)) != 0)
			reports += r == PROTO_ERR_LINE_TOO_LONG;
	}
	feed(rd, "\n{}\n");
	r = jsonl_next(rd, &line, &len);
	ok(worst <= 64 + sizeof(chunk) && reports == 1 && r == 1 && len == 2,
	    "1000 KB without a newline: %zu bytes held at most, one report",
	    worst);
	jsonl_free(rd);
}

/*
 * A line as long as the bound arriving one byte per feed: the scan resumes where
 * it stopped, so this is linear (rescanning on every feed would read 32 GiB).
 */
static void
test_linear(void)
{
	const size_t big = 256 * 1024;
	struct jsonl_reader *rd;
	const char *line;
	size_t i, len;
	int r = 0, early = 0;

	rd = reader(big);
	for (i = 0; i < big; i++) {
		if (jsonl_feed(rd, "y", 1) != 0)
			bail("feed failed");
		early += jsonl_next(rd, &line, &len) != 0;
	}
	feed(rd, "\r");
	early += jsonl_next(rd, &line, &len) != 0;
	ok(jsonl_buffered(rd) == big, "a bound-long line and its CR: the CR is "
	    "held back to stay within the bound");
	feed(rd, "\n");
	r = jsonl_next(rd, &line, &len);
	ok(early == 0 && r == 1 && len == big && line[0] == 'y' &&
	    line[big - 1] == 'y', "256 KiB line fed byte by byte");
	jsonl_free(rd);
}

/* Many lines in one feed, read back in order; then compaction on later feeds. */
static void
test_many_lines(void)
{
	struct jsonl_reader *rd;
	const char *line;
	char text[16], *big;
	size_t i, len, off = 0;
	int r, bad = 0, round;

	if ((big = malloc(1000 * 16)) == NULL)
		bail("out of memory");
	for (i = 0; i < 1000; i++)
		off += (size_t)snprintf(big + off, 16, "{\"n\":%zu}\n", i);
	rd = reader(32);
	for (round = 0; round < 3; round++) {
		if (jsonl_feed(rd, big, off - 5) != 0)
			bail("feed failed");
		for (i = 0; (r = jsonl_next(rd, &line, &len)) == 1; i++) {
			snprintf(text, sizeof(text), "{\"n\":%zu}", i);
			if (len != strlen(text) || memcmp(line, text, len) != 0)
				bad++;
		}
		if (r != 0 || i != 999)
			bad++;
		if (jsonl_feed(rd, big + off - 5, 5) != 0)
			bail("feed failed");
		r = jsonl_next(rd, &line, &len);
		if (r != 1 || len != 9 || memcmp(line, "{\"n\":999}", 9) != 0)
			bad++;
	}
	ok(bad == 0, "1000 lines in one feed, three rounds");
	jsonl_free(rd);
	free(big);
}

int
main(void)
{
	plan_lazy();
	test_streams();
	test_three_feeds();
	test_long_line();
	test_finish();
	test_memory_bound();
	test_linear();
	test_many_lines();
	return done_testing();
}
