/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_weights.c - load an STDiT3's weights onto a device from
 * a safetensors file under Open-Sora's state_dict keys (spec/models.md §4.7).
 * Every tensor is checked for presence, dtype (F32, F16, BF16) and shape
 * before upload; a problem is logged naming the file and the key.
 * rope.freqs is optional (recomputed from rope_theta when absent).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stdit.h"
#include "../common/weights.h"

/* A load's file and random pool (modules/common), and the model it fills. */
struct wload {
	struct mc_wload io;
	const struct stdit_model *m;
};

#define ST_RANDOM_SEED 0x53544433ull /* "STD3" */

static int fetch(struct wload *l, const char *key, void *dst, int ndim, const int64_t *shape)
{
	return mc_wload_fetch(&l->io, key, dst, ndim, shape);
}

static int mat(struct wload *l, const char *key, void *dst, int64_t rows, int64_t cols)
{
	return mc_wload_mat(&l->io, key, dst, rows, cols);
}

static int vec(struct wload *l, const char *key, void *dst, int64_t n)
{
	return mc_wload_vec(&l->io, key, dst, n);
}

/* Carve the arena (or only count it when @base is NULL); returns elements. */
static int64_t carve(const struct stdit_model *m, struct stdit_weights *w, char *base, size_t esz)
{
	int64_t D = m->hidden, Dm = m->mlp_hidden, hd = m->head_dim, off = 0;
	int64_t Cp = (int64_t)m->in_ch * m->pt * m->ph * m->pw;
	int64_t P = (int64_t)m->pt * m->ph * m->pw * m->out_ch;

#define TAKE(field, n) do { if (base) (field) = base + off * esz; off += (n); } while (0)
	TAKE(w->x_w, D * Cp);
	TAKE(w->x_b, D);
	TAKE(w->t0_w, D * m->freq_dim);
	TAKE(w->t0_b, D);
	TAKE(w->t2_w, D * D);
	TAKE(w->t2_b, D);
	TAKE(w->f0_w, D * m->freq_dim);
	TAKE(w->f0_b, D);
	TAKE(w->f2_w, D * D);
	TAKE(w->f2_b, D);
	TAKE(w->tb_w, 6 * D * D);
	TAKE(w->tb_b, 6 * D);
	TAKE(w->y1_w, D * m->cap_ch);
	TAKE(w->y1_b, D);
	TAKE(w->y2_w, D * D);
	TAKE(w->y2_b, D);
	TAKE(w->ynull, (int64_t)m->cap_len * m->cap_ch);
	TAKE(w->fin_table, 2 * D);
	TAKE(w->fin_w, P * D);
	TAKE(w->fin_b, P);
	TAKE(w->rope, hd / 2);
	for (int i = 0; i < 2 * m->depth; i++) {
		struct stdit_block_w *b = NULL;

		if (base)
			b = i < m->depth ? &w->sblk[i] : &w->tblk[i - m->depth];
		TAKE(b->table, 6 * D);
		TAKE(b->qkv_w, 3 * D * D);
		TAKE(b->qkv_b, 3 * D);
		TAKE(b->qn, hd);
		TAKE(b->kn, hd);
		TAKE(b->proj_w, D * D);
		TAKE(b->proj_b, D);
		TAKE(b->cq_w, D * D);
		TAKE(b->cq_b, D);
		TAKE(b->ckv_w, 2 * D * D);
		TAKE(b->ckv_b, 2 * D);
		TAKE(b->cp_w, D * D);
		TAKE(b->cp_b, D);
		TAKE(b->fc1_w, Dm * D);
		TAKE(b->fc1_b, Dm);
		TAKE(b->fc2_w, D * Dm);
		TAKE(b->fc2_b, D);
	}
#undef TAKE
	return off;
}

