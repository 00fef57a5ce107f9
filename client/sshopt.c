/*
 * sshopt.c - the options of one connection as ssh(1) resolves them: -o options
 * (parsed and checked here, because libssh 0.10 ignores or hides several of
 * them: StrictHostKeyChecking with accept-new, BatchMode, IdentitiesOnly...),
 * the host as typed, and ssh_config, read both by libssh into the session and
 * by client/sshconf.c for the keywords libssh does not expose.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libssh/libssh.h>

#include "client/sshconf.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"

/* ---- -o options ---------------------------------------------------------- */

enum otype {
	OT_STRICT, OT_PATH, OT_STRING, OT_SECONDS, OT_COUNT, OT_PORT, OT_FLAG,
	OT_IDENTITY, OT_FAMILY, OT_PREFERRED, OT_ALGOS, OT_LOGLEVEL, OT_JUMP,
	OT_IGNORE, OT_ONLY_NO
};

static const struct okey {
	const char *name;
	enum otype type;
	size_t off;
} okeys[] = {
	{ "StrictHostKeyChecking", OT_STRICT, offsetof(struct sshopt, strict) },
	{ "UserKnownHostsFile", OT_PATH, offsetof(struct sshopt, known_hosts) },
	{ "GlobalKnownHostsFile", OT_PATH,
	    offsetof(struct sshopt, global_known_hosts) },
	{ "ConnectTimeout", OT_SECONDS,
	    offsetof(struct sshopt, connect_timeout) },
	{ "ServerAliveInterval", OT_SECONDS,
	    offsetof(struct sshopt, alive_interval) },
	{ "ServerAliveCountMax", OT_COUNT,
	    offsetof(struct sshopt, alive_count_max) },
	{ "Port", OT_PORT, offsetof(struct sshopt, port) },
	{ "User", OT_STRING, offsetof(struct sshopt, user) },
	{ "HostName", OT_STRING, offsetof(struct sshopt, hostname) },
	{ "IdentityFile", OT_IDENTITY, 0 },
	{ "IdentitiesOnly", OT_FLAG, offsetof(struct sshopt, identities_only) },
	{ "BatchMode", OT_FLAG, offsetof(struct sshopt, batch) },
	{ "ProxyJump", OT_JUMP, offsetof(struct sshopt, proxyjump) },
	{ "ProxyCommand", OT_STRING, offsetof(struct sshopt, proxycommand) },
	{ "AddressFamily", OT_FAMILY, offsetof(struct sshopt, family) },
	{ "PreferredAuthentications", OT_PREFERRED,
	    offsetof(struct sshopt, preferred) },
	{ "PubkeyAuthentication", OT_FLAG,
	    offsetof(struct sshopt, pubkey_auth) },
	{ "KbdInteractiveAuthentication", OT_FLAG,
	    offsetof(struct sshopt, kbdint_auth) },
	{ "PasswordAuthentication", OT_FLAG,
	    offsetof(struct sshopt, password_auth) },
	{ "NumberOfPasswordPrompts", OT_COUNT,
	    offsetof(struct sshopt, password_prompts) },
	{ "KexAlgorithms", OT_ALGOS, offsetof(struct sshopt, kex) },
	{ "Ciphers", OT_ALGOS, offsetof(struct sshopt, ciphers) },
	{ "MACs", OT_ALGOS, offsetof(struct sshopt, macs) },
	{ "HostKeyAlgorithms", OT_ALGOS, offsetof(struct sshopt, hostkeys) },
	{ "LogLevel", OT_LOGLEVEL, offsetof(struct sshopt, log_level) },
	/* Harmless here: the tunnel compresses itself, TCP keepalive is always
	 * on, and codex-connect multiplexes its own channels. */
	{ "Compression", OT_IGNORE, 0 },
	{ "TCPKeepAlive", OT_IGNORE, 0 },
	{ "CheckHostIP", OT_IGNORE, 0 },
	{ "RequestTTY", OT_IGNORE, 0 },
	{ "ControlPath", OT_IGNORE, 0 },
	{ "ControlPersist", OT_IGNORE, 0 },
	{ "ControlMaster", OT_ONLY_NO, 0 },
	{ "ForwardAgent", OT_ONLY_NO, 0 },
	{ "ForwardX11", OT_ONLY_NO, 0 },
};

/* Keys ssh(1) knows that have no meaning or no support here; named so the
 * error is "not supported" rather than "unknown". */
