/*
 * transport.c - the byte stream under an SSH session, made here rather than by
 * libssh:
 *  - the TCP connection, so a failure names the host, the port and the
 *    system's reason, and ConnectTimeout bounds each address tried;
 *  - ProxyJump, done natively: the jump host is opened with the same code as
 *    the target (verified, authenticated), a direct-tcpip channel to the target
 *    is relayed by a forked helper process to one end of a socketpair, and the
 *    target's session runs on the other end. libssh 0.10 would instead run the
 *    OpenSSH binary without our -F file or our prompts;
 *  - ProxyCommand, spawned here too, so every helper process is ours to reap.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/sshconf.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"
#include "client/transport.h"

#define RELAY_BUF		(64 * 1024)
#define REAP_WAIT_MS		2000	/* per helper, before SIGTERM */

/* ---- helper processes ---------------------------------------------------- */

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
void
transport_reap_helpers(struct sshconn *c)
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
 * unkillable by transport_reap_helpers()). */
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

/* ---- TCP ----------------------------------------------------------------- */

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

void
transport_where(struct ctx *x, const char *host, char *buf, size_t len)
{
	if (strcmp(x->tg.host, host) != 0)
		snprintf(buf, len, "%s (%s)", x->tg.host, host);
	else
		snprintf(buf, len, "%s", host);
}

int
transport_tcp_connect(struct ctx *x, const char *host, int port, int family,
    int *fdp)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16], name[600], hint[256];
	int fd = -1, e, saved = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	transport_where(x, host, name, sizeof(name));
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

/* ---- ProxyCommand -------------------------------------------------------- */

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
int
transport_spawn_proxy(struct ctx *x, const char *tmpl, const char *host,
    int port, const char *user, int *fdp)
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

/* After a failed handshake over a ProxyCommand: when the command has exited,
 * that is the news (its own messages went to stderr). */
int
transport_proxy_failed(struct ctx *x, const char *name)
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

/* ---- ProxyJump ----------------------------------------------------------- */

/* Used in the relay so it holds nothing of the caller's (a client socket kept
 * open by us would hide that client's EOF from the caller). */
void
transport_close_fds(const int *keep, size_t nkeep)
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
	sshconn_goodbye(s);
	_exit(status);
}

/*
 * Opens the connection to host:port through the jump host(s) in spec and stores
 * our end of the relayed stream in *fdp. "a,b,c" means: reach c through b
 * through a, so c is opened here with ProxyJump=a,b and recursion does the rest.
 */
int
transport_open_jump(struct ctx *x, const char *spec, const char *host, int port,
    int *fdp)
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
	if ((rc = sshconn_open_depth(&jo, x->depth + 1, &jc, jerr,
	    sizeof(jerr))) != 0) {
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
		transport_close_fds(keep, 3);
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
	sshconn_free(jc, rc != 0);
	free(hops);
	free(rest);
	return rc;
}
