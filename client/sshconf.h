/*
 * sshconf.h - reads OpenSSH client configuration files for what codex-connect
 * needs beyond libssh: the list of host aliases, one alias resolved the way ssh(1)
 * would, and "did you mean" suggestions for a mistyped alias.
 *
 * Semantics follow ssh_config(5) as implemented by OpenSSH 9.x:
 *  - the user file is read before the system file; for each keyword the first
 *    value obtained wins, across every matching Host block in file order;
 *  - Host patterns use * and ?, are matched case-sensitively against the name
 *    as typed, and a matching !negated pattern disables the whole Host line;
 *  - keywords are case-insensitive; "Keyword value" and "Keyword=value";
 *    "double" and 'single' quotes; # starts a comment at the start of a word;
 *  - Include takes glob patterns; relative paths are relative to HOME/.ssh in
 *    user files and to the system directory (/etc/ssh) in system files; files
 *    that do not exist are ignored; nesting stops at depth 16; an Include inside
 *    a non-matching block is read, but no Host line in it can match (OpenSSH's
 *    "never match" rule); after an included file the including block's state
 *    is restored;
 *  - "Match all" counts as "Host *". Every other Match block is treated as not
 *    matching, because evaluating it (exec, user, canonical...) is not possible
 *    or not safe while listing; client/sshopt.c evaluates them when it connects,
 *    from the lines as loaded (sshconf_get_line()).
 * Lines that OpenSSH would reject are skipped with a warning instead of failing
 * the whole load (see sshconf_warning()).
 *
 * Only these keywords are interpreted by sshconf_resolve(): Host, Match, Include, HostName, User,
 * Port, ProxyJump, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking,
 * ServerAliveInterval, ConnectTimeout, HostKeyAlias, HashKnownHosts,
 * RevokedHostKeys, HostKeyAlgorithms. Others are ignored.
 *
 * A struct sshconf is immutable after loading; it may be shared by readers.
 */
#ifndef CXS_CLIENT_SSHCONF_H
#define CXS_CLIENT_SSHCONF_H

#include <stddef.h>
#include "proto/err.h"

struct sshconf;
struct cJSON;

/* Hard limits on what one load reads (include loops and runaway globs). */
#define SSHCONF_MAX_DEPTH	16		/* nested Include levels */
#define SSHCONF_MAX_FILES	1024		/* files opened per load */
#define SSHCONF_MAX_FILE_SIZE	(1024 * 1024)	/* bytes per file */
#define SSHCONF_MAX_TOTAL	(16 * 1024 * 1024) /* bytes per load */

/*
 * Where to read from. Every field may be NULL:
 *   user_file    the user's file (~/.ssh/config); NULL: not read
 *   system_file  the system file (/etc/ssh/ssh_config); NULL: not read
 *   home         the home directory, for "~/" and relative user Includes
 *                (HOME/.ssh); NULL: $HOME, else the passwd entry
 *   system_dir   the base of relative Includes in system files; NULL: /etc/ssh
 *   local_user   the default User; NULL: the passwd name of getuid(), else $USER
 * A top-level file that does not exist is not an error (ssh does the same).
 */
struct sshconf_opts {
	const char *user_file;
	const char *system_file;
	const char *home;
	const char *system_dir;
	const char *local_user;
};

/*
 * Reads the configuration. On success returns 0 and stores a new object in *out
 * (free it with sshconf_free()). Returns PROTO_ERR_NOMEM or PROTO_ERR_ARG
 * (no home directory or local user can be found) and leaves *out untouched.
 * Unreadable or malformed parts are warnings, not errors.
 */
int sshconf_load(const struct sshconf_opts *opts, struct sshconf **out)
    PROTO_WUR PROTO_NONNULL(1, 2);
/* Same with the normal files: ~/.ssh/config and /etc/ssh/ssh_config. */
int sshconf_load_default(struct sshconf **out) PROTO_WUR PROTO_NONNULL(1);
/* Frees cfg and everything it owns; NULL allowed. */
void sshconf_free(struct sshconf *cfg);

