// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/band.c - memory-bounded SD decoding that gives the untiled
 * result: the up path runs layer by layer over horizontal bands of rows,
 * with the image's activations kept in host memory and only one band (plus
 * the rows a 3x3 convolution needs on each side) on the device at a time.
 *
 * A convolution of a band with its halo rows is exact, and the image's own
 * edges get the conv's zero padding as before. GroupNorm is exact too: a
 * first pass over the bands sums each channel and its square (GEMMs against
 * a vector of ones), the group statistics become one scale and shift per
 * channel, and the second pass applies them (two GEMMs) with the SiLU before
 * the next convolution. Only summation order differs from the untiled run.
 * Attention mixes all positions: its keys and values for the whole image
 * (2 x 512 x h x w floats at the latent's resolution for SD's VAE) stay on the
 * device while the queries go band by band; the budget has to hold them.
 */
#include <math.h>
#include <string.h>

#include "vae3d.h"

/* One image's activation [c, h, w] in host memory. */
struct hact {
	float *p;
	int64_t c, h, w;
};

struct band {
	struct vctx *cx;
	uint64_t budget;
	void *ones;       /* device, ones_n elements of 1.0 */
	int64_t ones_n;
};

static int hact_alloc(struct vctx *cx, struct hact *a, int64_t c, int64_t h, int64_t w)
{
	*a = (struct hact){ .c = c, .h = h, .w = w };
	a->p = cx->host->alloc(sizeof(float) * (size_t)(c * h * w));
	return a->p ? 0 : TS_ENOMEM;
}

static void hact_free(struct vctx *cx, struct hact *a)
{
	cx->host->free(a->p);
	a->p = NULL;
}

/*
 * Rows a band may have when @per_row device bytes are live per row, halo
 * rows included (at least 1).
 */
static int64_t band_rows(const struct band *b, double per_row, int64_t halo, int64_t h)
{
	double r = b->budget ? (double)b->budget / per_row - 2.0 * (double)halo : (double)h;

	return r < 1 ? 1 : r > (double)h ? h : (int64_t)r;
}

static int ensure_ones(struct band *b, int64_t n)
{
	struct vctx *cx = b->cx;

	if (n <= b->ones_n)
		return 0;
	if (b->ones)
		cx->host->dev_free(cx->dev, b->ones);
	b->ones = cx->host->dev_alloc(cx->dev, (size_t)n);
	b->ones_n = b->ones ? n : 0;
	if (!b->ones)
		return TS_ENOMEM;
	return cx->ops->fill(cx->dev, b->ones, 1.0f, n);
}

/* Rows [r0, r1) of @a to a new device activation [1, c, 1, r1 - r0, w]. */
static int up_rows(struct vctx *cx, struct vt *x, const struct hact *a, int64_t r0, int64_t r1)
{
	int64_t n = (r1 - r0) * a->w;
	int err = vt_alloc(cx, x, 1, a->c, 1, r1 - r0, a->w);

	for (int64_t c = 0; !err && c < a->c; c++)
		err = cx->host->dev_upload(cx->dev, vt_at(cx, x->p, c * n),
					   a->p + (c * a->h + r0) * a->w, TS_F32, n);
	if (err)
		vt_free(cx, x);
	return err;
}

/* Rows [skip, skip + n) of device @y into rows [r0, r0 + n) of @a. */
static int down_rows(struct vctx *cx, const struct vt *y, int64_t skip, int64_t n,
		     struct hact *a, int64_t r0)
{
	int err = 0;

	for (int64_t c = 0; !err && c < a->c; c++)
		err = cx->host->dev_download(cx->dev, a->p + (c * a->h + r0) * a->w,
					     vt_at(cx, y->p, (c * y->h + skip) * y->w), n * y->w);
	return err;
}

