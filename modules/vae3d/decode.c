// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/decode.c - the decoder ops' decode and encode: images
 * through the SD VAE (whole batches, smaller batches, or bands of rows, whichever
 * fits the memory budget), videos through the temporal VAE, and Open-Sora
 * 1.2's pipeline (per-channel shift and scale, temporal decode in chunks of
 * micro_frames, then the SD VAE per frame).
 *
 * Latents come from and pixels go to host memory; reordering between
 * [B, C, T, H, W] and per-frame [B*T, C, H, W] and joining chunks are
 * copies on the host, where the whole video lives anyway.
 */
#include <math.h>
#include <string.h>

#include "vae3d.h"

/* A forward pass of the SD VAE, or with @temporal of the temporal VAE (its own GroupNorm). */
void vae_ctx_init(struct vctx *cx, const struct vae_dec *d, struct ts_dev *dev, void **w,
		  int temporal)
{
	*cx = (struct vctx){
		.host = d->host, .dev = dev, .ops = d->host->dev_ops(dev), .w = w,
		.groups = temporal ? d->tv_groups : d->groups,
		.eps = temporal ? d->tv_eps : d->sd_eps,
		.trace = d->trace, .trace_arg = d->trace_arg,
	};
	cx->esize = ts_dtype_size(cx->ops->dtype);
}

int vae_upload(struct vctx *cx, struct vt *x, const float *src, int64_t n, int64_t c, int64_t t,
	       int64_t h, int64_t w)
{
	int err = vt_alloc(cx, x, n, c, t, h, w);

	if (err)
		return err;
	err = cx->host->dev_upload(cx->dev, x->p, src, TS_F32, vt_numel(x));
	if (err)
		vt_free(cx, x);
	return err;
}

int vae_download(struct vctx *cx, const struct vt *x, float *dst)
{
	int err = cx->host->dev_download(cx->dev, dst, x->p, vt_numel(x));

	return err ? err : cx->host->dev_sync(cx->dev);
}

/*
 * End of a pass: pooled buffers back to the device. Nothing is written into
 * the decoder itself, so one configured decoder may decode on several
 * devices at once.
 */
static void pass_end(struct vctx *cx)
{
	vae_ctx_fini(cx);
}

/* Decode @n latents at once: divide by @scale on the device, run, download. */
static int sd_batch(struct vae_dec *d, struct vctx *cx, const float *lat, int64_t n, int64_t h,
		    int64_t w, float scale, float *out)
{
	struct vt x, y;
	int err;

	err = vae_upload(cx, &x, lat, n, d->sd.z_ch, 1, h, w);
	if (err)
		return err;
	if (scale != 1.0f) {
		err = vt_alloc(cx, &y, n, d->sd.z_ch, 1, h, w);
		if (!err)
			err = cx->ops->axpby(cx->dev, y.p, 1.0f / scale, x.p, 0.0f, vt_numel(&x));
		vt_free(cx, &x);
		if (err)
			return err;
		x = y;
	}
	err = sd_decode_run(cx, &d->sd, &x);
	if (!err)
		err = vae_download(cx, &x, out);
	vt_free(cx, &x);
	return err;
}

/*
 * @n latents [n, z, h, w] -> pixels [n, out_ch, H, W]: as many per pass as
 * @budget allows, or one at a time in bands of rows when even one does not
 * fit (band.c: the same numbers, less device memory).
 */
