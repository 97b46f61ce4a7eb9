// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/sd.c - the Stable Diffusion kl-f8 VAE decoder
 * (spec/models.md §2): post_quant_conv, conv_in, mid (res, attn, res), up
 * levels from coarsest to finest (ResNet blocks, optional attention, nearest
 * x2 + conv except at level 0), GroupNorm, SiLU, conv_out.
 *
 * Both key layouts are read: the original CompVis/ldm one
 * ("decoder.up.<k>.block.<j>", level 0 = full resolution) and diffusers'
 * ("decoder.up_blocks.<L-1-k>.resnets.<j>", with current or legacy attention
 * names). The level count, block count and channels come from the shapes.
 */
#include <stdio.h>

#include "vae3d.h"

struct sd_names {
	int ldm, L;
};

static void blk_name(const struct sd_names *nm, char *b, int k, int j)
{
	if (nm->ldm)
		snprintf(b, VAE_KEY_MAX, "decoder.up.%d.block.%d", k, j);
	else
		snprintf(b, VAE_KEY_MAX, "decoder.up_blocks.%d.resnets.%d", nm->L - 1 - k, j);
}

static void attn_name(const struct sd_names *nm, char *b, int k, int j)
{
	if (nm->ldm)
		snprintf(b, VAE_KEY_MAX, "decoder.up.%d.attn.%d", k, j);
	else
		snprintf(b, VAE_KEY_MAX, "decoder.up_blocks.%d.attentions.%d", nm->L - 1 - k, j);
}

static const char *const ldm_attn[5] = { "norm", "q", "k", "v", "proj_out" };
static const char *const hf_attn[5] = { "group_norm", "to_q", "to_k", "to_v", "to_out.0" };
static const char *const hf_legacy_attn[5] = { "group_norm", "query", "key", "value", "proj_attn" };

static const char *const *attn_names(struct vae_params *ps, const struct sd_names *nm,
				     const char *name)
{
	if (nm->ldm)
		return ldm_attn;
	return vae_has(ps, "%s.to_q.weight", name) ? hf_attn : hf_legacy_attn;
}

static int chan_check(struct vae_params *ps, const char *name, int got, int want)
{
	if (got == want)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: '%s%s' takes %d channels, but the layer before "
		      "gives %d", ps->host->st_path(ps->st), ps->prefix, name, got, want);
	return TS_EFORMAT;
}

static int load_attn(struct vae_params *ps, const struct sd_names *nm, struct vae_attn *a,
		     const char *name, int c)
{
	int err = vae_attn_load(ps, a, attn_names(ps, nm, name), "%s", name);

	return err ? err : chan_check(ps, name, a->c, c);
}

static int load_mid(struct vae_params *ps, const struct sd_names *nm, struct sd_arch *a, int c)
{
	const char *b1 = nm->ldm ? "decoder.mid.block_1" : "decoder.mid_block.resnets.0";
	const char *b2 = nm->ldm ? "decoder.mid.block_2" : "decoder.mid_block.resnets.1";
	const char *at = nm->ldm ? "decoder.mid.attn_1" : "decoder.mid_block.attentions.0";
	const char *sc = nm->ldm ? "nin_shortcut" : "conv_shortcut";
	int err;

	err = vae_res_load(ps, &a->mid1, 0, sc, "%s", b1);
	if (!err)
		err = chan_check(ps, b1, a->mid1.c1.c_in, c);
	if (!err)
		err = load_attn(ps, nm, &a->mid_attn, at, a->mid1.c1.c_out);
	if (!err)
		err = vae_res_load(ps, &a->mid2, 0, sc, "%s", b2);
	if (!err)
		err = chan_check(ps, b2, a->mid2.c1.c_in, a->mid_attn.c);
	return err;
}

/* Level k's blocks, attention and upsampler; *c is the running channel count. */
static int load_level(struct vae_params *ps, const struct sd_names *nm, struct sd_level *lv,
		      int k, int *c)
{
	const char *sc = nm->ldm ? "nin_shortcut" : "conv_shortcut";
	char name[VAE_KEY_MAX];
	int err;

	for (lv->n_blocks = 0; lv->n_blocks < VAE_MAX_BLOCKS; lv->n_blocks++) {
		blk_name(nm, name, k, lv->n_blocks);
		if (!vae_has(ps, "%s.norm1.weight", name))
			break;
	}
	attn_name(nm, name, k, 0);
	lv->has_attn = vae_has(ps, "%s.%s.weight", name, nm->ldm ? "norm" : "group_norm");
	for (int j = 0; j < lv->n_blocks; j++) {
		blk_name(nm, name, k, j);
		err = vae_res_load(ps, &lv->block[j], 0, sc, "%s", name);
		if (!err)
			err = chan_check(ps, name, lv->block[j].c1.c_in, *c);
		if (err)
			return err;
		*c = lv->block[j].c1.c_out;
		if (!lv->has_attn)
			continue;
		attn_name(nm, name, k, j);
		err = load_attn(ps, nm, &lv->attn[j], name, *c);
		if (err)
			return err;
	}
	lv->has_up = k != 0;
	if (!lv->has_up)
		return 0;
	if (nm->ldm)
		err = vae_conv_load(ps, &lv->up, 1, "decoder.up.%d.upsample.conv", k);
	else
		err = vae_conv_load(ps, &lv->up, 1, "decoder.up_blocks.%d.upsamplers.0.conv",
				    nm->L - 1 - k);
	if (!err)
		err = vae_conv_expect(ps, &lv->up, *c, *c, 3, "upsample conv");
	if (!err)
		vae_conv_upsampler(ps, &lv->up);
	return err;
}

