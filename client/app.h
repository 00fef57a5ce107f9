/*
 * app.h - codex-connect's program: its options and the local front ends that sit
 * on a link (link.h): --stdio, the unix socket (WebSocket or JSONL) with the Codex
 * TUI on it, `exec`, `status` and `--list`.
 */
#ifndef CXS_CLIENT_APP_H
#define CXS_CLIENT_APP_H

#include <stddef.h>
#include "client/link.h"

enum app_mode {
	APP_SOCKET = 0,   /* default: unix socket, then the Codex TUI on it */
	APP_STDIO,        /* JSONL on stdin/stdout */
	APP_EXEC,         /* one turn from the command line */
	APP_STATUS,       /* codex-ssh/status */
	APP_DOCTOR,       /* checks, ok/warn/fail (doctor.h) */
	APP_INSTALL,      /* install.h */
	APP_ENV,          /* env add|list|remove: environments.toml (envfile.h) */
	APP_UNINSTALL,
	APP_LIST,         /* ssh_config aliases */
	APP_CTL,          /* -O check|exit: the connection master */
	APP_LOCAL         /* --env ID...: the local TUI with remote environments */
};

struct app_opts {
	enum app_mode mode;
	struct link_opts link;
	const char *socket_path;   /* --socket */
	const char *ctl;           /* -O check|exit */
	const char *envs[16];      /* --env ID (no HOST): local_tui */
	int nenvs;
	int no_tui;
	int json;                  /* --json for exec, status, doctor and --list */
	int yes;                   /* exec: accept approvals without a terminal */
	const char *prompt;        /* exec */
	const char *cwd, *model, *sandbox, *approval;
	const char *codex_cli;     /* the local Codex CLI for the TUI */
	int sudo;                  /* install/uninstall: register through sudo too */
	const char *libexec;       /* install --sudo: where the copy goes */
	char **reg_args;           /* install/uninstall: after `--`, for register */
	int nreg_args;
	char **env_argv;           /* env: the words after "env" */
	int env_argc;
	const char *env_id;        /* env add --id */
	int env_default;           /* env add --default */
	int close_wait_ms;         /* --stdio: after stdin EOF, wait at most this
				    * for the remote session to end (30 s) */
	/* `HOST resume [ID | --last]`: the TUI starts as `codex --remote URL resume
	 * ID` (or `resume --last`, or plain `resume`: the CLI's picker). */
	int resume;
	int resume_last;
	const char *resume_id;
	/* For the "to resume this session" hint: argv as app_parse left it (GNU
	 * getopt moves every option ahead of HOST), HOST at argv[host_arg]. */
	char **argv;
	int host_arg;
};

/* Runs the program; returns its exit code. */
int app_run(struct app_opts *o);

/* Parses argv into o (pointers into argv); returns 0, or an exit code to leave
 * with after printing usage or an error (2) or help/version (0) — *done set. */
int app_parse(int argc, char **argv, struct app_opts *o, int *done);

#endif
