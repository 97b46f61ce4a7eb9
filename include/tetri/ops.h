/* SPDX-License-Identifier: MIT */
/*
 * tetri/ops.h - the op table of a device, and collectives on a device group.
 *
 * Model modules compute only through these tables (never through a backend
 * directly), so one implementation runs on CPU virtual devices and on GPUs.
 *
 * Conventions for every op:
 *  - Buffers are device memory in the device's storage dtype (ts_ops.dtype:
 *    F32 on the CPU backend; BF16, F16 or F32 on CUDA). Parameters documented
 *    as "host" are host memory.
 *  - Everything is row-major. Sizes are element counts (int64_t).
 *  - Ops are asynchronous on backends with streams; ordering on one device is
 *    program order. The host synchronises at step boundaries.
 *  - Ops do not allocate on the hot path; scratch comes from the step context.
 *  - Return 0 or a negative TS_E* code (bad shape → TS_EINVAL, logged).
 *  - Output buffers may not alias inputs unless the op says "in place allowed".
 */
#ifndef TETRI_OPS_H
#define TETRI_OPS_H

#include <stdint.h>

#include "abi.h"
#include "tensor.h"

#define TS_MAGIC_OPS TS_FOURCC('T', 'S', 'O', 'P')
#define TS_MAGIC_COLL TS_FOURCC('T', 'S', 'C', 'O')

struct ts_dev;  /* one device: a CPU virtual device or a GPU (opaque) */
struct ts_comm; /* a communicator over a device set, from the group cache (opaque) */

/* Fused activation applied by gemm after bias. */
enum ts_act {
	TS_ACT_NONE = 0,
	TS_ACT_GELU_TANH = 1, /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
	TS_ACT_SILU = 2,      /* x*sigmoid(x) */
	TS_ACT_TANH = 3,
};

/**
 * struct ts_gemm - C = act(alpha * op(A) op(B) + beta * C + bias), batched.
 * op(A) is m x k: A(i,p) = trans_a ? a[p*lda + i] : a[i*lda + p].
 * op(B) is k x n: B(p,j) = trans_b ? b[j*ldb + p] : b[p*ldb + j].
 * A Linear layer y = x W^T + b with W [out, in] is trans_b = 1, ldb = in.
 * @bias: [n] or NULL, added to every row. @batch: 0 or 1 means one GEMM;
 * otherwise @batch GEMMs with element strides stride_a/b/c (0 = shared).
 */
struct ts_gemm {
	int trans_a, trans_b;
	int64_t m, n, k;
	const void *a;
	int64_t lda;
	const void *b;
	int64_t ldb;
	void *c;
	int64_t ldc;
	const void *bias;
	float alpha, beta;
	enum ts_act act;
	int64_t batch, stride_a, stride_b, stride_c;
};

/**
 * struct ts_attention - O = softmax(scale * Q K^T + mask) V per (batch, head),
 * non-causal, computed in tiles (the full score matrix is never stored).
 * Head h of a token lives at element offset h*head_dim inside the token's row;
 * rows are *_tok elements apart and batches *_batch elements apart, so a fused
 * qkv buffer laid out (3, heads, head_dim) per token is used without copies.
 * @key_mask: device, [batch, kv_len] bytes, 1 = attend, or NULL for all keys.
 * A query row whose keys are all masked produces zeros.
 */
struct ts_attention {
	int64_t batch, heads, q_len, kv_len, head_dim;
	const void *q, *k, *v;
	void *o;
	int64_t q_tok, k_tok, v_tok, o_tok;
	int64_t q_batch, k_batch, v_batch, o_batch;
	const uint8_t *key_mask;
	float scale;
};

/**
 * struct ts_conv - 3-D convolution (2-D when t = kt = st = 1), groups = 1.
 * x [n, c_in, t, h, w], weight [c_out, c_in, kt, kh, kw], bias [c_out] or NULL,
 * y [n, c_out, t_out, h_out, w_out] with t_out = (t + pad_t_front - kt)/st + 1,
 * h_out = (h + 2 pad_h - kh)/sh + 1, likewise w. Time is zero-padded at the
 * front only (causal), height and width on both sides.
 */
struct ts_conv {
	int64_t n, c_in, c_out, t, h, w;
	int kt, kh, kw;
	int st, sh, sw;
	int pad_t_front, pad_h, pad_w;
	const void *x, *weight, *bias;
	void *y;
};

/**
 * struct ts_ops - the op table of one device. Obtained from the step context
 * (struct ts_step_ctx.ops) or host->dev_ops(). Filled with designated
 * initializers by each backend; a module checks TS_ABI_HAS() before using an
 * op appended in a later minor version.
 */
struct ts_ops {
	struct ts_abi_hdr hdr;
	enum ts_dtype dtype; /* storage dtype of activations and weights on this device */

	int (*gemm)(struct ts_dev *dev, const struct ts_gemm *g);
	int (*attention)(struct ts_dev *dev, const struct ts_attention *a);
	int (*conv)(struct ts_dev *dev, const struct ts_conv *c);

