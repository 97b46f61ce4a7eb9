// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_attention.c - tiled attention against a float64 softmax
 * reference: fused qkv strides, separate (cross-attention) buffers, lengths
 * on both sides of the tile sizes, head dims 1..128, key masks including rows
 * whose keys are all masked, large scales (peaky softmax), poisoned outputs.
 */
#include "optest.h"

static void att_ref(const struct ts_attention *a, double *out)
{
	const float *q = a->q, *k = a->k, *v = a->v;
	int64_t d = a->head_dim;
	double *p = optest_dalloc(a->kv_len);

	for (int64_t b = 0; b < a->batch; b++)
		for (int64_t h = 0; h < a->heads; h++)
			for (int64_t i = 0; i < a->q_len; i++) {
				const float *qi = q + b * a->q_batch + i * a->q_tok + h * d;
				double mx = -INFINITY, sum = 0;
				double *o = out + ((b * a->q_len + i) * a->heads + h) * d;

				for (int64_t j = 0; j < a->kv_len; j++) {
					const float *kj = k + b * a->k_batch + j * a->k_tok + h * d;
					double s = 0;

					for (int64_t e = 0; e < d; e++)
						s += (double)qi[e] * kj[e];
					p[j] = a->key_mask && !a->key_mask[b * a->kv_len + j] ?
						       -INFINITY : s * a->scale;
					mx = p[j] > mx ? p[j] : mx;
				}
				for (int64_t e = 0; e < d; e++)
					o[e] = 0;
				if (mx == -INFINITY)
					continue;
				for (int64_t j = 0; j < a->kv_len; j++) {
					p[j] = exp(p[j] - mx);
					sum += p[j];
				}
				for (int64_t j = 0; j < a->kv_len; j++) {
					const float *vj = v + b * a->v_batch + j * a->v_tok + h * d;

					for (int64_t e = 0; e < d; e++)
						o[e] += p[j] / sum * vj[e];
				}
			}
	free(p);
}

/* Output rows gathered densely [batch, q_len, heads * d] for comparison. */
static int att_run(struct ts_dev *dev, struct ts_attention *a, int64_t o_len, const char *what)
{
	int64_t row = a->heads * a->head_dim, n = a->batch * a->q_len * row;
	float *got = malloc((size_t)(n ? n : 1) * sizeof(float));
	double *ref = optest_dalloc(n);
	int pass;

	att_ref(a, ref);
	pass = ts_cpu_ops.attention(dev, a) == 0;
	for (int64_t b = 0; b < a->batch; b++)
		for (int64_t i = 0; i < a->q_len; i++)
			memcpy(got + (b * a->q_len + i) * row,
			       (float *)a->o + b * a->o_batch + i * a->o_tok,
			       (size_t)row * sizeof(float));
	pass = pass && optest_close(what, got, ref, n, 2e-5);
	(void)o_len;
	free(ref);
	free(got);
	return pass;
}

/* Self-attention on a fused [batch, tokens, 3, heads, d] buffer. */
static int case_fused(struct ts_dev *dev, int64_t batch, int64_t heads, int64_t tokens, int64_t d,
		      float scale, int masked)
{
	int64_t tok = 3 * heads * d, opad = 5;
	float *qkv = optest_rand(batch * tokens * tok, 1);
	float *o = optest_poison(batch * tokens * (heads * d + opad));
	uint8_t *mask = NULL;
	struct ts_attention a = {
		.batch = batch, .heads = heads, .q_len = tokens, .kv_len = tokens, .head_dim = d,
		.q = qkv, .k = qkv + heads * d, .v = qkv + 2 * heads * d, .o = o,
		.q_tok = tok, .k_tok = tok, .v_tok = tok, .o_tok = heads * d + opad,
		.q_batch = tokens * tok, .k_batch = tokens * tok, .v_batch = tokens * tok,
		.o_batch = tokens * (heads * d + opad), .scale = scale,
	};
	char what[128];
	int pass;

	if (masked) {
		mask = malloc((size_t)(batch * tokens));
		for (int64_t i = 0; i < batch * tokens; i++)
			mask[i] = optest_int(0, 3) != 0;
		/* The last batch entry attends to nothing: its rows must be zeros. */
		memset(mask + (batch - 1) * tokens, 0, (size_t)tokens);
		a.key_mask = mask;
	}
	snprintf(what, sizeof(what),
		 "fused qkv batch=%lld heads=%lld tokens=%lld d=%lld scale=%g mask=%d",
		 (long long)batch, (long long)heads, (long long)tokens, (long long)d, scale,
		 masked);
	pass = att_run(dev, &a, 0, what);
	ok(pass, "%s", what);
	free(mask);
	free(o);
	free(qkv);
	return pass;
}

