/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_block.c - one STDiT3Block on this rank's rows, in
 * place on r->x [bm, T', nl, D]:
 *   x += gate_msa * Attn(LN(x) (1 + scale_msa) + shift_msa)
 *   x += CrossAttn(x, caption)
 *   x += gate_mlp * MLP(LN(x) (1 + scale_mlp) + shift_mlp)
 * with the modulation chosen per frame (x_mask). Spatial blocks attend over
 * the S positions of a frame (stdit_attn.c: across the group), temporal
 * blocks over the T' frames of a position, with RoPE on q and k; a rank
 * holds every frame of its positions, so temporal attention is local.
 */
#include <math.h>

#include "stdit.h"

/* q, k, v of @src (three slices of the fused qkv Linear), then qk RMSNorm per head. */
static int qkv_proj(struct stdit_run *r, const struct stdit_block_w *b, const void *src)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, R = r->R;
	void *dst[3] = { r->q, r->k, r->v };

	for (int j = 0; j < 3; j++)
		ST_TRY(stdit_linear(r, dst[j], src, R, D, D, st_at(r, b->qkv_w, j * D * D),
				    st_at(r, b->qkv_b, j * D), TS_ACT_NONE));
	if (!m->qk_norm)
		return 0;
	ST_TRY(r->ops->rms_norm(r->dev, r->q, r->q, b->qn, R * m->heads, m->head_dim,
				m->rms_eps));
	return r->ops->rms_norm(r->dev, r->k, r->k, b->kn, R * m->heads, m->head_dim,
				m->rms_eps);
}

/*
 * Temporal self-attention: the rows are permuted to [bm, nl, T', D] so each
 * position's frames are one sequence (RoPE counts positions within it), and
 * the output is permuted back before proj.
 */
static int temporal_attn(struct stdit_run *r, const struct stdit_block_w *b)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, hd = m->head_dim, seqs = r->bm * r->nl, tg = r->tg;
	const int64_t to_pos[4] = { r->bm, tg, r->nl, D }, to_frame[4] = { r->bm, r->nl, tg, D };
	const int perm[4] = { 0, 2, 1, 3 };
	const struct ts_attention a = {
		.batch = seqs, .heads = m->heads, .q_len = tg, .kv_len = tg, .head_dim = hd,
		.q = r->q, .k = r->k, .v = r->v, .o = r->o,
		.q_tok = D, .k_tok = D, .v_tok = D, .o_tok = D,
		.q_batch = tg * D, .k_batch = tg * D, .v_batch = tg * D, .o_batch = tg * D,
		.scale = (float)(1.0 / sqrt((double)hd)),
	};

	ST_TRY(r->ops->permute(r->dev, r->t1, r->h, 4, to_pos, perm));
	ST_TRY(qkv_proj(r, b, r->t1));
	ST_TRY(r->ops->rope(r->dev, r->q, r->w->rope, hd / 2, seqs, tg, m->heads, hd, D, tg * D));
	ST_TRY(r->ops->rope(r->dev, r->k, r->w->rope, hd / 2, seqs, tg, m->heads, hd, D, tg * D));
	ST_TRY(r->ops->attention(r->dev, &a));
	ST_TRY(r->ops->permute(r->dev, r->t1, r->o, 4, to_frame, perm));
	return stdit_linear(r, r->pr, r->t1, r->R, D, D, b->proj_w, b->proj_b, TS_ACT_NONE);
}

static int spatial_attn(struct stdit_run *r, const struct stdit_block_w *b)
{
	int64_t D = r->m->hidden;

	ST_TRY(qkv_proj(r, b, r->h));
	ST_TRY(stdit_spatial_attention(r));
	return stdit_linear(r, r->pr, r->o, r->R, D, D, b->proj_w, b->proj_b, TS_ACT_NONE);
}

/*
 * MultiHeadCrossAttention: sample b's rows attend to its ylen[b] packed
 * caption tokens (k, v from kv_linear, laid out (2, heads, head_dim)).
 */
static int cross_attn(struct stdit_run *r, const struct stdit_block_w *b)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, rows = r->tg * r->nl;

	ST_TRY(stdit_linear(r, r->q, r->x, r->R, D, D, b->cq_w, b->cq_b, TS_ACT_NONE));
	if (r->ny > 0)
		ST_TRY(stdit_linear(r, r->kv, r->ypack, r->ny, D, 2 * D, b->ckv_w, b->ckv_b,
				    TS_ACT_NONE));
	for (int64_t s = 0; s < r->bm; s++) {
		const void *kv = st_at(r, r->kv, r->yoff[s] * 2 * D);
		const struct ts_attention a = {
			.batch = 1, .heads = m->heads, .q_len = rows, .kv_len = r->ylen[s],
			.head_dim = m->head_dim,
			.q = st_at(r, r->q, s * rows * D), .k = kv, .v = st_at(r, kv, D),
			.o = st_at(r, r->o, s * rows * D),
			.q_tok = D, .k_tok = 2 * D, .v_tok = 2 * D, .o_tok = D,
			.q_batch = rows * D, .k_batch = r->ylen[s] * 2 * D,
			.v_batch = r->ylen[s] * 2 * D, .o_batch = rows * D,
			.scale = (float)(1.0 / sqrt((double)m->head_dim)),
		};

		ST_TRY(r->ops->attention(r->dev, &a));
	}
	ST_TRY(stdit_linear(r, r->pr, r->o, r->R, D, D, b->cp_w, b->cp_b, TS_ACT_NONE));
	return r->ops->add(r->dev, r->x, r->x, r->pr, r->R * D);
}

static int mlp(struct stdit_run *r, const struct stdit_block_w *b)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, S6 = 6 * D, frames = r->bm * r->tg;

	ST_TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, st_at(r, r->mod, 3 * D),
					   st_at(r, r->mod, 4 * D), frames, r->nl, D, S6,
					   m->ln_eps));
	ST_TRY(stdit_linear(r, r->mlp, r->h, r->R, D, m->mlp_hidden, b->fc1_w, b->fc1_b,
			    TS_ACT_GELU_TANH));
	ST_TRY(stdit_linear(r, r->pr, r->mlp, r->R, m->mlp_hidden, D, b->fc2_w, b->fc2_b,
			    TS_ACT_NONE));
	return r->ops->gated_residual(r->dev, r->x, r->pr, st_at(r, r->mod, 5 * D), frames, r->nl,
				      D, S6);
}

int stdit_block(struct stdit_run *r, const struct stdit_block_w *b, int temporal)
{
	const struct stdit_model *m = r->m;
	int64_t D = m->hidden, S6 = 6 * D, frames = r->bm * r->tg;

	/* the block's own table plus each frame's t_mlp (or t0_mlp) row */
	ST_TRY(r->ops->add_row(r->dev, r->mod, r->fmod, b->table, frames, S6));
	ST_TRY(r->ops->layer_norm_modulate(r->dev, r->h, r->x, r->mod, st_at(r, r->mod, D), frames,
					   r->nl, D, S6, m->ln_eps));
	ST_TRY(temporal ? temporal_attn(r, b) : spatial_attn(r, b));
	ST_TRY(r->ops->gated_residual(r->dev, r->x, r->pr, st_at(r, r->mod, 2 * D), frames, r->nl,
				      D, S6));
	ST_TRY(cross_attn(r, b));
	return mlp(r, b);
}
