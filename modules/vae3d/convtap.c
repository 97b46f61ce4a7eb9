// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/convtap.c - a 3x3 (2-D) or causal 3x3x3 (3-D, stride 1)
 * "same" convolution as one GEMM per kernel tap over shifted views of one
 * zero-padded copy of the input, with no unfolded (im2col) matrix: both VAEs
 * are almost all such convolutions.
 *
 * Padded layout: each row gets one leading zero column, each frame one
 * leading zero row, each channel kt - 1 leading zero frames (time is padded
 * in front only). Pads are shared: a row's right pad is the next row's left
 * pad, a frame's bottom pad the next frame's top pad. Output (t, h, w) is
 * computed at column t F + h (W+1) + w of a [c_out, T, H+1, W+1] result,
 * F = (H+1)(W+1), whose last row and column per frame are dropped; tap
 * (dt, dy, dx) reads the input at that column plus dt F + dy (W+1) + dx.
 */
#include "vae3d.h"

/* dst = zeros, then rows of @cols elements copied from stride @ldx to stride @ldy at @off. */
static int spread(struct vctx *cx, struct vt *dst, int64_t off, int64_t ldy, const struct vt *src,
		  int64_t ldx, int64_t rows, int64_t cols)
{
	int err = cx->ops->fill(cx->dev, dst->p, 0.0f, vt_numel(dst));

	if (!err)
		err = cx->ops->copy2d(cx->dev, vt_at(cx, dst->p, off), ldy, src->p, ldx, rows, cols);
	if (err)
		vt_free(cx, dst);
	return err;
}

/*
 * x [n, c, T, h, w] -> xp: a zero column per row, a zero row per frame, @front
 * zero frames per channel, and one more channel of zeros for the last taps.
 */
static int pad_input(struct vctx *cx, const struct vt *x, int64_t front, struct vt *xp)
{
	int64_t W1 = x->w + 1, F = (x->h + 1) * W1, nc = x->n * x->c;
	struct vt a, b;
	int err;

	err = vt_alloc(cx, &a, x->n, x->c, x->t, x->h, W1);
	if (!err)
		err = spread(cx, &a, 1, W1, x, x->w, nc * x->t * x->h, x->w);
	if (err)
		return err;
	if (front == 0 && x->t == 1) {
		/* 2-D: a channel is a frame, so the zero rows finish it (copies are serial) */
		err = vt_alloc(cx, xp, 1, nc + 1, 1, x->h + 1, W1);
		if (!err)
			err = spread(cx, xp, W1, F, &a, x->h * W1, nc, x->h * W1);
		vt_free(cx, &a);
		return err;
	}
	err = vt_alloc(cx, &b, x->n, x->c, x->t, x->h + 1, W1);
	if (!err)
		err = spread(cx, &b, W1, F, &a, x->h * W1, nc * x->t, x->h * W1);
	vt_free(cx, &a);
	if (err)
		return err;
	err = vt_alloc(cx, xp, 1, nc + 1, x->t + front, x->h + 1, W1);
	if (!err)
		err = spread(cx, xp, front * F, (x->t + front) * F, &b, x->t * F, nc, x->t * F);
	vt_free(cx, &b);
	return err;
}

/* yp [n, c_out, T, h+1, w+1] = bias (a GEMM against ones), then += each tap's product. */
static int taps_gemm(struct vctx *cx, const struct vae_conv *cv, const struct vt *x,
		     const struct vt *xp, struct vt *yp)
{
	int64_t W1 = x->w + 1, F = (x->h + 1) * W1, CP = (x->t + cv->kt - 1) * F;
	int64_t co = cv->c_out, ci = x->c, taps = (int64_t)cv->kt * 9;
	/* 2-D: no frame below, so no padding row is computed (one strip copy, not two) */
	int64_t rows = x->t == 1 ? x->h : x->h + 1, N = x->t == 1 ? x->h * W1 : x->t * F;
	struct vt ones = { 0 };
	int err = vt_alloc(cx, yp, x->n, co, x->t, rows, W1);

	if (!err && cv->b >= 0)
		err = vt_alloc(cx, &ones, 1, 1, 1, 1, N);
	if (!err && cv->b >= 0)
		err = cx->ops->fill(cx->dev, ones.p, 1.0f, N);
	for (int64_t img = 0; !err && cv->b >= 0 && img < x->n; img++)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = co, .n = N, .k = 1, .a = cx->w[cv->b], .lda = 1, .b = ones.p, .ldb = N,
			.c = vt_at(cx, yp->p, img * co * N), .ldc = N, .alpha = 1.0f,
		});
	vt_free(cx, &ones);
	for (int64_t k = 0; !err && k < taps; k++) {
		int64_t off = (k / 9) * F + (k % 9 / 3) * W1 + k % 3;

		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = co, .n = N, .k = ci, .a = vt_at(cx, cx->w[cv->w], k * co * ci), .lda = ci,
			.b = vt_at(cx, xp->p, off), .ldb = CP, .c = yp->p, .ldc = N, .alpha = 1.0f,
			.beta = k > 0 || cv->b >= 0 ? 1.0f : 0.0f,
			.batch = x->n, .stride_a = 0, .stride_b = ci * CP, .stride_c = co * N,
		});
	}
	if (err)
		vt_free(cx, yp);
	return err;
}