/* Warnings collected while loading ("FILE line N: ..."), in order. The strings
 * belong to cfg and live until sshconf_free(); an index out of range gives NULL. */
size_t sshconf_nwarnings(const struct sshconf *cfg) PROTO_NONNULL(1);
const char *sshconf_warning(const struct sshconf *cfg, size_t i) PROTO_NONNULL(1);

/* Concrete aliases (Host names without * ? or a leading !), deduplicated, in the
 * order they first appear. Strings belong to cfg; out of range gives NULL. */
size_t sshconf_nalias(const struct sshconf *cfg) PROTO_NONNULL(1);
const char *sshconf_alias(const struct sshconf *cfg, size_t i) PROTO_NONNULL(1);

/*
 * The configuration as loaded, one entry per line that counts, user file first
 * and every Include expanded in place, for a resolver of every keyword
 * (client/sshopt.c). Lines that could not be split are not there (they are
 * warnings); lines with a bad value for a keyword sshconf_resolve() reads are.
 */
enum sshconf_kind {
	SSHCONF_FILE,		/* a top-level file starts: everything applies
				 * again, as at the start of a file */
	SSHCONF_PUSH,		/* an included file starts */
	SSHCONF_POP,		/* it ends: the including block's state is back */
	SSHCONF_HOST,		/* args are the patterns */
	SSHCONF_MATCH,		/* args are the criteria */
	SSHCONF_OPTION		/* any other keyword, known here or not */
};

struct sshconf_line {
	enum sshconf_kind kind;
	const char *keyword;	/* as written; NULL for FILE, PUSH and POP */
	char *const *args;	/* the words after the keyword, quotes removed */
	size_t nargs;
	const char *raw;	/* the rest of the line as written, without the
				 * separator and trailing blanks ("" if none) */
	const char *file;	/* NULL for FILE, PUSH and POP */
	int line;		/* from 1 */
};

/* How many entries there are. */
size_t sshconf_nlines(const struct sshconf *cfg) PROTO_NONNULL(1);
/* Fills *out with entry i, its strings owned by cfg. Returns 0, or -1 when i is
 * out of range (out untouched). */
int sshconf_get_line(const struct sshconf *cfg, size_t i,
    struct sshconf_line *out) PROTO_NONNULL(1, 3);

/*
 * OpenSSH's match_pattern(): '*' any run, '?' any one character, over the plen
 * bytes of p (no NUL needed), case-folded when fold. One backtrack point, so
 * hostile patterns stay O(n * m). 1 on a match.
 */
int sshconf_match_glob(const char *s, const char *p, size_t plen, int fold)
    PROTO_NONNULL(1, 2);
/* 1 when s matches pattern as a Host pattern does: * any run, ? any one
 * character, case-sensitive, no negation. */
int sshconf_match_pattern(const char *s, const char *pattern)
    PROTO_NONNULL(1, 2);

/* One line split as the loader splits it (for -o options). */
struct sshconf_words {
	char *keyword;
	char **args;
	size_t nargs;
	char *raw;
};
/*
 * Returns 1 with *w filled (free with sshconf_words_free()), 0 for a blank or
 * comment line, PROTO_ERR_INVALID with a reason in *why (an unterminated
 * quote), PROTO_ERR_NOMEM; *w is untouched unless 1 is returned.
 */
int sshconf_split(const char *line, struct sshconf_words *w, const char **why)
    PROTO_WUR PROTO_NONNULL(1, 2, 3);
/* Frees what w holds and zeroes it. */
void sshconf_words_free(struct sshconf_words *w) PROTO_NONNULL(1);

/*
 * What ssh would use for one name. Every string is owned by the struct: release
 * them with sshconf_host_clear() (or sshconf_hosts_free() for a list).
 */
