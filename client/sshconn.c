/*
 * sshconn.c - the SSH connection of codex-connect, on libssh 0.10.
 *
 * libssh does the protocol; this file supplies what ssh(1) users rely on and
 * libssh 0.10 leaves out or does differently:
 *  - the TCP connection is made here, so a failure names the host, the port and
 *    the system's reason, and ConnectTimeout bounds each address tried;
 *  - ProxyJump is done natively: the jump host is opened with this same code
 *    (verified, authenticated), a direct-tcpip channel to the target is relayed
 *    by a forked helper process to one end of a socketpair, and the target's
 *    session runs on the other end. libssh 0.10 would instead run the OpenSSH
 *    binary without our -F file or our prompts. ProxyCommand is spawned here too,
 *    so every helper process is ours to reap;
 *  - StrictHostKeyChecking (with accept-new), BatchMode, IdentitiesOnly, the
 *    prompts and the choice of key files, which libssh 0.10 ignores or hides;
 *  - error messages that say what was tried and what to do.
 * ssh_config is read twice: by libssh (HostName, User, Port, UserKnownHostsFile,
 * algorithms...) and by client/sshconf.c for the keywords libssh does not expose.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/sshconf.h"
#include "client/sshconn.h"

#define DEFAULT_TIMEOUT		30	/* seconds, when ConnectTimeout is unset */
#define MAX_TIMEOUT		86400
#define DEFAULT_ALIVE_MAX	3
#define DEFAULT_PROMPTS		3	/* NumberOfPasswordPrompts */
#define MAX_JUMPS		8	/* ProxyJump hops, nested or listed */
#define MAX_HELPERS		(2 * MAX_JUMPS + 2)
#define MAX_IDS			32	/* identity files tried */
#define MAX_ANSWER		1024	/* one prompt's answer */
#define MAX_KNOWN_LINE		(64 * 1024)
#define RELAY_BUF		(64 * 1024)
#define REAP_WAIT_MS		2000	/* per helper, before SIGTERM */
#define ASKPASS_DEFAULT		"/usr/bin/ssh-askpass"

/* curve25519 first (fast, and what OpenSSH picks too), then libssh 0.10's own
 * default list so that any server libssh can talk to still works. Set before
 * ssh_config is read, so a KexAlgorithms line there still wins. */
#define KEX_PREFERRED \
	"curve25519-sha256,curve25519-sha256@libssh.org," \
	"ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521," \
	"diffie-hellman-group18-sha512,diffie-hellman-group16-sha512," \
	"diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256"

struct sshconn {
	ssh_session session;
	int fd;			/* transport, ours to close after ssh_free() */
	char *alias;
	char *user;
	char *host;
	int port;
	int alive_interval;
	int alive_count_max;
	pid_t helpers[MAX_HELPERS];	/* relays and proxy commands to reap */
	size_t nhelpers;
	char auth[400];			/* how authentication went, for doctor */
};

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

/* ---- small helpers ------------------------------------------------------ */

static void errf(char *err, size_t errlen, const char *fmt, ...) PROTO_PRINTF(3, 4);

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Appends to a fixed buffer, truncating quietly: these are message texts. */
static void catf(char *buf, size_t len, const char *fmt, ...) PROTO_PRINTF(3, 4);

static void
catf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

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

static int
set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1)
		return -1;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl);
}

static int
write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
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

/* ---- prompts -------------------------------------------------------------- */

static volatile sig_atomic_t tty_signal;

static void
tty_catch(int signo)
{
	tty_signal = signo;
}

/*
 * Reads one line from the terminal. Signals that would stop or kill us are
 * caught while echo is off so the terminal can be restored first; the signal is
 * then raised again, and the prompt counts as cancelled.
 */
static int
tty_read(int fd, const char *prompt, int echo, char *buf, size_t len)
{
	static const int sigs[] = { SIGALRM, SIGHUP, SIGINT, SIGPIPE, SIGQUIT,
	    SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU };
	struct sigaction sa, old[sizeof(sigs) / sizeof(sigs[0])];
	struct termios saved, t;
	size_t i, n = 0;
	int restore = 0, rc = -1, signo;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_catch;	/* no SA_RESTART: read() must return */
	sigemptyset(&sa.sa_mask);
	tty_signal = 0;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, &old[i]);

	if (!echo && tcgetattr(fd, &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		if (tcsetattr(fd, TCSAFLUSH, &t) == 0)
			restore = 1;
	}
	/* Start at column 0 over anything typed ahead while echo was on. */
	if (write_all(fd, "\r", 1) == -1 ||
	    write_all(fd, prompt, strlen(prompt)) == -1)
		goto out;
	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR && tty_signal == 0)
			continue;
		if (r <= 0 || tty_signal != 0)
			goto out;
		if (c == '\n' || c == '\r')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	rc = 0;
out:
	buf[rc == 0 ? n : 0] = '\0';
	if (rc != 0)
		explicit_bzero(buf, len);
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		PROTO_IGNORE(write_all(fd, "\n", 1));
	}
	signo = tty_signal;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &old[i], NULL);
	if (signo != 0)
		raise(signo);
	return rc;
}

/* Runs the askpass program with the prompt as its only argument and takes its
 * standard output, up to the first newline, as the answer; a non-zero exit
 * status means the user cancelled. */
static int
askpass_read(const char *prog, const char *prompt, char *buf, size_t len)
{
	struct sigaction dfl, oldchld;
	size_t n = 0;
	int p[2], status, rc = -1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	/* A caller that ignores SIGCHLD would make the child unwaitable. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &oldchld);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		goto out;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], STDOUT_FILENO) == -1)
			_exit(127);
		execlp(prog, prog, prompt, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		char tmp[256];
		ssize_t r = read(p[0], tmp, sizeof(tmp));
		size_t k;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (k = 0; k < (size_t)r && n + 1 < len; k++)
			buf[n++] = tmp[k];
		explicit_bzero(tmp, sizeof(tmp));
	}
	close(p[0]);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = 0;	/* reaped elsewhere: trust the output */
			break;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
out:
	sigaction(SIGCHLD, &oldchld, NULL);
	if (rc != 0)
		explicit_bzero(buf, len);
	return rc;
}

