#include "cxs_config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#ifndef CXS_STATIC
#include <pwd.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "subsystem/backend.h"
#include "subsystem/log.h"

extern char **environ;

#define ENV_CAPTURE_MAX (1u << 20)
#define ENV_CAPTURE_SECONDS 15

const char *
backend_self_exe(void)
{
	static char path[PATH_MAX];
	ssize_t n;

	if (path[0] == '\0') {
		n = readlink("/proc/self/exe", path, sizeof(path) - 1);
		if (n <= 0)
			snprintf(path, sizeof(path), "codex-subsystem");
		else
			path[n] = '\0';
	}
	return path;
}

int
backend_env_dump(const char *marker)
{
	char **e;

	/* NUL-separated, so values with newlines survive. */
	printf("\n%s\n", marker);
	for (e = environ; *e != NULL; e++) {
		fputs(*e, stdout);
		putchar('\0');
	}
	printf("%s-END\n", marker);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * The login shell as sshd passes it ($SHELL). Without it the normal build asks the
 * passwd database; the static build never calls NSS and uses /bin/sh.
 */
static const char *
env_get(char *const *env, const char *key)
{
	size_t kl = strlen(key);

	for (; env != NULL && *env != NULL; env++)
		if (strncmp(*env, key, kl) == 0 && (*env)[kl] == '=')
			return *env + kl + 1;
	return NULL;
}

static struct backend_user own_user = { NULL, 022 };

void
backend_save_user(void)
{
	own_user.env = environ;
	own_user.umask = umask(077);
}

const struct backend_user *
backend_own_user(void)
{
	if (own_user.env == NULL)
		own_user.env = environ;
	return &own_user;
}

static const char *
user_shell(char *const *env)
{
	const char *sh = env_get(env, "SHELL");

	if (sh != NULL && sh[0] == '/' && access(sh, X_OK) == 0)
		return sh;
#ifndef CXS_STATIC
	{
		struct passwd *pw = getpwuid(getuid());

		if (pw != NULL && pw->pw_shell != NULL && pw->pw_shell[0] == '/' &&
		    access(pw->pw_shell, X_OK) == 0)
			return pw->pw_shell;
	}
#endif
	return "/bin/sh";
}

void
backend_env_free(char **env)
{
	char **e;

	if (env == NULL)
		return;
	for (e = env; *e != NULL; e++)
		free(*e);
	free(env);
}

char **
backend_env_split(const char *p, size_t len)
{
	size_t n = 0, i, k = 0;
	char **env;

	for (i = 0; i < len; i++)
		if (p[i] == '\0')
			n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < len && k < n;) {
		size_t l = strnlen(p + i, len - i);

		if (l > 0 && p[i] != '=' && memchr(p + i, '=', l) != NULL &&
		    (env[k] = strndup(p + i, l)) != NULL)
			k++;
		i += l + 1;
	}
	return env;
}

/*
 * Runs the login shell as a login shell (argv[0] "-name", which bash, zsh, dash,
 * ksh, fish, csh and tcsh all honour, unlike "-l" with "-c") with a command every
 * one of them can parse: our own binary, quoted, printing the environment.
 */
static char **
capture_login_env(const char *shell, const struct backend_user *u, char *err,
    size_t errlen)
{
	char marker[80], cmd[PATH_MAX + 128], argv0[256], *out = NULL;
	const char *exe = backend_self_exe(), *base, *s, *e;
	unsigned char rnd[16];
	size_t len = 0, cap = 0, i;
	int pfd[2], status, devnull;
	pid_t pid;
	char **env = NULL;
	time_t deadline;

	if (strchr(exe, '\'') != NULL || strchr(exe, '\n') != NULL) {
		snprintf(err, errlen, "cannot quote %s for the login shell", exe);
		return NULL;
	}
	randombytes_buf(rnd, sizeof(rnd));
	memcpy(marker, "@@CXS-ENV-", 10);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(marker + 10 + 2 * i, 3, "%02x", rnd[i]);
	snprintf(cmd, sizeof(cmd), "'%s' __env %s", exe, marker);
	base = strrchr(shell, '/');
	base = base != NULL ? base + 1 : shell;
	snprintf(argv0, sizeof(argv0), "-%s", base);
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return NULL;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	if (pid == 0) {
		devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		setsid();
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		umask(u->umask);
		if (chdir(env_get(u->env, "HOME") ? env_get(u->env, "HOME") : "/") != 0) {
			/* stay where we are */
		}
		execle(shell, argv0, "-c", cmd, (char *)NULL, u->env);
		_exit(127);
	}
	close(pfd[1]);
	deadline = time(NULL) + ENV_CAPTURE_SECONDS;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;
		int left = (int)(deadline - time(NULL));

		if (left <= 0) {
			snprintf(err, errlen, "login shell %s did not finish within %d s",
			    shell, ENV_CAPTURE_SECONDS);
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, left * 1000) <= 0)
			continue;
		if (len == cap) {
			char *nb;

			if (cap >= ENV_CAPTURE_MAX) {
				snprintf(err, errlen, "login shell %s printed too much", shell);
				kill(-pid, SIGKILL);
				break;
			}
			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(out, cap)) == NULL)
				break;
			out = nb;
		}
		n = read(pfd[0], out + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out == NULL)
		goto out;
	/* The environment sits between "\nMARKER\n" and "MARKER-END". */
	s = NULL;
	for (i = 0; i + strlen(marker) + 2 <= len; i++) {
		if (out[i] == '\n' && memcmp(out + i + 1, marker, strlen(marker)) == 0 &&
		    out[i + 1 + strlen(marker)] == '\n') {
			s = out + i + 2 + strlen(marker);
			break;
		}
	}
	if (s == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "login shell %s did not run %s (it printed: "
			    "%.200s)", shell, exe, len ? out : "nothing");
		goto out;
	}
	if (s > out + 1)
		log_verbose("login shell printed %zu bytes before the environment",
		    (size_t)(s - out) - strlen(marker) - 2);
	e = memmem(s, len - (size_t)(s - out), marker, strlen(marker));
	if (e == NULL) {
		snprintf(err, errlen, "login shell %s: environment cut short", shell);
		goto out;
	}
	env = backend_env_split(s, (size_t)(e - s));
