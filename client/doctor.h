/*
 * doctor.h - `codex-connect HOST doctor [--json]`: one line per check, ok / warn /
 * fail, each fail with a one-line fix; non-zero exit when any check fails.
 * Checks, in order: name resolution and TCP reach, host key, authentication,
 * the subsystem registered (and its version), the exec fallback, then what the
 * remote's doctor script (bootstrap/doctor.sh) finds: ForceCommand, login shell,
 * rc files printing on non-interactive shells, codex on the login PATH (or only
 * on an interactive one) and its version, codex-subsystem's version, the session
 * host's directory, free space.
 */
#ifndef CXS_CLIENT_DOCTOR_H
#define CXS_CLIENT_DOCTOR_H

#include "client/app.h"

/* Runs the checks for o's host; prints them (a table, or with o->json exactly one
 * JSON document on stdout). Returns the exit code: 0, or 1 when a check failed. */
int doctor_run(const struct app_opts *o);

#endif
