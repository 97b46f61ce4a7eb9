/* SPDX-License-Identifier: MIT */
/*
 * tests/ops/optest.h - what the op tests share: a CPU backend to run on,
 * fresh random inputs (seed printed, TS_TEST_SEED to replay), NaN-poisoned
 * outputs, and comparison against float64 references. Header-only.
 */
#ifndef TS_TESTS_OPTEST_H
#define TS_TESTS_OPTEST_H

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/error.h>

#include "cpu/cpu.h"
#include "tap.h"

static uint64_t optest_rng_state;

static inline void optest_seed(void)
{
	const char *s = getenv("TS_TEST_SEED");

	optest_rng_state = s ? strtoull(s, NULL, 0)
			     : (uint64_t)time(NULL) ^ (uint64_t)clock() << 20;
	if (!optest_rng_state)
		optest_rng_state = 1;
	tap_diag("seed %llu (TS_TEST_SEED to replay)", (unsigned long long)optest_rng_state);
}

static inline uint64_t optest_next(void)
{
	uint64_t x = optest_rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return optest_rng_state = x;
}

/* Uniform in [-1, 1). */
static inline float optest_uniform(void)
{
	return (float)((double)(optest_next() >> 11) * 0x1p-52 - 1.0);
}

/* Integer in [lo, hi]. */
static inline int64_t optest_int(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(optest_next() % (uint64_t)(hi - lo + 1));
}

static inline float *optest_rand(int64_t n, float scale)
{
	float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));

	for (int64_t i = 0; p && i < n; i++)
		p[i] = optest_uniform() * scale;
	return p;
}

/* A buffer of quiet NaNs: any element an op forgets to write stays NaN. */
static inline float *optest_poison(int64_t n)
{
	float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));

	for (int64_t i = 0; p && i < n; i++)
		p[i] = NAN;
	return p;
}

static inline double *optest_dalloc(int64_t n)
{
	return calloc((size_t)(n > 0 ? n : 1), sizeof(double));
}

/*
 * 1 when every got[i] is finite and |got - ref| <= tol (1 + |ref|); else
 * prints the worst element as a diagnostic and returns 0.
 */
static inline int optest_close(const char *what, const float *got, const double *ref, int64_t n,
			       double tol)
{
	int64_t worst = -1, bad = 0;
	double worst_err = 0;

	for (int64_t i = 0; i < n; i++) {
		double e = fabs((double)got[i] - ref[i]) / (1.0 + fabs(ref[i]));

		if (!isfinite(got[i]) || e > tol) {
			bad++;
			e = isfinite(got[i]) ? e : INFINITY;
		}
		if (e > worst_err || worst < 0) {
			worst_err = e;
			worst = i;
		}
	}
	if (bad)
		tap_diag("%s: %lld of %lld elements off; worst [%lld] got %g want %g", what,
			 (long long)bad, (long long)n, (long long)worst, (double)got[worst],
			 ref[worst]);
	return bad == 0;
}

/* A CPU backend for the op tests: @devices devices of @threads threads. */
static inline struct ts_cpu_backend *optest_backend(int devices, int threads)
{
	struct ts_backend *be;

	if (ts_cpu_backend_create(devices, threads, &be))
		return NULL;
	return (struct ts_cpu_backend *)(void *)be;
}

static inline void optest_backend_free(struct ts_cpu_backend *be)
{
	ts_cpu_backend_ops.destroy((struct ts_backend *)(void *)be);
}

#endif /* TS_TESTS_OPTEST_H */
