/*
 * sshconf.c - a reader of ssh_config(5) files for listing and resolving aliases.
 *
 * Loading flattens the user file, the system file and everything they include
 * into one list of directives, with PUSH/POP markers around each included file.
 * Resolving a name is then one pass over that list with a small stack of block
 * states, which is how OpenSSH's recursive reader behaves without re-reading
 * any file per name.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cJSON.h>

#include "client/sshconf.h"

#ifndef GLOB_TILDE
#define GLOB_TILDE	0	/* ~user Includes then simply match nothing */
#endif

#define MAX_WARNINGS	64
#define MAX_NAME	256	/* longest name the edit distance looks at */

enum dkind {
	D_FILE,		/* start of a top-level file: state reset */
	D_PUSH,		/* start of an included file */
	D_POP,		/* end of an included file */
	D_HOST,
	D_MATCH,
	D_OPT
};

enum opt {
	O_OTHER,	/* a line sshconf_resolve() does not use (sshopt.c may) */
	O_HOSTNAME,
	O_USER,
	O_PORT,
	O_PROXYJUMP,
	O_IDENTITYFILE,
	O_KNOWNHOSTS,
	O_STRICT,
	O_ALIVE,
	O_TIMEOUT,
	O_HOSTKEYALIAS,
	O_HASHKNOWNHOSTS,
	O_REVOKEDHOSTKEYS,
	O_HOSTKEYALGS,
	O_COUNT,
	/* not options, but keywords the reader acts on */
	K_HOST,
	K_MATCH,
	K_INCLUDE
};

static const struct keyword {
	const char *name;
	int code;
} keywords[] = {
	{ "host", K_HOST },
	{ "match", K_MATCH },
	{ "include", K_INCLUDE },
	{ "hostname", O_HOSTNAME },
	{ "user", O_USER },
	{ "port", O_PORT },
	{ "proxyjump", O_PROXYJUMP },
	{ "identityfile", O_IDENTITYFILE },
	{ "userknownhostsfile", O_KNOWNHOSTS },
	{ "stricthostkeychecking", O_STRICT },
	{ "serveraliveinterval", O_ALIVE },
	{ "connecttimeout", O_TIMEOUT },
	{ "hostkeyalias", O_HOSTKEYALIAS },
	{ "hashknownhosts", O_HASHKNOWNHOSTS },
	{ "revokedhostkeys", O_REVOKEDHOSTKEYS },
	{ "hostkeyalgorithms", O_HOSTKEYALGS },
};

struct directive {
	enum dkind kind;
	int opt;		/* D_OPT: enum opt */
	int match_all;		/* D_MATCH: "Match all" */
	char **argv;		/* D_HOST: the patterns; D_MATCH, D_OPT: the
				 * words after the keyword */
	size_t argc;
	char *sval;		/* D_OPT: string value (NULL for "none") */
	int ival;		/* D_OPT: numeric value */
	char *keyword;		/* D_HOST, D_MATCH, D_OPT: as written */
	char *raw;		/* the rest of the line, as written */
	size_t file;		/* index in files[] */
	int line;
};

struct alias {
	char *name;
	size_t file;		/* index in files[] */
	int line;
};

struct sshconf {
	struct directive *dir;
	size_t ndir, capdir;
	char **files;
	size_t nfiles;
	struct alias *alias;
	size_t nalias, capalias;
	char **warn;
	size_t nwarn;
	int warn_dropped;
	char *home;
	char *system_dir;
	char *local_user;
	size_t files_read;	/* for SSHCONF_MAX_FILES */
	size_t bytes_read;	/* for SSHCONF_MAX_TOTAL */
	int nomem;		/* an allocation failed somewhere: load fails */
};

/* ---- small helpers -------------------------------------------------------- */

static void *
grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return p;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return NULL;
		ncap *= 2;
	}
	if ((np = realloc(p, ncap * elem)) == NULL)
		return NULL;
	*cap = ncap;
	return np;
}

static void
push_warning(struct sshconf *cfg, char *s)
{
	char **nw;

	if (s == NULL) {
		cfg->nomem = 1;
		return;
	}
	if ((nw = realloc(cfg->warn, (cfg->nwarn + 1) * sizeof(*nw))) == NULL) {
		free(s);
		cfg->nomem = 1;
		return;
	}
	cfg->warn = nw;
	cfg->warn[cfg->nwarn++] = s;
}

static void warnf(struct sshconf *cfg, const char *fmt, ...) PROTO_PRINTF(2, 3);