int
sshconn_prompt_default(void *arg, const char *prompt, int echo, char *buf,
    size_t len)
{
	const char *s, *prog;
	int allow_askpass = 0, use_askpass = 0, fd, rc;

	(void)arg;
	if (len == 0)
		return -1;
	buf[0] = '\0';
	/* ssh(1)'s rules: a display allows askpass, SSH_ASKPASS_REQUIRE=force
	 * forces it, =prefer prefers it when allowed, =never forbids it. */
	if (((s = getenv("DISPLAY")) != NULL && *s != '\0') ||
	    ((s = getenv("WAYLAND_DISPLAY")) != NULL && *s != '\0'))
		allow_askpass = 1;
	if ((s = getenv("SSH_ASKPASS_REQUIRE")) != NULL) {
		if (strcasecmp(s, "force") == 0)
			use_askpass = allow_askpass = 1;
		else if (strcasecmp(s, "prefer") == 0)
			use_askpass = allow_askpass;
		else if (strcasecmp(s, "never") == 0)
			allow_askpass = 0;
	}
	if (!use_askpass) {
		fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd >= 0) {
			rc = tty_read(fd, prompt, echo, buf, len);
			close(fd);
			return rc;
		}
		/* No terminal: askpass, if allowed, is all there is. */
	}
	if (!allow_askpass)
		return -1;
	prog = getenv("SSH_ASKPASS");
	if (prog == NULL || *prog == '\0')
		prog = ASKPASS_DEFAULT;
	return askpass_read(prog, prompt, buf, len);
}

void
sshconn_notice_default(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

/* ---- -o options ----------------------------------------------------------- */

enum { SHK_YES = 1, SHK_NO, SHK_ACCEPT_NEW, SHK_ASK };

/* Values from -o; -1 or NULL is "not given". As in ssh(1), the first value
 * given for a key wins; IdentityFile accumulates. */
struct oset {
	int strict;
	char *known_hosts;
	char *global_known_hosts;
	int connect_timeout;
	int alive_interval;
	int alive_count_max;
	int port;
	char *user;
	char *hostname;
	char *ids[MAX_IDS];
	size_t nids;
	int identities_only;
	int batch;
	char *proxyjump;
	char *proxycommand;
	int family;
	char *preferred;
	int pubkey_auth;
	int kbdint_auth;
	int password_auth;
	int password_prompts;
	char *kex;
	char *ciphers;
	char *macs;
	char *hostkeys;
	int log_level;
};

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
	{ "StrictHostKeyChecking", OT_STRICT, offsetof(struct oset, strict) },
	{ "UserKnownHostsFile", OT_PATH, offsetof(struct oset, known_hosts) },
	{ "GlobalKnownHostsFile", OT_PATH,
	    offsetof(struct oset, global_known_hosts) },
	{ "ConnectTimeout", OT_SECONDS, offsetof(struct oset, connect_timeout) },
	{ "ServerAliveInterval", OT_SECONDS,
	    offsetof(struct oset, alive_interval) },
	{ "ServerAliveCountMax", OT_COUNT,
	    offsetof(struct oset, alive_count_max) },
	{ "Port", OT_PORT, offsetof(struct oset, port) },
	{ "User", OT_STRING, offsetof(struct oset, user) },
	{ "HostName", OT_STRING, offsetof(struct oset, hostname) },
	{ "IdentityFile", OT_IDENTITY, 0 },
	{ "IdentitiesOnly", OT_FLAG, offsetof(struct oset, identities_only) },
	{ "BatchMode", OT_FLAG, offsetof(struct oset, batch) },
	{ "ProxyJump", OT_JUMP, offsetof(struct oset, proxyjump) },
	{ "ProxyCommand", OT_STRING, offsetof(struct oset, proxycommand) },
	{ "AddressFamily", OT_FAMILY, offsetof(struct oset, family) },
	{ "PreferredAuthentications", OT_PREFERRED,
	    offsetof(struct oset, preferred) },
	{ "PubkeyAuthentication", OT_FLAG, offsetof(struct oset, pubkey_auth) },
	{ "KbdInteractiveAuthentication", OT_FLAG,
	    offsetof(struct oset, kbdint_auth) },
	{ "PasswordAuthentication", OT_FLAG,
	    offsetof(struct oset, password_auth) },
	{ "NumberOfPasswordPrompts", OT_COUNT,
	    offsetof(struct oset, password_prompts) },
	{ "KexAlgorithms", OT_ALGOS, offsetof(struct oset, kex) },
	{ "Ciphers", OT_ALGOS, offsetof(struct oset, ciphers) },
	{ "MACs", OT_ALGOS, offsetof(struct oset, macs) },
	{ "HostKeyAlgorithms", OT_ALGOS, offsetof(struct oset, hostkeys) },
	{ "LogLevel", OT_LOGLEVEL, offsetof(struct oset, log_level) },
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

static void
oset_init(struct oset *s)
{
	memset(s, 0, sizeof(*s));
	s->strict = s->connect_timeout = s->alive_interval = -1;
	s->alive_count_max = s->port = s->identities_only = s->batch = -1;
	s->family = s->pubkey_auth = s->kbdint_auth = s->password_auth = -1;
	s->password_prompts = s->log_level = -1;
}

static void
oset_clear(struct oset *s)
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
	oset_init(s);
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
static int
apply_option(struct oset *s, const char *opt, char *err, size_t errlen)
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
			n = SHK_ACCEPT_NEW;
		else if (strcasecmp(val, "ask") == 0)
			n = SHK_ASK;
		else if (strcasecmp(val, "off") == 0)
			n = SHK_NO;
		else if ((n = parse_flag(val)) != -1)
			n = n ? SHK_YES : SHK_NO;
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
		if (s->nids == MAX_IDS) {
			errf(err, errlen, "too many identity files (at most %d)",
			    MAX_IDS);
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
	return apply_option(NULL, option, err, errlen);
}

/* ---- the host as typed ---------------------------------------------------- */

struct target {
	char *user;		/* NULL: not given */
	char *host;
	int port;		/* 0: not given */
};

static void
target_clear(struct target *t)
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
static int
parse_target(const char *in, struct target *t, char *err, size_t errlen)
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
		target_clear(t);
	return rc;
}

