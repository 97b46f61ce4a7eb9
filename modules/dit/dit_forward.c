/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_forward.c - DiT.forward (models.py) on one rank of a group.
 *
 * Every rank embeds the whole (replicated) latent, keeps its contiguous share
 * of the tokens and runs the blocks on it; attention trades tokens for heads
 * with the group (dit_attn.c). The final layer's tokens are gathered, so
 * every rank ends with the whole output in r->out [batch, out_ch, G*p, G*p].
 */
#include <stdio.h>
#include <string.h>

#include "dit.h"
#include "../common/linear.h"
#include "../common/sinusoid.h"

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

/* y[rows, out] = act(x[rows, in] W^T + b) on the run's device (modules/common/linear.h). */
static int linear(struct dit_run *r, void *y, const void *x, int64_t rows, int64_t in,
		  int64_t out, const void *w, const void *b, enum ts_act act)
{
	return mc_linear(r->ops, r->dev, y, x, rows, in, out, w, b, act);
}

static int tap_full(struct dit_run *r, const char *name, const void *buf, int ndim,
		    int64_t d0, int64_t d1, int64_t d2)
{
	const int64_t shape[3] = { d0, d1, d2 };

	return r->tap ? r->tap(r, name, buf, ndim, shape, 0) : 0;
}

/* c = t_embedder(t) + y_embedder(y); silu_c = SiLU(c), the input of every adaLN. */
static int embed_cond(struct dit_run *r, const float *t, const int64_t *y)
{
	const struct dit_model *m = r->m;
	int64_t bm = r->batch, D = m->hidden;
	float *freq;
	int err;

	for (int64_t b = 0; b < bm; b++) {
		if (y[b] < 0 || y[b] >= m->table_rows) {
			r->host->log(TS_LOG_ERROR, DIT_WHO, "class label %lld out of [0, %d)",
				     (long long)y[b], m->table_rows);
			return TS_ERANGE;
		}
	}
	freq = r->host->alloc(sizeof(float) * (size_t)(bm * m->freq_dim));
	if (!freq)
		return TS_ENOMEM;
	mc_timestep_freq(freq, t, bm, m->freq_dim);
	err = r->host->dev_upload(r->dev, r->tfreq, freq, TS_F32, bm * m->freq_dim);
	r->host->free(freq);
	TRY(err);
	TRY(linear(r, r->thid, r->tfreq, bm, m->freq_dim, D, r->w->t0_w, r->w->t0_b,
		   TS_ACT_SILU));
	TRY(linear(r, r->temb, r->thid, bm, D, D, r->w->t2_w, r->w->t2_b, TS_ACT_NONE));
	TRY(r->ops->embedding(r->dev, r->yemb, r->w->y_table, m->table_rows, D, y, bm));
	TRY(tap_full(r, "output.t_freq", r->tfreq, 2, bm, m->freq_dim, 0));
	TRY(tap_full(r, "output.t_emb", r->temb, 2, bm, D, 0));
	TRY(tap_full(r, "output.y_emb", r->yemb, 2, bm, D, 0));
	TRY(r->ops->add(r->dev, r->cond, r->temb, r->yemb, bm * D));
	return r->ops->activation(r->dev, r->silu_c, r->cond, bm * D, TS_ACT_SILU);
}

/* x_embedder (stride-p conv, remainder dropped as upstream) + pos_embed; keep our tokens. */
static int embed_tokens(struct dit_run *r, const void *x)
{
	const struct dit_model *m = r->m;
	int64_t bm = r->batch, D = m->hidden, N = m->tokens;
	const struct ts_conv conv = {
		.n = bm, .c_in = m->in_ch, .c_out = D,
		.t = 1, .h = m->input_size, .w = m->input_size,
		.kt = 1, .kh = m->patch, .kw = m->patch,
		.st = 1, .sh = m->patch, .sw = m->patch,
		.x = x, .weight = r->w->x_w, .bias = r->w->x_b, .y = r->embed,
	};
	const int64_t shape[3] = { bm, D, N };
	const int perm[3] = { 0, 2, 1 };

	TRY(r->ops->conv(r->dev, &conv));
	TRY(r->ops->permute(r->dev, r->tok, r->embed, 3, shape, perm));
	TRY(tap_full(r, "output.x_embed", r->tok, 3, bm, N, D));
	TRY(tap_full(r, "output.pos_embed", r->w->pos, 3, 1, N, D));
	TRY(r->ops->add_row(r->dev, r->tok, r->tok, r->w->pos, bm, N * D));
	if (r->real < r->nl)
		TRY(r->ops->fill(r->dev, r->x, 0.0f, bm * r->nl * D));
	for (int64_t b = 0; b < bm && r->real > 0; b++)
		TRY(r->ops->copy2d(r->dev, dit_at(r, r->x, b * r->nl * D), D,
				   dit_at(r, r->tok, (b * N + r->first) * D), D, r->real, D));
	return 0;
}

