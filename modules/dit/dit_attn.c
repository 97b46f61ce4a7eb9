/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_attn.c - a block's self-attention over the whole sequence
 * when each rank holds only its share of the tokens (Ulysses): an all-to-all
 * turns "my tokens, all heads" into "all tokens, my heads", attention runs on
 * those heads, and a second all-to-all turns it back.
 *
 * Rank s holds tokens [s*nl, s*nl + real_s), nl = ceil(N / degree): the cut
 * of modules/common/shards.h, whose padding rows are never keys.
 */
#include <math.h>

#include "dit.h"
#include "../common/shards.h"

#define TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

/* This forward's cut: each sample's N tokens in shares of nl. */
static struct mc_shards shards_of(const struct dit_run *r)
{
	return (struct mc_shards){
		.ops = r->ops, .dev = r->dev, .coll = r->coll, .comm = r->comm, .esz = r->esz,
		.degree = r->degree, .groups = r->batch, .len = r->m->tokens, .nl = r->nl,
	};
}

static int attend(struct dit_run *r, const void *qkv, void *o, int64_t heads, int64_t tok)
{
	const struct dit_model *m = r->m;
	int64_t N = m->tokens, dk = heads * m->head_dim;
	const struct ts_attention a = {
		.batch = r->batch, .heads = heads, .q_len = N, .kv_len = N,
		.head_dim = m->head_dim,
		.q = qkv, .k = dit_at(r, qkv, dk), .v = dit_at(r, qkv, 2 * dk), .o = o,
		.q_tok = 3 * dk, .k_tok = 3 * dk, .v_tok = 3 * dk, .o_tok = tok,
		.q_batch = N * 3 * dk, .k_batch = N * 3 * dk, .v_batch = N * 3 * dk,
		.o_batch = N * tok,
		.key_mask = NULL,
		.scale = (float)(1.0 / sqrt((double)m->head_dim)),
	};

	return r->ops->attention(r->dev, &a);
}

static int attention_sp(struct dit_run *r)
{
	const struct dit_model *m = r->m;
	int64_t K = r->degree, D = m->hidden, dk = D / K, bm = r->batch, nl = r->nl;
	/* qkv [bm, nl, 3, K, dk] -> [K, bm, nl, 3, dk]: rank g gets heads g*H/K.. */
	const int64_t out_shape[5] = { bm, nl, 3, K, dk };
	const int out_perm[5] = { 3, 0, 1, 2, 4 };
	/* received [K, bm, nl, dk] (head group first) -> [bm, nl, K, dk] = head-major channels */
	const int64_t back_shape[4] = { K, bm, nl, dk };
	const int back_perm[4] = { 1, 2, 0, 3 };
	const struct mc_shards sh = shards_of(r);

	TRY(r->ops->permute(r->dev, r->a2a_send, r->qkv, 5, out_shape, out_perm));
	TRY(r->coll->all_to_all(r->comm, r->a2a_send, r->a2a_recv, bm * nl * 3 * dk));
	TRY(mc_shards_copy(&sh, r->qkv_full, r->a2a_recv, 3 * dk, 1));
	TRY(attend(r, r->qkv_full, r->o_full, m->heads / K, dk));
	if (m->tokens % K)
		TRY(r->ops->fill(r->dev, r->a2a_send, 0.0f, K * bm * nl * dk));
	TRY(mc_shards_copy(&sh, r->o_full, r->a2a_send, dk, 0));
	TRY(r->coll->all_to_all(r->comm, r->a2a_send, r->a2a_recv, bm * nl * dk));
	return r->ops->permute(r->dev, r->att, r->a2a_recv, 4, back_shape, back_perm);
}

/* r->att [batch, nl, D] = heads-concatenated attention of r->qkv [batch, nl, 3D]. */
int dit_attention(struct dit_run *r)
{
	if (r->degree == 1)
		return attend(r, r->qkv, r->att, r->m->heads, r->m->hidden);
	return attention_sp(r);
}

/*
 * Every rank's [batch, nl, cols] share -> the dense [batch, N, cols] tensor on
 * every rank. @all holds degree * batch * nl * cols elements (unused at degree 1).
 */
int dit_gather_tokens(struct dit_run *r, const void *shard, void *all, void *full, int64_t cols)
{
	const struct mc_shards sh = shards_of(r);

	return mc_shards_gather(&sh, shard, all, full, cols);
}
