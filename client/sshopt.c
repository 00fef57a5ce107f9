/*
 * sshopt.c - the options of one connection as ssh(1) resolves them. The -o
 * options and every line of ssh_config (read by client/sshconf.c) go through
 * one interpreter, as in ssh(1)'s readconf.c: the keyword table below says what
 * each keyword does here. Host and Match blocks are evaluated here, because
 * libssh 0.10 evaluates them differently (Match host against the name typed,
 * no exec, one IdentityFile, no IdentitiesOnly or BatchMode); libssh gets the
 * result through ssh_options_set() and never reads ssh_config itself.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/hostkey.h"
#include "client/sshconf.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"
#include "client/ws.h"
#include "client/transport.h"

#define MAX_UNKNOWN	16	/* unknown keywords named once each */
#define MAX_EXPANDED	(64 * 1024)	/* an expanded path or command */

/* ---- a growing string ------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t n, cap;
	int fail;		/* out of memory or over MAX_EXPANDED */
};

static void
sb_add(struct sbuf *b, const char *s, size_t len)
{
	char *np;
	size_t ncap;

	if (b->fail)
		return;
	if (len > MAX_EXPANDED - b->n) {
		b->fail = 1;
		return;
	}
	if (b->n + len + 1 > b->cap) {
		ncap = (b->n + len + 1) * 2;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->fail = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* ---- the keyword table ------------------------------------------------------ */

enum otype {
	OT_STRICT, OT_KNOWN, OT_GKNOWN, OT_SECONDS, OT_TIMEOUT, OT_COUNT,
	OT_PORT, OT_STRING, OT_IDENTITY, OT_CERT, OT_FLAG, OT_PUBKEY, OT_AGENT,
	OT_JUMP, OT_PROXYCMD, OT_FAMILY, OT_PREFERRED, OT_ALGOS, OT_LOGLEVEL,
	OT_REKEY, OT_HOSTKEY, OT_IGNUNK, OT_CANON, OT_PERMITLC, OT_LOCALCMD,
	OT_CTLMASTER, OT_CTLPERSIST,
	OT_IGNORE,		/* accepted, no effect on a tunnel */
	OT_WARN,		/* not supported: named once */
	OT_WARN_YES,		/* not supported unless "no" */
	OT_WARN_NONE,		/* not supported unless "none" */
	OT_BLOCK		/* Host, Match, Include: files only */
};

#define F(field)	offsetof(struct sshopt, field)

static const struct okey {
	const char *name;
	enum otype type;
	size_t off;
} okeys[] = {
	{ "Host", OT_BLOCK, 0 },
	{ "Match", OT_BLOCK, 0 },
	{ "Include", OT_BLOCK, 0 },
	{ "HostName", OT_STRING, F(hostname) },
	{ "User", OT_STRING, F(user) },
	{ "Port", OT_PORT, F(port) },
	{ "IdentityFile", OT_IDENTITY, 0 },
	{ "IdentityFile2", OT_IDENTITY, 0 },
	{ "CertificateFile", OT_CERT, 0 },
	{ "IdentitiesOnly", OT_FLAG, F(identities_only) },
	{ "IdentityAgent", OT_AGENT, F(identity_agent) },
	{ "ProxyCommand", OT_PROXYCMD, 0 },
	{ "ProxyJump", OT_JUMP, 0 },
	{ "StrictHostKeyChecking", OT_STRICT, F(strict) },
	{ "UserKnownHostsFile", OT_KNOWN, 0 },
	{ "GlobalKnownHostsFile", OT_GKNOWN, 0 },
	{ "HostKeyAlias", OT_HOSTKEY, 0 },
	{ "HashKnownHosts", OT_HOSTKEY, 0 },
	{ "RevokedHostKeys", OT_HOSTKEY, 0 },
	{ "HostKeyAlgorithms", OT_ALGOS, F(hostkeys) },
	{ "ConnectTimeout", OT_TIMEOUT, F(connect_timeout) },
	{ "SetupTimeOut", OT_TIMEOUT, F(connect_timeout) },	/* Debian */
	{ "ServerAliveInterval", OT_SECONDS, F(alive_interval) },
	{ "ProtocolKeepAlives", OT_SECONDS, F(alive_interval) },	/* Debian */
	{ "ServerAliveCountMax", OT_COUNT, F(alive_count_max) },
	{ "BatchMode", OT_FLAG, F(batch) },
	{ "NumberOfPasswordPrompts", OT_COUNT, F(password_prompts) },
	{ "PreferredAuthentications", OT_PREFERRED, F(preferred) },
	{ "PubkeyAuthentication", OT_PUBKEY, F(pubkey_auth) },
	{ "DSAAuthentication", OT_PUBKEY, F(pubkey_auth) },
	{ "KbdInteractiveAuthentication", OT_FLAG, F(kbdint_auth) },
	{ "ChallengeResponseAuthentication", OT_FLAG, F(kbdint_auth) },
	{ "SKeyAuthentication", OT_FLAG, F(kbdint_auth) },
	{ "TISAuthentication", OT_FLAG, F(kbdint_auth) },
	{ "PasswordAuthentication", OT_FLAG, F(password_auth) },
	{ "KexAlgorithms", OT_ALGOS, F(kex) },
	{ "Ciphers", OT_ALGOS, F(ciphers) },
	{ "MACs", OT_ALGOS, F(macs) },
	{ "PubkeyAcceptedAlgorithms", OT_ALGOS, F(pubkey_algos) },
	{ "PubkeyAcceptedKeyTypes", OT_ALGOS, F(pubkey_algos) },
	{ "AddressFamily", OT_FAMILY, F(family) },
	{ "LogLevel", OT_LOGLEVEL, F(log_level) },
	{ "RekeyLimit", OT_REKEY, 0 },
	{ "IgnoreUnknown", OT_IGNUNK, F(ignore_unknown) },
	{ "CanonicalizeHostname", OT_CANON, F(canonicalize) },
	{ "PermitLocalCommand", OT_PERMITLC, F(permit_local_command) },
	{ "LocalCommand", OT_LOCALCMD, 0 },
	/* Connection sharing (client/share.h): our own master, not OpenSSH's. */
	{ "ControlMaster", OT_CTLMASTER, F(control_master) },
	{ "ControlPath", OT_STRING, F(control_path) },
	{ "ControlPersist", OT_CTLPERSIST, F(control_persist) },
	/* Not supported, and they would change what the connection does. */
	{ "LocalForward", OT_WARN, 0 },
	{ "RemoteForward", OT_WARN, 0 },
	{ "DynamicForward", OT_WARN, 0 },
	{ "BindAddress", OT_WARN, 0 },
	{ "BindInterface", OT_WARN, 0 },
	{ "SetEnv", OT_WARN, 0 },
	{ "RefuseConnection", OT_WARN, 0 },
	{ "ForwardAgent", OT_WARN_YES, 0 },
	{ "ForwardX11", OT_WARN_YES, 0 },
	{ "Tunnel", OT_WARN_YES, 0 },
	{ "VerifyHostKeyDNS", OT_WARN_YES, 0 },
	{ "HostbasedAuthentication", OT_WARN_YES, 0 },
	{ "EnableSSHKeysign", OT_WARN_YES, 0 },
	{ "ProxyUseFdpass", OT_WARN_YES, 0 },
	{ "StdinNull", OT_WARN_YES, 0 },
	{ "ForkAfterAuthentication", OT_WARN_YES, 0 },
	{ "RemoteCommand", OT_WARN_NONE, 0 },
	{ "KnownHostsCommand", OT_WARN_NONE, 0 },
	{ "PKCS11Provider", OT_WARN_NONE, 0 },
	{ "SmartcardDevice", OT_WARN_NONE, 0 },
	/* Accepted and ignored: no effect on a tunnel, or nothing to do
	 * (the tunnel compresses itself; TCP
	 * keepalive is always on; no terminal, X11 or forwarding). */
	{ "Compression", OT_IGNORE, 0 },
	{ "TCPKeepAlive", OT_IGNORE, 0 },
	{ "KeepAlive", OT_IGNORE, 0 },
	{ "CheckHostIP", OT_IGNORE, 0 },
	{ "RequestTTY", OT_IGNORE, 0 },
	{ "SessionType", OT_IGNORE, 0 },
	{ "EscapeChar", OT_IGNORE, 0 },
	{ "EnableEscapeCommandline", OT_IGNORE, 0 },
	{ "VisualHostKey", OT_IGNORE, 0 },
	{ "FingerprintHash", OT_IGNORE, 0 },
	{ "SyslogFacility", OT_IGNORE, 0 },
	{ "LogVerbose", OT_IGNORE, 0 },
	{ "IPQoS", OT_IGNORE, 0 },
	{ "SendEnv", OT_IGNORE, 0 },
	{ "UpdateHostKeys", OT_IGNORE, 0 },
	{ "NoHostAuthenticationForLocalhost", OT_IGNORE, 0 },
	{ "KbdInteractiveDevices", OT_IGNORE, 0 },
	{ "StreamLocalBindMask", OT_IGNORE, 0 },
	{ "StreamLocalBindUnlink", OT_IGNORE, 0 },
	{ "XAuthLocation", OT_IGNORE, 0 },
	{ "ForwardX11Timeout", OT_IGNORE, 0 },
	{ "ForwardX11Trusted", OT_IGNORE, 0 },
	{ "GatewayPorts", OT_IGNORE, 0 },
	{ "PermitRemoteOpen", OT_IGNORE, 0 },
	{ "ClearAllForwardings", OT_IGNORE, 0 },
	{ "ExitOnForwardFailure", OT_IGNORE, 0 },
	{ "ConnectionAttempts", OT_IGNORE, 0 },
	{ "HostbasedAcceptedAlgorithms", OT_IGNORE, 0 },
	{ "HostbasedKeyTypes", OT_IGNORE, 0 },
	{ "CASignatureAlgorithms", OT_IGNORE, 0 },
	{ "CanonicalDomains", OT_IGNORE, 0 },
	{ "CanonicalizeFallbackLocal", OT_IGNORE, 0 },
	{ "CanonicalizeMaxDots", OT_IGNORE, 0 },
	{ "CanonicalizePermittedCNAMEs", OT_IGNORE, 0 },
	{ "GSSAPIAuthentication", OT_IGNORE, 0 },
	{ "GSSAPIDelegateCredentials", OT_IGNORE, 0 },
	{ "GSSAPIKeyExchange", OT_IGNORE, 0 },
	{ "GSSAPIClientIdentity", OT_IGNORE, 0 },
	{ "GSSAPIServerIdentity", OT_IGNORE, 0 },
	{ "GSSAPIRenewalForcesRekey", OT_IGNORE, 0 },
	{ "GSSAPITrustDNS", OT_IGNORE, 0 },
	{ "GSSAPIKexAlgorithms", OT_IGNORE, 0 },
	{ "AddKeysToAgent", OT_IGNORE, 0 },
	{ "SecurityKeyProvider", OT_IGNORE, 0 },
	{ "TunnelDevice", OT_IGNORE, 0 },
	{ "ObscureKeystrokeTiming", OT_IGNORE, 0 },
	{ "ChannelTimeout", OT_IGNORE, 0 },
	{ "Tag", OT_IGNORE, 0 },
	{ "RequiredRSASize", OT_IGNORE, 0 },
	{ "WarnWeakCrypto", OT_IGNORE, 0 },
	/* Deprecated or unsupported in ssh(1) itself. */
	{ "Protocol", OT_IGNORE, 0 },
	{ "Cipher", OT_IGNORE, 0 },
	{ "CompressionLevel", OT_IGNORE, 0 },
	{ "FallBackToRsh", OT_IGNORE, 0 },
	{ "GlobalKnownHostsFile2", OT_IGNORE, 0 },
	{ "UserKnownHostsFile2", OT_IGNORE, 0 },
	{ "RhostsAuthentication", OT_IGNORE, 0 },
	{ "RhostsRSAAuthentication", OT_IGNORE, 0 },
	{ "RSAAuthentication", OT_IGNORE, 0 },
	{ "UseRoaming", OT_IGNORE, 0 },
	{ "UseRsh", OT_IGNORE, 0 },
	{ "UsePrivilegedPort", OT_IGNORE, 0 },
	{ "AFSTokenPassing", OT_IGNORE, 0 },
	{ "KerberosAuthentication", OT_IGNORE, 0 },
	{ "KerberosTGTPassing", OT_IGNORE, 0 },
};

#undef F

#define NKEYS	(sizeof(okeys) / sizeof(okeys[0]))

/* said[] has one entry per keyword. */
typedef char okeys_fit[NKEYS <= SSHOPT_MAX_KEYS ? 1 : -1];

static const struct okey *
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcasecmp(okeys[i].name, name) == 0)
			return &okeys[i];
	return NULL;
}

