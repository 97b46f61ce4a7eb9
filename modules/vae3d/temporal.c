// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/temporal.c - Open-Sora 1.2's temporal VAE (VAE_Temporal,
 * spec/models.md §5): causal 3-D convolutions that compress time only.
 *
 * Decoder: post_quant_conv, conv1, res_blocks, then levels from coarsest to
 * finest, each its ResBlocks and (except level 0) conv_blocks.<i-1>, which
 * doubles time by a conv to 2C channels and a depth-to-time shuffle when it
 * exists and is the identity when it does not; GroupNorm, SiLU, conv_out,
 * and the first frames dropped so num_frames remain.
 * Encoder: front zero-padding of time to a multiple of the factor, conv_in,
 * levels from finest (ResBlocks, then a stride-2-in-time conv_blocks.<i>),
 * res_blocks, GroupNorm, SiLU, conv2, quant_conv.
 */
#include <stdio.h>

#include "vae3d.h"

static int load_level(struct vae_params *ps, const char *half, struct tv_level *lv, int i,
		      int *c)
{
	char name[VAE_KEY_MAX];
	int err;

	for (lv->n_blocks = 0; lv->n_blocks < VAE_MAX_BLOCKS; lv->n_blocks++)
		if (!vae_has(ps, "%s.block_res_blocks.%d.%d.norm1.weight", half, i, lv->n_blocks))
			break;
	for (int j = 0; j < lv->n_blocks; j++) {
		snprintf(name, sizeof(name), "%s.block_res_blocks.%d.%d", half, i, j);
		err = vae_res_load(ps, &lv->block[j], 1, "conv3", "%s", name);
		if (err)
			return err;
		if (lv->block[j].c1.c_in != *c) {
			ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: '%s%s' takes %d channels, the layer "
				      "before gives %d", ps->host->st_path(ps->st), ps->prefix, name,
				      lv->block[j].c1.c_in, *c);
			return TS_EFORMAT;
		}
		*c = lv->block[j].c1.c_out;
	}
	return 0;
}

static int load_time_conv(struct vae_params *ps, const char *half, struct tv_level *lv, int i,
			  int c_in, int c_out, int stride)
{
	int err;

	lv->has_time = vae_has(ps, "%s.conv_blocks.%d.conv.weight", half, i);
	if (!lv->has_time)
		return 0;
	err = vae_conv_load(ps, &lv->tconv, 1, "%s.conv_blocks.%d.conv", half, i);
	if (!err)
		err = vae_conv_expect(ps, &lv->tconv, c_in, c_out, 3, "conv_blocks");
	if (!err)
		vae_conv_plain(ps, &lv->tconv, stride);
	return err;
}

static int load_res(struct vae_params *ps, const char *half, struct tv_half *h, int c)
{
	int err;

	for (h->n_res = 0; h->n_res < VAE_MAX_BLOCKS; h->n_res++)
		if (!vae_has(ps, "%s.res_blocks.%d.norm1.weight", half, h->n_res))
			break;
	for (int j = 0; j < h->n_res; j++) {
		err = vae_res_load(ps, &h->res[j], 1, "conv3", "%s.res_blocks.%d", half, j);
		if (!err)
			err = vae_conv_expect(ps, &h->res[j].c1, c, c, 3, "res_blocks conv1");
		if (err)
			return err;
	}
	return 0;
}

static int count_levels(struct vae_params *ps, const char *half, struct tv_half *h)
{
	for (h->n_levels = 0; h->n_levels < VAE_MAX_LEVELS; h->n_levels++)
		if (!vae_has(ps, "%s.block_res_blocks.%d.0.norm1.weight", half, h->n_levels))
			break;
	if (h->n_levels)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing tensor '%s%s.block_res_blocks.0.0.norm1.weight'",
		      ps->host->st_path(ps->st), ps->prefix, half);
	return TS_ENOENT;
}

