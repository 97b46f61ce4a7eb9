/* SPDX-License-Identifier: MIT */
/*
 * tests/dit/test_dit_units.c - the DiT's host-side math and request checks:
 * the respaced schedule and the sampler updates (linked from the module's
 * objects) against values computed with upstream's gaussian_diffusion.py /
 * respace.py formulas in numpy float64; plan's degrees and refusals and the
 * cost model's FLOP count (spec/models.md §1.1 table) through dit.so.
 */
#include "../../modules/dit/dit.h"
#include "ditest.h"

/* Respaced indices (timestep_map) as upstream's space_timesteps gives them. */
static void check_timesteps(void)
{
	static const struct {
		int steps;
		enum dit_respacing how;
		int head[8], tail[3];
	} want[] = {
		{ 250, DIT_RESPACE_UNIFORM, { 0, 4, 8, 12, 16, 20, 24, 28 }, { 991, 995, 999 } },
		{ 100, DIT_RESPACE_UNIFORM, { 0, 10, 20, 30, 40, 50, 61, 71 }, { 979, 989, 999 } },
		{ 50, DIT_RESPACE_STRIDE, { 0, 20, 40, 60, 80, 100, 120, 140 }, { 940, 960, 980 } },
		/* 166.5 and 832.5 round half to even, like Python's round() */
		{ 7, DIT_RESPACE_UNIFORM, { 0, 166, 333, 500, 666, 832, 999, -1 }, { 666, 832, 999 } },
	};
	static struct dit_sched s;

	for (size_t c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
		int good = !dit_sched_build(&s, want[c].steps, want[c].how) &&
			   s.steps == want[c].steps;

		for (int i = 0; good && i < 8 && want[c].head[i] >= 0; i++)
			good = s.timestep[i] == want[c].head[i];
		for (int i = 0; good && i < 3; i++)
			good = s.timestep[s.steps - 3 + i] == want[c].tail[i];
		ok(good, "%s%d keeps upstream's timesteps",
		   want[c].how == DIT_RESPACE_STRIDE ? "ddim" : "", want[c].steps);
	}
	ok(dit_sched_build(&s, 999, DIT_RESPACE_STRIDE) != 0, "ddim999 has no integer stride");
}

static int near(double got, double want)
{
	return fabs(got - want) <= 1e-12 * fmax(1.0, fabs(want));
}

/* Betas and posterior coefficients of the respaced process. */
static void check_coefficients(void)
{
	static const struct {
		int steps, i;
		double beta, abar, logvar, c1, c2;
	} want[] = {
		{ 250, 1, 0.00059906556447564263, 0.99930099434208086, -9.3646281598030843,
		  0.85698249171803764, 0.1430175007910898 },
		{ 250, 125, 0.049297903634179741, 0.076234666789885941, -3.0141622247856663,
		  0.01511196081567503, 0.97086702881477771 },
		{ 250, 249, 0.077519344992350026, 4.0358297653756747e-05, -2.5572311525609739,
		  0.00051276149838629115, 0.96045530748084629 },
		{ 100, 50, 0.10525807890797834, 0.073939124721438404, -2.2607771827651648,
		  0.032674139792045816, 0.93702331736409827 },
		{ 7, 0, 9.9999999999988987e-05, 0.99990000000000001, -9.2106340127676578, 1, 0 },
		{ 7, 3, 0.75583619057836327, 0.077796658365023877, -0.582583320484377,
		  0.46263748308583436, 0.36509025590996658 },
	};
	static struct dit_sched s;

	for (size_t c = 0; c < sizeof(want) / sizeof(want[0]); c++) {
		int i = want[c].i;

		dit_sched_build(&s, want[c].steps, DIT_RESPACE_UNIFORM);
		ok(near(s.beta[i], want[c].beta) && near(s.abar[i], want[c].abar) &&
		   near(s.post_logvar_clipped[i], want[c].logvar) && near(s.coef1[i], want[c].c1) &&
		   near(s.coef2[i], want[c].c2),
		   "respaced %d, step %d: beta, alpha-bar, clipped log variance, mean coefficients",
		   want[c].steps, i);
	}
}

