/*
 * ctl.h - the local control sockets between a channel's codex-subsystem process and
 * the user's session hosts: SOCK_SEQPACKET unix sockets RUNDIR/host-ID.sock in a
 * 0700 directory owned by the user; both ends check the peer's uid (SO_PEERCRED).
 *
 * A host is known by its identity ID (ctl_identity): the running binary and the
 * effective configuration. A channel is always served by the host of its own
 * codex-subsystem's identity, so an edited config or a new build never reaches a
 * new session through a host started earlier; hosts of older identities keep
 * their sessions (reached for resume through CTL_FIND) and exit once idle.
 *
 * Messages are one packet each: a 4-byte type (host order), then a payload. ATTACH
 * carries the channel's stdin and stdout as SCM_RIGHTS, so the host reads and
 * writes sshd's pipes itself and the subsystem process only waits for DONE. Type
 * numbers never change meaning; a host answers a type it does not know by closing
 * the connection.
 */
#ifndef CXS_SUBSYSTEM_CTL_H
#define CXS_SUBSYSTEM_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "subsystem/config.h"

enum ctl_type {
	CTL_ATTACH = 1,   /* C->H: u8 n, backend name (n bytes, may be 0), then the
			   * channel bytes already read after the magic; fds in, out */
	CTL_DONE = 2,     /* H->C: u32 exit code, then a reason for stderr */
	CTL_STATUS = 3,   /* C->H: empty; H->C: JSON text */
	CTL_STOP = 4,     /* C->H: stop every session and exit; the host keeps the
			   * connection open until it exits (so the caller can wait) */
	CTL_FIND = 5,     /* C->H: a session token; H->C: CTL_FIND, u8 1 if held */
	CTL_ACCEPTED = 6, /* H->C: the channel of an ATTACH is the host's now */
	CTL_ATTACH_USER = 7 /* C->H: ATTACH with who asks: u8 n, backend name,
			   * u32 umask, u32 envlen, the channel's environment
			   * (envlen bytes of NUL-terminated "K=V"), then the
			   * channel bytes; fds in, out. Sent only to a host of
			   * the sender's own identity (an older host would not
			   * know it); a new session started for it runs its
			   * backend with that environment and umask. */
};

#define CTL_MAX_PACKET (256 * 1024)
#define CTL_ID_LEN 16          /* hex characters of a host identity */
#define CTL_MAX_HOSTS 32       /* hosts of one user looked at by a scan */
#define CTL_MAX_PRE 4096       /* channel bytes an ATTACH may carry */
#define CTL_MAX_ENV (64 * 1024) /* environment bytes an ATTACH_USER may carry */

/* Writes the runtime directory path: RuntimeDir, else $XDG_RUNTIME_DIR/codex-ssh
 * (when that exists and is ours), else /tmp/codex-ssh-UID. */
void ctl_rundir(const struct sconf *c, char *out, size_t outlen);
/*
 * Creates dir (0700) or checks an existing one: a real directory (no symlink),
 * owned by us, with no group/other access. Returns 0 or -1 with a reason in err.
 */
int ctl_rundir_prepare(const char *dir, char *err, size_t errlen);

/*
 * The identity of a host this process would run: hex of SHA-256 over the program
 * version, the running executable (device, inode, size, times: a rebuilt or
 * reinstalled binary differs) and sconf_digest(c). id gets CTL_ID_LEN chars + NUL.
 */
void ctl_identity(const struct sconf *c, char id[CTL_ID_LEN + 1]);

/*
 * Host side: takes RUNDIR/host-ID.lock (flock, non-blocking), removes a stale
 * socket and starts accepting on RUNDIR/host-ID.sock (0600). Returns the socket fd
 * and the lock fd in *lockfd; -1 when another host holds the lock (errno
 * EWOULDBLOCK) or on error (message in err).
 */
int ctl_serve(const char *dir, const char *id, int *lockfd, char *err,
    size_t errlen);
/* Connects to RUNDIR/host-ID.sock; -1 with errno (ENOENT/ECONNREFUSED: no host,
 * EPERM: a peer of another uid). */
int ctl_connect(const char *dir, const char *id);
/* Whether the peer of a connected unix socket runs as our uid. */
int ctl_peer_ok(int fd);
/* The pid of a connected peer (0 if unknown). */
pid_t ctl_peer_pid(int fd);
/* Whether pid is a live session host: it exists, is no zombie and (where /proc
 * tells) runs as codex-subsystem. */
int ctl_host_alive(pid_t pid);
/*
 * The identities of the host sockets in dir (at most max, in no order). Returns
 * how many were written to ids.
 */
int ctl_hosts(const char *dir, char ids[][CTL_ID_LEN + 1], int max);
/*
 * Whether the host ID should give way to a newer one when idle: its socket is gone,
 * or another host's socket in dir was created after it.
 */
int ctl_superseded(const char *dir, const char *id);

/*
 * Whether session hosts survive their connections here. A host marks itself
 * alive in STATEDIR/host-ID.alive (its pid) once it serves and removes the mark
 * when it exits by itself (idle, stop), which also clears the count below. A mark
 * whose process is gone means the host was killed from outside (systemd-logind's
 * KillUserProcesses, a job scheduler...). STATEDIR is JournalDir/hosts (default
 * ~/.codex/ssh/journal/hosts): it lives in the home, which such an environment
 * keeps, unlike the runtime directory.
 */
void ctl_statedir(const struct sconf *c, char *out, size_t outlen);
void ctl_alive_mark(const char *statedir, const char *id);
void ctl_alive_clear(const char *statedir, const char *id);
/* Counts the marks of hosts killed from outside since the last clean exit (and
 * removes those marks). Returns the count so far. */
int ctl_killed_hosts(const char *statedir);

/* Sends one packet with up to 2 fds. Returns 0 or -1 with errno. */
int ctl_send(int fd, uint32_t type, const void *payload, size_t len,
    const int *fds, int nfds);
/*
 * Receives one packet into buf (cap bytes): *type, *len, and up to 2 fds in fds
 * (*nfds set; unused slots -1). Returns 1, 0 on EOF, -1 with errno (EAGAIN).
 */
int ctl_recv(int fd, uint32_t *type, void *buf, size_t cap, size_t *len,
    int *fds, int *nfds);
/*
 * One request and its answer on a blocking connection, waiting at most timeout_ms
 * for the answer. Returns 1 with the answer (fds received are closed), 0 when the
 * host closed the connection, -1 with errno (ETIMEDOUT).
 */
int ctl_call(int fd, uint32_t type, const void *payload, size_t len,
    uint32_t *rtype, void *buf, size_t cap, size_t *rlen, int timeout_ms);

#endif
