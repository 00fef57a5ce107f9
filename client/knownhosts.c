/*
 * knownhosts.c - the lines of known_hosts files and the matching of their host
 * fields, as OpenSSH's hostfile.c and match.c do it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/knownhosts.h"
#include "client/sshconf.h"
#include "client/ws.h"

#define SHA1_LEN	20
#define HASH_MAGIC	"|1|"
#define B64_SHA1_LEN	28	/* base64 of 20 bytes, padded */

/* ---- hashed names: HMAC-SHA1 on client/ws.c's SHA-1 ---------------------- */

static int
hmac_sha1(const uint8_t key[SHA1_LEN], const char *msg, size_t mlen,
    uint8_t out[SHA1_LEN])
{
	uint8_t buf[64 + KNOWNHOSTS_MAX_NAME], inner[SHA1_LEN];
	size_t i;

	if (mlen > KNOWNHOSTS_MAX_NAME)
		return -1;
	memset(buf, 0x36, 64);
	for (i = 0; i < SHA1_LEN; i++)
		buf[i] ^= key[i];
	memcpy(buf + 64, msg, mlen);
	ws_sha1(buf, 64 + mlen, inner);
	memset(buf, 0x5c, 64);
	for (i = 0; i < SHA1_LEN; i++)
		buf[i] ^= key[i];
	memcpy(buf + 64, inner, SHA1_LEN);
	ws_sha1(buf, 64 + SHA1_LEN, out);
	return 0;
}

int
knownhosts_hash(const uint8_t salt[KNOWNHOSTS_SALT_LEN], const char *name,
    char out[KNOWNHOSTS_HASHED_LEN + 1])
{
	uint8_t mac[SHA1_LEN];
	char s64[B64_SHA1_LEN + 1], m64[B64_SHA1_LEN + 1];

	if (hmac_sha1(salt, name, strlen(name), mac) != 0)
		return -1;
	sodium_bin2base64(s64, sizeof(s64), salt, SHA1_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(m64, sizeof(m64), mac, SHA1_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, KNOWNHOSTS_HASHED_LEN + 1, "%s%s|%s", HASH_MAGIC, s64, m64);
	return 0;
}

/* OpenSSH's match_maybe_hashed(): the whole field compared. */
static int
match_hashed(const char *name, const char *field)
{
	const char *s64 = field + strlen(HASH_MAGIC), *bar;
	uint8_t salt[64];
	size_t saltlen = 0;
	char want[KNOWNHOSTS_HASHED_LEN + 1];

	if (strncmp(field, HASH_MAGIC, strlen(HASH_MAGIC)) != 0 ||
	    (bar = strchr(s64, '|')) == NULL ||
	    sodium_base642bin(salt, sizeof(salt), s64, (size_t)(bar - s64),
	    NULL, &saltlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    saltlen != SHA1_LEN)
		return -1;
	if (knownhosts_hash(salt, name, want) != 0)
		return 0;
	return strcmp(want, field) == 0;
}

/* ---- host patterns: OpenSSH's match_pattern_list(), lower case ----------- */

static int
match_patterns(const char *name, const char *list)
{
	const char *p = list;
	size_t n;
	int neg, got = 0;

	while (*p != '\0') {
		n = strcspn(p, ",");
		neg = *p == '!';
		if (sshconf_match_glob(name, p + neg, n - (size_t)neg, 1)) {
			if (neg)
				return 0;
			got = 1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return got;
}

int
knownhosts_match(const char *name, const char *hosts)
{
	return hosts[0] == '|' ? match_hashed(name, hosts) :
	    match_patterns(name, hosts);
}

/* ---- lines --------------------------------------------------------------- */

char *
knownhosts_word(char **pp)
{
	char *p = *pp + strspn(*pp, " \t"), *w = p;

	if (*p == '\0')
		return NULL;
	p += strcspn(p, " \t");
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

/* As OpenSSH's hostkeys_foreach(): at most one marker, then three fields. */
int
knownhosts_split(char *line, struct knownhosts_entry *e)
{
	char *p = line, *w, *hosts, *type, *b64;
	enum knownhosts_marker m = KNOWNHOSTS_PLAIN;

	line[strcspn(line, "\r\n")] = '\0';
	p += strspn(p, " \t");
	if (*p == '\0' || *p == '#')
		return 0;
	if (*p == '@') {
		if ((w = knownhosts_word(&p)) == NULL)
			return 0;
		if (strcmp(w, "@cert-authority") == 0)
			m = KNOWNHOSTS_CA;
		else if (strcmp(w, "@revoked") == 0)
			m = KNOWNHOSTS_REVOKED;
		else
			return 0;
		if (p[strspn(p, " \t")] == '@')
			return 0;	/* one marker only */
	}
	if ((hosts = knownhosts_word(&p)) == NULL ||
	    (type = knownhosts_word(&p)) == NULL ||
	    (b64 = knownhosts_word(&p)) == NULL)
		return 0;
	e->marker = m;
	e->hosts = hosts;
	e->type = type;
	e->b64 = b64;
	return 1;
}

/* One line of len bytes as read (its newline included), NUL-terminated. */
static void
one_line(char *line, size_t len, const char *file, int lineno,
    const char *name, knownhosts_fn fn, void *arg)
{
	struct knownhosts_entry e;

	if (len > KNOWNHOSTS_MAX_LINE || !knownhosts_split(line, &e) ||
	    knownhosts_match(name, e.hosts) != 1)
		return;
	e.file = file;
	e.line = lineno;
	fn(&e, arg);
}

int
knownhosts_foreach(const char *file, const char *name, knownhosts_fn fn,
    void *arg)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0, saved;

	if (file == NULL)
		return 0;
	if ((f = fopen(file, "re")) == NULL)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	while ((len = getline(&line, &cap, f)) != -1)
		one_line(line, (size_t)len, file, ++lineno, name, fn, arg);
	saved = errno;
	if (ferror(f))
		rc = -1;
	free(line);
	fclose(f);
	errno = saved;
	return rc;
}

int
knownhosts_foreach_buf(const char *text, size_t len, const char *file,
    const char *name, knownhosts_fn fn, void *arg)
{
	const char *p = text, *nl;
	char *line = NULL, *nline;
	size_t n;
	int lineno = 0;

	while (p < text + len) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(text + len - p);
		/* What getline() gives: the line, its newline, a NUL. */
		if ((nline = realloc(line, n + 1)) == NULL) {
			free(line);
			return PROTO_ERR_NOMEM;
		}
		line = nline;
		memcpy(line, p, n);
		line[n] = '\0';
		one_line(line, n, file, ++lineno, name, fn, arg);
		p += n;
	}
	free(line);
	return 0;
}
