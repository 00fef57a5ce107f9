/*
 * relay-bench.c - what the codex-ssh relay costs on a real SSH channel, next to a
 * raw channel that only echoes.
 *
 * Every path runs as a child process over pipes (`ssh -F CFG -s HOST SUBSYSTEM`),
 * through the same sshd, the same ssh binary and the same options, so the cipher and
 * the key exchange are the same for all. Paths:
 *
 *   raw          Subsystem raw /bin/cat: the same bytes echoed (the ceiling)
 *   plain        codex-subsystem, plain JSONL
 *   framed       codex-subsystem, framed mode (proto/tunnel.h), no compression
 *   framed_zlib  framed mode with zlib
 *
 * and three references that locate the cost: backend_direct (the fake app server
 * as the subsystem itself, no codex-subsystem in between), backend_relayed (the
 * fake behind `relay-bench --relay`, a relay that only copies bytes: the same
 * processes as plain mode) and backend_local (the fake on a pipe, no SSH at all).
 *
 * For each path: the round-trip time of a small request (fake/echo; raw: the same
 * line echoed by cat), median and p99; then a turn of N item/agentMessage/delta
 * notifications from turn/start to turn/completed, in messages/s and MB/s of JSON
 * lines (newline included), with the bytes read from the child's stdout (after SSH
 * decryption: the tunnel's own bytes, which shows what zlib saves). For raw, the
 * lines of the same turn (captured from backend_local) are written into cat while
 * being read back and compared. CPU time per message of every process involved
 * (this client, ssh, sshd, codex-subsystem, the backend) comes from /proc.
 * Rounds are interleaved, in a rotating order; the table shows medians.
 *
 * Usage: relay-bench [options]; bench/relay-bench.sh starts the sshd and runs it.
 *   --ssh-config FILE  --host NAME   how to reach the sshd (ssh -F FILE -s NAME ...)
 *   --fake PATH        the fake app server (backend_local, and the raw lines)
 *   --direct-subsystem NAME   subsystem that runs the fake directly ("" = skip)
 *   --relayed-subsystem NAME  subsystem that runs relay-bench --relay FAKE ("" = skip)
 *   --relay PROG       be that relay: run PROG, copy stdin to it and its stdout out
 *   --conf PATH  --sshd-pid PID   find the processes whose CPU time is counted
 *   --kex S  --cipher S        what ssh negotiated, for the report
 *   --deltas N (300000)  --delta-size S (64: 205-byte lines)  --rtt N (2000)
 *   --warmup N (200)  --rounds R (3)  --quick  --json (instead of the table)
 *   --json-out FILE (the JSON too)  --strict (exit 2 when a goal is missed)
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/tunnel.h"

#define MB 1e6                  /* figures are in decimal megabytes */
#define GOAL_RTT 1.2            /* at most this times raw cat's median RTT */
#define GOAL_TPUT 0.8           /* at least this times raw cat's throughput */
#define READ_SIZE (256u * 1024u)
#define PHASE_SECS 60.0         /* any one phase (handshake, RTT loop, turn) */
#define CLOSE_SECS 5.0
#define RTT_BLOCK 50           /* sequential round trips on one path */
#define RTT_REWARM 5           /* untimed ones before each block */

enum path { P_RAW, P_PLAIN, P_FRAMED, P_ZLIB, P_DIRECT, P_RELAYED, P_LOCAL, NPATHS };
enum mode { M_ECHO, M_JSONL, M_FRAMED };
enum cat { C_CLIENT, C_SSH, C_SSHD, C_SUBSYS, C_BACKEND, NCATS };

static const char *path_name[NPATHS] = {
	"raw", "plain", "framed", "framed_zlib", "backend_direct", "backend_relayed",
	"backend_local"
};
static const char *cat_name[NCATS] = { "client", "ssh", "sshd", "subsystem", "backend" };

static const char delta_prefix[] = "{\"method\":\"item/agentMessage/delta\"";

/* ---- options and results ------------------------------------------------- */

/* Not const: they end up in an execvp() argument vector. */
static char opt_ssh[] = "ssh", opt_host[] = "testhost", opt_codex[] = "codex";
static char opt_raw[] = "raw", opt_none[] = "", opt_dash_f[] = "-F", opt_dash_s[] = "-s";
static char *ssh_prog = opt_ssh, *ssh_config, *ssh_host = opt_host;
static char *sub_codex = opt_codex, *sub_raw = opt_raw, *sub_direct = opt_none;
static char *sub_relayed = opt_none;
static char *fake_prog;
static const char *conf_path, *kex_label = "?", *cipher_label = "?";
static pid_t sshd_pid = -1;
static long long n_deltas = 300000, delta_size = 64, n_rtt = 2000, n_warm = 200;
static int n_rounds = 3;
static double bench_deadline;

struct result {
	int ran;
	double *rtt;            /* every timed round trip, in µs, all rounds */
	size_t nrtt;
	double secs[16];        /* flood time per round */
	uint64_t msgs[16];      /* messages per round */
	uint64_t payload[16];   /* JSON line bytes per round */
	uint64_t wire[16];      /* bytes read from the child in the flood */
	int nflood;
	double cpu[NCATS];      /* seconds, all rounds */
	uint64_t cpu_msgs;
};

static struct result res[NPATHS];

/* The raw path's input: every line of the local turn, '\n'-terminated. */
static uint8_t *turn_lines;
static size_t turn_len, turn_cap;
static uint64_t turn_msgs;

/* Children alive now (ssh clients, the local fake), to kill if we fail. */
static pid_t live[NPATHS];

static void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "relay-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	for (int i = 0; i < NPATHS; i++)
		if (live[i] > 0)
			kill(live[i], SIGKILL);
	exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		fatal("out of memory");
	return p;
}

