/*
 * hostkey.c - the server's host key against known_hosts, with
 * StrictHostKeyChecking as ssh(1) applies it (accept-new included, which
 * libssh 0.10 does not know), and messages that say which file and line
 * disagree and how to fix it.
 *
 * The known_hosts files are read here (client/knownhosts.c, with the keys
 * read by libssh) rather than by libssh: libssh 0.10 skips @revoked and
 * @cert-authority lines and knows neither HostKeyAlias nor HashKnownHosts. One
 * reader decides everything (verdict, offending line, revocation), so the
 * answers cannot disagree with each other.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <sodium.h>

#include "client/hostcert.h"
#include "client/hostkey.h"
#include "client/knownhosts.h"
#include "client/sshconf.h"
#include "client/prompt.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"

#define KRL_MAGIC		"SSHKRL\n"	/* and a NUL: 8 bytes */
#define NAME_BUF		(HOSTKEY_MAX_NAME + 1)

/* libssh 0.10's default HostKeyAlgorithms, the base of the alias ordering. */
#define LIBSSH_HOSTKEYS \
	"ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384," \
	"ecdsa-sha2-nistp256,sk-ssh-ed25519@openssh.com," \
	"sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256"

/* ---- the host key keywords ----------------------------------------------- */

void
hostkey_conf_init(struct hostkey_conf *hc)
{
	hc->alias = NULL;
	hc->hash = -1;
	hc->revoked = NULL;
}

void
hostkey_conf_clear(struct hostkey_conf *hc)
{
	free(hc->alias);
	free(hc->revoked);
	hostkey_conf_init(hc);
}

int
hostkey_conf_set(struct hostkey_conf *hc, const char *keyword,
    const char *value, char *err, size_t errlen)
{
	char *v;
	size_t i;

	if (strcasecmp(keyword, "HashKnownHosts") == 0) {
		int yes;

		if (strcasecmp(value, "yes") == 0 ||
		    strcasecmp(value, "true") == 0)
			yes = 1;
		else if (strcasecmp(value, "no") == 0 ||
		    strcasecmp(value, "false") == 0)
			yes = 0;
		else {
			errf(err, errlen, "bad value for HashKnownHosts: '%s' "
			    "(yes or no)", value);
			return SSHCONN_ERR_ARG;
		}
		if (hc != NULL && hc->hash == -1)
			hc->hash = yes;
		return 0;
	}
	if (strcasecmp(keyword, "HostKeyAlias") == 0) {
		if (*value == '\0' || strlen(value) > HOSTKEY_MAX_NAME ||
		    strpbrk(value, " \t\r\n") != NULL) {
			errf(err, errlen, "bad value for HostKeyAlias: '%s'",
			    value);
			return SSHCONN_ERR_ARG;
		}
		if (hc == NULL || hc->alias != NULL)
			return 0;
		if ((v = strdup(value)) == NULL)
			return SSHCONN_ERR_NOMEM;
		for (i = 0; v[i] != '\0'; i++)
			v[i] = (char)tolower((unsigned char)v[i]);
		hc->alias = v;
		return 0;
	}
	if (strcasecmp(keyword, "RevokedHostKeys") == 0) {
		if (*value == '\0' || strlen(value) >= PATH_MAX) {
			errf(err, errlen, "bad value for RevokedHostKeys: '%s'",
			    value);
			return SSHCONN_ERR_ARG;
		}
		if (hc == NULL || hc->revoked != NULL)
			return 0;
		if ((hc->revoked = strdup(value)) == NULL)
			return SSHCONN_ERR_NOMEM;
		return 0;
	}
	return 1;
}

int
hostkey_conf_option(struct hostkey_conf *hc, const char *opt, char *err,
    size_t errlen)
{
	char key[32], val[PATH_MAX + 8];
	const char *p = opt, *vs;
	size_t kl, vl;

	while (isspace((unsigned char)*p))
		p++;
	kl = strcspn(p, " \t=");
	if (kl == 0 || kl >= sizeof(key))
		return 1;
	memcpy(key, p, kl);
	key[kl] = '\0';
	if (strcasecmp(key, "HostKeyAlias") != 0 &&
	    strcasecmp(key, "HashKnownHosts") != 0 &&
	    strcasecmp(key, "RevokedHostKeys") != 0)
		return 1;
	vs = p + kl;
	while (isspace((unsigned char)*vs))
		vs++;
	if (*vs == '=')
		vs++;
	while (isspace((unsigned char)*vs))
		vs++;
	vl = strlen(vs);
	while (vl > 0 && isspace((unsigned char)vs[vl - 1]))
		vl--;
	if (vl >= 2 && vs[0] == '"' && vs[vl - 1] == '"') {
		vs++;
		vl -= 2;
	}
	if (vl >= sizeof(val)) {
		errf(err, errlen, "-o %s: value too long", key);
		return SSHCONN_ERR_ARG;
	}
	memcpy(val, vs, vl);
	val[vl] = '\0';
	if (vl == 0) {
		errf(err, errlen, "-o %s needs a value", key);
		return SSHCONN_ERR_ARG;
	}
	return hostkey_conf_set(hc, key, val, err, errlen);
}

/* ---- names --------------------------------------------------------------- */

/* The names ssh(1) shows for key types. */
static const char *
key_type_name(const ssh_key key)
{
	enum ssh_keytypes_e t = ssh_key_type(key);

	switch (t) {
	case SSH_KEYTYPE_ED25519:
		return "ED25519";
	case SSH_KEYTYPE_ECDSA:
	case SSH_KEYTYPE_ECDSA_P256:
	case SSH_KEYTYPE_ECDSA_P384:
	case SSH_KEYTYPE_ECDSA_P521:
		return "ECDSA";
	case SSH_KEYTYPE_RSA:
	case SSH_KEYTYPE_RSA1:
		return "RSA";
	case SSH_KEYTYPE_DSS:
		return "DSA";
	case SSH_KEYTYPE_SK_ED25519:
		return "ED25519-SK";
	case SSH_KEYTYPE_SK_ECDSA:
		return "ECDSA-SK";
	default:
		break;
	}
	return ssh_key_type_to_char(t) != NULL ? ssh_key_type_to_char(t) : "unknown";
}

