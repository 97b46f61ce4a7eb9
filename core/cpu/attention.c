// SPDX-License-Identifier: MIT
/*
 * core/cpu/attention.c - non-causal multi-head attention, flash style.
 *
 * A task is one (batch, head, tile of ATT_BQ queries). It walks the keys in
 * chunks of ATT_BK: S = scale Q K^T (sgemm on strided rows, no copies), an
 * online softmax rescales the running row max/sum and the output rows, and
 * O += P V (sgemm accumulating straight into the output rows). Only one
 * ATT_BQ x ATT_BK score tile per thread ever exists, in the device's arena.
 */
#include <math.h>

#include <cblas.h>

#include <tetri/error.h>

#include "cpu.h"
#include "vecmath.h"

#define ATT_BQ 128
#define ATT_BK 512
#define LANES 16

struct att_job {
	const struct ts_attention *a;
	int64_t q_tiles;
	float *scratch;
	size_t per_thread; /* floats */
};

/* Max of @n floats, in LANES partial maxima so it vectorises. */
TS_VEC_CLONES
static float vec_max(const float *x, int64_t n)
{
	float part[LANES], mx;
	int64_t i = 0;

	for (int l = 0; l < LANES; l++)
		part[l] = -INFINITY;
	for (; i + LANES <= n; i += LANES)
		for (int l = 0; l < LANES; l++)
			part[l] = x[i + l] > part[l] ? x[i + l] : part[l];
	mx = -INFINITY;
	for (int l = 0; l < LANES; l++)
		mx = part[l] > mx ? part[l] : mx;
	for (; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	return mx;
}

/* p[i] = exp(p[i] - m); returns the sum. */
TS_VEC_CLONES
static float vec_exp_sum(float *p, int64_t n, float m)
{
	ts_v8sf acc = { 0 }, mv = ts_v8_set1(m);
	float s = 0;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8) {
		ts_v8sf e = ts_v8_exp(ts_v8_load(p + i) - mv);

		ts_v8_store(p + i, e);
		acc += e;
	}
	for (; i < n; i++) {
		p[i] = ts_vexpf(p[i] - m);
		s += p[i];
	}
	for (int l = 0; l < 8; l++)
		s += acc[l];
	return s;
}

TS_VEC_CLONES
static void vec_scale(float *x, int64_t n, float s)
{
	for (int64_t i = 0; i < n; i++)
		x[i] *= s;
}

static void vec_zero(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = 0.0f;
}

/*
 * Fold one score tile into the running state of each row: new max, rescale
 * the row's output so far and its sum, exponentiate the tile in place.
 */
static void att_softmax_tile(float *s, int64_t nq, int64_t nk, const uint8_t *mask, float *m,
			     float *l, float *o, int64_t o_tok, int64_t d)
{
	for (int64_t i = 0; i < nq; i++) {
		float *si = s + i * ATT_BK, mx, corr;

		if (mask)
			for (int64_t k = 0; k < nk; k++)
				if (!mask[k])
					si[k] = -INFINITY;
		mx = vec_max(si, nk);
		if (mx < m[i])
			mx = m[i];
		if (mx == -INFINITY) {
			/* Every key so far masked: this tile adds nothing. */
			vec_zero(si, nk);
			continue;
		}
		corr = ts_vexpf(m[i] - mx);
		if (corr != 1.0f) {
			vec_scale(o + i * o_tok, d, corr);
			l[i] *= corr;
		}
		l[i] += vec_exp_sum(si, nk, mx);
		m[i] = mx;
	}
}

static void att_task(void *arg, int64_t task, int tid)
{
	const struct att_job *job = arg;
	const struct ts_attention *a = job->a;
	int64_t d = a->head_dim, tile = task % job->q_tiles, bh = task / job->q_tiles;
	int64_t b = bh / a->heads, h = bh % a->heads;
	int64_t q0 = tile * ATT_BQ, nq = a->q_len - q0 < ATT_BQ ? a->q_len - q0 : ATT_BQ;
	const float *q = (const float *)a->q + b * a->q_batch + q0 * a->q_tok + h * d;
	const float *kb = (const float *)a->k + b * a->k_batch + h * d;
	const float *vb = (const float *)a->v + b * a->v_batch + h * d;
	float *o = (float *)a->o + b * a->o_batch + q0 * a->o_tok + h * d;
	float *s = job->scratch + (size_t)tid * job->per_thread;
	float *m = s + ATT_BQ * ATT_BK, *l = m + ATT_BQ;
	const uint8_t *mask = a->key_mask ? a->key_mask + b * a->kv_len : NULL;

	for (int64_t i = 0; i < nq; i++) {
		m[i] = -INFINITY;
		l[i] = 0.0f;
		vec_zero(o + i * a->o_tok, d);
	}
	for (int64_t k0 = 0; k0 < a->kv_len; k0 += ATT_BK) {
		int64_t nk = a->kv_len - k0 < ATT_BK ? a->kv_len - k0 : ATT_BK;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)d,
			    a->scale, q, (int)a->q_tok, kb + k0 * a->k_tok, (int)a->k_tok, 0.0f,
			    s, ATT_BK);
		att_softmax_tile(s, nq, nk, mask ? mask + k0 : NULL, m, l, o, a->o_tok, d);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)d, (int)nk,
			    1.0f, s, ATT_BK, vb + k0 * a->v_tok, (int)a->v_tok, 1.0f, o,
			    (int)a->o_tok);
	}
	for (int64_t i = 0; i < nq; i++)
		vec_scale(o + i * a->o_tok, d, l[i] > 0.0f ? 1.0f / l[i] : 0.0f);
}

static int att_check(const struct ts_attention *a)
{
	int64_t row = a->heads * a->head_dim;

	if (a->batch < 0 || a->heads < 0 || a->q_len < 0 || a->kv_len < 0 || a->head_dim < 0)
		return ts_cpu_bad("attention", "negative size");
	if (a->batch * a->heads * a->q_len * a->head_dim == 0)
		return 0;
	if (!a->q || !a->o || (a->kv_len && (!a->k || !a->v)))
		return ts_cpu_bad("attention", "NULL buffer");
	if (a->q_tok < row || a->o_tok < row || (a->kv_len && (a->k_tok < row || a->v_tok < row)))
		return ts_cpu_bad("attention", "token stride smaller than heads * head_dim");
	if (a->q_len > INT32_MAX || a->kv_len > INT32_MAX || a->q_tok > INT32_MAX ||
	    a->k_tok > INT32_MAX || a->v_tok > INT32_MAX || a->o_tok > INT32_MAX)
		return ts_cpu_bad("attention", "size exceeds what BLAS takes");
	return 0;
}

int ts_cpu_attention(struct ts_dev *dev, const struct ts_attention *a)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);
	struct att_job job = { .a = a };
	int ret = att_check(a);

	if (ret || a->batch * a->heads * a->q_len * a->head_dim == 0)
		return ret;
	/* Score tile, then row max and row sum; rounded to keep threads' lines apart. */
	job.per_thread = ((size_t)ATT_BQ * ATT_BK + 2 * ATT_BQ + 15) & ~(size_t)15;
	job.scratch = ts_cpu_scratch(d, job.per_thread * sizeof(float) * (size_t)d->threads);
	if (!job.scratch)
		return TS_ENOMEM;
	job.q_tiles = (a->q_len + ATT_BQ - 1) / ATT_BQ;
	ts_cpu_parallel(d, a->batch * a->heads * job.q_tiles, att_task, &job);
	return 0;
}
