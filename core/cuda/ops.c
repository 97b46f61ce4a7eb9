// SPDX-License-Identifier: MIT
/*
 * core/cuda/ops.c - the CUDA op table (struct ts_ops): argument checks with a
 * message that names the op, then one kernel launch (or a cuBLASLt call) on
 * the device's stream. Launch errors come back through TS_CU with the call
 * site. Nothing here allocates on the hot path: embedding's ids go through
 * the device's grow-only scratch.
 */
#include <string.h>

#include "cuda_priv.h"

#define I(x) ((long long)(x))

static int op_gemm(struct ts_dev *dev, const struct ts_gemm *g)
{
	return ts_cuda_gemm(dev, g);
}

static int op_attention(struct ts_dev *dev, const struct ts_attention *a)
{
	int rc;

	if (a->batch < 0 || a->heads < 0 || a->q_len < 0 || a->kv_len < 0 || a->head_dim < 0 ||
	    a->batch > 65535 || a->heads > 65535)
		return TS_CUDA_BAD("attention", "batch=%lld heads=%lld q_len=%lld kv_len=%lld "
				   "head_dim=%lld", I(a->batch), I(a->heads), I(a->q_len),
				   I(a->kv_len), I(a->head_dim));
	if (a->q_tok < a->heads * a->head_dim || a->k_tok < a->heads * a->head_dim ||
	    a->v_tok < a->heads * a->head_dim || a->o_tok < a->heads * a->head_dim)
		return TS_CUDA_BAD("attention", "token strides %lld/%lld/%lld/%lld below "
				   "heads * head_dim = %lld", I(a->q_tok), I(a->k_tok),
				   I(a->v_tok), I(a->o_tok), I(a->heads * a->head_dim));
	if (!a->batch || !a->heads || !a->q_len || !a->head_dim)
		return 0;
	if (!a->q || !a->o || (a->kv_len && (!a->k || !a->v)))
		return TS_CUDA_BAD("attention", "NULL q, k, v or o");
	rc = ts_cuda_use(dev);
	if (rc)
		return rc;
	/* The fused kernels hold a head in registers; wider heads go through cuBLAS. */
	if (a->head_dim > 128 && a->kv_len)
		return ts_cuda_attention_big(dev, a);
	/* No keys at all: every row is zeros (beta 0 writes without reading). */
	for (int64_t b = 0; b < a->batch && !a->kv_len; b++) {
		char *o = (char *)a->o + (size_t)(b * a->o_batch) * ts_cuda_dt_size(dev->dt);

		rc = TS_CU(ts_k_bias_act(dev->stream, dev->dt, o, a->o_tok, a->q_len,
					 a->heads * a->head_dim, 0.0f, NULL, 0, TS_ACT_NONE));
		if (rc || b == a->batch - 1)
			return rc;
	}
	if (!dev->attn_smem_ok) {
		rc = TS_CU(ts_k_attention_setup());
		if (rc)
			return rc;
		dev->attn_smem_ok = 1;
	}
	return TS_CU(ts_k_attention(dev->stream, dev->dt, a, dev->attn_kind));
}

static int op_conv(struct ts_dev *dev, const struct ts_conv *c)
{
	return ts_cuda_conv(dev, c);
}

static int rows_ok(const char *op, const void *y, const void *x, int64_t rows, int64_t cols)
{
	if (rows < 0 || cols < 0 || rows > INT32_MAX || (rows && !cols))
		return TS_CUDA_BAD(op, "rows=%lld cols=%lld", I(rows), I(cols));
	if (rows && (!y || !x))
		return TS_CUDA_BAD(op, "NULL x or y");
	return 0;
}

static int op_layer_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
			 int64_t rows, int64_t cols, float eps)
{
	int rc = rows_ok("layer_norm", y, x, rows, cols);

	if (rc || !rows)
		return rc;
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_layer_norm(dev->stream, dev->dt, y, x, w, b, rows, cols, eps));
}