/* The name known_hosts knows the host by: HostKeyAlias (lowercased when it
 * was set), else "host" or "[host]:port", lowercased as ssh(1) does. */
static void
lookup_name(struct ctx *x, char name[NAME_BUF])
{
	const char *src = x->hk.alias != NULL ? x->hk.alias : x->hostport;
	size_t i;

	for (i = 0; src[i] != '\0' && i < NAME_BUF - 1; i++)
		name[i] = (char)tolower((unsigned char)src[i]);
	name[i] = '\0';
}

/* ---- reading known_hosts ------------------------------------------------- */

/* One line of a known_hosts file that names the host, with its key. */
struct kh_entry {
	const char *file;
	int line;
	enum knownhosts_marker marker;
	ssh_key key;
};

typedef void (*kh_fn)(const struct kh_entry *e, void *arg);

/* A public key as "TYPE BASE64"; NULL when libssh cannot read it. */
static ssh_key
parse_key(const char *type, const char *b64)
{
	enum ssh_keytypes_e t = ssh_key_type_from_name(type);
	ssh_key k = NULL;

	if (t == SSH_KEYTYPE_UNKNOWN ||
	    ssh_pki_import_pubkey_base64(b64, t, &k) != SSH_OK) {
		ssh_key_free(k);
		return NULL;
	}
	return k;
}

struct kh_walk {
	kh_fn fn;
	void *arg;
};

/* Hands the lines whose key libssh can read on; the others are skipped, as
 * ssh(1) skips them. */
static void
kh_key(const struct knownhosts_entry *ke, void *arg)
{
	const struct kh_walk *w = arg;
	struct kh_entry e;

	if ((e.key = parse_key(ke->type, ke->b64)) == NULL)
		return;
	e.file = ke->file;
	e.line = ke->line;
	e.marker = ke->marker;
	w->fn(&e, w->arg);
	ssh_key_free(e.key);
}

/*
 * Calls fn for every line of file whose host field names name (lowercase)
 * and whose key libssh can read. Returns 0 (also when the file does not
 * exist), or -1 with errno set when it cannot be read.
 */
static int
kh_foreach(const char *file, const char *name, kh_fn fn, void *arg)
{
	struct kh_walk w = { fn, arg };

	return knownhosts_foreach(file, name, kh_key, &w);
}

/* ---- the verdict --------------------------------------------------------- */

/* The first line of one kind, for messages; line 0: none. */
struct where {
	const char *file;
	int line;
	const char *type;	/* the recorded key's type */
};

struct verdict {
	ssh_key key;		/* the host's */
	struct where revoked;	/* @revoked, this key */
	struct where ok;	/* this key */
	struct where changed;	/* another key of this type */
	struct where other;	/* a key of another type */
	struct where ca;	/* any @cert-authority line */
};

static void
note(struct where *w, const struct kh_entry *e)
{
	if (w->line != 0)
		return;
	w->file = e->file;
	w->line = e->line;
	w->type = key_type_name(e->key);
}

static void
judge(const struct kh_entry *e, void *arg)
{
	struct verdict *v = arg;
	int same = ssh_key_cmp(e->key, v->key, SSH_KEY_CMP_PUBLIC) == 0;

	switch (e->marker) {
	case KNOWNHOSTS_REVOKED:
		if (same)
			note(&v->revoked, e);
		break;
	case KNOWNHOSTS_CA:
		note(&v->ca, e);
		break;
	case KNOWNHOSTS_PLAIN:
		if (same)
			note(&v->ok, e);
		else if (ssh_key_type(e->key) == ssh_key_type(v->key))
			note(&v->changed, e);
		else
			note(&v->other, e);
		break;
	}
}

/* The user's file first, as ssh(1) reads it first. */
static int
judge_files(struct ctx *x, const char *name, struct verdict *v)
{
	const char *files[2];
	size_t i;

	files[0] = x->known_hosts;
	files[1] = x->global_known_hosts;
	for (i = 0; i < 2; i++) {
		if (kh_foreach(files[i], name, judge, v) != 0) {
			errf(x->err, x->errlen, "host key verification failed: "
			    "cannot read %s: %s; refusing to connect", files[i],
			    strerror(errno));
			return SSHCONN_ERR_HOSTKEY;
		}
	}
	return 0;
}

/* ---- refusals ------------------------------------------------------------ */

static int
refuse_revoked(struct ctx *x, const char *name, const ssh_key key,
    const char *fp, const char *file, int line, int listed)
{
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@       WARNING: REVOKED HOST KEY DETECTED!               @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "The %s host key for %s is marked as revoked\n"
	    "(%s %s:%d).\n"
	    "This could mean that a stolen key is being used to\n"
	    "impersonate this host.\n"
	    "Key presented by the host: %s %s\n"
	    "Nothing was sent to the host.",
	    key_type_name(key), name, listed ? "listed in RevokedHostKeys" :
	    "@revoked line in", file, line, key_type_name(key), fp);
	errf(x->err, x->errlen, "host key verification failed: the host key "
	    "for %s was revoked (%s %s; %s %s:%d); refusing to connect", name,
	    key_type_name(key), fp, listed ? "listed in RevokedHostKeys" :
	    "@revoked line in", file, line);
	return SSHCONN_ERR_HOSTKEY;
}

static int
refuse_changed(struct ctx *x, const char *name, const ssh_key key,
    const char *fp, const struct where *w)
{
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "The %s host key that %s presented is not the one recorded for it.\n"
	    "Someone may be intercepting this connection (a man-in-the-middle\n"
	    "attack), or the host's key may have been replaced on purpose.\n"
	    "Key presented by the host: %s %s\n"
	    "Key on record:             %s key in %s:%d\n"
	    "Check the new fingerprint with the host's administrator. If the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    key_type_name(key), name, key_type_name(key), fp, w->type, w->file,
	    w->line, w->file, name);
	errf(x->err, x->errlen, "host key verification failed: the host key of "
	    "%s has changed (offending %s key in %s:%d); refusing to connect",
	    name, w->type, w->file, w->line);
	return SSHCONN_ERR_HOSTKEY;
}

