/*
 * fakebe.c - the fuzz targets' own session backend (see fakebe.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "subsystem/backend.h"
#include "tests/fuzz/fakebe.h"

#define BIG_LINE (300u * 1024u)        /* over FRAME_MAX_PAYLOAD: sent in chunks */

extern char **environ;

int __wrap_backend_start(struct backend *b, const struct sconf *c,
    const struct sconf_backend *be, const struct backend_user *u, char *err,
    size_t errlen);

struct line {
	uint64_t n;
	size_t end;        /* offset just past its newline in the output stream */
	size_t len;        /* without the newline */
};

struct fake {
	pid_t pid;
	int in_r, out_w, err_w, life_w;
	unsigned flags;
	int in_eof, ending, ended;
	uint8_t *in;       /* a line from the host not complete yet */
	size_t inlen, incap;
	uint8_t *q;        /* stdout bytes not written yet */
	size_t qlen, qoff, qcap;
	size_t out_total;  /* bytes written to stdout so far */
	size_t queued;     /* bytes ever queued */
	struct line *lines;
	size_t nlines, cap;
	uint64_t *rx;      /* hashes of the lines received */
	size_t nrx, rxcap;
	int big_done, huge_done;
};

static struct fake fakes[FAKEBE_MAX];
static int nfakes;
static unsigned mode;
static size_t max_msg;

static void
check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fakebe: %s\n", what);
		abort();
	}
}

/* Hashing big messages byte by byte is the fuzz targets' own cost: no coverage
 * is wanted for it. */
#if defined(__clang__)
__attribute__((no_sanitize("coverage")))
#endif
uint64_t
fakebe_hash(uint64_t h, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = p[i] == '\r' || p[i] == '\n' ? ' ' : p[i];

		h = (h ^ c) * 1099511628211ull;
	}
	return h;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	check(q != NULL, "out of memory");
	return q;
}

static void
room(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = *cap * 2 > need ? *cap * 2 : need + 4096;
	*p = xrealloc(*p, *cap);
}

/* Queues one line (text without the newline) on f's stdout. */
static void
say(struct fake *f, const char *text, size_t len)
{
	if (f->qoff > 0 && f->qoff == f->qlen)
		f->qoff = f->qlen = 0;
	room(&f->q, &f->qcap, f->qlen + len + 1);
	memcpy(f->q + f->qlen, text, len);
	f->q[f->qlen + len] = '\n';
	f->qlen += len + 1;
	f->queued += len + 1;
	if (f->nlines == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->lines = xrealloc(f->lines, f->cap * sizeof(*f->lines));
	}
	f->lines[f->nlines].n = f->nlines + 1;
	f->lines[f->nlines].end = f->queued;
	f->lines[f->nlines].len = len;
	f->nlines++;
}

static void
say_method(struct fake *f, const char *method, size_t pad)
{
	char head[160];
	char *t;
	int hl;

	hl = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"method\":\"fake/%s\","
	    "\"params\":{\"be\":%d,\"n\":%zu", method, (int)(f - fakes), f->nlines + 1);
	t = xrealloc(NULL, (size_t)hl + pad + 16);
	memcpy(t, head, (size_t)hl);
	if (pad > 0) {
		memcpy(t + hl, ",\"pad\":\"", 8);
		memset(t + hl + 8, 'x', pad);
		memcpy(t + hl + 8 + pad, "\"}}", 3);
		say(f, t, (size_t)hl + pad + 11);
	} else {
		memcpy(t + hl, "}}", 2);
		say(f, t, (size_t)hl + 2);
	}
	free(t);
}

/* The echo of a line the host sent: the line itself inside the params. */
static void
say_echo(struct fake *f, const uint8_t *p, size_t len)
{
	char head[160];
	char *t;
	int hl;

	hl = snprintf(head, sizeof(head), "{\"jsonrpc\":\"2.0\",\"method\":\"fake/echo\","
	    "\"params\":{\"be\":%d,\"n\":%zu,\"msg\":", (int)(f - fakes), f->nlines + 1);
	t = xrealloc(NULL, (size_t)hl + len + 2);
	memcpy(t, head, (size_t)hl);
	memcpy(t + hl, p, len);
	memcpy(t + hl + len, "}}", 2);
	say(f, t, (size_t)hl + len + 2);
	free(t);
}

static void
chatter(struct fake *f, const char *s)
{
	if (f->err_w >= 0 && (f->flags & FAKEBE_STDERR) &&
	    write(f->err_w, s, strlen(s)) < 0) {
		/* a full pipe loses chatter, as a real one would block */
	}
}