static const char *const unsupported_keys[] = {
	"HostKeyAlias", "LocalForward", "RemoteForward", "DynamicForward",
	"SendEnv", "SetEnv", "RemoteCommand", "ForwardX11Trusted",
	"CertificateFile", "HostbasedAuthentication", "GSSAPIAuthentication",
	"CanonicalizeHostname", "VerifyHostKeyDNS", "UpdateHostKeys",
	"PermitLocalCommand", "LocalCommand", "EscapeChar", "ExitOnForwardFailure",
	"HashKnownHosts", "IdentityAgent", "AddKeysToAgent", "BindAddress",
	"BindInterface", "StdinNull", "ForkAfterAuthentication", "SessionType",
	"Tunnel", "TunnelDevice", "ClearAllForwardings", "GatewayPorts",
	"StreamLocalBindMask", "StreamLocalBindUnlink", "UseKeychain",
};

void
sshopt_init(struct sshopt *s)
{
	memset(s, 0, sizeof(*s));
	s->strict = s->connect_timeout = s->alive_interval = -1;
	s->alive_count_max = s->port = s->identities_only = s->batch = -1;
	s->family = s->pubkey_auth = s->kbdint_auth = s->password_auth = -1;
	s->password_prompts = s->log_level = -1;
}

void
sshopt_clear(struct sshopt *s)
{
	size_t i;

	free(s->known_hosts);
	free(s->global_known_hosts);
	free(s->user);
	free(s->hostname);
	for (i = 0; i < s->nids; i++)
		free(s->ids[i]);
	free(s->proxyjump);
	free(s->proxycommand);
	free(s->preferred);
	free(s->kex);
	free(s->ciphers);
	free(s->macs);
	free(s->hostkeys);
	sshopt_init(s);
}

static int
parse_flag(const char *v)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		return 1;
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		return 0;
	return -1;
}

/* ssh_config time: a number of seconds, or a sum like 1m30s. */
static int
parse_seconds(const char *v)
{
	long total = 0, n;
	char *end;

	if (*v == '\0')
		return -1;
	while (*v != '\0') {
		if (!isdigit((unsigned char)*v))
			return -1;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || n > INT_MAX)
			return -1;
		switch (*end) {
		case '\0':
		case 's':
		case 'S':
			break;
		case 'm':
		case 'M':
			n *= 60;
			break;
		case 'h':
		case 'H':
			n *= 3600;
			break;
		default:
			return -1;
		}
		total += n;
		if (total > INT_MAX)
			return -1;
		v = *end == '\0' ? end : end + 1;
	}
	return (int)total;
}

static int
parse_port(const char *v)
{
	char *end;
	long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > 65535)
		return -1;
	return (int)n;
}

static int
valid_preferred(const char *v)
{
	static const char *const known[] = { "publickey", "keyboard-interactive",
	    "password", "gssapi-with-mic", "hostbased" };
	const char *p = v;
	size_t i, n;

	while (*p != '\0') {
		n = strcspn(p, ",");
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strlen(known[i]) == n && strncmp(p, known[i], n) == 0)
				break;
		if (n == 0 || i == sizeof(known) / sizeof(known[0]))
			return 0;
		p += n;
		if (*p == ',')
			p++;
	}
	return *v != '\0';
}

/*
 * Splits "Key=Value", "Key Value" or "Key = Value" (ssh(1) accepts all three) and
 * applies it to s when s is not NULL. Returns 0 or SSHCONN_ERR_ARG/NOMEM with a
 * message in err.
 */