static void
warnf(struct sshconf *cfg, const char *fmt, ...)
{
	va_list ap;
	char *s;

	/* An include loop could otherwise warn thousands of times. */
	if (cfg->nwarn >= MAX_WARNINGS) {
		cfg->warn_dropped = 1;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	push_warning(cfg, s);
}

static int
is_pattern(const char *s)
{
	return *s == '!' || strpbrk(s, "*?") != NULL;
}

int
sshconf_match_glob(const char *s, const char *p, size_t plen, int fold)
{
	const char *pe = p + plen, *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (p < pe && *p == '*') {
			star = ++p;
			resume = s;
		} else if (p < pe && (*p == '?' || *p == *s || (fold &&
		    tolower((unsigned char)*p) == tolower((unsigned char)*s)))) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = ++resume;
		} else
			return 0;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

static int
glob_match(const char *s, const char *p)
{
	return sshconf_match_glob(s, p, strlen(p), 0);
}

/* ---- tokenising one line -------------------------------------------------- */

struct tokens {
	char *keyword;
	char **argv;
	size_t argc;
	char *raw;	/* the rest of the line after the keyword */
};

static void
tokens_free(struct tokens *t)
{
	size_t i;

	free(t->keyword);
	for (i = 0; i < t->argc; i++)
		free(t->argv[i]);
	free(t->argv);
	free(t->raw);
	memset(t, 0, sizeof(*t));
}

static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Splits a line as OpenSSH does: a keyword ended by whitespace or one '=', then
 * words separated by whitespace, where quotes group and a word starting with '#'
 * ends the line. Returns 1 with *t filled, 0 for a blank or comment line,
 * PROTO_ERR_INVALID for a malformed line (*why set), PROTO_ERR_NOMEM.
 */
static int
tokenise(const char *line, struct tokens *t, const char **why)
{
	const char *p = line, *k, *r;
	char *w = NULL, **nv;
	size_t wl, cap = 0, rl;
	int quote;

	memset(t, 0, sizeof(*t));
	while (is_space(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	for (k = p; *p != '\0' && !is_space(*p) && *p != '='; p++)
		;
	/* What ssh(1) hands ProxyCommand and the like whole. */
	for (r = p; is_space(*r) || *r == '='; r++)
		;
	for (rl = strlen(r); rl > 0 && is_space(r[rl - 1]); rl--)
		;
	if ((t->keyword = strndup(k, (size_t)(p - k))) == NULL ||
	    (t->raw = strndup(r, rl)) == NULL)
		goto nomem;
	while (is_space(*p))
		p++;
	if (*p == '=')
		p++;
	for (;;) {
		while (is_space(*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		/* A word is never longer than the rest of the line. */
		if ((w = malloc(strlen(p) + 1)) == NULL)
			goto nomem;
		wl = 0;
		quote = 0;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && (p[1] == '\\' || p[1] == '"' ||
			    p[1] == '\'' || (quote == 0 && p[1] == ' '))) {
				w[wl++] = *++p;
			} else if (quote == 0 && is_space(*p))
				break;
			else if (quote == 0 && (*p == '"' || *p == '\''))
				quote = *p;
			else if (quote != 0 && *p == quote)
				quote = 0;
			else
				w[wl++] = *p;
		}
		if (quote != 0) {
			free(w);
			tokens_free(t);
			*why = "unterminated quote";
			return PROTO_ERR_INVALID;
		}
		w[wl] = '\0';
		if ((nv = grow(t->argv, &cap, t->argc + 1, sizeof(*nv))) == NULL)
			goto nomem;
		t->argv = nv;
		t->argv[t->argc++] = w;
		w = NULL;
	}
	return 1;
 nomem:
	free(w);
	tokens_free(t);
	return PROTO_ERR_NOMEM;
}

/* ---- building the directive list ------------------------------------------ */

static struct directive *
add_directive(struct sshconf *cfg, enum dkind kind)
{
	struct directive *nd, *d;

	if ((nd = grow(cfg->dir, &cfg->capdir, cfg->ndir + 1, sizeof(*nd))) == NULL) {
		cfg->nomem = 1;
		return NULL;
	}
	cfg->dir = nd;
	d = &cfg->dir[cfg->ndir++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	return d;
}

static void
add_alias(struct sshconf *cfg, const char *name, size_t file, int line)
{
	struct alias *na;
	size_t i;

	if (*name == '\0' || is_pattern(name))
		return;
	for (i = 0; i < cfg->nalias; i++)
		if (strcmp(cfg->alias[i].name, name) == 0)
			return;
	na = grow(cfg->alias, &cfg->capalias, cfg->nalias + 1, sizeof(*na));
	if (na == NULL) {
		cfg->nomem = 1;
		return;
	}
	cfg->alias = na;
	if ((na[cfg->nalias].name = strdup(name)) == NULL) {
		cfg->nomem = 1;
		return;
	}
	na[cfg->nalias].file = file;
	na[cfg->nalias].line = line;
	cfg->nalias++;
}

int
sshconf_parse_time(const char *s)
{
	long long total = 0, n, mult;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!isdigit((unsigned char)*s))
			return -1;
		for (n = 0; isdigit((unsigned char)*s); s++) {
			n = n * 10 + (*s - '0');
			if (n > INT_MAX)
				return -1;
		}
		switch (*s) {
		case '\0':
			mult = 1;
			break;
		case 's': case 'S': mult = 1; s++; break;
		case 'm': case 'M': mult = 60; s++; break;
		case 'h': case 'H': mult = 3600; s++; break;
		case 'd': case 'D': mult = 86400; s++; break;
		case 'w': case 'W': mult = 604800; s++; break;
		default:
			return -1;
		}
		total += n * mult;
		if (total > INT_MAX)
			return -1;
	}
	return (int)total;
}

int
sshconf_parse_port(const char *s)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -1;
	}
	return v == 0 ? -1 : (int)v;
}

