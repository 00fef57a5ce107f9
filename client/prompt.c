/*
 * prompt.c - asking the user: the terminal and askpass prompts ssh(1) users
 * know, the default notice callback, and the one door every question of a
 * connection in progress goes through.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include "client/prompt.h"
#include "client/sshconn.h"
#include "client/sshconn-int.h"

#define ASKPASS_DEFAULT		"/usr/bin/ssh-askpass"

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

/* Asks through the caller's prompt; -1 in batch mode without asking. */
int
prompt_ask(struct ctx *x, const char *prompt, int echo, char *buf, size_t len)
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
