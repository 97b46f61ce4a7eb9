// SPDX-License-Identifier: MIT
/*
 * core/cuda/k_attn_fa.cu - bf16 attention with the scores, probabilities
 * and output accumulators kept in registers (FlashAttention-2's scheme), on
 * mma.sync.m16n8k16 (bf16 in, fp32 accumulate).
 *
 * Why PTX mma rather than WMMA: its register layout is documented, so the
 * online softmax works on the accumulators in place, and the S accumulator
 * of two adjacent 8-key tiles is exactly the A operand of the P V product:
 * nothing goes through shared memory but the K and V tiles.
 *
 * Layouts (PTX ISA, mma.m16n8k16, lane = 4 g + t):
 *   A (16x16, row): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..], a2 = A[g][2t+8..],
 *                   a3 = A[g+8][2t+8..]   (two bf16 per register, low = first)
 *   B (16x8, col):  b0 = B[2t..2t+1][g],  b1 = B[2t+8..2t+9][g]
 *   C (16x8, f32):  c0,c1 = C[g][2t..2t+1], c2,c3 = C[g+8][2t..2t+1]
 * Q K^T: B[d][key] = K[key][d], two dims of one key: one 32-bit load from K
 * row-major. P V: B[key][d] = V[key][d], two keys of one dim: ldmatrix.trans
 * on row-major V gathers them (for an 8x8 block M, .trans hands lane 4g+t
 * M[2t][g] and M[2t+1][g]). Row padding of 8 bf16 puts the eight rows a warp
 * reads in distinct banks.
 *
 * K and V tiles are double-buffered: while a tile is used, cp.async copies
 * the next one (16-byte copies; when strides or bases are not 16-byte
 * aligned, plain loads fill the tile at the top of each step instead).
 *
 * Block: 4 warps, 16 query rows each (64 per block), 64-key tiles.
 */
#include "kcommon.cuh"

#define F_BQ 64
#define F_BK 64
#define F_THREADS 128
#define F_PAD 8

template <int DP>
struct fa_geom {
	static constexpr int LDQ = DP + F_PAD; /* Q, K and V tiles: [64][LDQ] */
	static constexpr size_t tile = 64 * (size_t)LDQ;
	/* Q, two K and two V buffers, two keep masks */
	static constexpr size_t bytes = 2 * 5 * tile + 2 * F_BK;
};

static __device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0,
						uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ uint32_t ld32(const bf16 *p)
{
	return *(const uint32_t *)p;
}

/* Two floats as bf16x2, @lo in the low half (the lower column). */
static __device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
	__nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);

	return *(uint32_t *)&v;
}

static __device__ __forceinline__ const bf16 *fa_row(const void *base, int64_t b, int64_t t,
						     int64_t h, int64_t tok, int64_t batch,
						     int64_t hd)
{
	return (const bf16 *)base + b * batch + t * tok + h * hd;
}

/* Rows [r0, r0+64) of one head into @dst [64][LDQ] (row-major), zero-padded. */
template <int DP>
static __device__ __forceinline__ void fa_load_rows(bf16 *dst, const void *src, int64_t b,
						    int64_t h, int64_t r0, int64_t rows,
						    int64_t tok, int64_t batch, int64_t hd, int vec)
{
	constexpr int LDQ = fa_geom<DP>::LDQ;

	if (vec) {
		for (int i = threadIdx.x; i < 64 * (DP / 8); i += F_THREADS) {
			int r = i / (DP / 8), d = (i % (DP / 8)) * 8;
			uint4 x = make_uint4(0, 0, 0, 0);

			if (r0 + r < rows && d < hd)
				x = *(const uint4 *)(fa_row(src, b, r0 + r, h, tok, batch, hd) + d);
			*(uint4 *)(dst + r * LDQ + d) = x;
		}
		return;
	}
	for (int i = threadIdx.x; i < 64 * DP; i += F_THREADS) {
		int r = i / DP, d = i % DP;
		bf16 x = __float2bfloat16(0.0f);

		if (r0 + r < rows && d < hd)
			x = fa_row(src, b, r0 + r, h, tok, batch, hd)[d];
		dst[r * LDQ + d] = x;
	}
}

