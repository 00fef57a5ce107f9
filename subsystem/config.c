#include "cxs_config.h"

#include <ctype.h>
#include <errno.h>
#ifndef CXS_STATIC
#include <pwd.h>
#endif
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "proto/frame.h"
#include "subsystem/config.h"
#include "subsystem/log.h"

void
sconf_init(struct sconf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->backends[0].name, sizeof(c->backends[0].name), "app-server");
	c->backends[0].command = strdup("codex app-server");
	snprintf(c->backends[1].name, sizeof(c->backends[1].name), "exec-server");
	c->backends[1].command = strdup("codex exec-server --listen stdio");
	c->nbackends = 2;
	snprintf(c->default_backend, sizeof(c->default_backend), "app-server");
	c->login_shell = 1;
	c->daemon = 1;
	c->journal_memory = 8u << 20;
	c->journal_disk = 1ull << 30;
	c->detach_timeout = 30 * 60;
	c->idle_timeout = 10 * 60;
	c->max_message = FRAME_DEFAULT_MAX_MESSAGE;
	c->log_level = LOGL_INFO;
	c->log_max = 1u << 20;
}

void
sconf_free(struct sconf *c)
{
	int i;

	for (i = 0; i < c->nbackends; i++)
		free(c->backends[i].command);
	for (i = 0; i < c->nsetenv; i++)
		free(c->setenv[i]);
	free(c->runtime_dir);
	free(c->journal_dir);
	free(c->log_file);
	memset(c, 0, sizeof(*c));
}

/*
 * A number with an optional one-letter unit from units ("s1 m60 …": letter, then
 * its multiplier), case-insensitive; extra is a suffix also allowed after the
 * unit ("B", "iB" for sizes). Returns the value, or -1 if invalid or over max.
 */
struct unit {
	char letter;
	long long mul;
};

static long long
parse_scaled(const char *s, const struct unit *units, int with_bytes,
    long long max)
{
	char *end;
	long long v, mul = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end != '\0') {
		for (; units->letter != '\0'; units++)
			if (toupper((unsigned char)*end) == units->letter)
				break;
		if (units->letter == '\0')
			return -1;
		mul = units->mul;
		end++;
		if (with_bytes && (strcasecmp(end, "B") == 0 || strcasecmp(end, "iB") == 0))
			end += strlen(end);
		if (*end != '\0')
			return -1;
	}
	if (v > LLONG_MAX / mul || v * mul > max)
		return -1;
	return v * mul;
}

long long
sconf_parse_duration(const char *s)
{
	static const struct unit units[] = {
		{ 'S', 1 }, { 'M', 60 }, { 'H', 3600 }, { 'D', 86400 }, { '\0', 0 }
	};

	return parse_scaled(s, units, 0, UINT_MAX);
}

long long
sconf_parse_size(const char *s)
{
	static const struct unit units[] = {
		{ 'K', 1ll << 10 }, { 'M', 1ll << 20 }, { 'G', 1ll << 30 },
		{ 'T', 1ll << 40 }, { '\0', 0 }
	};

	return parse_scaled(s, units, 1, LLONG_MAX);
}

static int
parse_bool(const char *s)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		return 1;
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0)
		return 0;
	return -1;
}

const char *
sconf_user(void)
{
	const char *v = getenv("USER");

	if (v == NULL || *v == '\0')
		v = getenv("LOGNAME");
	if (v != NULL && *v != '\0')
		return v;
#ifndef CXS_STATIC
	{
		struct passwd *pw = getpwuid(getuid());

		if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
			return pw->pw_name;
	}
#endif
	return NULL;
}

const char *
sconf_home(void)
{
	const char *v = getenv("HOME");

	if (v != NULL && v[0] == '/')
		return v;
#ifndef CXS_STATIC
	{
		struct passwd *pw = getpwuid(getuid());

		if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/')
			return pw->pw_dir;
	}
#endif
	return NULL;
}

/*
 * Expands %i (uid), %u (user name), %h (home) and %% in a path, so one system-wide
 * file can give every user their own directories. Returns NULL with *why set.
 */
