/*
 * install.c - install and uninstall: the bootstrap's upload without running
 * anything, and registration through sudo on a remote terminal.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cxs_config.h"
#include "bootstrap/boot.h"
#include "client/chanio.h"
#include "client/install.h"
#include "client/sshconn.h"

#define CMD_MAX 8192

/* Appends s to cmd as one single-quoted shell word. -1 when it does not fit. */
static int
quote(char *cmd, size_t cap, const char *s)
{
	size_t n = strlen(cmd);

	if (n + 3 >= cap)
		return -1;
	cmd[n++] = ' ';
	cmd[n++] = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			if (n + 5 >= cap)
				return -1;
			memcpy(cmd + n, "'\\''", 4);
			n += 4;
		} else {
			if (n + 2 >= cap)
				return -1;
			cmd[n++] = *s;
		}
	}
	cmd[n++] = '\'';
	cmd[n] = '\0';
	return 0;
}

/*
 * Runs command on the remote with a terminal (sudo may ask for a password),
 * relaying this terminal to it. Returns the command's exit status, or -1.
 */
static int
run_on_pty(struct sshconn *c, const char *command, char *err, size_t errlen)
{
	ssh_session sess = sshconn_session(c);
	ssh_channel ch = ssh_channel_new(sess);
	struct termios saved, raw;
	int tty = isatty(0), restore = 0, st = -1, n, in_open = 1;
	char buf[4096];
	struct pollfd pf;

	if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_pty(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, command) != SSH_OK) {
		snprintf(err, errlen, "cannot run a command with a terminal on %s: %s",
		    sshconn_alias(c), ssh_get_error(sess));
		goto out;
	}
	if (tty && tcgetattr(0, &saved) == 0) {
		raw = saved;
		cfmakeraw(&raw);
		raw.c_oflag |= OPOST;  /* keep \n -> \r\n for what we print */
		restore = tcsetattr(0, TCSANOW, &raw) == 0;
	}
	while (!ssh_channel_is_eof(ch) && !ssh_channel_is_closed(ch)) {
		n = ssh_channel_poll_timeout(ch, 100, 0);
		if (n == SSH_ERROR)
			break;
		if (n > 0) {
			n = ssh_channel_read(ch, buf, sizeof(buf), 0);
			if (n > 0 && write(1, buf, (size_t)n) < 0)
				break;
		}
		if (in_open) {
			pf.fd = 0;
			pf.events = POLLIN;
			if (poll(&pf, 1, 0) > 0) {
				n = (int)read(0, buf, sizeof(buf));
				if (n <= 0)
					in_open = 0;
				else if (ssh_channel_write(ch, buf, (uint32_t)n) < 0)
					break;
			}
		}
	}
	st = ssh_channel_get_exit_status(ch);
out:
	if (restore)
		tcsetattr(0, TCSANOW, &saved);
	if (ch != NULL)
		ssh_channel_free(ch);
	return st;
}

/*
 * Runs `sudo sh -c SCRIPT LIBEXEC-PATH [PATH] REGISTER-ARGS...` on a remote
 * terminal; what says what failed. 0, or -1 (said on stderr).
 */
static int
sudo_run(struct sshconn *c, const struct app_opts *o, const char *script,
    const char *lx, const char *path, const char *what)
{
	char cmd[CMD_MAX], err[600];
	int i, r;

	snprintf(cmd, sizeof(cmd), "sudo sh -c");
	if (quote(cmd, sizeof(cmd), script) != 0 || quote(cmd, sizeof(cmd), lx) != 0 ||
	    (path != NULL && quote(cmd, sizeof(cmd), path) != 0))
		goto toolong;
	for (i = 0; i < o->nreg_args; i++)
		if (quote(cmd, sizeof(cmd), o->reg_args[i]) != 0)
			goto toolong;
	if ((r = run_on_pty(c, cmd, err, sizeof(err))) != 0) {
		fprintf(stderr, "codex-connect: %s\n", r < 0 ? err : what);
		return -1;
	}
	return 0;
toolong:
	fprintf(stderr, "codex-connect: the remote command line is too long\n");
	return -1;
}

int
install_run(const struct app_opts *o, int uninstall)
{
	struct sshconn *c = NULL;
	ssh_channel ch = NULL;
	struct boot_opts bo;
	struct boot_io io;
	struct chanio cio;
	char err[1200], path[4200] = "", lx[4200];
	const char *libexec = o->libexec ? o->libexec : "/usr/local/libexec";
	int r, rc = 1;

	if (sshconn_open(&o->link.ssh, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 255;
	}
	snprintf(lx, sizeof(lx), "%s/codex-subsystem", libexec);
	/* Unregister first: the copy it names is still there. */
	if (uninstall && o->sudo && sudo_run(c, o, "test ! -x \"$0\" || \"$0\" "
	    "unregister \"$@\"; rm -f \"$0\"", lx, NULL,
	    "unregistering through sudo failed (see above)") != 0)
		goto out;
	if ((r = sshconn_open_exec(c, BOOT_COMMAND, &ch, err, sizeof(err))) != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		goto out;
	}
	memset(&bo, 0, sizeof(bo));
	bo.version = PACKAGE_VERSION;
	bo.build_dirs = o->link.build_dirs;
	bo.host = o->link.ssh.host;
	bo.verbose = o->link.ssh.verbose > 0;
	bo.progress = isatty(2);
	bo.mode = uninstall ? "uninstall" : "install";
	bo.result = path;
	bo.resultlen = sizeof(path);
	cio.sess = sshconn_session(c);
	cio.ch = ch;
	chanio_boot_io(&cio, &io);
	{
		uint8_t *rest = NULL;
		size_t restlen = 0;
		int plain = 0;

		r = boot_run(&io, &bo, &rest, &restlen, &plain, err, sizeof(err));
		free(rest);
	}
	ssh_channel_free(ch);
	if (r != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		goto out;
	}
	printf("%s %s on %s\n", uninstall ? "removed" : "installed", path,
	    o->link.ssh.host);
	if (!uninstall && o->sudo) {
		if (sudo_run(c, o, "install -d -m 755 \"${0%/*}\" && install -m 755 "
		    "\"$1\" \"$0\" && shift && exec \"$0\" register \"$@\"", lx, path,
		    "registering through sudo failed (see above)") != 0)
			goto out;
		printf("registered %s on %s: connects need no bootstrap now\n", lx,
		    o->link.ssh.host);
	}
	rc = 0;
out:
	fflush(stdout);
	sshconn_close(c);
	return rc;
}