static int
refuse_other(struct ctx *x, const char *name, const ssh_key key,
    const char *fp, const struct where *w)
{
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "%s presented a host key of type %s (%s), but the key on\n"
	    "record for it is of another type (%s key in %s:%d), and the host\n"
	    "no longer offers that type. This may be an attack, or the host's\n"
	    "configuration changed. Check with the host's administrator; if the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    name, key_type_name(key), fp, w->type, w->file, w->line, w->file,
	    name);
	errf(x->err, x->errlen, "host key verification failed: %s presented "
	    "a host key of type %s, but the key on record for it is of type %s "
	    "(%s:%d); refusing to connect", name, key_type_name(key), w->type,
	    w->file, w->line);
	return SSHCONN_ERR_HOSTKEY;
}

/* ---- RevokedHostKeys ----------------------------------------------------- */

/* ~ and ssh_config's %-tokens in a path. Returns 0, or SSHCONN_ERR_HOSTKEY
 * with a message. */
static int
expand_path(struct ctx *x, const char *in, char *out, size_t len)
{
	const char *p = in, *add;
	char num[24], one[2];
	size_t n = 0, al;

	out[0] = '\0';
	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		n = (size_t)snprintf(out, len, "%s", x->home);
		p++;
	}
	for (; *p != '\0' && n < len; p++) {
		if (*p != '%') {
			one[0] = *p;
			one[1] = '\0';
			add = one;
		} else {
			switch (*++p) {
			case '%':
				add = "%";
				break;
			case 'd':
				add = x->home;
				break;
			case 'u':
				add = x->local_user;
				break;
			case 'h':
				add = x->c->host;
				break;
			case 'n':
				add = x->tg.host;
				break;
			case 'r':
				add = x->c->user;
				break;
			case 'k':
				add = x->hk.alias != NULL ? x->hk.alias :
				    x->tg.host;
				break;
			case 'p':
				snprintf(num, sizeof(num), "%d", x->c->port);
				add = num;
				break;
			case 'i':
				snprintf(num, sizeof(num), "%lu",
				    (unsigned long)getuid());
				add = num;
				break;
			default:
				errf(x->err, x->errlen, "host key verification "
				    "failed: RevokedHostKeys %s: the token %%%c "
				    "is not supported here", in,
				    *p != '\0' ? *p : ' ');
				return SSHCONN_ERR_HOSTKEY;
			}
		}
		al = strlen(add);
		if (al >= len - n) {
			n = len;
			break;
		}
		memcpy(out + n, add, al + 1);
		n += al;
	}
	if (n >= len) {
		errf(x->err, x->errlen, "host key verification failed: "
		    "RevokedHostKeys %s: path too long", in);
		return SSHCONN_ERR_HOSTKEY;
	}
	return 0;
}

/*
 * The RevokedHostKeys file, as ssh(1)'s sshkey_check_revoked() reads a plain
 * list: one public key per line, blank lines and # comments. A line that is
 * not a key, or a file that cannot be read, refuses the connection as in
 * ssh(1); a binary KRL is refused too, since we cannot read it and must not
 * ignore it.
 */
static int
check_revoked_list(struct ctx *x, const char *name, const ssh_key key,
    const char *fp)
{
	char path[PATH_MAX], magic[8], *line = NULL, *p, *type, *b64;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	ssh_key k;
	int lineno = 0, rc = 0;

	if (x->hk.revoked == NULL || strcasecmp(x->hk.revoked, "none") == 0)
		return 0;
	if ((rc = expand_path(x, x->hk.revoked, path, sizeof(path))) != 0)
		return rc;
	if ((f = fopen(path, "re")) == NULL) {
		errf(x->err, x->errlen, "host key verification failed: cannot "
		    "read the RevokedHostKeys file %s: %s; refusing to connect",
		    path, strerror(errno));
		return SSHCONN_ERR_HOSTKEY;
	}
	if (fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
	    memcmp(magic, KRL_MAGIC, sizeof(magic)) == 0) {
		errf(x->err, x->errlen, "host key verification failed: the "
		    "RevokedHostKeys file %s is a binary key revocation list "
		    "(KRL), which codex-connect does not support; refusing to "
		    "connect rather than ignore it (list the revoked public keys "
		    "in a plain file instead, one per line)", path);
		rc = SSHCONN_ERR_HOSTKEY;
		goto out;
	}
	rewind(f);
	while (rc == 0 && (len = getline(&line, &cap, f)) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		if (len > KNOWNHOSTS_MAX_LINE || (type = knownhosts_word(&p)) == NULL ||
		    (b64 = knownhosts_word(&p)) == NULL ||
		    (k = parse_key(type, b64)) == NULL) {
			errf(x->err, x->errlen, "host key verification failed: "
			    "cannot check the host key of %s against the "
			    "RevokedHostKeys file: %s:%d is not a public key; "
			    "refusing to connect", name, path, lineno);
			rc = SSHCONN_ERR_HOSTKEY;
			break;
		}
		if (ssh_key_cmp(k, key, SSH_KEY_CMP_PUBLIC) == 0)
			rc = refuse_revoked(x, name, key, fp, path, lineno, 1);
		ssh_key_free(k);
	}
	if (rc == 0 && ferror(f)) {
		errf(x->err, x->errlen, "host key verification failed: cannot "
		    "read the RevokedHostKeys file %s: %s; refusing to connect",
		    path, strerror(errno));
		rc = SSHCONN_ERR_HOSTKEY;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

/* ---- recording a new host ------------------------------------------------ */

/* 1 when file is a non-empty regular file whose last byte is not a newline. */
static int
ends_without_newline(const char *file)
{
	struct stat st;
	char c;
	int fd, r = 0;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    pread(fd, &c, 1, st.st_size - 1) == 1 && c != '\n')
		r = 1;
	close(fd);
	return r;
}

static int
write_all(int fd, const char *s, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Appends "NAME TYPE BASE64" to the user's known_hosts, NAME hashed when
 * HashKnownHosts is yes, as ssh(1)'s add_host_to_hostfile() does (the
 * directory is created if missing, 0700). A failure is a warning: the key was
 * accepted for this connection all the same, as in ssh(1).
 */
static void
remember_host(struct ctx *x, const char *name, const ssh_key key,
    const char *fp)
{
	const char *file = x->known_hosts, *why = NULL;
	char *entry = NULL, *keypart, *line = NULL;
	char hashed[KNOWNHOSTS_HASHED_LEN + 1];
	char dir[PATH_MAX], *slash;
	uint8_t salt[KNOWNHOSTS_SALT_LEN];
	int fd = -1, nl;

	if (file == NULL) {
		why = "no UserKnownHostsFile";
		goto out;
	}
	/* libssh's own entry gives the key as ssh(1) writes it. */
	if (ssh_session_export_known_hosts_entry(x->c->session, &entry) !=
	    SSH_OK || (keypart = strchr(entry, ' ')) == NULL) {
		why = sess_error(x);
		goto out;
	}
	keypart++;
	keypart[strcspn(keypart, "\r\n")] = '\0';
	if (x->hk.hash == 1) {
		randombytes_buf(salt, sizeof(salt));
		if (knownhosts_hash(salt, name, hashed) != 0) {
			why = "the name is too long to hash";
			goto out;
		}
	}
	if (asprintf(&line, "%s %s\n", x->hk.hash == 1 ? hashed : name,
	    keypart) == -1) {
		line = NULL;
		why = "out of memory";
		goto out;
	}
	if ((size_t)snprintf(dir, sizeof(dir), "%s", file) < sizeof(dir) &&
	    (slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == 0)
			debugf(x, "Created directory '%s'.", dir);
	}
	nl = ends_without_newline(file);
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0666)) == -1 || (nl && write_all(fd, "\n", 1) != 0) ||
	    write_all(fd, line, strlen(line)) != 0) {
		why = strerror(errno);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		why = strerror(errno);
		goto out;
	}
	fd = -1;
	noticef(x, "Warning: Permanently added '%s' (%s %s) to the list of "
	    "known hosts in %s%s.", name, key_type_name(key), fp, file,
	    x->hk.hash == 1 ? " (hashed)" : "");
