/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/ditest.h - what the DiT tests share beyond tests/model/mtest.h
 * (paths, scratch folder, log capture, relative errors, the device rig):
 * the rig's model, safetensors copies with one thing changed, and random
 * weight files. Header-only.
 */
#ifndef TS_TESTS_DITEST_H
#define TS_TESTS_DITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/mtest.h"

#define DT_GOLDEN "tests/data/golden/dit"

/* The rig's model: dit.so, registered as "dit". */
static const struct mt_model dt_model = { "dit", "dit", "model dit-test" };

static inline void dt_init(const char *argv0)
{
	mt_init(argv0, "tsdit");
}

static inline int dt_load_module(void)
{
	return mt_load_module(&dt_model);
}

static inline int dt_configure(struct mt_rig *r, const char *const *kv)
{
	return mt_configure(r, &dt_model, kv);
}

static inline int dt_rig_open(struct mt_rig *r, int n_dev, const char *const *kv)
{
	return mt_rig_open(r, &dt_model, n_dev, kv);
}

/*
 * Rewrite safetensors @src to @dst through @edit, called for every tensor
 * (a copy the callback may change: name, dtype, shape, data -- replaced data
 * must come from malloc and is freed here; return 0 to drop it, 1 to keep
 * it). Metadata is kept.
 */
typedef int (*dt_edit_fn)(struct ts_tensor *t, void *arg);

static inline int dt_rewrite(const char *src, const char *dst, dt_edit_fn edit, void *arg)
{
	static const char *const meta_keys[] = { "model", "case", "config", "calls", NULL };
	const char *meta[2 * 4 + 1];
	struct ts_tensor *t;
	void **orig;
	struct ts_st *st;
	int n, m = 0, nm = 0, err;

	if (ts_st_open(src, &st))
		return -1;
	n = ts_st_count(st);
	t = calloc((size_t)n, sizeof(*t));
	orig = calloc((size_t)n, sizeof(*orig));
	for (int i = 0; t && orig && i < n; i++) {
		struct ts_tensor *x = &t[m];

		ts_st_get(st, ts_st_key(st, i), x);
		x->name = ts_st_key(st, i);
		orig[m] = x->data;
		if (!edit || edit(x, arg))
			m++;
		else if (x->data != orig[m])
			free(x->data);
	}
	for (int i = 0; meta_keys[i]; i++) {
		const char *v = ts_st_meta(st, meta_keys[i]);

		if (v) {
			meta[nm++] = meta_keys[i];
			meta[nm++] = v;
		}
	}
	meta[nm] = NULL;
	err = t && orig ? ts_st_write(dst, t, m, meta) : -1;
	/* data an edit replaced was malloc'ed by it */
	for (int i = 0; t && orig && i < m; i++)
		if (t[i].data != orig[i])
			free(t[i].data);
	free(orig);
	free(t);
	ts_st_close(st);
	return err;
}

/* A DiT architecture for random weight files. */
struct dt_arch {
	int input_size, patch, in_ch, out_ch, hidden, depth, mlp, rows, freq;
};

static uint64_t dt_rng = 0x9e3779b97f4a7c15ull;

static inline double dt_uniform(void)
{
	dt_rng ^= dt_rng << 13;
	dt_rng ^= dt_rng >> 7;
	dt_rng ^= dt_rng << 17;
	return ((double)(dt_rng >> 11) + 0.5) * 0x1p-53;
}

/* N(0, scale^2) by Box-Muller. */
static inline float *dt_normal(int64_t n, double scale)
{
	float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));

	for (int64_t i = 0; p && i < n; i++)
		p[i] = (float)(scale * sqrt(-2 * log(dt_uniform())) * cos(6.283185307179586 *
									  dt_uniform()));
	return p;
}

