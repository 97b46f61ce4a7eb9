// SPDX-License-Identifier: MIT
/*
 * core/cpu/layout.c - data movement: permute (patchify/unpatchify and the
 * all-to-all layouts), strided 2-D copies, nearest upsampling, embedding
 * lookup. Rows of the output are shared by the device's team.
 */
#include <stdint.h>
#include <string.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

#define ROWS_TASK_ELEMS ((int64_t)1 << 15)

struct perm_job {
	float *y;
	const float *x;
	int ndim;
	int64_t yshape[TS_MAX_DIMS], xstride[TS_MAX_DIMS]; /* xstride in y's dim order */
	int64_t rows, cols, rows_per_task;
};

static void perm_task(void *arg, int64_t task, int tid)
{
	const struct perm_job *j = arg;
	int64_t r0 = task * j->rows_per_task;
	int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
	int64_t inner = j->xstride[j->ndim - 1];

	for (int64_t r = r0; r < r1; r++) {
		int64_t off = 0, rem = r;
		float *y = j->y + r * j->cols;

		for (int i = j->ndim - 2; i >= 0; i--) {
			off += rem % j->yshape[i] * j->xstride[i];
			rem /= j->yshape[i];
		}
		if (inner == 1) {
			memcpy(y, j->x + off, (size_t)j->cols * sizeof(float));
		} else {
			for (int64_t c = 0; c < j->cols; c++)
				y[c] = j->x[off + c * inner];
		}
	}
}

int ts_cpu_permute(struct ts_dev *dev, void *y, const void *x, int ndim, const int64_t *shape,
		   const int *perm)
{
	struct perm_job j = { .y = y, .x = x, .ndim = ndim, .rows = 1 };
	int64_t xs[TS_MAX_DIMS], total = 1;
	int seen = 0;

	if (ndim < 1 || ndim > TS_MAX_DIMS || !shape || !perm)
		return ts_cpu_bad("permute", "ndim must be in 1..8");
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return ts_cpu_bad("permute", "negative extent");
		if (perm[i] < 0 || perm[i] >= ndim || seen & (1 << perm[i]))
			return ts_cpu_bad("permute", "perm is not a permutation");
		seen |= 1 << perm[i];
		total *= shape[i];
	}
	if (total == 0)
		return 0;
	if (!y || !x)
		return ts_cpu_bad("permute", "NULL buffer");
	xs[ndim - 1] = 1;
	for (int i = ndim - 2; i >= 0; i--)
		xs[i] = xs[i + 1] * shape[i + 1];
	for (int i = 0; i < ndim; i++) {
		j.yshape[i] = shape[perm[i]];
		j.xstride[i] = xs[perm[i]];
	}
	j.cols = j.yshape[ndim - 1];
	j.rows = total / j.cols;
	j.rows_per_task = ROWS_TASK_ELEMS / j.cols > 1 ? ROWS_TASK_ELEMS / j.cols : 1;
	ts_cpu_parallel(ts_cpu_dev(dev), (j.rows + j.rows_per_task - 1) / j.rows_per_task,
			perm_task, &j);
	return 0;
}

struct copy_job {
	float *y;
	const float *x;
	int64_t ldy, ldx, rows, cols, rows_per_task;
};

static void copy_task(void *arg, int64_t task, int tid)
{
	const struct copy_job *j = arg;
	int64_t r0 = task * j->rows_per_task;
	int64_t r1 = r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;

	for (int64_t r = r0; r < r1; r++)
		memmove(j->y + r * j->ldy, j->x + r * j->ldx, (size_t)j->cols * sizeof(float));
}

/* 1 when the spans of y's and x's rows share memory (rows may then depend on each other). */
static int copy_overlaps(const struct copy_job *j)
{
	uintptr_t y0 = (uintptr_t)j->y, x0 = (uintptr_t)j->x;
	uintptr_t y1 = (uintptr_t)(j->y + (j->rows - 1) * j->ldy + j->cols);
	uintptr_t x1 = (uintptr_t)(j->x + (j->rows - 1) * j->ldx + j->cols);

	return y0 < x1 && x0 < y1;
}

