// SPDX-License-Identifier: MIT
/*
 * core/cuda/k_attn.cu - fused multi-head attention, flash-attention style:
 * each block owns a tile of query rows of one (batch, head), walks the keys
 * in tiles held in shared memory, and keeps a running max and sum per row
 * (online softmax), so the score matrix never reaches device memory.
 *
 * Three kernels compute the same function; TS_CUDA_ATTN picks one for bf16
 * (fa, the default, in k_attn_fa.cu; wmma; simt), fp32 always uses simt:
 *  - k_attn_fa (k_attn_fa.cu): mma.sync with everything in registers.
 *  - k_attn_mma (TS_CUDA_ATTN=wmma): Q K^T and P V on the tensor cores through
 *    WMMA (16x16x16 bf16 -> fp32), 64 query rows (16 per warp) against
 *    64-key tiles; head dim padded to 64, 80 or 128 with zeros.
 *  - k_attn_simt (fp32 storage, or TS_CUDA_ATTN=simt): fp32 FMAs, 32 query
 *    rows (8 per warp) against 32-key tiles, one key per lane for the scores.
 * Scores are scaled by scale*log2(e) so exp2f does the exponentials. A key
 * masked out (or past kv_len) scores -inf; a row with every key masked keeps
 * l == 0 and is written as zeros.
 */
#include <mma.h>

#include "kcommon.cuh"

using namespace nvcuda;

#define LOG2E 1.4426950408889634f

static __device__ __forceinline__ int64_t head_off(int64_t b, int64_t t, int64_t h,
						   int64_t tok, int64_t batch, int64_t hd)
{
	return b * batch + t * tok + h * hd;
}

/* ---------------------------------------------------------------- SIMT */

#define S_BQ 32
#define S_BK 32
#define S_THREADS 128

template <int DMAX>
static size_t simt_smem(void)
{
	return sizeof(float) * (S_BQ * DMAX + S_BK * (DMAX + 1) + S_BK * DMAX) + S_BK;
}

template <typename T, int DMAX>
__global__ void __launch_bounds__(S_THREADS)
k_attn_simt(struct ts_attention a, float sl2)
{
	constexpr int E = DMAX / 32; /* output dims per lane */
	constexpr int R = S_BQ / (S_THREADS / 32); /* query rows per warp */
	extern __shared__ __align__(128) unsigned char smem[];
	float *qs = (float *)smem;              /* [S_BQ][DMAX], pre-scaled */
	float *ks = qs + S_BQ * DMAX;           /* [S_BK][DMAX+1]: +1 puts lane j's row */
						/* in a bank of its own */
	float *vs = ks + S_BK * (DMAX + 1);     /* [S_BK][DMAX] */
	unsigned char *ok = (unsigned char *)(vs + S_BK * DMAX); /* [S_BK] */
	int64_t b = blockIdx.z, h = blockIdx.y, q0 = (int64_t)blockIdx.x * S_BQ;
	int64_t hd = a.head_dim;
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	const T *q = (const T *)a.q, *k = (const T *)a.k, *v = (const T *)a.v;
	float o[R][E], m[R], l[R];

	for (int i = threadIdx.x; i < S_BQ * DMAX; i += S_THREADS) {
		int r = i / DMAX, d = i % DMAX;
		float x = 0.0f;

		if (q0 + r < a.q_len && d < hd)
			x = ld(q + head_off(b, q0 + r, h, a.q_tok, a.q_batch, hd) + d) * sl2;
		qs[i] = x;
	}
#pragma unroll
	for (int r = 0; r < R; r++) {
		m[r] = -INFINITY;
		l[r] = 0.0f;
#pragma unroll
		for (int e = 0; e < E; e++)
			o[r][e] = 0.0f;
	}

	for (int64_t k0 = 0; k0 < a.kv_len; k0 += S_BK) {
		__syncthreads(); /* the previous tile is no longer read */
		for (int i = threadIdx.x; i < S_BK * DMAX; i += S_THREADS) {
			int j = i / DMAX, d = i % DMAX;
			float kx = 0.0f, vx = 0.0f;

			if (k0 + j < a.kv_len && d < hd) {
				kx = ld(k + head_off(b, k0 + j, h, a.k_tok, a.k_batch, hd) + d);
				vx = ld(v + head_off(b, k0 + j, h, a.v_tok, a.v_batch, hd) + d);
			}
			ks[j * (DMAX + 1) + d] = kx;
			vs[j * DMAX + d] = vx;
		}
		if (threadIdx.x < S_BK) {
			int64_t j = k0 + threadIdx.x;

			ok[threadIdx.x] = j < a.kv_len &&
					  (!a.key_mask || a.key_mask[b * a.kv_len + j]);
		}
		__syncthreads();

#pragma unroll
		for (int r = 0; r < R; r++) {
			const float *qr = qs + (w * R + r) * DMAX;
			const float *kr = ks + lane * (DMAX + 1);
			float s = 0.0f, mt, mn, p, alpha;

#pragma unroll 8
			for (int d = 0; d < DMAX; d++)
				s += qr[d] * kr[d];
			s = ok[lane] ? s : -INFINITY;
			mt = warp_max(s);
			mn = fmaxf(m[r], mt);
			if (mn == -INFINITY) { /* every key so far masked: nothing to add */
				p = 0.0f;
				alpha = 1.0f;
			} else {
				p = exp2f(s - mn);
				alpha = exp2f(m[r] - mn);
			}
			l[r] = l[r] * alpha + warp_sum(p);
			m[r] = mn;
#pragma unroll
			for (int e = 0; e < E; e++)
				o[r][e] *= alpha;
			for (int j = 0; j < S_BK; j++) {
				float pj = __shfl_sync(0xffffffffu, p, j);

#pragma unroll
				for (int e = 0; e < E; e++)
					o[r][e] += pj * vs[j * DMAX + lane + 32 * e];
			}
		}
	}

#pragma unroll
	for (int r = 0; r < R; r++) {
		int64_t t = q0 + w * R + r;
		float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
		T *orow;

		if (t >= a.q_len)
			continue;
		orow = (T *)a.o + head_off(b, t, h, a.o_tok, a.o_batch, hd);
#pragma unroll
		for (int e = 0; e < E; e++) {
			int d = lane + 32 * e;

			if (d < hd)
				st(orow + d, o[r][e] * inv);
		}
	}
}