/* ---- CPU time of the processes involved, from /proc ---------------------- */

struct proc {
	int pid, ppid;
	char comm[32];
	double cpu;             /* utime + stime, seconds */
};

struct cpu_snap {
	double cat[NCATS];
};

static int
read_proc(int pid, struct proc *p)
{
	char path[64], buf[1024], *rp;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: the last ')' ends it. */
	if ((rp = strrchr(buf, ')')) == NULL || strchr(buf, '(') == NULL)
		return -1;
	n = (size_t)(rp - strchr(buf, '(') - 1);
	if (n >= sizeof(p->comm))
		n = sizeof(p->comm) - 1;
	memcpy(p->comm, strchr(buf, '(') + 1, n);
	p->comm[n] = '\0';
	/* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime. */
	if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &p->ppid, &ut, &st) != 3)
		return -1;
	p->pid = pid;
	p->cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* Whether pid's command line has conf_path among its arguments. */
static int
runs_with_conf(int pid)
{
	char path[64], buf[4096];
	size_t n, i;
	FILE *f;

	if (conf_path == NULL)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (i = 0; i < n; i += strlen(buf + i) + 1)
		if (strcmp(buf + i, conf_path) == 0)
			return 1;
	return 0;
}

static enum cat
categorise(const struct proc *p)
{
	if (p->pid == getpid())
		return C_CLIENT;
	if (strcmp(p->comm, "ssh") == 0)
		return C_SSH;
	if (strncmp(p->comm, "sshd", 4) == 0)
		return C_SSHD;
	if (strncmp(p->comm, "codex-subsys", 12) == 0)
		return C_SUBSYS;
	return C_BACKEND;       /* cat, the fake, a shell that execs them */
}

/*
 * Sums the CPU time of this process, its descendants, our sshd and its
 * descendants, and session hosts started with our configuration (they are
 * detached from sshd) and their descendants. Other people's processes on the
 * machine are not counted.
 */
static void
cpu_snapshot(struct cpu_snap *cs)
{
	struct proc *ps = NULL;
	size_t np = 0, cap = 0, i, k;
	struct dirent *de;
	DIR *d;
	int *root;

	memset(cs, 0, sizeof(*cs));
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (np == cap) {
			cap = cap ? cap * 2 : 512;
			ps = xrealloc(ps, cap * sizeof(*ps));
		}
		if (read_proc(atoi(de->d_name), &ps[np]) == 0)
			np++;
	}
	closedir(d);
	root = calloc(np ? np : 1, sizeof(*root));
	if (root == NULL)
		fatal("out of memory");
	for (i = 0; i < np; i++)
		root[i] = ps[i].pid == getpid() || ps[i].pid == sshd_pid ||
		    (strncmp(ps[i].comm, "codex-subsys", 12) == 0 &&
		    runs_with_conf(ps[i].pid));
	for (i = 0; i < np; i++) {
		int pid = ps[i].pid, depth, in = 0;

		for (depth = 0; depth < 64 && pid > 1 && !in; depth++) {
			for (k = 0; k < np && ps[k].pid != pid; k++)
				;
			if (k == np)
				break;
			if (root[k])
				in = 1;
			pid = ps[k].ppid;
		}
		if (in)
			cs->cat[categorise(&ps[i])] += ps[i].cpu;
	}
	free(root);
	free(ps);
}

/* ---- a child process over pipes ------------------------------------------ */

struct link {
	enum path path;
	enum mode mode;
	pid_t pid;
	int in, out;            /* its stdin (we write), its stdout (we read) */
	struct tunnel *t;
	struct buf *obuf;
	const uint8_t *bulk;    /* raw flood: written after obuf */
	size_t bulk_len;
	uint8_t *part;          /* an incomplete line */
	size_t plen, pcap;
	uint64_t wire_in;
	int closing;
};

/* What the messages seen so far amount to. */
struct rx {
	long long want_id;      /* a reply we wait for, -1 none */
	int got;
	char thread[64];
	int welcomed;
	int flooding;
	int turn_done;
	int capture;
	uint64_t msgs, deltas, payload;
	size_t expect_off;      /* raw: bytes of turn_lines read back */
};

