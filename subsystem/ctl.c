#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "cxs_config.h"
#include "subsystem/ctl.h"
#include "subsystem/log.h"

void
ctl_rundir(const struct sconf *c, char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (c->runtime_dir != NULL) {
		snprintf(out, outlen, "%s", c->runtime_dir);
		return;
	}
	if (xdg != NULL && xdg[0] == '/' && stat(xdg, &st) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
		snprintf(out, outlen, "%s/codex-ssh", xdg);
		return;
	}
	snprintf(out, outlen, "/tmp/codex-ssh-%lu", (unsigned long)getuid());
}

int
ctl_rundir_prepare(const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return log_check_dir(dir, 077, err, errlen);
}

void
ctl_identity(const struct sconf *c, char id[CTL_ID_LEN + 1])
{
	crypto_hash_sha256_state st;
	unsigned char conf[32], md[32];
	char exe[160];
	struct stat sb;
	int fd;

	memset(&sb, 0, sizeof(sb));
	/* The inode this process runs, even when its path was replaced or
	 * removed since. Opened, not stat()ed: under valgrind the path names
	 * valgrind's own binary, and only the open is redirected to ours. */
	if ((fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) >= 0) {
		(void)fstat(fd, &sb);
		close(fd);
	}
	snprintf(exe, sizeof(exe), "%s %lu:%lu %lld %lld.%09ld %lld.%09ld",
	    PACKAGE_VERSION, (unsigned long)sb.st_dev, (unsigned long)sb.st_ino,
	    (long long)sb.st_size, (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec,
	    (long long)sb.st_ctim.tv_sec, sb.st_ctim.tv_nsec);
	sconf_digest(c, conf);
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)exe, strlen(exe) + 1);
	crypto_hash_sha256_update(&st, conf, sizeof(conf));
	crypto_hash_sha256_final(&st, md);
	sodium_bin2hex(id, CTL_ID_LEN + 1, md, CTL_ID_LEN / 2);
}

/* Whether name is "host-" + CTL_ID_LEN hex digits + suffix; copies the id. */
static int
host_name(const char *name, const char *suffix, char id[CTL_ID_LEN + 1])
{
	size_t i;

	if (strlen(name) != 5 + CTL_ID_LEN + strlen(suffix) ||
	    strncmp(name, "host-", 5) != 0 || strcmp(name + 5 + CTL_ID_LEN, suffix) != 0)
		return 0;
	for (i = 0; i < CTL_ID_LEN; i++)
		if (strchr("0123456789abcdef", name[5 + i]) == NULL)
			return 0;
	memcpy(id, name + 5, CTL_ID_LEN);
	id[CTL_ID_LEN] = '\0';
	return 1;
}

int
ctl_hosts(const char *dir, char ids[][CTL_ID_LEN + 1], int max)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return 0;
	while (n < max && (e = readdir(d)) != NULL)
		if (host_name(e->d_name, ".sock", ids[n]))
			n++;
	closedir(d);
	return n;
}

