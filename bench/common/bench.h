/* SPDX-License-Identifier: MIT */
/*
 * bench/common/bench.h - what the C benchmark drivers (bench/dit, bench/stdit,
 * bench/vae) share: wall-clock time, peak memory, sorting timings for their
 * median, and loading a module from the build folder the driver lives in
 * ($builddir/bench/bench_x -> $builddir/modules/x.so). Header-only.
 */
#ifndef TS_BENCH_COMMON_H
#define TS_BENCH_COMMON_H

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry.h"

/* Monotonic seconds: only differences mean anything. */
static inline double bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set (VmHWM) in MiB. */
static inline double bench_peak_rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = atof(line + 6);
	if (f)
		fclose(f);
	return kb / 1024.0;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort @n timings ascending: t[n / 2] is then their median. */
static inline void bench_sort(double *t, int n)
{
	qsort(t, (size_t)n, sizeof(double), bench_cmp_double);
}

/* Load $builddir/modules/@module.so, $builddir being the folder above @argv0's. */
static inline int bench_load_module(const char *argv0, const char *module)
{
	char path[PATH_MAX + 32], buf[PATH_MAX];
	struct ts_module *mod;

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../modules/%s.so", dirname(buf), module);
	return ts_module_load_file(path, &mod);
}

#endif /* TS_BENCH_COMMON_H */
