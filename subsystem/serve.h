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

/* Connects to the user's session host, starting it when none runs. Returns the
 * connected control socket or -1 with a message in err. */
int serve_connect_host(const struct sconf *c, const char *conf_path, int spawn,
    char *err, size_t errlen);

#endif
