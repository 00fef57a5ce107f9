/*
 * doctor.c - checks, from name resolution to the remote's login PATH, each with
 * its verdict and a fix. Changes nothing anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cxs_config.h"
#include "bootstrap/boot.h"
#include "bootstrap/marker.h"
#include "client/chanio.h"
#include "client/doctor.h"
#include "client/sshconn.h"

#define MAX_CHECKS 32

struct check {
	char name[32];
	char status[8];             /* ok, warn, fail, skip */
	char detail[700];
	char fix[300];
};

struct doctor {
	struct check c[MAX_CHECKS];
	int n;
};

static struct check *
add(struct doctor *d, const char *name, const char *status, const char *detail,
    const char *fix)
{
	struct check *c;

	if (d->n >= MAX_CHECKS)
		return NULL;
	c = &d->c[d->n++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->status, sizeof(c->status), "%s", status);
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
	snprintf(c->fix, sizeof(c->fix), "%s", fix ? fix : "");
	return c;
}

/* The fix the remote's findings call for, by check name. */
static const char *
remote_fix(const char *name)
{
	static const struct { const char *name, *fix; } fixes[] = {
		{ "forcecommand", "remove the ForceCommand (sshd_config) or command= "
		    "(authorized_keys) for this key, or use another account" },
		{ "codex", "install the Codex CLI on the login PATH, or set `Backend "
		    "app-server /path/to/codex app-server` in ~/.codex/ssh/subsystem.conf" },
		{ "host", "remove the directory; codex-subsystem makes it again" },
		{ "space", "free some space in the home directory" },
		{ NULL, NULL }
	};
	int i;

	for (i = 0; fixes[i].name != NULL; i++)
		if (strcmp(fixes[i].name, name) == 0)
			return fixes[i].fix;
	return "";
}

/* One finding of doctor.sh: CHECK NAME STATUS DETAIL... */
static void
on_remote(void *ctx, const struct marker_event *ev)
{
	struct doctor *d = ctx;
	const char *detail = ev->args;
	size_t skip;

	if (strcmp(ev->word, "CHECK") != 0 || ev->argc < 2)
		return;
	/* args is "NAME STATUS DETAIL": step over the first two words. */
	skip = strlen(ev->argv[0]) + 1 + strlen(ev->argv[1]);
	detail = strlen(detail) > skip ? detail + skip + 1 : "";
	add(d, ev->argv[0], ev->argv[1], detail,
	    strcmp(ev->argv[1], "fail") == 0 ? remote_fix(ev->argv[0]) : NULL);
}

/* The remote's codex-subsystem version, asked on a plain channel. */
static int
subsystem_version(struct sshconn *c, ssh_channel ch, char *out, size_t outlen)
{
	static const char req[] = "{\"id\":1,\"method\":\"codex-ssh/status\",\"params\":{}}\n";
	char buf[65536], *line, *nl;
	size_t got = 0;
	int n, avail;
	cJSON *m;
	const char *v;

	(void)c;
	if (ssh_channel_write(ch, req, sizeof(req) - 1) != (int)sizeof(req) - 1)
		return -1;
	for (;;) {
		/* sshd starts subsystems through the user's shell, whose rc files
		 * may print lines first: look for the answer among them. */
		buf[got] = '\0';
		for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			if ((m = cJSON_Parse(line)) == NULL)
				continue;
			v = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(m,
			    "result"), "version"));
			snprintf(out, outlen, "%s", v ? v : "?");
			cJSON_Delete(m);
			if (v != NULL)
				return 0;
		}
		got = strlen(line);
		memmove(buf, line, got);
		if (got + 1 >= sizeof(buf) ||
		    (avail = ssh_channel_poll_timeout(ch, 10000, 0)) <= 0 ||
		    (n = ssh_channel_read(ch, buf + got, (uint32_t)(sizeof(buf) - 1 - got),
		    0)) <= 0)
			return -1;
		got += (size_t)n;
	}
}

static void
connect_failed(struct doctor *d, int r, const char *err, const char *host)
{
	char fix[300];

	switch (r) {
	case SSHCONN_ERR_HOSTKEY:
		add(d, "resolve", "ok", host, NULL);
		add(d, "hostkey", "fail", err, strstr(err, " was revoked ") != NULL ?
		    "do not connect: the host presents a revoked key; tell the "
		    "host's admin" : "check the key with the host's admin; if "
		    "it really changed: ssh-keygen -R HOST, then connect once to accept "
		    "the new one");
		add(d, "auth", "skip", "not tried: the host key was not accepted", NULL);
		break;
	case SSHCONN_ERR_AUTH:
		add(d, "resolve", "ok", host, NULL);
		add(d, "hostkey", "ok", "known and matching", NULL);
		add(d, "auth", "fail", err, "check User and IdentityFile in ssh_config, "
		    "the agent (ssh-add -l) and the key in the remote authorized_keys");
		break;
	case SSHCONN_ERR_ARG:
		add(d, "resolve", "fail", err, "fix the host name or the -o option");
		break;
	default:
		snprintf(fix, sizeof(fix), "check the name and port in ssh_config "
		    "(codex-connect --list) and that `ssh %s true` gets through", host);
		add(d, "resolve", "fail", err, fix);
		break;
	}
}

