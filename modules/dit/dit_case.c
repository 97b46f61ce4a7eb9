/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_case.c - model.run_case(): evaluate a golden case
 * (../shared/golden/README.md) the way its `calls` metadata says:
 *   output.forward          = model(input.x, input.t, input.y), with every
 *                             intermediate the README names;
 *   output.forward_with_cfg = model.forward_with_cfg(input.cfg_x, input.cfg_t,
 *                             input.cfg_y, input.cfg_scale[0]).
 * Runs SPMD on the ctx's group like a step, so a case checks any degree.
 */
#include <string.h>

#include "dit.h"
#include "../common/case.h"

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

struct dit_case {
	const struct ts_step_ctx *ctx;
	struct mc_case_out out;
	void *gall, *gfull;     /* device: gather of sharded intermediates */
};

/* Tap: gather a sharded tensor if needed, then rank 0 hands it out. */
static int case_tap(struct dit_run *r, const char *name, const void *buf, int ndim,
		    const int64_t *shape, int sharded)
{
	struct dit_case *c = r->tap_arg;

	if (sharded) {
		TRY(dit_gather_tokens(r, buf, c->gall, c->gfull, shape[ndim - 1]));
		buf = c->gfull;
	}
	if (r->rank != 0)
		return 0;
	return mc_case_emit(r->host, r->dev, &c->out, name, buf, ndim, shape);
}

static int get_input(const struct ts_host *host, struct ts_st *st, const char *key,
		     struct ts_tensor *t, int ndim)
{
	if (host->st_get(st, key, t)) {
		host->log(TS_LOG_ERROR, DIT_WHO, "%s: missing tensor '%s'", host->st_path(st), key);
		return TS_ENOENT;
	}
	if (t->ndim != ndim) {
		host->log(TS_LOG_ERROR, DIT_WHO, "%s: tensor '%s' has %d dimensions, expected %d",
			  host->st_path(st), key, t->ndim, ndim);
		return TS_ERANGE;
	}
	return 0;
}

/* t and y as the forward takes them; @n their common length. */
static int read_ty(const struct ts_host *host, struct ts_st *st, const char *tk, const char *yk,
		   int64_t n, float *t, int64_t *y)
{
	struct ts_tensor tt, yt;

	TRY(get_input(host, st, tk, &tt, 1));
	TRY(get_input(host, st, yk, &yt, 1));
	if (tt.shape[0] != n || yt.shape[0] != n) {
		host->log(TS_LOG_ERROR, DIT_WHO, "%s: '%s' and '%s' must have %lld entries",
			  host->st_path(st), tk, yk, (long long)n);
		return TS_ERANGE;
	}
	for (int64_t i = 0; i < n; i++) {
		double a, b;

		if (mc_tensor_elem(&tt, i, &a) || mc_tensor_elem(&yt, i, &b) ||
		    yt.dtype == TS_F32 || yt.dtype == TS_F64) {
			host->log(TS_LOG_ERROR, DIT_WHO, "%s: '%s' must be numeric, '%s' integer",
				  host->st_path(st), tk, yk);
			return TS_EFORMAT;
		}
		t[i] = (float)a;
		y[i] = (int64_t)b;
	}
	return 0;
}

/* The latent input @key [n, C, I, I]; returns n in @n. */
static int read_x(const struct dit_model *m, struct ts_st *st, const char *key,
		  struct ts_tensor *x)
{
	const struct ts_host *host = m->host;

	TRY(get_input(host, st, key, x, 4));
	if (x->dtype != TS_F32 || x->shape[1] != m->in_ch || x->shape[2] != m->input_size ||
	    x->shape[3] != m->input_size || x->shape[0] < 1 || x->shape[0] > 512) {
		host->log(TS_LOG_ERROR, DIT_WHO,
			  "%s: '%s' must be F32 [n, %d, %d, %d] with 1 <= n <= 512",
			  host->st_path(st), key, m->in_ch, m->input_size, m->input_size);
		return TS_ERANGE;
	}
	return 0;
}

static int emit_out(struct dit_run *r, const char *name)
{
	const struct dit_model *m = r->m;
	const int64_t shape[4] = { r->batch, m->out_ch, (int64_t)m->grid * m->patch,
				   (int64_t)m->grid * m->patch };

	return case_tap(r, name, r->out, 4, shape, 0);
}

static int case_forward(struct dit_run *r, struct ts_st *st, void *scratch)
{
	struct ts_tensor x;
	float t[512];
	int64_t y[512];

	TRY(read_x(r->m, st, "input.x", &x));
	TRY(dit_run_init(r, ((struct dit_case *)r->tap_arg)->ctx, x.shape[0]));
	dit_layout_carve(r, scratch);
	TRY(read_ty(r->host, st, "input.t", "input.y", x.shape[0], t, y));
	TRY(r->host->dev_upload(r->dev, r->xin, x.data, TS_F32, ts_tensor_numel(&x)));
	TRY(dit_forward(r, t, y, r->xin));
	return emit_out(r, "output.forward");
}

