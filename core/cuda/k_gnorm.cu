// SPDX-License-Identifier: MIT
/*
 * core/cuda/k_gnorm.cu - group norm in three launches, so that a VAE layer
 * (one sample, 32 groups of millions of elements) spreads over the whole
 * GPU instead of 32 blocks:
 *   1. every block takes a chunk of one group: its count, mean and squared
 *      deviations about that mean (two passes over the chunk, fp32);
 *   2. one thread per group merges the chunks in double (Chan's formula,
 *      exact for any split) into the group's mean and 1/std;
 *   3. every element is normalised, with the channel's w and b.
 * The partials live in the device's scratch: 3 floats per chunk, 2 per group.
 */
#include "kcommon.cuh"

#define GN_CHUNK 8192
#define GN_THREADS 256

template <typename T>
__global__ void k_gn_partial(float *part, const T *x, int64_t c, int64_t spatial, int groups,
			     int64_t chunks)
{
	__shared__ float sh[32];
	int64_t cpg = c / groups, len = cpg * spatial;
	int64_t ch = blockIdx.x, g = blockIdx.y, n = blockIdx.z;
	int64_t c0 = ch * GN_CHUNK, cl = len - c0 < GN_CHUNK ? len - c0 : GN_CHUNK;
	const T *xg = x + (n * c + g * cpg) * spatial + c0;
	float s = 0.0f, mean;

	for (int64_t i = threadIdx.x; i < cl; i += blockDim.x)
		s += ld(xg + i);
	mean = block_sum(s, sh) / (float)cl;
	s = 0.0f;
	for (int64_t i = threadIdx.x; i < cl; i += blockDim.x) {
		float d = ld(xg + i) - mean;

		s += d * d;
	}
	s = block_sum(s, sh);
	if (threadIdx.x == 0) {
		float *p = part + ((n * groups + g) * chunks + ch) * 3;

		p[0] = (float)cl;
		p[1] = mean;
		p[2] = s;
	}
}

__global__ void k_gn_merge(float *stats, const float *part, int groups, int64_t chunks, float eps)
{
	int64_t gi = (int64_t)blockIdx.y * groups + blockIdx.x;
	const float *p = part + gi * chunks * 3;
	double cnt = 0, mean = 0, m2 = 0;

	if (threadIdx.x)
		return;
	for (int64_t i = 0; i < chunks; i++) {
		double nb = p[3 * i], mb = p[3 * i + 1], tot = cnt + nb, d = mb - mean;

		mean += d * nb / tot;
		m2 += p[3 * i + 2] + d * d * cnt * nb / tot;
		cnt = tot;
	}
	stats[2 * gi] = (float)mean;
	stats[2 * gi + 1] = (float)(1.0 / sqrt(m2 / cnt + (double)eps));
}

template <typename T>
__global__ void k_gn_apply(T *y, const T *x, const T *w, const T *b, const float *stats,
			   int64_t c, int64_t spatial, int groups, int64_t total)
{
	int64_t cpg = c / groups;

	TS_GRID_STRIDE(i, total) {
		int64_t ch = (i / spatial) % c, n = i / (c * spatial);
		const float *st_ = stats + 2 * (n * groups + ch / cpg);
		float v = (ld(x + i) - st_[0]) * st_[1];

		if (w)
			v *= ld(w + ch);
		if (b)
			v += ld(b + ch);
		st(y + i, v);
	}
}

extern "C" {

size_t ts_k_group_norm_scratch(int64_t n, int64_t c, int64_t spatial, int groups)
{
	int64_t chunks = ((c / groups) * spatial + GN_CHUNK - 1) / GN_CHUNK;

	return sizeof(float) * (size_t)(n * groups) * (size_t)(3 * chunks + 2);
}

cudaError_t ts_k_group_norm(cudaStream_t s, int dt, void *y, const void *x, const void *w,
			    const void *b, int64_t n, int64_t c, int64_t spatial, int groups,
			    float eps, void *scratch)
{
	int64_t chunks = ((c / groups) * spatial + GN_CHUNK - 1) / GN_CHUNK;
	float *part = (float *)scratch, *stats = part + n * groups * chunks * 3;
	dim3 g1((unsigned)chunks, (unsigned)groups, (unsigned)n), g2((unsigned)groups, (unsigned)n);
	int64_t total = n * c * spatial;
	cudaError_t e;

	TS_DT_SWITCH(dt, k_gn_partial<T><<<g1, GN_THREADS, 0, s>>>(part, (const T *)x, c,
								     spatial, groups, chunks));
	if ((e = cudaGetLastError()) != cudaSuccess)
		return e;
	k_gn_merge<<<g2, 32, 0, s>>>(stats, part, groups, chunks, eps);
	if ((e = cudaGetLastError()) != cudaSuccess)
		return e;
	TS_DT_SWITCH(dt, k_gn_apply<T><<<ts_grid(total, 256), 256, 0, s>>>(
				 (T *)y, (const T *)x, (const T *)w, (const T *)b, stats, c,
				 spatial, groups, total));
	return cudaGetLastError();
}

} /* extern "C" */