/* Cross-attention: separate q, k, v buffers, q_len != kv_len. */
static int case_cross(struct ts_dev *dev, int64_t heads, int64_t q_len, int64_t kv_len, int64_t d)
{
	int64_t row = heads * d;
	float *q = optest_rand(2 * q_len * row, 1), *k = optest_rand(2 * kv_len * row, 1);
	float *v = optest_rand(2 * kv_len * row, 1), *o = optest_poison(2 * q_len * row);
	struct ts_attention a = {
		.batch = 2, .heads = heads, .q_len = q_len, .kv_len = kv_len, .head_dim = d,
		.q = q, .k = k, .v = v, .o = o, .q_tok = row, .k_tok = row, .v_tok = row,
		.o_tok = row, .q_batch = q_len * row, .k_batch = kv_len * row,
		.v_batch = kv_len * row, .o_batch = q_len * row, .scale = 1.0f / sqrtf((float)d),
	};
	char what[128];
	int pass;

	snprintf(what, sizeof(what), "cross heads=%lld q_len=%lld kv_len=%lld d=%lld",
		 (long long)heads, (long long)q_len, (long long)kv_len, (long long)d);
	pass = att_run(dev, &a, 0, what);
	ok(pass, "%s", what);
	free(o);
	free(v);
	free(k);
	free(q);
	return pass;
}

static void test_no_alloc(struct ts_cpu_dev *d)
{
	unsigned long before;

	case_fused((struct ts_dev *)d, 1, 2, 300, 72, 0.12f, 0);
	before = d->scratch_grows;
	case_fused((struct ts_dev *)d, 1, 2, 300, 72, 0.12f, 1);
	ok(d->scratch_grows == before, "a repeated attention does not grow the arena (%lu grows)",
	   d->scratch_grows);
}

int main(void)
{
	struct ts_cpu_backend *be;
	struct ts_dev *dev;
	static const int64_t dims[] = { 1, 8, 64, 72, 128 };

	optest_seed();
	be = optest_backend(1, 2);
	if (!ok(be != NULL, "CPU backend with one device of two threads"))
		return tap_done();
	dev = (struct ts_dev *)be->devs[0];
	for (int i = 0; i < 5; i++)
		case_fused(dev, 2, optest_int(1, 3), optest_int(1, 140), dims[i],
			   1.0f / sqrtf((float)dims[i]), i & 1);
	case_fused(dev, 1, 1, 513, 72, 0.117851f, 1); /* just past one key tile of 512 */
	{
		int fails = 0;

		/* Random shapes across both tile sizes; failures are reported one by one. */
		for (int i = 0; i < 20; i++) {
			int64_t d = optest_int(1, 130);

			fails += !case_fused(dev, optest_int(1, 2), optest_int(1, 4),
					     optest_int(1, 300), d, 1.0f / sqrtf((float)d),
					     (int)optest_int(0, 1));
		}
		ok(!fails, "20 random attention shapes");
	}
	case_fused(dev, 2, 1, 65, optest_int(1, 130), 3.0f, 0); /* peaky softmax */
	case_fused(dev, 1, 3, 1, 5, 1.0f, 0);
	case_cross(dev, 2, optest_int(1, 70), optest_int(257, 1100), 72);
	case_cross(dev, 1, 130, 1, 16);
	case_cross(dev, 3, 5, 0, 8); /* no keys at all: zeros */
	case_cross(dev, 1, 70, 70, 512); /* SD-VAE mid-block attention: one head of 512 */
	test_no_alloc(be->devs[0]);
	{
		struct ts_attention a = { .batch = 1, .heads = 2, .q_len = 3, .kv_len = 3,
					  .head_dim = 8, .q_tok = 8 };
		float buf[64];

		a.q = a.k = a.v = buf;
		a.o = buf;
		a.k_tok = a.v_tok = a.o_tok = 16;
		ok(ts_cpu_ops.attention(dev, &a) == TS_EINVAL,
		   "a token stride smaller than heads * head_dim is refused");
	}
	optest_backend_free(be);
	return tap_done();
}
