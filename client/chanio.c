#include <stdint.h>
#include <stdio.h>

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