out:
	if (why != NULL)
		noticef(x, "Warning: could not add the host key of %s to %s: %s",
		    name, file != NULL ? file : "known_hosts", why);
	if (fd != -1)
		close(fd);
	free(line);
	ssh_string_free_char(entry);
}

/* ---- host certificates, fetched with ssh-keyscan ------------------------- */

#define KEYSCAN_TIMEOUT_MS	10000
#define KEYSCAN_MAX_OUT		(64 * 1024)
#define KEY_BLOB_MAX		4096
#define CERT_SUFFIX		"-cert-v01@openssh.com"

/* The public key blob of k (as on the wire), into buf; its length or 0. */
static size_t
key_blob(const ssh_key k, uint8_t *buf, size_t cap)
{
	char *b64 = NULL;
	size_t n = 0;

	if (ssh_pki_export_pubkey_base64(k, &b64) != SSH_OK ||
	    sodium_base642bin(buf, cap, b64, strlen(b64), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		n = 0;
	ssh_string_free_char(b64);
	return n;
}

/* "SHA256:..." of a key blob, as ssh-keygen -l prints it. */
static void
blob_fp(const uint8_t *blob, size_t len, char out[64])
{
	uint8_t h[crypto_hash_sha256_BYTES];
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];

	crypto_hash_sha256(h, blob, len);
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h),
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(out, 64, "SHA256:%s", b64);
}

