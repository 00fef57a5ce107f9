/*
 * tap.h - a tiny Test Anything Protocol library for the C unit tests.
 *
 * plan() first (or plan_lazy() and done_testing() at the end); each ok() prints one
 * "ok N - description" line; diag() prints "# ..." to stdout. exit_status() is what
 * main() returns: 0 when every planned test ran and passed.
 */
#ifndef CXS_TESTS_TAP_H
#define CXS_TESTS_TAP_H

#include <stddef.h>

#if defined(__GNUC__)
#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TAP_PRINTF(f, a)
#endif

void plan(int n);
void plan_lazy(void);
/* Returns cond (so a test can stop early on failure). */
int ok(int cond, const char *fmt, ...) TAP_PRINTF(2, 3);
void skip(const char *fmt, ...) TAP_PRINTF(1, 2);
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Compares and reports both values on failure. */
int is_int(long long got, long long want, const char *fmt, ...) TAP_PRINTF(3, 4);
int is_str(const char *got, const char *want, const char *fmt, ...) TAP_PRINTF(3, 4);
int is_mem(const void *got, size_t glen, const void *want, size_t wlen,
    const char *fmt, ...) TAP_PRINTF(5, 6);
/* Prints "Bail out!" and exits 255. */
void bail(const char *fmt, ...) TAP_PRINTF(1, 2) __attribute__((noreturn));
/* Prints the trailing plan of plan_lazy() and returns exit_status(). */
int done_testing(void);
int exit_status(void);

#endif
