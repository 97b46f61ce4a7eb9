/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/test_stdit_sample.c - whole rectified-flow runs through the
 * model ops (plan, begin, step, finish) the way the round engine drives them,
 * on golden case a's model:
 *  - with the degree changing between steps (1, 2, 4, 2, 1, 4, ...) the final
 *    latent equals the run at degree 1 throughout (relative L2 < 1e-4), and
 *    every rank of a set ends each step with the same latent;
 *  - two requests stepped together give what each gives alone;
 *  - from a given z, the run equals Open-Sora 1.2's RFLOW loop computed in
 *    float64 by tests/stdit/make_cases.py (tests/data/stdit/rflow_run);
 *  - refusals: no caption (at begin), a bad sampler, finish before the end;
 *  - a section's caption_file stands in for a request's embeddings.
 *
 * Device set of degree k = devices 0..k-1; a move copies the latent from
 * device 0 to the others, as a migration would.
 */
#include "sttest.h"

#define ST_TOL 1e-4
#define ST_MAX_REQ 2

struct st_req {
	struct ts_req_params p;
	struct ts_work w;
	void *state;
	void *lat[ST_MAX_DEV];
};

struct st_job {
	struct st_rig *rig;
	int degree, step, batch;
	struct st_req *req[ST_MAX_REQ];
	void *scratch[ST_MAX_DEV];
	size_t scratch_bytes;
};

static int rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct st_job *j = arg;
	const struct ts_req_params *params[ST_MAX_REQ];
	void *state[ST_MAX_REQ], *latent[ST_MAX_REQ];
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

/* Device 0's latent to devices 1..k-1: the set grows or the request moves. */
static int spread(struct st_rig *r, struct st_req *q, int k)
{
	int64_t n = q->w.latent_elems;
	float *tmp = malloc(sizeof(float) * (size_t)n);
	int err = tmp ? r->host->dev_download(r->dev[0], tmp, q->lat[0], n) : -1;

	for (int i = 1; !err && i < k; i++)
		err = r->host->dev_upload(r->dev[i], q->lat[i], tmp, TS_F32, n);
	free(tmp);
	return err;
}

static int replicated(struct st_rig *r, struct st_req *q, int k)
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

/* plan + begin; @z replaces the initial noise when given. */
static int req_begin(struct st_rig *r, struct st_req *q, const float *z)
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
	if (!err && z)
		memcpy(lat, z, sizeof(float) * (size_t)q->w.latent_elems);
	for (int i = 0; !err && i < r->n_dev; i++) {
		q->lat[i] = r->host->dev_alloc(r->dev[i], (size_t)q->w.latent_elems);
		err = !q->lat[i] || r->host->dev_upload(r->dev[i], q->lat[i], lat, TS_F32,
							q->w.latent_elems);
	}
	free(lat);
	return err;
}

static void req_end(struct st_rig *r, struct st_req *q)
{
	for (int i = 0; i < r->n_dev; i++)
		if (q->lat[i])
			r->host->dev_free(r->dev[i], q->lat[i]);
	free(q->state);
}

static float *req_finish(struct st_rig *r, struct st_req *q)
{
	int64_t n = q->w.latent_elems;
	float *lat = malloc(sizeof(float) * (size_t)n);
	struct ts_tensor out = { 0 };

	if (!lat || r->host->dev_download(r->dev[0], lat, q->lat[0], n) ||
	    r->ops->finish(r->model, &q->w, q->state, lat, &out)) {
		free(lat);
		return NULL;
	}
	memcpy(lat, out.data, sizeof(float) * (size_t)n);
	r->host->free(out.data);
	return lat;
}

static size_t max_scratch(struct st_rig *r, struct st_req *q, int batch)
{
	size_t most = 0;

	for (int i = 0; i < q->w.n_degrees && q->w.degrees[i] <= r->n_dev; i++) {
		size_t b = r->ops->scratch_bytes(r->model, &q->w, q->w.degrees[i], batch);

		most = b > most ? b : most;
	}
	return most;
}

