// SPDX-License-Identifier: MIT
/*
 * core/cpu/norm.c - row-wise normalisations: layer norm (plain, affine and
 * adaLN-modulated), RMS norm, group norm, softmax. Statistics are summed in
 * double (two passes) so long rows of large activations keep their digits;
 * the normalising pass is float and vectorises. Rows are shared by the team.
 */
#include <math.h>
#include <string.h>

#include <tetri/error.h>

#include "cpu.h"
#include "vecmath.h"

/* Rows per task: about 32K elements each. */
#define NORM_TASK_ELEMS ((int64_t)1 << 15)

enum norm_kind { NORM_LAYER, NORM_RMS, NORM_MODULATE, NORM_SOFTMAX };

struct norm_job {
	enum norm_kind kind;
	float *y;
	const float *x, *w, *b;
	int64_t rows, cols, rows_per_task;
	float eps;
	/* modulate: shift/scale rows for batch entry r / tokens, mod_stride apart. */
	int64_t tokens, mod_stride;
};

typedef double v4df __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) v4df load4(const float *p)
{
	v4sf v;

	memcpy(&v, p, sizeof(v));
	return __builtin_convertvector(v, v4df);
}

/* Mean and variance (two passes, double lanes: vectorised without reordering doubts). */
TS_VEC_CLONES
static void row_stats(const float *x, int64_t n, double *mean, double *var)
{
	v4df s4 = { 0 }, q4 = { 0 }, m4;
	double s = 0, q = 0, m;
	int64_t i;

	for (i = 0; i + 4 <= n; i += 4)
		s4 += load4(x + i);
	for (; i < n; i++)
		s += x[i];
	m = (s + s4[0] + s4[1] + s4[2] + s4[3]) / (double)n;
	m4 = (v4df){ m, m, m, m };
	for (i = 0; i + 4 <= n; i += 4) {
		v4df d = load4(x + i) - m4;

		q4 += d * d;
	}
	for (; i < n; i++)
		q += (x[i] - m) * (x[i] - m);
	*mean = m;
	*var = (q + q4[0] + q4[1] + q4[2] + q4[3]) / (double)n;
}

TS_VEC_CLONES
static double row_sumsq(const float *x, int64_t n)
{
	v4df q4 = { 0 };
	double q = 0;
	int64_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		v4df v = load4(x + i);

		q4 += v * v;
	}
	for (; i < n; i++)
		q += (double)x[i] * x[i];
	return q + q4[0] + q4[1] + q4[2] + q4[3];
}

/* y = (x - mean) * rstd * mul + add, with mul/add NULL meaning 1 and 0. */
TS_VEC_CLONES
static void row_apply(float *y, const float *x, int64_t n, float mean, float rstd,
		      const float *mul, const float *add, int one_plus)
{
	for (int64_t i = 0; i < n; i++) {
		float v = (x[i] - mean) * rstd;

		if (mul)
			v *= one_plus ? 1.0f + mul[i] : mul[i];
		if (add)
			v += add[i];
		y[i] = v;
	}
}

TS_VEC_CLONES
static void row_softmax(float *y, const float *x, int64_t n)
{
	float mx = x[0], inv;
	double sum = 0;

	int64_t i;

	for (i = 1; i < n; i++)
		mx = x[i] > mx ? x[i] : mx;
	for (i = 0; i + 8 <= n; i += 8)
		ts_v8_store(y + i, ts_v8_exp(ts_v8_load(x + i) - ts_v8_set1(mx)));
	for (; i < n; i++)
		y[i] = ts_vexpf(x[i] - mx);
	for (i = 0; i < n; i++)
		sum += y[i];
	inv = (float)(1.0 / sum);
	for (i = 0; i < n; i++)
		y[i] *= inv;
}

static void norm_row(const struct norm_job *j, int64_t r)
{
	const float *x = j->x + r * j->cols;
	float *y = j->y + r * j->cols;
	double mean, var, ms = 0;

	switch (j->kind) {
	case NORM_LAYER:
		row_stats(x, j->cols, &mean, &var);
		row_apply(y, x, j->cols, (float)mean, (float)(1.0 / sqrt(var + j->eps)), j->w,
			  j->b, 0);
		break;
	case NORM_MODULATE: {
		int64_t bi = r / j->tokens;

		row_stats(x, j->cols, &mean, &var);
		row_apply(y, x, j->cols, (float)mean, (float)(1.0 / sqrt(var + j->eps)),
			  j->w + bi * j->mod_stride, j->b + bi * j->mod_stride, 1);
		break;
	}
	case NORM_RMS:
		ms = row_sumsq(x, j->cols);
		row_apply(y, x, j->cols, 0.0f, (float)(1.0 / sqrt(ms / j->cols + j->eps)), j->w,
			  NULL, 0);
		break;
	case NORM_SOFTMAX:
		row_softmax(y, x, j->cols);
		break;
	}
}