static const char *
strict_value(const char *s)
{
	static const struct {
		const char *in, *out;
	} map[] = {
		{ "yes", "yes" }, { "true", "yes" },
		{ "no", "no" }, { "false", "no" }, { "off", "no" },
		{ "ask", "ask" }, { "accept-new", "accept-new" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(s, map[i].in) == 0)
			return map[i].out;
	return NULL;
}

/* Turns one option line into a directive; returns a reason when it is invalid. */
static const char *
add_option(struct sshconf *cfg, int opt, struct tokens *t)
{
	struct directive *d;
	const char *v, *s = NULL;
	int iv = 0, none = 0;

	if (t->argc == 0)
		return "missing argument";
	v = t->argv[0];
	switch (opt) {
	case O_PORT:
		if ((iv = sshconf_parse_port(v)) < 0)
			return "invalid port";
		break;
	case O_ALIVE:
	case O_TIMEOUT:
		if (opt == O_TIMEOUT && strcmp(v, "none") == 0) {
			iv = -1;
			break;
		}
		if ((iv = sshconf_parse_time(v)) < 0)
			return "invalid time value";
		break;
	case O_STRICT:
		if ((s = strict_value(v)) == NULL)
			return "invalid StrictHostKeyChecking value";
		v = s;
		break;
	case O_PROXYJUMP:
	case O_REVOKEDHOSTKEYS:
		none = strcasecmp(v, "none") == 0;
		break;
	case O_HASHKNOWNHOSTS:
		if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
			iv = 1;
		else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
			iv = 0;
		else
			return "invalid HashKnownHosts value";
		break;
	default:
		break;
	}
	if ((d = add_directive(cfg, D_OPT)) == NULL)
		return NULL;
	d->opt = opt;
	d->ival = iv;
	if (!none && opt != O_PORT && opt != O_ALIVE && opt != O_TIMEOUT &&
	    opt != O_HASHKNOWNHOSTS && (d->sval = strdup(v)) == NULL)
		cfg->nomem = 1;
	return NULL;
}

static void read_file(struct sshconf *, const char *, int, int);

static void
add_host(struct sshconf *cfg, struct tokens *t, size_t file, int line)
{
	struct directive *d;
	size_t i;

	if ((d = add_directive(cfg, D_HOST)) == NULL)
		return;
	for (i = 0; i < t->argc; i++)
		add_alias(cfg, t->argv[i], file, line);
	/* The directive takes the patterns over. */
	d->argv = t->argv;
	d->argc = t->argc;
	t->argv = NULL;
	t->argc = 0;
}

/* Expands one Include argument into a glob pattern (malloc'd), or NULL. */
static char *
include_path(struct sshconf *cfg, const char *arg, int user, const char *where,
    int line)
{
	char *path = NULL;
	int r;

	if (*arg == '~') {
		if (!user) {
			warnf(cfg, "%s line %d: ~ in a system Include: %s", where,
			    line, arg);
			return NULL;
		}
		if (arg[1] == '/' || arg[1] == '\0')
			r = asprintf(&path, "%s%s", cfg->home, arg + 1);
		else
			r = asprintf(&path, "%s", arg);	/* ~user: glob's job */
	} else if (*arg == '/')
		r = asprintf(&path, "%s", arg);
	else if (user)
		r = asprintf(&path, "%s/.ssh/%s", cfg->home, arg);
	else
		r = asprintf(&path, "%s/%s", cfg->system_dir, arg);
	if (r < 0) {
		cfg->nomem = 1;
		return NULL;
	}
	return path;
}

static void
do_include(struct sshconf *cfg, struct tokens *t, int user, int depth,
    const char *where, int line)
{
	glob_t gl;
	char *pat;
	size_t i, j;
	int r;

	if (t->argc == 0) {
		warnf(cfg, "%s line %d: Include without a path", where, line);
		return;
	}
	for (i = 0; i < t->argc && !cfg->nomem; i++) {
		if ((pat = include_path(cfg, t->argv[i], user, where, line)) == NULL)
			continue;
		memset(&gl, 0, sizeof(gl));
		r = glob(pat, GLOB_TILDE, NULL, &gl);
		if (r == GLOB_NOMATCH) {
			free(pat);
			continue;
		}
		if (r != 0) {
			if (r == GLOB_NOSPACE)
				cfg->nomem = 1;
			else
				warnf(cfg, "%s line %d: Include %s: glob failed",
				    where, line, pat);
			free(pat);
			globfree(&gl);
			continue;
		}
		free(pat);
		for (j = 0; j < gl.gl_pathc && !cfg->nomem; j++) {
			if (depth + 1 > SSHCONF_MAX_DEPTH) {
				warnf(cfg, "%s line %d: Include %s: more than %d "
				    "nested includes", where, line,
				    gl.gl_pathv[j], SSHCONF_MAX_DEPTH);
				continue;
			}
			if (add_directive(cfg, D_PUSH) == NULL)
				break;
			read_file(cfg, gl.gl_pathv[j], user, depth + 1);
			if (add_directive(cfg, D_POP) == NULL)
				break;
		}
		globfree(&gl);
	}
}

/* Gives d the line itself: keyword, words (unless it has its own) and raw text,
 * for resolvers that read every keyword (sshconf_get_line()). */
static void
keep_line(struct directive *d, struct tokens *t, size_t file, int line)
{
	d->keyword = t->keyword;
	d->raw = t->raw;
	t->keyword = t->raw = NULL;
	if (d->argv == NULL) {
		d->argv = t->argv;
		d->argc = t->argc;
		t->argv = NULL;
		t->argc = 0;
	}
	d->file = file;
	d->line = line;
}

static void
do_line(struct sshconf *cfg, const char *text, int user, int depth,
    size_t file, int line)
{
	const char *where = cfg->files[file], *why = NULL;
	struct tokens t;
	struct directive *d;
	size_t i, before = cfg->ndir;
	int r, code = -1;

	if ((r = tokenise(text, &t, &why)) <= 0) {
		if (r == PROTO_ERR_NOMEM)
			cfg->nomem = 1;
		else if (r < 0)
			warnf(cfg, "%s line %d: %s", where, line, why);
		return;
	}
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcasecmp(t.keyword, keywords[i].name) == 0)
			code = keywords[i].code;
	switch (code) {
	case -1:
		/* A keyword this reader does not need: kept for others. */
		if ((d = add_directive(cfg, D_OPT)) != NULL) {
			d->opt = O_OTHER;
			keep_line(d, &t, file, line);
		}
		break;
	case K_HOST:
		if (t.argc == 0)
			warnf(cfg, "%s line %d: Host without patterns", where,
			    line);
		else {
			add_host(cfg, &t, file, line);
			if (cfg->ndir > before)
				keep_line(&cfg->dir[cfg->ndir - 1], &t, file,
				    line);
		}
		break;
	case K_MATCH:
		if ((d = add_directive(cfg, D_MATCH)) != NULL) {
			d->match_all = t.argc == 1 &&
			    strcasecmp(t.argv[0], "all") == 0;
			keep_line(d, &t, file, line);
		}
		break;
	case K_INCLUDE:
		do_include(cfg, &t, user, depth, where, line);
		break;
	default:
		if ((why = add_option(cfg, code, &t)) != NULL)
			warnf(cfg, "%s line %d: %s: %s", where, line,
			    t.keyword, why);
		/* A bad value is still a line a resolver has to see. */
		if (cfg->ndir == before && !cfg->nomem &&
		    (d = add_directive(cfg, D_OPT)) != NULL)
			d->opt = O_OTHER;
		if (cfg->ndir > before)
			keep_line(&cfg->dir[cfg->ndir - 1], &t, file, line);
		break;
	}
	tokens_free(&t);
}

