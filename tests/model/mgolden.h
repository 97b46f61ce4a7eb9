/* SPDX-License-Identifier: MIT */
/*
 * tests/model/mgolden.h - a golden case (../shared/golden/README.md) through
 * `tetriserve run-case` at one degree, every output.* of the case compared
 * with the result (relative L2 and max error), for tests/dit and
 * tests/stdit. Each test keeps which cases and degrees it runs. Header-only.
 */
#ifndef TS_TESTS_MGOLDEN_H
#define TS_TESTS_MGOLDEN_H

#include "mtest.h"

#define MT_GOLDEN_TOL 1e-4

/* run-case @in at @degree into @out, with the modules of this build. */
static inline int mt_golden_run(const char *in, const char *out, int degree)
{
	char cmd[8 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' run-case '%s' --out '%s' --degree %d "
		 "--threads 1 --module-path '%s/modules' >/dev/null 2>&1", mt_builddir, in, out,
		 degree, mt_builddir);
	return system(cmd);
}

/* Compare every output.* of @gold with @got (same dtype F32 and shape); returns the bad ones. */
static inline int mt_golden_compare(const char *name, struct ts_st *gold, struct ts_st *got,
				    int degree)
{
	int bad = 0;

	for (int i = 0; i < ts_st_count(gold); i++) {
		const char *key = ts_st_key(gold, i);
		struct ts_tensor g, o;
		double l2 = INFINITY, inf = INFINITY;
		int64_t n;

		if (strncmp(key, "output.", 7))
			continue;
		ts_st_get(gold, key, &g);
		n = ts_tensor_numel(&g);
		if (!ts_st_get(got, key, &o) && ts_tensor_numel(&o) == n && o.dtype == TS_F32 &&
		    o.ndim == g.ndim && !memcmp(o.shape, g.shape, sizeof(int64_t) * (size_t)g.ndim)) {
			/* tensors after a BOOL or odd-sized one sit unaligned in the mapping */
			size_t bytes = sizeof(float) * (size_t)n;
			float *a = malloc(bytes), *b = malloc(bytes);

			if (a && b) {
				memcpy(a, o.data, bytes);
				memcpy(b, g.data, bytes);
				l2 = mt_rel_l2(a, b, n);
				inf = mt_rel_inf(a, b, n);
			}
			free(a);
			free(b);
		}
		bad += !ok(l2 < MT_GOLDEN_TOL && inf < MT_GOLDEN_TOL,
			   "case %s degree %d %s: rel L2 %.2e, max %.2e", name, degree, key, l2, inf);
	}
	return bad;
}

/* Case @name (file @in, opened as @gold) at @degree: run, open the result, compare. */
static inline void mt_golden_degree(const char *name, const char *in, struct ts_st *gold,
				    int degree)
{
	char out[2 * PATH_MAX];
	struct ts_st *got;

	snprintf(out, sizeof(out), "%s/%s_%d.safetensors", mt_tmp, strrchr(name, '/') + 1, degree);
	if (!ok(mt_golden_run(in, out, degree) == 0, "run-case %s --degree %d", name, degree))
		return;
	if (!ok(ts_st_open(out, &got) == 0, "open result %s", out))
		return;
	mt_golden_compare(name, gold, got, degree);
	ts_st_close(got);
}

#endif /* TS_TESTS_MGOLDEN_H */
