/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_weights.c - load a DiT's weights onto a device from a
 * safetensors file in either key layout:
 *   original  - facebookresearch/DiT's state_dict (x_embedder, t_embedder,
 *               y_embedder, blocks.i.{adaLN_modulation.1, attn.qkv, ...});
 *   diffusers - DiTTransformer2DModel (pos_embed.proj, transformer_blocks.i.
 *               {norm1.linear, attn1.to_q/k/v, ff.net.0.proj, ...}, proj_out_1/2),
 *               whose converter copies the shared embedders into every block:
 *               block 0's copy is the one used.
 * Every tensor is checked for presence, dtype (F32, F16, BF16) and shape
 * before upload; a problem is logged naming the file and the key.
 */
#include <stdio.h>
#include <string.h>

#include "dit.h"
#include "../common/weights.h"

/* A load's file and random pool (modules/common), and the model it fills. */
struct wload {
	struct mc_wload io;
	const struct dit_model *m;
};

#define DIT_RANDOM_SEED 0x44695444ull /* "DiTD" */

/* Upload tensor @key of shape [d0, d1, d2, d3][:ndim] to @dst. */
static int fetch(struct wload *l, const char *key, void *dst, int ndim, int64_t d0, int64_t d1,
		 int64_t d2, int64_t d3)
{
	const int64_t shape[4] = { d0, d1, d2, d3 };

	return mc_wload_fetch(&l->io, key, dst, ndim, shape);
}

/* Carve the arena (or only count it when @base is NULL); returns elements. */
static int64_t carve(const struct dit_model *m, struct dit_weights *w, char *base, size_t esz)
{
	int64_t D = m->hidden, Dm = m->mlp_hidden, off = 0;
	int64_t P = (int64_t)m->patch * m->patch * m->out_ch;

#define TAKE(field, n) do { if (base) (field) = base + off * esz; off += (n); } while (0)
	TAKE(w->x_w, D * m->in_ch * m->patch * m->patch);
	TAKE(w->x_b, D);
	TAKE(w->pos, m->tokens * D);
	TAKE(w->t0_w, D * m->freq_dim);
	TAKE(w->t0_b, D);
	TAKE(w->t2_w, D * D);
	TAKE(w->t2_b, D);
	TAKE(w->y_table, (int64_t)m->table_rows * D);
	TAKE(w->fin_ada_w, 2 * D * D);
	TAKE(w->fin_ada_b, 2 * D);
	TAKE(w->fin_w, P * D);
	TAKE(w->fin_b, P);
	for (int i = 0; i < m->depth; i++) {
		struct dit_block_w *b = base ? &w->blk[i] : NULL;

		TAKE(b->ada_w, 6 * D * D);
		TAKE(b->ada_b, 6 * D);
		TAKE(b->qkv_w, 3 * D * D);
		TAKE(b->qkv_b, 3 * D);
		TAKE(b->proj_w, D * D);
		TAKE(b->proj_b, D);
		TAKE(b->fc1_w, Dm * D);
		TAKE(b->fc1_b, Dm);
		TAKE(b->fc2_w, D * Dm);
		TAKE(b->fc2_b, D);
	}
#undef TAKE
	return off;
}

static int load_block_original(struct wload *l, struct dit_block_w *b, int i)
{
	int64_t D = l->m->hidden, Dm = l->m->mlp_hidden;
	char k[10][96];
	static const char *const names[10] = {
		"adaLN_modulation.1.weight", "adaLN_modulation.1.bias", "attn.qkv.weight",
		"attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "mlp.fc1.weight",
		"mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
	};
	int err = 0;

	for (int j = 0; j < 10; j++)
		snprintf(k[j], sizeof(k[j]), "blocks.%d.%s", i, names[j]);
	err = err ? err : fetch(l, k[0], b->ada_w, 2, 6 * D, D, 0, 0);
	err = err ? err : fetch(l, k[1], b->ada_b, 1, 6 * D, 0, 0, 0);
	err = err ? err : fetch(l, k[2], b->qkv_w, 2, 3 * D, D, 0, 0);
	err = err ? err : fetch(l, k[3], b->qkv_b, 1, 3 * D, 0, 0, 0);
	err = err ? err : fetch(l, k[4], b->proj_w, 2, D, D, 0, 0);
	err = err ? err : fetch(l, k[5], b->proj_b, 1, D, 0, 0, 0);
	err = err ? err : fetch(l, k[6], b->fc1_w, 2, Dm, D, 0, 0);
	err = err ? err : fetch(l, k[7], b->fc1_b, 1, Dm, 0, 0, 0);
	err = err ? err : fetch(l, k[8], b->fc2_w, 2, D, Dm, 0, 0);
	err = err ? err : fetch(l, k[9], b->fc2_b, 1, D, 0, 0, 0);
	return err;
}

