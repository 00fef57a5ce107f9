/*
 * fuzz-sshconf.c - the ssh_config reader (client/sshconf.c) against arbitrary
 * files.
 *
 * Input: the user's file; a line "@@@ NAME" starts another file, NAME "@system"
 * the system file, any other name a file under ~/.ssh/ that Include lines can
 * reach. The files go to a private temporary directory that is home and the
 * system directory both. Include lines are rewritten so that they cannot reach
 * outside it: an absolute path is put under the directory, "~user" and ".." are
 * dropped. Match is never evaluated by this reader (client/sshopt.c does that,
 * and it is not linked here), so "Match exec" runs nothing.
 *
 * Checked:
 *  - every line splits (sshconf_split()) into words that, written back quoted,
 *    split again into the same words;
 *  - the loaded lines are well formed: FILE first, PUSH/POP balanced and no
 *    deeper than the limit, file and line numbers set;
 *  - the aliases are concrete, distinct names of Host lines;
 *  - sshconf_resolve() of the aliases and of a few other names agrees with a
 *    resolver written here from the lines alone (sshconf_get_line()), with its
 *    own pattern matcher, which is also compared with sshconf_match_glob();
 *  - sshconf_parse_time() and sshconf_parse_port() agree with references;
 *  - the listing has one entry per alias, and suggestions are other aliases.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cJSON.h>

#include "client/sshconf.h"
#include "tests/fuzz/fuzz.h"

#define CHECK(c) do { if (!(c)) fail(__LINE__, #c); } while (0)

#define MAX_FILES	8
#define MAX_RESOLVE	12
#define MAX_MATCH_LEN	256

static char root[64];		/* the private directory */
static char written[MAX_FILES][PATH_MAX], dirs[MAX_FILES][PATH_MAX];
static int nwritten, ndirs;

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void cleanup(void);

/* Leaves no directory behind, even when a check fails. */
static void
fail(int line, const char *what)
{
	fprintf(stderr, "fuzz-sshconf: %s:%d: %s\n", __FILE__, line, what);
	cleanup();
	abort();
}

/* ---- a growable string -------------------------------------------------------- */

struct str {
	char *p;
	size_t n, cap;
};

static void
sput(struct str *s, const char *p, size_t n)
{
	if (s->n + n + 1 > s->cap) {
		s->cap = (s->n + n + 1) * 2;
		if ((s->p = realloc(s->p, s->cap)) == NULL)
			abort();
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
	s->p[s->n] = '\0';
}

static void
sputs(struct str *s, const char *p)
{
	sput(s, p, strlen(p));
}

/* A word as the splitter reads it back: double quotes, \ and " escaped. */
static void
sput_word(struct str *s, const char *w)
{
	sputs(s, " \"");
	for (; *w != '\0'; w++) {
		if (*w == '\\' || *w == '"')
			sput(s, "\\", 1);
		sput(s, w, 1);
	}
	sputs(s, "\"");
}

/* keyword and words as one line (without newline). */
static void
canonical(struct str *s, const char *keyword, char *const *args, size_t nargs)
{
	size_t i;

	s->n = 0;
	sput(s, "", 0);
	/* An empty keyword is what a line starting with '=' has. */
	sputs(s, keyword[0] != '\0' ? keyword : "=");
	for (i = 0; i < nargs; i++)
		sput_word(s, args[i]);
}

/* ---- references ------------------------------------------------------------------ */

/* '*' and '?' over whole strings, by dynamic programming (the product
 * backtracks instead). */
static int
ref_glob(const char *s, const char *p, size_t plen, int fold)
{
	static unsigned char t[MAX_MATCH_LEN + 2][MAX_MATCH_LEN + 2];
	size_t n = strlen(s), i, j;

	CHECK(n <= MAX_MATCH_LEN && plen <= MAX_MATCH_LEN);
	/* t[i][j]: s[i..] matches p[j..] */
	for (i = n + 1; i-- > 0;) {
		for (j = plen + 1; j-- > 0;) {
			if (j == plen)
				t[i][j] = i == n;
			else if (p[j] == '*')
				t[i][j] = t[i][j + 1] || (i < n && t[i + 1][j]);
			else
				t[i][j] = i < n && (p[j] == '?' || p[j] == s[i] ||
				    (fold && tolower((unsigned char)p[j]) ==
				    tolower((unsigned char)s[i]))) && t[i + 1][j + 1];
		}
	}
	return t[0][0];
}

/* Table cells the reference may still fill for this input: include loops can
 * make thousands of Host lines. */
static size_t budget;

static int
glob_both(const char *s, const char *p, size_t plen, int fold)
{
	int a = sshconf_match_glob(s, p, plen, fold);
	size_t cost = (strlen(s) + 1) * (plen + 1);

	if (strlen(s) <= MAX_MATCH_LEN && plen <= MAX_MATCH_LEN && cost <= budget) {
		budget -= cost;
		CHECK(a == ref_glob(s, p, plen, fold));
	}
	return a;
}

static int
ref_port(const char *s)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if ((v = v * 10 + (unsigned long)(*s - '0')) > 100000)
			v = 100000;	/* saturates: too large either way */
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* OpenSSH's convtime(): groups of digits, each with an optional unit. */
static int
ref_time(const char *s)
{
	long long total = 0, v;
	const char *units = "smhdw", *u;
	static const long long mul[] = { 1, 60, 3600, 86400, 604800 };

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!isdigit((unsigned char)*s))
			return -1;
		for (v = 0; isdigit((unsigned char)*s); s++)
			if ((v = v * 10 + (*s - '0')) > INT_MAX)
				return -1;
		if (*s != '\0') {
			if ((u = strchr(units, tolower((unsigned char)*s))) == NULL)
				return -1;
			v *= mul[u - units];
			s++;
		}
		if ((total += v) > INT_MAX)
			return -1;
	}
	return (int)total;
}