int vae_sd_images(struct vae_dec *d, struct ts_dev *dev, void **w, const float *lat, int64_t n,
		  int64_t h, int64_t wd, float scale, uint64_t budget, float *out)
{
	int64_t f = (int64_t)1 << (d->sd.n_levels - 1);
	int64_t in_sz = d->sd.z_ch * h * wd, out_sz = d->sd.out_ch * h * f * wd * f;
	uint64_t one = sd_decode_bytes(&d->sd, 1, h, wd);
	int64_t per = budget ? (int64_t)(budget / (one ? one : 1)) : n;
	struct vctx cx;
	float *tmp = NULL;
	int err = 0;

	vae_ctx_init(&cx, d, dev, w, 0);
	cx.pool_max = budget ? 0 : VAE_POOL; /* a budget holds exactly */
	for (int64_t i = 0; per >= 1 && i < n && !err; i += per) {
		int64_t k = n - i < per ? n - i : per;

		err = sd_batch(d, &cx, lat + i * in_sz, k, h, wd, scale, out + i * out_sz);
	}
	if (per < 1)
		tmp = d->host->alloc(sizeof(float) * (size_t)in_sz);
	if (per < 1 && !tmp)
		err = TS_ENOMEM;
	for (int64_t i = 0; per < 1 && i < n && !err; i++) {
		for (int64_t j = 0; j < in_sz; j++)
			tmp[j] = lat[i * in_sz + j] / scale;
		err = vae_sd_banded(&cx, &d->sd, tmp, h, wd, budget, out + i * out_sz);
	}
	d->host->free(tmp);
	pass_end(&cx);
	d->host->log(TS_LOG_DEBUG, VAE_WHO, "%lld images of %lldx%lld latent pixels, %s: activations "
		     "peaked at %llu bytes (estimate %llu per image, budget %llu)", (long long)n,
		     (long long)h, (long long)wd, per >= 1 ? "whole" : "in bands",
		     (unsigned long long)cx.peak_bytes, (unsigned long long)one,
		     (unsigned long long)budget);
	return err;
}

/* [B, C, T, S] <-> [B*T, C, S] on the host (frames to images and back). */
static void frames_to_images(const float *src, float *dst, int64_t B, int64_t C, int64_t T,
			     int64_t S, int back)
{
	for (int64_t b = 0; b < B; b++)
		for (int64_t c = 0; c < C; c++)
			for (int64_t t = 0; t < T; t++) {
				int64_t v = ((b * C + c) * T + t) * S, im = ((b * T + t) * C + c) * S;

				if (back)
					memcpy(dst + v, src + im, sizeof(float) * (size_t)S);
				else
					memcpy(dst + im, src + v, sizeof(float) * (size_t)S);
			}
}

static int out_alloc(struct vae_dec *d, struct ts_tensor *out, int ndim, const int64_t *shape)
{
	*out = (struct ts_tensor){ .dtype = TS_F32, .ndim = ndim };
	memcpy(out->shape, shape, sizeof(int64_t) * (size_t)ndim);
	out->data = d->host->alloc(sizeof(float) * (size_t)ts_tensor_numel(out));
	return out->data ? 0 : TS_ENOMEM;
}

/* SD on a 4-D batch of latents, or frame by frame on a 5-D video latent. */
static int decode_sd(struct vae_dec *d, struct ts_dev *dev, void **w, const struct ts_tensor *z,
		     const float *zd, float scale, uint64_t budget, struct ts_tensor *out)
{
	int video = z->ndim == 5;
	int64_t B = z->shape[0], T = video ? z->shape[2] : 1;
	int64_t h = z->shape[z->ndim - 2], wd = z->shape[z->ndim - 1];
	int64_t f = (int64_t)1 << (d->sd.n_levels - 1), oc = d->sd.out_ch;
	int64_t s5[5] = { B, oc, T, h * f, wd * f }, s4[4] = { B, oc, h * f, wd * f };
	float *img = NULL, *pix = NULL;
	int err;

	err = video ? out_alloc(d, out, 5, s5) : out_alloc(d, out, 4, s4);
	if (err || !video)
		return err ? err : vae_sd_images(d, dev, w, zd, B, h, wd, scale, budget, out->data);
	img = d->host->alloc(sizeof(float) * (size_t)(B * T * d->sd.z_ch * h * wd));
	pix = d->host->alloc(sizeof(float) * (size_t)ts_tensor_numel(out));
	err = img && pix ? 0 : TS_ENOMEM;
	if (!err) {
		frames_to_images(zd, img, B, d->sd.z_ch, T, h * wd, 0);
		err = vae_sd_images(d, dev, w, img, B * T, h, wd, scale, budget, pix);
	}
	if (!err)
		frames_to_images(pix, out->data, B, oc, T, h * f * wd * f, 1);
	d->host->free(img);
	d->host->free(pix);
	return err;
}