	/* y = (x - mean)/sqrt(var + eps) * w + b over the last dim; w, b may be NULL. In place allowed. */
	int (*layer_norm)(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
			  int64_t rows, int64_t cols, float eps);
	/* y = x / sqrt(mean(x^2) + eps) * w over the last dim; w may be NULL. In place allowed. */
	int (*rms_norm)(struct ts_dev *dev, void *y, const void *x, const void *w,
			int64_t rows, int64_t cols, float eps);
	/* x [n, c, spatial]; statistics over (c/groups channels x spatial); per-channel w, b (may be NULL). */
	int (*group_norm)(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
			  int64_t n, int64_t c, int64_t spatial, int groups, float eps);
	/*
	 * adaLN: y[b,t,:] = LN(x[b,t,:]) * (1 + scale[b,:]) + shift[b,:], LN without affine.
	 * x, y [batch, tokens, dim]; shift and scale rows are mod_stride elements apart per
	 * batch entry (so chunks of one [batch, 6*dim] modulation buffer are used in place).
	 * In place allowed.
	 */
	int (*layer_norm_modulate)(struct ts_dev *dev, void *y, const void *x, const void *shift,
				   const void *scale, int64_t batch, int64_t tokens, int64_t dim,
				   int64_t mod_stride, float eps);
	/* x[b,t,:] += gate[b,:] * r[b,t,:]; gate rows gate_stride apart; gate NULL means 1. */
	int (*gated_residual)(struct ts_dev *dev, void *x, const void *r, const void *gate,
			      int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride);
	/* Elementwise activation, in place allowed. */
	int (*activation)(struct ts_dev *dev, void *y, const void *x, int64_t n, enum ts_act act);
	/* Row softmax over the last dim; in place allowed. */
	int (*softmax)(struct ts_dev *dev, void *y, const void *x, int64_t rows, int64_t cols);
	/*
	 * Rotary embedding on interleaved pairs, in place: for token p (0-based within its
	 * batch entry) and pair i < n_freq, (x[2i], x[2i+1]) of every head is rotated by
	 * angle p * freqs[i]; elements past 2*n_freq are untouched. freqs: device, [n_freq].
	 * x [batch, tokens, heads*head_dim] with token rows tok_stride, batches batch_stride apart.
	 */
	int (*rope)(struct ts_dev *dev, void *x, const void *freqs, int64_t n_freq, int64_t batch,
		    int64_t tokens, int64_t heads, int64_t head_dim, int64_t tok_stride,
		    int64_t batch_stride);
	/* Nearest upsampling: x [n, c, t, h, w] -> y [n, c, t*ft, h*fh, w*fw]. */
	int (*upsample_nearest)(struct ts_dev *dev, void *y, const void *x, int64_t n, int64_t c,
				int64_t t, int64_t h, int64_t w, int ft, int fh, int fw);
	/* y[i, :] = table[ids[i], :]; ids is host memory; an id out of [0, rows) is TS_ERANGE. */
	int (*embedding)(struct ts_dev *dev, void *y, const void *table, int64_t rows, int64_t dim,
			 const int64_t *ids, int64_t n);
	/* Elementwise; in place allowed. add/mul: y = a op b. */
	int (*add)(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n);
	int (*mul)(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n);
	/* y = alpha * x + beta * y (beta = 0 writes y without reading it). */
	int (*axpby)(struct ts_dev *dev, void *y, float alpha, const void *x, float beta, int64_t n);
	/* y[b, i] = x[b, i] + v[i] for i < n (per-row broadcast add over batch rows). In place allowed. */
	int (*add_row)(struct ts_dev *dev, void *y, const void *x, const void *v, int64_t batch,
		       int64_t n);
	/* y = x.permute(perm): x has shape[ndim] (ndim <= TS_MAX_DIMS); y is dense in the new order. */
	int (*permute)(struct ts_dev *dev, void *y, const void *x, int ndim, const int64_t *shape,
		       const int *perm);
	/* 2-D strided copy: rows x cols elements from x (row stride ldx) to y (row stride ldy). */
	int (*copy2d)(struct ts_dev *dev, void *y, int64_t ldy, const void *x, int64_t ldx,
		      int64_t rows, int64_t cols);
	/* y[i] = value. */
	int (*fill)(struct ts_dev *dev, void *y, float value, int64_t n);
};

/**
 * struct ts_coll_ops - collectives on a group with NCCL's semantics. Every
 * member of the group calls the same collective with the same counts (SPMD);
 * counts are elements of the device dtype; @rank order is the device set's
 * ascending device order.
 */
struct ts_coll_ops {
	struct ts_abi_hdr hdr;
	/* Rank r sends send[j*count .. (j+1)*count) to rank j, receives into recv[r'*count ..]. */
	int (*all_to_all)(struct ts_comm *comm, const void *send, void *recv, int64_t count);
	/* recv = concat over ranks of send (count each). */
	int (*all_gather)(struct ts_comm *comm, const void *send, void *recv, int64_t count);
	/* buf on every rank = buf on root. */
	int (*broadcast)(struct ts_comm *comm, void *buf, int64_t count, int root);
	/* buf = elementwise sum over ranks, on every rank. */
	int (*all_reduce_sum)(struct ts_comm *comm, void *buf, int64_t count);
	int (*barrier)(struct ts_comm *comm);
	int (*rank)(const struct ts_comm *comm);
	int (*size)(const struct ts_comm *comm);
};

#endif /* TETRI_OPS_H */
