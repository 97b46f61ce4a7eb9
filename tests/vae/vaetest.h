/* SPDX-License-Identifier: MIT */
/*
 * tests/vae/vaetest.h - what the vae3d tests share: the module loaded with
 * the host's loader from the build folder, a CPU virtual device, a decoder
 * configured from a synthetic [model] section, and running a function on the
 * device's worker thread. Header-only.
 */
#ifndef TS_TESTS_VAETEST_H
#define TS_TESTS_VAETEST_H

#include <libgen.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/tetri.h>

#include "backend.h"
#include "../../core/config.h"
#include "registry.h"
#include "safetensors.h"
#include "tap.h"

struct vaetest {
	const struct ts_host *host;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev;
	struct ts_module *mod;
	const struct ts_decoder_ops *ops;
};

/* Load $builddir/modules/vae3d.so (next to the test's folder) and open one CPU device. */
static inline int vaetest_open(struct vaetest *vt, const char *argv0, int threads)
{
	char self[1024], path[1200];
	int err;

	memset(vt, 0, sizeof(*vt));
	vt->host = ts_host_api();
	snprintf(self, sizeof(self), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../modules/vae3d.so", dirname(self));
	err = ts_module_load_file(path, &vt->mod);
	if (err)
		return err;
	vt->ops = ts_find_decoder("vae3d");
	if (!vt->ops)
		return TS_ENOENT;
	err = ts_backend_open("cpu", vt->host, 1, threads, &vt->be_ops, &vt->be);
	if (err)
		return err;
	vt->dev = vt->be_ops->device(vt->be, 0);
	return 0;
}

static inline void vaetest_close(struct vaetest *vt)
{
	if (vt->be)
		vt->be_ops->destroy(vt->be);
	ts_module_unload_all();
}

/*
 * Configure a decoder from "key=value" pairs (@kv NULL-terminated),
 * validated against the module's schema like an ini section.
 */
static inline int vaetest_configure_v(struct vaetest *vt, struct ts_config **cfg, void **dec,
				      const char *const *kv)
{
	struct ts_section *sec;
	int err = 0;

	*cfg = ts_config_new();
	sec = ts_config_section_get(*cfg, "model vae");
	for (; !err && *kv; kv++) {
		char key[64];
		const char *eq = strchr(*kv, '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - *kv), *kv);
		err = ts_section_set(sec, key, eq + 1, "test");
	}
	if (!err)
		err = ts_section_validate(sec, vt->ops->keys, NULL);
	if (!err)
		err = vt->ops->configure(vt->host, sec, dec);
	return err;
}

/* The same with the pairs as arguments, NULL-terminated. */
static inline int vaetest_configure(struct vaetest *vt, struct ts_config **cfg, void **dec, ...)
{
	const char *kv[16];
	va_list ap;
	int n = 0;

	va_start(ap, dec);
	while (n < 15 && (kv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	kv[n] = NULL;
	return vaetest_configure_v(vt, cfg, dec, kv);
}

struct vaetest_call {
	int (*fn)(struct ts_dev *dev, void *arg);
	void *arg;
};

static inline int vaetest_spmd_(struct ts_dev *dev, int rank, void *arg)
{
	struct vaetest_call *c = arg;

	return c->fn(dev, c->arg);
}

/* Run @fn(dev, arg) on the device's worker thread. */
static inline int vaetest_on_dev(struct vaetest *vt, int (*fn)(struct ts_dev *, void *), void *arg)
{
	struct vaetest_call c = { fn, arg };

	return ts_backend_run_spmd(&vt->dev, 1, vaetest_spmd_, &c);
}

/*
 * The golden files (../shared/golden: sd_vae_decoder, vae_temporal) and ours
 * that the decoder is checked against, in process and through run-case;
 * their count in *@n.
 */
static inline const char *const *vaetest_cases(size_t *n)
{
	static const char *const cases[] = {
		"tests/data/golden/sd_vae_decoder/a.safetensors",
		"tests/data/golden/sd_vae_decoder/b.safetensors",
		"tests/data/golden/vae_temporal/a_decode.safetensors",
		"tests/data/golden/vae_temporal/b_decode.safetensors",
		"tests/data/golden/vae_temporal/a_encode.safetensors",
		"tests/data/golden/vae_temporal/b_encode.safetensors",
		/* our own references (tests/vae/make_cases.py) for what the goldens leave out */
		"tests/data/vae_cases/sd_c.safetensors",
		"tests/data/vae_cases/sd_d.safetensors",
		"tests/data/vae_cases/sd_e_encode.safetensors",
		"tests/data/vae_cases/tv_c_decode.safetensors",
		"tests/data/vae_cases/tv_c_encode.safetensors",
		"tests/data/vae_cases/tv_d_decode.safetensors",
		"tests/data/vae_cases/tv_d_encode.safetensors",
		"tests/data/vae_cases/tv_e_decode.safetensors",
		"tests/data/vae_cases/tv_e_encode.safetensors",
	};

	*n = sizeof(cases) / sizeof(cases[0]);
	return cases;
}

/* max|a - b| / max|b|: the golden files' rel_err_inf. */
static inline double vaetest_rel_inf(const float *a, const float *b, int64_t n)
{
	double num = 0, den = 0;

	for (int64_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);

		if (d > num || isnan(d))
			num = isnan(d) ? INFINITY : d;
		if (fabs((double)b[i]) > den)
			den = fabs((double)b[i]);
	}
	return den > 0 ? num / den : num;
}

/*
 * Rewrite the tensors of @src into @dst: @fn sees each tensor (a copy of its
 * view) and may rename it (write into @name, 256 bytes), change it, or
 * return 0 to drop it. The data stays in @src's mapping: @src stays open.
 */
typedef int (*vaetest_edit_fn)(void *arg, char *name, struct ts_tensor *t);

static inline int vaetest_rewrite(struct ts_st *src, const char *dst, vaetest_edit_fn fn, void *arg)
{
	int n = ts_st_count(src), m = 0, err;
	struct ts_tensor *t = calloc((size_t)n, sizeof(*t));
	char (*names)[256] = calloc((size_t)n, 256);

	for (int i = 0; t && names && i < n; i++) {
		snprintf(names[m], 256, "%s", ts_st_key(src, i));
		ts_st_get(src, names[m], &t[m]);
		if (fn && !fn(arg, names[m], &t[m]))
			continue;
		t[m].name = names[m];
		m++;
	}
	err = t && names ? ts_st_write(dst, t, m, NULL) : TS_ENOMEM;
	free(t);
	free(names);
	return err;
}

#endif /* TS_TESTS_VAETEST_H */
