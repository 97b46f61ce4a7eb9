/* SPDX-License-Identifier: MIT */
/*
 * core/trace.h - request traces: CSV files in the format of traces/README.md
 * (id,arrival_s,model,width,height,steps,slo_s), and their generator.
 */
#ifndef TS_CORE_TRACE_H
#define TS_CORE_TRACE_H

#include <stdint.h>
#include <stdio.h>

/* Far beyond any video model's frame count, low enough to keep token arithmetic in int. */
#define TS_TRACE_MAX_FRAMES 4096

/**
 * struct ts_trace_req - one request of a trace.
 * @slo_s: base deadline after arrival; a run multiplies it by its SLO scale.
 * @model: interned in the trace (valid while the trace is).
 */
struct ts_trace_req {
	uint64_t id;
	double arrival_s;
	const char *model;
	int width, height, frames;
	int steps;
	double slo_s;
};

/*
 * @frames_col: write the frames column even when every request is an image
 * (the file had it, or the generator was asked for frames).
 */
struct ts_trace {
	int n;
	int frames_col;
	struct ts_trace_req *req; /* non-decreasing arrival_s */
	int n_models;
	char **models;
};

/* Parse @path; errors name file:line and the column. */
int ts_trace_load(const char *path, struct ts_trace **out);
void ts_trace_free(struct ts_trace *t);
/* Write @t as CSV to @f. */
int ts_trace_write(const struct ts_trace *t, FILE *f);
int ts_trace_save(const struct ts_trace *t, const char *path);

enum ts_trace_mix { TS_MIX_UNIFORM = 0, TS_MIX_SKEWED = 1 };

/**
 * struct ts_trace_gen - what `tetriserve trace` generates.
 * @rate_per_min: mean arrival rate.
 * @burst: coefficient of variation of the inter-arrival gaps: 1 = Poisson,
 *         > 1 burstier (Gamma-distributed gaps with shape 1/burst^2), < 1 smoother.
 * @mix: uniform over the four sizes, or p ∝ exp(L/L_max), L = latent tokens.
 * @steps: denoising steps of every request (0 = 28, FLUX.1-dev's default).
 * @frames: frame counts drawn uniformly per request (1 = an image); n_frames = 0
 *          leaves every request an image and the frames column out.
 */
struct ts_trace_gen {
	double rate_per_min;
	int count;
	enum ts_trace_mix mix;
	uint64_t seed;
	const char *model;
	int steps;
	double burst;
	const int *frames;
	int n_frames;
};

int ts_trace_generate(const struct ts_trace_gen *g, struct ts_trace **out);

#endif /* TS_CORE_TRACE_H */