/* forward_with_cfg reads only the first half of x and runs it twice. */
static int case_cfg(struct dit_run *r, struct ts_st *st, void *scratch)
{
	struct dit_case *c = r->tap_arg;
	struct ts_tensor x, s;
	float t[512], scale[256];
	int64_t y[512], n, half, L;
	double sv;

	TRY(read_x(r->m, st, "input.cfg_x", &x));
	TRY(get_input(r->host, st, "input.cfg_scale", &s, 1));
	n = x.shape[0];
	half = n / 2;
	if (n % 2 || mc_tensor_elem(&s, 0, &sv)) {
		r->host->log(TS_LOG_ERROR, DIT_WHO,
			     "%s: cfg_x needs an even batch, cfg_scale a number",
			     r->host->st_path(st));
		return TS_ERANGE;
	}
	TRY(dit_run_init(r, c->ctx, n));
	dit_layout_carve(r, scratch);
	r->tap = NULL; /* the golden intermediates are those of forward */
	TRY(read_ty(r->host, st, "input.cfg_t", "input.cfg_y", n, t, y));
	L = ts_tensor_numel(&x) / n;
	TRY(r->host->dev_upload(r->dev, r->xin, x.data, TS_F32, half * L));
	TRY(r->host->dev_upload(r->dev, dit_at(r, r->xin, half * L), x.data, TS_F32, half * L));
	for (int64_t b = 0; b < half; b++)
		scale[b] = (float)sv;
	TRY(dit_forward(r, t, y, r->xin));
	TRY(dit_guide(r, scale));
	r->tap = case_tap;
	return emit_out(r, "output.forward_with_cfg");
}

static int case_run(struct dit_run *r, struct ts_st *st, void *scratch)
{
	const struct ts_host *host = r->host;
	struct ts_tensor t;
	int any = 0;

	if (!host->st_get(st, "input.x", &t)) {
		TRY(case_forward(r, st, scratch));
		any = 1;
	}
	if (!host->st_get(st, "input.cfg_x", &t)) {
		TRY(case_cfg(r, st, scratch));
		any = 1;
	}
	if (!any) {
		host->log(TS_LOG_ERROR, DIT_WHO, "%s: no input.x nor input.cfg_x",
			  host->st_path(st));
		return TS_ENOENT;
	}
	return 0;
}

/* The largest batch among the case's inputs, for sizing the scratch once. */
static int64_t case_batch(const struct ts_host *host, struct ts_st *st)
{
	struct ts_tensor t;
	int64_t n = 1;

	if (!host->st_get(st, "input.x", &t) && t.ndim == 4 && t.shape[0] > n)
		n = t.shape[0];
	if (!host->st_get(st, "input.cfg_x", &t) && t.ndim == 4 && t.shape[0] > n)
		n = t.shape[0];
	return n > 512 ? 512 : n;
}

int dit_run_case(const struct ts_step_ctx *ctx, struct ts_st *st,
		 int (*emit)(void *arg, const struct ts_tensor *t), void *arg)
{
	const struct dit_model *m = ctx->model;
	const struct ts_host *host = ctx->host;
	struct dit_case c = { .ctx = ctx, .out = { .emit = emit, .arg = arg } };
	int64_t bm = case_batch(host, st);
	int64_t nl = (m->tokens + ctx->degree - 1) / ctx->degree;
	struct dit_run r = { 0 };
	void *scratch;
	int err = TS_ENOMEM;

	scratch = host->dev_alloc(ctx->dev, dit_scratch_elems(m, bm, ctx->degree));
	if (!scratch)
		goto out;
	c.gall = host->dev_alloc(ctx->dev, (size_t)(ctx->degree * bm * nl * m->hidden));
	if (!c.gall)
		goto free_scratch;
	c.gfull = host->dev_alloc(ctx->dev, (size_t)(bm * m->tokens * m->hidden));
	if (!c.gfull)
		goto free_gall;
	r.host = host;
	r.m = m;
	r.tap = case_tap;
	r.tap_arg = &c;
	err = case_run(&r, st, scratch);
	host->dev_free(ctx->dev, c.gfull);
free_gall:
	host->dev_free(ctx->dev, c.gall);
free_scratch:
	host->dev_free(ctx->dev, scratch);
out:
	if (err == TS_ENOMEM)
		host->log(TS_LOG_ERROR, DIT_WHO, "run-case: out of device memory");
	return err;
}
