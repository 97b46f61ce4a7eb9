// SPDX-License-Identifier: MIT
/*
 * core/cuda/conv.c - 3-D (and 2-D) convolution as im2col + GEMM:
 * for each batch entry, y[n] (c_out x P) = W (c_out x c_in*kt*kh*kw) col,
 * where col holds each output position's receptive field. A 1x1x1 kernel
 * with stride 1 and no padding needs no col: x[n] is already c_in x P.
 * col lives in the device's grow-only scratch, filled in chunks of output
 * positions so a large VAE layer never needs gigabytes of it.
 */
#include "cuda_priv.h"

#define I(x) ((long long)(x))
#define COL_MAX_ELEMS (32ll << 20) /* scratch cap: 64 MiB of bf16, 128 MiB of fp32 */

int ts_cuda_conv(struct ts_dev *dev, const struct ts_conv *c)
{
	int64_t t_out, h_out, w_out, p_all, kk, pn;
	size_t esz = ts_cuda_dt_size(dev->dt);
	int direct, rc;
	void *col = NULL;

	if (c->n < 0 || c->c_in <= 0 || c->c_out <= 0 || c->t <= 0 || c->h <= 0 || c->w <= 0 ||
	    c->kt < 1 || c->kh < 1 || c->kw < 1 || c->st < 1 || c->sh < 1 || c->sw < 1 ||
	    c->pad_t_front < 0 || c->pad_h < 0 || c->pad_w < 0)
		return TS_CUDA_BAD("conv", "n=%lld c_in=%lld c_out=%lld t,h,w=%lld,%lld,%lld "
				   "kernel %d,%d,%d stride %d,%d,%d pad %d,%d,%d", I(c->n),
				   I(c->c_in), I(c->c_out), I(c->t), I(c->h), I(c->w), c->kt, c->kh,
				   c->kw, c->st, c->sh, c->sw, c->pad_t_front, c->pad_h, c->pad_w);
	t_out = (c->t + c->pad_t_front - c->kt) / c->st + 1;
	h_out = (c->h + 2 * c->pad_h - c->kh) / c->sh + 1;
	w_out = (c->w + 2 * c->pad_w - c->kw) / c->sw + 1;
	if (c->t + c->pad_t_front < c->kt || c->h + 2 * c->pad_h < c->kh ||
	    c->w + 2 * c->pad_w < c->kw)
		return TS_CUDA_BAD("conv", "kernel %dx%dx%d larger than padded input", c->kt,
				   c->kh, c->kw);
	if (!c->n)
		return 0;
	if (!c->x || !c->weight || !c->y)
		return TS_CUDA_BAD("conv", "NULL x, weight or y");
	rc = ts_cuda_use(dev);
	if (rc)
		return rc;

	p_all = t_out * h_out * w_out;
	kk = c->c_in * c->kt * c->kh * c->kw;
	direct = c->kt == 1 && c->kh == 1 && c->kw == 1 && c->st == 1 && c->sh == 1 &&
		 c->sw == 1 && !c->pad_t_front && !c->pad_h && !c->pad_w;
	pn = direct ? p_all : COL_MAX_ELEMS / kk;
	if (pn < 1)
		pn = 1;
	if (pn > p_all)
		pn = p_all;
	if (!direct) {
		col = ts_cuda_scratch(dev, (size_t)(kk * pn) * esz);
		if (!col)
			return TS_ENOMEM;
	}

	for (int64_t n = 0; n < c->n; n++) {
		const char *xn = (const char *)c->x +
				 (size_t)(n * c->c_in * c->t * c->h * c->w) * esz;
		char *yn = (char *)c->y + (size_t)(n * c->c_out * p_all) * esz;

		for (int64_t p0 = 0; p0 < p_all; p0 += pn) {
			int64_t cnt = p_all - p0 < pn ? p_all - p0 : pn;
			struct ts_gemm g = {
				.m = c->c_out, .n = cnt, .k = kk,
				.a = c->weight, .lda = kk,
				.b = direct ? (const void *)(xn + (size_t)p0 * esz) : col,
				.ldb = direct ? p_all : cnt,
				.c = yn + (size_t)p0 * esz, .ldc = p_all,
				.alpha = 1.0f, .beta = 0.0f, .act = TS_ACT_NONE,
			};

			if (!direct) {
				rc = TS_CU(ts_k_im2col(dev->stream, dev->dt, col, xn, c, t_out,
						       h_out, w_out, p0, cnt));
				if (rc)
					return rc;
			}
			rc = ts_cuda_gemm(dev, &g);
			if (rc)
				return rc;
		}
		/* The bias is per output channel (a row of y[n]), not the GEMM's column bias. */
		if (c->bias) {
			rc = TS_CU(ts_k_bias_act(dev->stream, dev->dt, yn, p_all, c->c_out, p_all,
						 1.0f, c->bias, 1, TS_ACT_NONE));
			if (rc)
				return rc;
		}
	}
	return 0;
}
