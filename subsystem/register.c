/*
 * register.c - `codex-subsystem register` / `unregister`.
 *
 * Our only file is DIR/codex-ssh-NAME.conf. Everything else sshd reads is only
 * read here: to check that an Include reaches DIR and that no other file already
 * defines `Subsystem NAME` (sshd rejects a name defined twice). sshd itself has the
 * last word (`sshd -t`); when it refuses, the drop-in goes back to what it was.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxs_config.h"

#include "subsystem/register.h"
#include "subsystem/backend.h"

#define REG_MAX_FILE (256 * 1024)    /* bigger than any sane sshd_config */
#define REG_MAX_DEPTH 16             /* Include nesting */
#define REG_CMD_TIMEOUT_MS 30000     /* sshd -t, systemctl reload */
#define REG_SSHDIR "/etc/ssh"        /* where sshd resolves relative Includes */

struct reg_opts {
	const char *name;
	const char *backend;
	const char *args;
	const char *main_cfg;
	const char *dropin;
	const char *sshd;
	const char *pidfile;
	int no_reload;
	int test_paths;              /* --sshd-config or --dropin-dir given */
};

struct reg_scan {
	const char *name;
	const char *ours;            /* our drop-in, canonical */
	const char *ours_given;      /* the same as spelt from --dropin-dir */
	int covered;                 /* an Include outside Match reaches ours */
	int covered_in_match;        /* only one inside a Match block does */
	int conflicts;
	int error;
	char pidfile[PATH_MAX];      /* the first PidFile seen */
};

static void reg_scan_file(struct reg_scan *s, const char *path, int depth,
    int in_match);

static const char *reg_cmd = "register";

static void
reg_usage(FILE *f)
{
	fprintf(f,
	    "usage: codex-subsystem register [--name NAME] [--backend B] [--args \"ARGS\"]\n"
	    "           [--sshd-config FILE] [--dropin-dir DIR] [--sshd PATH]\n"
	    "           [--pid-file FILE] [--no-reload]\n"
	    "       codex-subsystem unregister [--name NAME] [--sshd-config FILE]\n"
	    "           [--dropin-dir DIR] [--sshd PATH] [--pid-file FILE] [--no-reload]\n");
}

static int
reg_valid_word(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("._-+@", *s) == NULL)
			return 0;
	return 1;
}

/* Reads a whole (small) file into a NUL-terminated buffer the caller frees. */
static char *
reg_read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(REG_MAX_FILE + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, REG_MAX_FILE + 1, f);
	if (ferror(f) || n > REG_MAX_FILE) {
		if (!ferror(f))
			errno = EFBIG;
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return buf;
}