/* diffusers splits qkv into to_q, to_k, to_v: they land in the fused buffer's thirds. */
static int load_block_diffusers(struct wload *l, struct dit_block_w *b, int i, size_t esz)
{
	int64_t D = l->m->hidden, Dm = l->m->mlp_hidden;
	static const char *const qkv[3] = { "to_q", "to_k", "to_v" };
	char k[128];
	int err = 0;

#define F(name, dst, nd, a, c) do { \
	snprintf(k, sizeof(k), "transformer_blocks.%d.%s", i, name); \
	err = err ? err : fetch(l, k, dst, nd, a, c, 0, 0); } while (0)
	F("norm1.linear.weight", b->ada_w, 2, 6 * D, D);
	F("norm1.linear.bias", b->ada_b, 1, 6 * D, 0);
	for (int j = 0; j < 3; j++) {
		char wn[64], bn[64];

		snprintf(wn, sizeof(wn), "attn1.%s.weight", qkv[j]);
		snprintf(bn, sizeof(bn), "attn1.%s.bias", qkv[j]);
		F(wn, (char *)b->qkv_w + j * D * D * (int64_t)esz, 2, D, D);
		F(bn, (char *)b->qkv_b + j * D * (int64_t)esz, 1, D, 0);
	}
	F("attn1.to_out.0.weight", b->proj_w, 2, D, D);
	F("attn1.to_out.0.bias", b->proj_b, 1, D, 0);
	F("ff.net.0.proj.weight", b->fc1_w, 2, Dm, D);
	F("ff.net.0.proj.bias", b->fc1_b, 1, Dm, 0);
	F("ff.net.2.weight", b->fc2_w, 2, D, Dm);
	F("ff.net.2.bias", b->fc2_b, 1, D, 0);
#undef F
	return err;
}

struct outer_keys {
	const char *x_w, *x_b, *t0_w, *t0_b, *t2_w, *t2_b, *y_table;
	const char *fin_ada_w, *fin_ada_b, *fin_w, *fin_b, *pos;
};

static const struct outer_keys original_keys = {
	"x_embedder.proj.weight", "x_embedder.proj.bias",
	"t_embedder.mlp.0.weight", "t_embedder.mlp.0.bias",
	"t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias",
	"y_embedder.embedding_table.weight",
	"final_layer.adaLN_modulation.1.weight", "final_layer.adaLN_modulation.1.bias",
	"final_layer.linear.weight", "final_layer.linear.bias", "pos_embed",
};

static const struct outer_keys diffusers_keys = {
	"pos_embed.proj.weight", "pos_embed.proj.bias",
	"transformer_blocks.0.norm1.emb.timestep_embedder.linear_1.weight",
	"transformer_blocks.0.norm1.emb.timestep_embedder.linear_1.bias",
	"transformer_blocks.0.norm1.emb.timestep_embedder.linear_2.weight",
	"transformer_blocks.0.norm1.emb.timestep_embedder.linear_2.bias",
	"transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight",
	"proj_out_1.weight", "proj_out_1.bias", "proj_out_2.weight", "proj_out_2.bias",
	"pos_embed.pos_embed",
};

/*
 * The fixed sin-cos table is recomputed (exactly what upstream stores); a
 * stored copy must still have the shape of this input size, as
 * load_state_dict would insist.
 */
static int load_pos(struct wload *l, struct dit_weights *w, const char *key)
{
	const struct dit_model *m = l->m;
	struct ts_tensor t;
	const int64_t shape[3] = { 1, m->tokens, m->hidden };
	float *pos;
	int err;

	const struct ts_host *host = l->io.host;

	if (l->io.st && !host->st_get(l->io.st, key, &t)) {
		err = mc_wload_check(&l->io, key, &t, 3, shape);
		if (err)
			return err;
	}
	pos = host->alloc((size_t)(m->tokens * m->hidden) * sizeof(float));
	if (!pos)
		return TS_ENOMEM;
	dit_pos_embed(pos, m->hidden, m->grid);
	err = host->dev_upload(l->io.dev, w->pos, pos, TS_F32, m->tokens * m->hidden);
	host->free(pos);
	return err;
}