/* The defaults ssh(1) 9.2 tries when no identity file is named. */
static const char *const default_ids[] = {
	"~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
	"~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss",
	"~/.ssh/id_dsa"
};

void
sshopt_init(struct sshopt *s)
{
	memset(s, 0, sizeof(*s));
	s->strict = s->connect_timeout = s->alive_interval = -1;
	s->alive_count_max = s->port = s->identities_only = s->batch = -1;
	s->family = s->pubkey_auth = s->kbdint_auth = s->password_auth = -1;
	s->password_prompts = s->log_level = s->rekey_time = -1;
	s->canonicalize = s->permit_local_command = -1;
	s->rekey_data = -1;
	s->control_master = s->control_persist = -1;
}

void
sshopt_clear(struct sshopt *s)
{
	size_t i;

	free(s->known_hosts);
	free(s->known_hosts_all);
	free(s->global_known_hosts);
	free(s->global_known_hosts_all);
	free(s->user);
	free(s->hostname);
	for (i = 0; i < s->nids; i++)
		free(s->ids[i]);
	for (i = 0; i < s->ncerts; i++)
		free(s->certs[i]);
	free(s->identity_agent);
	free(s->proxyjump);
	free(s->proxycommand);
	free(s->preferred);
	free(s->kex);
	free(s->ciphers);
	free(s->macs);
	free(s->hostkeys);
	free(s->pubkey_algos);
	free(s->ignore_unknown);
	free(s->control_path);
	sshopt_init(s);
}

/* ---- values ---------------------------------------------------------------- */

static int
parse_flag(const char *v)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0)
		return 1;
	if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0)
		return 0;
	return -1;
}

static int
parse_count(const char *v)
{
	long n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		n = n * 10 + (*v - '0');
		if (n > INT_MAX)
			return -1;
	}
	return (int)n;
}

/* RekeyLimit's amount: bytes with an optional K, M or G; "default" is 0. */
static long long
parse_bytes(const char *v)
{
	long long n = 0;

	if (strcasecmp(v, "default") == 0)
		return 0;
	if (!isdigit((unsigned char)*v))
		return -1;
	for (; isdigit((unsigned char)*v); v++) {
		n = n * 10 + (*v - '0');
		if (n > (1LL << 40))
			return -1;
	}
	switch (*v) {
	case '\0': break;
	case 'k': case 'K': n <<= 10; v++; break;
	case 'm': case 'M': n <<= 20; v++; break;
	case 'g': case 'G': n <<= 30; v++; break;
	default: return -1;
	}
	/* ssh(1) refuses limits under 16 bytes, other than 0. */
	if (*v != '\0' || (n > 0 && n < 16))
		return -1;
	return n;
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

/* "no", "false", "none" or "0": an unsupported keyword set to do nothing. */
static int
is_off(const char *v)
{
	return parse_flag(v) == 0 || strcasecmp(v, "none") == 0 ||
	    strcmp(v, "0") == 0;
}

static int
str_once(char **dst, const char *v)
{
	if (*dst == NULL && (*dst = strdup(v)) == NULL)
		return SSHCONN_ERR_NOMEM;
	return 0;
}

/* The words, space separated. */
static char *
join_words(char *const *args, size_t nargs)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	size_t i;

	for (i = 0; i < nargs; i++) {
		if (i > 0)
			sb_str(&b, " ");
		sb_str(&b, args[i]);
	}
	if (b.fail || b.p == NULL) {
		free(b.p);
		return b.fail ? NULL : strdup("");
	}
	return b.p;
}