/* Reads a whole regular file of bounded size; NULL with *skip set to explain. */
static char *
slurp(struct sshconf *cfg, const char *path, size_t *len, const char **skip)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	ssize_t n;
	int fd;

	*skip = NULL;
	/*
	 * Opening a device or a FIFO can have effects: look before opening.
	 * Directories matched by a glob are skipped quietly, like ssh does.
	 */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (!S_ISDIR(st.st_mode))
			*skip = "not a regular file";
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			*skip = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		*skip = strerror(errno);
		goto out;
	}
	/* Replaced since the stat() above. */
	if (!S_ISREG(st.st_mode)) {
		*skip = "not a regular file";
		goto out;
	}
	if (st.st_size > SSHCONF_MAX_FILE_SIZE) {
		*skip = "file too large";
		goto out;
	}
	if ((size_t)st.st_size > SSHCONF_MAX_TOTAL - cfg->bytes_read) {
		*skip = "configuration too large in total";
		goto out;
	}
	if ((data = malloc((size_t)st.st_size + 1)) == NULL) {
		cfg->nomem = 1;
		goto out;
	}
	/* The size may change under us: read no more than what was checked. */
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*skip = strerror(errno);
			free(data);
			data = NULL;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	data[got] = '\0';
	*len = got;
	cfg->bytes_read += got;
 out:
	close(fd);
	return data;
}

