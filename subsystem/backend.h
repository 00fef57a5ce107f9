/*
 * backend.h - starting and stopping a session's backend process (by default
 * `codex app-server`), with the user's login environment.
 *
 * The login shell is only asked for its environment (between random markers, so
 * whatever rc files print is ignored and logged); the backend itself then runs
 * under /bin/sh -c "exec COMMAND" with that environment, its stdout a clean pipe.
 */
#ifndef CXS_SUBSYSTEM_BACKEND_H
#define CXS_SUBSYSTEM_BACKEND_H

#include <sys/types.h>
#include "subsystem/config.h"

struct backend {
	pid_t pid;            /* process group leader; 0 once reaped */
	int in;               /* its stdin (we write), -1 when closed */
	int out;              /* its stdout (we read) */
	int err;              /* its stderr (we read) */
	char how[512];        /* what was run, for messages */
};

/* The absolute path of this executable, resolved once (for re-exec). */
const char *backend_self_exe(void);

/* Who asked for a session: what sshd gave that channel's codex-subsystem. */
struct backend_user {
	char **env;           /* its environment (NULL-terminated "K=V") */
	mode_t umask;         /* its umask */
};

/*
 * Starts backend command for name on behalf of u (NULL: this process itself).
 * The login shell starts from u's environment and umask, and without LoginShell
 * the backend gets that environment as it is; SetEnv applies last. So nothing of
 * the session host's own environment (the channel that happened to start it)
 * reaches a backend started for another channel, and the backend does not get the
 * private umask codex-subsystem uses for its own files. Pipes are non-blocking and
 * close-on-exec. Returns 0, or -1 with a message in err (nothing left running).
 */
int backend_start(struct backend *b, const struct sconf *c,
    const struct sconf_backend *be, const struct backend_user *u,
    char *err, size_t errlen);

/* Records this process's environment and umask as its own backend_user, then
 * sets the private umask (077) for every file codex-subsystem creates. Call once,
 * before anything is created. */
void backend_save_user(void);
/* Splits len bytes of NUL-separated "K=V" strings into a NULL-terminated array
 * (entries without a key or '=' are dropped); NULL when out of memory. */
char **backend_env_split(const char *p, size_t len);
/* Frees such an array (NULL is fine). */
void backend_env_free(char **env);

/* This process's user (as recorded by backend_save_user). */
const struct backend_user *backend_own_user(void);

/* Sends sig to the backend's process group (no-op once reaped). */
void backend_signal(const struct backend *b, int sig);

/* Writes a readable description of a wait status ("status 3", "signal 9 (Killed)"). */
void backend_describe_status(int status, char *out, size_t outlen);

/* `codex-subsystem __env MARKER`: prints the environment between markers. */
int backend_env_dump(const char *marker);

#endif
