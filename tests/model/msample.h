/* SPDX-License-Identifier: MIT */
/*
 * tests/model/msample.h - whole sampling runs through a model's ops (plan,
 * begin, step, finish) the way the round engine drives them, on a rig of
 * tests/model/mtest.h, with the degree of each step given by a schedule:
 * between steps the request's state and replicated latent move between
 * device sets, copied from device 0 (in every set) to the others, as a
 * migration would. Shared by tests/dit and tests/stdit. Header-only.
 */
#ifndef TS_TESTS_MSAMPLE_H
#define TS_TESTS_MSAMPLE_H

#include "mtest.h"

#define MT_MAX_REQ 2
#define MT_SAMPLE_TOL 1e-4 /* relative L2 between runs that must agree */

/** struct mt_req - one request of a run: its params, work shape, state, latents. */
struct mt_req {
	struct ts_req_params p;
	struct ts_work w;
	void *state;
	void *lat[MT_MAX_DEV];   /* device latents */
};

/* The SPMD step's argument: one step of a batch at one degree. */
struct mt_job {
	struct mt_rig *rig;
	int degree, step, batch;
	struct mt_req *req[MT_MAX_REQ];
	void *scratch[MT_MAX_DEV];
	size_t scratch_bytes;
};

static inline int mt_rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct mt_job *j = arg;
	const struct ts_req_params *params[MT_MAX_REQ];
	void *state[MT_MAX_REQ], *latent[MT_MAX_REQ];
	struct ts_step_ctx ctx = {
		.host = j->rig->host, .dev = dev, .ops = j->rig->host->dev_ops(dev),
		.comm = j->rig->comm[j->degree], .coll = j->rig->host->dev_coll(dev),
		.rank = rank, .degree = j->degree, .model = j->rig->model,
		.weights = j->rig->weights[rank], .work = &j->req[0]->w, .batch = j->batch,
		.params = params, .state = state, .latent = latent, .step_index = j->step,
		.scratch = j->scratch[rank], .scratch_bytes = j->scratch_bytes,
	};

	for (int b = 0; b < j->batch; b++) {
		params[b] = &j->req[b]->p;
		state[b] = j->req[b]->state;
		latent[b] = j->req[b]->lat[rank];
	}
	return j->rig->ops->step(&ctx);
}

/* Copy device 0's latent to devices 1..k-1: the set grows or the request moves. */
static inline int mt_spread(struct mt_rig *r, struct mt_req *q, int k)
{
	int64_t n = q->w.latent_elems;
	float *tmp = malloc(sizeof(float) * (size_t)n);
	int err = tmp ? r->host->dev_download(r->dev[0], tmp, q->lat[0], n) : -1;

	for (int i = 1; !err && i < k; i++)
		err = r->host->dev_upload(r->dev[i], q->lat[i], tmp, TS_F32, n);
	free(tmp);
	return err;
}

/* 1 when every device of the set holds the same latent bits as device 0. */
static inline int mt_replicated(struct mt_rig *r, struct mt_req *q, int k)
{
	int64_t n = q->w.latent_elems;
	float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
	int same = a && b && !r->host->dev_download(r->dev[0], a, q->lat[0], n);

	for (int i = 1; same && i < k; i++)
		same = !r->host->dev_download(r->dev[i], b, q->lat[i], n) &&
		       !memcmp(a, b, sizeof(float) * (size_t)n);
	free(a);
	free(b);
	return same;
}

/* @z0: a latent to start from instead of begin()'s noise, or NULL. */
static inline int mt_req_begin(struct mt_rig *r, struct mt_req *q, const float *z0)
{
	float *lat;
	int err;

	if (r->ops->plan(r->model, &q->p, &q->w))
		return -1;
	q->state = calloc(1, q->w.state_bytes);
	lat = malloc(sizeof(float) * (size_t)q->w.latent_elems);
	err = !q->state || !lat;
	if (!err)
		err = r->ops->begin(r->model, &q->w, &q->p, q->state, lat);
	if (!err && z0)
		memcpy(lat, z0, sizeof(float) * (size_t)q->w.latent_elems);
	for (int i = 0; !err && i < r->n_dev; i++) {
		q->lat[i] = r->host->dev_alloc(r->dev[i], (size_t)q->w.latent_elems);
		err = !q->lat[i] || r->host->dev_upload(r->dev[i], q->lat[i], lat, TS_F32,
							q->w.latent_elems);
	}
	free(lat);
	return err;
}

