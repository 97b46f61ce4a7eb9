/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/ditest.h - what the DiT tests share: paths derived from the test
 * binary's folder ($builddir/tests), safetensors copies with one thing
 * changed, a log capture, relative errors, and a rig of CPU virtual devices
 * with dit.so loaded and a model configured. Header-only.
 */
#ifndef TS_TESTS_DITEST_H
#define TS_TESTS_DITEST_H

#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/tetri.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "safetensors.h"
#include "tap.h"

#define DT_GOLDEN "tests/data/golden/dit"
#define DT_MAX_DEV 4

static char dt_builddir[PATH_MAX];
static char dt_tmp[PATH_MAX];
static char dt_log[1 << 16];
static size_t dt_log_len;

static inline void dt_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (dt_tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dt_tmp);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dt_tmp);
	}
}

/* $builddir from argv[0] ($builddir/tests/test_x), and a scratch folder removed at exit. */
static inline void dt_init(const char *argv0)
{
	char buf[PATH_MAX];
	const char *base = getenv("TMPDIR");

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(dt_builddir, sizeof(dt_builddir), "%s/..", dirname(buf));
	snprintf(dt_tmp, sizeof(dt_tmp), "%s/tsditXXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dt_tmp)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(dt_cleanup);
}

/* A path inside the scratch folder (static buffer per call site is the caller's job). */
static inline void dt_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dt_tmp, name);
}

static inline void dt_sink(enum ts_log_level lvl, const char *line, void *arg)
{
	size_t n = strlen(line);

	(void)lvl;
	(void)arg;
	if (dt_log_len + n + 2 >= sizeof(dt_log))
		return;
	memcpy(dt_log + dt_log_len, line, n);
	dt_log_len += n;
	dt_log[dt_log_len++] = '\n';
	dt_log[dt_log_len] = '\0';
}

static inline void dt_capture(void)
{
	dt_log_len = 0;
	dt_log[0] = '\0';
	ts_log_set_sink(dt_sink, NULL);
}

static inline void dt_release(void)
{
	ts_log_set_sink(NULL, NULL);
}

static inline int dt_logged(const char *needle)
{
	return strstr(dt_log, needle) != NULL;
}

/* ||a - b||_2 / ||b||_2 in float64. */
static inline double dt_rel_l2(const float *a, const float *b, int64_t n)
{
	double num = 0, den = 0;

	for (int64_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];

		if (!isfinite(a[i]))
			return INFINITY;
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* max |a - b| / max |b|. */
static inline double dt_rel_inf(const float *a, const float *b, int64_t n)
{
	double num = 0, den = 0;

	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(a[i]))
			return INFINITY;
		num = fmax(num, fabs((double)a[i] - b[i]));
		den = fmax(den, fabs((double)b[i]));
	}
	return den > 0 ? num / den : num;
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

/*
 * The rig: CPU virtual devices, dit.so loaded from $builddir/modules, and a
 * model configured from a synthetic section of key=value pairs.
 */
struct dt_rig {
	const struct ts_host *host;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev[DT_MAX_DEV];
	int n_dev;
	struct ts_comm *comm[DT_MAX_DEV + 1]; /* comm[k]: devices 0..k-1 */
	const struct ts_model_ops *ops;
	struct ts_config *cfg;
	void *model;
	void *weights[DT_MAX_DEV];
};

static inline int dt_load_module(void)
{
	char path[PATH_MAX + 32];
	struct ts_module *mod;

	if (ts_find_model("dit"))
		return 0;
	snprintf(path, sizeof(path), "%s/modules/dit.so", dt_builddir);
	return ts_module_load_file(path, &mod);
}

/* Configure the model from "key=value" strings (NULL-terminated). */
static inline int dt_configure(struct dt_rig *r, const char *const *kv)
{
	struct ts_section *sec;
	char key[128];

	r->cfg = ts_config_new();
	sec = ts_config_section_get(r->cfg, "model dit-test");
	for (int i = 0; kv[i]; i++) {
		const char *eq = strchr(kv[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		if (ts_section_set(sec, key, eq + 1, "test"))
			return -1;
	}
	if (ts_section_validate(sec, r->ops->keys, NULL))
		return -1;
	return r->ops->configure(r->host, sec, &r->model);
}

/* Devices, communicators over every prefix 0..k-1, and the model loaded on each device. */
static inline int dt_rig_open(struct dt_rig *r, int n_dev, const char *const *kv)
{
	size_t bytes;

	memset(r, 0, sizeof(*r));
	r->host = ts_host_api();
	if (dt_load_module())
		return -1;
	r->ops = ts_find_model("dit");
	if (!r->ops || dt_configure(r, kv))
		return -1;
	if (ts_backend_open("cpu", r->host, n_dev, 1, &r->be_ops, &r->be))
		return -1;
	r->n_dev = n_dev;
	for (int i = 0; i < n_dev; i++)
		r->dev[i] = r->be_ops->device(r->be, i);
	for (int k = 1; k <= n_dev; k++)
		if (r->be_ops->comm_create(r->be, r->dev, k, &r->comm[k], &bytes))
			return -1;
	for (int i = 0; i < n_dev; i++)
		if (r->ops->load(r->model, r->dev[i], &r->weights[i]))
			return -1;
	return 0;
}

static inline void dt_rig_close(struct dt_rig *r)
{
	for (int i = 0; i < r->n_dev; i++)
		if (r->weights[i])
			r->ops->unload(r->model, r->dev[i], r->weights[i]);
	for (int k = 1; k <= r->n_dev; k++)
		if (r->comm[k])
			r->be_ops->comm_destroy(r->comm[k]);
	if (r->be)
		r->be_ops->destroy(r->be);
	if (r->model)
		r->ops->release(r->model);
	ts_config_free(r->cfg);
	memset(r, 0, sizeof(*r));
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