static int close4(const float *got, const double *want)
{
	for (int i = 0; i < 4; i++)
		if (fabs(got[i] - want[i]) > 1e-6 * fmax(1.0, fabs(want[i])))
			return 0;
	return 1;
}

/* One update of a 4-element latent at step 3 of a 7-step process, and at step 0. */
static void check_updates(void)
{
	static const double x[4] = { 0.5, -1.25, 2.0, 0.1 }, eps[4] = { 0.3, -0.7, 1.1, -0.2 };
	static const double v[4] = { -1.0, 0.25, 1.0, -0.5 }, z[4] = { 0.9, -0.4, 0.05, 1.5 };
	static const double learned[4] = { 1.2065950350770012, -1.7432807113985238,
					   2.338862443112681, 1.6851113897862158 };
	static const double fixed[4] = { 1.3164766750633716, -1.7624654290654325,
					 2.338862443112681, 1.8250278896247467 };
	static const double ddim[4] = { 0.98594405570610566, -1.8339798952527782,
					2.7380630614898469, 1.0043299022291814 };
	static const double last[4] = { 0.49702485186390649, -1.2430621546616412,
					1.9890994574593759, 0.10200510038253104 };
	static struct dit_sched s;
	struct dit_model m = { .in_ch = 1, .out_ch = 2, .learn_sigma = 1 };
	struct dit_state st = { .sampler = DIT_DDPM };
	float xf[4], out[8], zf[4];

	for (int i = 0; i < 4; i++) {
		out[i] = (float)eps[i];
		out[4 + i] = (float)v[i];
		zf[i] = (float)z[i];
	}
	dit_sched_build(&s, 7, DIT_RESPACE_UNIFORM);
#define RUN(step) (memcpy(xf, (float[4]){ 0.5f, -1.25f, 2.0f, 0.1f }, sizeof(xf)), \
		   dit_sampler_update(&m, &s, &st, step, xf, out, zf, 4))
	ok(!RUN(3) && close4(xf, learned), "ddpm, learned range variance: p_sample's x_{t-1}");
	m.learn_sigma = 0;
	m.out_ch = 1;
	ok(!RUN(3) && close4(xf, fixed), "ddpm, learn_sigma off: fixed large variance");
	ok(!RUN(0) && close4(xf, last), "ddpm, last step: the mean, no noise");
	st.sampler = DIT_DDIM;
	st.eta = 0.5f;
	ok(!RUN(3) && close4(xf, ddim), "ddim eta 0.5: ddim_sample's x_{t-1}");
	ok(!RUN(0) && close4(xf, last), "ddim, last step: x0 without noise");
	st.sampler = DIT_DDPM;
	ok(dit_sampler_update(&m, &s, &st, 3, xf, out, NULL, 4) != 0,
	   "ddpm refuses a noisy step without noise");
#undef RUN
	(void)x;
}

static const char *const xl_keys[] = { "random_weights=true", "variant=DiT-XL/2", NULL };

/* plan: XL/2 at 256 px allows 1..16, sampling refusals name the problem. */
static void check_plan(struct mt_rig *r)
{
	struct ts_req_params p = { .class_label = 207, .steps = 50 };
	struct ts_work w;
	const int degrees[] = { 1, 2, 4, 8, 16 };

	ok(!r->ops->plan(r->model, &p, &w) && w.tokens == 256 && w.latent_elems == 4 * 32 * 32 &&
	   w.n_degrees == 5 && !memcmp(w.degrees, degrees, sizeof(degrees)) && w.steps == 50,
	   "XL/2 256 px: 256 tokens, degrees 1 2 4 8 16");
	ok(strstr(w.klass_key, "cfg1") != NULL, "guidance 4 (the default) is in the klass key");
	mt_capture();
	p.class_label = 1000;
	ok(r->ops->plan(r->model, &p, &w) != 0 && mt_logged("class_label 1000 out of"),
	   "label 1000 (the null row) is not a class");
	p.class_label = 1;
	p.sampler = "euler";
	ok(r->ops->plan(r->model, &p, &w) != 0 && mt_logged("unknown sampler 'euler'"),
	   "an unknown sampler is refused");
	p.sampler = "ddpm";
	p.steps = 1;
	ok(r->ops->plan(r->model, &p, &w) != 0 && mt_logged("at least 2 steps"),
	   "ddpm with one step is refused (upstream needs two)");
	p.sampler = "ddim";
	ok(!r->ops->plan(r->model, &p, &w), "ddim with one step is fine");
	mt_release();
}