struct sshconf_host {
	char *alias;		/* the name that was resolved */
	char *hostname;		/* HostName with %h and %% expanded, else alias */
	char *user;		/* User, else the local user */
	int port;		/* Port, else 22 */
	char *proxyjump;	/* ProxyJump as written; NULL if unset or "none" */
	char *identityfile;	/* first IdentityFile as written (~ and %-tokens
				 * not expanded); NULL if none */
	char *known_hosts;	/* first UserKnownHostsFile path as written;
				 * NULL if unset */
	char *strict_host_key_checking; /* "yes", "no", "ask" or "accept-new"
				 * (true/false/off normalised); NULL if unset */
	int server_alive_interval; /* seconds; -1 if unset */
	int connect_timeout;	/* seconds; -1 if unset or "none" */
	char *host_key_alias;	/* HostKeyAlias as written; NULL if unset */
	int hash_known_hosts;	/* HashKnownHosts: 1 yes, 0 no, -1 unset */
	char *revoked_host_keys; /* RevokedHostKeys as written (~ and
				 * %-tokens not expanded); NULL if unset or
				 * "none" */
	char *host_key_algorithms; /* HostKeyAlgorithms as written; NULL if
				 * unset */
	int matched;		/* 1 if a Host line naming alias literally
				 * (not through a pattern) applied */
	char *source_file;	/* file of the first Host line naming alias
				 * literally, NULL if none */
	int line;		/* that line's number (from 1), 0 if none */
};

/*
 * Resolves name (an alias or any host name). Returns 0 and fills *out, which
 * the caller releases with sshconf_host_clear(); or PROTO_ERR_NOMEM, or
 * PROTO_ERR_ARG for an empty name, with *out untouched.
 */
int sshconf_resolve(const struct sshconf *cfg, const char *name,
    struct sshconf_host *out) PROTO_WUR PROTO_NONNULL(1, 2, 3);
/* Frees the strings of h and zeroes it; safe on a zeroed struct. */
void sshconf_host_clear(struct sshconf_host *h) PROTO_NONNULL(1);

/*
 * Resolves every alias, in sshconf_alias() order. Returns 0 and stores an array
 * of *n entries in *hosts (NULL when there are none), to be freed with
 * sshconf_hosts_free(); or PROTO_ERR_NOMEM with the outputs untouched.
 */
int sshconf_list(const struct sshconf *cfg, struct sshconf_host **hosts,
    size_t *n) PROTO_WUR PROTO_NONNULL(1, 2, 3);
/* Frees an array from sshconf_list(); NULL allowed. */
void sshconf_hosts_free(struct sshconf_host *hosts, size_t n);

/*
 * The listing as a cJSON array of objects {alias, user, hostname, port,
 * proxyjump, identityfile, source_file, line}; proxyjump and identityfile are
 * null when unset. Returns 0 and a new tree in *out (free with cJSON_Delete()),
 * or PROTO_ERR_NOMEM with *out untouched.
 */
int sshconf_list_json(const struct sshconf *cfg, struct cJSON **out)
    PROTO_WUR PROTO_NONNULL(1, 2);

/*
 * Up to n aliases close to name, best first: an alias equal but for case, then
 * aliases within a small edit distance (Damerau-Levenshtein: insertions,
 * deletions, substitutions, transpositions; at most 1 for names of up to 4
 * characters, 2 up to 8, else 3, compared case-insensitively, and less than
 * the longer name's length) or starting with name (at least 2 characters);
 * ties keep file order. An exact alias is not suggested to itself. Stores
 * pointers owned by cfg in out[] and returns how many (0 when nothing is close).
 */
size_t sshconf_suggest(const struct sshconf *cfg, const char *name,
    const char **out, size_t n) PROTO_NONNULL(1, 2);

/* Edit distance used by sshconf_suggest() (case-insensitive), capped at
 * limit + 1 so long strings stay cheap. Exposed for tests. */
size_t sshconf_distance(const char *a, const char *b, size_t limit)
    PROTO_NONNULL(1, 2);

/* ssh_config time as OpenSSH's convtime() reads it ("90", "1m30s", "2h", "1w"):
 * seconds, or -1 when malformed or over INT_MAX. */
int sshconf_parse_time(const char *s) PROTO_NONNULL(1);
/* A port 1..65535, or -1. */
int sshconf_parse_port(const char *s) PROTO_NONNULL(1);

#endif
