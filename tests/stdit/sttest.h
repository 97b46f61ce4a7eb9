/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/sttest.h - what the STDiT3 tests share: paths from the test
 * binary's folder ($builddir/tests), a scratch folder, a log capture,
 * relative errors, and a rig of CPU virtual devices with stdit.so loaded and
 * a model configured. Header-only.
 */
#ifndef TS_TESTS_STTEST_H
#define TS_TESTS_STTEST_H

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

#define ST_GOLDEN "tests/data/golden/stdit3"
#define ST_OURS "tests/data/stdit"
#define ST_MAX_DEV 4

static char st_builddir[PATH_MAX];
static char st_tmp[PATH_MAX];
static char st_log[1 << 16];
static size_t st_log_len;

static inline void st_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (st_tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st_tmp);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", st_tmp);
	}
}

/* $builddir from argv[0] ($builddir/tests/test_x), and a scratch folder removed at exit. */
static inline void st_init(const char *argv0)
{
	char buf[PATH_MAX];
	const char *base = getenv("TMPDIR");

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(st_builddir, sizeof(st_builddir), "%s/..", dirname(buf));
	snprintf(st_tmp, sizeof(st_tmp), "%s/tsstXXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(st_tmp)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(st_cleanup);
}

static inline void st_sink(enum ts_log_level lvl, const char *line, void *arg)
{
	size_t n = strlen(line);

	(void)lvl;
	(void)arg;
	if (st_log_len + n + 2 >= sizeof(st_log))
		return;
	memcpy(st_log + st_log_len, line, n);
	st_log_len += n;
	st_log[st_log_len++] = '\n';
	st_log[st_log_len] = '\0';
}

static inline void st_capture(void)
{
	st_log_len = 0;
	st_log[0] = '\0';
	ts_log_set_sink(st_sink, NULL);
}

static inline void st_release(void)
{
	ts_log_set_sink(NULL, NULL);
}

static inline int st_logged(const char *needle)
{
	return strstr(st_log, needle) != NULL;
}

/* ||a - b||_2 / ||b||_2 in float64; infinite when a has a non-finite value. */
static inline double st_rel_l2(const float *a, const float *b, int64_t n)
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
static inline double st_rel_inf(const float *a, const float *b, int64_t n)
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

/* The rig: CPU virtual devices, stdit.so from $builddir/modules, one configured model. */
struct st_rig {
	const struct ts_host *host;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev[ST_MAX_DEV];
	int n_dev;
	struct ts_comm *comm[ST_MAX_DEV + 1]; /* comm[k]: devices 0..k-1 */
	const struct ts_model_ops *ops;
	struct ts_config *cfg;
	void *model;
	void *weights[ST_MAX_DEV];
};

static inline int st_load_module(void)
{
	char path[PATH_MAX + 32];
	struct ts_module *mod;

	if (ts_find_model("stdit3"))
		return 0;
	snprintf(path, sizeof(path), "%s/modules/stdit.so", st_builddir);
	return ts_module_load_file(path, &mod);
}

/* Configure the model from "key=value" strings (NULL-terminated). */
static inline int st_configure(struct st_rig *r, const char *const *kv)
{
	struct ts_section *sec;
	char key[128];

	r->cfg = ts_config_new();
	sec = ts_config_section_get(r->cfg, "model stdit-test");
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

/* Devices, communicators over every prefix 0..k-1, the model loaded on each device. */
static inline int st_rig_open(struct st_rig *r, int n_dev, const char *const *kv)
{
	size_t bytes;

	memset(r, 0, sizeof(*r));
	r->host = ts_host_api();
	if (st_load_module())
		return -1;
	r->ops = ts_find_model("stdit3");
	if (!r->ops || st_configure(r, kv))
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

static inline void st_rig_close(struct st_rig *r)
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

#endif /* TS_TESTS_STTEST_H */
