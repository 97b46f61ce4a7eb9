// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_conv.c - the conv op (im2col + sgemm) against a direct
 * float64 convolution: 2-D 3x3 and 1x1, DiT's patch embedding (kernel =
 * stride), causal 3-D with time stride 1 and 2, odd sizes, poisoned outputs,
 * and an arena that stops growing once it has seen the largest shape.
 */
#include "optest.h"

/* Output element (n, co, t, i, j) summed directly over the kernel. */
static double conv_at(const struct ts_conv *c, int64_t n, int64_t co, int64_t t, int64_t i,
		      int64_t j)
{
	const float *x = c->x, *wt = c->weight, *bias = c->bias;
	double s = bias ? bias[co] : 0;

	for (int64_t ci = 0; ci < c->c_in; ci++)
		for (int64_t tap = 0; tap < (int64_t)c->kt * c->kh * c->kw; tap++) {
			int dt = (int)(tap / (c->kh * c->kw)), dy = (int)(tap / c->kw % c->kh);
			int dx = (int)(tap % c->kw);
			int64_t ti = t * c->st + dt - c->pad_t_front;
			int64_t yi = i * c->sh + dy - c->pad_h, xi = j * c->sw + dx - c->pad_w;

			if (ti < 0 || ti >= c->t || yi < 0 || yi >= c->h || xi < 0 || xi >= c->w)
				continue;
			s += (double)x[(((n * c->c_in + ci) * c->t + ti) * c->h + yi) * c->w + xi] *
			     wt[(co * c->c_in + ci) * c->kt * c->kh * c->kw + tap];
		}
	return s;
}

static void conv_ref(const struct ts_conv *c, int64_t to, int64_t ho, int64_t wo, double *out)
{
	int64_t e = 0;

	for (int64_t n = 0; n < c->n; n++)
		for (int64_t co = 0; co < c->c_out; co++)
			for (int64_t t = 0; t < to; t++)
				for (int64_t i = 0; i < ho; i++)
					for (int64_t j = 0; j < wo; j++)
						out[e++] = conv_at(c, n, co, t, i, j);
}

static int conv_case(struct ts_dev *dev, struct ts_conv c, const char *what)
{
	int64_t to = (c.t + c.pad_t_front - c.kt) / c.st + 1;
	int64_t ho = (c.h + 2 * c.pad_h - c.kh) / c.sh + 1;
	int64_t wo = (c.w + 2 * c.pad_w - c.kw) / c.sw + 1;
	int64_t ny = c.n * c.c_out * to * ho * wo;
	float *x = optest_rand(c.n * c.c_in * c.t * c.h * c.w, 1);
	float *w = optest_rand(c.c_out * c.c_in * c.kt * c.kh * c.kw, 1);
	float *b = optest_int(0, 1) ? optest_rand(c.c_out, 1) : NULL, *y = optest_poison(ny);
	double *ref = optest_dalloc(ny);
	int pass;

	c.x = x;
	c.weight = w;
	c.bias = b;
	c.y = y;
	conv_ref(&c, to, ho, wo, ref);
	pass = ts_cpu_ops.conv(dev, &c) == 0 &&
	       optest_close(what, y, ref, ny,
			    3e-6 * sqrt((double)(c.c_in * c.kt * c.kh * c.kw)) + 1e-6);
	ok(pass, "%s: n=%lld c_in=%lld c_out=%lld t=%lld h=%lld w=%lld bias=%d", what,
	   (long long)c.n, (long long)c.c_in, (long long)c.c_out, (long long)c.t, (long long)c.h,
	   (long long)c.w, b != NULL);
	free(ref);
	free(y);
	free(b);
	free(w);
	free(x);
	return pass;
}

static struct ts_conv conv2d(int k, int stride, int pad)
{
	return (struct ts_conv){ .n = optest_int(1, 2), .c_in = optest_int(1, 9),
				 .c_out = optest_int(1, 11), .t = 1, .h = optest_int(k, 23),
				 .w = optest_int(k, 29), .kt = 1, .kh = k, .kw = k, .st = 1,
				 .sh = stride, .sw = stride, .pad_h = pad, .pad_w = pad };
}

/* Open-Sora's CausalConv3d: k - 1 + (1 - stride) frames of front padding. */
static struct ts_conv conv3d(int k, int st, int pad)
{
	int front = k - 1 + (1 - st) > 0 ? k - 1 + (1 - st) : 0;

	return (struct ts_conv){ .n = 1, .c_in = optest_int(1, 6), .c_out = optest_int(1, 7),
				 .t = optest_int(k - front, 7), .h = optest_int(1, 9),
				 .w = optest_int(1, 11), .kt = k, .kh = k, .kw = k, .st = st,
				 .sh = 1, .sw = 1, .pad_t_front = front, .pad_h = pad,
				 .pad_w = pad };
}

int main(void)
{
	struct ts_cpu_backend *be;
	struct ts_dev *dev;
	struct ts_conv big;
	unsigned long grows;

	optest_seed();
	be = optest_backend(1, 2);
	if (!ok(be != NULL, "CPU backend"))
		return tap_done();
	dev = (struct ts_dev *)be->devs[0];
	for (int rep = 0; rep < 6; rep++) {
		conv_case(dev, conv2d(3, 1, 1), "conv2d 3x3 pad 1");
		conv_case(dev, conv2d(1, 1, 0), "conv2d 1x1 (no unfolding)");
		conv_case(dev, conv2d(2, 2, 0), "patch embedding 2x2 stride 2");
		conv_case(dev, conv3d(3, 1, 1), "causal conv3d 3x3x3");
		conv_case(dev, conv3d(3, 2, 1), "causal conv3d time stride 2");
		conv_case(dev, conv3d(1, 1, 0), "conv3d 1x1x1");
	}
	/* Big enough to be cut into many column chunks over both threads. */
	big = (struct ts_conv){ .n = 1, .c_in = 37, .c_out = 19, .t = 1, .h = 61, .w = 53,
				.kt = 1, .kh = 3, .kw = 3, .st = 1, .sh = 1, .sw = 1, .pad_h = 1,
				.pad_w = 1 };
	conv_case(dev, big, "conv2d in many chunks");
	grows = be->devs[0]->scratch_grows;
	conv_case(dev, big, "the same conv again");
	ok(be->devs[0]->scratch_grows == grows, "a repeated conv does not grow the arena");
	big.kh = 4;
	big.h = 3;
	big.pad_h = 0;
	ok(ts_cpu_ops.conv(dev, &big) == TS_EINVAL,
	   "a kernel taller than the padded input is refused");
	optest_backend_free(be);
	return tap_done();
}
