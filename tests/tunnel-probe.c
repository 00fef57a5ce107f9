/*
 * tunnel-probe - a scripted framed-mode client for the end-to-end tests.
 *
 * Runs COMMAND (e.g. `ssh -F cfg -s testhost codex`, or codex-subsystem on a
 * pipe), speaks the framed protocol through proto/tunnel.h on its stdin/stdout, and
 * plays a turn against the fake app server: every delta must arrive exactly once
 * and in order, across as many cuts of the link (the command killed and started
 * again, then the session resumed) as asked for.
 *
 * --away SECS keeps the link down that long at each cut before reconnecting (the
 * server holds the session detached meanwhile).
 *
 * --send-lines FILE sends each line of FILE verbatim as one message right after
 * the handshake; error replies that answer none of the probe's own requests are
 * printed as "REJECT <json>" lines instead of failing the run.
 *
 * Prints one summary line: "OK key=value ..." or "FAIL reason", exit 0 or 1;
 * delta_sha256 there is the SHA-256 of every delta string in order, to compare
 * a turn's content with the same turn run another way.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "proto/tunnel.h"

static char **cmd_argv;
static struct tunnel *g_tunnel;
static struct buf *g_out;
static pid_t child = -1;
static int cin = -1, cout = -1;

static long long deltas, cut_every, pause_at = -1, pause_secs;
static double away_secs;
static long long got_deltas;
static int cuts_done, resumes, do_status, compress = 1, expect_code = -1;
static int max_cuts = 1000000, close_at_end = 1, timeout_s = 300;
static const char *prompt_extra = "", *backend = "";
static const char *save_file, *adopt_file, *lines_file;
static char *lines;                     /* lines_file's contents */
static size_t lines_len;
static int rejects;
static char attached[300];              /* WELCOME's note, if any */
static long long big_bytes, big_ok = -1;
static crypto_hash_sha256_state delta_hash;
static double t0;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every exit path frees what main() made, so leak checkers see only real leaks. */
static void
cleanup(void)
{
	tunnel_free(g_tunnel);
	buf_free(g_out);
	free(lines);
	g_tunnel = NULL;
	g_out = NULL;
	lines = NULL;
}

static void
read_lines(const char *path)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "tunnel-probe: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *p = realloc(lines, lines_len + n);

		if (p == NULL) {
			fprintf(stderr, "tunnel-probe: out of memory\n");
			exit(2);
		}
		lines = p;
		memcpy(lines + lines_len, chunk, n);
		lines_len += n;
	}
	fclose(f);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
failf(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (deltas %lld/%lld, cuts %d)\n", got_deltas, deltas, cuts_done);
	fflush(stdout);
	if (child > 0)
		kill(child, SIGKILL);
	exit(1);
}

/* Each line of --send-lines, without its newline, as one message. */
static void
send_lines(struct tunnel *t)
{
	size_t at = 0, n;
	const char *nl;

	while (at < lines_len) {
		nl = memchr(lines + at, '\n', lines_len - at);
		n = nl != NULL ? (size_t)(nl - (lines + at)) : lines_len - at;
		if (tunnel_send(t, lines + at, n) != 0)
			failf("tunnel_send");
		at += n + 1;
	}
}

