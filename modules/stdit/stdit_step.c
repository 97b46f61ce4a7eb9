/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_step.c - a request's life around its steps: plan (size,
 * frames, caption, allowed degrees), begin (noise, timesteps, caption into
 * the state), finish (the latent for Open-Sora's video VAE).
 *
 * The text encoder (T5-XXL) is not part of this module: a request brings its
 * caption embeddings (params.cond, params.cond_mask), or the section's
 * caption_file supplies them.
 */
#include <stdio.h>
#include <string.h>

#include "stdit.h"
#include "../common/latent.h"

#define ST_VAE_SPATIAL 8 /* pixels per latent pixel (SD VAE) */
#define ST_IMG_FPS 120.0f

struct req_shape {
	int width, height, frames, steps;
	float guidance, fps;
	int64_t T, H, W;        /* latent */
	int64_t S, tg;
};

static int req_shape(const struct stdit_model *m, const struct ts_req_params *p,
		     struct req_shape *s)
{
	s->width = p->width ? p->width : m->width;
	s->height = p->height ? p->height : m->height;
	s->frames = p->frames ? p->frames : m->frames;
	s->steps = p->steps ? p->steps : m->steps;
	s->guidance = p->guidance != 0 ? p->guidance : m->guidance;
	/* Open-Sora conditions images on IMG_FPS = 120, videos on the configured rate */
	s->fps = p->fps > 0 ? p->fps : s->frames == 1 ? ST_IMG_FPS : m->fps;
	if (s->width < ST_VAE_SPATIAL || s->height < ST_VAE_SPATIAL || s->frames < 1 ||
	    s->width > (1 << 16) || s->height > (1 << 16) || s->frames > (1 << 16)) {
		m->host->log(TS_LOG_ERROR, ST_WHO, "%s: bad video size %dx%d, %d frames", m->name,
			     s->width, s->height, s->frames);
		return TS_EINVAL;
	}
	if (s->steps < 1 || s->steps > ST_MAX_STEPS) {
		m->host->log(TS_LOG_ERROR, ST_WHO, "%s: steps %d out of [1, %d]", m->name, s->steps,
			     ST_MAX_STEPS);
		return TS_EINVAL;
	}
	if (p->sampler && strcmp(p->sampler, "rflow")) {
		m->host->log(TS_LOG_ERROR, ST_WHO, "unknown sampler '%s' (rflow)", p->sampler);
		return TS_EINVAL;
	}
	s->T = stdit_latent_frames(s->frames);
	s->H = s->height / ST_VAE_SPATIAL;
	s->W = s->width / ST_VAE_SPATIAL;
	s->tg = st_ceil_div(s->T, m->pt);
	s->S = st_ceil_div(s->H, m->ph) * st_ceil_div(s->W, m->pw);
	return 0;
}

/*
 * The caption: rows <= L of cap_ch floats, and a mask of as many entries (or
 * none). plan() checks one when given; only begin() needs one, so cost tables
 * and the simulator can plan video shapes without captions.
 */
static int check_caption(const struct stdit_model *m, const struct ts_req_params *p,
			 int required)
{
	const struct ts_tensor *y = p->cond, *mk = p->cond_mask;
	int64_t rows;

	if (!y && (m->cap_y || !required))
		return 0;
	if (!y) {
		m->host->log(TS_LOG_ERROR, ST_WHO,
			     "%s: the request has no caption embeddings and the section no "
			     "caption_file (the T5 text encoder is not part of this module)",
			     m->name);
		return TS_EINVAL;
	}
	rows = y->ndim ? ts_tensor_numel(y) / m->cap_ch : 0;
	if (y->dtype != TS_F32 || !y->ndim || y->shape[y->ndim - 1] != m->cap_ch || rows < 1 ||
	    rows > m->cap_len) {
		m->host->log(TS_LOG_ERROR, ST_WHO,
			     "%s: caption embeddings must be F32 [rows <= %d, %d]", m->name,
			     m->cap_len, m->cap_ch);
		return TS_EINVAL;
	}
	if (mk && (ts_tensor_numel(mk) != rows || (mk->dtype != TS_I64 && mk->dtype != TS_I32 &&
						   mk->dtype != TS_U8 && mk->dtype != TS_BOOL &&
						   mk->dtype != TS_F32))) {
		m->host->log(TS_LOG_ERROR, ST_WHO,
			     "%s: the caption mask must have %lld integer entries", m->name,
			     (long long)rows);
		return TS_EINVAL;
	}
	return 0;
}

/* Degrees dividing the heads (spatial attention splits them), each rank with a position. */
static void allowed_degrees(const struct stdit_model *m, int64_t S, struct ts_work *w)
{
	w->n_degrees = 0;
	for (int k = 1; k <= m->heads && w->n_degrees < TS_MAX_DEGREES; k++)
		if (m->heads % k == 0 && k <= S)
			w->degrees[w->n_degrees++] = k;
}

int stdit_plan(void *model, const struct ts_req_params *p, struct ts_work *w)
{
	const struct stdit_model *m = model;
	struct req_shape s;

	ST_TRY(req_shape(m, p, &s));
	ST_TRY(check_caption(m, p, 0));
	memset(w, 0, sizeof(*w));
	w->steps = s.steps;
	w->tokens = s.tg * s.S;
	w->latent_elems = m->in_ch * s.T * s.H * s.W;
	w->state_bytes = sizeof(struct stdit_state) +
			 (size_t)m->cap_len * (sizeof(float) * (size_t)m->cap_ch + 1);
	w->latent_shape_ndim = 5;
	w->latent_shape[0] = 1;
	w->latent_shape[1] = m->in_ch;
	w->latent_shape[2] = s.T;
	w->latent_shape[3] = s.H;
	w->latent_shape[4] = s.W;
	allowed_degrees(m, s.S, w);
	w->max_batch = m->max_batch;
	/* size decides the cost and the pos-emb scale; guidance doubles the batch */
	snprintf(w->klass_key, sizeof(w->klass_key), "stdit3:%.24s:%dx%dx%d:cfg%d", m->name,
		 s.width, s.height, s.frames, s.guidance > 1);
	return 0;
}

static double elem_of(const struct ts_tensor *t, int64_t i)
{
	const char *p = (const char *)t->data + i * (int64_t)ts_dtype_size(t->dtype);
	float f;
	int64_t l;
	int32_t n;

	switch (t->dtype) {
	case TS_F32: memcpy(&f, p, 4); return f;
	case TS_I64: memcpy(&l, p, 8); return (double)l;
	case TS_I32: memcpy(&n, p, 4); return n;
	default: return (unsigned char)*p;
	}
}

/* The caption into the state: rows past the request's are padding (mask 0). */
static void store_caption(const struct stdit_model *m, const struct ts_req_params *p, void *st)
{
	int64_t L = m->cap_len, C = m->cap_ch, rows = L;
	float *y = stdit_state_caption(st);
	uint8_t *mask = stdit_state_mask(m, st);

	memset(y, 0, sizeof(float) * (size_t)(L * C));
	if (!p->cond) {
		memcpy(y, m->cap_y, sizeof(float) * (size_t)(L * C));
		memcpy(mask, m->cap_mask, (size_t)L);
		return;
	}
	rows = ts_tensor_numel(p->cond) / C;
	memcpy(y, p->cond->data, sizeof(float) * (size_t)(rows * C));
	for (int64_t i = 0; i < L; i++)
		mask[i] = i < rows && (!p->cond_mask || elem_of(p->cond_mask, i) != 0);
}

int stdit_begin(void *model, const struct ts_work *w, const struct ts_req_params *p, void *state,
		float *latent)
{
	const struct stdit_model *m = model;
	struct stdit_state *st = state;
	struct req_shape s;
	double t[ST_MAX_STEPS];

	ST_TRY(req_shape(m, p, &s));
	ST_TRY(check_caption(m, p, 1));
	memset(st, 0, sizeof(*st));
	st->magic = ST_STATE_MAGIC;
	st->steps = w->steps;
	st->width = s.width;
	st->height = s.height;
	st->frames = s.frames;
	st->guidance = s.guidance;
	st->fps = s.fps;
	st->seed = p->seed;
	stdit_rflow_timesteps(t, st->steps, m->transform, s.height, s.width, s.frames);
	for (int i = 0; i < st->steps; i++)
		st->t[i] = (float)t[i];
	store_caption(m, p, state);
	/* rectified flow draws noise once: z ~ N(0, I), stream 0 of the seed */
	m->host->rng_normal(p->seed, 0, 0, latent, w->latent_elems);
	return 0;
}

int stdit_finish(void *model, const struct ts_work *w, const void *state, const float *latent,
		 struct ts_tensor *out)
{
	const struct stdit_model *m = model;
	const struct stdit_state *st = state;

	if (st->magic != ST_STATE_MAGIC || st->done != st->steps) {
		m->host->log(TS_LOG_ERROR, ST_WHO, "finish after %d of %d steps", st->done,
			     st->steps);
		return TS_EINVAL;
	}
	/* as sampled: Open-Sora's VAE pipeline applies its own scale and shift */
	return mc_latent_out(m->host, w, latent, out);
}

size_t stdit_scratch_bytes(void *model, const struct ts_work *w, int degree, int batch)
{
	/* sized for guidance (two samples per request) and 4-byte elements */
	return stdit_scratch_elems(model, 2 * (int64_t)batch, w->latent_shape[2],
				   w->latent_shape[3], w->latent_shape[4], degree) * sizeof(float);
}
