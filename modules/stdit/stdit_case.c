/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_case.c - model.run_case(): evaluate a golden case
 * (../shared/golden/README.md, stdit3) the way its `calls` metadata says:
 *   output.forward = model(input.x, input.timestep, input.y, mask=input.mask,
 *                          x_mask=input.x_mask, fps=input.fps,
 *                          height=input.height, width=input.width)
 * with every intermediate the README names. Runs SPMD on the ctx's group
 * like a step, so a case checks any degree.
 */
#include <string.h>

#include "stdit.h"
#include "../common/case.h"

struct stdit_case {
	struct mc_case_out out;
	void *gall, *gfull;     /* device: gather of sharded intermediates */
};

/* Host copies of the case's conditioning inputs. */
struct case_in {
	struct ts_tensor x, y;
	float t[ST_MAX_MODEL_BATCH], fps[ST_MAX_MODEL_BATCH];
	uint8_t *x_mask, *y_mask;
	struct stdit_cond c;
};

/* Tap: gather a sharded tensor if needed, then rank 0 hands it out. */
static int case_tap(struct stdit_run *r, const char *name, const void *buf, int ndim,
		    const int64_t *shape, int sharded)
{
	struct stdit_case *c = r->tap_arg;

	if (sharded) {
		ST_TRY(stdit_gather(r, buf, c->gall, c->gfull, shape[ndim - 1]));
		buf = c->gfull;
	}
	if (r->rank != 0)
		return 0;
	return mc_case_emit(r->host, r->dev, &c->out, name, buf, ndim, shape);
}

static int bad(const struct ts_host *host, struct ts_st *st, const char *key, const char *want)
{
	host->log(TS_LOG_ERROR, ST_WHO, "%s: tensor '%s' %s", host->st_path(st), key, want);
	return TS_EFORMAT;
}

/* A numeric vector input of at least @n entries into @out (floats). */
static int read_vec(const struct ts_host *host, struct ts_st *st, const char *key, int64_t n,
		    float *out)
{
	struct ts_tensor t;
	double v;

	if (host->st_get(st, key, &t) || ts_tensor_numel(&t) < n)
		return bad(host, st, key, "is missing or has too few entries");
	for (int64_t i = 0; i < n; i++) {
		if (mc_tensor_elem(&t, i, &v))
			return bad(host, st, key, "is not numeric");
		out[i] = (float)v;
	}
	return 0;
}

/* A [rows, cols] 0/1 mask from @key, rows repeated up to @B as upstream; NULL if absent. */
static int read_mask(const struct ts_host *host, struct ts_st *st, const char *key, int64_t B,
		     int64_t cols, uint8_t **out)
{
	struct ts_tensor t;
	int64_t rows;
	double v;

	*out = NULL;
	if (host->st_get(st, key, &t))
		return 0;
	rows = t.ndim == 2 && t.shape[1] == cols ? t.shape[0] : 0;
	if (rows < 1 || B % rows)
		return bad(host, st, key, "has the wrong shape");
	*out = host->alloc((size_t)(B * cols));
	if (!*out)
		return TS_ENOMEM;
	for (int64_t i = 0; i < B * cols; i++) {
		if (mc_tensor_elem(&t, i % (rows * cols), &v))
			return bad(host, st, key, "is not numeric");
		(*out)[i] = v != 0;
	}
	return 0;
}