/* ---- one sshconn_open() in progress -------------------------------------- */

struct ctx {
	const struct sshconn_opts *o;
	int depth;			/* 0 for the target, 1.. for jump hosts */
	struct oset os;
	struct target tg;
	struct sshconf *cfg;
	struct sshconf_host ch;		/* what sshconf says about the alias */
	int have_ch;
	struct sshconn *c;
	char *home;
	char *local_user;
	char *known_hosts;		/* as libssh uses them, for messages */
	char *global_known_hosts;
	char hostport[320];		/* "host" or "[host]:port", known_hosts key */
	int verbose;
	int batch;
	int timeout;
	char tried[1024];		/* authentication attempts, for the error */
	char notes[512];
	char *err;
	size_t errlen;
};

static void debugf(struct ctx *x, const char *fmt, ...) PROTO_PRINTF(2, 3);
static void noticef(struct ctx *x, const char *fmt, ...) PROTO_PRINTF(2, 3);

static void
notice(struct ctx *x, const char *msg)
{
	if (x->o->notice != NULL)
		x->o->notice(x->o->notice_arg, msg);
	else
		sshconn_notice_default(NULL, msg);
}

static void
noticef(struct ctx *x, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	notice(x, msg);
}

static void
debugf(struct ctx *x, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	int n;

	if (x->verbose < 1)
		return;
	n = snprintf(msg, sizeof(msg), "debug1: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	notice(x, msg);
}

/* Asks through the caller's prompt; -1 in batch mode without asking. */
static int
ask(struct ctx *x, const char *prompt, int echo, char *buf, size_t len)
{
	int rc;

	buf[0] = '\0';
	if (x->batch)
		return -1;
	if (x->o->prompt != NULL)
		rc = x->o->prompt(x->o->prompt_arg, prompt, echo, buf, len);
	else
		rc = sshconn_prompt_default(NULL, prompt, echo, buf, len);
	if (rc != 0)
		explicit_bzero(buf, len);
	return rc == 0 ? 0 : -1;
}

static const char *
sess_error(struct ctx *x)
{
	const char *e = ssh_get_error(x->c->session);

	return e != NULL && *e != '\0' ? e : "unknown error";
}

static int
add_helper(struct sshconn *c, pid_t pid)
{
	if (c->nhelpers == MAX_HELPERS)
		return -1;
	c->helpers[c->nhelpers++] = pid;
	return 0;
}

/* Waits up to ms for pid to exit; 1 when it did (or is not ours to wait for). */
static int
wait_exit(pid_t pid, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int waited, st;

	for (waited = 0; waited <= ms; waited += 10) {
		if (waitpid(pid, &st, WNOHANG) != 0)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Waits a bounded time for each helper (a relay finishes on its own once our
 * end of its socketpair is closed), then terminates what is left. */
static void
reap_helpers(struct sshconn *c)
{
	size_t i;

	for (i = 0; i < c->nhelpers; i++) {
		if (wait_exit(c->helpers[i], REAP_WAIT_MS))
			continue;
		kill(c->helpers[i], SIGTERM);
		if (wait_exit(c->helpers[i], 1000))
			continue;
		kill(c->helpers[i], SIGKILL);
		while (waitpid(c->helpers[i], NULL, 0) == -1 && errno == EINTR)
			;
	}
	c->nhelpers = 0;
}

/* A forked helper starts with default signal handling and nothing blocked,
 * whatever the caller had set up (a blocked or ignored SIGTERM would make it
 * unkillable by reap_helpers()). */
static void
child_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM,
	    SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2 };
	sigset_t none;
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * Sends SSH_MSG_DISCONNECT for real. libssh 0.10 only queues a packet when it has
 * written since its last poll of the socket, and ssh_disconnect() then drops that
 * queue along with the socket, so the server would see a bare EOF. Flushing and
 * polling once first lets the DISCONNECT go out at once.
 */
static void
say_goodbye(ssh_session s)
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

/* ---- transports: TCP, ProxyCommand, ProxyJump ----------------------------- */

/* Connects to one address, waiting at most timeout_ms. Returns the socket or -1
 * with errno set. */
static int
connect_addr(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (r == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:
	r = errno;
	close(fd);
	errno = r;
	return -1;
}

/* An unknown name that is close to an alias in ssh_config is most likely a typo:
 * say which aliases were meant. */
static void
suggest_alias(struct ctx *x, char *buf, size_t len)
{
	const char *s[3];
	size_t n, i;

	buf[0] = '\0';
	if (x->cfg == NULL || (x->have_ch && x->ch.matched))
		return;
	n = sshconf_suggest(x->cfg, x->tg.host, s, 3);
	if (n == 0)
		return;
	catf(buf, len, " (no Host %s in ssh_config; did you mean ", x->tg.host);
	for (i = 0; i < n; i++)
		catf(buf, len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
		    s[i]);
	catf(buf, len, "?)");
}

static void
where(struct ctx *x, const char *host, char *buf, size_t len)
{
	if (strcmp(x->tg.host, host) != 0)
		snprintf(buf, len, "%s (%s)", x->tg.host, host);
	else
		snprintf(buf, len, "%s", host);
}

static int
tcp_connect(struct ctx *x, const char *host, int port, int family, int *fdp)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16], name[600], hint[256];
	int fd = -1, e, saved = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	where(x, host, name, sizeof(name));
	debugf(x, "Connecting to %s port %d.", name, port);
	e = getaddrinfo(host, portstr, &hints, &res);
	if (e != 0) {
		suggest_alias(x, hint, sizeof(hint));
		errf(x->err, x->errlen, "cannot connect to %s port %d: %s%s",
		    name, port, e == EAI_SYSTEM ? strerror(errno) :
		    gai_strerror(e), hint);
		return SSHCONN_ERR_CONNECT;
	}
	/* Every address in turn, as ssh(1) does; the last error is reported. */
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = connect_addr(ai, x->timeout * 1000)) != -1)
			break;
		saved = errno;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errf(x->err, x->errlen, "cannot connect to %s port %d: %s", name,
		    port, saved == ETIMEDOUT ? "Connection timed out" :
		    strerror(saved));
		return SSHCONN_ERR_CONNECT;
	}
	/* JSON-RPC is small messages that want to leave now; keepalive is
	 * ssh(1)'s default TCPKeepAlive. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	*fdp = fd;
	return 0;
}

/* %h %p %r %n %% in a ProxyCommand, as ssh(1) expands them. */
static char *
expand_proxy(const char *tmpl, const char *host, int port, const char *user,
    const char *alias)
{
	size_t cap = strlen(tmpl) + 64, n = 0, add;
	char *out = malloc(cap), *tmp, portstr[16];
	const char *s, *p;

	if (out == NULL)
		return NULL;
	snprintf(portstr, sizeof(portstr), "%d", port);
	for (p = tmpl; *p != '\0'; p++) {
		char one[2] = { *p, '\0' };

		s = one;
		if (*p == '%' && p[1] != '\0') {
			switch (*++p) {
			case 'h': s = host; break;
			case 'p': s = portstr; break;
			case 'r': s = user; break;
			case 'n': s = alias; break;
			case '%': s = "%"; break;
			default:
				free(out);
				errno = EINVAL;
				return NULL;
			}
		}
		add = strlen(s);
		if (n + add + 1 > cap) {
			cap = (n + add + 1) * 2;
			if ((tmp = realloc(out, cap)) == NULL) {
				free(out);
				return NULL;
			}
			out = tmp;
		}
		memcpy(out + n, s, add);
		n += add;
	}
	out[n] = '\0';
	return out;
}

