// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_gemm.c - the CPU GEMM op against a float64 reference:
 * random shapes (odd, not multiples of any block), both transposes, padded
 * leading dimensions, bias, beta, fused activations, batches with shared
 * operands; C poisoned with NaN whenever beta is 0.
 */
#include "optest.h"

static double act_ref(double x, enum ts_act act)
{
	switch (act) {
	case TS_ACT_GELU_TANH:
		return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
	case TS_ACT_SILU:
		return x / (1 + exp(-x));
	case TS_ACT_TANH:
		return tanh(x);
	default:
		return x;
	}
}

static void gemm_ref(const struct ts_gemm *g, const float *c0, double *out)
{
	int64_t batch = g->batch > 1 ? g->batch : 1;

	for (int64_t bi = 0; bi < batch; bi++) {
		const float *a = (const float *)g->a + bi * g->stride_a;
		const float *b = (const float *)g->b + bi * g->stride_b;

		for (int64_t i = 0; i < g->m; i++)
			for (int64_t j = 0; j < g->n; j++) {
				double s = 0, v;

				for (int64_t p = 0; p < g->k; p++) {
					float x = g->trans_a ? a[p * g->lda + i]
							     : a[i * g->lda + p];
					float y = g->trans_b ? b[j * g->ldb + p]
							     : b[p * g->ldb + j];

					s += (double)x * y;
				}
				v = g->alpha * s;
				if (g->beta != 0)
					v += g->beta *
					     (double)c0[bi * g->stride_c + i * g->ldc + j];
				if (g->bias)
					v += ((const float *)g->bias)[j];
				out[(bi * g->m + i) * g->n + j] = act_ref(v, g->act);
			}
	}
}

/* One random case; returns 1 when the op matches the reference. */
static int gemm_case(struct ts_dev *dev, int64_t m, int64_t n, int64_t k, int64_t batch, int ta,
		     int tb, int with_bias, float beta, enum ts_act act, char *what, size_t wsz)
{
	struct ts_gemm g = { .trans_a = ta, .trans_b = tb, .m = m, .n = n, .k = k,
			     .alpha = optest_int(0, 1) ? 1.0f : 0.75f, .beta = beta, .act = act,
			     .batch = batch };
	int64_t rows_a = ta ? k : m, rows_b = tb ? n : k, nb = batch > 1 ? batch : 1;
	float *a, *b, *c, *c0, *bias = NULL, *got;
	double *ref;
	int pass;

	g.lda = (ta ? m : k) + optest_int(0, 3);
	g.ldb = (tb ? k : n) + optest_int(0, 3);
	g.ldc = n + optest_int(0, 2);
	g.stride_a = batch > 1 && optest_int(0, 2) ? rows_a * g.lda : 0; /* 0: shared A */
	g.stride_b = batch > 1 ? rows_b * g.ldb : 0;
	g.stride_c = m * g.ldc;
	a = optest_rand(rows_a * g.lda * (g.stride_a ? nb : 1), 1);
	b = optest_rand(rows_b * g.ldb * nb, 1);
	c = beta == 0 ? optest_poison(m * g.ldc * nb) : optest_rand(m * g.ldc * nb, 1);
	c0 = malloc((size_t)(m * g.ldc * nb) * sizeof(float));
	memcpy(c0, c, (size_t)(m * g.ldc * nb) * sizeof(float));
	if (with_bias)
		bias = optest_rand(n, 1);
	g.a = a;
	g.b = b;
	g.c = c;
	g.bias = bias;
	ref = optest_dalloc(m * n * nb);
	gemm_ref(&g, c0, ref);
	snprintf(what, wsz,
		 "gemm m=%lld n=%lld k=%lld batch=%lld ta=%d tb=%d bias=%d beta=%g act=%d",
		 (long long)m, (long long)n, (long long)k, (long long)batch, ta, tb, with_bias,
		 beta, act);
	pass = ts_cpu_ops.gemm(dev, &g) == 0;
	got = malloc((size_t)(m * n * nb) * sizeof(float));
	for (int64_t bi = 0; bi < nb; bi++)
		for (int64_t i = 0; i < m; i++)
			memcpy(got + (bi * m + i) * n, c + bi * g.stride_c + i * g.ldc,
			       (size_t)n * sizeof(float));
	pass = pass && optest_close(what, got, ref, m * n * nb, 3e-6 * sqrt((double)k) + 2e-6);
	free(got);
	free(ref);
	free(bias);
	free(c0);
	free(c);
	free(b);
	free(a);
	return pass;
}

