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

struct envfile {
	char **line;
	size_t n, cap;
};

static void
errf(char *err, size_t errlen, const char *what, const char *arg)
{
	snprintf(err, errlen, "%s%s", what, arg);
}

static int
push(struct envfile *f, size_t at, const char *text)
{
	char **nl, *dup;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;

		if (cap > MAX_LINES || (nl = realloc(f->line, cap * sizeof(*nl))) == NULL)
			return -1;
		f->line = nl;
		f->cap = cap;
	}
	if ((dup = strdup(text)) == NULL)
		return -1;
	memmove(f->line + at + 1, f->line + at, (f->n - at) * sizeof(*f->line));
	f->line[at] = dup;
	f->n++;
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

/*
 * If line is `key = "value"` (basic string, simple escapes) or `key = 'value'`,
 * copies the value into out and returns 1.
 */
static int
string_value(const char *line, const char *key, char *out, size_t outlen)
{
	const char *s = skip_ws(line);
	size_t k = strlen(key), n = 0;
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
	for (; *s != '\0' && *s != q && n + 1 < outlen; s++) {
		if (q == '"' && *s == '\\' && s[1] != '\0') {
			s++;
			out[n++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
		} else
			out[n++] = *s;
	}
	out[n] = '\0';
	return *s == q;
}

/* The [[environments]] tables: start (header) and end (exclusive) lines. */
struct block {
	size_t start, end;
	int ours;
	char id[256];
};

static size_t
blocks(const struct envfile *f, struct block *b, size_t max, size_t *first_table)
{
	size_t i, j, n = 0;
	int is_env;

	*first_table = f->n;
	for (i = 0; i < f->n; i++) {
		if (!header(f->line[i], &is_env))
			continue;
		if (*first_table == f->n)
			*first_table = i;
		if (!is_env || n == max)
			continue;
		b[n].start = i;
		b[n].ours = i > 0 && strcmp(f->line[i - 1], ENVFILE_MARK) == 0;
		b[n].id[0] = '\0';
		for (j = i + 1; j < f->n && !header(f->line[j], &is_env); j++)
			if (b[n].id[0] == '\0')
				(void)string_value(f->line[j], "id", b[n].id, sizeof(b[n].id));
		b[n].end = j;
		n++;
	}
	return n;
}

/* The top-level default: its line, or (size_t)-1. */
static size_t
default_line(const struct envfile *f, size_t first_table, char *id, size_t idlen)
{
	size_t i;

	for (i = 0; i < first_table; i++)
		if (string_value(f->line[i], "default", id, idlen))
			return i;
	return (size_t)-1;
}

int
envfile_quote(const char *s, char *out, size_t cap)
{
	size_t n = strlen(out);
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
		if (n + strlen(esc) + 2 >= cap)
			return -1;
		memcpy(out + n, esc, strlen(esc));
		n += strlen(esc);
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}

int
envfile_add(struct envfile *f, const char *id, const char *program,
    const char *const *args, size_t nargs, int make_default, char *err,
    size_t errlen)
{
	struct block b[256];
	char line[8192], cur[256];
	size_t nb, first, i, at, dl;
	int r = 0;

	nb = blocks(f, b, 256, &first);
	for (i = 0; i < nb; i++) {
		if (strcmp(b[i].id, id) != 0)
			continue;
		if (!b[i].ours) {
			snprintf(err, errlen, "an environment \"%s\" is already defined "
			    "(line %zu, not by codex-connect); choose another --id", id,
			    b[i].start + 1);
			return -1;
		}
		/* Ours: replace it where it is. */
		drop(f, b[i].start - 1, b[i].end - b[i].start + 1);
		nb = blocks(f, b, 256, &first);
		break;
	}
	dl = default_line(f, first, cur, sizeof(cur));
	if (make_default && dl != (size_t)-1 &&
	    (dl == 0 || strcmp(f->line[dl - 1], ENVFILE_MARK_DEFAULT) != 0)) {
		snprintf(err, errlen, "the default environment is set by you (line %zu: "
		    "default = \"%s\"); remove that line or leave out --default", dl + 1,
		    cur);
		return -1;
	}
	/* Appended at the end: after a blank line unless the file ends in one. */
	at = f->n;
	if (at > 0 && f->line[at - 1][0] != '\0')
		r |= push(f, at++, "");
	r |= push(f, at++, ENVFILE_MARK);
	r |= push(f, at++, "[[environments]]");
	snprintf(line, sizeof(line), "id = ");
	r |= envfile_quote(id, line, sizeof(line)) | push(f, at++, line);
	snprintf(line, sizeof(line), "program = ");
	r |= envfile_quote(program, line, sizeof(line)) | push(f, at++, line);
	snprintf(line, sizeof(line), "args = [");
	for (i = 0; i < nargs && r == 0; i++) {
		if (i > 0)
			strncat(line, ", ", sizeof(line) - strlen(line) - 1);
		r |= envfile_quote(args[i], line, sizeof(line));
	}
	strncat(line, "]", sizeof(line) - strlen(line) - 1);
	r |= push(f, at++, line);
	if (r == 0 && make_default) {
		/* Top-level keys must come before every table: at the very top, so
		 * no comment is parted from what it belongs to. */
		if (dl != (size_t)-1)
			drop(f, dl - 1, dl + 1 < f->n && f->line[dl + 1][0] == '\0' ? 3 : 2);
		snprintf(line, sizeof(line), "default = ");
		r |= envfile_quote(id, line, sizeof(line));
		r |= push(f, 0, ENVFILE_MARK_DEFAULT) | push(f, 1, line) | push(f, 2, "");
	}
	if (r != 0) {
		snprintf(err, errlen, "out of memory or a value too long");
		return -1;
	}
	return 0;
}

int
envfile_remove(struct envfile *f, const char *id, char *err, size_t errlen)
{
	struct block b[256];
	char cur[256];
	size_t nb, first, i, dl, from, count;

	nb = blocks(f, b, 256, &first);
	for (i = 0; i < nb; i++) {
		if (strcmp(b[i].id, id) != 0)
			continue;
		if (!b[i].ours) {
			snprintf(err, errlen, "environment \"%s\" (line %zu) was not added "
			    "by codex-connect; edit the file yourself", id, b[i].start + 1);
			return -1;
		}
		from = b[i].start - 1;
		count = b[i].end - from;
		/* The blank line we put before it goes too. */
		if (from > 0 && f->line[from - 1][0] == '\0') {
			from--;
			count++;
		}
		drop(f, from, count);
		(void)blocks(f, b, 256, &first);
		dl = default_line(f, first, cur, sizeof(cur));
		if (dl != (size_t)-1 && dl > 0 &&
		    strcmp(f->line[dl - 1], ENVFILE_MARK_DEFAULT) == 0 &&
		    strcmp(cur, id) == 0)
			drop(f, dl - 1, dl + 1 < f->n && f->line[dl + 1][0] == '\0' ? 3 : 2);
		return 0;
	}
	snprintf(err, errlen, "no environment \"%s\"", id);
	return -1;
}

void
envfile_each(const struct envfile *f,
    void (*fn)(void *ctx, const char *id, int ours, int is_default), void *ctx)
{
	struct block b[256];
	char def[256] = "";
	size_t nb, first, i;

	nb = blocks(f, b, 256, &first);
	if (default_line(f, first, def, sizeof(def)) == (size_t)-1)
		def[0] = '\0';
	for (i = 0; i < nb; i++)
		fn(ctx, b[i].id, b[i].ours, def[0] != '\0' && strcmp(def, b[i].id) == 0);
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