static int read_inputs(const struct stdit_model *m, struct ts_st *st, struct case_in *in)
{
	const struct ts_host *host = m->host;
	int64_t B, L = m->cap_len;
	float hw[2];

	if (host->st_get(st, "input.x", &in->x) || in->x.dtype != TS_F32 || in->x.ndim != 5 ||
	    in->x.shape[1] != m->in_ch || in->x.shape[0] < 1 ||
	    in->x.shape[0] > ST_MAX_MODEL_BATCH)
		return bad(host, st, "input.x", "must be F32 [B, in_channels, T, H, W]");
	B = in->x.shape[0];
	if (host->st_get(st, "input.y", &in->y) || in->y.dtype != TS_F32 || in->y.ndim < 3 ||
	    in->y.shape[0] != B || in->y.shape[in->y.ndim - 1] != m->cap_ch ||
	    in->y.shape[in->y.ndim - 2] != L || ts_tensor_numel(&in->y) != B * L * m->cap_ch)
		return bad(host, st, "input.y", "must be F32 [B, 1, model_max_length, "
			   "caption_channels]");
	ST_TRY(read_vec(host, st, "input.timestep", B, in->t));
	ST_TRY(read_vec(host, st, "input.fps", B, in->fps));
	ST_TRY(read_vec(host, st, "input.height", 1, &hw[0]));
	ST_TRY(read_vec(host, st, "input.width", 1, &hw[1]));
	ST_TRY(read_mask(host, st, "input.mask", B, L, &in->y_mask));
	/* t_mask_select views x as [B, T', S, C]: one flag per latent frame of the grid */
	ST_TRY(read_mask(host, st, "input.x_mask", B, st_ceil_div(in->x.shape[2], m->pt),
			 &in->x_mask));
	in->c = (struct stdit_cond){ .timestep = in->t, .fps = in->fps, .height = hw[0],
				     .width = hw[1], .x_mask = in->x_mask, .y_mask = in->y_mask };
	return 0;
}

static int emit_forward(struct stdit_run *r)
{
	const int64_t shape[5] = { r->bm, r->m->out_ch, r->T, r->H, r->W };

	return case_tap(r, "output.forward", r->out, 5, shape, 0);
}

static int case_forward(struct stdit_run *r, const struct ts_step_ctx *ctx, struct ts_st *st,
			struct case_in *in)
{
	const struct ts_host *host = ctx->host;
	struct stdit_case *c = r->tap_arg;
	void *scratch;
	int err = TS_ENOMEM;

	ST_TRY(read_inputs(ctx->model, st, in));
	ST_TRY(stdit_run_init(r, ctx, in->x.shape[0], in->x.shape[2], in->x.shape[3],
			      in->x.shape[4]));
	scratch = host->dev_alloc(ctx->dev, stdit_scratch_elems(r->m, r->bm, r->T, r->H, r->W,
								r->degree));
	c->gall = host->dev_alloc(ctx->dev, (size_t)(r->degree * r->R * r->m->hidden));
	c->gfull = host->dev_alloc(ctx->dev, (size_t)(r->bm * r->tg * r->S * r->m->hidden));
	if (!scratch || !c->gall || !c->gfull) {
		host->log(TS_LOG_ERROR, ST_WHO, "run-case: out of device memory");
		goto out;
	}
	stdit_layout_carve(r, scratch);
	err = host->dev_upload(r->dev, r->xin, in->x.data, TS_F32, ts_tensor_numel(&in->x));
	if (!err)
		err = host->dev_upload(r->dev, r->yin, in->y.data, TS_F32,
				       ts_tensor_numel(&in->y));
	if (!err)
		err = stdit_forward(r, &in->c, r->xin);
	if (!err)
		err = emit_forward(r);
out:
	host->dev_free(ctx->dev, c->gfull);
	host->dev_free(ctx->dev, c->gall);
	host->dev_free(ctx->dev, scratch);
	return err;
}

int stdit_run_case(const struct ts_step_ctx *ctx, struct ts_st *st,
		   int (*emit)(void *arg, const struct ts_tensor *t), void *arg)
{
	const struct ts_host *host = ctx->host;
	struct stdit_case c = { .out = { .emit = emit, .arg = arg } };
	struct stdit_run r = { .tap = case_tap, .tap_arg = &c };
	struct case_in *in = host->alloc(sizeof(*in));
	int err;

	if (!in)
		return TS_ENOMEM;
	memset(in, 0, sizeof(*in));
	err = case_forward(&r, ctx, st, in);
	host->free(in->x_mask);
	host->free(in->y_mask);
	host->free(in);
	return err;
}
