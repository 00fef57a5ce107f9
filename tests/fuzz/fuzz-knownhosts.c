/*
 * fuzz-knownhosts.c - the known_hosts reader (client/knownhosts.c) against
 * arbitrary files.
 *
 * Input: the first line holds up to four host names to look up (separated by
 * blanks, lowercased as client/hostkey.c lowercases them); the rest is a
 * known_hosts file. For each name the lines that name it are read from memory
 * (knownhosts_foreach_buf()) and from a file (knownhosts_foreach(), a memfd),
 * and both must be exactly what a reader written here finds: its own split of
 * each line (marker, host field, type, key) and its own matcher of pattern
 * lists (dynamic programming where the product backtracks). A hashed field may
 * only match by being exactly knownhosts_hash() of its salt and the name.
 * Hashing is checked against names ssh-keygen -H hashed, and every name hashed
 * with a salt from the input must match itself and nothing else.
 */
#include <sys/mman.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client/knownhosts.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz-knownhosts: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

#define MAX_NAMES	4
#define MAX_SEEN	256
#define MAX_GLOB	512

/* ---- the product's answers, collected ----------------------------------------- */

struct seen {
	int line;
	enum knownhosts_marker marker;
	char *hosts, *type, *b64;
};

struct got {
	struct seen s[MAX_SEEN];
	size_t n, dropped;
	const char *file;
};

static void
collect(const struct knownhosts_entry *e, void *arg)
{
	struct got *g = arg;
	struct seen *s;

	CHECK(e->file == g->file);
	if (g->n == MAX_SEEN) {
		g->dropped++;
		return;
	}
	s = &g->s[g->n++];
	s->line = e->line;
	s->marker = e->marker;
	if ((s->hosts = strdup(e->hosts)) == NULL || (s->type = strdup(e->type)) ==
	    NULL || (s->b64 = strdup(e->b64)) == NULL)
		abort();
}

static void
got_free(struct got *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		free(g->s[i].hosts);
		free(g->s[i].type);
		free(g->s[i].b64);
	}
	g->n = g->dropped = 0;
}

/* ---- the reference ---------------------------------------------------------- */

static int
ref_glob(const char *s, size_t n, const char *p, size_t plen)
{
	static unsigned char t[MAX_GLOB + 2][MAX_GLOB + 2];
	size_t i, j;

	/* t[i][j]: s[i..] matches p[j..], case-insensitively */
	for (i = n + 1; i-- > 0;) {
		for (j = plen + 1; j-- > 0;) {
			if (j == plen)
				t[i][j] = i == n;
			else if (p[j] == '*')
				t[i][j] = t[i][j + 1] || (i < n && t[i + 1][j]);
			else
				t[i][j] = i < n && (p[j] == '?' ||
				    tolower((unsigned char)p[j]) ==
				    tolower((unsigned char)s[i])) && t[i + 1][j + 1];
		}
	}
	return t[0][0];
}

/* 1, 0, or -1 when the patterns are too long for the table (not compared). */
static int
ref_patterns(const char *name, const char *list)
{
	size_t n = strlen(name), k;
	const char *p = list;
	int got = 0, neg, r = 1;

	if (n > MAX_GLOB)
		return -1;
	for (;;) {
		k = strcspn(p, ",");
		neg = *p == '!';
		if (k - (size_t)neg > MAX_GLOB)
			r = -1;
		else if (ref_glob(name, n, p + neg, k - (size_t)neg)) {
			if (neg)
				return r < 0 ? -1 : 0;
			got = 1;
		}
		if (p[k] == '\0')
			break;
		p += k + 1;
	}
	return r < 0 ? -1 : got;
}

/* The words of a line: blank-separated, after the line is cut at CR, LF or NUL. */
static size_t
words(const char *line, size_t len, const char *w[5], size_t wl[5])
{
	size_t i = 0, n = 0, end = 0;

	while (end < len && line[end] != '\r' && line[end] != '\n' && line[end] != '\0')
		end++;
	while (n < 5) {
		while (i < end && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == end)
			break;
		w[n] = line + i;
		while (i < end && line[i] != ' ' && line[i] != '\t')
			i++;
		wl[n] = (size_t)(line + i - w[n]);
		n++;
	}
	return n;
}

static int
word_is(const char *w, size_t wl, const char *s)
{
	return wl == strlen(s) && memcmp(w, s, wl) == 0;
}

/* The hashed field as it must be to match: knownhosts_hash() of its salt. */
static int
ref_hashed(const char *name, const char *field)
{
	const char *bar;
	uint8_t salt[64];
	size_t sl = 0;
	char want[KNOWNHOSTS_HASHED_LEN + 1];

	if (strncmp(field, "|1|", 3) != 0 || (bar = strchr(field + 3, '|')) == NULL ||
	    sodium_base642bin(salt, sizeof(salt), field + 3, (size_t)(bar - field - 3),
	    NULL, &sl, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || sl != 20)
		return -1;
	if (knownhosts_hash(salt, name, want) != 0)
		return 0;
	return strcmp(want, field) == 0;
}

/* Compares the product's lines for name with a reading of the whole text. */
static void
compare(const char *text, size_t len, const char *name, const struct got *g)
{
	const char *p = text, *nl, *w[5];
	size_t n, wl[5], nw, k = 0, at;
	enum knownhosts_marker m;
	char *hosts;
	int line = 0, r;

	while (p < text + len) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(text + len - p);
		line++;
		at = 0;
		nw = n > KNOWNHOSTS_MAX_LINE ? 0 : words(p, n, w, wl);
		p += n;
		if (nw == 0 || w[0][0] == '#')
			continue;
		m = KNOWNHOSTS_PLAIN;
		if (w[0][0] == '@') {
			if (word_is(w[0], wl[0], "@cert-authority"))
				m = KNOWNHOSTS_CA;
			else if (word_is(w[0], wl[0], "@revoked"))
				m = KNOWNHOSTS_REVOKED;
			else
				continue;
			if (nw > 1 && w[1][0] == '@')
				continue;
			at = 1;
		}
		if (nw < at + 3)
			continue;
		if ((hosts = strndup(w[at], wl[at])) == NULL)
			abort();
		if (hosts[0] == '|')
			r = ref_hashed(name, hosts);
		else if ((r = ref_patterns(name, hosts)) == -1)
			r = knownhosts_match(name, hosts);	/* too long to compare */
		CHECK(knownhosts_match(name, hosts) == r);
		free(hosts);
		if (r != 1)
			continue;
		if (k == g->n) {
			CHECK(g->dropped > 0);
			return;
		}
		CHECK(g->s[k].line == line && g->s[k].marker == m);
		CHECK(word_is(w[at], wl[at], g->s[k].hosts));
		CHECK(word_is(w[at + 1], wl[at + 1], g->s[k].type));
		CHECK(word_is(w[at + 2], wl[at + 2], g->s[k].b64));
		k++;
	}
	CHECK(k == g->n && g->dropped == 0);
}

