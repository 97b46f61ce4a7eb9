/* SPDX-License-Identifier: MIT */
/*
 * modules/common/weights.c - checked tensor reads and random stand-ins for
 * the model modules' weight loaders (weights.h).
 */
#include <math.h>
#include <stdio.h>

#include "weights.h"

#define MC_POOL (1 << 20)       /* normals drawn once per load */

/*
 * Random weights stand in for a checkpoint in benchmarks and profiling:
 * N(0, 1/fan_in) for matrices (activations stay around 1 through the
 * blocks, like the golden files' weights), N(0, 0.05^2) for vectors. The
 * normals come from one pool read at a per-tensor offset, because drawing
 * hundreds of millions of fresh normals would cost more than the forward.
 */
static int fill_random(struct mc_wload *l, void *dst, int ndim, const int64_t *shape)
{
	int64_t n = 1, start;
	double scale;
	float *buf;
	int err;

	if (!l->pool) {
		l->pool = l->host->alloc(sizeof(float) * MC_POOL);
		if (!l->pool)
			return TS_ENOMEM;
		l->host->rng_normal(l->seed, 0, 0, l->pool, MC_POOL);
	}
	for (int i = 0; i < ndim; i++)
		n *= shape[i];
	scale = ndim == 1 ? 0.05 : 1.0 / sqrt((double)(n / shape[0]));
	buf = l->host->alloc(sizeof(float) * (size_t)n);
	if (!buf)
		return TS_ENOMEM;
	start = (int64_t)((l->n_random++ * 7919u) % MC_POOL);
	for (int64_t i = 0; i < n; i++)
		buf[i] = (float)(l->pool[(start + i) % MC_POOL] * scale);
	err = l->host->dev_upload(l->dev, dst, buf, TS_F32, n);
	l->host->free(buf);
	return err;
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
	size_t used = (size_t)snprintf(buf, n, "[");

	for (int i = 0; i < ndim && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "",
					 (long long)shape[i]);
	if (used < n)
		snprintf(buf + used, n - used, "]");
}

int mc_wload_check(struct mc_wload *l, const char *key, const struct ts_tensor *t, int ndim,
		   const int64_t *shape)
{
	char want[128], got[128];
	int same = t->ndim == ndim;

	if (t->dtype != TS_F32 && t->dtype != TS_F16 && t->dtype != TS_BF16) {
		l->host->log(TS_LOG_ERROR, l->who,
			     "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", l->path,
			     key, ts_dtype_name(t->dtype));
		return TS_EFORMAT;
	}
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same) {
		shape_str(want, sizeof(want), ndim, shape);
		shape_str(got, sizeof(got), t->ndim, t->shape);
		l->host->log(TS_LOG_ERROR, l->who, "%s: tensor '%s' has shape %s, expected %s",
			     l->path, key, got, want);
		return TS_ERANGE;
	}
	return 0;
}

int mc_wload_fetch(struct mc_wload *l, const char *key, void *dst, int ndim,
		   const int64_t *shape)
{
	struct ts_tensor t;
	int err;

	if (!l->st)
		return fill_random(l, dst, ndim, shape);
	if (l->host->st_get(l->st, key, &t)) {
		l->host->log(TS_LOG_ERROR, l->who, "%s: missing tensor '%s'", l->path, key);
		return TS_ENOENT;
	}
	err = mc_wload_check(l, key, &t, ndim, shape);
	if (err)
		return err;
	err = l->host->dev_upload(l->dev, dst, t.data, t.dtype, ts_tensor_numel(&t));
	if (err)
		l->host->log(TS_LOG_ERROR, l->who, "%s: upload of '%s' failed: %s", l->path, key,
			     ts_strerror(err));
	return err;
}

int mc_wload_mat(struct mc_wload *l, const char *key, void *dst, int64_t rows, int64_t cols)
{
	const int64_t shape[2] = { rows, cols };

	return mc_wload_fetch(l, key, dst, 2, shape);
}

int mc_wload_vec(struct mc_wload *l, const char *key, void *dst, int64_t n)
{
	const int64_t shape[1] = { n };

	return mc_wload_fetch(l, key, dst, 1, shape);
}

void *mc_wload_arena(struct mc_wload *l, int64_t elems)
{
	void *arena = l->host->dev_alloc(l->dev, (size_t)elems);

	if (!arena)
		l->host->log(TS_LOG_ERROR, l->who, "%s: no device memory for %lld weights",
			     l->path, (long long)elems);
	return arena;
}

int mc_wload_open(struct mc_wload *l, int random_weights)
{
	int err;

	l->st = NULL;
	if (random_weights)
		return 0;
	err = l->host->st_open(l->path, &l->st);
	if (err) {
		l->st = NULL;
		l->host->log(TS_LOG_ERROR, l->who, "%s: cannot open weights: %s", l->path,
			     ts_strerror(err));
	}
	return err;
}

void mc_wload_close(struct mc_wload *l)
{
	if (l->st)
		l->host->st_close(l->st);
	l->st = NULL;
	l->host->free(l->pool);
	l->pool = NULL;
}
