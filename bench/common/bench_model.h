/* SPDX-License-Identifier: MIT */
/*
 * bench/common/bench_model.h - one request of a model module on one CPU
 * device, for the drivers that time a denoising step (bench/dit,
 * bench/stdit): the device and its degree-1 group, the weights, the
 * request's state, latent and scratch, and the step run on the device.
 * Header-only.
 */
#ifndef TS_BENCH_MODEL_H
#define TS_BENCH_MODEL_H

#include <stdlib.h>

#include <tetri/tetri.h>

#include "backend.h"

/** struct bench_model - a configured model, one device, one request. */
struct bench_model {
	const struct ts_host *host;
	const struct ts_model_ops *ops;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev;
	struct ts_comm *comm;
	void *model, *weights, *state, *latent, *scratch;
	struct ts_req_params p;
	struct ts_work w;
	size_t scratch_bytes;
	int step;               /* the step_index the next step runs */
};

/* One CPU device of @threads threads, its group of one, the weights on it. */
static inline int bench_model_device(struct bench_model *b, int threads)
{
	size_t bytes;

	if (ts_backend_open("cpu", b->host, 1, threads, &b->be_ops, &b->be))
		return -1;
	b->dev = b->be_ops->device(b->be, 0);
	if (b->be_ops->comm_create(b->be, &b->dev, 1, &b->comm, &bytes))
		return -1;
	return b->ops->load(b->model, b->dev, &b->weights);
}

/* Plan the request b->p and allocate its state, device latent and scratch. */
static inline int bench_model_request(struct bench_model *b)
{
	if (b->ops->plan(b->model, &b->p, &b->w))
		return -1;
	b->state = calloc(1, b->w.state_bytes);
	b->latent = b->host->dev_alloc(b->dev, (size_t)b->w.latent_elems);
	b->scratch_bytes = b->ops->scratch_bytes(b->model, &b->w, 1, 1);
	b->scratch = b->host->dev_alloc(b->dev, b->scratch_bytes / sizeof(float));
	return !b->state || !b->latent || !b->scratch;
}

/* The SPMD body of one step at degree 1 (@arg: the struct bench_model). */
static inline int bench_model_rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct bench_model *b = arg;
	const struct ts_req_params *params[1] = { &b->p };
	void *state[1] = { b->state }, *latent[1] = { b->latent };
	struct ts_step_ctx ctx = {
		.host = b->host, .dev = dev, .ops = b->host->dev_ops(dev), .comm = b->comm,
		.coll = b->host->dev_coll(dev), .rank = rank, .degree = 1, .model = b->model,
		.weights = b->weights, .work = &b->w, .batch = 1, .params = params,
		.state = state, .latent = latent, .step_index = b->step,
		.scratch = b->scratch, .scratch_bytes = b->scratch_bytes,
	};

	return b->ops->step(&ctx);
}

/* Run one step on the device. */
static inline int bench_model_step(struct bench_model *b)
{
	struct ts_dev *devs[1] = { b->dev };

	return ts_backend_run_spmd(devs, 1, bench_model_rank_step, b);
}

#endif /* TS_BENCH_MODEL_H */