/* 16 bytes global -> shared without registers; @n 0 writes zeros and reads nothing. */
static __device__ __forceinline__ void cp_async16(void *dst, const void *src, int n)
{
	unsigned d = (unsigned)__cvta_generic_to_shared(dst);

	asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(n));
}

static __device__ __forceinline__ void cp_async_commit(void)
{
	asm volatile("cp.async.commit_group;\n" ::);
}

/* Wait until at most one group (the newest) is still in flight. */
static __device__ __forceinline__ void cp_async_wait1(void)
{
	asm volatile("cp.async.wait_group 1;\n" ::);
}

/* Rows [r0, r0+64) of one head into @dst [64][LDQ] by cp.async (16-byte aligned case). */
template <int DP>
static __device__ __forceinline__ void fa_copy_rows(bf16 *dst, const void *src, int64_t b,
						    int64_t h, int64_t r0, int64_t rows,
						    int64_t tok, int64_t batch, int64_t hd)
{
	constexpr int LDQ = fa_geom<DP>::LDQ;

	for (int i = threadIdx.x; i < 64 * (DP / 8); i += F_THREADS) {
		int r = i / (DP / 8), d = (i % (DP / 8)) * 8;
		int in = r0 + r < rows && d < hd;
		/* a row past the end still needs a valid address; nothing is read from it */
		const bf16 *from = fa_row(src, b, in ? r0 + r : 0, h, tok, batch, hd) +
				   (in ? d : 0);

		cp_async16(dst + r * LDQ + d, from, in ? 16 : 0);
	}
}

/* Two B fragments of P V (dims 8n.. and 8n+8..) for keys 16kk.. from row-major V. */
static __device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const bf16 *p)
{
	unsigned a = (unsigned)__cvta_generic_to_shared(p);

	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(a));
}

/* The tile of keys [k0, k0+64): which to keep (in range and not masked). */
static __device__ __forceinline__ void fa_keep(unsigned char *keep, const struct ts_attention *a,
					       int64_t b, int64_t k0)
{
	if (threadIdx.x < F_BK) {
		int64_t key = k0 + threadIdx.x;

		keep[threadIdx.x] = key < a->kv_len &&
				    (!a->key_mask || a->key_mask[b * a->kv_len + key]);
	}
}