static void
read_file(struct sshconf *cfg, const char *path, int user, int depth)
{
	char *data, *p, *nl, **nf;
	const char *skip;
	size_t len = 0, file;
	int line = 0;

	if (cfg->files_read >= SSHCONF_MAX_FILES) {
		warnf(cfg, "%s: not read, more than %d files", path,
		    SSHCONF_MAX_FILES);
		return;
	}
	cfg->files_read++;
	if ((data = slurp(cfg, path, &len, &skip)) == NULL) {
		if (skip != NULL)
			warnf(cfg, "%s: not read: %s", path, skip);
		return;
	}
	if ((nf = realloc(cfg->files, (cfg->nfiles + 1) * sizeof(*nf))) == NULL ||
	    (nf[cfg->nfiles] = strdup(path)) == NULL) {
		if (nf != NULL)
			cfg->files = nf;
		cfg->nomem = 1;
		free(data);
		return;
	}
	cfg->files = nf;
	file = cfg->nfiles++;
	/* A NUL ends its line early, as with getline() and strlen() in ssh. */
	for (p = data; p < data + len && !cfg->nomem; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(data + len - p))) == NULL)
			nl = data + len;
		*nl = '\0';
		line++;
		do_line(cfg, p, user, depth, file, line);
	}
	free(data);
}

/* ---- loading -------------------------------------------------------------- */

static void
directive_free(struct directive *d)
{
	size_t i;

	for (i = 0; i < d->argc; i++)
		free(d->argv[i]);
	free(d->argv);
	free(d->sval);
	free(d->keyword);
	free(d->raw);
}

void
sshconf_free(struct sshconf *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->ndir; i++)
		directive_free(&cfg->dir[i]);
	free(cfg->dir);
	for (i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	for (i = 0; i < cfg->nalias; i++)
		free(cfg->alias[i].name);
	free(cfg->alias);
	for (i = 0; i < cfg->nwarn; i++)
		free(cfg->warn[i]);
	free(cfg->warn);
	free(cfg->home);
	free(cfg->system_dir);
	free(cfg->local_user);
	free(cfg);
}

static void
load_top(struct sshconf *cfg, const char *path, int user)
{
	if (path == NULL || add_directive(cfg, D_FILE) == NULL)
		return;
	read_file(cfg, path, user, 0);
}

int
sshconf_load(const struct sshconf_opts *opts, struct sshconf **out)
{
	struct sshconf *cfg;
	struct passwd *pw;
	const char *home = opts->home, *user = opts->local_user;
	int r = PROTO_ERR_NOMEM;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return PROTO_ERR_NOMEM;
	pw = (home == NULL || user == NULL) ? getpwuid(getuid()) : NULL;
	if (home == NULL && (home = getenv("HOME")) == NULL && pw != NULL)
		home = pw->pw_dir;
	if (user == NULL && (pw == NULL || (user = pw->pw_name) == NULL))
		user = getenv("USER");
	if (home == NULL || user == NULL || *user == '\0') {
		r = PROTO_ERR_ARG;
		goto out;
	}
	if ((cfg->home = strdup(home)) == NULL ||
	    (cfg->local_user = strdup(user)) == NULL ||
	    (cfg->system_dir = strdup(opts->system_dir != NULL ?
	    opts->system_dir : "/etc/ssh")) == NULL)
		goto out;
	load_top(cfg, opts->user_file, 1);
	load_top(cfg, opts->system_file, 0);
	if (cfg->warn_dropped)
		push_warning(cfg, strdup("(further warnings suppressed)"));
	if (cfg->nomem)
		goto out;
	*out = cfg;
	cfg = NULL;
	r = 0;
 out:
	sshconf_free(cfg);
	return r;
}

