// SPDX-License-Identifier: MIT
/*
 * core/cuda/k_elem.cu - elementwise and data-movement kernels: activations,
 * fill, add/mul, axpby, row broadcast, the GEMM epilogue fallback, strided
 * and permuted copies, nearest upsampling, embedding gather, and im2col for
 * conv. Memory-bound: one pass, each element read once and written once,
 * grid-stride loops so any size runs with a bounded grid.
 */
#include "kcommon.cuh"

#define THREADS 256

template <typename T>
__global__ void k_activation(T *y, const T *x, int64_t n, int act)
{
	TS_GRID_STRIDE(i, n)
		st(y + i, act_apply(ld(x + i), act));
}

template <typename T>
__global__ void k_fill(T *y, float v, int64_t n)
{
	TS_GRID_STRIDE(i, n)
		st(y + i, v);
}

template <typename T>
__global__ void k_binary(T *y, const T *a, const T *b, int64_t n, int mul)
{
	TS_GRID_STRIDE(i, n) {
		float u = ld(a + i), v = ld(b + i);

		st(y + i, mul ? u * v : u + v);
	}
}

template <typename T>
__global__ void k_axpby(T *y, float alpha, const T *x, float beta, int64_t n)
{
	TS_GRID_STRIDE(i, n) {
		float r = alpha * ld(x + i);

		/* beta == 0 must not read y: it may hold NaN or never have been written. */
		if (beta != 0.0f)
			r += beta * ld(y + i);
		st(y + i, r);
	}
}

template <typename T>
__global__ void k_add_row(T *y, const T *x, const T *v, int64_t batch, int64_t n)
{
	TS_GRID_STRIDE(i, batch * n)
		st(y + i, ld(x + i) + ld(v + i % n));
}

template <typename T>
__global__ void k_bias_act(T *y, int64_t ldy, int64_t rows, int64_t cols, float beta,
			   const T *bias, int per_row, int act)
{
	TS_GRID_STRIDE(i, rows * cols) {
		int64_t r = i / cols, c = i % cols;
		T *p = y + r * ldy + c;
		float v = beta != 0.0f ? beta * ld(p) : 0.0f;

		if (bias)
			v += ld(bias + (per_row ? r : c));
		st(p, act_apply(v, act));
	}
}

template <typename T>
__global__ void k_copy2d(T *y, int64_t ldy, const T *x, int64_t ldx, int64_t rows, int64_t cols)
{
	TS_GRID_STRIDE(i, rows * cols) {
		int64_t r = i / cols, c = i % cols;

		y[r * ldy + c] = x[r * ldx + c];
	}
}

/* Output dims and, for each, the input element stride it walks. */
struct perm_geom {
	int ndim;
	int64_t out_dim[TS_MAX_DIMS];
	int64_t in_stride[TS_MAX_DIMS];
};

template <typename T>
__global__ void k_permute(T *y, const T *x, int64_t n, struct perm_geom g)
{
	TS_GRID_STRIDE(i, n) {
		int64_t rem = i, off = 0;

		for (int d = g.ndim - 1; d >= 0; d--) {
			int64_t q = rem / g.out_dim[d];

			off += (rem - q * g.out_dim[d]) * g.in_stride[d];
			rem = q;
		}
		y[i] = x[off];
	}
}

template <typename T>
__global__ void k_upsample(T *y, const T *x, int64_t nc, int64_t t, int64_t h, int64_t w, int ft,
			   int fh, int fw)
{
	int64_t to = t * ft, ho = h * fh, wo = w * fw;

	TS_GRID_STRIDE(i, nc * to * ho * wo) {
		int64_t xw = i % wo, r = i / wo;
		int64_t xh = r % ho;
		int64_t xt, c;

		r /= ho;
		xt = r % to;
		c = r / to;
		y[i] = x[((c * t + xt / ft) * h + xh / fh) * w + xw / fw];
	}
}

template <typename T>
__global__ void k_embedding(T *y, const T *table, int64_t dim, const int64_t *ids, int64_t n)
{
	TS_GRID_STRIDE(i, n * dim) {
		int64_t r = i / dim;

		y[i] = table[ids[r] * dim + i % dim];
	}
}

/* One batch entry's receptive fields for outputs p0 .. p0+pn-1: col [c_in*kt*kh*kw, pn]. */
struct im2col_geom {
	int64_t c_in, t, h, w, t_out, h_out, w_out, p0, pn;
	int kt, kh, kw, st, sh, sw, pad_t, pad_h, pad_w;
};

template <typename T>
__global__ void k_im2col(T *col, const T *x, struct im2col_geom g)
{
	int64_t kk = (int64_t)g.kt * g.kh * g.kw;

	TS_GRID_STRIDE(i, g.c_in * kk * g.pn) {
		int64_t row = i / g.pn, p = g.p0 + i % g.pn;
		int64_t ci = row / kk, kr = row % kk;
		int64_t a = kr / (g.kh * g.kw), b = (kr / g.kw) % g.kh, cc = kr % g.kw;
		int64_t ow = p % g.w_out, oh = (p / g.w_out) % g.h_out;
		int64_t ot = p / (g.w_out * g.h_out);
		int64_t it = ot * g.st + a - g.pad_t;
		int64_t ih = oh * g.sh + b - g.pad_h;
		int64_t iw = ow * g.sw + cc - g.pad_w;
		T v;

		if (it >= 0 && it < g.t && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w)
			v = x[((ci * g.t + it) * g.h + ih) * g.w + iw];
		else
			v = T(0.0f);
		col[i] = v;
	}
}

