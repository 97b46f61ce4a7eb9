// SPDX-License-Identifier: MIT
/*
 * core/cpu/elementwise.c - activations, add/mul/axpby, per-row broadcast add,
 * gated residual and fill. Long vectors are cut into chunks the device's team
 * shares; every loop is written to vectorise.
 */
#include <tetri/error.h>

#include "cpu.h"
#include "vecmath.h"

/* Elements per task: large enough to amortise the hand-off, small enough to balance. */
#define EW_CHUNK ((int64_t)1 << 15)

enum ew_kind { EW_ACT, EW_ADD, EW_MUL, EW_AXPBY, EW_FILL, EW_ADD_ROW, EW_GATED };

struct ew_job {
	enum ew_kind kind;
	float *y;
	const float *a, *b;
	float alpha, beta;
	enum ts_act act;
	int64_t n;
	/* add_row / gated residual: rows of @cols; @b rows @b_stride apart, every @per rows. */
	int64_t cols, per, b_stride;
};

TS_VEC_CLONES
void ts_cpu_act_apply(float *x, int64_t n, enum ts_act act)
{
	int64_t i = 0;

	switch (act) {
	case TS_ACT_GELU_TANH:
		for (; i + 8 <= n; i += 8)
			ts_v8_store(x + i, ts_v8_gelu(ts_v8_load(x + i)));
		for (; i < n; i++)
			x[i] = ts_vgeluf(x[i]);
		break;
	case TS_ACT_SILU:
		for (; i + 8 <= n; i += 8)
			ts_v8_store(x + i, ts_v8_silu(ts_v8_load(x + i)));
		for (; i < n; i++)
			x[i] = ts_vsiluf(x[i]);
		break;
	case TS_ACT_TANH:
		for (; i + 8 <= n; i += 8)
			ts_v8_store(x + i, ts_v8_tanh(ts_v8_load(x + i)));
		for (; i < n; i++)
			x[i] = ts_vtanhf(x[i]);
		break;
	case TS_ACT_NONE:
		break;
	}
}

TS_VEC_CLONES
static void ew_range(const struct ew_job *j, int64_t lo, int64_t hi)
{
	float *y = j->y; /* in place allowed: no restrict */
	const float *a = j->a, *b = j->b;

	switch (j->kind) {
	case EW_ACT:
		if (a != y)
			for (int64_t i = lo; i < hi; i++)
				y[i] = a[i];
		ts_cpu_act_apply(y + lo, hi - lo, j->act);
		break;
	case EW_ADD:
		for (int64_t i = lo; i < hi; i++)
			y[i] = a[i] + b[i];
		break;
	case EW_MUL:
		for (int64_t i = lo; i < hi; i++)
			y[i] = a[i] * b[i];
		break;
	case EW_AXPBY:
		if (j->beta == 0.0f)
			for (int64_t i = lo; i < hi; i++)
				y[i] = j->alpha * a[i];
		else
			for (int64_t i = lo; i < hi; i++)
				y[i] = j->alpha * a[i] + j->beta * y[i];
		break;
	case EW_FILL:
		for (int64_t i = lo; i < hi; i++)
			y[i] = j->alpha;
		break;
	case EW_ADD_ROW:
	case EW_GATED:
		break;
	}
}

/* Row kinds: task = a block of rows. y[r,:] = a[r,:] + g[r / per,:] * ... */
TS_VEC_CLONES
static void ew_rows(const struct ew_job *j, int64_t r0, int64_t r1)
{
	for (int64_t r = r0; r < r1; r++) {
		float *y = j->y + r * j->cols;
		const float *a = j->a + r * j->cols;
		const float *v = j->b ? j->b + (r / j->per) * j->b_stride : NULL;

		if (j->kind == EW_ADD_ROW) {
			for (int64_t i = 0; i < j->cols; i++)
				y[i] = a[i] + v[i];
		} else if (v) {
			for (int64_t i = 0; i < j->cols; i++)
				y[i] += v[i] * a[i];
		} else {
			for (int64_t i = 0; i < j->cols; i++)
				y[i] += a[i];
		}
	}
}

