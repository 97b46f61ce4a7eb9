// SPDX-License-Identifier: MIT
/*
 * core/cuda/k_norm.cu - normalisations and row-wise kernels: layer norm (with
 * the adaLN modulate fused in), RMS norm, softmax, the gated residual and
 * rotary embedding (group norm: k_gnorm.cu).
 *
 * One block per row, statistics in fp32 in two passes (mean,
 * then squared deviations) so a row with a large mean keeps its precision.
 * The row is read again from global memory for each pass: it is hot in L1/L2
 * and keeping it in shared memory would cap the row length.
 * Every op allows y == x: each element is read and written by one thread, and
 * the write pass comes after every read of the statistics passes.
 */
#include "kcommon.cuh"

static inline int row_threads(int64_t cols)
{
	if (cols >= 1024)
		return 256;
	if (cols >= 256)
		return 128;
	return 64;
}

/*
 * y = (x - mean) rstd * (w or 1) + (b or 0), then if shift/scale are given
 * y = y (1 + scale) + shift. Row r uses modulation row r / tokens.
 */
template <typename T>
__global__ void k_layer_norm(T *y, const T *x, const T *w, const T *b, const T *shift,
			     const T *scale, int64_t cols, int64_t tokens, int64_t mod_stride,
			     float eps)
{
	__shared__ float sh[32];
	int64_t row = blockIdx.x;
	const T *xr = x + row * cols;
	T *yr = y + row * cols;
	float s = 0.0f, mean, var, rstd;

	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		s += ld(xr + i);
	mean = block_sum(s, sh) / (float)cols;
	s = 0.0f;
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
		float d = ld(xr + i) - mean;

		s += d * d;
	}
	var = block_sum(s, sh) / (float)cols;
	rstd = rsqrtf(var + eps);
	if (shift || scale) {
		int64_t m = (row / tokens) * mod_stride;

		shift = shift ? shift + m : shift;
		scale = scale ? scale + m : scale;
	}
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
		float v = (ld(xr + i) - mean) * rstd;

		if (w)
			v *= ld(w + i);
		if (b)
			v += ld(b + i);
		if (scale)
			v *= 1.0f + ld(scale + i);
		if (shift)
			v += ld(shift + i);
		st(yr + i, v);
	}
}

template <typename T>
__global__ void k_rms_norm(T *y, const T *x, const T *w, int64_t cols, float eps)
{
	__shared__ float sh[32];
	const T *xr = x + (int64_t)blockIdx.x * cols;
	T *yr = y + (int64_t)blockIdx.x * cols;
	float s = 0.0f, r;

	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
		float v = ld(xr + i);

		s += v * v;
	}
	r = rsqrtf(block_sum(s, sh) / (float)cols + eps);
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		st(yr + i, ld(xr + i) * r * (w ? ld(w + i) : 1.0f));
}

template <typename T>
__global__ void k_softmax(T *y, const T *x, int64_t cols)
{
	__shared__ float sh[32];
	const T *xr = x + (int64_t)blockIdx.x * cols;
	T *yr = y + (int64_t)blockIdx.x * cols;
	float m = -INFINITY, s = 0.0f, inv;

	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		m = fmaxf(m, ld(xr + i));
	m = block_max(m, sh);
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		s += expf(ld(xr + i) - m);
	inv = 1.0f / block_sum(s, sh);
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		st(yr + i, expf(ld(xr + i) - m) * inv);
}

template <typename T>
__global__ void k_softmax_masked(T *p, const float *s, int64_t cols, const uint8_t *mask)
{
	__shared__ float sh[32];
	const float *sr = s + (int64_t)blockIdx.x * cols;
	T *pr = p + (int64_t)blockIdx.x * cols;
	float m = -INFINITY, z = 0.0f, inv;

	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		if (!mask || mask[i])
			m = fmaxf(m, sr[i]);
	m = block_max(m, sh);
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		if (!mask || mask[i])
			z += expf(sr[i] - m);
	z = block_sum(z, sh);
	inv = z > 0.0f ? 1.0f / z : 0.0f; /* every key masked: the row is zeros */
	for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
		st(pr + i, (!mask || mask[i]) && z > 0.0f ? expf(sr[i] - m) * inv : 0.0f);
}

template <typename T>
__global__ void k_gated_residual(T *x, const T *r, const T *gate, int64_t tokens, int64_t dim,
				 int64_t gate_stride, int64_t n)
{
	TS_GRID_STRIDE(i, n) {
		int64_t c = i % dim, b = i / (tokens * dim);
		float g = gate ? ld(gate + b * gate_stride + c) : 1.0f;

		st(x + i, ld(x + i) + g * ld(r + i));
	}
}

