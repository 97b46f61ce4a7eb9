/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_denoise.c - model.step(): one denoising step of a batch of
 * requests on one rank of the step's group.
 *
 * Ordering matters for the host state: every rank reads the states before
 * its first collective and rank 0 writes them after its last, so no rank can
 * see a state already advanced by rank 0 (the collectives order them).
 */
#include <string.h>

#include "dit.h"

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

/* Host buffers of one step, one allocation; the schedule is rebuilt per request (cheap). */
struct step_host {
	struct dit_sched sched;
	struct dit_state st[256];
	float t[512], scale[256];
	int64_t y[512];
	float *out, *x, *z;  /* [out_ch plane], [C plane], [C plane] */
};

static int64_t plane_of(const struct dit_model *m)
{
	return (int64_t)m->input_size * m->input_size;
}

size_t dit_scratch_bytes(void *model, const struct ts_work *w, int degree, int batch)
{
	/* sized for guidance (two samples per request) and 4-byte elements */
	return dit_scratch_elems(model, 2 * (int64_t)batch, degree) * sizeof(float);
}

/* Read the states, fill the model's inputs t, y and the batched latent. */
static int prepare(struct dit_run *r, const struct ts_step_ctx *ctx, struct step_host *h,
		   int cfg)
{
	const struct dit_model *m = r->m;
	int64_t L = m->in_ch * plane_of(m), B = ctx->batch;

	for (int64_t b = 0; b < B; b++) {
		struct dit_state *st = &h->st[b];
		int i;

		memcpy(st, ctx->state[b], sizeof(*st));
		if (st->magic != DIT_STATE_MAGIC || st->done >= st->steps ||
		    (st->guidance > 1) != cfg) {
			r->host->log(TS_LOG_ERROR, DIT_WHO,
				     "request %lld of the batch cannot step (state %d/%d steps)",
				     (long long)b, st->done, st->steps);
			return TS_EINVAL;
		}
		TRY(dit_sched_build(&h->sched, st->steps, st->respacing));
		i = st->steps - 1 - st->done;
		h->t[b] = (float)h->sched.timestep[i];
		h->y[b] = st->label;
		h->scale[b] = st->guidance;
		TRY(r->ops->copy2d(r->dev, dit_at(r, r->xin, b * L), L, ctx->latent[b], L, 1, L));
		if (!cfg)
			continue;
		h->t[B + b] = h->t[b];
		h->y[B + b] = m->num_classes; /* the null class */
		TRY(r->ops->copy2d(r->dev, dit_at(r, r->xin, (B + b) * L), L, ctx->latent[b], L, 1,
				   L));
	}
	return 0;
}

/* Sampler update of request @b from the (guided) conditional output. */
static int update(struct dit_run *r, const struct ts_step_ctx *ctx, struct step_host *h,
		  int64_t b)
{
	const struct dit_model *m = r->m;
	const struct dit_state *st = &h->st[b];
	int64_t plane = plane_of(m), L = m->in_ch * plane, O = m->out_ch * plane;
	int i = st->steps - 1 - st->done;
	int noisy = i > 0 && (st->sampler == DIT_DDPM || st->eta > 0);

	TRY(dit_sched_build(&h->sched, st->steps, st->respacing));
	TRY(r->host->dev_download(r->dev, h->out, dit_at(r, r->out, b * O), O));
	TRY(r->host->dev_download(r->dev, h->x, ctx->latent[b], L));
	if (noisy)
		r->host->rng_normal(st->seed, 1, (uint64_t)st->done * (uint64_t)L, h->z, L);
	TRY(dit_sampler_update(m, &h->sched, st, i, h->x, h->out, noisy ? h->z : NULL, plane));
	return r->host->dev_upload(r->dev, ctx->latent[b], h->x, TS_F32, L);
}

static int run_step(struct dit_run *r, const struct ts_step_ctx *ctx, struct step_host *h)
{
	const struct dit_state *first = ctx->state[0];
	int cfg = first->guidance > 1;
	int64_t B = ctx->batch;

	TRY(dit_run_init(r, ctx, cfg ? 2 * B : B));
	if (dit_scratch_elems(r->m, r->batch, r->degree) * r->esz > ctx->scratch_bytes) {
		r->host->log(TS_LOG_ERROR, DIT_WHO, "step scratch of %zu bytes is too small",
			     ctx->scratch_bytes);
		return TS_ENOMEM;
	}
	dit_layout_carve(r, ctx->scratch);
	TRY(prepare(r, ctx, h, cfg));
	TRY(dit_forward(r, h->t, h->y, r->xin));
	if (cfg)
		TRY(dit_guide(r, h->scale));
	for (int64_t b = 0; b < B; b++)
		TRY(update(r, ctx, h, b));
	if (ctx->rank == 0)
		for (int64_t b = 0; b < B; b++)
			((struct dit_state *)ctx->state[b])->done++;
	return 0;
}

int dit_step(const struct ts_step_ctx *ctx)
{
	const struct dit_model *m = ctx->model;
	int64_t plane = plane_of(m);
	struct step_host *h;
	struct dit_run r = { 0 };
	int err;

	if (ctx->batch < 1 || ctx->batch > 256) {
		m->host->log(TS_LOG_ERROR, DIT_WHO, "batch of %d requests not supported",
			     ctx->batch);
		return TS_EINVAL;
	}
	h = m->host->alloc(sizeof(*h) + sizeof(float) * (size_t)((m->out_ch + 2 * m->in_ch) *
								  plane));
	if (!h)
		return TS_ENOMEM;
	h->out = (float *)(h + 1);
	h->x = h->out + m->out_ch * plane;
	h->z = h->x + m->in_ch * plane;
	err = run_step(&r, ctx, h);
	m->host->free(h);
	return err;
}
