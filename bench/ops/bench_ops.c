// SPDX-License-Identifier: MIT
/*
 * bench/ops/bench_ops.c - the CPU op table against raw OpenBLAS, same run,
 * same thread count: GEMM on DiT-XL/2 linear shapes, attention at DiT-XL/2
 * 512 px (1024 tokens, 16 heads, head dim 72). Both sides alternate in
 * rounds; medians are reported. Last line:
 *   gemm_vs_openblas=<worst shape ratio> attention_vs_gemm=<ratio>
 *
 *   bench_ops [--threads T] [--rounds R]    (default: cores, 11)
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "backend.h"
#include "cpu/cpu.h"

#define MAX_ROUNDS 32

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *rand_buf(size_t n)
{
	float *p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);

	for (size_t i = 0; p && i < n; i++)
		p[i] = (float)rand() / RAND_MAX - 0.5f;
	return p;
}

/* OpenBLAS's idle threads spin for a while after a call; let them sleep first. */
static void settle(void)
{
	usleep(100000);
}

struct shape {
	int m, n, k;
};

#define N_SHAPES 3
static const struct shape shapes[N_SHAPES] = { { 512, 3456, 1152 }, { 512, 4608, 1152 },
					       { 512, 1152, 4608 } };

/* Inputs of one Linear layer y = x W^T + b, as the DiT module calls it. */
struct gemm_bufs {
	float *x, *w, *bias, *c;
};

static double time_raw(const struct shape *s, const struct gemm_bufs *b, int threads)
{
	double t0;

	openblas_set_num_threads(threads);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, b->x, s->k,
		    b->w, s->k, 0.0f, b->c, s->n); /* warm */
	t0 = now();
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, b->x, s->k,
		    b->w, s->k, 0.0f, b->c, s->n);
	t0 = now() - t0;
	openblas_set_num_threads(1);
	return t0;
}

static double time_ops(struct ts_dev *dev, const struct shape *s, const struct gemm_bufs *b)
{
	struct ts_gemm g = { .trans_b = 1, .m = s->m, .n = s->n, .k = s->k, .a = b->x,
			     .lda = s->k, .b = b->w, .ldb = s->k, .c = b->c, .ldc = s->n,
			     .bias = b->bias, .alpha = 1 };
	double t0;

	ts_cpu_ops.gemm(dev, &g); /* warm */
	t0 = now();
	ts_cpu_ops.gemm(dev, &g);
	return now() - t0;
}

/* Self-attention on a fused qkv buffer [tokens, 3, heads, head_dim]. */
static double time_attention(struct ts_dev *dev, const float *qkv, float *o, int tokens,
			     int heads, int hd)
{
	int64_t row = (int64_t)heads * hd;
	struct ts_attention a = {
		.batch = 1, .heads = heads, .q_len = tokens, .kv_len = tokens, .head_dim = hd,
		.q = qkv, .k = qkv + row, .v = qkv + 2 * row, .o = o, .q_tok = 3 * row,
		.k_tok = 3 * row, .v_tok = 3 * row, .o_tok = row, .scale = 1.0f / sqrtf((float)hd),
	};
	double t0;

	ts_cpu_ops.attention(dev, &a); /* warm */
	t0 = now();
	ts_cpu_ops.attention(dev, &a);
	return now() - t0;
}

/*
 * Several devices computing at once, the case the threading design is for:
 * N single-threaded virtual devices (ours) against N threads each calling
 * OpenBLAS set to all cores (what a backend that left OpenBLAS threaded would
 * do). Total GFLOP/s of 3 GEMMs of the first shape per caller.
 */
struct conc {
	const struct gemm_bufs *b;
	double t;
};

static int conc_ops(struct ts_dev *dev, int rank, void *p)
{
	const struct conc *c = p;

	for (int i = 0; i < 3; i++)
		time_ops(dev, &shapes[0], &c->b[rank]);
	return 0;
}

static void *conc_raw(void *p)
{
	const struct gemm_bufs *b = p;
	const struct shape *s = &shapes[0];

	for (int i = 0; i < 6; i++)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->m, s->n, s->k, 1.0f, b->x,
			    s->k, b->w, s->k, 0.0f, b->c, s->n);
	return NULL;
}

