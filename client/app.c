/*
 * app.c - codex-connect's front ends and its one poll() loop.
 *
 * Every local client (stdin/stdout, a connection on the private unix socket, or
 * the built-in exec and status drivers) gets its own stream, that is its own
 * remote session, on the one SSH connection. Messages from the remote go to the
 * client's bounded output buffer; while it is full the link stops reading that
 * channel, and the remote journal holds the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <sodium.h>

#include "cxs_config.h"
#include "client/app.h"
#include "client/doctor.h"
#include "client/envfile.h"
#include "client/install.h"
#include "client/share.h"
#include "client/sshconf.h"
#include "client/ws.h"
#include "proto/buf.h"
#include "proto/frame.h"
#include "proto/jrpc.h"
#include "proto/jsonl.h"

#define LOCAL_OUT_MAX (32u * 1024 * 1024)
#define LOCAL_ROOM_MIN (1024u * 1024)
#define READ_CHUNK (64 * 1024)

enum lc_kind { LC_STDIO, LC_SOCK, LC_EXEC, LC_STATUS };
enum lc_proto { LP_SNIFF, LP_JSONL, LP_WS };

struct app;

struct lclient {
	struct lclient *next;
	struct app *app;
	enum lc_kind kind;
	enum lc_proto proto;
	int in, out;
	struct ws_http *http;
	struct ws_dec *wsd;
	struct jsonl_reader *lines;
	struct buf *obuf;
	struct stream *st;
	uint8_t sniff[4];     /* first bytes, while too few to tell the protocol */
	size_t nsniff;
	int in_eof;
	int64_t eof_ms;       /* when the local input ended (stdio) */
	int closing;          /* flush obuf, then close */
	int dead;
	/* Ids (JSON text) of requests sent to the remote and not answered yet:
	 * what is still owed when the session ends or the close bound runs out. */
	char **pending;
	size_t npending, cappending;
	char remote_error[600];   /* the last error the remote sent with id null */
	/* exec driver */
	int phase;
	int next_id;
	char thread_id[128];
	char turn_id[128];
	int in_agent_text;
	int cmd_streamed;     /* the running command's output came as outputDelta */
};

struct app {
	struct app_opts *o;
	char start_err[1024];      /* why the first session could not be opened */
	struct link *link;
	struct lclient *clients;
	int lfd;                   /* the unix socket (APP_SOCKET) */
	char sock_dir[4096];
	char sock_path[4200];
	pid_t tui;
	int tui_started;
	char thread_id[128];       /* the last thread with turns the socket saw */
	char new_thread[128];      /* one started since, waiting for its first turn */
	int exit_code;
	int done;
	int interrupts;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sigpipe_fds[2] = { -1, -1 };
static volatile sig_atomic_t got_int, got_term, got_chld;

static void
on_signal(int sig)
{
	int e = errno;
	char c = (char)sig;

	if (sig == SIGINT)
		got_int++;
	else if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
	if (write(sigpipe_fds[1], &c, 1) < 0) {
		/* already pending */
	}
	errno = e;
}

static void
die_usage(void)
{
	fprintf(stderr,
	    "usage: codex-connect [options] HOST                 the Codex TUI on HOST's app server\n"
	    "       codex-connect [options] HOST resume [ID | --last]\n"
	    "                     the TUI on a thread of HOST's (no ID: the TUI's picker)\n"
	    "       codex-connect [options] HOST --stdio         JSONL on stdin/stdout (for IDEs, SDKs)\n"
	    "       codex-connect [options] HOST exec [--cwd DIR] [--model M] [--sandbox MODE]\n"
	    "                     [--approval POLICY] [--json] [--yes] PROMPT\n"
	    "       codex-connect [options] HOST status [--json]\n"
	    "       codex-connect [options] HOST doctor [--json]\n"
	    "       codex-connect [options] HOST exec-server   the remote `codex exec-server`\n"
	    "                     on stdin/stdout (an environment for a local app server)\n"
	    "       codex-connect [options] HOST install|uninstall [--sudo [--libexec DIR]]\n"
	    "                     [-- REGISTER-OPTIONS]\n"
	    "       codex-connect [-F FILE] [-l USER] [-p PORT] [-i ID] [-o K=V] env add HOST\n"
	    "                     [--id ID] [--default] | env list | env remove ID\n"
	    "       codex-connect [options] --env ID [--env ID...]\n"
	    "                     the local Codex TUI with those remote environments\n"
	    "       codex-connect --list [--json]\n"
	    "options: -F ssh_config  -p port  -l user  -i identity  -o Key=Value  -s subsystem\n"
	    "         -v  -q  --socket PATH  --no-tui  --plain  --no-compress  --backend NAME\n"
	    "         --ping-interval S  --dead-after S  --give-up S  --close-wait S\n"
	    "         --no-bootstrap  --no-share  -O check|exit (the connection master)\n");
}

int
app_parse(int argc, char **argv, struct app_opts *o, int *done)
{
	enum { O_STDIO = 256, O_SOCKET, O_NOTUI, O_PLAIN, O_NOCOMP, O_BACKEND, O_LIST,
	    O_JSON, O_YES, O_CWD, O_MODEL, O_SANDBOX, O_APPROVAL, O_PING, O_DEAD,
	    O_GIVEUP, O_CLOSEWAIT, O_NOBOOT, O_SUDO, O_LIBEXEC, O_ID, O_DEFAULT,
	    O_VERSION, O_HELP, O_NOSHARE, O_ENV,
	    O_LAST };
	static const struct option lo[] = {
		{ "stdio", no_argument, NULL, O_STDIO },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "no-tui", no_argument, NULL, O_NOTUI },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "no-compress", no_argument, NULL, O_NOCOMP },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "list", no_argument, NULL, O_LIST },
		{ "json", no_argument, NULL, O_JSON },
		{ "yes", no_argument, NULL, O_YES },
		{ "cwd", required_argument, NULL, O_CWD },
		{ "model", required_argument, NULL, O_MODEL },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "approval", required_argument, NULL, O_APPROVAL },
		{ "ping-interval", required_argument, NULL, O_PING },
		{ "dead-after", required_argument, NULL, O_DEAD },
		{ "give-up", required_argument, NULL, O_GIVEUP },
		{ "close-wait", required_argument, NULL, O_CLOSEWAIT },
		{ "no-bootstrap", no_argument, NULL, O_NOBOOT },
		{ "no-share", no_argument, NULL, O_NOSHARE },
		{ "env", required_argument, NULL, O_ENV },
		{ "sudo", no_argument, NULL, O_SUDO },
		{ "id", required_argument, NULL, O_ID },
		{ "default", no_argument, NULL, O_DEFAULT },
		{ "libexec", required_argument, NULL, O_LIBEXEC },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ "last", no_argument, NULL, O_LAST },
		{ NULL, 0, NULL, 0 }
	};
	static const char *ids[16], *oopts[64];
	struct sshconn_opts *so = &o->link.ssh;
	char err[300];
	int c, list = 0, dump = 0;

	*done = 0;
	memset(o, 0, sizeof(*o));
	o->link.compress = 1;
	o->close_wait_ms = 30000;
	o->link.subsystem = "codex";
	while ((c = getopt_long(argc, argv, "F:p:l:i:o:O:s:vqhG", lo, NULL)) != -1) {
		switch (c) {
		case 'F': so->config_file = optarg; break;
		case 'p': so->port = atoi(optarg); break;
		case 'l': so->user = optarg; break;
		case 'i':
			if (so->nidentities < 16)
				ids[so->nidentities++] = optarg;
			so->identities = ids;
			break;
		case 'o':
			if (sshconn_check_any_option(optarg, err, sizeof(err)) != 0) {
				fprintf(stderr, "codex-connect: %s\n", err);
				*done = 1;
				return 2;
			}
			if (so->noptions < 64)
				oopts[so->noptions++] = optarg;
			so->options = oopts;
			break;
		case 's': o->link.subsystem = optarg; break;
		case 'G': dump = 1; break;	/* hidden: ssh -G */
		case 'v': so->verbose++; break;
		case 'q': o->link.quiet = 1; break;
		case O_STDIO: o->mode = APP_STDIO; break;
		case O_SOCKET: o->socket_path = optarg; break;
		case O_NOTUI: o->no_tui = 1; break;
		case O_PLAIN: o->link.plain = 1; break;
		case O_NOCOMP: o->link.compress = 0; break;
		case O_BACKEND: o->link.backend = optarg; break;
		case O_LIST: list = 1; break;
		case O_JSON: o->json = 1; break;
		case O_YES: o->yes = 1; break;
		case O_CWD: o->cwd = optarg; break;
		case O_MODEL: o->model = optarg; break;
		case O_SANDBOX: o->sandbox = optarg; break;
		case O_APPROVAL: o->approval = optarg; break;
		case O_PING: o->link.ping_interval_ms = (int)(atof(optarg) * 1000); break;
		case O_DEAD: o->link.dead_after_ms = (int)(atof(optarg) * 1000); break;
		case O_GIVEUP: o->link.give_up_ms = (int)(atof(optarg) * 1000); break;
		case O_CLOSEWAIT: o->close_wait_ms = (int)(atof(optarg) * 1000); break;
		case O_NOBOOT: o->link.no_bootstrap = 1; break;
		case O_NOSHARE: o->link.no_share = 1; break;
		case O_ENV:
			if (o->nenvs < 16)
				o->envs[o->nenvs++] = optarg;
			break;
		case 'O':
			if (strcmp(optarg, "check") != 0 && strcmp(optarg, "exit") != 0) {
				fprintf(stderr, "codex-connect: -O takes check or exit\n");
				*done = 1;
				return 2;
			}
			o->ctl = optarg;
			break;
		case O_SUDO: o->sudo = 1; break;
		case O_ID: o->env_id = optarg; break;
		case O_DEFAULT: o->env_default = 1; break;
		case O_LIBEXEC: o->libexec = optarg; break;
		case O_LAST: o->resume_last = 1; break;
		case O_VERSION:
			printf("codex-connect %s\n", PACKAGE_VERSION);
			*done = 1;
			return 0;
		case 'h':
		case O_HELP:
			die_usage();
			*done = 1;
			return 0;
		default:
			die_usage();
			*done = 1;
			return 2;
		}
	}
	if (list) {
		o->mode = APP_LIST;
		return 0;
	}
	if (o->nenvs > 0 && optind >= argc) {
		o->mode = APP_LOCAL;
		return 0;
	}
	if (optind >= argc) {
		die_usage();
		*done = 1;
		return 2;
	}
	if (strcmp(argv[optind], "env") == 0) {
		/* env add HOST | list | remove ID: no connection. */
		o->mode = APP_ENV;
		o->env_argv = argv + optind + 1;
		o->env_argc = argc - optind - 1;
		if (o->env_argc < 1 || (strcmp(o->env_argv[0], "list") != 0 &&
		    o->env_argc != 2)) {
			fprintf(stderr, "codex-connect: usage: env add [-F FILE] [-l USER] "
			    "[-p PORT] [-i ID] [-o K=V] HOST [--id ID] [--default] | env "
			    "list | env remove ID\n");
			*done = 1;
			return 2;
		}
		return 0;
	}
	o->argv = argv;
	o->host_arg = optind;
	so->host = argv[optind++];
	if (o->ctl != NULL) {
		o->mode = APP_CTL;
		if (optind < argc) {
			die_usage();
			*done = 1;
			return 2;
		}
		return 0;
	}
	if (dump) {
		/* What ssh -G prints: the options resolved for HOST. */
		char derr[1024];

		*done = 1;
		if (sshconn_print_config(so, stdout, derr, sizeof(derr)) != 0) {
			fprintf(stderr, "codex-connect: %s\n", derr);
			return 255;
		}
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (optind < argc) {
		const char *cmd = argv[optind++];

		if (strcmp(cmd, "exec") == 0) {
			o->mode = APP_EXEC;
			if (optind >= argc) {
				fprintf(stderr, "codex-connect: exec needs a PROMPT\n");
				*done = 1;
				return 2;
			}
			o->prompt = argv[optind++];
		} else if (strcmp(cmd, "status") == 0) {
			o->mode = APP_STATUS;
		} else if (strcmp(cmd, "doctor") == 0) {
			o->mode = APP_DOCTOR;
		} else if (strcmp(cmd, "exec-server") == 0) {
			/* A stdio exec-server environment for a local app server
			 * (environments.toml: program codex-connect, args HOST
			 * exec-server), resumable across link loss. */
			o->mode = APP_STDIO;
			if (o->link.backend == NULL)
				o->link.backend = "exec-server";
		} else if (strcmp(cmd, "install") == 0 || strcmp(cmd, "uninstall") == 0) {
			o->mode = cmd[0] == 'i' ? APP_INSTALL : APP_UNINSTALL;
			/* What follows `--` is for codex-subsystem register. */
			o->reg_args = argv + optind;
			o->nreg_args = argc - optind;
			optind = argc;
		} else if (strcmp(cmd, "resume") == 0) {
			o->resume = 1;
			if (optind < argc && !o->resume_last)
				o->resume_id = argv[optind++];
			if (o->mode != APP_SOCKET) {
				fprintf(stderr, "codex-connect: resume starts the TUI; it "
				    "does not go with --stdio\n");
				*done = 1;
				return 2;
			}
		} else {
			fprintf(stderr, "codex-connect: unknown command \"%s\" (exec, "
			    "exec-server, status, doctor, install, uninstall, resume)\n", cmd);
			*done = 1;
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "codex-connect: unexpected argument \"%s\"\n", argv[optind]);
		*done = 1;
		return 2;
	}
	if (o->resume_last && !o->resume) {
		fprintf(stderr, "codex-connect: --last goes with resume\n");
		*done = 1;
		return 2;
	}
	return 0;
}

