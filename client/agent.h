/*
 * agent.h - the ssh-agent as ssh(1) uses it, for client/auth.c (internal to the
 * sshconn modules). libssh 0.10 can only offer every key of the agent, in the
 * agent's order; ssh(1) filters them (IdentitiesOnly), orders them (keys named
 * by IdentityFile first) and offers one at a time. So the keys are listed here
 * (the agent protocol's REQUEST_IDENTITIES), auth.c offers them itself, and
 * when the server accepts one, libssh signs through a helper process that
 * speaks the agent protocol on a socketpair: it lists that one key and passes
 * every other request to the real agent.
 *
 * Agent messages are bounded (AGENT_MAX_MSG), so are the keys listed
 * (AGENT_MAX_KEYS); the listing waits at most the given time.
 */
#ifndef CXS_CLIENT_AGENT_H
#define CXS_CLIENT_AGENT_H

#include <sys/types.h>

#include <stddef.h>

#include <libssh/libssh.h>

#include "proto/err.h"

#define AGENT_MAX_MSG		(256 * 1024)	/* as ssh-agent and libssh */
#define AGENT_MAX_KEYS		1024

struct agent_key {
	ssh_key key;		/* the public key (or certificate) */
	char *b64;		/* its blob in base64, to compare keys with */
	unsigned char *blob;
	size_t bloblen;
	char *comment;
};

struct agent_keys {
	struct agent_key *k;
	size_t n;
};

/*
 * Lists the keys of the agent listening at path, in the agent's order, waiting
 * at most timeout_ms for it. Keys libssh cannot read are left out. Returns 0
 * with *out filled (free it with agent_keys_free()), or -1 with a reason in err
 * and *out empty.
 */
int agent_list(const char *path, int timeout_ms, struct agent_keys *out,
    char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 3);
/* Frees what ks holds and empties it. */
void agent_keys_free(struct agent_keys *ks) PROTO_NONNULL(1);

/*
 * Forks the helper that answers as an agent holding key k alone and passes
 * sign requests to the agent at path. Stores in *fd the socket to hand to
 * ssh_set_agent_socket() (blocking, close-on-exec) and in *pid the helper,
 * which lives until that socket is shut down (agent_end()). Returns 0, or -1
 * with a reason in err.
 */
int agent_spawn_one(const char *path, const struct agent_key *k, int *fd,
    pid_t *pid, char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2, 3, 4);

/*
 * Shuts fd down, so the helper sees the end and exits (libssh still owns the
 * descriptor and closes it), and reaps pid, waiting at most two seconds before
 * killing it.
 */
void agent_end(int fd, pid_t pid);

#endif
