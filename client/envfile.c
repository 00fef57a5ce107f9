/*
 * envfile.c - environments.toml as lines; only our marked entries change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/envfile.h"

#define MAX_LINES 100000
#define MAX_ID 255		/* the longest id blocks() reads back */

struct envfile {
	char **line;
	size_t n, cap;
};

static void
errf(char *err, size_t errlen, const char *what, const char *arg)
{
	snprintf(err, errlen, "%s%s", what, arg);
}

/* Room for more lines: an edit that reserved them first cannot fail half-way. */
static int
reserve(struct envfile *f, size_t more)
{
	char **nl;
	size_t cap = f->cap ? f->cap : 64;

	while (cap < f->n + more)
		cap *= 2;
	if (cap == f->cap)
		return 0;
	if (f->n + more > MAX_LINES || (nl = realloc(f->line, cap * sizeof(*nl))) == NULL)
		return -1;
	f->line = nl;
	f->cap = cap;
	return 0;
}

/* Inserts the string s (now f's) at line at; room was reserved. */
static void
insert(struct envfile *f, size_t at, char *s)
{
	memmove(f->line + at + 1, f->line + at, (f->n - at) * sizeof(*f->line));
	f->line[at] = s;
	f->n++;
}

static int
push(struct envfile *f, size_t at, const char *text)
{
	char *dup;

	if (reserve(f, 1) != 0 || (dup = strdup(text)) == NULL)
		return -1;
	insert(f, at, dup);
	return 0;
}

static void
drop(struct envfile *f, size_t at, size_t count)
{
	size_t i;

	for (i = at; i < at + count; i++)
		free(f->line[i]);
	memmove(f->line + at, f->line + at + count,
	    (f->n - at - count) * sizeof(*f->line));
	f->n -= count;
}

static int header(const char *line, int *is_env);

/*
 * drop() of our lines, where what follows must not change hands: a mark the user
 * wrote would now stand right above the next table and make it look ours, so a
 * blank line (*spare, reserved by the caller; NULL once used) goes between.
 */
static void
drop_ours(struct envfile *f, size_t at, size_t count, char **spare)
{
	int is_env;

	drop(f, at, count);
	if (at > 0 && at < f->n && strcmp(f->line[at - 1], ENVFILE_MARK) == 0 &&
	    header(f->line[at], &is_env) && is_env && *spare != NULL) {
		insert(f, at, *spare);
		*spare = NULL;
	}
}

struct envfile *
envfile_load(const char *path, char *err, size_t errlen)
{
	struct envfile *f = calloc(1, sizeof(*f));
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;

	if (f == NULL) {
		errf(err, errlen, "out of memory", "");
		return NULL;
	}
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return f;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(f);
		return NULL;
	}
	while ((len = getline(&buf, &cap, fp)) >= 0) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (push(f, f->n, buf) != 0) {
			snprintf(err, errlen, "%s: too long or out of memory", path);
			free(buf);
			fclose(fp);
			envfile_free(f);
			return NULL;
		}
	}
	free(buf);
	fclose(fp);
	return f;
}

void
envfile_free(struct envfile *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		free(f->line[i]);
	free(f->line);
	free(f);
}

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A table header line: "[name]" or "[[name]]"; 1 for [[environments]]. */
static int
header(const char *line, int *is_env)
{
	const char *s = skip_ws(line);

	if (*s != '[')
		return 0;
	*is_env = strncmp(s, "[[", 2) == 0 &&
	    strncmp(skip_ws(s + 2), "environments", 12) == 0 &&
	    strncmp(skip_ws(skip_ws(s + 2) + 12), "]]", 2) == 0;
	return 1;
}