/* Runs the ProxyCommand through the user's shell, its stdin and stdout on one
 * end of a socketpair; stderr stays ours so its messages reach the user. */
static int
spawn_proxy(struct ctx *x, const char *tmpl, const char *host, int port,
    const char *user, int *fdp)
{
	char *cmd = NULL, *line = NULL;
	const char *shell = getenv("SHELL");
	int sv[2] = { -1, -1 }, rc = SSHCONN_ERR_CONNECT;
	pid_t pid;

	if ((cmd = expand_proxy(tmpl, host, port, user, x->tg.host)) == NULL) {
		if (errno == EINVAL) {
			errf(x->err, x->errlen, "ProxyCommand '%s': unknown %%-token",
			    tmpl);
			return SSHCONN_ERR_ARG;
		}
		return SSHCONN_ERR_NOMEM;
	}
	if (asprintf(&line, "exec %s", cmd) == -1) {
		line = NULL;
		rc = SSHCONN_ERR_NOMEM;
		goto out;
	}
	if (shell == NULL || *shell == '\0')
		shell = "/bin/sh";
	debugf(x, "Executing proxy command: %s", line);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		errf(x->err, x->errlen, "ProxyCommand: socketpair: %s",
		    strerror(errno));
		goto out;
	}
	if ((pid = fork()) == -1) {
		errf(x->err, x->errlen, "ProxyCommand: fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		child_signals();
		if (dup2(sv[1], STDIN_FILENO) == -1 ||
		    dup2(sv[1], STDOUT_FILENO) == -1)
			_exit(127);
		execl(shell, shell, "-c", line, (char *)NULL);
		fprintf(stderr, "ProxyCommand: cannot run %s: %s\n", shell,
		    strerror(errno));
		_exit(127);
	}
	if (add_helper(x->c, pid) == -1) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		errf(x->err, x->errlen, "too many helper processes");
		goto out;
	}
	close(sv[1]);
	sv[1] = -1;
	*fdp = sv[0];
	sv[0] = -1;
	rc = 0;
out:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	free(cmd);
	free(line);
	return rc;
}

/* Closes every descriptor but the ones in keep[]; stdin and stdout become
 * /dev/null. Used in the relay so it holds nothing of the caller's (a client
 * socket kept open by us would hide that client's EOF from the caller). */
static void
close_others(const int *keep, size_t nkeep)
{
	DIR *d;
	struct dirent *e;
	size_t i;
	int fd, nul, dfd;

	if ((nul = open("/dev/null", O_RDWR)) != -1) {
		for (fd = 0; fd <= 1; fd++) {
			for (i = 0; i < nkeep; i++)
				if (keep[i] == fd)
					break;
			if (i == nkeep)
				dup2(nul, fd);
		}
		if (nul > 2)
			close(nul);
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		dfd = dirfd(d);
		while ((e = readdir(d)) != NULL) {
			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			fd = atoi(e->d_name);
			if (fd <= 2 || fd == dfd)
				continue;
			for (i = 0; i < nkeep; i++)
				if (keep[i] == fd)
					break;
			if (i == nkeep)
				close(fd);
		}
		closedir(d);
		return;
	}
	for (fd = 3; fd < 4096; fd++) {
		for (i = 0; i < nkeep; i++)
			if (keep[i] == fd)
				break;
		if (i == nkeep)
			close(fd);
	}
}

/*
 * The relay process: copies between the socketpair and the direct-tcpip channel
 * of the jump host's session, both ways, with bounded buffers. Reads from one
 * side only while the buffer toward the other has room, which is all the
 * back-pressure TCP needs. When our side closes, the channel gets EOF and the
 * relay waits (briefly) for the far end to close too, so that the last bytes
 * (the inner session's own DISCONNECT) reach the target before the jump
 * connection goes. Never returns.
 */
