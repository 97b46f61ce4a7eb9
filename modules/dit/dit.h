/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit.h - the DiT module's private interfaces (facebookresearch/DiT,
 * spec/models.md §1). Nothing here crosses the ABI: the module's only
 * exported symbol is ts_module_dit_v1().
 */
#ifndef TS_DIT_H
#define TS_DIT_H

#include <stddef.h>
#include <stdint.h>

#include <tetri/tetri.h>

#define DIT_WHO "dit"
#define DIT_FREQ_MAX 4096     /* frequency_embedding_size upper bound */
#define DIT_TRAIN_STEPS 1000  /* diffusion_steps of create_diffusion() */

enum dit_sampler { DIT_DDPM = 0, DIT_DDIM = 1 };
enum dit_layout { DIT_LAYOUT_AUTO = 0, DIT_LAYOUT_ORIGINAL = 1, DIT_LAYOUT_DIFFUSERS = 2 };
enum dit_respacing { DIT_RESPACE_UNIFORM = 0, DIT_RESPACE_STRIDE = 1 };

/** struct dit_model - one validated [model NAME] section (configure()). */
struct dit_model {
	const struct ts_host *host;
	char name[64];          /* section instance, for the klass key */
	char *weights;          /* weight file path (owned) */
	int random_weights;     /* no file: N(0, 1/fan_in) from the host's Philox */
	enum dit_layout layout;

	/* architecture */
	int input_size;         /* latent side I */
	int patch;              /* p */
	int in_ch;              /* C */
	int out_ch;             /* 2C with learned sigma, else C */
	int learn_sigma;
	int hidden;             /* D */
	int depth;              /* L */
	int heads;              /* H */
	int head_dim;           /* D / H */
	int mlp_hidden;         /* int(D * mlp_ratio), as timm */
	int num_classes;
	int table_rows;         /* num_classes + 1 when a null class exists */
	int freq_dim;           /* 256 */
	float ln_eps;
	int grid;               /* G = floor(I / p): upstream's conv drops the remainder */
	int64_t tokens;         /* N = G * G */

	/* sampling defaults */
	enum dit_sampler sampler;
	enum dit_respacing respacing;
	int steps;
	float eta;
	float guidance;
	int cfg_channels;       /* channels guided by CFG: 3 upstream (its quirk) */
	int max_batch;
};

/** struct dit_block_w - one DiTBlock's tensors on a device. */
struct dit_block_w {
	void *ada_w, *ada_b;    /* [6D, D], [6D] */
	void *qkv_w, *qkv_b;    /* [3D, D], [3D] */
	void *proj_w, *proj_b;  /* [D, D], [D] */
	void *fc1_w, *fc1_b;    /* [Dm, D], [Dm] */
	void *fc2_w, *fc2_b;    /* [D, Dm], [D] */
};

/** struct dit_weights - every tensor of the model on one device, one allocation. */
struct dit_weights {
	struct ts_dev *dev;
	void *arena;
	void *x_w, *x_b;        /* patch embedding [D, C, p, p], [D] */
	void *pos;              /* [N, D], computed (fixed sin-cos) */
	void *t0_w, *t0_b;      /* [D, F], [D] */
	void *t2_w, *t2_b;      /* [D, D], [D] */
	void *y_table;          /* [rows, D] */
	void *fin_ada_w, *fin_ada_b; /* [2D, D], [2D] */
	void *fin_w, *fin_b;    /* [p*p*out, D], [p*p*out] */
	struct dit_block_w *blk;
};

/*
 * struct dit_tap - where run-case wants intermediates. Called on every rank
 * (sharded tensors need a collective); @sharded: @buf is this rank's token
 * shard [batch, nl, cols] instead of the whole tensor of @shape.
 */
struct dit_run;
typedef int (*dit_tap_fn)(struct dit_run *r, const char *name, const void *buf, int ndim,
			  const int64_t *shape, int sharded);

/** struct dit_run - one forward on one rank of a group (SPMD). */
struct dit_run {
	const struct ts_host *host;
	struct ts_dev *dev;
	const struct ts_ops *ops;
	const struct ts_coll_ops *coll;
	struct ts_comm *comm;
	int rank, degree;
	const struct dit_model *m;
	const struct dit_weights *w;
	size_t esz;             /* bytes per device element */

