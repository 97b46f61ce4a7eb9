// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_norm.c - row ops against float64 references: layer norm
 * (plain and affine, in place), adaLN modulate with strided shift/scale, RMS
 * norm, group norm, softmax, gated residual. Odd row lengths, poisoned outputs.
 */
#include "optest.h"

static void ln_ref(const float *x, int64_t rows, int64_t cols, const float *w, const float *b,
		   double eps, int rms, double *out)
{
	for (int64_t r = 0; r < rows; r++) {
		const float *xr = x + r * cols;
		double mean = 0, var = 0;

		for (int64_t i = 0; i < cols; i++)
			mean += xr[i];
		mean = rms ? 0 : mean / cols;
		for (int64_t i = 0; i < cols; i++)
			var += (xr[i] - mean) * (xr[i] - mean);
		var /= cols;
		for (int64_t i = 0; i < cols; i++)
			out[r * cols + i] = (xr[i] - mean) / sqrt(var + eps) * (w ? w[i] : 1) +
					    (b ? b[i] : 0);
	}
}

static void test_layer_norm(struct ts_dev *dev)
{
	int64_t rows = optest_int(1, 40), cols = optest_int(1, 1200);
	float *x = optest_rand(rows * cols, 3), *w = optest_rand(cols, 1);
	float *b = optest_rand(cols, 1);
	float *y = optest_poison(rows * cols);
	double *ref = optest_dalloc(rows * cols);

	for (int64_t i = 0; i < rows * cols; i++)
		x[i] += 5.0f; /* an offset the mean must remove */
	ln_ref(x, rows, cols, NULL, NULL, 1e-6, 0, ref);
	ok(ts_cpu_ops.layer_norm(dev, y, x, NULL, NULL, rows, cols, 1e-6f) == 0 &&
	   optest_close("layer_norm", y, ref, rows * cols, 2e-5),
	   "layer_norm without affine, %lld x %lld", (long long)rows, (long long)cols);
	ln_ref(x, rows, cols, w, b, 1e-5, 0, ref);
	ok(ts_cpu_ops.layer_norm(dev, x, x, w, b, rows, cols, 1e-5f) == 0 &&
	   optest_close("layer_norm in place", x, ref, rows * cols, 2e-5),
	   "layer_norm with affine, in place");
	free(ref);
	free(y);
	free(b);
	free(w);
	free(x);
}

static void test_rms_norm(struct ts_dev *dev)
{
	int64_t rows = optest_int(1, 64), cols = optest_int(1, 130);
	float *x = optest_rand(rows * cols, 2), *w = optest_rand(cols, 1);
	float *y = optest_poison(rows * cols);
	double *ref = optest_dalloc(rows * cols);

	ln_ref(x, rows, cols, w, NULL, 1e-6, 1, ref);
	ok(ts_cpu_ops.rms_norm(dev, y, x, w, rows, cols, 1e-6f) == 0 &&
	   optest_close("rms_norm", y, ref, rows * cols, 2e-5),
	   "rms_norm %lld x %lld", (long long)rows, (long long)cols);
	ln_ref(x, rows, cols, NULL, NULL, 1e-6, 1, ref);
	ok(ts_cpu_ops.rms_norm(dev, x, x, NULL, rows, cols, 1e-6f) == 0 &&
	   optest_close("rms_norm in place", x, ref, rows * cols, 2e-5),
	   "rms_norm without weight, in place");
	free(ref);
	free(y);
	free(w);
	free(x);
}

static void test_modulate(struct ts_dev *dev)
{
	int64_t batch = optest_int(1, 3), tokens = optest_int(1, 50), dim = optest_int(1, 300);
	int64_t stride = 6 * dim, n = batch * tokens * dim;
	float *x = optest_rand(n, 2), *mod = optest_rand(batch * stride, 1), *y = optest_poison(n);
	double *ref = optest_dalloc(n);

	ln_ref(x, batch * tokens, dim, NULL, NULL, 1e-6, 0, ref);
	for (int64_t i = 0; i < n; i++) {
		int64_t b = i / (tokens * dim), c = i % dim;
		/* shift is chunk 0 and scale chunk 1 of a [batch, 6 dim] buffer */
		ref[i] = ref[i] * (1.0 + mod[b * stride + dim + c]) + mod[b * stride + c];
	}
	ok(ts_cpu_ops.layer_norm_modulate(dev, y, x, mod, mod + dim, batch, tokens, dim, stride,
					  1e-6f) == 0 &&
	   optest_close("layer_norm_modulate", y, ref, n, 2e-5),
	   "layer_norm_modulate batch=%lld tokens=%lld dim=%lld", (long long)batch,
	   (long long)tokens, (long long)dim);
	/* gated residual with gate = chunk 2 of the same buffer */
	{
		float *r = optest_rand(n, 1);
		double *gref = optest_dalloc(n);

		for (int64_t i = 0; i < n; i++) {
			int64_t b = i / (tokens * dim), c = i % dim;

			gref[i] = (double)y[i] + (double)mod[b * stride + 2 * dim + c] * r[i];
		}
		ok(ts_cpu_ops.gated_residual(dev, y, r, mod + 2 * dim, batch, tokens, dim,
					     stride) == 0 &&
		   optest_close("gated_residual", y, gref, n, 1e-6),
		   "gated_residual with strided gate");
		for (int64_t i = 0; i < n; i++)
			gref[i] = (double)y[i] + r[i];
		ok(ts_cpu_ops.gated_residual(dev, y, r, NULL, batch, tokens, dim, 0) == 0 &&
		   optest_close("gated_residual", y, gref, n, 1e-6), "gated_residual without gate");
		free(gref);
		free(r);
	}
	free(ref);
	free(y);
	free(mod);
	free(x);
}

