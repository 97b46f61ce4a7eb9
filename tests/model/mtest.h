/* SPDX-License-Identifier: MIT */
/*
 * tests/model/mtest.h - what the model modules' tests (tests/dit, tests/stdit)
 * share: paths derived from the test binary's folder ($builddir/tests), a
 * scratch folder removed at exit, a log capture, relative errors, and a rig
 * of CPU virtual devices with a model module loaded and a model configured
 * from key=value pairs. Header-only, like tests/tap.h.
 */
#ifndef TS_TESTS_MTEST_H
#define TS_TESTS_MTEST_H

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

#define MT_MAX_DEV 4

static char mt_builddir[PATH_MAX];
static char mt_tmp[PATH_MAX];
static char mt_log[1 << 16];
static size_t mt_log_len;

static inline void mt_cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (mt_tmp[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mt_tmp);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", mt_tmp);
	}
}

/*
 * $builddir from argv[0] ($builddir/tests/test_x), and a scratch folder
 * $TMPDIR/@prefix.XXXXXX removed at exit.
 */
static inline void mt_init(const char *argv0, const char *prefix)
{
	char buf[PATH_MAX];
	const char *base = getenv("TMPDIR");

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(mt_builddir, sizeof(mt_builddir), "%s/..", dirname(buf));
	snprintf(mt_tmp, sizeof(mt_tmp), "%s/%sXXXXXX", base && *base ? base : "/tmp", prefix);
	if (!mkdtemp(mt_tmp)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(mt_cleanup);
}

/* A path inside the scratch folder. */
static inline void mt_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", mt_tmp, name);
}

static inline void mt_sink(enum ts_log_level lvl, const char *line, void *arg)
{
	size_t n = strlen(line);

	(void)lvl;
	(void)arg;
	if (mt_log_len + n + 2 >= sizeof(mt_log))
		return;
	memcpy(mt_log + mt_log_len, line, n);
	mt_log_len += n;
	mt_log[mt_log_len++] = '\n';
	mt_log[mt_log_len] = '\0';
}

/* Collect the log (instead of printing it) until mt_release. */
static inline void mt_capture(void)
{
	mt_log_len = 0;
	mt_log[0] = '\0';
	ts_log_set_sink(mt_sink, NULL);
}

static inline void mt_release(void)
{
	ts_log_set_sink(NULL, NULL);
}

static inline int mt_logged(const char *needle)
{
	return strstr(mt_log, needle) != NULL;
}

/* ||a - b||_2 / ||b||_2 in float64; infinite when a has a non-finite value. */
static inline double mt_rel_l2(const float *a, const float *b, int64_t n)
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
static inline double mt_rel_inf(const float *a, const float *b, int64_t n)
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

/** struct mt_model - which module a rig loads and what it configures. */
struct mt_model {
	const char *module;     /* $builddir/modules/<module>.so */
	const char *name;       /* the model ops' registered name */
	const char *section;    /* the synthetic config section */
};

/*
 * The rig: CPU virtual devices, the module loaded from $builddir/modules,
 * and a model configured from a synthetic section of key=value pairs.
 */
struct mt_rig {
	const struct ts_host *host;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev[MT_MAX_DEV];
	int n_dev;
	struct ts_comm *comm[MT_MAX_DEV + 1]; /* comm[k]: devices 0..k-1 */
	const struct ts_model_ops *ops;
	struct ts_config *cfg;
	void *model;
	void *weights[MT_MAX_DEV];
};

static inline int mt_load_module(const struct mt_model *mm)
{
	char path[PATH_MAX + 32];
	struct ts_module *mod;

	if (ts_find_model(mm->name))
		return 0;
	snprintf(path, sizeof(path), "%s/modules/%s.so", mt_builddir, mm->module);
	return ts_module_load_file(path, &mod);
}

/* Configure the model from "key=value" strings (NULL-terminated). */
static inline int mt_configure(struct mt_rig *r, const struct mt_model *mm,
			       const char *const *kv)
{
	struct ts_section *sec;
	char key[128];

	r->cfg = ts_config_new();
	sec = ts_config_section_get(r->cfg, mm->section);
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
static inline int mt_rig_open(struct mt_rig *r, const struct mt_model *mm, int n_dev,
			      const char *const *kv)
{
	size_t bytes;

	memset(r, 0, sizeof(*r));
	r->host = ts_host_api();
	if (mt_load_module(mm))
		return -1;
	r->ops = ts_find_model(mm->name);
	if (!r->ops || mt_configure(r, mm, kv))
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

static inline void mt_rig_close(struct mt_rig *r)
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

#endif /* TS_TESTS_MTEST_H */
