// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_layout.c - elementwise ops, permute, copy2d, nearest
 * upsampling, embedding lookup and rotary embedding against float64
 * references, with poisoned outputs and odd sizes.
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

static void test_elementwise(struct ts_dev *dev)
{
	/* Above one task chunk so the team shares the work. */
	int64_t n = optest_int(1, 100000);
	float *a = optest_rand(n, 12), *b = optest_rand(n, 3), *y = optest_poison(n);
	double *ref = optest_dalloc(n);

	for (int act = 1; act <= 3; act++) {
		for (int64_t i = 0; i < n; i++)
			ref[i] = act_ref(a[i], (enum ts_act)act);
		ok(ts_cpu_ops.activation(dev, y, a, n, (enum ts_act)act) == 0 &&
		   optest_close("activation", y, ref, n, 1e-6), "activation %d on %lld elements",
		   act, (long long)n);
	}
	for (int64_t i = 0; i < n; i++)
		ref[i] = (double)a[i] + b[i];
	ts_cpu_ops.fill(dev, y, NAN, n);
	ok(ts_cpu_ops.add(dev, y, a, b, n) == 0 && optest_close("add", y, ref, n, 1e-7), "add");
	for (int64_t i = 0; i < n; i++)
		ref[i] = (double)y[i] * b[i];
	ok(ts_cpu_ops.mul(dev, y, y, b, n) == 0 && optest_close("mul", y, ref, n, 1e-7),
	   "mul in place");
	for (int64_t i = 0; i < n; i++)
		ref[i] = 0.5 * a[i] - 2.0 * y[i];
	ok(ts_cpu_ops.axpby(dev, y, 0.5f, a, -2.0f, n) == 0 &&
	   optest_close("axpby", y, ref, n, 1e-6), "axpby");
	ts_cpu_ops.fill(dev, y, NAN, n);
	for (int64_t i = 0; i < n; i++)
		ref[i] = 1.5 * a[i];
	ok(ts_cpu_ops.axpby(dev, y, 1.5f, a, 0.0f, n) == 0 &&
	   optest_close("axpby beta 0", y, ref, n, 1e-7), "axpby with beta 0 ignores NaN in y");
	for (int64_t i = 0; i < n; i++)
		ref[i] = 0.25;
	ok(ts_cpu_ops.fill(dev, y, 0.25f, n) == 0 && optest_close("fill", y, ref, n, 0), "fill");
	{
		int64_t rows = optest_int(1, 9), cols = n / rows;

		for (int64_t i = 0; i < rows * cols; i++)
			ref[i] = (double)a[i] + b[i % cols];
		ts_cpu_ops.fill(dev, y, NAN, n);
		ok(ts_cpu_ops.add_row(dev, y, a, b, rows, cols) == 0 &&
		   optest_close("add_row", y, ref, rows * cols, 1e-7), "add_row %lld x %lld",
		   (long long)rows, (long long)cols);
	}
	free(ref);
	free(y);
	free(b);
	free(a);
}