/* Without qk_norm the norms are identities: their tensors are neither read nor used. */
static int load_block(struct wload *l, struct stdit_block_w *b, const char *kind, int i)
{
	const struct stdit_model *m = l->m;
	int64_t D = m->hidden, Dm = m->mlp_hidden, hd = m->head_dim;
	const int64_t tab[2] = { 6, D };
	char k[128];
	int err = 0;

#define K(name) (snprintf(k, sizeof(k), "%s.%d.%s", kind, i, name), k)
	err = err ? err : fetch(l, K("scale_shift_table"), b->table, 2, tab);
	err = err ? err : mat(l, K("attn.qkv.weight"), b->qkv_w, 3 * D, D);
	err = err ? err : vec(l, K("attn.qkv.bias"), b->qkv_b, 3 * D);
	if (m->qk_norm) {
		err = err ? err : vec(l, K("attn.q_norm.weight"), b->qn, hd);
		err = err ? err : vec(l, K("attn.k_norm.weight"), b->kn, hd);
	}
	err = err ? err : mat(l, K("attn.proj.weight"), b->proj_w, D, D);
	err = err ? err : vec(l, K("attn.proj.bias"), b->proj_b, D);
	err = err ? err : mat(l, K("cross_attn.q_linear.weight"), b->cq_w, D, D);
	err = err ? err : vec(l, K("cross_attn.q_linear.bias"), b->cq_b, D);
	err = err ? err : mat(l, K("cross_attn.kv_linear.weight"), b->ckv_w, 2 * D, D);
	err = err ? err : vec(l, K("cross_attn.kv_linear.bias"), b->ckv_b, 2 * D);
	err = err ? err : mat(l, K("cross_attn.proj.weight"), b->cp_w, D, D);
	err = err ? err : vec(l, K("cross_attn.proj.bias"), b->cp_b, D);
	err = err ? err : mat(l, K("mlp.fc1.weight"), b->fc1_w, Dm, D);
	err = err ? err : vec(l, K("mlp.fc1.bias"), b->fc1_b, Dm);
	err = err ? err : mat(l, K("mlp.fc2.weight"), b->fc2_w, D, Dm);
	err = err ? err : vec(l, K("mlp.fc2.bias"), b->fc2_b, D);
#undef K
	return err;
}

/* rotary-embedding-torch's freqs = theta^(-2i/hd), unless the file carries them. */
static int load_rope(struct wload *l, struct stdit_weights *w)
{
	int64_t n = l->m->head_dim / 2;
	const int64_t shape[1] = { n };
	struct ts_tensor t;
	float *f;
	int err;

	const struct ts_host *host = l->io.host;

	if (l->io.st && !host->st_get(l->io.st, "rope.freqs", &t))
		return fetch(l, "rope.freqs", w->rope, 1, shape);
	f = host->alloc(sizeof(float) * (size_t)n);
	if (!f)
		return TS_ENOMEM;
	for (int64_t i = 0; i < n; i++)
		f[i] = (float)(1.0 / pow(l->m->rope_theta, (double)(2 * i) / l->m->head_dim));
	err = host->dev_upload(l->io.dev, w->rope, f, TS_F32, n);
	host->free(f);
	return err;
}

