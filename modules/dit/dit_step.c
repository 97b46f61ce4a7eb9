/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_step.c - a request's life: plan, begin, one step at a time
 * on whatever device set the engine gives it, finish.
 *
 * One step = one forward of the batch (doubled for guidance, as
 * forward_with_cfg) at the step's degree, then the sampler update of each
 * request's latent. Everything that carries over is in struct dit_state and
 * the replicated latent, so consecutive steps may run at different degrees.
 */
#include <stdio.h>
#include <string.h>

#include "dit.h"
#include "../common/latent.h"

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

static int pick_sampler(const struct dit_model *m, const char *name, enum dit_sampler *out)
{
	if (!name) {
		*out = m->sampler;
		return 0;
	}
	if (!strcmp(name, "ddpm")) {
		*out = DIT_DDPM;
		return 0;
	}
	if (!strcmp(name, "ddim")) {
		*out = DIT_DDIM;
		return 0;
	}
	m->host->log(TS_LOG_ERROR, DIT_WHO, "unknown sampler '%s' (ddpm or ddim)", name);
	return TS_EINVAL;
}

static int check_size(const struct dit_model *m, const struct ts_req_params *p)
{
	int px = m->input_size * 8;

	if ((p->width && p->width != px) || (p->height && p->height != px)) {
		m->host->log(TS_LOG_ERROR, DIT_WHO, "%s serves %dx%d px only, not %dx%d", m->name,
			     px, px, p->width, p->height);
		return TS_EINVAL;
	}
	if (m->input_size % m->patch) {
		m->host->log(TS_LOG_ERROR, DIT_WHO,
			     "input_size %d is not a multiple of patch_size %d: the model's output "
			     "(%d) would not cover the latent", m->input_size, m->patch,
			     m->grid * m->patch);
		return TS_EINVAL;
	}
	return 0;
}

static int check_steps(const struct dit_model *m, int steps, enum dit_sampler smp)
{
	struct dit_sched *s;
	int err;

	/* posterior_log_variance_clipped reads entry 1: upstream DDPM needs two steps. */
	if (smp == DIT_DDPM && steps < 2) {
		m->host->log(TS_LOG_ERROR, DIT_WHO, "ddpm needs at least 2 steps, not %d", steps);
		return TS_EINVAL;
	}
	s = m->host->alloc(sizeof(*s));
	if (!s)
		return TS_ENOMEM;
	err = dit_sched_build(s, steps, m->respacing);
	m->host->free(s);
	if (err)
		m->host->log(TS_LOG_ERROR, DIT_WHO, "no %s respacing of %d into %d steps",
			     m->respacing == DIT_RESPACE_STRIDE ? "stride" : "uniform",
			     DIT_TRAIN_STEPS, steps);
	return err;
}

static int check_label(const struct dit_model *m, const struct ts_req_params *p, float g)
{
	int has_null = m->table_rows > m->num_classes;

	if (p->class_label < -1 || p->class_label >= m->num_classes) {
		m->host->log(TS_LOG_ERROR, DIT_WHO, "class_label %lld out of [-1, %d)",
			     (long long)p->class_label, m->num_classes);
		return TS_EINVAL;
	}
	if (!has_null && (g > 1 || p->class_label == -1)) {
		m->host->log(TS_LOG_ERROR, DIT_WHO,
			     "%s has no null class (class_dropout_prob 0): no guidance or label -1",
			     m->name);
		return TS_EINVAL;
	}
	return 0;
}

/* Degrees that divide the head count (Ulysses splits heads) and leave each rank a token. */
static void allowed_degrees(const struct dit_model *m, struct ts_work *w)
{
	w->n_degrees = 0;
	for (int k = 1; k <= m->heads && w->n_degrees < TS_MAX_DEGREES; k++)
		if (m->heads % k == 0 && k <= m->tokens)
			w->degrees[w->n_degrees++] = k;
}

static float req_guidance(const struct dit_model *m, const struct ts_req_params *p)
{
	return p->guidance != 0 ? p->guidance : m->guidance;
}

int dit_plan(void *model, const struct ts_req_params *p, struct ts_work *w)
{
	const struct dit_model *m = model;
	enum dit_sampler smp;
	int steps = p->steps ? p->steps : m->steps;
	float g = req_guidance(m, p);
	int64_t I = m->input_size;

	TRY(check_size(m, p));
	TRY(pick_sampler(m, p->sampler, &smp));
	TRY(check_steps(m, steps, smp));
	TRY(check_label(m, p, g));
	memset(w, 0, sizeof(*w));
	w->steps = steps;
	w->tokens = m->tokens;
	w->latent_elems = m->in_ch * I * I;
	w->state_bytes = sizeof(struct dit_state);
	w->latent_shape_ndim = 4;
	w->latent_shape[0] = 1;
	w->latent_shape[1] = m->in_ch;
	w->latent_shape[2] = I;
	w->latent_shape[3] = I;
	allowed_degrees(m, w);
	w->max_batch = m->max_batch;
	/* guidance doubles the forward's batch, so it is part of the step's cost class */
	snprintf(w->klass_key, sizeof(w->klass_key), "dit:%.40s:%lld:cfg%d", m->name,
		 (long long)I, g > 1);
	return 0;
}

int dit_begin(void *model, const struct ts_work *w, const struct ts_req_params *p, void *state,
	      float *latent)
{
	const struct dit_model *m = model;
	struct dit_state *st = state;
	enum dit_sampler smp;

	TRY(pick_sampler(m, p->sampler, &smp));
	memset(st, 0, sizeof(*st));
	st->magic = DIT_STATE_MAGIC;
	st->steps = w->steps;
	st->sampler = smp;
	st->respacing = m->respacing;
	st->label = p->class_label < 0 ? m->num_classes : (int32_t)p->class_label;
	st->guidance = req_guidance(m, p);
	st->eta = p->eta != 0 ? p->eta : m->eta;
	st->seed = p->seed;
	/* stream 0: the initial noise; stream 1: the sampler's noise, step by step */
	m->host->rng_normal(p->seed, 0, 0, latent, w->latent_elems);
	return 0;
}

int dit_finish(void *model, const struct ts_work *w, const void *state, const float *latent,
	       struct ts_tensor *out)
{
	const struct dit_model *m = model;
	const struct dit_state *st = state;

	if (st->magic != DIT_STATE_MAGIC || st->done != st->steps) {
		m->host->log(TS_LOG_ERROR, DIT_WHO, "finish after %d of %d steps", st->done,
			     st->steps);
		return TS_EINVAL;
	}
	/* as sampled: the decoder divides by the VAE's scale (sample.py's / 0.18215) */
	return mc_latent_out(m->host, w, latent, out);
}
