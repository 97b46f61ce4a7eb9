// SPDX-License-Identifier: MIT
/*
 * core/cuda/gemm.c - struct ts_gemm through cuBLASLt, with the bias (and in
 * bf16 the tanh-GELU) fused into the epilogue.
 *
 * cuBLAS is column-major; a row-major C (m x n) is the column-major C^T, so
 * we ask for C^T = op(B)^T op(A)^T: B's memory is cuBLAS's first operand and
 * A's the second, with m and n swapped. The bias [n] then runs along the
 * rows of the column-major result, which is what the BIAS epilogue adds.
 *
 * Descriptors and the heuristic's algorithm are cached per device by shape,
 * strides and pointer alignment, so a repeated GEMM costs one attribute set
 * (the bias pointer) and the matmul itself. When cuBLASLt has no algorithm
 * for a shape, cublasGemmStridedBatchedEx and an epilogue kernel take over.
 */
#include <stdlib.h>
#include <string.h>

#include "cuda_priv.h"

struct gemm_key {
	int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
	int ta, tb;
	uint32_t epi;
	uint32_t align_a, align_b, align_c;
};

struct ts_cuda_gemm_plan {
	struct gemm_key key;
	unsigned used;
	int usable; /* 0: cuBLASLt found no algorithm, use the fallback */
	cublasLtMatmulDesc_t op;
	cublasLtMatrixLayout_t la, lb, lc;
	cublasLtMatmulAlgo_t algo;
};

static void plan_free(struct ts_cuda_gemm_plan *p)
{
	if (!p)
		return;
	if (p->lc)
		cublasLtMatrixLayoutDestroy(p->lc);
	if (p->lb)
		cublasLtMatrixLayoutDestroy(p->lb);
	if (p->la)
		cublasLtMatrixLayoutDestroy(p->la);
	if (p->op)
		cublasLtMatmulDescDestroy(p->op);
	free(p);
}

void ts_cuda_gemm_cache_free(struct ts_dev *dev)
{
	for (int i = 0; i < TS_CUDA_GEMM_CACHE; i++) {
		plan_free(dev->plans[i]);
		dev->plans[i] = NULL;
	}
}

/* Largest power of two (<= 256) dividing the address: what cuBLASLt may assume. */
static uint32_t ptr_align(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uint32_t al = 256;

	while (al > 1 && (a & (al - 1)))
		al >>= 1;
	return al;
}

/*
 * Alignment every row of every batch entry of an operand keeps: the base's,
 * lowered by what the leading dimension and the batch stride (bytes) allow,
 * so a kernel that assumes the base's alignment for each row is never picked.
 */
static uint32_t operand_align(const void *p, int64_t ld, int64_t stride, size_t esz)
{
	uintptr_t bits = (uintptr_t)p | (uintptr_t)(ld * (int64_t)esz) |
			 (uintptr_t)(stride * (int64_t)esz);

	return ptr_align((const void *)bits);
}

static int layout(cublasLtMatrixLayout_t *l, cudaDataType_t t, int64_t rows, int64_t cols,
		  int64_t ld, int64_t batch, int64_t stride)
{
	int32_t bc = (int32_t)batch;
	int rc;

	rc = TS_CUBLAS(cublasLtMatrixLayoutCreate(l, t, (uint64_t)rows, (uint64_t)cols, ld));
	if (rc || batch <= 1)
		return rc;
	rc = TS_CUBLAS(cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &bc,
							sizeof(bc)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatrixLayoutSetAttribute(
			*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
	return rc;
}

static int plan_build(struct ts_dev *dev, struct ts_cuda_gemm_plan *p)
{
	const struct gemm_key *k = &p->key;
	cudaDataType_t t = dev->dt == TS_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	cublasOperation_t opa = k->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasOperation_t opb = k->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
	cublasLtMatmulPreference_t pref = NULL;
	cublasLtMatmulHeuristicResult_t res;
	uint64_t ws = dev->lt_ws_bytes;
	int found = 0, rc;

	rc = TS_CUBLAS(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA,
							      &opa, sizeof(opa)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB,
							      &opb, sizeof(opb)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE,
							      &k->epi, sizeof(k->epi)));
	/* The first operand is B's memory: stored n x k (no transpose) or k x n. */
	if (!rc)
		rc = layout(&p->la, t, k->tb ? k->k : k->n, k->tb ? k->n : k->k, k->ldb, k->batch,
			    k->sb);
	if (!rc)
		rc = layout(&p->lb, t, k->ta ? k->m : k->k, k->ta ? k->k : k->m, k->lda, k->batch,
			    k->sa);
	if (!rc)
		rc = layout(&p->lc, t, k->n, k->m, k->ldc, k->batch, k->sc);
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
			pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
	/* Operands inside larger buffers (q/k/v chunks) are not 256-byte aligned. */
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
			pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k->align_b,
			sizeof(k->align_b)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
			pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k->align_a,
			sizeof(k->align_a)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
			pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k->align_c,
			sizeof(k->align_c)));
	if (!rc)
		rc = TS_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
			pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k->align_c,
			sizeof(k->align_c)));
	if (rc)
		goto out;
	/* No algorithm is not an error: the fallback handles every shape. */
	if (cublasLtMatmulAlgoGetHeuristic(dev->lt, p->op, p->la, p->lb, p->lc, p->lc, pref, 1,
					   &res, &found) == CUBLAS_STATUS_SUCCESS &&
	    found > 0) {
		p->algo = res.algo;
		p->usable = 1;
	}