int
ctl_superseded(const char *dir, const char *id)
{
	char ids[CTL_MAX_HOSTS][CTL_ID_LEN + 1], path[4200];
	struct stat me, other;
	int n, i;

	snprintf(path, sizeof(path), "%s/host-%s.sock", dir, id);
	if (lstat(path, &me) != 0)
		return 1;
	n = ctl_hosts(dir, ids, CTL_MAX_HOSTS);
	for (i = 0; i < n; i++) {
		if (strcmp(ids[i], id) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/host-%s.sock", dir, ids[i]);
		if (lstat(path, &other) == 0 &&
		    (other.st_mtim.tv_sec > me.st_mtim.tv_sec ||
		    (other.st_mtim.tv_sec == me.st_mtim.tv_sec &&
		    other.st_mtim.tv_nsec > me.st_mtim.tv_nsec)))
			return 1;
	}
	return 0;
}

static int
sock_path(const char *dir, const char *name, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s", dir,
	    name) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
ctl_serve(const char *dir, const char *id, int *lockfd, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	char lockpath[4200], name[64];
	int lfd, fd = -1;
	mode_t old;

	snprintf(lockpath, sizeof(lockpath), "%s/host-%s.lock", dir, id);
	lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0) {
		snprintf(err, errlen, "%s: %s", lockpath, strerror(errno));
		return -1;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		snprintf(err, errlen, "another session host holds %s", lockpath);
		close(lfd);
		errno = e;
		return -1;
	}
	snprintf(name, sizeof(name), "host-%s.sock", id);
	if (sock_path(dir, name, &sun) != 0) {
		snprintf(err, errlen, "%s/%s: path too long", dir, name);
		goto fail;
	}
	/* We hold the lock, so any socket left here belongs to a dead host. */
	(void)unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", sun.sun_path, strerror(errno));
		goto fail;
	}
	umask(old);
	if (listen(fd, 64) != 0) {
		snprintf(err, errlen, "listen %s: %s", sun.sun_path, strerror(errno));
		goto fail;
	}
	*lockfd = lfd;
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	close(lfd);
	return -1;
}

int
ctl_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	return cred.uid == getuid();
}