/* ---- the target ------------------------------------------------------------- */

/* ssh-keygen -H of these names. */
static const struct {
	const char *name, *hashed;
} vectors[] = {
	{ "devbox.example.com", "|1|1uR4R52sAvcMji4NCTD1DbcxYlk=|CA8vZI8hUJ6rsBOlmEkRO3QJkRU=" },
	{ "10.0.0.5", "|1|qjp2A45WU3fNh2HJ+uEoADejK3M=|5xRozTFeiAb6mgK+XLWK0nTLvdM=" },
	{ "[devbox.example.com]:2222",
	  "|1|Cp0oRx7Sb/5ozVSxTE9+Ke4M2wA=|vfU80eQIIqvslKt1bx6oJR0zRPs=" },
};

static void
check_vectors(void)
{
	size_t i, j;

	CHECK(sodium_init() >= 0);
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		for (j = 0; j < sizeof(vectors) / sizeof(vectors[0]); j++)
			CHECK(knownhosts_match(vectors[i].name, vectors[j].hashed) ==
			    (i == j));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static struct got g1, g2;
	char names[MAX_NAMES][KNOWNHOSTS_MAX_NAME + 2], hashed[KNOWNHOSTS_HASHED_LEN + 1];
	char fpath[64];
	const char *in = (const char *)data, *text, *nl, *w[5];
	uint8_t salt[KNOWNHOSTS_SALT_LEN];
	size_t len, wl[5], nw, i, j, nn = 0;
	int fd;

	if (!ready) {
		check_vectors();
		ready = 1;
	}
	if (size > 256 * 1024)
		return 0;
	nl = memchr(in, '\n', size);
	text = nl != NULL ? nl + 1 : in + size;
	len = (size_t)(in + size - text);
	nw = words(in, (size_t)(text - in), w, wl);
	for (i = 0; i < nw && nn < MAX_NAMES; i++) {
		if (wl[i] > KNOWNHOSTS_MAX_NAME + 1)
			continue;
		for (j = 0; j < wl[i]; j++)
			names[nn][j] = (char)tolower((unsigned char)w[i][j]);
		names[nn][j] = '\0';
		nn++;
	}
	if (nn == 0)
		snprintf(names[nn++], sizeof(names[0]), "devbox.example.com");

	if ((fd = memfd_create("fuzz-knownhosts", MFD_CLOEXEC)) < 0)
		abort();
	CHECK(len == 0 || write(fd, text, len) == (ssize_t)len);
	snprintf(fpath, sizeof(fpath), "/proc/self/fd/%d", fd);
	for (i = 0; i < nn; i++) {
		g1.file = "buf";
		CHECK(knownhosts_foreach_buf(text, len, g1.file, names[i], collect,
		    &g1) == 0);
		g2.file = fpath;
		CHECK(knownhosts_foreach(g2.file, names[i], collect, &g2) == 0);
		/* From a file or from memory: the same lines. */
		CHECK(g1.n == g2.n && g1.dropped == g2.dropped);
		for (j = 0; j < g1.n; j++)
			CHECK(g1.s[j].line == g2.s[j].line &&
			    g1.s[j].marker == g2.s[j].marker &&
			    strcmp(g1.s[j].hosts, g2.s[j].hosts) == 0 &&
			    strcmp(g1.s[j].type, g2.s[j].type) == 0 &&
			    strcmp(g1.s[j].b64, g2.s[j].b64) == 0);
		compare(text, len, names[i], &g1);
		got_free(&g1);
		got_free(&g2);

		/* Hashed with a salt from the input: itself, and no other name. */
		memset(salt, 0, sizeof(salt));
		memcpy(salt, text, len < sizeof(salt) ? len : sizeof(salt));
		salt[i] ^= 0x5a;
		if (strlen(names[i]) > KNOWNHOSTS_MAX_NAME) {
			CHECK(knownhosts_hash(salt, names[i], hashed) == -1);
			continue;
		}
		CHECK(knownhosts_hash(salt, names[i], hashed) == 0);
		CHECK(strlen(hashed) == KNOWNHOSTS_HASHED_LEN);
		CHECK(knownhosts_match(names[i], hashed) == 1);
		for (j = 0; j < nn; j++)
			CHECK(knownhosts_match(names[j], hashed) ==
			    (strcmp(names[i], names[j]) == 0));
		/* Any change to the MAC: no match. */
		hashed[KNOWNHOSTS_HASHED_LEN - 2] ^= 1;
		CHECK(knownhosts_match(names[i], hashed) != 1);
	}
	close(fd);
	return 0;
}
