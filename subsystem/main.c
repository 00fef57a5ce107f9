/*
 * codex-subsystem - what sshd runs for `Subsystem codex ...`.
 * main() only sanitises the process and dispatches; see serve.c and host.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cxs_config.h"

#include <cJSON.h>
#include <sodium.h>

#include "subsystem/register.h"
#include "subsystem/backend.h"
#include "subsystem/config.h"
#include "subsystem/ctl.h"
#include "subsystem/host.h"
#include "subsystem/log.h"
#include "subsystem/serve.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: codex-subsystem [-f FILE] [--backend NAME]   serve one channel on stdin/stdout\n"
	    "       codex-subsystem host [-f FILE]               run the session host (started on demand)\n"
	    "       codex-subsystem status [-f FILE] [--json]    show this user's session hosts\n"
	    "       codex-subsystem stop [-f FILE]               stop them and wait until they exit\n"
	    "       codex-subsystem register [--name NAME] [--backend B] [--args ARGS] ...\n"
	    "                                    add Subsystem NAME to sshd (as root)\n"
	    "       codex-subsystem unregister [--name NAME] ...   remove it again\n"
	    "       codex-subsystem --version\n");
}

/* 0, 1 and 2 must be open, or the first file we open would become our stdout. */
static void
sanitise_stdfd(void)
{
	int fd = open("/dev/null", O_RDWR), i;

	if (fd < 0)
		return;
	for (i = 0; i < 3; i++)
		if (fcntl(i, F_GETFL) < 0)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
}

static void
open_log(const struct sconf *c, const char *ident)
{
	const char *home = getenv("HOME");
	char path[4096];

	if (c->log_file != NULL) {
		(void)log_open(c->log_file, c->log_max, c->log_level, ident);
		return;
	}
	if (home == NULL || home[0] != '/')
		return;
	snprintf(path, sizeof(path), "%s/.codex/ssh/log/subsystem.log", home);
	(void)log_open(path, c->log_max, c->log_level, ident);
}

static void
print_status(const char *js)
{
	cJSON *root = cJSON_Parse(js), *h, *s;
	int n = 0;

	if (root == NULL) {
		printf("%s\n", js);
		return;
	}
	cJSON_ArrayForEach(h, cJSON_GetObjectItem(root, "hosts")) {
		cJSON *pid = cJSON_GetObjectItem(h, "host_pid");
		const char *cf = cJSON_GetStringValue(cJSON_GetObjectItem(h, "config"));

		printf("%ssession host pid %d, up %.0f s, version %s, %s%s%s%s\n",
		    n++ ? "\n" : "", cJSON_IsNumber(pid) ? pid->valueint : 0,
		    cJSON_GetNumberValue(cJSON_GetObjectItem(h, "host_uptime_s")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(h, "version")) ?: "?",
		    cJSON_GetStringValue(cJSON_GetObjectItem(h, "mode")) ?: "?",
		    cf ? ", config " : "", cf ? cf : "",
		    cJSON_IsTrue(cJSON_GetObjectItem(h, "current")) ? " (new sessions)" :
		    cJSON_IsTrue(cJSON_GetObjectItem(h, "draining")) ? " (draining)" : "");
		if (cJSON_GetStringValue(cJSON_GetObjectItem(h, "journal_refused")))
			printf("  journals in memory only: %s\n", cJSON_GetStringValue(
			    cJSON_GetObjectItem(h, "journal_refused")));
		if (cJSON_GetArraySize(cJSON_GetObjectItem(h, "sessions")) == 0) {
			printf("  no sessions\n");
			continue;
		}
		printf("%4s  %-12s %8s  %-9s %8s %12s %12s %12s %12s\n", "ID", "BACKEND",
		    "PID", "STATE", "UP(s)", "BYTES IN", "BYTES OUT", "JOURNAL MEM",
		    "JOURNAL DISK");
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(h, "sessions")) {
			cJSON *bp = cJSON_GetObjectItem(s, "pid");
			char pidtxt[32] = "-";

			if (cJSON_IsNumber(bp))
				snprintf(pidtxt, sizeof(pidtxt), "%d", bp->valueint);
			printf("%4.0f  %-12s %8s  %-9s %8.0f %12.0f %12.0f %12.0f %12.0f\n",
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "id")),
			    cJSON_GetStringValue(cJSON_GetObjectItem(s, "backend")) ?: "?",
			    pidtxt,
			    cJSON_GetStringValue(cJSON_GetObjectItem(s, "state")) ?: "?",
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "uptime_s")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_in")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_out")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "journal_mem_bytes")),
			    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "journal_disk_bytes")));
			if (cJSON_GetStringValue(cJSON_GetObjectItem(s, "journal_error")))
				printf("      journal cannot spill (%s): the backend waits "
				    "for the client\n", cJSON_GetStringValue(
				    cJSON_GetObjectItem(s, "journal_error")));
		}
	}
	if (n == 0)
		printf("no session host is running\n");
	cJSON_Delete(root);
}

