/*
 * auth.c - authentication as ssh(1) does it: which methods are tried, in which
 * order, with which key files, and what is asked; libssh 0.10 does the
 * exchanges but ignores IdentitiesOnly and hides its own choice of key files.
 * A failure says what was tried and what the server offers.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/auth.h"
#include "client/prompt.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"

#define DEFAULT_PROMPTS		3	/* NumberOfPasswordPrompts */

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

static int
auth_pubkey(struct ctx *x, char *const *ids, const int *explicit, size_t nids)
{
	ssh_session s = x->c->session;
	char shown[PATH_MAX], pubpath[PATH_MAX + 8];
	const char *agent = getenv("SSH_AUTH_SOCK");
	size_t i;
	int rc;

	/* libssh cannot filter the agent's keys by identity file, so
	 * IdentitiesOnly leaves the agent out rather than offer them all. */
	if (agent != NULL && *agent != '\0' && x->os.identities_only != 1) {
		debugf(x, "Offering the keys of the agent at %s.", agent);
		rc = ssh_userauth_agent(s, NULL);
		tried_add(x, "agent", NULL);
		if (rc == SSH_AUTH_SUCCESS || rc == SSH_AUTH_PARTIAL)
			return rc;
		if (rc == SSH_AUTH_ERROR && !ssh_is_connected(s))
			return rc;
	}
	for (i = 0; i < nids; i++) {
		ssh_key pub = NULL, priv = NULL;
		int accepted = 0;

		display_path(x->home, ids[i], shown, sizeof(shown));
		if (access(ids[i], R_OK) != 0) {
			if (explicit[i])
				noticef(x, "Warning: Identity file %s not "
				    "accessible: %s.", shown, strerror(errno));
			continue;
		}
		/* The public half first, so the server can decline a key
		 * before anyone is asked for its passphrase. */
		snprintf(pubpath, sizeof(pubpath), "%s.pub", ids[i]);
		if (ssh_pki_import_pubkey_file(pubpath, &pub) == SSH_OK ||
		    ssh_pki_import_pubkey_file(ids[i], &pub) == SSH_OK) {
			debugf(x, "Offering public key %s.", shown);
			rc = ssh_userauth_try_publickey(s, NULL, pub);
			ssh_key_free(pub);
			if (rc == SSH_AUTH_DENIED) {
				tried_add(x, "publickey", shown);
				continue;
			}
			if (rc != SSH_AUTH_SUCCESS)
				return rc;
			accepted = 1;
		}
		if (load_private(x, ids[i], shown, &priv) != 0) {
			if (accepted)
				tried_add(x, "publickey", shown);
			continue;
		}
		debugf(x, "Authenticating with %s.", shown);
		rc = ssh_userauth_publickey(s, NULL, priv);
		ssh_key_free(priv);
		tried_add(x, "publickey", shown);
		if (rc != SSH_AUTH_DENIED)
			return rc;
	}
	return SSH_AUTH_DENIED;
}

static int
auth_kbdint(struct ctx *x)
{
	ssh_session s = x->c->session;
	char answer[MAX_ANSWER];
	int rc, rounds = 0, n, i, gave_up = 0;

	debugf(x, "Trying keyboard-interactive.");
	tried_add(x, "keyboard-interactive", NULL);
	rc = ssh_userauth_kbdint(s, NULL, NULL);
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
		rc = ssh_userauth_kbdint(s, NULL, NULL);
	}
	if (gave_up)
		note_add(x, x->batch ? "BatchMode: no prompts" :
		    "no terminal to answer keyboard-interactive prompts on");
	return rc == SSH_AUTH_INFO ? SSH_AUTH_DENIED : rc;
}

static int
auth_password(struct ctx *x)
{
	ssh_session s = x->c->session;
	char prompt[600], pw[MAX_ANSWER];
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
		rc = ssh_userauth_password(s, NULL, pw);
		explicit_bzero(pw, sizeof(pw));
		if (rc != SSH_AUTH_DENIED)
			return rc;
		if (i + 1 < max)
			notice(x, "Permission denied, please try again.");
	}
	return rc;
}

