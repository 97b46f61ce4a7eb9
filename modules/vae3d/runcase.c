// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/runcase.c - `tetriserve run-case` for the decoder: run the
 * upstream call a golden file describes (AutoencoderKL.decode(z),
 * VAE_Temporal.decode(z, num_frames) or .encode(x)) on its inputs and hand
 * every named intermediate and result to the caller, who compares them with
 * the file's "output.*" tensors. The case's GroupNorm settings reach the
 * section through keys named as in the upstream configs.
 */
#include <stdio.h>
#include <string.h>

#include "vae3d.h"

struct rc_emit {
	const struct ts_host *host;
	struct ts_dev *dev;
	int (*emit)(void *arg, const struct ts_tensor *t);
	void *arg;
	int err;
};

static void rc_trace(void *arg, const char *name, const void *buf, int ndim, const int64_t *shape)
{
	struct rc_emit *e = arg;
	char full[VAE_KEY_MAX + 8];
	struct ts_tensor t = { .name = full, .dtype = TS_F32, .ndim = ndim };
	int err;

	if (e->err)
		return;
	snprintf(full, sizeof(full), "output.%s", name);
	memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
	t.data = e->host->alloc(sizeof(float) * (size_t)ts_tensor_numel(&t));
	if (!t.data) {
		e->err = TS_ENOMEM;
		return;
	}
	err = e->host->dev_sync(e->dev);
	if (!err)
		err = e->host->dev_download(e->dev, t.data, buf, ts_tensor_numel(&t));
	if (!err)
		err = e->emit(e->arg, &t);
	e->host->free(t.data);
	e->err = err;
}

static int input(struct vae_dec *d, struct ts_st *st, const char *key, int ndim,
		 struct ts_tensor *t)
{
	if (d->host->st_get(st, key, t) == 0 && t->dtype == TS_F32 && t->ndim == ndim)
		return 0;
	d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing F32 %d-D tensor '%s'", d->host->st_path(st),
		     ndim, key);
	return TS_ENOENT;
}

static int case_sd(struct vae_dec *d, struct vctx *cx, struct ts_st *st)
{
	struct ts_tensor z;
	struct vt x;
	int err = input(d, st, "input.z", 4, &z);

	if (!err)
		err = vae_upload(cx, &x, z.data, z.shape[0], z.shape[1], 1, z.shape[2], z.shape[3]);
	if (err)
		return err;
	err = sd_decode_run(cx, &d->sd, &x);
	vt_free(cx, &x);
	return err;
}

static int case_tv_decode(struct vae_dec *d, struct vctx *cx, struct ts_st *st)
{
	struct ts_tensor z, nf;
	struct vt x;
	int err = input(d, st, "input.z", 5, &z);

	if (!err && (d->host->st_get(st, "input.num_frames", &nf) || nf.dtype != TS_I64 ||
		     ts_tensor_numel(&nf) != 1)) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing I64 [1] tensor 'input.num_frames'",
			     d->host->st_path(st));
		err = TS_ENOENT;
	}
	if (!err)
		err = vae_upload(cx, &x, z.data, z.shape[0], z.shape[1], z.shape[2], z.shape[3],
				 z.shape[4]);
	if (err)
		return err;
	err = tv_decode_run(cx, &d->tv, &x, *(const int64_t *)nf.data);
	vt_free(cx, &x);
	return err;
}

