/*
 * buf-t.c - the bounded byte buffer: every operation against a simple model, the
 * maximum never exceeded, failed calls leaving the contents alone, compaction and
 * growth.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/buf.h"
#include "tests/tap.h"

/* A model of what the buffer should hold. */
struct model {
	uint8_t *d;
	size_t len;
	size_t max;
};

enum op { PUT, RESERVE, CONSUME, UNPUT, RESET, MUTATE };

struct step {
	enum op op;
	size_t n;		/* bytes */
	size_t commit;		/* RESERVE: bytes committed */
	int rc;			/* expected return */
	size_t len;		/* expected length afterwards */
};

static uint8_t fill_byte;

static void
fill(uint8_t *p, size_t n)
{
	while (n-- > 0)
		*p++ = fill_byte++;
}

/* Applies one step to b and to the model; returns buf's rc (0 for void calls). */
static int
apply(struct buf *b, struct model *m, enum op op, size_t n, size_t commit)
{
	uint8_t *src, *dst;
	int rc = 0;

	switch (op) {
	case PUT:
		if ((src = malloc(n > 0 ? n : 1)) == NULL)
			bail("malloc");
		fill(src, n);
		rc = buf_put(b, src, n);
		if (rc == 0) {
			memcpy(m->d + m->len, src, n);
			m->len += n;
		}
		free(src);
		break;
	case RESERVE:
		dst = NULL;
		rc = buf_reserve(b, n, &dst);
		if (rc == 0) {
			fill(dst, commit);
			memcpy(m->d + m->len, dst, commit);
			buf_commit(b, commit);
			m->len += commit;
		} else if (dst != NULL)
			rc = 99;	/* failure must leave *dst alone */
		break;
	case CONSUME:
		if (n > m->len)
			n = m->len;
		buf_consume(b, n);
		memmove(m->d, m->d + n, m->len - n);
		m->len -= n;
		break;
	case UNPUT:
		m->len -= n < m->len ? n : m->len;
		buf_unput(b, n);
		break;
	case RESET:
		buf_reset(b);
		m->len = 0;
		break;
	case MUTATE:
		if (m->len > 0) {
			buf_mutable_ptr(b)[0] ^= 0xff;
			m->d[0] ^= 0xff;
		}
		break;
	}
	return rc;
}

static int
same(struct buf *b, const struct model *m)
{
	return buf_len(b) == m->len && buf_len(b) <= buf_max(b) &&
	    buf_avail(b) == buf_max(b) - buf_len(b) &&
	    buf_ptr(b) != NULL &&
	    (m->len == 0 || memcmp(buf_ptr(b), m->d, m->len) == 0);
}

static void
test_script(void)
{
	static const struct step s[] = {
		{ PUT, 5, 0, 0, 5 },
		{ PUT, 96, 0, PROTO_ERR_TOO_LARGE, 5 },		/* one past the max */
		{ PUT, 95, 0, 0, 100 },				/* exactly full */
		{ PUT, 1, 0, PROTO_ERR_TOO_LARGE, 100 },
		{ PUT, 0, 0, 0, 100 },
		{ RESERVE, 1, 0, PROTO_ERR_TOO_LARGE, 100 },
		{ RESERVE, 0, 0, 0, 100 },
		{ CONSUME, 2, 0, 0, 98 },
		{ PUT, 2, 0, 0, 100 },				/* space at the front reused */
		{ MUTATE, 0, 0, 0, 100 },
		{ CONSUME, 1000, 0, 0, 0 },			/* clamped */
		{ CONSUME, 1, 0, 0, 0 },
		{ PUT, 6, 0, 0, 6 },
		{ UNPUT, 2, 0, 0, 4 },
		{ UNPUT, 100, 0, 0, 0 },			/* clamped */
		{ RESERVE, 10, 7, 0, 7 },			/* commit less than reserved */
		{ RESERVE, 93, 93, 0, 100 },
		{ RESERVE, 1, 0, PROTO_ERR_TOO_LARGE, 100 },
		{ CONSUME, 60, 0, 0, 40 },
		{ RESERVE, 60, 60, 0, 100 },			/* needs compaction */
		{ RESET, 0, 0, 0, 0 },
		{ RESERVE, 100, 0, 0, 0 },			/* reserve without commit */
		{ PUT, 100, 0, 0, 100 },
	};
	static const char *names[] = { "put", "reserve", "consume", "unput", "reset",
	    "mutate" };
	struct model m;
	struct buf *b;
	size_t i;
	int rc;

	if ((b = buf_new(100)) == NULL || (m.d = malloc(100)) == NULL)
		bail("alloc");
	m.len = 0;
	m.max = 100;
	ok(buf_len(b) == 0 && buf_max(b) == 100 && buf_avail(b) == 100 &&
	    buf_ptr(b) != NULL && buf_mutable_ptr(b) != NULL, "new: empty, max 100");
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		rc = apply(b, &m, s[i].op, s[i].n, s[i].commit);
		ok(rc == s[i].rc && buf_len(b) == s[i].len && same(b, &m),
		    "step %zu: %s %zu -> rc %d len %zu", i, names[s[i].op], s[i].n,
		    rc, buf_len(b));
	}
	buf_free(b);
	free(m.d);
	buf_free(NULL);
}