/* ---- local clients ------------------------------------------------------ */

static void exec_on_message(struct lclient *c, const uint8_t *msg, size_t len);

static size_t
lc_room(void *ctx)
{
	struct lclient *c = ctx;
	size_t used = buf_len(c->obuf);

	if (c->kind == LC_EXEC || c->kind == LC_STATUS)
		return READ_CHUNK;
	return used >= LOCAL_OUT_MAX - LOCAL_ROOM_MIN ? 0 : LOCAL_OUT_MAX - LOCAL_ROOM_MIN - used;
}

static void
lc_deliver(struct lclient *c, const uint8_t *msg, size_t len)
{
	int r;

	if (c->proto == LP_WS)
		r = ws_enc_text(c->obuf, msg, len, 0);
	else {
		r = buf_put(c->obuf, msg, len);
		if (r == 0)
			r = buf_put(c->obuf, "\n", 1);
	}
	if (r != 0) {
		fprintf(stderr, "codex-connect: local client too slow; dropping it\n");
		c->dead = 1;
	}
}

/*
 * Remembers the thread a socket client (the TUI) is on, for the "to resume this
 * session" hint: the result of thread/start, thread/resume or thread/fork, the
 * responses with both a "thread" and a "modelProvider" of their own (thread/read
 * and the like have only "thread"; the TUI's title threads are ephemeral). A
 * thread without a user message has nothing saved yet (the TUI starts one at
 * launch; thread/resume on it fails "no rollout found"): it waits in new_thread
 * for its first turn/started. Nearly all the traffic is notifications whose only
 * thread key is "threadId": memmem() keeps them from being parsed.
 */
static void
note_thread(struct app *a, const uint8_t *msg, size_t len)
{
	cJSON *m, *r, *t;
	const char *id, *p, *method, *preview;
	int thread = memmem(msg, len, "\"thread\"", 8) != NULL;

	if (!thread && (a->new_thread[0] == '\0' ||
	    memmem(msg, len, "\"turn/started\"", 14) == NULL))
		return;
	m = cJSON_ParseWithLength((const char *)msg, len);
	if (m == NULL)
		return;
	method = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
	if (method != NULL) {
		id = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(m,
		    "params"), "threadId"));
		if (strcmp(method, "turn/started") == 0 && id != NULL &&
		    strcmp(id, a->new_thread) == 0) {
			memcpy(a->thread_id, a->new_thread, sizeof(a->thread_id));
			a->new_thread[0] = '\0';
		}
		goto out;
	}
	r = cJSON_GetObjectItem(m, "result");
	t = cJSON_GetObjectItem(r, "thread");
	id = cJSON_GetStringValue(cJSON_GetObjectItem(t, "id"));
	if (id == NULL || *id == '\0' || strlen(id) >= sizeof(a->thread_id) ||
	    !cJSON_IsString(cJSON_GetObjectItem(r, "modelProvider")) ||
	    cJSON_IsTrue(cJSON_GetObjectItem(t, "ephemeral")))
		goto out;
	/* It ends up in a command line the user may paste: ids only. */
	for (p = id; *p != '\0'; p++)
		if (!(*p >= '0' && *p <= '9') && !(*p >= 'a' && *p <= 'z') &&
		    !(*p >= 'A' && *p <= 'Z') && *p != '-' && *p != '_')
			goto out;
	/* preview: the first user message; the history itself comes in pages. */
	preview = cJSON_GetStringValue(cJSON_GetObjectItem(t, "preview"));
	if (preview != NULL && *preview != '\0') {
		memcpy(a->thread_id, id, strlen(id) + 1);
		a->new_thread[0] = '\0';
	} else
		memcpy(a->new_thread, id, strlen(id) + 1);
out:
	cJSON_Delete(m);
}