template <int DP>
__global__ void __launch_bounds__(F_THREADS)
k_attn_fa(struct ts_attention a, float sl2, int vec)
{
	typedef fa_geom<DP> G;
	constexpr int KC = DP / 16; /* 16-wide chunks of the head dim (Q K^T's k) */
	constexpr int NT = DP / 8;  /* 8-wide tiles of the head dim (P V's n), an even count */
	constexpr int ST = F_BK / 8; /* 8-key tiles of the scores */
	extern __shared__ __align__(128) unsigned char smem[];
	bf16 *qs = (bf16 *)smem;
	/* buffer i of K, of V, of the keep mask (arithmetic: an array would go to local memory) */
#define KBUF(i) (qs + (1 + (i)) * G::tile)
#define VBUF(i) (qs + (3 + (i)) * G::tile)
#define KEEP(i) ((unsigned char *)(qs + 5 * G::tile) + (i) * F_BK)
	int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
	int64_t b = blockIdx.z, h = blockIdx.y, q0 = (int64_t)blockIdx.x * F_BQ, hd = a.head_dim;
	/* ldmatrix: lane l names row l%8 of matrix l/8: keys +8 in matrices 1, 3; dims +8 in 2, 3 */
	int lm_key = (lane & 7) + ((lane >> 3) & 1) * 8, lm_dim = (lane >> 4) * 8;
	float o[NT][4], m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
	uint32_t qa[KC][4];
	int it = 0;

	if (vec && a.kv_len > 0) { /* the first K/V tile is on its way while Q loads */
		fa_copy_rows<DP>(KBUF(0), a.k, b, h, 0, a.kv_len, a.k_tok, a.k_batch, hd);
		fa_copy_rows<DP>(VBUF(0), a.v, b, h, 0, a.kv_len, a.v_tok, a.v_batch, hd);
		cp_async_commit();
		fa_keep(KEEP(0), &a, b, 0);
	}
	fa_load_rows<DP>(qs, a.q, b, h, q0, a.q_len, a.q_tok, a.q_batch, hd, vec);
	__syncthreads();
	{
		const bf16 *q = qs + (w * 16 + g) * G::LDQ + 2 * t;

#pragma unroll
		for (int kc = 0; kc < KC; kc++) {
			qa[kc][0] = ld32(q + kc * 16);
			qa[kc][1] = ld32(q + 8 * G::LDQ + kc * 16);
			qa[kc][2] = ld32(q + kc * 16 + 8);
			qa[kc][3] = ld32(q + 8 * G::LDQ + kc * 16 + 8);
		}
	}
#pragma unroll
	for (int n = 0; n < NT; n++)
		o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

	for (int64_t k0 = 0; k0 < a.kv_len; k0 += F_BK, it ^= 1) {
		const bf16 *ks = KBUF(it), *vs = VBUF(it);
		const unsigned char *kp = KEEP(it);
		float s[ST][4], mx0 = -INFINITY, mx1 = -INFINITY, mn0, mn1, al0, al1;

		if (vec) {
			/* The next tile goes to the other buffer, freed at the end of the last step. */
			if (k0 + F_BK < a.kv_len) {
				fa_copy_rows<DP>(KBUF(it ^ 1), a.k, b, h, k0 + F_BK, a.kv_len,
						 a.k_tok, a.k_batch, hd);
				fa_copy_rows<DP>(VBUF(it ^ 1), a.v, b, h, k0 + F_BK, a.kv_len,
						 a.v_tok, a.v_batch, hd);
				fa_keep(KEEP(it ^ 1), &a, b, k0 + F_BK);
			}
			cp_async_commit(); /* an empty group at the end keeps wait_group 1 exact */
			cp_async_wait1();
		} else {
			fa_load_rows<DP>(KBUF(it), a.k, b, h, k0, a.kv_len, a.k_tok, a.k_batch,
					 hd, 0);
			fa_load_rows<DP>(VBUF(it), a.v, b, h, k0, a.kv_len, a.v_tok, a.v_batch,
					 hd, 0);
			fa_keep(KEEP(it), &a, b, k0);
		}
		__syncthreads(); /* this tile (every thread's copies of it) is in shared memory */

		/* S = Q K^T for this warp's 16 rows and the tile's 64 keys. */
#pragma unroll
		for (int j = 0; j < ST; j++) {
			const bf16 *kr = ks + (8 * j + g) * G::LDQ + 2 * t;

			s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
			for (int kc = 0; kc < KC; kc++)
				mma_bf16(s[j], qa[kc], ld32(kr + kc * 16), ld32(kr + kc * 16 + 8));
		}

		/* Scale, mask, and the tile's row maxima (rows g and g+8). */
#pragma unroll
		for (int j = 0; j < ST; j++) {
			int c = 8 * j + 2 * t;

			s[j][0] = kp[c] ? s[j][0] * sl2 : -INFINITY;
			s[j][1] = kp[c + 1] ? s[j][1] * sl2 : -INFINITY;
			s[j][2] = kp[c] ? s[j][2] * sl2 : -INFINITY;
			s[j][3] = kp[c + 1] ? s[j][3] * sl2 : -INFINITY;
			mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
			mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
		}
		/* The four lanes of a group hold the rest of rows g and g+8. */
		mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
		mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
		mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
		mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
		mn0 = fmaxf(m0, mx0);
		mn1 = fmaxf(m1, mx1);
		/* A row with every key so far masked has nothing to rescale or add. */
		al0 = mn0 == -INFINITY ? 1.0f : exp2f(m0 - mn0);
		al1 = mn1 == -INFINITY ? 1.0f : exp2f(m1 - mn1);
		m0 = mn0;
		m1 = mn1;
		l0 *= al0;
		l1 *= al1;
#pragma unroll
		for (int j = 0; j < ST; j++) {
			s[j][0] = mn0 == -INFINITY ? 0.0f : exp2f(s[j][0] - mn0);
			s[j][1] = mn0 == -INFINITY ? 0.0f : exp2f(s[j][1] - mn0);
			s[j][2] = mn1 == -INFINITY ? 0.0f : exp2f(s[j][2] - mn1);
			s[j][3] = mn1 == -INFINITY ? 0.0f : exp2f(s[j][3] - mn1);
			/* this lane's part of the row sums; the group adds them up at the end */
			l0 += s[j][0] + s[j][1];
			l1 += s[j][2] + s[j][3];
		}
#pragma unroll
		for (int n = 0; n < NT; n++) {
			o[n][0] *= al0;
			o[n][1] *= al0;
			o[n][2] *= al1;
			o[n][3] *= al1;
		}

		/* O += P V: score tiles 2kk and 2kk+1 are the A operand of key chunk kk. */
#pragma unroll
		for (int kk = 0; kk < F_BK / 16; kk++) {
			uint32_t pa[4];

			pa[0] = pack_bf16(s[2 * kk][0], s[2 * kk][1]);
			pa[1] = pack_bf16(s[2 * kk][2], s[2 * kk][3]);
			pa[2] = pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]);
			pa[3] = pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
			for (int n = 0; n < NT; n += 2) {
				uint32_t vb[4];

				ldmatrix_x4_trans(vb, vs + (16 * kk + lm_key) * G::LDQ + 8 * n +
							      lm_dim);
				mma_bf16(o[n], pa, vb[0], vb[1]);
				mma_bf16(o[n + 1], pa, vb[2], vb[3]);
			}
		}
		__syncthreads(); /* every warp is done with this buffer before it is refilled */
	}

	l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
	l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
	l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
	l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
	{
		int64_t r0 = q0 + w * 16 + g, r1 = r0 + 8;
		float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
		bf16 *o0 = (bf16 *)a.o + b * a.o_batch + r0 * a.o_tok + h * hd;
		bf16 *o1 = o0 + 8 * a.o_tok;

#pragma unroll
		for (int n = 0; n < NT; n++) {
			int c = 8 * n + 2 * t;

			if (r0 < a.q_len && c < hd)
				o0[c] = __float2bfloat16(o[n][0] * i0);
			if (r0 < a.q_len && c + 1 < hd)
				o0[c + 1] = __float2bfloat16(o[n][1] * i0);
			if (r1 < a.q_len && c < hd)
				o1[c] = __float2bfloat16(o[n][2] * i1);
			if (r1 < a.q_len && c + 1 < hd)
				o1[c + 1] = __float2bfloat16(o[n][3] * i1);
		}
	}
