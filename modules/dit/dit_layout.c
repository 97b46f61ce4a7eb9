/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_layout.c - the scratch of one forward on one rank. The same
 * walk sizes it (scratch_bytes) and carves it (step), so the two cannot drift.
 */
#include <string.h>

#include "dit.h"
#include "../common/shards.h"

#define DIT_ALIGN 16 /* elements: 64 bytes at F32 */

struct carver {
	char *base;
	size_t esz;
	int64_t off;
};

static void *take(struct carver *c, int64_t n)
{
	void *p = c->base ? c->base + c->off * (int64_t)c->esz : NULL;

	c->off += (n + DIT_ALIGN - 1) / DIT_ALIGN * DIT_ALIGN;
	return p;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

static void walk(const struct dit_model *m, int64_t bm, int degree, struct dit_run *r,
		 struct carver *c)
{
	int64_t D = m->hidden, N = m->tokens, nl = ceil_div(N, degree);
	int64_t P = (int64_t)m->patch * m->patch * m->out_ch;
	int sp = degree > 1;
	struct dit_run dummy;

	if (!r)
		r = &dummy;
	r->tfreq = take(c, bm * m->freq_dim);
	r->thid = take(c, bm * D);
	r->temb = take(c, bm * D);
	r->yemb = take(c, bm * D);
	r->cond = take(c, bm * D);
	r->silu_c = take(c, bm * D);
	r->mod = take(c, bm * 6 * D);
	r->embed = take(c, bm * D * N);
	r->tok = take(c, bm * N * D);
	r->x = take(c, bm * nl * D);
	r->h = take(c, bm * nl * D);
	r->qkv = take(c, bm * nl * 3 * D);
	r->att = take(c, bm * nl * D);
	r->proj = take(c, bm * nl * D);
	r->mlp = take(c, bm * nl * m->mlp_hidden);
	r->a2a_send = sp ? take(c, bm * nl * 3 * D) : NULL;
	r->a2a_recv = sp ? take(c, bm * nl * 3 * D) : NULL;
	r->qkv_full = sp ? take(c, bm * N * 3 * D / degree) : NULL;
	r->o_full = sp ? take(c, bm * N * D / degree) : NULL;
	r->fin = take(c, bm * nl * P);
	r->fin_all = sp ? take(c, degree * bm * nl * P) : NULL;
	r->fin_full = take(c, bm * N * P);
	r->out = take(c, bm * N * P);
	r->xin = take(c, bm * m->in_ch * (int64_t)m->input_size * m->input_size);
}

/* Device elements of scratch for a forward of @bm samples at @degree. */
size_t dit_scratch_elems(const struct dit_model *m, int64_t bm, int degree)
{
	struct carver c = { 0 };

	walk(m, bm, degree, NULL, &c);
	return (size_t)c.off;
}

void dit_layout_carve(struct dit_run *r, void *scratch)
{
	struct carver c = { .base = scratch, .esz = r->esz };

	walk(r->m, r->batch, r->degree, r, &c);
}

/* Fill @r (but its tap) for a forward of @batch samples on ctx's rank; scratch not carved yet. */
int dit_run_init(struct dit_run *r, const struct ts_step_ctx *ctx, int64_t batch)
{
	const struct dit_model *m = ctx->model;
	dit_tap_fn tap = r->tap;
	void *tap_arg = r->tap_arg;

	memset(r, 0, sizeof(*r));
	r->tap = tap;
	r->tap_arg = tap_arg;
	r->host = ctx->host;
	r->dev = ctx->dev;
	r->ops = ctx->ops;
	r->coll = ctx->coll;
	r->comm = ctx->comm;
	r->rank = ctx->rank;
	r->degree = ctx->degree;
	r->m = m;
	r->w = ctx->weights;
	r->esz = ts_dtype_size(ctx->ops->dtype);
	r->batch = batch;
	if (mc_shards_check(r->host, DIT_WHO, r->rank, r->degree, m->heads, m->tokens, "tokens"))
		return TS_EINVAL;
	r->nl = ceil_div(m->tokens, r->degree);
	r->first = r->rank * r->nl;
	r->real = m->tokens - r->first;
	if (r->real > r->nl)
		r->real = r->nl;
	if (r->real < 0)
		r->real = 0;
	return 0;
}