static void test_random(struct ts_dev *dev, int cases)
{
	char what[160];
	int fails = 0;

	for (int i = 0; i < cases; i++) {
		int64_t m = optest_int(1, 70), n = optest_int(1, 90), k = optest_int(1, 80);
		int64_t batch = optest_int(0, 4) == 0 ? optest_int(2, 4) : 1;
		float beta = optest_int(0, 1) ? 0.0f : 0.5f;

		if (!gemm_case(dev, m, n, k, batch, (int)optest_int(0, 1), (int)optest_int(0, 1),
			       (int)optest_int(0, 1), beta, (enum ts_act)optest_int(0, 3), what,
			       sizeof(what))) {
			ok(0, "%s", what);
			fails++;
		}
	}
	ok(!fails, "%d random GEMMs match the float64 reference", cases);
}

static void test_large(struct ts_dev *dev)
{
	char what[160];

	/* Big enough to be split over the team; no dimension a multiple of 16. */
	ok(gemm_case(dev, 67, 515, 301, 1, 0, 1, 1, 0.0f, TS_ACT_GELU_TANH, what, sizeof(what)),
	   "%s", what);
	ok(gemm_case(dev, 613, 45, 257, 1, 1, 0, 0, 0.5f, TS_ACT_NONE, what, sizeof(what)),
	   "%s", what);
	ok(gemm_case(dev, 129, 200, 97, 2, 0, 0, 1, 0.0f, TS_ACT_SILU, what, sizeof(what)),
	   "%s", what);
	ok(gemm_case(dev, 5, 7, 0, 1, 0, 1, 1, 0.5f, TS_ACT_TANH, what, sizeof(what)),
	   "%s (k = 0: C = act(beta C + bias))", what);
}

static void test_errors(struct ts_dev *dev)
{
	float a[16] = { 0 }, b[16] = { 0 }, c[16] = { 0 };
	struct ts_gemm g = { .m = 2, .n = 2, .k = 2, .a = a, .lda = 2, .b = b, .ldb = 2, .c = c,
			     .ldc = 2, .alpha = 1 };

	g.lda = 1;
	ok(ts_cpu_ops.gemm(dev, &g) == TS_EINVAL, "lda smaller than k is refused");
	g.lda = 2;
	g.c = NULL;
	ok(ts_cpu_ops.gemm(dev, &g) == TS_EINVAL, "NULL C is refused");
	g.c = c;
	g.batch = 2;
	g.stride_c = 0;
	ok(ts_cpu_ops.gemm(dev, &g) == TS_EINVAL, "batched outputs sharing C are refused");
	g.batch = 0;
	g.m = -1;
	ok(ts_cpu_ops.gemm(dev, &g) == TS_EINVAL, "negative m is refused");
}

int main(void)
{
	struct ts_cpu_backend *be;

	optest_seed();
	/* Three threads: blocks split unevenly, and the team code is exercised. */
	be = optest_backend(1, 3);
	if (!ok(be != NULL, "CPU backend with one device of three threads"))
		return tap_done();
	test_random((struct ts_dev *)be->devs[0], 150);
	test_large((struct ts_dev *)be->devs[0]);
	test_errors((struct ts_dev *)be->devs[0]);
	optest_backend_free(be);

	be = optest_backend(1, 1);
	if (ok(be != NULL, "CPU backend with one single-threaded device"))
		test_random((struct ts_dev *)be->devs[0], 40);
	optest_backend_free(be);
	return tap_done();
}