static int read_decoder(struct vae_params *ps, struct tv_arch *a)
{
	struct tv_half *d = &a->dec;
	int err, c;

	err = vae_conv_load(ps, &d->quant, 1, "post_quant_conv.conv");
	if (!err)
		err = vae_conv_expect(ps, &d->quant, d->quant.c_in, d->quant.c_in, 1,
				      "post_quant_conv");
	if (!err)
		err = vae_conv_load(ps, &d->conv_in, 1, "decoder.conv1.conv");
	if (!err)
		err = vae_conv_expect(ps, &d->conv_in, d->quant.c_out, d->conv_in.c_out, 3, "conv1");
	if (!err)
		err = load_res(ps, "decoder", d, d->conv_in.c_out);
	if (!err)
		err = count_levels(ps, "decoder", d);
	if (err)
		return err;
	c = d->conv_in.c_out;
	for (int i = d->n_levels - 1; i >= 0; i--) {
		err = load_level(ps, "decoder", &d->lv[i], i, &c);
		if (!err && i > 0)
			err = load_time_conv(ps, "decoder", &d->lv[i - 1], i - 1, c, 2 * c, 1);
		if (err)
			return err;
	}
	err = vae_norm_load(ps, &d->norm, c, "decoder.norm1");
	if (!err)
		err = vae_conv_load(ps, &d->conv_out, 1, "decoder.conv_out.conv");
	if (!err)
		err = vae_conv_expect(ps, &d->conv_out, c, d->conv_out.c_out, 3, "conv_out");
	a->z_ch = d->quant.c_in;
	a->io_ch = d->conv_out.c_out;
	return err;
}

static int read_encoder(struct vae_params *ps, struct tv_arch *a)
{
	struct tv_half *e = &a->enc;
	int err, c;

	err = vae_conv_load(ps, &e->conv_in, 0, "encoder.conv_in.conv");
	if (!err)
		err = vae_conv_expect(ps, &e->conv_in, e->conv_in.c_in, e->conv_in.c_out, 3, "conv_in");
	if (!err)
		err = count_levels(ps, "encoder", e);
	if (err)
		return err;
	c = e->conv_in.c_out;
	for (int i = 0; i < e->n_levels; i++) {
		err = load_level(ps, "encoder", &e->lv[i], i, &c);
		if (!err && i < e->n_levels - 1)
			err = load_time_conv(ps, "encoder", &e->lv[i], i, c, c, 2);
		if (err)
			return err;
	}
	err = load_res(ps, "encoder", e, c);
	if (!err)
		err = vae_norm_load(ps, &e->norm, c, "encoder.norm1");
	if (!err)
		err = vae_conv_load(ps, &e->conv_out, 1, "encoder.conv2.conv");
	if (!err)
		err = vae_conv_expect(ps, &e->conv_out, c, e->conv_out.c_out, 1, "conv2");
	if (!err)
		err = vae_conv_load(ps, &e->quant, 1, "quant_conv.conv");
	if (!err)
		err = vae_conv_expect(ps, &e->quant, e->conv_out.c_out, e->conv_out.c_out, 1,
				      "quant_conv");
	if (!err && a->dec.present && e->conv_out.c_out != 2 * a->z_ch) {
		ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: encoder gives %d moments for %d latent "
			      "channels", ps->host->st_path(ps->st), e->conv_out.c_out, a->z_ch);
		err = TS_EFORMAT;
	}
	a->io_ch = e->conv_in.c_in;
	a->z_ch = e->conv_out.c_out / 2;
	return err;
}

static int time_factor(const struct tv_half *h)
{
	int f = 1;

	for (int i = 0; i < h->n_levels; i++)
		if (h->lv[i].has_time)
			f *= 2;
	return f;
}

/* Either half may be absent (files that hold only one path); at least one must be there. */
int tv_arch_read(struct vae_params *ps, struct tv_arch *a)
{
	int err;

	a->dec.present = vae_has(ps, "decoder.conv1.conv.weight");
	a->enc.present = vae_has(ps, "encoder.conv_in.conv.weight");
	if (!a->dec.present && !a->enc.present) {
		ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: missing tensor '%sdecoder.conv1.conv.weight' "
			      "(nor an encoder): not a temporal VAE", ps->host->st_path(ps->st),
			      ps->prefix);
		return TS_ENOENT;
	}
	if (a->dec.present) {
		err = read_decoder(ps, a);
		if (err)
			return err;
		a->time_factor = time_factor(&a->dec);
	}
	if (a->enc.present) {
		err = read_encoder(ps, a);
		if (err)
			return err;
		if (a->dec.present && time_factor(&a->enc) != a->time_factor) {
			ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: encoder compresses time by %d, "
				      "decoder expands by %d", ps->host->st_path(ps->st),
				      time_factor(&a->enc), a->time_factor);
			return TS_EFORMAT;
		}
		a->time_factor = time_factor(&a->enc);
	}
	return 0;
}

