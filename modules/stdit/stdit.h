/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit.h - the STDiT3 module's private interfaces (Open-Sora
 * 1.2, spec/models.md §4). Nothing here crosses the ABI: the module's only
 * exported symbol is ts_module_stdit_v1().
 */
#ifndef TS_STDIT_H
#define TS_STDIT_H

#include <stddef.h>
#include <stdint.h>

#include <tetri/tetri.h>

#define ST_WHO "stdit"
#define ST_FREQ_MAX 4096      /* frequency_embedding_size upper bound */
#define ST_NUM_TIMESTEPS 1000 /* RFLOW num_timesteps */
#define ST_MAX_STEPS 1000
#define ST_MAX_BATCH 64       /* requests stepped together */
#define ST_MAX_MODEL_BATCH 512

/** struct stdit_model - one validated [model NAME] section (configure()). */
struct stdit_model {
	const struct ts_host *host;
	char name[64];          /* section instance, for the klass key */
	char *weights;          /* weight file path (owned) */
	int random_weights;

	/* architecture (STDiT3Config) */
	int in_ch;              /* C */
	int out_ch;             /* 2C with pred_sigma */
	int pt, ph, pw;         /* patch_size */
	int hidden;             /* D */
	int depth;              /* spatial blocks = temporal blocks */
	int heads;
	int head_dim;
	int mlp_hidden;         /* int(D * mlp_ratio), as timm */
	int cap_ch;             /* caption_channels */
	int cap_len;            /* model_max_length L */
	int qk_norm;
	int input_sq;           /* input_sq_size */
	int freq_dim;           /* 256 */
	float ln_eps, rms_eps;
	double rope_theta;

	/* request defaults and sampling */
	int width, height, frames;
	float fps;
	int steps;
	float guidance;
	int transform;          /* Open-Sora 1.2's timestep transform */
	int max_batch;

	/* default caption embeddings (caption_file), host: [L, cap_ch] and [L] */
	float *cap_y;
	uint8_t *cap_mask;
};

/** struct stdit_block_w - one STDiT3Block's tensors on a device. */
struct stdit_block_w {
	void *table;                    /* scale_shift_table [6, D] */
	void *qkv_w, *qkv_b;            /* [3D, D], [3D] */
	void *qn, *kn;                  /* q_norm, k_norm [hd] */
	void *proj_w, *proj_b;          /* [D, D], [D] */
	void *cq_w, *cq_b;              /* cross_attn.q_linear */
	void *ckv_w, *ckv_b;            /* cross_attn.kv_linear [2D, D] */
	void *cp_w, *cp_b;              /* cross_attn.proj */
	void *fc1_w, *fc1_b;            /* [Dm, D] */
	void *fc2_w, *fc2_b;            /* [D, Dm] */
};

/** struct stdit_weights - every tensor of the model on one device, one allocation. */
struct stdit_weights {
	struct ts_dev *dev;
	void *arena;
	void *x_w, *x_b;                /* patch embedding [D, C*pt*ph*pw], [D] */
	void *t0_w, *t0_b, *t2_w, *t2_b; /* t_embedder.mlp.{0,2} */
	void *f0_w, *f0_b, *f2_w, *f2_b; /* fps_embedder.mlp.{0,2} */
	void *tb_w, *tb_b;              /* t_block.1 [6D, D] */
	void *y1_w, *y1_b, *y2_w, *y2_b; /* y_embedder.y_proj.fc{1,2} */
	void *ynull;                    /* y_embedder.y_embedding [L, cap_ch] */
	void *fin_table;                /* final_layer.scale_shift_table [2, D] */
	void *fin_w, *fin_b;            /* final_layer.linear [P, D] */
	void *rope;                     /* rope.freqs [hd / 2] */
	struct stdit_block_w *sblk, *tblk;
};

/* Host-side conditioning of one forward; arrays have run.bm entries. */
struct stdit_cond {
	const float *timestep;
	const float *fps;
	double height, width;           /* pixel size of sample 0: the pos-emb scale */
	const uint8_t *x_mask;          /* [bm, T'] or NULL: every frame uses timestep */
	const uint8_t *y_mask;          /* [bm, L] or NULL: every caption token valid */
};

struct stdit_run;
/*
 * Where run-case wants intermediates. Called on every rank (sharded tensors
 * need a collective); @sharded: @buf is this rank's position shard
 * [bm, T', nl, cols] instead of the dense tensor of @shape.
 */
typedef int (*stdit_tap_fn)(struct stdit_run *r, const char *name, const void *buf, int ndim,
			    const int64_t *shape, int sharded);

/** struct stdit_run - one forward on one rank of a group (SPMD). */
struct stdit_run {
	const struct ts_host *host;
	struct ts_dev *dev;
	const struct ts_ops *ops;
	const struct ts_coll_ops *coll;
	struct ts_comm *comm;
	int rank, degree;
	const struct stdit_model *m;
	const struct stdit_weights *w;
	size_t esz;

	int64_t bm;                     /* model batch (requests x 2 with guidance) */
	int64_t T, H, W;                /* latent input */
	int64_t tg, hg, wg, S;          /* T', H', W', S = H' W' */
	int64_t nl, first, real;        /* positions per rank, ours */
	int64_t R;                      /* local rows bm * T' * nl */
	int64_t ny;                     /* packed caption tokens */
	int64_t ylen[ST_MAX_MODEL_BATCH], yoff[ST_MAX_MODEL_BATCH];