/* Run @batch requests begin to finish with degree @sched[s] at step s; @out[b] malloc'ed. */
static int sample_from(struct st_rig *r, struct st_req *reqs, int batch, const int *sched,
		       const float *z, float **out)
{
	struct st_job j = { .rig = r, .batch = batch };
	struct ts_dev *devs[ST_MAX_DEV];
	int err = 0, prev = 1, all_replicated = 1;

	for (int b = 0; b < batch && !err; b++) {
		err = req_begin(r, &reqs[b], z);
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

static const int ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
static const int mixed[16] = { 1, 2, 4, 2, 1, 4, 4, 2, 1, 2, 4, 1, 2, 4, 1, 2 };

static void compare_runs(struct st_rig *r, const struct ts_req_params *p, const char *what)
{
	struct st_req a = { .p = *p }, b = { .p = *p };
	float *ref = NULL, *got = NULL;
	int ea = sample_from(r, &a, 1, ones, NULL, &ref);
	int eb = sample_from(r, &b, 1, mixed, NULL, &got);

	if (ok(!ea && !eb, "%s: both schedules ran", what)) {
		double e = st_rel_l2(got, ref, a.w.latent_elems);

		ok(e < ST_TOL, "%s: degrees 1,2,4,2,1,4,... vs 1 throughout: rel L2 %.2e", what, e);
	}
	free(ref);
	free(got);
}

static void compare_batched(struct st_rig *r, const struct ts_req_params *p)
{
	struct st_req one, two[2];
	float *alone[2] = { 0 }, *both[2] = { 0 };
	int err = 0;

	for (int i = 0; i < 2; i++) {
		memset(&one, 0, sizeof(one));
		one.p = p[i];
		err |= sample_from(r, &one, 1, ones, NULL, &alone[i]);
	}
	memset(two, 0, sizeof(two));
	two[0].p = p[0];
	two[1].p = p[1];
	err |= sample_from(r, two, 2, mixed, NULL, both);
	for (int i = 0; i < 2; i++) {
		double e = err ? INFINITY : st_rel_l2(both[i], alone[i], two[i].w.latent_elems);

		ok(e < ST_TOL, "batch of 2 at changing degrees, request %d vs alone: rel L2 %.2e",
		   i, e);
		free(alone[i]);
		free(both[i]);
	}
}

/* The float64 RFLOW loop of make_cases.py from its z, at changing degrees. */
static void rflow_reference(struct st_rig *r)
{
	struct ts_tensor z, y, mask, want;
	struct ts_st *st;
	struct st_req q = { 0 };
	float *got = NULL;

	if (!ok(!ts_st_open(ST_OURS "/rflow_run.safetensors", &st) &&
		!ts_st_get(st, "input.z", &z) && !ts_st_get(st, "input.y", &y) &&
		!ts_st_get(st, "input.mask", &mask) && !ts_st_get(st, "output.latent", &want),
		"open the reference rflow run"))
		return;
	q.p = (struct ts_req_params){ .width = 64, .height = 64, .frames = 17, .steps = 5,
				      .guidance = 7.0f, .fps = 24.0f, .cond = &y,
				      .cond_mask = &mask };
	if (ok(!sample_from(r, &q, 1, mixed, z.data, &got) &&
	       ts_tensor_numel(&want) == q.w.latent_elems, "rflow 5 steps from its z")) {
		double e = st_rel_l2(got, want.data, q.w.latent_elems);

		ok(e < ST_TOL, "rflow 5 steps, guidance 7, transform, degrees 1,2,4,2,1: the float64 "
		   "loop within %.2e", e);
	}
	free(got);
	ts_st_close(st);
}

static void check_refusals(struct st_rig *r, const struct ts_req_params *good)
{
	struct ts_req_params p = *good;
	struct st_req c = { .p = *good };
	struct ts_work w;
	struct ts_tensor out = { 0 };
	float *lat = NULL;
	void *state;

	p.cond = NULL;
	st_capture();
	ok(r->ops->plan(r->model, &p, &w) == 0, "plan needs no caption (cost tables, simulator)");
	state = calloc(1, w.state_bytes);
	lat = calloc((size_t)w.latent_elems, sizeof(float));
	ok(state && lat && r->ops->begin(r->model, &w, &p, state, lat) != 0 &&
	   st_logged("T5 text encoder is not part"),
	   "begin refuses a request without caption embeddings, saying why");
	free(state);
	free(lat);
	lat = NULL;
	p = *good;
	p.sampler = "ddim";
	ok(r->ops->plan(r->model, &p, &w) != 0 && st_logged("unknown sampler 'ddim'"),
	   "a sampler other than rflow is refused");
	st_release();
	if (!ok(!req_begin(r, &c, NULL), "begin a request"))
		return;
	/* 20 frames: 5 latent frames for the first 17, ceil(3 / 4) for the rest */
	ok(c.w.n_degrees == 3 && c.w.degrees[2] == 4 && c.w.latent_shape[1] == 4 &&
	   c.w.latent_shape[2] == 6 && c.w.latent_shape[3] == 6 && c.w.latent_shape[4] == 8 &&
	   c.w.tokens == 6 * 12, "plan: latent [4, 6, 6, 8] for 20 frames of 64 x 48, 72 tokens, "
	   "degrees 1, 2, 4");
	lat = calloc((size_t)c.w.latent_elems, sizeof(float));
	st_capture();
	ok(r->ops->finish(r->model, &c.w, c.state, lat, &out) != 0 &&
	   st_logged("finish after 0 of 4 steps"), "finish before the last step is refused");
	st_release();
	free(lat);
	req_end(r, &c);
}

/*
 * caption_file: a section whose file holds the caption (and a mask) samples
 * a request without embeddings exactly as the same caption given in the
 * request does.
 */
static void check_caption_file(struct st_rig *r, const struct ts_req_params *given,
			       const char *const *keys)
{
	char path[PATH_MAX + 64], kv[PATH_MAX + 96];
	const char *with[16];
	int64_t ones6[6] = { 1, 1, 1, 1, 1, 1 };
	struct ts_tensor t[2] = {
		{ .name = "caption.y", .dtype = TS_F32, .ndim = 2, .shape = { 6, 32 },
		  .data = given->cond->data },
		{ .name = "caption.mask", .dtype = TS_I64, .ndim = 1, .shape = { 6 }, .data = ones6 },
	};
	const char *meta[] = { "what", "caption", NULL };
	struct st_req a = { .p = *given }, b = { .p = *given };
	float *ref = NULL, *got = NULL;
	struct st_rig r2 = { 0 };
	int n = 0;

	snprintf(path, sizeof(path), "%s/caption.safetensors", st_tmp);
	snprintf(kv, sizeof(kv), "caption_file=%s", path);
	for (; keys[n] && n < 14; n++)
		with[n] = keys[n];
	with[n++] = kv;
	with[n] = NULL;
	b.p.cond = NULL;
	if (!ok(!ts_st_write(path, t, 2, meta) && !st_rig_open(&r2, 1, with),
		"a model whose section names a caption_file"))
		goto out;
	if (ok(!sample_from(r, &a, 1, ones, NULL, &ref) && !sample_from(&r2, &b, 1, ones, NULL,
									  &got),
	       "sampled with the caption given, and from the file")) {
		double e = st_rel_l2(got, ref, a.w.latent_elems);

		ok(e < 1e-6, "caption_file gives the request's own caption: rel L2 %.2e", e);
	}
out:
	st_rig_close(&r2);
	free(ref);
	free(got);
}

/* An image request without fps is conditioned on IMG_FPS (120), a video on the key's 24. */
static void check_image_fps(struct st_rig *r, const struct ts_req_params *base)
{
	struct ts_req_params p = *base;
	float *out[3] = { 0 };
	static const float fps[3] = { 0, 120.0f, 24.0f };
	int err = 0;

	p.frames = 1;
	p.steps = 2;
	for (int i = 0; i < 3; i++) {
		struct st_req q = { .p = p };

		q.p.fps = fps[i];
		err |= sample_from(r, &q, 1, ones, NULL, &out[i]);
	}
	if (ok(!err, "an image sampled with fps unset, 120 and 24")) {
		int64_t n = 4 * 6 * 8;

		ok(st_rel_l2(out[0], out[1], n) == 0 && st_rel_l2(out[0], out[2], n) > 1e-4,
		   "an image without fps is conditioned on 120, not 24");
	}
	for (int i = 0; i < 3; i++)
		free(out[i]);
}

static const char *const golden_a_keys[] = {
	"weights=" ST_GOLDEN "/a.safetensors", "patch_size=1,2,2", "hidden_size=64", "depth=2",
	"num_heads=4", "caption_channels=32", "model_max_length=8", NULL,
};

int main(int argc, char **argv)
{
	struct st_rig r;
	struct ts_tensor cap = { .dtype = TS_F32, .ndim = 2, .shape = { 6, 32 } };
	float *y = calloc(6 * 32, sizeof(float));
	struct ts_req_params p[2] = {
		{ .width = 64, .height = 48, .frames = 20, .steps = 4, .seed = 42, .cond = &cap },
		{ .width = 64, .height = 48, .frames = 20, .steps = 4, .seed = 7, .cond = &cap,
		  .guidance = 3.0f, .fps = 12.0f },
	};

	st_init(argv[0]);
	for (int i = 0; y && i < 6 * 32; i++)
		y[i] = (float)sin(0.37 * i);
	cap.data = y;
	if (!ok(y && !st_rig_open(&r, 4, golden_a_keys), "golden a model on 4 devices"))
		goto out;
	compare_runs(&r, &p[0], "guidance 7, 20 frames of 64 x 48");
	p[1].guidance = 1.0f;
	compare_runs(&r, &p[1], "no guidance");
	p[1].guidance = 3.0f;
	compare_batched(&r, p);
	rflow_reference(&r);
	check_refusals(&r, &p[0]);
	check_caption_file(&r, &p[0], golden_a_keys);
	check_image_fps(&r, &p[0]);
out:
	st_rig_close(&r);
	free(y);
	ts_module_unload_all();
	return tap_done();
}
