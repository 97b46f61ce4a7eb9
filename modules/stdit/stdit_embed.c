/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_embed.c - what STDiT3.forward computes before the
 * blocks: the timestep/fps conditioning and its per-frame modulation rows,
 * the caption (y_proj, then only the valid tokens kept, packed per sample as
 * upstream's encode_text), and the patch embedding with its 2-D positions.
 */
#include <string.h>

#include "stdit.h"
#include "../common/sinusoid.h"

static int tap2(struct stdit_run *r, const char *name, const void *buf, int64_t d0, int64_t d1)
{
	const int64_t shape[2] = { d0, d1 };

	return r->tap ? r->tap(r, name, buf, 2, shape, 0) : 0;
}

/* TimestepEmbedder / SizeEmbedder MLP on @n rows of sinusoids at row @row0. */
static int embed_mlp(struct stdit_run *r, int64_t row0, int64_t n, const void *w0,
		     const void *b0, const void *w2, const void *b2)
{
	int64_t D = r->m->hidden, F = r->m->freq_dim;

	ST_TRY(stdit_linear(r, st_at(r, r->thid, row0 * D), st_at(r, r->tfreq, row0 * F), n, F, D,
			    w0, b0, TS_ACT_SILU));
	return stdit_linear(r, st_at(r, r->temb, row0 * D), st_at(r, r->thid, row0 * D), n, D, D,
			    w2, b2, TS_ACT_NONE);
}

/*
 * Per frame (b, f): the six block modulation chunks come from t_mlp of the
 * sample, or of timestep 0 where x_mask is False; the final layer's (shift,
 * scale) pair from t itself (T2IFinalLayer adds the raw t to its table).
 */
static int frame_rows(struct stdit_run *r, const struct stdit_cond *c)
{
	int64_t D = r->m->hidden;

	for (int64_t b = 0; b < r->bm; b++) {
		for (int64_t f = 0; f < r->tg; f++) {
			int64_t row = b * r->tg + f;
			int64_t src = c->x_mask && !c->x_mask[row] ? r->bm + b : b;

			ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->fmod, row * 6 * D), 6 * D,
					      st_at(r, r->tmlp, src * 6 * D), 6 * D, 1, 6 * D));
			for (int half = 0; half < 2; half++)
				ST_TRY(r->ops->copy2d(r->dev,
						      st_at(r, r->ffin, (row * 2 + half) * D), D,
						      st_at(r, r->tvec, src * D), D, 1, D));
		}
	}
	/* ffin rows got t twice, which is (t + table[0], t + table[1]) after this */
	return r->ops->add_row(r->dev, r->ffin, r->ffin, r->w->fin_table, r->bm * r->tg, 2 * D);
}

/*
 * t = t_embedder(timestep) + fps_embedder(fps), t_mlp = t_block(t); with
 * x_mask also t0 and t0_mlp for timestep 0 (same fps).
 */
