/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_denoise.c - model.step(): one rectified-flow step of a
 * batch of requests on one rank of the step's group.
 *
 * One step = one forward of [z; z] with [caption; null caption] (the null
 * caption is y_embedder.y_embedding, under the caption's own mask, as
 * upstream), v = v_uncond + g (v_cond - v_uncond) on all C channels of the
 * first half of the output, z += v dt. Every rank applies the same update to
 * its replicated latent, so the next step may run at any allowed degree.
 *
 * Ordering for the host state: every rank reads the states before its first
 * collective and rank 0 writes them after its last, so no rank can see a
 * state rank 0 already advanced.
 */
#include <string.h>

#include "stdit.h"

struct step_host {
	struct stdit_state st[ST_MAX_BATCH];
	float t[2 * ST_MAX_BATCH], fps[2 * ST_MAX_BATCH];
	uint8_t *y_mask;        /* [bm, L] */
};

static int read_states(struct stdit_run *r, const struct ts_step_ctx *ctx, struct step_host *h,
		       int cfg)
{
	for (int b = 0; b < ctx->batch; b++) {
		struct stdit_state *st = &h->st[b];

		memcpy(st, ctx->state[b], sizeof(*st));
		if (st->magic != ST_STATE_MAGIC || st->done >= st->steps ||
		    (st->guidance > 1) != cfg) {
			r->host->log(TS_LOG_ERROR, ST_WHO,
				     "request %d of the batch cannot step (state %d/%d steps)", b,
				     st->done, st->steps);
			return TS_EINVAL;
		}
	}
	return 0;
}

/* The model's inputs: latents, captions and masks, timesteps and fps (doubled with guidance). */
static int prepare(struct stdit_run *r, const struct ts_step_ctx *ctx, struct step_host *h,
		   int cfg)
{
	const struct stdit_model *m = r->m;
	int64_t B = ctx->batch, L = m->cap_len, Y = L * m->cap_ch;
	int64_t n = ctx->work->latent_elems;

	for (int64_t b = 0; b < r->bm; b++) {
		int64_t q = b % B; /* request of this sample; b >= B is its unconditional half */
		void *st = ctx->state[q];

		h->t[b] = h->st[q].t[h->st[q].done];
		h->fps[b] = h->st[q].fps;
		memcpy(h->y_mask + b * L, stdit_state_mask(m, st), (size_t)L);
		ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->xin, b * n), n, ctx->latent[q], n, 1, n));
		if (b < B)
			ST_TRY(r->host->dev_upload(r->dev, st_at(r, r->yin, b * Y),
						   stdit_state_caption(st), TS_F32, Y));
		else
			ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->yin, b * Y), Y, r->w->ynull, Y, 1,
					      Y));
	}
	return 0;
}

/* z += dt (g v_cond + (1 - g) v_uncond), or z += dt v_cond without guidance. */
static int update(struct stdit_run *r, const struct ts_step_ctx *ctx, const struct step_host *h,
		  int64_t b, int cfg)
{
	const struct stdit_state *st = &h->st[b];
	int64_t n = ctx->work->latent_elems, O = n / r->m->in_ch * r->m->out_ch;
	int i = st->done;
	double dt = (i < st->steps - 1 ? st->t[i] - st->t[i + 1] : st->t[i]) / ST_NUM_TIMESTEPS;
	const void *cond = st_at(r, r->out, b * O);
	float g = cfg ? st->guidance : 1.0f;

	ST_TRY(r->ops->axpby(r->dev, ctx->latent[b], (float)(dt * g), cond, 1.0f, n));
	if (!cfg)
		return 0;
	return r->ops->axpby(r->dev, ctx->latent[b], (float)(dt * (1.0 - g)),
			     st_at(r, r->out, (b + ctx->batch) * O), 1.0f, n);
}

static int run_step(struct stdit_run *r, const struct ts_step_ctx *ctx, struct step_host *h)
{
	const struct ts_work *w = ctx->work;
	const struct stdit_state *first = ctx->state[0];
	int cfg = first->guidance > 1;
	struct stdit_cond c = { .timestep = h->t, .fps = h->fps, .height = first->height,
				.width = first->width, .y_mask = h->y_mask };

	ST_TRY(stdit_run_init(r, ctx, cfg ? 2 * ctx->batch : ctx->batch, w->latent_shape[2],
			      w->latent_shape[3], w->latent_shape[4]));
	if (stdit_scratch_elems(r->m, r->bm, r->T, r->H, r->W, r->degree) * r->esz >
	    ctx->scratch_bytes) {
		r->host->log(TS_LOG_ERROR, ST_WHO, "step scratch of %zu bytes is too small",
			     ctx->scratch_bytes);
		return TS_ENOMEM;
	}
	stdit_layout_carve(r, ctx->scratch);
	ST_TRY(read_states(r, ctx, h, cfg));
	ST_TRY(prepare(r, ctx, h, cfg));
	ST_TRY(stdit_forward(r, &c, r->xin));
	for (int64_t b = 0; b < ctx->batch; b++)
		ST_TRY(update(r, ctx, h, b, cfg));
	if (ctx->rank == 0)
		for (int64_t b = 0; b < ctx->batch; b++)
			((struct stdit_state *)ctx->state[b])->done++;
	return 0;
}

int stdit_step(const struct ts_step_ctx *ctx)
{
	const struct stdit_model *m = ctx->model;
	struct stdit_run r = { 0 };
	struct step_host *h;
	int err;

	if (ctx->batch < 1 || ctx->batch > ST_MAX_BATCH) {
		m->host->log(TS_LOG_ERROR, ST_WHO, "batch of %d requests not supported",
			     ctx->batch);
		return TS_EINVAL;
	}
	h = m->host->alloc(sizeof(*h) + (size_t)(2 * ctx->batch) * (size_t)m->cap_len);
	if (!h)
		return TS_ENOMEM;
	h->y_mask = (uint8_t *)(h + 1);
	err = run_step(&r, ctx, h);
	m->host->free(h);
	return err;
}
