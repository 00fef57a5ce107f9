/*
 * sshconn.c - the SSH connection of codex-connect, on libssh 0.10: the story of
 * one sshconn_open(), then the channels on the connection and its end.
 *
 * libssh does the protocol; the sshconn modules supply what ssh(1) users rely
 * on and libssh 0.10 leaves out or does differently. A connection is opened in
 * this order, each step in the file named for it:
 *  - options (client/sshopt.c): the host as typed, -o, and ssh_config (read
 *    by client/sshconf.c), resolved as ssh(1) resolves them and handed to
 *    libssh, which does not read ssh_config itself;
 *  - transport (client/transport.c): TCP, a ProxyCommand, or ProxyJump hosts
 *    opened with this same code;
 *  - the SSH handshake, done by libssh;
 *  - host key (client/hostkey.c): known_hosts, @revoked, RevokedHostKeys,
 *    HostKeyAlias, HashKnownHosts and StrictHostKeyChecking;
 *  - authentication (client/auth.c): agent, key files, keyboard-interactive,
 *    password.
 * Every question to the user goes through client/prompt.c. What the modules
 * share (struct sshconn, the state of an open in progress, message helpers) is
 * in client/sshconn-int.h.
 */
#include <sys/socket.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <sodium.h>

#include "client/auth.h"
#include "client/hostkey.h"
#include "client/sshconf.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/sshopt.h"
#include "client/transport.h"

#define DEFAULT_TIMEOUT		30	/* seconds, when ConnectTimeout is unset */
#define MAX_TIMEOUT		86400
#define DEFAULT_ALIVE_MAX	3

/* curve25519 first (fast, and what OpenSSH picks too), then libssh 0.10's own
 * default list so that any server libssh can talk to still works. Set before
 * ssh_config is read, so a KexAlgorithms line there still wins. */
#define KEX_PREFERRED \
	"curve25519-sha256,curve25519-sha256@libssh.org," \
	"ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521," \
	"diffie-hellman-group18-sha512,diffie-hellman-group16-sha512," \
	"diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256"

const char *
sshconn_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case SSHCONN_ERR_NOMEM:
		return "out of memory";
	case SSHCONN_ERR_ARG:
		return "invalid argument";
	case SSHCONN_ERR_CONNECT:
		return "cannot connect";
	case SSHCONN_ERR_PROTOCOL:
		return "SSH protocol error";
	case SSHCONN_ERR_HOSTKEY:
		return "host key verification failed";
	case SSHCONN_ERR_AUTH:
		return "authentication failed";
	case SSHCONN_ERR_CHANNEL:
		return "channel refused";
	case SSHCONN_ERR_REFUSED:
		return "request refused";
	default:
		return "unknown error";
	}
}

int
sshconn_check_any_option(const char *option, char *err, size_t errlen)
{
	int rc = hostkey_conf_option(NULL, option, err, errlen);

	return rc == 1 ? sshconn_check_option(option, err, errlen) : rc;
}

/* ---- small helpers ------------------------------------------------------ */

static int
str_set(char **dst, const char *src)
{
	char *p = NULL;

	if (src != NULL && (p = strdup(src)) == NULL)
		return SSHCONN_ERR_NOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

/* The home directory the way ssh(1) and libssh find it: the passwd entry first,
 * $HOME only when there is none, so that "~" means what libssh means by it. */
static char *
home_dir(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *h = NULL;

	if (pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] != '\0')
		h = pw->pw_dir;
	else
		h = getenv("HOME");
	return strdup(h != NULL && h[0] != '\0' ? h : "/");
}

static char *
local_user_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	const char *u = pw != NULL ? pw->pw_name : getenv("USER");

	return strdup(u != NULL ? u : "unknown");
}

static int
get_string(ssh_session s, enum ssh_options_e what, char **dst)
{
	char *v = NULL;
	int rc;

	if (ssh_options_get(s, what, &v) != SSH_OK || v == NULL)
		return 0;
	rc = str_set(dst, v);
	ssh_string_free_char(v);
	return rc;
}

/* ---- the end of a connection --------------------------------------------- */

/*
 * Sends SSH_MSG_DISCONNECT for real. libssh 0.10 only queues a packet when it has
 * written since its last poll of the socket, and ssh_disconnect() then drops that
 * queue along with the socket, so the server would see a bare EOF. Flushing and
 * polling once first lets the DISCONNECT go out at once.
 */