static inline void dt_put(struct ts_tensor *t, int *n, const char *name, int ndim, int64_t d0,
			  int64_t d1, int64_t d2, int64_t d3, double scale)
{
	struct ts_tensor *x = &t[(*n)++];

	*x = (struct ts_tensor){ .name = strdup(name), .dtype = TS_F32, .ndim = ndim,
				 .shape = { d0, d1, d2, d3 } };
	x->data = dt_normal(ts_tensor_numel(x), scale);
}

/*
 * Write random weights for @a in the original key layout to @path: weights
 * N(0, 1/fan_in), biases N(0, 0.05^2), the label table N(0, 0.25), like the
 * golden files (every layer non-zero so every term matters). No pos_embed:
 * it is optional (recomputed).
 */
static inline int dt_random_weights(const char *path, const struct dt_arch *a, const char *meta_cfg)
{
	int64_t D = a->hidden, P = (int64_t)a->patch * a->patch * a->out_ch;
	int n = 0, err, cap = 12 + 10 * a->depth;
	struct ts_tensor *t = calloc((size_t)cap, sizeof(*t));
	const char *meta[] = { "model", "dit", "config", meta_cfg, NULL };
	char k[96];

	if (!t)
		return -1;
	dt_put(t, &n, "x_embedder.proj.weight", 4, D, a->in_ch, a->patch, a->patch,
	       1 / sqrt((double)a->in_ch * a->patch * a->patch));
	dt_put(t, &n, "x_embedder.proj.bias", 1, D, 0, 0, 0, 0.05);
	dt_put(t, &n, "t_embedder.mlp.0.weight", 2, D, a->freq, 0, 0, 1 / sqrt((double)a->freq));
	dt_put(t, &n, "t_embedder.mlp.0.bias", 1, D, 0, 0, 0, 0.05);
	dt_put(t, &n, "t_embedder.mlp.2.weight", 2, D, D, 0, 0, 1 / sqrt((double)D));
	dt_put(t, &n, "t_embedder.mlp.2.bias", 1, D, 0, 0, 0, 0.05);
	dt_put(t, &n, "y_embedder.embedding_table.weight", 2, a->rows, D, 0, 0, 0.5);
	dt_put(t, &n, "final_layer.adaLN_modulation.1.weight", 2, 2 * D, D, 0, 0, 1 / sqrt((double)D));
	dt_put(t, &n, "final_layer.adaLN_modulation.1.bias", 1, 2 * D, 0, 0, 0, 0.05);
	dt_put(t, &n, "final_layer.linear.weight", 2, P, D, 0, 0, 1 / sqrt((double)D));
	dt_put(t, &n, "final_layer.linear.bias", 1, P, 0, 0, 0, 0.05);
	for (int i = 0; i < a->depth; i++) {
#define B(name, nd, d0, d1, sc) do { snprintf(k, sizeof(k), "blocks.%d.%s", i, name); \
		dt_put(t, &n, k, nd, d0, d1, 0, 0, sc); } while (0)
		B("adaLN_modulation.1.weight", 2, 6 * D, D, 1 / sqrt((double)D));
		B("adaLN_modulation.1.bias", 1, 6 * D, 0, 0.05);
		B("attn.qkv.weight", 2, 3 * D, D, 1 / sqrt((double)D));
		B("attn.qkv.bias", 1, 3 * D, 0, 0.05);
		B("attn.proj.weight", 2, D, D, 1 / sqrt((double)D));
		B("attn.proj.bias", 1, D, 0, 0.05);
		B("mlp.fc1.weight", 2, a->mlp, D, 1 / sqrt((double)D));
		B("mlp.fc1.bias", 1, a->mlp, 0, 0.05);
		B("mlp.fc2.weight", 2, D, a->mlp, 1 / sqrt((double)a->mlp));
		B("mlp.fc2.bias", 1, D, 0, 0.05);
#undef B
	}
	err = ts_st_write(path, t, n, meta);
	for (int i = 0; i < n; i++) {
		free((void *)t[i].name);
		free(t[i].data);
	}
	free(t);
	return err;
}

#endif /* TS_TESTS_DITEST_H */