int stdit_embed_cond(struct stdit_run *r, const struct stdit_cond *c)
{
	const struct stdit_model *m = r->m;
	int64_t bm = r->bm, D = m->hidden, F = m->freq_dim, nt = c->x_mask ? 2 * bm : bm;
	float *freq = r->host->alloc(sizeof(float) * (size_t)(3 * bm * F));
	float *zero = r->host->alloc(sizeof(float) * (size_t)bm);
	const struct stdit_weights *w = r->w;
	int err = TS_ENOMEM;

	if (freq && zero) {
		memset(zero, 0, sizeof(float) * (size_t)bm);
		mc_timestep_freq(freq, c->timestep, bm, F);
		mc_timestep_freq(freq + bm * F, zero, bm, F);
		mc_timestep_freq(freq + 2 * bm * F, c->fps, bm, F);
		err = r->host->dev_upload(r->dev, r->tfreq, freq, TS_F32, 3 * bm * F);
	}
	r->host->free(freq);
	r->host->free(zero);
	ST_TRY(err);
	ST_TRY(embed_mlp(r, 0, nt, w->t0_w, w->t0_b, w->t2_w, w->t2_b));
	ST_TRY(embed_mlp(r, 2 * bm, bm, w->f0_w, w->f0_b, w->f2_w, w->f2_b));
	for (int64_t i = 0; i < nt; i += bm)
		ST_TRY(r->ops->add(r->dev, st_at(r, r->tvec, i * D), st_at(r, r->temb, i * D),
				   st_at(r, r->temb, 2 * bm * D), bm * D));
	ST_TRY(r->ops->activation(r->dev, r->tsilu, r->tvec, nt * D, TS_ACT_SILU));
	ST_TRY(stdit_linear(r, r->tmlp, r->tsilu, nt, D, 6 * D, w->tb_w, w->tb_b, TS_ACT_NONE));
	ST_TRY(tap2(r, "output.t_freq", r->tfreq, bm, F));
	ST_TRY(tap2(r, "output.t_emb", r->temb, bm, D));
	ST_TRY(tap2(r, "output.fps_emb", st_at(r, r->temb, 2 * bm * D), bm, D));
	ST_TRY(tap2(r, "output.t_mlp", r->tmlp, bm, 6 * D));
	if (c->x_mask) {
		ST_TRY(tap2(r, "output.t_freq.call1", st_at(r, r->tfreq, bm * F), bm, F));
		ST_TRY(tap2(r, "output.t_emb.call1", st_at(r, r->temb, bm * D), bm, D));
		ST_TRY(tap2(r, "output.t_mlp.call1", st_at(r, r->tmlp, bm * 6 * D), bm, 6 * D));
	}
	return frame_rows(r, c);
}

/*
 * y_proj on every token of r->yin [bm, L, cap_ch], then the valid tokens of
 * each sample packed into r->ypack (sample b's at rows yoff[b] .. +ylen[b]):
 * cross-attention keys are only those, as upstream's BlockDiagonalMask.
 */
int stdit_embed_caption(struct stdit_run *r, const struct stdit_cond *c)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, L = m->cap_len, rows = r->bm * L;
	const struct stdit_weights *w = r->w;

	ST_TRY(stdit_linear(r, r->yh, r->yin, rows, m->cap_ch, D, w->y1_w, w->y1_b,
			    TS_ACT_GELU_TANH));
	ST_TRY(stdit_linear(r, r->yemb, r->yh, rows, D, D, w->y2_w, w->y2_b, TS_ACT_NONE));
	if (r->tap) {
		const int64_t shape[4] = { r->bm, 1, L, D };

		ST_TRY(r->tap(r, "output.y_embed", r->yemb, 4, shape, 0));
	}
	r->ny = 0;
	for (int64_t b = 0; b < r->bm; b++) {
		r->yoff[b] = r->ny;
		for (int64_t i = 0; i < L;) {
			int64_t run = 0;

			while (i + run < L && (!c->y_mask || c->y_mask[b * L + i + run]))
				run++;
			if (run)
				ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->ypack, r->ny * D), D,
						      st_at(r, r->yemb, (b * L + i) * D), D, run,
						      D));
			r->ny += run;
			i += run + 1; /* past the run and the masked token that ended it */
		}
		r->ylen[b] = r->ny - r->yoff[b];
	}
	return 0;
}

/* x [bm, C, T, H, W] zero-padded at the end to whole patches; returns the padded tensor. */
static int pad_input(struct stdit_run *r, const void *x, const void **out)
{
	const struct stdit_model *m = r->m;
	int64_t Tp = r->tg * m->pt, Hp = r->hg * m->ph, Wp = r->wg * m->pw;

	*out = x;
	if (Tp == r->T && Hp == r->H && Wp == r->W)
		return 0;
	ST_TRY(r->ops->fill(r->dev, r->xpad, 0.0f, r->bm * m->in_ch * Tp * Hp * Wp));
	for (int64_t p = 0; p < r->bm * m->in_ch; p++)
		for (int64_t t = 0; t < r->T; t++)
			ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->xpad, (p * Tp + t) * Hp * Wp), Wp,
					      st_at(r, x, (p * r->T + t) * r->H * r->W), r->W,
					      r->H, r->W));
	*out = r->xpad;
	return 0;
}

