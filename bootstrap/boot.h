/*
 * boot.h - getting codex-subsystem running on a host where the `codex` SSH
 * subsystem is not registered (DESIGN.md, "Bootstrap and registration";
 * bootstrap/remote.sh).
 *
 * The caller opens an exec channel running BOOT_COMMAND and hands boot_run() a way
 * to read and write it. boot_run() sends bootstrap/remote.sh (embedded at build
 * time) so that /bin/sh runs it whatever the login shell, reads the answers between
 * per-connection random markers (everything else is rc-file noise), uploads this
 * client's static build of codex-subsystem when the host has none of this version
 * (SHA-256 verified on the remote before anything runs), and returns once the
 * remote has exec'd codex-subsystem on the channel: the tunnel starts right after.
 *
 * Blocking, bounded by timeouts; prints progress and noise (with verbose) on
 * stderr, since it is part of the client program.
 */
#ifndef CXS_BOOTSTRAP_BOOT_H
#define CXS_BOOTSTRAP_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

/* The exec request: the shortest command every login shell runs the same way. */
#define BOOT_COMMAND "exec /bin/sh -s"

#define BOOT_IO_TIMEOUT (-2)

struct boot_io {
	void *ctx;
	/* Reads up to n bytes of the channel's stdout, waiting at most timeout_ms.
	 * Returns the bytes read (> 0), 0 at EOF, BOOT_IO_TIMEOUT, or -1. */
	int (*read)(void *ctx, void *buf, size_t n, int timeout_ms);
	/* Writes all n bytes to the channel; 0 or -1. */
	int (*write)(void *ctx, const void *buf, size_t n);
	/* What the channel said on stderr so far, one line, for messages (may be
	 * NULL). */
	void (*errtail)(void *ctx, char *out, size_t outlen);
	/* After EOF: what the remote command's exit status says, "; it exited
	 * with ..." or "" (may be NULL). */
	void (*exit_note)(void *ctx, char *out, size_t outlen);
};

struct boot_opts {
	const char *version;       /* this client's version: the remote's must match */
	const char *const *build_dirs; /* NULL-terminated; each may hold
				    * OS-ARCH/codex-subsystem (e.g. linux-x86_64) */
	const char *host;          /* for messages */
	int verbose;               /* show the remote's noise on stderr */
	int progress;              /* a progress bar (stderr is a terminal) */
	int no_appserver;          /* no plain `codex app-server` fallback */
	const char *mode;          /* NULL or "run"; "install": upload if needed,
				    * run nothing; "uninstall": remove what the
				    * uploads installed (remote.sh) */
	char *result;              /* install/uninstall: the path it names */
	size_t resultlen;
};

enum boot_err {
	BOOT_ERR_IO = -1,          /* the channel failed or closed early */
	BOOT_ERR_REMOTE = -2,      /* the script said FAIL: nothing runs there */
	BOOT_ERR_NOBUILD = -3,     /* no build of ours for the remote's OS/arch */
	BOOT_ERR_PROTOCOL = -4,    /* no sensible answer (timeout, garbage) */
	BOOT_ERR_NOMEM = -5
};

/*
 * Runs the bootstrap on a fresh exec channel of BOOT_COMMAND. Returns 0 once the
 * remote runs codex-subsystem on the channel, or, where it cannot (no build of ours
 * for the host, nothing to verify an upload with, a noexec home) and the caller
 * allows it, `codex app-server` through the login shell: then *plain is set, the
 * channel speaks plain JSONL only (no resume, no compression), and a line on
 * stderr has said so and why. Bytes the channel sent after that point are stored
 * in *rest (malloc'd, the caller frees; *restlen may be 0). On failure returns a
 * BOOT_ERR_* code with a message for the user in err (what went wrong and how to
 * fix it); *rest is untouched.
 */
int boot_run(const struct boot_io *io, const struct boot_opts *o, uint8_t **rest,
    size_t *restlen, int *plain, char *err, size_t errlen)
    PROTO_WUR PROTO_NONNULL(1, 2, 3, 4, 5);

/*
 * Finds this client's build of codex-subsystem for a remote that said uname -s
 * os and uname -m arch: the first DIR/OS-ARCH/codex-subsystem of dirs, with OS and
 * ARCH normalised (Linux -> linux; amd64 -> x86_64; arm64 -> aarch64). Returns 0
 * and the path, or -1.
 */
int boot_find_build(const char *const *dirs, const char *os, const char *arch,
    char *path, size_t pathlen) PROTO_NONNULL(2, 3, 4);

/* The remote scripts, embedded at build time (remote.sh, doctor.sh). */
extern const char boot_remote_script[];
extern const char boot_doctor_script[];

/*
 * The whole first line sent on the channel: `exec /bin/sh -c 'SCRIPT' NAME TAG
 * VERSION`, quoted so that any shell reading it passes SCRIPT on unchanged.
 * malloc'd or NULL.
 */
char *boot_script_line(const char *script, const char *name, const char *tag,
    const char *version) PROTO_NONNULL(1, 2, 3, 4);

struct marker_event;
/*
 * Runs script on a fresh exec channel of BOOT_COMMAND the way boot_run() runs
 * the bootstrap and calls on_answer for every answer until one named DONE.
 * Returns 0 after DONE, else a BOOT_ERR_* code with a message in err.
 */
int boot_ask(const struct boot_io *io, const struct boot_opts *o, const char *script,
    const char *name, void (*on_answer)(void *ctx, const struct marker_event *ev),
    void *ctx, char *err, size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2, 3, 4, 5);

#endif