int
sshopt_apply(struct sshopt *s, const char *opt, char *err, size_t errlen)
{
	char key[64], val[4096];
	const struct okey *k = NULL;
	const char *p = opt, *vs;
	size_t kl, vl, i;
	int n;

	while (isspace((unsigned char)*p))
		p++;
	kl = strcspn(p, " \t=");
	if (kl == 0 || kl >= sizeof(key)) {
		errf(err, errlen, "bad -o option '%s': expected Key=Value", opt);
		return SSHCONN_ERR_ARG;
	}
	memcpy(key, p, kl);
	key[kl] = '\0';
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

	for (i = 0; i < sizeof(okeys) / sizeof(okeys[0]); i++)
		if (strcasecmp(okeys[i].name, key) == 0)
			k = &okeys[i];
	if (k == NULL) {
		for (i = 0; i < sizeof(unsupported_keys) /
		    sizeof(unsupported_keys[0]); i++) {
			if (strcasecmp(unsupported_keys[i], key) == 0) {
				errf(err, errlen, "-o %s is not supported by "
				    "codex-connect", unsupported_keys[i]);
				return SSHCONN_ERR_ARG;
			}
		}
		errf(err, errlen, "unknown option -o %s (codex-connect takes "
		    "ssh's StrictHostKeyChecking, UserKnownHostsFile, "
		    "ConnectTimeout, ServerAliveInterval, Port, User, HostName, "
		    "IdentityFile, BatchMode, ProxyJump and a few more)", key);
		return SSHCONN_ERR_ARG;
	}
	if (val[0] == '\0' && k->type != OT_IGNORE) {
		errf(err, errlen, "-o %s needs a value", k->name);
		return SSHCONN_ERR_ARG;
	}
	switch (k->type) {
	case OT_STRICT:
		if (strcasecmp(val, "accept-new") == 0)
			n = SSHOPT_STRICT_ACCEPT_NEW;
		else if (strcasecmp(val, "ask") == 0)
			n = SSHOPT_STRICT_ASK;
		else if (strcasecmp(val, "off") == 0)
			n = SSHOPT_STRICT_NO;
		else if ((n = parse_flag(val)) != -1)
			n = n ? SSHOPT_STRICT_YES : SSHOPT_STRICT_NO;
		if (n == -1)
			goto bad;
		goto set_int;
	case OT_SECONDS:
		if ((n = parse_seconds(val)) == -1)
			goto bad;
		goto set_int;
	case OT_COUNT:
		if (!isdigit((unsigned char)val[0]) ||
		    (n = parse_seconds(val)) == -1 || strpbrk(val, "smhSMH"))
			goto bad;
		goto set_int;
	case OT_PORT:
		if ((n = parse_port(val)) == -1)
			goto bad;
		goto set_int;
	case OT_FLAG:
		if ((n = parse_flag(val)) == -1)
			goto bad;
		goto set_int;
	case OT_FAMILY:
		if (strcasecmp(val, "any") == 0)
			n = AF_UNSPEC;
		else if (strcasecmp(val, "inet") == 0)
			n = AF_INET;
		else if (strcasecmp(val, "inet6") == 0)
			n = AF_INET6;
		else
			goto bad;
		goto set_int;
	case OT_LOGLEVEL:
		if (strcasecmp(val, "quiet") == 0 || strcasecmp(val, "fatal") == 0 ||
		    strcasecmp(val, "error") == 0 || strcasecmp(val, "info") == 0)
			n = 0;
		else if (strcasecmp(val, "verbose") == 0 ||
		    strcasecmp(val, "debug") == 0 || strcasecmp(val, "debug1") == 0)
			n = 1;
		else if (strcasecmp(val, "debug2") == 0)
			n = 2;
		else if (strcasecmp(val, "debug3") == 0)
			n = 3;
		else
			goto bad;
		goto set_int;
	case OT_PREFERRED:
		if (!valid_preferred(val))
			goto bad;
		goto set_str;
	case OT_JUMP:
		if (strcspn(val, " \t'\"`$;&|<>\\") != strlen(val))
			goto bad;
		goto set_str;
	case OT_PATH:
		/* libssh takes one file; ssh(1) allows a list. */
		if (strcspn(val, " \t") != strlen(val)) {
			errf(err, errlen, "-o %s: only one file is supported",
			    k->name);
			return SSHCONN_ERR_ARG;
		}
		goto set_str;
	case OT_STRING:
	case OT_ALGOS:
		goto set_str;
	case OT_IDENTITY:
		if (s == NULL)
			return 0;
		if (s->nids == SSHOPT_MAX_IDS) {
			errf(err, errlen, "too many identity files (at most %d)",
			    SSHOPT_MAX_IDS);
			return SSHCONN_ERR_ARG;
		}
		if ((s->ids[s->nids] = strdup(val)) == NULL)
			return SSHCONN_ERR_NOMEM;
		s->nids++;
		return 0;
	case OT_ONLY_NO:
		if (parse_flag(val) != 0) {
			errf(err, errlen, "-o %s=%s is not supported by "
			    "codex-connect (only \"no\")", k->name, val);
			return SSHCONN_ERR_ARG;
		}
		return 0;
	case OT_IGNORE:
		return 0;
	}
	return 0;

set_int:
	if (s != NULL) {
		int *ip = (int *)(void *)((char *)s + k->off);

		if (*ip == -1)
			*ip = n;
	}
	return 0;
set_str:
	if (s != NULL) {
		char **sp = (char **)(void *)((char *)s + k->off);

		if (*sp == NULL && (*sp = strdup(val)) == NULL)
			return SSHCONN_ERR_NOMEM;
	}
	return 0;
bad:
	errf(err, errlen, "bad value for -o %s: '%s'", k->name, val);
	return SSHCONN_ERR_ARG;
}