/* `status` and `stop`: every session host of this user. */
static int
hosts_command(const struct sconf *c, const char *cmd, int json)
{
	char err[600], dir[4096], *js;

	ctl_rundir(c, dir, sizeof(dir));
	if (ctl_rundir_prepare(dir, err, sizeof(err)) != 0) {
		fprintf(stderr, "codex-subsystem: %s\n", err);
		return 1;
	}
	if (strcmp(cmd, "stop") == 0) {
		if (serve_stop_hosts(c, err, sizeof(err)) != 0) {
			fprintf(stderr, "codex-subsystem: %s\n", err);
			return 1;
		}
		return 0;
	}
	if ((js = serve_status_json(c, NULL, NULL)) == NULL) {
		fprintf(stderr, "codex-subsystem: out of memory\n");
		return 1;
	}
	if (json)
		printf("%s\n", js);
	else
		print_status(js);
	free(js);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "expect-id", required_argument, NULL, 'E' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *backend = "", *cmd = NULL, *expect_id = NULL;
	char err[600];
	struct sconf c;
	int ch, json = 0, rc, ready_fd = -1;

	sanitise_stdfd();
	/* Internal: print the environment for the login-shell capture. */
	if (argc == 3 && strcmp(argv[1], "__env") == 0)
		return backend_env_dump(argv[2]);
	/* Our files private from here on; backends get the user's umask back. */
	backend_save_user();
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
		/* These have their own options (see subsystem/register.h). */
		if (strcmp(cmd, "register") == 0 || strcmp(cmd, "unregister") == 0)
			return reg_main(argc, argv, cmd[0] == 'u');
	}
	while ((ch = getopt_long(argc, argv, "f:b:jvVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'b': backend = optarg; break;
		case 'j': json = 1; break;
		case 'R': ready_fd = atoi(optarg); break;
		case 'E': expect_id = optarg; break;
		case 'v': break;
		case 'V': printf("codex-subsystem %s\n", PACKAGE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "codex-subsystem: libsodium failed to initialise\n");
		return 1;
	}
	sconf_init(&c);
	if (sconf_load(&c, conf_path, err, sizeof(err)) != 0) {
		/* stderr reaches a terminal when run by hand or through `ssh host
		 * cmd`, but sshd drops a subsystem's: tell the channel too. */
		fprintf(stderr, "codex-subsystem: %s\n", err);
		if (ready_fd >= 0)
			dprintf(ready_fd, "error: %s\n", err);
		sconf_free(&c);
		return cmd == NULL ? serve_refuse(err) : 1;
	}
	if (cmd == NULL) {
		open_log(&c, "codex-subsystem");
		rc = serve_channel(&c, conf_path, backend);
	} else if (strcmp(cmd, "host") == 0) {
		/* Started through /proc/self/exe, whose name the kernel shows
		 * ("exe"): name it so that ps -C and pkill find it. */
		(void)prctl(PR_SET_NAME, "codex-subsystem", 0, 0, 0);
		open_log(&c, "codex-ssh-host");
		rc = host_daemon_main(&c, conf_path, ready_fd, expect_id);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "stop") == 0) {
		/* A log the channels cannot use says so here (sshd drops their
		 * stderr), so the user learns it from status. */
		if (strcmp(cmd, "status") == 0)
			open_log(&c, "codex-subsystem");
		rc = hosts_command(&c, cmd, json);
	} else {
		fprintf(stderr, "codex-subsystem: unknown command \"%s\"\n", cmd);
		usage(stderr);
		rc = 2;
	}
	sconf_free(&c);
	log_close();
	return rc;
}