void
sshconn_goodbye(ssh_session s)
{
	ssh_event ev;

	if (ssh_is_connected(s)) {
		ssh_blocking_flush(s, 1000);
		if ((ev = ssh_event_new()) != NULL) {
			if (ssh_event_add_session(ev, s) == SSH_OK) {
				ssh_event_dopoll(ev, 0);
				ssh_event_remove_session(ev, s);
			}
			ssh_event_free(ev);
		}
	}
	ssh_disconnect(s);
}

void
sshconn_free(struct sshconn *c, int disconnect)
{
	if (c == NULL)
		return;
	if (c->session != NULL) {
		if (disconnect)
			sshconn_goodbye(c->session);
		ssh_free(c->session);
	}
	if (c->fd != -1)
		close(c->fd);
	transport_reap_helpers(c);
	free(c->alias);
	free(c->user);
	free(c->host);
	free(c);
}

/* ---- opening -------------------------------------------------------------- */

/*
 * The first part of every open, and of sshconn_print_config(): x set up, the
 * host as typed split, the options resolved (client/sshopt.c). Afterwards x is
 * to be released with ctx_release(), whatever is returned.
 */
static int
ctx_prepare(struct ctx *x, const struct sshconn_opts *o, int depth, char *err,
    size_t errlen)
{
	size_t i;
	int rc;

	memset(x, 0, sizeof(*x));
	sshopt_init(&x->os);
	hostkey_conf_init(&x->hk);
	x->o = o;
	x->depth = depth;
	x->err = err;
	x->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (o->host == NULL) {
		errf(err, errlen, "no host given");
		return SSHCONN_ERR_ARG;
	}
	if ((rc = sshopt_parse_target(o->host, &x->tg, err, errlen)) != 0)
		return rc;
	/* The host key keywords libssh ignores are client/hostkey.c's. */
	for (i = 0; i < o->noptions; i++) {
		if ((rc = hostkey_conf_option(&x->hk, o->options[i], err,
		    errlen)) < 0)
			return rc;
		if (rc == 1 && (rc = sshopt_apply(&x->os, o->options[i], err,
		    errlen)) != 0)
			return rc;
	}
	x->verbose = o->verbose > x->os.log_level ? o->verbose :
	    x->os.log_level;
	x->batch = o->batch || x->os.batch == 1;
	if ((x->home = home_dir()) == NULL ||
	    (x->local_user = local_user_name()) == NULL)
		return SSHCONN_ERR_NOMEM;
	return sshopt_load_config(x);
}

static void
ctx_release(struct ctx *x)
{
	free(x->known_hosts);
	free(x->global_known_hosts);
	free(x->home);
	free(x->local_user);
	if (x->have_ch)
		sshconf_host_clear(&x->ch);
	sshconf_free(x->cfg);
	sshopt_clear(&x->os);
	hostkey_conf_clear(&x->hk);
	sshopt_target_clear(&x->tg);
}

int
sshconn_print_config(const struct sshconn_opts *o, FILE *out, char *err,
    size_t errlen)
{
	struct ctx x;
	int rc;

	if ((rc = ctx_prepare(&x, o, 0, err, errlen)) == 0)
		rc = sshopt_print(&x, out);
	ctx_release(&x);
	if (rc == SSHCONN_ERR_NOMEM && err != NULL && errlen > 0 && err[0] == '\0')
		errf(err, errlen, "out of memory");
	return rc;
}