/* Adds v to a list of paths unless it is there already (ssh(1) drops exact
 * duplicates too). */
static int
add_path(char **list, size_t *n, const char *v, const char *what, char *err,
    size_t errlen)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(list[i], v) == 0)
			return 0;
	if (*n == SSHOPT_MAX_IDS) {
		errf(err, errlen, "too many %s files (at most %d)", what,
		    SSHOPT_MAX_IDS);
		return SSHCONN_ERR_ARG;
	}
	if ((list[*n] = strdup(v)) == NULL)
		return SSHCONN_ERR_NOMEM;
	(*n)++;
	return 0;
}

/* What set_key() found beyond "applied". */
enum { SET_OK = 0, SET_IGNORED = 1, SET_UNSUPPORTED = 2 };

/*
 * Applies one keyword with its words (args) and the rest of its line as written
 * (raw) to s, unless it already has a value; s NULL only checks. Returns
 * SET_OK, SET_IGNORED (a keyword without effect here), SET_UNSUPPORTED (one
 * that would change behaviour: to be named), or SSHCONN_ERR_ARG (bad or missing
 * value, message in err) / SSHCONN_ERR_NOMEM. The three host key keywords are
 * only checked: client/hostkey.c keeps them.
 */
static int
set_key(struct sshopt *s, const struct okey *k, char *const *args,
    size_t nargs, const char *raw, char *err, size_t errlen)
{
	const char *v = nargs > 0 ? args[0] : "";
	char *cut = NULL, **sp;
	int n = -1, *ip, rc = 0;
	long long bytes;

	if (nargs == 0 && k->type != OT_IGNORE && k->type != OT_BLOCK &&
	    k->type != OT_PROXYCMD && k->type != OT_LOCALCMD) {
		errf(err, errlen, "%s needs a value", k->name);
		return SSHCONN_ERR_ARG;
	}
	/* s is NULL when an option is only checked: no field to point at then. */
	ip = s != NULL ? (int *)(void *)((char *)s + k->off) : NULL;
	sp = s != NULL ? (char **)(void *)((char *)s + k->off) : NULL;
	switch (k->type) {
	case OT_STRICT:
		if (strcasecmp(v, "accept-new") == 0)
			n = SSHOPT_STRICT_ACCEPT_NEW;
		else if (strcasecmp(v, "ask") == 0)
			n = SSHOPT_STRICT_ASK;
		else if (strcasecmp(v, "off") == 0)
			n = SSHOPT_STRICT_NO;
		else if ((n = parse_flag(v)) != -1)
			n = n ? SSHOPT_STRICT_YES : SSHOPT_STRICT_NO;
		break;
	case OT_TIMEOUT:
		/* "none" leaves it unset: a later line may still set it. */
		if (strcasecmp(v, "none") == 0)
			return SET_OK;
		n = sshconf_parse_time(v);
		break;
	case OT_SECONDS:
		n = sshconf_parse_time(v);
		break;
	case OT_COUNT:
		n = parse_count(v);
		break;
	case OT_PORT:
		n = sshconf_parse_port(v);
		break;
	case OT_FLAG:
		n = parse_flag(v);
		break;
	case OT_PUBKEY:
		if (strcasecmp(v, "unbound") == 0 ||
		    strcasecmp(v, "host-bound") == 0)
			n = 1;
		else
			n = parse_flag(v);
		break;
	case OT_FAMILY:
		if (strcasecmp(v, "any") == 0)
			n = AF_UNSPEC;
		else if (strcasecmp(v, "inet") == 0)
			n = AF_INET;
		else if (strcasecmp(v, "inet6") == 0)
			n = AF_INET6;
		break;
	case OT_LOGLEVEL:
		if (strcasecmp(v, "quiet") == 0 || strcasecmp(v, "fatal") == 0 ||
		    strcasecmp(v, "error") == 0 || strcasecmp(v, "info") == 0)
			n = 0;
		else if (strcasecmp(v, "verbose") == 0 ||
		    strcasecmp(v, "debug") == 0 || strcasecmp(v, "debug1") == 0)
			n = 1;
		else if (strcasecmp(v, "debug2") == 0)
			n = 2;
		else if (strcasecmp(v, "debug3") == 0)
			n = 3;
		break;
	case OT_CANON:
		if (strcasecmp(v, "always") == 0)
			n = 1;
		else
			n = parse_flag(v);
		if (n == -1)
			break;
		if (s != NULL && *ip == -1)
			*ip = n;
		return n == 1 ? SET_UNSUPPORTED : SET_OK;
	case OT_PERMITLC:
		n = parse_flag(v);
		break;
	case OT_CTLMASTER:
		/* We never ask: "ask" and "autoask" count as yes and auto. */
		if (strcasecmp(v, "auto") == 0 || strcasecmp(v, "ask") == 0 ||
		    strcasecmp(v, "autoask") == 0)
			n = 1;
		else
			n = parse_flag(v);
		break;
	case OT_CTLPERSIST:
		/* yes and 0: for ever (SSHOPT_PERSIST_FOREVER); no: not at all. */
		if ((n = parse_flag(v)) == 1)
			n = SSHOPT_PERSIST_FOREVER;
		else if (n == -1 && (n = sshconf_parse_time(v)) == 0)
			n = SSHOPT_PERSIST_FOREVER;
		else if (n == 0)
			n = SSHOPT_PERSIST_NO;
		break;
	case OT_LOCALCMD:
		if (s != NULL && raw[0] != '\0' && strcasecmp(raw, "none") != 0)
			s->local_command = 1;
		return SET_OK;
	case OT_PREFERRED:
		if (!valid_preferred(v))
			goto bad;
		return s != NULL ? str_once(sp, v) : SET_OK;
	case OT_STRING:
	case OT_ALGOS:
	case OT_AGENT:
	case OT_IGNUNK:
		return s != NULL ? str_once(sp, v) : SET_OK;
	case OT_IDENTITY:
		return s != NULL ? add_path(s->ids, &s->nids, v, "identity", err,
		    errlen) : SET_OK;
	case OT_CERT:
		return s != NULL ? add_path(s->certs, &s->ncerts, v,
		    "certificate", err, errlen) : SET_OK;
	case OT_KNOWN:
	case OT_GKNOWN:
		if (s == NULL)
			return SET_OK;
		sp = k->type == OT_KNOWN ? &s->known_hosts : &s->global_known_hosts;
		if (*sp != NULL)
			return SET_OK;
		if ((*sp = strdup(v)) == NULL ||
		    (*(k->type == OT_KNOWN ? &s->known_hosts_all :
		    &s->global_known_hosts_all) = join_words(args, nargs)) == NULL)
			return SSHCONN_ERR_NOMEM;
		return SET_OK;
	case OT_REKEY:
		if ((bytes = parse_bytes(v)) < 0 || (nargs > 1 &&
		    strcasecmp(args[1], "none") != 0 &&
		    sshconf_parse_time(args[1]) < 0))
			goto bad;
		if (s != NULL && s->rekey_data == -1) {
			s->rekey_data = bytes;
			s->rekey_time = nargs > 1 && strcasecmp(args[1],
			    "none") != 0 ? sshconf_parse_time(args[1]) : 0;
		}
		return SET_OK;
	case OT_JUMP:
		/* ssh(1) drops a comment and trailing blanks here. */
		if ((cut = strdup(raw)) == NULL)
			return SSHCONN_ERR_NOMEM;
		cut[strcspn(cut, "#")] = '\0';
		for (n = (int)strlen(cut); n > 0 && isspace((unsigned char)
		    cut[n - 1]); n--)
			cut[n - 1] = '\0';
		if (cut[0] == '\0' || strcspn(cut, " \t'\"`$;&|<>\\") !=
		    strlen(cut)) {
			free(cut);
			goto bad;
		}
		/* A ProxyCommand or ProxyJump already obtained wins; a jump
		 * turns later ProxyCommand lines off. */
		if (s != NULL && s->proxyjump == NULL && s->proxycommand == NULL) {
			s->proxyjump = cut;
			cut = NULL;
			if (strcasecmp(s->proxyjump, "none") != 0 &&
			    (s->proxycommand = strdup("none")) == NULL)
				rc = SSHCONN_ERR_NOMEM;
		}
		free(cut);
		return rc;
	case OT_PROXYCMD:
		if (raw[0] == '\0') {
			errf(err, errlen, "%s needs a value", k->name);
			return SSHCONN_ERR_ARG;
		}
		if (s != NULL && s->proxycommand == NULL && (s->proxyjump == NULL ||
		    strcasecmp(s->proxyjump, "none") == 0))
			return str_once(&s->proxycommand, raw);
		return SET_OK;
	case OT_HOSTKEY:
		rc = hostkey_conf_set(NULL, k->name, v, err, errlen);
		return rc == 0 ? SET_OK : rc == 1 ? SET_IGNORED : rc;
	case OT_WARN:
		return SET_UNSUPPORTED;
	case OT_WARN_YES:
	case OT_WARN_NONE:
		if (k->type == OT_WARN_YES ? is_off(v) :
		    strcasecmp(v, "none") == 0)
			return SET_IGNORED;
		return SET_UNSUPPORTED;
	case OT_IGNORE:
		return SET_IGNORED;
	case OT_BLOCK:
		errf(err, errlen, "%s is not possible as a command-line option",
		    k->name);
		return SSHCONN_ERR_ARG;
	}
	if (n == -1)
		goto bad;
	if (s != NULL && *ip == -1)
		*ip = n;
	return SET_OK;
bad:
	errf(err, errlen, "bad value for %s: '%s'", k->name, v);
	return SSHCONN_ERR_ARG;
}