	int64_t batch;          /* model batch (requests x 2 with CFG) */
	int64_t nl;             /* tokens per rank, ceil(N / degree) */
	int64_t first;          /* first token of this rank */
	int64_t real;           /* real (unpadded) tokens of this rank */

	/* scratch carved by dit_layout_carve() */
	void *tfreq, *thid, *temb, *yemb, *cond, *silu_c, *mod;
	void *embed, *tok, *x, *h, *qkv, *att, *proj, *mlp;
	void *a2a_send, *a2a_recv, *qkv_full, *o_full;
	void *fin, *fin_all, *fin_full, *out;
	void *xin;              /* model input [batch, C, I, I] */

	dit_tap_fn tap;         /* NULL outside run-case */
	void *tap_arg;
};

/* dit_config.c */
extern const struct ts_key dit_keys[];
int dit_configure(const struct ts_host *host, const struct ts_section *sec, void **model);
void dit_release(void *model);
int dit_model_derive(struct dit_model *m);

/* dit_weights.c */
int dit_load(void *model, struct ts_dev *dev, void **weights);
void dit_unload(void *model, struct ts_dev *dev, void *weights);

/* dit_tables.c: host-side fixed tables, in float64 like upstream's numpy */
void dit_pos_embed(float *out, int dim, int grid);

/* dit_layout.c: scratch of one forward */
size_t dit_scratch_elems(const struct dit_model *m, int64_t batch, int degree);
void dit_layout_carve(struct dit_run *r, void *scratch);
int dit_run_init(struct dit_run *r, const struct ts_step_ctx *ctx, int64_t batch);

/* dit_forward.c */
int dit_forward(struct dit_run *r, const float *t, const int64_t *y, const void *x);
int dit_guide(struct dit_run *r, const float *scale);

/* dit_attn.c: attention of one block, local or Ulysses over the group */
int dit_attention(struct dit_run *r);
int dit_gather_tokens(struct dit_run *r, const void *shard, void *all, void *full, int64_t cols);

/* dit_sched.c: the respaced diffusion (float64, as upstream's numpy arrays) */
struct dit_sched {
	int steps;
	int timestep[DIT_TRAIN_STEPS];  /* original index of respaced step i */
	double beta[DIT_TRAIN_STEPS];
	double abar[DIT_TRAIN_STEPS];
	double abar_prev[DIT_TRAIN_STEPS];
	double post_logvar_clipped[DIT_TRAIN_STEPS];
	double coef1[DIT_TRAIN_STEPS], coef2[DIT_TRAIN_STEPS];
};
int dit_sched_build(struct dit_sched *s, int steps, enum dit_respacing how);

/* dit_sampler.c: one sampler update on host data */
struct dit_state;
int dit_sampler_update(const struct dit_model *m, const struct dit_sched *s,
		       const struct dit_state *st, int i, float *x, const float *model_out,
		       const float *z, int64_t plane);

/* dit_step.c */
int dit_plan(void *model, const struct ts_req_params *p, struct ts_work *w);
double dit_cost(void *model, const struct ts_work *w, int degree, int batch,
		const struct ts_device_info *dev);
size_t dit_scratch_bytes(void *model, const struct ts_work *w, int degree, int batch);
int dit_begin(void *model, const struct ts_work *w, const struct ts_req_params *p, void *state,
	      float *latent);
int dit_step(const struct ts_step_ctx *ctx);
int dit_finish(void *model, const struct ts_work *w, const void *state, const float *latent,
	       struct ts_tensor *out);

/* dit_case.c */
int dit_run_case(const struct ts_step_ctx *ctx, struct ts_st *st,
		 int (*emit)(void *arg, const struct ts_tensor *t), void *arg);

/**
 * struct dit_state - a request's host state between steps: all a step needs,
 * so the request can move to another device set between any two steps.
 */
#define DIT_STATE_MAGIC 0x54534454u /* "TDST" */
struct dit_state {
	uint32_t magic;
	int32_t steps;          /* respaced step count */
	int32_t done;           /* steps run so far */
	int32_t sampler;        /* enum dit_sampler */
	int32_t respacing;      /* enum dit_respacing */
	int32_t label;          /* class id (null class for -1) */
	float guidance;         /* <= 1: no CFG */
	float eta;
	uint64_t seed;
};

/* Pointer @n device elements past @p. */
static inline void *dit_at(const struct dit_run *r, const void *p, int64_t n)
{
	return (char *)p + n * (int64_t)r->esz;
}

#endif /* TS_DIT_H */
