#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/buf.h"
#include "proto/frame.h"
#include "proto/jrpc.h"
#include "subsystem/backend.h"
#include "subsystem/ctl.h"
#include "subsystem/host.h"
#include "subsystem/log.h"
#include "subsystem/serve.h"

#define HOST_START_SECONDS 10

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

/* Starts `codex-subsystem host` fully detached from this process and from sshd. */
static void
spawn_host(const char *conf_path)
{
	pid_t pid, pid2;
	int fd, status;

	if ((pid = fork()) < 0) {
		log_error("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		setsid();
		if ((pid2 = fork()) != 0)
			_exit(pid2 < 0);
		/* sshd must see EOF on the channel when we are done with it: keep
		 * nothing of ours open in the daemon. */
		fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (chdir("/") != 0) {
			/* harmless */
		}
		signal(SIGPIPE, SIG_DFL);
		if (conf_path != NULL)
			execl(backend_self_exe(), "codex-subsystem", "host", "-f", conf_path,
			    (char *)NULL);
		else
			execl(backend_self_exe(), "codex-subsystem", "host", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

int
serve_connect_host(const struct sconf *c, const char *conf_path, int spawn,
    char *err, size_t errlen)
{
	char dir[4096];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	time_t deadline = time(NULL) + HOST_START_SECONDS;
	int fd, spawned = 0;

	ctl_rundir(c, dir, sizeof(dir));
	if (ctl_rundir_prepare(dir, err, errlen) != 0)
		return -1;
	for (;;) {
		if ((fd = ctl_connect(dir)) >= 0)
			return fd;
		if (errno == EPERM) {
			snprintf(err, errlen, "%s/host.sock belongs to another user", dir);
			return -1;
		}
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN) {
			snprintf(err, errlen, "%s/host.sock: %s", dir, strerror(errno));
			return -1;
		}
		if (!spawn) {
			snprintf(err, errlen, "no session host is running (%s/host.sock)", dir);
			return -1;
		}
		if (!spawned) {
			log_verbose("starting the session host");
			spawn_host(conf_path);
			spawned = 1;
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

/* Framed channel with a daemon: pass stdin/stdout to the host and wait. */
static int
attach_to_host(const struct sconf *c, const char *conf_path, const char *backend)
{
	char err[600], reason[600];
	uint8_t pkt[1024];
	int fd, fds[2] = { 0, 1 }, rfds[2], nfds, devnull, code = 1;
	uint32_t type;
	size_t len;
	int r;

	if ((fd = serve_connect_host(c, conf_path, 1, err, sizeof(err))) < 0) {
		log_error("%s", err);
		dprintf(2, "codex-subsystem: %s\n", err);
		refuse_framed(FRAME_CODE_INTERNAL, err);
		return 1;
	}
	if (ctl_send(fd, CTL_ATTACH, backend, strlen(backend), fds, 2) != 0) {
		log_error("cannot hand the channel to the session host: %s",
		    strerror(errno));
		dprintf(2, "codex-subsystem: cannot reach the session host\n");
		close(fd);
		return 1;
	}
	/* Only the host may hold the channel now, or sshd would never see EOF. */
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		close(devnull);
	}
	for (;;) {
		r = ctl_recv(fd, &type, pkt, sizeof(pkt) - 1, &len, rfds, &nfds);
		if (r < 0 && errno == EINTR)
			continue;
		break;
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
	char reason[600] = "";
	struct host *h;
	ssize_t n;
	int framed, rc;

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
		if (c->daemon)
			return attach_to_host(c, conf_path, backend);
	}
	log_verbose("serving a %s channel in this process", framed ? "framed" : "plain");
	if ((h = host_new(c, 0, -1)) == NULL ||
	    host_add_channel(h, 0, 1, framed, backend, -1, framed ? NULL : magic,
	    framed ? 0 : 1) != 0) {
		dprintf(2, "codex-subsystem: out of memory\n");
		host_free(h);
		return 1;
	}
	rc = host_run(h, reason, sizeof(reason));
	host_free(h);
	if (reason[0] != '\0' && rc != 0)
		dprintf(2, "%s\n", reason);
	return rc;
}
