#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"

static int planned = -1;
static int lazy;
static int count;
static int failed;

void
plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void
plan_lazy(void)
{
	lazy = 1;
}

static int
vreport(int cond, const char *fmt, va_list ap) TAP_PRINTF(2, 0);

static int
vreport(int cond, const char *fmt, va_list ap)
{
	count++;
	if (!cond)
		failed++;
	printf("%sok %d - ", cond ? "" : "not ", count);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cond, fmt, ap);
	va_end(ap);
	return cond;
}

void
skip(const char *fmt, ...)
{
	va_list ap;

	count++;
	printf("ok %d # skip ", count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		diag("    got %lld, want %lld", got, want);
	return got == want;
}

int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int same = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);

	va_start(ap, fmt);
	vreport(same, fmt, ap);
	va_end(ap);
	if (!same)
		diag("    got \"%s\", want \"%s\"", got ? got : "(null)",
		    want ? want : "(null)");
	return same;
}

int
is_mem(const void *got, size_t glen, const void *want, size_t wlen,
    const char *fmt, ...)
{
	va_list ap;
	int same = glen == wlen && (glen == 0 || memcmp(got, want, glen) == 0);

	va_start(ap, fmt);
	vreport(same, fmt, ap);
	va_end(ap);
	if (!same)
		diag("    got %zu bytes, want %zu bytes (or contents differ)", glen, wlen);
	return same;
}

void
bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

int
exit_status(void)
{
	if (failed > 0)
		return 1;
	if (planned >= 0 && count != planned)
		return 1;
	return 0;
}

int
done_testing(void)
{
	if (lazy && planned < 0) {
		planned = count;
		printf("1..%d\n", count);
		fflush(stdout);
	}
	return exit_status();
}
