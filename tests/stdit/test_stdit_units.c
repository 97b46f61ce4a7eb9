/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/test_stdit_units.c - the module's host-side math, linked from
 * its objects: RFLOW's transformed timesteps and the VAE's latent length
 * against spec/models.md §4.9's worked examples, and the cost model against
 * §4.10's table (MACs of STDiT3-XL/2 per sample-forward) and its expected
 * shape in frames, size and degree.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stdit.h"
#include "tap.h"

static void check_timesteps(void)
{
	double t[30];

	/* 240 x 426, 51 frames: ratio sqrt(240 * 426) / 512 * sqrt(15) = 2.419 */
	stdit_rflow_timesteps(t, 30, 1, 240, 426, 51);
	ok(fabs(t[0] - 1000) < 1e-9 && fabs(t[1] - 985.9) < 0.05 && fabs(t[2] - 971.3) < 0.05 &&
	   fabs(t[28] - 147.3) < 0.05 && fabs(t[29] - 77.0) < 0.05,
	   "240p 51 frames: %.1f %.1f %.1f ... %.1f %.1f", t[0], t[1], t[2], t[28], t[29]);
	stdit_rflow_timesteps(t, 30, 1, 720, 1280, 102);
	ok(fabs(t[1] - 996.7) < 0.05 && fabs(t[2] - 993.1) < 0.05 && fabs(t[28] - 423.2) < 0.05 &&
	   fabs(t[29] - 261.5) < 0.05,
	   "720p 102 frames: %.1f %.1f %.1f ... %.1f %.1f", t[0], t[1], t[2], t[28], t[29]);
	stdit_rflow_timesteps(t, 30, 0, 720, 1280, 102);
	ok(fabs(t[1] - 1000.0 * 29 / 30) < 1e-9 && fabs(t[29] - 1000.0 / 30) < 1e-9,
	   "without the transform t_i = (1 - i/30) 1000");
	stdit_rflow_timesteps(t, 30, 1, 512, 512, 1);
	ok(fabs(t[7] - 1000.0 * 23 / 30) < 1e-9, "an image at 512 x 512 has ratio 1");
	stdit_rflow_timesteps(t, 30, 1, 512, 512, 9);
	ok(fabs(t[7] - 1000.0 * 23 / 30) < 1e-9 && t[29] > 0,
	   "9 frames count as one (upstream's (9 // 17) * 5 = 0 would zero every t)");
}

static void check_latent_frames(void)
{
	ok(stdit_latent_frames(1) == 1 && stdit_latent_frames(4) == 1 &&
	   stdit_latent_frames(5) == 2 && stdit_latent_frames(17) == 5 &&
	   stdit_latent_frames(51) == 15 && stdit_latent_frames(102) == 30 &&
	   stdit_latent_frames(20) == 6 && stdit_latent_frames(204) == 60,
	   "latent frames: 1->1, 4->1, 5->2, 17->5, 20->6, 51->15, 102->30, 204->60");
}

static const struct stdit_model xl = {
	.in_ch = 4, .out_ch = 8, .pt = 1, .ph = 2, .pw = 2, .hidden = 1152, .depth = 28,
	.heads = 16, .head_dim = 72, .mlp_hidden = 4608, .cap_ch = 4096, .cap_len = 300,
	.freq_dim = 256, .name = "xl",
};

static void check_macs(void)
{
	/* spec §4.10: res, frames -> T', S, TMACs with Ly = 300 */
	static const struct { int64_t tg, S; double tmacs; } rows[] = {
		{ 1, 405, 0.49 }, { 15, 405, 6.77 }, { 30, 405, 13.5 }, { 15, 920, 15.8 },
		{ 15, 1590, 28.3 }, { 15, 3600, 70.9 }, { 30, 3600, 141.9 }, { 60, 3600, 284.2 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double got = stdit_macs(&xl, rows[i].tg, rows[i].S, 300, 1) / 1e12;

		ok(fabs(got - rows[i].tmacs) / rows[i].tmacs < 0.01,
		   "XL/2 MACs, T' %lld x S %lld: %.2f T (spec %.2f)", (long long)rows[i].tg,
		   (long long)rows[i].S, got, rows[i].tmacs);
	}
	ok(stdit_macs(&xl, 15, 405, 300, 4) < stdit_macs(&xl, 15, 405, 300, 1) / 3.5,
	   "token work splits over the ranks (the caption MLP does not)");
}

static struct ts_work work_of(int64_t T, int64_t H, int64_t W, int cfg)
{
	struct ts_work w = { .latent_shape_ndim = 5, .latent_shape = { 1, 4, T, H, W } };

	snprintf(w.klass_key, sizeof(w.klass_key), "stdit3:xl:x:cfg%d", cfg);
	for (int k = 1; k <= 16; k *= 2)
		w.degrees[w.n_degrees++] = k;
	return w;
}

static void check_cost(void)
{
	struct ts_device_info gpu = { .kind = "H100", .peak_flops = 4e14, .link_bytes_s = 1e11,
				      .link_latency_s = 1e-5 };
	struct ts_device_info slow = gpu;
	struct ts_work p240 = work_of(15, 30, 53, 1), p240l = work_of(30, 30, 53, 1);
	struct ts_work p720 = work_of(15, 90, 160, 1), nocfg = work_of(15, 30, 53, 0);
	double c1 = stdit_cost((void *)&xl, &p720, 1, 1, &gpu);
	double c8 = stdit_cost((void *)&xl, &p720, 8, 1, &gpu);

	slow.link_bytes_s = 1e8;
	ok(stdit_cost((void *)&xl, &p240l, 1, 1, &gpu) > 1.9 * stdit_cost((void *)&xl, &p240, 1, 1,
									   &gpu),
	   "twice the frames cost about twice");
	ok(c1 > 8 * stdit_cost((void *)&xl, &p240, 1, 1, &gpu), "720p costs > 8x 240p");
	ok(c8 < c1 / 6 && c8 * 8 > c1, "720p at degree 8: %.3f s vs %.3f s (faster, less efficient)",
	   c8, c1);
	ok(fabs(stdit_cost((void *)&xl, &p240, 1, 1, &gpu) -
		2 * stdit_cost((void *)&xl, &nocfg, 1, 1, &gpu)) < 1e-12,
	   "guidance doubles the step");
	ok(stdit_cost((void *)&xl, &p240, 2, 1, &slow) > stdit_cost((void *)&xl, &p240, 1, 1, &slow),
	   "on a slow link degree 2 loses");
	ok(stdit_cost((void *)&xl, &p240, 3, 1, &gpu) < 0, "a degree plan() did not allow is refused");
	ok(stdit_cost((void *)&xl, &p240, 1, 2, &gpu) > 1.99 * stdit_cost((void *)&xl, &p240, 1, 1,
									  &gpu),
	   "a batch of two costs twice");
}

int main(void)
{
	check_timesteps();
	check_latent_frames();
	check_macs();
	check_cost();
	return tap_done();
}
