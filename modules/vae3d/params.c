// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/params.c - the flat table of weights: key lookup in the
 * safetensors file (with the checkpoint's prefix), shape checks that name the
 * key and the file, and upload to a device.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vae3d.h"

void vae_params_init(struct vae_params *ps, const struct ts_host *host, struct ts_st *st,
		     const char *prefix)
{
	*ps = (struct vae_params){ .host = host, .st = st, .prefix = prefix ? prefix : "" };
}

void vae_params_fini(struct vae_params *ps)
{
	if (ps->p)
		ps->host->free(ps->p);
	ps->p = NULL;
	ps->n = ps->cap = 0;
}

static int key_vfmt(struct vae_params *ps, char *buf, const char *fmt, va_list ap)
{
	int len = snprintf(buf, VAE_KEY_MAX, "%s", ps->prefix);

	if (len < 0 || len >= VAE_KEY_MAX)
		return TS_EINVAL;
	vsnprintf(buf + len, VAE_KEY_MAX - len, fmt, ap);
	return 0;
}

int vae_has(struct vae_params *ps, const char *fmt, ...)
{
	char key[VAE_KEY_MAX];
	struct ts_tensor t;
	va_list ap;

	va_start(ap, fmt);
	key_vfmt(ps, key, fmt, ap);
	va_end(ap);
	return ps->host->st_get(ps->st, key, &t) == 0;
}

/* Number of dims of the tensor named by @fmt, or -1 when absent. */
int vae_ndim(struct vae_params *ps, const char *fmt, ...)
{
	char key[VAE_KEY_MAX];
	struct ts_tensor t;
	va_list ap;

	va_start(ap, fmt);
	key_vfmt(ps, key, fmt, ap);
	va_end(ap);
	return ps->host->st_get(ps->st, key, &t) == 0 ? t.ndim : -1;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
	size_t o = 0;

	o += snprintf(buf + o, len - o, "[");
	for (int i = 0; i < ndim && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

static int shape_ok(const struct ts_tensor *t, int ndim, const int64_t *shape)
{
	if (t->ndim != ndim)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (shape[i] >= 0 && t->shape[i] != shape[i])
			return 0;
	return 1;
}

static int dtype_ok(struct vae_params *ps, const struct ts_tensor *t, const char *key)
{
	if (t->dtype == TS_F32 || t->dtype == TS_F16 || t->dtype == TS_BF16)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
		      ps->host->st_path(ps->st), key, ts_dtype_name(t->dtype));
	return TS_EFORMAT;
}

static int grow(struct vae_params *ps)
{
	struct vae_param *np;
	int cap = ps->cap ? ps->cap * 2 : 64;

	if (ps->n < ps->cap)
		return 0;
	np = ps->host->alloc(sizeof(*np) * cap);
	if (!np)
		return TS_ENOMEM;
	if (ps->p) {
		memcpy(np, ps->p, sizeof(*np) * ps->n);
		ps->host->free(ps->p);
	}
	ps->p = np;
	ps->cap = cap;
	return 0;
}

/* Find @key, check dtype and shape (entries < 0 match anything), return its view. */
static int lookup(struct vae_params *ps, const char *key, int ndim, const int64_t *shape,
		  struct ts_tensor *out)
{
	char want[96], got[96];
	int err;

	if (ps->host->st_get(ps->st, key, out)) {
		ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing tensor '%s'",
			      ps->host->st_path(ps->st), key);
		return TS_ENOENT;
	}
	err = dtype_ok(ps, out, key);
	if (err)
		return err;
	if (shape_ok(out, ndim, shape))
		return 0;
	shape_str(want, sizeof(want), ndim, shape);
	shape_str(got, sizeof(got), out->ndim, out->shape);
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: tensor '%s' has shape %s, expected %s (-1 = any)",
		      ps->host->st_path(ps->st), key, got, want);
	return TS_EFORMAT;
}

static int add_param(struct vae_params *ps, const char *key, const struct ts_tensor *src, int n)
{
	struct vae_param *p;
	int err = grow(ps);

	if (err)
		return err;
	p = &ps->p[ps->n];
	memset(p, 0, sizeof(*p));
	snprintf(p->key, sizeof(p->key), "%s", key);
	for (int i = 0; i < n; i++) {
		p->src[i] = src[i];
		p->numel += ts_tensor_numel(&src[i]);
	}
	p->n_src = n;
	return ps->n++;
}

/* Add the tensor named by @fmt with @shape; returns its index or a negative TS_E*. */
int vae_param(struct vae_params *ps, int ndim, const int64_t *shape, const char *fmt, ...)
{
	char key[VAE_KEY_MAX];
	struct ts_tensor t;
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = key_vfmt(ps, key, fmt, ap);
	va_end(ap);
	if (err)
		return err;
	err = lookup(ps, key, ndim, shape, &t);
	if (err)
		return err;
	return add_param(ps, key, &t, 1);
}

/*
 * Three [rows, cols] matrices (or [rows, cols, 1, 1] 1x1 convolutions, as ldm
 * stores attention projections) or [rows] vectors (cols = 0) stacked into one
 * param, so q, k and v come out of one GEMM.
 */