static int
print(const struct doctor *d, const struct app_opts *o)
{
	int i, failed = 0;

	for (i = 0; i < d->n; i++)
		failed |= strcmp(d->c[i].status, "fail") == 0;
	if (o->json) {
		cJSON *root = cJSON_CreateObject(), *arr, *c;
		char *t;

		cJSON_AddStringToObject(root, "host", o->link.ssh.host);
		cJSON_AddBoolToObject(root, "ok", !failed);
		arr = cJSON_AddArrayToObject(root, "checks");
		for (i = 0; i < d->n; i++) {
			c = cJSON_CreateObject();
			cJSON_AddStringToObject(c, "name", d->c[i].name);
			cJSON_AddStringToObject(c, "status", d->c[i].status);
			cJSON_AddStringToObject(c, "detail", d->c[i].detail);
			if (d->c[i].fix[0] != '\0')
				cJSON_AddStringToObject(c, "fix", d->c[i].fix);
			cJSON_AddItemToArray(arr, c);
		}
		t = cJSON_Print(root);
		printf("%s\n", t ? t : "{}");
		free(t);
		cJSON_Delete(root);
	} else {
		for (i = 0; i < d->n; i++) {
			printf("%-4s  %-18s %s\n", d->c[i].status, d->c[i].name,
			    d->c[i].detail);
			if (d->c[i].fix[0] != '\0')
				printf("      %-18s fix: %s\n", "", d->c[i].fix);
		}
	}
	fflush(stdout);
	return failed ? 1 : 0;
}

int
doctor_run(const struct app_opts *o)
{
	static struct doctor d;
	struct sshconn *c = NULL;
	struct boot_opts bo;
	struct boot_io io;
	struct chanio cio;
	ssh_channel ch = NULL;
	char err[1200], where[400], ver[64];
	int r, first;

	memset(&d, 0, sizeof(d));
	r = sshconn_open(&o->link.ssh, &c, err, sizeof(err));
	if (r != 0) {
		connect_failed(&d, r, err, o->link.ssh.host);
		return print(&d, o);
	}
	snprintf(where, sizeof(where), "%s -> %s@%s port %d", sshconn_alias(c),
	    sshconn_user(c), sshconn_host(c), sshconn_port(c));
	add(&d, "resolve", "ok", where, NULL);
	add(&d, "hostkey", "ok", "known and matching", NULL);
	snprintf(where, sizeof(where), "as %s %s", sshconn_user(c), sshconn_auth_info(c));
	add(&d, "auth", "ok", where, NULL);

	r = sshconn_open_channel(c, o->link.subsystem, &ch, err, sizeof(err));
	if (r == 0) {
		if (subsystem_version(c, ch, ver, sizeof(ver)) == 0) {
			snprintf(where, sizeof(where), "Subsystem %s runs codex-subsystem %s%s",
			    o->link.subsystem, ver, strcmp(ver, PACKAGE_VERSION) == 0 ? "" :
			    " (this client is " PACKAGE_VERSION ")");
			add(&d, "subsystem", strcmp(ver, PACKAGE_VERSION) == 0 ? "ok" : "warn",
			    where, NULL);
		} else
			add(&d, "subsystem", "fail", "the subsystem is registered but did "
			    "not answer codex-ssh/status", "check the Subsystem line in "
			    "sshd_config and ~/.codex/ssh/log/subsystem.log on the host");
		ssh_channel_free(ch);
		ch = NULL;
	} else if (r == SSHCONN_ERR_REFUSED)
		add(&d, "subsystem", "warn", "not registered: connects use the exec "
		    "fallback (bootstrap)", NULL);
	else
		add(&d, "subsystem", "fail", err, NULL);

	r = sshconn_open_exec(c, BOOT_COMMAND, &ch, err, sizeof(err));
	if (r != 0) {
		add(&d, "exec", "fail", err, "allow exec requests for this account, or "
		    "register the subsystem (sudo codex-subsystem register)");
		goto out;
	}
	memset(&bo, 0, sizeof(bo));
	bo.version = PACKAGE_VERSION;
	bo.host = o->link.ssh.host;
	bo.verbose = o->link.ssh.verbose > 0;
	cio.sess = sshconn_session(c);
	cio.ch = ch;
	chanio_boot_io(&cio, &io);
	first = d.n;
	r = boot_ask(&io, &bo, boot_doctor_script, "cxs-doctor", on_remote, &d, err,
	    sizeof(err));
	if (r != 0)
		add(&d, "exec", "fail", err, "see what the remote printed with -v; a "
		    "ForceCommand or command= must go for codex-ssh to work");
	else if (add(&d, "exec", "ok", "the exec fallback runs /bin/sh scripts",
	    NULL) != NULL) {
		/* It belongs before the findings of the script it ran. */
		struct check e = d.c[d.n - 1];

		memmove(&d.c[first + 1], &d.c[first], (size_t)(d.n - 1 - first) *
		    sizeof(d.c[0]));
		d.c[first] = e;
	}
out:
	if (ch != NULL)
		ssh_channel_free(ch);
	sshconn_close(c);
	return print(&d, o);
}