/* Per-channel sums of x and x^2 over one band, added to @s1, @s2 (double, host). */
static int band_sums(struct band *b, const struct hact *x, int64_t r0, int64_t r1, double *s1,
		     double *s2)
{
	struct vctx *cx = b->cx;
	int64_t P = (r1 - r0) * x->w;
	struct vt X, sq, sums;
	float *hs = cx->host->alloc(sizeof(float) * 2 * (size_t)x->c);
	int err = hs ? ensure_ones(b, P) : TS_ENOMEM;

	if (!err)
		err = up_rows(cx, &X, x, r0, r1);
	if (err)
		goto out;
	err = vt_alloc(cx, &sq, 1, x->c, 1, r1 - r0, x->w);
	if (!err) {
		err = vt_alloc(cx, &sums, 1, 2, 1, 1, x->c);
		if (!err) {
			err = cx->ops->mul(cx->dev, sq.p, X.p, X.p, vt_numel(&X));
			for (int k = 0; k < 2 && !err; k++)
				err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
					.m = x->c, .n = 1, .k = P, .a = k ? sq.p : X.p, .lda = P,
					.b = b->ones, .ldb = 1, .c = vt_at(cx, sums.p, k * x->c),
					.ldc = 1, .alpha = 1.0f,
				});
			if (!err)
				err = cx->host->dev_download(cx->dev, hs, sums.p, 2 * x->c);
			vt_free(cx, &sums);
		}
		vt_free(cx, &sq);
	}
	vt_free(cx, &X);
	for (int64_t c = 0; !err && c < x->c; c++) {
		s1[c] += hs[c];
		s2[c] += hs[x->c + c];
	}
out:
	cx->host->free(hs);
	return err;
}

/*
 * GroupNorm of the whole @x as a per-channel affine map: ab[c] = w / std,
 * ab[C + c] = bias - mean * w / std, uploaded to the device as *dev_ab.
 */
static int band_norm(struct band *b, const struct vae_norm *n, const struct hact *x, void **dev_ab)
{
	struct vctx *cx = b->cx;
	int64_t C = x->c, cpg = C / cx->groups, rows = band_rows(b, 12.0 * C * x->w, 0, x->h);
	double *s = cx->host->alloc(sizeof(double) * 2 * (size_t)C);
	float *ab = cx->host->alloc(sizeof(float) * 2 * (size_t)C);
	int err = s && ab ? 0 : TS_ENOMEM;

	if (!err)
		memset(s, 0, sizeof(double) * 2 * (size_t)C);
	for (int64_t r = 0; !err && r < x->h; r += rows)
		err = band_sums(b, x, r, r + rows < x->h ? r + rows : x->h, s, s + C);
	/* the affine weights, converted from the device dtype */
	if (!err)
		err = cx->host->dev_download(cx->dev, ab, cx->w[n->w], C);
	if (!err)
		err = cx->host->dev_download(cx->dev, ab + C, cx->w[n->b], C);
	for (int64_t g = 0; !err && g < cx->groups; g++) {
		double sum = 0, sq = 0, cnt = (double)cpg * x->h * x->w, mean, rstd;

		for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
			sum += s[c];
			sq += s[C + c];
		}
		mean = sum / cnt;
		rstd = 1.0 / sqrt(fmax(sq / cnt - mean * mean, 0.0) + cx->eps);
		for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
			ab[c] = (float)(ab[c] * rstd);
			ab[C + c] = (float)(ab[C + c] - mean * ab[c]);
		}
	}
	*dev_ab = err ? NULL : cx->host->dev_alloc(cx->dev, 2 * (size_t)C);
	if (!err && !*dev_ab)
		err = TS_ENOMEM;
	if (!err)
		err = cx->host->dev_upload(cx->dev, *dev_ab, ab, TS_F32, 2 * C);
	cx->host->free(s);
	cx->host->free(ab);
	return err;
}

/* y = act(scale_c x + shift_c): shift spread by one GEMM, scale by one batched GEMM. */
static int band_affine(struct band *b, const void *ab, struct vt *x, enum ts_act act)
{
	struct vctx *cx = b->cx;
	int64_t C = x->c, P = x->h * x->w;
	struct vt y;
	int err = ensure_ones(b, P);

	if (!err)
		err = vt_alloc(cx, &y, 1, C, 1, x->h, x->w);
	if (err)
		return err;
	err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
		.m = C, .n = P, .k = 1, .a = vt_at(cx, ab, C), .lda = 1, .b = b->ones, .ldb = P,
		.c = y.p, .ldc = P, .alpha = 1.0f,
	});
	if (!err)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = 1, .n = P, .k = 1, .a = ab, .lda = 1, .b = x->p, .ldb = P, .c = y.p,
			.ldc = P, .alpha = 1.0f, .beta = 1.0f, .batch = C, .stride_a = 1,
			.stride_b = P, .stride_c = P,
		});
	if (!err && act != TS_ACT_NONE)
		err = cx->ops->activation(cx->dev, y.p, y.p, vt_numel(&y), act);
	if (err) {
		vt_free(cx, &y);
		return err;
	}
	vt_free(cx, x);
	*x = y;
	return 0;
}