static int load_outer(struct wload *l, struct stdit_weights *w)
{
	const struct stdit_model *m = l->m;
	int64_t D = m->hidden, F = m->freq_dim, P = (int64_t)m->pt * m->ph * m->pw * m->out_ch;
	const int64_t xs[5] = { D, m->in_ch, m->pt, m->ph, m->pw };
	const int64_t fin[2] = { 2, D };
	int err = 0;

	err = err ? err : fetch(l, "x_embedder.proj.weight", w->x_w, 5, xs);
	err = err ? err : vec(l, "x_embedder.proj.bias", w->x_b, D);
	err = err ? err : mat(l, "t_embedder.mlp.0.weight", w->t0_w, D, F);
	err = err ? err : vec(l, "t_embedder.mlp.0.bias", w->t0_b, D);
	err = err ? err : mat(l, "t_embedder.mlp.2.weight", w->t2_w, D, D);
	err = err ? err : vec(l, "t_embedder.mlp.2.bias", w->t2_b, D);
	err = err ? err : mat(l, "fps_embedder.mlp.0.weight", w->f0_w, D, F);
	err = err ? err : vec(l, "fps_embedder.mlp.0.bias", w->f0_b, D);
	err = err ? err : mat(l, "fps_embedder.mlp.2.weight", w->f2_w, D, D);
	err = err ? err : vec(l, "fps_embedder.mlp.2.bias", w->f2_b, D);
	err = err ? err : mat(l, "t_block.1.weight", w->tb_w, 6 * D, D);
	err = err ? err : vec(l, "t_block.1.bias", w->tb_b, 6 * D);
	err = err ? err : mat(l, "y_embedder.y_proj.fc1.weight", w->y1_w, D, m->cap_ch);
	err = err ? err : vec(l, "y_embedder.y_proj.fc1.bias", w->y1_b, D);
	err = err ? err : mat(l, "y_embedder.y_proj.fc2.weight", w->y2_w, D, D);
	err = err ? err : vec(l, "y_embedder.y_proj.fc2.bias", w->y2_b, D);
	err = err ? err : mat(l, "y_embedder.y_embedding", w->ynull, m->cap_len, m->cap_ch);
	err = err ? err : fetch(l, "final_layer.scale_shift_table", w->fin_table, 2, fin);
	err = err ? err : mat(l, "final_layer.linear.weight", w->fin_w, P, D);
	err = err ? err : vec(l, "final_layer.linear.bias", w->fin_b, P);
	err = err ? err : load_rope(l, w);
	return err;
}

static int load_all(struct wload *l, struct stdit_weights *w)
{
	const struct stdit_model *m = l->m;
	int err = load_outer(l, w);

	for (int i = 0; !err && i < m->depth; i++)
		err = load_block(l, &w->sblk[i], "spatial_blocks", i);
	for (int i = 0; !err && i < m->depth; i++)
		err = load_block(l, &w->tblk[i], "temporal_blocks", i);
	return err;
}

int stdit_load(void *model, struct ts_dev *dev, void **weights)
{
	const struct stdit_model *m = model;
	const struct ts_host *host = m->host;
	struct wload l = {
		.io = { .host = host, .dev = dev, .path = m->weights, .who = ST_WHO,
			.seed = ST_RANDOM_SEED },
		.m = m,
	};
	size_t esz = ts_dtype_size(host->dev_ops(dev)->dtype);
	int64_t elems = carve(m, NULL, NULL, esz);
	struct stdit_weights *w;
	int err;

	w = host->alloc(sizeof(*w));
	if (!w)
		return TS_ENOMEM;
	memset(w, 0, sizeof(*w));
	w->dev = dev;
	w->sblk = host->alloc(sizeof(*w->sblk) * 2 * (size_t)m->depth);
	if (!w->sblk) {
		err = TS_ENOMEM;
		goto free_w;
	}
	w->tblk = w->sblk + m->depth;
	w->arena = mc_wload_arena(&l.io, elems);
	if (!w->arena) {
		err = TS_ENOMEM;
		goto free_blk;
	}
	carve(m, w, w->arena, esz);
	err = mc_wload_open(&l.io, m->random_weights);
	if (err)
		goto free_arena;
	err = load_all(&l, w);
	mc_wload_close(&l.io);
	if (err)
		goto free_arena;
	*weights = w;
	return 0;

free_arena:
	host->dev_free(dev, w->arena);
free_blk:
	host->free(w->sblk);
free_w:
	host->free(w);
	return err;
}

void stdit_unload(void *model, struct ts_dev *dev, void *weights)
{
	const struct stdit_model *m = model;
	struct stdit_weights *w = weights;

	if (!w)
		return;
	m->host->dev_free(dev, w->arena);
	m->host->free(w->sblk);
	m->host->free(w);
}