/* What the reader should find for one name, from its lines. */
struct ref_host {
	const char *hostname, *user, *proxyjump, *identityfile;
	int port, timeout, hash, has_proxyjump, matched;
};

struct state {
	int active, never;
};

static int
ref_host_line(const struct sshconf_line *l, const char *name, int *literal)
{
	size_t i;
	int pos = 0, lit = 0;
	const char *p;

	for (i = 0; i < l->nargs; i++) {
		p = l->args[i];
		if (*p == '!') {
			if (glob_both(name, p + 1, strlen(p + 1), 0))
				return 0;
			continue;
		}
		if (glob_both(name, p, strlen(p), 0)) {
			pos = 1;
			lit |= strpbrk(p, "*?") == NULL;
		}
	}
	if (pos && lit)
		*literal = 1;
	return pos;
}

static void
ref_resolve(const struct sshconf *cfg, const char *name, struct ref_host *h)
{
	struct state cur = { 1, 0 }, stack[SSHCONF_MAX_DEPTH + 2];
	struct sshconf_line l;
	size_t i, sp = 0;
	int got_host = 0, got_user = 0, got_port = 0, got_pj = 0, got_id = 0;
	int got_to = 0, got_hash = 0, v;
	const char *k, *a;

	memset(h, 0, sizeof(*h));
	h->port = 22;
	h->timeout = -1;
	h->hash = -1;
	for (i = 0; i < sshconf_nlines(cfg); i++) {
		CHECK(sshconf_get_line(cfg, i, &l) == 0);
		switch (l.kind) {
		case SSHCONF_FILE:
			cur.active = 1;
			cur.never = 0;
			sp = 0;
			continue;
		case SSHCONF_PUSH:
			CHECK(sp < SSHCONF_MAX_DEPTH + 2);
			stack[sp++] = cur;
			cur.never |= !cur.active;
			continue;
		case SSHCONF_POP:
			CHECK(sp > 0);
			cur = stack[--sp];
			continue;
		case SSHCONF_HOST:
			cur.active = !cur.never && ref_host_line(&l, name, &h->matched);
			continue;
		case SSHCONF_MATCH:
			cur.active = !cur.never && l.nargs == 1 &&
			    strcasecmp(l.args[0], "all") == 0;
			continue;
		case SSHCONF_OPTION:
			break;
		}
		if (!cur.active || l.nargs == 0)
			continue;
		k = l.keyword;
		a = l.args[0];
		if (strcasecmp(k, "hostname") == 0 && !got_host) {
			got_host = 1;
			h->hostname = a;
		} else if (strcasecmp(k, "user") == 0 && !got_user) {
			got_user = 1;
			h->user = a;
		} else if (strcasecmp(k, "port") == 0 && !got_port &&
		    (v = ref_port(a)) > 0) {
			got_port = 1;
			h->port = v;
		} else if (strcasecmp(k, "proxyjump") == 0 && !got_pj) {
			got_pj = 1;
			h->proxyjump = strcasecmp(a, "none") == 0 ? NULL : a;
		} else if (strcasecmp(k, "identityfile") == 0 && !got_id) {
			got_id = 1;
			h->identityfile = a;
		} else if (strcasecmp(k, "connecttimeout") == 0 && !got_to &&
		    (strcmp(a, "none") == 0 || ref_time(a) >= 0)) {
			got_to = 1;
			h->timeout = strcmp(a, "none") == 0 ? -1 : ref_time(a);
		} else if (strcasecmp(k, "hashknownhosts") == 0 && !got_hash &&
		    (strcasecmp(a, "yes") == 0 || strcasecmp(a, "true") == 0 ||
		    strcasecmp(a, "no") == 0 || strcasecmp(a, "false") == 0)) {
			got_hash = 1;
			h->hash = strcasecmp(a, "yes") == 0 || strcasecmp(a, "true") == 0;
		}
	}
}