extern "C" {

cudaError_t ts_k_activation(cudaStream_t s, int dt, void *y, const void *x, int64_t n, int act)
{
	TS_DT_SWITCH(dt, k_activation<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)x, n, act));
	return cudaGetLastError();
}

cudaError_t ts_k_fill(cudaStream_t s, int dt, void *y, float v, int64_t n)
{
	TS_DT_SWITCH(dt, k_fill<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>((T *)y, v, n));
	return cudaGetLastError();
}

cudaError_t ts_k_binary(cudaStream_t s, int dt, void *y, const void *a, const void *b, int64_t n,
			int mul)
{
	TS_DT_SWITCH(dt, k_binary<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)a, (const T *)b, n, mul));
	return cudaGetLastError();
}

cudaError_t ts_k_axpby(cudaStream_t s, int dt, void *y, float alpha, const void *x, float beta,
		       int64_t n)
{
	TS_DT_SWITCH(dt, k_axpby<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)y, alpha, (const T *)x, beta, n));
	return cudaGetLastError();
}

cudaError_t ts_k_add_row(cudaStream_t s, int dt, void *y, const void *x, const void *v,
			 int64_t batch, int64_t n)
{
	TS_DT_SWITCH(dt, k_add_row<T><<<ts_grid(batch * n, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)x, (const T *)v, batch, n));
	return cudaGetLastError();
}

cudaError_t ts_k_bias_act(cudaStream_t s, int dt, void *y, int64_t ld, int64_t rows, int64_t cols,
			  float beta, const void *bias, int bias_per_row, int act)
{
	TS_DT_SWITCH(dt, k_bias_act<T><<<ts_grid(rows * cols, THREADS), THREADS, 0, s>>>(
				 (T *)y, ld, rows, cols, beta, (const T *)bias, bias_per_row, act));
	return cudaGetLastError();
}

cudaError_t ts_k_copy2d(cudaStream_t s, int dt, void *y, int64_t ldy, const void *x, int64_t ldx,
			int64_t rows, int64_t cols)
{
	TS_DT_SWITCH(dt, k_copy2d<T><<<ts_grid(rows * cols, THREADS), THREADS, 0, s>>>(
				 (T *)y, ldy, (const T *)x, ldx, rows, cols));
	return cudaGetLastError();
}

cudaError_t ts_k_permute(cudaStream_t s, int dt, void *y, const void *x, int ndim,
			 const int64_t *shape, const int *perm)
{
	struct perm_geom g;
	int64_t stride[TS_MAX_DIMS], n = 1;

	for (int d = ndim - 1; d >= 0; d--) {
		stride[d] = n;
		n *= shape[d];
	}
	g.ndim = ndim;
	for (int d = 0; d < ndim; d++) {
		g.out_dim[d] = shape[perm[d]];
		g.in_stride[d] = stride[perm[d]];
	}
	TS_DT_SWITCH(dt, k_permute<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)x, n, g));
	return cudaGetLastError();
}

cudaError_t ts_k_upsample(cudaStream_t s, int dt, void *y, const void *x, int64_t nc, int64_t t,
			  int64_t h, int64_t w, int ft, int fh, int fw)
{
	int64_t n = nc * t * ft * h * fh * w * fw;

	TS_DT_SWITCH(dt, k_upsample<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)x, nc, t, h, w, ft, fh, fw));
	return cudaGetLastError();
}

cudaError_t ts_k_embedding(cudaStream_t s, int dt, void *y, const void *table, int64_t dim,
			   const int64_t *ids_dev, int64_t n)
{
	TS_DT_SWITCH(dt, k_embedding<T><<<ts_grid(n * dim, THREADS), THREADS, 0, s>>>(
				 (T *)y, (const T *)table, dim, ids_dev, n));
	return cudaGetLastError();
}

cudaError_t ts_k_im2col(cudaStream_t s, int dt, void *col, const void *x, const struct ts_conv *c,
			int64_t t_out, int64_t h_out, int64_t w_out, int64_t p0, int64_t pn)
{
	struct im2col_geom g;
	int64_t n;

	g.c_in = c->c_in;
	g.t = c->t;
	g.h = c->h;
	g.w = c->w;
	g.t_out = t_out;
	g.h_out = h_out;
	g.w_out = w_out;
	g.p0 = p0;
	g.pn = pn;
	g.kt = c->kt;
	g.kh = c->kh;
	g.kw = c->kw;
	g.st = c->st;
	g.sh = c->sh;
	g.sw = c->sw;
	g.pad_t = c->pad_t_front;
	g.pad_h = c->pad_h;
	g.pad_w = c->pad_w;
	n = g.c_in * c->kt * c->kh * c->kw * pn;
	TS_DT_SWITCH(dt, k_im2col<T><<<ts_grid(n, THREADS), THREADS, 0, s>>>(
				 (T *)col, (const T *)x, g));
	return cudaGetLastError();
}

} /* extern "C" */
