/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/test_dit_sample.c - whole sampling runs through the model ops
 * (plan, begin, step, finish) the way the round engine drives them, with the
 * degree changing every few steps: the request's state and replicated latent
 * move between device sets between steps, and the final latent must match
 * the run at degree 1 throughout (relative L2 < 1e-4).
 *
 * Device set of degree k = devices 0..k-1; a move copies the latent from
 * device 0 (in every set) to the others, as a migration would.
 */
#include "ditest.h"

#define DT_TOL 1e-4
#define DT_MAX_REQ 2

struct dt_req {
	struct ts_req_params p;
	struct ts_work w;
	void *state;
	void *lat[DT_MAX_DEV];   /* device latents */
};

struct dt_job {
	struct dt_rig *rig;
	int degree, step, batch;
	struct dt_req *req[DT_MAX_REQ];
	void *scratch[DT_MAX_DEV];
	size_t scratch_bytes;
};

static int rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct dt_job *j = arg;
	const struct ts_req_params *params[DT_MAX_REQ];
	void *state[DT_MAX_REQ], *latent[DT_MAX_REQ];
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
static int spread(struct dt_rig *r, struct dt_req *q, int k)
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
static int replicated(struct dt_rig *r, struct dt_req *q, int k)
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
static int req_begin(struct dt_rig *r, struct dt_req *q, const float *z0)
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

static void req_end(struct dt_rig *r, struct dt_req *q)
{
	for (int i = 0; i < r->n_dev; i++)
		if (q->lat[i])
			r->host->dev_free(r->dev[i], q->lat[i]);
	free(q->state);
}

/* finish() of a request: the decoder's latent, malloc'ed (caller frees). */
static float *req_finish(struct dt_rig *r, struct dt_req *q)
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

static size_t max_scratch(struct dt_rig *r, struct dt_req *q, int batch)
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
static int sample_from(struct dt_rig *r, struct dt_req *reqs, int batch, const int *sched,
		       const float *z0, float **out)
{
	struct dt_job j = { .rig = r, .batch = batch };
	struct ts_dev *devs[DT_MAX_DEV];
	int err = 0, prev = 1, all_replicated = 1;

	for (int b = 0; b < batch && !err; b++) {
		err = req_begin(r, &reqs[b], z0);
		j.req[b] = &reqs[b];
	}
	j.scratch_bytes = err ? 0 : max_scratch(r, &reqs[0], batch);
	for (int i = 0; i < r->n_dev && !err; i++) {
		devs[i] = r->dev[i];
		j.scratch[i] = r->host->dev_alloc(r->dev[i], j.scratch_bytes / sizeof(float));
		err = !j.scratch[i];
	}
	for (int s = 0; !err && s < reqs[0].w.steps; s++) {
		j.degree = sched[s];
		j.step = s;
		for (int b = 0; b < batch && !err && j.degree != prev; b++)
			err = spread(r, &reqs[b], j.degree);
		if (!err)
			err = ts_backend_run_spmd(devs, j.degree, rank_step, &j);
		for (int b = 0; b < batch && !err; b++)
			all_replicated &= replicated(r, &reqs[b], j.degree);
		prev = j.degree;
	}
	if (!err)
		ok(all_replicated, "every rank of every set ends each step with the same latent");
	for (int b = 0; b < batch && !err; b++) {
		out[b] = req_finish(r, &reqs[b]);
		err = !out[b];
	}
	for (int i = 0; i < r->n_dev; i++)
		if (j.scratch[i])
			r->host->dev_free(r->dev[i], j.scratch[i]);
	for (int b = 0; b < batch; b++)
		req_end(r, &reqs[b]);
	return err;
}

static int sample(struct dt_rig *r, struct dt_req *reqs, int batch, const int *sched,
		  float **out)
{
	return sample_from(r, reqs, batch, sched, NULL, out);
}

static const int ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
/* 1, 2, 4, 1, ... changing every two steps */
static const int mixed[16] = { 1, 1, 2, 2, 4, 4, 1, 1, 2, 2, 4, 4, 1, 2, 4, 1 };