/* HostName's %h and %%. */
static void
ref_expand(struct str *s, const char *tmpl, const char *name)
{
	s->n = 0;
	sput(s, "", 0);
	for (; *tmpl != '\0'; tmpl++) {
		if (tmpl[0] == '%' && tmpl[1] == 'h') {
			sputs(s, name);
			tmpl++;
		} else if (tmpl[0] == '%' && tmpl[1] == '%') {
			sputs(s, "%");
			tmpl++;
		} else
			sput(s, tmpl, 1);
	}
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
check_resolve(const struct sshconf *cfg, const char *name)
{
	struct sshconf_host h;
	struct ref_host w;
	struct str e = { NULL, 0, 0 };

	if (*name == '\0') {
		CHECK(sshconf_resolve(cfg, name, &h) == PROTO_ERR_ARG);
		return;
	}
	CHECK(sshconf_resolve(cfg, name, &h) == 0);
	ref_resolve(cfg, name, &w);
	CHECK(strcmp(h.alias, name) == 0);
	if (w.hostname != NULL) {
		ref_expand(&e, w.hostname, name);
		CHECK(strcmp(h.hostname, e.p) == 0);
	} else
		CHECK(strcmp(h.hostname, name) == 0);
	CHECK(strcmp(h.user, w.user != NULL ? w.user : "me") == 0);
	CHECK(h.port == w.port && h.port >= 1 && h.port <= 65535);
	CHECK(same(h.proxyjump, w.proxyjump));
	CHECK(same(h.identityfile, w.identityfile));
	CHECK(h.connect_timeout == w.timeout);
	CHECK(h.hash_known_hosts == w.hash);
	CHECK(h.matched == w.matched);
	CHECK(h.strict_host_key_checking == NULL ||
	    strcmp(h.strict_host_key_checking, "yes") == 0 ||
	    strcmp(h.strict_host_key_checking, "no") == 0 ||
	    strcmp(h.strict_host_key_checking, "ask") == 0 ||
	    strcmp(h.strict_host_key_checking, "accept-new") == 0);
	CHECK((h.source_file == NULL) == (h.line == 0));
	sshconf_host_clear(&h);
	free(e.p);
}

/* ---- the files ------------------------------------------------------------------ */

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

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
cleanup(void)
{
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	char d[PATH_MAX];

	snprintf(root, sizeof(root), "%s/fuzz-sshconf.XXXXXX", tmp_dir());
	if (mkdtemp(root) == NULL)
		abort();
	atexit(cleanup);
	snprintf(d, sizeof(d), "%s/.ssh", root);
	if (mkdir(d, 0700) != 0)
		abort();
	snprintf(d, sizeof(d), "%s/etc", root);
	if (mkdir(d, 0700) != 0)
		abort();
}

/* An Include argument kept inside root: NULL to drop it. */
static const char *
safe_include(const char *arg, char *buf, size_t len)
{
	/* glob() reads \. as . and [.] never matches a leading dot, but
	 * neither is needed to test the reader. */
	if (strstr(arg, "..") != NULL || strpbrk(arg, "\\[") != NULL)
		return NULL;
	if (arg[0] == '~' && arg[1] != '/' && arg[1] != '\0')
		return NULL;	/* ~user */
	if (arg[0] == '/') {
		snprintf(buf, len, "%s%s", root, arg);
		return buf;
	}
	return arg;
}

/* Writes text as file path, Include lines made safe, and checks the splitting
 * of every line on the way. */
static void
write_file(const char *path, const char *text, size_t n)
{
	struct str out = { NULL, 0, 0 }, line = { NULL, 0, 0 }, again = { NULL, 0, 0 };
	struct sshconf_words w, w2;
	const char *p = text, *nl, *why, *a;
	char buf[PATH_MAX];
	char **keep;
	size_t i, k;
	FILE *f;
	int r;

	sput(&out, "", 0);
	while (p < text + n) {
		if ((nl = memchr(p, '\n', (size_t)(text + n - p))) == NULL)
			nl = text + n;
		line.n = 0;
		sput(&line, p, (size_t)(nl - p));	/* a NUL ends it early */
		r = sshconf_split(line.p, &w, &why);
		CHECK(r == 1 || r == 0 || r == PROTO_ERR_INVALID);
		CHECK(r != PROTO_ERR_INVALID || (why != NULL && *why != '\0'));
		if (r != 1) {
			sput(&out, p, (size_t)(nl - p));
			goto next;
		}
		/* Written back quoted, the line splits the same. */
		canonical(&again, w.keyword, w.args, w.nargs);
		CHECK(sshconf_split(again.p, &w2, &why) == 1);
		CHECK(strcmp(w.keyword, w2.keyword) == 0 && w.nargs == w2.nargs);
		for (i = 0; i < w.nargs; i++)
			CHECK(strcmp(w.args[i], w2.args[i]) == 0);
		sshconf_words_free(&w2);
		if (strcasecmp(w.keyword, "include") != 0) {
			sput(&out, p, (size_t)(nl - p));
			sshconf_words_free(&w);
			goto next;
		}
		if ((keep = calloc(w.nargs + 1, sizeof(*keep))) == NULL)
			abort();
		for (i = k = 0; i < w.nargs; i++)
			if ((a = safe_include(w.args[i], buf, sizeof(buf))) != NULL &&
			    (keep[k++] = strdup(a)) == NULL)
				abort();
		canonical(&again, w.keyword, keep, k);
		sput(&out, again.p, again.n);
		for (i = 0; i < k; i++)
			free(keep[i]);
		free(keep);
		sshconf_words_free(&w);
	next:
		if (nl < text + n)
			sput(&out, "\n", 1);
		p = nl + 1;
	}
	if ((f = fopen(path, "w")) == NULL || fwrite(out.p, 1, out.n, f) != out.n ||
	    fclose(f) != 0)
		abort();
	free(out.p);
	free(line.p);
	free(again.p);
}

/* A file name from the input, kept to [A-Za-z0-9._-] with at most one
 * directory, under ~/.ssh/. */
static void
file_path(const char *name, size_t n, char *out, size_t len, int idx)
{
	char clean[64], d[PATH_MAX];
	size_t i, k = 0;
	int slash = 0;

	for (i = 0; i < n && k < sizeof(clean) - 1; i++) {
		if (isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_' ||
		    (name[i] == '.' && k > 0 && clean[k - 1] != '.' && clean[k - 1] != '/'))
			clean[k++] = name[i];
		else if (name[i] == '/' && !slash && k > 0) {
			clean[k++] = '/';
			slash = 1;
		}
	}
	while (k > 0 && clean[k - 1] == '/')
		k--;
	clean[k] = '\0';
	if (k == 0 || strcmp(clean, "config") == 0)
		snprintf(clean, sizeof(clean), "f%d", idx);
	if (strchr(clean, '/') != NULL) {
		snprintf(d, sizeof(d), "%s/.ssh/%.*s", root,
		    (int)(strchr(clean, '/') - clean), clean);
		/* A file of this input has the directory's name: not there. */
		if (mkdir(d, 0700) == 0)
			snprintf(dirs[ndirs++], PATH_MAX, "%s", d);
		else if (!is_dir(d))
			snprintf(clean, sizeof(clean), "f%d", idx);
	}
	snprintf(out, len, "%s/.ssh/%s", root, clean);
	if (is_dir(out))
		snprintf(out, len, "%s/.ssh/f%d", root, idx);
}

/* Removes what the last input wrote. */
static void
remove_written(void)
{
	int i;

	for (i = 0; i < nwritten; i++)
		unlink(written[i]);
	for (i = 0; i < ndirs; i++)
		rmdir(dirs[i]);
	nwritten = ndirs = 0;
}

/* ---- the target -------------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p, *end, *hdr, *body;
	struct sshconf_opts o;
	struct sshconf *cfg = NULL;
	struct sshconf_line l;
	const char *names[MAX_RESOLVE], *sug[4];
	char user_file[PATH_MAX], sys_file[PATH_MAX], sys_dir[PATH_MAX], word[64];
	size_t i, j, nres = 0, depth = 0, files = 0, nsug;
	int nfiles = 0;
	cJSON *list;

	if (root[0] == '\0')
		setup();
	remove_written();
	budget = 4u << 20;
	if (size > 64 * 1024)
		return 0;

	/* The files: the user's, then each "@@@ NAME" section. */
	snprintf(user_file, sizeof(user_file), "%s/.ssh/config", root);
	snprintf(sys_dir, sizeof(sys_dir), "%s/etc", root);
	snprintf(sys_file, sizeof(sys_file), "%s/etc/ssh_config", root);
	p = text;
	end = text + size;
	hdr = NULL;
	for (;;) {
		const char *sep = p, *next = NULL;

		/* The next line starting with "@@@ ". */
		while (sep < end) {
			if ((size_t)(end - sep) >= 4 && memcmp(sep, "@@@ ", 4) == 0 &&
			    (sep == text || sep[-1] == '\n')) {
				next = sep;
				break;
			}
			if ((sep = memchr(sep, '\n', (size_t)(end - sep))) == NULL)
				break;
			sep++;
		}
		body = p;
		if (nfiles < MAX_FILES) {
			char path[PATH_MAX];
			const char *nend;

			if (hdr == NULL)
				snprintf(path, sizeof(path), "%s", user_file);
			else {
				nend = memchr(hdr, '\n', (size_t)(end - hdr));
				nend = nend != NULL ? nend : end;
				if ((size_t)(nend - hdr) == 7 && memcmp(hdr, "@system", 7) == 0)
					snprintf(path, sizeof(path), "%s", sys_file);
				else
					file_path(hdr, (size_t)(nend - hdr), path,
					    sizeof(path), nfiles);
			}
			write_file(path, body, (size_t)((next != NULL ? next : end) - body));
			snprintf(written[nwritten++], PATH_MAX, "%s", path);
			nfiles++;
		}
		if (next == NULL)
			break;
		hdr = next + 4;
		p = memchr(hdr, '\n', (size_t)(end - hdr));
		p = p != NULL ? p + 1 : end;
	}

	memset(&o, 0, sizeof(o));
	o.user_file = user_file;
	o.system_file = sys_file;
	o.home = root;
	o.system_dir = sys_dir;
	o.local_user = "me";
	CHECK(sshconf_load(&o, &cfg) == 0);

	/* The lines: FILE first, balanced, within the limits. */
	for (i = 0; i < sshconf_nlines(cfg); i++) {
		CHECK(sshconf_get_line(cfg, i, &l) == 0);
		CHECK(i > 0 || l.kind == SSHCONF_FILE);
		switch (l.kind) {
		case SSHCONF_FILE:
			CHECK(depth == 0);
			files++;
			break;
		case SSHCONF_PUSH:
			CHECK(++depth <= SSHCONF_MAX_DEPTH);
			break;
		case SSHCONF_POP:
			CHECK(depth-- > 0);
			break;
		default:
			CHECK(l.keyword != NULL && l.file != NULL && l.line >= 1);
			CHECK(l.kind != SSHCONF_HOST || l.nargs > 0);
			for (j = 0; j < l.nargs; j++)
				CHECK(l.args[j] != NULL);
			break;
		}
		if (l.kind <= SSHCONF_POP)
			CHECK(l.keyword == NULL && l.file == NULL);
	}
	CHECK(depth == 0);
	/* Both top-level files start a block, there or not. */
	CHECK(files == 2);
	CHECK(sshconf_get_line(cfg, sshconf_nlines(cfg), &l) == -1);
	CHECK(sshconf_nwarnings(cfg) <= 65);
	for (i = 0; i < sshconf_nwarnings(cfg); i++)
		CHECK(sshconf_warning(cfg, i) != NULL);

	/* Aliases: concrete and distinct. */
	for (i = 0; i < sshconf_nalias(cfg); i++) {
		const char *a = sshconf_alias(cfg, i);

		CHECK(a != NULL && a[0] != '\0' && a[0] != '!' && strpbrk(a, "*?") == NULL);
		for (j = 0; j < i; j++)
			CHECK(strcmp(a, sshconf_alias(cfg, j)) != 0);
		if (nres < MAX_RESOLVE - 3)
			names[nres++] = a;
	}
	CHECK(sshconf_alias(cfg, sshconf_nalias(cfg)) == NULL);
	names[nres++] = "devbox";
	names[nres++] = "x.corp";
	names[nres++] = "";
	for (i = 0; i < nres; i++)
		check_resolve(cfg, names[i]);

	/* Values of a few keywords, and every Host pattern against the names. */
	for (i = 0; i < sshconf_nlines(cfg) && i < 256; i++) {
		CHECK(sshconf_get_line(cfg, i, &l) == 0);
		if (l.nargs == 0)
			continue;
		CHECK(sshconf_parse_time(l.args[0]) == ref_time(l.args[0]));
		CHECK(sshconf_parse_port(l.args[0]) == ref_port(l.args[0]));
		if (l.kind != SSHCONF_HOST)
			continue;
		for (j = 0; j < l.nargs; j++) {
			size_t k;

			for (k = 0; k < nres; k++) {
				(void)glob_both(names[k], l.args[j], strlen(l.args[j]), 1);
				(void)glob_both(l.args[j], names[k], strlen(names[k]), 0);
			}
		}
	}

	/* The listing and the suggestions. */
	CHECK(sshconf_list_json(cfg, &list) == 0);
	CHECK(cJSON_IsArray(list) &&
	    (size_t)cJSON_GetArraySize(list) == sshconf_nalias(cfg));
	cJSON_Delete(list);
	for (i = 0; i < sshconf_nalias(cfg) && i < 8; i++) {
		const char *a = sshconf_alias(cfg, i);
		size_t al = strlen(a);

		snprintf(word, sizeof(word), "%.*s", (int)(al > 1 ? al - 1 : al), a);
		nsug = sshconf_suggest(cfg, word, sug, 4);
		CHECK(nsug <= 4);
		for (j = 0; j < nsug; j++) {
			size_t k;

			CHECK(strcmp(sug[j], word) != 0);
			for (k = 0; k < j; k++)
				CHECK(sug[k] != sug[j]);
		}
		/* Longer names are not compared: limit + 1 ("far"). */
		CHECK(sshconf_distance(a, a, 3) == (al <= 256 ? 0 : 4));
		CHECK(sshconf_distance(a, word, 3) == sshconf_distance(word, a, 3));
	}
	sshconf_free(cfg);
	return 0;
}
