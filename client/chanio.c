#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/chanio.h"

void
chanio_exit_note(ssh_session sess, ssh_channel ch, char *out, size_t outlen)
{
	int st, was = ssh_is_blocking(sess);

	ssh_set_blocking(sess, 1);
	st = ssh_channel_get_exit_status(ch);
	ssh_set_blocking(sess, was);
	if (st == 127)
		snprintf(out, outlen, "; it exited with status 127: command not found "
		    "(does the Subsystem line in sshd_config name a program that exists?)");
	else if (st == 126)
		snprintf(out, outlen, "; it exited with status 126: not executable");
	else if (st >= 0)
		snprintf(out, outlen, "; it exited with status %d", st);
	else
		out[0] = '\0';
}

static int
cio_read(void *ctx, void *buf, size_t n, int timeout_ms)
{
	ssh_channel ch = ((struct chanio *)ctx)->ch;
	int avail = ssh_channel_poll_timeout(ch, timeout_ms, 0);

	if (avail == 0)
		return ssh_channel_is_eof(ch) ? 0 : BOOT_IO_TIMEOUT;
	if (avail == SSH_EOF)
		return 0;
	if (avail < 0)
		return -1;
	return ssh_channel_read(ch, buf, (uint32_t)((size_t)avail < n ? (size_t)avail : n),
	    0);
}

static int
cio_write(void *ctx, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	int w;

	while (n > 0) {
		w = ssh_channel_write(((struct chanio *)ctx)->ch, p,
		    (uint32_t)(n > 32768 ? 32768 : n));
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* What came on stderr so far, as one line. */
static void
cio_errtail(void *ctx, char *out, size_t outlen)
{
	int k = 0, n;

	while ((size_t)k + 1 < outlen && (n = ssh_channel_read_nonblocking(
	    ((struct chanio *)ctx)->ch, out + k, (uint32_t)(outlen - 1 - (size_t)k),
	    1)) > 0)
		k += n;
	out[k > 0 ? k : 0] = '\0';
	while (k > 0 && (out[k - 1] == '\n' || out[k - 1] == '\r'))
		out[--k] = '\0';
	for (n = 0; n < k; n++)
		if (out[n] == '\n' || out[n] == '\r')
			out[n] = ' ';
}

static void
cio_exit_note(void *ctx, char *out, size_t outlen)
{
	struct chanio *c = ctx;

	chanio_exit_note(c->sess, c->ch, out, outlen);
}

void
chanio_boot_io(struct chanio *c, struct boot_io *io)
{
	io->ctx = c;
	io->read = cio_read;
	io->write = cio_write;
	io->errtail = cio_errtail;
	io->exit_note = cio_exit_note;
}

int
chanio_open_session(struct sshconn *c, const struct chanio_req *r,
    int *bootstrap, ssh_channel *ch, uint8_t **pre, size_t *prelen, int *plain,
    char *err, size_t errlen)
{
	ssh_session sess = sshconn_session(c);
	struct boot_opts bo;
	struct boot_io io;
	struct chanio cio;
	ssh_channel exec = NULL;
	char why[600], berr[900];
	int rc, was = ssh_is_blocking(sess);

	*plain = 0;
	ssh_set_blocking(sess, 1);
	rc = *bootstrap ? SSHCONN_ERR_REFUSED :
	    sshconn_open_channel(c, r->subsystem, ch, why, sizeof(why));
	if (rc == 0) {
		*pre = NULL;
		*prelen = 0;
		goto out;
	}
	if (rc != SSHCONN_ERR_REFUSED || r->no_bootstrap) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	/* Not registered: bootstrap through the login shell, from now on for
	 * every channel of this connection. */
	if (!*bootstrap && r->verbose)
		fprintf(stderr, "codex-connect: %s; trying the exec fallback\n", why);
	*bootstrap = 1;
	if ((rc = sshconn_open_exec(c, BOOT_COMMAND, &exec, err, errlen)) != 0)
		goto out;
	memset(&bo, 0, sizeof(bo));
	bo.version = r->version;
	bo.build_dirs = r->build_dirs;
	bo.host = r->host;
	bo.verbose = r->verbose;
	bo.progress = r->progress;
	bo.no_appserver = r->no_bootstrap;
	cio.sess = sess;
	cio.ch = exec;
	chanio_boot_io(&cio, &io);
	*pre = NULL;
	*prelen = 0;
	if ((rc = boot_run(&io, &bo, pre, prelen, plain, berr,
	    sizeof(berr))) != 0) {
		snprintf(err, errlen, "%s", berr);
		ssh_channel_free(exec);
		rc = rc == BOOT_ERR_IO && !ssh_is_connected(sess) ?
		    SSHCONN_ERR_PROTOCOL : SSHCONN_ERR_REFUSED;
		goto out;
	}
	*ch = exec;
out:
	ssh_set_blocking(sess, was);
	return rc;
}