static char *
expand_path(const char *v, const char **why)
{
	char out[4096], tmp[64], *r;
	const char *add;
	size_t n = 0, l;

	for (; *v != '\0'; v++) {
		if (*v != '%' || v[1] == '\0') {
			if (n + 1 >= sizeof(out))
				goto toolong;
			out[n++] = *v;
			continue;
		}
		v++;
		switch (*v) {
		case 'i':
			snprintf(tmp, sizeof(tmp), "%lu", (unsigned long)getuid());
			add = tmp;
			break;
		case 'u':
			if ((add = sconf_user()) == NULL) {
				*why = "%u needs $USER or $LOGNAME, and neither is set";
				return NULL;
			}
			break;
		case 'h':
			if ((add = sconf_home()) == NULL) {
				*why = "%h needs $HOME (an absolute path), and it is not set";
				return NULL;
			}
			break;
		case '%':
			add = "%";
			break;
		default:
			*why = "bad %-token (known: %i uid, %u user, %h home, %%)";
			return NULL;
		}
		l = strlen(add);
		if (n + l >= sizeof(out))
			goto toolong;
		memcpy(out + n, add, l);
		n += l;
	}
	out[n] = '\0';
	if ((r = strdup(out)) == NULL)
		*why = "out of memory";
	return r;
toolong:
	*why = "path too long";
	return NULL;
}

/* Sets *dst to v expanded, which must be absolute (%h/... too) or, if allowed, "none". */
static const char *
set_path(char **dst, const char *v, int none_ok)
{
	const char *why = NULL;
	char *n;

	if (none_ok && strcmp(v, "none") == 0)
		n = strdup(v);
	else
		n = expand_path(v, &why);
	if (n == NULL)
		return why != NULL ? why : "out of memory";
	if (n[0] != '/' && !(none_ok && strcmp(n, "none") == 0)) {
		free(n);
		return none_ok ? "expected an absolute path or none" :
		    "expected an absolute path";
	}
	free(*dst);
	*dst = n;
	return NULL;
}

static int
set_str(char **dst, const char *v)
{
	char *n = strdup(v);

	if (n == NULL)
		return -1;
	free(*dst);
	*dst = n;
	return 0;
}

/* Strips one pair of surrounding double quotes in place. */
static char *
unquote(char *v)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v[n - 1] = '\0';
		return v + 1;
	}
	return v;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= 64)
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return 0;
	return 1;
}

