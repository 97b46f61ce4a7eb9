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
#include "model/msample.h"

#define ST_TOL 1e-4

static const int ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
static const int mixed[16] = { 1, 2, 4, 2, 1, 4, 4, 2, 1, 2, 4, 1, 2, 4, 1, 2 };

static void compare_runs(struct mt_rig *r, const struct ts_req_params *p, const char *what)
{
	struct mt_req a = { .p = *p }, b = { .p = *p };
	float *ref = NULL, *got = NULL;
	int ea = mt_sample_from(r, &a, 1, ones, NULL, &ref);
	int eb = mt_sample_from(r, &b, 1, mixed, NULL, &got);

	if (ok(!ea && !eb, "%s: both schedules ran", what)) {
		double e = mt_rel_l2(got, ref, a.w.latent_elems);

		ok(e < ST_TOL, "%s: degrees 1,2,4,2,1,4,... vs 1 throughout: rel L2 %.2e", what, e);
	}
	free(ref);
	free(got);
}

/* The float64 RFLOW loop of make_cases.py from its z, at changing degrees. */
static void rflow_reference(struct mt_rig *r)
{
	struct ts_tensor z, y, mask, want;
	struct ts_st *st;
	struct mt_req q = { 0 };
	float *got = NULL;

	if (!ok(!ts_st_open(ST_OURS "/rflow_run.safetensors", &st) &&
		!ts_st_get(st, "input.z", &z) && !ts_st_get(st, "input.y", &y) &&
		!ts_st_get(st, "input.mask", &mask) && !ts_st_get(st, "output.latent", &want),
		"open the reference rflow run"))
		return;
	q.p = (struct ts_req_params){ .width = 64, .height = 64, .frames = 17, .steps = 5,
				      .guidance = 7.0f, .fps = 24.0f, .cond = &y,
				      .cond_mask = &mask };
	if (ok(!mt_sample_from(r, &q, 1, mixed, z.data, &got) &&
	       ts_tensor_numel(&want) == q.w.latent_elems, "rflow 5 steps from its z")) {
		double e = mt_rel_l2(got, want.data, q.w.latent_elems);

		ok(e < ST_TOL, "rflow 5 steps, guidance 7, transform, degrees 1,2,4,2,1: the float64 "
		   "loop within %.2e", e);
	}
	free(got);
	ts_st_close(st);
}

static void check_refusals(struct mt_rig *r, const struct ts_req_params *good)
{
	struct ts_req_params p = *good;
	struct mt_req c = { .p = *good };
	struct ts_work w;
	struct ts_tensor out = { 0 };
	float *lat = NULL;
	void *state;

	p.cond = NULL;
	mt_capture();
	ok(r->ops->plan(r->model, &p, &w) == 0, "plan needs no caption (cost tables, simulator)");
	state = calloc(1, w.state_bytes);
	lat = calloc((size_t)w.latent_elems, sizeof(float));
	ok(state && lat && r->ops->begin(r->model, &w, &p, state, lat) != 0 &&
	   mt_logged("T5 text encoder is not part"),
	   "begin refuses a request without caption embeddings, saying why");
	free(state);
	free(lat);
	lat = NULL;
	p = *good;
	p.sampler = "ddim";
	ok(r->ops->plan(r->model, &p, &w) != 0 && mt_logged("unknown sampler 'ddim'"),
	   "a sampler other than rflow is refused");
	mt_release();
	if (!ok(!mt_req_begin(r, &c, NULL), "begin a request"))
		return;
	/* 20 frames: 5 latent frames for the first 17, ceil(3 / 4) for the rest */
	ok(c.w.n_degrees == 3 && c.w.degrees[2] == 4 && c.w.latent_shape[1] == 4 &&
	   c.w.latent_shape[2] == 6 && c.w.latent_shape[3] == 6 && c.w.latent_shape[4] == 8 &&
	   c.w.tokens == 6 * 12, "plan: latent [4, 6, 6, 8] for 20 frames of 64 x 48, 72 tokens, "
	   "degrees 1, 2, 4");
	lat = calloc((size_t)c.w.latent_elems, sizeof(float));
	mt_capture();
	ok(r->ops->finish(r->model, &c.w, c.state, lat, &out) != 0 &&
	   mt_logged("finish after 0 of 4 steps"), "finish before the last step is refused");
	mt_release();
	free(lat);
	mt_req_end(r, &c);
}

/*
 * caption_file: a section whose file holds the caption (and a mask) samples
 * a request without embeddings exactly as the same caption given in the
 * request does.
 */
static void check_caption_file(struct mt_rig *r, const struct ts_req_params *given,
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
	struct mt_req a = { .p = *given }, b = { .p = *given };
	float *ref = NULL, *got = NULL;
	struct mt_rig r2 = { 0 };
	int n = 0;

	snprintf(path, sizeof(path), "%s/caption.safetensors", mt_tmp);
	snprintf(kv, sizeof(kv), "caption_file=%s", path);
	for (; keys[n] && n < 14; n++)
		with[n] = keys[n];
	with[n++] = kv;
	with[n] = NULL;
	b.p.cond = NULL;
	if (!ok(!ts_st_write(path, t, 2, meta) && !st_rig_open(&r2, 1, with),
		"a model whose section names a caption_file"))
		goto out;
	if (ok(!mt_sample_from(r, &a, 1, ones, NULL, &ref) && !mt_sample_from(&r2, &b, 1, ones, NULL,
									  &got),
	       "sampled with the caption given, and from the file")) {
		double e = mt_rel_l2(got, ref, a.w.latent_elems);

		ok(e < 1e-6, "caption_file gives the request's own caption: rel L2 %.2e", e);
	}
out:
	mt_rig_close(&r2);
	free(ref);
	free(got);
}

/* An image request without fps is conditioned on IMG_FPS (120), a video on the key's 24. */
static void check_image_fps(struct mt_rig *r, const struct ts_req_params *base)
{
	struct ts_req_params p = *base;
	float *out[3] = { 0 };
	static const float fps[3] = { 0, 120.0f, 24.0f };
	int err = 0;

	p.frames = 1;
	p.steps = 2;
	for (int i = 0; i < 3; i++) {
		struct mt_req q = { .p = p };

		q.p.fps = fps[i];
		err |= mt_sample_from(r, &q, 1, ones, NULL, &out[i]);
	}
	if (ok(!err, "an image sampled with fps unset, 120 and 24")) {
		int64_t n = 4 * 6 * 8;

		ok(mt_rel_l2(out[0], out[1], n) == 0 && mt_rel_l2(out[0], out[2], n) > 1e-4,
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
	struct mt_rig r;
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
	mt_compare_batched(&r, p, ones, mixed);
	rflow_reference(&r);
	check_refusals(&r, &p[0]);
	check_caption_file(&r, &p[0], golden_a_keys);
	check_image_fps(&r, &p[0]);
out:
	mt_rig_close(&r);
	free(y);
	ts_module_unload_all();
	return tap_done();
}
