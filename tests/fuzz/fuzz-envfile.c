/*
 * fuzz-envfile.c - the environments.toml editor (client/envfile.c) against
 * arbitrary files and edits.
 *
 * Input: the first line is a list of edits separated by tabs: "+ID", "*ID"
 * (add, and make it the default) or "-ID" (remove), where an add may go on
 * with \x1f PROGRAM \x1f ARG...; the rest is the file. After each edit:
 *  - a refused edit changed nothing (the file it saves is the same bytes);
 *  - an add that went through lists every environment as before, in order,
 *    without the one of ours it replaced, then the new one, ours, with its id
 *    read back exactly (and the default when asked);
 *  - a remove that went through lists every environment as before but the
 *    one removed; only ours can be removed or replaced, and the user's
 *    entries never change: not their ids, not their order, not whose they are;
 *  - what is saved loads back to the same list, and saves to the same bytes.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/envfile.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) fail(__LINE__, #c); } while (0)

#define MAX_OPS		6
#define MAX_ARGS	4
#define MAX_LIST	1024

static char dir[64], in_path[128], out_path[128];

/* $TMPDIR if set (and short), else /dev/shm where it exists: the files of
 * every input are written and synced, which memory does fastest. */
static const char *
tmp_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat st;

	if (tmp != NULL && *tmp == '/' && strlen(tmp) < 32)
		return tmp;
	return stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

static void
cleanup(void)
{
	if (dir[0] == '\0')
		return;
	unlink(in_path);
	unlink(out_path);
	rmdir(dir);
}

static void
fail(int line, const char *what)
{
	fprintf(stderr, "fuzz-envfile: %s:%d: %s\n", __FILE__, line, what);
	cleanup();
	abort();
}

/* ---- what the module says ------------------------------------------------------ */

struct entry {
	char *id;
	int ours, is_default;
};

struct list {
	struct entry e[MAX_LIST];
	size_t n;
	int over;
};

static void
collect(void *ctx, const char *id, int ours, int is_default)
{
	struct list *l = ctx;

	if (l->n == MAX_LIST) {
		l->over = 1;
		return;
	}
	if ((l->e[l->n].id = strdup(id)) == NULL)
		abort();
	l->e[l->n].ours = ours;
	l->e[l->n].is_default = is_default;
	l->n++;
}

static void
list_of(const struct envfile *f, struct list *l)
{
	l->n = 0;
	l->over = 0;
	envfile_each(f, collect, l);
}

static void
list_clear(struct list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->e[i].id);
	l->n = 0;
}

/* a, with entry skip (or none: (size_t)-1) left out, then extra (or none) is
 * b, as ids and owners. */
static int
same_list(const struct list *a, size_t skip, const char *extra,
    const struct list *b)
{
	size_t i, k = 0;

	if (a->over || b->over)
		return 1;	/* too many to compare */
	for (i = 0; i < a->n; i++) {
		if (i == skip)
			continue;
		if (k == b->n || strcmp(a->e[i].id, b->e[k].id) != 0 ||
		    a->e[i].ours != b->e[k].ours)
			return 0;
		k++;
	}
	if (extra != NULL) {
		if (k == b->n || strcmp(b->e[k].id, extra) != 0 || !b->e[k].ours)
			return 0;
		k++;
	}
	return k == b->n;
}