/* @y's rows [skip, skip + n) as their own dense activation (copy2d, one row per channel). */
static int crop_rows(struct vctx *cx, struct vt *y, int64_t skip, int64_t n)
{
	struct vt v;
	int err;

	if (skip == 0 && n == y->h)
		return 0;
	err = vt_alloc(cx, &v, 1, y->c, 1, n, y->w);
	if (!err)
		err = cx->ops->copy2d(cx->dev, v.p, n * y->w, vt_at(cx, y->p, skip * y->w),
				      y->h * y->w, y->c, n * y->w);
	if (err) {
		vt_free(cx, &v);
		return err;
	}
	vt_free(cx, y);
	*y = v;
	return 0;
}

struct conv_job {
	const struct vae_conv *cv;
	const void *ab;              /* GroupNorm + SiLU before the conv, or NULL */
	const struct hact *res;      /* added after the conv, or NULL */
	const struct vae_conv *sc;   /* 1x1 conv on @res first, or NULL */
};

static int conv_band(struct band *b, const struct conv_job *j, const struct hact *x,
		     int64_t r0, int64_t r1, struct hact *out)
{
	struct vctx *cx = b->cx;
	int64_t halo = j->cv->kh / 2;
	int64_t lo = r0 - halo < 0 ? 0 : r0 - halo, hi = r1 + halo > x->h ? x->h : r1 + halo;
	struct vt X, Y, R;
	int err = up_rows(cx, &X, x, lo, hi);

	if (!err && j->ab)
		err = band_affine(b, j->ab, &X, TS_ACT_SILU);
	if (!err)
		err = vae_conv_run(cx, j->cv, &X, &Y);
	vt_free(cx, &X);
	if (err)
		return err;
	err = crop_rows(cx, &Y, r0 - lo, r1 - r0);
	if (!err && j->res) {
		err = up_rows(cx, &R, j->res, r0, r1);
		if (!err && j->sc)
			err = vae_conv_step(cx, j->sc, &R);
		if (!err)
			err = cx->ops->add(cx->dev, Y.p, Y.p, R.p, vt_numel(&Y));
		vt_free(cx, &R);
	}
	if (!err)
		err = down_rows(cx, &Y, 0, r1 - r0, out, r0);
	vt_free(cx, &Y);
	return err;
}

/* out = conv(x) (with the job's pre and post steps), band by band. */
static int band_conv(struct band *b, const struct conv_job *j, const struct hact *x,
		     struct hact *out)
{
	int64_t cmax = x->c > j->cv->c_out ? x->c : j->cv->c_out;
	int64_t rows = band_rows(b, 4.0 * 5 * cmax * x->w, j->cv->kh / 2, x->h);
	int err = hact_alloc(b->cx, out, j->cv->c_out, x->h, x->w);

	for (int64_t r = 0; !err && r < x->h; r += rows)
		err = conv_band(b, j, x, r, r + rows < x->h ? r + rows : x->h, out);
	if (err)
		hact_free(b->cx, out);
	return err;
}

static int res_band(struct band *b, const struct vae_res *r, struct hact *x)
{
	struct vctx *cx = b->cx;
	struct conv_job j1 = { .cv = &r->c1 }, j2 = { .cv = &r->c2, .res = x };
	void *ab1 = NULL, *ab2 = NULL;
	struct hact h, y;
	int err;

	j2.sc = r->sc.w >= 0 ? &r->sc : NULL;
	err = band_norm(b, &r->n1, x, &ab1);
	j1.ab = ab1;
	if (!err)
		err = band_conv(b, &j1, x, &h);
	if (ab1)
		cx->host->dev_free(cx->dev, ab1);
	if (err)
		return err;
	err = band_norm(b, &r->n2, &h, &ab2);
	j2.ab = ab2;
	if (!err)
		err = band_conv(b, &j2, &h, &y);
	if (ab2)
		cx->host->dev_free(cx->dev, ab2);
	hact_free(cx, &h);
	if (err)
		return err;
	hact_free(cx, x);
	*x = y;
	return 0;
}