int vae_param_fused(struct vae_params *ps, const char *const keys[3], int64_t rows, int64_t cols)
{
	struct ts_tensor t[3];
	char key[VAE_KEY_MAX];
	int err;

	for (int i = 0; i < 3; i++) {
		int64_t s2[2] = { rows, cols }, s4[4] = { rows, cols, 1, 1 };

		snprintf(key, sizeof(key), "%s%s", ps->prefix, keys[i]);
		if (ps->host->st_get(ps->st, key, &t[i])) {
			ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing tensor '%s'",
				      ps->host->st_path(ps->st), key);
			return TS_ENOENT;
		}
		if (cols == 0)
			err = lookup(ps, key, 1, s2, &t[i]);
		else if (t[i].ndim == 4)
			err = lookup(ps, key, 4, s4, &t[i]);
		else
			err = lookup(ps, key, 2, s2, &t[i]);
		if (err)
			return err;
	}
	snprintf(key, sizeof(key), "%s%s", ps->prefix, keys[0]);
	return add_param(ps, key, t, 3);
}

/* "<name>.weight" [c_out, c_in, (kt,) kh, kw] and, with @bias, "<name>.bias" [c_out]. */
int vae_conv_load(struct vae_params *ps, struct vae_conv *cv, int bias, const char *fmt, ...)
{
	int64_t any[5] = { -1, -1, -1, -1, -1 };
	char name[VAE_KEY_MAX], key[VAE_KEY_MAX];
	struct ts_tensor t;
	va_list ap;
	int nd;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (snprintf(key, sizeof(key), "%s%s.weight", ps->prefix, name) >= (int)sizeof(key))
		return TS_EINVAL;
	/* 2-D checkpoints store [o, i, kh, kw]; 3-D ones [o, i, kt, kh, kw]. */
	nd = ps->host->st_get(ps->st, key, &t) == 0 && t.ndim == 4 ? 4 : 5;
	cv->w = vae_param(ps, nd, any, "%s.weight", name);
	if (cv->w < 0)
		return cv->w;
	t = ps->p[cv->w].src[0];
	cv->c_out = (int)t.shape[0];
	cv->c_in = (int)t.shape[1];
	cv->kt = nd == 5 ? (int)t.shape[2] : 1;
	cv->kh = (int)t.shape[nd - 2];
	cv->kw = (int)t.shape[nd - 1];
	cv->st = 1;
	cv->b = -1;
	/* 3x3 (x3) convolutions run as shifted GEMMs, one weight matrix per tap. */
	cv->taps = cv->kh == 3 && cv->kw == 3 && (cv->kt == 1 || cv->kt == 3);
	if (cv->taps) {
		ps->p[cv->w].taps = 9 * cv->kt;
		ps->p[cv->w].tap_rows = (int64_t)cv->c_out * cv->c_in;
	}
	if (bias) {
		int64_t s[1] = { cv->c_out };

		cv->b = vae_param(ps, 1, s, "%s.bias", name);
		if (cv->b < 0)
			return cv->b;
	}
	return 0;
}

/* A strided convolution goes to the op table's conv, which wants the file's weight layout. */
void vae_conv_plain(struct vae_params *ps, struct vae_conv *cv, int stride)
{
	cv->st = stride;
	if (stride == 1)
		return;
	cv->taps = 0;
	ps->p[cv->w].taps = 0;
}

/* A convolution the op table's conv runs (spatially strided): the file's weight layout. */
void vae_conv_untap(struct vae_params *ps, struct vae_conv *cv)
{
	cv->taps = 0;
	ps->p[cv->w].taps = 0;
}

/*
 * The conv after a nearest x2 upsampling: each output phase (row parity a,
 * column parity b) sees a 2x2 neighbourhood of the low-resolution input, so
 * the nine 3x3 taps fold into four per phase, summed once at load.
 */
void vae_conv_upsampler(struct vae_params *ps, struct vae_conv *cv)
{
	if (!cv->taps || cv->kt != 1)
		return;
	cv->phases = 1;
	ps->p[cv->w].phases = 1;
}

/* Refuse a convolution whose shape does not fit where the architecture puts it. */
int vae_conv_expect(struct vae_params *ps, const struct vae_conv *cv, int c_in, int c_out,
		    int k, const char *what)
{
	const struct vae_param *p = &ps->p[cv->w];
	int kt = p->src[0].ndim == 5 ? k : 1;

	if (cv->c_in == c_in && cv->c_out == c_out && cv->kh == k && cv->kw == k && cv->kt == kt)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO,
		      "%s: tensor '%s' (%s) is %dx%dx%dx%dx%d, expected %dx%dx%dx%dx%d "
		      "(out, in, kt, kh, kw)", ps->host->st_path(ps->st), p->key, what,
		      cv->c_out, cv->c_in, cv->kt, cv->kh, cv->kw, c_out, c_in, kt, k, k);
	return TS_EFORMAT;
}