static void ew_task(void *arg, int64_t task, int tid)
{
	const struct ew_job *j = arg;
	int rows = j->kind == EW_ADD_ROW || j->kind == EW_GATED;
	int64_t total = rows ? j->n / (j->cols ? j->cols : 1) : j->n;
	int64_t step = rows ? (EW_CHUNK + j->cols - 1) / j->cols : EW_CHUNK;
	int64_t lo = task * step, hi = lo + step < total ? lo + step : total;

	if (rows)
		ew_rows(j, lo, hi);
	else
		ew_range(j, lo, hi);
}

static int ew_run(struct ts_dev *dev, struct ew_job *j)
{
	int rows = j->kind == EW_ADD_ROW || j->kind == EW_GATED;
	int64_t total = rows ? (j->cols ? j->n / j->cols : 0) : j->n;
	int64_t step = rows ? (EW_CHUNK + j->cols - 1) / j->cols : EW_CHUNK;

	if (total <= 0)
		return 0;
	ts_cpu_parallel(ts_cpu_dev(dev), (total + step - 1) / step, ew_task, j);
	return 0;
}

static int ew_check(const char *op, int64_t n, const void *y, const void *a, const void *b)
{
	if (n < 0)
		return ts_cpu_bad(op, "negative size");
	if (n > 0 && (!y || !a || !b))
		return ts_cpu_bad(op, "NULL buffer");
	return 0;
}

int ts_cpu_activation(struct ts_dev *dev, void *y, const void *x, int64_t n, enum ts_act act)
{
	struct ew_job j = { .kind = EW_ACT, .y = y, .a = x, .n = n, .act = act };
	int ret = ew_check("activation", n, y, x, x);

	if (!ret && (unsigned)act > TS_ACT_TANH)
		ret = ts_cpu_bad("activation", "unknown activation");
	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_add(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n)
{
	struct ew_job j = { .kind = EW_ADD, .y = y, .a = a, .b = b, .n = n };
	int ret = ew_check("add", n, y, a, b);

	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_mul(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n)
{
	struct ew_job j = { .kind = EW_MUL, .y = y, .a = a, .b = b, .n = n };
	int ret = ew_check("mul", n, y, a, b);

	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_axpby(struct ts_dev *dev, void *y, float alpha, const void *x, float beta, int64_t n)
{
	struct ew_job j = { .kind = EW_AXPBY, .y = y, .a = x, .alpha = alpha, .beta = beta,
			    .n = n };
	int ret = ew_check("axpby", n, y, x, x);

	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_fill(struct ts_dev *dev, void *y, float value, int64_t n)
{
	struct ew_job j = { .kind = EW_FILL, .y = y, .alpha = value, .n = n };
	int ret = ew_check("fill", n, y, y, y);

	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_add_row(struct ts_dev *dev, void *y, const void *x, const void *v, int64_t batch,
		   int64_t n)
{
	struct ew_job j = { .kind = EW_ADD_ROW, .y = y, .a = x, .b = v, .n = batch * n, .cols = n,
			    .per = 1, .b_stride = 0 };
	int ret = ew_check("add_row", batch < 0 ? -1 : batch * n, y, x, v);

	return ret ? ret : ew_run(dev, &j);
}

int ts_cpu_gated_residual(struct ts_dev *dev, void *x, const void *r, const void *gate,
			  int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride)
{
	struct ew_job j = { .kind = EW_GATED, .y = x, .a = r, .b = gate, .cols = dim,
			    .per = tokens, .b_stride = gate_stride };
	int ret;

	if (batch < 0 || tokens < 0 || dim < 0)
		return ts_cpu_bad("gated_residual", "negative size");
	j.n = batch * tokens * dim;
	ret = ew_check("gated_residual", j.n, x, r, r);
	if (!ret && gate && batch > 1 && gate_stride < dim)
		ret = ts_cpu_bad("gated_residual", "gate_stride smaller than dim");
	return ret ? ret : ew_run(dev, &j);
}