static void __attribute__((noreturn))
relay_run(ssh_session s, ssh_channel ch, int fd)
{
	static unsigned char up[RELAY_BUF], down[RELAY_BUF];
	size_t uplen = 0, downlen = 0;
	int fd_eof = 0, fd_dead = 0, ch_eof = 0, eof_sent = 0, status = 1;
	struct timespec now, deadline = { 0, 0 };
	struct pollfd pfd[2];

	ssh_set_blocking(s, 0);
	set_nonblock(fd, 1);
	for (;;) {
		int n, pending, timeout = 200;

		/* channel -> socketpair */
		if (!ch_eof && downlen < RELAY_BUF) {
			n = ssh_channel_read_nonblocking(ch, down + downlen,
			    (uint32_t)(RELAY_BUF - downlen), 0);
			if (n == SSH_EOF)
				ch_eof = 1;
			else if (n < 0)
				break;
			else
				downlen += (size_t)n;
			if (ssh_channel_is_eof(ch) && ssh_channel_poll(ch, 0) <= 0)
				ch_eof = 1;
		}
		if (downlen > 0 && fd_dead)
			downlen = 0;
		if (downlen > 0) {
			ssize_t w = send(fd, down, downlen, MSG_NOSIGNAL);

			if (w > 0) {
				memmove(down, down + w, downlen - (size_t)w);
				downlen -= (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				fd_dead = fd_eof = 1;	/* nobody reads */
				downlen = 0;
			}
		}
		if (ch_eof && downlen == 0) {
			status = 0;
			break;
		}
		/* socketpair -> channel */
		if (!fd_eof && uplen < RELAY_BUF) {
			ssize_t r = recv(fd, up + uplen, RELAY_BUF - uplen, 0);

			if (r > 0)
				uplen += (size_t)r;
			else if (r == 0 || (errno != EAGAIN && errno != EINTR))
				fd_eof = 1;
		}
		if (uplen > 0) {
			uint32_t win = ssh_channel_window_size(ch);

			if (win > 0) {
				n = ssh_channel_write(ch, up, (uint32_t)(uplen <
				    win ? uplen : win));
				if (n < 0)
					break;
				memmove(up, up + n, uplen - (size_t)n);
				uplen -= (size_t)n;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (fd_eof && uplen == 0 && !eof_sent) {
			ssh_channel_send_eof(ch);
			eof_sent = 1;
			deadline = now;
			deadline.tv_sec += 2;
		}
		if (eof_sent && (now.tv_sec > deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec &&
		    now.tv_nsec >= deadline.tv_nsec))) {
			status = 0;
			break;
		}
		if (!ssh_is_connected(s) || ssh_channel_is_closed(ch))
			break;

		pending = ssh_blocking_flush(s, 0) == SSH_AGAIN;
		pfd[0].fd = fd_eof && downlen == 0 ? -1 : fd;
		pfd[0].events = 0;
		if (!fd_eof && uplen < RELAY_BUF)
			pfd[0].events |= POLLIN;
		if (downlen > 0)
			pfd[0].events |= POLLOUT;
		pfd[1].fd = ssh_get_fd(s);
		pfd[1].events = POLLIN | (pending ? POLLOUT : 0);
		/* Data libssh already decrypted does not make the socket
		 * readable again. */
		if (!ch_eof && downlen < RELAY_BUF && ssh_channel_poll(ch, 0) != 0)
			timeout = 0;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR)
			break;
	}
	ssh_channel_close(ch);
	say_goodbye(s);
	_exit(status);
}

static int open_conn(const struct sshconn_opts *o, int depth,
    struct sshconn **out, char *err, size_t errlen);

static void
conn_free(struct sshconn *c, int disconnect)
{
	if (c == NULL)
		return;
	if (c->session != NULL) {
		if (disconnect)
			say_goodbye(c->session);
		ssh_free(c->session);
	}
	if (c->fd != -1)
		close(c->fd);
	reap_helpers(c);
	free(c->alias);
	free(c->user);
	free(c->host);
	free(c);
}

/*
 * Opens the connection to host:port through the jump host(s) in spec and stores
 * our end of the relayed stream in *fdp. "a,b,c" means: reach c through b
 * through a, so c is opened here with ProxyJump=a,b and recursion does the rest.
 */
static int
open_jump(struct ctx *x, const char *spec, const char *host, int port, int *fdp)
{
	struct sshconn_opts jo;
	struct sshconn *jc = NULL;
	ssh_channel ch = NULL;
	char *hops = NULL, *last, *rest = NULL, jerr[1024];
	const char *optv[1];
	int sv[2] = { -1, -1 }, rc, keep[3];
	size_t i;
	pid_t pid;

	if (x->depth >= MAX_JUMPS) {
		errf(x->err, x->errlen, "more than %d ProxyJump hops to reach %s; "
		    "is there a loop in ssh_config?", MAX_JUMPS, x->tg.host);
		return SSHCONN_ERR_ARG;
	}
	if ((hops = strdup(spec)) == NULL)
		return SSHCONN_ERR_NOMEM;
	if ((last = strrchr(hops, ',')) != NULL) {
		*last++ = '\0';
		if (asprintf(&rest, "ProxyJump=%s", hops) == -1) {
			rest = NULL;
			rc = SSHCONN_ERR_NOMEM;
			goto out;
		}
	} else
		last = hops;
	if (*last == '\0' || (rest != NULL && hops[0] == '\0')) {
		errf(x->err, x->errlen, "bad ProxyJump '%s'", spec);
		rc = SSHCONN_ERR_ARG;
		goto out;
	}
	/* Like ssh(1): the jump host gets our config file, verbosity and
	 * prompts, not our -o options. */
	memset(&jo, 0, sizeof(jo));
	jo.host = last;
	jo.config_file = x->o->config_file;
	jo.verbose = x->verbose;
	jo.batch = x->batch;
	jo.prompt = x->o->prompt;
	jo.prompt_arg = x->o->prompt_arg;
	jo.notice = x->o->notice;
	jo.notice_arg = x->o->notice_arg;
	if (rest != NULL) {
		optv[0] = rest;
		jo.options = optv;
		jo.noptions = 1;
	}
	debugf(x, "Connecting to jump host %s.", last);
	if ((rc = open_conn(&jo, x->depth + 1, &jc, jerr, sizeof(jerr))) != 0) {
		errf(x->err, x->errlen, "jump host %s: %s", last, jerr);
		goto out;
	}
	rc = SSHCONN_ERR_CONNECT;
	if ((ch = ssh_channel_new(jc->session)) == NULL ||
	    ssh_channel_open_forward(ch, host, port, "127.0.0.1", 0) != SSH_OK) {
		errf(x->err, x->errlen, "jump host %s cannot open a connection to "
		    "%s port %d: %s (it needs AllowTcpForwarding, and %s must be "
		    "reachable from it)", last, host, port,
		    ssh_get_error(jc->session), host);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		errf(x->err, x->errlen, "jump host %s: cannot start the relay: %s",
		    last, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		keep[0] = sv[1];
		keep[1] = jc->fd;
		keep[2] = STDERR_FILENO;
		close_others(keep, 3);
		/* It lives exactly as long as our end of the socketpair:
		 * terminal signals are the caller's to handle. */
		child_signals();
		signal(SIGPIPE, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		relay_run(jc->session, ch, sv[1]);
	}
	close(sv[1]);
	sv[1] = -1;
	if (add_helper(x->c, pid) == -1) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		errf(x->err, x->errlen, "too many helper processes");
		goto out;
	}
	/* The relay owns the jump connection now. Our copy of its state is
	 * dropped without a word on the wire: ssh_free() sends nothing, and
	 * libssh does not close a descriptor it was given. Its helpers are
	 * reaped with ours. */
	for (i = 0; i < jc->nhelpers; i++)
		PROTO_IGNORE(add_helper(x->c, jc->helpers[i]));
	jc->nhelpers = 0;
	ssh_free(jc->session);
	jc->session = NULL;
	ch = NULL;
	*fdp = sv[0];
	sv[0] = -1;
	rc = 0;
out:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (ch != NULL)
		ssh_channel_free(ch);
	conn_free(jc, rc != 0);
	free(hops);
	free(rest);
	return rc;
}

/* ---- host key ------------------------------------------------------------- */

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

/*
 * Finds the first line of file with an entry for x->hostport that explains the
 * verdict: a key of the same type but different (CHANGED) or a key of another
 * type (OTHER). Matching is libssh's own ssh_known_hosts_parse_line(), so hashed
 * |1|salt|hash entries and patterns match exactly as they did for the verdict.
 * Returns the line number (from 1) and the recorded key's type, or 0.
 */
static int
find_known_line(struct ctx *x, const char *file, const ssh_key key,
    int changed, const char **type)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, found = 0;

	if (file == NULL || (f = fopen(file, "re")) == NULL)
		return 0;
	while (!found && (len = getline(&line, &cap, f)) != -1) {
		struct ssh_knownhosts_entry *e = NULL;
		char *p = line;
		int same;

		lineno++;
		if (len > MAX_KNOWN_LINE)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		/* Comments, blanks, and @cert-authority/@revoked markers. */
		if (*p == '\0' || *p == '#' || *p == '@')
			continue;
		if (ssh_known_hosts_parse_line(x->hostport, p, &e) != SSH_OK ||
		    e == NULL || e->publickey == NULL) {
			ssh_knownhosts_entry_free(e);
			continue;
		}
		same = ssh_key_type(e->publickey) == ssh_key_type(key);
		if (changed ? (same && ssh_key_cmp(e->publickey, key,
		    SSH_KEY_CMP_PUBLIC) != 0) : !same) {
			found = lineno;
			*type = key_type_name(e->publickey);
		}
		ssh_knownhosts_entry_free(e);
	}
	free(line);
	fclose(f);
	return found;
}

/* The user's file first, as libssh reads it first. */
static int
locate_known(struct ctx *x, const ssh_key key, int changed, const char **file,
    const char **type)
{
	int line;

	*type = "unknown";
	*file = x->known_hosts;
	if ((line = find_known_line(x, x->known_hosts, key, changed, type)) != 0)
		return line;
	if ((line = find_known_line(x, x->global_known_hosts, key, changed,
	    type)) != 0) {
		*file = x->global_known_hosts;
		return line;
	}
	return 0;
}

static int
refuse_changed(struct ctx *x, const ssh_key key, const char *fp)
{
	const char *file, *otype;
	char at[PATH_MAX + 32];
	int line = locate_known(x, key, 1, &file, &otype);

	if (line != 0)
		snprintf(at, sizeof(at), "%s:%d", file, line);
	else
		snprintf(at, sizeof(at), "%s", file != NULL ? file : "known_hosts");
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "The %s host key that %s presented is not the one recorded for it.\n"
	    "Someone may be intercepting this connection (a man-in-the-middle\n"
	    "attack), or the host's key may have been replaced on purpose.\n"
	    "Key presented by the host: %s %s\n"
	    "Key on record:             %s key in %s\n"
	    "Check the new fingerprint with the host's administrator. If the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    key_type_name(key), x->hostport, key_type_name(key), fp, otype, at,
	    file != NULL ? file : "~/.ssh/known_hosts", x->hostport);
	errf(x->err, x->errlen, "host key verification failed: the host key of "
	    "%s has changed (offending %s key in %s); refusing to connect",
	    x->hostport, otype, at);
	return SSHCONN_ERR_HOSTKEY;
}