int
sshconf_load_default(struct sshconf **out)
{
	struct sshconf_opts o;
	struct passwd *pw;
	const char *home;
	char *user_file = NULL;
	int r;

	memset(&o, 0, sizeof(o));
	if ((home = getenv("HOME")) == NULL &&
	    (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL)
		return PROTO_ERR_ARG;
	if (asprintf(&user_file, "%s/.ssh/config", home) < 0)
		return PROTO_ERR_NOMEM;
	o.user_file = user_file;
	o.system_file = "/etc/ssh/ssh_config";
	o.home = home;
	r = sshconf_load(&o, out);
	free(user_file);
	return r;
}

size_t
sshconf_nwarnings(const struct sshconf *cfg)
{
	return cfg->nwarn;
}

const char *
sshconf_warning(const struct sshconf *cfg, size_t i)
{
	return i < cfg->nwarn ? cfg->warn[i] : NULL;
}

size_t
sshconf_nalias(const struct sshconf *cfg)
{
	return cfg->nalias;
}

const char *
sshconf_alias(const struct sshconf *cfg, size_t i)
{
	return i < cfg->nalias ? cfg->alias[i].name : NULL;
}

/* ---- the lines, for other resolvers ---------------------------------------- */

int
sshconf_match_pattern(const char *s, const char *pattern)
{
	return glob_match(s, pattern);
}

size_t
sshconf_nlines(const struct sshconf *cfg)
{
	return cfg->ndir;
}

int
sshconf_get_line(const struct sshconf *cfg, size_t i, struct sshconf_line *out)
{
	static const enum sshconf_kind kinds[] = {
		[D_FILE] = SSHCONF_FILE, [D_PUSH] = SSHCONF_PUSH,
		[D_POP] = SSHCONF_POP, [D_HOST] = SSHCONF_HOST,
		[D_MATCH] = SSHCONF_MATCH, [D_OPT] = SSHCONF_OPTION
	};
	const struct directive *d;

	if (i >= cfg->ndir)
		return -1;
	d = &cfg->dir[i];
	memset(out, 0, sizeof(*out));
	out->kind = kinds[d->kind];
	if (d->keyword == NULL)
		return 0;
	out->keyword = d->keyword;
	out->args = d->argv;
	out->nargs = d->argc;
	out->raw = d->raw != NULL ? d->raw : "";
	out->file = cfg->files[d->file];
	out->line = d->line;
	return 0;
}

int
sshconf_split(const char *line, struct sshconf_words *w, const char **why)
{
	struct tokens t;
	int r;

	*why = NULL;
	if ((r = tokenise(line, &t, why)) <= 0)
		return r;
	w->keyword = t.keyword;
	w->args = t.argv;
	w->nargs = t.argc;
	w->raw = t.raw;
	return 1;
}

void
sshconf_words_free(struct sshconf_words *w)
{
	struct tokens t;

	t.keyword = w->keyword;
	t.argv = w->args;
	t.argc = w->nargs;
	t.raw = w->raw;
	tokens_free(&t);
	memset(w, 0, sizeof(*w));
}

/* ---- resolving ------------------------------------------------------------ */

struct block {
	int active;	/* options apply */
	int never;	/* inside an Include from a non-matching block */
};

/* 1 if a Host line applies to name; *literal when it names it exactly. */
static int
host_line_matches(const struct directive *d, const char *name, int *literal)
{
	const char *p;
	size_t i;
	int pos = 0, lit = 0;

	for (i = 0; i < d->argc; i++) {
		p = d->argv[i];
		if (*p == '!') {
			if (glob_match(name, p + 1))
				return 0;
			continue;
		}
		if (glob_match(name, p)) {
			pos = 1;
			if (!is_pattern(p))
				lit = 1;
		}
	}
	if (pos && lit)
		*literal = 1;
	return pos;
}

/* HostName's %h and %%; any other %-sequence is kept as written. */
static char *
expand_hostname(const char *tmpl, const char *name)
{
	size_t n = 0, nl = strlen(name);
	const char *p;
	char *out, *o;

	for (p = tmpl; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'h') {
			n += nl;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			n++;
			p++;
		} else
			n++;
	}
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (o = out, p = tmpl; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'h') {
			memcpy(o, name, nl);
			o += nl;
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			*o++ = '%';
			p++;
		} else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

static const struct alias *
find_alias(const struct sshconf *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nalias; i++)
		if (strcmp(cfg->alias[i].name, name) == 0)
			return &cfg->alias[i];
	return NULL;
}

static char *
dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

int
sshconf_resolve(const struct sshconf *cfg, const char *name,
    struct sshconf_host *out)
{
	const struct directive *got[O_COUNT];
	struct block cur = { 1, 0 }, stack[SSHCONF_MAX_DEPTH + 2];
	const struct directive *d;
	const struct alias *a;
	struct sshconf_host h;
	size_t i, sp = 0;
	int literal = 0, fail = 0;

