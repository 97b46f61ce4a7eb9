/* SPDX-License-Identifier: MIT */
/*
 * tests/tap.h - the smallest TAP producer: every test binary prints
 * "ok N - what" / "not ok N - what" / "ok N - what # SKIP why" lines and
 * "1..N" at the end; tests/run adds them up. Header-only.
 *
 *   int main(void) {
 *           ok(1 + 1 == 2, "addition");
 *           return tap_done();
 *   }
 */
#ifndef TS_TESTS_TAP_H
#define TS_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

static int tap_count_;
static int tap_failed_;

static inline __attribute__((format(printf, 4, 5))) int
tap_ok_(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!pass) {
		printf("  # at %s:%d", file, line);
		tap_failed_++;
	}
	printf("\n");
	fflush(stdout);
	return pass;
}

static inline __attribute__((format(printf, 2, 3))) void tap_skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", why);
	fflush(stdout);
}

/* "# ..." diagnostics, ignored by the counter. */
static inline __attribute__((format(printf, 1, 2))) void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Print the plan and return the exit status for main(). */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count_);
	return tap_failed_ ? 1 : 0;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Relative closeness of two numbers: |a-b| <= tol * max(1, |b|). */
#define ok_near(a, b, tol, ...) \
	ok(fabs((double)(a) - (double)(b)) <= (tol) * fmax(1.0, fabs((double)(b))), __VA_ARGS__)

#endif /* TS_TESTS_TAP_H */
