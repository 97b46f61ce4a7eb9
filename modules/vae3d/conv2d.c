// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/conv2d.c - a 3x3, stride-1, "same" 2-D convolution as nine
 * GEMMs over shifted views of one zero-padded copy of the input, with no
 * unfolded (im2col) matrix: the SD decoder is almost all such convolutions.
 *
 * Padded layout: every row gets one leading zero column and every channel
 * one leading zero row, so a row's right neighbour pad is the next row's
 * left pad, and a channel's bottom pad the next channel's top pad. Output
 * (h, w) is computed at column h (W+1) + w of a [c_out, H, W+1] result (the
 * last column of each row is discarded), and tap (dy, dx) reads the input
 * at that column plus dy (W+1) + dx: one GEMM per tap, accumulated.
 */
#include "vae3d.h"

/* x [n, c, 1, h, w] -> xp [n, c + 1, 1, h + 1, w + 1] in the shared-pad layout. */
static int pad_input(struct vctx *cx, const struct vt *x, struct vt *xp)
{
	int64_t plane = (x->h + 1) * (x->w + 1);
	int err = vt_alloc(cx, xp, x->n, x->c + 1, 1, x->h + 1, x->w + 1);

	if (!err)
		err = cx->ops->fill(cx->dev, xp->p, 0.0f, vt_numel(xp));
	for (int64_t i = 0; !err && i < x->n * x->c; i++) {
		int64_t img = i / x->c, c = i % x->c;

		err = cx->ops->copy2d(cx->dev, vt_at(cx, xp->p, (img * (x->c + 1) + c) * plane +
						     x->w + 2), x->w + 1,
				      vt_at(cx, x->p, i * x->h * x->w), x->w, x->h, x->w);
	}
	if (err)
		vt_free(cx, xp);
	return err;
}

/* yp [n, c_out, h, w + 1] = bias (one GEMM against ones), then += each tap's product. */
static int taps_gemm(struct vctx *cx, const struct vae_conv *cv, const struct vt *x,
		     const struct vt *xp, struct vt *yp)
{
	int64_t W1 = x->w + 1, N = x->h * W1, plane = (x->h + 1) * W1, co = cv->c_out, ci = x->c;
	struct vt ones = { 0 };
	int err = vt_alloc(cx, yp, x->n, co, 1, x->h, W1);

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
	for (int k = 0; !err && k < 9; k++)
		err = cx->ops->gemm(cx->dev, &(struct ts_gemm){
			.m = co, .n = N, .k = ci, .a = vt_at(cx, cx->w[cv->w], k * co * ci), .lda = ci,
			.b = vt_at(cx, xp->p, (k / 3) * W1 + k % 3), .ldb = plane,
			.c = yp->p, .ldc = N, .alpha = 1.0f,
			.beta = k > 0 || cv->b >= 0 ? 1.0f : 0.0f,
			.batch = x->n, .stride_a = 0, .stride_b = (ci + 1) * plane, .stride_c = co * N,
		});
	if (err)
		vt_free(cx, yp);
	return err;
}

int vae_conv3x3_gemm(struct vctx *cx, const struct vae_conv *cv, const struct vt *x, struct vt *y)
{
	struct vt xp, yp;
	int err;

	if (x->t != 1 || x->c != cv->c_in) {
		cx->host->log(TS_LOG_ERROR, VAE_WHO, "3x3 conv expects [n, %d, 1, h, w], got %lld "
			      "channels and %lld frames", cv->c_in, (long long)x->c, (long long)x->t);
		return TS_EINVAL;
	}
	err = pad_input(cx, x, &xp);
	if (err)
		return err;
	err = taps_gemm(cx, cv, x, &xp, &yp);
	vt_free(cx, &xp);
	if (err)
		return err;
	err = vt_alloc(cx, y, x->n, cv->c_out, 1, x->h, x->w);
	if (!err)
		err = cx->ops->copy2d(cx->dev, y->p, x->w, yp.p, x->w + 1, x->n * cv->c_out * x->h,
				      x->w);
	if (err)
		vt_free(cx, y);
	vt_free(cx, &yp);
	return err;
}
