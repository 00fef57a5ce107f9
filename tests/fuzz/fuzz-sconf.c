/*
 * fuzz-sconf.c - codex-subsystem's configuration reader (subsystem/config.c)
 * against arbitrary files.
 *
 * Input: one seed byte, then the text of a configuration file. The text is read
 *  - whole with sconf_load_buf();
 *  - cut at a line boundary the seed picks, as two files read one after the
 *    other (later files override earlier ones, so this must be the same: the
 *    same result, the same settings, the same error at the same line);
 *  - from a file (a memfd) with sconf_load_file(), which must agree too.
 * A configuration that loads must hold only values the keywords allow, and,
 * written back as a file, must read back to the same settings (the same
 * sconf_digest()). Every line is also given to sconf_parse_duration() and
 * sconf_parse_size() and compared with a reference written here.
 */
#include <sys/mman.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "subsystem/config.h"
#include "subsystem/log.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) { \
	fprintf(stderr, "fuzz-sconf: %s:%d: %s\n", __FILE__, __LINE__, #c); \
	abort(); } } while (0)

#define MAX_TEXT (64 * 1024)
#define ERRLEN (SCONF_MAX_LINE + 256)	/* never cut: the messages are compared */

/* ---- a reference for the numbers ------------------------------------------ */

static long long
ref_scaled(const char *s, int size)
{
	static const char dur[] = "SMHD", sz[] = "KMGT";
	static const long long dmul[] = { 1, 60, 3600, 86400 };
	unsigned long long v = 0, mul = 1, max = size ? LLONG_MAX : UINT_MAX;
	const char *letters = size ? sz : dur, *hit;
	size_t i = 0;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	for (; isdigit((unsigned char)s[i]); i++) {
		if (v > ((unsigned long long)LLONG_MAX - (unsigned)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (s[i] != '\0') {
		if ((hit = strchr(letters, toupper((unsigned char)s[i]))) == NULL ||
		    *hit == '\0')
			return -1;
		mul = size ? 1ull << (10 * (hit - letters + 1)) :
		    (unsigned long long)dmul[hit - letters];
		i++;
		if (size && (strcasecmp(s + i, "B") == 0 || strcasecmp(s + i, "iB") == 0))
			i += strlen(s + i);
		if (s[i] != '\0')
			return -1;
	}
	if (v > max / mul)
		return -1;
	return (long long)(v * mul);
}

static void
check_numbers(const char *s)
{
	long long d = sconf_parse_duration(s), z = sconf_parse_size(s);
	char t[32];

	CHECK(d == ref_scaled(s, 0));
	CHECK(z == ref_scaled(s, 1));
	if (d >= 0) {
		snprintf(t, sizeof(t), "%lld", d);
		CHECK(sconf_parse_duration(t) == d);
	}
	if (z >= 0) {
		snprintf(t, sizeof(t), "%lld", z);
		CHECK(sconf_parse_size(t) == z);
	}
}

/* ---- writing a configuration back ------------------------------------------ */

struct out {
	char *p;
	size_t n, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		o->cap = (o->n + n + 1) * 2;
		if ((o->p = realloc(o->p, o->cap)) == NULL)
			abort();
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* A double-quoted value: the reader strips exactly one pair. */
static void
quoted(struct out *o, const char *kw, const char *v)
{
	puts_(o, kw);
	puts_(o, " \"");
	puts_(o, v);
	puts_(o, "\"\n");
}

/* A path: '%' doubled, since the reader expands %-tokens. */
static void
path(struct out *o, const char *kw, const char *v)
{
	puts_(o, kw);
	puts_(o, " \"");
	for (; *v != '\0'; v++) {
		if (*v == '%')
			put(o, "%", 1);
		put(o, v, 1);
	}
	puts_(o, "\"\n");
}

static void
number(struct out *o, const char *kw, unsigned long long v)
{
	char t[96];

	snprintf(t, sizeof(t), "%s %llu\n", kw, v);
	puts_(o, t);
}

static void
write_conf(const struct sconf *c, struct out *o)
{
	static const char *const levels[] = { "ERROR", "INFO", "VERBOSE", "DEBUG" };
	char t[128];
	int i;

	o->n = 0;
	put(o, "", 0);
	for (i = 0; i < c->nbackends; i++) {
		snprintf(t, sizeof(t), "Backend %s", c->backends[i].name);
		quoted(o, t, c->backends[i].command);
	}
	snprintf(t, sizeof(t), "DefaultBackend %s\n", c->default_backend);
	puts_(o, t);
	for (i = 0; i < c->nsetenv; i++)
		quoted(o, "SetEnv", c->setenv[i]);
	puts_(o, c->login_shell ? "LoginShell yes\n" : "LoginShell no\n");
	puts_(o, c->daemon ? "Daemon yes\n" : "Daemon no\n");
	number(o, "JournalMemory", c->journal_memory);
	number(o, "JournalDisk", c->journal_disk);
	number(o, "MaxMessage", c->max_message);
	number(o, "DetachTimeout", c->detach_timeout);
	number(o, "IdleTimeout", c->idle_timeout);
	if (c->runtime_dir != NULL)
		path(o, "RuntimeDir", c->runtime_dir);
	if (c->journal_dir != NULL)
		path(o, "JournalDir", c->journal_dir);
	if (c->log_file != NULL)
		path(o, "LogFile", c->log_file);
	snprintf(t, sizeof(t), "LogLevel %s\n", levels[c->log_level]);
	puts_(o, t);
	number(o, "LogMax", c->log_max);
}

/* ---- what a loaded configuration may hold ----------------------------------- */

static int
name_ok(const char *s)
{
	size_t n = strnlen(s, 64);

	if (n == 0 || n >= 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return 0;
	return 1;
}

static void
check_conf(const struct sconf *c)
{
	int i, j;

	CHECK(c->nbackends >= 2 && c->nbackends <= SCONF_MAX_BACKENDS);
	for (i = 0; i < c->nbackends; i++) {
		CHECK(name_ok(c->backends[i].name));
		CHECK(c->backends[i].command != NULL && c->backends[i].command[0] != '\0');
		CHECK(strchr(c->backends[i].command, '\n') == NULL);
		for (j = 0; j < i; j++)
			CHECK(strcmp(c->backends[i].name, c->backends[j].name) != 0);
		CHECK(sconf_backend(c, c->backends[i].name) == &c->backends[i]);
	}
	CHECK(name_ok(c->default_backend));
	CHECK(c->nsetenv >= 0 && c->nsetenv <= SCONF_MAX_SETENV);
	for (i = 0; i < c->nsetenv; i++)
		CHECK(c->setenv[i][0] != '=' && strchr(c->setenv[i], '=') != NULL);
	CHECK(c->login_shell == 0 || c->login_shell == 1);
	CHECK(c->daemon == 0 || c->daemon == 1);
	CHECK(c->journal_memory >= 4096);
	CHECK(c->max_message >= 65536 && c->max_message <= (1ull << 31));
	CHECK(c->runtime_dir == NULL || c->runtime_dir[0] == '/');
	CHECK(c->journal_dir == NULL || c->journal_dir[0] == '/');
	CHECK(c->log_file == NULL || c->log_file[0] == '/' ||
	    strcmp(c->log_file, "none") == 0);
	CHECK(c->log_level >= LOGL_ERROR && c->log_level <= LOGL_DEBUG);
	CHECK(c->log_max >= 4096);
}

/* ---- the target -------------------------------------------------------------- */

/* err is "NAME line N: WHY" (or "NAME: WHY"): N, and WHY in *why. */
static int
err_line(const char *err, const char *name, const char **why)
{
	size_t n = strlen(name);
	int line = 0;

	CHECK(strncmp(err, name, n) == 0);
	err += n;
	if (strncmp(err, " line ", 6) == 0) {
		for (err += 6; isdigit((unsigned char)*err); err++)
			line = line * 10 + (*err - '0');
	}
	CHECK(*err == ':');
	*why = err;
	return line;
}

static int
count_lines(const char *p, size_t n)
{
	int k = 0;
	size_t i;

	for (i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static char ew[ERRLEN], es[ERRLEN], eb[ERRLEN], ef[ERRLEN];
	struct sconf whole, split, back, file;
	unsigned char dw[32], ds[32], db[32], df[32];
	char fpath[64], line[128];
	const char *text, *why_w, *why_s, *nl, *p;
	struct out o = { NULL, 0, 0 };
	size_t n, cut, i;
	int rw, rs, rf, lw, ls, lines1, fd, k;

	if (!ready) {
		/* %u and %h in paths: fixed, so results do not depend on the
		 * machine. */
		setenv("USER", "fuzzer", 1);
		setenv("HOME", "/home/fuzzer", 1);
		ready = 1;
	}
	if (size == 0 || size > MAX_TEXT)
		return 0;
	text = (const char *)data + 1;
	n = size - 1;

	/* Every line (the first few) as a number. */
	for (p = text, k = 0; p < text + n && k < 8; p = nl + 1, k++) {
		if ((nl = memchr(p, '\n', (size_t)(text + n - p))) == NULL)
			nl = text + n;
		i = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) :
		    sizeof(line) - 1;
		memcpy(line, p, i);
		line[i] = '\0';
		check_numbers(line);
	}

	/* Whole. */
	sconf_init(&whole);
	ew[0] = '\0';
	rw = sconf_load_buf(&whole, "conf", text, n, ew, sizeof(ew));
	CHECK(rw == 0 || rw == -1);
	CHECK(rw == 0 ? ew[0] == '\0' : ew[0] != '\0');
	sconf_digest(&whole, dw);

	/* In two files, cut after the line the seed picks. */
	cut = 0;
	for (k = data[0]; k > 0 && cut < n; k--) {
		if ((nl = memchr(text + cut, '\n', n - cut)) == NULL)
			break;
		cut = (size_t)(nl - text) + 1;
	}
	lines1 = count_lines(text, cut);
	sconf_init(&split);
	es[0] = '\0';
	rs = sconf_load_buf(&split, "a", text, cut, es, sizeof(es));
	if (rs == 0)
		rs = sconf_load_buf(&split, "b", text + cut, n - cut, es, sizeof(es));
	sconf_digest(&split, ds);
	CHECK(rs == rw);
	/* Also on error: what the lines before it set is kept alike. */
	CHECK(memcmp(dw, ds, sizeof(dw)) == 0);
	if (rw != 0) {
		lw = err_line(ew, "conf", &why_w);
		if (lw > 0 && lw <= lines1)
			ls = err_line(es, "a", &why_s);
		else {
			ls = err_line(es, "b", &why_s) + lines1;
			CHECK(lw > lines1);
		}
		CHECK(lw == ls && strcmp(why_w, why_s) == 0);
	}

	/* From a file. */
	if ((fd = memfd_create("fuzz-sconf", MFD_CLOEXEC)) < 0)
		abort();
	CHECK(n == 0 || write(fd, text, n) == (ssize_t)n);
	snprintf(fpath, sizeof(fpath), "/proc/self/fd/%d", fd);
	sconf_init(&file);
	ef[0] = '\0';
	rf = sconf_load_file(&file, fpath, 1, ef, sizeof(ef));
	close(fd);
	sconf_digest(&file, df);
	CHECK(rf == rw && memcmp(df, dw, sizeof(dw)) == 0);
	if (rw != 0) {
		CHECK(err_line(ef, fpath, &why_s) == err_line(ew, "conf", &why_w));
		CHECK(strcmp(why_s, why_w) == 0);
	}

	/* What loaded is sane, and reads back from what it writes. */
	if (rw == 0) {
		check_conf(&whole);
		write_conf(&whole, &o);
		sconf_init(&back);
		eb[0] = '\0';
		if (sconf_load_buf(&back, "back", o.p, o.n, eb, sizeof(eb)) != 0) {
			fprintf(stderr, "fuzz-sconf: written back, not read: %s\n%s",
			    eb, o.p);
			abort();
		}
		sconf_digest(&back, db);
		CHECK(memcmp(db, dw, sizeof(dw)) == 0);
		sconf_free(&back);
	}
	free(o.p);
	sconf_free(&whole);
	sconf_free(&split);
	sconf_free(&file);
	return 0;
}
