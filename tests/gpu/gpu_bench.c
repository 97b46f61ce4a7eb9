// SPDX-License-Identifier: MIT
/*
 * tests/gpu/gpu_bench.c - times the CUDA backend's GEMM and attention (bf16
 * storage) against cuBLAS's own bf16 GEMM rate, measured in the same run on
 * the same GPU, and prints a short table last. Not a test: tests/gpu/run.sh
 * runs it after test_cuda_backend. Exits 0 with a message when there is no GPU.
 *
 * Timing: warm-up calls first (handle creation, cuBLASLt heuristics, smem
 * attributes), then the median of several timed batches of calls, each
 * batch ended by a stream sync, so both sides are timed the same way.
 * Inputs are random (zeros run faster on these chips than real data).
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <tetri/backend.h>
#include <tetri/error.h>

#define REPS 7

static const struct ts_backend_ops *cuda;
static struct ts_dev *dev;
static const struct ts_ops *ops;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Device buffer of @n bf16 elements, uniform in [-1, 1). */
static void *rand_buf(int64_t n)
{
	float *h = malloc((size_t)n * sizeof(float));
	void *d = cuda->alloc(dev, (size_t)n);

	if (!h || !d) {
		fprintf(stderr, "gpu_bench: cannot allocate %lld elements\n", (long long)n);
		exit(1);
	}
	for (int64_t i = 0; i < n; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		h[i] = (float)((double)(rng >> 11) * 0x1p-52 - 1.0);
	}
	if (cuda->upload(dev, d, h, TS_F32, n)) {
		fprintf(stderr, "gpu_bench: upload failed\n");
		exit(1);
	}
	free(h);
	return d;
}

/* Median seconds per call of @fn over REPS batches of @calls calls. */
typedef int (*call_fn)(void *arg);
static double time_calls(call_fn fn, void *arg, int calls, int (*sync)(void))
{
	double t[REPS];

	for (int i = 0; i < 3; i++)
		if (fn(arg))
			return NAN;
	if (sync())
		return NAN;
	for (int r = 0; r < REPS; r++) {
		double t0 = now();

		for (int i = 0; i < calls; i++)
			if (fn(arg))
				return NAN;
		if (sync())
			return NAN;
		t[r] = (now() - t0) / calls;
	}
	qsort(t, REPS, sizeof(t[0]), cmp_double);
	return t[REPS / 2];
}

static int be_sync(void)
{
	return cuda->sync(dev);
}

static int dev_sync(void)
{
	return cudaDeviceSynchronize() == cudaSuccess ? 0 : -1;
}

static int call_gemm(void *arg)
{
	return ops->gemm(dev, arg);
}

static int call_attention(void *arg)
{
	return ops->attention(dev, arg);
}

/* cuBLAS directly: the same row-major Linear (y = x W^T), no bias. */
struct raw_gemm {
	cublasHandle_t h;
	int m, n, k;
	const void *a, *b;
	void *c;
};

