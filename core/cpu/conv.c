// SPDX-License-Identifier: MIT
/*
 * core/cpu/conv.c - causal 3-D convolution (2-D when t = kt = 1) as im2col +
 * sgemm. Output positions are cut into column chunks; each thread unfolds its
 * chunk into its slice of the device arena (so the unfolded matrix is bounded
 * whatever the image size) and multiplies it by the weight matrix
 * [c_out, c_in kt kh kw] into the chunk's columns of y. A 1x1x1 stride-1
 * convolution needs no unfolding: x itself is the [c_in, positions] matrix.
 */
#include <cblas.h>

#include <tetri/error.h>

#include "cpu.h"

/* Target size of one thread's unfolded chunk, in floats (2 MiB). */
#define CONV_COL_FLOATS ((int64_t)1 << 19)
#define CONV_MIN_COLS 64

struct conv_job {
	const struct ts_conv *c;
	int64_t t_out, h_out, w_out, positions, kdim;
	int64_t chunk, chunks;
	float *scratch;
	size_t per_thread;
};

/* One row of the unfolded matrix: input tap (ci, dt, dy, dx) at output positions p0.. */
static void conv_unfold_row(const struct conv_job *j, const float *x, float *dst, int64_t ci,
			    int dt, int dy, int dx, int64_t p0, int64_t np)
{
	const struct ts_conv *c = j->c;
	int64_t hw = j->h_out * j->w_out;
	int64_t to = p0 / hw, ho = p0 % hw / j->w_out, wo = p0 % j->w_out;
	const float *xc = x + ci * c->t * c->h * c->w;

	for (int64_t p = 0; p < np; p++) {
		int64_t ti = to * c->st + dt - c->pad_t_front;
		int64_t hi = ho * c->sh + dy - c->pad_h, wi = wo * c->sw + dx - c->pad_w;
		int in = ti >= 0 && ti < c->t && hi >= 0 && hi < c->h && wi >= 0 && wi < c->w;

		dst[p] = in ? xc[(ti * c->h + hi) * c->w + wi] : 0.0f;
		if (++wo < j->w_out)
			continue;
		wo = 0;
		if (++ho == j->h_out) {
			ho = 0;
			to++;
		}
	}
}

/* Unfold columns [p0, p0 + np) of image @x into col[kdim, np], rows in weight order. */
static void conv_unfold(const struct conv_job *j, const float *x, float *col, int64_t p0,
			int64_t np)
{
	const struct ts_conv *c = j->c;
	int64_t row = 0;

	for (int64_t ci = 0; ci < c->c_in; ci++)
		for (int dt = 0; dt < c->kt; dt++)
			for (int dy = 0; dy < c->kh; dy++)
				for (int dx = 0; dx < c->kw; dx++, row++)
					conv_unfold_row(j, x, col + row * np, ci, dt, dy, dx,
							p0, np);
}

static void conv_task(void *arg, int64_t task, int tid)
{
	const struct conv_job *j = arg;
	const struct ts_conv *c = j->c;
	int64_t ni = task / j->chunks, p0 = (task % j->chunks) * j->chunk;
	int64_t np = j->positions - p0 < j->chunk ? j->positions - p0 : j->chunk;
	const float *x = (const float *)c->x + ni * c->c_in * c->t * c->h * c->w;
	float *y = (float *)c->y + ni * c->c_out * j->positions + p0;
	const float *bias = c->bias;
	const float *b;
	int64_t ldb;

	if (j->scratch) {
		float *col = j->scratch + (size_t)tid * j->per_thread;

		conv_unfold(j, x, col, p0, np);
		b = col;
		ldb = np;
	} else {
		b = x + p0;
		ldb = j->positions;
	}
	for (int64_t co = 0; co < c->c_out; co++)
		for (int64_t p = 0; p < np; p++)
			y[co * j->positions + p] = bias ? bias[co] : 0.0f;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->c_out, (int)np,
		    (int)j->kdim, 1.0f, c->weight, (int)j->kdim, b, (int)ldb, 1.0f, y,
		    (int)j->positions);
}

static int conv_check(const struct ts_conv *c, struct conv_job *j)
{
	if (c->n < 0 || c->c_in < 1 || c->c_out < 1 || c->t < 1 || c->h < 1 || c->w < 1)
		return ts_cpu_bad("conv", "sizes must be positive");
	if (c->kt < 1 || c->kh < 1 || c->kw < 1 || c->st < 1 || c->sh < 1 || c->sw < 1)
		return ts_cpu_bad("conv", "kernel and stride must be positive");
	if (c->pad_t_front < 0 || c->pad_h < 0 || c->pad_w < 0)
		return ts_cpu_bad("conv", "negative padding");
	if (c->t + c->pad_t_front < c->kt || c->h + 2 * c->pad_h < c->kh ||
	    c->w + 2 * c->pad_w < c->kw)
		return ts_cpu_bad("conv", "kernel larger than the padded input");
	j->t_out = (c->t + c->pad_t_front - c->kt) / c->st + 1;
	j->h_out = (c->h + 2 * c->pad_h - c->kh) / c->sh + 1;
	j->w_out = (c->w + 2 * c->pad_w - c->kw) / c->sw + 1;
	j->positions = j->t_out * j->h_out * j->w_out;
	j->kdim = c->c_in * c->kt * c->kh * c->kw;
	if (j->positions > INT32_MAX || j->kdim > INT32_MAX || c->c_out > INT32_MAX)
		return ts_cpu_bad("conv", "size exceeds what BLAS takes");
	if (c->n && (!c->x || !c->weight || !c->y))
		return ts_cpu_bad("conv", "NULL buffer");
	return 0;
}

int ts_cpu_conv(struct ts_dev *dev, const struct ts_conv *c)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);
	struct conv_job j = { .c = c };
	int pointwise, ret = conv_check(c, &j);

	if (ret || c->n == 0)
		return ret;
	pointwise = j.kdim == c->c_in && c->st == 1 && c->sh == 1 && c->sw == 1 &&
		    !c->pad_t_front && !c->pad_h && !c->pad_w;
	j.chunk = CONV_COL_FLOATS / j.kdim;
	if (j.chunk < CONV_MIN_COLS)
		j.chunk = CONV_MIN_COLS;
	/* Enough chunks for every thread of the team when the batch is small. */
	if (c->n < d->threads) {
		int64_t per = (j.positions + d->threads - 1) / d->threads;

		if (per < j.chunk)
			j.chunk = per > CONV_MIN_COLS ? per : CONV_MIN_COLS;
	}
	if (j.chunk > j.positions)
		j.chunk = j.positions;
	j.chunks = (j.positions + j.chunk - 1) / j.chunk;
	if (!pointwise) {
		j.per_thread = ((size_t)j.kdim * (size_t)j.chunk + 15) & ~(size_t)15;
		j.scratch = ts_cpu_scratch(d, j.per_thread * sizeof(float) * (size_t)d->threads);
		if (!j.scratch)
			return TS_ENOMEM;
	}
	ts_cpu_parallel(d, c->n * j.chunks, conv_task, &j);
	return 0;
}
