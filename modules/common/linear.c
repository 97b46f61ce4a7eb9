/* SPDX-License-Identifier: MIT */
/*
 * modules/common/linear.c - a torch Linear as one GEMM of the op table
 * (linear.h).
 */
#include "linear.h"

int mc_linear(const struct ts_ops *ops, struct ts_dev *dev, void *y, const void *x,
	      int64_t rows, int64_t in, int64_t out, const void *w, const void *b,
	      enum ts_act act)
{
	const struct ts_gemm g = {
		.trans_a = 0, .trans_b = 1,
		.m = rows, .n = out, .k = in,
		.a = x, .lda = in,
		.b = w, .ldb = in,
		.c = y, .ldc = out,
		.bias = b, .alpha = 1.0f, .beta = 0.0f, .act = act,
	};

	return ops->gemm(dev, &g);
}