static int
refuse_other(struct ctx *x, const ssh_key key, const char *fp)
{
	const char *file, *otype;
	char at[PATH_MAX + 32];
	int line = locate_known(x, key, 0, &file, &otype);

	if (line != 0)
		snprintf(at, sizeof(at), "%s:%d", file, line);
	else
		snprintf(at, sizeof(at), "%s", file != NULL ? file : "known_hosts");
	noticef(x,
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
	    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	    "%s presented a host key of type %s (%s), but the key on\n"
	    "record for it is of another type (%s key in %s), and the host no\n"
	    "longer offers that type. This may be an attack, or the host's\n"
	    "configuration changed. Check with the host's administrator; if the\n"
	    "change is legitimate, remove the old entry with\n"
	    "  ssh-keygen -f \"%s\" -R \"%s\"\n"
	    "and connect again. Nothing was sent to the host.",
	    x->hostport, key_type_name(key), fp, otype, at,
	    file != NULL ? file : "~/.ssh/known_hosts", x->hostport);
	errf(x->err, x->errlen, "host key verification failed: %s presented "
	    "a host key of type %s, but the key on record for it is of type %s "
	    "(%s); refusing to connect", x->hostport, key_type_name(key), otype,
	    at);
	return SSHCONN_ERR_HOSTKEY;
}

