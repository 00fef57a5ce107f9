/*
 * register.h - `codex-subsystem register` / `unregister`: add or remove the
 * `Subsystem NAME .../codex-subsystem` line as an sshd_config drop-in
 * (DIR/codex-ssh-NAME.conf), validated with `sshd -t`, rolled back when sshd
 * rejects the result, then sshd reloaded.
 */
#ifndef CXS_SUBSYSTEM_REGISTER_H
#define CXS_SUBSYSTEM_REGISTER_H

#define REG_DEFAULT_NAME "codex"
#define REG_DEFAULT_CONFIG "/etc/ssh/sshd_config"
#define REG_DEFAULT_DROPIN "/etc/ssh/sshd_config.d"
#define REG_DEFAULT_SSHD "/usr/sbin/sshd"
#define REG_DEFAULT_PIDFILE "/run/sshd.pid"

/*
 * Runs `register` (unregister 0) or `unregister` (1) with the command's own
 * options; argv[0] is the command name. Prints what it did on stdout and errors on
 * stderr. Returns the exit status: 0 done (or nothing to do), 1 error, 2 usage.
 */
int reg_main(int argc, char **argv, int unregister)
    __attribute__((warn_unused_result, nonnull(2)));

#endif