int
sshconn_check_option(const char *option, char *err, size_t errlen)
{
	return sshopt_apply(NULL, option, err, errlen);
}

/* ---- the host as typed ---------------------------------------------------- */

void
sshopt_target_clear(struct sshopt_target *t)
{
	free(t->user);
	free(t->host);
	memset(t, 0, sizeof(*t));
}

/*
 * A name that may end up in a ProxyCommand's shell command line (%h, %r) must not
 * carry shell syntax or look like an option; ssh(1) 9.6 refuses the same ones.
 */
static int
valid_word(const char *s, const char *extra_ok)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0' || *p == '-')
		return 0;
	for (; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f)
			return 0;
		if (strchr("'`\"$\\;&<>|(){}[]:%", *p) != NULL &&
		    (extra_ok == NULL || strchr(extra_ok, *p) == NULL))
			return 0;
	}
	return 1;
}

/* alias, host, user@host, user@host:port, [v6]:port, bare v6, ssh:// URIs. */
int
sshopt_parse_target(const char *in, struct sshopt_target *t, char *err,
    size_t errlen)
{
	char *buf = NULL, *hp, *at, *c, *host = NULL;
	const char *p = in;
	int uri = 0, rc = SSHCONN_ERR_ARG, v6 = 0;
	size_t n;

	memset(t, 0, sizeof(*t));
	if (strncasecmp(p, "ssh://", 6) == 0) {
		p += 6;
		uri = 1;
	}
	if ((buf = strdup(p)) == NULL)
		return SSHCONN_ERR_NOMEM;
	n = strlen(buf);
	if (uri && n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (uri && strchr(buf, '/') != NULL) {
		errf(err, errlen, "'%s': an ssh:// URI cannot have a path", in);
		goto out;
	}
	/* User names may contain '@'; host names may not. */
	if ((at = strrchr(buf, '@')) != NULL) {
		*at = '\0';
		if (!valid_word(buf, "@%")) {
			errf(err, errlen, "'%s': invalid user name", in);
			goto out;
		}
		if ((t->user = strdup(buf)) == NULL) {
			rc = SSHCONN_ERR_NOMEM;
			goto out;
		}
		hp = at + 1;
	} else
		hp = buf;

	if (hp[0] == '[') {
		if ((c = strchr(hp, ']')) == NULL) {
			errf(err, errlen, "'%s': missing ']'", in);
			goto out;
		}
		*c++ = '\0';
		host = hp + 1;
		v6 = 1;
		if (*c == ':') {
			if ((t->port = parse_port(c + 1)) == -1) {
				errf(err, errlen, "'%s': bad port", in);
				goto out;
			}
		} else if (*c != '\0') {
			errf(err, errlen, "'%s': unexpected text after ']'", in);
			goto out;
		}
	} else if ((c = strchr(hp, ':')) != NULL && strchr(c + 1, ':') == NULL) {
		*c++ = '\0';
		host = hp;
		if ((t->port = parse_port(c)) == -1) {
			errf(err, errlen, "'%s': bad port", in);
			goto out;
		}
	} else {
		/* No colon, or several: a bare IPv6 address, no port. */
		host = hp;
		v6 = c != NULL;
	}
	if (!valid_word(host, v6 ? ":%" : NULL)) {
		errf(err, errlen, "'%s': invalid host name", in);
		goto out;
	}
	if ((t->host = strdup(host)) == NULL) {
		rc = SSHCONN_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	free(buf);
	if (rc != 0)
		sshopt_target_clear(t);
	return rc;
}

/* ---- ssh_config and the command line ------------------------------------- */

int
sshopt_strict_from_config(const char *v)
{
	if (v == NULL)
		return -1;
	if (strcmp(v, "yes") == 0)
		return SSHOPT_STRICT_YES;
	if (strcmp(v, "no") == 0)
		return SSHOPT_STRICT_NO;
	if (strcmp(v, "accept-new") == 0)
		return SSHOPT_STRICT_ACCEPT_NEW;
	if (strcmp(v, "ask") == 0)
		return SSHOPT_STRICT_ASK;
	return -1;
}

static int
set_algos(struct ctx *x, enum ssh_options_e a, enum ssh_options_e b,
    const char *v, const char *name)
{
	if (v == NULL)
		return 0;
	if (ssh_options_set(x->c->session, a, v) < 0 ||
	    (b != a && ssh_options_set(x->c->session, b, v) < 0)) {
		errf(x->err, x->errlen, "-o %s=%s: %s", name, v, sess_error(x));
		return SSHCONN_ERR_ARG;
	}
	return 0;
}

/* Everything libssh should know before connecting, after ssh_config: what the
 * command line says beats the file. */
int
sshopt_apply_overrides(struct ctx *x)
{
	ssh_session s = x->c->session;
	const char *user = x->o->user != NULL ? x->o->user :
	    x->tg.user != NULL ? x->tg.user : x->os.user;
	int port = x->o->port > 0 ? x->o->port : x->tg.port > 0 ? x->tg.port :
	    x->os.port;
	long timeout = x->timeout;
	int rc;

	if (user != NULL && (!valid_word(user, "@%") ||
	    ssh_options_set(s, SSH_OPTIONS_USER, user) < 0)) {
		errf(x->err, x->errlen, "invalid user name '%s'", user);
		return SSHCONN_ERR_ARG;
	}
	if (port > 0) {
		unsigned int p = (unsigned int)port;

		if (ssh_options_set(s, SSH_OPTIONS_PORT, &p) < 0)
			return SSHCONN_ERR_NOMEM;
	}
	if (x->os.hostname != NULL && (!valid_word(x->os.hostname, ":%") ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, x->os.hostname) < 0)) {
		errf(x->err, x->errlen, "invalid -o HostName '%s'",
		    x->os.hostname);
		return SSHCONN_ERR_ARG;
	}
	if (x->os.known_hosts != NULL && ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS,
	    strcasecmp(x->os.known_hosts, "none") == 0 ? "/dev/null" :
	    x->os.known_hosts) < 0)
		return SSHCONN_ERR_NOMEM;
	if (x->os.global_known_hosts != NULL && ssh_options_set(s,
	    SSH_OPTIONS_GLOBAL_KNOWNHOSTS, strcasecmp(x->os.global_known_hosts,
	    "none") == 0 ? "/dev/null" : x->os.global_known_hosts) < 0)
		return SSHCONN_ERR_NOMEM;
	if ((rc = set_algos(x, SSH_OPTIONS_KEY_EXCHANGE, SSH_OPTIONS_KEY_EXCHANGE,
	    x->os.kex, "KexAlgorithms")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_CIPHERS_C_S, SSH_OPTIONS_CIPHERS_S_C,
	    x->os.ciphers, "Ciphers")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_HMAC_C_S, SSH_OPTIONS_HMAC_S_C,
	    x->os.macs, "MACs")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_HOSTKEYS, SSH_OPTIONS_HOSTKEYS,
	    x->os.hostkeys, "HostKeyAlgorithms")) != 0)
		return rc;
	if (ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0)
		return SSHCONN_ERR_NOMEM;
	return 0;
}

