/*
 * envfile.h - editing $CODEX_HOME/environments.toml without touching a line the
 * user wrote (`codex-connect env add|list|remove`).
 *
 * The file is kept as its lines. An `[[environments]]` table is ours when the
 * line right above its header is ENVFILE_MARK; a top-level `default = ...` is ours
 * when the line above it is ENVFILE_MARK_DEFAULT. Only ours are replaced or
 * removed; an id the user defined is refused. Strings are written as TOML basic
 * strings with every character that needs it escaped. Saving replaces the file
 * atomically (a temporary file in the same directory, then rename), keeping its
 * mode. No TOML library: only the shapes this module writes, and the `id =` and
 * `default =` lines of any table, are read.
 */
#ifndef CXS_CLIENT_ENVFILE_H
#define CXS_CLIENT_ENVFILE_H

#include <stddef.h>
#include "proto/err.h"

#define ENVFILE_MARK "# codex-ssh: environment managed by `codex-connect env`"
#define ENVFILE_MARK_DEFAULT "# codex-ssh: default managed by `codex-connect env`"

struct envfile;

/* Loads path (a missing file is an empty one). NULL with err set on failure. */
struct envfile *envfile_load(const char *path, char *err, size_t errlen)
    PROTO_NONNULL(1);
void envfile_free(struct envfile *f);

/*
 * Adds (or replaces, when ours) the environment id (1 to 255 bytes) running
 * program with args. make_default also sets the top-level default to id
 * (refused if the user set a default). Returns 0, or -1 with a reason in err
 * (an id the user defined, a value too long) and f unchanged.
 */
int envfile_add(struct envfile *f, const char *id, const char *program,
    const char *const *args, size_t nargs, int make_default, char *err,
    size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2, 3);
/* Removes our environment id (and our default if it names id), keeping the
 * comments and blank lines above the next table. 0, or -1 with err (no such
 * environment, or one the user wrote) and f unchanged. */
int envfile_remove(struct envfile *f, const char *id, char *err, size_t errlen)
    PROTO_WUR PROTO_NONNULL(1, 2);

/* Calls fn for every environment in the file, in order: its id ("" when it has
 * none we can read), whether it is ours, and whether it is the default. */
void envfile_each(const struct envfile *f,
    void (*fn)(void *ctx, const char *id, int ours, int is_default), void *ctx)
    PROTO_NONNULL(1, 2);

/* Writes f to path atomically. 0, or -1 with err. */
int envfile_save(const struct envfile *f, const char *path, char *err,
    size_t errlen) PROTO_WUR PROTO_NONNULL(1, 2);

/* Appends s as a TOML basic string ("...", escaped) to out (cap bytes, NUL kept).
 * Returns 0, or -1 when it does not fit. For tests. */
int envfile_quote(const char *s, char *out, size_t cap) PROTO_NONNULL(1, 2);

#endif
