// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/sdenc.c - the SD kl-f8 VAE encoder (spec/models.md §2.3,
 * ldm's Encoder then quant_conv): conv_in, levels from full resolution down
 * (ResNet blocks, optional attention, then except at the last level a 3x3
 * stride-2 conv after zero-padding one row below and one column right), the
 * mid block, GroupNorm, SiLU, conv_out to 2 z channels, quant_conv. The
 * moments are the posterior's mean then log-variance channels.
 * Key layouts: ldm ("encoder.down.<i>.block.<j>") and diffusers
 * ("encoder.down_blocks.<i>.resnets.<j>"), like the decoder.
 */
#include <stdio.h>

#include "vae3d.h"

static const char *const ldm_attn[5] = { "norm", "q", "k", "v", "proj_out" };
static const char *const hf_attn[5] = { "group_norm", "to_q", "to_k", "to_v", "to_out.0" };
static const char *const hf_legacy_attn[5] = { "group_norm", "query", "key", "value", "proj_attn" };

static const char *const *attn_names(struct vae_params *ps, int ldm, const char *name)
{
	if (ldm)
		return ldm_attn;
	return vae_has(ps, "%s.to_q.weight", name) ? hf_attn : hf_legacy_attn;
}

static int width_check(struct vae_params *ps, const char *name, int got, int want)
{
	if (got == want)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: '%s%s' takes %d channels, but the layer before "
		      "gives %d", ps->host->st_path(ps->st), ps->prefix, name, got, want);
	return TS_EFORMAT;
}

static void blk(int ldm, char *b, int i, int j, int attn)
{
	if (ldm)
		snprintf(b, VAE_KEY_MAX, "encoder.down.%d.%s.%d", i, attn ? "attn" : "block", j);
	else
		snprintf(b, VAE_KEY_MAX, "encoder.down_blocks.%d.%s.%d", i,
			 attn ? "attentions" : "resnets", j);
}

static int read_level(struct vae_params *ps, int ldm, struct sd_enc_level *lv, int i, int *c)
{
	char name[VAE_KEY_MAX];
	int err = 0;

	for (lv->n_blocks = 0; lv->n_blocks < VAE_MAX_BLOCKS; lv->n_blocks++) {
		blk(ldm, name, i, lv->n_blocks, 0);
		if (!vae_has(ps, "%s.norm1.weight", name))
			break;
	}
	blk(ldm, name, i, 0, 1);
	lv->has_attn = vae_has(ps, "%s.%s.weight", name, ldm ? "norm" : "group_norm");
	for (int j = 0; !err && j < lv->n_blocks; j++) {
		blk(ldm, name, i, j, 0);
		err = vae_res_load(ps, &lv->block[j], 0, ldm ? "nin_shortcut" : "conv_shortcut",
				   "%s", name);
		if (!err)
			err = width_check(ps, name, lv->block[j].c1.c_in, *c);
		if (err)
			return err;
		*c = lv->block[j].c1.c_out;
		if (!lv->has_attn)
			continue;
		blk(ldm, name, i, j, 1);
		err = vae_attn_load(ps, &lv->attn[j], attn_names(ps, ldm, name), "%s", name);
		if (!err)
			err = width_check(ps, name, lv->attn[j].c, *c);
	}
	lv->has_down = ldm ? vae_has(ps, "encoder.down.%d.downsample.conv.weight", i) :
			     vae_has(ps, "encoder.down_blocks.%d.downsamplers.0.conv.weight", i);
	if (err || !lv->has_down)
		return err;
	err = ldm ? vae_conv_load(ps, &lv->down, 1, "encoder.down.%d.downsample.conv", i) :
		    vae_conv_load(ps, &lv->down, 1, "encoder.down_blocks.%d.downsamplers.0.conv", i);
	if (!err)
		err = vae_conv_expect(ps, &lv->down, *c, *c, 3, "downsample conv");
	if (!err)
		vae_conv_untap(ps, &lv->down);
	return err;
}

static int read_mid(struct vae_params *ps, int ldm, struct sd_enc *e, int c)
{
	const char *b1 = ldm ? "encoder.mid.block_1" : "encoder.mid_block.resnets.0";
	const char *b2 = ldm ? "encoder.mid.block_2" : "encoder.mid_block.resnets.1";
	const char *at = ldm ? "encoder.mid.attn_1" : "encoder.mid_block.attentions.0";
	const char *sc = ldm ? "nin_shortcut" : "conv_shortcut";
	int err = vae_res_load(ps, &e->mid1, 0, sc, "%s", b1);

	if (!err)
		err = width_check(ps, b1, e->mid1.c1.c_in, c);
	if (!err)
		err = vae_attn_load(ps, &e->mid_attn, attn_names(ps, ldm, at), "%s", at);
	if (!err)
		err = width_check(ps, at, e->mid_attn.c, e->mid1.c1.c_out);
	if (!err)
		err = vae_res_load(ps, &e->mid2, 0, sc, "%s", b2);
	if (!err)
		err = width_check(ps, b2, e->mid2.c1.c_in, e->mid_attn.c);
	return err;
}

static int read_ends(struct vae_params *ps, int ldm, struct sd_enc *e, int c)
{
	int err = vae_norm_load(ps, &e->norm_out, c, ldm ? "encoder.norm_out" :
				"encoder.conv_norm_out");

	if (!err)
		err = vae_conv_load(ps, &e->conv_out, 1, "encoder.conv_out");
	if (!err)
		err = vae_conv_expect(ps, &e->conv_out, c, e->conv_out.c_out, 3, "conv_out");
	if (!err)
		err = vae_conv_load(ps, &e->quant, 1, "quant_conv");
	if (!err)
		err = vae_conv_expect(ps, &e->quant, e->conv_out.c_out, e->conv_out.c_out, 1,
				      "quant_conv");
	e->moments = e->conv_out.c_out;
	return err;
}

