/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_forward.c - STDiT3.forward on one rank of a group.
 *
 * Every rank embeds the conditioning and caption whole (they are small), and
 * the patches of its own positions; the blocks run on those rows (spatial
 * attention trades positions for heads with the group). The final layer's
 * rows are gathered, so every rank ends with the whole output in r->out
 * [bm, out_ch, T, H, W], cropped back to the input's size.
 */
#include <stdio.h>

#include "stdit.h"
#include "../common/linear.h"

/* y[rows, out] = act(x[rows, in] W^T + b) on the run's device (modules/common/linear.h). */
int stdit_linear(struct stdit_run *r, void *y, const void *x, int64_t rows, int64_t in,
		 int64_t out, const void *w, const void *b, enum ts_act act)
{
	return mc_linear(r->ops, r->dev, y, x, rows, in, out, w, b, act);
}

static int tap_rows(struct stdit_run *r, const char *name, const void *buf, int64_t cols,
		    int sharded)
{
	const int64_t shape[3] = { r->bm, r->tg * r->S, cols };

	return r->tap ? r->tap(r, name, buf, 3, shape, sharded) : 0;
}

/* Unpatchify [bm, T', H', W', (pt, ph, pw, C_out)] to r->out [bm, C_out, T, H, W]. */
static int unpatchify(struct stdit_run *r)
{
	const struct stdit_model *m = r->m;
	int64_t Tp = r->tg * m->pt, Hp = r->hg * m->ph, Wp = r->wg * m->pw, Co = m->out_ch;
	const int64_t shape[8] = { r->bm, r->tg, r->hg, r->wg, m->pt, m->ph, m->pw, Co };
	const int perm[8] = { 0, 7, 1, 4, 2, 5, 3, 6 };

	if (Tp == r->T && Hp == r->H && Wp == r->W)
		return r->ops->permute(r->dev, r->out, r->fin_full, 8, shape, perm);
	ST_TRY(r->ops->permute(r->dev, r->outp, r->fin_full, 8, shape, perm));
	for (int64_t p = 0; p < r->bm * Co; p++)
		for (int64_t t = 0; t < r->T; t++)
			ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->out, (p * r->T + t) * r->H * r->W),
					      r->W, st_at(r, r->outp, (p * Tp + t) * Hp * Wp), Wp,
					      r->H, r->W));
	return 0;
}

/* T2IFinalLayer: LN(x) (1 + scale) + shift per frame, Linear; gathered, unpatchified. */
static int final_layer(struct stdit_run *r)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, P = (int64_t)m->pt * m->ph * m->pw * m->out_ch;

	ST_TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, r->ffin, st_at(r, r->ffin, D),
					   r->bm * r->tg, r->nl, D, 2 * D, m->ln_eps));
	ST_TRY(stdit_linear(r, r->fin, r->h, r->R, D, P, r->w->fin_w, r->w->fin_b, TS_ACT_NONE));
	ST_TRY(stdit_gather(r, r->fin, r->fin_all, r->fin_full, P));
	ST_TRY(tap_rows(r, "output.final_layer", r->fin_full, P, 0));
	return unpatchify(r);
}

/*
 * STDiT3.forward for r->bm samples: @x device [bm, C, T, H, W]; the caption
 * is already in r->yin [bm, L, cap_ch]. Result in r->out.
 */
int stdit_forward(struct stdit_run *r, const struct stdit_cond *c, const void *x)
{
	const struct stdit_model *m = r->m;
	char name[48];

	ST_TRY(stdit_embed_cond(r, c));
	ST_TRY(stdit_embed_caption(r, c));
	ST_TRY(stdit_embed_tokens(r, c, x));
	for (int i = 0; i < m->depth; i++) {
		ST_TRY(stdit_block(r, &r->w->sblk[i], 0));
		snprintf(name, sizeof(name), "output.spatial_blocks.%d", i);
		ST_TRY(tap_rows(r, name, r->x, m->hidden, 1));
		ST_TRY(stdit_block(r, &r->w->tblk[i], 1));
		snprintf(name, sizeof(name), "output.temporal_blocks.%d", i);
		ST_TRY(tap_rows(r, name, r->x, m->hidden, 1));
	}
	return final_layer(r);
}