static void
start_child(void)
{
	int in[2], out[2];

	if (pipe(in) != 0 || pipe(out) != 0)
		failf("pipe: %s", strerror(errno));
	if ((child = fork()) < 0)
		failf("fork: %s", strerror(errno));
	if (child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execvp(cmd_argv[0], cmd_argv);
		fprintf(stderr, "tunnel-probe: cannot run %s: %s\n", cmd_argv[0],
		    strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	cin = in[1];
	cout = out[0];
	fcntl(cin, F_SETFL, O_NONBLOCK);
	fcntl(cout, F_SETFL, O_NONBLOCK);
}

static void
cut_link(void)
{
	int st;

	kill(child, SIGKILL);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	close(cin);
	close(cout);
	cin = cout = -1;
	child = -1;
}

static int next_id = 1;

static void __attribute__((format(printf, 2, 3)))
send_json(struct tunnel *t, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (tunnel_send(t, msg, (size_t)n) != 0)
		failf("tunnel_send");
}

/* Checks one server message against the scenario. Returns 1 when the turn ended. */
static int
on_message(struct tunnel *t, const uint8_t *msg, size_t len, int *phase)
{
	cJSON *m = cJSON_ParseWithLength((const char *)msg, len);
	cJSON *method, *id, *params;
	const char *meth;
	int done = 0;

	if (m == NULL)
		failf("server sent invalid JSON: %.80s", (const char *)msg);
	method = cJSON_GetObjectItem(m, "method");
	id = cJSON_GetObjectItem(m, "id");
	params = cJSON_GetObjectItem(m, "params");
	meth = cJSON_GetStringValue(method);
	if (meth != NULL && strcmp(meth, "item/agentMessage/delta") == 0) {
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(params, "delta"));
		long long k;

		if (d == NULL || sscanf(d, "d%lld", &k) != 1)
			failf("bad delta %.80s", (const char *)msg);
		if (k != got_deltas)
			failf("delta %lld arrived when %lld was expected", k, got_deltas);
		crypto_hash_sha256_update(&delta_hash, (const unsigned char *)d, strlen(d));
		got_deltas++;
	} else if (meth != NULL && strcmp(meth, "item/commandExecution/outputDelta") == 0) {
		cJSON *d = cJSON_GetObjectItem(params, "delta");
		const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(params, "sha256"));

		if (cJSON_IsString(d)) {
			size_t dl = strlen(d->valuestring);

			big_bytes += (long long)dl;
			if (want != NULL) {
				unsigned char md[crypto_hash_sha256_BYTES];
				char hex[crypto_hash_sha256_BYTES * 2 + 1];

				crypto_hash_sha256(md, (const unsigned char *)d->valuestring, dl);
				sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
				big_ok = strcmp(hex, want) == 0;
				if (!big_ok)
					failf("big message of %zu bytes arrived corrupted", dl);
			}
		}
	} else if (meth != NULL && strcmp(meth, "turn/completed") == 0) {
		done = 1;
	} else if (meth != NULL && id != NULL) {
		/* A server request (approval): accept it. */
		char reply[256];
		int n = snprintf(reply, sizeof(reply),
		    "{\"id\":%d,\"result\":{\"decision\":\"accept\"}}", id->valueint);

		if (tunnel_send(t, reply, (size_t)n) != 0)
			failf("tunnel_send");
	} else if (meth == NULL && id != NULL) {
		cJSON *res = cJSON_GetObjectItem(m, "result");
		cJSON *err = cJSON_GetObjectItem(m, "error");

		if (err != NULL && lines_file != NULL && !(cJSON_IsNumber(id) &&
		    id->valueint >= 1 && id->valueint < next_id)) {
			/* Not ours: the answer to a line of --send-lines. */
			printf("REJECT %.*s\n", (int)len, (const char *)msg);
			rejects++;
			cJSON_Delete(m);
			return 0;
		}
		if (err != NULL)
			failf("request %d failed: %.200s", id->valueint, (const char *)msg);
		if (*phase == 0) {           /* initialize answered */
			if (tunnel_send(t, "{\"method\":\"initialized\"}", 24) != 0)
				failf("send");
			if (lines_file != NULL)
				send_lines(t);
			if (do_status) {
				send_json(t, "{\"id\":%d,\"method\":\"codex-ssh/status\","
				    "\"params\":{}}", next_id++);
				*phase = 10;
			} else {
				send_json(t, "{\"id\":%d,\"method\":\"thread/start\",\"params\":"
				    "{}}", next_id++);
				*phase = 1;
			}
		} else if (*phase == 10) {
			char *txt = cJSON_PrintUnformatted(res);

			printf("STATUS %s\n", txt ? txt : "null");
			free(txt);
			done = 1;
		} else if (*phase == 1) {    /* thread started */
			char words[512];
			const char *tid = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(res, "thread"), "id"));

			snprintf(words, sizeof(words), "deltas=%lld %s", deltas, prompt_extra);
			send_json(t, "{\"id\":%d,\"method\":\"turn/start\",\"params\":"
			    "{\"threadId\":\"%s\",\"input\":[{\"type\":\"text\","
			    "\"text\":\"%s\"}]}}", next_id++, tid ? tid : "thr-1", words);
			*phase = 2;
		}
	}
	cJSON_Delete(m);
	return done;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "deltas", required_argument, NULL, 'n' },
		{ "cut-every", required_argument, NULL, 'c' },
		{ "max-cuts", required_argument, NULL, 'm' },
		{ "pause-at", required_argument, NULL, 'p' },
		{ "pause-secs", required_argument, NULL, 's' },
		{ "prompt", required_argument, NULL, 'P' },
		{ "backend", required_argument, NULL, 'b' },
		{ "status", no_argument, NULL, 'S' },
		{ "no-compress", no_argument, NULL, 'z' },
		{ "expect-close", required_argument, NULL, 'e' },
		{ "no-close", no_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 't' },
		{ "save", required_argument, NULL, 'W' },
		{ "adopt", required_argument, NULL, 'A' },
		{ "send-lines", required_argument, NULL, 'L' },
		{ "away", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct tunnel_opts to;
	struct tunnel *t;
	struct tunnel_event ev;
	struct buf *out;
	uint8_t rb[65536];
	int ch, phase = 0, finished = 0, r;
	long long next_cut;
	double paused_until = 0;
	int write_dead = 0;
	double last_ack = 0;

	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'n': deltas = atoll(optarg); break;
		case 'c': cut_every = atoll(optarg); break;
		case 'm': max_cuts = atoi(optarg); break;
		case 'p': pause_at = atoll(optarg); break;
		case 's': pause_secs = atoll(optarg); break;
		case 'P': prompt_extra = optarg; break;
		case 'b': backend = optarg; break;
		case 'S': do_status = 1; break;
		case 'z': compress = 0; break;
		case 'e': expect_code = atoi(optarg); break;
		case 'N': close_at_end = 0; break;
		case 't': timeout_s = atoi(optarg); break;
		case 'W': save_file = optarg; break;
		case 'A': adopt_file = optarg; break;
		case 'L': lines_file = optarg; break;
		case 'a': away_secs = atof(optarg); break;
		default: return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: tunnel-probe [options] -- COMMAND...\n");
		return 2;
	}
	cmd_argv = argv + optind;
	if (lines_file != NULL)
		read_lines(lines_file);
	signal(SIGPIPE, SIG_IGN);
	memset(&to, 0, sizeof(to));
	to.features = compress ? FRAME_FEAT_ZLIB : 0;
	to.backend = backend;
	to.journal.mem_max = 64u << 20;
	if ((t = tunnel_new(&to)) == NULL || (out = buf_new(8u << 20)) == NULL)
		failf("out of memory");
	g_tunnel = t;
	g_out = out;
	atexit(cleanup);
	if (adopt_file != NULL) {
		/* Present someone else's session token (a hex line in the file). */
		FILE *f = fopen(adopt_file, "r");
		char hex[2 * FRAME_TOKEN_LEN + 8] = "";
		uint8_t tok[FRAME_TOKEN_LEN];
		size_t bl = 0;

		if (f == NULL || fgets(hex, sizeof(hex), f) == NULL ||
		    sodium_hex2bin(tok, sizeof(tok), hex, strlen(hex), "\n", &bl, NULL) != 0 ||
		    bl != sizeof(tok))
			failf("cannot read a token from %s", adopt_file);
		fclose(f);
		tunnel_adopt(t, tok, 1);
	}
	crypto_hash_sha256_init(&delta_hash);
	t0 = now_s();
	next_cut = cut_every > 0 ? cut_every : -1;
	start_child();
	if (tunnel_connect(t, out) != 0)
		failf("connect");
	send_json(t, "{\"id\":%d,\"method\":\"initialize\",\"params\":{\"clientInfo\":"
	    "{\"name\":\"tunnel-probe\",\"version\":\"0\"}}}", next_id++);
	while (!finished) {
		struct pollfd pf[2];
		double now = now_s();
		int wait_ms = tunnel_ack_owed(t) > 0 ? 100 : 1000;

		if (now - t0 > timeout_s)
			failf("timed out after %d s", timeout_s);
		PROTO_IGNORE(tunnel_flush(t, out, 1u << 20));
		if (tunnel_ack_owed(t) > 0 && now - last_ack >= 0.1) {
			PROTO_IGNORE(tunnel_ack(t, out));
			last_ack = now;
		}
		pf[0] = (struct pollfd){ .fd = now < paused_until ? -1 : cout, .events = POLLIN };
		if (write_dead)
			buf_reset(out);
		pf[1] = (struct pollfd){ .fd = buf_len(out) ? cin : -1, .events = POLLOUT };
		if (now < paused_until)
			wait_ms = (int)((paused_until - now) * 1000) + 1;
		if (poll(pf, 2, wait_ms) < 0 && errno != EINTR)
			failf("poll");
		if (pf[1].revents) {
			ssize_t n = write(cin, buf_ptr(out), buf_len(out));

			if (n > 0)
				buf_consume(out, (size_t)n);
			else if (n < 0 && errno != EAGAIN) {
				/* The server may have closed after saying why: read
				 * that before judging. */
				buf_reset(out);
				write_dead = 1;
			}
		}
		if (!pf[0].revents)
			continue;
		ssize_t n = read(cout, rb, sizeof(rb));

		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			failf("the link closed unexpectedly");
		if (tunnel_feed(t, rb, (size_t)n) != 0)
			failf("garbage from the server");
		while ((r = tunnel_next(t, out, &ev)) == 1) {
			if (ev.type == TUNNEL_EV_WELCOME) {
				if (ev.resumed)
					resumes++;
				if (ev.attached[0] != '\0')
					snprintf(attached, sizeof(attached), "%s", ev.attached);
				if (save_file != NULL) {
					uint8_t tok[FRAME_TOKEN_LEN];
					char hex[2 * FRAME_TOKEN_LEN + 1];
					FILE *f = fopen(save_file, "w");

					if (f == NULL || tunnel_token(t, tok) != 0)
						failf("cannot save the token");
					sodium_bin2hex(hex, sizeof(hex), tok, sizeof(tok));
					fprintf(f, "%s\n", hex);
					fclose(f);
				}
			} else if (ev.type == TUNNEL_EV_MESSAGE) {
				if (on_message(t, ev.msg, ev.len, &phase)) {
					finished = 1;
					break;
				}
				if (pause_at >= 0 && got_deltas == pause_at) {
					paused_until = now_s() + (double)pause_secs;
					pause_at = -1;
					break;
				}
				if (next_cut > 0 && got_deltas >= next_cut &&
				    cuts_done < max_cuts) {
					/* Cut the link right here, mid-stream. */
					cut_link();
					cuts_done++;
					next_cut += cut_every;
					buf_reset(out);
					write_dead = 0;
					if (away_secs > 0) {
						struct timespec ts;

						ts.tv_sec = (time_t)away_secs;
						ts.tv_nsec = (long)((away_secs -
						    (double)ts.tv_sec) * 1e9);
						while (nanosleep(&ts, &ts) != 0 &&
						    errno == EINTR)
							;
					}
					start_child();
					if (tunnel_connect(t, out) != 0)
						failf("reconnect");
					break;
				}
			} else if (ev.type == TUNNEL_EV_CLOSE || ev.type == TUNNEL_EV_ERROR) {
				if (expect_code >= 0 && (int)ev.code == expect_code) {
					printf("OK closed code=%u reason=%s\n", ev.code, ev.reason);
					return 0;
				}
				failf("server %s %u: %s", ev.type == TUNNEL_EV_CLOSE ?
				    "closed" : "error", ev.code, ev.reason);
			}
		}
		if (r < 0)
			failf("protocol error: %s", ev.reason);
	}
	if (expect_code >= 0)
		failf("expected the server to close with code %d", expect_code);
	if (!do_status && got_deltas != deltas)
		failf("turn completed after %lld deltas", got_deltas);
	if (close_at_end) {
		double until = now_s() + 10;

		PROTO_IGNORE(tunnel_flush(t, out, 1u << 20));
		PROTO_IGNORE(tunnel_ack(t, out));
		PROTO_IGNORE(tunnel_close(t, out));
		fcntl(cin, F_SETFL, 0);
		while (buf_len(out) > 0) {
			ssize_t n = write(cin, buf_ptr(out), buf_len(out));

			if (n <= 0)
				break;
			buf_consume(out, (size_t)n);
		}
		/* As a client should: read on (acknowledging) until the server's
		 * CLOSE, 10 s at most. A session whose client left before it
		 * waits for a resume (PROTOCOL.md 3.2). */
		for (int closed = 0; !closed && now_s() < until;) {
			struct pollfd pf = { .fd = cout, .events = POLLIN };
			ssize_t n;

			if (poll(&pf, 1, 100) <= 0)
				continue;
			if ((n = read(cout, rb, sizeof(rb))) <= 0) {
				if (n < 0 && errno == EAGAIN)
					continue;
				break;
			}
			if (tunnel_feed(t, rb, (size_t)n) != 0)
				break;
			while ((r = tunnel_next(t, out, &ev)) == 1)
				if (ev.type == TUNNEL_EV_CLOSE || ev.type == TUNNEL_EV_ERROR)
					closed = 1;
			PROTO_IGNORE(tunnel_ack(t, out));
			while (buf_len(out) > 0) {
				ssize_t w = write(cin, buf_ptr(out), buf_len(out));

				if (w <= 0)
					break;
				buf_consume(out, (size_t)w);
			}
		}
	}
	{
		unsigned char md[crypto_hash_sha256_BYTES];
		char hex[crypto_hash_sha256_BYTES * 2 + 1];

		crypto_hash_sha256_final(&delta_hash, md);
		sodium_bin2hex(hex, sizeof(hex), md, sizeof(md));
		printf("OK deltas=%lld cuts=%d resumes=%d big_bytes=%lld big_ok=%lld "
		    "delta_sha256=%s seconds=%.3f", got_deltas, cuts_done, resumes,
		    big_bytes, big_ok, hex, now_s() - t0);
	}
	if (lines_file != NULL)
		printf(" rejects=%d", rejects);
	if (attached[0] != '\0')
		printf(" attached=\"%s\"", attached);
	printf("\n");
	fflush(stdout);
	close(cin);
	{
		int st;

		/* Give the link a moment to deliver CLOSE, then end it. */
		for (r = 0; r < 50 && waitpid(child, &st, WNOHANG) == 0; r++)
			usleep(20000);
		kill(child, SIGKILL);
		waitpid(child, &st, 0);
	}
	return 0;
}