int
ctl_connect(const char *dir, const char *id)
{
	struct sockaddr_un sun;
	char name[64];
	int fd;

	snprintf(name, sizeof(name), "host-%s.sock", id);
	if (sock_path(dir, name, &sun) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (!ctl_peer_ok(fd)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

int
ctl_send(int fd, uint32_t type, const void *payload, size_t len,
    const int *fds, int nfds)
{
	struct msghdr mh;
	struct iovec iov[2];
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct cmsghdr *c;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = &type;
	iov[0].iov_len = sizeof(type);
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = len > 0 ? 2 : 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		if ((c = CMSG_FIRSTHDR(&mh)) == NULL) {
			errno = EINVAL;
			return -1;
		}
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

int
ctl_recv(int fd, uint32_t *type, void *buf, size_t cap, size_t *len,
    int *fds, int *nfds)
{
	struct msghdr mh;
	struct iovec iov[2];
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct cmsghdr *c;
	ssize_t n;
	int got = 0, i;

	fds[0] = fds[1] = -1;
	*nfds = 0;
	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = type;
	iov[0].iov_len = sizeof(*type);
	iov[1].iov_base = buf;
	iov[1].iov_len = cap;
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int tmp[4];

		if (k > 4)
			k = 4;
		memcpy(tmp, CMSG_DATA(c), (size_t)k * sizeof(int));
		for (i = 0; i < k; i++) {
			if (got < 2)
				fds[got++] = tmp[i];
			else
				close(tmp[i]);
		}
	}
	*nfds = got;
	/* An empty packet reads as EOF (a SEQPACKET reader cannot tell them apart):
	 * fds sent with it, or with a packet refused, are not kept. */
	if (n == 0 || (size_t)n < sizeof(*type) || (mh.msg_flags & MSG_TRUNC)) {
		for (i = 0; i < got; i++) {
			close(fds[i]);
			fds[i] = -1;
		}
		*nfds = 0;
		if (n == 0)
			return 0;
		errno = EPROTO;
		return -1;
	}
	*len = (size_t)n - sizeof(*type);
	return 1;
}

int
ctl_call(int fd, uint32_t type, const void *payload, size_t len, uint32_t *rtype,
    void *buf, size_t cap, size_t *rlen, int timeout_ms)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };
	int fds[2], nfds, r, i;

	if (ctl_send(fd, type, payload, len, NULL, 0) != 0)
		return -1;
	do {
		r = poll(&pf, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	r = ctl_recv(fd, rtype, buf, cap, rlen, fds, &nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

void
ctl_statedir(const struct sconf *c, char *out, size_t outlen)
{
	const char *home = sconf_home();

	if (c->journal_dir != NULL)
		snprintf(out, outlen, "%s/hosts", c->journal_dir);
	else if (home != NULL)
		snprintf(out, outlen, "%s/.codex/ssh/journal/hosts", home);
	else
		out[0] = '\0';
}

/* Makes dir and its parent (0700) when missing; -1 when either cannot be used
 * safely (log_check_dir: another user's, a link, writable by others). */
static int
mkdir2(const char *dir)
{
	char parent[4096], why[4300], *slash;

	snprintf(parent, sizeof(parent), "%s", dir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		(void)mkdir(parent, 0700);
		if (log_check_dir(parent, 022, why, sizeof(why)) != 0)
			return -1;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	return log_check_dir(dir, 022, why, sizeof(why));
}

/* This boot's id ("" where the kernel has none): a reboot kills hosts too, and
 * that says nothing about the machine. */
static void
boot_id(char *out, size_t outlen)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, out, outlen - 1) : -1;

	if (fd >= 0)
		close(fd);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

void
ctl_alive_mark(const char *statedir, const char *id)
{
	char path[4200], boot[64];
	int fd;

	if (statedir[0] == '\0' || mkdir2(statedir) != 0)
		return;
	snprintf(path, sizeof(path), "%s/host-%s.alive", statedir, id);
	boot_id(boot, sizeof(boot));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600)) >= 0) {
		dprintf(fd, "%ld %s\n", (long)getpid(), boot[0] ? boot : "-");
		close(fd);
	}
}

void
ctl_alive_clear(const char *statedir, const char *id)
{
	char path[4200];

	if (statedir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/host-%s.alive", statedir, id);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s/killed", statedir);
	(void)unlink(path);
}

/*
 * Whether pid is a live session host: it exists, is no zombie (an orphan whose
 * reaper is slow) and, where /proc tells, runs as codex-subsystem (not a pid
 * reused since).
 */
int
ctl_host_alive(pid_t pid)
{
	char path[64], buf[4096];
	const char *p, *q;
	ssize_t n;
	int fd;

	if (kill(pid, 0) != 0 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;  /* no /proc: believe kill() */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 1;
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* Hosts run with argv[0] "codex-subsystem" (their comm may be "exe"); run
	 * by a tool (valgrind), with a later argument naming it. */
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (p = buf; p < buf + n; p += strlen(p) + 1) {
		q = strrchr(p, '/');
		if (strcmp(q != NULL ? q + 1 : p, "codex-subsystem") == 0)
			return 1;
	}
	return 0;
}

int
ctl_killed_hosts(const char *statedir)
{
	char path[4200], id[CTL_ID_LEN + 1], boot[64], markboot[64];
	struct dirent *e;
	int count = 0, found = 0, fd;
	long pid;
	DIR *d;
	FILE *f;

	if (statedir[0] == '\0' || mkdir2(statedir) != 0 ||
	    (d = opendir(statedir)) == NULL)
		return 0;
	boot_id(boot, sizeof(boot));
	if (boot[0] == '\0')
		snprintf(boot, sizeof(boot), "-");
	snprintf(path, sizeof(path), "%s/killed", statedir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &count) != 1)
			count = 0;
		fclose(f);
	}
	while ((e = readdir(d)) != NULL) {
		if (!host_name(e->d_name, ".alive", id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", statedir, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		pid = 0;
		markboot[0] = '\0';
		if (fscanf(f, "%ld %63s", &pid, markboot) < 1)
			pid = 0;
		fclose(f);
		if (pid > 0 && strcmp(markboot, boot) == 0 && ctl_host_alive((pid_t)pid))
			continue;
		(void)unlink(path);
		/* Gone with a reboot: not the machine's habit. */
		if (strcmp(markboot, boot) == 0)
			found++;
	}
	closedir(d);
	if (found > 0) {
		count += found;
		snprintf(path, sizeof(path), "%s/killed", statedir);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
		    O_CLOEXEC, 0600)) >= 0) {
			dprintf(fd, "%d\n", count);
			close(fd);
		}
	}
	return count;
}

pid_t
ctl_peer_pid(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	return cred.pid;
}