static void norm_task(void *arg, int64_t task, int tid)
{
	const struct norm_job *j = arg;
	int64_t r0 = task * j->rows_per_task;
	int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;

	for (int64_t r = r0; r < r1; r++)
		norm_row(j, r);
}

static int norm_run(struct ts_dev *dev, struct norm_job *j, const char *op)
{
	if (j->rows < 0 || j->cols < 0)
		return ts_cpu_bad(op, "negative size");
	if (j->rows == 0 || j->cols == 0)
		return 0;
	if (!j->y || !j->x)
		return ts_cpu_bad(op, "NULL buffer");
	if (!(j->eps >= 0.0f))
		return ts_cpu_bad(op, "eps must be >= 0");
	j->rows_per_task = NORM_TASK_ELEMS / j->cols > 1 ? NORM_TASK_ELEMS / j->cols : 1;
	ts_cpu_parallel(ts_cpu_dev(dev), (j->rows + j->rows_per_task - 1) / j->rows_per_task,
			norm_task, j);
	return 0;
}

int ts_cpu_layer_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
		      int64_t rows, int64_t cols, float eps)
{
	struct norm_job j = { .kind = NORM_LAYER, .y = y, .x = x, .w = w, .b = b, .rows = rows,
			      .cols = cols, .eps = eps };

	return norm_run(dev, &j, "layer_norm");
}

int ts_cpu_rms_norm(struct ts_dev *dev, void *y, const void *x, const void *w, int64_t rows,
		    int64_t cols, float eps)
{
	struct norm_job j = { .kind = NORM_RMS, .y = y, .x = x, .w = w, .rows = rows,
			      .cols = cols, .eps = eps };

	return norm_run(dev, &j, "rms_norm");
}

int ts_cpu_softmax(struct ts_dev *dev, void *y, const void *x, int64_t rows, int64_t cols)
{
	struct norm_job j = { .kind = NORM_SOFTMAX, .y = y, .x = x, .rows = rows, .cols = cols };

	return norm_run(dev, &j, "softmax");
}

int ts_cpu_layer_norm_modulate(struct ts_dev *dev, void *y, const void *x, const void *shift,
			       const void *scale, int64_t batch, int64_t tokens, int64_t dim,
			       int64_t mod_stride, float eps)
{
	struct norm_job j = { .kind = NORM_MODULATE, .y = y, .x = x, .w = scale, .b = shift,
			      .cols = dim, .eps = eps, .tokens = tokens,
			      .mod_stride = mod_stride };

	if (batch < 0 || tokens < 0)
		return ts_cpu_bad("layer_norm_modulate", "negative size");
	if (batch * tokens * dim > 0 && (!shift || !scale))
		return ts_cpu_bad("layer_norm_modulate", "NULL shift or scale");
	if (batch > 1 && mod_stride < dim)
		return ts_cpu_bad("layer_norm_modulate", "mod_stride smaller than dim");
	j.rows = batch * tokens;
	return norm_run(dev, &j, "layer_norm_modulate");
}

struct gn_job {
	float *y;
	const float *x, *w, *b;
	int64_t c, spatial, cpg;
	int groups;
	float eps;
};

static void gn_task(void *arg, int64_t task, int tid)
{
	const struct gn_job *j = arg;
	int64_t c0 = (task % j->groups) * j->cpg;
	int64_t off = (task / j->groups) * j->c * j->spatial + c0 * j->spatial;
	double mean, var;
	float rstd;

	row_stats(j->x + off, j->cpg * j->spatial, &mean, &var);
	rstd = (float)(1.0 / sqrt(var + j->eps));
	for (int64_t ch = 0; ch < j->cpg; ch++) {
		float wv = j->w ? j->w[c0 + ch] : 1.0f, bv = j->b ? j->b[c0 + ch] : 0.0f;
		const float *x = j->x + off + ch * j->spatial;
		float *y = j->y + off + ch * j->spatial;

		/* Fold the affine into one multiply-add per element. */
		row_apply(y, x, j->spatial, (float)mean, rstd * wv, NULL, NULL, 0);
		for (int64_t i = 0; bv != 0.0f && i < j->spatial; i++)
			y[i] += bv;
	}
}

int ts_cpu_group_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
		      int64_t n, int64_t c, int64_t spatial, int groups, float eps)
{
	struct gn_job j = { .y = y, .x = x, .w = w, .b = b, .c = c, .spatial = spatial,
			    .groups = groups, .eps = eps };

	if (n < 0 || c < 0 || spatial < 0 || groups < 1)
		return ts_cpu_bad("group_norm", "negative size or groups < 1");
	if (c % groups)
		return ts_cpu_bad("group_norm", "channels not a multiple of groups");
	if (!(eps >= 0.0f))
		return ts_cpu_bad("group_norm", "eps must be >= 0");
	if (n * c * spatial == 0)
		return 0;
	if (!y || !x)
		return ts_cpu_bad("group_norm", "NULL buffer");
	j.cpg = c / groups;
	ts_cpu_parallel(ts_cpu_dev(dev), n * groups, gn_task, &j);
	return 0;
}