	if (*name == '\0')
		return PROTO_ERR_ARG;
	memset(got, 0, sizeof(got));
	for (i = 0; i < cfg->ndir; i++) {
		d = &cfg->dir[i];
		switch (d->kind) {
		case D_FILE:
			cur.active = 1;
			cur.never = 0;
			sp = 0;
			break;
		case D_PUSH:
			/* Loading caps nesting, so the stack cannot overflow. */
			if (sp < sizeof(stack) / sizeof(stack[0]))
				stack[sp++] = cur;
			cur.never |= !cur.active;
			break;
		case D_POP:
			if (sp > 0)
				cur = stack[--sp];
			break;
		case D_HOST:
			cur.active = !cur.never &&
			    host_line_matches(d, name, &literal);
			break;
		case D_MATCH:
			cur.active = !cur.never && d->match_all;
			break;
		case D_OPT:
			if (cur.active && got[d->opt] == NULL)
				got[d->opt] = d;
			break;
		}
	}

	memset(&h, 0, sizeof(h));
	h.alias = dup_or_null(name, &fail);
	if (got[O_HOSTNAME] != NULL) {
		if ((h.hostname = expand_hostname(got[O_HOSTNAME]->sval,
		    name)) == NULL)
			fail = 1;
	} else
		h.hostname = dup_or_null(name, &fail);
	h.user = dup_or_null(got[O_USER] != NULL ? got[O_USER]->sval :
	    cfg->local_user, &fail);
	h.port = got[O_PORT] != NULL ? got[O_PORT]->ival : 22;
	if (got[O_PROXYJUMP] != NULL)
		h.proxyjump = dup_or_null(got[O_PROXYJUMP]->sval, &fail);
	if (got[O_IDENTITYFILE] != NULL)
		h.identityfile = dup_or_null(got[O_IDENTITYFILE]->sval, &fail);
	if (got[O_KNOWNHOSTS] != NULL)
		h.known_hosts = dup_or_null(got[O_KNOWNHOSTS]->sval, &fail);
	if (got[O_STRICT] != NULL)
		h.strict_host_key_checking = dup_or_null(got[O_STRICT]->sval,
		    &fail);
	h.server_alive_interval = got[O_ALIVE] != NULL ? got[O_ALIVE]->ival : -1;
	h.connect_timeout = got[O_TIMEOUT] != NULL ? got[O_TIMEOUT]->ival : -1;
	if (got[O_HOSTKEYALIAS] != NULL)
		h.host_key_alias = dup_or_null(got[O_HOSTKEYALIAS]->sval, &fail);
	h.hash_known_hosts = got[O_HASHKNOWNHOSTS] != NULL ?
	    got[O_HASHKNOWNHOSTS]->ival : -1;
	if (got[O_REVOKEDHOSTKEYS] != NULL)
		h.revoked_host_keys = dup_or_null(got[O_REVOKEDHOSTKEYS]->sval,
		    &fail);
	if (got[O_HOSTKEYALGS] != NULL)
		h.host_key_algorithms = dup_or_null(got[O_HOSTKEYALGS]->sval,
		    &fail);
	h.matched = literal;
	if ((a = find_alias(cfg, name)) != NULL) {
		h.source_file = dup_or_null(cfg->files[a->file], &fail);
		h.line = a->line;
	}
	if (fail) {
		sshconf_host_clear(&h);
		return PROTO_ERR_NOMEM;
	}
	*out = h;
	return 0;
}

void
sshconf_host_clear(struct sshconf_host *h)
{
	free(h->alias);
	free(h->hostname);
	free(h->user);
	free(h->proxyjump);
	free(h->identityfile);
	free(h->known_hosts);
	free(h->strict_host_key_checking);
	free(h->host_key_alias);
	free(h->revoked_host_keys);
	free(h->host_key_algorithms);
	free(h->source_file);
	memset(h, 0, sizeof(*h));
}

void
sshconf_hosts_free(struct sshconf_host *hosts, size_t n)
{
	size_t i;

	if (hosts == NULL)
		return;
	for (i = 0; i < n; i++)
		sshconf_host_clear(&hosts[i]);
	free(hosts);
}

int
sshconf_list(const struct sshconf *cfg, struct sshconf_host **hosts, size_t *n)
{
	struct sshconf_host *h;
	size_t i;
	int r;

	if (cfg->nalias == 0) {
		*hosts = NULL;
		*n = 0;
		return 0;
	}
	if ((h = calloc(cfg->nalias, sizeof(*h))) == NULL)
		return PROTO_ERR_NOMEM;
	for (i = 0; i < cfg->nalias; i++) {
		if ((r = sshconf_resolve(cfg, cfg->alias[i].name, &h[i])) != 0) {
			sshconf_hosts_free(h, i);
			return r;
		}
	}
	*hosts = h;
	*n = cfg->nalias;
	return 0;
}