out:
	free(out);
	return env;
}

/* Returns env with KEY=VALUE set (replacing an existing KEY); env may be reallocated. */
static char **
env_set(char **env, const char *kv)
{
	size_t klen = strcspn(kv, "=") + 1, n;
	char **ne, *dup;

	if ((dup = strdup(kv)) == NULL)
		return env;
	for (n = 0; env[n] != NULL; n++) {
		if (strncmp(env[n], kv, klen) == 0) {
			free(env[n]);
			env[n] = dup;
			return env;
		}
	}
	if ((ne = realloc(env, (n + 2) * sizeof(*env))) == NULL) {
		free(dup);
		return env;
	}
	ne[n] = dup;
	ne[n + 1] = NULL;
	return ne;
}

static char **
copy_env(char **src)
{
	size_t n = 0, i;
	char **env;

	while (src[n] != NULL)
		n++;
	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((env[i] = strdup(src[i])) == NULL) {
			backend_env_free(env);
			return NULL;
		}
	return env;
}

int
backend_start(struct backend *b, const struct sconf *c,
    const struct sconf_backend *be, const struct backend_user *u,
    char *err, size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	char **env = NULL, *cmd = NULL, why[512] = "";
	const char *shell;
	size_t cl;
	int i, r = -1;
	pid_t pid;

	memset(b, 0, sizeof(*b));
	b->in = b->out = b->err = -1;
	if (u == NULL || u->env == NULL)
		u = backend_own_user();
	shell = user_shell(u->env);
	if (c->login_shell) {
		env = capture_login_env(shell, u, why, sizeof(why));
		if (env == NULL)
			log_error("login environment unavailable, using our own: %s", why);
		snprintf(b->how, sizeof(b->how), "`%s` with the login environment of %s",
		    be->command, shell);
	} else
		snprintf(b->how, sizeof(b->how), "`%s`", be->command);
	if (env == NULL && (env = copy_env(u->env)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < c->nsetenv; i++)
		env = env_set(env, c->setenv[i]);
	cl = strlen(be->command) + 6;
	if ((cmd = malloc(cl)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(cmd, cl, "exec %s", be->command);
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(er, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		const char *home = NULL;

		setsid();
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(er[1], 2);
		/* Ignored dispositions survive exec: give the backend the defaults. */
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		umask(u->umask);
		for (i = 0; env[i] != NULL; i++)
			if (strncmp(env[i], "HOME=", 5) == 0)
				home = env[i] + 5;
		if (home == NULL || chdir(home) != 0) {
			if (chdir("/") != 0) {
				/* nothing better to do */
			}
		}
		execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
		dprintf(2, "cannot run /bin/sh: %s\n", strerror(errno));
		_exit(127);
	}
	b->pid = pid;
	b->in = in[1];
	b->out = out[0];
	b->err = er[0];
	in[1] = out[0] = er[0] = -1;
	fcntl(b->in, F_SETFL, O_NONBLOCK);
	fcntl(b->out, F_SETFL, O_NONBLOCK);
	fcntl(b->err, F_SETFL, O_NONBLOCK);
	log_info("started backend %s (pid %ld): %s", be->name, (long)pid, b->how);
	r = 0;
out:
	for (i = 0; i < 2; i++) {
		if (in[i] >= 0) close(in[i]);
		if (out[i] >= 0) close(out[i]);
		if (er[i] >= 0) close(er[i]);
	}
	free(cmd);
	backend_env_free(env);
	return r;
}

void
backend_signal(const struct backend *b, int sig)
{
	if (b->pid > 0)
		kill(-b->pid, sig);
}

void
backend_describe_status(int status, char *out, size_t outlen)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(out, outlen, "wait status %d", status);
}