/*
 * The temporal VAE on [B, z, T, h, w] host -> *out (allocated) [B, C, frames,
 * h, w], whole: upstream decodes a latent (or a pipeline chunk) in one piece,
 * and GroupNorm over all its frames would change if it were split.
 */
static int decode_tv(struct vae_dec *d, struct ts_dev *dev, void **w, const float *z,
		     const int64_t *shape, int64_t frames, uint64_t budget, struct ts_tensor *out)
{
	uint64_t need = tv_decode_bytes(&d->tv, shape[0], shape[2], shape[3], shape[4]);
	struct vctx cx;
	struct vt x;
	int err;

	if (budget && need > budget)
		d->host->log(TS_LOG_WARN, VAE_WHO, "temporal decode of %lld latent frames needs about "
			     "%llu bytes, over the budget of %llu: decoding it whole anyway",
			     (long long)shape[2], (unsigned long long)need,
			     (unsigned long long)budget);
	vae_ctx_init(&cx, d, dev, w, 1);
	cx.pool_max = budget ? 0 : VAE_POOL;
	err = vae_upload(&cx, &x, z, shape[0], shape[1], shape[2], shape[3], shape[4]);
	if (err)
		return err;
	err = tv_decode_run(&cx, &d->tv, &x, frames);
	if (!err) {
		int64_t s[5] = { x.n, x.c, x.t, x.h, x.w };

		err = out_alloc(d, out, 5, s);
	}
	if (!err)
		err = vae_download(&cx, &x, out->data);
	vt_free(&cx, &x);
	pass_end(&cx);
	d->host->log(TS_LOG_DEBUG, VAE_WHO, "temporal decode of %lld latent frames: activations "
		     "peaked at %llu bytes (estimate %llu)", (long long)shape[2],
		     (unsigned long long)cx.peak_bytes, (unsigned long long)need);
	return err;
}

static int64_t all_frames(const struct vae_dec *d, int64_t t_lat, int64_t chunk)
{
	int64_t full = t_lat / chunk, rest = t_lat % chunk;

	return full * d->micro_frames + rest * d->tv.time_factor;
}

/* Copy frames [t0, t0 + n) of @src [B, C, Ts, S] into @dst [B, C, Td, S] at frame @at. */
static void copy_frames(const float *src, int64_t Ts, int64_t t0, float *dst, int64_t Td,
			int64_t at, int64_t n, int64_t BC, int64_t S)
{
	for (int64_t r = 0; r < BC; r++)
		memcpy(dst + (r * Td + at) * S, src + (r * Ts + t0) * S, sizeof(float) * (size_t)(n * S));
}

/* One chunk of latent frames through the temporal VAE into the joined video @v. */
static int os_chunk(struct vae_dec *d, struct ts_dev *dev, void **w, const float *z,
		    const int64_t *zs, int64_t t0, int64_t n, int64_t nf, uint64_t budget, float *v,
		    int64_t F, int64_t *at)
{
	int64_t S = zs[3] * zs[4], cs[5] = { zs[0], zs[1], n, zs[3], zs[4] };
	float *cz = d->host->alloc(sizeof(float) * (size_t)(zs[0] * zs[1] * n * S));
	struct ts_tensor part = { 0 };
	int err = cz ? 0 : TS_ENOMEM;

	if (!err) {
		copy_frames(z, zs[2], t0, cz, n, 0, n, zs[0] * zs[1], S);
		err = decode_tv(d, dev, w, cz, cs, nf, budget, &part);
	}
	if (!err && *at + part.shape[2] > F) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "temporal chunks give more than %lld frames",
			     (long long)F);
		err = TS_ERANGE;
	}
	if (!err) {
		copy_frames(part.data, part.shape[2], 0, v, F, *at, part.shape[2],
			    part.shape[0] * part.shape[1], S);
		*at += part.shape[2];
	}
	d->host->free(part.data);
	d->host->free(cz);
	return err;
}

