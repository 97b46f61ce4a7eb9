/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_layout.c - the scratch of one forward on one rank. The
 * same walk sizes it (scratch_bytes) and carves it (step, run-case), so the
 * two cannot drift.
 *
 * Rank r of K holds spatial positions [r nl, r nl + real) of every frame,
 * nl = ceil(S / K): local activations are [bm, T', nl, D] (see README.md).
 */
#include <string.h>

#include "stdit.h"
#include "../common/shards.h"

#define ST_ALIGN 16 /* elements: 64 bytes at F32 */

struct carver {
	char *base;
	size_t esz;
	int64_t off;
};

static void *take(struct carver *c, int64_t n)
{
	void *p = c->base ? c->base + c->off * (int64_t)c->esz : NULL;

	c->off += (n + ST_ALIGN - 1) / ST_ALIGN * ST_ALIGN;
	return p;
}

struct dims {
	int64_t bm, T, H, W, tg, hg, wg, S, nl, R;
};

static void dims_of(const struct stdit_model *m, int64_t bm, int64_t T, int64_t H, int64_t W,
		    int degree, struct dims *d)
{
	d->bm = bm;
	d->T = T;
	d->H = H;
	d->W = W;
	d->tg = st_ceil_div(T, m->pt);
	d->hg = st_ceil_div(H, m->ph);
	d->wg = st_ceil_div(W, m->pw);
	d->S = d->hg * d->wg;
	d->nl = st_ceil_div(d->S, degree);
	d->R = bm * d->tg * d->nl;
}

static void walk(const struct stdit_model *m, const struct dims *d, int degree,
		 struct stdit_run *r, struct carver *c)
{
	int64_t D = m->hidden, bm = d->bm, R = d->R, L = m->cap_len;
	int64_t Cp = (int64_t)m->in_ch * m->pt * m->ph * m->pw;
	int64_t P = (int64_t)m->pt * m->ph * m->pw * m->out_ch;
	int64_t dense = bm * d->tg * d->S, K = degree;
	int64_t padded = bm * m->in_ch * d->tg * m->pt * d->hg * m->ph * d->wg * m->pw;
	int sp = degree > 1;
	struct stdit_run dummy;

	if (!r)
		r = &dummy;
	r->tfreq = take(c, 3 * bm * m->freq_dim);
	r->thid = take(c, 3 * bm * D);
	r->temb = take(c, 3 * bm * D);
	r->tvec = take(c, 2 * bm * D);
	r->tsilu = take(c, 2 * bm * D);
	r->tmlp = take(c, 2 * bm * 6 * D);
	r->fmod = take(c, bm * d->tg * 6 * D);
	r->ffin = take(c, bm * d->tg * 2 * D);
	r->mod = take(c, bm * d->tg * 6 * D);
	r->yin = take(c, bm * L * m->cap_ch);
	r->yh = take(c, bm * L * D);
	r->yemb = take(c, bm * L * D);
	r->ypack = take(c, bm * L * D);
	r->kv = take(c, bm * L * 2 * D);
	r->xpad = take(c, padded);
	r->pfull = take(c, dense * Cp);
	r->ploc = take(c, R * Cp);
	r->pos = take(c, (d->S + d->nl) * D); /* the whole table, then our rows */
	r->x = take(c, R * D);
	r->h = take(c, R * D);
	r->q = take(c, R * D);
	r->k = take(c, R * D);
	r->v = take(c, R * D);
	r->o = take(c, R * D);
	r->t1 = take(c, R * D);
	r->pr = take(c, R * D);
	r->mlp = take(c, R * m->mlp_hidden);
	r->send = sp ? take(c, R * 3 * D) : NULL;
	r->recv = sp ? take(c, R * 3 * D) : NULL;
	r->full = sp ? take(c, dense * 3 * D / K) : NULL;
	r->ofull = sp ? take(c, dense * D / K) : NULL;
	r->fin = take(c, R * P);
	r->fin_all = sp ? take(c, K * R * P) : NULL;
	r->fin_full = take(c, dense * P);
	r->outp = take(c, dense * P);
	r->out = take(c, bm * m->out_ch * d->T * d->H * d->W);
	r->xin = take(c, bm * m->in_ch * d->T * d->H * d->W);
}

/* Device elements of scratch for a forward of @bm samples of latent T x H x W at @degree. */
size_t stdit_scratch_elems(const struct stdit_model *m, int64_t bm, int64_t T, int64_t H,
			   int64_t W, int degree)
{
	struct carver c = { 0 };
	struct dims d;

	dims_of(m, bm, T, H, W, degree, &d);
	walk(m, &d, degree, NULL, &c);
	return (size_t)c.off;
}

void stdit_layout_carve(struct stdit_run *r, void *scratch)
{
	struct carver c = { .base = scratch, .esz = r->esz };
	struct dims d;

	dims_of(r->m, r->bm, r->T, r->H, r->W, r->degree, &d);
	walk(r->m, &d, r->degree, r, &c);
}

/*
 * Fill @r (but its tap) for a forward of @bm samples of latent [C, T, H, W]
 * on ctx's rank; the scratch is not carved yet. The degree must split the
 * heads (spatial attention trades positions for heads) and leave every rank
 * a position.
 */
int stdit_run_init(struct stdit_run *r, const struct ts_step_ctx *ctx, int64_t bm, int64_t T,
		   int64_t H, int64_t W)
{
	const struct stdit_model *m = ctx->model;
	stdit_tap_fn tap = r->tap;
	void *tap_arg = r->tap_arg;
	struct dims d;

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
	if (bm < 1 || bm > ST_MAX_MODEL_BATCH || T < 1 || H < 1 || W < 1) {
		r->host->log(TS_LOG_ERROR, ST_WHO, "bad forward shape: batch %lld, latent %lldx%lldx%lld",
			     (long long)bm, (long long)T, (long long)H, (long long)W);
		return TS_EINVAL;
	}
	dims_of(m, bm, T, H, W, ctx->degree, &d);
	if (mc_shards_check(r->host, ST_WHO, r->rank, r->degree, m->heads, d.S,
			    "positions of a frame"))
		return TS_EINVAL;
	r->bm = bm;
	r->T = T;
	r->H = H;
	r->W = W;
	r->tg = d.tg;
	r->hg = d.hg;
	r->wg = d.wg;
	r->S = d.S;
	r->nl = d.nl;
	r->R = d.R;
	r->first = r->rank * r->nl;
	r->real = r->S - r->first;
	r->real = r->real > r->nl ? r->nl : r->real < 0 ? 0 : r->real;
	return 0;
}