static void compare_runs(struct dt_rig *r, const struct ts_req_params *p, int batch,
			 const char *what)
{
	struct dt_req a[DT_MAX_REQ], b[DT_MAX_REQ];
	float *ref[DT_MAX_REQ] = { 0 }, *got[DT_MAX_REQ] = { 0 };
	int ea, eb;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	for (int i = 0; i < batch; i++)
		a[i].p = b[i].p = p[i];
	ea = sample(r, a, batch, ones, ref);
	eb = sample(r, b, batch, mixed, got);
	ok(!ea && !eb, "%s: both schedules ran", what);
	for (int i = 0; !ea && !eb && i < batch; i++) {
		double e = dt_rel_l2(got[i], ref[i], a[i].w.latent_elems);

		ok(e < DT_TOL, "%s: request %d, degrees 1,1,2,2,4,4,... vs 1 throughout: rel L2 %.2e",
		   what, i, e);
	}
	for (int i = 0; i < batch; i++) {
		free(ref[i]);
		free(got[i]);
	}
}

/* Requests stepped together give what each gives alone. */
static void compare_batched(struct dt_rig *r, const struct ts_req_params *p)
{
	struct dt_req one[1], two[2];
	float *alone[2] = { 0 }, *both[2] = { 0 };
	int err = 0;

	for (int i = 0; i < 2; i++) {
		memset(one, 0, sizeof(one));
		one[0].p = p[i];
		err |= sample(r, one, 1, ones, &alone[i]);
	}
	memset(two, 0, sizeof(two));
	two[0].p = p[0];
	two[1].p = p[1];
	err |= sample(r, two, 2, mixed, both);
	for (int i = 0; i < 2; i++) {
		double e = err ? INFINITY : dt_rel_l2(both[i], alone[i], two[i].w.latent_elems);

		ok(e < DT_TOL, "batch of 2 at changing degrees, request %d vs alone: rel L2 %.2e",
		   i, e);
		free(alone[i]);
		free(both[i]);
	}
}

static const char *golden_a_keys[] = {
	"weights=" DT_GOLDEN "/a.safetensors", "input_size=8", "patch_size=2", "hidden_size=64",
	"depth=2", "num_heads=4", "num_classes=10", "steps=10", NULL,
};

/* The seed matters, the output is finite, and finish needs the last step. */
static void check_sanity(struct dt_rig *r)
{
	struct ts_req_params p = { .seed = 7, .class_label = 1, .steps = 4, .guidance = 2.0f };
	struct dt_req a = { .p = p }, b = { .p = p }, c = { .p = p };
	float *x = NULL, *y = NULL, *lat = NULL;
	struct ts_tensor out = { 0 };
	double diff = 0;

	b.p.seed = 8;
	if (!ok(!sample(r, &a, 1, mixed, &x) && !sample(r, &b, 1, mixed, &y), "two seeds sampled"))
		goto out;
	diff = dt_rel_l2(x, y, a.w.latent_elems);
	ok(diff > 0.1 && isfinite(diff), "another seed gives another latent (rel diff %.2f)", diff);
	ok(!req_begin(r, &c, NULL), "begin a third request");
	lat = calloc((size_t)c.w.latent_elems, sizeof(float));
	dt_capture();
	ok(r->ops->finish(r->model, &c.w, c.state, lat, &out) != 0 &&
	   dt_logged("finish after 0 of 4 steps"), "finish before the last step is refused");
	dt_release();
	req_end(r, &c);
out:
	free(lat);
	free(x);
	free(y);
}

/*
 * A whole DDIM (eta 0) run of golden a's model against sample.py's loop in
 * float64 (tests/dit/make_cases.py), from the same starting latent.
 */
static void ddim_reference(struct dt_rig *r)
{
	struct ts_req_params p = { .class_label = 3, .sampler = "ddim", .steps = 10,
				   .guidance = 4.0f };
	struct dt_req q = { .p = p };
	struct ts_tensor z, want;
	struct ts_st *st;
	float *got = NULL;

	if (!ok(!ts_st_open("tests/data/dit/ddim_run.safetensors", &st) &&
		!ts_st_get(st, "input.z", &z) && !ts_st_get(st, "output.latent", &want),
		"open the reference DDIM run"))
		return;
	if (ok(!sample_from(r, &q, 1, mixed, z.data, &got) &&
	       ts_tensor_numel(&want) == q.w.latent_elems, "ddim 10 steps from its z")) {
		double e = dt_rel_l2(got, want.data, q.w.latent_elems);

		ok(e < DT_TOL, "ddim 10 steps, guidance 4, degrees 1,1,2,2,4,4,...: upstream's "
		   "loop within %.2e", e);
	}
	free(got);
	ts_st_close(st);
}