/* ------------------------------------------------------------- tensor core */

#define M_BQ 64
#define M_BK 64
#define M_THREADS 128
#define M_PAD 8 /* bf16 elements of row padding: rows stay 32-byte multiples, banks shift */

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> frag_b;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> frag_bt;

template <int DP>
struct mma_geom {
	static constexpr int LDQ = DP + M_PAD;                  /* Q, K, V tiles (bf16) */
	static constexpr int LDS = M_BK + 4;                    /* scores (fp32) */
	static constexpr int LDO = DP + 4;                      /* P V product (fp32) */
	static constexpr int SF = 16 * (LDS > LDO ? LDS : LDO); /* fp32 scratch per warp */
	static constexpr int LDP = M_BK + M_PAD;                /* probabilities (bf16) */
	static constexpr size_t bytes = 2 * (size_t)(3 * 64 * LDQ) + 4 * (size_t)(4 * SF) +
					2 * (size_t)(4 * 16 * LDP);
};

/*
 * Copy rows [r0, r0+64) of one head into a [64][LDQ] bf16 tile, zero past
 * @rows and past head_dim. 16-byte loads when @vec (head_dim, strides and
 * base all multiples of 8 elements).
 */
template <int DP>
static __device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, int64_t b, int64_t h,
						 int64_t r0, int64_t rows, int64_t tok,
						 int64_t batch, int64_t hd, int vec)
{
	constexpr int LDQ = mma_geom<DP>::LDQ;

	if (vec) {
		for (int i = threadIdx.x; i < 64 * (DP / 8); i += M_THREADS) {
			int r = i / (DP / 8), d = (i % (DP / 8)) * 8;
			uint4 x = make_uint4(0, 0, 0, 0);

			if (r0 + r < rows && d < hd)
				x = *(const uint4 *)(src + d +
						     head_off(b, r0 + r, h, tok, batch, hd));
			*(uint4 *)(dst + r * LDQ + d) = x;
		}
		return;
	}
	for (int i = threadIdx.x; i < 64 * DP; i += M_THREADS) {
		int r = i / DP, d = i % DP;
		bf16 x = __float2bfloat16(0.0f);

		if (r0 + r < rows && d < hd)
			x = src[head_off(b, r0 + r, h, tok, batch, hd) + d];
		dst[r * LDQ + d] = x;
	}
}