/* One thread per rotated pair. */
template <typename T>
__global__ void k_rope(T *x, const T *freqs, int64_t n_freq, int64_t tokens, int64_t heads,
		       int64_t head_dim, int64_t tok_stride, int64_t batch_stride, int64_t n)
{
	TS_GRID_STRIDE(i, n) {
		int64_t f = i % n_freq, r = i / n_freq;
		int64_t h = r % heads, t = (r / heads) % tokens, b = r / (heads * tokens);
		T *p = x + b * batch_stride + t * tok_stride + h * head_dim + 2 * f;
		float x0 = ld(p), x1 = ld(p + 1), sn, cs;
		double dsn, dcs;

		/*
		 * The angle in double: at thousands of tokens a float product is off
		 * by 1e-4 rad or more, well past the fp32 bound of the comparison.
		 */
		sincos((double)t * (double)ld(freqs + f), &dsn, &dcs);
		sn = (float)dsn;
		cs = (float)dcs;
		st(p, x0 * cs - x1 * sn);
		st(p + 1, x0 * sn + x1 * cs);
	}
}

extern "C" {

cudaError_t ts_k_layer_norm(cudaStream_t s, int dt, void *y, const void *x, const void *w,
			    const void *b, int64_t rows, int64_t cols, float eps)
{
	TS_DT_SWITCH(dt, k_layer_norm<T><<<(unsigned)rows, row_threads(cols), 0, s>>>(
				 (T *)y, (const T *)x, (const T *)w, (const T *)b, NULL, NULL, cols,
				 1, 0, eps));
	return cudaGetLastError();
}

cudaError_t ts_k_ln_modulate(cudaStream_t s, int dt, void *y, const void *x, const void *shift,
			     const void *scale, int64_t batch, int64_t tokens, int64_t dim,
			     int64_t mod_stride, float eps)
{
	TS_DT_SWITCH(dt, k_layer_norm<T><<<(unsigned)(batch * tokens), row_threads(dim), 0, s>>>(
				 (T *)y, (const T *)x, NULL, NULL, (const T *)shift,
				 (const T *)scale, dim, tokens, mod_stride, eps));
	return cudaGetLastError();
}

cudaError_t ts_k_rms_norm(cudaStream_t s, int dt, void *y, const void *x, const void *w,
			  int64_t rows, int64_t cols, float eps)
{
	TS_DT_SWITCH(dt, k_rms_norm<T><<<(unsigned)rows, row_threads(cols), 0, s>>>(
				 (T *)y, (const T *)x, (const T *)w, cols, eps));
	return cudaGetLastError();
}

cudaError_t ts_k_softmax(cudaStream_t s, int dt, void *y, const void *x, int64_t rows,
			 int64_t cols)
{
	TS_DT_SWITCH(dt, k_softmax<T><<<(unsigned)rows, row_threads(cols), 0, s>>>(
				 (T *)y, (const T *)x, cols));
	return cudaGetLastError();
}

cudaError_t ts_k_softmax_masked(cudaStream_t s, int dt, void *p, const float *sc, int64_t rows,
				int64_t cols, const uint8_t *mask)
{
	TS_DT_SWITCH(dt, k_softmax_masked<T><<<(unsigned)rows, row_threads(cols), 0, s>>>(
				 (T *)p, sc, cols, mask));
	return cudaGetLastError();
}

cudaError_t ts_k_gated_residual(cudaStream_t s, int dt, void *x, const void *r, const void *gate,
				int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride)
{
	int64_t n = batch * tokens * dim;

	TS_DT_SWITCH(dt, k_gated_residual<T><<<ts_grid(n, 256), 256, 0, s>>>(
				 (T *)x, (const T *)r, (const T *)gate, tokens, dim, gate_stride,
				 n));
	return cudaGetLastError();
}

cudaError_t ts_k_rope(cudaStream_t s, int dt, void *x, const void *freqs, int64_t n_freq,
		      int64_t batch, int64_t tokens, int64_t heads, int64_t head_dim,
		      int64_t tok_stride, int64_t batch_stride)
{
	int64_t n = batch * tokens * heads * n_freq;

	TS_DT_SWITCH(dt, k_rope<T><<<ts_grid(n, 256), 256, 0, s>>>(
				 (T *)x, (const T *)freqs, n_freq, tokens, heads, head_dim,
				 tok_stride, batch_stride, n));
	return cudaGetLastError();
}

} /* extern "C" */