static void
remember_host(struct ctx *x, const ssh_key key, const char *fp)
{
	if (ssh_session_update_known_hosts(x->c->session) != SSH_OK) {
		noticef(x, "Warning: could not add the host key of %s to %s: %s",
		    x->hostport, x->known_hosts != NULL ? x->known_hosts :
		    "known_hosts", sess_error(x));
		return;
	}
	noticef(x, "Warning: Permanently added '%s' (%s %s) to the list of "
	    "known hosts in %s.", x->hostport, key_type_name(key), fp,
	    x->known_hosts != NULL ? x->known_hosts : "known_hosts");
}

static int
unknown_host(struct ctx *x, int strict, const ssh_key key, const char *fp)
{
	char prompt[1024], answer[MAX_ANSWER];
	int tries;

	if (strict == SHK_NO || strict == SHK_ACCEPT_NEW) {
		remember_host(x, key, fp);
		return 0;
	}
	if (strict == SHK_YES) {
		errf(x->err, x->errlen, "host key verification failed: no host key "
		    "is known for %s (%s %s) and StrictHostKeyChecking=yes; add "
		    "it to %s first", x->hostport, key_type_name(key), fp,
		    x->known_hosts != NULL ? x->known_hosts : "known_hosts");
		return SSHCONN_ERR_HOSTKEY;
	}
	snprintf(prompt, sizeof(prompt),
	    "The host '%s' is not known: no key for it is in your\n"
	    "known_hosts files, so its identity cannot be checked.\n"
	    "%s key fingerprint is %s.\n"
	    "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
	    x->hostport, key_type_name(key), fp);
	for (tries = 0; tries < 3; tries++) {
		if (ask(x, prompt, 1, answer, sizeof(answer)) != 0) {
			errf(x->err, x->errlen, "host key verification failed: "
			    "no host key is known for %s (%s %s) and %s; check "
			    "the fingerprint, then connect once from a terminal "
			    "or with -o StrictHostKeyChecking=accept-new",
			    x->hostport, key_type_name(key), fp, x->batch ?
			    "BatchMode forbids asking" :
			    "there is no terminal to ask on (or the question was "
			    "cancelled)");
			return SSHCONN_ERR_HOSTKEY;
		}
		if (strcasecmp(answer, "yes") == 0 || strcmp(answer, fp) == 0) {
			remember_host(x, key, fp);
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
	    "%s (%s %s) was not accepted", x->hostport, key_type_name(key), fp);
	return SSHCONN_ERR_HOSTKEY;
}

static int
verify_hostkey(struct ctx *x, int strict)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;
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
	debugf(x, "Server host key: %s %s", key_type_name(key), fp);
	switch (ssh_session_is_known_server(x->c->session)) {
	case SSH_KNOWN_HOSTS_OK:
		debugf(x, "Host '%s' is known and matches the %s host key.",
		    x->hostport, key_type_name(key));
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
		rc = refuse_changed(x, key, fp);
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		rc = refuse_other(x, key, fp);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		rc = unknown_host(x, strict, key, fp);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		errf(x->err, x->errlen, "host key verification failed: cannot "
		    "check the host key of %s against %s: %s", x->hostport,
		    x->known_hosts != NULL ? x->known_hosts : "known_hosts",
		    sess_error(x));
		rc = SSHCONN_ERR_HOSTKEY;
		break;
	}
out:
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

/* ---- authentication ------------------------------------------------------- */

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
	if (ask(pp->x, q, 0, buf, len) != 0 || buf[0] == '\0') {
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
			    ask(x, p, echo != 0, answer, sizeof(answer)) != 0) {
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
		if (ask(x, prompt, 0, pw, sizeof(pw)) != 0) {
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
	const char *named[MAX_IDS + 8];
	size_t nn = 0, i, j, n = 0;
	int is_default = 0;

	for (i = 0; i < x->o->nidentities && nn < MAX_IDS; i++)
		named[nn++] = x->o->identities[i];
	for (i = 0; i < x->os.nids && nn < MAX_IDS; i++)
		named[nn++] = x->os.ids[i];
	if (x->have_ch && x->ch.identityfile != NULL && nn < MAX_IDS)
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

static int
authenticate(struct ctx *x)
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
	char *ids[MAX_IDS + 8], offered[128] = "none: no authentication asked";
	int explicit[MAX_IDS + 8], order[M_COUNT], done[M_COUNT];
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

/* ---- opening -------------------------------------------------------------- */

/* The shape libssh 0.10 gives a ProxyJump line when it turns it into a
 * ProxyCommand running ssh(1) (config.c): we do jumps ourselves instead. */
static int
is_libssh_jump(const char *pc)
{
	return strncmp(pc, "ssh ", 4) == 0 && strstr(pc, " -W '[%h]:%p' ") != NULL;
}

static int
strict_from_config(const char *v)
{
	if (v == NULL)
		return -1;
	if (strcmp(v, "yes") == 0)
		return SHK_YES;
	if (strcmp(v, "no") == 0)
		return SHK_NO;
	if (strcmp(v, "accept-new") == 0)
		return SHK_ACCEPT_NEW;
	if (strcmp(v, "ask") == 0)
		return SHK_ASK;
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
static int
apply_overrides(struct ctx *x)
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

static int
load_config(struct ctx *x)
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

/* After a failed handshake over a ProxyCommand: when the command has exited,
 * that is the news (its own messages went to stderr). */
static int
proxy_failed(struct ctx *x, const char *name)
{
	struct sshconn *c = x->c;
	pid_t pid;
	int st, i;

	if (c->nhelpers == 0)
		return 0;
	pid = c->helpers[c->nhelpers - 1];
	for (i = 0; i < 50; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(pid, &st, WNOHANG) == pid) {
			c->nhelpers--;
			if (WIFEXITED(st))
				errf(x->err, x->errlen, "cannot connect to %s port "
				    "%d: the ProxyCommand exited with status %d",
				    name, c->port, WEXITSTATUS(st));
			else
				errf(x->err, x->errlen, "cannot connect to %s port "
				    "%d: the ProxyCommand was killed by signal %d",
				    name, c->port, WIFSIGNALED(st) ?
				    WTERMSIG(st) : 0);
			return 1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int
open_conn(const struct sshconn_opts *o, int depth, struct sshconn **out,
    char *err, size_t errlen)
{
	struct ctx x;
	struct sshconn *c = NULL;
	char *libssh_pc = NULL;
	const char *jump = NULL, *pcmd = NULL;
	unsigned int uport = 0;
	int rc, lv, strict, family;
	size_t i;

	memset(&x, 0, sizeof(x));
	oset_init(&x.os);
	x.o = o;
	x.depth = depth;
	x.err = err;
	x.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (o->host == NULL) {
		errf(err, errlen, "no host given");
		return SSHCONN_ERR_ARG;
	}
	if ((rc = parse_target(o->host, &x.tg, err, errlen)) != 0)
		goto out;
	for (i = 0; i < o->noptions; i++)
		if ((rc = apply_option(&x.os, o->options[i], err, errlen)) != 0)
			goto out;
	x.verbose = o->verbose > x.os.log_level ? o->verbose : x.os.log_level;
	x.batch = o->batch || x.os.batch == 1;
	rc = SSHCONN_ERR_NOMEM;
	if ((x.home = home_dir()) == NULL ||
	    (x.local_user = local_user_name()) == NULL)
		goto out;
	if (o->config_file != NULL && access(o->config_file, R_OK) != 0) {
		errf(err, errlen, "cannot read config file %s: %s",
		    o->config_file, strerror(errno));
		rc = SSHCONN_ERR_ARG;
		goto out;
	}
	if ((rc = load_config(&x)) != 0)
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
	/* The alias must be set first: Host lines are matched against it. */
	if (ssh_options_set(c->session, SSH_OPTIONS_HOST, x.tg.host) < 0 ||
	    ssh_options_set(c->session, SSH_OPTIONS_KEY_EXCHANGE,
	    KEX_PREFERRED) < 0)
		goto out;
	/* NULL reads ~/.ssh/config and /etc/ssh/ssh_config, like ssh(1). */
	if (ssh_options_parse_config(c->session, o->config_file) != 0) {
		errf(err, errlen, "cannot use %s: %s", o->config_file != NULL ?
		    o->config_file : "ssh_config", sess_error(&x));
		rc = SSHCONN_ERR_ARG;
		goto out;
	}
	/* ssh_config's LogLevel maps onto libssh's chatty levels (ERROR becomes
	 * warnings on stderr): our -v decides, not the file. */
	ssh_options_set(c->session, SSH_OPTIONS_LOG_VERBOSITY, &lv);
	x.timeout = x.os.connect_timeout > 0 ? x.os.connect_timeout :
	    x.have_ch && x.ch.connect_timeout > 0 ? x.ch.connect_timeout :
	    DEFAULT_TIMEOUT;
	if (x.timeout > MAX_TIMEOUT)
		x.timeout = MAX_TIMEOUT;	/* milliseconds must fit an int */
	if ((rc = apply_overrides(&x)) != 0)
		goto out;
	rc = SSHCONN_ERR_NOMEM;
	if (get_string(c->session, SSH_OPTIONS_PROXYCOMMAND, &libssh_pc) != 0 ||
	    ssh_options_set(c->session, SSH_OPTIONS_PROXYCOMMAND, "none") < 0 ||
	    get_string(c->session, SSH_OPTIONS_HOST, &c->host) != 0 ||
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
	    strict_from_config(x.ch.strict_host_key_checking) : -1;
	if (strict == -1)
		strict = SHK_ASK;
	family = x.os.family != -1 ? x.os.family : AF_UNSPEC;

	/* How to reach the host. ssh(1) takes the first of ProxyJump and
	 * ProxyCommand that is set; -o comes before ssh_config. libssh keeps
	 * the config's first one as its ProxyCommand, a jump in a recognisable
	 * form; sshconf has the jump as written. */
	if (x.os.proxyjump != NULL)
		jump = strcasecmp(x.os.proxyjump, "none") == 0 ? NULL :
		    x.os.proxyjump;
	else if (x.os.proxycommand != NULL)
		pcmd = strcasecmp(x.os.proxycommand, "none") == 0 ? NULL :
		    x.os.proxycommand;
	else if (libssh_pc != NULL && !is_libssh_jump(libssh_pc))
		pcmd = libssh_pc;
	else if (x.have_ch && x.ch.proxyjump != NULL)
		jump = x.ch.proxyjump;
	else
		pcmd = libssh_pc;	/* a jump only libssh saw (Match) */

	if (jump != NULL)
		rc = open_jump(&x, jump, c->host, c->port, &c->fd);
	else if (pcmd != NULL)
		rc = spawn_proxy(&x, pcmd, c->host, c->port, c->user, &c->fd);
	else
		rc = tcp_connect(&x, c->host, c->port, family, &c->fd);
	if (rc != 0)
		goto out;
	set_nonblock(c->fd, 1);
	if (ssh_options_set(c->session, SSH_OPTIONS_FD, &c->fd) < 0) {
		rc = SSHCONN_ERR_NOMEM;
		goto out;
	}
	if (ssh_connect(c->session) != SSH_OK) {
		char name[600];

		where(&x, c->host, name, sizeof(name));
		if (pcmd != NULL && proxy_failed(&x, name)) {
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
	if ((rc = verify_hostkey(&x, strict)) != 0)
		goto out;
	if ((rc = authenticate(&x)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	conn_free(c, 1);
	free(libssh_pc);
	free(x.known_hosts);
	free(x.global_known_hosts);
	free(x.home);
	free(x.local_user);
	if (x.have_ch)
		sshconf_host_clear(&x.ch);
	sshconf_free(x.cfg);
	oset_clear(&x.os);
	target_clear(&x.tg);
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
	return open_conn(opts, 0, out, err, errlen);
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
	conn_free(c, 1);
}