/* posterior_mean / posterior_logvar: the halves of the moments, logvar clamped to [-30, 20]. */
static int emit_posterior(struct vae_dec *d, struct rc_emit *e, const struct vt *m, int ndim)
{
	int64_t half = m->c / 2, plane = m->t * m->h * m->w;
	struct ts_tensor t = { .dtype = TS_F32, .ndim = 5,
			       .shape = { m->n, half, m->t, m->h, m->w } };

	if (ndim == 4) { /* images: [n, half, h, w] */
		t.ndim = 4;
		t.shape[2] = m->h;
		t.shape[3] = m->w;
	}
	float *all = d->host->alloc(sizeof(float) * (size_t)vt_numel(m));
	float *part = d->host->alloc(sizeof(float) * (size_t)ts_tensor_numel(&t));
	int err = all && part ? 0 : TS_ENOMEM;

	if (!err)
		err = d->host->dev_download(e->dev, all, m->p, vt_numel(m));
	for (int k = 0; k < 2 && !err; k++) {
		for (int64_t b = 0; b < m->n; b++)
			for (int64_t i = 0; i < half * plane; i++) {
				float v = all[(b * m->c + k * half) * plane + i];

				if (k == 1)
					v = v < -30.0f ? -30.0f : v > 20.0f ? 20.0f : v;
				part[b * half * plane + i] = v;
			}
		t.name = k ? "output.posterior_logvar" : "output.posterior_mean";
		t.data = part;
		err = e->emit(e->arg, &t);
	}
	d->host->free(all);
	d->host->free(part);
	return err;
}

/* AutoencoderKL.encode(x): the encoder's path and the posterior's halves. */
static int case_sd_encode(struct vae_dec *d, struct vctx *cx, struct ts_st *st,
			  struct rc_emit *e)
{
	struct ts_tensor in;
	struct vt x;
	int err = input(d, st, "input.x", 4, &in);

	if (!err && !d->sd.enc.present) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no SD encoder", d->host->st_path(st));
		err = TS_ENOENT;
	}
	if (!err)
		err = vae_upload(cx, &x, in.data, in.shape[0], in.shape[1], 1, in.shape[2],
				 in.shape[3]);
	if (err)
		return err;
	err = sd_encode_run(cx, &d->sd.enc, &x);
	if (!err && !e->err)
		err = emit_posterior(d, e, &x, 4);
	vt_free(cx, &x);
	return err;
}

static int case_tv_encode(struct vae_dec *d, struct vctx *cx, struct ts_st *st,
			  struct rc_emit *e)
{
	struct ts_tensor in;
	struct vt x;
	int err = input(d, st, "input.x", 5, &in);

	if (!err)
		err = vae_upload(cx, &x, in.data, in.shape[0], in.shape[1], in.shape[2], in.shape[3],
				 in.shape[4]);
	if (err)
		return err;
	err = tv_encode_run(cx, &d->tv, &x);
	if (!err && !e->err)
		err = emit_posterior(d, e, &x, 5);
	vt_free(cx, &x);
	return err;
}

int vae_run_case(void *dec, struct ts_dev *dev, void *weights, struct ts_st *st,
		 int (*emit)(void *arg, const struct ts_tensor *t), void *arg)
{
	struct vae_dec *d = dec;
	struct vae_weights *vw = weights;
	struct rc_emit e = { .host = d->host, .dev = dev, .emit = emit, .arg = arg };
	struct ts_tensor probe;
	struct vctx cx;
	int err;

	d->trace = rc_trace;
	d->trace_arg = &e;
	if (d->kind == VAE_SD) {
		vae_ctx_init(&cx, d, dev, vw->sd, 0);
		if (d->host->st_get(st, "input.x", &probe) == 0)
			err = case_sd_encode(d, &cx, st, &e);
		else
			err = case_sd(d, &cx, st);
	} else if (d->kind == VAE_TEMPORAL) {
		vae_ctx_init(&cx, d, dev, vw->tv, 1);
		if (d->host->st_get(st, "input.x", &probe) == 0)
			err = case_tv_encode(d, &cx, st, &e);
		else
			err = case_tv_decode(d, &cx, st);
	} else {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no reference case for Open-Sora's pipeline",
			     d->host->st_path(st));
		d->trace = NULL;
		return TS_ENOTSUP;
	}
	vae_ctx_fini(&cx);
	d->trace = NULL;
	d->trace_arg = NULL;
	return err ? err : e.err;
}