/* The encoder's architecture from the file; params are added to @ps. */
int sd_enc_read(struct vae_params *ps, struct sd_enc *e)
{
	int ldm = vae_has(ps, "encoder.mid.block_1.norm1.weight"), err, c;

	err = vae_conv_load(ps, &e->conv_in, 1, "encoder.conv_in");
	if (!err)
		err = vae_conv_expect(ps, &e->conv_in, e->conv_in.c_in, e->conv_in.c_out, 3, "conv_in");
	if (err)
		return err;
	e->in_ch = e->conv_in.c_in;
	c = e->conv_in.c_out;
	for (e->n_levels = 0; e->n_levels < VAE_MAX_LEVELS; e->n_levels++) {
		if (ldm && !vae_has(ps, "encoder.down.%d.block.0.norm1.weight", e->n_levels))
			break;
		if (!ldm && !vae_has(ps, "encoder.down_blocks.%d.resnets.0.norm1.weight", e->n_levels))
			break;
		err = read_level(ps, ldm, &e->lv[e->n_levels], e->n_levels, &c);
		if (err)
			return err;
	}
	err = read_mid(ps, ldm, e, c);
	if (!err)
		err = read_ends(ps, ldm, e, e->mid2.c1.c_out);
	e->present = !err;
	return err;
}

/* x [n, c, 1, h, w] -> zeros added below and right -> conv 3x3 stride 2, no padding. */
static int down2(struct vctx *cx, const struct vae_conv *cv, struct vt *x)
{
	int64_t W1 = x->w + 1, H1 = x->h + 1;
	struct vt a, b, y;
	int err = vt_alloc(cx, &a, x->n, x->c, 1, x->h, W1);

	if (!err)
		err = cx->ops->fill(cx->dev, a.p, 0.0f, vt_numel(&a));
	if (!err)
		err = cx->ops->copy2d(cx->dev, a.p, W1, x->p, x->w, x->n * x->c * x->h, x->w);
	if (!err)
		err = vt_alloc(cx, &b, x->n, x->c, 1, H1, W1);
	if (!err) {
		err = cx->ops->fill(cx->dev, b.p, 0.0f, vt_numel(&b));
		if (!err)
			err = cx->ops->copy2d(cx->dev, b.p, H1 * W1, a.p, x->h * W1, x->n * x->c,
					      x->h * W1);
	}
	vt_free(cx, &a);
	if (!err)
		err = vt_alloc(cx, &y, x->n, cv->c_out, 1, (H1 - 3) / 2 + 1, (W1 - 3) / 2 + 1);
	if (!err) {
		err = cx->ops->conv(cx->dev, &(struct ts_conv){
			.n = x->n, .c_in = x->c, .c_out = cv->c_out, .t = 1, .h = H1, .w = W1,
			.kt = 1, .kh = 3, .kw = 3, .st = 1, .sh = 2, .sw = 2,
			.x = b.p, .weight = cx->w[cv->w], .bias = cx->w[cv->b], .y = y.p,
		});
		if (err)
			vt_free(cx, &y);
	}
	vt_free(cx, &b);
	if (err)
		return err;
	vt_free(cx, x);
	*x = y;
	return 0;
}

static int enc_level(struct vctx *cx, const struct sd_enc_level *lv, int i, struct vt *x)
{
	int err = 0;

	for (int j = 0; !err && j < lv->n_blocks; j++) {
		err = vae_res_run(cx, &lv->block[j], x);
		if (!err)
			vae_trace(cx, x, 4, "encoder.down.%d.block.%d", i, j);
		if (!err && lv->has_attn) {
			err = vae_attn_run(cx, &lv->attn[j], x);
			if (!err)
				vae_trace(cx, x, 4, "encoder.down.%d.attn.%d", i, j);
		}
	}
	if (!err && lv->has_down) {
		err = down2(cx, &lv->down, x);
		if (!err)
			vae_trace(cx, x, 4, "encoder.down.%d.downsample", i);
	}
	return err;
}

/* pixels [n, in_ch, 1, H, W] -> moments [n, 2 z, 1, H/f, W/f]; replaces *x. */
int sd_encode_run(struct vctx *cx, const struct sd_enc *e, struct vt *x)
{
	struct vt h;
	int err = vae_conv_step(cx, &e->conv_in, x);

	if (!err)
		vae_trace(cx, x, 4, "encoder.conv_in");
	for (int i = 0; !err && i < e->n_levels; i++)
		err = enc_level(cx, &e->lv[i], i, x);
	if (!err)
		err = vae_res_run(cx, &e->mid1, x);
	if (!err)
		err = vae_attn_run(cx, &e->mid_attn, x);
	if (!err)
		err = vae_res_run(cx, &e->mid2, x);
	if (!err)
		vae_trace(cx, x, 4, "encoder.mid.block_2");
	if (!err)
		err = vae_norm_silu(cx, &e->norm_out, x, &h);
	if (err)
		return err;
	vt_free(cx, x);
	*x = h;
	err = vae_conv_step(cx, &e->conv_out, x);
	if (!err)
		vae_trace(cx, x, 4, "encoder");
	if (!err)
		err = vae_conv_step(cx, &e->quant, x);
	if (!err)
		vae_trace(cx, x, 4, "moments");
	return err;
}