static void bench_concurrent(int n)
{
	const struct shape *s = &shapes[0];
	double flop = 6 * 2.0 * s->m * s->n * s->k * n, t0, ours, raw;
	struct gemm_bufs *b = calloc((size_t)n, sizeof(*b));
	struct ts_dev *devs[64];
	pthread_t tid[64];
	struct ts_backend *tb;
	struct ts_cpu_backend *be;
	struct conc c = { .b = b };

	if (!b || n > 64 || ts_cpu_backend_create(n, 1, &tb))
		return;
	be = (struct ts_cpu_backend *)(void *)tb;
	for (int i = 0; i < n; i++) {
		b[i] = (struct gemm_bufs){ rand_buf((size_t)s->m * s->k),
					   rand_buf((size_t)s->n * s->k), rand_buf((size_t)s->n),
					   rand_buf((size_t)s->m * s->n) };
		devs[i] = (struct ts_dev *)be->devs[i];
	}
	t0 = now();
	ts_backend_run_spmd(devs, n, conc_ops, &c); /* each rank: 3 x (warm + timed) */
	ours = flop / (now() - t0) * 1e-9;
	openblas_set_num_threads(n);
	t0 = now();
	for (int i = 0; i < n; i++)
		pthread_create(&tid[i], NULL, conc_raw, &b[i]);
	for (int i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	raw = flop / (now() - t0) * 1e-9;
	openblas_set_num_threads(1);
	settle();
	printf("concurrent, %d callers x 6 GEMMs %d x %d x %d: %d single-threaded devices %.1f "
	       "GF/s total; OpenBLAS at %d threads per caller %.1f GF/s total\n", n, s->m, s->n,
	       s->k, n, ours, n, raw);
	for (int i = 0; i < n; i++) {
		free(b[i].c);
		free(b[i].bias);
		free(b[i].w);
		free(b[i].x);
	}
	free(b);
	ts_cpu_backend_ops.destroy(tb);
}

int main(int argc, char **argv)
{
	enum { TOKENS = 1024, HEADS = 16, HD = 72 };
	static double t_raw[N_SHAPES][MAX_ROUNDS], t_ops[N_SHAPES][MAX_ROUNDS], t_att[MAX_ROUNDS];
	static double ratio[N_SHAPES][MAX_ROUNDS], att_ratio[MAX_ROUNDS];
	const double att_flop = 4.0 * TOKENS * (double)TOKENS * HD * HEADS;
	struct gemm_bufs bufs[N_SHAPES];
	struct ts_backend *tb;
	struct ts_cpu_backend *be;
	struct ts_dev *dev;
	int threads = 0, rounds = 11;
	double worst = INFINITY, gemm_sum = 0, att;
	const char *core = getenv("OPENBLAS_CORETYPE");
	float *qkv, *o;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--rounds"))
			rounds = atoi(argv[i + 1]);
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 11;
	if (ts_cpu_backend_create(1, threads, &tb))
		return 1;
	be = (struct ts_cpu_backend *)(void *)tb;
	dev = (struct ts_dev *)be->devs[0];
	threads = be->devs[0]->threads;
	for (int i = 0; i < N_SHAPES; i++) {
		const struct shape *s = &shapes[i];

		bufs[i] = (struct gemm_bufs){ rand_buf((size_t)s->m * s->k),
					      rand_buf((size_t)s->n * s->k), rand_buf((size_t)s->n),
					      rand_buf((size_t)s->m * s->n) };
	}
	qkv = rand_buf((size_t)TOKENS * 3 * HEADS * HD);
	o = rand_buf((size_t)TOKENS * HEADS * HD);
	printf("# one virtual device, %d threads; raw OpenBLAS with %d threads; "
	       "OPENBLAS_CORETYPE=%s for both; %d rounds\n",
	       threads, threads, core ? core : "(unset)", rounds);
	/*
	 * Each round times every case back to back and the ratios are taken per
	 * round before the median: neighbours in time see the same load on the
	 * shared machine, so pairing them cancels its drift.
	 */
	for (int r = 0; r < rounds; r++) {
		double rate_sum = 0;

		for (int i = 0; i < N_SHAPES; i++) {
			double flop = 2.0 * shapes[i].m * shapes[i].n * shapes[i].k;

			t_raw[i][r] = time_raw(&shapes[i], &bufs[i], threads);
			settle();
			t_ops[i][r] = time_ops(dev, &shapes[i], &bufs[i]);
			ratio[i][r] = t_raw[i][r] / t_ops[i][r];
			rate_sum += flop / t_ops[i][r];
		}
		t_att[r] = time_attention(dev, qkv, o, TOKENS, HEADS, HD);
		att_ratio[r] = att_flop / t_att[r] / (rate_sum / N_SHAPES);
	}
	printf("%-24s %10s %10s %7s\n", "gemm M x N x K", "ops GF/s", "blas GF/s", "ratio");
	for (int i = 0; i < N_SHAPES; i++) {
		double flop = 2.0 * shapes[i].m * shapes[i].n * shapes[i].k;
		double ops = flop / median(t_ops[i], rounds) * 1e-9;
		double raw = flop / median(t_raw[i], rounds) * 1e-9, q = median(ratio[i], rounds);
		char name[32];

		snprintf(name, sizeof(name), "%d x %d x %d", shapes[i].m, shapes[i].n, shapes[i].k);
		printf("%-24s %10.1f %10.1f %7.3f\n", name, ops, raw, q);
		worst = q < worst ? q : worst;
		gemm_sum += ops;
	}
	att = att_flop / median(t_att, rounds) * 1e-9;
	printf("%-24s %10.1f   (op-table GEMM mean %.1f GF/s)\n", "attention 1024 x 16 x 72",
	       att, gemm_sum / N_SHAPES);
	printf("# ratios are medians of per-round ratios; rates are medians of times\n");
	for (int i = 0; i < N_SHAPES; i++) {
		free(bufs[i].c);
		free(bufs[i].bias);
		free(bufs[i].w);
		free(bufs[i].x);
	}
	free(o);
	free(qkv);
	ts_cpu_backend_ops.destroy(tb);
	bench_concurrent(threads);
	printf("gemm_vs_openblas=%.3f attention_vs_gemm=%.3f\n", worst, median(att_ratio, rounds));
	return 0;
}
