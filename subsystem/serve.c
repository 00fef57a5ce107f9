#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxs_config.h"

#include "proto/buf.h"
#include "proto/frame.h"
#include "proto/jrpc.h"

#include <cJSON.h>
#include <sodium.h>

#include "subsystem/backend.h"
#include "subsystem/ctl.h"
#include "subsystem/host.h"
#include "subsystem/log.h"
#include "subsystem/serve.h"

#define HOST_START_SECONDS 10
/* Hosts killed from outside, in a row, before channels run attached. */
#define KILLED_LIMIT 2

/* Reads exactly len bytes (blocking); returns bytes read (short on EOF) or -1. */
static ssize_t
read_full(int fd, uint8_t *p, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/*
 * Starts `codex-subsystem host` fully detached from this process and from sshd,
 * from the very executable this process runs (/proc/self/exe stays this inode
 * even when the path was replaced since) and with the same configuration. The
 * host says on the returned pipe whether it serves ("ready"), another one holds
 * its lock ("busy"), or why it cannot ("error: ..."). Returns the read end, or -1.
 */
static int
spawn_host(const char *conf_path, const char *id)
{
	char abs[4096], *xargv[9];
	const char *av[] = { "codex-subsystem", "host", "--ready-fd", "3",
	    "--expect-id", id, NULL, NULL, NULL };
	pid_t pid, pid2;
	int fd, status, p[2];

	/* The host runs in /: a relative path must not change its meaning. */
	if (conf_path != NULL && conf_path[0] != '/' && realpath(conf_path, abs) != NULL)
		conf_path = abs;
	if (pipe2(p, O_CLOEXEC) != 0) {
		log_error("pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		setsid();
		if ((pid2 = fork()) != 0)
			_exit(pid2 < 0);
		/* sshd must see EOF on the channel when we are done with it: keep
		 * nothing of ours open in the daemon but the ready pipe, as fd 3. */
		if (p[1] != 3) {
			dup2(p[1], 3);
			close(p[1]);
		} else
			fcntl(3, F_SETFD, 0);
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (fd = 4; fd < 1024; fd++)
			close(fd);
		if (chdir("/") != 0) {
			/* harmless */
		}
		signal(SIGPIPE, SIG_DFL);
		if (conf_path != NULL) {
			av[6] = "-f";
			av[7] = conf_path;
		}
		/* fexecve() wants char *const[]; it does not write through them. */
		memcpy(xargv, av, sizeof(av));
		/* The running inode through an fd, not by its path: the same file,
		 * and valgrind can follow this exec (not one of /proc/self/exe). */
		if ((fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) >= 0)
			fexecve(fd, xargv, environ);
		_exit(127);
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return p[0];
}

/* Reads the host's word from its ready pipe, waiting until deadline. */
static void
read_ready(int fd, time_t deadline, char *out, size_t outlen)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;
	int left;

	out[0] = '\0';
	while (got + 1 < outlen) {
		left = (int)(deadline - time(NULL)) * 1000;
		if (left <= 0 || poll(&pf, 1, left) <= 0)
			break;
		n = read(fd, out + got, outlen - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		if (memchr(out, '\n', got) != NULL)
			break;
	}
	out[strcspn(out, "\n")] = '\0';
}

int
serve_connect_host(const struct sconf *c, const char *conf_path, const char *id,
    int spawn, char *err, size_t errlen)
{
	char dir[4096], word[600];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	time_t deadline = time(NULL) + HOST_START_SECONDS;
	int fd, rfd, spawned = 0;

	ctl_rundir(c, dir, sizeof(dir));
	if (ctl_rundir_prepare(dir, err, errlen) != 0)
		return -1;
	for (;;) {
		if ((fd = ctl_connect(dir, id)) >= 0)
			return fd;
		if (errno == EPERM) {
			snprintf(err, errlen, "%s/host-%s.sock belongs to another user",
			    dir, id);
			return -1;
		}
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN) {
			snprintf(err, errlen, "%s/host-%s.sock: %s", dir, id,
			    strerror(errno));
			return -1;
		}
		if (!spawn) {
			snprintf(err, errlen, "no session host is running (%s/host-%s.sock)",
			    dir, id);
			return -1;
		}
		if (!spawned) {
			log_verbose("starting the session host %s", id);
			spawned = 1;
			if ((rfd = spawn_host(conf_path, id)) < 0) {
				snprintf(err, errlen, "cannot start the session host: %s",
				    strerror(errno));
				return -1;
			}
			read_ready(rfd, deadline, word, sizeof(word));
			close(rfd);
			if (strncmp(word, "error: ", 7) == 0) {
				snprintf(err, errlen, "the session host cannot start: %s",
				    word + 7);
				return -1;
			}
			if (word[0] == '\0') {
				snprintf(err, errlen, "the session host did not start (it "
				    "exited, or said nothing within %d s; see the log)",
				    HOST_START_SECONDS);
				return -1;
			}
			/* "ready", or "busy": a twin started at the same moment
			 * holds the lock and is about to listen. */
			continue;
		}
		if (time(NULL) > deadline) {
			snprintf(err, errlen, "the session host did not start within %d s "
			    "(see the log)", HOST_START_SECONDS);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

/* Tells a framed client why its channel cannot be served (magic + ERROR). */
static void
refuse_framed(unsigned code, const char *why)
{
	struct buf *b = buf_new(4096);
	ssize_t n;

	if (b == NULL)
		return;
	if (frame_put_magic(b) == 0 && frame_put_error(b, code, why) == 0) {
		while (buf_len(b) > 0 &&
		    (n = write(1, buf_ptr(b), buf_len(b))) > 0)
			buf_consume(b, (size_t)n);
	}
	buf_free(b);
}

/*
 * Reads the first frame (HELLO) of a framed channel into pre, so the channel can
 * be routed: a resume belongs to whichever host holds its session. A frame too big
 * to be a HELLO is left to the host to refuse. Sets *has_token and token. Returns
 * the bytes in pre, or -1 when the client went away.
 */
static ssize_t
read_hello(uint8_t *pre, size_t cap, size_t max_message, int *has_token,
    uint8_t *token)
{
	struct frame_dec *dec;
	struct frame f;
	uint32_t len;
	ssize_t n;

	*has_token = 0;
	if (read_full(0, pre, 4) != 4)
		return -1;
	len = (uint32_t)pre[0] << 24 | (uint32_t)pre[1] << 16 | (uint32_t)pre[2] << 8 |
	    pre[3];
	if (len > cap - 4)
		return 4;
	if ((n = read_full(0, pre + 4, len)) != (ssize_t)len)
		return -1;
	if ((dec = frame_dec_new(max_message)) == NULL)
		return 4 + (ssize_t)len;
	if (frame_dec_feed(dec, pre, 4 + len) == 0 && frame_dec_next(dec, &f) == 1 &&
	    f.type == FRAME_HELLO && f.u.info.has_token) {
		*has_token = 1;
		memcpy(token, f.u.info.token, FRAME_TOKEN_LEN);
	}
	frame_dec_free(dec);
	return 4 + (ssize_t)len;
}

/*
 * Whether sshd has closed the channel (our stdin) meanwhile: its client is gone,
 * and starting a host or a session for it would only leave them behind.
 */
static int
channel_gone(void)
{
	struct pollfd pf = { .fd = 0, .events = POLLIN };

	return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR | POLLNVAL)) &&
	    !(pf.revents & POLLIN);
}

/* The identity of the host that holds the session of token; 0 or -1 (none). */
static int
find_session_host(const struct sconf *c, const uint8_t *token,
    char id[CTL_ID_LEN + 1])
{
	char dir[4096], ids[CTL_MAX_HOSTS][CTL_ID_LEN + 1];
	uint8_t ans[16];
	uint32_t rtype;
	size_t rlen;
	int n, i, fd, r;

	ctl_rundir(c, dir, sizeof(dir));
	n = ctl_hosts(dir, ids, CTL_MAX_HOSTS);
	for (i = 0; i < n; i++) {
		if ((fd = ctl_connect(dir, ids[i])) < 0)
			continue;
		r = ctl_call(fd, CTL_FIND, token, FRAME_TOKEN_LEN, &rtype, ans,
		    sizeof(ans), &rlen, 2000);
		close(fd);
		if (r == 1 && rtype == CTL_FIND && rlen >= 1 && ans[0] == 1) {
			memcpy(id, ids[i], CTL_ID_LEN + 1);
			return 0;
		}
	}
	return -1;
}

/*
 * Writes who asks for the session (ctl.h, CTL_ATTACH_USER) at p: our umask, then
 * the environment sshd gave this channel, as much of it as fits CTL_MAX_ENV (a
 * variable that does not fit is left out and logged). Returns the bytes written.
 */
static size_t
put_user(uint8_t *p)
{
	const struct backend_user *u = backend_own_user();
	uint32_t um = (uint32_t)u->umask, el = 0;
	size_t l, dropped = 0;
	char **e;

	for (e = u->env; e != NULL && *e != NULL; e++) {
		l = strlen(*e) + 1;
		if (l > CTL_MAX_ENV - el) {
			dropped++;
			continue;
		}
		memcpy(p + 8 + el, *e, l);
		el += (uint32_t)l;
	}
	if (dropped > 0)
		log_error("%zu environment variables left out of the session's "
		    "environment: over %d bytes in all", dropped, CTL_MAX_ENV);
	memcpy(p, &um, 4);
	memcpy(p + 4, &el, 4);
	return 8 + el;
}

/* Framed channel with a daemon: pass stdin/stdout to the right host and wait. */
static int
attach_to_host(const struct sconf *c, const char *conf_path, const char *backend)
{
	char err[600], reason[600], id[CTL_ID_LEN + 1], own[CTL_ID_LEN + 1];
	uint8_t pkt[1024], token[FRAME_TOKEN_LEN];
	uint8_t *att = NULL, *pre;
	int fd = -1, fds[2] = { 0, 1 }, rfds[2], nfds, devnull, code = 1, has_token;
	int tries, r = -1, i;
	uint32_t type, ctype;
	size_t len, namelen = strlen(backend), userlen, alen;
	ssize_t prelen;

	/* ATTACH_USER: u8 name length, name, who asks (ctl.h), then the HELLO
	 * already read; a plain ATTACH is the same without who asks. */
	if (namelen > 255 || (att = malloc(1 + namelen + 8 + CTL_MAX_ENV +
	    CTL_MAX_PRE)) == NULL) {
		refuse_framed(FRAME_CODE_INTERNAL, "codex-subsystem: out of memory");
		return 1;
	}
	att[0] = (uint8_t)namelen;
	memcpy(att + 1, backend, namelen);
	userlen = put_user(att + 1 + namelen);
	pre = att + 1 + namelen + userlen;
	prelen = read_hello(pre, CTL_MAX_PRE, c->max_message, &has_token, token);
	if (prelen < 0) {
		free(att);
		return 0;  /* the client left before saying anything */
	}
	ctl_identity(c, own);
	memcpy(id, own, sizeof(id));
	/* A resume goes to the host that holds the session (it may be a host of
	 * an older binary or configuration); a new session to our own. */
	if (has_token && find_session_host(c, token, id) == 0 && strcmp(id, own) != 0)
		log_info("resume: the session is held by session host %s", id);
	sodium_memzero(token, sizeof(token));
	if (strcmp(id, own) == 0) {
		ctype = CTL_ATTACH_USER;
		alen = 1 + namelen + userlen + (size_t)prelen;
	} else {
		/* A host of another identity may predate ATTACH_USER; a resume
		 * needs no environment anyway. */
		ctype = CTL_ATTACH;
		memmove(att + 1 + namelen, pre, (size_t)prelen);
		alen = 1 + namelen + (size_t)prelen;
	}
	/* A host may exit (idle) between our connect and its accept: the channel
	 * was not taken then, so try again, up to three times. */
	for (tries = 0; tries < 3; tries++) {
		if (channel_gone()) {
			log_info("the channel closed before a session host took it");
			free(att);
			return 0;
		}
		if ((fd = serve_connect_host(c, conf_path, id, strcmp(id, own) == 0, err,
		    sizeof(err))) < 0)
			break;
		if (ctl_send(fd, ctype, att, alen, fds, 2) != 0) {
			snprintf(err, sizeof(err), "cannot hand the channel to the session "
			    "host: %s", strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		do {
			r = ctl_recv(fd, &type, pkt, sizeof(pkt) - 1, &len, rfds, &nfds);
		} while (r < 0 && errno == EINTR);
		for (i = 0; i < nfds; i++)
			close(rfds[i]);
		if (r == 1 && (type == CTL_ACCEPTED || type == CTL_DONE))
			break;
		snprintf(err, sizeof(err), "the session host closed the connection "
		    "without taking the channel");
		close(fd);
		fd = -1;
		r = -1;
		if (strcmp(id, own) != 0)
			memcpy(id, own, sizeof(id));  /* that host is gone: so is the session */
	}
	free(att);
	if (fd < 0) {
		log_error("%s", err);
		dprintf(2, "codex-subsystem: %s\n", err);
		refuse_framed(FRAME_CODE_INTERNAL, err);
		return 1;
	}
	/* Only the host may hold the channel now, or sshd would never see EOF. */
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	while (r == 1 && type == CTL_ACCEPTED) {
		do {
			r = ctl_recv(fd, &type, pkt, sizeof(pkt) - 1, &len, rfds, &nfds);
		} while (r < 0 && errno == EINTR);
		for (i = 0; i < nfds; i++)
			close(rfds[i]);
	}
	if (r == 1 && type == CTL_DONE && len >= 4) {
		uint32_t ec;

		memcpy(&ec, pkt, 4);
		code = (int)ec;
		len -= 4;
		memcpy(reason, pkt + 4, len < sizeof(reason) - 1 ? len : sizeof(reason) - 1);
		reason[len < sizeof(reason) - 1 ? len : sizeof(reason) - 1] = '\0';
		if (code != 0 && reason[0] != '\0')
			dprintf(2, "%s\n", reason);
	} else {
		log_error("the session host went away");
		code = 1;
	}
	close(fd);
	return code;
}

int
serve_refuse(const char *why)
{
	uint8_t magic[FRAME_MAGIC_LEN];
	char msg[700];
	char *t;
	ssize_t n;

	/* sshd drops a subsystem's stderr: the channel itself must say why. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(msg, sizeof(msg), "codex-subsystem: %s", why);
	n = read_full(0, magic, 1);
	if (n <= 0)
		return 1;
	if (magic[0] == 0) {
		n = read_full(0, magic + 1, FRAME_MAGIC_LEN - 1);
		refuse_framed(FRAME_CODE_INTERNAL, msg);
		return 1;
	}
	if ((t = jrpc_error_text(NULL, JRPC_INTERNAL_ERROR, msg, NULL, NULL)) != NULL) {
		dprintf(1, "%s\n", t);
		free(t);
	}
	return 1;
}

int
serve_channel(const struct sconf *c, const char *conf_path, const char *backend)
{
	uint8_t magic[FRAME_MAGIC_LEN];
	char reason[600] = "", sd[4200], why[600] = "";
	struct host *h;
	ssize_t n;
	int framed, rc, killed;

	signal(SIGPIPE, SIG_IGN);
	/* The mode is decided by the first byte: NUL can never start JSON. */
	n = read_full(0, magic, 1);
	if (n <= 0)
		return 0;
	framed = magic[0] == 0;
	if (framed) {
		n = read_full(0, magic + 1, FRAME_MAGIC_LEN - 1);
		if (n != FRAME_MAGIC_LEN - 1 ||
		    memcmp(magic, FRAME_MAGIC, FRAME_MAGIC_LEN) != 0) {
			log_error("channel began with NUL but not with the framed-mode "
			    "magic; closing");
			dprintf(2, "codex-subsystem: bad framed-mode preamble\n");
			return 1;
		}
		if (c->daemon) {
			ctl_statedir(c, sd, sizeof(sd));
			if ((killed = ctl_killed_hosts(sd)) < KILLED_LIMIT)
				return attach_to_host(c, conf_path, backend);
			snprintf(why, sizeof(why), "session hosts here are killed when "
			    "a connection ends (%d so far; systemd-logind's "
			    "KillUserProcesses does that, `loginctl enable-linger` stops "
			    "it): sessions run attached and end with a dropped link",
			    killed);
			log_info("%s (remove %s/killed to try the session host again)",
			    why, sd);
		}
	}
	log_verbose("serving a %s channel in this process", framed ? "framed" : "plain");
	if ((h = host_new(c, 0, -1)) == NULL ||
	    host_add_channel(h, 0, 1, framed, backend, -1, framed ? NULL : magic,
	    framed ? 0 : 1) != 0) {
		dprintf(2, "codex-subsystem: out of memory\n");
		host_free(h);
		return 1;
	}
	if (why[0] != '\0')
		host_set_attached(h, why);
	rc = host_run(h, reason, sizeof(reason));
	host_free(h);
	if (reason[0] != '\0' && rc != 0)
		dprintf(2, "%s\n", reason);
	return rc;
}

char *
serve_status_json(const struct sconf *c, cJSON *extra, const char *skip_id)
{
	char dir[4096], ids[CTL_MAX_HOSTS][CTL_ID_LEN + 1], own[CTL_ID_LEN + 1];
	cJSON *root = cJSON_CreateObject(), *hosts, *h;
	uint32_t rtype;
	size_t rlen;
	char *buf, *txt = NULL;
	int n, i, fd;

	buf = malloc(CTL_MAX_PACKET + 1);
	ctl_identity(c, own);
	cJSON_AddStringToObject(root, "version", PACKAGE_VERSION);
	cJSON_AddStringToObject(root, "identity", own);
	hosts = cJSON_AddArrayToObject(root, "hosts");
	if (root == NULL || buf == NULL || hosts == NULL) {
		cJSON_Delete(extra);
		goto out;
	}
	if (extra != NULL)
		cJSON_AddItemToArray(hosts, extra);
	ctl_rundir(c, dir, sizeof(dir));
	n = ctl_hosts(dir, ids, CTL_MAX_HOSTS);
	if (extra != NULL)
		cJSON_AddBoolToObject(extra, "current", skip_id != NULL &&
		    strcmp(skip_id, own) == 0);
	for (i = 0; i < n; i++) {
		if (skip_id != NULL && strcmp(ids[i], skip_id) == 0)
			continue;
		if ((fd = ctl_connect(dir, ids[i])) < 0)
			continue;
		if (ctl_call(fd, CTL_STATUS, NULL, 0, &rtype, buf, CTL_MAX_PACKET, &rlen,
		    2000) == 1 && rtype == CTL_STATUS &&
		    (h = cJSON_ParseWithLength(buf, rlen)) != NULL) {
			cJSON_AddBoolToObject(h, "current", strcmp(ids[i], own) == 0);
			cJSON_AddItemToArray(hosts, h);
		}
		close(fd);
	}
	txt = cJSON_PrintUnformatted(root);
out:
	free(buf);
	cJSON_Delete(root);
	return txt;
}

int
serve_stop_hosts(const struct sconf *c, char *err, size_t errlen)
{
	char dir[4096], ids[CTL_MAX_HOSTS][CTL_ID_LEN + 1], b[64];
	int fd[CTL_MAX_HOSTS], n, i, left, rc = 0;
	pid_t pid[CTL_MAX_HOSTS] = { 0 };
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	time_t deadline = time(NULL) + 20;
	struct pollfd pf;
	ssize_t r;

	err[0] = '\0';
	ctl_rundir(c, dir, sizeof(dir));
	n = ctl_hosts(dir, ids, CTL_MAX_HOSTS);
	for (i = 0; i < n; i++)
		if ((fd[i] = ctl_connect(dir, ids[i])) >= 0 &&
		    ((pid[i] = ctl_peer_pid(fd[i])), 1) &&
		    ctl_send(fd[i], CTL_STOP, NULL, 0, NULL, 0) != 0) {
			close(fd[i]);
			fd[i] = -1;
		}
	/* Each host closes its end when it has exited (its sessions ended). */
	for (i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		pf.fd = fd[i];
		pf.events = POLLIN;
		for (;;) {
			left = (int)(deadline - time(NULL)) * 1000;
			if (left <= 0 || poll(&pf, 1, left) <= 0) {
				snprintf(err, errlen, "session host %s did not exit within "
				    "20 s", ids[i]);
				rc = -1;
				break;
			}
			r = recv(fd[i], b, sizeof(b), 0);
			if (r <= 0 && !(r < 0 && errno == EINTR))
				break;
		}
		close(fd[i]);
		/* It closes its end a moment before its process is gone: wait for
		 * that too, so nothing of it is left when stop returns. */
		while (pid[i] > 0 && ctl_host_alive(pid[i]) && time(NULL) <= deadline)
			nanosleep(&tick, NULL);
	}
	return rc;
}
