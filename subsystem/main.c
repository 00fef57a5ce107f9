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
#include <unistd.h>

#include "cxs_config.h"

#include <cJSON.h>
#include <sodium.h>

#include "bootstrap/register.h"
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
	    "       codex-subsystem status [-f FILE] [--json]    show this user's sessions\n"
	    "       codex-subsystem stop [-f FILE]               stop this user's session host\n"
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
	cJSON *root = cJSON_Parse(js), *arr, *s;

	if (root == NULL) {
		printf("%s\n", js);
		return;
	}
	printf("session host pid %d, up %d s, version %s\n",
	    cJSON_GetObjectItem(root, "host_pid") ?
	    cJSON_GetObjectItem(root, "host_pid")->valueint : 0,
	    cJSON_GetObjectItem(root, "host_uptime_s") ?
	    cJSON_GetObjectItem(root, "host_uptime_s")->valueint : 0,
	    cJSON_GetStringValue(cJSON_GetObjectItem(root, "version")) ?
	    cJSON_GetStringValue(cJSON_GetObjectItem(root, "version")) : "?");
	arr = cJSON_GetObjectItem(root, "sessions");
	if (cJSON_GetArraySize(arr) == 0)
		printf("no sessions\n");
	else
		printf("%4s  %-12s %8s  %-9s %8s %12s %12s %12s %12s\n", "ID", "BACKEND",
		    "PID", "STATE", "UP(s)", "BYTES IN", "BYTES OUT", "JOURNAL MEM",
		    "JOURNAL DISK");
	cJSON_ArrayForEach(s, arr) {
		cJSON *pid = cJSON_GetObjectItem(s, "pid");
		char pidtxt[32] = "-";

		if (cJSON_IsNumber(pid))
			snprintf(pidtxt, sizeof(pidtxt), "%d", pid->valueint);
		printf("%4d  %-12s %8s  %-9s %8.0f %12.0f %12.0f %12.0f %12.0f\n",
		    cJSON_GetObjectItem(s, "id")->valueint,
		    cJSON_GetStringValue(cJSON_GetObjectItem(s, "backend")),
		    pidtxt,
		    cJSON_GetStringValue(cJSON_GetObjectItem(s, "state")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "uptime_s")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_in")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes_out")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "journal_mem_bytes")),
		    cJSON_GetNumberValue(cJSON_GetObjectItem(s, "journal_disk_bytes")));
	}
	cJSON_Delete(root);
}

static int
ctl_command(const struct sconf *c, uint32_t type, int json)
{
	char err[600], *buf;
	int fd, rfds[2], nfds, r;
	uint32_t rtype;
	size_t len;

	if ((fd = serve_connect_host(c, NULL, 0, err, sizeof(err))) < 0) {
		if (type == CTL_STATUS && json)
			printf("{\"sessions\":[],\"host_pid\":null}\n");
		else
			fprintf(stderr, "codex-subsystem: %s\n", err);
		return type == CTL_STATUS && json ? 0 : 1;
	}
	if (ctl_send(fd, type, NULL, 0, NULL, 0) != 0) {
		fprintf(stderr, "codex-subsystem: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	if (type == CTL_STOP) {
		close(fd);
		return 0;
	}
	if ((buf = malloc(CTL_MAX_PACKET + 1)) == NULL)
		return 1;
	r = ctl_recv(fd, &rtype, buf, CTL_MAX_PACKET, &len, rfds, &nfds);
	close(fd);
	if (r != 1 || rtype != CTL_STATUS) {
		fprintf(stderr, "codex-subsystem: no answer from the session host\n");
		free(buf);
		return 1;
	}
	buf[len] = '\0';
	if (json)
		printf("%s\n", buf);
	else
		print_status(buf);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *backend = "", *cmd = NULL;
	char err[600];
	struct sconf c;
	int ch, json = 0, rc;

	sanitise_stdfd();
	/* Internal: print the environment for the login-shell capture. */
	if (argc == 3 && strcmp(argv[1], "__env") == 0)
		return backend_env_dump(argv[2]);
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
		/* These have their own options (see bootstrap/register.h). */
		if (strcmp(cmd, "register") == 0 || strcmp(cmd, "unregister") == 0)
			return reg_main(argc, argv, cmd[0] == 'u');
	}
	while ((ch = getopt_long(argc, argv, "f:b:jvVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': conf_path = optarg; break;
		case 'b': backend = optarg; break;
		case 'j': json = 1; break;
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
		sconf_free(&c);
		return cmd == NULL ? serve_refuse(err) : 1;
	}
	if (cmd == NULL) {
		open_log(&c, "codex-subsystem");
		rc = serve_channel(&c, conf_path, backend);
	} else if (strcmp(cmd, "host") == 0) {
		open_log(&c, "codex-ssh-host");
		rc = host_daemon_main(&c);
	} else if (strcmp(cmd, "status") == 0) {
		rc = ctl_command(&c, CTL_STATUS, json);
	} else if (strcmp(cmd, "stop") == 0) {
		rc = ctl_command(&c, CTL_STOP, 0);
	} else {
		fprintf(stderr, "codex-subsystem: unknown command \"%s\"\n", cmd);
		usage(stderr);
		rc = 2;
	}
	sconf_free(&c);
	log_close();
	return rc;
}
