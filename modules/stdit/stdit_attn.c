/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_attn.c - spatial self-attention over the S positions of
 * every frame when each rank holds only nl = ceil(S / K) of them (Ulysses):
 *
 *   resident   [bm, T', nl, (3, H, hd)]  our positions, every head
 *      | all-to-all (rank g gets heads g H/K .. (g+1) H/K - 1)
 *   attention  [bm, T', S, (3, H/K, hd)]  every position, our heads
 *      | attention per (sample, frame), then the way back
 *   resident   [bm, T', nl, (H, hd)]
 *
 * When K does not divide S the last shares are short: the cut of
 * modules/common/shards.h, whose padding rows are never keys.
 */
#include <math.h>

#include "stdit.h"
#include "../common/shards.h"

/* This forward's cut: each frame's S positions in shares of nl. */
static struct mc_shards shards_of(const struct stdit_run *r)
{
	return (struct mc_shards){
		.ops = r->ops, .dev = r->dev, .coll = r->coll, .comm = r->comm, .esz = r->esz,
		.degree = r->degree, .groups = r->bm * r->tg, .len = r->S, .nl = r->nl,
	};
}

/* Attention of every frame over its S positions for @heads heads. */
static int attend(struct stdit_run *r, const void *q, const void *k, const void *v, void *o,
		  int64_t heads, int64_t in_tok, int64_t out_tok)
{
	const struct stdit_model *m = r->m;
	const struct ts_attention a = {
		.batch = r->bm * r->tg, .heads = heads, .q_len = r->S, .kv_len = r->S,
		.head_dim = m->head_dim, .q = q, .k = k, .v = v, .o = o,
		.q_tok = in_tok, .k_tok = in_tok, .v_tok = in_tok, .o_tok = out_tok,
		.q_batch = r->S * in_tok, .k_batch = r->S * in_tok, .v_batch = r->S * in_tok,
		.o_batch = r->S * out_tok,
		.scale = (float)(1.0 / sqrt((double)m->head_dim)),
	};

	return r->ops->attention(r->dev, &a);
}

static int attention_sp(struct stdit_run *r)
{
	int64_t K = r->degree, D = r->m->hidden, dk = D / K, R = r->R;
	/* packed [R, 3, K, dk] -> [K, R, 3, dk]: the block for rank g holds heads of group g */
	const int64_t out_shape[4] = { R, 3, K, dk };
	const int out_perm[4] = { 2, 0, 1, 3 };
	/* received [K, R, dk] (head group first) -> [R, K, dk]: head-major channels */
	const int64_t back_shape[3] = { K, R, dk };
	const int back_perm[3] = { 1, 0, 2 };
	const void *src[3] = { r->q, r->k, r->v };
	const struct mc_shards sh = shards_of(r);

	/* q, k, v side by side as one fused row, so one all-to-all moves them */
	for (int j = 0; j < 3; j++)
		ST_TRY(r->ops->copy2d(r->dev, st_at(r, r->recv, j * D), 3 * D, src[j], D, R, D));
	ST_TRY(r->ops->permute(r->dev, r->send, r->recv, 4, out_shape, out_perm));
	ST_TRY(r->coll->all_to_all(r->comm, r->send, r->recv, R * 3 * dk));
	ST_TRY(mc_shards_copy(&sh, r->full, r->recv, 3 * dk, 1));
	ST_TRY(attend(r, r->full, st_at(r, r->full, dk), st_at(r, r->full, 2 * dk), r->ofull,
		      r->m->heads / K, 3 * dk, dk));
	if (r->S % K)
		ST_TRY(r->ops->fill(r->dev, r->send, 0.0f, R * D));
	ST_TRY(mc_shards_copy(&sh, r->ofull, r->send, dk, 0));
	ST_TRY(r->coll->all_to_all(r->comm, r->send, r->recv, R * dk));
	return r->ops->permute(r->dev, r->o, r->recv, 3, back_shape, back_perm);
}

/* r->o [bm, T', nl, D] = heads-concatenated spatial attention of r->q, r->k, r->v. */
int stdit_spatial_attention(struct stdit_run *r)
{
	int64_t D = r->m->hidden;

	if (r->degree == 1)
		return attend(r, r->q, r->k, r->v, r->o, r->m->heads, D, D);
	return attention_sp(r);
}

/*
 * Every rank's [bm, T', nl, cols] share -> the dense [bm, T', S, cols] tensor
 * on every rank. @all holds K * R * cols elements (unused at degree 1).
 */
int stdit_gather(struct stdit_run *r, const void *shard, void *all, void *full, int64_t cols)
{
	const struct mc_shards sh = shards_of(r);

	return mc_shards_gather(&sh, shard, all, full, cols);
}