/* Applies one "keyword value" pair; returns NULL or a static complaint. */
static const char *
apply(struct sconf *c, const char *kw, char *val)
{
	long long n;
	int b, i;

	if (strcasecmp(kw, "Backend") == 0) {
		char *sp = val + strcspn(val, " \t");
		char *cmd;

		if (*sp == '\0')
			return "Backend needs a name and a command";
		*sp++ = '\0';
		cmd = unquote(sp + strspn(sp, " \t"));
		if (!valid_name(val))
			return "bad backend name (letters, digits, '-', '_', '.')";
		if (*cmd == '\0')
			return "Backend needs a command";
		for (i = 0; i < c->nbackends; i++)
			if (strcmp(c->backends[i].name, val) == 0)
				break;
		if (i == c->nbackends) {
			if (c->nbackends == SCONF_MAX_BACKENDS)
				return "too many backends";
			snprintf(c->backends[i].name, sizeof(c->backends[i].name),
			    "%s", val);
			c->nbackends++;
		}
		return set_str(&c->backends[i].command, cmd) ? "out of memory" : NULL;
	}
	val = unquote(val);
	if (strcasecmp(kw, "DefaultBackend") == 0) {
		if (!valid_name(val))
			return "bad backend name";
		snprintf(c->default_backend, sizeof(c->default_backend), "%s", val);
	} else if (strcasecmp(kw, "SetEnv") == 0) {
		char *eq = strchr(val, '=');

		if (eq == NULL || eq == val)
			return "SetEnv needs KEY=VALUE";
		if (c->nsetenv == SCONF_MAX_SETENV)
			return "too many SetEnv lines";
		if ((c->setenv[c->nsetenv] = strdup(val)) == NULL)
			return "out of memory";
		c->nsetenv++;
	} else if (strcasecmp(kw, "LoginShell") == 0) {
		if ((b = parse_bool(val)) < 0)
			return "expected yes or no";
		c->login_shell = b;
	} else if (strcasecmp(kw, "Daemon") == 0) {
		if ((b = parse_bool(val)) < 0)
			return "expected yes or no";
		c->daemon = b;
	} else if (strcasecmp(kw, "JournalMemory") == 0) {
		if ((n = sconf_parse_size(val)) < 4096 || (unsigned long long)n > SIZE_MAX / 2)
			return "expected a size of at least 4K (e.g. 8M)";
		c->journal_memory = (size_t)n;
	} else if (strcasecmp(kw, "JournalDisk") == 0) {
		if ((n = sconf_parse_size(val)) < 0)
			return "expected a size (e.g. 1G, or 0 for none)";
		c->journal_disk = (uint64_t)n;
	} else if (strcasecmp(kw, "MaxMessage") == 0) {
		if ((n = sconf_parse_size(val)) < 65536 || n > (1ll << 31))
			return "expected a size between 64K and 2G";
		c->max_message = (size_t)n;
	} else if (strcasecmp(kw, "DetachTimeout") == 0) {
		if ((n = sconf_parse_duration(val)) < 0)
			return "expected a duration (e.g. 30m)";
		c->detach_timeout = (unsigned)n;
	} else if (strcasecmp(kw, "IdleTimeout") == 0) {
		if ((n = sconf_parse_duration(val)) < 0)
			return "expected a duration (e.g. 10m)";
		c->idle_timeout = (unsigned)n;
	} else if (strcasecmp(kw, "RuntimeDir") == 0) {
		return set_path(&c->runtime_dir, val, 0);
	} else if (strcasecmp(kw, "JournalDir") == 0) {
		return set_path(&c->journal_dir, val, 0);
	} else if (strcasecmp(kw, "LogFile") == 0) {
		return set_path(&c->log_file, val, 1);
	} else if (strcasecmp(kw, "LogLevel") == 0) {
		if ((b = log_level_parse(val)) < 0)
			return "expected ERROR, INFO, VERBOSE or DEBUG";
		c->log_level = b;
	} else if (strcasecmp(kw, "LogMax") == 0) {
		if ((n = sconf_parse_size(val)) < 4096)
			return "expected a size of at least 4K";
		c->log_max = (uint64_t)n;
	} else
		return "unknown keyword";
	return NULL;
}

/* Applies one line (NUL-terminated, without its newline); 0, or -1 with err. */
static int
load_line(struct sconf *c, const char *name, int lineno, char *line,
    char *err, size_t errlen)
{
	char *p, *kw, *val, *end;
	const char *why;

	p = line + strspn(line, " \t");
	end = p + strlen(p);
	while (end > p && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (*p == '\0' || *p == '#')
		return 0;
	kw = p;
	p += strcspn(p, " \t=");
	if (*p == '\0') {
		snprintf(err, errlen, "%s line %d: %s has no value", name, lineno, kw);
		return -1;
	}
	*p++ = '\0';
	val = p + strspn(p, " \t=");
	if (*val == '\0') {
		snprintf(err, errlen, "%s line %d: %s has no value", name, lineno, kw);
		return -1;
	}
	if ((why = apply(c, kw, val)) != NULL) {
		snprintf(err, errlen, "%s line %d: %s: %s", name, lineno, kw, why);
		return -1;
	}
	return 0;
}

int
sconf_load_buf(struct sconf *c, const char *name, const char *data, size_t len,
    char *err, size_t errlen)
{
	char line[SCONF_MAX_LINE + 1];
	const char *p = data, *nl;
	size_t n;
	int lineno = 0;

	while (p < data + len) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(data + len - p))) == NULL)
			nl = data + len;
		n = (size_t)(nl - p);
		if (n > SCONF_MAX_LINE) {
			snprintf(err, errlen, "%s line %d: line too long", name, lineno);
			return -1;
		}
		/* A NUL would hide the rest of the line from every check. */
		if (memchr(p, '\0', n) != NULL) {
			snprintf(err, errlen, "%s line %d: a NUL byte in the line", name,
			    lineno);
			return -1;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if (load_line(c, name, lineno, line, err, errlen) != 0)
			return -1;
		p = nl + 1;
	}
	return 0;
}