/* Drop the last column of every row, then (3-D) the last row of every frame. */
static int strip(struct vctx *cx, const struct vt *yp, int64_t h, int64_t w, struct vt *y)
{
	int64_t planes = yp->n * yp->c * yp->t;
	struct vt a;
	int err;

	if (yp->h == h) {
		err = vt_alloc(cx, y, yp->n, yp->c, yp->t, h, w);
		if (!err)
			err = cx->ops->copy2d(cx->dev, y->p, w, yp->p, w + 1, planes * h, w);
		if (err)
			vt_free(cx, y);
		return err;
	}
	err = vt_alloc(cx, &a, yp->n, yp->c, yp->t, h + 1, w);

	if (!err)
		err = cx->ops->copy2d(cx->dev, a.p, w, yp->p, w + 1, planes * (h + 1), w);
	if (!err)
		err = vt_alloc(cx, y, yp->n, yp->c, yp->t, h, w);
	if (!err) {
		err = cx->ops->copy2d(cx->dev, y->p, h * w, a.p, (h + 1) * w, planes, h * w);
		if (err)
			vt_free(cx, y);
	}
	vt_free(cx, &a);
	return err;
}

int vae_conv_taps(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y)
{
	struct vt xp, yp;
	int err;

	if (x->c != cv->c_in || cv->st != 1) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO, "tap conv expects %d channels and stride 1, got "
			      "%lld channels, stride %d", cv->c_in, (long long)x->c, cv->st);
		return TS_EINVAL;
	}
	err = pad_input(cx, x, cv->kt - 1, &xp);
	if (err)
		return err;
	err = taps_gemm(cx, cv, x, &xp, &yp);
	vt_free(cx, &xp);
	if (err)
		return err;
	err = strip(cx, &yp, x->h, x->w, y);
	vt_free(cx, &yp);
	return err;
}

/* Phase @ph's output [n, c_out, h, w+1] at @yp: bias, then its four folded taps. */
static int phase_gemm(struct vctx *cx, const struct vae_conv *cv, const struct vt *x,
		      const struct vt *xp, const void *ones, int ph, void *yp)
{
	int64_t W1 = x->w + 1, N = x->h * W1, CP = (x->h + 1) * W1, co = cv->c_out, ci = x->c;
	int a = ph / 2, b = ph % 2, err = 0;

	for (int64_t img = 0; cv->b >= 0 && !err && img < x->n; img++)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = co, .n = N, .k = 1, .a = cx->w[cv->b], .lda = 1, .b = ones, .ldb = N,
			.c = vt_at(cx, yp, img * co * N), .ldc = N, .alpha = 1.0f,
		});
	for (int r = 0; !err && r < 4; r++)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = co, .n = N, .k = ci, .a = vt_at(cx, cx->w[cv->w], (ph * 4 + r) * co * ci),
			.lda = ci, .b = vt_at(cx, xp->p, (a + r / 2) * W1 + b + r % 2), .ldb = CP,
			.c = yp, .ldc = N, .alpha = 1.0f, .beta = r > 0 || cv->b >= 0 ? 1.0f : 0.0f,
			.batch = x->n, .stride_a = 0, .stride_b = ci * CP, .stride_c = co * N,
		});
	return err;
}

/*
 * conv(nearest_x2(x)) without the x4 copy: output pixel (2i + a, 2j + b)
 * is a 2x2 convolution of x around (i, j) with phase (a, b)'s folded weights
 * (params.c), so the four phases cost 16 taps at the low resolution instead
 * of 9 at the high one; the phases are then interleaved by one permute.
 */
int vae_upconv_run(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y)
{
	int64_t N = x->h * (x->w + 1), nco = x->n * cv->c_out;
	int64_t shape[5] = { 2, 2, nco, x->h, x->w };
	int perm[5] = { 2, 3, 0, 4, 1 };
	struct vt xp, yp, s, ones = { 0 };
	int err;

	if (!cv->phases || x->t != 1 || x->c != cv->c_in) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO, "upsampling conv expects [n, %d, 1, h, w]",
			      cv->c_in);
		return TS_EINVAL;
	}
	err = pad_input(cx, x, 0, &xp);
	if (err)
		return err;
	err = vt_alloc(cx, &yp, 4, nco, 1, x->h, x->w + 1);
	if (!err && cv->b >= 0)
		err = vt_alloc(cx, &ones, 1, 1, 1, 1, N);
	if (!err && cv->b >= 0)
		err = cx->ops->fill(cx->dev, ones.p, 1.0f, N);
	for (int ph = 0; !err && ph < 4; ph++)
		err = phase_gemm(cx, cv, x, &xp, ones.p, ph, vt_at(cx, yp.p, ph * nco * N));
	vt_free(cx, &ones);
	vt_free(cx, &xp);
	if (!err)
		err = vt_alloc(cx, &s, 4, nco, 1, x->h, x->w);
	if (!err) {
		err = cx->ops->copy2d(cx->dev, s.p, x->w, yp.p, x->w + 1, 4 * nco * x->h, x->w);
		vt_free(cx, &yp); /* before y: one x4 tensor fewer at the peak */
		if (!err)
			err = vt_alloc(cx, y, x->n, cv->c_out, 1, 2 * x->h, 2 * x->w);
		if (!err) {
			err = cx->ops->permute(cx->dev, y->p, s.p, 5, shape, perm);
			if (err)
				vt_free(cx, y);
		}
		vt_free(cx, &s);
	}
	vt_free(cx, &yp);
	return err;
}