int
sshconn_resolve_dest(const struct sshconn_opts *o, struct sshconn_dest *d,
    char *err, size_t errlen)
{
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];
	struct ctx x;
	char port[16], *path = NULL;
	const char *parts[5];
	size_t i;
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = ctx_prepare(&x, o, 0, err, errlen)) != 0)
		goto out;
	snprintf(port, sizeof(port), "%d", x.os.port > 0 ? x.os.port : 22);
	parts[0] = x.os.hostname != NULL ? x.os.hostname : x.tg.host;
	parts[1] = port;
	parts[2] = x.os.user != NULL ? x.os.user : x.local_user;
	parts[3] = x.os.proxyjump != NULL ? x.os.proxyjump : "none";
	parts[4] = x.os.proxycommand != NULL ? x.os.proxycommand : "none";
	crypto_hash_sha256_init(&st);
	for (i = 0; i < 5; i++)
		crypto_hash_sha256_update(&st, (const uint8_t *)parts[i],
		    strlen(parts[i]) + 1);
	crypto_hash_sha256_final(&st, h);
	for (i = 0; i < sizeof(h); i++)
		snprintf(d->key + 2 * i, 3, "%02x", h[i]);
	d->master = x.os.control_master != 0;
	d->persist = x.os.control_persist == SSHOPT_PERSIST_FOREVER ? -1 :
	    x.os.control_persist == SSHOPT_PERSIST_NO ? 0 :
	    x.os.control_persist >= 0 ? x.os.control_persist :
	    SSHOPT_PERSIST_DEFAULT;
	if (x.os.control_path != NULL) {
		if (strcasecmp(x.os.control_path, "none") == 0)
			snprintf(d->path, sizeof(d->path), "none");
		else if ((rc = sshopt_expand(&x, x.os.control_path,
		    SSHOPT_EXPAND_PATH, &path)) != 0)
			goto out;
		else if (strlen(path) >= sizeof(d->path)) {
			errf(err, errlen, "ControlPath %s: too long", path);
			rc = SSHCONN_ERR_ARG;
		} else
			snprintf(d->path, sizeof(d->path), "%s", path);
	}
out:
	free(path);
	ctx_release(&x);
	if (rc == SSHCONN_ERR_NOMEM && err != NULL && errlen > 0 && err[0] == '\0')
		errf(err, errlen, "out of memory");
	return rc;
}

int
sshconn_open_depth(const struct sshconn_opts *o, int depth,
    struct sshconn **out, char *err, size_t errlen)
{
	struct ctx x;
	struct sshconn *c = NULL;
	const char *jump = NULL, *pcmd = NULL;
	unsigned int uport = 0;
	int rc, lv, strict, family;

	if ((rc = ctx_prepare(&x, o, depth, err, errlen)) != 0)
		goto out;

	rc = SSHCONN_ERR_NOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	c->fd = -1;
	x.c = c;
	if ((c->session = ssh_new()) == NULL || (c->alias = strdup(x.tg.host)) ==
	    NULL)
		goto out;
	/* libssh's own log is chatty even at its warning level: -v shows only
	 * our debug lines, -vv and -vvv add libssh's. */
	lv = x.verbose >= 3 ? SSH_LOG_PACKET : x.verbose == 2 ? SSH_LOG_PROTOCOL :
	    SSH_LOG_NOLOG;
	ssh_options_set(c->session, SSH_OPTIONS_LOG_VERBOSITY, &lv);
	/* ssh_config is resolved (client/sshopt.c), libssh gets the result in
	 * sshopt_apply_overrides(), where a KexAlgorithms line still wins. */
	if (ssh_options_set(c->session, SSH_OPTIONS_KEY_EXCHANGE,
	    KEX_PREFERRED) < 0)
		goto out;
	x.timeout = x.os.connect_timeout > 0 ? x.os.connect_timeout :
	    x.have_ch && x.ch.connect_timeout > 0 ? x.ch.connect_timeout :
	    DEFAULT_TIMEOUT;
	if (x.timeout > MAX_TIMEOUT)
		x.timeout = MAX_TIMEOUT;	/* milliseconds must fit an int */
	if ((rc = sshopt_apply_overrides(&x)) != 0 ||
	    (rc = hostkey_prepare(&x)) != 0)
		goto out;
	rc = SSHCONN_ERR_NOMEM;
	if (get_string(c->session, SSH_OPTIONS_HOST, &c->host) != 0 ||
	    get_string(c->session, SSH_OPTIONS_USER, &c->user) != 0 ||
	    ssh_options_get_port(c->session, &uport) != SSH_OK)
		goto out;
	/* No User anywhere: the local name, which libssh would pick later
	 * anyway; set now so messages and libssh agree. */
	if (c->user == NULL && (str_set(&c->user, x.local_user) != 0 ||
	    ssh_options_set(c->session, SSH_OPTIONS_USER, c->user) < 0))
		goto out;
	if (c->host == NULL) {
		errf(err, errlen, "%s: no host name", x.tg.host);
		rc = SSHCONN_ERR_ARG;
		goto out;
	}
	c->port = (int)uport;
	if (c->port == 22)
		snprintf(x.hostport, sizeof(x.hostport), "%s", c->host);
	else
		snprintf(x.hostport, sizeof(x.hostport), "[%s]:%d", c->host,
		    c->port);
	c->alive_interval = x.os.alive_interval >= 0 ? x.os.alive_interval :
	    x.have_ch && x.ch.server_alive_interval >= 0 ?
	    x.ch.server_alive_interval : 0;
	c->alive_count_max = x.os.alive_count_max >= 0 ? x.os.alive_count_max :
	    DEFAULT_ALIVE_MAX;
	strict = x.os.strict != -1 ? x.os.strict : x.have_ch ?
	    sshopt_strict_from_config(x.ch.strict_host_key_checking) : -1;
	if (strict == -1)
		strict = SSHOPT_STRICT_ASK;
	family = x.os.family != -1 ? x.os.family : AF_UNSPEC;