out:
	if (pref)
		cublasLtMatmulPreferenceDestroy(pref);
	return rc;
}

static int plan_get(struct ts_dev *dev, const struct gemm_key *key, struct ts_cuda_gemm_plan **out)
{
	struct ts_cuda_gemm_plan *p;
	int victim = 0, rc;

	for (int i = 0; i < TS_CUDA_GEMM_CACHE; i++) {
		p = dev->plans[i];
		if (!p) {
			victim = i;
			break;
		}
		if (!memcmp(&p->key, key, sizeof(*key))) {
			p->used = ++dev->plan_clock;
			*out = p;
			return 0;
		}
		if (p->used < dev->plans[victim]->used)
			victim = i;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return TS_ENOMEM;
	p->key = *key;
	rc = plan_build(dev, p);
	if (rc) {
		plan_free(p);
		return rc;
	}
	plan_free(dev->plans[victim]);
	dev->plans[victim] = p;
	p->used = ++dev->plan_clock;
	*out = p;
	return 0;
}

static int check_args(const struct ts_gemm *g)
{
	if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0 || g->batch > INT32_MAX)
		return TS_CUDA_BAD("gemm", "m=%lld n=%lld k=%lld batch=%lld", (long long)g->m,
				   (long long)g->n, (long long)g->k, (long long)g->batch);
	if (g->m == 0 || g->n == 0)
		return 0;
	if (!g->c || (g->k && (!g->a || !g->b)))
		return TS_CUDA_BAD("gemm", "NULL operand");
	if (g->ldc < g->n || (g->k && (g->lda < (g->trans_a ? g->m : g->k) ||
				      g->ldb < (g->trans_b ? g->k : g->n))))
		return TS_CUDA_BAD("gemm", "leading dimensions lda=%lld ldb=%lld ldc=%lld "
				   "too small for m=%lld n=%lld k=%lld", (long long)g->lda,
				   (long long)g->ldb, (long long)g->ldc, (long long)g->m,
				   (long long)g->n, (long long)g->k);
	if (g->act < TS_ACT_NONE || g->act > TS_ACT_TANH)
		return TS_CUDA_BAD("gemm", "unknown activation %d", (int)g->act);
	return 0;
}

/* bias + activation over every batch entry of C, after a GEMM that did neither. */
static int epilogue_kernel(struct ts_dev *dev, const struct ts_gemm *g, int64_t batch, float beta,
			   const void *bias, int act)
{
	size_t esz = ts_cuda_dt_size(dev->dt);

	for (int64_t i = 0; i < batch; i++) {
		char *c = (char *)g->c + (size_t)(i * g->stride_c) * esz;
		int rc = TS_CU(ts_k_bias_act(dev->stream, dev->dt, c, g->ldc, g->m, g->n, beta,
					     bias, 0, act));

		if (rc)
			return rc;
		/* stride_c == 0: every entry writes one C; once is what cuBLAS would leave. */
		if (!g->stride_c)
			break;
	}
	return 0;
}