static int call_raw(void *arg)
{
	struct raw_gemm *g = arg;
	float one = 1, zero = 0;

	return cublasGemmEx(g->h, CUBLAS_OP_T, CUBLAS_OP_N, g->n, g->m, g->k, &one, g->b,
			    CUDA_R_16BF, g->k, g->a, CUDA_R_16BF, g->k, &zero, g->c, CUDA_R_16BF,
			    g->n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS;
}

struct row {
	char op[24], shape[40];
	double ms, tflops, ref_tflops;
};

static struct row rows[32];
static int n_rows;

static void add_row(const char *op, const char *shape, double s, double flops, double ref)
{
	struct row *r = &rows[n_rows++];

	snprintf(r->op, sizeof(r->op), "%s", op);
	snprintf(r->shape, sizeof(r->shape), "%s", shape);
	r->ms = s * 1e3;
	r->tflops = flops / s / 1e12;
	r->ref_tflops = ref;
}

/* Returns cuBLAS's rate for the shape, TFLOP/s. */
static double bench_gemm(cublasHandle_t h, int m, int n, int k)
{
	void *a = rand_buf((int64_t)m * k), *b = rand_buf((int64_t)n * k);
	void *bias = rand_buf(n), *c = cuda->alloc(dev, (size_t)m * n);
	struct ts_gemm g = { .trans_b = 1, .m = m, .n = n, .k = k, .a = a, .lda = k, .b = b,
			     .ldb = k, .c = c, .ldc = n, .bias = bias, .alpha = 1 };
	struct raw_gemm raw = { h, m, n, k, a, b, c };
	double flops = 2.0 * m * n * k, t_be, t_raw;
	char shape[40];

	t_raw = time_calls(call_raw, &raw, 20, dev_sync);
	t_be = time_calls(call_gemm, &g, 20, be_sync);
	snprintf(shape, sizeof(shape), "%dx%dx%d", m, n, k);
	add_row("cublas gemm", shape, t_raw, flops, flops / t_raw / 1e12);
	add_row("op gemm+bias", shape, t_be, flops, flops / t_raw / 1e12);
	cuda->free(dev, a);
	cuda->free(dev, b);
	cuda->free(dev, bias);
	cuda->free(dev, c);
	return flops / t_raw / 1e12;
}

static void bench_attention(const char *name, int batch, int heads, int len, int hd, double ref)
{
	int64_t tok = 3LL * heads * hd;
	void *qkv = rand_buf(batch * len * tok);
	void *o = cuda->alloc(dev, (size_t)batch * len * heads * hd);
	char *base = qkv;
	struct ts_attention a = {
		.batch = batch, .heads = heads, .q_len = len, .kv_len = len, .head_dim = hd,
		.q = base, .k = base + 2 * heads * hd, .v = base + 4 * heads * hd, .o = o,
		.q_tok = tok, .k_tok = tok, .v_tok = tok, .o_tok = (int64_t)heads * hd,
		.q_batch = len * tok, .k_batch = len * tok, .v_batch = len * tok,
		.o_batch = (int64_t)len * heads * hd, .scale = 1.0f / sqrtf((float)hd),
	};
	double flops = 4.0 * batch * heads * (double)len * len * hd;
	char shape[40];

	snprintf(shape, sizeof(shape), "b%d h%d n%d d%d", batch, heads, len, hd);
	add_row(name, shape, time_calls(call_attention, &a, 5, be_sync), flops, ref);
	cuda->free(dev, qkv);
	cuda->free(dev, o);
}

static int open_backend(const char *attn_kind, struct ts_backend **be)
{
	setenv("TS_CUDA_DTYPE", "bf16", 1);
	setenv("TS_CUDA_ATTN", attn_kind, 1);
	return cuda->create(NULL, 1, be);
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ts_backend_accessor_fn fn;
	struct ts_backend *be;
	cublasHandle_t h;
	double peak, attn_best = 0;
	ssize_t len;
	void *so;
	int rc;

	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = 0;
	snprintf(path, sizeof(path), "%s", argc > 1 ? argv[1] : "");
	if (argc <= 1)
		snprintf(path, sizeof(path), "%s/../backends/cuda.so", dirname(exe));
	so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	fn = so ? (ts_backend_accessor_fn)dlsym(so, "ts_backend_cuda_v1") : NULL;
	if (!fn) {
		fprintf(stderr, "gpu_bench: cannot load %s: %s\n", path, dlerror());
		return 1;
	}
	cuda = fn();
	rc = open_backend("fa", &be);
	if (rc == TS_ENODEV) {
		printf("gpu_bench: no GPU, nothing timed\n");
		return 0;
	}
	if (rc) {
		fprintf(stderr, "gpu_bench: cuda backend: %s\n", ts_strerror(rc));
		return 1;
	}
	dev = cuda->device(be, 0);
	ops = cuda->ops(dev);
	cuda->bind_thread(dev);
	if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
		fprintf(stderr, "gpu_bench: cublasCreate failed\n");
		return 1;
	}

	/* DiT-XL/2 linears at 8 x 1024 tokens, and a square one for the chip's rate. */
	peak = bench_gemm(h, 8192, 8192, 8192);
	bench_gemm(h, 8192, 3456, 1152);
	bench_gemm(h, 8192, 4608, 1152);
	bench_gemm(h, 8192, 1152, 4608);
	bench_attention("attention fa", 4, 16, 1024, 72, peak);
	bench_attention("attention fa", 2, 16, 4096, 72, peak);
	bench_attention("attention fa", 2, 16, 4096, 64, peak);
	bench_attention("attention fa", 2, 16, 4096, 128, peak);
	for (int i = 0; i < n_rows; i++)
		if (!strcmp(rows[i].op, "attention fa") && rows[i].tflops > attn_best)
			attn_best = rows[i].tflops;
	cuda->destroy(be);

	/* The other kernels on one shape, for the record. */
	for (int k = 0; k < 2; k++) {
		if (open_backend(k ? "simt" : "wmma", &be))
			continue;
		dev = cuda->device(be, 0);
		ops = cuda->ops(dev);
		cuda->bind_thread(dev);
		bench_attention(k ? "attention simt" : "attention wmma", 2, 16, 4096, 72, peak);
		cuda->destroy(be);
	}
	cublasDestroy(h);

	printf("\n%-20s %-20s %9s %9s %9s %7s\n", "op", "shape", "ms", "TFLOP/s", "ref", "ratio");
	for (int i = 0; i < n_rows; i++)
		printf("%-20s %-20s %9.3f %9.1f %9.1f %7.2f\n", rows[i].op, rows[i].shape,
		       rows[i].ms, rows[i].tflops, rows[i].ref_tflops,
		       rows[i].tflops / rows[i].ref_tflops);
	{
		double op_sum = 0, raw_sum = 0;

		for (int i = 0; i < n_rows; i++) {
			if (!strcmp(rows[i].op, "op gemm+bias") &&
			    strcmp(rows[i].shape, "8192x8192x8192")) {
				op_sum += rows[i].tflops;
				raw_sum += rows[i].ref_tflops;
			}
		}
		printf("gemm_vs_cublas=%.2f attention_vs_gemm=%.2f "
		       "(ref: cuBLAS bf16 %.0f TFLOP/s at 8192^3)\n",
		       raw_sum > 0 ? op_sum / raw_sum : 0, attn_best / peak, peak);
	}
	return 0;
}