/* Remembers the id of a request sent to the remote. */
static void
pending_add(struct lclient *c, const cJSON *id)
{
	char *t, **np;

	if (c->npending == c->cappending) {
		size_t cap = c->cappending ? c->cappending * 2 : 16;

		if (cap > 65536 || (np = realloc(c->pending, cap * sizeof(*np))) == NULL)
			return;  /* bounded: a client with 64k requests in flight */
		c->pending = np;
		c->cappending = cap;
	}
	if ((t = cJSON_PrintUnformatted(id)) != NULL)
		c->pending[c->npending++] = t;
}

/*
 * A message from the remote: if it answers one of our client's requests, that one
 * is no longer owed. Notifications (most of the traffic) start with "method" in
 * Codex's output and are not parsed.
 */
static void
pending_answered(struct lclient *c, const uint8_t *msg, size_t len)
{
	struct jrpc_msg m;
	struct jrpc_reject rej;
	char *t;
	size_t i;

	if (c->npending == 0 || (len > 10 && memcmp(msg, "{\"method\":", 10) == 0))
		return;
	memset(&m, 0, sizeof(m));
	memset(&rej, 0, sizeof(rej));
	if (jrpc_parse((const char *)msg, len, &m, &rej) != 0) {
		cJSON_Delete(rej.id);
		return;
	}
	if (m.kind == JRPC_ERROR_RESPONSE && cJSON_IsNull(m.id)) {
		/* Plain mode's way of saying why a session ends (a backend that
		 * failed): the reason for what is then left unanswered. */
		const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(m.error,
		    "message"));

		if (e != NULL)
			snprintf(c->remote_error, sizeof(c->remote_error), "%s", e);
	}
	if ((m.kind == JRPC_RESPONSE || m.kind == JRPC_ERROR_RESPONSE) &&
	    (t = cJSON_PrintUnformatted(m.id)) != NULL) {
		for (i = 0; i < c->npending; i++) {
			if (strcmp(c->pending[i], t) == 0) {
				free(c->pending[i]);
				c->pending[i] = c->pending[--c->npending];
				break;
			}
		}
		free(t);
	}
	jrpc_msg_free(&m);
}

/* Answers every request still owed with an error saying why, so a client (an
 * IDE) shows the reason instead of waiting forever. Returns how many. */
static size_t
pending_fail(struct lclient *c, const char *why)
{
	size_t i, n = c->npending;
	cJSON *id;
	char *t, msg[900];

	snprintf(msg, sizeof(msg), "codex-connect: %s", why);
	for (i = 0; i < n; i++) {
		id = cJSON_Parse(c->pending[i]);
		if (!c->dead && (t = jrpc_error_text(id, JRPC_INTERNAL_ERROR, msg, NULL,
		    NULL)) != NULL) {
			lc_deliver(c, (const uint8_t *)t, strlen(t));
			free(t);
		}
		cJSON_Delete(id);
		free(c->pending[i]);
	}
	c->npending = 0;
	return n;
}

static void
lc_message(void *ctx, const uint8_t *msg, size_t len)
{
	struct lclient *c = ctx;

	if (c->dead)
		return;
	pending_answered(c, msg, len);
	if (c->kind == LC_EXEC || c->kind == LC_STATUS) {
		exec_on_message(c, msg, len);
		return;
	}
	if (c->kind == LC_SOCK)
		note_thread(c->app, msg, len);
	lc_deliver(c, msg, len);
}

static void
lc_ended(void *ctx, unsigned code, const char *reason)
{
	struct lclient *c = ctx;
	struct app *a = c->app;

	c->st = NULL;
	if (c->in_agent_text) {
		/* The agent's text was cut short: end its line. */
		fputc('\n', stdout);
		fflush(stdout);
		c->in_agent_text = 0;
	}
	/* A link that gave up is reported once, by the loop. */
	if (code != FRAME_CODE_NORMAL && reason != NULL && reason[0] != '\0' &&
	    !link_failed(a->link, NULL))
		fprintf(stderr, "codex-connect: remote session ended: %s\n", reason);
	/* What the session ended without answering gets the reason. */
	if (pending_fail(c, code != FRAME_CODE_NORMAL && reason != NULL && reason[0] ?
	    reason : c->remote_error[0] ? c->remote_error :
	    "the remote session ended before answering") > 0 &&
	    code == FRAME_CODE_NORMAL) {
		fprintf(stderr, "codex-connect: the remote session ended with requests "
		    "unanswered\n");
		if (a->exit_code == 0)
			a->exit_code = 1;
	}
	if (c->kind == LC_STDIO || c->kind == LC_EXEC || c->kind == LC_STATUS) {
		if (code != FRAME_CODE_NORMAL && a->exit_code == 0)
			a->exit_code = 1;
		if (c->kind != LC_STDIO || code != FRAME_CODE_NORMAL || c->in_eof)
			a->done = 1;
	}
	if (c->proto == LP_WS)
		PROTO_IGNORE(ws_enc_close(c->obuf, code == FRAME_CODE_NORMAL ?
		    WS_CLOSE_NORMAL : WS_CLOSE_INTERNAL, reason));
	c->closing = 1;
}

static const struct stream_ops lc_ops = { lc_message, lc_ended, lc_room };

/* The client's remote session. 0, or -1 (said on stderr). */
static int
lc_open_stream(struct lclient *c)
{
	char err[600];

	c->st = link_stream(c->app->link, &lc_ops, c, err, sizeof(err));
	if (c->st == NULL) {
		fprintf(stderr, "codex-connect: %s\n", err);
		snprintf(c->app->start_err, sizeof(c->app->start_err), "%s", err);
		return -1;
	}
	return 0;
}

static struct lclient *
lc_new(struct app *a, enum lc_kind kind, int in, int out)
{
	struct lclient *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->app = a;
	c->kind = kind;
	c->in = in;
	c->out = out;
	c->proto = kind == LC_SOCK ? LP_SNIFF : LP_JSONL;
	c->obuf = buf_new(LOCAL_OUT_MAX);
	c->lines = jsonl_new(FRAME_DEFAULT_MAX_MESSAGE);
	if (c->obuf == NULL || c->lines == NULL)
		goto fail;
	/* A socket client gets its remote session once it has said what it is:
	 * a health probe needs none (and must not start a backend). */
	if (kind != LC_SOCK && lc_open_stream(c) != 0)
		goto fail;
	if (in >= 0)
		fcntl(in, F_SETFL, fcntl(in, F_GETFL) | O_NONBLOCK);
	if (out >= 0 && out != in)
		fcntl(out, F_SETFL, fcntl(out, F_GETFL) | O_NONBLOCK);
	c->next = a->clients;
	a->clients = c;
	return c;
fail:
	buf_free(c->obuf);
	jsonl_free(c->lines);
	free(c);
	return NULL;
}

static void
lc_free(struct lclient *c)
{
	size_t i;

	/* A socket client that closed has asked its session to close: the link
	 * sees that through (its backend gets every message, then EOF). */
	if (c->st != NULL && c->kind == LC_SOCK && c->in_eof)
		stream_orphan(c->st);
	else if (c->st != NULL)
		stream_abandon(c->st);
	for (i = 0; i < c->npending; i++)
		free(c->pending[i]);
	free(c->pending);
	if (c->kind == LC_SOCK) {
		if (c->in >= 0)
			close(c->in);
	}
	buf_free(c->obuf);
	jsonl_free(c->lines);
	ws_http_free(c->http);
	ws_dec_free(c->wsd);
	free(c);
}

/* One message from a local client: checked, then sent to the remote session. */
static void
lc_from_local(struct lclient *c, const char *msg, size_t len)
{
	struct jrpc_msg m;
	struct jrpc_reject rej;
	int r;

	memset(&m, 0, sizeof(m));
	memset(&rej, 0, sizeof(rej));
	r = jrpc_parse(msg, len, &m, &rej);
	if (r == PROTO_ERR_JSON) {
		char why[200], *t;

		snprintf(why, sizeof(why), "Parse error: %s", rej.message);
		t = jrpc_error_text(NULL, JRPC_PARSE_ERROR, why, NULL, NULL);
		if (t != NULL) {
			lc_deliver(c, (const uint8_t *)t, strlen(t));
			free(t);
		}
		cJSON_Delete(rej.id);
		return;
	}
	if (r == PROTO_ERR_INVALID) {
		/* JSON but no message: answered here, never sent to the remote. */
		char *t = jrpc_error_text(rej.id, JRPC_INVALID_REQUEST, rej.message,
		    NULL, NULL);

		if (t != NULL) {
			lc_deliver(c, (const uint8_t *)t, strlen(t));
			free(t);
		}
		cJSON_Delete(rej.id);
		return;
	}
	cJSON_Delete(rej.id);
	if (c->st == NULL || stream_send(c->st, msg, len) != 0) {
		char *t;

		if (m.kind == JRPC_REQUEST && (t = jrpc_error_text(m.id,
		    JRPC_INTERNAL_ERROR, c->st == NULL ? "codex-connect: the remote "
		    "session has ended" : "codex-connect: cannot queue the message",
		    NULL, NULL)) != NULL) {
			lc_deliver(c, (const uint8_t *)t, strlen(t));
			free(t);
		}
	} else if (m.kind == JRPC_REQUEST && c->kind != LC_EXEC && c->kind != LC_STATUS)
		pending_add(c, m.id);
	jrpc_msg_free(&m);
}