static int res_chain(struct vctx *cx, const struct vae_res *r, int n, struct vt *x,
		     const char *fmt, int i)
{
	for (int j = 0; j < n; j++) {
		int err = vae_res_run(cx, &r[j], x);

		if (err)
			return err;
		if (i < 0)
			vae_trace(cx, x, 5, "%s.%d", fmt, j);
		else
			vae_trace(cx, x, 5, "%s.%d.%d", fmt, i, j);
	}
	return 0;
}

static int norm_conv(struct vctx *cx, const struct tv_half *h, struct vt *x)
{
	struct vt y;
	int err = vae_norm_silu(cx, &h->norm, x, &y);

	if (err)
		return err;
	vt_free(cx, x);
	*x = y;
	return vae_conv_step(cx, &h->conv_out, x);
}

/* Drop the first @p frames (the causal padding of a length not a multiple of the factor). */
static int trim_front(struct vctx *cx, struct vt *x, int64_t p)
{
	int64_t hw = x->h * x->w;
	struct vt y;
	int err;

	if (p <= 0)
		return 0;
	err = vt_alloc(cx, &y, x->n, x->c, x->t - p, x->h, x->w);
	if (err)
		return err;
	err = cx->ops->copy2d(cx->dev, y.p, y.t * hw, vt_at(cx, x->p, p * hw), x->t * hw,
			      x->n * x->c, y.t * hw);
	if (err) {
		vt_free(cx, &y);
		return err;
	}
	vt_free(cx, x);
	*x = y;
	return 0;
}

static int dec_level(struct vctx *cx, const struct tv_half *d, int i, struct vt *x)
{
	int err = res_chain(cx, d->lv[i].block, d->lv[i].n_blocks, x, "decoder.block_res_blocks", i);

	if (err || i == 0)
		return err;
	if (!d->lv[i - 1].has_time) {
		vae_trace(cx, x, 5, "decoder.conv_blocks.%d", i - 1);
		return 0;
	}
	err = vae_conv_step(cx, &d->lv[i - 1].tconv, x);
	if (err)
		return err;
	vae_trace(cx, x, 5, "decoder.conv_blocks.%d", i - 1);
	return vae_depth_to_time(cx, x);
}

/* z [n, z_ch, T, h, w] -> video [n, io_ch, T f - pad, h, w]; replaces *x. */
int tv_decode_run(struct vctx *cx, const struct tv_arch *a, struct vt *x, int64_t num_frames)
{
	const struct tv_half *d = &a->dec;
	int64_t f = a->time_factor;
	int64_t pad = num_frames % f ? f - num_frames % f : 0;
	int err;

	err = vae_conv_step(cx, &d->quant, x);
	if (err)
		return err;
	vae_trace(cx, x, 5, "post_quant_conv");
	err = vae_conv_step(cx, &d->conv_in, x);
	if (err)
		return err;
	vae_trace(cx, x, 5, "decoder.conv1");
	err = res_chain(cx, d->res, d->n_res, x, "decoder.res_blocks", -1);
	for (int i = d->n_levels - 1; i >= 0 && !err; i--)
		err = dec_level(cx, d, i, x);
	if (!err)
		err = norm_conv(cx, d, x);
	if (err)
		return err;
	vae_trace(cx, x, 5, "decoder");
	err = trim_front(cx, x, pad);
	if (!err)
		vae_trace(cx, x, 5, "decode");
	return err;
}

