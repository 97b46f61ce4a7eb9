// SPDX-License-Identifier: MIT
/*
 * core/cpu/rope.c - rotary embedding on interleaved pairs, in place. The
 * angle p * freq is formed in double: at long sequences a float product
 * would already be off by more than the rotation's own rounding.
 */
#include <math.h>

#include <tetri/error.h>

#include "cpu.h"

struct rope_job {
	float *x;
	const float *freqs;
	int64_t n_freq, tokens, heads, head_dim, tok_stride, batch_stride;
};

static void rope_task(void *arg, int64_t task, int tid)
{
	const struct rope_job *j = arg;
	int64_t b = task / j->tokens, p = task % j->tokens;
	float *row = j->x + b * j->batch_stride + p * j->tok_stride;

	for (int64_t i = 0; i < j->n_freq; i++) {
		double ang = (double)p * j->freqs[i];
		float c = (float)cos(ang), s = (float)sin(ang);

		for (int64_t h = 0; h < j->heads; h++) {
			float *v = row + h * j->head_dim + 2 * i;
			float x0 = v[0], x1 = v[1];

			v[0] = x0 * c - x1 * s;
			v[1] = x0 * s + x1 * c;
		}
	}
}

int ts_cpu_rope(struct ts_dev *dev, void *x, const void *freqs, int64_t n_freq, int64_t batch,
		int64_t tokens, int64_t heads, int64_t head_dim, int64_t tok_stride,
		int64_t batch_stride)
{
	struct rope_job j = { .x = x, .freqs = freqs, .n_freq = n_freq, .tokens = tokens,
			      .heads = heads, .head_dim = head_dim, .tok_stride = tok_stride,
			      .batch_stride = batch_stride };

	if (n_freq < 0 || batch < 0 || tokens < 0 || heads < 0 || head_dim < 0)
		return ts_cpu_bad("rope", "negative size");
	if (2 * n_freq > head_dim)
		return ts_cpu_bad("rope", "2 * n_freq exceeds head_dim");
	if (batch * tokens * heads * n_freq == 0)
		return 0;
	if (!x || !freqs)
		return ts_cpu_bad("rope", "NULL buffer");
	if (tok_stride < heads * head_dim || (batch > 1 && batch_stride < tokens * tok_stride))
		return ts_cpu_bad("rope", "strides smaller than the rows they step over");
	ts_cpu_parallel(ts_cpu_dev(dev), batch * tokens, rope_task, &j);
	return 0;
}
