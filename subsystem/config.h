/*
 * config.h - codex-subsystem's configuration: sshd_config-style "Keyword value"
 * lines. Files are read in order, later values override earlier ones (Backend
 * entries of the same name too). '#' starts a comment; keywords are
 * case-insensitive; values may be double-quoted.
 */
#ifndef CXS_SUBSYSTEM_CONFIG_H
#define CXS_SUBSYSTEM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define SCONF_MAX_BACKENDS 16
#define SCONF_MAX_SETENV 64
#define SCONF_MAX_LINE 8190		/* bytes, without the newline */
#define SCONF_MAX_FILE (1024 * 1024)	/* bytes per file */

struct sconf_backend {
	char name[64];
	char *command;            /* a /bin/sh command line, run with "exec" */
};

struct sconf {
	struct sconf_backend backends[SCONF_MAX_BACKENDS];
	int nbackends;
	char default_backend[64];
	char *setenv[SCONF_MAX_SETENV];  /* "KEY=VALUE" */
	int nsetenv;
	int login_shell;          /* run backends with the login shell's environment */
	int daemon;               /* sessions live in the per-user host */
	size_t journal_memory;
	uint64_t journal_disk;
	unsigned detach_timeout;  /* seconds */
	unsigned idle_timeout;    /* seconds */
	size_t max_message;
	char *runtime_dir;        /* NULL: $XDG_RUNTIME_DIR/codex-ssh or /tmp/codex-ssh-UID */
	char *journal_dir;        /* NULL: ~/.codex/ssh/journal */
	char *log_file;           /* NULL: ~/.codex/ssh/log/subsystem.log; "none" */
	int log_level;            /* LOGL_* of log.h */
	uint64_t log_max;         /* bytes before the log is rotated */
};

/* Fills c with the built-in defaults (backends app-server and exec-server). */
void sconf_init(struct sconf *c);
/* Frees what c owns. */
void sconf_free(struct sconf *c);

/*
 * Reads one file (at most SCONF_MAX_FILE bytes) into c with sconf_load_buf(). A
 * missing file is not an error unless required. Returns 0, or -1 with a message
 * naming file and line in err.
 */
int sconf_load_file(struct sconf *c, const char *path, int required,
    char *err, size_t errlen);

/*
 * Reads the len bytes of data (the text of a file that err calls name) into c,
 * line by line: a line longer than SCONF_MAX_LINE or holding a NUL byte is an
 * error. Returns 0, or -1 with a message naming name and line in err; c then
 * holds what the lines before the bad one set.
 */
int sconf_load_buf(struct sconf *c, const char *name, const char *data,
    size_t len, char *err, size_t errlen);

/*
 * Loads the configuration the way the program does: path if non-NULL (required),
 * else $CODEX_SSH_SUBSYSTEM_CONFIG (required), else /etc/codex-ssh/subsystem.conf
 * then ~/.codex/ssh/subsystem.conf (both optional). Returns 0 or -1 with err set.
 */
int sconf_load(struct sconf *c, const char *path, char *err, size_t errlen);

/*
 * The user's name and home directory as sshd passes them ($USER, else $LOGNAME;
 * $HOME if absolute), so users from LDAP or SSSD need no lookup. When the variable
 * is missing the normal build asks the passwd database (getpwuid); the static build
 * (CXS_STATIC) never does, since it must not call NSS, and returns NULL. The
 * string belongs to the environment or to libc: do not free or keep it.
 */
const char *sconf_user(void);
const char *sconf_home(void);

/* Returns the backend called name ("" or NULL: the default), or NULL. */
const struct sconf_backend *sconf_backend(const struct sconf *c, const char *name);

/*
 * The SHA-256 of every effective setting in c (not of the files' text: comments,
 * order and which file said it do not count). Part of a session host's identity.
 */
void sconf_digest(const struct sconf *c, unsigned char out[32]);

/* Parses "90", "30s", "10m", "2h", "1d" into seconds; -1 if invalid. */
long long sconf_parse_duration(const char *s);
/* Parses "4096", "512K", "8M", "1G" (powers of 1024) into bytes; -1 if invalid. */
long long sconf_parse_size(const char *s);

#endif