static void test_group_norm(struct ts_dev *dev)
{
	int groups = (int)optest_int(1, 5);
	int64_t n = optest_int(1, 2), c = groups * optest_int(1, 4), sp = optest_int(1, 333);
	int64_t total = n * c * sp, cpg = c / groups;
	float *x = optest_rand(total, 2), *w = optest_rand(c, 1), *b = optest_rand(c, 1);
	float *y = optest_poison(total);
	double *ref = optest_dalloc(total);

	for (int64_t ni = 0; ni < n; ni++)
		for (int g = 0; g < groups; g++) {
			const float *xg = x + (ni * c + g * cpg) * sp;
			double mean = 0, var = 0;

			for (int64_t i = 0; i < cpg * sp; i++)
				mean += xg[i];
			mean /= cpg * sp;
			for (int64_t i = 0; i < cpg * sp; i++)
				var += (xg[i] - mean) * (xg[i] - mean);
			var /= cpg * sp;
			for (int64_t i = 0; i < cpg * sp; i++) {
				int64_t ch = g * cpg + i / sp;

				ref[(ni * c + g * cpg) * sp + i] =
					(xg[i] - mean) / sqrt(var + 1e-6) * w[ch] + b[ch];
			}
		}
	ok(ts_cpu_ops.group_norm(dev, y, x, w, b, n, c, sp, groups, 1e-6f) == 0 &&
	   optest_close("group_norm", y, ref, total, 2e-5),
	   "group_norm n=%lld c=%lld spatial=%lld groups=%d", (long long)n, (long long)c,
	   (long long)sp, groups);
	ok(ts_cpu_ops.group_norm(dev, y, x, w, b, n, c, sp, (int)c + 1, 1e-6f) == TS_EINVAL,
	   "group_norm refuses channels not a multiple of groups");
	free(ref);
	free(y);
	free(b);
	free(w);
	free(x);
}

static void test_softmax(struct ts_dev *dev)
{
	int64_t rows = optest_int(1, 30), cols = optest_int(1, 700);
	float *x = optest_rand(rows * cols, 20), *y = optest_poison(rows * cols);
	double *ref = optest_dalloc(rows * cols);

	for (int64_t r = 0; r < rows; r++) {
		double mx = -INFINITY, s = 0;

		for (int64_t i = 0; i < cols; i++)
			mx = fmax(mx, x[r * cols + i]);
		for (int64_t i = 0; i < cols; i++)
			s += exp(x[r * cols + i] - mx);
		for (int64_t i = 0; i < cols; i++)
			ref[r * cols + i] = exp(x[r * cols + i] - mx) / s;
	}
	ok(ts_cpu_ops.softmax(dev, y, x, rows, cols) == 0 &&
	   optest_close("softmax", y, ref, rows * cols, 1e-6), "softmax %lld x %lld",
	   (long long)rows, (long long)cols);
	ok(ts_cpu_ops.softmax(dev, x, x, rows, cols) == 0 &&
	   optest_close("softmax in place", x, ref, rows * cols, 1e-6), "softmax in place");
	free(ref);
	free(y);
	free(x);
}

int main(void)
{
	struct ts_cpu_backend *be;

	optest_seed();
	be = optest_backend(1, 2);
	if (!ok(be != NULL, "CPU backend"))
		return tap_done();
	for (int rep = 0; rep < 8; rep++) {
		struct ts_dev *dev = (struct ts_dev *)be->devs[0];

		test_layer_norm(dev);
		test_rms_norm(dev);
		test_modulate(dev);
		test_group_norm(dev);
		test_softmax(dev);
	}
	ok(ts_cpu_ops.layer_norm((struct ts_dev *)be->devs[0], NULL, NULL, NULL, NULL, 2, 2,
				 1e-6f) == TS_EINVAL, "layer_norm refuses NULL buffers");
	optest_backend_free(be);
	return tap_done();
}
