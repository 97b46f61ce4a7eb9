/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_sampler.c - one reverse-diffusion update of one request's
 * latent, on the host in float64: p_sample (ancestral DDPM, sample.py's
 * default) or ddim_sample, from gaussian_diffusion.py with clip_denoised off.
 * The latent is a few thousand numbers and the op table has no exp(), so
 * this small O(latent) update runs on the host; every rank computes it from
 * identical inputs, which keeps the replicated latent identical.
 */
#include <math.h>

#include "dit.h"

/*
 * Log-variance of step @i for one element: LEARNED_RANGE interpolates
 * between the clipped posterior variance and beta with v in [-1, 1];
 * without learned sigma upstream uses FIXED_LARGE (beta_i, only read at i > 0).
 */
static double logvar(const struct dit_model *m, const struct dit_sched *s, int i, double v)
{
	double frac = (v + 1.0) / 2.0;

	if (!m->learn_sigma)
		return log(s->beta[i]);
	return frac * log(s->beta[i]) + (1.0 - frac) * s->post_logvar_clipped[i];
}

static void ddpm(const struct dit_model *m, const struct dit_sched *s, int i, float *x,
		 const float *out, const float *z, int64_t plane)
{
	int64_t n = m->in_ch * plane;
	double ra = sqrt(1.0 / s->abar[i]), rm1 = sqrt(1.0 / s->abar[i] - 1.0);

	for (int64_t e = 0; e < n; e++) {
		double xt = x[e], eps = out[e];
		double x0 = ra * xt - rm1 * eps;
		double mean = s->coef1[i] * x0 + s->coef2[i] * xt;
		double v = m->learn_sigma ? out[n + e] : 0.0;

		if (i > 0)
			mean += exp(0.5 * logvar(m, s, i, v)) * z[e];
		x[e] = (float)mean;
	}
}

static void ddim(const struct dit_model *m, const struct dit_sched *s, int i, float eta,
		 float *x, const float *out, const float *z, int64_t plane)
{
	int64_t n = m->in_ch * plane;
	double a = s->abar[i], ap = s->abar_prev[i];
	double ra = sqrt(1.0 / a), rm1 = sqrt(1.0 / a - 1.0);
	double sigma = eta * sqrt((1.0 - ap) / (1.0 - a)) * sqrt(1.0 - a / ap);
	double dir = sqrt(fmax(0.0, 1.0 - ap - sigma * sigma));

	for (int64_t e = 0; e < n; e++) {
		double xt = x[e];
		double x0 = ra * xt - rm1 * out[e];
		double eps = (ra * xt - x0) / rm1;
		double next = x0 * sqrt(ap) + dir * eps;

		if (i > 0 && z)
			next += sigma * z[e];
		x[e] = (float)next;
	}
}

/*
 * x_{i-1} from x_i (@x, in place, [C, plane]) and the model's output for it
 * (@model_out [out_ch, plane]); @z: standard normals [C, plane] for the
 * step's noise, or NULL when the step adds none.
 */
int dit_sampler_update(const struct dit_model *m, const struct dit_sched *s,
		       const struct dit_state *st, int i, float *x, const float *model_out,
		       const float *z, int64_t plane)
{
	if (i < 0 || i >= s->steps)
		return TS_ERANGE;
	if (st->sampler == DIT_DDIM) {
		ddim(m, s, i, st->eta, x, model_out, z, plane);
		return 0;
	}
	if (i > 0 && !z)
		return TS_EINVAL;
	ddpm(m, s, i, x, model_out, z, plane);
	return 0;
}