static void
lc_read(struct lclient *c)
{
	uint8_t buf[READ_CHUNK];
	const char *line;
	size_t len, used;
	ssize_t n;
	int r;
	struct ws_event ev;

	n = read(c->in, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->in_eof = 1;
		c->eof_ms = now_ms();
		if (c->proto == LP_JSONL && jsonl_finish(c->lines, &line, &len) == 1)
			lc_from_local(c, line, len);
		/* The local client is done: end its remote session. */
		if (c->st != NULL)
			stream_close(c->st);
		else
			c->closing = 1;
		return;
	}
	if (c->proto == LP_SNIFF) {
		/* The first bytes may come in pieces ("GE", then "T / HTTP/1.1..."):
		 * keep them until there are enough to tell, then feed them first. */
		uint8_t head[sizeof(c->sniff)];
		size_t k = sizeof(head) - c->nsniff;

		if (k > (size_t)n)
			k = (size_t)n;
		memcpy(head, c->sniff, c->nsniff);
		memcpy(head + c->nsniff, buf, k);
		switch (ws_sniff(head, c->nsniff + k)) {
		case WS_KIND_HTTP:
			c->proto = LP_WS;
			c->http = ws_http_new(0);
			c->wsd = ws_dec_new(0);
			if (c->http == NULL || c->wsd == NULL || (c->nsniff > 0 &&
			    ws_http_feed(c->http, c->sniff, c->nsniff, &used) < 0)) {
				c->dead = 1;
				return;
			}
			break;
		case WS_KIND_JSONL:
			c->proto = LP_JSONL;
			if ((c->nsniff > 0 &&
			    jsonl_feed(c->lines, c->sniff, c->nsniff) != 0) ||
			    lc_open_stream(c) != 0) {
				c->dead = 1;
				return;
			}
			break;
		case WS_KIND_MORE:
			/* Fewer than 4 bytes in all, so they fit. */
			memcpy(c->sniff + c->nsniff, buf, k);
			c->nsniff += k;
			return;
		case WS_KIND_OTHER:
			c->dead = 1;
			return;
		}
	}
	if (c->proto == LP_JSONL) {
		if (jsonl_feed(c->lines, buf, (size_t)n) != 0) {
			c->dead = 1;
			return;
		}
		while ((r = jsonl_next(c->lines, &line, &len)) != 0) {
			if (r < 0) {
				char *t = jrpc_error_text(NULL, JRPC_INVALID_REQUEST,
				    "message too large", NULL, NULL);

				if (t != NULL) {
					lc_deliver(c, (const uint8_t *)t, strlen(t));
					free(t);
				}
				continue;
			}
			lc_from_local(c, line, len);
		}
		return;
	}
	/* WebSocket */
	used = 0;
	if (ws_http_status(c->http) != 101) {
		r = ws_http_feed(c->http, buf, (size_t)n, &used);
		if (r == 0)
			return;
		if (r == 1 && lc_open_stream(c) != 0) {
			c->dead = 1;
			return;
		}
		PROTO_IGNORE(ws_http_response(c->http, c->obuf));
		if (r < 0) {
			c->closing = 1;
			return;
		}
	}
	if ((size_t)n > used && ws_dec_feed(c->wsd, buf + used, (size_t)n - used) != 0) {
		c->dead = 1;
		return;
	}
	while ((r = ws_dec_next(c->wsd, &ev)) == 1) {
		switch (ev.type) {
		case WS_EV_TEXT:
			lc_from_local(c, (const char *)ev.data, ev.len);
			break;
		case WS_EV_PING:
			PROTO_IGNORE(ws_enc_pong(c->obuf, ev.data, ev.len));
			break;
		case WS_EV_CLOSE:
			PROTO_IGNORE(ws_close_reply(&ev, c->obuf));
			c->in_eof = 1;
			if (c->st != NULL)
				stream_close(c->st);
			c->closing = 1;
			return;
		default:
			break;
		}
	}
	if (r < 0) {
		PROTO_IGNORE(ws_dec_close_frame(c->wsd, c->obuf));
		c->closing = 1;
	}
}

static void
lc_write(struct lclient *c)
{
	ssize_t n;

	while (buf_len(c->obuf) > 0 && c->out >= 0) {
		n = write(c->out, buf_ptr(c->obuf), buf_len(c->obuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			buf_reset(c->obuf);
			c->dead = 1;
			return;
		}
		buf_consume(c->obuf, (size_t)n);
	}
}

/* ---- exec and status drivers -------------------------------------------- */

static void
exec_send(struct lclient *c, cJSON *msg)
{
	char *t = cJSON_PrintUnformatted(msg);

	if (t != NULL && c->st != NULL && stream_send(c->st, t, strlen(t)) != 0)
		fprintf(stderr, "codex-connect: cannot queue a message\n");
	free(t);
	cJSON_Delete(msg);
}

static cJSON *
exec_request(struct lclient *c, const char *method, cJSON **params)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddNumberToObject(m, "id", ++c->next_id);
	cJSON_AddStringToObject(m, "method", method);
	*params = cJSON_AddObjectToObject(m, "params");
	return m;
}

/* Asks on the terminal; returns 'y', 'a' (always) or 'n'. */
static int
ask_tty(const char *question)
{
	char ans[64] = "";
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -1;
	dprintf(fd, "%s [y/N/a=always] ", question);
	n = read(fd, ans, sizeof(ans) - 1);
	close(fd);
	if (n <= 0)
		return 'n';
	if (ans[0] == 'y' || ans[0] == 'Y')
		return 'y';
	if (ans[0] == 'a' || ans[0] == 'A')
		return 'a';
	return 'n';
}

static void
exec_approval(struct lclient *c, cJSON *m, const char *method)
{
	cJSON *params = cJSON_GetObjectItem(m, "params");
	cJSON *id = cJSON_GetObjectItem(m, "id");
	const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItem(params, "command"));
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(params, "reason"));
	const char *decision;
	char q[1200];
	cJSON *reply, *res;
	int a;

	char why[600] = "";
	size_t wl;

	if (reason != NULL) {
		/* Justifications usually end in a period; ours follows. */
		snprintf(why, sizeof(why), "%s", reason);
		wl = strlen(why);
		while (wl > 0 && (why[wl - 1] == '.' || why[wl - 1] == ' '))
			why[--wl] = '\0';
	}
	if (cmd != NULL)
		snprintf(q, sizeof(q), "codex wants to run `%s`%s%s. Allow?", cmd,
		    why[0] ? " — " : "", why);
	else
		snprintf(q, sizeof(q), "codex asks for approval (%s)%s%s. Allow?", method,
		    why[0] ? ": " : "", why);
	if (c->app->o->yes) {
		fprintf(stderr, "codex-connect: %s yes (--yes)\n", q);
		a = 'y';
	} else {
		if (c->in_agent_text) {
			fputc('\n', stdout);
			fflush(stdout);
			c->in_agent_text = 0;
		}
		a = ask_tty(q);
		link_touch(c->app->link);
		if (a < 0) {
			fprintf(stderr, "codex-connect: %s no (no terminal; use --yes to "
			    "approve)\n", q);
			a = 'n';
		}
	}
	decision = a == 'y' ? "accept" : a == 'a' ? "acceptForSession" : "decline";
	reply = cJSON_CreateObject();
	cJSON_AddItemToObject(reply, "id", cJSON_Duplicate(id, 1));
	res = cJSON_AddObjectToObject(reply, "result");
	cJSON_AddStringToObject(res, "decision", decision);
	exec_send(c, reply);
}

static void
exec_start(struct lclient *c)
{
	cJSON *p, *m, *ci;

	m = exec_request(c, "initialize", &p);
	ci = cJSON_AddObjectToObject(p, "clientInfo");
	cJSON_AddStringToObject(ci, "name", "codex-connect");
	cJSON_AddStringToObject(ci, "title", "codex-connect exec");
	cJSON_AddStringToObject(ci, "version", PACKAGE_VERSION);
	exec_send(c, m);
}

/*
 * The answer to codex-ssh/status: every session host of the user on the remote
 * ({"hosts":[{host_pid, sessions:[...]}, ...]}, see codex-subsystem(8)). --json
 * prints it as it came: one JSON document.
 */