/* cost: the spec's GMACs per forward (§1.1) and the degree split. */
static void check_cost(struct mt_rig *r)
{
	struct ts_device_info dev = { .kind = "H100", .peak_flops = 1e15, .link_bytes_s = 1e18,
				      .link_latency_s = 1e-12 };
	struct ts_req_params p = { .class_label = 1, .guidance = 1.0f };
	struct ts_work w, wc;
	static const char *const b2_keys[] = { "random_weights=true", "variant=DiT-B/2", NULL };
	struct mt_rig s2 = { .host = r->host, .ops = r->ops };
	double xl, s, c1, c2, c16;

	r->ops->plan(r->model, &p, &w);
	p.guidance = 4.0f;
	r->ops->plan(r->model, &p, &wc);
	xl = r->ops->cost(r->model, &w, 1, 1, &dev);
	ok(r->ops->cost(r->model, &w, 3, 1, &dev) < 0, "degree 3 does not divide 16 heads: no cost");
	ok(fabs(r->ops->cost(r->model, &wc, 1, 1, &dev) / xl - 2) < 1e-9,
	   "guidance doubles the batch");
	ok(fabs(r->ops->cost(r->model, &w, 1, 3, &dev) / xl - 3) < 1e-9, "cost is linear in batch");
	c1 = r->ops->cost(r->model, &w, 1, 1, &dev);
	c2 = r->ops->cost(r->model, &w, 2, 1, &dev);
	c16 = r->ops->cost(r->model, &w, 16, 1, &dev);
	ok(c2 / c1 > 0.5 && c2 / c1 < 0.51 && c16 < c2, "degree 2 halves the split work (%.4f)",
	   c2 / c1);
	dev.link_bytes_s = 1e9;
	ok(r->ops->cost(r->model, &w, 16, 1, &dev) > c16, "a slow link costs degree 16 more");
	dev.link_bytes_s = 1e18;
	dev.link_latency_s = 1e-3;
	ok(r->ops->cost(r->model, &w, 2, 1, &dev) > c1, "so does a slow start of collectives");
	if (!ok(!dt_configure(&s2, b2_keys), "DiT-B/2 configured"))
		goto out;
	p.guidance = 1.0f;
	r->ops->plan(s2.model, &p, &w);
	s = r->ops->cost(s2.model, &w, 1, 1, &dev);
	/* 118.62 and 23.01 GMACs per forward and sample (spec/models.md §1.1) */
	ok(fabs(xl / s - 118.62 / 23.01) < 0.002 * (118.62 / 23.01),
	   "XL/2 vs B/2 cost ratio %.4f, the spec's GMACs give %.4f", xl / s, 118.62 / 23.01);
out:
	if (s2.model)
		r->ops->release(s2.model);
	ts_config_free(s2.cfg);
}

int main(int argc, char **argv)
{
	struct mt_rig r = { 0 };

	dt_init(argv[0]);
	check_timesteps();
	check_coefficients();
	check_updates();
	r.host = ts_host_api();
	if (ok(!dt_load_module() && (r.ops = ts_find_model("dit")) && !dt_configure(&r, xl_keys),
	       "DiT-XL/2 configured with random weights")) {
		check_plan(&r);
		check_cost(&r);
	}
	if (r.model)
		r.ops->release(r.model);
	ts_config_free(r.cfg);
	return tap_done();
}
