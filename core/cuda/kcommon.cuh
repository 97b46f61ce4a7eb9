/* SPDX-License-Identifier: MIT */
/*
 * core/cuda/kcommon.cuh - what every kernel file shares: loads and stores that
 * convert between the storage type (float or bf16) and float, the fp32 math
 * kernels compute in, launch geometry, and the dtype switch.
 */
#ifndef TS_CUDA_KCOMMON_CUH
#define TS_CUDA_KCOMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda_priv.h"

typedef __nv_bfloat16 bf16;

static __device__ __forceinline__ float ld(const float *p) { return *p; }
static __device__ __forceinline__ float ld(const bf16 *p) { return __bfloat162float(*p); }
static __device__ __forceinline__ void st(float *p, float v) { *p = v; }
static __device__ __forceinline__ void st(bf16 *p, float v) { *p = __float2bfloat16(v); }

/* Grid-stride loops need a grid, not one block per element: cap it. */
static inline unsigned ts_grid(int64_t n, int threads)
{
	int64_t b = (n + threads - 1) / threads;

	if (b > 65535LL * 8)
		b = 65535LL * 8;
	return (unsigned)(b > 0 ? b : 1);
}

#define TS_GRID_STRIDE(i, n) \
	for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
	     i += (int64_t)gridDim.x * blockDim.x)

/* Run @body with T the storage type of @dt. */
#define TS_DT_SWITCH(dt, ...)                       \
	do {                                        \
		if ((dt) == TS_CUDA_BF16) {         \
			typedef bf16 T;             \
			__VA_ARGS__;                \
		} else {                            \
			typedef float T;            \
			__VA_ARGS__;                \
		}                                   \
	} while (0)

static __device__ __forceinline__ float act_apply(float x, int act)
{
	switch (act) {
	case TS_ACT_GELU_TANH: {
		/* 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) */
		float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
		return 0.5f * x * (1.0f + tanhf(u));
	}
	case TS_ACT_SILU:
		return x / (1.0f + expf(-x));
	case TS_ACT_TANH:
		return tanhf(x);
	default:
		return x;
	}
}

/* Sum / max of a float over the block (blockDim.x a multiple of 32, <= 1024). */
static __device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* @sh: 32 floats of shared memory; every thread gets the result. */
static __device__ __forceinline__ float block_sum(float v, float *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	v = warp_sum(v);
	__syncthreads(); /* sh may still be read from a previous reduction */
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : 0.0f;
	return warp_sum(v);
}

static __device__ __forceinline__ float block_max(float v, float *sh)
{
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;

	v = warp_max(v);
	__syncthreads();
	if (lane == 0)
		sh[w] = v;
	__syncthreads();
	v = lane < nw ? sh[lane] : -INFINITY;
	return warp_max(v);
}

#endif /* TS_CUDA_KCOMMON_CUH */