/* Upsampled-and-convolved rows [2 r0, 2 r1) from low-resolution rows [r0, r1) and a halo row. */
static int up_rows_conv(struct band *b, const struct vae_conv *cv, const struct hact *x,
			int64_t r0, int64_t r1, struct hact *out)
{
	struct vctx *cx = b->cx;
	int64_t lo = r0 > 0 ? r0 - 1 : 0, hi = r1 < x->h ? r1 + 1 : x->h;
	struct vt X, Y;
	int err = up_rows(cx, &X, x, lo, hi);

	if (!err)
		err = vae_upconv_run(cx, cv, &X, &Y);
	vt_free(cx, &X);
	if (err)
		return err;
	err = crop_rows(cx, &Y, 2 * (r0 - lo), 2 * (r1 - r0));
	if (!err)
		err = down_rows(cx, &Y, 0, 2 * (r1 - r0), out, 2 * r0);
	vt_free(cx, &Y);
	return err;
}

static int up_band(struct band *b, const struct vae_conv *cv, struct hact *x)
{
	struct vctx *cx = b->cx;
	int64_t rows = band_rows(b, 4.0 * 16 * x->c * x->w, 1, x->h);
	struct hact y;
	int err = hact_alloc(cx, &y, cv->c_out, 2 * x->h, 2 * x->w);

	for (int64_t r = 0; !err && r < x->h; r += rows)
		err = up_rows_conv(b, cv, x, r, r + rows < x->h ? r + rows : x->h, &y);
	if (err) {
		hact_free(cx, &y);
		return err;
	}
	hact_free(cx, x);
	*x = y;
	return 0;
}

/* Rows [r0, r1) of @x, GroupNorm-ed by @ab, times rows [w0, w0 + n) of the fused qkv weight. */
static int band_proj(struct band *b, const struct vae_attn *a, const void *ab,
		     const struct hact *x, int64_t r0, int64_t r1, int64_t w0, int64_t n, void *dst,
		     int64_t ldd)
{
	struct vctx *cx = b->cx;
	int64_t C = x->c, P = (r1 - r0) * x->w;
	struct vt X;
	int err = up_rows(cx, &X, x, r0, r1);

	if (!err)
		err = band_affine(b, ab, &X, TS_ACT_NONE);
	if (!err)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.trans_a = 1, .trans_b = 1, .m = P, .n = n, .k = C, .a = X.p, .lda = P,
			.b = vt_at(cx, cx->w[a->qkv_w], w0 * C), .ldb = C, .c = dst, .ldc = ldd,
			.bias = vt_at(cx, cx->w[a->qkv_b], w0), .alpha = 1.0f,
		});
	vt_free(cx, &X);
	return err;
}

/* One band of queries against every key: x rows [r0, r1) += proj(attention). */
static int attn_rows(struct band *b, const struct vae_attn *a, const void *ab, const struct vt *kv,
		     struct hact *x, int64_t r0, int64_t r1)
{
	struct vctx *cx = b->cx;
	int64_t C = x->c, P = (r1 - r0) * x->w, S = x->h * x->w;
	int64_t shape[3] = { 1, P, C };
	int perm[3] = { 0, 2, 1 };
	struct vt q, o, y, r;
	int err = vt_alloc(cx, &q, 1, P, 1, 1, C);

	if (err)
		return err;
	err = band_proj(b, a, ab, x, r0, r1, 0, C, q.p, C);
	if (!err)
		err = vt_alloc(cx, &o, 1, P, 1, 1, C);
	if (!err) {
		err = cx->ops->attention(cx->dev, &(struct ts_attention){
			.batch = 1, .heads = 1, .q_len = P, .kv_len = S, .head_dim = C,
			.q = q.p, .k = kv->p, .v = vt_at(cx, kv->p, C), .o = o.p,
			.q_tok = C, .k_tok = 2 * C, .v_tok = 2 * C, .o_tok = C,
			.q_batch = P * C, .k_batch = 2 * C * S, .v_batch = 2 * C * S, .o_batch = P * C,
			.scale = (float)(1.0 / sqrt((double)C)),
		});
		/* the output projection into q, which is free now */
		if (!err)
			err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
				.trans_b = 1, .m = P, .n = C, .k = C, .a = o.p, .lda = C,
				.b = cx->w[a->proj_w], .ldb = C, .c = q.p, .ldc = C,
				.bias = cx->w[a->proj_b], .alpha = 1.0f,
			});
		vt_free(cx, &o);
	}
	if (!err)
		err = vt_alloc(cx, &y, 1, C, 1, r1 - r0, x->w);
	if (!err) {
		err = cx->ops->permute(cx->dev, y.p, q.p, 3, shape, perm);
		if (!err)
			err = up_rows(cx, &r, x, r0, r1);
		if (!err) {
			err = cx->ops->add(cx->dev, y.p, y.p, r.p, vt_numel(&y));
			vt_free(cx, &r);
		}
		/* rows [r0, r1) of x are read by no later band: write them in place */
		if (!err)
			err = down_rows(cx, &y, 0, r1 - r0, x, r0);
		vt_free(cx, &y);
	}
	vt_free(cx, &q);
	return err;
}

