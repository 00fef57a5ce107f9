/*
 * serve.h - what codex-subsystem does for one SSH channel: choose the mode from the
 * first byte, then hand the channel to the user's session host (framed, Daemon yes)
 * or run it in this process (plain mode, Daemon no).
 */
#ifndef CXS_SUBSYSTEM_SERVE_H
#define CXS_SUBSYSTEM_SERVE_H

#include "subsystem/config.h"

/* Serves stdin/stdout. conf_path is passed on to a host started from here (may be
 * NULL). Returns the process exit code. */
int serve_channel(const struct sconf *c, const char *conf_path, const char *backend);

/* For a channel that cannot be served at all (a broken configuration): reads the
 * first byte to learn the mode, answers with a JSON-RPC error (plain) or the magic
 * and an ERROR frame (framed) carrying why, and returns the exit code (1). */
int serve_refuse(const char *why);

/* Connects to the user's session host of identity id (ctl.h), starting it (with
 * this executable and conf_path) when spawn is set and none runs. Returns the
 * connected control socket or -1 with a message in err. */
int serve_connect_host(const struct sconf *c, const char *conf_path, const char *id,
    int spawn, char *err, size_t errlen);

struct cJSON;
/*
 * The status of every session host of this user, as JSON text the caller frees:
 * {"version","identity" (what a new session of this configuration gets),
 * "hosts":[{host_pid, version, identity, config, current, sessions:[...]}, ...]}.
 * extra, if not NULL, is one more host object listed first (consumed); the host
 * skip_id (may be NULL) is not asked. NULL when out of memory.
 */
char *serve_status_json(const struct sconf *c, struct cJSON *extra,
    const char *skip_id);

/* Stops every session host of this user and waits (at most 20 s) until they
 * have exited. Returns 0, or -1 with a reason in err. */
int serve_stop_hosts(const struct sconf *c, char *err, size_t errlen);

#endif
