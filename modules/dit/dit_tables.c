/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_tables.c - the fixed positional sinusoid table, computed on
 * the host in float64 (as upstream's numpy does) and rounded once to float32.
 * The timestep sinusoid is modules/common/sinusoid.c's.
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
