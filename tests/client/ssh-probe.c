/*
 * ssh-probe.c - a small command-line front end to client/sshconn.c for the
 * end-to-end tests: connect, open a subsystem (or exec) channel, copy stdin to
 * the channel and the channel to stdout until both ends are done.
 *
 *   ssh-probe [-vB] [-F config] [-l user] [-p port] [-i identity]...
 *             [-o Key=Value]... [-n channels] [-e] HOST SUBSYSTEM|COMMAND
 *
 * -n opens that many channels on the one connection (all but the first stay
 * idle); -e sends an exec request instead of a subsystem request. Errors go to
 * stderr as "ssh-probe: MESSAGE". Exit status: 0 done, 1 failed, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "client/sshconn.h"

#define MAX_LIST	32
#define MAX_CHANNELS	16
#define BUFSZ		(64 * 1024)

static void
usage(void)
{
	fprintf(stderr, "usage: ssh-probe [-vB] [-F config] [-l user] [-p port] "
	    "[-i identity]... [-o Key=Value]... [-n channels] [-e] HOST "
	    "SUBSYSTEM|COMMAND\n");
	exit(2);
}

static int
write_out(const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copies both ways until the channel is at EOF and everything read from it is
 * written out. stdin is read only while the channel window can take it. */
static int
pump(ssh_session s, ssh_channel ch)
{
	static unsigned char up[BUFSZ], down[BUFSZ];
	size_t uplen = 0;
	int in_eof = 0, eof_sent = 0;

	ssh_set_blocking(s, 0);
	for (;;) {
		struct pollfd pfd[2];
		int n, timeout = 1000;
		uint32_t win;

		n = ssh_channel_read_nonblocking(ch, down, sizeof(down), 0);
		if (n == SSH_EOF)
			break;
		if (n < 0) {
			fprintf(stderr, "ssh-probe: read: %s\n", ssh_get_error(s));
			return -1;
		}
		if (n > 0 && write_out(down, (size_t)n) == -1)
			return -1;
		if (ssh_channel_is_eof(ch) && ssh_channel_poll(ch, 0) <= 0)
			break;
		if (uplen > 0 && (win = ssh_channel_window_size(ch)) > 0) {
			n = ssh_channel_write(ch, up, (uint32_t)(uplen < win ?
			    uplen : win));
			if (n < 0) {
				fprintf(stderr, "ssh-probe: write: %s\n",
				    ssh_get_error(s));
				return -1;
			}
			memmove(up, up + n, uplen - (size_t)n);
			uplen -= (size_t)n;
		}
		if (in_eof && uplen == 0 && !eof_sent) {
			ssh_channel_send_eof(ch);
			eof_sent = 1;
		}
		if (!ssh_is_connected(s) || ssh_channel_is_closed(ch))
			break;
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = !in_eof && uplen < sizeof(up) ? POLLIN : 0;
		pfd[1].fd = ssh_get_fd(s);
		pfd[1].events = POLLIN;
		if (ssh_blocking_flush(s, 0) == SSH_AGAIN)
			pfd[1].events |= POLLOUT;
		if (ssh_channel_poll(ch, 0) != 0)
			timeout = 0;
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR)
			return -1;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(STDIN_FILENO, up + uplen,
			    sizeof(up) - uplen);

			if (r > 0)
				uplen += (size_t)r;
			else if (r == 0 || errno != EINTR)
				in_eof = 1;
		}
	}
	ssh_set_blocking(s, 1);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *ids[MAX_LIST], *options[MAX_LIST];
	struct sshconn_opts o;
	struct sshconn *c = NULL;
	ssh_channel ch[MAX_CHANNELS];
	char err[2048];
	int opt, nch = 1, exec = 0, i, rc, status = 1, opened = 0;

	memset(&o, 0, sizeof(o));
	o.identities = ids;
	o.options = options;
	while ((opt = getopt(argc, argv, "BeF:i:l:n:o:p:v")) != -1) {
		switch (opt) {
		case 'B':
			o.batch = 1;
			break;
		case 'e':
			exec = 1;
			break;
		case 'F':
			o.config_file = optarg;
			break;
		case 'i':
			if (o.nidentities == MAX_LIST)
				usage();
			ids[o.nidentities++] = optarg;
			break;
		case 'l':
			o.user = optarg;
			break;
		case 'n':
			nch = atoi(optarg);
			if (nch < 1 || nch > MAX_CHANNELS)
				usage();
			break;
		case 'o':
			if (o.noptions == MAX_LIST)
				usage();
			if (sshconn_check_any_option(optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "ssh-probe: %s\n", err);
				return 2;
			}
			options[o.noptions++] = optarg;
			break;
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'v':
			o.verbose++;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	o.host = argv[optind];

	if ((rc = sshconn_open(&o, &c, err, sizeof(err))) != 0) {
		fprintf(stderr, "ssh-probe: %s\n", err);
		return 1;
	}
	for (i = 0; i < nch; i++) {
		rc = exec ? sshconn_open_exec(c, argv[optind + 1], &ch[i], err,
		    sizeof(err)) : sshconn_open_channel(c, argv[optind + 1],
		    &ch[i], err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "ssh-probe: channel %d: %s (%s)\n", i + 1,
			    err, sshconn_strerror(rc));
			goto out;
		}
		opened++;
	}
	if (pump(sshconn_session(c), ch[0]) == 0)
		status = 0;
out:
	for (i = 0; i < opened; i++) {
		ssh_channel_close(ch[i]);
		ssh_channel_free(ch[i]);
	}
	sshconn_close(c);
	return status;
}
