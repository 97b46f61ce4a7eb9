/* SPDX-License-Identifier: MIT */
/*
 * modules/common/linear.h - a torch Linear through the device's op table,
 * the GEMM every block of both model families is made of.
 */
#ifndef TS_MC_LINEAR_H
#define TS_MC_LINEAR_H

#include <stdint.h>

#include <tetri/tetri.h>

/* y[rows, out] = act(x[rows, in] W^T + b), W [out, in], b [out] or NULL. */
int mc_linear(const struct ts_ops *ops, struct ts_dev *dev, void *y, const void *x,
	      int64_t rows, int64_t in, int64_t out, const void *w, const void *b,
	      enum ts_act act);

#endif /* TS_MC_LINEAR_H */