static void test_permute(struct ts_dev *dev)
{
	int ndim = (int)optest_int(1, 6), perm[TS_MAX_DIMS];
	int64_t shape[TS_MAX_DIMS], n = 1, ystr[TS_MAX_DIMS], idx[TS_MAX_DIMS] = { 0 };
	float *x, *y;
	double *ref;

	for (int i = 0; i < ndim; i++) {
		shape[i] = optest_int(1, 7);
		n *= shape[i];
		perm[i] = i;
	}
	for (int i = ndim - 1; i > 0; i--) {
		int j = (int)optest_int(0, i), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	x = optest_rand(n, 1);
	y = optest_poison(n);
	ref = optest_dalloc(n);
	/* y's stride for each of x's dims */
	{
		int64_t s = 1;

		for (int i = ndim - 1; i >= 0; i--) {
			ystr[perm[i]] = s;
			s *= shape[perm[i]];
		}
	}
	for (int64_t e = 0; e < n; e++) {
		int64_t off = 0;

		for (int i = 0; i < ndim; i++)
			off += idx[i] * ystr[i];
		ref[off] = x[e];
		for (int i = ndim - 1; i >= 0 && ++idx[i] == shape[i]; i--)
			idx[i] = 0;
	}
	ok(ts_cpu_ops.permute(dev, y, x, ndim, shape, perm) == 0 &&
	   optest_close("permute", y, ref, n, 0), "permute of %d dims (%lld elements)", ndim,
	   (long long)n);
	free(ref);
	free(y);
	free(x);
}

static void test_patchify(struct ts_dev *dev)
{
	/* DiT patchify: [C, G p, G p] -> [G, G, p, p, C] by one permute of [C, G, p, G, p]. */
	int64_t c = 3, g = 5, p = 2, shape[5] = { c, g, p, g, p };
	int perm[5] = { 1, 3, 2, 4, 0 };
	int64_t n = c * g * p * g * p, side = g * p;
	float *x = optest_rand(n, 1), *y = optest_poison(n);
	double *ref = optest_dalloc(n);

	for (int64_t ch = 0; ch < c; ch++)
		for (int64_t r = 0; r < side; r++)
			for (int64_t q = 0; q < side; q++) {
				int64_t tok = (r / p) * g + q / p, within = (r % p) * p + q % p;

				ref[(tok * p * p + within) * c + ch] =
					x[(ch * side + r) * side + q];
			}
	ok(ts_cpu_ops.permute(dev, y, x, 5, shape, perm) == 0 &&
	   optest_close("patchify", y, ref, n, 0), "permute does DiT's patchify layout");
	perm[0] = 1;
	ok(ts_cpu_ops.permute(dev, y, x, 5, shape, (int[]){ 1, 1, 2, 3, 4 }) == TS_EINVAL,
	   "permute refuses a perm with a repeated dim");
	free(ref);
	free(y);
	free(x);
}

static void test_copy2d_upsample(struct ts_dev *dev)
{
	int64_t rows = optest_int(1, 20), cols = optest_int(1, 30), ldx = cols + 3, ldy = cols + 1;
	float *x = optest_rand(rows * ldx, 1), *y = optest_poison(rows * ldy);
	double *ref = optest_dalloc(rows * ldy);
	int good = 1;

	ok(ts_cpu_ops.copy2d(dev, y, ldy, x, ldx, rows, cols) == 0, "copy2d runs");
	for (int64_t r = 0; r < rows; r++)
		for (int64_t c = 0; c < ldy; c++)
			good &= c < cols ? y[r * ldy + c] == x[r * ldx + c] : isnan(y[r * ldy + c]);
	ok(good, "copy2d copies the rows and leaves the padding alone");
	free(ref);
	free(y);
	free(x);

	{
		int64_t n = 2, c = 3, t = optest_int(1, 3), h = optest_int(1, 6);
		int64_t w = optest_int(1, 7);
		int ft = (int)optest_int(1, 2), fh = 2, fw = (int)optest_int(1, 3);
		int64_t to = t * ft, ho = h * fh, wo = w * fw, total = n * c * to * ho * wo;
		float *ux = optest_rand(n * c * t * h * w, 1), *uy = optest_poison(total);
		double *uref = optest_dalloc(total);

		for (int64_t i = 0; i < total; i++) {
			int64_t q = i % wo, r = i / wo % ho, s = i / (wo * ho) % to;
			int64_t nc = i / (wo * ho * to);

			uref[i] = ux[((nc * t + s / ft) * h + r / fh) * w + q / fw];
		}
		ok(ts_cpu_ops.upsample_nearest(dev, uy, ux, n, c, t, h, w, ft, fh, fw) == 0 &&
		   optest_close("upsample", uy, uref, total, 0), "upsample_nearest x(%d,%d,%d)", ft,
		   fh, fw);
		free(uref);
		free(uy);
		free(ux);
	}
}

static void test_embedding(struct ts_dev *dev)
{
	int64_t rows = optest_int(1, 1001), dim = optest_int(1, 40), n = optest_int(1, 9);
	float *table = optest_rand(rows * dim, 1), *y = optest_poison(n * dim);
	double *ref = optest_dalloc(n * dim);
	int64_t ids[9];

	for (int64_t i = 0; i < n; i++) {
		ids[i] = optest_int(0, rows - 1);
		for (int64_t j = 0; j < dim; j++)
			ref[i * dim + j] = table[ids[i] * dim + j];
	}
	ok(ts_cpu_ops.embedding(dev, y, table, rows, dim, ids, n) == 0 &&
	   optest_close("embedding", y, ref, n * dim, 0), "embedding of %lld ids", (long long)n);
	ids[n - 1] = rows;
	ok(ts_cpu_ops.embedding(dev, y, table, rows, dim, ids, n) == TS_ERANGE,
	   "embedding refuses an id past the table");
	free(ref);
	free(y);
	free(table);
}

static void test_rope(struct ts_dev *dev)
{
	int64_t batch = 2, tokens = optest_int(1, 40), heads = optest_int(1, 3);
	int64_t hd = 2 * optest_int(1, 12), nf = optest_int(1, hd / 2), tok = heads * hd + 2;
	int64_t bs = tokens * tok, n = batch * bs;
	float *x = optest_rand(n, 1), *f = optest_rand(nf, 1);
	double *ref = optest_dalloc(n);

	for (int64_t i = 0; i < n; i++)
		ref[i] = x[i];
	for (int64_t b = 0; b < batch; b++)
		for (int64_t p = 0; p < tokens; p++)
			for (int64_t h = 0; h < heads; h++)
				for (int64_t i = 0; i < nf; i++) {
					int64_t o = b * bs + p * tok + h * hd + 2 * i;
					double a = (double)p * f[i], x0 = x[o], x1 = x[o + 1];

					ref[o] = x0 * cos(a) - x1 * sin(a);
					ref[o + 1] = x0 * sin(a) + x1 * cos(a);
				}
	ok(ts_cpu_ops.rope(dev, x, f, nf, batch, tokens, heads, hd, tok, bs) == 0 &&
	   optest_close("rope", x, ref, n, 1e-6),
	   "rope tokens=%lld heads=%lld head_dim=%lld n_freq=%lld",
	   (long long)tokens, (long long)heads, (long long)hd, (long long)nf);
	free(ref);
	free(f);
	free(x);
}

/*
 * copy2d large enough to be split over the team (chunks of 32K elements),
 * and a copy of a buffer one row up onto itself: overlapping rows, which the
 * op keeps in its first-row-first order.
 */
static void test_copy2d_big(struct ts_dev *dev)
{
	int64_t rows = optest_int(2000, 5000), cols = optest_int(10, 60);
	int64_t ldx = cols + optest_int(0, 5), ldy = cols + optest_int(0, 5);
	float *x = optest_rand(rows * ldx, 1), *y = optest_poison(rows * ldy);
	float *buf = optest_rand((rows + 1) * ldx, 1), *orig = malloc((size_t)((rows + 1) * ldx) *
								     sizeof(float));
	int good = 1;

	memcpy(orig, buf, (size_t)((rows + 1) * ldx) * sizeof(float));
	ok(ts_cpu_ops.copy2d(dev, y, ldy, x, ldx, rows, cols) == 0, "copy2d %lld x %lld runs",
	   (long long)rows, (long long)cols);
	for (int64_t r = 0; r < rows; r++)
		for (int64_t c = 0; c < ldy; c++)
			good &= c < cols ? y[r * ldy + c] == x[r * ldx + c] : isnan(y[r * ldy + c]);
	ok(good, "copy2d over the team copies every row and leaves the padding alone");
	ok(ts_cpu_ops.copy2d(dev, buf, ldx, buf + ldx, ldx, rows, cols) == 0,
	   "copy2d of overlapping rows runs");
	good = 1;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t c = 0; c < cols; c++)
			good &= buf[r * ldx + c] == orig[(r + 1) * ldx + c];
	ok(good, "overlapping rows move up one row, as in order");
	free(orig);
	free(buf);
	free(y);
	free(x);
}

int main(void)
{
	struct ts_cpu_backend *be;
	struct ts_dev *dev;

	optest_seed();
	be = optest_backend(1, 2);
	if (!ok(be != NULL, "CPU backend"))
		return tap_done();
	dev = (struct ts_dev *)be->devs[0];
	for (int rep = 0; rep < 8; rep++) {
		test_elementwise(dev);
		test_permute(dev);
		test_copy2d_upsample(dev);
		test_copy2d_big(dev);
		test_embedding(dev);
		test_rope(dev);
	}
	test_patchify(dev);
	optest_backend_free(be);
	return tap_done();
}