static void
status_print(struct lclient *c, const cJSON *r)
{
	const cJSON *h, *s, *pid;
	char *t;
	int n = 0;

	if (c->app->o->json) {
		t = cJSON_PrintUnformatted(r);
		printf("%s\n", t ? t : "null");
		free(t);
		return;
	}
	printf("%s: %s\n", link_target(c->app->link), cJSON_GetArraySize(
	    cJSON_GetObjectItem(r, "hosts")) == 0 ? "no session host is running" :
	    "session hosts");
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(r, "hosts")) {
		if (cJSON_GetArraySize(cJSON_GetObjectItem(h, "sessions")) == 0)
			continue;
		if (n++ == 0)
			printf("%8s %4s  %-12s %8s  %-9s %8s %12s %12s\n", "HOST", "ID",
			    "BACKEND", "PID", "STATE", "UP(s)", "BYTES IN", "BYTES OUT");
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(h, "sessions")) {
			pid = cJSON_GetObjectItem(s, "pid");
			printf("%8.0f %4.0f  %-12s %8.0f  %-9s %8.0f %12.0f %12.0f\n",
			    cJSON_GetNumberValue(cJSON_GetObjectItem(h, "host_pid")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "id")),
			    cJSON_GetStringValue(cJSON_GetObjectItem(s, "backend")) ?: "?",
			    cJSON_IsNumber(pid) ? pid->valuedouble : 0.0,
			    cJSON_GetStringValue(cJSON_GetObjectItem(s, "state")) ?: "?",
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "uptime_s")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_in")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_out")));
		}
	}
	if (n == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(r, "hosts")) > 0)
		printf("no sessions\n");
}

/* status asks codex-subsystem itself on a plain channel: no backend starts. */
static void
status_start(struct lclient *c)
{
	cJSON *p, *m = exec_request(c, "codex-ssh/status", &p);

	exec_send(c, m);
}

static void
exec_on_message(struct lclient *c, const uint8_t *msg, size_t len)
{
	struct app_opts *o = c->app->o;
	cJSON *m = cJSON_ParseWithLength((const char *)msg, len), *p, *r, *id;
	const char *method;

	if (m == NULL)
		return;
	method = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
	id = cJSON_GetObjectItem(m, "id");
	p = cJSON_GetObjectItem(m, "params");
	if (method == NULL && id != NULL) {
		cJSON *err = cJSON_GetObjectItem(m, "error");

		if (err != NULL) {
			fprintf(stderr, "codex-connect: %s failed: %s\n",
			    c->kind == LC_STATUS ? "codex-ssh/status" :
			    c->phase == 0 ? "initialize" : c->phase == 1 ? "thread/start" :
			    c->phase == 2 ? "turn/start" : "request",
			    cJSON_GetStringValue(cJSON_GetObjectItem(err, "message")));
			c->app->exit_code = 1;
			c->app->done = 1;
			goto out;
		}
		r = cJSON_GetObjectItem(m, "result");
		if (c->kind == LC_STATUS) {
			status_print(c, r);
			c->app->done = 1;
			if (c->st != NULL)
				stream_close(c->st);
		} else if (c->phase == 0) {
			cJSON *tm, *tp;

			exec_send(c, cJSON_Parse("{\"method\":\"initialized\"}"));
			tm = exec_request(c, "thread/start", &tp);
			if (o->cwd) cJSON_AddStringToObject(tp, "cwd", o->cwd);
			if (o->model) cJSON_AddStringToObject(tp, "model", o->model);
			if (o->sandbox) cJSON_AddStringToObject(tp, "sandbox", o->sandbox);
			if (o->approval) cJSON_AddStringToObject(tp, "approvalPolicy", o->approval);
			exec_send(c, tm);
			c->phase = 1;
		} else if (c->phase == 1) {
			cJSON *tm, *tp, *in, *item;
			const char *tid = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(r, "thread"), "id"));

			snprintf(c->thread_id, sizeof(c->thread_id), "%s", tid ? tid : "");
			tm = exec_request(c, "turn/start", &tp);
			cJSON_AddStringToObject(tp, "threadId", c->thread_id);
			in = cJSON_AddArrayToObject(tp, "input");
			item = cJSON_CreateObject();
			cJSON_AddStringToObject(item, "type", "text");
			cJSON_AddStringToObject(item, "text", o->prompt);
			cJSON_AddItemToArray(in, item);
			if (o->cwd) cJSON_AddStringToObject(tp, "cwd", o->cwd);
			if (o->model) cJSON_AddStringToObject(tp, "model", o->model);
			if (o->approval) cJSON_AddStringToObject(tp, "approvalPolicy", o->approval);
			exec_send(c, tm);
			c->phase = 2;
		} else if (c->phase == 2) {
			const char *tid = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(r, "turn"), "id"));

			snprintf(c->turn_id, sizeof(c->turn_id), "%s", tid ? tid : "");
			c->phase = 3;
		}
		goto out;
	}
	if (method == NULL)
		goto out;
	if (id != NULL) {
		/* A request from the server: approvals and questions. */
		if (strstr(method, "requestApproval") != NULL ||
		    strcmp(method, "item/tool/requestUserInput") == 0)
			exec_approval(c, m, method);
		else {
			cJSON *reply = cJSON_CreateObject(), *e;

			cJSON_AddItemToObject(reply, "id", cJSON_Duplicate(id, 1));
			e = cJSON_AddObjectToObject(reply, "error");
			cJSON_AddNumberToObject(e, "code", JRPC_METHOD_NOT_FOUND);
			cJSON_AddStringToObject(e, "message", "not supported by codex-connect exec");
			exec_send(c, reply);
		}
		goto out;
	}
	if (o->json) {
		fwrite(msg, 1, len, stdout);
		fputc('\n', stdout);
	} else if (strcmp(method, "item/agentMessage/delta") == 0) {
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(p, "delta"));

		if (d != NULL) {
			fputs(d, stdout);
			c->in_agent_text = 1;
		}
	} else if (strcmp(method, "item/started") == 0) {
		cJSON *item = cJSON_GetObjectItem(p, "item");
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(item, "type"));

		if (type != NULL && strcmp(type, "commandExecution") == 0) {
			if (c->in_agent_text) {
				fputc('\n', stdout);
				c->in_agent_text = 0;
			}
			fprintf(stderr, "$ %s\n", cJSON_GetStringValue(
			    cJSON_GetObjectItem(item, "command")) ?: "?");
			c->cmd_streamed = 0;
		}
	} else if (strcmp(method, "item/commandExecution/outputDelta") == 0) {
		const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(p, "delta"));

		if (d != NULL) {
			fputs(d, stderr);
			c->cmd_streamed = 1;
		}
	} else if (strcmp(method, "item/completed") == 0) {
		cJSON *item = cJSON_GetObjectItem(p, "item");
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(item, "type"));
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(item, "status"));
		const char *agg = cJSON_GetStringValue(cJSON_GetObjectItem(item,
		    "aggregatedOutput"));

		if (c->in_agent_text) {
			fputc('\n', stdout);
			c->in_agent_text = 0;
		}
		if (type != NULL && strcmp(type, "commandExecution") == 0) {
			/* Streaming of command output is best effort in the app
			 * server: the completed item has all of it. */
			if (st != NULL && strcmp(st, "declined") == 0)
				fprintf(stderr, "(declined, not run)\n");
			else if (!c->cmd_streamed && agg != NULL)
				fputs(agg, stderr);
		}
	} else if (strcmp(method, "error") == 0) {
		cJSON *e = cJSON_GetObjectItem(p, "error");
		const char *msgtxt = cJSON_GetStringValue(cJSON_GetObjectItem(e, "message"));
		const char *more = cJSON_GetStringValue(cJSON_GetObjectItem(e,
		    "additionalDetails"));

		if (cJSON_IsTrue(cJSON_GetObjectItem(p, "willRetry")))
			fprintf(stderr, "codex-connect: retrying: %s%s%s\n",
			    msgtxt ? msgtxt : "", more ? " — " : "", more ? more : "");
		else
			fprintf(stderr, "codex-connect: error: %s%s%s\n",
			    msgtxt ? msgtxt : "(unknown)", more ? " — " : "",
			    more ? more : "");
	}
	if (strcmp(method, "turn/completed") == 0) {
		cJSON *turn = cJSON_GetObjectItem(p, "turn");
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(turn, "status"));

		if (c->in_agent_text && !o->json)
			fputc('\n', stdout);
		if (st == NULL || strcmp(st, "completed") != 0) {
			cJSON *e = cJSON_GetObjectItem(turn, "error");

			fprintf(stderr, "codex-connect: turn %s%s%s\n", st ? st : "ended",
			    e && cJSON_GetStringValue(cJSON_GetObjectItem(e, "message")) ?
			    ": " : "", e && cJSON_GetStringValue(cJSON_GetObjectItem(e,
			    "message")) ? cJSON_GetStringValue(cJSON_GetObjectItem(e,
			    "message")) : "");
			c->app->exit_code = st && strcmp(st, "interrupted") == 0 ? 130 : 1;
		}
		c->app->done = 1;
		if (c->st != NULL)
			stream_close(c->st);
	}
	fflush(stdout);
out:
	cJSON_Delete(m);
}