static inline void mt_req_end(struct mt_rig *r, struct mt_req *q)
{
	for (int i = 0; i < r->n_dev; i++)
		if (q->lat[i])
			r->host->dev_free(r->dev[i], q->lat[i]);
	free(q->state);
}

/* finish() of a request: the decoder's latent, malloc'ed (caller frees). */
static inline float *mt_req_finish(struct mt_rig *r, struct mt_req *q)
{
	int64_t n = q->w.latent_elems;
	float *lat = malloc(sizeof(float) * (size_t)n);
	struct ts_tensor out = { 0 };

	if (!lat || r->host->dev_download(r->dev[0], lat, q->lat[0], n) ||
	    r->ops->finish(r->model, &q->w, q->state, lat, &out)) {
		free(lat);
		return NULL;
	}
	/* the module allocated out.data with host->alloc: hand back a malloc'ed copy */
	memcpy(lat, out.data, sizeof(float) * (size_t)n);
	r->host->free(out.data);
	return lat;
}

static inline size_t mt_max_scratch(struct mt_rig *r, struct mt_req *q, int batch)
{
	size_t most = 0;

	for (int i = 0; i < q->w.n_degrees && q->w.degrees[i] <= r->n_dev; i++) {
		size_t b = r->ops->scratch_bytes(r->model, &q->w, q->w.degrees[i], batch);

		most = b > most ? b : most;
	}
	return most;
}

/*
 * Run @batch requests from begin to finish with degree @sched[s] at step s;
 * @out[b] gets request b's final latent (malloc'ed). 0 on success.
 */
static inline int mt_sample_from(struct mt_rig *r, struct mt_req *reqs, int batch, const int *sched,
		       const float *z0, float **out)
{
	struct mt_job j = { .rig = r, .batch = batch };
	struct ts_dev *devs[MT_MAX_DEV];
	int err = 0, prev = 1, all_replicated = 1;

	for (int b = 0; b < batch && !err; b++) {
		err = mt_req_begin(r, &reqs[b], z0);
		j.req[b] = &reqs[b];
	}
	j.scratch_bytes = err ? 0 : mt_max_scratch(r, &reqs[0], batch);
	for (int i = 0; i < r->n_dev && !err; i++) {
		devs[i] = r->dev[i];
		j.scratch[i] = r->host->dev_alloc(r->dev[i], j.scratch_bytes / sizeof(float));
		err = !j.scratch[i];
	}
	for (int s = 0; !err && s < reqs[0].w.steps; s++) {
		j.degree = sched[s];
		j.step = s;
		for (int b = 0; b < batch && !err && j.degree != prev; b++)
			err = mt_spread(r, &reqs[b], j.degree);
		if (!err)
			err = ts_backend_run_spmd(devs, j.degree, mt_rank_step, &j);
		for (int b = 0; b < batch && !err; b++)
			all_replicated &= mt_replicated(r, &reqs[b], j.degree);
		prev = j.degree;
	}
	if (!err)
		ok(all_replicated, "every rank of every set ends each step with the same latent");
	for (int b = 0; b < batch && !err; b++) {
		out[b] = mt_req_finish(r, &reqs[b]);
		err = !out[b];
	}
	for (int i = 0; i < r->n_dev; i++)
		if (j.scratch[i])
			r->host->dev_free(r->dev[i], j.scratch[i]);
	for (int b = 0; b < batch; b++)
		mt_req_end(r, &reqs[b]);
	return err;
}

/*
 * Requests @p[0] and @p[1] stepped together under schedule @mixed give what
 * each gives alone under @ones (degree 1 throughout).
 */
static inline void mt_compare_batched(struct mt_rig *r, const struct ts_req_params *p,
				      const int *ones, const int *mixed)
{
	struct mt_req one, two[2];
	float *alone[2] = { 0 }, *both[2] = { 0 };
	int err = 0;

	for (int i = 0; i < 2; i++) {
		memset(&one, 0, sizeof(one));
		one.p = p[i];
		err |= mt_sample_from(r, &one, 1, ones, NULL, &alone[i]);
	}
	memset(two, 0, sizeof(two));
	two[0].p = p[0];
	two[1].p = p[1];
	err |= mt_sample_from(r, two, 2, mixed, NULL, both);
	for (int i = 0; i < 2; i++) {
		double e = err ? INFINITY : mt_rel_l2(both[i], alone[i], two[i].w.latent_elems);

		ok(e < MT_SAMPLE_TOL, "batch of 2 at changing degrees, request %d vs alone: "
		   "rel L2 %.2e", i, e);
		free(alone[i]);
		free(both[i]);
	}
}

#endif /* TS_TESTS_MSAMPLE_H */