static int load_outer(struct wload *l, struct dit_weights *w, const struct outer_keys *k)
{
	const struct dit_model *m = l->m;
	int64_t D = m->hidden, P = (int64_t)m->patch * m->patch * m->out_ch;
	int err = 0;

	err = err ? err : fetch(l, k->x_w, w->x_w, 4, D, m->in_ch, m->patch, m->patch);
	err = err ? err : fetch(l, k->x_b, w->x_b, 1, D, 0, 0, 0);
	err = err ? err : fetch(l, k->t0_w, w->t0_w, 2, D, m->freq_dim, 0, 0);
	err = err ? err : fetch(l, k->t0_b, w->t0_b, 1, D, 0, 0, 0);
	err = err ? err : fetch(l, k->t2_w, w->t2_w, 2, D, D, 0, 0);
	err = err ? err : fetch(l, k->t2_b, w->t2_b, 1, D, 0, 0, 0);
	err = err ? err : fetch(l, k->y_table, w->y_table, 2, m->table_rows, D, 0, 0);
	err = err ? err : fetch(l, k->fin_ada_w, w->fin_ada_w, 2, 2 * D, D, 0, 0);
	err = err ? err : fetch(l, k->fin_ada_b, w->fin_ada_b, 1, 2 * D, 0, 0, 0);
	err = err ? err : fetch(l, k->fin_w, w->fin_w, 2, P, D, 0, 0);
	err = err ? err : fetch(l, k->fin_b, w->fin_b, 1, P, 0, 0, 0);
	err = err ? err : load_pos(l, w, k->pos);
	return err;
}

static int detect_layout(struct wload *l, enum dit_layout *out)
{
	const struct ts_host *host = l->io.host;
	struct ts_tensor t;

	if (l->m->layout != DIT_LAYOUT_AUTO || !l->io.st) {
		*out = l->m->layout;
		return 0;
	}
	if (!host->st_get(l->io.st, original_keys.x_w, &t)) {
		*out = DIT_LAYOUT_ORIGINAL;
		return 0;
	}
	if (!host->st_get(l->io.st, diffusers_keys.x_w, &t)) {
		*out = DIT_LAYOUT_DIFFUSERS;
		return 0;
	}
	host->log(TS_LOG_ERROR, DIT_WHO,
		  "%s: missing tensor '%s' (original layout) or '%s' (diffusers layout)",
		  l->io.path, original_keys.x_w, diffusers_keys.x_w);
	return TS_ENOENT;
}

static int load_all(struct wload *l, struct dit_weights *w, size_t esz)
{
	enum dit_layout layout;
	int err = detect_layout(l, &layout);

	if (err)
		return err;
	err = load_outer(l, w, layout == DIT_LAYOUT_DIFFUSERS ? &diffusers_keys : &original_keys);
	for (int i = 0; !err && i < l->m->depth; i++) {
		if (layout == DIT_LAYOUT_DIFFUSERS)
			err = load_block_diffusers(l, &w->blk[i], i, esz);
		else
			err = load_block_original(l, &w->blk[i], i);
	}
	return err;
}

int dit_load(void *model, struct ts_dev *dev, void **weights)
{
	const struct dit_model *m = model;
	const struct ts_host *host = m->host;
	struct wload l = {
		.io = { .host = host, .dev = dev, .path = m->weights, .who = DIT_WHO,
			.seed = DIT_RANDOM_SEED },
		.m = m,
	};
	struct dit_weights *w;
	size_t esz = ts_dtype_size(host->dev_ops(dev)->dtype);
	int64_t elems = carve(m, NULL, NULL, esz);
	int err;

	w = host->alloc(sizeof(*w));
	if (!w)
		return TS_ENOMEM;
	memset(w, 0, sizeof(*w));
	w->dev = dev;
	w->blk = host->alloc(sizeof(*w->blk) * (size_t)m->depth);
	if (!w->blk) {
		err = TS_ENOMEM;
		goto free_w;
	}
	w->arena = mc_wload_arena(&l.io, elems);
	if (!w->arena) {
		err = TS_ENOMEM;
		goto free_blk;
	}
	carve(m, w, w->arena, esz);
	err = mc_wload_open(&l.io, m->random_weights);
	if (err)
		goto free_arena;
	err = load_all(&l, w, esz);
	mc_wload_close(&l.io);
	if (err)
		goto free_arena;
	*weights = w;
	return 0;

free_arena:
	host->dev_free(dev, w->arena);
free_blk:
	host->free(w->blk);
free_w:
	host->free(w);
	return err;
}

void dit_unload(void *model, struct ts_dev *dev, void *weights)
{
	const struct dit_model *m = model;
	struct dit_weights *w = weights;

	if (!w)
		return;
	m->host->dev_free(dev, w->arena);
	m->host->free(w->blk);
	m->host->free(w);
}