/* ssh-keyscan: /usr/bin's, else the first on PATH (absolute entries only). */
static int
find_keyscan(char path[PATH_MAX])
{
	const char *p = getenv("PATH");
	size_t n;

	snprintf(path, PATH_MAX, "/usr/bin/ssh-keyscan");
	if (access(path, X_OK) == 0)
		return 0;
	while (p != NULL && *p != '\0') {
		n = strcspn(p, ":");
		if (n > 0 && p[0] == '/' && (size_t)snprintf(path, PATH_MAX,
		    "%.*s/ssh-keyscan", (int)n, p) < PATH_MAX &&
		    access(path, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -1;
}

/*
 * Runs "ssh-keyscan -c -T 5 [-4|-6] -p PORT -t TYPE HOST" without a shell and
 * collects its standard output (at most KEYSCAN_MAX_OUT bytes, within
 * KEYSCAN_TIMEOUT_MS: then it is killed). Returns 0 with *out (NUL-terminated,
 * the caller frees it), or -1 with the reason in why.
 */
static int
run_keyscan(struct ctx *x, const char *type, char **out, char *why,
    size_t whylen)
{
	char prog[PATH_MAX], port[16], tbuf[16], *buf = NULL, *argv[12];
	char a0[] = "ssh-keyscan", ac[] = "-c", aT[] = "-T", a5[] = "5";
	char a4[] = "-4", a6[] = "-6", ap[] = "-p", at[] = "-t";
	int p[2] = { -1, -1 }, nul, status, rc = -1, argc = 0, left;
	size_t len = 0;
	struct timespec t0, t1;
	struct pollfd pfd;
	pid_t pid = -1;
	ssize_t r;

	if (find_keyscan(prog) != 0) {
		snprintf(why, whylen, "ssh-keyscan, which fetches host "
		    "certificates for codex-connect, is not installed");
		return -1;
	}
	snprintf(port, sizeof(port), "%d", x->c->port);
	snprintf(tbuf, sizeof(tbuf), "%s", type);
	argv[argc++] = a0;
	argv[argc++] = ac;
	argv[argc++] = aT;
	argv[argc++] = a5;
	if (x->os.family == AF_INET)
		argv[argc++] = a4;
	else if (x->os.family == AF_INET6)
		argv[argc++] = a6;
	argv[argc++] = ap;
	argv[argc++] = port;
	argv[argc++] = at;
	argv[argc++] = tbuf;
	argv[argc++] = x->c->host;
	argv[argc] = NULL;
	debugf(x, "fetching the host certificate: %s -c -p %s -t %s %s", prog,
	    port, type, x->c->host);
	if ((buf = malloc(KEYSCAN_MAX_OUT + 1)) == NULL ||
	    pipe2(p, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "cannot run ssh-keyscan: %s",
		    strerror(errno));
		goto out;
	}
	if ((pid = fork()) == -1) {
		snprintf(why, whylen, "cannot run ssh-keyscan: %s",
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		nul = open("/dev/null", O_RDWR);
		if (nul == -1 || dup2(nul, 0) == -1 || dup2(p[1], 1) == -1 ||
		    dup2(nul, 2) == -1)
			_exit(127);
		execv(prog, argv);
		_exit(127);
	}
	close(p[1]);
	p[1] = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = KEYSCAN_TIMEOUT_MS - (int)((t1.tv_sec - t0.tv_sec) *
		    1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			snprintf(why, whylen, "ssh-keyscan did not answer "
			    "within %d s", KEYSCAN_TIMEOUT_MS / 1000);
			goto out;
		}
		pfd.fd = p[0];
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "ssh-keyscan: %s", strerror(errno));
			goto out;
		}
		if ((r = read(p[0], buf + len, KEYSCAN_MAX_OUT - len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(why, whylen, "ssh-keyscan: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == KEYSCAN_MAX_OUT) {
			snprintf(why, whylen, "ssh-keyscan printed more than "
			    "%d bytes", KEYSCAN_MAX_OUT);
			goto out;
		}
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (pid > 0) {
		if (rc != 0)
			kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	free(buf);
	return rc;
}

/* What the known_hosts files say about one CA key. */
struct ca_find {
	const uint8_t *blob;
	size_t len;
	struct where ca;	/* an @cert-authority line for it */
	struct where revoked;	/* an @revoked line for it */
};

static void
find_ca(const struct kh_entry *e, void *arg)
{
	struct ca_find *f = arg;
	uint8_t blob[KEY_BLOB_MAX];
	size_t n;

	if (e->marker == KNOWNHOSTS_PLAIN ||
	    (n = key_blob(e->key, blob, sizeof(blob))) != f->len ||
	    memcmp(blob, f->blob, n) != 0)
		return;
	note(e->marker == KNOWNHOSTS_CA ? &f->ca : &f->revoked, e);
}

static int
is_cert_type(const char *w)
{
	size_t n = strlen(w), sl = strlen(CERT_SUFFIX);

	return n > sl && strcmp(w + n - sl, CERT_SUFFIX) == 0;
}

static const char *
keyscan_type(const ssh_key key)
{
	switch (ssh_key_type(key)) {
	case SSH_KEYTYPE_ED25519:
		return "ed25519";
	case SSH_KEYTYPE_ECDSA:
	case SSH_KEYTYPE_ECDSA_P256:
	case SSH_KEYTYPE_ECDSA_P384:
	case SSH_KEYTYPE_ECDSA_P521:
		return "ecdsa";
	case SSH_KEYTYPE_RSA:
		return "rsa";
	default:
		break;
	}
	return NULL;
}

/* RevokedHostKeys against the (verified, ed25519) CA key of c: 0 when not
 * listed, SSHCONN_ERR_HOSTKEY with a message when it is or cannot be read. */
static int
check_revoked_ca(struct ctx *x, const char *name, const struct hostcert *c,
    const char *cafp)
{
	char b64[sodium_base64_ENCODED_LEN(KEY_BLOB_MAX,
	    sodium_base64_VARIANT_ORIGINAL)];
	ssh_key ca = NULL;
	int rc;

	if (x->hk.revoked == NULL || strcasecmp(x->hk.revoked, "none") == 0)
		return 0;
	if (c->ca_key.len > KEY_BLOB_MAX)
		return SSHCONN_ERR_HOSTKEY;
	sodium_bin2base64(b64, sizeof(b64), c->ca_key.p, c->ca_key.len,
	    sodium_base64_VARIANT_ORIGINAL);
	if (ssh_pki_import_pubkey_base64(b64, SSH_KEYTYPE_ED25519, &ca) !=
	    SSH_OK) {
		errf(x->err, x->errlen, "host key verification failed: cannot "
		    "read the CA key of the certificate of %s", name);
		return SSHCONN_ERR_HOSTKEY;
	}
	if ((rc = check_revoked_list(x, name, ca, cafp)) != 0)
		noticef(x, "The key above is the CA key (%s) that signed the "
		    "host certificate of %s.", cafp, name);
	ssh_key_free(ca);
	return rc;
}

/*
 * The host trusted through @cert-authority: fetches its certificate for the
 * key it proved in the key exchange and checks it as ssh(1) does (the CA
 * named by an @cert-authority line for name, not @revoked; its signature; a
 * host certificate for this very key; the principal; the validity; no
 * critical option). Returns 0 when accepted; 1 when not, with the reason in
 * why (ssh(1) then goes on with the plain key, and so does the caller);
 * SSHCONN_ERR_HOSTKEY when the CA is revoked (message in x->err).
 */
static int
check_certificate(struct ctx *x, const char *name, const ssh_key key,
    char *why, size_t whylen)
{
	uint8_t kblob[KEY_BLOB_MAX], plain[KEY_BLOB_MAX], *cert = NULL;
	char *scan = NULL, *line, *save = NULL, *w, *b64, principal[NAME_BUF];
	char cafp[64], catype[256];
	const char *type, *reason, *files[2];
	size_t klen, clen, i, n;
	struct hostcert hc, got;
	struct ca_find f;
	int rc = 1, have = 0, seen = 0, e;

	if ((x->os.proxyjump != NULL &&
	    strcasecmp(x->os.proxyjump, "none") != 0) ||
	    (x->os.proxycommand != NULL &&
	    strcasecmp(x->os.proxycommand, "none") != 0)) {
		snprintf(why, whylen, "libssh 0.10 cannot ask for a host "
		    "certificate, and ssh-keyscan, which codex-connect uses to "
		    "fetch it, cannot go through ProxyJump or ProxyCommand");
		return 1;
	}
	if ((type = keyscan_type(key)) == NULL) {
		snprintf(why, whylen, "there are no certificates for %s host "
		    "keys", key_type_name(key));
		return 1;
	}
	if ((klen = key_blob(key, kblob, sizeof(kblob))) == 0) {
		snprintf(why, whylen, "cannot encode the host key");
		return 1;
	}
	if ((cert = malloc(HOSTCERT_MAX_LEN)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return 1;
	}
	if (run_keyscan(x, type, &scan, why, whylen) != 0)
		goto out;
	/* Lines "CERTTYPE BASE64" (OpenSSH 9's ssh-keyscan -c), or "HOST
	 * CERTTYPE BASE64"; the certificate for this very key. */
	for (line = strtok_r(scan, "\n", &save); line != NULL && !have;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || (w = knownhosts_word(&line)) == NULL)
			continue;
		if (!is_cert_type(w) && (w = knownhosts_word(&line)) == NULL)
			continue;
		if (!is_cert_type(w) || (b64 = knownhosts_word(&line)) == NULL)
			continue;
		seen = 1;
		if (sodium_base642bin(cert, HOSTCERT_MAX_LEN, b64, strlen(b64),
		    NULL, &clen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
			snprintf(why, whylen, "the host's certificate is not "
			    "valid base64");
			continue;
		}
		if ((e = hostcert_parse(cert, clen, &got)) != 0) {
			snprintf(why, whylen, "cannot read the host's %s "
			    "certificate: %s", w, hostcert_strerror(e));
			continue;
		}
		n = hostcert_plain_key(&got, plain, sizeof(plain));
		if (n != klen || memcmp(plain, kblob, n) != 0) {
			snprintf(why, whylen, "the host's certificate is for "
			    "another key than the %s key it proved (key "
			    "mismatch)", key_type_name(key));
			continue;
		}
		hc = got;
		have = 1;
	}
	if (!have) {
		if (!seen)
			snprintf(why, whylen, "the host offered no certificate for "
			    "its %s key (ssh-keyscan -c -t %s found none)",
			    key_type_name(key), type);
		goto out;
	}
	blob_fp(hc.ca_key.p, hc.ca_key.len, cafp);
	hostcert_ca_type(&hc, catype, sizeof(catype));
	memset(&f, 0, sizeof(f));
	f.blob = hc.ca_key.p;
	f.len = hc.ca_key.len;
	files[0] = x->known_hosts;
	files[1] = x->global_known_hosts;
	for (i = 0; i < 2; i++)
		if (kh_foreach(files[i], name, find_ca, &f) != 0) {
			snprintf(why, whylen, "cannot read %s: %s", files[i],
			    strerror(errno));
			goto out;
		}
	if (f.revoked.line != 0) {
		errf(x->err, x->errlen, "host key verification failed: the "
		    "certificate of %s is signed by a revoked CA (%s %s; "
		    "@revoked line in %s:%d); refusing to connect", name,
		    catype, cafp, f.revoked.file, f.revoked.line);
		rc = SSHCONN_ERR_HOSTKEY;
		goto out;
	}
	if (f.ca.line == 0) {
		snprintf(why, whylen, "its certificate is signed by an unknown "
		    "CA (%s %s), which no @cert-authority line for %s names",
		    catype, cafp, name);
		goto out;
	}
	if ((e = hostcert_verify(&hc)) != 0) {
		if (e == HOSTCERT_ERR_CA_TYPE)
			snprintf(why, whylen, "its certificate is signed by a CA "
			    "key of type %s, which is not supported by "
			    "codex-connect (ed25519, ECDSA and RSA CAs are)",
			    catype);
		else if (e == HOSTCERT_ERR_SIG_ALG)
			snprintf(why, whylen, "its certificate is signed with "
			    "ssh-rsa (RSA with SHA-1), which ssh(1) refuses for "
			    "CAs by default (CASignatureAlgorithms); re-sign it "
			    "with ssh-keygen -t rsa-sha2-512");
		else
			snprintf(why, whylen, "the CA signature on its "
			    "certificate does not verify (%s)",
			    hostcert_strerror(e));
		goto out;
	}
	/* RevokedHostKeys applies to the CA too, as in ssh(1). */
	if ((rc = check_revoked_ca(x, name, &hc, cafp)) != 0)
		goto out;
	rc = 1;
	/* The principal is the host name (ssh(1) lowercases it) or the alias. */
	snprintf(principal, sizeof(principal), "%s", x->hk.alias != NULL ?
	    x->hk.alias : x->c->host);
	for (i = 0; principal[i] != '\0'; i++)
		principal[i] = (char)tolower((unsigned char)principal[i]);
	if (hostcert_check(&hc, principal, (uint64_t)time(NULL), &reason) != 0) {
		if (strstr(reason, "not a listed principal") != NULL)
			snprintf(why, whylen, "Certificate invalid: name %s is "
			    "not a listed principal", principal);
		else
			snprintf(why, whylen, "%s", reason);
		goto out;
	}
	debugf(x, "Server host certificate: %.*s, serial %llu ID \"%.*s\" CA "
	    "%s %s", (int)hc.certtype.len, (const char *)hc.certtype.p,
	    (unsigned long long)hc.serial,
	    (int)(hc.key_id.len > 200 ? 200 : hc.key_id.len),
	    (const char *)hc.key_id.p, catype, cafp);
	debugf(x, "Host '%s' is known and matches the %s-CERT host "
	    "certificate.", name, key_type_name(key));
	debugf(x, "Found CA key in %s:%d", f.ca.file, f.ca.line);
	rc = 0;
out:
	free(scan);
	free(cert);
	return rc;
}

/* ---- unknown hosts ------------------------------------------------------- */

static int
unknown_host(struct ctx *x, int strict, const char *name, const ssh_key key,
    const char *fp, const struct where *ca, const char *why)
{
	char prompt[2048], answer[MAX_ANSWER], cam[PATH_MAX + 512];
	const char *kh = x->known_hosts != NULL ? x->known_hosts : "known_hosts";
	int tries;

	cam[0] = '\0';
	if (ca->line != 0)
		snprintf(cam, sizeof(cam), "%s is trusted only through "
		    "@cert-authority (%s:%d), and its host certificate was not "
		    "accepted: %s; its plain %s key %s is in no known_hosts "
		    "file", name, ca->file, ca->line, why, key_type_name(key),
		    fp);
	if (strict == SSHOPT_STRICT_NO || strict == SSHOPT_STRICT_ACCEPT_NEW) {
		if (cam[0] != '\0')
			noticef(x, "Warning: %s; accepted as a new host key "
			    "(StrictHostKeyChecking=%s).", cam,
			    strict == SSHOPT_STRICT_NO ? "no" : "accept-new");
		remember_host(x, name, key, fp);
		return 0;
	}
	if (strict == SSHOPT_STRICT_YES) {
		if (cam[0] != '\0')
			errf(x->err, x->errlen, "host key verification failed: "
			    "%s, and StrictHostKeyChecking=yes; add that plain "
			    "key to %s after checking its fingerprint, or accept "
			    "it once with -o StrictHostKeyChecking=accept-new",
			    cam, kh);
		else
			errf(x->err, x->errlen, "host key verification failed: "
			    "no host key is known for %s (%s %s) and "
			    "StrictHostKeyChecking=yes; add it to %s first", name,
			    key_type_name(key), fp, kh);
		return SSHCONN_ERR_HOSTKEY;
	}
	if (cam[0] != '\0')
		snprintf(prompt, sizeof(prompt),
		    "The host '%s' is trusted only through @cert-authority\n"
		    "(%s:%d), and its host certificate was not accepted:\n"
		    "%s.\n"
		    "Its plain key is in no known_hosts file.\n"
		    "%s key fingerprint is %s.\n"
		    "Are you sure you want to continue connecting "
		    "(yes/no/[fingerprint])? ", name, ca->file, ca->line, why,
		    key_type_name(key), fp);
	else
		snprintf(prompt, sizeof(prompt),
		    "The host '%s' is not known: no key for it is in your\n"
		    "known_hosts files, so its identity cannot be checked.\n"
		    "%s key fingerprint is %s.\n"
		    "Are you sure you want to continue connecting "
		    "(yes/no/[fingerprint])? ", name, key_type_name(key), fp);
	for (tries = 0; tries < 3; tries++) {
		if (prompt_ask(x, prompt, 1, answer, sizeof(answer)) != 0) {
			const char *how = x->batch ? "BatchMode forbids asking" :
			    "there is no terminal to ask on (or the question was "
			    "cancelled)";

			if (cam[0] != '\0')
				errf(x->err, x->errlen, "host key verification "
				    "failed: %s, and %s; add that plain key to "
				    "%s after checking its fingerprint, or accept "
				    "it once with -o "
				    "StrictHostKeyChecking=accept-new", cam, how,
				    kh);
			else
				errf(x->err, x->errlen, "host key verification "
				    "failed: no host key is known for %s (%s %s) "
				    "and %s; check the fingerprint, then connect "
				    "once from a terminal or with -o "
				    "StrictHostKeyChecking=accept-new", name,
				    key_type_name(key), fp, how);
			return SSHCONN_ERR_HOSTKEY;
		}
		if (strcasecmp(answer, "yes") == 0 || strcmp(answer, fp) == 0) {
			remember_host(x, name, key, fp);
			return 0;
		}
		if (strcasecmp(answer, "no") == 0)
			break;
		if (strncmp(answer, "SHA256:", 7) == 0) {
			noticef(x, "That fingerprint does not match the host's.");
			snprintf(prompt, sizeof(prompt), "Please type 'yes', 'no' "
			    "or the fingerprint: ");
			continue;
		}
		snprintf(prompt, sizeof(prompt), "Please type 'yes', 'no' or the "
		    "fingerprint: ");
	}
	errf(x->err, x->errlen, "host key verification failed: the host key of "
	    "%s (%s %s) was not accepted", name, key_type_name(key), fp);
	return SSHCONN_ERR_HOSTKEY;
}

/* ---- before the handshake ------------------------------------------------ */

/* 1 when list names certificate algorithms only. */
static int
only_certificates(const char *list)
{
	static const char cert[] = "-cert-v01@openssh.com";
	const char *p = list;
	size_t n, cl = strlen(cert);
	int any = 0;

	/* +, - and ^ change libssh's default list, which keeps plain types. */
	if (*p == '+' || *p == '-' || *p == '^')
		return 0;
	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n < cl || strncmp(p + n - cl, cert, cl) != 0)
			return 0;
		any = 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return any;
}

static void
note_type(const struct kh_entry *e, void *arg)
{
	unsigned long *mask = arg;
	int t = (int)ssh_key_type(e->key);

	if (e->marker == KNOWNHOSTS_PLAIN && t >= 0 && t < 64)
		*mask |= 1UL << t;
}

static int
alg_type(const char *alg, size_t n)
{
	static const struct {
		const char *name;
		enum ssh_keytypes_e type;
	} map[] = {
		{ "ssh-ed25519", SSH_KEYTYPE_ED25519 },
		{ "ecdsa-sha2-nistp521", SSH_KEYTYPE_ECDSA_P521 },
		{ "ecdsa-sha2-nistp384", SSH_KEYTYPE_ECDSA_P384 },
		{ "ecdsa-sha2-nistp256", SSH_KEYTYPE_ECDSA_P256 },
		{ "sk-ssh-ed25519@openssh.com", SSH_KEYTYPE_SK_ED25519 },
		{ "sk-ecdsa-sha2-nistp256@openssh.com", SSH_KEYTYPE_SK_ECDSA },
		{ "rsa-sha2-512", SSH_KEYTYPE_RSA },
		{ "rsa-sha2-256", SSH_KEYTYPE_RSA },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == n && strncmp(alg, map[i].name, n) == 0)
			return (int)map[i].type;
	return -1;
}

/*
 * libssh puts first the host key algorithms of the keys known_hosts records
 * for the host name; with HostKeyAlias the alias is what counts, so the same
 * ordering is done here for it (best effort: a path with %-tokens is skipped).
 */
static int
prefer_alias_types(struct ctx *x)
{
	const char *user = x->os.known_hosts != NULL ? x->os.known_hosts :
	    x->have_ch && x->ch.known_hosts != NULL ? x->ch.known_hosts :
	    "~/.ssh/known_hosts";
	const char *global = x->os.global_known_hosts != NULL ?
	    x->os.global_known_hosts : "/etc/ssh/ssh_known_hosts";
	char path[PATH_MAX], first[sizeof(LIBSSH_HOSTKEYS)];
	char rest[sizeof(LIBSSH_HOSTKEYS)], all[sizeof(LIBSSH_HOSTKEYS) + 1];
	const char *p;
	unsigned long mask = 0;
	size_t n;
	int t;

	if (strcasecmp(user, "none") != 0 && strchr(user, '%') == NULL) {
		if (user[0] == '~' && user[1] == '/')
			snprintf(path, sizeof(path), "%s%s", x->home, user + 1);
		else
			snprintf(path, sizeof(path), "%s", user);
		PROTO_IGNORE(kh_foreach(path, x->hk.alias, note_type, &mask));
	}
	if (strcasecmp(global, "none") != 0 && strchr(global, '%') == NULL)
		PROTO_IGNORE(kh_foreach(global, x->hk.alias, note_type, &mask));
	if (mask == 0)
		return 0;
	first[0] = rest[0] = '\0';
	for (p = LIBSSH_HOSTKEYS; *p != '\0'; p += n + (p[n] == ',')) {
		n = strcspn(p, ",");
		t = alg_type(p, n);
		if (t >= 0 && (mask & (1UL << t)) != 0)
			catf(first, sizeof(first), "%s%.*s", first[0] ? "," : "",
			    (int)n, p);
		else
			catf(rest, sizeof(rest), "%s%.*s", rest[0] ? "," : "",
			    (int)n, p);
	}
	if (first[0] == '\0')
		return 0;
	snprintf(all, sizeof(all), "%s%s%s", first, rest[0] ? "," : "", rest);
	debugf(x, "HostKeyAlias %s: preferring the host key types known for "
	    "it: %s", x->hk.alias, first);
	if (ssh_options_set(x->c->session, SSH_OPTIONS_HOSTKEYS, all) < 0)
		return SSHCONN_ERR_NOMEM;
	return 0;
}

int
hostkey_prepare(struct ctx *x)
{
	const char *algs = x->os.hostkeys != NULL ? x->os.hostkeys :
	    x->have_ch ? x->ch.host_key_algorithms : NULL;
	int rc;

	if (x->have_ch) {
		if ((x->ch.host_key_alias != NULL && (rc = hostkey_conf_set(&x->hk,
		    "HostKeyAlias", x->ch.host_key_alias, x->err,
		    x->errlen)) != 0) ||
		    (x->ch.hash_known_hosts != -1 && (rc = hostkey_conf_set(
		    &x->hk, "HashKnownHosts", x->ch.hash_known_hosts ? "yes" :
		    "no", x->err, x->errlen)) != 0) ||
		    (x->ch.revoked_host_keys != NULL && (rc = hostkey_conf_set(
		    &x->hk, "RevokedHostKeys", x->ch.revoked_host_keys, x->err,
		    x->errlen)) != 0))
			return rc;
	}
	if (algs != NULL && only_certificates(algs)) {
		errf(x->err, x->errlen, "HostKeyAlgorithms %s names certificate "
		    "types only, which libssh 0.10 cannot use as a client (it "
		    "drops them from what it offers); add a plain type such as "
		    "ssh-ed25519", algs);
		return SSHCONN_ERR_ARG;
	}
	if (x->hk.alias != NULL && algs == NULL)
		return prefer_alias_types(x);
	return 0;
}

/* ---- after the handshake ------------------------------------------------- */

int
hostkey_verify(struct ctx *x, int strict)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL, name[NAME_BUF], bare[NAME_BUF], why[1024];
	const char *used = name;
	struct verdict v;
	int rc;

	if (ssh_get_server_publickey(x->c->session, &key) != SSH_OK ||
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0 ||
	    (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
	    hlen)) == NULL) {
		errf(x->err, x->errlen, "%s: cannot read the host key: %s",
		    x->hostport, sess_error(x));
		rc = SSHCONN_ERR_PROTOCOL;
		goto out;
	}
	lookup_name(x, name);
	debugf(x, "Server host key: %s %s", key_type_name(key), fp);
	if (x->hk.alias != NULL)
		debugf(x, "using HostKeyAlias: %s", name);

	/* Revocation first, whatever else is recorded. */
	if ((rc = check_revoked_list(x, name, key, fp)) != 0)
		goto out;
	memset(&v, 0, sizeof(v));
	v.key = key;
	if ((rc = judge_files(x, name, &v)) != 0)
		goto out;
	/* Nothing for [host]:port: ssh(1) accepts the key recorded for the
	 * bare host name too (not with HostKeyAlias). A revocation there
	 * counts as well. */
	if (x->hk.alias == NULL && x->c->port != 22 && v.ok.line == 0 &&
	    v.changed.line == 0 && v.other.line == 0 && v.revoked.line == 0) {
		struct verdict b;
		size_t i;

		for (i = 0; x->c->host[i] != '\0' && i < NAME_BUF - 1; i++)
			bare[i] = (char)tolower((unsigned char)x->c->host[i]);
		bare[i] = '\0';
		memset(&b, 0, sizeof(b));
		b.key = key;
		debugf(x, "checking without port identifier");
		if ((rc = judge_files(x, bare, &b)) != 0)
			goto out;
		if (b.revoked.line != 0) {
			v.revoked = b.revoked;
			used = bare;
		} else if (b.ok.line != 0) {
			v.ok = b.ok;
			used = bare;
			debugf(x, "found matching key w/out port");
		}
	}
	if (v.revoked.line != 0) {
		rc = refuse_revoked(x, used, key, fp, v.revoked.file,
		    v.revoked.line, 0);
		goto out;
	}
	if (v.ok.line != 0) {
		debugf(x, "Host '%s' is known and matches the %s host key.",
		    used, key_type_name(key));
		debugf(x, "Found key in %s:%d", v.ok.file, v.ok.line);
		rc = 0;
		goto out;
	}
	/* A CA for the host: its certificate, as ssh(1) would have asked for
	 * it; when refused, ssh(1) goes on with the plain key, and so do we. */
	why[0] = '\0';
	if (v.ca.line != 0) {
		if ((rc = check_certificate(x, name, key, why, sizeof(why))) <= 0)
			goto out;
		if (v.changed.line != 0 || v.other.line != 0)
			noticef(x, "The host certificate of %s was not accepted: "
			    "%s.", name, why);
	}
	if (v.changed.line != 0)
		rc = refuse_changed(x, name, key, fp, &v.changed);
	else if (v.other.line != 0)
		rc = refuse_other(x, name, key, fp, &v.other);
	else
		rc = unknown_host(x, strict, name, key, fp, &v.ca, why);
out:
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}