static int op_rms_norm(struct ts_dev *dev, void *y, const void *x, const void *w, int64_t rows,
		       int64_t cols, float eps)
{
	int rc = rows_ok("rms_norm", y, x, rows, cols);

	if (rc || !rows)
		return rc;
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_rms_norm(dev->stream, dev->dt, y, x, w, rows, cols, eps));
}

static int op_group_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
			 int64_t n, int64_t c, int64_t spatial, int groups, float eps)
{
	void *scratch;
	int rc;

	if (n < 0 || c < 0 || spatial < 0 || groups <= 0 || c % groups || n > 65535 ||
	    groups > 65535)
		return TS_CUDA_BAD("group_norm", "n=%lld c=%lld spatial=%lld groups=%d", I(n), I(c),
				   I(spatial), groups);
	if (!n || !c || !spatial)
		return 0;
	if (!y || !x)
		return TS_CUDA_BAD("group_norm", "NULL x or y");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	scratch = ts_cuda_scratch(dev, ts_k_group_norm_scratch(n, c, spatial, groups));
	if (!scratch)
		return TS_ENOMEM;
	return TS_CU(ts_k_group_norm(dev->stream, dev->dt, y, x, w, b, n, c, spatial, groups,
				     eps, scratch));
}

static int op_layer_norm_modulate(struct ts_dev *dev, void *y, const void *x, const void *shift,
				  const void *scale, int64_t batch, int64_t tokens, int64_t dim,
				  int64_t mod_stride, float eps)
{
	int rc;

	if (batch < 0 || tokens < 0 || dim < 0 || mod_stride < 0 || (batch && tokens && !dim) ||
	    batch * tokens > INT32_MAX)
		return TS_CUDA_BAD("layer_norm_modulate", "batch=%lld tokens=%lld dim=%lld "
				   "mod_stride=%lld", I(batch), I(tokens), I(dim), I(mod_stride));
	if (!batch || !tokens)
		return 0;
	if (!y || !x)
		return TS_CUDA_BAD("layer_norm_modulate", "NULL x or y");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_ln_modulate(dev->stream, dev->dt, y, x, shift, scale, batch,
					      tokens, dim, mod_stride, eps));
}

static int op_gated_residual(struct ts_dev *dev, void *x, const void *r, const void *gate,
			     int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride)
{
	int rc;

	if (batch < 0 || tokens < 0 || dim < 0 || gate_stride < 0)
		return TS_CUDA_BAD("gated_residual", "batch=%lld tokens=%lld dim=%lld "
				   "gate_stride=%lld", I(batch), I(tokens), I(dim), I(gate_stride));
	if (!batch || !tokens || !dim)
		return 0;
	if (!x || !r)
		return TS_CUDA_BAD("gated_residual", "NULL x or r");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_gated_residual(dev->stream, dev->dt, x, r, gate, batch, tokens,
						 dim, gate_stride));
}

static int op_activation(struct ts_dev *dev, void *y, const void *x, int64_t n, enum ts_act act)
{
	int rc;

	if (n < 0 || act < TS_ACT_NONE || act > TS_ACT_TANH || (n && (!y || !x)))
		return TS_CUDA_BAD("activation", "n=%lld act=%d", I(n), (int)act);
	if (!n)
		return 0;
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_activation(dev->stream, dev->dt, y, x, n, act));
}

static int op_softmax(struct ts_dev *dev, void *y, const void *x, int64_t rows, int64_t cols)
{
	int rc = rows_ok("softmax", y, x, rows, cols);

	if (rc || !rows)
		return rc;
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_softmax(dev->stream, dev->dt, y, x, rows, cols));
}