static int gemm_fallback(struct ts_dev *dev, const struct ts_gemm *g, int64_t batch)
{
	cudaDataType_t t = dev->dt == TS_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F;
	int rc;

	rc = TS_CUBLAS(cublasGemmStridedBatchedEx(
		dev->blas, g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
		g->trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)g->n, (int)g->m, (int)g->k, &g->alpha,
		g->b, t, (int)g->ldb, g->stride_b, g->a, t, (int)g->lda, g->stride_a, &g->beta,
		g->c, t, (int)g->ldc, g->stride_c, (int)batch, CUBLAS_COMPUTE_32F,
		CUBLAS_GEMM_DEFAULT));
	if (rc || (!g->bias && g->act == TS_ACT_NONE))
		return rc;
	return epilogue_kernel(dev, g, batch, 1.0f, g->bias, g->act);
}

int ts_cuda_gemm(struct ts_dev *dev, const struct ts_gemm *g)
{
	struct ts_cuda_gemm_plan *p;
	struct gemm_key key;
	int64_t batch = g->batch > 1 ? g->batch : 1;
	int fuse_act, fuse_bias, rc;
	cublasStatus_t st;

	rc = check_args(g);
	if (rc || g->m == 0 || g->n == 0)
		return rc;
	rc = ts_cuda_use(dev);
	if (rc)
		return rc;
	if (g->k == 0) /* C = act(beta C + bias): no product to take */
		return epilogue_kernel(dev, g, batch, g->beta, g->bias, g->act);

	/*
	 * cuBLASLt's GELU epilogue is the tanh form, but with its own tanh: fused in
	 * bf16 only, where it is far inside the storage rounding; fp32 (the test
	 * mode) applies ours. SiLU and tanh have no epilogue.
	 */
	fuse_act = g->act == TS_ACT_NONE || (g->act == TS_ACT_GELU_TANH && dev->dt == TS_CUDA_BF16);
	fuse_bias = g->bias && ptr_align(g->bias) >= 16;
	/* The activation comes after the bias: an unfused bias unfuses it too. */
	if (g->bias && !fuse_bias)
		fuse_act = g->act == TS_ACT_NONE;
	memset(&key, 0, sizeof(key));
	key.m = g->m;
	key.n = g->n;
	key.k = g->k;
	key.lda = g->lda;
	key.ldb = g->ldb;
	key.ldc = g->ldc;
	key.batch = batch;
	key.sa = batch > 1 ? g->stride_a : 0;
	key.sb = batch > 1 ? g->stride_b : 0;
	key.sc = batch > 1 ? g->stride_c : 0;
	key.ta = !!g->trans_a;
	key.tb = !!g->trans_b;
	if (fuse_act && g->act == TS_ACT_GELU_TANH)
		key.epi = fuse_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
	else
		key.epi = fuse_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
	key.align_a = operand_align(g->a, g->lda, key.sa, ts_cuda_dt_size(dev->dt));
	key.align_b = operand_align(g->b, g->ldb, key.sb, ts_cuda_dt_size(dev->dt));
	key.align_c = operand_align(g->c, g->ldc, key.sc, ts_cuda_dt_size(dev->dt));

	/* A batch sharing an operand (stride 0) goes to cuBLAS, which documents that case. */
	if (batch > 1 && (!g->stride_a || !g->stride_b || !g->stride_c))
		return gemm_fallback(dev, g, batch);
	rc = plan_get(dev, &key, &p);
	if (rc)
		return rc;
	if (!p->usable)
		return gemm_fallback(dev, g, batch);
	if (fuse_bias) {
		rc = TS_CUBLAS(cublasLtMatmulDescSetAttribute(
			p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof(g->bias)));
		if (rc)
			return rc;
	}
	st = cublasLtMatmul(dev->lt, p->op, &g->alpha, g->b, p->la, g->a, p->lb, &g->beta, g->c,
			    p->lc, g->c, p->lc, &p->algo, dev->lt_ws, dev->lt_ws_bytes,
			    dev->stream);
	if (st == CUBLAS_STATUS_NOT_SUPPORTED) {
		/* The heuristic's choice refused these pointers after all: stop asking it. */
		p->usable = 0;
		return gemm_fallback(dev, g, batch);
	}
	rc = TS_CUBLAS(st);
	if (rc)
		return rc;
	if ((g->bias && !fuse_bias) || !fuse_act)
		return epilogue_kernel(dev, g, batch, 1.0f, fuse_bias ? NULL : g->bias,
				       fuse_act ? TS_ACT_NONE : g->act);
	return 0;
}
