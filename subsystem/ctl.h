/*
 * ctl.h - the local control socket between a channel's codex-subsystem process and
 * the user's session host: a SOCK_SEQPACKET unix socket RUNDIR/host.sock in a 0700
 * directory owned by the user; both ends check the peer's uid (SO_PEERCRED).
 *
 * Messages are one packet each: a 4-byte type, then a payload. ATTACH carries the
 * channel's stdin and stdout as SCM_RIGHTS, so the host reads and writes sshd's
 * pipes itself and the subsystem process only waits for DONE.
 */
#ifndef CXS_SUBSYSTEM_CTL_H
#define CXS_SUBSYSTEM_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "subsystem/config.h"

enum ctl_type {
	CTL_ATTACH = 1,   /* C->H: payload backend name (may be empty); fds in, out */
	CTL_DONE = 2,     /* H->C: u32 exit code, then a reason for stderr */
	CTL_STATUS = 3,   /* C->H: empty; H->C: JSON text */
	CTL_STOP = 4      /* C->H: ask the host to exit (tests, upgrades) */
};

#define CTL_MAX_PACKET (256 * 1024)

/* Writes the runtime directory path: RuntimeDir, else $XDG_RUNTIME_DIR/codex-ssh
 * (when that exists and is ours), else /tmp/codex-ssh-UID. */
void ctl_rundir(const struct sconf *c, char *out, size_t outlen);
/*
 * Creates dir (0700) or checks an existing one: a real directory (no symlink),
 * owned by us, with no group/other access. Returns 0 or -1 with a reason in err.
 */
int ctl_rundir_prepare(const char *dir, char *err, size_t errlen);

/*
 * Host side: takes RUNDIR/host.lock (flock, non-blocking), removes a stale socket
 * and starts accepting on RUNDIR/host.sock (0600). Returns the socket fd and the lock
 * fd in *lockfd; -1 when another host holds the lock (errno EWOULDBLOCK) or on error
 * (message in err).
 */
int ctl_serve(const char *dir, int *lockfd, char *err, size_t errlen);
/* Connects to RUNDIR/host.sock; -1 with errno (ENOENT/ECONNREFUSED: no host). */
int ctl_connect(const char *dir);
/* Whether the peer of a connected unix socket runs as our uid. */
int ctl_peer_ok(int fd);

/* Sends one packet with up to 2 fds. Returns 0 or -1 with errno. */
int ctl_send(int fd, uint32_t type, const void *payload, size_t len,
    const int *fds, int nfds);
/*
 * Receives one packet into buf (cap bytes): *type, *len, and up to 2 fds in fds
 * (*nfds set; unused slots -1). Returns 1, 0 on EOF, -1 with errno (EAGAIN).
 */
int ctl_recv(int fd, uint32_t *type, void *buf, size_t cap, size_t *len,
    int *fds, int *nfds);

#endif