/* The bytes envfile_save() writes for f (malloc'd, NUL-terminated). */
static char *
saved(const struct envfile *f, size_t *len)
{
	char err[512];
	struct stat st;
	FILE *fp;
	char *t;

	unlink(out_path);
	if (envfile_save(f, out_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz-envfile: save: %s\n", err);
		fail(__LINE__, "saved");
	}
	if ((fp = fopen(out_path, "r")) == NULL || fstat(fileno(fp), &st) != 0 ||
	    (t = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(t, 1, (size_t)st.st_size, fp) != (size_t)st.st_size)
		abort();
	fclose(fp);
	t[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	return t;
}

/* ---- the edits ------------------------------------------------------------------ */

struct op {
	char kind;
	char *id;
	const char *program;
	const char *args[MAX_ARGS];
	size_t nargs;
	char *mem;
};

/* Splits the first line into edits. */
static size_t
parse_ops(const char *line, size_t len, struct op *ops)
{
	size_t n = 0, i;
	char *s, *tab, *f, *p;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, line, len);
	s[len] = '\0';
	for (f = s; f != NULL && n < MAX_OPS; f = tab) {
		if ((tab = strchr(f, '\t')) != NULL)
			*tab++ = '\0';
		if (*f != '+' && *f != '*' && *f != '-')
			continue;
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].kind = *f++;
		if ((ops[n].mem = strdup(f)) == NULL)
			abort();
		ops[n].id = ops[n].mem;
		if ((p = strchr(ops[n].id, '\x1f')) != NULL) {
			*p++ = '\0';
			ops[n].program = p;
			for (i = 0; i < MAX_ARGS && (p = strchr(p, '\x1f')) != NULL; i++) {
				*p++ = '\0';
				ops[n].args[ops[n].nargs++] = p;
			}
		} else
			ops[n].program = "/usr/local/bin/codex-connect";
		n++;
	}
	free(s);
	return n;
}

static void
apply(struct envfile *f, const struct op *op)
{
	struct envfile *g;
	struct list before, after, again;
	char err[512], *tb, *ta, *t2;
	size_t lb, la, l2, first, i;
	int r, is_add = op->kind != '-';

	list_of(f, &before);
	tb = saved(f, &lb);
	for (first = 0; first < before.n; first++)
		if (strcmp(before.e[first].id, op->id) == 0)
			break;
	err[0] = '\0';
	if (is_add)
		r = envfile_add(f, op->id, op->program, op->args, op->nargs,
		    op->kind == '*', err, sizeof(err));
	else
		r = envfile_remove(f, op->id, err, sizeof(err));
	list_of(f, &after);
	ta = saved(f, &la);
	CHECK(r == 0 || r == -1);
	if (r != 0) {
		/* Refused: a reason, and nothing changed. */
		CHECK(err[0] != '\0');
		CHECK(la == lb && memcmp(ta, tb, la) == 0);
		/* Only ours may go, and only an existing one. */
		if (!is_add)
			CHECK(before.over || first == before.n || !before.e[first].ours);
	} else if (is_add) {
		CHECK(first == before.n || before.e[first].ours);
		CHECK(same_list(&before, first < before.n ? first : (size_t)-1,
		    op->id, &after));
		if (op->kind == '*' && !after.over)
			for (i = 0; i < after.n; i++)
				CHECK(after.e[i].is_default ==
				    (strcmp(after.e[i].id, op->id) == 0));
	} else {
		CHECK(first < before.n && before.e[first].ours);
		CHECK(same_list(&before, first, NULL, &after));
	}

	/* What was saved reads back the same and saves the same. */
	if ((g = envfile_load(out_path, err, sizeof(err))) == NULL)
		fail(__LINE__, err);
	list_of(g, &again);
	CHECK(again.n == after.n && again.over == after.over);
	for (i = 0; i < again.n; i++)
		CHECK(strcmp(again.e[i].id, after.e[i].id) == 0 &&
		    again.e[i].ours == after.e[i].ours &&
		    again.e[i].is_default == after.e[i].is_default);
	t2 = saved(g, &l2);
	CHECK(l2 == la && memcmp(t2, ta, la) == 0);
	envfile_free(g);
	list_clear(&before);
	list_clear(&after);
	list_clear(&again);
	free(tb);
	free(ta);
	free(t2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct op ops[MAX_OPS];
	const char *in = (const char *)data, *nl, *text;
	struct envfile *f;
	char err[512];
	size_t nops, len, i;
	FILE *fp;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%s/fuzz-envfile.XXXXXX", tmp_dir());
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(cleanup);
		snprintf(in_path, sizeof(in_path), "%s/environments.toml", dir);
		snprintf(out_path, sizeof(out_path), "%s/saved.toml", dir);
	}
	if (size > 256 * 1024)
		return 0;
	nl = memchr(in, '\n', size);
	text = nl != NULL ? nl + 1 : in + size;
	len = (size_t)(in + size - text);
	nops = parse_ops(in, (size_t)(text - in) - (nl != NULL), ops);

	if ((fp = fopen(in_path, "w")) == NULL ||
	    (len > 0 && fwrite(text, 1, len, fp) != len) || fclose(fp) != 0)
		abort();
	if ((f = envfile_load(in_path, err, sizeof(err))) == NULL)
		fail(__LINE__, err);
	for (i = 0; i < nops; i++)
		apply(f, &ops[i]);
	envfile_free(f);
	for (i = 0; i < nops; i++)
		free(ops[i].mem);
	return 0;
}