/* Returns 0 when a turn was asked to stop, -1 when there is none to stop. */
static int
exec_interrupt(struct lclient *c)
{
	cJSON *m, *p;

	if (c->thread_id[0] == '\0' || c->turn_id[0] == '\0')
		return -1;
	fprintf(stderr, "\ncodex-connect: interrupting the turn (Ctrl-C again to quit)\n");
	m = exec_request(c, "turn/interrupt", &p);
	cJSON_AddStringToObject(p, "threadId", c->thread_id);
	cJSON_AddStringToObject(p, "turnId", c->turn_id);
	exec_send(c, m);
	return 0;
}

/* ---- the unix socket and the TUI ---------------------------------------- */

static int
sock_listen(struct app *a)
{
	struct sockaddr_un sun;
	char err[600];
	mode_t old;
	int fd;

	if (a->o->socket_path != NULL) {
		const char *slash = strrchr(a->o->socket_path, '/');

		snprintf(a->sock_path, sizeof(a->sock_path), "%s", a->o->socket_path);
		if (slash != NULL)
			snprintf(a->sock_dir, sizeof(a->sock_dir), "%.*s",
			    (int)(slash - a->o->socket_path), a->o->socket_path);
		else
			snprintf(a->sock_dir, sizeof(a->sock_dir), ".");
	} else {
		share_default_dir(a->sock_dir, sizeof(a->sock_dir));
		snprintf(a->sock_path, sizeof(a->sock_path), "%s/%ld.sock", a->sock_dir,
		    (long)getpid());
	}
	if (share_private_dir(a->sock_dir, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "codex-connect: %s; refusing to put the socket "
		    "there\n", err);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(a->sock_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "codex-connect: socket path too long: %s\n", a->sock_path);
		return -1;
	}
	memcpy(sun.sun_path, a->sock_path, strlen(a->sock_path) + 1);
	(void)unlink(a->sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 16) != 0) {
		umask(old);
		fprintf(stderr, "codex-connect: %s: %s\n", a->sock_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	return fd;
}

static void
sock_accept(struct app *a)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd;

	while ((fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
		    cred.uid != getuid()) {
			close(fd);
			continue;
		}
		if (lc_new(a, LC_SOCK, fd, fd) == NULL)
			close(fd);
	}
}

/* The real Codex CLI: $CODEX_CLI, else `codex` on PATH that is not our wrapper. */
static const char *
find_codex(struct app *a)
{
	static char path[4096];
	const char *env = getenv("CODEX_CLI"), *p;
	char *dirs, *d, *save = NULL;

	if (a->o->codex_cli != NULL)
		return a->o->codex_cli;
	if (env != NULL && *env != '\0')
		return env;
	if ((p = getenv("PATH")) == NULL || (dirs = strdup(p)) == NULL)
		return NULL;
	for (d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		FILE *f;
		char head[256] = "";

		snprintf(path, sizeof(path), "%s/codex", d);
		if (access(path, X_OK) != 0)
			continue;
		/* Skip our own `codex` wrapper (a script that names codex-connect). */
		if ((f = fopen(path, "r")) != NULL) {
			size_t n = fread(head, 1, sizeof(head) - 1, f);

			head[n] = '\0';
			fclose(f);
			if (strstr(head, "codex-ssh wrapper") != NULL)
				continue;
		}
		free(dirs);
		return path;
	}
	free(dirs);
	return NULL;
}

