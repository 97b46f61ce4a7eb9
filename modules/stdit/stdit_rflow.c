/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_rflow.c - Open-Sora 1.2's rectified-flow schedule
 * (RFLOW, spec/models.md §4.9) and the latent length of its video VAE.
 */
#include <math.h>

#include "stdit.h"

/*
 * Latent frames of the Open-Sora 1.2 VAE pipeline: chunks of 17 frames give
 * 5 latent frames each, a remainder r gives ceil(r / 4) (4x causal temporal
 * compression, front-padded).
 */
int64_t stdit_latent_frames(int frames)
{
	return (int64_t)(frames / 17) * 5 + st_ceil_div(frames % 17, 4);
}

/*
 * t_i = (1 - i/steps) * 1000, then timestep_transform: s = t/1000,
 * ratio = sqrt(h w / 512^2) * sqrt(frames_eff), s' = ratio s / (1 + (ratio - 1) s).
 * frames_eff is 1 for an image and (frames // 17) * 5 otherwise. Upstream's
 * heuristic gives 0 for 2..16 frames, which makes every t' zero and the
 * sample pure noise; here such short videos count as one frame instead.
 */
void stdit_rflow_timesteps(double *t, int steps, int transform, double height, double width,
			   int frames)
{
	double ratio = 1.0;

	if (transform) {
		double eff = frames == 1 ? 1.0 : (double)(frames / 17 * 5);

		ratio = sqrt(height * width / (512.0 * 512.0)) * sqrt(eff < 1 ? 1.0 : eff);
	}
	for (int i = 0; i < steps; i++) {
		double s = 1.0 - (double)i / steps;

		t[i] = ST_NUM_TIMESTEPS * (ratio * s / (1.0 + (ratio - 1.0) * s));
	}
}
