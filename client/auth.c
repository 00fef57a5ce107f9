/*
 * auth.c - authentication as ssh(1) does it: which methods are tried, in which
 * order, with which keys, and what is asked. libssh 0.10 does the exchanges;
 * the choice of keys is made here, because libssh offers every agent key in the
 * agent's order, ignores IdentitiesOnly and picks key files itself.
 *
 * The keys, in ssh(1)'s order (sshconnect2.c, pubkey_prepare()): certificates
 * named by CertificateFile; the agent's keys that an IdentityFile names, in the
 * agent's order; the agent's other keys unless IdentitiesOnly; the identity
 * files left, each followed by its -cert.pub. A key is offered first (the
 * public half), and its passphrase asked, or the agent asked to sign, only
 * once the server accepts it.
 *
 * Every libssh call runs in non-blocking mode under our own bound (the
 * ConnectTimeout): libssh 0.10 does not notice when the server disconnects
 * while it waits for an authentication answer (sshd does after MaxAuthTries
 * failed keys), and would sit out its whole timeout on a closed socket, then
 * report SSH_AUTH_AGAIN as if nothing happened. A failure says what was tried
 * and what the server offers.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/agent.h"
#include "client/auth.h"
#include "client/prompt.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"

#define DEFAULT_PROMPTS		3	/* NumberOfPasswordPrompts */
#define AGENT_WAIT_MS		10000	/* for the agent's list of keys */

/* ssh(1) 9.2's identity files when none is named. */
static const char *const default_ids[] = {
	"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
	"~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss",
	"~/.ssh/id_dsa"
};

/* One key to offer. */
struct ident {
	char *path;		/* the private key file; NULL for an agent key */
	char *shown;		/* for messages */
	ssh_key pub;		/* public key or certificate; NULL when only
				 * the private file can tell */
	char *b64;		/* pub's blob in base64 (plain keys only) */
	int cert;		/* pub is a certificate */
	int agent;		/* 1 + index in ak: the agent signs */
	int done;		/* offered already */
};

/* The state of one auth_run(). */
struct authst {
	struct ctx *x;
	struct ident *ids;
	size_t nids;
	int built;
	struct agent_keys ak;
	char *agent_path;	/* NULL: no agent */
	int agent_fd;		/* the descriptor libssh holds as its agent */
	int lost;		/* the connection ended */
	int timed_out;		/* the server did not answer in time */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
gone(ssh_session s)
{
	return !ssh_is_connected(s) ||
	    (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) != 0;
}

/*
 * After a non-blocking libssh authentication call returned *rc: 1 when it is
 * to be called again (the server's answer is on its way; waited for here,
 * within the bound), 0 when *rc is final. A connection that ended, or a server
 * silent past the bound, makes *rc SSH_AUTH_ERROR.
 */
static int
again(struct authst *st, int *rc, long long *deadline)
{
	ssh_session s = st->x->c->session;
	struct pollfd pfd;
	long long left;

	if (gone(s)) {
		st->lost = 1;
		*rc = SSH_AUTH_ERROR;
		return 0;
	}
	if (*rc != SSH_AUTH_AGAIN)
		return 0;
	if (*deadline == 0)
		*deadline = now_ms() + (long long)st->x->timeout * 1000;
	if ((left = *deadline - now_ms()) <= 0) {
		st->timed_out = 1;
		*rc = SSH_AUTH_ERROR;
		return 0;
	}
	pfd.fd = ssh_get_fd(s);
	pfd.events = POLLIN;
	if (ssh_blocking_flush(s, 0) == SSH_AGAIN)
		pfd.events |= POLLOUT;
	if (pfd.fd >= 0)
		PROTO_IGNORE(poll(&pfd, 1, left > 1000 ? 1000 : (int)left));
	return 1;
}

/* "~/.ssh/id_ed25519" for messages when path lies under home. */
static void
display_path(const char *home, const char *path, char *out, size_t len)
{
	size_t hl = strlen(home);

	if (hl > 1 && strncmp(path, home, hl) == 0 && path[hl] == '/')
		snprintf(out, len, "~%s", path + hl);
	else
		snprintf(out, len, "%s", path);
}

static void
tried_add(struct ctx *x, const char *what, const char *arg)
{
	catf(x->tried, sizeof(x->tried), "%s%s%s%s", x->tried[0] ? ", " : "",
	    what, arg != NULL ? " " : "", arg != NULL ? arg : "");
}

static void
note_add(struct ctx *x, const char *what)
{
	if (strstr(x->notes, what) == NULL)
		catf(x->notes, sizeof(x->notes), "; %s", what);
}

static void
methods_str(int m, char *buf, size_t len)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{ SSH_AUTH_METHOD_PUBLICKEY, "publickey" },
		{ SSH_AUTH_METHOD_INTERACTIVE, "keyboard-interactive" },
		{ SSH_AUTH_METHOD_PASSWORD, "password" },
		{ SSH_AUTH_METHOD_GSSAPI_MIC, "gssapi-with-mic" },
		{ SSH_AUTH_METHOD_HOSTBASED, "hostbased" },
	};
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (m & names[i].bit)
			catf(buf, len, "%s%s", buf[0] ? ", " : "", names[i].name);
	if (buf[0] == '\0')
		snprintf(buf, len, "nothing");
}