/* Prints WORD for a POSIX shell: as it is when that is safe, else single-quoted. */
static void
shell_word(FILE *f, const char *w)
{
	const char *p;

	if (*w != '\0' && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789@%+=:,./_-") == strlen(w)) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (p = w; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

/*
 * After the TUI: the command that brings the user back to its thread, since the
 * one the TUI prints names our socket, gone with us. The options are repeated as
 * typed (getopt put them all ahead of HOST), less --last.
 */
static void
print_resume_hint(struct app *a)
{
	struct app_opts *o = a->o;
	int i;

	if (!a->tui_started || a->thread_id[0] == '\0' || o->argv == NULL)
		return;
	fputs("codex-connect: to resume this session: ", stderr);
	fputs(getenv("CODEX_CONNECT_WRAPPER") != NULL ? "codex connect" : "codex-connect",
	    stderr);
	for (i = 1; i <= o->host_arg; i++) {
		if (i < o->host_arg && strcmp(o->argv[i], "--last") == 0)
			continue;
		fputc(' ', stderr);
		shell_word(stderr, o->argv[i]);
	}
	fprintf(stderr, " resume %s\n", a->thread_id);
}

static void
start_tui(struct app *a)
{
	const char *codex = a->o->no_tui ? NULL : find_codex(a);
	const char *argv[6] = { NULL };
	char url[4300];
	int n = 0;

	snprintf(url, sizeof(url), "unix://%s", a->sock_path);
	argv[n++] = "codex";
	argv[n++] = "--remote";
	argv[n++] = url;
	if (a->o->resume) {
		argv[n++] = "resume";
		if (a->o->resume_last)
			argv[n++] = "--last";
		else if (a->o->resume_id != NULL)
			argv[n++] = a->o->resume_id;
	}
	argv[n] = NULL;
	if (codex == NULL) {
		fprintf(stderr, "codex-connect: serving %s's app server on %s\n"
		    "  attach the Codex TUI with:  codex --remote %s%s%s%s\n"
		    "  or any JSON-RPC client:     socat - UNIX-CONNECT:%s\n"
		    "  Ctrl-C to stop.\n", link_target(a->link), a->sock_path, url,
		    n > 3 ? " resume" : "", n > 4 ? " " : "", n > 4 ? argv[4] : "",
		    a->sock_path);
		return;
	}
	if ((a->tui = fork()) == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		unsetenv("CODEX_CONNECT_WRAPPER");
		/* argv ends in NULL: execl stops at the first one. */
		execl(codex, argv[0], argv[1], argv[2], argv[3], argv[4], (char *)NULL);
		fprintf(stderr, "codex-connect: cannot run %s: %s\n", codex, strerror(errno));
		_exit(127);
	}
	if (a->tui > 0)
		a->tui_started = 1;
	/* The TUI owns the terminal now; Ctrl-C is its business. */
	signal(SIGINT, SIG_IGN);
}

/* ---- --list ------------------------------------------------------------- */

/* -O check|exit HOST, as ssh -O: the connection master of HOST. */
static int
do_ctl(struct app_opts *o)
{
	struct share_where w;
	char err[700];
	int r;

	if (sodium_init() < 0)
		return 255;
	r = share_where(&o->link.ssh, PACKAGE_VERSION, &w, err, sizeof(err));
	if (r <= 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 255;
	}
	if (share_control(&w, o->ctl, err, sizeof(err)) != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 255;
	}
	return 0;
}

static int
do_list(struct app_opts *o)
{
	struct sshconf_opts so;
	struct sshconf *cfg;
	struct sshconf_host *hosts = NULL;
	size_t n = 0, i;
	char user_file[4096];
	const char *home = getenv("HOME");
	int r;

	memset(&so, 0, sizeof(so));
	if (o->link.ssh.config_file != NULL)
		so.user_file = o->link.ssh.config_file;
	else {
		snprintf(user_file, sizeof(user_file), "%s/.ssh/config", home ? home : "");
		so.user_file = user_file;
		so.system_file = "/etc/ssh/ssh_config";
	}
	if (sshconf_load(&so, &cfg) != 0) {
		fprintf(stderr, "codex-connect: cannot read ssh_config\n");
		return 1;
	}
	for (i = 0; i < sshconf_nwarnings(cfg); i++)
		fprintf(stderr, "codex-connect: %s\n", sshconf_warning(cfg, i));
	if (o->json) {
		struct cJSON *arr;
		char *t;

		if (sshconf_list_json(cfg, &arr) != 0) {
			sshconf_free(cfg);
			return 1;
		}
		t = cJSON_Print(arr);
		printf("%s\n", t ? t : "[]");
		free(t);
		cJSON_Delete(arr);
		sshconf_free(cfg);
		return 0;
	}
	r = sshconf_list(cfg, &hosts, &n);
	if (r != 0) {
		sshconf_free(cfg);
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("%-24s %s@%s:%d%s%s\n", hosts[i].alias, hosts[i].user,
		    hosts[i].hostname, hosts[i].port, hosts[i].proxyjump ? " via " : "",
		    hosts[i].proxyjump ? hosts[i].proxyjump : "");
	if (n == 0)
		fprintf(stderr, "codex-connect: no host aliases in ssh_config\n");
	sshconf_hosts_free(hosts, n);
	sshconf_free(cfg);
	return 0;
}

/* ---- env: environments.toml -------------------------------------------- */

static void
env_print(void *ctx, const char *id, int ours, int is_default)
{
	(void)ctx;
	printf("%-24s %s%s\n", id[0] ? id : "(no id)", ours ? "codex-connect" : "yours",
	    is_default ? ", default" : "");
}

/*
 * `env add HOST [--id ID] [--default]`, `env list`, `env remove ID`: the local app
 * server's environments ($CODEX_HOME/environments.toml, client/envfile.h), each
 * added one running `codex-connect HOST exec-server`.
 */
/* Where environments.toml is: $CODEX_HOME, else ~/.codex. */
static void
env_path(char *dir, size_t dirlen, char *path, size_t pathlen)
{
	const char *home = getenv("CODEX_HOME"), *uhome = getenv("HOME");

	if (home != NULL && *home != '\0')
		snprintf(dir, dirlen, "%s", home);
	else
		snprintf(dir, dirlen, "%s/.codex", uhome ? uhome : ".");
	snprintf(path, pathlen, "%s/environments.toml", dir);
}

#define ENV_MAX_ARGS (2 + 2 * (3 + 16 + 64))
struct env_bufs {
	char cfg[4096], ids[16][4096], port[16];
};

/* The connection options of the command line as an environment's arguments
 * (files made absolute: the app server runs us from anywhere); HOST and
 * exec-server go after them. Returns how many. */
static size_t
env_args(const struct app_opts *o, const char **args, struct env_bufs *b)
{
	const struct sshconn_opts *so = &o->link.ssh;
	size_t na = 0, i;

	if (so->config_file != NULL) {
		args[na++] = "-F";
		args[na++] = realpath(so->config_file, b->cfg) != NULL ? b->cfg :
		    so->config_file;
	}
	if (so->user != NULL) {
		args[na++] = "-l";
		args[na++] = so->user;
	}
	if (so->port > 0) {
		snprintf(b->port, sizeof(b->port), "%d", so->port);
		args[na++] = "-p";
		args[na++] = b->port;
	}
	for (i = 0; i < so->nidentities && i < 16; i++) {
		args[na++] = "-i";
		args[na++] = realpath(so->identities[i], b->ids[i]) != NULL ?
		    b->ids[i] : so->identities[i];
	}
	for (i = 0; i < so->noptions && i < 64; i++) {
		args[na++] = "-o";
		args[na++] = so->options[i];
	}
	return na;
}

static int
env_command(const struct app_opts *o)
{
	char path[4200], dir[4096], self[4096], err[600];
	const char *args[ENV_MAX_ARGS];
	struct env_bufs eb;
	size_t na;
	struct envfile *f;
	ssize_t n;
	int r = 0;

	env_path(dir, sizeof(dir), path, sizeof(path));
	if ((f = envfile_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 1;
	}
	if (strcmp(o->env_argv[0], "list") == 0) {
		envfile_each(f, env_print, NULL);
		envfile_free(f);
		return 0;
	}
	if (strcmp(o->env_argv[0], "add") == 0) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[n > 0 ? n : 0] = '\0';
		na = env_args(o, args, &eb);
		args[na++] = o->env_argv[1];
		args[na++] = "exec-server";
		(void)mkdir(dir, 0700);
		r = envfile_add(f, o->env_id ? o->env_id : o->env_argv[1],
		    self[0] ? self : "codex-connect", args, na, o->env_default, err,
		    sizeof(err));
	} else if (strcmp(o->env_argv[0], "remove") == 0)
		r = envfile_remove(f, o->env_argv[1], err, sizeof(err));
	else {
		snprintf(err, sizeof(err), "unknown env command \"%s\" (add, list, "
		    "remove)", o->env_argv[0]);
		r = -1;
	}
	if (r == 0 && envfile_save(f, path, err, sizeof(err)) != 0)
		r = -1;
	envfile_free(f);
	if (r != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 1;
	}
	printf("%s %s\n", strcmp(o->env_argv[0], "add") == 0 ? "added to" :
	    "removed from", path);
	return 0;
}

/*
 * `codex-connect [options] --env ID [--env ID...]`: the local Codex TUI with
 * those environments. Each one missing from environments.toml is added as
 * `env add` would (HOST = ID, with the options given); the first becomes the
 * default, which the app server makes the primary environment of every new
 * thread; the others are there for per-turn and per-command selection. Then
 * the real `codex` runs in our place.
 */
struct env_seen {
	const char *want;
	int found, ours, is_default;
};

static void
env_seen_one(void *ctx, const char *id, int ours, int is_default)
{
	struct env_seen *e = ctx;

	if (strcmp(id, e->want) == 0) {
		e->found = 1;
		e->ours = ours;
		e->is_default = is_default;
	}
}

static int
local_tui(struct app_opts *o)
{
	char path[4200], dir[4096], self[4096], err[600];
	const char *args[ENV_MAX_ARGS], *codex;
	struct env_bufs eb;
	struct envfile *f;
	struct env_seen e;
	struct app a;
	ssize_t n;
	size_t na;
	int i, r = 0;

	env_path(dir, sizeof(dir), path, sizeof(path));
	if ((f = envfile_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	na = env_args(o, args, &eb);
	for (i = 0; i < o->nenvs && r == 0; i++) {
		memset(&e, 0, sizeof(e));
		e.want = o->envs[i];
		envfile_each(f, env_seen_one, &e);
		if (e.found && (!e.ours || i > 0)) {
			if (i == 0 && !e.is_default) {
				snprintf(err, sizeof(err), "environment %s is one you "
				    "wrote in %s: make it the default there (default "
				    "= \"%s\"), or list it after another --env",
				    e.want, path, e.want);
				r = -1;
			}
			continue;
		}
		args[na] = o->envs[i];
		args[na + 1] = "exec-server";
		(void)mkdir(dir, 0700);
		r = envfile_add(f, o->envs[i], self[0] ? self : "codex-connect", args,
		    na + 2, i == 0, err, sizeof(err));
	}
	if (r == 0 && envfile_save(f, path, err, sizeof(err)) != 0)
		r = -1;
	envfile_free(f);
	if (r != 0) {
		fprintf(stderr, "codex-connect: %s\n", err);
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.o = o;
	if ((codex = find_codex(&a)) == NULL) {
		fprintf(stderr, "codex-connect: no Codex CLI found (install "
		    "@openai/codex, or set CODEX_CLI); the environments are in %s\n",
		    path);
		return 1;
	}
	if (!o->link.quiet) {
		fprintf(stderr, "codex-connect: environments");
		for (i = 0; i < o->nenvs; i++)
			fprintf(stderr, " %s%s", o->envs[i], i == 0 ? " (default)" : "");
		fprintf(stderr, " in %s; starting %s\n", path, codex);
	}
	unsetenv("CODEX_CONNECT_WRAPPER");
	execl(codex, "codex", (char *)NULL);
	fprintf(stderr, "codex-connect: %s: %s\n", codex, strerror(errno));
	return 1;
}

/* ---- the loop ------------------------------------------------------------ */

/*
 * --stdio when no session could be had: an IDE has usually sent its initialize
 * already; every request that is there (or arrives within 200 ms) gets a JSON-RPC
 * error with the reason, so the IDE shows it instead of waiting.
 */
static void
stdio_refuse(const char *why)
{
	struct jsonl_reader *jr = jsonl_new(FRAME_DEFAULT_MAX_MESSAGE);
	struct pollfd pf = { .fd = 0, .events = POLLIN };
	int64_t until = now_ms() + 200;
	struct jrpc_reject rej;
	struct jrpc_msg m;
	char buf[65536], msg[1200], *t;
	const char *line;
	size_t len;
	ssize_t n;
	int r;

	if (jr == NULL)
		return;
	snprintf(msg, sizeof(msg), "codex-connect: %s", why);
	while (now_ms() < until && poll(&pf, 1, (int)(until - now_ms())) > 0) {
		if ((n = read(0, buf, sizeof(buf))) <= 0 ||
		    jsonl_feed(jr, buf, (size_t)n) != 0)
			break;
		while ((r = jsonl_next(jr, &line, &len)) != 0) {
			memset(&m, 0, sizeof(m));
			memset(&rej, 0, sizeof(rej));
			if (r > 0 && jrpc_parse(line, len, &m, &rej) == 0 &&
			    m.kind == JRPC_REQUEST && (t = jrpc_error_text(m.id,
			    JRPC_INTERNAL_ERROR, msg, NULL, NULL)) != NULL) {
				printf("%s\n", t);
				free(t);
			}
			jrpc_msg_free(&m);
			cJSON_Delete(rej.id);
		}
	}
	fflush(stdout);
	jsonl_free(jr);
}

/*
 * Where our static codex-subsystem builds are, for the bootstrap's upload:
 * $CODEX_SSH_BUILDS alone when set; else the installed ones and, for a
 * codex-connect run from its build tree or an unpacked prefix, the places
 * relative to this executable.
 */
static const char *const *
build_dirs(void)
{
	static char self[4096], rel1[4200], rel2[4200];
	static const char *dirs[5];
	const char *env = getenv("CODEX_SSH_BUILDS");
	ssize_t n;
	char *slash;
	int k = 0;

	if (env != NULL && *env != '\0') {
		/* Said explicitly: only there. */
		dirs[0] = env;
		dirs[1] = NULL;
		return dirs;
	}
	dirs[k++] = CXS_LIBEXECDIR "/codex-ssh";
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(rel1, sizeof(rel1), "%s/../libexec/codex-ssh", self);
			snprintf(rel2, sizeof(rel2), "%s/../static", self);
			dirs[k++] = rel1;
			dirs[k++] = rel2;
		}
	}
	dirs[k] = NULL;
	return dirs;
}

/*
 * --stdio after stdin's EOF: the remote gives its backend EOF once everything sent
 * was delivered, and codex-connect waits for what it still says, as long as the
 * remote session runs but at most --close-wait seconds. Past that it answers what
 * is still owed with an error, says so and exits 1.
 */
static int
close_bound_passed(struct app *a, int64_t now)
{
	struct lclient *c;
	size_t n;

	for (c = a->clients; c != NULL; c = c->next) {
		if (c->kind != LC_STDIO || !c->in_eof || c->st == NULL ||
		    now - c->eof_ms < (int64_t)a->o->close_wait_ms)
			continue;
		n = pending_fail(c, "gave up waiting for the remote session to end");
		fprintf(stderr, "codex-connect: stdin closed %.0f s ago and the remote "
		    "session has not ended; giving up (%zu request%s unanswered)\n",
		    (double)(now - c->eof_ms) / 1000.0, n, n == 1 ? "" : "s");
		a->exit_code = 1;
		return 1;
	}
	return 0;
}

int
app_run(struct app_opts *o)
{
	struct app a;
	struct lclient *c, **cp;
	struct pollfd *pf = NULL;
	size_t cap = 0, n, i;
	struct sigaction sa;
	char err[1024];
	int have_link_fd, nlink;
	size_t first;
	int64_t drain_until = 0;
	int term_seen = 0;

	if (o->mode == APP_LIST)
		return do_list(o);
	if (o->mode == APP_CTL)
		return do_ctl(o);
	if (o->mode == APP_LOCAL)
		return local_tui(o);
	if (o->mode == APP_DOCTOR)
		return doctor_run(o);
	if (o->mode == APP_ENV)
		return env_command(o);
	if (o->mode == APP_INSTALL || o->mode == APP_UNINSTALL) {
		o->link.build_dirs = build_dirs();
		return install_run(o, o->mode == APP_UNINSTALL);
	}
	memset(&a, 0, sizeof(a));
	a.o = o;
	a.lfd = -1;
	if (sodium_init() < 0)
		return 1;
	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* status needs only codex-subsystem: a plain channel starts no backend. */
	if (o->mode == APP_STATUS)
		o->link.plain = 1;
	o->link.version = PACKAGE_VERSION;
	o->link.build_dirs = build_dirs();
	a.link = link_open(&o->link, err, sizeof(err));
	if (a.link == NULL) {
		fprintf(stderr, "codex-connect: %s\n", err);
		if (o->mode == APP_STDIO)
			stdio_refuse(err);
		return 255;
	}
	switch (o->mode) {
	case APP_STDIO:
		if (lc_new(&a, LC_STDIO, 0, 1) == NULL) {
			stdio_refuse(a.start_err);
			a.exit_code = 1, a.done = 1;
		}
		break;
	case APP_EXEC:
	case APP_STATUS:
		c = lc_new(&a, o->mode == APP_EXEC ? LC_EXEC : LC_STATUS, -1, -1);
		if (c == NULL)
			a.exit_code = 1, a.done = 1;
		else if (o->mode == APP_STATUS)
			status_start(c);
		else
			exec_start(c);
		break;
	case APP_SOCKET:
	default:
		if ((a.lfd = sock_listen(&a)) < 0) {
			a.exit_code = 1;
			a.done = 1;
			break;
		}
		start_tui(&a);
		break;
	}

	for (;;) {
		int64_t timeout = link_timeout_ms(a.link);
		int64_t now = now_ms(), t;

		for (c = a.clients; c != NULL; c = c->next)
			if (c->kind == LC_STDIO && c->in_eof && c->st != NULL &&
			    (t = c->eof_ms + o->close_wait_ms - now) < timeout)
				timeout = t < 0 ? 0 : t;
		if (a.done) {
			/* Let CLOSE reach the server so it ends the session now. */
			if (drain_until == 0)
				drain_until = now + 2000;
			if (link_nstreams(a.link) == 0 || now >= drain_until)
				break;
			if (timeout > 50)
				timeout = 50;
		}

		if (got_term) {
			/*
			 * SIGTERM or SIGHUP: whoever ran us is done with the
			 * sessions (an app server ending its environments
			 * signals their process group). End them (CLOSE, for at
			 * most 2 s) rather than leave them waiting on the server
			 * for a resume that will not come. A second signal, or
			 * a dead link, leaves at once.
			 */
			if (term_seen || link_failed(a.link, NULL))
				break;
			got_term = 0;
			term_seen = 1;
			for (c = a.clients; c != NULL; c = c->next)
				if (c->st != NULL)
					stream_close(c->st);
			a.done = 1;
			continue;
		}
		if (close_bound_passed(&a, now))
			break;
		if (got_int) {
			got_int = 0;
			a.interrupts++;
			if (a.interrupts > 1 || o->mode != APP_EXEC) {
				a.exit_code = 130;
				break;
			}
			for (c = a.clients; c != NULL; c = c->next)
				if (c->kind == LC_EXEC && exec_interrupt(c) != 0) {
					/* No turn running yet: nothing to wait for. */
					a.exit_code = 130;
					a.done = 1;
					if (c->st != NULL)
						stream_close(c->st);
				}
		}
		if (got_chld) {
			int st;

			got_chld = 0;
			if (a.tui > 0 && waitpid(a.tui, &st, WNOHANG) == a.tui) {
				a.tui = 0;
				a.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
				break;
			}
		}
		nlink = link_npollfds(a.link);
		n = nlink;
		for (c = a.clients; c != NULL; c = c->next)
			n += 2;
		if (n + 3 > cap) {
			cap = (n + 3) * 2;
			pf = realloc(pf, cap * sizeof(*pf));
			if (pf == NULL)
				return 1;
		}
		have_link_fd = link_pollfds(a.link, pf + 2, nlink);
		n = 2 + have_link_fd;
		pf[0] = (struct pollfd){ .fd = sigpipe_fds[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = a.lfd, .events = POLLIN };
		first = n;
		for (c = a.clients; c != NULL; c = c->next) {
			int rd = c->in >= 0 && !c->in_eof && !c->closing && !c->dead &&
			    (c->st == NULL || !stream_full(c->st));

			pf[n++] = (struct pollfd){ .fd = rd ? c->in : -1, .events = POLLIN };
			pf[n++] = (struct pollfd){ .fd = buf_len(c->obuf) > 0 ? c->out : -1,
			    .events = POLLOUT };
		}
		if (poll(pf, n, (int)timeout) < 0 && errno != EINTR)
			break;
		if (pf[0].revents) {
			char buf[64];

			while (read(sigpipe_fds[0], buf, sizeof(buf)) > 0)
				;
		}
		if (pf[1].revents)
			sock_accept(&a);
		i = first;
		for (c = a.clients; c != NULL; c = c->next) {
			if (i + 1 >= n)
				break;
			if (pf[i].revents && !c->dead)
				lc_read(c);
			i += 2;
		}
		link_run(a.link, pf + 2, have_link_fd);
		for (c = a.clients; c != NULL; c = c->next)
			if (!c->dead)
				lc_write(c);
		cp = &a.clients;
		while ((c = *cp) != NULL) {
			if (c->dead || (c->closing && buf_len(c->obuf) == 0 &&
			    (c->st == NULL || c->kind == LC_SOCK))) {
				*cp = c->next;
				if (c->kind == LC_STDIO && !a.done && c->st == NULL)
					a.done = 1;
				lc_free(c);
				continue;
			}
			cp = &c->next;
		}
		{
			const char *why;

			if (link_failed(a.link, &why)) {
				fprintf(stderr, "codex-connect: %s\n", why);
				a.exit_code = 255;
				break;
			}
		}
	}
	/* Flush what the local clients still have (stdout of --stdio above all). */
	for (c = a.clients; c != NULL; c = c->next) {
		if (c->out >= 0)
			fcntl(c->out, F_SETFL, fcntl(c->out, F_GETFL) & ~O_NONBLOCK);
		lc_write(c);
	}
	while ((c = a.clients) != NULL) {
		a.clients = c->next;
		lc_free(c);
	}
	if (a.tui > 0) {
		kill(a.tui, SIGTERM);
		waitpid(a.tui, NULL, 0);
	}
	if (a.lfd >= 0) {
		close(a.lfd);
		(void)unlink(a.sock_path);
	}
	print_resume_hint(&a);
	link_free(a.link);
	free(pf);
	return a.exit_code;
}
