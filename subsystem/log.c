#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "subsystem/log.h"

static int log_fd = -1;
static int log_level = LOGL_INFO;
static int log_stderr;
static uint64_t log_max = 1u << 20;
static char log_path[4096];
static char log_ident[32] = "codex-subsystem";

int
log_level_parse(const char *s)
{
	static const char *names[] = { "ERROR", "INFO", "VERBOSE", "DEBUG" };
	int i;

	for (i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "QUIET") == 0 || strcasecmp(s, "FATAL") == 0)
		return LOGL_ERROR;
	return -1;
}

int
log_mkdirs(const char *path, int with_last)
{
	char tmp[4096], *p;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (with_last && mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
log_check_dir(const char *dir, unsigned forbid, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s is a symbolic link: refusing to use it", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory: refusing to use it", dir);
		return -1;
	}
	if (st.st_uid != getuid()) {
		snprintf(err, errlen, "%s is owned by uid %lu, not by us (uid %lu): "
		    "refusing to use it", dir, (unsigned long)st.st_uid,
		    (unsigned long)getuid());
		return -1;
	}
	if ((st.st_mode & forbid) != 0) {
		snprintf(err, errlen, "%s has mode %03o; it must be %s: refusing to "
		    "use it", dir, (unsigned)(st.st_mode & 0777), (forbid & 044) ?
		    "0700" : "writable by nobody else");
		return -1;
	}
	return 0;
}

int
log_open(const char *path, uint64_t max, int level, const char *ident)
{
	char dir[4096], err[4300], *slash;

	log_close();
	log_level = level;
	log_max = max;
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (path == NULL || strcmp(path, "none") == 0)
		return 0;
	snprintf(log_path, sizeof(log_path), "%s", path);
	(void)log_mkdirs(path, 0);
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir)
			slash++;
		*slash = '\0';
		if (log_check_dir(dir[0] ? dir : "/", 022, err, sizeof(err)) != 0) {
			fprintf(stderr, "codex-subsystem: not logging to %s: %s\n", path,
			    err);
			return -1;
		}
	}
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log_fd < 0)
		fprintf(stderr, "codex-subsystem: not logging to %s: %s\n", path,
		    strerror(errno));
	return log_fd < 0 ? -1 : 0;
}

void
log_to_stderr(int on)
{
	log_stderr = on;
}

void
log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}

/* Keeps the file under its cap: the full file becomes FILE.1 (replacing the old). */
static void
log_rotate(void)
{
	struct stat st;
	char old[4200];

	if (log_fd < 0 || fstat(log_fd, &st) != 0 || (uint64_t)st.st_size < log_max)
		return;
	snprintf(old, sizeof(old), "%s.1", log_path);
	(void)rename(log_path, old);
	close(log_fd);
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
	    0600);
}

void
log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level || (log_fd < 0 && !log_stderr))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%ld]: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(tv.tv_usec / 1000), log_ident, (long)getpid());
	if (n < 0)
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (log_fd >= 0) {
		log_rotate();
		if (log_fd >= 0 && write(log_fd, line, (size_t)n) < 0) {
			/* Nowhere left to report a failing log. */
		}
	}
	if (log_stderr) {
		/* stderr gets the message without the timestamp prefix. */
		char *msg = strstr(line, "]: ");

		if (msg != NULL && write(STDERR_FILENO, msg + 3,
		    (size_t)(line + n - (msg + 3))) < 0) {
			/* ignore */
		}
	}
}