static void golden_a_runs(void)
{
	struct dt_rig r;
	struct ts_req_params p[2] = {
		{ .seed = 42, .class_label = 3, .guidance = 4.0f },
		{ .seed = 5, .class_label = 7, .guidance = 1.5f, .steps = 10 },
	};
	struct ts_req_params ddim = { .seed = 9, .class_label = -1, .sampler = "ddim",
				      .eta = 0.3f, .steps = 8, .guidance = 1.0f };

	if (!ok(!dt_rig_open(&r, 4, golden_a_keys), "golden a model on 4 devices"))
		goto out;
	compare_runs(&r, &p[0], 1, "ddpm 10 steps, guidance 4");
	compare_runs(&r, &ddim, 1, "ddim eta 0.3, 8 steps, null class");
	compare_batched(&r, p);
	check_sanity(&r);
	ddim_reference(&r);
out:
	dt_rig_close(&r);
}

/*
 * 25 tokens on 2 and 4 ranks: the shares are padded and the padding kept out
 * of attention; learn_sigma off takes upstream's fixed (large) variance.
 */
static void padded_runs(void)
{
	const struct dt_arch a = { .input_size = 10, .patch = 2, .in_ch = 4, .out_ch = 4,
				   .hidden = 32, .depth = 2, .mlp = 128, .rows = 6, .freq = 256 };
	char path[PATH_MAX + 32], weights[PATH_MAX + 48];
	const char *keys[] = { weights, "input_size=10", "patch_size=2", "hidden_size=32",
			       "depth=2", "num_heads=4", "num_classes=5", "learn_sigma=false",
			       "steps=6", NULL };
	struct ts_req_params p = { .seed = 3, .class_label = 4, .guidance = 3.0f };
	struct ts_req_params odd = { 0 };
	struct ts_work w;
	struct dt_rig r;

	dt_path(path, sizeof(path), "pad.safetensors");
	snprintf(weights, sizeof(weights), "weights=%s", path);
	if (!ok(!dt_random_weights(path, &a, "{}"), "random weights, 25 tokens"))
		return;
	if (!ok(!dt_rig_open(&r, 4, keys), "25-token model on 4 devices"))
		goto out;
	ok(!r.ops->plan(r.model, &p, &w) && w.n_degrees == 3 && w.degrees[2] == 4 &&
	   w.tokens == 25, "degrees 1 2 4 allowed for 25 tokens and 4 heads");
	compare_runs(&r, &p, 1, "25 tokens padded, learn_sigma off, ddpm 6 steps");
	odd.width = 64;
	dt_capture();
	ok(r.ops->plan(r.model, &odd, &w) != 0 && dt_logged("serves 80x80 px only"),
	   "a size the model does not serve is refused");
	dt_release();
out:
	dt_rig_close(&r);
}

/* Sampling needs the output to cover the latent: input 9 with patch 2 is refused. */
static void odd_size_refused(void)
{
	const char *keys[] = { "weights=" DT_GOLDEN "/a.safetensors", "input_size=9",
			       "patch_size=2", "hidden_size=64", "depth=2", "num_heads=4",
			       "num_classes=10", NULL };
	struct ts_req_params p = { .class_label = 1 };
	struct ts_work w;
	struct dt_rig r = { 0 };

	r.host = ts_host_api();
	r.ops = ts_find_model("dit");
	if (!ok(r.ops && !dt_configure(&r, keys), "configure input_size 9, patch 2"))
		goto out;
	dt_capture();
	ok(r.ops->plan(r.model, &p, &w) != 0 && dt_logged("not a multiple of patch_size 2"),
	   "sampling at input_size 9 with patch 2 is refused with the reason");
	dt_release();
out:
	if (r.model)
		r.ops->release(r.model);
	ts_config_free(r.cfg);
}

int main(int argc, char **argv)
{
	dt_init(argv[0]);
	golden_a_runs();
	padded_runs();
	odd_size_refused();
	return tap_done();
}