static void
link_start(struct link *l, enum path p, char **argv)
{
	int in[2], out[2];

	memset(l, 0, sizeof(*l));
	l->path = p;
	l->mode = p == P_RAW ? M_ECHO : (p == P_FRAMED || p == P_ZLIB) ? M_FRAMED : M_JSONL;
	/* Close-on-exec: another path's child must not hold our ends open, or
	 * closing a child's stdin would not reach it as EOF. */
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		fatal("pipe: %s", strerror(errno));
	if ((l->pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (l->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execvp(argv[0], argv);
		fprintf(stderr, "relay-bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	live[p] = l->pid;
	close(in[0]);
	close(out[1]);
	l->in = in[1];
	l->out = out[0];
	fcntl(l->in, F_SETFL, O_NONBLOCK);
	fcntl(l->out, F_SETFL, O_NONBLOCK);
	if ((l->obuf = buf_new(64u << 20)) == NULL)
		fatal("out of memory");
	if (l->mode == M_FRAMED) {
		struct tunnel_opts to;

		memset(&to, 0, sizeof(to));
		to.features = p == P_ZLIB ? FRAME_FEAT_ZLIB : 0;
		to.journal.mem_max = 64u << 20;
		if ((l->t = tunnel_new(&to)) == NULL)
			fatal("out of memory");
		if (tunnel_connect(l->t, l->obuf) != 0)
			fatal("tunnel_connect failed");
	}
}

/* Queues one message: a line, or a framed message. */
static void
link_send(struct link *l, const char *msg, size_t len)
{
	if (l->mode == M_FRAMED) {
		if (tunnel_send(l->t, msg, len) != 0)
			fatal("tunnel_send failed");
		return;
	}
	if (buf_put(l->obuf, msg, len) != 0 || buf_put(l->obuf, "\n", 1) != 0)
		fatal("output buffer full");
}

static int
starts(const char *m, size_t len, const char *pre, size_t plen)
{
	return len >= plen && memcmp(m, pre, plen) == 0;
}

/* One message from the child. */
static void
on_msg(struct link *l, struct rx *rx, const char *m, size_t len)
{
	if (rx->flooding) {
		rx->msgs++;
		rx->payload += len + 1;
		if (rx->capture) {
			if (turn_len + len + 1 > turn_cap) {
				turn_cap = turn_cap ? turn_cap * 2 : (64u << 20);
				while (turn_cap < turn_len + len + 1)
					turn_cap *= 2;
				turn_lines = xrealloc(turn_lines, turn_cap);
			}
			memcpy(turn_lines + turn_len, m, len);
			turn_lines[turn_len + len] = '\n';
			turn_len += len + 1;
		}
		if (l->mode == M_ECHO) {
			if (rx->expect_off + len + 1 > turn_len ||
			    memcmp(turn_lines + rx->expect_off, m, len) != 0 ||
			    turn_lines[rx->expect_off + len] != '\n')
				fatal("raw: line %llu came back different",
				    (unsigned long long)rx->msgs);
			rx->expect_off += len + 1;
			return;
		}
	}
	if (starts(m, len, delta_prefix, sizeof(delta_prefix) - 1)) {
		rx->deltas++;
		return;
	}
	if (starts(m, len, "{\"id\":", 6)) {
		long long id = 0;
		size_t k;

		for (k = 6; k < len && k < 24 && m[k] >= '0' && m[k] <= '9'; k++)
			id = id * 10 + (m[k] - '0');

		if (id == rx->want_id) {
			static const char key[] = "\"thread\":{\"id\":\"";
			const char *p = memmem(m, len, key, sizeof(key) - 1), *q;

			rx->got = 1;
			if (p != NULL && rx->thread[0] == '\0') {
				p += sizeof(key) - 1;
				q = memchr(p, '"', len - (size_t)(p - m));
				if (q != NULL && (size_t)(q - p) < sizeof(rx->thread))
					memcpy(rx->thread, p, (size_t)(q - p));
			}
			if (memmem(m, len, "\"error\":", 8) != NULL)
				fatal("%s: request %lld failed: %.200s", path_name[l->path],
				    id, m);
		}
		return;
	}
	if (rx->flooding && memmem(m, len, "\"method\":\"turn/completed\"", 25) != NULL)
		rx->turn_done = 1;
}

/* Splits a read into lines (plain, raw). */
static void
on_bytes(struct link *l, struct rx *rx, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *nl;
	size_t k;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		k = (size_t)(nl - p);
		if (l->plen > 0 || nl == end) {
			if (l->plen + k > l->pcap) {
				l->pcap = l->plen + k + 4096;
				l->part = xrealloc(l->part, l->pcap);
			}
			memcpy(l->part + l->plen, p, k);
			l->plen += k;
			if (nl == end)
				return;
			on_msg(l, rx, (const char *)l->part, l->plen);
			l->plen = 0;
		} else
			on_msg(l, rx, (const char *)p, k);
		p = nl + 1;
	}
}

static void
on_frames(struct link *l, struct rx *rx, const uint8_t *p, size_t n)
{
	struct tunnel_event ev;
	int r;

	if (tunnel_feed(l->t, p, n) != 0)
		fatal("%s: garbage from the server", path_name[l->path]);
	while ((r = tunnel_next(l->t, l->obuf, &ev)) == 1) {
		switch (ev.type) {
		case TUNNEL_EV_WELCOME:
			rx->welcomed = 1;
			break;
		case TUNNEL_EV_MESSAGE:
			on_msg(l, rx, (const char *)ev.msg, ev.len);
			break;
		case TUNNEL_EV_PONG:
			break;
		case TUNNEL_EV_CLOSE:
		case TUNNEL_EV_ERROR:
			if (l->closing)
				return;
			fatal("%s: server %s %u: %s", path_name[l->path],
			    ev.type == TUNNEL_EV_CLOSE ? "closed" : "error", ev.code,
			    ev.reason);
		}
	}
	if (r < 0)
		fatal("%s: protocol error: %s", path_name[l->path], ev.reason);
}

/* Writes what it can without waiting. */
static void
link_write(struct link *l)
{
	ssize_t n;

	if (l->mode == M_FRAMED)
		PROTO_IGNORE(tunnel_flush(l->t, l->obuf, 1u << 20));
	for (;;) {
		const uint8_t *p;
		size_t len;

		if (buf_len(l->obuf) > 0) {
			p = buf_ptr(l->obuf);
			len = buf_len(l->obuf);
		} else if (l->bulk_len > 0) {
			p = l->bulk;
			len = l->bulk_len < (1u << 20) ? l->bulk_len : (1u << 20);
		} else
			return;
		n = write(l->in, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			fatal("%s: write to the child: %s", path_name[l->path], strerror(errno));
		if (buf_len(l->obuf) > 0)
			buf_consume(l->obuf, (size_t)n);
		else {
			l->bulk += n;
			l->bulk_len -= (size_t)n;
		}
	}
}

static int
pending(const struct link *l)
{
	return buf_len(l->obuf) > 0 || l->bulk_len > 0;
}

/*
 * Moves bytes until done(rx) holds. The write is tried before waiting, so a round
 * trip costs the same system calls on every path: write, poll, read.
 */
static void
pump(struct link *l, struct rx *rx, int (*done)(const struct link *, const struct rx *),
    const char *what)
{
	static uint8_t rb[READ_SIZE];
	double deadline = now() + PHASE_SECS;
	struct pollfd pf[2];
	ssize_t n;

	if (deadline > bench_deadline)
		deadline = bench_deadline;
	for (;;) {
		link_write(l);
		if (done(l, rx))
			return;
		pf[0] = (struct pollfd){ .fd = l->out, .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = pending(l) ? l->in : -1, .events = POLLOUT };
		if (poll(pf, 2, 1000) < 0 && errno != EINTR)
			fatal("poll: %s", strerror(errno));
		if (now() > deadline)
			fatal("%s: %s timed out", path_name[l->path], what);
		if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(l->out, rb, sizeof(rb));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			fatal("%s: the child closed its output during %s", path_name[l->path],
			    what);
		l->wire_in += (uint64_t)n;
		if (l->mode == M_FRAMED)
			on_frames(l, rx, rb, (size_t)n);
		else
			on_bytes(l, rx, rb, (size_t)n);
	}
}

static int done_reply(const struct link *l, const struct rx *rx) { (void)l; return rx->got; }
static int done_welcome(const struct link *l, const struct rx *rx) { (void)l; return rx->welcomed; }
static int done_turn(const struct link *l, const struct rx *rx) { (void)l; return rx->turn_done; }

static int
done_echo(const struct link *l, const struct rx *rx)
{
	return l->bulk_len == 0 && rx->expect_off == turn_len;
}

/* Sends a request and waits for its reply. */
static void
request(struct link *l, struct rx *rx, long long id, const char *msg, size_t len,
    const char *what)
{
	rx->want_id = id;
	rx->got = 0;
	link_send(l, msg, len);
	pump(l, rx, done_reply, what);
}

/* Ends the session, lets the child exit, and reaps it. */
static void
link_stop(struct link *l)
{
	double deadline = now() + CLOSE_SECS;
	uint8_t rb[65536];
	int st, gone = 0;
	ssize_t n;

	l->closing = 1;
	l->bulk_len = 0;
	if (l->mode == M_FRAMED && tunnel_close(l->t, l->obuf) == 0) {
		while (buf_len(l->obuf) > 0 && now() < deadline) {
			struct pollfd pf = { .fd = l->in, .events = POLLOUT };

			if (poll(&pf, 1, 50) <= 0)
				continue;
			n = write(l->in, buf_ptr(l->obuf), buf_len(l->obuf));
			if (n > 0)
				buf_consume(l->obuf, (size_t)n);
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				break;
		}
	}
	close(l->in);
	/* Drain its output until it exits, so it never blocks on a full pipe. */
	while (!gone && now() < deadline) {
		struct pollfd pf = { .fd = l->out, .events = POLLIN };

		if (poll(&pf, 1, 50) > 0) {
			n = read(l->out, rb, sizeof(rb));
			if (n == 0)
				break;
		}
		gone = waitpid(l->pid, &st, WNOHANG) == l->pid;
	}
	if (!gone) {
		for (;;) {
			if (waitpid(l->pid, &st, WNOHANG) == l->pid)
				break;
			if (now() >= deadline) {
				kill(l->pid, SIGKILL);
				waitpid(l->pid, &st, 0);
				break;
			}
			usleep(10000);
		}
	}
	live[l->path] = 0;
	close(l->out);
	buf_free(l->obuf);
	tunnel_free(l->t);
	free(l->part);
}

/* ---- one path, one round -------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static char **
path_argv(enum path p)
{
	static char *argv[16];
	int n = 0;

	if (p == P_LOCAL) {
		argv[n++] = fake_prog;
	} else {
		argv[n++] = ssh_prog;
		argv[n++] = opt_dash_f;
		argv[n++] = ssh_config;
		argv[n++] = opt_dash_s;
		argv[n++] = ssh_host;
		argv[n++] = p == P_RAW ? sub_raw : p == P_DIRECT ? sub_direct :
		    p == P_RELAYED ? sub_relayed : sub_codex;
	}
	argv[n] = NULL;
	return argv;
}

/* One open path: its child, what it sent, the next request id. */
struct conn {
	enum path p;
	struct link l;
	struct rx rx;
	long long id;
};

/* Starts the child and does the handshake (framed: WELCOME; codex: initialize,
 * initialized, thread/start). */
static void
conn_open(struct conn *c, enum path p)
{
	char msg[512];
	int n;

	memset(c, 0, sizeof(*c));
	c->p = p;
	c->id = 1;
	c->rx.want_id = -1;
	link_start(&c->l, p, path_argv(p));
	if (c->l.mode == M_FRAMED)
		pump(&c->l, &c->rx, done_welcome, "the handshake");
	if (c->l.mode == M_ECHO)
		return;
	n = snprintf(msg, sizeof(msg), "{\"id\":%lld,\"method\":\"initialize\","
	    "\"params\":{\"clientInfo\":{\"name\":\"relay-bench\",\"version\":\"0\"}}}",
	    c->id);
	request(&c->l, &c->rx, c->id, msg, (size_t)n, "initialize");
	c->id++;
	link_send(&c->l, "{\"method\":\"initialized\"}", 24);
	n = snprintf(msg, sizeof(msg), "{\"id\":%lld,\"method\":\"thread/start\","
	    "\"params\":{}}", c->id);
	request(&c->l, &c->rx, c->id, msg, (size_t)n, "thread/start");
	c->id++;
	if (c->rx.thread[0] == '\0')
		fatal("%s: thread/start gave no thread id", path_name[p]);
}

/* One round trip, the same request bytes on every path; records it if timed. */
static void
conn_rtt(struct conn *c, int timed)
{
	struct result *r = &res[c->p];
	char msg[128];
	double t0;
	int n;

	n = snprintf(msg, sizeof(msg), "{\"id\":%lld,\"method\":\"fake/echo\","
	    "\"params\":{\"x\":1}}", c->id);
	t0 = now();
	request(&c->l, &c->rx, c->id, msg, (size_t)n, "the round trips");
	c->id++;
	if (timed)
		r->rtt[r->nrtt++] = (now() - t0) * 1e6;
}

/* The turn (raw: the captured turn's lines through cat), timed. */
static void
conn_flood(struct conn *c)
{
	struct result *r = &res[c->p];
	struct link *l = &c->l;
	struct rx *rx = &c->rx;
	struct cpu_snap c0, c1;
	char msg[512];
	double t0, secs;
	uint64_t wire0;
	int k, n;

	rx->flooding = 1;
	rx->msgs = rx->payload = rx->deltas = 0;
	rx->capture = c->p == P_LOCAL && turn_len == 0;
	cpu_snapshot(&c0);
	wire0 = l->wire_in;
	t0 = now();
	if (l->mode == M_ECHO) {
		if (turn_len == 0)
			fatal("raw: no captured turn to echo");
		l->bulk = turn_lines;
		l->bulk_len = turn_len;
		rx->expect_off = 0;
		pump(l, rx, done_echo, "the flood");
	} else {
		n = snprintf(msg, sizeof(msg), "{\"id\":%lld,\"method\":\"turn/start\","
		    "\"params\":{\"threadId\":\"%s\",\"input\":[{\"type\":\"text\","
		    "\"text\":\"deltas=%lld delta-size=%lld\"}]}}", c->id++, rx->thread,
		    n_deltas, delta_size);
		rx->turn_done = 0;
		link_send(l, msg, (size_t)n);
		pump(l, rx, done_turn, "the turn");
		if (rx->deltas != (uint64_t)n_deltas)
			fatal("%s: the turn ended after %llu deltas of %lld", path_name[c->p],
			    (unsigned long long)rx->deltas, n_deltas);
	}
	secs = now() - t0;
	cpu_snapshot(&c1);
	rx->flooding = 0;
	if (rx->capture)
		turn_msgs = rx->msgs;
	rx->capture = 0;
	if (l->mode == M_ECHO && rx->msgs != turn_msgs)
		fatal("raw: %llu lines came back, %llu sent", (unsigned long long)rx->msgs,
		    (unsigned long long)turn_msgs);
	k = r->nflood++;
	r->secs[k] = secs;
	r->msgs[k] = rx->msgs;
	r->payload[k] = rx->payload;
	r->wire[k] = l->wire_in - wire0;
	for (k = 0; k < NCATS; k++)
		r->cpu[k] += c1.cat[k] - c0.cat[k] > 0 ? c1.cat[k] - c0.cat[k] : 0;
	r->cpu_msgs += rx->msgs;
	r->ran = 1;
}

/*
 * One round. Every path's connection is open at once and the round trips
 * alternate between them, so each path's latency is sampled under the same load
 * of the machine at the same moments; the floods, which load the machine
 * themselves, run one after the other.
 */
static void
run_round(const enum path *ps, int np, int round)
{
	struct conn *cs = calloc((size_t)np, sizeof(*cs));
	long long i;
	int k, q;

	if (cs == NULL)
		fatal("out of memory");
	for (k = 0; k < np; k++) {
		conn_open(&cs[k], ps[k]);
		res[ps[k]].rtt = xrealloc(res[ps[k]].rtt,
		    (res[ps[k]].nrtt + (size_t)n_rtt) * sizeof(double));
	}
	/* Round trips in blocks of RTT_BLOCK per path, paths in turn; the first
	 * RTT_REWARM of a block (the processes of that path were idle meanwhile)
	 * and the first n_warm of a round are not timed. */
	for (i = 0; i < n_warm; i++)
		for (k = 0; k < np; k++)
			conn_rtt(&cs[k], 0);
	for (i = 0; i < n_rtt; i += RTT_BLOCK) {
		long long b, nb = n_rtt - i < RTT_BLOCK ? n_rtt - i : RTT_BLOCK;

		for (k = 0; k < np; k++) {
			q = (k + (int)(i / RTT_BLOCK) + round) % np;
			for (b = 0; b < RTT_REWARM; b++)
				conn_rtt(&cs[q], 0);
			for (b = 0; b < nb; b++)
				conn_rtt(&cs[q], 1);
		}
	}
	/* The local run floods first: it captures the lines raw echoes. */
	for (k = 0; k < np; k++)
		if (ps[k] == P_LOCAL)
			conn_flood(&cs[k]);
	for (k = 0; k < np; k++) {
		q = (k + round) % np;
		if (ps[q] != P_LOCAL)
			conn_flood(&cs[q]);
	}
	for (k = 0; k < np; k++)
		link_stop(&cs[k].l);
	free(cs);
}

/* ---- report -------------------------------------------------------------- */

struct fig {
	double rtt_med, rtt_p99, rtt_min, msgs_s, mb_s, wire_mb, wire_ratio, cpu[NCATS];
	double cpu_total;
	uint64_t msgs, payload;
};

static double
median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
figures(enum path p, struct fig *f)
{
	struct result *r = &res[p];
	double v[16];
	int k;

	memset(f, 0, sizeof(*f));
	if (!r->ran)
		return;
	qsort(r->rtt, r->nrtt, sizeof(*r->rtt), cmp_double);
	f->rtt_min = r->rtt[0];
	f->rtt_med = median(r->rtt, r->nrtt);
	f->rtt_p99 = r->rtt[(size_t)((double)(r->nrtt - 1) * 0.99)];
	for (k = 0; k < r->nflood; k++)
		v[k] = (double)r->msgs[k] / r->secs[k];
	f->msgs_s = median(v, (size_t)r->nflood);
	for (k = 0; k < r->nflood; k++)
		v[k] = (double)r->payload[k] / MB / r->secs[k];
	f->mb_s = median(v, (size_t)r->nflood);
	f->msgs = r->msgs[0];
	f->payload = r->payload[0];
	f->wire_mb = (double)r->wire[0] / MB;
	f->wire_ratio = r->wire[0] ? (double)r->payload[0] / (double)r->wire[0] : 0;
	for (k = 0; k < NCATS; k++) {
		f->cpu[k] = r->cpu_msgs ? r->cpu[k] * 1e6 / (double)r->cpu_msgs : 0;
		f->cpu_total += f->cpu[k];
	}
}

/* Prints s as a JSON string. */
static void
json_str(FILE *f, const char *s)
{
	putc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

static void
json_row(FILE *jf, enum path p, const struct fig *fg, int comma, const int *goal_rtt,
    const int *goal_tput)
{
	const struct fig *f = &fg[p];
	int i;

	fprintf(jf, "%s{\"path\":\"%s\",\"rtt_us\":%.1f,\"rtt_p99_us\":%.1f,"
	    "\"rtt_min_us\":%.1f,\"msgs_per_s\":%.0f,\"mb_per_s\":%.2f,"
	    "\"wire_bytes\":%llu,\"payload_bytes\":%llu,\"wire_ratio\":%.2f,"
	    "\"rtt_vs_raw\":%.3f,\"tput_vs_raw\":%.3f,", comma ? "," : "",
	    path_name[p], f->rtt_med, f->rtt_p99, f->rtt_min, f->msgs_s, f->mb_s,
	    (unsigned long long)res[p].wire[0], (unsigned long long)f->payload,
	    f->wire_ratio, fg[P_RAW].rtt_med > 0 ? f->rtt_med / fg[P_RAW].rtt_med : 0,
	    fg[P_RAW].msgs_s > 0 ? f->msgs_s / fg[P_RAW].msgs_s : 0);
	fprintf(jf, "\"cpu_us_per_msg\":{");
	for (i = 0; i < NCATS; i++)
		fprintf(jf, "\"%s\":%.2f,", cat_name[i], f->cpu[i]);
	fprintf(jf, "\"total\":%.2f}", f->cpu_total);
	if (p == P_PLAIN || p == P_FRAMED || p == P_ZLIB)
		fprintf(jf, ",\"goal_rtt_met\":%s,\"goal_tput_met\":%s",
		    goal_rtt[p] ? "true" : "false", goal_tput[p] ? "true" : "false");
	fprintf(jf, "}");
}

/* ---- --relay PROG: the least a relay process can do ----------------------- */

/*
 * Runs PROG with pipes and copies stdin to it and its stdout to ours, nothing
 * else: no parsing, one poll() loop, 64 KiB buffers. As a subsystem in front of
 * the fake it has the same process topology as codex-subsystem in plain mode, so
 * the difference to plain is what codex-subsystem's own code costs.
 */
struct pipebuf {
	uint8_t d[65536];
	size_t off, len;
	int from, to;
	int eof;
};

static int
relay_main(char *prog)
{
	struct pipebuf up = { .from = 0 }, down = { .to = 1 };
	struct pipebuf *pb[2] = { &up, &down };
	int in[2], out[2], i, st;
	char *argv[2] = { prog, NULL };
	pid_t pid;
	ssize_t n = 0;

	signal(SIGPIPE, SIG_IGN);
	if (pipe(in) != 0 || pipe(out) != 0 || (pid = fork()) < 0)
		fatal("relay: %s", strerror(errno));
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execv(prog, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	up.to = in[1];
	down.from = out[0];
	for (i = 0; i < 2; i++) {
		fcntl(pb[i]->from, F_SETFL, fcntl(pb[i]->from, F_GETFL) | O_NONBLOCK);
		fcntl(pb[i]->to, F_SETFL, fcntl(pb[i]->to, F_GETFL) | O_NONBLOCK);
	}
	while (!(down.eof && down.len == 0)) {
		struct pollfd pf[4];

		for (i = 0; i < 2; i++) {
			pf[2 * i] = (struct pollfd){ .fd = !pb[i]->eof && pb[i]->len == 0 ?
			    pb[i]->from : -1, .events = POLLIN };
			pf[2 * i + 1] = (struct pollfd){ .fd = pb[i]->len > 0 ? pb[i]->to : -1,
			    .events = POLLOUT };
		}
		if (poll(pf, 4, -1) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 2; i++) {
			struct pipebuf *b = pb[i];

			if (pf[2 * i].revents) {
				n = read(b->from, b->d, sizeof(b->d));
				if (n > 0) {
					b->off = 0;
					b->len = (size_t)n;
				} else if (n == 0 || errno != EAGAIN) {
					b->eof = 1;
					if (b == &up) {
						close(up.to);
						up.to = -1;
					}
				}
			}
			/* Write at once: a round trip must not wait for another poll. */
			while (b->len > 0 && b->to >= 0) {
				n = write(b->to, b->d + b->off, b->len);
				if (n <= 0)
					break;
				b->off += (size_t)n;
				b->len -= (size_t)n;
			}
			if (b->len > 0 && n < 0 && errno != EAGAIN && errno != EINTR)
				return 1;
		}
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: relay-bench --ssh-config FILE --fake PATH [--host NAME] "
	    "[--direct-subsystem NAME] [--relayed-subsystem NAME] [--conf PATH] [--sshd-pid PID] [--kex S] "
	    "[--cipher S] [--deltas N] [--delta-size S] [--rtt N] [--warmup N] "
	    "[--rounds R] [--quick] [--json] [--json-out FILE] [--strict]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ssh", required_argument, NULL, 'S' },
		{ "ssh-config", required_argument, NULL, 'F' },
		{ "host", required_argument, NULL, 'H' },
		{ "subsystem", required_argument, NULL, 'c' },
		{ "raw-subsystem", required_argument, NULL, 'r' },
		{ "direct-subsystem", required_argument, NULL, 'd' },
		{ "relayed-subsystem", required_argument, NULL, 'y' },
		{ "relay", required_argument, NULL, 'Y' },
		{ "fake", required_argument, NULL, 'f' },
		{ "conf", required_argument, NULL, 'C' },
		{ "sshd-pid", required_argument, NULL, 'P' },
		{ "kex", required_argument, NULL, 'k' },
		{ "cipher", required_argument, NULL, 'e' },
		{ "deltas", required_argument, NULL, 'n' },
		{ "delta-size", required_argument, NULL, 's' },
		{ "rtt", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "strict", no_argument, NULL, 'x' },
		{ "json-out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	static const enum path order[] = { P_RAW, P_PLAIN, P_FRAMED, P_ZLIB, P_DIRECT,
	    P_RELAYED };
	const int norder = (int)(sizeof(order) / sizeof(order[0]));
	struct fig fg[NPATHS];
	enum path run[NPATHS];
	int np, ch, json = 0, quick = 0, strict = 0, round, i, p, miss = 0;
	int goal_rtt[NPATHS], goal_tput[NPATHS];
	double t_start = now(), load[3] = { 0, 0, 0 };
	const char *json_out = NULL;
	FILE *jf = NULL;
	FILE *f;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': ssh_prog = optarg; break;
		case 'F': ssh_config = optarg; break;
		case 'H': ssh_host = optarg; break;
		case 'c': sub_codex = optarg; break;
		case 'r': sub_raw = optarg; break;
		case 'd': sub_direct = optarg; break;
		case 'y': sub_relayed = optarg; break;
		case 'Y': return relay_main(optarg);
		case 'f': fake_prog = optarg; break;
		case 'C': conf_path = optarg; break;
		case 'P': sshd_pid = atoi(optarg); break;
		case 'k': kex_label = optarg; break;
		case 'e': cipher_label = optarg; break;
		case 'n': n_deltas = atoll(optarg); break;
		case 's': delta_size = atoll(optarg); break;
		case 't': n_rtt = atoll(optarg); break;
		case 'w': n_warm = atoll(optarg); break;
		case 'R': n_rounds = atoi(optarg); break;
		case 'q': quick = 1; break;
		case 'j': json = 1; break;
		case 'x': strict = 1; break;
		case 'o': json_out = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || ssh_config == NULL || fake_prog == NULL)
		usage();
	if (quick) {
		n_deltas = 100000;
		n_rtt = 500;
		n_warm = 50;
		n_rounds = 1;
	}
	if (n_deltas < 1 || n_deltas > 10000000 || n_rtt < 10 || n_rtt > 1000000 ||
	    n_warm < 0 || n_rounds < 1 || n_rounds > 16 || delta_size < 0 ||
	    delta_size > 65536)
		fatal("an option is out of range");
	signal(SIGPIPE, SIG_IGN);
	/* Bounded no matter what the machine does. */
	bench_deadline = t_start + 110;
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = load[1] = load[2] = 0;
		fclose(f);
	}

	np = 0;
	run[np++] = P_LOCAL;
	for (i = 0; i < norder; i++)
		if (!(order[i] == P_DIRECT && sub_direct[0] == '\0') &&
		    !(order[i] == P_RELAYED && sub_relayed[0] == '\0'))
			run[np++] = order[i];
	for (round = 0; round < n_rounds; round++)
		run_round(run, np, round);

	for (p = 0; p < NPATHS; p++)
		figures((enum path)p, &fg[p]);
	for (p = 0; p < NPATHS; p++) {
		goal_rtt[p] = fg[p].rtt_med <= GOAL_RTT * fg[P_RAW].rtt_med;
		goal_tput[p] = fg[p].msgs_s >= GOAL_TPUT * fg[P_RAW].msgs_s;
		if ((p == P_PLAIN || p == P_FRAMED || p == P_ZLIB) &&
		    (!goal_rtt[p] || !goal_tput[p]))
			miss = 1;
	}

	if (json)
		jf = stdout;
	else if (json_out != NULL && (jf = fopen(json_out, "w")) == NULL)
		fatal("%s: %s", json_out, strerror(errno));
	if (jf != NULL) {
		fprintf(jf, "{\"bench\":\"relay-bench\",\"deltas\":%lld,\"delta_line_bytes\":%.1f,"
		    "\"turn_messages\":%llu,\"turn_payload_bytes\":%llu,"
		    "\"rtt_round_trips\":%lld,\"rounds\":%d,"
		    "\"ssh_kex\":",
		    n_deltas, (double)fg[P_LOCAL].payload / (double)fg[P_LOCAL].msgs,
		    (unsigned long long)fg[P_LOCAL].msgs,
		    (unsigned long long)fg[P_LOCAL].payload, n_rtt, n_rounds);
		json_str(jf, kex_label);
		fprintf(jf, ",\"ssh_cipher\":");
		json_str(jf, cipher_label);
		fprintf(jf, ",\"same_ssh_for_all\":true,\"loadavg\":%.2f,\"cpus\":%ld,"
		    "\"rows\":[", load[0], sysconf(_SC_NPROCESSORS_ONLN));
		for (p = P_RAW; p <= P_ZLIB; p++)
			json_row(jf, (enum path)p, fg, p > P_RAW, goal_rtt, goal_tput);
		fprintf(jf, "],\"reference\":[");
		for (i = 0, p = P_DIRECT; p <= P_LOCAL; p++)
			if (res[p].ran)
				json_row(jf, (enum path)p, fg, i++ > 0, goal_rtt, goal_tput);
		if (res[P_DIRECT].ran && res[P_RELAYED].ran)
			fprintf(jf, "],\"rtt_breakdown_us\":{\"backend_vs_cat\":%.1f,"
			    "\"relay_process_hop\":%.1f,\"subsystem_work\":%.1f,"
			    "\"framing\":%.1f,\"zlib\":%.1f",
			    fg[P_DIRECT].rtt_med - fg[P_RAW].rtt_med,
			    fg[P_RELAYED].rtt_med - fg[P_DIRECT].rtt_med,
			    fg[P_PLAIN].rtt_med - fg[P_RELAYED].rtt_med,
			    fg[P_FRAMED].rtt_med - fg[P_PLAIN].rtt_med,
			    fg[P_ZLIB].rtt_med - fg[P_FRAMED].rtt_med);
		fprintf(jf, "%s,\"goal_rtt_vs_raw\":%.1f,\"goal_tput_vs_raw\":%.1f,"
		    "\"goals_met\":%s,\"seconds\":%.1f}\n",
		    res[P_DIRECT].ran && res[P_RELAYED].ran ? "}" : "]", GOAL_RTT, GOAL_TPUT,
		    miss ? "false" : "true", now() - t_start);
	}
	if (!json) {
		printf("relay-bench: %lld deltas per turn (%llu messages, %.1f MB of JSON "
		    "lines, %.0f B each), %lld round trips x %d rounds; MB = 10^6 bytes\n",
		    n_deltas, (unsigned long long)fg[P_LOCAL].msgs,
		    (double)fg[P_LOCAL].payload / MB,
		    (double)fg[P_LOCAL].payload / (double)fg[P_LOCAL].msgs, n_rtt, n_rounds);
		printf("every path: the same sshd on 127.0.0.1, the same ssh client and "
		    "options (ssh -F CFG -s HOST SUBSYSTEM), so the same kex (%s) and "
		    "cipher (%s); %ld CPUs, load %.2f at start\n",
		    kex_label, cipher_label, sysconf(_SC_NPROCESSORS_ONLN), load[0]);
		printf("raw echoes through cat: its bytes cross the channel both ways. "
		    "Throughput is the median round; RTT over all rounds.\n\n");
		printf("%-14s %8s %8s %9s %8s %8s %7s %7s %7s | %-39s\n", "path",
		    "rtt µs", "p99 µs", "msgs/s", "MB/s", "wire MB", "x zlib", "rtt/raw",
		    "tpt/raw", "CPU µs/msg: client ssh sshd subsys backend");
		for (p = 0; p < NPATHS; p++) {
			if (!res[p].ran)
				continue;
			if (p == P_DIRECT || (p == P_LOCAL && !res[P_DIRECT].ran &&
			    !res[P_RELAYED].ran))
				printf("reference (where the cost is): backend_direct = the fake "
				    "as the subsystem; backend_relayed = the fake behind a "
				    "do-nothing relay;\n  backend_local = the fake on a pipe, "
				    "no SSH\n");
			printf("%-14s %8.0f %8.0f %9.0f %8.1f %8.1f %7.2f %7.2f %7.2f | "
			    "%6.2f %5.2f %5.2f %6.2f %7.2f = %.1f\n",
			    path_name[p], fg[p].rtt_med, fg[p].rtt_p99, fg[p].msgs_s, fg[p].mb_s,
			    fg[p].wire_mb, fg[p].wire_ratio,
			    fg[P_RAW].rtt_med > 0 ? fg[p].rtt_med / fg[P_RAW].rtt_med : 0,
			    fg[P_RAW].msgs_s > 0 ? fg[p].msgs_s / fg[P_RAW].msgs_s : 0,
			    fg[p].cpu[C_CLIENT], fg[p].cpu[C_SSH], fg[p].cpu[C_SSHD],
			    fg[p].cpu[C_SUBSYS], fg[p].cpu[C_BACKEND], fg[p].cpu_total);
		}
		printf("\n");
		for (p = P_PLAIN; p <= P_ZLIB; p++)
			printf("goal %-12s RTT <= %.1f x raw: %5.2f x %-7s  throughput >= "
			    "%.1f x raw: %5.2f x %s\n", path_name[p], GOAL_RTT,
			    fg[P_RAW].rtt_med > 0 ? fg[p].rtt_med / fg[P_RAW].rtt_med : 0,
			    goal_rtt[p] ? "met" : "MISSED", GOAL_TPUT,
			    fg[P_RAW].msgs_s > 0 ? fg[p].msgs_s / fg[P_RAW].msgs_s : 0,
			    goal_tput[p] ? "met" : "MISSED");
		if (res[P_DIRECT].ran && res[P_RELAYED].ran)
			printf("RTT, where it goes (medians, µs): the fake instead of cat "
			    "%+.0f; one relay process in between %+.0f; codex-subsystem's own "
			    "work %+.0f; framing %+.0f, zlib %+.0f\n",
			    fg[P_DIRECT].rtt_med - fg[P_RAW].rtt_med,
			    fg[P_RELAYED].rtt_med - fg[P_DIRECT].rtt_med,
			    fg[P_PLAIN].rtt_med - fg[P_RELAYED].rtt_med,
			    fg[P_FRAMED].rtt_med - fg[P_PLAIN].rtt_med,
			    fg[P_ZLIB].rtt_med - fg[P_FRAMED].rtt_med);
		printf("(%.1f s)\n", now() - t_start);
	}
	if (jf != NULL && jf != stdout && fclose(jf) != 0)
		fatal("%s: %s", json_out, strerror(errno));
	for (p = 0; p < NPATHS; p++)
		free(res[p].rtt);
	free(turn_lines);
	return strict && miss ? 2 : 0;
}