/* One DiTBlock (adaLN-Zero) on this rank's tokens, in place on r->x. */
static int block(struct dit_run *r, const struct dit_block_w *b)
{
	const struct dit_model *m = r->m;
	int64_t bm = r->batch, D = m->hidden, rows = r->batch * r->nl, S = 6 * D;
	const void *mod = r->mod;

	TRY(linear(r, r->mod, r->silu_c, bm, D, S, b->ada_w, b->ada_b, TS_ACT_NONE));
	TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, mod, dit_at(r, mod, D), bm, r->nl,
					D, S, m->ln_eps));
	TRY(linear(r, r->qkv, r->h, rows, D, 3 * D, b->qkv_w, b->qkv_b, TS_ACT_NONE));
	TRY(dit_attention(r));
	TRY(linear(r, r->proj, r->att, rows, D, D, b->proj_w, b->proj_b, TS_ACT_NONE));
	TRY(r->ops->gated_residual(r->dev, r->x, r->proj, dit_at(r, mod, 2 * D), bm, r->nl, D,
				   S));
	TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, dit_at(r, mod, 3 * D),
					dit_at(r, mod, 4 * D), bm, r->nl, D, S, m->ln_eps));
	TRY(linear(r, r->mlp, r->h, rows, D, m->mlp_hidden, b->fc1_w, b->fc1_b,
		   TS_ACT_GELU_TANH));
	TRY(linear(r, r->proj, r->mlp, rows, m->mlp_hidden, D, b->fc2_w, b->fc2_b, TS_ACT_NONE));
	return r->ops->gated_residual(r->dev, r->x, r->proj, dit_at(r, mod, 5 * D), bm, r->nl,
				      D, S);
}

/* FinalLayer on our tokens, gathered, then unpatchify into r->out. */
static int final_layer(struct dit_run *r)
{
	const struct dit_model *m = r->m;
	int64_t bm = r->batch, D = m->hidden, G = m->grid, p = m->patch;
	int64_t P = p * p * m->out_ch;
	const int64_t shape[6] = { bm, G, G, p, p, m->out_ch };
	const int perm[6] = { 0, 5, 1, 3, 2, 4 };

	TRY(linear(r, r->mod, r->silu_c, bm, D, 2 * D, r->w->fin_ada_w, r->w->fin_ada_b,
		   TS_ACT_NONE));
	TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, r->mod, dit_at(r, r->mod, D), bm,
					r->nl, D, 2 * D, m->ln_eps));
	TRY(linear(r, r->fin, r->h, bm * r->nl, D, P, r->w->fin_w, r->w->fin_b, TS_ACT_NONE));
	TRY(dit_gather_tokens(r, r->fin, r->fin_all, r->fin_full, P));
	TRY(tap_full(r, "output.final_layer", r->fin_full, 3, bm, m->tokens, P));
	return r->ops->permute(r->dev, r->out, r->fin_full, 6, shape, perm);
}

/*
 * DiT.forward(x, t, y) for r->batch samples: @x device [batch, C, I, I],
 * @t and @y host [batch]. Result in r->out.
 */
int dit_forward(struct dit_run *r, const float *t, const int64_t *y, const void *x)
{
	const struct dit_model *m = r->m;

	TRY(embed_cond(r, t, y));
	TRY(embed_tokens(r, x));
	for (int i = 0; i < m->depth; i++) {
		TRY(block(r, &r->w->blk[i]));
		if (r->tap) {
			const int64_t shape[3] = { r->batch, m->tokens, m->hidden };
			char name[48];

			snprintf(name, sizeof(name), "output.blocks.%d", i);
			TRY(r->tap(r, name, r->x, 3, shape, 1));
		}
	}
	return final_layer(r);
}

/*
 * forward_with_cfg's guidance on r->out, whose first half is conditional and
 * second half unconditional: channels < cfg_channels of both halves become
 * uncond + s * (cond - uncond), with @scale[b] for pair b; the other channels
 * stay each half's own.
 */
int dit_guide(struct dit_run *r, const float *scale)
{
	const struct dit_model *m = r->m;
	int64_t half = r->batch / 2, plane = (int64_t)m->grid * m->patch * m->grid * m->patch;
	int64_t n = m->cfg_channels * plane, sample = m->out_ch * plane;

	for (int64_t b = 0; b < half; b++) {
		void *cond = dit_at(r, r->out, b * sample);
		void *unc = dit_at(r, r->out, (b + half) * sample);

		TRY(r->ops->axpby(r->dev, cond, -1.0f, unc, 1.0f, n));
		TRY(r->ops->axpby(r->dev, cond, 1.0f, unc, scale[b], n));
		TRY(r->ops->copy2d(r->dev, unc, n, cond, n, 1, n));
	}
	return 0;
}