static int op_rope(struct ts_dev *dev, void *x, const void *freqs, int64_t n_freq, int64_t batch,
		   int64_t tokens, int64_t heads, int64_t head_dim, int64_t tok_stride,
		   int64_t batch_stride)
{
	int rc;

	if (n_freq < 0 || batch < 0 || tokens < 0 || heads < 0 || head_dim < 0 ||
	    2 * n_freq > head_dim || tok_stride < 0 || batch_stride < 0)
		return TS_CUDA_BAD("rope", "n_freq=%lld batch=%lld tokens=%lld heads=%lld "
				   "head_dim=%lld", I(n_freq), I(batch), I(tokens), I(heads),
				   I(head_dim));
	if (!n_freq || !batch || !tokens || !heads)
		return 0;
	if (!x || !freqs)
		return TS_CUDA_BAD("rope", "NULL x or freqs");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_rope(dev->stream, dev->dt, x, freqs, n_freq, batch, tokens,
				       heads, head_dim, tok_stride, batch_stride));
}

static int op_upsample_nearest(struct ts_dev *dev, void *y, const void *x, int64_t n, int64_t c,
			       int64_t t, int64_t h, int64_t w, int ft, int fh, int fw)
{
	int rc;

	if (n < 0 || c < 0 || t < 0 || h < 0 || w < 0 || ft < 1 || fh < 1 || fw < 1)
		return TS_CUDA_BAD("upsample_nearest", "n=%lld c=%lld t=%lld h=%lld w=%lld "
				   "factors %d,%d,%d", I(n), I(c), I(t), I(h), I(w), ft, fh, fw);
	if (!n || !c || !t || !h || !w)
		return 0;
	if (!y || !x)
		return TS_CUDA_BAD("upsample_nearest", "NULL x or y");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_upsample(dev->stream, dev->dt, y, x, n * c, t, h, w, ft, fh, fw));
}

static int op_embedding(struct ts_dev *dev, void *y, const void *table, int64_t rows, int64_t dim,
			const int64_t *ids, int64_t n)
{
	int64_t *dids;
	int rc;

	if (rows < 0 || dim < 0 || n < 0 || (n && (!y || !table || !ids)))
		return TS_CUDA_BAD("embedding", "rows=%lld dim=%lld n=%lld", I(rows), I(dim), I(n));
	for (int64_t i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= rows) {
			ts_cuda_log(TS_LOG_ERROR, "embedding: ids[%lld] = %lld outside [0, %lld)",
				    I(i), I(ids[i]), I(rows));
			return TS_ERANGE;
		}
	}
	if (!n || !dim)
		return 0;
	if ((rc = ts_cuda_use(dev)))
		return rc;
	dids = ts_cuda_scratch(dev, (size_t)n * sizeof(*dids));
	if (!dids)
		return TS_ENOMEM;
	/* From pageable memory this returns once @ids is staged, so the caller may reuse it. */
	rc = TS_CU(cudaMemcpyAsync(dids, ids, (size_t)n * sizeof(*dids), cudaMemcpyHostToDevice,
				   dev->stream));
	if (rc)
		return rc;
	return TS_CU(ts_k_embedding(dev->stream, dev->dt, y, table, dim, dids, n));
}

static int elem_ok(const char *op, int64_t n, const void *y, const void *a, const void *b)
{
	if (n < 0 || (n && (!y || !a || !b)))
		return TS_CUDA_BAD(op, "n=%lld or NULL operand", I(n));
	return 0;
}