/*
 * Attention mixes all positions, so keys and values of the whole image
 * (2 C h w floats) stay on the device while queries go band by band.
 */
static int attn_band(struct band *b, const struct vae_attn *a, struct hact *x)
{
	struct vctx *cx = b->cx;
	int64_t C = x->c, S = x->h * x->w, rows;
	void *ab = NULL;
	struct vt kv;
	int err;

	err = band_norm(b, &a->n, x, &ab);
	if (!err)
		err = vt_alloc(cx, &kv, 1, S, 1, 1, 2 * C);
	if (err)
		goto free_ab;
	rows = band_rows(b, 4.0 * 6 * C * x->w, 0, x->h);
	for (int64_t r = 0; !err && r < x->h; r += rows)
		err = band_proj(b, a, ab, x, r, r + rows < x->h ? r + rows : x->h, C, 2 * C,
				vt_at(cx, kv.p, r * x->w * 2 * C), 2 * C);
	for (int64_t r = 0; !err && r < x->h; r += rows)
		err = attn_rows(b, a, ab, &kv, x, r, r + rows < x->h ? r + rows : x->h);
	vt_free(cx, &kv);
free_ab:
	if (ab)
		cx->host->dev_free(cx->dev, ab);
	return err;
}

static int level_band(struct band *b, const struct sd_level *lv, struct hact *x)
{
	int err = 0;

	for (int j = 0; j < lv->n_blocks && !err; j++) {
		err = res_band(b, &lv->block[j], x);
		if (!err && lv->has_attn)
			err = attn_band(b, &lv->attn[j], x);
	}
	if (!err && lv->has_up)
		err = up_band(b, &lv->up, x);
	return err;
}

/* post_quant_conv, conv_in and the mid block; only the attention runs whole. */
static int head_band(struct band *b, const struct sd_arch *a, const float *lat, int64_t h,
		     int64_t w, struct hact *x)
{
	struct hact z = { .p = (float *)lat, .c = a->z_ch, .h = h, .w = w }, q;
	struct conv_job jq = { .cv = &a->post_quant }, jc = { .cv = &a->conv_in };
	int err = band_conv(b, &jq, &z, &q);

	if (err)
		return err;
	err = band_conv(b, &jc, &q, x);
	hact_free(b->cx, &q);
	if (!err)
		err = res_band(b, &a->mid1, x);
	if (!err)
		err = attn_band(b, &a->mid_attn, x);
	if (!err)
		err = res_band(b, &a->mid2, x);
	return err;
}

/* One latent [z, h, w] (host, already scaled) -> pixels [out_ch, H, W] (host) in @budget. */
int vae_sd_banded(struct vctx *cx, const struct sd_arch *a, const float *lat, int64_t h,
		  int64_t w, uint64_t budget, float *out)
{
	struct band b = { .cx = cx, .budget = budget };
	struct conv_job j = { .cv = &a->conv_out };
	struct hact x = { 0 }, y;
	void *ab = NULL;
	int err;

	err = head_band(&b, a, lat, h, w, &x);
	for (int k = a->n_levels - 1; k >= 0 && !err; k--)
		err = level_band(&b, &a->lv[k], &x);
	if (!err)
		err = band_norm(&b, &a->norm_out, &x, &ab);
	j.ab = ab;
	if (!err)
		err = band_conv(&b, &j, &x, &y);
	if (!err) {
		memcpy(out, y.p, sizeof(float) * (size_t)(y.c * y.h * y.w));
		hact_free(cx, &y);
	}
	if (ab)
		cx->host->dev_free(cx->dev, ab);
	if (b.ones)
		cx->host->dev_free(cx->dev, b.ones);
	hact_free(cx, &x);
	return err;
}