/* A buffer with max 0 holds nothing and still behaves. */
static void
test_zero_max(void)
{
	struct buf *b = buf_new(0);
	uint8_t *dst = NULL;

	if (b == NULL)
		bail("buf_new");
	is_int(buf_put(b, "x", 1), PROTO_ERR_TOO_LARGE, "max 0: put 1 refused");
	is_int(buf_put(b, NULL, 0), 0, "max 0: put 0 ok");
	ok(buf_reserve(b, 0, &dst) == 0 && dst != NULL, "max 0: reserve 0 ok");
	buf_commit(b, 0);
	ok(buf_len(b) == 0 && buf_avail(b) == 0 && buf_ptr(b) != NULL,
	    "max 0: empty, ptr not NULL");
	buf_consume(b, 1);
	buf_unput(b, 1);
	ok(buf_len(b) == 0, "max 0: consume/unput on empty");
	buf_free(b);
}

/* Random operations against the model; sizes straddle the maximum. */
static void
test_random(void)
{
	static const size_t maxes[] = { 1, 255, 256, 257, 3000, 70000 };
	struct model m;
	struct buf *b;
	size_t i, k, n, bad, toolarge;
	unsigned seed = 12345;
	enum op op;
	int rc;

	for (k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
		if ((b = buf_new(maxes[k])) == NULL ||
		    (m.d = malloc(maxes[k])) == NULL)
			bail("alloc");
		m.len = 0;
		m.max = maxes[k];
		bad = toolarge = 0;
		for (i = 0; i < 20000; i++) {
			seed = seed * 1103515245 + 12345;
			op = (enum op)((seed >> 16) % 6);
			if (op == RESET && (seed >> 8) % 16 != 0)
				op = PUT;	/* resets rarely, or nothing builds up */
			seed = seed * 1103515245 + 12345;
			n = (seed >> 8) % (maxes[k] / 2 + 2);
			rc = apply(b, &m, op, n, n / 2 + (n & 1));
			if (rc == PROTO_ERR_TOO_LARGE) {
				toolarge++;
				/* refused only when it really would not fit */
				if (n <= maxes[k] - m.len)
					bad++;
			} else if (rc != 0)
				bad++;
			if (!same(b, &m))
				bad++;
		}
		ok(bad == 0 && toolarge > 0,
		    "random ops, max %zu: matches the model (%zu refusals)",
		    maxes[k], toolarge);
		buf_free(b);
		free(m.d);
	}
}

/* Consumed space is reused without losing what is still held. */
static void
test_compaction(void)
{
	struct buf *b = buf_new(1024);
	uint8_t a[1024], want[1024];
	size_t i;
	int rc = 0;

	if (b == NULL)
		bail("buf_new");
	for (i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 13);
	rc |= buf_put(b, a, 600);
	buf_consume(b, 500);
	rc |= buf_put(b, a + 600, 424);
	memcpy(want, a + 500, 100);
	memcpy(want + 100, a + 600, 424);
	ok(rc == 0 && buf_len(b) == 524 && memcmp(buf_ptr(b), want, 524) == 0,
	    "compaction after consume keeps content");
	/* A queue that never empties: keeps working at the max forever. */
	rc = 0;
	for (i = 0; i < 10000; i++) {
		rc |= buf_put(b, a, 300);
		buf_consume(b, 300);
	}
	memcpy(want, a + 76, 224);
	memcpy(want + 224, a, 300);
	ok(rc == 0 && buf_len(b) == 524 && memcmp(buf_ptr(b), want, 524) == 0,
	    "steady put/consume at the bound");
	buf_free(b);
}

static void
test_large(void)
{
	const size_t chunk = 1 << 20, nchunks = 64;
	struct buf *b = buf_new(nchunks * chunk);
	uint8_t *c, *dst;
	size_t i, bad = 0;
	int rc = 0;

	if (b == NULL || (c = malloc(chunk)) == NULL)
		bail("alloc");
	for (i = 0; i < nchunks; i++) {
		memset(c, (int)i, chunk);
		rc |= buf_put(b, c, chunk);
	}
	ok(rc == 0 && buf_len(b) == nchunks * chunk && buf_avail(b) == 0,
	    "grew to 64 MiB in 1 MiB puts");
	for (i = 0; i < nchunks; i++)
		if (buf_ptr(b)[i * chunk] != (uint8_t)i ||
		    buf_ptr(b)[i * chunk + chunk - 1] != (uint8_t)i)
			bad++;
	ok(bad == 0, "64 MiB content intact");
	is_int(buf_put(b, c, 1), PROTO_ERR_TOO_LARGE, "one byte more refused");
	dst = NULL;
	is_int(buf_reserve(b, 1, &dst), PROTO_ERR_TOO_LARGE, "reserve one more refused");
	ok(dst == NULL, "failed reserve leaves dst alone");
	buf_consume(b, chunk);
	memset(c, 0xee, chunk);
	ok(buf_put(b, c, chunk) == 0 && buf_len(b) == nchunks * chunk &&
	    buf_ptr(b)[0] == 1 && buf_ptr(b)[buf_len(b) - 1] == 0xee,
	    "consume then put at the max");
	is_int(buf_put(b, c, SIZE_MAX), PROTO_ERR_TOO_LARGE, "SIZE_MAX refused");
	buf_free(b);
	free(c);

	/* A huge max costs nothing until used. */
	if ((b = buf_new(SIZE_MAX)) == NULL)
		bail("buf_new");
	ok(buf_put(b, "abc", 3) == 0 && buf_len(b) == 3 && buf_avail(b) == SIZE_MAX - 3,
	    "max SIZE_MAX: small put");
	buf_free(b);
}

int
main(void)
{
	plan_lazy();
	test_script();
	test_zero_max();
	test_random();
	test_compaction();
	test_large();
	return done_testing();
}