static int count_levels(struct vae_params *ps, struct sd_names *nm)
{
	for (nm->L = 0; nm->L < VAE_MAX_LEVELS; nm->L++) {
		if (nm->ldm && !vae_has(ps, "decoder.up.%d.block.0.norm1.weight", nm->L))
			break;
		if (!nm->ldm && !vae_has(ps, "decoder.up_blocks.%d.resnets.0.norm1.weight", nm->L))
			break;
	}
	if (nm->L > 0)
		return 0;
	ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no decoder levels: missing tensor '%s%s'",
		      ps->host->st_path(ps->st), ps->prefix,
		      nm->ldm ? "decoder.up.0.block.0.norm1.weight" :
				"decoder.up_blocks.0.resnets.0.norm1.weight");
	return TS_ENOENT;
}

static int load_ends(struct vae_params *ps, const struct sd_names *nm, struct sd_arch *a, int c)
{
	int err;

	err = vae_norm_load(ps, &a->norm_out, c, nm->ldm ? "decoder.norm_out" :
			    "decoder.conv_norm_out");
	if (!err)
		err = vae_conv_load(ps, &a->conv_out, 1, "decoder.conv_out");
	if (!err)
		err = vae_conv_expect(ps, &a->conv_out, c, a->conv_out.c_out, 3, "conv_out");
	a->out_ch = a->conv_out.c_out;
	return err;
}

static int read_decoder(struct vae_params *ps, struct sd_arch *a)
{
	struct sd_names nm = { .ldm = vae_has(ps, "decoder.mid.block_1.norm1.weight") };
	int err, c;

	err = vae_conv_load(ps, &a->post_quant, 1, "post_quant_conv");
	if (!err)
		err = vae_conv_expect(ps, &a->post_quant, a->post_quant.c_in, a->post_quant.c_out, 1,
				      "post_quant_conv");
	if (!err)
		err = vae_conv_load(ps, &a->conv_in, 1, "decoder.conv_in");
	if (!err)
		err = vae_conv_expect(ps, &a->conv_in, a->post_quant.c_out, a->conv_in.c_out, 3,
				      "conv_in");
	if (!err)
		err = count_levels(ps, &nm);
	if (err)
		return err;
	a->z_ch = a->post_quant.c_in;
	a->n_levels = nm.L;
	c = a->conv_in.c_out;
	err = load_mid(ps, &nm, a, c);
	if (err)
		return err;
	c = a->mid2.c1.c_out;
	for (int k = nm.L - 1; k >= 0; k--) {
		err = load_level(ps, &nm, &a->lv[k], k, &c);
		if (err)
			return err;
	}
	return load_ends(ps, &nm, a, c);
}

/*
 * Discover and check the architecture (decoder, encoder, or both, as the
 * file holds them); params are added to @ps.
 */
int sd_arch_read(struct vae_params *ps, struct sd_arch *a)
{
	int enc = vae_has(ps, "encoder.conv_in.weight"), err = 0;

	a->dec_present = vae_has(ps, "decoder.conv_in.weight") || !enc;
	if (a->dec_present)
		err = read_decoder(ps, a);
	if (err || !enc)
		return err;
	err = sd_enc_read(ps, &a->enc);
	if (!err && a->dec_present && a->enc.moments != 2 * a->z_ch) {
		ps->host->log(TS_LOG_ERROR, VAE_WHO, "%s: the encoder gives %d moments for %d latent "
			      "channels", ps->host->st_path(ps->st), a->enc.moments, a->z_ch);
		err = TS_EFORMAT;
	}
	if (!a->dec_present)
		a->z_ch = a->enc.moments / 2;
	return err;
}

