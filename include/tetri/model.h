/* SPDX-License-Identifier: MIT */
/*
 * tetri/model.h - model (denoiser) ops: what a model module registers.
 *
 * Lifecycle, per [model NAME] section:
 *   configure(section) -> model instance (validated config)
 *   load(dev) on every device that may run it -> per-device weights
 *   per request: plan(params) -> work shape; begin() -> initial state;
 *                step(ctx) SPMD on the request's device set, once per step
 *                (the set may change between any two steps);
 *                finish() -> latent for the decoder
 *   unload(dev), release()
 *
 * Request state between steps is owned by the host: a host blob of
 * work.state_bytes (sampler state, RNG position; written only by begin and,
 * on rank 0, by step) and a device latent of work.latent_elems elements that
 * every rank of the set holds an identical copy of. Moving a request to
 * another set copies both; nothing else survives between steps, which is
 * what makes a degree change cheap.
 */
#ifndef TETRI_MODEL_H
#define TETRI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "config.h"
#include "ops.h"
#include "tensor.h"

struct ts_host;
struct ts_st;

/** struct ts_device_info - what a cost function may know about a device. */
struct ts_device_info {
	const char *kind;     /* "cpu", "H100", "A40", "sim" ... */
	int index;            /* pool index */
	uint64_t mem_bytes;   /* device memory */
	double peak_flops;    /* dense FLOP/s of the storage dtype, 0 if unknown */
	double link_bytes_s;  /* collective bandwidth per device, 0 if unknown */
	double link_latency_s;
};

/**
 * struct ts_req_params - what a request asks for (validated by plan()).
 * Fields a model does not use are ignored; 0 means "model default".
 */
struct ts_req_params {
	int width, height;   /* output pixels */
	int frames;          /* video frames; 0 or 1 for images */
	int steps;           /* denoising steps */
	uint64_t seed;       /* Philox key of the initial noise and sampler noise */
	int64_t class_label; /* class-conditional models; -1 = null class */
	float guidance;      /* classifier-free guidance scale; <= 1 disables */
	const char *sampler; /* model-specific name ("ddpm", "ddim", "rflow"), NULL = default */
	float eta;           /* DDIM eta */
	float fps;           /* video frame rate */
	const struct ts_tensor *cond;      /* caption embeddings, or NULL */
	const struct ts_tensor *cond_mask; /* caption mask, or NULL */
};

#define TS_MAX_DEGREES 16

/**
 * struct ts_work - the shape of a request's work, from plan().
 * @klass_key: requests with equal keys have equal cost and may be batched.
 */
struct ts_work {
	int steps;
	int64_t tokens;          /* sequence length of one sample */
	int64_t latent_elems;    /* device latent elements per request */
	size_t state_bytes;      /* host state blob */
	int latent_shape_ndim;
	int64_t latent_shape[TS_MAX_DIMS]; /* shape finish() reports */
	int n_degrees;           /* allowed sequence-parallel degrees, ascending */
	int degrees[TS_MAX_DEGREES];
	int max_batch;           /* 1 = no batching */
	char klass_key[64];
};

/**
 * struct ts_step_ctx - everything one rank needs for one step (or one batched
 * step) of a set of requests. Valid only during the call.
 */
struct ts_step_ctx {
	const struct ts_host *host;
	struct ts_dev *dev;
	const struct ts_ops *ops;
	struct ts_comm *comm;           /* the step's group; size == degree */
	const struct ts_coll_ops *coll;
	int rank, degree;
	void *model;                    /* from configure() */
	void *weights;                  /* from load() on this device */
	const struct ts_work *work;
	int batch;                      /* requests stepped together (same klass_key) */
	const struct ts_req_params *const *params; /* [batch] */
	void *const *state;             /* [batch] host blobs (write on rank 0 only) */
	void *const *latent;            /* [batch] device latents on this rank */
	int step_index;                 /* 0-based index of the step being run */
	void *scratch;                  /* per-device scratch, reused every step */
	size_t scratch_bytes;
};

/**
 * struct ts_model_ops - a denoiser registered with host->register_model().
 * @name: the module-level model kind, e.g. "dit"; a [model X] section with
 *        module = <module> uses it (a module registering several kinds is
 *        selected by the section's kind key).
 * @keys: schema of the section's own keys (NULL-name terminated).
 * @cost: seconds per step for @batch requests of @w at @degree on @dev, or a
 *        negative value when the degree is not allowed. Pure function.
 * @scratch_bytes: per-device scratch the largest step of @w at @degree needs.
 */
struct ts_model_ops {
	struct ts_abi_hdr hdr;
	const char *name;
	const char *description;
	const struct ts_key *keys;

	int (*configure)(const struct ts_host *host, const struct ts_section *sec, void **model);
	void (*release)(void *model);
	int (*load)(void *model, struct ts_dev *dev, void **weights);
	void (*unload)(void *model, struct ts_dev *dev, void *weights);

	int (*plan)(void *model, const struct ts_req_params *p, struct ts_work *w);
	double (*cost)(void *model, const struct ts_work *w, int degree, int batch,
		       const struct ts_device_info *dev);
	size_t (*scratch_bytes)(void *model, const struct ts_work *w, int degree, int batch);

	/* Initial state: fills the host blob and the initial latent (host memory, F32). */
	int (*begin)(void *model, const struct ts_work *w, const struct ts_req_params *p,
		     void *state, float *latent);
	int (*step)(const struct ts_step_ctx *ctx);
	/*
	 * Final latent (host F32, work.latent_shape) from the last latent and state.
	 * @out->data: a caller buffer of latent_shape elements, or NULL for one the
	 * module allocates with host->alloc (the caller frees it with host->free).
	 */
	int (*finish)(void *model, const struct ts_work *w, const void *state,
		      const float *latent, struct ts_tensor *out);

	/*
	 * Optional (read only when TS_ABI_HAS(ops, struct ts_model_ops, run_case)):
	 * evaluate a reference case SPMD on the ctx's group (`tetriserve run-case`).
	 * The weights (ctx->weights) were loaded from the case file; the module reads
	 * its inputs ("input.*") from @st, allocates what it needs, and on rank 0
	 * hands every output it computes ("output.*", host F32, valid during the
	 * call) to @emit. ctx->work, params, state and latent are unused (NULL).
	 */
	int (*run_case)(const struct ts_step_ctx *ctx, struct ts_st *st,
			int (*emit)(void *arg, const struct ts_tensor *t), void *arg);
};

#endif /* TETRI_MODEL_H */
