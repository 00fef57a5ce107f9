/*
 * chanio.h - opening the channel a session runs on (the codex subsystem, or the
 * bootstrap's exec fallback), and an SSH channel as the bootstrap's I/O
 * (bootstrap/boot.h): blocking reads with a timeout, whole writes, what it said
 * on stderr and how its program exited. Used by the link, by the connection
 * master (client/share.h) and by doctor.
 */
#ifndef CXS_CLIENT_CHANIO_H
#define CXS_CLIENT_CHANIO_H

#include <stddef.h>
#include <libssh/libssh.h>

#include "bootstrap/boot.h"
#include "client/sshconn.h"

struct chanio {
	ssh_session sess;
	ssh_channel ch;
};

/* Fills io to work on c (which must outlive io's use; the session is in
 * blocking mode meanwhile). */
void chanio_boot_io(struct chanio *c, struct boot_io *io);

/*
 * What the exit status of the channel's program says, as "; it exited with ..."
 * ("" when there is none); waits for it a moment (sshd sends it right after EOF).
 */
void chanio_exit_note(ssh_session sess, ssh_channel ch, char *out, size_t outlen);

/* What a session's channel needs. */
struct chanio_req {
	const char *subsystem;     /* "codex" */
	int no_bootstrap;          /* a refused subsystem is an error */
	const char *version;       /* ours: the bootstrap runs this version */
	const char *const *build_dirs;
	const char *host;          /* for messages */
	int verbose;
	int progress;              /* the bootstrap may draw a progress bar */
};

/*
 * Opens a session channel on c (the session in blocking mode meanwhile) and
 * starts r->subsystem on it. When the server refuses the subsystem (not
 * registered) and r->no_bootstrap is 0, runs the bootstrap on an exec channel
 * instead and sets *bootstrap, which makes later calls for the connection go
 * there at once. Returns 0 with the channel in *ch (the caller frees it), the
 * bytes the bootstrap read past its end in *pre (malloc'd, *prelen of them;
 * NULL and 0 when none) and *plain set when the remote runs the plain app
 * server (JSONL, no resume). Otherwise an SSHCONN_ERR_* code, with a message in
 * err; *ch, *pre untouched.
 */
int chanio_open_session(struct sshconn *c, const struct chanio_req *r,
    int *bootstrap, ssh_channel *ch, uint8_t **pre, size_t *prelen, int *plain,
    char *err, size_t errlen);

#endif
