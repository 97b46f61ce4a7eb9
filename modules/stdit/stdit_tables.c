/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_tables.c - the positional sinusoids, computed on the
 * host in float64 and rounded once to float32 (the golden outputs are
 * float64). The timestep sinusoid is modules/common/sinusoid.c's.
 */
#include <math.h>

#include "stdit.h"

/* [sin(pos w_k) | cos(pos w_k)], w_k = 10000^(-k/q), k < q = dim/4. */
static void sin_cos_1d(float *out, int q, double pos)
{
	for (int k = 0; k < q; k++) {
		double a = pos / pow(10000.0, (double)k / q);

		out[k] = (float)sin(a);
		out[q + k] = (float)cos(a);
	}
}

/*
 * STDiT3.forward's pos-emb arguments: base_size = round(sqrt(S)) (sqrt of an
 * integer is never x.5, so rounding mode does not matter) and scale =
 * sqrt(height * width) / input_sq_size, in pixels of sample 0.
 */
double stdit_pos_scale(const struct stdit_model *m, int64_t S, double height, double width,
		       double *base)
{
	*base = floor(sqrt((double)S) + 0.5);
	return sqrt(height * width) / m->input_sq;
}

/*
 * PositionEmbedding2D: token (i, j) of the hg x wg grid gets
 * [E(c_j), E(r_i)] with r_i = i / scale * base / hg, c_j = j / scale * base / wg:
 * the column coordinate first (upstream's meshgrid puts w in the first plane).
 */
void stdit_pos_embed(float *out, int dim, int64_t hg, int64_t wg, double scale, double base)
{
	int q = dim / 4;

	for (int64_t i = 0; i < hg; i++) {
		for (int64_t j = 0; j < wg; j++) {
			float *row = out + (i * wg + j) * dim;

			sin_cos_1d(row, q, (double)j / scale * (base / (double)wg));
			sin_cos_1d(row + 2 * q, q, (double)i / scale * (base / (double)hg));
		}
	}
}
