/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_tables.c - the fixed sinusoid tables, computed on the host
 * in float64 and rounded once to float32. Upstream builds the positional table
 * in float64 numpy; its timestep sinusoid is float32, but t * f_k loses ~1e-5
 * there near t = 1000, and the reference outputs are float64, so both are
 * computed in float64 here.
 */
#include <math.h>

#include "dit.h"

/* [sin(pos * w_k) for k < M, cos(pos * w_k) for k < M], w_k = 10000^(-k/M). */
static void sincos_1d(float *out, int half, double pos)
{
	int quarter = half / 2;

	for (int k = 0; k < quarter; k++) {
		double w = 1.0 / pow(10000.0, (double)k / quarter);

		out[k] = (float)sin(pos * w);
		out[quarter + k] = (float)cos(pos * w);
	}
}

/*
 * get_2d_sincos_pos_embed(dim, grid): token (row i, col j) = i * grid + j gets
 * [E(j), E(i)] -- the column coordinate first, because upstream's meshgrid
 * puts w in the first plane.
 */
void dit_pos_embed(float *out, int dim, int grid)
{
	for (int i = 0; i < grid; i++) {
		for (int j = 0; j < grid; j++) {
			float *row = out + ((int64_t)i * grid + j) * dim;

			sincos_1d(row, dim / 2, j);
			sincos_1d(row + dim / 2, dim / 2, i);
		}
	}
}

/* TimestepEmbedder.timestep_embedding: [cos(t f_k) | sin(t f_k)], f_k = 10000^(-k/half). */
void dit_timestep_freq(float *out, const float *t, int64_t n, int dim)
{
	int half = dim / 2;

	for (int64_t b = 0; b < n; b++) {
		float *row = out + b * dim;

		for (int k = 0; k < half; k++) {
			double f = exp(-log(10000.0) * k / half);
			double a = (double)t[b] * f;

			row[k] = (float)cos(a);
			row[half + k] = (float)sin(a);
		}
	}
}