/* The code point of n hex digits at s, or -1. */
static long
hex(const char *s, int n)
{
	long v = 0;
	int i, d;

	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Appends the UTF-8 of code point c to out; 0, or -1 when it does not fit. */
static int
put_utf8(unsigned long c, char *out, size_t *n, size_t outlen)
{
	unsigned char b[4];
	size_t k, i;

	if (c < 0x80) {
		b[0] = (unsigned char)c;
		k = 1;
	} else if (c < 0x800) {
		b[0] = (unsigned char)(0xc0 | c >> 6);
		b[1] = (unsigned char)(0x80 | (c & 0x3f));
		k = 2;
	} else if (c < 0x10000) {
		b[0] = (unsigned char)(0xe0 | c >> 12);
		b[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		b[2] = (unsigned char)(0x80 | (c & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | c >> 18);
		b[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
		b[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
		b[3] = (unsigned char)(0x80 | (c & 0x3f));
		k = 4;
	}
	if (*n + k >= outlen)
		return -1;
	for (i = 0; i < k; i++)
		out[(*n)++] = (char)b[i];
	return 0;
}

/*
 * If line is `key = "value"` (a basic string: TOML's escapes, \uXXXX and
 * \UXXXXXXXX included, as envfile_quote() writes them) or `key = 'value'`, and
 * the value fits in outlen, copies the value into out and returns 1; else 0,
 * with out empty.
 */
static int
read_value(const char *line, const char *key, char *out, size_t outlen)
{
	static const char esc_in[] = "btnfre\"\\", esc_out[] = "\b\t\n\f\r\033\"\\";
	const char *s = skip_ws(line), *e;
	size_t k = strlen(key), n = 0;
	long c;
	char q;

	if (strncmp(s, key, k) != 0)
		return 0;
	s = skip_ws(s + k);
	if (*s++ != '=')
		return 0;
	s = skip_ws(s);
	if (*s != '"' && *s != '\'')
		return 0;
	q = *s++;
	for (; *s != '\0' && *s != q; s++) {
		if (q == '"' && *s == '\\') {
			s++;
			if (*s == 'u' || *s == 'U') {
				k = *s == 'u' ? 4 : 8;
				c = hex(s + 1, (int)k);
				/* Unicode scalar values only, never NUL. */
				if (c <= 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ||
				    put_utf8((unsigned long)c, out, &n, outlen) != 0)
					return 0;
				s += k;
				continue;
			}
			if (*s == '\0' || (e = strchr(esc_in, *s)) == NULL)
				return 0;
			c = esc_out[e - esc_in];
		} else
			c = (unsigned char)*s;
		if (n + 1 >= outlen)
			return 0;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return *s == q;
}

static int
string_value(const char *line, const char *key, char *out, size_t outlen)
{
	if (read_value(line, key, out, outlen))
		return 1;
	out[0] = '\0';
	return 0;
}

/*
 * The [[environments]] tables: start (header) and end (exclusive) lines. A
 * table ends at its last line that is neither blank nor a comment: what
 * follows (the mark of the next one, the user's comment about it) is not its
 * to take along when it goes.
 */
struct block {
	size_t start, end;
	int ours;
	char id[MAX_ID + 1];
};

static int
trivia(const char *line)
{
	const char *s = skip_ws(line);

	return *s == '\0' || *s == '#';
}

/* The tables in a new array (free it) of *n; NULL when out of memory. */
static struct block *
blocks(const struct envfile *f, size_t *n, size_t *first_table)
{
	struct block *b, *nb;
	size_t i, j, cap = 16;
	int is_env;

	*n = 0;
	*first_table = f->n;
	if ((b = malloc(cap * sizeof(*b))) == NULL)
		return NULL;
	for (i = 0; i < f->n; i++) {
		if (!header(f->line[i], &is_env))
			continue;
		if (*first_table == f->n)
			*first_table = i;
		if (!is_env)
			continue;
		if (*n == cap) {
			if ((nb = realloc(b, 2 * cap * sizeof(*b))) == NULL) {
				free(b);
				return NULL;
			}
			b = nb;
			cap *= 2;
		}
		b[*n].start = i;
		b[*n].ours = i > 0 && strcmp(f->line[i - 1], ENVFILE_MARK) == 0;
		b[*n].id[0] = '\0';
		for (j = i + 1; j < f->n && !header(f->line[j], &is_env); j++)
			if (b[*n].id[0] == '\0')
				(void)string_value(f->line[j], "id", b[*n].id,
				    sizeof(b[*n].id));
		while (j > i + 1 && trivia(f->line[j - 1]))
			j--;
		b[*n].end = j;
		(*n)++;
	}
	return b;
}

/* 1 when line sets key (`key =`), whatever the value. */
static int
is_key(const char *line, const char *key)
{
	const char *s = skip_ws(line);
	size_t k = strlen(key);

	return strncmp(s, key, k) == 0 && *skip_ws(s + k) == '=';
}

/* The top-level default: its line, or (size_t)-1; its value in id ("" when it
 * cannot be read). */
static size_t
default_line(const struct envfile *f, size_t first_table, char *id, size_t idlen)
{
	size_t i;

	for (i = 0; i < first_table; i++)
		if (is_key(f->line[i], "default")) {
			(void)string_value(f->line[i], "default", id, idlen);
			return i;
		}
	return (size_t)-1;
}

int
envfile_quote(const char *s, char *out, size_t cap)
{
	size_t n = strlen(out), n0 = n;
	const unsigned char *p = (const unsigned char *)s;
	char esc[8];

	if (n + 2 >= cap)
		return -1;
	out[n++] = '"';
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		else
			snprintf(esc, sizeof(esc), "%c", *p);
		if (n + strlen(esc) + 2 >= cap) {
			out[n0] = '\0';
			return -1;
		}
		memcpy(out + n, esc, strlen(esc));
		n += strlen(esc);
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

/* The line of the first table (f->n when there is none). */
static size_t
first_table(const struct envfile *f)
{
	size_t i;
	int is_env;

	for (i = 0; i < f->n; i++)
		if (header(f->line[i], &is_env))
			return i;
	return f->n;
}

/* The lines of a default's block at dl: its mark, itself, a blank line after. */
static size_t
default_count(const struct envfile *f, size_t dl)
{
	return dl + 1 < f->n && f->line[dl + 1][0] == '\0' ? 3 : 2;
}

/* key = "value": a new string, or NULL when it is too long (or no memory). */
static char *
keyed(const char *key, const char *value)
{
	char line[8192];

	snprintf(line, sizeof(line), "%s = ", key);
	if (envfile_quote(value, line, sizeof(line)) != 0)
		return NULL;
	return strdup(line);
}

int
envfile_add(struct envfile *f, const char *id, const char *program,
    const char *const *args, size_t nargs, int make_default, char *err,
    size_t errlen)
{
	enum { BLANK, MARK, HEADER, ID, PROGRAM, ARGS, DMARK, DEFAULT, DBLANK,
	    SPARE1, SPARE2, NLINES };
	struct block *b;
	char line[8192], cur[MAX_ID + 1], *l[NLINES];
	size_t nb, first, i, at, dl, found = (size_t)-1;
	int r = -1;

	memset(l, 0, sizeof(l));
	if (*id == '\0' || strlen(id) > MAX_ID) {
		snprintf(err, errlen, "an environment id has 1 to %d bytes", MAX_ID);
		return -1;
	}
	if ((b = blocks(f, &nb, &first)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < nb && found == (size_t)-1; i++) {
		if (strcmp(b[i].id, id) != 0)
			continue;
		if (!b[i].ours) {
			snprintf(err, errlen, "an environment \"%s\" is already defined "
			    "(line %zu, not by codex-connect); choose another --id", id,
			    b[i].start + 1);
			goto out;
		}
		found = i;
	}
	dl = default_line(f, first, cur, sizeof(cur));
	if (make_default && dl != (size_t)-1 &&
	    (dl == 0 || strcmp(f->line[dl - 1], ENVFILE_MARK_DEFAULT) != 0)) {
		snprintf(err, errlen, "the default environment is set by you (line %zu: "
		    "default = \"%s\"); remove that line or leave out --default", dl + 1,
		    cur);
		goto out;
	}
	/* Every line first: the file changes only once they all fit. */
	snprintf(line, sizeof(line), "args = [");
	for (i = 0; i < nargs; i++) {
		if (i > 0)
			strncat(line, ", ", sizeof(line) - strlen(line) - 1);
		if (envfile_quote(args[i], line, sizeof(line)) != 0)
			break;
	}
	if (i < nargs || strlen(line) + 2 > sizeof(line) ||
	    (l[ID] = keyed("id", id)) == NULL ||
	    (l[PROGRAM] = keyed("program", program)) == NULL ||
	    (l[DEFAULT] = keyed("default", id)) == NULL) {
		snprintf(err, errlen, "out of memory or a value too long");
		goto out;
	}
	strncat(line, "]", sizeof(line) - strlen(line) - 1);
	if ((l[BLANK] = strdup("")) == NULL || (l[MARK] = strdup(ENVFILE_MARK)) == NULL ||
	    (l[HEADER] = strdup("[[environments]]")) == NULL ||
	    (l[ARGS] = strdup(line)) == NULL ||
	    (l[DMARK] = strdup(ENVFILE_MARK_DEFAULT)) == NULL ||
	    (l[DBLANK] = strdup("")) == NULL || (l[SPARE1] = strdup("")) == NULL ||
	    (l[SPARE2] = strdup("")) == NULL || reserve(f, NLINES) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* Ours already: replaced where the new one goes. */
	if (found != (size_t)-1)
		drop_ours(f, b[found].start - 1, b[found].end - b[found].start + 1,
		    &l[SPARE1]);
	/* Appended at the end: after a blank line unless the file ends in one. */
	at = f->n;
	if (at > 0 && f->line[at - 1][0] != '\0') {
		insert(f, at++, l[BLANK]);
		l[BLANK] = NULL;
	}
	for (i = MARK; i <= ARGS; i++) {
		insert(f, at++, l[i]);
		l[i] = NULL;
	}
	if (make_default) {
		/* Top-level keys must come before every table: at the very top, so
		 * no comment is parted from what it belongs to. */
		if (dl != (size_t)-1)
			drop_ours(f, dl - 1, default_count(f, dl), &l[SPARE2]);
		for (i = DMARK; i <= DBLANK; i++) {
			insert(f, i - DMARK, l[i]);
			l[i] = NULL;
		}
	}
	r = 0;
out:
	for (i = 0; i < NLINES; i++)
		free(l[i]);
	free(b);
	return r;
}

int
envfile_remove(struct envfile *f, const char *id, char *err, size_t errlen)
{
	struct block *b;
	char cur[MAX_ID + 1], *spare[2] = { NULL, NULL };
	size_t nb, first, i, dl, from, count;
	int r = -1;

	if ((b = blocks(f, &nb, &first)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < nb && strcmp(b[i].id, id) != 0; i++)
		;
	if (i == nb) {
		snprintf(err, errlen, "no environment \"%s\"", id);
		goto out;
	}
	if (!b[i].ours) {
		snprintf(err, errlen, "environment \"%s\" (line %zu) was not added "
		    "by codex-connect; edit the file yourself", id, b[i].start + 1);
		goto out;
	}
	if ((spare[0] = strdup("")) == NULL || (spare[1] = strdup("")) == NULL ||
	    reserve(f, 2) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	from = b[i].start - 1;
	count = b[i].end - from;
	/* The blank line we put before it goes too. */
	if (from > 0 && f->line[from - 1][0] == '\0') {
		from--;
		count++;
	}
	drop_ours(f, from, count, &spare[0]);
	dl = default_line(f, first_table(f), cur, sizeof(cur));
	if (dl != (size_t)-1 && dl > 0 &&
	    strcmp(f->line[dl - 1], ENVFILE_MARK_DEFAULT) == 0 &&
	    strcmp(cur, id) == 0)
		drop_ours(f, dl - 1, default_count(f, dl), &spare[1]);
	r = 0;
out:
	free(spare[0]);
	free(spare[1]);
	free(b);
	return r;
}

void
envfile_each(const struct envfile *f,
    void (*fn)(void *ctx, const char *id, int ours, int is_default), void *ctx)
{
	struct block *b;
	char def[MAX_ID + 1] = "";
	size_t nb, first, i;

	if ((b = blocks(f, &nb, &first)) == NULL)
		return;
	if (default_line(f, first, def, sizeof(def)) == (size_t)-1)
		def[0] = '\0';
	for (i = 0; i < nb; i++)
		fn(ctx, b[i].id, b[i].ours, def[0] != '\0' && strcmp(def, b[i].id) == 0);
	free(b);
}

int
envfile_save(const struct envfile *f, const char *path, char *err, size_t errlen)
{
	char tmp[4200];
	struct stat st;
	mode_t mode = 0600;
	size_t i;
	FILE *fp = NULL;
	int fd, bad;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode)) < 0 || (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (i = 0; i < f->n; i++)
		fprintf(fp, "%s\n", f->line[i]);
	bad = fflush(fp) != 0 || fsync(fileno(fp)) != 0;
	bad |= fclose(fp) != 0;
	if (bad || rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}