/* Our positions' rows of a dense [bm, T', S, cols] tensor into [bm, T', nl, cols]. */
static int take_ours(struct stdit_run *r, void *dst, const void *dense, int64_t cols)
{
	if (r->real < r->nl)
		ST_TRY(r->ops->fill(r->dev, dst, 0.0f, r->R * cols));
	for (int64_t f = 0; f < r->bm * r->tg && r->real > 0; f++)
		ST_TRY(r->ops->copy2d(r->dev, st_at(r, dst, f * r->nl * cols), cols,
				      st_at(r, dense, (f * r->S + r->first) * cols), cols, r->real,
				      cols));
	return 0;
}

/* PositionEmbedding2D of this input: the whole [S, D] table and our [nl, D] rows. */
static int embed_pos(struct stdit_run *r, const struct stdit_cond *c, void **ours)
{
	int64_t D = r->m->hidden;
	double base, scale = stdit_pos_scale(r->m, r->S, c->height, c->width, &base);
	float *pos = r->host->alloc(sizeof(float) * (size_t)(r->S * D));
	int err;

	if (!pos)
		return TS_ENOMEM;
	stdit_pos_embed(pos, (int)D, r->hg, r->wg, scale, base);
	err = r->host->dev_upload(r->dev, r->pos, pos, TS_F32, r->S * D);
	r->host->free(pos);
	ST_TRY(err);
	if (r->tap) {
		const int64_t shape[3] = { 1, r->S, D };

		ST_TRY(r->tap(r, "output.pos_emb", r->pos, 3, shape, 0));
	}
	*ours = st_at(r, r->pos, r->S * D);
	if (r->real < r->nl)
		ST_TRY(r->ops->fill(r->dev, *ours, 0.0f, r->nl * D));
	if (r->real > 0)
		ST_TRY(r->ops->copy2d(r->dev, *ours, D, st_at(r, r->pos, r->first * D), D, r->real,
				      D));
	return 0;
}

/*
 * PatchEmbed3D (a stride = kernel Conv3d) as patches x weight^T: the padded
 * input viewed [bm, C, T', pt, H', ph, W', pw] is permuted to one row of
 * (C, pt, ph, pw) per token, the order of the conv weight's [D, C, pt, ph, pw].
 * Then the same 2-D positions are added in every frame.
 */
int stdit_embed_tokens(struct stdit_run *r, const struct stdit_cond *c, const void *x)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, Cp = (int64_t)m->in_ch * m->pt * m->ph * m->pw;
	const int64_t shape[8] = { r->bm, m->in_ch, r->tg, m->pt, r->hg, m->ph, r->wg, m->pw };
	const int perm[8] = { 0, 2, 4, 6, 1, 3, 5, 7 };
	const void *padded, *rows = r->pfull;
	void *pos;

	ST_TRY(pad_input(r, x, &padded));
	ST_TRY(r->ops->permute(r->dev, r->pfull, padded, 8, shape, perm));
	if (r->degree > 1) {
		ST_TRY(take_ours(r, r->ploc, r->pfull, Cp));
		rows = r->ploc;
	}
	ST_TRY(stdit_linear(r, r->x, rows, r->R, Cp, D, r->w->x_w, r->w->x_b, TS_ACT_NONE));
	if (r->tap) {
		const int64_t s3[3] = { r->bm, r->tg * r->S, D };

		ST_TRY(r->tap(r, "output.x_embed", r->x, 3, s3, 1));
	}
	ST_TRY(embed_pos(r, c, &pos));
	return r->ops->add_row(r->dev, r->x, r->x, pos, r->bm * r->tg, r->nl * D);
}
