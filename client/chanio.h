/*
 * chanio.h - an SSH channel as the bootstrap's I/O (bootstrap/boot.h): blocking
 * reads with a timeout, whole writes, what it said on stderr and how its program
 * exited. Used by the link's exec fallback and by doctor.
 */
#ifndef CXS_CLIENT_CHANIO_H
#define CXS_CLIENT_CHANIO_H

#include <stddef.h>
#include <libssh/libssh.h>

#include "bootstrap/boot.h"

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

#endif