int
sshopt_load_config(struct ctx *x)
{
	struct sshconf_opts so;
	char *user_file = NULL;
	size_t i;
	int rc;

	memset(&so, 0, sizeof(so));
	so.home = x->home;
	so.local_user = x->local_user;
	if (x->o->config_file != NULL) {
		/* ssh -F reads that file alone. */
		so.user_file = x->o->config_file;
	} else {
		if (asprintf(&user_file, "%s/.ssh/config", x->home) == -1)
			return SSHCONN_ERR_NOMEM;
		so.user_file = user_file;
		so.system_file = "/etc/ssh/ssh_config";
	}
	rc = sshconf_load(&so, &x->cfg);
	free(user_file);
	if (rc == PROTO_ERR_NOMEM)
		return SSHCONN_ERR_NOMEM;
	if (rc != 0) {
		x->cfg = NULL;	/* libssh's reading still applies */
		return 0;
	}
	for (i = 0; i < sshconf_nwarnings(x->cfg); i++)
		debugf(x, "ssh_config: %s", sshconf_warning(x->cfg, i));
	rc = sshconf_resolve(x->cfg, x->tg.host, &x->ch);
	if (rc == PROTO_ERR_NOMEM)
		return SSHCONN_ERR_NOMEM;
	x->have_ch = rc == 0;
	return 0;
}
