/* SPDX-License-Identifier: MIT */
/*
 * tests/gpu/opcheck.h - the CUDA op table against the CPU backend's, op by op
 * through the same struct ts_ops calls on the same fresh random inputs.
 *
 * Every tensor exists twice (struct tb): once on the reference device (the
 * CPU backend, fp32) and once on the GPU, both uploaded from one host array.
 * When the GPU stores bf16, that array is rounded to bf16 first, so both
 * sides start from identical values and the error measured is the op's own.
 * Outputs start as NaN on both sides: an element the GPU forgets to write
 * stays NaN and fails; an element neither may write (padding) must stay NaN.
 * Error: ||gpu - ref||_2 / ||ref||_2 over the elements the reference wrote,
 * against a bound per storage dtype (fp32 1e-5, bf16 1e-2).
 * Header-only, for tests/gpu/test_cuda_backend.c (one TAP counter).
 */
#ifndef TS_TESTS_GPU_OPCHECK_H
#define TS_TESTS_GPU_OPCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/backend.h>
#include <tetri/error.h>

#include "cuda/host_cvt.h"
#include "tap.h"

struct oc_side {
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev;
	const struct ts_ops *ops;
	size_t esz;
};

struct oc {
	struct oc_side side[2]; /* [0] reference (CPU), [1] GPU */
	int bf16;
	double tol;
	const char *tag;
	int failed;
};

/* A tensor on both sides. */
struct tb {
	int64_t n;
	float *h;
	void *p[2];
};

static uint64_t oc_rng;

static inline void oc_seed(void)
{
	const char *s = getenv("TS_TEST_SEED");

	oc_rng = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
	if (!oc_rng)
		oc_rng = 1;
	tap_diag("seed %llu (TS_TEST_SEED to replay)", (unsigned long long)oc_rng);
}

static inline uint64_t oc_next(void)
{
	oc_rng ^= oc_rng << 13;
	oc_rng ^= oc_rng >> 7;
	oc_rng ^= oc_rng << 17;
	return oc_rng;
}

static inline float oc_uniform(void) /* [-1, 1) */
{
	return (float)((double)(oc_next() >> 11) * 0x1p-52 - 1.0);
}

static inline int64_t oc_int(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(oc_next() % (uint64_t)(hi - lo + 1));
}

/* @p advanced by @off elements of side @s's dtype. */
static inline void *oc_at(const struct oc *oc, int s, const void *p, int64_t off)
{
	return p ? (char *)p + (size_t)off * oc->side[s].esz : NULL;
}

static inline void tb_free(struct oc *oc, struct tb *t)
{
	for (int s = 0; s < 2; s++)
		if (t->p[s])
			oc->side[s].be_ops->free(oc->side[s].dev, t->p[s]);
	free(t->h);
	memset(t, 0, sizeof(*t));
}

/* Upload t->h to both sides (after rounding it to what the GPU can hold). */
static inline int tb_push(struct oc *oc, struct tb *t)
{
	if (oc->bf16)
		for (int64_t i = 0; i < t->n; i++)
			t->h[i] = ts_bf16_to_f32(ts_f32_to_bf16(t->h[i]));
	for (int s = 0; s < 2; s++) {
		int rc = oc->side[s].be_ops->upload(oc->side[s].dev, t->p[s], t->h, TS_F32, t->n);

		if (rc)
			return rc;
	}
	return 0;
}

/* kind: 'r' uniform * scale, 'n' NaN (outputs), 'p' positive in [0.5, 1.5) * scale. */
static inline int tb_new(struct oc *oc, struct tb *t, int64_t n, char kind, float scale)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->h = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
	if (!t->h)
		return TS_ENOMEM;
	for (int64_t i = 0; i < n; i++)
		t->h[i] = kind == 'n' ? NAN : kind == 'p' ? (1.0f + 0.5f * oc_uniform()) * scale
							  : oc_uniform() * scale;
	for (int s = 0; s < 2; s++) {
		t->p[s] = oc->side[s].be_ops->alloc(oc->side[s].dev, (size_t)(n > 0 ? n : 1));
		if (!t->p[s]) {
			tb_free(oc, t);
			return TS_ENOMEM;
		}
	}
	return tb_push(oc, t);
}

/* Download both sides of @t and report one TAP line. */
static inline int tb_check(struct oc *oc, struct tb *t, int rc_ref, int rc_gpu, const char *what)
{
	float *r = malloc((size_t)t->n * sizeof(float)), *g = malloc((size_t)t->n * sizeof(float));
	double num = 0, den = 0, err;
	int64_t bad = 0, first_bad = -1;
	int pass;

	if (!r || !g || rc_ref || rc_gpu ||
	    oc->side[0].be_ops->download(oc->side[0].dev, r, t->p[0], t->n) ||
	    oc->side[1].be_ops->download(oc->side[1].dev, g, t->p[1], t->n)) {
		ok(0, "%s %s: ran (ref %s, gpu %s)", oc->tag, what, ts_strerror(rc_ref),
		   ts_strerror(rc_gpu));
		oc->failed++;
		free(r);
		free(g);
		return 0;
	}
	for (int64_t i = 0; i < t->n; i++) {
		if (isnan(r[i])) {
			/* Not the op's to write: the GPU must leave it alone too. */
			if (!isnan(g[i]) && bad++ == 0)
				first_bad = i;
			continue;
		}
		if (!isfinite(g[i])) {
			if (bad++ == 0)
				first_bad = i;
			continue;
		}
		num += ((double)g[i] - r[i]) * ((double)g[i] - r[i]);
		den += (double)r[i] * r[i];
	}
	err = den > 0 ? sqrt(num / den) : sqrt(num);
	pass = !bad && err <= oc->tol;
	ok(pass, "%s %s: rel err %.2e (bound %.0e)", oc->tag, what, err, oc->tol);
	if (bad)
		tap_diag("%lld elements wrong in kind; first [%lld] gpu %g ref %g", (long long)bad,
			 (long long)first_bad, (double)g[first_bad], (double)r[first_bad]);
	if (!pass)
		oc->failed++;
	free(r);
	free(g);
	return pass;
}

#endif /* TS_TESTS_GPU_OPCHECK_H */