	/* scratch carved by stdit_layout_carve() */
	void *tfreq, *thid, *temb, *tvec, *tsilu, *tmlp, *fmod, *ffin, *mod;
	void *yin, *yh, *yemb, *ypack, *kv;
	void *xpad, *pfull, *ploc, *pos;
	void *x, *h, *q, *k, *v, *o, *t1, *pr, *mlp;
	void *send, *recv, *full, *ofull;
	void *fin, *fin_all, *fin_full, *outp, *out;
	void *xin;

	stdit_tap_fn tap;               /* NULL outside run-case */
	void *tap_arg;
};

/* stdit_config.c */
extern const struct ts_key stdit_keys[];
int stdit_configure(const struct ts_host *host, const struct ts_section *sec, void **model);
void stdit_release(void *model);

/* stdit_weights.c */
int stdit_load(void *model, struct ts_dev *dev, void **weights);
void stdit_unload(void *model, struct ts_dev *dev, void *weights);

/* stdit_tables.c: host-side sinusoids in float64 */
void stdit_pos_embed(float *out, int dim, int64_t hg, int64_t wg, double scale, double base);
double stdit_pos_scale(const struct stdit_model *m, int64_t S, double height, double width,
		       double *base);

/* stdit_layout.c */
size_t stdit_scratch_elems(const struct stdit_model *m, int64_t bm, int64_t T, int64_t H,
			   int64_t W, int degree);
int stdit_run_init(struct stdit_run *r, const struct ts_step_ctx *ctx, int64_t bm, int64_t T,
		   int64_t H, int64_t W);
void stdit_layout_carve(struct stdit_run *r, void *scratch);

/* stdit_embed.c: conditioning, caption, patches */
int stdit_embed_cond(struct stdit_run *r, const struct stdit_cond *c);
int stdit_embed_caption(struct stdit_run *r, const struct stdit_cond *c);
int stdit_embed_tokens(struct stdit_run *r, const struct stdit_cond *c, const void *x);

/* stdit_block.c */
int stdit_block(struct stdit_run *r, const struct stdit_block_w *b, int temporal);

/* stdit_attn.c: spatial attention, local or Ulysses over the group; gathers */
int stdit_spatial_attention(struct stdit_run *r);
int stdit_gather(struct stdit_run *r, const void *shard, void *all, void *full, int64_t cols);

/* stdit_forward.c */
int stdit_forward(struct stdit_run *r, const struct stdit_cond *c, const void *x);
int stdit_linear(struct stdit_run *r, void *y, const void *x, int64_t rows, int64_t in,
		 int64_t out, const void *w, const void *b, enum ts_act act);

/* stdit_rflow.c: RFLOW timesteps (Open-Sora 1.2) */
void stdit_rflow_timesteps(double *t, int steps, int transform, double height, double width,
			   int frames);
int64_t stdit_latent_frames(int frames);

/* stdit_step.c, stdit_denoise.c */
int stdit_plan(void *model, const struct ts_req_params *p, struct ts_work *w);
size_t stdit_scratch_bytes(void *model, const struct ts_work *w, int degree, int batch);
int stdit_begin(void *model, const struct ts_work *w, const struct ts_req_params *p, void *state,
		float *latent);
int stdit_step(const struct ts_step_ctx *ctx);
int stdit_finish(void *model, const struct ts_work *w, const void *state, const float *latent,
		 struct ts_tensor *out);

/* stdit_cost.c */
double stdit_cost(void *model, const struct ts_work *w, int degree, int batch,
		  const struct ts_device_info *dev);
double stdit_macs(const struct stdit_model *m, int64_t tg, int64_t S, int64_t ly, int degree);

/* stdit_case.c */
int stdit_run_case(const struct ts_step_ctx *ctx, struct ts_st *st,
		   int (*emit)(void *arg, const struct ts_tensor *t), void *arg);

/**
 * struct stdit_state - a request's host state between steps; the caption
 * embeddings [L, cap_ch] (F32) and their mask [L] (bytes) follow it in the
 * blob, so a step needs nothing else and may run on any device set.
 */
#define ST_STATE_MAGIC 0x54535354u /* "TSST" */
struct stdit_state {
	uint32_t magic;
	int32_t steps, done;
	int32_t width, height, frames; /* pixels, for the pos-emb scale */
	float guidance;                /* <= 1: no guidance */
	float fps;
	uint64_t seed;
	float t[ST_MAX_STEPS];         /* transformed timesteps in [0, 1000] */
};

static inline float *stdit_state_caption(void *st)
{
	return (float *)((struct stdit_state *)st + 1);
}

static inline uint8_t *stdit_state_mask(const struct stdit_model *m, void *st)
{
	return (uint8_t *)(stdit_state_caption(st) + (int64_t)m->cap_len * m->cap_ch);
}

/* Pointer @n device elements past @p. */
static inline void *st_at(const struct stdit_run *r, const void *p, int64_t n)
{
	return (char *)p + n * (int64_t)r->esz;
}

static inline int64_t st_ceil_div(int64_t a, int64_t b)
{
	return (a + b - 1) / b;
}

#define ST_TRY(x) do { int e_ = (x); if (e_) return e_; } while (0)

#endif /* TS_STDIT_H */
