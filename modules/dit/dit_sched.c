/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_sched.c - the respaced Gaussian diffusion of sample.py:
 * create_diffusion(timestep_respacing=...) with the linear schedule over 1000
 * training steps, kept steps chosen as space_timesteps() does, and the betas
 * and posterior coefficients recomputed for the kept steps (SpacedDiffusion).
 * All in float64, like upstream's numpy arrays.
 */
#include <math.h>
#include <string.h>

#include "dit.h"

/* np.linspace(1e-4 * s, 0.02 * s, T), s = 1000 / T, then cumprod(1 - beta). */
static void base_abar(double *abar, int T)
{
	double scale = 1000.0 / T, start = scale * 1e-4, stop = scale * 0.02;
	double step = (stop - start) / (T - 1), prod = 1.0;

	for (int i = 0; i < T; i++) {
		double beta = i == T - 1 ? stop : start + i * step;

		prod *= 1.0 - beta;
		abar[i] = prod;
	}
}

/*
 * space_timesteps(T, "K"): one section; K indices round(j * (T-1)/(K-1)),
 * the position accumulated in float and rounded half to even like Python.
 */
static int keep_uniform(unsigned char *keep, int T, int K)
{
	double stride = K <= 1 ? 1.0 : (double)(T - 1) / (K - 1), cur = 0.0;

	for (int j = 0; j < K; j++) {
		keep[(int)nearbyint(cur)] = 1;
		cur += stride;
	}
	return 0;
}

/* space_timesteps(T, "ddimK"): the integer stride s with len(range(0, T, s)) == K. */
static int keep_stride(unsigned char *keep, int T, int K)
{
	for (int s = 1; s < T; s++) {
		if ((T + s - 1) / s != K)
			continue;
		for (int i = 0; i < T; i += s)
			keep[i] = 1;
		return 0;
	}
	return TS_EINVAL;
}

/* GaussianDiffusion's derived arrays for the respaced betas. */
static void derive(struct dit_sched *s)
{
	double prod = 1.0;

	for (int i = 0; i < s->steps; i++) {
		s->abar_prev[i] = prod;
		prod *= 1.0 - s->beta[i];
		s->abar[i] = prod;
	}
	for (int i = 0; i < s->steps; i++) {
		double b = s->beta[i], a = s->abar[i], ap = s->abar_prev[i];
		double post_var = b * (1.0 - ap) / (1.0 - a);

		/* log of the posterior variance, entry 0 replaced by entry 1 */
		s->post_logvar_clipped[i] = i == 0 ? 0.0 : log(post_var);
		s->coef1[i] = b * sqrt(ap) / (1.0 - a);
		s->coef2[i] = (1.0 - ap) * sqrt(1.0 - b) / (1.0 - a);
	}
	if (s->steps > 1)
		s->post_logvar_clipped[0] = s->post_logvar_clipped[1];
}

/* The schedule of @steps respaced steps; TS_EINVAL if upstream has none. */
int dit_sched_build(struct dit_sched *s, int steps, enum dit_respacing how)
{
	static const int T = DIT_TRAIN_STEPS;
	double abar[DIT_TRAIN_STEPS], last = 1.0;
	unsigned char keep[DIT_TRAIN_STEPS];
	int n = 0, err;

	if (steps < 1 || steps > T)
		return TS_EINVAL;
	memset(keep, 0, sizeof(keep));
	if (how == DIT_RESPACE_STRIDE)
		err = keep_stride(keep, T, steps);
	else
		err = keep_uniform(keep, T, steps);
	if (err)
		return err;
	base_abar(abar, T);
	for (int i = 0; i < T; i++) {
		if (!keep[i])
			continue;
		s->beta[n] = 1.0 - abar[i] / last;
		s->timestep[n++] = i;
		last = abar[i];
	}
	s->steps = n;
	derive(s);
	return n == steps ? 0 : TS_EINVAL;
}
