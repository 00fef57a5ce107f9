/*
 * prompt.h - asking the user, for the sshconn modules (internal to them).
 *
 * client/prompt.c implements the public default callbacks declared in
 * client/sshconn.h, sshconn_prompt_default() (/dev/tty, or $SSH_ASKPASS where
 * ssh(1) would use it) and sshconn_notice_default() (stderr), and the one door
 * every question of a connection in progress goes through: host key
 * confirmation, key passphrases, keyboard-interactive and password prompts.
 */
#ifndef CXS_CLIENT_PROMPT_H
#define CXS_CLIENT_PROMPT_H

#include <stddef.h>

#include "proto/err.h"

struct ctx;

/*
 * Asks through the caller's prompt callback, or sshconn_prompt_default() when
 * there is none; in batch mode nobody is asked. Returns 0 with the answer in
 * buf (NUL-terminated, at most len - 1 bytes, len > 0), or -1 with buf empty
 * when there was no answer: batch mode, nobody to ask, or cancelled. The
 * caller wipes secret answers after use.
 */
int prompt_ask(struct ctx *x, const char *prompt, int echo, char *buf,
    size_t len) PROTO_WUR PROTO_NONNULL(1, 2, 4);

#endif