static int
add_string_or_null(cJSON *o, const char *key, const char *v)
{
	if (v == NULL)
		return cJSON_AddNullToObject(o, key) != NULL;
	return cJSON_AddStringToObject(o, key, v) != NULL;
}

int
sshconf_list_json(const struct sshconf *cfg, struct cJSON **out)
{
	struct sshconf_host *hosts = NULL;
	cJSON *arr = NULL, *o;
	size_t i, n = 0;
	int r;

	if ((r = sshconf_list(cfg, &hosts, &n)) != 0)
		return r;
	r = PROTO_ERR_NOMEM;
	if ((arr = cJSON_CreateArray()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if ((o = cJSON_CreateObject()) == NULL)
			goto out;
		if (!cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			goto out;
		}
		if (!add_string_or_null(o, "alias", hosts[i].alias) ||
		    !add_string_or_null(o, "user", hosts[i].user) ||
		    !add_string_or_null(o, "hostname", hosts[i].hostname) ||
		    cJSON_AddNumberToObject(o, "port", hosts[i].port) == NULL ||
		    !add_string_or_null(o, "proxyjump", hosts[i].proxyjump) ||
		    !add_string_or_null(o, "identityfile",
		    hosts[i].identityfile) ||
		    !add_string_or_null(o, "source_file", hosts[i].source_file) ||
		    cJSON_AddNumberToObject(o, "line", hosts[i].line) == NULL)
			goto out;
	}
	*out = arr;
	arr = NULL;
	r = 0;
 out:
	cJSON_Delete(arr);
	sshconf_hosts_free(hosts, n);
	return r;
}

/* ---- suggestions ---------------------------------------------------------- */

size_t
sshconf_distance(const char *a, const char *b, size_t limit)
{
	/* Three rows of the optimal-string-alignment table. */
	size_t rows[3][MAX_NAME + 1], *pp, *prev, *cur, *tmp;
	size_t la = strlen(a), lb = strlen(b), i, j, cost, v, best;
	int ca, cb;

	if (la > MAX_NAME || lb > MAX_NAME)
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	pp = rows[0];
	prev = rows[1];
	cur = rows[2];
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		best = cur[0];
		ca = tolower((unsigned char)a[i - 1]);
		for (j = 1; j <= lb; j++) {
			cb = tolower((unsigned char)b[j - 1]);
			cost = ca != cb;
			v = prev[j - 1] + cost;
			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 &&
			    ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb &&
			    pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
			if (v < best)
				best = v;
		}
		/* Every later row is at least this row's minimum. */
		if (best > limit)
			return limit + 1;
		tmp = pp;
		pp = prev;
		prev = cur;
		cur = tmp;
	}
	return prev[lb] > limit ? limit + 1 : prev[lb];
}

static int
prefix_ci(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
			return 0;
	return 1;
}

size_t
sshconf_suggest(const struct sshconf *cfg, const char *name, const char **out,
    size_t n)
{
	size_t score[16], *sc = score;
	size_t i, j, k, last, found = 0, len = strlen(name), limit, d, alen;
	size_t best;
	const char *a;

	if (n == 0)
		return 0;
	limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	if (n > sizeof(score) / sizeof(score[0]) &&
	    (sc = calloc(n, sizeof(*sc))) == NULL) {
		/* Fewer suggestions are still suggestions. */
		n = sizeof(score) / sizeof(score[0]);
		sc = score;
	}
	for (i = 0; i < cfg->nalias; i++) {
		a = cfg->alias[i].name;
		if (strcmp(a, name) == 0)
			continue;
		alen = strlen(a);
		best = SIZE_MAX;
		d = sshconf_distance(name, a, limit);
		/* "a" is no typo of "b": an edit has to leave something. */
		if (d <= limit && d < (alen > len ? alen : len))
			best = d;
		if (len >= 2 && alen > len && prefix_ci(a, name) && best > 1)
			best = 1;
		if (best == SIZE_MAX)
			continue;
		/* After equal scores, so that ties keep file order. */
		for (k = found; k > 0 && sc[k - 1] > best; k--)
			;
		if (k >= n)
			continue;
		last = found < n ? found : n - 1;
		for (j = last; j > k; j--) {
			sc[j] = sc[j - 1];
			out[j] = out[j - 1];
		}
		sc[k] = best;
		out[k] = a;
		if (found < n)
			found++;
	}
	if (sc != score)
		free(sc);
	return found;
}
