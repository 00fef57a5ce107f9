/*
 * agent.c - listing the keys of an ssh-agent, and the one-key agent that lets
 * libssh sign with the key client/auth.c chose. The protocol is OpenSSH's
 * PROTOCOL.agent: a 32-bit big-endian length, then a message whose first byte
 * is its type.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/agent.h"
#include "client/sshconn-int.h"
#include "client/transport.h"

#define AGENT_FAILURE			5
#define AGENTC_REQUEST_IDENTITIES	11
#define AGENT_IDENTITIES_ANSWER		12

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads or writes len bytes; deadline_ms 0: blocking. 0, or -1 (errno set,
 * ETIMEDOUT at the deadline, EPIPE at an early end). */
static int
io_all(int fd, void *buf, size_t len, int writing, long long deadline_ms)
{
	unsigned char *p = buf;
	struct pollfd pfd;
	ssize_t n;
	long long left;

	while (len > 0) {
		if (deadline_ms != 0) {
			if ((left = deadline_ms - now_ms()) <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			pfd.fd = fd;
			pfd.events = writing ? POLLOUT : POLLIN;
			if (poll(&pfd, 1, (int)left) == -1) {
				if (errno == EINTR)
					continue;
				return -1;
			}
			if (pfd.revents == 0)
				continue;
		}
		n = writing ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one framed message (at most AGENT_MAX_MSG) into a new buffer. */
static int
read_msg(int fd, unsigned char **msg, size_t *len, long long deadline_ms)
{
	unsigned char hdr[4];
	uint32_t n;

	if (io_all(fd, hdr, 4, 0, deadline_ms) != 0)
		return -1;
	n = get32(hdr);
	if (n == 0 || n > AGENT_MAX_MSG) {
		errno = EPROTO;
		return -1;
	}
	if ((*msg = malloc(n)) == NULL)
		return -1;
	if (io_all(fd, *msg, n, 0, deadline_ms) != 0) {
		free(*msg);
		*msg = NULL;
		return -1;
	}
	*len = n;
	return 0;
}

static int
write_msg(int fd, const unsigned char *msg, size_t len, long long deadline_ms)
{
	unsigned char hdr[4];

	put32(hdr, (uint32_t)len);
	if (io_all(fd, hdr, 4, 1, deadline_ms) != 0)
		return -1;
	return io_all(fd, (void *)(uintptr_t)msg, len, 1, deadline_ms);
}

static int
connect_agent(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* An SSH string at *p (len bytes left): its bytes and length, p advanced. */
static int
get_string(const unsigned char **p, size_t *left, const unsigned char **s,
    size_t *slen)
{
	uint32_t n;

	if (*left < 4)
		return -1;
	n = get32(*p);
	if (n > *left - 4)
		return -1;
	*s = *p + 4;
	*slen = n;
	*p += 4 + n;
	*left -= 4 + n;
	return 0;
}

static char *
base64(const unsigned char *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;
	uint32_t v;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] <<
		    8 : 0);
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* One key blob as libssh sees it; 0, or -1 when libssh cannot read it. */
static int
add_key(struct agent_keys *ks, const unsigned char *blob, size_t bloblen,
    const unsigned char *comment, size_t clen)
{
	const unsigned char *p = blob, *tname;
	size_t left = bloblen, tlen;
	struct agent_key *k = &ks->k[ks->n];
	char type[64];

	memset(k, 0, sizeof(*k));
	if (get_string(&p, &left, &tname, &tlen) != 0 || tlen >= sizeof(type))
		return -1;
	memcpy(type, tname, tlen);
	type[tlen] = '\0';
	if ((k->b64 = base64(blob, bloblen)) == NULL ||
	    (k->blob = malloc(bloblen)) == NULL ||
	    (k->comment = strndup((const char *)comment, clen)) == NULL ||
	    ssh_pki_import_pubkey_base64(k->b64, ssh_key_type_from_name(type),
	    &k->key) != SSH_OK) {
		free(k->b64);
		free(k->blob);
		free(k->comment);
		memset(k, 0, sizeof(*k));
		return -1;
	}
	memcpy(k->blob, blob, bloblen);
	k->bloblen = bloblen;
	ks->n++;
	return 0;
}

void
agent_keys_free(struct agent_keys *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		ssh_key_free(ks->k[i].key);
		free(ks->k[i].b64);
		free(ks->k[i].blob);
		free(ks->k[i].comment);
	}
	free(ks->k);
	ks->k = NULL;
	ks->n = 0;
}

int
agent_list(const char *path, int timeout_ms, struct agent_keys *out,
    char *err, size_t errlen)
{
	static const unsigned char req[] = { AGENTC_REQUEST_IDENTITIES };
	const unsigned char *p, *blob, *comment;
	unsigned char *msg = NULL;
	size_t len = 0, left, bl, cl;
	uint32_t n, i;
	long long deadline = now_ms() + timeout_ms;
	int fd, rc = -1;

	out->k = NULL;
	out->n = 0;
	if ((fd = connect_agent(path)) == -1) {
		errf(err, errlen, "cannot connect to the agent at %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (write_msg(fd, req, sizeof(req), deadline) != 0 ||
	    read_msg(fd, &msg, &len, deadline) != 0) {
		errf(err, errlen, "the agent at %s does not answer: %s", path,
		    strerror(errno));
		goto out;
	}
	if (msg[0] != AGENT_IDENTITIES_ANSWER || len < 5) {
		errf(err, errlen, "the agent at %s refused to list its keys",
		    path);
		goto out;
	}
	n = get32(msg + 1);
	if (n > AGENT_MAX_KEYS || (n > 0 && (out->k = calloc(n,
	    sizeof(*out->k))) == NULL)) {
		errf(err, errlen, "the agent at %s lists too many keys", path);
		goto out;
	}
	p = msg + 5;
	left = len - 5;
	for (i = 0; i < n; i++) {
		if (get_string(&p, &left, &blob, &bl) != 0 ||
		    get_string(&p, &left, &comment, &cl) != 0) {
			errf(err, errlen, "the agent at %s sent a bad key list",
			    path);
			agent_keys_free(out);
			goto out;
		}
		PROTO_IGNORE(add_key(out, blob, bl, comment, cl));
	}
	rc = 0;
out:
	free(msg);
	close(fd);
	return rc;
}

/*
 * The helper's loop: requests from libssh on fd; the identities request is
 * answered with the one key, anything else goes to the real agent (connected
 * on first use) and its answer comes back. Ends at libssh's end of fd.
 */
static void __attribute__((noreturn))
one_key_agent(int fd, const char *path, const struct agent_key *k)
{
	static const unsigned char failure[] = { AGENT_FAILURE };
	unsigned char *req = NULL, *ans = NULL, *id;
	size_t rlen, alen, clen = strlen(k->comment), idlen;
	int real = -1;

	idlen = 1 + 4 + 4 + k->bloblen + 4 + clen;
	if ((id = malloc(idlen)) == NULL)
		_exit(1);
	id[0] = AGENT_IDENTITIES_ANSWER;
	put32(id + 1, 1);
	put32(id + 5, (uint32_t)k->bloblen);
	memcpy(id + 9, k->blob, k->bloblen);
	put32(id + 9 + k->bloblen, (uint32_t)clen);
	memcpy(id + 13 + k->bloblen, k->comment, clen);
	for (;;) {
		if (read_msg(fd, &req, &rlen, 0) != 0)
			_exit(0);
		if (req[0] == AGENTC_REQUEST_IDENTITIES) {
			if (write_msg(fd, id, idlen, 0) != 0)
				_exit(0);
		} else if ((real == -1 && (real = connect_agent(path)) == -1) ||
		    write_msg(real, req, rlen, 0) != 0 ||
		    read_msg(real, &ans, &alen, 0) != 0) {
			if (real != -1)
				close(real);
			real = -1;
			if (write_msg(fd, failure, sizeof(failure), 0) != 0)
				_exit(0);
		} else {
			if (write_msg(fd, ans, alen, 0) != 0)
				_exit(0);
			free(ans);
			ans = NULL;
		}
		free(req);
		req = NULL;
	}
}

int
agent_spawn_one(const char *path, const struct agent_key *k, int *fd,
    pid_t *pid, char *err, size_t errlen)
{
	int sv[2], keep[2];
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		errf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((p = fork()) == -1) {
		errf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (p == 0) {
		/* Nothing of the caller's stays open here: a descriptor held
		 * would hide an end from whoever waits for it. */
		keep[0] = sv[1];
		keep[1] = STDERR_FILENO;
		transport_close_fds(keep, 2);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_DFL);
		one_key_agent(sv[1], path, k);
	}
	close(sv[1]);
	*fd = sv[0];
	*pid = p;
	return 0;
}

void
agent_end(int fd, pid_t pid)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i;

	if (fd != -1)
		shutdown(fd, SHUT_RDWR);
	if (pid <= 0)
		return;
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}
