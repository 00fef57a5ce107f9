/*
 * log.h - codex-subsystem's diagnostics. Never stdout (it carries the tunnel): a
 * size-capped file (rotated once to FILE.1), or stderr for command-line use.
 */
#ifndef CXS_SUBSYSTEM_LOG_H
#define CXS_SUBSYSTEM_LOG_H

#include <stddef.h>
#include <stdint.h>
#include "proto/err.h"

#define LOGL_ERROR 0
#define LOGL_INFO 1
#define LOGL_VERBOSE 2
#define LOGL_DEBUG 3

/* Parses a level name (case-insensitive); -1 if unknown. */
int log_level_parse(const char *s);
/*
 * Sends messages at or below level to path (created 0600, parent directories 0700)
 * capped at max bytes; path NULL or "none" disables the file. ident prefixes each
 * line. A log directory that log_check_dir(022) refuses is not used, and neither
 * is a symbolic link in the file's place. Returns 0, or -1 when the file cannot
 * be opened (logging then goes nowhere), with why on stderr.
 */
int log_open(const char *path, uint64_t max, int level, const char *ident);
/* Also copy messages to stderr (command-line modes). */
void log_to_stderr(int on);
void log_close(void);
void log_msg(int level, const char *fmt, ...) PROTO_PRINTF(2, 3);

#define log_error(...) log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_info(...) log_msg(LOGL_INFO, __VA_ARGS__)
#define log_verbose(...) log_msg(LOGL_VERBOSE, __VA_ARGS__)
#define log_debug(...) log_msg(LOGL_DEBUG, __VA_ARGS__)

/* mkdir -p with mode 0700 for the directories leading to path's last component
 * (the last one too when with_last). Returns 0 or -1 with errno. */
int log_mkdirs(const char *path, int with_last);

/*
 * Whether dir may hold our files on a host other users share: a real directory
 * (not a symbolic link), owned by us, with none of the mode bits in forbid (022:
 * nobody else may write; 077: private). Returns 0, or -1 with why in err.
 */
int log_check_dir(const char *dir, unsigned forbid, char *err, size_t errlen);

#endif
