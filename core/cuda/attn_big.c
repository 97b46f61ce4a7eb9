// SPDX-License-Identifier: MIT
/*
 * core/cuda/attn_big.c - attention for head dims past the fused kernels'
 * 128 (the VAE's single-head attention over 512 channels): per batch entry
 * and chunk of query rows, S = scale Q K^T (fp32) by a strided-batched GEMM
 * over heads, a masked row softmax into P (storage dtype), then O = P V by a
 * second GEMM. Unlike the fused kernels this stores a chunk of the score
 * matrix; the chunk is sized so S and P stay within a bounded scratch.
 */
#include "cuda_priv.h"

#define BIG_SCRATCH (128u << 20) /* bytes of S and P per chunk, at most */

int ts_cuda_attention_big(struct ts_dev *dev, const struct ts_attention *a)
{
	cudaDataType_t t = dev->dt == TS_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	size_t esz = ts_cuda_dt_size(dev->dt);
	int64_t per_row = a->heads * a->kv_len * (int64_t)(4 + esz), qc;
	float one = 1.0f, zero = 0.0f;
	float *s;
	char *p;
	int rc;

	if (a->heads > INT32_MAX || a->kv_len > INT32_MAX || a->q_tok > INT32_MAX ||
	    a->k_tok > INT32_MAX || a->v_tok > INT32_MAX || a->o_tok > INT32_MAX)
		return TS_CUDA_BAD("attention", "sizes past cuBLAS's int range");
	qc = per_row > 0 ? (int64_t)BIG_SCRATCH / per_row : a->q_len;
	if (qc < 1)
		qc = 1;
	if (qc > a->q_len)
		qc = a->q_len;
	s = ts_cuda_scratch(dev, (size_t)(qc * per_row));
	if (!s)
		return TS_ENOMEM;
	p = (char *)(s + a->heads * qc * a->kv_len);

	for (int64_t b = 0; b < a->batch; b++) {
		const uint8_t *mask = a->key_mask ? a->key_mask + b * a->kv_len : NULL;
		const char *k = (const char *)a->k + (size_t)(b * a->k_batch) * esz;
		const char *v = (const char *)a->v + (size_t)(b * a->v_batch) * esz;

		for (int64_t q0 = 0; q0 < a->q_len; q0 += qc) {
			int64_t n = a->q_len - q0 < qc ? a->q_len - q0 : qc;
			size_t qo = (size_t)(b * a->q_batch + q0 * a->q_tok) * esz;
			size_t oo = (size_t)(b * a->o_batch + q0 * a->o_tok) * esz;

			/* S[h] (n x kv, row-major) = scale Q[h] K[h]^T: column-major S^T = K Q^T */
			rc = TS_CUBLAS(cublasGemmStridedBatchedEx(
				dev->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)a->kv_len, (int)n,
				(int)a->head_dim, &a->scale, k, t, (int)a->k_tok, a->head_dim,
				(const char *)a->q + qo, t, (int)a->q_tok, a->head_dim, &zero, s,
				CUDA_R_32F, (int)a->kv_len, n * a->kv_len, (int)a->heads,
				CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
			if (!rc)
				rc = TS_CU(ts_k_softmax_masked(dev->stream, dev->dt, p, s,
							       a->heads * n, a->kv_len, mask));
			/* O[h] (n x hd, rows o_tok apart) = P[h] V[h]: col-major O^T = V^T P^T */
			if (!rc)
				rc = TS_CUBLAS(cublasGemmStridedBatchedEx(
					dev->blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)a->head_dim,
					(int)n, (int)a->kv_len, &one, v, t, (int)a->v_tok,
					a->head_dim, p, t, (int)a->kv_len, n * a->kv_len, &zero,
					(char *)a->o + oo, t, (int)a->o_tok, a->head_dim,
					(int)a->heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
			if (rc)
				return rc;
		}
	}
	return 0;
}