#undef KBUF
#undef VBUF
#undef KEEP
}

template <int DP>
static cudaError_t launch_fa(cudaStream_t st, const struct ts_attention *a, float sl2, int vec)
{
	dim3 grid((unsigned)((a->q_len + F_BQ - 1) / F_BQ), (unsigned)a->heads,
		  (unsigned)a->batch);

	k_attn_fa<DP><<<grid, F_THREADS, fa_geom<DP>::bytes, st>>>(*a, sl2, vec);
	return cudaGetLastError();
}

extern "C" {

cudaError_t ts_k_attention_fa_setup(void)
{
	cudaError_t e;

	e = cudaFuncSetAttribute(k_attn_fa<64>, cudaFuncAttributeMaxDynamicSharedMemorySize,
				 (int)fa_geom<64>::bytes);
	if (e == cudaSuccess)
		e = cudaFuncSetAttribute(k_attn_fa<80>,
					 cudaFuncAttributeMaxDynamicSharedMemorySize,
					 (int)fa_geom<80>::bytes);
	if (e == cudaSuccess)
		e = cudaFuncSetAttribute(k_attn_fa<128>,
					 cudaFuncAttributeMaxDynamicSharedMemorySize,
					 (int)fa_geom<128>::bytes);
	return e;
}

cudaError_t ts_k_attention_fa(cudaStream_t st, const struct ts_attention *a, float sl2, int vec)
{
	if (a->head_dim <= 64)
		return launch_fa<64>(st, a, sl2, vec);
	if (a->head_dim <= 80)
		return launch_fa<80>(st, a, sl2, vec);
	return launch_fa<128>(st, a, sl2, vec);
}

} /* extern "C" */