/* "<name>.weight" and "<name>.bias", both [c] (@c < 0: whatever the weight has). */
int vae_norm_load(struct vae_params *ps, struct vae_norm *n, int c, const char *fmt, ...)
{
	char name[VAE_KEY_MAX];
	int64_t s[1] = { c };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	n->w = vae_param(ps, 1, s, "%s.weight", name);
	if (n->w < 0)
		return n->w;
	n->c = (int)ps->p[n->w].src[0].shape[0];
	s[0] = n->c;
	n->b = vae_param(ps, 1, s, "%s.bias", name);
	return n->b < 0 ? n->b : 0;
}

void vae_params_free(struct vae_params *ps, struct ts_dev *dev, void **w)
{
	if (!w)
		return;
	for (int i = 0; i < ps->n; i++)
		if (w[i])
			ps->host->dev_free(dev, w[i]);
	ps->host->free(w);
}

/* [rows, taps] (the file's [o, i, kh, kw]) -> [taps, rows] on the device. */
static int tap_major(struct vae_params *ps, struct ts_dev *dev, const struct vae_param *p,
		     void **buf)
{
	const struct ts_ops *ops = ps->host->dev_ops(dev);
	int64_t shape[2] = { p->tap_rows, p->taps };
	int perm[2] = { 1, 0 };
	void *t = ps->host->dev_alloc(dev, (size_t)p->numel);
	int err;

	if (!t)
		return TS_ENOMEM;
	err = ops->permute(dev, t, *buf, 2, shape, perm);
	if (err) {
		ps->host->dev_free(dev, t);
		return err;
	}
	ps->host->dev_free(dev, *buf);
	*buf = t;
	return 0;
}

/*
 * Phase (a, b) tap (ry, rx) reads the low-resolution input at row offset
 * a + ry - 1 and column offset b + rx - 1; it sums the 3x3 taps dy whose
 * upsampled row lands there: for a = 0, ry = 0 takes dy 0 and ry = 1 takes
 * dy 1, 2; for a = 1, ry = 0 takes dy 0, 1 and ry = 1 takes dy 2.
 */
static int phase_fold(struct vae_params *ps, struct ts_dev *dev, const struct vae_param *p,
		      void **buf)
{
	static const int lo[2][2] = { { 0, 1 }, { 0, 2 } }, hi[2][2] = { { 0, 2 }, { 1, 2 } };
	const struct ts_ops *ops = ps->host->dev_ops(dev);
	size_t es = ts_dtype_size(ops->dtype);
	int64_t R = p->tap_rows;
	char *t = ps->host->dev_alloc(dev, (size_t)(16 * R)), *src = *buf;
	int err = t ? 0 : TS_ENOMEM;

	for (int k = 0; !err && k < 16; k++) {
		int a = k / 8, b = k / 4 % 2, ry = k / 2 % 2, rx = k % 2, first = 1;
		char *dst = t + (size_t)k * R * es;

		for (int dy = lo[a][ry]; !err && dy <= hi[a][ry]; dy++)
			for (int dx = lo[b][rx]; !err && dx <= hi[b][rx]; dx++) {
				const char *w = src + (size_t)(dy * 3 + dx) * R * es;

				err = first ? ops->copy2d(dev, dst, R, w, R, 1, R) :
					      ops->add(dev, dst, dst, w, R);
				first = 0;
			}
	}
	if (err) {
		if (t)
			ps->host->dev_free(dev, t);
		return err;
	}
	ps->host->dev_free(dev, *buf);
	*buf = t;
	return 0;
}

static int upload_one(struct vae_params *ps, struct ts_dev *dev, const struct vae_param *p,
		      void **out)
{
	const struct ts_ops *ops = ps->host->dev_ops(dev);
	size_t es = ts_dtype_size(ops->dtype);
	int64_t off = 0;
	char *d;
	int err;

	d = ps->host->dev_alloc(dev, (size_t)p->numel);
	if (!d) {
		ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no device memory for '%s' (%lld elements)",
			      ps->host->st_path(ps->st), p->key, (long long)p->numel);
		return TS_ENOMEM;
	}
	*out = d;
	for (int i = 0; i < p->n_src; i++) {
		int64_t n = ts_tensor_numel(&p->src[i]);

		err = ps->host->dev_upload(dev, d + off * es, p->src[i].data, p->src[i].dtype, n);
		if (err)
			return err;
		off += n;
	}
	if (!p->taps)
		return 0;
	err = tap_major(ps, dev, p, out);
	return !err && p->phases ? phase_fold(ps, dev, p, out) : err;
}

/* Device copies of every param, in table order; NULL after logging on failure. */
void **vae_params_upload(struct vae_params *ps, struct ts_dev *dev)
{
	void **w = ps->host->alloc(sizeof(*w) * (ps->n ? ps->n : 1));

	if (!w)
		return NULL;
	memset(w, 0, sizeof(*w) * (ps->n ? ps->n : 1));
	for (int i = 0; i < ps->n; i++) {
		if (upload_one(ps, dev, &ps->p[i], &w[i])) {
			vae_params_free(ps, dev, w);
			return NULL;
		}
	}
	return w;
}