/* Temp file in the same directory, then rename(): readers see old or new, whole. */
static int
reg_write_atomic(const char *path, const char *data, size_t len, char *err,
    size_t errlen)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, r = -1;
	size_t off = 0;
	ssize_t w;

	if (slash == NULL || snprintf(tmp, sizeof(tmp), "%.*s/.%s.XXXXXX",
	    (int)(slash - path), path, slash + 1) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "cannot create a file in %.*s: %s",
		    (int)(slash - path), path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) != 0)
		goto fail;
	while (off < len) {
		if ((w = write(fd, data + off, len - off)) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

/*
 * Runs argv (argv[0] an absolute path), its stdout and stderr collected in out.
 * Returns its exit status, or -1 when it could not run or ran too long.
 */
static int
reg_run(const char *const argv[], char *out, size_t outlen)
{
	char *av[8];
	size_t nargs;
	int p[2], status = -1, fd;
	size_t used = 0;
	pid_t pid;
	struct timespec start, now;
	char junk[512];

	out[0] = '\0';
	for (nargs = 0; argv[nargs] != NULL && nargs < 7; nargs++)
		;
	/* execv() wants char *const[]; it does not write through them. */
	memcpy(av, argv, nargs * sizeof(*av));
	av[nargs] = NULL;
	if (pipe(p) != 0) {
		snprintf(out, outlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(out, outlen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) >= 0)
			dup2(fd, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execv(av[0], av);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = REG_CMD_TIMEOUT_MS - ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(p[0]);
			snprintf(out + used, outlen - used, "%s%s did not finish in %d s",
			    used > 0 ? "\n" : "", argv[0], REG_CMD_TIMEOUT_MS / 1000);
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (used + 1 < outlen)
			n = read(p[0], out + used, outlen - used - 1);
		else
			n = read(p[0], junk, sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used + 1 < outlen) {
			used += (size_t)n;
			out[used] = '\0';
		}
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == ' '))
		out[--used] = '\0';
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	snprintf(out + used, outlen - used, "%s%s killed by signal %d",
	    used > 0 ? "\n" : "", argv[0], WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

/* `sshd -t -f MAIN`; 0 when sshd accepts the configuration. */
static int
reg_sshd_test(const struct reg_opts *o, char *msg, size_t msglen)
{
	const char *argv[] = { o->sshd, "-t", "-f", o->main_cfg, NULL };

	return reg_run(argv, msg, msglen) == 0 ? 0 : -1;
}

/*
 * Splits one sshd_config line in place: the keyword (lower-cased) and up to max
 * arguments (quotes removed). "Keyword=value" is allowed, as in sshd. Returns the
 * number of arguments, or -1 for a blank or comment line.
 */
static int
reg_split(char *line, char **kw, char **args, int max)
{
	char *p = line, *q;
	int n = 0;

	p += strspn(p, " \t\r\n");
	if (*p == '\0' || *p == '#')
		return -1;
	*kw = p;
	p += strcspn(p, " \t\r\n=");
	if (*p != '\0') {
		int eq = *p == '=';

		*p++ = '\0';
		p += strspn(p, " \t\r\n");
		if (!eq && *p == '=') {
			p++;
			p += strspn(p, " \t\r\n");
		}
	}
	for (q = *kw; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	while (*p != '\0' && *p != '#' && n < max) {
		if (*p == '"') {
			args[n++] = ++p;
			p += strcspn(p, "\"");
		} else {
			args[n++] = p;
			p += strcspn(p, " \t\r\n");
		}
		if (*p != '\0')
			*p++ = '\0';
		p += strspn(p, " \t\r\n");
	}
	return n;
}

static int
reg_same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (strcmp(a, b) == 0)
		return 1;
	return realpath(a, ra) != NULL && realpath(b, rb) != NULL &&
	    strcmp(ra, rb) == 0;
}

static void
reg_scan_include(struct reg_scan *s, const char *arg, int depth, int in_match)
{
	char pat[PATH_MAX];
	glob_t g;
	size_t i;

	if (arg[0] == '/')
		snprintf(pat, sizeof(pat), "%s", arg);
	else
		snprintf(pat, sizeof(pat), "%s/%s", REG_SSHDIR, arg);
	if (fnmatch(pat, s->ours, FNM_PATHNAME) == 0 ||
	    fnmatch(pat, s->ours_given, FNM_PATHNAME) == 0) {
		if (in_match)
			s->covered_in_match = 1;
		else
			s->covered = 1;
	}
	if (glob(pat, 0, NULL, &g) != 0)
		return;
	for (i = 0; i < g.gl_pathc; i++)
		if (!reg_same_file(g.gl_pathv[i], s->ours))
			reg_scan_file(s, g.gl_pathv[i], depth + 1, in_match);
	globfree(&g);
}

static void
reg_scan_file(struct reg_scan *s, const char *path, int depth, int in_match)
{
	char *buf, *line, *next, *kw, *args[64], copy[1024];
	int n, lineno = 0;

	if (depth > REG_MAX_DEPTH)
		return;
	if ((buf = reg_read_file(path, NULL)) == NULL) {
		if (depth == 0) {
			fprintf(stderr, "codex-subsystem %s: cannot read %s: %s\n",
			    reg_cmd, path, strerror(errno));
			s->error = 1;
		}
		return;
	}
	for (line = buf; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		snprintf(copy, sizeof(copy), "%s", line + strspn(line, " \t"));
		if ((n = reg_split(line, &kw, args, 64)) < 0)
			continue;
		if (strcmp(kw, "match") == 0) {
			in_match = 1;
		} else if (strcmp(kw, "include") == 0) {
			int i;

			for (i = 0; i < n; i++)
				reg_scan_include(s, args[i], depth, in_match);
		} else if (strcmp(kw, "subsystem") == 0 && n >= 1 &&
		    strcmp(args[0], s->name) == 0) {
			fprintf(stderr, "codex-subsystem %s: subsystem \"%s\" is "
			    "already defined at %s:%d: %s\n", reg_cmd, s->name, path,
			    lineno, copy);
			s->conflicts++;
		} else if (strcmp(kw, "pidfile") == 0 && n >= 1 &&
		    s->pidfile[0] == '\0') {
			snprintf(s->pidfile, sizeof(s->pidfile), "%s", args[0]);
		}
	}
	free(buf);
}

/* The pid in path when it names a running sshd, else 0 (why in err). */
static pid_t
reg_sshd_pid(const char *path, char *err, size_t errlen)
{
	char *buf, comm[64] = "", proc[64];
	FILE *f;
	long pid;

	if ((buf = reg_read_file(path, NULL)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return 0;
	}
	pid = strtol(buf, NULL, 10);
	free(buf);
	if (pid <= 1) {
		snprintf(err, errlen, "%s holds no pid", path);
		return 0;
	}
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	if ((f = fopen(proc, "r")) != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
		snprintf(err, errlen, "pid %ld (from %s) is not running", pid, path);
		return 0;
	}
	if (comm[0] != '\0' && strncmp(comm, "sshd", 4) != 0) {
		comm[strcspn(comm, "\n")] = '\0';
		snprintf(err, errlen, "pid %ld (from %s) is \"%s\", not sshd", pid,
		    path, comm);
		return 0;
	}
	return (pid_t)pid;
}

/* Returns 0 when sshd was reloaded or when there is nothing to reload. */
static int
reg_reload(const struct reg_opts *o, const struct reg_scan *s)
{
	const char *pidfile = o->pidfile != NULL ? o->pidfile :
	    s->pidfile[0] != '\0' ? s->pidfile : REG_DEFAULT_PIDFILE;
	char err[512], out[1024];
	pid_t pid;

	if (o->no_reload) {
		printf("not reloading sshd (--no-reload): reload sshd to apply\n");
		return 0;
	}
	if ((pid = reg_sshd_pid(pidfile, err, sizeof(err))) > 0) {
		if (kill(pid, SIGHUP) != 0) {
			fprintf(stderr, "codex-subsystem %s: cannot signal sshd (pid %ld): "
			    "%s; reload sshd to apply\n", reg_cmd, (long)pid,
			    strerror(errno));
			return -1;
		}
		printf("reloaded sshd (SIGHUP to pid %ld from %s)\n", (long)pid, pidfile);
		return 0;
	}
	if (o->pidfile != NULL) {
		fprintf(stderr, "codex-subsystem %s: cannot reload sshd: %s; reload "
		    "sshd to apply\n", reg_cmd, err);
		return -1;
	}
	if (access("/run/systemd/system", F_OK) == 0) {
		const char *a1[] = { "/bin/systemctl", "reload", "ssh", NULL };
		const char *a2[] = { "/bin/systemctl", "reload", "sshd", NULL };

		if (access(a1[0], X_OK) != 0)
			a1[0] = a2[0] = "/usr/bin/systemctl";
		if (reg_run(a1, out, sizeof(out)) == 0) {
			printf("reloaded sshd (systemctl reload ssh)\n");
			return 0;
		}
		if (reg_run(a2, out, sizeof(out)) == 0) {
			printf("reloaded sshd (systemctl reload sshd)\n");
			return 0;
		}
		fprintf(stderr, "codex-subsystem %s: systemctl reload ssh failed: %s; "
		    "reload sshd to apply\n", reg_cmd, out);
		return -1;
	}
	printf("sshd does not seem to run (%s); reload sshd to apply\n", err);
	return 0;
}

static int
reg_parse(int argc, char **argv, struct reg_opts *o)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "backend", required_argument, NULL, 'b' },
		{ "args", required_argument, NULL, 'a' },
		{ "sshd-config", required_argument, NULL, 'c' },
		{ "dropin-dir", required_argument, NULL, 'd' },
		{ "sshd", required_argument, NULL, 's' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "no-reload", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->name = REG_DEFAULT_NAME;
	o->main_cfg = REG_DEFAULT_CONFIG;
	o->dropin = REG_DEFAULT_DROPIN;
	o->sshd = REG_DEFAULT_SSHD;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': o->name = optarg; break;
		case 'b': o->backend = optarg; break;
		case 'a': o->args = optarg; break;
		case 'c': o->main_cfg = optarg; o->test_paths = 1; break;
		case 'd': o->dropin = optarg; o->test_paths = 1; break;
		case 's': o->sshd = optarg; break;
		case 'p': o->pidfile = optarg; break;
		case 'N': o->no_reload = 1; break;
		case 'h': reg_usage(stdout); return 1;
		default: reg_usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		reg_usage(stderr);
		return 2;
	}
	return 0;
}

static int
reg_check_opts(const struct reg_opts *o, int unregister)
{
	const char *bad = NULL;

	if (!reg_valid_word(o->name))
		bad = "--name: use letters, digits and ._-+@ only";
	else if (o->backend != NULL && !reg_valid_word(o->backend))
		bad = "--backend: use letters, digits and ._-+@ only";
	else if (o->args != NULL && strpbrk(o->args, "\r\n") != NULL)
		bad = "--args: must be one line";
	else if (unregister && (o->backend != NULL || o->args != NULL))
		bad = "--backend and --args only make sense with register";
	else if (o->main_cfg[0] != '/' || o->dropin[0] != '/' || o->sshd[0] != '/')
		bad = "--sshd-config, --dropin-dir and --sshd need absolute paths";
	if (bad != NULL) {
		fprintf(stderr, "codex-subsystem %s: %s\n", reg_cmd, bad);
		return -1;
	}
	if (geteuid() != 0 && !o->test_paths) {
		fprintf(stderr, "codex-subsystem %s: must run as root (it writes to %s "
		    "and reloads sshd); try sudo\n", reg_cmd, o->dropin);
		return -1;
	}
	return 0;
}

int
reg_main(int argc, char **argv, int unregister)
{
	struct reg_opts o;
	struct reg_scan s;
	char dir[PATH_MAX], ours[PATH_MAX], given[PATH_MAX], line[PATH_MAX + 1024];
	char msg[4096], err[PATH_MAX + 256];
	char *old = NULL;
	const char *exe;
	size_t oldlen = 0;
	struct stat st;
	int r, rc = 1;

	reg_cmd = unregister ? "unregister" : "register";
	if ((r = reg_parse(argc, argv, &o)) != 0)
		return r == 1 ? 0 : r;
	if (reg_check_opts(&o, unregister) != 0)
		return 1;

	if (stat(o.dropin, &st) != 0 && errno == ENOENT) {
		if (unregister) {
			printf("nothing to remove: %s does not exist\n", o.dropin);
			return 0;
		}
		if (mkdir(o.dropin, 0755) != 0) {
			fprintf(stderr, "codex-subsystem %s: cannot create %s: %s\n",
			    reg_cmd, o.dropin, strerror(errno));
			return 1;
		}
		printf("created %s\n", o.dropin);
	}
	if (realpath(o.dropin, dir) == NULL) {
		fprintf(stderr, "codex-subsystem %s: %s: %s\n", reg_cmd, o.dropin,
		    strerror(errno));
		return 1;
	}
	snprintf(ours, sizeof(ours), "%s/codex-ssh-%s.conf", dir, o.name);
	snprintf(given, sizeof(given), "%s/codex-ssh-%s.conf", o.dropin, o.name);

	memset(&s, 0, sizeof(s));
	s.name = o.name;
	s.ours = ours;
	s.ours_given = given;
	reg_scan_file(&s, o.main_cfg, 0, 0);
	if (s.error)
		return 1;

	errno = 0;
	old = reg_read_file(ours, &oldlen);
	if (old == NULL && errno != ENOENT) {
		fprintf(stderr, "codex-subsystem %s: cannot read %s: %s\n", reg_cmd,
		    ours, strerror(errno));
		return 1;
	}

	if (unregister) {
		if (old == NULL) {
			printf("nothing to remove: %s does not exist\n", ours);
			return 0;
		}
		if (unlink(ours) != 0) {
			fprintf(stderr, "codex-subsystem %s: cannot remove %s: %s\n",
			    reg_cmd, ours, strerror(errno));
			goto out;
		}
	} else {
		if (!s.covered) {
			fprintf(stderr, "codex-subsystem %s: %s does not include %s%s; "
			    "add this line near the top of %s (before any Match block):\n"
			    "\tInclude %s/*.conf\n", reg_cmd, o.main_cfg, o.dropin,
			    s.covered_in_match ? " outside a Match block" : "",
			    o.main_cfg, o.dropin);
			goto out;
		}
		if (s.conflicts > 0) {
			fprintf(stderr, "codex-subsystem %s: sshd refuses a subsystem "
			    "defined twice: remove the line%s above, or register under "
			    "another --name\n", reg_cmd, s.conflicts > 1 ? "s" : "");
			goto out;
		}
		exe = backend_self_exe();
		if (exe == NULL || exe[0] != '/' || strpbrk(exe, " \t\"'\\") != NULL) {
			fprintf(stderr, "codex-subsystem %s: cannot use this program's "
			    "path (%s) in sshd_config\n", reg_cmd, exe ? exe : "unknown");
			goto out;
		}
		r = snprintf(line, sizeof(line),
		    "# Written by `codex-subsystem register` (codex-ssh %s).\n"
		    "# Remove with `codex-subsystem unregister%s%s`.\n"
		    "Subsystem %s %s%s%s%s%s\n", PACKAGE_VERSION,
		    strcmp(o.name, REG_DEFAULT_NAME) != 0 ? " --name " : "",
		    strcmp(o.name, REG_DEFAULT_NAME) != 0 ? o.name : "",
		    o.name, exe, o.backend ? " --backend " : "",
		    o.backend ? o.backend : "", o.args ? " " : "", o.args ? o.args : "");
		if (r < 0 || (size_t)r >= sizeof(line)) {
			fprintf(stderr, "codex-subsystem %s: Subsystem line too long\n",
			    reg_cmd);
			goto out;
		}
		if (reg_write_atomic(ours, line, (size_t)r, err, sizeof(err)) != 0) {
			fprintf(stderr, "codex-subsystem %s: %s\n", reg_cmd, err);
			goto out;
		}
	}

	if (reg_sshd_test(&o, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "codex-subsystem %s: %s -t -f %s rejects the result:\n"
		    "%s\n", reg_cmd, o.sshd, o.main_cfg, msg[0] ? msg : "(no message)");
		if (old != NULL)
			r = reg_write_atomic(ours, old, oldlen, err, sizeof(err));
		else if ((r = unlink(ours)) != 0)
			snprintf(err, sizeof(err), "cannot remove %s: %s", ours,
			    strerror(errno));
		if (r != 0)
			fprintf(stderr, "codex-subsystem %s: rollback failed: %s\n",
			    reg_cmd, err);
		else
			fprintf(stderr, "codex-subsystem %s: rolled back: %s %s\n",
			    reg_cmd, ours, old != NULL ? "restored" : "removed");
		goto out;
	}
	if (msg[0] != '\0')
		printf("%s -t says:\n%s\n", o.sshd, msg);
	if (unregister)
		printf("removed %s\n", ours);
	else
		printf("%s %s: %s", old != NULL ? "rewrote" : "wrote", ours,
		    strstr(line, "Subsystem "));
	printf("%s -t -f %s: configuration OK\n", o.sshd, o.main_cfg);
	rc = reg_reload(&o, &s) == 0 ? 0 : 1;
out:
	free(old);
	return rc;
}
