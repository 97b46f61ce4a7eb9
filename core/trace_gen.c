// SPDX-License-Identifier: MIT
/*
 * core/trace_gen.c - generate traces like the paper's workload: four square
 * sizes with base deadlines 1.5/2/3/5 s, a uniform or skewed mix, and
 * Poisson arrivals (or Gamma-distributed gaps for burstier traffic).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "log.h"
#include "trace.h"

static const int gen_size[4] = { 256, 512, 1024, 2048 };
static const double gen_slo[4] = { 1.5, 2.0, 3.0, 5.0 };

/* splitmix64: small, seedable, and the same on every platform (traces are reproducible). */
struct gen_rng {
	uint64_t s;
};

static uint64_t rng_next(struct gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so logs are finite. */
static double rng_unit(struct gen_rng *r)
{
	return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(struct gen_rng *r)
{
	double u = rng_unit(r), v = rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* Gamma(shape, 1) by Marsaglia and Tsang; shapes below 1 by the boost u^(1/shape). */
static double rng_gamma(struct gen_rng *r, double shape)
{
	double d, c;

	if (shape < 1.0)
		return rng_gamma(r, shape + 1.0) * pow(rng_unit(r), 1.0 / shape);
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = rng_normal(r), v = 1.0 + c * x, u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = rng_unit(r);
		if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
			return d * v;
	}
}

/* Gap to the next arrival: mean 60/rate, coefficient of variation @burst. */
static double next_gap(struct gen_rng *r, double rate_per_min, double burst)
{
	double mean = 60.0 / rate_per_min, shape;

	if (burst == 1.0)
		return -log(rng_unit(r)) * mean;
	shape = 1.0 / (burst * burst);
	return rng_gamma(r, shape) * mean / shape;
}

/* Size index: uniform, or p ∝ exp(L / L_max) with L the latent tokens (H*W/16^2). */
static int pick_size(struct gen_rng *r, enum ts_trace_mix mix)
{
	double w[4], sum = 0, u;
	double lmax = (double)gen_size[3] * gen_size[3] / 256.0;

	for (int i = 0; i < 4; i++) {
		double l = (double)gen_size[i] * gen_size[i] / 256.0;

		w[i] = mix == TS_MIX_SKEWED ? exp(l / lmax) : 1.0;
		sum += w[i];
	}
	u = rng_unit(r) * sum;
	for (int i = 0; i < 3; i++) {
		if (u < w[i])
			return i;
		u -= w[i];
	}
	return 3;
}

static int gen_check(const struct ts_trace_gen *g)
{
	if (!(g->rate_per_min > 0) || !isfinite(g->rate_per_min)) {
		ts_err("trace", "rate must be > 0 requests per minute");
		return TS_EINVAL;
	}
	if (g->count < 1) {
		ts_err("trace", "count must be >= 1");
		return TS_EINVAL;
	}
	if (!(g->burst > 0) || !isfinite(g->burst)) {
		ts_err("trace", "burstiness (CV of the gaps) must be > 0");
		return TS_EINVAL;
	}
	if (!g->model || !*g->model || strchr(g->model, ',')) {
		ts_err("trace", "model name must be non-empty and have no comma");
		return TS_EINVAL;
	}
	for (int i = 0; i < g->n_frames; i++) {
		if (g->frames[i] < 1 || g->frames[i] > TS_TRACE_MAX_FRAMES) {
			ts_err("trace", "frames must be 1..%d, not %d", TS_TRACE_MAX_FRAMES,
			       g->frames[i]);
			return TS_EINVAL;
		}
	}
	return 0;
}

int ts_trace_generate(const struct ts_trace_gen *g, struct ts_trace **out)
{
	struct gen_rng rng = { g->seed };
	struct ts_trace *t;
	double now = 0;
	int err = gen_check(g);

	if (err)
		return err;
	t = calloc(1, sizeof(*t));
	if (!t)
		return TS_ENOMEM;
	t->req = calloc(g->count, sizeof(*t->req));
	t->models = calloc(1, sizeof(char *));
	if (!t->req || !t->models || !(t->models[0] = strdup(g->model))) {
		ts_trace_free(t);
		return TS_ENOMEM;
	}
	t->n_models = 1;
	t->frames_col = g->n_frames > 0;
	for (int i = 0; i < g->count; i++) {
		int s, f;

		now += next_gap(&rng, g->rate_per_min, g->burst);
		s = pick_size(&rng, g->mix);
		/* One draw more only for a mix, so an image trace's seed gives what it always did. */
		f = g->n_frames ? g->frames[g->n_frames > 1 ? rng_next(&rng) % g->n_frames : 0] : 1;
		/* Rounded as written, so a saved and reloaded trace is the same trace. */
		t->req[i] = (struct ts_trace_req){
			.id = (uint64_t)i, .arrival_s = round(now * 1e4) / 1e4,
			.model = t->models[0], .width = gen_size[s], .height = gen_size[s],
			.frames = f, .steps = g->steps > 0 ? g->steps : 28, .slo_s = gen_slo[s],
		};
	}
	t->n = g->count;
	*out = t;
	return 0;
}