template <int DP>
__global__ void __launch_bounds__(M_THREADS)
k_attn_mma(struct ts_attention a, float sl2, int vec)
{
	typedef mma_geom<DP> G;
	constexpr int HALF = DP / 2; /* output columns per lane */
	extern __shared__ __align__(128) unsigned char smem[];
	bf16 *qs = (bf16 *)smem;
	bf16 *ks = qs + 64 * G::LDQ;
	bf16 *vs = ks + 64 * G::LDQ;
	int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	float *sf = (float *)(vs + 64 * G::LDQ) + w * G::SF;
	bf16 *pb = (bf16 *)((float *)(vs + 64 * G::LDQ) + 4 * G::SF) + w * 16 * G::LDP;
	int64_t b = blockIdx.z, h = blockIdx.y, q0 = (int64_t)blockIdx.x * M_BQ;
	int64_t hd = a.head_dim;
	int row = lane >> 1, c0 = (lane & 1) * HALF; /* this lane's output row and columns */
	int s0 = (lane & 1) * (M_BK / 2);              /* and its half of the score row */
	float o[HALF], m = -INFINITY, l = 0.0f;

	load_tile<DP>(qs, (const bf16 *)a.q, b, h, q0, a.q_len, a.q_tok, a.q_batch, hd, vec);
#pragma unroll
	for (int e = 0; e < HALF; e++)
		o[e] = 0.0f;

	for (int64_t k0 = 0; k0 < a.kv_len; k0 += M_BK) {
		float alpha, mt = -INFINITY, mn, ps = 0.0f;

		__syncthreads(); /* every warp is done with the previous K/V tile */
		load_tile<DP>(ks, (const bf16 *)a.k, b, h, k0, a.kv_len, a.k_tok, a.k_batch, hd,
			      vec);
		load_tile<DP>(vs, (const bf16 *)a.v, b, h, k0, a.kv_len, a.v_tok, a.v_batch, hd,
			      vec);
		__syncthreads();

		/* S (16 x 64) = Q_w (16 x DP) K^T (DP x 64) */
#pragma unroll
		for (int j = 0; j < M_BK / 16; j++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;

			wmma::fill_fragment(acc, 0.0f);
#pragma unroll
			for (int kk = 0; kk < DP / 16; kk++) {
				frag_a fa;
				frag_bt fb;

				wmma::load_matrix_sync(fa, qs + (w * 16) * G::LDQ + kk * 16,
						       G::LDQ);
				wmma::load_matrix_sync(fb, ks + (j * 16) * G::LDQ + kk * 16,
						       G::LDQ);
				wmma::mma_sync(acc, fa, fb, acc);
			}
			wmma::store_matrix_sync(sf + j * 16, acc, G::LDS, wmma::mem_row_major);
		}
		__syncwarp();

		/* Online softmax: this lane holds half of row @row; its partner the other half. */
		float s[M_BK / 2];
#pragma unroll
		for (int c = 0; c < M_BK / 2; c++) {
			int64_t key = k0 + s0 + c;
			int keep = key < a.kv_len &&
				   (!a.key_mask || a.key_mask[b * a.kv_len + key]);

			s[c] = keep ? sf[row * G::LDS + s0 + c] * sl2 : -INFINITY;
			mt = fmaxf(mt, s[c]);
		}
		mt = fmaxf(mt, __shfl_xor_sync(0xffffffffu, mt, 1));
		mn = fmaxf(m, mt);
		alpha = mn == -INFINITY ? 1.0f : exp2f(m - mn);
#pragma unroll
		for (int c = 0; c < M_BK / 2; c++) {
			float p = mn == -INFINITY ? 0.0f : exp2f(s[c] - mn);

			ps += p;
			pb[row * G::LDP + s0 + c] = __float2bfloat16(p);
		}
		ps += __shfl_xor_sync(0xffffffffu, ps, 1);
		l = l * alpha + ps;
		m = mn;
		__syncwarp(); /* P written, S read: the scratch can take P V */

		/* P V (16 x DP) = P (16 x 64) V (64 x DP) */
#pragma unroll
		for (int n = 0; n < DP / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;

			wmma::fill_fragment(acc, 0.0f);
#pragma unroll
			for (int kk = 0; kk < M_BK / 16; kk++) {
				frag_a fa;
				frag_b fb;

				wmma::load_matrix_sync(fa, pb + kk * 16, G::LDP);
				wmma::load_matrix_sync(fb, vs + (kk * 16) * G::LDQ + n * 16,
						       G::LDQ);
				wmma::mma_sync(acc, fa, fb, acc);
			}
			wmma::store_matrix_sync(sf + n * 16, acc, G::LDO, wmma::mem_row_major);
		}
		__syncwarp();
#pragma unroll
		for (int e = 0; e < HALF; e++)
			o[e] = o[e] * alpha + sf[row * G::LDO + c0 + e];
		/* sf and pb are rewritten only after the next __syncthreads. */
	}

	{
		int64_t t = q0 + w * 16 + row;
		float inv = l > 0.0f ? 1.0f / l : 0.0f;
		bf16 *orow;

		if (t >= a.q_len)
			return;
		orow = (bf16 *)a.o + head_off(b, t, h, a.o_tok, a.o_batch, hd);
#pragma unroll
		for (int e = 0; e < HALF; e++)
			if (c0 + e < hd)
				orow[c0 + e] = __float2bfloat16(o[e] * inv);
	}
}