struct ppctx {
	struct ctx *x;
	const char *shown;
	int asked;
	int cancelled;
};

/* libssh calls this only for an encrypted key; an empty answer skips the key,
 * as in ssh(1). */
static int
passphrase_cb(const char *prompt, char *buf, size_t len, int echo, int verify,
    void *userdata)
{
	struct ppctx *pp = userdata;
	char q[PATH_MAX + 64];

	(void)prompt;
	(void)echo;
	(void)verify;
	pp->asked = 1;
	if (pp->cancelled)
		return -1;
	snprintf(q, sizeof(q), "Enter passphrase for key '%s': ", pp->shown);
	if (prompt_ask(pp->x, q, 0, buf, len) != 0 || buf[0] == '\0') {
		pp->cancelled = 1;
		explicit_bzero(buf, len);
		return -1;
	}
	return 0;
}

/* Returns 0 with the key in *out, or 1 when it stays locked or unreadable. */
static int
load_private(struct ctx *x, const char *path, const char *shown, ssh_key *out)
{
	struct ppctx pp;
	int tries, max = x->os.password_prompts > 0 ? x->os.password_prompts :
	    DEFAULT_PROMPTS;

	for (tries = 0; tries < max; tries++) {
		memset(&pp, 0, sizeof(pp));
		pp.x = x;
		pp.shown = shown;
		if (ssh_pki_import_privkey_file(path, NULL, passphrase_cb, &pp,
		    out) == SSH_OK)
			return 0;
		if (!pp.asked) {
			debugf(x, "Cannot load key %s.", shown);
			return 1;
		}
		if (pp.cancelled) {
			note_add(x, x->batch ? "BatchMode: no passphrase asked" :
			    "a key passphrase was not given");
			return 1;
		}
		noticef(x, "Bad passphrase for %s, try again.", shown);
	}
	return 1;
}

/* ---- the keys ------------------------------------------------------------ */

static void
ident_free(struct ident *id)
{
	free(id->path);
	free(id->shown);
	ssh_key_free(id->pub);
	free(id->b64);
}

static struct ident *
ident_new(struct authst *st)
{
	struct ident *n;

	if ((n = realloc(st->ids, (st->nids + 1) * sizeof(*n))) == NULL)
		return NULL;
	st->ids = n;
	memset(&n[st->nids], 0, sizeof(n[0]));
	return &n[st->nids++];
}

/* The agent socket IdentityAgent names: $SSH_AUTH_SOCK by default, none, a
 * path, or $VAR. NULL without one (or when it cannot be expanded). */
