/*
 * host.h - the session host: one poll() loop that owns sessions (a backend process,
 * its journal, the client's sequence state) and the channels attached to them.
 *
 * It runs in two ways. As the per-user daemon (`codex-subsystem host`) it accepts
 * channels from codex-subsystem processes over the control socket (ctl.h) and keeps
 * framed sessions alive across disconnects. In attached mode (plain channels, or
 * `Daemon no`) the channel's own codex-subsystem process runs it with one channel,
 * and the backend ends with the channel.
 */
#ifndef CXS_SUBSYSTEM_HOST_H
#define CXS_SUBSYSTEM_HOST_H

#include <stddef.h>
#include "subsystem/config.h"

struct host;

/* Creates a loop. daemon: sessions outlive channels and the loop serves ctl_fd
 * (a listening control socket; -1 in attached mode). c must outlive the host. */
struct host *host_new(const struct sconf *c, int daemon, int ctl_fd);
void host_free(struct host *h);

/*
 * Adds a channel: in/out are its fds (ownership passes to the host), framed says
 * whether the magic was read, backend is the name chosen by the subsystem's
 * arguments ("" for the default), ctl the control connection that waits for
 * CTL_DONE (-1 in attached mode); pre/prelen are input bytes already read from
 * in after the mode was chosen. Returns 0 or -1.
 */
int host_add_channel(struct host *h, int in, int out, int framed,
    const char *backend, int ctl, const void *pre, size_t prelen);

/* The note a WELCOME carries (PROTOCOL.md 2.4, "attached"): why sessions here end
 * with their channel. Copied. */
void host_set_attached(struct host *h, const char *why);

/*
 * Runs until there is nothing left to do: in attached mode when the channel and its
 * session are gone; as a daemon after IdleTimeout without sessions or on SIGTERM.
 * Returns the exit code for the process and, in attached mode, a reason worth
 * printing on stderr in *reason (may be empty).
 */
int host_run(struct host *h, char *reason, size_t reasonlen);

/*
 * For tests (the fuzz targets drive the loop themselves). host_step runs one
 * round of host_run's loop, waiting at most timeout_ms in poll(), and returns 1
 * once host_run would have returned (then call host_free), else 0. host_stop does
 * what SIGTERM and CTL_STOP do: every session is stopped, and the loop ends once
 * they are gone.
 */
int host_step(struct host *h, int timeout_ms);
void host_stop(struct host *h);

/*
 * `codex-subsystem host`: the daemon's whole life, serving RUNDIR/host-ID.sock for
 * the identity (ctl.h) of this binary and c. conf_path is shown by status (may be
 * NULL). ready_fd (-1: none) gets one line once the start is decided: "ready",
 * "busy" (a host of the same identity runs) or "error: why"; expect_id (may be
 * NULL) is the identity the starter computed: another one is an error (the binary
 * or the file changed in between). Returns the exit code.
 */
int host_daemon_main(const struct sconf *c, const char *conf_path, int ready_fd,
    const char *expect_id);

#endif