/* ----------------------------------------------------------------- launch */

template <typename T, int DMAX>
static cudaError_t launch_simt(cudaStream_t st, const struct ts_attention *a, float sl2)
{
	dim3 grid((unsigned)((a->q_len + S_BQ - 1) / S_BQ), (unsigned)a->heads,
		  (unsigned)a->batch);

	k_attn_simt<T, DMAX><<<grid, S_THREADS, simt_smem<DMAX>(), st>>>(*a, sl2);
	return cudaGetLastError();
}

/* 16-byte loads need head_dim, every stride and every base on 8-element boundaries. */
static int vec_ok(const struct ts_attention *a)
{
	return a->head_dim % 8 == 0 && a->q_tok % 8 == 0 && a->k_tok % 8 == 0 &&
	       a->v_tok % 8 == 0 && a->q_batch % 8 == 0 && a->k_batch % 8 == 0 &&
	       a->v_batch % 8 == 0 &&
	       ((uintptr_t)a->q | (uintptr_t)a->k | (uintptr_t)a->v) % 16 == 0;
}

template <int DP>
static cudaError_t launch_mma(cudaStream_t st, const struct ts_attention *a, float sl2)
{
	dim3 grid((unsigned)((a->q_len + M_BQ - 1) / M_BQ), (unsigned)a->heads,
		  (unsigned)a->batch);

	k_attn_mma<DP><<<grid, M_THREADS, mma_geom<DP>::bytes, st>>>(*a, sl2, vec_ok(a));
	return cudaGetLastError();
}

template <typename K>
static cudaError_t allow_smem(K kernel, size_t bytes)
{
	return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
				    (int)bytes);
}

extern "C" {

cudaError_t ts_k_attention_setup(void)
{
	cudaError_t e = cudaSuccess;

#define ALLOW(k, n) if (e == cudaSuccess) e = allow_smem(k, n)
	ALLOW((k_attn_simt<float, 32>), simt_smem<32>());
	ALLOW((k_attn_simt<float, 64>), simt_smem<64>());
	ALLOW((k_attn_simt<float, 128>), simt_smem<128>());
	ALLOW((k_attn_simt<bf16, 32>), simt_smem<32>());
	ALLOW((k_attn_simt<bf16, 64>), simt_smem<64>());
	ALLOW((k_attn_simt<bf16, 128>), simt_smem<128>());
	ALLOW(k_attn_mma<64>, mma_geom<64>::bytes);
	ALLOW(k_attn_mma<80>, mma_geom<80>::bytes);
	ALLOW(k_attn_mma<128>, mma_geom<128>::bytes);
#undef ALLOW
	return e == cudaSuccess ? ts_k_attention_fa_setup() : e;
}

cudaError_t ts_k_attention(cudaStream_t st, int dt, const struct ts_attention *a, int kind)
{
	float sl2 = a->scale * LOG2E;
	int64_t hd = a->head_dim;

	if (dt == TS_CUDA_BF16 && kind == TS_ATTN_FA)
		return ts_k_attention_fa(st, a, sl2, vec_ok(a));
	if (dt == TS_CUDA_BF16 && kind == TS_ATTN_WMMA) {
		if (hd <= 64)
			return launch_mma<64>(st, a, sl2);
		if (hd <= 80)
			return launch_mma<80>(st, a, sl2);
		return launch_mma<128>(st, a, sl2);
	}
	TS_DT_SWITCH(dt, {
		if (hd <= 32)
			return launch_simt<T, 32>(st, a, sl2);
		if (hd <= 64)
			return launch_simt<T, 64>(st, a, sl2);
		return launch_simt<T, 128>(st, a, sl2);
	});
	return cudaErrorInvalidValue;
}

} /* extern "C" */