static char *
agent_socket(struct ctx *x)
{
	const char *v = x->os.identity_agent, *e = NULL;
	char *path = NULL;

	if (v == NULL || strcmp(v, "SSH_AUTH_SOCK") == 0)
		e = getenv("SSH_AUTH_SOCK");
	else if (strcasecmp(v, "none") == 0)
		return NULL;
	else if (v[0] == '$')
		e = getenv(v + 1);
	else if (sshopt_expand(x, v, SSHOPT_EXPAND_PATH, &path) != 0) {
		noticef(x, "Warning: IdentityAgent: %s", x->err);
		x->err[0] = '\0';
		return NULL;
	} else
		return path;
	return e != NULL && *e != '\0' ? strdup(e) : NULL;
}

static char *
shown_path(struct ctx *x, const char *path)
{
	char buf[PATH_MAX + 2];

	display_path(x->home, path, buf, sizeof(buf));
	return strdup(buf);
}

/* A key file's public half: FILE.pub, else what the file itself tells (the
 * OpenSSH format keeps it unencrypted). NULL when neither can be read. */
static ssh_key
load_public(const char *path)
{
	char pubpath[PATH_MAX + 8];
	ssh_key k = NULL;

	snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
	if (ssh_pki_import_pubkey_file(pubpath, &k) == SSH_OK ||
	    ssh_pki_import_pubkey_file(path, &k) == SSH_OK)
		return k;
	return NULL;
}

static char *
key_b64(ssh_key k)
{
	char *b = NULL;

	if (k == NULL || ssh_pki_export_pubkey_base64(k, &b) != SSH_OK)
		return NULL;
	return b;
}