int ts_cpu_copy2d(struct ts_dev *dev, void *y, int64_t ldy, const void *x, int64_t ldx,
		  int64_t rows, int64_t cols)
{
	struct copy_job j = { .y = y, .x = x, .ldy = ldy, .ldx = ldx, .rows = rows, .cols = cols };

	if (rows < 0 || cols < 0)
		return ts_cpu_bad("copy2d", "negative size");
	if (rows == 0 || cols == 0)
		return 0;
	if (!y || !x)
		return ts_cpu_bad("copy2d", "NULL buffer");
	if (ldy < cols || ldx < cols)
		return ts_cpu_bad("copy2d", "row stride smaller than cols");
	/*
	 * Rows in chunks over the team, like the other row ops. Overlapping
	 * spans other than a copy onto itself keep the serial row order the
	 * op always had (memmove, first row first), which the chunks would not.
	 */
	j.rows_per_task = ROWS_TASK_ELEMS / cols > 1 ? ROWS_TASK_ELEMS / cols : 1;
	if (copy_overlaps(&j) && !(y == x && ldy == ldx))
		j.rows_per_task = rows;
	ts_cpu_parallel(ts_cpu_dev(dev), (rows + j.rows_per_task - 1) / j.rows_per_task,
			copy_task, &j);
	return 0;
}

struct up_job {
	float *y;
	const float *x;
	int64_t t, h, w, ft, fh, fw;
	int64_t rows; /* output rows: n c t_out h_out */
};

static void up_task(void *arg, int64_t row, int tid)
{
	const struct up_job *j = arg;
	int64_t ho = row % (j->h * j->fh), rest = row / (j->h * j->fh);
	int64_t to = rest % (j->t * j->ft), nc = rest / (j->t * j->ft);
	const float *x = j->x + ((nc * j->t + to / j->ft) * j->h + ho / j->fh) * j->w;
	float *y = j->y + row * j->w * j->fw;

	for (int64_t i = 0; i < j->w; i++)
		for (int64_t k = 0; k < j->fw; k++)
			y[i * j->fw + k] = x[i];
}

int ts_cpu_upsample_nearest(struct ts_dev *dev, void *y, const void *x, int64_t n, int64_t c,
			    int64_t t, int64_t h, int64_t w, int ft, int fh, int fw)
{
	struct up_job j = { .y = y, .x = x, .t = t, .h = h, .w = w, .ft = ft, .fh = fh, .fw = fw };

	if (n < 0 || c < 0 || t < 0 || h < 0 || w < 0 || ft < 1 || fh < 1 || fw < 1)
		return ts_cpu_bad("upsample_nearest", "negative size or factor < 1");
	j.rows = n * c * t * ft * h * fh;
	if (j.rows == 0 || w == 0)
		return 0;
	if (!y || !x)
		return ts_cpu_bad("upsample_nearest", "NULL buffer");
	ts_cpu_parallel(ts_cpu_dev(dev), j.rows, up_task, &j);
	return 0;
}

int ts_cpu_embedding(struct ts_dev *dev, void *y, const void *table, int64_t rows, int64_t dim,
		     const int64_t *ids, int64_t n)
{
	if (rows < 0 || dim < 0 || n < 0)
		return ts_cpu_bad("embedding", "negative size");
	if (n == 0 || dim == 0)
		return 0;
	if (!y || !table || !ids)
		return ts_cpu_bad("embedding", "NULL buffer");
	for (int64_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= rows) {
			ts_err("cpu", "embedding: id %lld at %lld out of [0, %lld)",
			       (long long)ids[i], (long long)i, (long long)rows);
			return TS_ERANGE;
		}
	}
	for (int64_t i = 0; i < n; i++)
		memcpy((float *)y + i * dim, (const float *)table + ids[i] * dim,
		       (size_t)dim * sizeof(float));
	return 0;
}
