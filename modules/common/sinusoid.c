/* SPDX-License-Identifier: MIT */
/*
 * modules/common/sinusoid.c - the timestep sinusoid both model families
 * embed (sinusoid.h).
 */
#include <math.h>

#include "sinusoid.h"

void mc_timestep_freq(float *out, const float *t, int64_t n, int dim)
{
	int half = dim / 2;

	for (int64_t b = 0; b < n; b++) {
		float *row = out + b * dim;

		for (int k = 0; k < half; k++) {
			double a = (double)t[b] * exp(-log(10000.0) * k / half);

			row[k] = (float)cos(a);
			row[half + k] = (float)sin(a);
		}
	}
}