/* Decodes base64 into a new buffer; NULL when malformed. */
static unsigned char *
unbase64(const char *in, size_t *len)
{
	unsigned char *out = malloc(strlen(in) / 4 * 3 + 3);
	unsigned int v = 0;
	size_t n = 0;
	int bits = 0;
	const char *p, *t;
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	if (out == NULL)
		return NULL;
	for (p = in; *p != '\0' && *p != '='; p++) {
		if ((t = strchr(tab, *p)) == NULL) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (unsigned int)(t - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	*len = n;
	return out;
}

/* Skips an SSH string in a blob; 0, or -1 past the end. */
static int
skip_string(const unsigned char **p, size_t *left)
{
	size_t n;

	if (*left < 4)
		return -1;
	n = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 |
	    (size_t)(*p)[2] << 8 | (*p)[3];
	if (n > *left - 4)
		return -1;
	*p += 4 + n;
	*left -= 4 + n;
	return 0;
}

/*
 * 1 when cert certifies the plain public key whose blob is in base64 b64. A
 * certificate's blob is its type, a nonce, then the key's own fields, in the
 * order the plain key's blob has them after its type (PROTOCOL.certkeys).
 * libssh 0.10 cannot tell: ssh_key_cmp() fails on any certificate and
 * ssh_pki_copy_cert_to_privkey() does not compare at all.
 */
static int
certifies(ssh_key cert, const char *b64)
{
	unsigned char *kb = NULL, *cb = NULL;
	const unsigned char *kp, *cp;
	size_t kl = 0, cl = 0;
	char *c64 = key_b64(cert);
	int same = 0;

	if (c64 == NULL || b64 == NULL || (kb = unbase64(b64, &kl)) == NULL ||
	    (cb = unbase64(c64, &cl)) == NULL)
		goto out;
	kp = kb;
	cp = cb;
	if (skip_string(&kp, &kl) == 0 && skip_string(&cp, &cl) == 0 &&
	    skip_string(&cp, &cl) == 0 && kl > 0 && kl <= cl &&
	    memcmp(kp, cp, kl) == 0)
		same = 1;
out:
	free(c64);
	free(kb);
	free(cb);
	return same;
}

/* The identity files, each followed by its -cert.pub, into files[]. */
static int
add_files(struct authst *st, struct ident **files, size_t *nfiles)
{
	struct ctx *x = st->x;
	const char *const *names = (const char *const *)x->os.ids;
	size_t n = x->os.nids, i, j;
	char *path, certpath[PATH_MAX + 16];
	int named = 1;
	ssh_key cert;

	if (n == 0) {
		names = default_ids;
		n = sizeof(default_ids) / sizeof(default_ids[0]);
		named = 0;
	}
	for (i = 0; i < n; i++) {
		if (sshopt_expand(x, names[i], SSHOPT_EXPAND_PATH, &path) != 0) {
			noticef(x, "Warning: IdentityFile %s", x->err);
			x->err[0] = '\0';
			continue;
		}
		for (j = 0; j < *nfiles; j++)
			if (!(*files)[j].cert && strcmp((*files)[j].path, path) == 0)
				break;
		if (j < *nfiles || access(path, R_OK) != 0) {
			if (j == *nfiles && named) {
				char *sh = shown_path(x, path);

				noticef(x, "Warning: Identity file %s not "
				    "accessible: %s.", sh != NULL ? sh : path,
				    strerror(errno));
				free(sh);
			}
			free(path);
			continue;
		}
		snprintf(certpath, sizeof(certpath), "%s-cert.pub", path);
		cert = NULL;
		if (ssh_pki_import_cert_file(certpath, &cert) != SSH_OK)
			cert = NULL;
		for (j = 0; j < (cert != NULL ? 2u : 1u); j++) {
			struct ident *id, *nf;

			if ((nf = realloc(*files, (*nfiles + 1) *
			    sizeof(*nf))) == NULL) {
				free(path);
				ssh_key_free(cert);
				return SSHCONN_ERR_NOMEM;
			}
			*files = nf;
			id = &nf[(*nfiles)++];
			memset(id, 0, sizeof(*id));
			id->cert = j == 1;
			id->pub = j == 1 ? cert : load_public(path);
			id->b64 = j == 1 ? NULL : key_b64(id->pub);
			if ((id->path = strdup(path)) == NULL ||
			    (id->shown = shown_path(x, j == 1 ? certpath :
			    path)) == NULL) {
				free(path);
				if (j == 0)
					ssh_key_free(cert);
				return SSHCONN_ERR_NOMEM;
			}
			/* A -cert.pub that certifies another key is not
			 * this one's (ssh(1) finds out when signing). */
			if (j == 0 && cert != NULL && id->b64 != NULL &&
			    !certifies(cert, id->b64)) {
				debugf(x, "%s does not certify %s.", certpath,
				    path);
				ssh_key_free(cert);
				cert = NULL;
			}
		}
		free(path);
	}
	return 0;
}

/* The private key file for a certificate: an identity file with its key. */
static const char *
cert_owner(const struct ident *files, size_t nfiles, ssh_key cert)
{
	size_t i;

	for (i = 0; i < nfiles; i++)
		if (!files[i].cert && certifies(cert, files[i].b64))
			return files[i].path;
	return NULL;
}

/* The CertificateFile certificates, first in the list. */
static int
add_certs(struct authst *st, const struct ident *files, size_t nfiles)
{
	struct ctx *x = st->x;
	struct ident *id;
	const char *owner;
	char *path, *sh;
	ssh_key cert;
	size_t i;

	for (i = 0; i < x->os.ncerts; i++) {
		if (sshopt_expand(x, x->os.certs[i], SSHOPT_EXPAND_PATH,
		    &path) != 0) {
			noticef(x, "Warning: CertificateFile %s", x->err);
			x->err[0] = '\0';
			continue;
		}
		sh = shown_path(x, path);
		cert = NULL;
		if (ssh_pki_import_cert_file(path, &cert) != SSH_OK) {
			noticef(x, "Warning: certificate file %s: %s.", sh != NULL ?
			    sh : path, access(path, R_OK) != 0 ? strerror(errno) :
			    "not a certificate");
			goto next;
		}
		if ((owner = cert_owner(files, nfiles, cert)) == NULL) {
			note_add(x, "no private key file for a certificate");
			debugf(x, "No identity file holds the key of certificate "
			    "%s; it is not offered.", sh != NULL ? sh : path);
			goto next;
		}
		if ((id = ident_new(st)) == NULL || (id->path = strdup(owner)) ==
		    NULL) {
			free(sh);
			free(path);
			ssh_key_free(cert);
			return SSHCONN_ERR_NOMEM;
		}
		id->cert = 1;
		id->pub = cert;
		id->shown = sh;
		cert = NULL;
		sh = NULL;
next:
		ssh_key_free(cert);
		free(sh);
		free(path);
	}
	return 0;
}

/* Moves files[i] to the end of the list; files[i] is left empty. */
static int
take_file(struct authst *st, struct ident *files, size_t i)
{
	struct ident *id;

	if ((id = ident_new(st)) == NULL)
		return SSHCONN_ERR_NOMEM;
	*id = files[i];
	memset(&files[i], 0, sizeof(files[i]));
	files[i].done = 1;	/* marks "moved" */
	return 0;
}

/* The list of keys to offer, in ssh(1)'s order. */
static int
build_list(struct authst *st)
{
	struct ctx *x = st->x;
	struct ident *files = NULL, *id;
	size_t nfiles = 0, i, j;
	char err[256], *named = NULL;
	int rc;

	st->built = 1;
	if ((rc = add_files(st, &files, &nfiles)) != 0 ||
	    (rc = add_certs(st, files, nfiles)) != 0)
		goto out;
	if ((st->agent_path = agent_socket(x)) != NULL &&
	    agent_list(st->agent_path, x->timeout * 1000 < AGENT_WAIT_MS ?
	    x->timeout * 1000 : AGENT_WAIT_MS, &st->ak, err, sizeof(err)) != 0) {
		debugf(x, "%s", err);
		free(st->agent_path);
		st->agent_path = NULL;
	}
	rc = SSHCONN_ERR_NOMEM;
	if (st->ak.n > 0 && (named = calloc(st->ak.n, 1)) == NULL)
		goto out;
	if (st->ak.n > 0)
		debugf(x, "Offering the keys of the agent at %s%s.",
		    st->agent_path, x->os.identities_only == 1 ? " that an "
		    "IdentityFile names (IdentitiesOnly)" : "");
	/* The agent's keys that an identity file names come first, in the
	 * agent's order: the agent signs, nobody is asked for a passphrase. */
	for (i = 0; i < st->ak.n; i++) {
		for (j = 0; j < nfiles; j++)
			if (!files[j].done && !files[j].cert &&
			    files[j].b64 != NULL &&
			    strcmp(files[j].b64, st->ak.k[i].b64) == 0)
				break;
		if (j == nfiles) {
			named[i] = 0;
			continue;
		}
		named[i] = 1;
		if ((rc = take_file(st, files, j)) != 0)
			goto out;
		st->ids[st->nids - 1].agent = (int)i + 1;
	}
	for (i = 0; i < st->ak.n && x->os.identities_only != 1; i++) {
		if (named[i])
			continue;
		rc = SSHCONN_ERR_NOMEM;
		if ((id = ident_new(st)) == NULL)
			goto out;
		id->agent = (int)i + 1;
		if ((id->shown = strdup(st->ak.k[i].comment[0] != '\0' ?
		    st->ak.k[i].comment : "(no comment)")) == NULL)
			goto out;
	}
	for (j = 0; j < nfiles; j++)
		if (!files[j].done && (rc = take_file(st, files, j)) != 0)
			goto out;
	rc = 0;
out:
	for (j = 0; j < nfiles; j++)
		ident_free(&files[j]);
	free(files);
	free(named);
	return rc;
}

/* ---- publickey ----------------------------------------------------------- */

/* libssh signs with agent key k, through a one-key agent (client/agent.c). */
static int
sign_with_agent(struct authst *st, const struct agent_key *k)
{
	struct ctx *x = st->x;
	ssh_session s = x->c->session;
	char err[256];
	long long dl = 0;
	pid_t pid;
	int fd, rc;

	if (agent_spawn_one(st->agent_path, k, &fd, &pid, err,
	    sizeof(err)) != 0) {
		debugf(x, "agent: %s", err);
		return SSH_AUTH_DENIED;
	}
	/* libssh keeps the first descriptor it is given; later ones take its
	 * number, which also closes the previous helper's socket. */
	if (st->agent_fd == -1) {
		if (ssh_set_agent_socket(s, fd) != SSH_OK) {
			close(fd);
			agent_end(-1, pid);
			return SSH_AUTH_DENIED;
		}
		st->agent_fd = fd;
	} else {
		if (dup2(fd, st->agent_fd) == -1) {
			close(fd);
			agent_end(-1, pid);
			return SSH_AUTH_DENIED;
		}
		close(fd);
	}
	do
		rc = ssh_userauth_agent(s, NULL);
	while (again(st, &rc, &dl));
	agent_end(st->agent_fd, pid);
	return rc;
}

/* Offers one key: 1 the server would take it, 0 not, or SSH_AUTH_ERROR. */
static int
offer(struct authst *st, ssh_key pub)
{
	long long dl = 0;
	int rc;

	do
		rc = ssh_userauth_try_publickey(st->x->c->session, NULL, pub);
	while (again(st, &rc, &dl));
	if (rc == SSH_AUTH_SUCCESS)
		return 1;
	return rc == SSH_AUTH_ERROR ? SSH_AUTH_ERROR : 0;
}

static int
auth_pubkey(struct authst *st)
{
	struct ctx *x = st->x;
	ssh_session s = x->c->session;
	ssh_key priv, pub;
	char what[PATH_MAX + 32], keyname[PATH_MAX + 2];
	long long dl;
	size_t i;
	int rc, r;

	if (!st->built && (rc = build_list(st)) != 0)
		return rc == SSHCONN_ERR_NOMEM ? SSH_AUTH_ERROR : SSH_AUTH_DENIED;
	for (i = 0; i < st->nids; i++) {
		struct ident *id = &st->ids[i];

		if (id->done)
			continue;
		id->done = 1;
		snprintf(what, sizeof(what), "%s%s", id->shown, id->agent ?
		    " (agent)" : id->cert ? " (certificate)" : "");
		pub = id->pub != NULL ? id->pub : id->agent ?
		    st->ak.k[id->agent - 1].key : NULL;
		if (pub != NULL) {
			debugf(x, "Offering public key %s.", what);
			if ((r = offer(st, pub)) == SSH_AUTH_ERROR)
				return r;
			if (r == 0) {
				tried_add(x, "publickey", what);
				continue;
			}
		}
		if (id->agent) {
			debugf(x, "The agent signs with %s.", what);
			rc = sign_with_agent(st, &st->ak.k[id->agent - 1]);
			tried_add(x, "publickey", what);
			if (rc != SSH_AUTH_DENIED)
				return rc;
			continue;
		}
		display_path(x->home, id->path, keyname, sizeof(keyname));
		if (load_private(x, id->path, keyname, &priv) != 0) {
			if (id->pub != NULL)
				tried_add(x, "publickey", what);
			continue;
		}
		if (id->cert && ssh_pki_copy_cert_to_privkey(id->pub, priv) !=
		    SSH_OK) {
			debugf(x, "Certificate %s does not go with its key.",
			    what);
			ssh_key_free(priv);
			continue;
		}
		debugf(x, "Authenticating with %s.", what);
		dl = 0;
		do
			rc = ssh_userauth_publickey(s, NULL, priv);
		while (again(st, &rc, &dl));
		ssh_key_free(priv);
		tried_add(x, "publickey", what);
		if (rc != SSH_AUTH_DENIED)
			return rc;
	}
	return SSH_AUTH_DENIED;
}

/* ---- keyboard-interactive, password ------------------------------------- */

static int
kbdint_call(struct authst *st)
{
	long long dl = 0;
	int rc;

	do
		rc = ssh_userauth_kbdint(st->x->c->session, NULL, NULL);
	while (again(st, &rc, &dl));
	return rc;
}

static int
auth_kbdint(struct authst *st)
{
	struct ctx *x = st->x;
	ssh_session s = x->c->session;
	char answer[MAX_ANSWER];
	int rc, rounds = 0, n, i, gave_up = 0;

	debugf(x, "Trying keyboard-interactive.");
	tried_add(x, "keyboard-interactive", NULL);
	rc = kbdint_call(st);
	while (rc == SSH_AUTH_INFO && rounds++ < 32) {
		const char *name = ssh_userauth_kbdint_getname(s);
		const char *instr = ssh_userauth_kbdint_getinstruction(s);

		n = ssh_userauth_kbdint_getnprompts(s);
		if (!gave_up && !x->batch && n > 0) {
			if (name != NULL && *name != '\0')
				notice(x, name);
			if (instr != NULL && *instr != '\0')
				notice(x, instr);
		}
		for (i = 0; i < n; i++) {
			char echo = 0;
			const char *p = ssh_userauth_kbdint_getprompt(s,
			    (unsigned int)i, &echo);

			/* Nobody to answer: empty answers end the round with a
			 * plain failure, and the next method can start. */
			if (gave_up || p == NULL ||
			    prompt_ask(x, p, echo != 0, answer,
			    sizeof(answer)) != 0) {
				gave_up = 1;
				answer[0] = '\0';
			}
			rc = ssh_userauth_kbdint_setanswer(s, (unsigned int)i,
			    answer);
			explicit_bzero(answer, sizeof(answer));
			if (rc < 0)
				return SSH_AUTH_ERROR;
		}
		rc = kbdint_call(st);
	}
	if (gave_up)
		note_add(x, x->batch ? "BatchMode: no prompts" :
		    "no terminal to answer keyboard-interactive prompts on");
	return rc == SSH_AUTH_INFO ? SSH_AUTH_DENIED : rc;
}

static int
auth_password(struct authst *st)
{
	struct ctx *x = st->x;
	ssh_session s = x->c->session;
	char prompt[600], pw[MAX_ANSWER];
	long long dl;
	int i, rc = SSH_AUTH_DENIED, max = x->os.password_prompts > 0 ?
	    x->os.password_prompts : DEFAULT_PROMPTS;

	snprintf(prompt, sizeof(prompt), "%s@%s's password: ", x->c->user,
	    x->c->host);
	for (i = 0; i < max; i++) {
		if (prompt_ask(x, prompt, 0, pw, sizeof(pw)) != 0) {
			note_add(x, x->batch ? "BatchMode: no password asked" :
			    "no terminal to ask for a password on");
			break;
		}
		if (i == 0)
			tried_add(x, "password", NULL);
		dl = 0;
		do
			rc = ssh_userauth_password(s, NULL, pw);
		while (again(st, &rc, &dl));
		explicit_bzero(pw, sizeof(pw));
		if (rc != SSH_AUTH_DENIED)
			return rc;
		if (i + 1 < max)
			notice(x, "Permission denied, please try again.");
	}
	return rc;
}

/* ---- the round ------------------------------------------------------------ */

enum { M_PUBKEY, M_KBDINT, M_PASSWORD, M_COUNT };

/* The connection ended or the server went silent: say so, with what was
 * tried. */
static int
lost(struct authst *st)
{
	struct ctx *x = st->x;

	if (st->timed_out)
		errf(x->err, x->errlen, "authentication with %s failed: no answer "
		    "from the server in %d s (tried: %s%s)", x->tg.host,
		    x->timeout, x->tried[0] ? x->tried : "nothing", x->notes);
	else
		errf(x->err, x->errlen, "authentication with %s failed: %s "
		    "(tried: %s%s)", x->tg.host, sess_error(x),
		    x->tried[0] ? x->tried : "nothing", x->notes);
	return SSHCONN_ERR_PROTOCOL;
}

int
auth_run(struct ctx *x)
{
	static const struct {
		const char *name;
		int bit;
	} mnames[M_COUNT] = {
		{ "publickey", SSH_AUTH_METHOD_PUBLICKEY },
		{ "keyboard-interactive", SSH_AUTH_METHOD_INTERACTIVE },
		{ "password", SSH_AUTH_METHOD_PASSWORD },
	};
	ssh_session s = x->c->session;
	struct authst st;
	char offered[128] = "none: no authentication asked";
	int order[M_COUNT], done[M_COUNT], enabled[M_COUNT], norder = 0;
	int methods, rc, i, partials = 0;
	long long dl = 0;
	size_t k;
	char *banner;

	memset(&st, 0, sizeof(st));
	st.x = x;
	st.agent_fd = -1;
	enabled[M_PUBKEY] = x->os.pubkey_auth != 0;
	enabled[M_KBDINT] = x->os.kbdint_auth != 0;
	enabled[M_PASSWORD] = x->os.password_auth != 0;
	if (x->os.preferred != NULL) {
		const char *p = x->os.preferred;

		while (*p != '\0' && norder < M_COUNT) {
			size_t n = strcspn(p, ",");

			for (i = 0; i < M_COUNT; i++)
				if (strlen(mnames[i].name) == n &&
				    strncmp(p, mnames[i].name, n) == 0)
					order[norder++] = i;
			p += n;
			if (*p == ',')
				p++;
		}
	} else {
		for (i = 0; i < M_COUNT; i++)
			order[norder++] = i;
	}

	/* Non-blocking, so that every wait is ours to bound (again()). */
	ssh_set_blocking(s, 0);
	do
		rc = ssh_userauth_none(s, NULL);
	while (again(&st, &rc, &dl));
	if (rc == SSH_AUTH_SUCCESS)
		goto ok;
	if (rc == SSH_AUTH_ERROR) {
		rc = lost(&st);
		goto out;
	}
	if ((banner = ssh_get_issue_banner(s)) != NULL) {
		size_t bl = strlen(banner);

		while (bl > 0 && (banner[bl - 1] == '\n' || banner[bl - 1] == '\r'))
			banner[--bl] = '\0';
		if (bl > 0)
			notice(x, banner);
		ssh_string_free_char(banner);
	}
	methods = ssh_userauth_list(s, NULL);
	methods_str(methods, offered, sizeof(offered));
	debugf(x, "Authentications that can continue: %s", offered);
again:
	memset(done, 0, sizeof(done));
	for (i = 0; i < norder; i++) {
		int m = order[i];

		if (done[m] || !enabled[m] || !(methods & mnames[m].bit))
			continue;
		done[m] = 1;
		if (m != M_PUBKEY && x->batch) {
			note_add(x, "BatchMode: no password or "
			    "keyboard-interactive prompts");
			continue;
		}
		switch (m) {
		case M_PUBKEY:
			rc = auth_pubkey(&st);
			break;
		case M_KBDINT:
			rc = auth_kbdint(&st);
			break;
		default:
			rc = auth_password(&st);
			break;
		}
		if (rc == SSH_AUTH_SUCCESS)
			goto ok;
		if (rc == SSH_AUTH_ERROR && (st.lost || st.timed_out ||
		    gone(s))) {
			rc = lost(&st);
			goto out;
		}
		methods = ssh_userauth_list(s, NULL);
		if (rc == SSH_AUTH_PARTIAL && partials++ < 8) {
			/* One method of several required (AuthenticationMethods
			 * in sshd_config) is done: go on with what the server
			 * asks for now, and the keys not offered yet. */
			debugf(x, "Authenticated with partial success.");
			goto again;
		}
	}
	methods_str(methods, offered, sizeof(offered));
	errf(x->err, x->errlen, "Permission denied for %s@%s (tried: %s; server "
	    "offers: %s%s)", x->c->user, x->tg.host,
	    x->tried[0] ? x->tried : "nothing", offered, x->notes);
	rc = SSHCONN_ERR_AUTH;
	goto out;
ok:
	debugf(x, "Authenticated to %s as %s.", x->hostport, x->c->user);
	{
		/* The last attempt is the one that worked. */
		const char *last = strrchr(x->tried, ',');

		last = last != NULL ? last + 2 : x->tried[0] ? x->tried : "none";
		snprintf(x->c->auth, sizeof(x->c->auth), "with %s (server offers: %s)",
		    last, offered);
	}
	rc = 0;
out:
	ssh_set_blocking(s, 1);
	for (k = 0; k < st.nids; k++)
		ident_free(&st.ids[k]);
	free(st.ids);
	agent_keys_free(&st.ak);
	free(st.agent_path);
	return rc;
}