	/* How to reach the host: the resolution keeps at most one of ProxyJump
	 * and ProxyCommand, as ssh(1) does ("none" is neither). */
	if (x.os.proxyjump != NULL && strcasecmp(x.os.proxyjump, "none") != 0)
		jump = x.os.proxyjump;
	else if (x.os.proxycommand != NULL &&
	    strcasecmp(x.os.proxycommand, "none") != 0)
		pcmd = x.os.proxycommand;

	if (jump != NULL)
		rc = transport_open_jump(&x, jump, c->host, c->port, &c->fd);
	else if (pcmd != NULL)
		rc = transport_spawn_proxy(&x, pcmd, c->host, c->port, c->user,
		    &c->fd);
	else
		rc = transport_tcp_connect(&x, c->host, c->port, family,
		    &c->fd);
	if (rc != 0)
		goto out;
	set_nonblock(c->fd, 1);
	if (ssh_options_set(c->session, SSH_OPTIONS_FD, &c->fd) < 0) {
		rc = SSHCONN_ERR_NOMEM;
		goto out;
	}
	if (ssh_connect(c->session) != SSH_OK) {
		char name[600];

		transport_where(&x, c->host, name, sizeof(name));
		if (pcmd != NULL && transport_proxy_failed(&x, name)) {
			rc = SSHCONN_ERR_CONNECT;
			goto out;
		}
		errf(err, errlen, "SSH handshake with %s port %d failed: %s", name,
		    c->port, sess_error(&x));
		rc = SSHCONN_ERR_PROTOCOL;
		goto out;
	}
	debugf(&x, "Connected to %s; server version %s.", x.hostport,
	    ssh_get_serverbanner(c->session) != NULL ?
	    ssh_get_serverbanner(c->session) : "unknown");
	if (get_string(c->session, SSH_OPTIONS_KNOWNHOSTS, &x.known_hosts) != 0 ||
	    get_string(c->session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS,
	    &x.global_known_hosts) != 0) {
		rc = SSHCONN_ERR_NOMEM;
		goto out;
	}
	if ((rc = hostkey_verify(&x, strict)) != 0)
		goto out;
	if ((rc = auth_run(&x)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	sshconn_free(c, 1);
	ctx_release(&x);
	if (rc == SSHCONN_ERR_NOMEM && err != NULL && errlen > 0 && err[0] == '\0')
		errf(err, errlen, "out of memory");
	return rc;
}

int
sshconn_open(const struct sshconn_opts *opts, struct sshconn **out, char *err,
    size_t errlen)
{
	static int initialised;

	/* Needed when libssh is linked statically; counted, so harmless twice. */
	if (!initialised) {
		if (ssh_init() != SSH_OK) {
			errf(err, errlen, "cannot initialise libssh");
			return SSHCONN_ERR_NOMEM;
		}
		initialised = 1;
	}
	return sshconn_open_depth(opts, 0, out, err, errlen);
}

/* ---- channels and the rest ----------------------------------------------- */

static int
open_session(struct sshconn *c, ssh_channel *chp, char *err, size_t errlen)
{
	ssh_channel ch;

	if ((ch = ssh_channel_new(c->session)) == NULL) {
		errf(err, errlen, "connection to %s: %s", c->alias,
		    ssh_is_connected(c->session) ? "out of memory" :
		    "the connection is closed");
		return ssh_is_connected(c->session) ? SSHCONN_ERR_NOMEM :
		    SSHCONN_ERR_PROTOCOL;
	}
	if (ssh_channel_open_session(ch) != SSH_OK) {
		const char *why = ssh_get_error(c->session);

		ssh_channel_free(ch);
		if (!ssh_is_connected(c->session)) {
			errf(err, errlen, "connection to %s lost: %s", c->alias,
			    why);
			return SSHCONN_ERR_PROTOCOL;
		}
		/* sshd answers "open failed" without a reason when the
		 * connection already has MaxSessions sessions open. */
		errf(err, errlen, "%s refused to open another session channel "
		    "(%s): the connection has probably reached sshd's MaxSessions "
		    "limit (10 unless its sshd_config says otherwise); close other "
		    "sessions on it, or raise MaxSessions on the host", c->alias,
		    why);
		return SSHCONN_ERR_CHANNEL;
	}
	*chp = ch;
	return 0;
}

int
sshconn_open_channel(struct sshconn *c, const char *subsystem, ssh_channel *out,
    char *err, size_t errlen)
{
	ssh_channel ch = NULL;
	int rc;

	if ((rc = open_session(c, &ch, err, errlen)) != 0)
		return rc;
	if (ssh_channel_request_subsystem(ch, subsystem) != SSH_OK) {
		if (!ssh_is_connected(c->session)) {
			errf(err, errlen, "connection to %s lost: %s", c->alias,
			    ssh_get_error(c->session));
			rc = SSHCONN_ERR_PROTOCOL;
		} else if (strcmp(subsystem, "codex") == 0) {
			errf(err, errlen, "the codex subsystem is not registered "
			    "on %s (sshd refused the subsystem request): run `sudo "
			    "codex-subsystem register` on %s, which adds `Subsystem "
			    "codex ...` to its sshd configuration", c->alias,
			    c->alias);
			rc = SSHCONN_ERR_REFUSED;
		} else {
			errf(err, errlen, "the %s subsystem is not registered on "
			    "%s: sshd refused the subsystem request (no `Subsystem "
			    "%s ...` line in its sshd_config)", subsystem, c->alias,
			    subsystem);
			rc = SSHCONN_ERR_REFUSED;
		}
		ssh_channel_free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int
sshconn_open_exec(struct sshconn *c, const char *command, ssh_channel *out,
    char *err, size_t errlen)
{
	ssh_channel ch = NULL;
	int rc;

	if ((rc = open_session(c, &ch, err, errlen)) != 0)
		return rc;
	if (ssh_channel_request_exec(ch, command) != SSH_OK) {
		if (!ssh_is_connected(c->session)) {
			errf(err, errlen, "connection to %s lost: %s", c->alias,
			    ssh_get_error(c->session));
			rc = SSHCONN_ERR_PROTOCOL;
		} else {
			errf(err, errlen, "%s refused to run a command (exec "
			    "request denied)", c->alias);
			rc = SSHCONN_ERR_REFUSED;
		}
		ssh_channel_free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int
sshconn_keepalive(struct sshconn *c)
{
	return ssh_send_ignore(c->session, "") == SSH_OK ? 0 :
	    SSHCONN_ERR_PROTOCOL;
}

const char *
sshconn_auth_info(const struct sshconn *c)
{
	return c->auth;
}

ssh_session
sshconn_session(const struct sshconn *c)
{
	return c->session;
}

int
sshconn_fd(const struct sshconn *c)
{
	return c->fd;
}

const char *
sshconn_alias(const struct sshconn *c)
{
	return c->alias;
}

const char *
sshconn_user(const struct sshconn *c)
{
	return c->user;
}

const char *
sshconn_host(const struct sshconn *c)
{
	return c->host;
}

int
sshconn_port(const struct sshconn *c)
{
	return c->port;
}

int
sshconn_alive_interval(const struct sshconn *c)
{
	return c->alive_interval;
}

int
sshconn_alive_count_max(const struct sshconn *c)
{
	return c->alive_count_max;
}

void
sshconn_close(struct sshconn *c)
{
	sshconn_free(c, 1);
}