int
sconf_load_file(struct sconf *c, const char *path, int required,
    char *err, size_t errlen)
{
	FILE *f;
	char *data;
	size_t len = 0, got;
	int r = -1;

	if ((f = fopen(path, "r")) == NULL) {
		if (!required && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* One byte more than allowed tells a file that is too large. */
	if ((data = malloc(SCONF_MAX_FILE + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while (len <= SCONF_MAX_FILE &&
	    (got = fread(data + len, 1, SCONF_MAX_FILE + 1 - len, f)) > 0)
		len += got;
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (len > SCONF_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path, SCONF_MAX_FILE);
		goto out;
	}
	r = sconf_load_buf(c, path, data, len, err, errlen);
out:
	free(data);
	fclose(f);
	return r;
}

int
sconf_load(struct sconf *c, const char *path, char *err, size_t errlen)
{
	const char *env = getenv("CODEX_SSH_SUBSYSTEM_CONFIG");
	const char *home = sconf_home();
	char user[4096];

	if (path != NULL)
		return sconf_load_file(c, path, 1, err, errlen);
	if (env != NULL && *env != '\0')
		return sconf_load_file(c, env, 1, err, errlen);
	if (sconf_load_file(c, "/etc/codex-ssh/subsystem.conf", 0, err, errlen) != 0)
		return -1;
	if (home != NULL && *home == '/') {
		snprintf(user, sizeof(user), "%s/.codex/ssh/subsystem.conf", home);
		if (sconf_load_file(c, user, 0, err, errlen) != 0)
			return -1;
	}
	return 0;
}

const struct sconf_backend *
sconf_backend(const struct sconf *c, const char *name)
{
	int i;

	if (name == NULL || *name == '\0')
		name = c->default_backend;
	for (i = 0; i < c->nbackends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}

/* One field of the digest: a tag, then the value's bytes and a terminator. */
static void
digest_field(crypto_hash_sha256_state *st, const char *tag, const void *v,
    size_t len)
{
	static const unsigned char nul = 0;

	crypto_hash_sha256_update(st, (const unsigned char *)tag, strlen(tag) + 1);
	crypto_hash_sha256_update(st, v, len);
	crypto_hash_sha256_update(st, &nul, 1);
}

static void
digest_str(crypto_hash_sha256_state *st, const char *tag, const char *s)
{
	digest_field(st, tag, s != NULL ? s : "\001unset", strlen(s != NULL ? s :
	    "\001unset"));
}

static void
digest_num(crypto_hash_sha256_state *st, const char *tag, unsigned long long v)
{
	char t[32];

	snprintf(t, sizeof(t), "%llu", v);
	digest_str(st, tag, t);
}

void
sconf_digest(const struct sconf *c, unsigned char out[32])
{
	crypto_hash_sha256_state st;
	int i;

	crypto_hash_sha256_init(&st);
	for (i = 0; i < c->nbackends; i++) {
		digest_str(&st, "backend", c->backends[i].name);
		digest_str(&st, "command", c->backends[i].command);
	}
	digest_str(&st, "default", c->default_backend);
	for (i = 0; i < c->nsetenv; i++)
		digest_str(&st, "setenv", c->setenv[i]);
	digest_num(&st, "login_shell", (unsigned long long)c->login_shell);
	digest_num(&st, "daemon", (unsigned long long)c->daemon);
	digest_num(&st, "journal_memory", c->journal_memory);
	digest_num(&st, "journal_disk", c->journal_disk);
	digest_num(&st, "detach_timeout", c->detach_timeout);
	digest_num(&st, "idle_timeout", c->idle_timeout);
	digest_num(&st, "max_message", c->max_message);
	digest_str(&st, "runtime_dir", c->runtime_dir);
	digest_str(&st, "journal_dir", c->journal_dir);
	digest_str(&st, "log_file", c->log_file);
	digest_num(&st, "log_level", (unsigned long long)c->log_level);
	digest_num(&st, "log_max", c->log_max);
	crypto_hash_sha256_final(&st, out);
}