/* One line from the host. */
static void
got_line(struct fake *f, const uint8_t *p, size_t len)
{
	char *t;
	const char *end = NULL;
	cJSON *j;

	check(len <= max_msg, "the backend got a line over the message limit");
	check(memchr(p, '\r', len) == NULL, "the backend got a CR inside a line");
	t = xrealloc(NULL, len + 1);
	memcpy(t, p, len);
	t[len] = '\0';
	check(strlen(t) == len, "the backend got a NUL inside a line");
	j = cJSON_ParseWithOpts(t, &end, 1);
	check(j != NULL && cJSON_IsObject(j), "the backend got a line that is not "
	    "one JSON object");
	cJSON_Delete(j);
	free(t);
	if (f->nrx == f->rxcap) {
		f->rxcap = f->rxcap ? f->rxcap * 2 : 16;
		f->rx = xrealloc(f->rx, f->rxcap * sizeof(*f->rx));
	}
	f->rx[f->nrx++] = fakebe_hash(FAKEBE_HASH0, p, len);
	if (f->ending)
		return;
	if (!(f->flags & FAKEBE_SILENT))
		say_echo(f, p, len);
	chatter(f, "fake: got a line\n");
	if ((f->flags & FAKEBE_BIG) && !f->big_done) {
		f->big_done = 1;
		say_method(f, "big", BIG_LINE);
	}
	if ((f->flags & FAKEBE_HUGE) && !f->huge_done && f->nrx >= 2) {
		f->huge_done = 1;
		say_method(f, "huge", max_msg + 1);
	}
	if ((FAKEBE_EARLY(f->flags) == 1 && f->nrx >= 1) ||
	    (FAKEBE_EARLY(f->flags) == 2 && f->nrx >= 3))
		f->ending = 1;
}

/* Lets the child go: it exits with the status its arguments chose, or is killed. */
static void
end_child(struct fake *f)
{
	siginfo_t si;
	struct timespec ts = { 0, 100 * 1000 }, t0, t1;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, f->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return;     /* the host reaped it already (it stopped the session) */
	if (FAKEBE_EXIT(f->flags) >= 2 && si.si_pid == 0)
		kill(f->pid, SIGKILL);
	close_fd(&f->life_w);
	/* Wait until it is a zombie, without reaping it (the host does that), so
	 * the run does not depend on how fast it exits. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, f->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
			return;     /* reaped already */
		if (si.si_pid == f->pid)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		check(t1.tv_sec - t0.tv_sec < 10, "a fake backend's child did not exit "
		    "within 10 s");
		nanosleep(&ts, NULL);
	}
}

static int
pump_one(struct fake *f)
{
	uint8_t tmp[65536], *nl;
	ssize_t n;
	size_t off;
	int prog = 0;

	while (f->in_r >= 0) {
		n = read(f->in_r, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			close_fd(&f->in_r);
			f->in_eof = 1;
			prog = 1;
			break;
		}
		prog = 1;
		room(&f->in, &f->incap, f->inlen + (size_t)n);
		memcpy(f->in + f->inlen, tmp, (size_t)n);
		f->inlen += (size_t)n;
		off = 0;
		while ((nl = memchr(f->in + off, '\n', f->inlen - off)) != NULL) {
			got_line(f, f->in + off, (size_t)(nl - (f->in + off)));
			off = (size_t)(nl - f->in) + 1;
		}
		memmove(f->in, f->in + off, f->inlen - off);
		f->inlen -= off;
		check(f->inlen <= max_msg, "the backend got a line over the message "
		    "limit");
	}
	if (f->in_eof && f->inlen > 0)
		check(0, "the backend's input ended inside a line");
	if ((f->ending || f->in_eof) && FAKEBE_EXIT(f->flags) == 3 && f->out_w >= 0) {
		/* Killed at once: what was not written is lost, but a line begun
		 * is finished, as if the kill came just after it. */
		size_t keep = f->qlen - f->qoff, k;

		for (k = 0; k < f->nlines; k++)
			if (f->lines[k].end > f->out_total) {
				keep = f->lines[k].end - f->out_total;
				if (f->lines[k].end - f->lines[k].len - 1 >= f->out_total)
					keep = 0;
				break;
			}
		f->qlen = f->qoff + keep;
		f->queued = f->out_total + keep;
		while (f->nlines > 0 && f->lines[f->nlines - 1].end > f->queued)
			f->nlines--;
	}
	while (f->out_w >= 0 && f->qoff < f->qlen) {
		n = write(f->out_w, f->q + f->qoff, f->qlen - f->qoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* The host closed our stdout: it stopped the session. */
			close_fd(&f->out_w);
			f->qoff = f->qlen;
			prog = 1;
			break;
		}
		f->qoff += (size_t)n;
		f->out_total += (size_t)n;
		prog = 1;
	}
	if ((f->in_eof || f->ending) && !f->ended && f->qoff == f->qlen) {
		chatter(f, "fake: bye\n");
		close_fd(&f->out_w);
		close_fd(&f->err_w);
		close_fd(&f->in_r);
		end_child(f);
		f->ended = 1;
		prog = 1;
	}
	return prog;
}