/*
 * "Key=Value", "Key Value" or "Key = Value", split as an ssh_config line is:
 * quotes group words, and ProxyCommand gets the rest of the line as written.
 */
int
sshopt_apply(struct sshopt *s, const char *opt, char *err, size_t errlen)
{
	struct sshconf_words w;
	const struct okey *k;
	const char *why;
	char msg[300];
	int rc;

	rc = sshconf_split(opt, &w, &why);
	if (rc == PROTO_ERR_NOMEM)
		return SSHCONN_ERR_NOMEM;
	if (rc <= 0) {
		errf(err, errlen, "bad -o option '%s': %s", opt, rc < 0 ? why :
		    "expected Key=Value");
		return SSHCONN_ERR_ARG;
	}
	if ((k = find_key(w.keyword)) == NULL) {
		errf(err, errlen, "unknown option -o %s (not an ssh_config "
		    "keyword)", w.keyword);
		sshconf_words_free(&w);
		return SSHCONN_ERR_ARG;
	}
	msg[0] = '\0';
	rc = set_key(s, k, w.args, w.nargs, w.raw, msg, sizeof(msg));
	sshconf_words_free(&w);
	if (rc == SSHCONN_ERR_ARG) {
		errf(err, errlen, "-o %s", msg);
		return rc;
	}
	if (rc < 0)
		return rc;
	/* Named by sshopt_load_config(), once. */
	if (rc == SET_UNSUPPORTED && s != NULL && s->said[k - okeys] == 0)
		s->said[k - okeys] = 1;
	return 0;
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
			if ((t->port = sshconf_parse_port(c + 1)) == -1) {
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
		if ((t->port = sshconf_parse_port(c)) == -1) {
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


/* ---- tokens ------------------------------------------------------------------ */

/* The values %-tokens stand for. */
struct tokvals {
	const char *host;	/* %h */
	const char *host_arg;	/* %n, the name as typed */
	const char *user;	/* %r */
	int port;		/* %p */
	const char *alias;	/* %k */
	const char *jump;	/* %j */
};

/* The host of a ProxyJump's last hop (what ssh(1) keeps as jump_host), in
 * buf; "" without one. */
static void
jump_host(const char *spec, char *buf, size_t len)
{
	const char *last, *p;
	size_t n;

	buf[0] = '\0';
	if (spec == NULL || strcasecmp(spec, "none") == 0)
		return;
	last = strrchr(spec, ',');
	last = last != NULL ? last + 1 : spec;
	if (strncasecmp(last, "ssh://", 6) == 0)
		last += 6;
	if ((p = strrchr(last, '@')) != NULL)
		last = p + 1;
	if (*last == '[') {
		last++;
		n = strcspn(last, "]");
	} else
		n = strcspn(last, ":/");
	snprintf(buf, len, "%.*s", (int)n, last);
}

/*
 * Expands in into b: ~ (what & SSHOPT_EXPAND_TILDE), ${VAR} (ENV) and the
 * %-tokens (TOKENS; without it only %h and %%, as for HostName). Returns 0, or
 * SSHCONN_ERR_ARG with a message in err, or SSHCONN_ERR_NOMEM.
 */
static int
expand_into(struct ctx *x, const struct tokvals *tv, const char *in, int what,
    struct sbuf *b, char *err, size_t errlen)
{
	const char *p = in, *v, *e;
	char num[32], lhost[256], hash[41], name[256];
	struct passwd *pw;
	size_t n;

	if ((what & SSHOPT_EXPAND_TILDE) && p[0] == '~') {
		n = strcspn(p + 1, "/");
		if (n == 0)
			sb_str(b, x->home);
		else {
			snprintf(name, sizeof(name), "%.*s", (int)n, p + 1);
			if (n >= sizeof(name) || (pw = getpwnam(name)) == NULL) {
				errf(err, errlen, "%s: no such user for ~%s", in,
				    name);
				return SSHCONN_ERR_ARG;
			}
			sb_str(b, pw->pw_dir);
		}
		p += 1 + n;
	}
	for (; *p != '\0'; p++) {
		if ((what & SSHOPT_EXPAND_ENV) && p[0] == '$' && p[1] == '{') {
			if ((e = strchr(p + 2, '}')) == NULL ||
			    (size_t)(e - p - 2) >= sizeof(name) || e == p + 2) {
				errf(err, errlen, "%s: bad ${...}", in);
				return SSHCONN_ERR_ARG;
			}
			snprintf(name, sizeof(name), "%.*s", (int)(e - p - 2),
			    p + 2);
			if ((v = getenv(name)) == NULL) {
				errf(err, errlen, "%s: environment variable %s "
				    "is not set", in, name);
				return SSHCONN_ERR_ARG;
			}
			sb_str(b, v);
			p = e;
			continue;
		}
		if (*p != '%') {
			sb_add(b, p, 1);
			continue;
		}
		v = NULL;
		switch (*++p) {
		case '%': v = "%"; break;
		case 'h': v = tv->host; break;
		}
		if (v == NULL && (what & SSHOPT_EXPAND_TOKENS)) {
			switch (*p) {
			case 'n': v = tv->host_arg; break;
			case 'r': v = tv->user; break;
			case 'k': v = tv->alias; break;
			case 'j': v = tv->jump; break;
			case 'd': v = x->home; break;
			case 'u': v = x->local_user; break;
			case 'p':
				snprintf(num, sizeof(num), "%d", tv->port);
				v = num;
				break;
			case 'i':
				snprintf(num, sizeof(num), "%lu",
				    (unsigned long)getuid());
				v = num;
				break;
			case 'l':
			case 'L':
			case 'C':
				if (gethostname(lhost, sizeof(lhost)) != 0)
					snprintf(lhost, sizeof(lhost), "localhost");
				lhost[sizeof(lhost) - 1] = '\0';
				if (*p == 'C') {
					/* ssh(1) 9.2: SHA-1 of %l%h%p%r. */
					char cin[1400];
					uint8_t md[20];
					int k, len;

					len = snprintf(cin, sizeof(cin), "%s%s%d%s", lhost,
					    tv->host, tv->port, tv->user);
					ws_sha1(cin, len > 0 && (size_t)len < sizeof(cin) ?
					    (size_t)len : 0, md);
					for (k = 0; k < 20; k++)
						snprintf(hash + 2 * k, 3, "%02x", md[k]);
					v = hash;
				} else {
					if (*p == 'L')
						lhost[strcspn(lhost, ".")] = '\0';
					v = lhost;
				}
				break;
			}
		}
		if (v == NULL) {
			errf(err, errlen, "%s: unknown token %%%c", in,
			    *p != '\0' ? *p : ' ');
			return SSHCONN_ERR_ARG;
		}
		sb_str(b, v);
		if (*p == '\0')
			break;
	}
	if (b->fail) {
		errf(err, errlen, "%s: too long once expanded", in);
		return b->n >= MAX_EXPANDED ? SSHCONN_ERR_ARG : SSHCONN_ERR_NOMEM;
	}
	return 0;
}

static int
expand_str(struct ctx *x, const struct tokvals *tv, const char *in, int what,
    char **out, char *err, size_t errlen)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	int rc;

	sb_str(&b, "");
	if ((rc = expand_into(x, tv, in, what, &b, err, errlen)) != 0) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	return 0;
}

/* The values once everything is resolved. */
static void
final_tokvals(struct ctx *x, struct tokvals *tv, char *jbuf, size_t jlen)
{
	jump_host(x->os.proxyjump, jbuf, jlen);
	tv->host = x->os.hostname != NULL ? x->os.hostname : x->tg.host;
	tv->host_arg = x->tg.host;
	tv->user = x->os.user != NULL ? x->os.user : x->local_user;
	tv->port = x->os.port > 0 ? x->os.port : 22;
	tv->alias = x->hk.alias != NULL ? x->hk.alias : x->tg.host;
	tv->jump = jbuf;
}

int
sshopt_expand(struct ctx *x, const char *in, int what, char **out)
{
	struct tokvals tv;
	char jbuf[256];

	final_tokvals(x, &tv, jbuf, sizeof(jbuf));
	return expand_str(x, &tv, in, what, out, x->err, x->errlen);
}

/* ---- Host and Match ------------------------------------------------------- */

/* ssh(1)'s match_pattern_list(): comma-separated patterns, !negation; 1 when
 * a positive pattern matches and no negated one does. lower: compare
 * lowercased (s must be lowercase already). */
static int
match_list(const char *s, const char *list, int lower)
{
	char pat[1024];
	const char *p = list;
	size_t n, i;
	int neg, got = 0;

	while (*p != '\0') {
		n = strcspn(p, ",");
		neg = *p == '!';
		if (n - (size_t)neg < sizeof(pat)) {
			for (i = 0; i < n - (size_t)neg; i++)
				pat[i] = lower ? (char)tolower((unsigned char)
				    p[i + (size_t)neg]) : p[i + (size_t)neg];
			pat[i] = '\0';
			if (sshconf_match_pattern(s, pat)) {
				if (neg)
					return -1;
				got = 1;
			}
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return got;
}

static int
match_host_list(const char *host, const char *list)
{
	char low[1025];
	size_t i;

	for (i = 0; host[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)host[i]);
	low[i] = '\0';
	return match_list(low, list, 1);
}

/* A Host line: some pattern matches name and no !pattern does. */
static int
host_line(const char *name, char *const *pats, size_t n)
{
	size_t i;
	int got = 0;

	for (i = 0; i < n; i++) {
		if (pats[i][0] == '!') {
			if (sshconf_match_pattern(name, pats[i] + 1))
				return 0;
		} else if (sshconf_match_pattern(name, pats[i]))
			got = 1;
	}
	return got;
}

/* Runs a Match exec command as ssh(1) does: through the shell, stdin and
 * stdout on /dev/null; 1 when it exits 0. */
static int
run_exec(struct ctx *x, const char *cmd)
{
	struct sigaction dfl, old;
	const char *shell = getenv("SHELL");
	int keep = STDERR_FILENO, st = 0, rc = -1;
	pid_t pid;

	if (shell == NULL || *shell == '\0')
		shell = "/bin/sh";
	debugf(x, "Executing Match exec command: %s", cmd);
	/* A caller that ignores SIGCHLD would make the child unwaitable. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old);
	if ((pid = fork()) == -1)
		goto out;
	if (pid == 0) {
		transport_close_fds(&keep, 1);
		signal(SIGPIPE, SIG_DFL);
		execl(shell, shell, "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			goto out;
	rc = WIFEXITED(st) && WEXITSTATUS(st) == 0;
out:
	sigaction(SIGCHLD, &old, NULL);
	return rc;
}

/* One pass over the files (ssh(1) makes a second, final one on request). */
struct pass {
	int final;
	int want_final;
	const char *host;	/* what Host lines match */
	char *unknown[MAX_UNKNOWN];	/* unknown keywords already named */
	size_t nunknown;
};

/*
 * A Match line, as ssh(1)'s match_cfg_line(): 1 it matches, 0 it does not,
 * -1 it is malformed (a warning is given). exec commands run only when never
 * is 0 and every criterion before them matched.
 */
static int
match_line(struct ctx *x, struct pass *ps, const struct sshconf_line *ln,
    int never)
{
	struct tokvals tv;
	char *host = NULL, *cmd = NULL, err[512], jbuf[256];
	const char *a, *arg;
	size_t i;
	int neg, r, result = 1, attrs = 0, bad = 0;

	/* The host so far: HostName (with %h) if one was seen, else as typed;
	 * in the final pass the resolved name. */
	memset(&tv, 0, sizeof(tv));
	if (ps->final || x->os.hostname == NULL)
		host = strdup(ps->final ? x->os.hostname : x->tg.host);
	else {
		tv.host = x->tg.host;
		if (expand_str(x, &tv, x->os.hostname, 0, &host, err,
		    sizeof(err)) != 0)
			host = strdup(x->os.hostname);
	}
	if (host == NULL)
		return -2;
	jump_host(x->os.proxyjump, jbuf, sizeof(jbuf));
	tv.host = host;
	tv.host_arg = x->tg.host;
	tv.user = x->os.user != NULL ? x->os.user : x->local_user;
	tv.port = x->os.port > 0 ? x->os.port : 22;
	tv.alias = x->hk.alias != NULL ? x->hk.alias : host;
	tv.jump = jbuf;
	for (i = 0; i < ln->nargs && !bad; i++) {
		a = ln->args[i];
		if ((neg = a[0] == '!'))
			a++;
		if (strcasecmp(a, "all") == 0) {
			if (attrs > 1 || i + 1 < ln->nargs) {
				noticef(x, "Warning: %s line %d: 'all' cannot be "
				    "combined with other Match criteria; block "
				    "ignored", ln->file, ln->line);
				bad = 1;
				break;
			}
			if (result)
				result = !neg;
			break;
		}
		attrs++;
		if (strcasecmp(a, "canonical") == 0 ||
		    strcasecmp(a, "final") == 0) {
			if (strcasecmp(a, "final") == 0)
				ps->want_final = 1;
			if (ps->final == neg)
				result = 0;
			continue;
		}
		if (i + 1 >= ln->nargs) {
			noticef(x, "Warning: %s line %d: Match %s needs an "
			    "argument; block ignored", ln->file, ln->line, a);
			bad = 1;
			break;
		}
		arg = ln->args[++i];
		if (strcasecmp(a, "host") == 0)
			r = match_host_list(host, arg) == 1;
		else if (strcasecmp(a, "originalhost") == 0)
			r = match_host_list(x->tg.host, arg) == 1;
		else if (strcasecmp(a, "user") == 0)
			r = match_list(tv.user, arg, 0) == 1;
		else if (strcasecmp(a, "localuser") == 0)
			r = match_list(x->local_user, arg, 0) == 1;
		else if (strcasecmp(a, "exec") == 0) {
			if (result != 1 || never)
				continue;	/* ssh(1) skips it too */
			if (expand_str(x, &tv, arg, SSHOPT_EXPAND_TOKENS, &cmd,
			    err, sizeof(err)) != 0) {
				noticef(x, "Warning: %s line %d: Match exec: %s; "
				    "block ignored", ln->file, ln->line, err);
				bad = 1;
				break;
			}
			r = run_exec(x, cmd);
			free(cmd);
			cmd = NULL;
			if (r == -1) {
				noticef(x, "Warning: %s line %d: Match exec "
				    "cannot run: %s", ln->file, ln->line,
				    strerror(errno));
				r = 0;
			}
		} else {
			noticef(x, "Warning: %s line %d: Match %s is not "
			    "supported; block ignored", ln->file, ln->line, a);
			bad = 1;
			break;
		}
		if (r == neg)
			result = 0;
	}
	if (!bad && attrs == 0 && (ln->nargs == 0 ||
	    strcasecmp(ln->args[0] + (ln->args[0][0] == '!'), "all") != 0)) {
		noticef(x, "Warning: %s line %d: Match without criteria; block "
		    "ignored", ln->file, ln->line);
		bad = 1;
	}
	free(host);
	return bad ? -1 : result;
}

/* Says once that the option named by k is not supported; where: "-o" or the
 * file and line. */
static void
say_unsupported(struct ctx *x, const struct okey *k, const char *where,
    int line)
{
	if (x->os.said[k - okeys] == 2)
		return;
	x->os.said[k - okeys] = 2;
	if (line == 0)
		noticef(x, "Warning: -o %s is not supported by codex-connect and "
		    "is ignored", k->name);
	else if (line < 0)
		noticef(x, "Warning: %s is not supported by codex-connect and is "
		    "ignored", k->name);
	else
		noticef(x, "Warning: %s (%s line %d) is not supported by "
		    "codex-connect and is ignored", k->name, where, line);
}

/* One option line of a block that applies. Returns 0 or SSHCONN_ERR_NOMEM;
 * everything else is a warning. */
static int
option_line(struct ctx *x, struct pass *ps, const struct sshconf_line *ln)
{
	const struct okey *k = find_key(ln->keyword);
	char err[512], low[128];
	size_t i;
	int rc;

	if (k == NULL) {
		for (i = 0; ln->keyword[i] != '\0' && i < sizeof(low) - 1; i++)
			low[i] = (char)tolower((unsigned char)ln->keyword[i]);
		low[i] = '\0';
		if (x->os.ignore_unknown != NULL &&
		    match_list(low, x->os.ignore_unknown, 1) == 1)
			return 0;
		for (i = 0; i < ps->nunknown; i++)
			if (strcasecmp(ps->unknown[i], ln->keyword) == 0)
				return 0;
		if (ps->nunknown < MAX_UNKNOWN &&
		    (ps->unknown[ps->nunknown] = strdup(ln->keyword)) != NULL)
			ps->nunknown++;
		noticef(x, "Warning: %s line %d: unknown ssh_config keyword %s, "
		    "ignored", ln->file, ln->line, ln->keyword);
		return 0;
	}
	err[0] = '\0';
	if (k->type == OT_HOSTKEY)
		rc = ln->nargs == 0 ? SSHCONN_ERR_ARG : hostkey_conf_set(&x->hk,
		    k->name, ln->args[0], err, sizeof(err));
	else
		rc = set_key(&x->os, k, ln->args, ln->nargs, ln->raw, err,
		    sizeof(err));
	if (rc == SSHCONN_ERR_NOMEM)
		return rc;
	if (rc < 0)
		noticef(x, "Warning: %s line %d: %s; line ignored", ln->file,
		    ln->line, err[0] != '\0' ? err : "bad value");
	else if (rc == SET_UNSUPPORTED)
		say_unsupported(x, k, ln->file, ln->line);
	else if (rc == SET_IGNORED)
		debugf(x, "%s line %d: %s does not apply to codex-connect",
		    ln->file, ln->line, k->name);
	return 0;
}

static int
run_pass(struct ctx *x, struct pass *ps)
{
	struct block {
		int active, never;
	} cur = { 1, 0 }, stack[SSHCONF_MAX_DEPTH + 2];
	struct sshconf_line ln;
	size_t i, sp = 0, n = sshconf_nlines(x->cfg);
	int r;

	for (i = 0; i < n; i++) {
		if (sshconf_get_line(x->cfg, i, &ln) != 0)
			break;
		switch (ln.kind) {
		case SSHCONF_FILE:
			cur.active = 1;
			cur.never = 0;
			sp = 0;
			break;
		case SSHCONF_PUSH:
			/* sshconf caps nesting, so the stack cannot overflow. */
			if (sp < sizeof(stack) / sizeof(stack[0]))
				stack[sp++] = cur;
			cur.never |= !cur.active;
			break;
		case SSHCONF_POP:
			if (sp > 0)
				cur = stack[--sp];
			break;
		case SSHCONF_HOST:
			cur.active = !cur.never && host_line(ps->host, ln.args,
			    ln.nargs);
			break;
		case SSHCONF_MATCH:
			if ((r = match_line(x, ps, &ln, cur.never)) == -2)
				return SSHCONN_ERR_NOMEM;
			cur.active = !cur.never && r == 1;
			break;
		case SSHCONF_OPTION:
			if (cur.active && (r = option_line(x, ps, &ln)) != 0)
				return r;
			break;
		}
	}
	return 0;
}

/* 1 for an IPv4 or IPv6 address, which ssh(1) does not lowercase. */
static int
is_address(const char *h)
{
	return strchr(h, ':') != NULL || strspn(h, "0123456789.") == strlen(h);
}

/* HostName with %h (the name as typed) expanded, lowercased: the host. */
static int
final_hostname(struct ctx *x)
{
	struct tokvals tv;
	char *h = NULL, *p;
	int rc;

	memset(&tv, 0, sizeof(tv));
	tv.host = x->tg.host;
	if (x->os.hostname == NULL)
		h = strdup(x->tg.host);
	else if ((rc = expand_str(x, &tv, x->os.hostname, 0, &h, x->err,
	    x->errlen)) != 0)
		return rc;
	if (h == NULL)
		return SSHCONN_ERR_NOMEM;
	if (!is_address(h))
		for (p = h; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
	free(x->os.hostname);
	x->os.hostname = h;
	return 0;
}

/* What the command line says besides -o: -l and -p (taken as if before the
 * -o options), -i first among the identity files, then user@ and :port. */
static int
command_line(struct ctx *x)
{
	struct sshopt *s = &x->os;
	size_t i, n = x->o->nidentities;

	if (x->o->user != NULL) {
		free(s->user);
		if ((s->user = strdup(x->o->user)) == NULL)
			return SSHCONN_ERR_NOMEM;
	} else if (s->user == NULL && x->tg.user != NULL &&
	    (s->user = strdup(x->tg.user)) == NULL)
		return SSHCONN_ERR_NOMEM;
	if (x->o->port > 0)
		s->port = x->o->port;
	else if (s->port == -1 && x->tg.port > 0)
		s->port = x->tg.port;
	if (n == 0)
		return 0;
	if (n + s->nids > SSHOPT_MAX_IDS) {
		errf(x->err, x->errlen, "too many identity files (at most %d)",
		    SSHOPT_MAX_IDS);
		return SSHCONN_ERR_ARG;
	}
	memmove(s->ids + n, s->ids, s->nids * sizeof(s->ids[0]));
	for (i = 0; i < n; i++)
		if ((s->ids[i] = strdup(x->o->identities[i])) == NULL)
			break;
	if (i < n) {
		/* Keep the list whole for sshopt_clear(). */
		memmove(s->ids + i, s->ids + n, s->nids * sizeof(s->ids[0]));
		s->nids += i;
		return SSHCONN_ERR_NOMEM;
	}
	s->nids += n;
	return 0;
}

int
sshopt_load_config(struct ctx *x)
{
	struct sshconf_opts so;
	struct pass ps;
	char *user_file = NULL;
	const char *cf = x->o->config_file;
	size_t i;
	int rc;

	memset(&ps, 0, sizeof(ps));
	if ((rc = command_line(x)) != 0)
		return rc;
	for (i = 0; i < NKEYS; i++)
		if (x->os.said[i] == 1)
			say_unsupported(x, &okeys[i], NULL, 0);

	memset(&so, 0, sizeof(so));
	so.home = x->home;
	so.local_user = x->local_user;
	if (cf != NULL && strcasecmp(cf, "none") == 0) {
		/* ssh -F none: no file at all. */
	} else if (cf != NULL) {
		if (access(cf, R_OK) != 0) {
			errf(x->err, x->errlen, "cannot read config file %s: %s",
			    cf, strerror(errno));
			return SSHCONN_ERR_ARG;
		}
		/* ssh -F reads that file alone. */
		so.user_file = cf;
	} else {
		if (asprintf(&user_file, "%s/.ssh/config", x->home) == -1)
			return SSHCONN_ERR_NOMEM;
		so.user_file = user_file;
		so.system_file = "/etc/ssh/ssh_config";
	}
	if (so.user_file != NULL) {
		rc = sshconf_load(&so, &x->cfg);
		free(user_file);
		if (rc == PROTO_ERR_NOMEM)
			return SSHCONN_ERR_NOMEM;
		if (rc != 0)
			x->cfg = NULL;
	}
	if (x->cfg != NULL) {
		for (i = 0; i < sshconf_nwarnings(x->cfg); i++)
			debugf(x, "ssh_config: %s", sshconf_warning(x->cfg, i));
		rc = sshconf_resolve(x->cfg, x->tg.host, &x->ch);
		if (rc == PROTO_ERR_NOMEM)
			return SSHCONN_ERR_NOMEM;
		x->have_ch = rc == 0;

		ps.host = x->tg.host;
		rc = run_pass(x, &ps);
		if (rc == 0 && x->os.canonicalize == 1)
			ps.want_final = 1;
		if (rc == 0 && (rc = final_hostname(x)) == 0 && ps.want_final) {
			/* ssh(1)'s final pass: the host name resolved so far is
			 * what Host and Match host see; values already obtained
			 * stay, and what was not obtained may be now. */
			debugf(x, "ssh_config: re-reading for the final pass");
			ps.final = 1;
			ps.host = x->os.hostname;
			rc = run_pass(x, &ps);
		}
		for (i = 0; i < ps.nunknown; i++)
			free(ps.unknown[i]);
		if (rc != 0)
			return rc;
	} else if ((rc = final_hostname(x)) != 0)
		return rc;

	if (x->os.user == NULL && (x->os.user = strdup(x->local_user)) == NULL)
		return SSHCONN_ERR_NOMEM;
	if (x->os.port == -1)
		x->os.port = 22;
	/* ssh(1)'s default in batch mode. */
	if (x->os.alive_interval == -1 && x->os.batch == 1)
		x->os.alive_interval = 300;
	if (x->os.permit_local_command == 1 && x->os.local_command) {
		const struct okey *k = find_key("LocalCommand");

		say_unsupported(x, k, NULL, -1);
	}
	if (x->os.known_hosts_all != NULL &&
	    strchr(x->os.known_hosts_all, ' ') != NULL)
		noticef(x, "Warning: UserKnownHostsFile %s: only the first file, "
		    "%s, is read and written", x->os.known_hosts_all,
		    x->os.known_hosts);
	if (x->os.global_known_hosts_all != NULL &&
	    strchr(x->os.global_known_hosts_all, ' ') != NULL)
		noticef(x, "Warning: GlobalKnownHostsFile %s: only the first "
		    "file, %s, is read", x->os.global_known_hosts_all,
		    x->os.global_known_hosts);
	if (x->o->verbose > x->os.log_level)
		x->verbose = x->o->verbose;
	else
		x->verbose = x->os.log_level;
	x->batch = x->o->batch || x->os.batch == 1;
	return 0;
}

/* ---- libssh ---------------------------------------------------------------- */

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
		errf(x->err, x->errlen, "%s %s: %s", name, v, sess_error(x));
		return SSHCONN_ERR_ARG;
	}
	return 0;
}

/* A known_hosts file as libssh gets it: expanded, "none" as /dev/null. */
static int
set_known(struct ctx *x, enum ssh_options_e what, const char *v, int how)
{
	char *path = NULL;
	int rc;

	if (v == NULL)
		return 0;
	if (strcasecmp(v, "none") == 0)
		return ssh_options_set(x->c->session, what, "/dev/null") < 0 ?
		    SSHCONN_ERR_NOMEM : 0;
	if ((rc = sshopt_expand(x, v, how, &path)) != 0)
		return rc;
	rc = ssh_options_set(x->c->session, what, path) < 0 ? SSHCONN_ERR_NOMEM :
	    0;
	free(path);
	return rc;
}

int
sshopt_apply_overrides(struct ctx *x)
{
	ssh_session s = x->c->session;
	const struct sshopt *o = &x->os;
	long timeout = x->timeout;
	unsigned int port = (unsigned int)o->port;
	bool off = false;
	int rc;

	/* Everything comes from here: libssh must not read ssh_config again
	 * when it connects. */
	if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &off) < 0)
		return SSHCONN_ERR_NOMEM;
	if (!valid_word(o->user, "@%") ||
	    ssh_options_set(s, SSH_OPTIONS_USER, o->user) < 0) {
		errf(x->err, x->errlen, "invalid user name '%s'", o->user);
		return SSHCONN_ERR_ARG;
	}
	if (ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0)
		return SSHCONN_ERR_NOMEM;
	if (!valid_word(o->hostname, ":%") ||
	    ssh_options_set(s, SSH_OPTIONS_HOST, o->hostname) < 0) {
		errf(x->err, x->errlen, "invalid host name '%s'", o->hostname);
		return SSHCONN_ERR_ARG;
	}
	/* UserKnownHostsFile is expanded like a path with tokens in ssh(1);
	 * GlobalKnownHostsFile only for ~. */
	if ((rc = set_known(x, SSH_OPTIONS_KNOWNHOSTS, o->known_hosts != NULL ?
	    o->known_hosts : "~/.ssh/known_hosts", SSHOPT_EXPAND_PATH)) != 0 ||
	    (rc = set_known(x, SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
	    o->global_known_hosts, SSHOPT_EXPAND_TILDE)) != 0)
		return rc;
	if ((rc = set_algos(x, SSH_OPTIONS_KEY_EXCHANGE, SSH_OPTIONS_KEY_EXCHANGE,
	    o->kex, "KexAlgorithms")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_CIPHERS_C_S, SSH_OPTIONS_CIPHERS_S_C,
	    o->ciphers, "Ciphers")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_HMAC_C_S, SSH_OPTIONS_HMAC_S_C,
	    o->macs, "MACs")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_HOSTKEYS, SSH_OPTIONS_HOSTKEYS,
	    o->hostkeys, "HostKeyAlgorithms")) != 0 ||
	    (rc = set_algos(x, SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES,
	    SSH_OPTIONS_PUBLICKEY_ACCEPTED_TYPES, o->pubkey_algos,
	    "PubkeyAcceptedAlgorithms")) != 0)
		return rc;
	if (o->rekey_data > 0) {
		uint64_t d = (uint64_t)o->rekey_data;

		if (ssh_options_set(s, SSH_OPTIONS_REKEY_DATA, &d) < 0)
			return SSHCONN_ERR_NOMEM;
	}
	if (o->rekey_time > 0) {
		uint32_t t = (uint32_t)o->rekey_time;

		if (ssh_options_set(s, SSH_OPTIONS_REKEY_TIME, &t) < 0)
			return SSHCONN_ERR_NOMEM;
	}
	if (ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0)
		return SSHCONN_ERR_NOMEM;
	return 0;
}

