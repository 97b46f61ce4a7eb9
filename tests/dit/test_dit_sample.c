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
#include "model/msample.h"

#define DT_TOL 1e-4

static int sample(struct mt_rig *r, struct mt_req *reqs, int batch, const int *sched,
		  float **out)
{
	return mt_sample_from(r, reqs, batch, sched, NULL, out);
}

static const int ones[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
/* 1, 2, 4, 1, ... changing every two steps */
static const int mixed[16] = { 1, 1, 2, 2, 4, 4, 1, 1, 2, 2, 4, 4, 1, 2, 4, 1 };

static void compare_runs(struct mt_rig *r, const struct ts_req_params *p, int batch,
			 const char *what)
{
	struct mt_req a[MT_MAX_REQ], b[MT_MAX_REQ];
	float *ref[MT_MAX_REQ] = { 0 }, *got[MT_MAX_REQ] = { 0 };
	int ea, eb;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	for (int i = 0; i < batch; i++)
		a[i].p = b[i].p = p[i];
	ea = sample(r, a, batch, ones, ref);
	eb = sample(r, b, batch, mixed, got);
	ok(!ea && !eb, "%s: both schedules ran", what);
	for (int i = 0; !ea && !eb && i < batch; i++) {
		double e = mt_rel_l2(got[i], ref[i], a[i].w.latent_elems);

		ok(e < DT_TOL, "%s: request %d, degrees 1,1,2,2,4,4,... vs 1 throughout: rel L2 %.2e",
		   what, i, e);
	}
	for (int i = 0; i < batch; i++) {
		free(ref[i]);
		free(got[i]);
	}
}

static const char *golden_a_keys[] = {
	"weights=" DT_GOLDEN "/a.safetensors", "input_size=8", "patch_size=2", "hidden_size=64",
	"depth=2", "num_heads=4", "num_classes=10", "steps=10", NULL,
};

/* The seed matters, the output is finite, and finish needs the last step. */
static void check_sanity(struct mt_rig *r)
{
	struct ts_req_params p = { .seed = 7, .class_label = 1, .steps = 4, .guidance = 2.0f };
	struct mt_req a = { .p = p }, b = { .p = p }, c = { .p = p };
	float *x = NULL, *y = NULL, *lat = NULL;
	struct ts_tensor out = { 0 };
	double diff = 0;

	b.p.seed = 8;
	if (!ok(!sample(r, &a, 1, mixed, &x) && !sample(r, &b, 1, mixed, &y), "two seeds sampled"))
		goto out;
	diff = mt_rel_l2(x, y, a.w.latent_elems);
	ok(diff > 0.1 && isfinite(diff), "another seed gives another latent (rel diff %.2f)", diff);
	ok(!mt_req_begin(r, &c, NULL), "begin a third request");
	lat = calloc((size_t)c.w.latent_elems, sizeof(float));
	mt_capture();
	ok(r->ops->finish(r->model, &c.w, c.state, lat, &out) != 0 &&
	   mt_logged("finish after 0 of 4 steps"), "finish before the last step is refused");
	mt_release();
	mt_req_end(r, &c);
out:
	free(lat);
	free(x);
	free(y);
}

/*
 * A whole DDIM (eta 0) run of golden a's model against sample.py's loop in
 * float64 (tests/dit/make_cases.py), from the same starting latent.
 */
static void ddim_reference(struct mt_rig *r)
{
	struct ts_req_params p = { .class_label = 3, .sampler = "ddim", .steps = 10,
				   .guidance = 4.0f };
	struct mt_req q = { .p = p };
	struct ts_tensor z, want;
	struct ts_st *st;
	float *got = NULL;

	if (!ok(!ts_st_open("tests/data/dit/ddim_run.safetensors", &st) &&
		!ts_st_get(st, "input.z", &z) && !ts_st_get(st, "output.latent", &want),
		"open the reference DDIM run"))
		return;
	if (ok(!mt_sample_from(r, &q, 1, mixed, z.data, &got) &&
	       ts_tensor_numel(&want) == q.w.latent_elems, "ddim 10 steps from its z")) {
		double e = mt_rel_l2(got, want.data, q.w.latent_elems);

		ok(e < DT_TOL, "ddim 10 steps, guidance 4, degrees 1,1,2,2,4,4,...: upstream's "
		   "loop within %.2e", e);
	}
	free(got);
	ts_st_close(st);
}

static void golden_a_runs(void)
{
	struct mt_rig r;
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
	mt_compare_batched(&r, p, ones, mixed);
	check_sanity(&r);
	ddim_reference(&r);
out:
	mt_rig_close(&r);
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
	struct mt_rig r;

	mt_path(path, sizeof(path), "pad.safetensors");
	snprintf(weights, sizeof(weights), "weights=%s", path);
	if (!ok(!dt_random_weights(path, &a, "{}"), "random weights, 25 tokens"))
		return;
	if (!ok(!dt_rig_open(&r, 4, keys), "25-token model on 4 devices"))
		goto out;
	ok(!r.ops->plan(r.model, &p, &w) && w.n_degrees == 3 && w.degrees[2] == 4 &&
	   w.tokens == 25, "degrees 1 2 4 allowed for 25 tokens and 4 heads");
	compare_runs(&r, &p, 1, "25 tokens padded, learn_sigma off, ddpm 6 steps");
	odd.width = 64;
	mt_capture();
	ok(r.ops->plan(r.model, &odd, &w) != 0 && mt_logged("serves 80x80 px only"),
	   "a size the model does not serve is refused");
	mt_release();
out:
	mt_rig_close(&r);
}

/* Sampling needs the output to cover the latent: input 9 with patch 2 is refused. */
static void odd_size_refused(void)
{
	const char *keys[] = { "weights=" DT_GOLDEN "/a.safetensors", "input_size=9",
			       "patch_size=2", "hidden_size=64", "depth=2", "num_heads=4",
			       "num_classes=10", NULL };
	struct ts_req_params p = { .class_label = 1 };
	struct ts_work w;
	struct mt_rig r = { 0 };

	r.host = ts_host_api();
	r.ops = ts_find_model("dit");
	if (!ok(r.ops && !dt_configure(&r, keys), "configure input_size 9, patch 2"))
		goto out;
	mt_capture();
	ok(r.ops->plan(r.model, &p, &w) != 0 && mt_logged("not a multiple of patch_size 2"),
	   "sampling at input_size 9 with patch 2 is refused with the reason");
	mt_release();
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