int
fakebe_pump(void)
{
	int i, prog = 0;

	for (i = 0; i < nfakes; i++)
		prog |= pump_one(&fakes[i]);
	return prog;
}

static int
spawn_child(struct fake *f, int life_r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv0[] = { (char *)(uintptr_t)"cat", NULL };
	char *argv1[] = { (char *)(uintptr_t)"cat",
	    (char *)(uintptr_t)"/nonexistent/codex-ssh-fuzz", (char *)(uintptr_t)"-",
	    NULL };
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, life_r, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	/* Its own process group, as backend_start() makes it (the host signals
	 * the group). */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
	r = posix_spawn(&f->pid, "/bin/cat", &fa, &at,
	    FAKEBE_EXIT(f->flags) == 1 ? argv1 : argv0, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return r;
}

int
__wrap_backend_start(struct backend *b, const struct sconf *c,
    const struct sconf_backend *be, const struct backend_user *u, char *err,
    size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 };
	int life[2] = { -1, -1 }, i;
	struct fake *f;

	(void)c;
	(void)u;
	memset(b, 0, sizeof(*b));
	b->in = b->out = b->err = -1;
	snprintf(b->how, sizeof(b->how), "`%s` (fuzz)", be->command);
	if (strcmp(be->command, "fake") != 0 || nfakes == FAKEBE_MAX) {
		snprintf(err, errlen, "cannot start %s (fuzz)", be->command);
		return -1;
	}
	f = &fakes[nfakes];
	memset(f, 0, sizeof(*f));
	f->flags = mode;
	check(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0 &&
	    pipe2(er, O_CLOEXEC) == 0 && pipe2(life, O_CLOEXEC) == 0, "pipe");
	check(spawn_child(f, life[0]) == 0, "posix_spawn /bin/cat");
	close(life[0]);
	f->life_w = life[1];
	f->in_r = in[0];
	f->out_w = out[1];
	f->err_w = er[1];
	b->pid = f->pid;
	b->in = in[1];
	b->out = out[0];
	b->err = er[0];
	for (i = 0; i < 2; i++) {
		fcntl(in[i], F_SETFL, O_NONBLOCK);
		fcntl(out[i], F_SETFL, O_NONBLOCK);
		fcntl(er[i], F_SETFL, O_NONBLOCK);
	}
	nfakes++;
	if (f->flags & FAKEBE_GREET)
		say_method(f, "hello", 0);
	if (FAKEBE_EARLY(f->flags) == 3)
		f->ending = 1;
	return 0;
}

void
fakebe_begin(size_t max_message)
{
	fakebe_end();
	max_msg = max_message;
	mode = 0;
}

void
fakebe_mode(unsigned flags)
{
	mode = flags;
}

void
fakebe_end(void)
{
	int i;

	for (i = 0; i < nfakes; i++) {
		struct fake *f = &fakes[i];

		close_fd(&f->in_r);
		close_fd(&f->out_w);
		close_fd(&f->err_w);
		close_fd(&f->life_w);
		free(f->in);
		free(f->q);
		free(f->lines);
		free(f->rx);
		memset(f, 0, sizeof(*f));
	}
	nfakes = 0;
}

int
fakebe_unreaped(void)
{
	siginfo_t si;
	int i, n = 0;

	for (i = 0; i < nfakes; i++) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, fakes[i].pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
			n++;    /* still running, or a zombie nobody reaped */
	}
	return n;
}

int
fakebe_count(void)
{
	return nfakes;
}

int
fakebe_done(int i)
{
	return fakes[i].in_eof || fakes[i].ended;
}

uint64_t
fakebe_written(int i)
{
	const struct fake *f = &fakes[i];
	uint64_t n = 0;

	while (n < f->nlines && f->lines[n].end <= f->out_total)
		n++;
	return n;
}

int
fakebe_deliverable(int i, uint64_t n)
{
	const struct fake *f = &fakes[i];

	return n >= 1 && n <= fakebe_written(i) && f->lines[n - 1].len <= max_msg;
}

size_t
fakebe_received(int i)
{
	return fakes[i].nrx;
}

uint64_t
fakebe_line_hash(int i, size_t k)
{
	return fakes[i].rx[k];
}