/* ---- ssh -G ------------------------------------------------------------------ */

static const char *
yes_no(int v)
{
	return v == 1 ? "yes" : "no";
}

/* Each word of list, expanded with what, on one line after key. */
static int
print_files(struct ctx *x, FILE *out, const char *key, const char *list,
    int what)
{
	char *words, *w, *save = NULL, *e;
	int rc = 0;

	if ((words = strdup(list)) == NULL)
		return SSHCONN_ERR_NOMEM;
	fprintf(out, "%s", key);
	for (w = strtok_r(words, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (strcasecmp(w, "none") == 0 || what == 0) {
			fprintf(out, " %s", w);
			continue;
		}
		if ((rc = sshopt_expand(x, w, what, &e)) != 0)
			break;
		fprintf(out, " %s", e);
		free(e);
	}
	fprintf(out, "\n");
	free(words);
	return rc;
}

/* ProxyJump as ssh -G shows it: an ssh:// URI for the last hop becomes
 * user@host:port. */
static void
print_jump(FILE *out, const char *spec)
{
	const char *last = strrchr(spec, ','), *h;
	int n = last != NULL ? (int)(last - spec) + 1 : 0;

	h = spec + n;
	if (strncasecmp(h, "ssh://", 6) == 0) {
		h += 6;
		fprintf(out, "proxyjump %.*s%.*s\n", n, spec,
		    (int)strcspn(h, "/"), h);
	} else
		fprintf(out, "proxyjump %s\n", spec);
}

int
sshopt_print(struct ctx *x, FILE *out)
{
	static const char *const strict[] = { "ask", "true", "false",
	    "accept-new", "ask" };
	const struct sshopt *o = &x->os;
	size_t i;
	int rc;

	fprintf(out, "host %s\n", x->tg.host);
	fprintf(out, "user %s\n", o->user);
	fprintf(out, "hostname %s\n", o->hostname);
	fprintf(out, "port %d\n", o->port);
	fprintf(out, "addressfamily %s\n", o->family == AF_INET ? "inet" :
	    o->family == AF_INET6 ? "inet6" : "any");
	fprintf(out, "batchmode %s\n", yes_no(o->batch));
	fprintf(out, "hashknownhosts %s\n", yes_no(x->hk.hash));
	fprintf(out, "identitiesonly %s\n", yes_no(o->identities_only));
	fprintf(out, "kbdinteractiveauthentication %s\n",
	    o->kbdint_auth == 0 ? "no" : "yes");
	fprintf(out, "passwordauthentication %s\n",
	    o->password_auth == 0 ? "no" : "yes");
	fprintf(out, "pubkeyauthentication %s\n",
	    o->pubkey_auth == 0 ? "false" : "true");
	fprintf(out, "stricthostkeychecking %s\n",
	    strict[o->strict > 0 && o->strict <= SSHOPT_STRICT_ASK ? o->strict :
	    0]);
	if (o->connect_timeout >= 0)
		fprintf(out, "connecttimeout %d\n", o->connect_timeout);
	else
		fprintf(out, "connecttimeout none\n");
	fprintf(out, "numberofpasswordprompts %d\n", o->password_prompts >= 0 ?
	    o->password_prompts : 3);
	fprintf(out, "serveralivecountmax %d\n", o->alive_count_max >= 0 ?
	    o->alive_count_max : 3);
	fprintf(out, "serveraliveinterval %d\n", o->alive_interval >= 0 ?
	    o->alive_interval : 0);
	if (o->nids == 0)
		for (i = 0; i < sizeof(default_ids) / sizeof(default_ids[0]); i++)
			fprintf(out, "identityfile %s\n", default_ids[i]);
	for (i = 0; i < o->nids; i++)
		fprintf(out, "identityfile %s\n", o->ids[i]);
	for (i = 0; i < o->ncerts; i++)
		fprintf(out, "certificatefile %s\n", o->certs[i]);
	if ((rc = print_files(x, out, "globalknownhostsfile",
	    o->global_known_hosts_all != NULL ? o->global_known_hosts_all :
	    "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2", 0)) != 0 ||
	    (rc = print_files(x, out, "userknownhostsfile",
	    o->known_hosts_all != NULL ? o->known_hosts_all :
	    "~/.ssh/known_hosts ~/.ssh/known_hosts2", SSHOPT_EXPAND_PATH)) != 0)
		return rc;
	if (x->hk.alias != NULL)
		fprintf(out, "hostkeyalias %s\n", x->hk.alias);
	if (o->identity_agent != NULL) {
		if (strcasecmp(o->identity_agent, "none") == 0 ||
		    strcmp(o->identity_agent, "SSH_AUTH_SOCK") == 0 ||
		    o->identity_agent[0] == '$')
			fprintf(out, "identityagent %s\n", o->identity_agent);
		else if ((rc = print_files(x, out, "identityagent",
		    o->identity_agent, SSHOPT_EXPAND_PATH)) != 0)
			return rc;
	}
	if (o->proxycommand != NULL && strcasecmp(o->proxycommand, "none") != 0)
		fprintf(out, "proxycommand %s\n", o->proxycommand);
	if (o->proxyjump != NULL && strcasecmp(o->proxyjump, "none") != 0)
		print_jump(out, o->proxyjump);
	if (o->preferred != NULL)
		fprintf(out, "preferredauthentications %s\n", o->preferred);
	if (o->kex != NULL)
		fprintf(out, "kexalgorithms %s\n", o->kex);
	if (o->ciphers != NULL)
		fprintf(out, "ciphers %s\n", o->ciphers);
	if (o->macs != NULL)
		fprintf(out, "macs %s\n", o->macs);
	if (o->hostkeys != NULL)
		fprintf(out, "hostkeyalgorithms %s\n", o->hostkeys);
	if (o->pubkey_algos != NULL)
		fprintf(out, "pubkeyacceptedalgorithms %s\n", o->pubkey_algos);
	fprintf(out, "controlmaster %s\n", o->control_master == 0 ? "false" :
	    "auto");
	fprintf(out, "controlpath %s\n", o->control_path != NULL ?
	    o->control_path : "(codex-connect's own)");
	if (o->control_persist == SSHOPT_PERSIST_FOREVER)
		fprintf(out, "controlpersist yes\n");
	else
		fprintf(out, "controlpersist %d\n", o->control_persist ==
		    SSHOPT_PERSIST_NO ? 0 : o->control_persist >= 0 ?
		    o->control_persist : SSHOPT_PERSIST_DEFAULT);
	return ferror(out) ? SSHCONN_ERR_ARG : 0;
}
