/*
 * install.h - `codex-connect HOST install [--sudo]` and `uninstall [--sudo]`.
 *
 * install uploads codex-subsystem the way the bootstrap does (bootstrap/boot.h)
 * into ~/.codex/ssh/bin/VERSION/ without running it; with --sudo it then copies
 * it to LIBEXEC/codex-subsystem (default /usr/local/libexec) and runs
 * `codex-subsystem register` there through sudo, on a terminal so sudo can ask
 * for the password: from then on connects need no bootstrap. uninstall stops the
 * session hosts of the uploaded versions and removes ~/.codex/ssh/bin; with
 * --sudo it also runs `codex-subsystem unregister` and removes the copy.
 * Arguments after `--` go to register/unregister (--name, --sshd-config, ...).
 */
#ifndef CXS_CLIENT_INSTALL_H
#define CXS_CLIENT_INSTALL_H

#include "client/app.h"

/* Returns the exit code: 0 done, 1 failed (said on stderr), 255 no connection. */
int install_run(const struct app_opts *o, int uninstall);

#endif