static int op_add(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n)
{
	int rc = elem_ok("add", n, y, a, b);

	if (rc || !n || (rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_binary(dev->stream, dev->dt, y, a, b, n, 0));
}

static int op_mul(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n)
{
	int rc = elem_ok("mul", n, y, a, b);

	if (rc || !n || (rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_binary(dev->stream, dev->dt, y, a, b, n, 1));
}

static int op_axpby(struct ts_dev *dev, void *y, float alpha, const void *x, float beta, int64_t n)
{
	int rc = elem_ok("axpby", n, y, x, x);

	if (rc || !n || (rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_axpby(dev->stream, dev->dt, y, alpha, x, beta, n));
}

static int op_add_row(struct ts_dev *dev, void *y, const void *x, const void *v, int64_t batch,
		      int64_t n)
{
	int rc;

	if (batch < 0 || n < 0 || (batch && n && (!y || !x || !v)))
		return TS_CUDA_BAD("add_row", "batch=%lld n=%lld or NULL operand", I(batch), I(n));
	if (!batch || !n || (rc = ts_cuda_use(dev)))
		return !batch || !n ? 0 : rc;
	return TS_CU(ts_k_add_row(dev->stream, dev->dt, y, x, v, batch, n));
}

static int op_permute(struct ts_dev *dev, void *y, const void *x, int ndim, const int64_t *shape,
		      const int *perm)
{
	unsigned seen = 0;
	int64_t n = 1;
	int rc;

	if (ndim < 1 || ndim > TS_MAX_DIMS || !shape || !perm)
		return TS_CUDA_BAD("permute", "ndim=%d (1..%d)", ndim, TS_MAX_DIMS);
	for (int d = 0; d < ndim; d++) {
		if (perm[d] < 0 || perm[d] >= ndim || (seen & (1u << perm[d])) || shape[d] < 0)
			return TS_CUDA_BAD("permute", "perm[%d]=%d or shape[%d]=%lld is not valid",
					   d, perm[d], d, I(shape[d]));
		seen |= 1u << perm[d];
		n *= shape[d];
	}
	if (!n)
		return 0;
	if (!y || !x)
		return TS_CUDA_BAD("permute", "NULL x or y");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_permute(dev->stream, dev->dt, y, x, ndim, shape, perm));
}

static int op_copy2d(struct ts_dev *dev, void *y, int64_t ldy, const void *x, int64_t ldx,
		     int64_t rows, int64_t cols)
{
	int rc;

	if (rows < 0 || cols < 0 || (rows > 1 && (ldy < cols || ldx < cols)))
		return TS_CUDA_BAD("copy2d", "rows=%lld cols=%lld ldy=%lld ldx=%lld", I(rows),
				   I(cols), I(ldy), I(ldx));
	if (!rows || !cols)
		return 0;
	if (!y || !x)
		return TS_CUDA_BAD("copy2d", "NULL x or y");
	if ((rc = ts_cuda_use(dev)))
		return rc;
	return TS_CU(ts_k_copy2d(dev->stream, dev->dt, y, ldy, x, ldx, rows, cols));
}

static int op_fill(struct ts_dev *dev, void *y, float value, int64_t n)
{
	int rc;

	if (n < 0 || (n && !y))
		return TS_CUDA_BAD("fill", "n=%lld or NULL y", I(n));
	if (!n || (rc = ts_cuda_use(dev)))
		return !n ? 0 : rc;
	return TS_CU(ts_k_fill(dev->stream, dev->dt, y, value, n));
}

#define CUDA_OPS(dt_)                                              \
	{                                                          \
		.hdr = TS_ABI_HDR(TS_MAGIC_OPS, struct ts_ops),    \
		.dtype = (dt_),                                    \
		.gemm = op_gemm,                                   \
		.attention = op_attention,                         \
		.conv = op_conv,                                   \
		.layer_norm = op_layer_norm,                       \
		.rms_norm = op_rms_norm,                           \
		.group_norm = op_group_norm,                       \
		.layer_norm_modulate = op_layer_norm_modulate,     \
		.gated_residual = op_gated_residual,               \
		.activation = op_activation,                       \
		.softmax = op_softmax,                             \
		.rope = op_rope,                                   \
		.upsample_nearest = op_upsample_nearest,           \
		.embedding = op_embedding,                         \
		.add = op_add,                                     \
		.mul = op_mul,                                     \
		.axpby = op_axpby,                                 \
		.add_row = op_add_row,                             \
		.permute = op_permute,                             \
		.copy2d = op_copy2d,                               \
		.fill = op_fill,                                   \
	}

static const struct ts_ops cuda_ops_f32 = CUDA_OPS(TS_F32);
static const struct ts_ops cuda_ops_bf16 = CUDA_OPS(TS_BF16);

const struct ts_ops *ts_cuda_ops(struct ts_dev *dev)
{
	return dev->dt == TS_CUDA_BF16 ? &cuda_ops_bf16 : &cuda_ops_f32;
}
