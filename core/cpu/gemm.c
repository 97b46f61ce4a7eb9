// SPDX-License-Identifier: MIT
/*
 * core/cpu/gemm.c - C = act(alpha op(A) op(B) + beta C + bias), batched,
 * through single-threaded OpenBLAS sgemm calls that the device's team runs
 * on blocks of C (see cpu.h for why OpenBLAS itself stays single-threaded).
 */
#include <string.h>

#include <cblas.h>

#include <tetri/error.h>

#include "cpu.h"

/* Below this many multiply-adds a GEMM is not worth splitting across threads. */
#define GEMM_SPLIT_MACS (1 << 18)
/* Column/row blocks are multiples of this, matching OpenBLAS's register tiles. */
#define GEMM_ALIGN 16
/*
 * Blocks per thread: more than one, so a thread the OS descheduled on the
 * shared machine costs the team a block rather than half the GEMM (blocks
 * are taken dynamically); not many more, since every block repacks the
 * shared operand (4 per thread measured 2-5% slower than 1 or 2 at K = 4608).
 * Narrower than GEMM_MIN_BLOCK is not worth a call.
 */
#define GEMM_BLOCKS_PER_THREAD 2
#define GEMM_MIN_BLOCK 192

struct gemm_job {
	const struct ts_gemm *g;
	int64_t chunks;     /* blocks per GEMM of the batch */
	int split_n;        /* blocks are column ranges (else row ranges) */
	int64_t block;      /* columns or rows per block */
};

/* C[rows, cols] = beta C + bias (beta 0 never reads C, so poisoned C is fine). */
static void gemm_prefill(float *c, int64_t ldc, int64_t rows, int64_t cols, float beta,
			 const float *bias)
{
	for (int64_t i = 0; i < rows; i++) {
		float *ci = c + i * ldc;

		if (beta == 0.0f && bias)
			memcpy(ci, bias, (size_t)cols * sizeof(float));
		else if (beta == 0.0f)
			memset(ci, 0, (size_t)cols * sizeof(float));
		else if (bias)
			for (int64_t j = 0; j < cols; j++)
				ci[j] = beta * ci[j] + bias[j];
		else
			for (int64_t j = 0; j < cols; j++)
				ci[j] *= beta;
	}
}

static void gemm_block(const struct ts_gemm *g, int64_t bi, int64_t i0, int64_t rows, int64_t j0,
		       int64_t cols)
{
	const float *a = (const float *)g->a + bi * g->stride_a;
	const float *b = (const float *)g->b + bi * g->stride_b;
	float *c = (float *)g->c + bi * g->stride_c + i0 * g->ldc + j0;
	const float *bias = g->bias ? (const float *)g->bias + j0 : NULL;
	float beta = g->beta;

	a += g->trans_a ? i0 : i0 * g->lda;
	b += g->trans_b ? j0 * g->ldb : j0;
	if (bias || g->k == 0) {
		gemm_prefill(c, g->ldc, rows, cols, beta, bias);
		beta = 1.0f;
	}
	if (g->k > 0)
		cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans,
			    g->trans_b ? CblasTrans : CblasNoTrans, (int)rows, (int)cols,
			    (int)g->k, g->alpha, a, (int)g->lda, b, (int)g->ldb, beta, c,
			    (int)g->ldc);
	if (g->act != TS_ACT_NONE)
		for (int64_t i = 0; i < rows; i++)
			ts_cpu_act_apply(c + i * g->ldc, cols, g->act);
}

static void gemm_task(void *arg, int64_t task, int tid)
{
	const struct gemm_job *job = arg;
	const struct ts_gemm *g = job->g;
	int64_t bi = task / job->chunks, blk = task % job->chunks;
	int64_t lo = blk * job->block, dim = job->split_n ? g->n : g->m;
	int64_t len = dim - lo < job->block ? dim - lo : job->block;

	if (len <= 0)
		return;
	if (job->split_n)
		gemm_block(g, bi, 0, g->m, lo, len);
	else
		gemm_block(g, bi, lo, len, 0, g->n);
}

static int gemm_check(const struct ts_gemm *g)
{
	int64_t batch = g->batch > 1 ? g->batch : 1;

	if (g->m < 0 || g->n < 0 || g->k < 0 || g->batch < 0)
		return ts_cpu_bad("gemm", "negative size");
	if (g->m > INT32_MAX || g->n > INT32_MAX || g->k > INT32_MAX || g->lda > INT32_MAX ||
	    g->ldb > INT32_MAX || g->ldc > INT32_MAX)
		return ts_cpu_bad("gemm", "size exceeds what BLAS takes");
	if (g->m == 0 || g->n == 0)
		return 0;
	if (!g->c || (g->k && (!g->a || !g->b)))
		return ts_cpu_bad("gemm", "NULL buffer");
	/* With k = 0 neither A nor B is read, so their strides do not matter. */
	if (g->k && (g->lda < (g->trans_a ? g->m : g->k) || g->lda < 1))
		return ts_cpu_bad("gemm", "lda too small");
	if (g->k && (g->ldb < (g->trans_b ? g->k : g->n) || g->ldb < 1))
		return ts_cpu_bad("gemm", "ldb too small");
	if (g->ldc < g->n)
		return ts_cpu_bad("gemm", "ldc too small");
	if (batch > 1 && (g->stride_a < 0 || g->stride_b < 0 ||
			  g->stride_c < g->ldc * (g->m - 1) + g->n))
		return ts_cpu_bad("gemm", "batch strides overlap the outputs");
	if ((unsigned)g->act > TS_ACT_TANH)
		return ts_cpu_bad("gemm", "unknown activation");
	return 0;
}

int ts_cpu_gemm(struct ts_dev *dev, const struct ts_gemm *g)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);
	int64_t batch = g->batch > 1 ? g->batch : 1;
	struct gemm_job job = { .g = g, .chunks = 1 };
	int ret = gemm_check(g);

	if (ret || g->m == 0 || g->n == 0)
		return ret;
	job.split_n = g->n >= g->m;
	job.block = job.split_n ? g->n : g->m;
	/*
	 * Split each GEMM only when the batch alone cannot keep the team busy:
	 * every block repacks the shared operand, which one thread need not pay.
	 */
	if (d->threads > 1 && batch < d->threads * GEMM_BLOCKS_PER_THREAD &&
	    (double)g->m * g->n * g->k >= GEMM_SPLIT_MACS) {
		int64_t dim = job.block;
		int64_t per = (d->threads * GEMM_BLOCKS_PER_THREAD + batch - 1) / batch;
		int64_t blk = (dim + per - 1) / per, min = (dim + d->threads - 1) / d->threads;

		/* Not narrower than the floor, unless that would idle a thread. */
		if (blk < GEMM_MIN_BLOCK)
			blk = min < GEMM_MIN_BLOCK ? min : GEMM_MIN_BLOCK;
		blk = (blk + GEMM_ALIGN - 1) / GEMM_ALIGN * GEMM_ALIGN;
		job.block = blk < dim ? blk : dim;
		job.chunks = (dim + job.block - 1) / job.block;
	}
	ts_cpu_parallel(d, batch * job.chunks, gemm_task, &job);
	return 0;
}