/* Expands ~ and the %-tokens ssh(1) allows in IdentityFile. */
static char *
expand_path(struct ctx *x, const char *in)
{
	char out[PATH_MAX], tmp[32], lhost[256];
	const char *p = in, *s;
	size_t n = 0, add;

	if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
		n = (size_t)snprintf(out, sizeof(out), "%s", x->home);
		p++;
	}
	for (; *p != '\0' && n < sizeof(out); p++) {
		char one[2] = { *p, '\0' };

		s = one;
		if (*p == '%' && p[1] != '\0') {
			switch (*++p) {
			case 'd': s = x->home; break;
			case 'u': s = x->local_user; break;
			case 'h': s = x->c->host; break;
			case 'r': s = x->c->user; break;
			case 'n': s = x->tg.host; break;
			case 'p':
				snprintf(tmp, sizeof(tmp), "%d", x->c->port);
				s = tmp;
				break;
			case 'i':
				snprintf(tmp, sizeof(tmp), "%u",
				    (unsigned int)getuid());
				s = tmp;
				break;
			case 'l':
				if (gethostname(lhost, sizeof(lhost)) != 0)
					snprintf(lhost, sizeof(lhost), "localhost");
				lhost[sizeof(lhost) - 1] = '\0';
				s = lhost;
				break;
			case '%': s = "%"; break;
			default:
				return NULL;
			}
		}
		add = strlen(s);
		if (n + add >= sizeof(out))
			return NULL;
		memcpy(out + n, s, add);
		n += add;
	}
	if (n >= sizeof(out))
		return NULL;
	out[n] = '\0';
	return strdup(out);
}

/*
 * The key files to try, in ssh(1)'s order: -i, then -o IdentityFile, then
 * ssh_config's IdentityFile; the default files only when none was named.
 * explicit[] marks the named ones, whose absence deserves a warning.
 */
static int
build_ids(struct ctx *x, char **ids, int *explicit, size_t *nids)
{
	static const char *const defaults[] = { "~/.ssh/id_ed25519",
	    "~/.ssh/id_ecdsa", "~/.ssh/id_rsa" };
	const char *named[SSHOPT_MAX_IDS + 8];
	size_t nn = 0, i, j, n = 0;
	int is_default = 0;

	for (i = 0; i < x->o->nidentities && nn < SSHOPT_MAX_IDS; i++)
		named[nn++] = x->o->identities[i];
	for (i = 0; i < x->os.nids && nn < SSHOPT_MAX_IDS; i++)
		named[nn++] = x->os.ids[i];
	if (x->have_ch && x->ch.identityfile != NULL && nn < SSHOPT_MAX_IDS)
		named[nn++] = x->ch.identityfile;
	if (nn == 0) {
		for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			named[nn++] = defaults[i];
		is_default = 1;
	}
	for (i = 0; i < nn; i++) {
		char *e = expand_path(x, named[i]);

		if (e == NULL) {
			noticef(x, "Warning: cannot expand identity file %s.",
			    named[i]);
			continue;
		}
		for (j = 0; j < n; j++)
			if (strcmp(ids[j], e) == 0)
				break;
		if (j < n) {
			free(e);
			continue;
		}
		explicit[n] = !is_default;
		ids[n++] = e;
	}
	*nids = n;
	return 0;
}

enum { M_PUBKEY, M_KBDINT, M_PASSWORD, M_COUNT };

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
	char *ids[SSHOPT_MAX_IDS + 8];
	char offered[128] = "none: no authentication asked";
	int explicit[SSHOPT_MAX_IDS + 8], order[M_COUNT], done[M_COUNT];
	int enabled[M_COUNT], norder = 0, methods, rc, i, partials = 0;
	size_t nids = 0, k;
	char *banner;

	build_ids(x, ids, explicit, &nids);
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

	rc = ssh_userauth_none(s, NULL);
	if (rc == SSH_AUTH_SUCCESS)
		goto ok;
	if (rc == SSH_AUTH_ERROR) {
		errf(x->err, x->errlen, "authentication with %s failed: %s",
		    x->tg.host, sess_error(x));
		rc = SSHCONN_ERR_PROTOCOL;
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
			rc = auth_pubkey(x, ids, explicit, nids);
			break;
		case M_KBDINT:
			rc = auth_kbdint(x);
			break;
		default:
			rc = auth_password(x);
			break;
		}
		if (rc == SSH_AUTH_SUCCESS)
			goto ok;
		if (rc == SSH_AUTH_ERROR && !ssh_is_connected(s)) {
			errf(x->err, x->errlen, "authentication with %s failed: "
			    "%s", x->tg.host, sess_error(x));
			rc = SSHCONN_ERR_PROTOCOL;
			goto out;
		}
		methods = ssh_userauth_list(s, NULL);
		if (rc == SSH_AUTH_PARTIAL && partials++ < 8) {
			/* One method of several required (AuthenticationMethods
			 * in sshd_config) is done: start over with what the
			 * server asks for now. */
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
	for (k = 0; k < nids; k++)
		free(ids[k]);
	return rc;
}