static int run_level(struct vctx *cx, const struct sd_level *lv, int k, struct vt *x)
{
	int err;

	for (int j = 0; j < lv->n_blocks; j++) {
		err = vae_res_run(cx, &lv->block[j], x);
		if (err)
			return err;
		vae_trace(cx, x, 4, "decoder.up.%d.block.%d", k, j);
		if (!lv->has_attn)
			continue;
		err = vae_attn_run(cx, &lv->attn[j], x);
		if (err)
			return err;
		vae_trace(cx, x, 4, "decoder.up.%d.attn.%d", k, j);
	}
	if (!lv->has_up)
		return 0;
	err = vae_upsample2d(cx, &lv->up, x);
	if (!err)
		vae_trace(cx, x, 4, "decoder.up.%d.upsample", k);
	return err;
}

static int run_mid(struct vctx *cx, const struct sd_arch *a, struct vt *x)
{
	int err = vae_res_run(cx, &a->mid1, x);

	if (err)
		return err;
	vae_trace(cx, x, 4, "decoder.mid.block_1");
	err = vae_attn_run(cx, &a->mid_attn, x);
	if (err)
		return err;
	vae_trace(cx, x, 4, "decoder.mid.attn_1");
	err = vae_res_run(cx, &a->mid2, x);
	if (!err)
		vae_trace(cx, x, 4, "decoder.mid.block_2");
	return err;
}

/* z [n, z_ch, 1, h, w] -> pixels [n, out_ch, 1, 2^(L-1) h, 2^(L-1) w]; replaces *x. */
int sd_decode_run(struct vctx *cx, const struct sd_arch *a, struct vt *x)
{
	struct vt h;
	int err;

	err = vae_conv_step(cx, &a->post_quant, x);
	if (err)
		return err;
	vae_trace(cx, x, 4, "post_quant_conv");
	err = vae_conv_step(cx, &a->conv_in, x);
	if (err)
		return err;
	vae_trace(cx, x, 4, "decoder.conv_in");
	err = run_mid(cx, a, x);
	for (int k = a->n_levels - 1; k >= 0 && !err; k--)
		err = run_level(cx, &a->lv[k], k, x);
	if (err)
		return err;
	err = vae_norm_silu(cx, &a->norm_out, x, &h);
	if (err)
		return err;
	vt_free(cx, x);
	*x = h;
	err = vae_conv_step(cx, &a->conv_out, x);
	if (!err)
		vae_trace(cx, x, 4, "decode");
	return err;
}

static double conv_macs(const struct vae_conv *cv, double pix)
{
	return (double)cv->c_in * cv->c_out * cv->kt * cv->kh * cv->kw * pix;
}

static double res_macs(const struct vae_res *r, double pix)
{
	double m = conv_macs(&r->c1, pix) + conv_macs(&r->c2, pix);

	return r->sc.w >= 0 ? m + conv_macs(&r->sc, pix) : m;
}

static double attn_macs(const struct vae_attn *a, double pix)
{
	return 4.0 * a->c * a->c * pix + 2.0 * a->c * pix * pix;
}

/* Multiply-accumulates of one decode of an h x w latent (spec §2.5 when the config is SD's). */
double sd_decode_macs(const struct sd_arch *a, int64_t h, int64_t w)
{
	double pix = (double)h * w;
	double m = conv_macs(&a->post_quant, pix) + conv_macs(&a->conv_in, pix);

	m += res_macs(&a->mid1, pix) + res_macs(&a->mid2, pix) + attn_macs(&a->mid_attn, pix);
	for (int k = a->n_levels - 1; k >= 0; k--) {
		const struct sd_level *lv = &a->lv[k];

		for (int j = 0; j < lv->n_blocks; j++) {
			m += res_macs(&lv->block[j], pix);
			if (lv->has_attn)
				m += attn_macs(&lv->attn[j], pix);
		}
		if (lv->has_up) {
			pix *= 4;
			m += conv_macs(&lv->up, pix);
		}
	}
	return m + conv_macs(&a->conv_out, pix);
}

/*
 * Peak activation bytes (F32) of one decode. A ResNet block holds up to seven
 * tensors of its width (input, two norm outputs, a conv's padded input and
 * output, the stripped copies); an upsampling six of the x4 size (the copy,
 * then the same conv); the mid attention eight (input, norm, q k v, output,
 * projection, sum). Checked against measured peaks in the tests.
 */
uint64_t sd_decode_bytes(const struct sd_arch *a, int64_t n, int64_t h, int64_t w)
{
	double pix = (double)h * w, peak = 8.0 * a->mid_attn.c * pix, cur;

	for (int k = a->n_levels - 1; k >= 0; k--) {
		const struct sd_level *lv = &a->lv[k];
		int c = lv->block[0].c1.c_in > lv->block[0].c1.c_out ? lv->block[0].c1.c_in :
			lv->block[0].c1.c_out;

		cur = 7.0 * c * pix;
		if (cur > peak)
			peak = cur;
		if (lv->has_up) {
			pix *= 4;
			cur = 6.0 * lv->up.c_out * pix;
			if (cur > peak)
				peak = cur;
		}
	}
	return (uint64_t)(peak * 4.0 * (double)n);
}
