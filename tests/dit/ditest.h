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

#endif /* TS_TESTS_DITEST_H */