/* Zero frames in front so T is a multiple of the time factor (upstream's pad_at_dim). */
static int pad_front(struct vctx *cx, struct vt *x, int64_t p)
{
	int64_t hw = x->h * x->w;
	struct vt y;
	int err;

	if (p <= 0)
		return 0;
	err = vt_alloc(cx, &y, x->n, x->c, x->t + p, x->h, x->w);
	if (err)
		return err;
	err = cx->ops->fill(cx->dev, y.p, 0.0f, vt_numel(&y));
	if (!err)
		err = cx->ops->copy2d(cx->dev, vt_at(cx, y.p, p * hw), y.t * hw, x->p, x->t * hw,
				      x->n * x->c, x->t * hw);
	if (err) {
		vt_free(cx, &y);
		return err;
	}
	vt_free(cx, x);
	*x = y;
	return 0;
}

/* video [n, io_ch, T, h, w] -> moments [n, 2 z_ch, ceil(T/f), h, w]; replaces *x. */
int tv_encode_run(struct vctx *cx, const struct tv_arch *a, struct vt *x)
{
	const struct tv_half *e = &a->enc;
	int64_t f = a->time_factor;
	int err;

	err = pad_front(cx, x, x->t % f ? f - x->t % f : 0);
	if (!err)
		err = vae_conv_step(cx, &e->conv_in, x);
	for (int i = 0; i < e->n_levels && !err; i++) {
		err = res_chain(cx, e->lv[i].block, e->lv[i].n_blocks, x,
				"encoder.block_res_blocks", i);
		if (!err && i < e->n_levels - 1 && e->lv[i].has_time)
			err = vae_conv_step(cx, &e->lv[i].tconv, x);
	}
	if (!err)
		err = res_chain(cx, e->res, e->n_res, x, "encoder.res_blocks", -1);
	if (!err)
		err = norm_conv(cx, e, x);
	if (err)
		return err;
	vae_trace(cx, x, 5, "encoder");
	err = vae_conv_step(cx, &e->quant, x);
	if (!err)
		vae_trace(cx, x, 5, "moments");
	return err;
}

static double conv_macs(const struct vae_conv *cv, double vox)
{
	return (double)cv->c_in * cv->c_out * cv->kt * cv->kh * cv->kw * vox;
}

static double res_macs(const struct vae_res *r, double vox)
{
	double m = conv_macs(&r->c1, vox) + conv_macs(&r->c2, vox);

	return r->sc.w >= 0 ? m + conv_macs(&r->sc, vox) : m;
}

/* Multiply-accumulates of decoding a t x h x w latent (spec §5.6 for Open-Sora's config). */
double tv_decode_macs(const struct tv_arch *a, int64_t t, int64_t h, int64_t w)
{
	const struct tv_half *d = &a->dec;
	double vox = (double)t * h * w;
	double m = conv_macs(&d->quant, vox) + conv_macs(&d->conv_in, vox);

	for (int j = 0; j < d->n_res; j++)
		m += res_macs(&d->res[j], vox);
	for (int i = d->n_levels - 1; i >= 0; i--) {
		for (int j = 0; j < d->lv[i].n_blocks; j++)
			m += res_macs(&d->lv[i].block[j], vox);
		if (i > 0 && d->lv[i - 1].has_time) {
			m += conv_macs(&d->lv[i - 1].tconv, vox);
			vox *= 2;
		}
	}
	return m + conv_macs(&d->conv_out, vox);
}

/*
 * Peak activation bytes (F32): up to seven tensors of a level's width in a
 * ResBlock (input, two norm outputs, a conv's padded input and output, the
 * stripped copies), five of the doubled width around a time conv.
 */
uint64_t tv_decode_bytes(const struct tv_arch *a, int64_t n, int64_t t, int64_t h, int64_t w)
{
	const struct tv_half *d = &a->dec;
	double vox = (double)t * h * w, peak = 7.0 * d->conv_in.c_out * vox, cur;

	for (int i = d->n_levels - 1; i >= 0; i--) {
		for (int j = 0; j < d->lv[i].n_blocks; j++) {
			const struct vae_res *r = &d->lv[i].block[j];

			cur = 7.0 * (r->c1.c_in > r->c1.c_out ? r->c1.c_in : r->c1.c_out) * vox;
			peak = cur > peak ? cur : peak;
		}
		if (i > 0 && d->lv[i - 1].has_time) {
			cur = 5.0 * d->lv[i - 1].tconv.c_out * vox;
			peak = cur > peak ? cur : peak;
			vox *= 2;
		}
	}
	return (uint64_t)(peak * 4.0 * (double)n);
}