/* Open-Sora 1.2: z * scale + shift, temporal decode per chunk, then SD per frame. */
static int decode_opensora(struct vae_dec *d, struct ts_dev *dev, struct vae_weights *vw,
			   const struct ts_tensor *z, uint64_t budget, struct ts_tensor *out)
{
	const int64_t *zs = z->shape;
	int64_t S = zs[3] * zs[4], f = d->tv.time_factor;
	int64_t chunk = (d->micro_frames + f - 1) / f;
	int64_t F = d->frames ? d->frames : all_frames(d, zs[2], chunk), left = F, at = 0;
	float *zn = d->host->alloc(sizeof(float) * (size_t)ts_tensor_numel(z));
	float *v = d->host->alloc(sizeof(float) * (size_t)(zs[0] * d->tv.io_ch * F * S));
	struct ts_tensor vt = { .dtype = TS_F32, .ndim = 5,
				.shape = { zs[0], d->tv.io_ch, F, zs[3], zs[4] } };
	int err = zn && v ? 0 : TS_ENOMEM;

	for (int64_t i = 0; !err && i < ts_tensor_numel(z); i++) {
		int64_t c = (i / (zs[2] * S)) % zs[1];

		zn[i] = ((const float *)z->data)[i] * d->scale[c] + d->shift[c];
	}
	for (int64_t t0 = 0; !err && t0 < zs[2]; t0 += chunk) {
		int64_t n = zs[2] - t0 < chunk ? zs[2] - t0 : chunk;

		err = os_chunk(d, dev, vw->tv, zn, zs, t0, n, left < d->micro_frames ? left :
			       d->micro_frames, budget, v, F, &at);
		left -= d->micro_frames;
	}
	if (!err && at != F) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%lld latent frames give %lld frames, not %lld",
			     (long long)zs[2], (long long)at, (long long)F);
		err = TS_ERANGE;
	}
	if (!err)
		err = decode_sd(d, dev, vw->sd, &vt, v, d->latent_scale, budget, out);
	d->host->free(zn);
	d->host->free(v);
	return err;
}

static int check_latent(struct vae_dec *d, const struct ts_tensor *z, int want_ch)
{
	int video_only = d->kind != VAE_SD;

	if (z->dtype == TS_F32 && (z->ndim == 5 || (z->ndim == 4 && !video_only)) &&
	    z->shape[1] == want_ch)
		return 0;
	d->host->log(TS_LOG_ERROR, VAE_WHO, "latent must be F32 [B, %d, %sH, W], got %s with %d dims "
		     "and %lld channels", want_ch, video_only ? "T, " : "(T, )",
		     ts_dtype_name(z->dtype), z->ndim, (long long)(z->ndim > 1 ? z->shape[1] : 0));
	return TS_EINVAL;
}

static int decode_any(struct vae_dec *d, struct ts_dev *dev, struct vae_weights *vw,
		      const struct ts_tensor *latent, uint64_t budget, struct ts_tensor *out)
{
	int err = check_latent(d, latent, d->kind == VAE_SD ? d->sd.z_ch : d->tv.z_ch);

	if (err)
		return err;
	if (d->kind == VAE_SD && !d->sd.dec_present) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s has no SD decoder", d->host->st_path(d->st));
		return TS_ENOTSUP;
	}
	if (d->kind == VAE_SD)
		return decode_sd(d, dev, vw->sd, latent, latent->data, d->latent_scale, budget, out);
	if (d->kind == VAE_OPENSORA)
		return decode_opensora(d, dev, vw, latent, budget, out);
	if (!d->tv.dec.present) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s has no temporal decoder",
			     d->host->st_path(d->st_t));
		return TS_ENOTSUP;
	}
	return decode_tv(d, dev, vw->tv, latent->data, latent->shape,
			 d->frames ? d->frames : latent->shape[2] * d->tv.time_factor, budget, out);
}

int vae_decode(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *latent,
	       uint64_t mem_budget, struct ts_tensor *out)
{
	struct vae_dec *d = dec;
	int err;

	*out = (struct ts_tensor){ 0 };
	err = decode_any(d, dev, weights, latent, mem_budget ? mem_budget : d->budget, out);
	if (err) {
		/* the caller owns out->data only on success */
		d->host->free(out->data);
		out->data = NULL;
	}
	return err;
}

/* Clamp the log-variance half of moments [B, 2 z, ...] to [-30, 20] (the posterior's). */
static void clamp_logvar(struct ts_tensor *m)
{
	int64_t C = m->shape[1], plane = ts_tensor_numel(m) / (m->shape[0] * C);

	for (int64_t i = 0; i < ts_tensor_numel(m); i++) {
		float *p = (float *)m->data + i;

		if ((i / plane) % C >= C / 2)
			*p = fminf(fmaxf(*p, -30.0f), 20.0f);
	}
}

/* What encodes @d's input: the SD encoder (images) or the temporal one (videos). */
static int enc_check(struct vae_dec *d, const struct ts_tensor *x)
{
	int sd = d->kind == VAE_SD;

	if (sd ? !d->sd.enc.present : d->kind != VAE_TEMPORAL || !d->tv.enc.present) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no %s encoder to encode with",
			     d->host->st_path(sd ? d->st : d->st_t), sd ? "SD" : "temporal");
		return TS_ENOTSUP;
	}
	if (x->dtype == TS_F32 && x->ndim == (sd ? 4 : 5) &&
	    x->shape[1] == (sd ? d->sd.enc.in_ch : d->tv.io_ch))
		return 0;
	d->host->log(TS_LOG_ERROR, VAE_WHO, "encode takes F32 [B, %d, %sH, W], got %s with %d dims",
		     sd ? d->sd.enc.in_ch : d->tv.io_ch, sd ? "" : "T, ", ts_dtype_name(x->dtype),
		     x->ndim);
	return TS_EINVAL;
}

/* Moments of the posterior (mean, then log-variance clamped to [-30, 20]). */
int vae_encode(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *pixels,
	       uint64_t mem_budget, struct ts_tensor *out)
{
	struct vae_dec *d = dec;
	struct vae_weights *vw = weights;
	int sd = d->kind == VAE_SD;
	const int64_t *s = pixels->shape;
	struct vctx cx;
	struct vt x;
	int err;

	*out = (struct ts_tensor){ 0 };
	err = enc_check(d, pixels);
	if (err)
		return err;
	vae_ctx_init(&cx, d, dev, sd ? vw->sd : vw->tv, !sd);
	cx.pool_max = VAE_POOL;
	err = sd ? vae_upload(&cx, &x, pixels->data, s[0], s[1], 1, s[2], s[3]) :
		   vae_upload(&cx, &x, pixels->data, s[0], s[1], s[2], s[3], s[4]);
	if (!err)
		err = sd ? sd_encode_run(&cx, &d->sd.enc, &x) : tv_encode_run(&cx, &d->tv, &x);
	if (!err) {
		int64_t s5[5] = { x.n, x.c, x.t, x.h, x.w }, s4[4] = { x.n, x.c, x.h, x.w };

		err = sd ? out_alloc(d, out, 4, s4) : out_alloc(d, out, 5, s5);
	}
	if (!err)
		err = vae_download(&cx, &x, out->data);
	vt_free(&cx, &x);
	pass_end(&cx);
	if (err) {
		d->host->free(out->data);
		out->data = NULL;
		return err;
	}
	clamp_logvar(out);
	return 0;
}
