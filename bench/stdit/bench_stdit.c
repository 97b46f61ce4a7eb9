/* SPDX-License-Identifier: MIT */
/*
 * bench/stdit/bench_stdit.c - one STDiT3 forward on the CPU backend, timed:
 * the first denoising step of one guided request (so a forward of batch 2,
 * [z; z] with [caption; null caption], as Open-Sora's RFLOW runs it) through
 * stdit.so's model ops on one CPU device with --threads threads, from the
 * weights and inputs bench/stdit/stdit_torch.py prepared. Each timed step
 * starts again from the file's z, so the last result is compared with the
 * torch side's update (--ref). Prints the median step time, the process's
 * peak resident memory (weights included) and the relative difference.
 *
 *   bench_stdit --case FILE [--ref TORCH_OUT] [--threads 2] [--reps 3] KEY=VALUE...
 * KEY=VALUE: the model section (hidden_size=1152 depth=2 ...) and the request
 * (width=, height=, frames=).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/tetri.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "safetensors.h"
#include "../common/bench.h"
#include "../common/bench_model.h"

struct bench {
	struct bench_model m;
	struct ts_config *cfg;
	struct ts_st *st;
	struct ts_tensor z, y, mask;
};

/* Model keys go to the section; width/height/frames to the request. */
static int load_model(struct bench *b, const char *argv0, const char *file, char **kv, int n)
{
	struct ts_section *sec;

	if (bench_load_module(argv0, "stdit"))
		return -1;
	b->m.ops = ts_find_model("stdit3");
	b->cfg = ts_config_new();
	sec = ts_config_section_get(b->cfg, "model bench");
	if (!b->m.ops || ts_section_set(sec, "weights", file, "bench"))
		return -1;
	for (int i = 0; i < n; i++) {
		char *eq = strchr(kv[i], '=');

		if (!eq)
			return -1;
		*eq = '\0';
		if (!strcmp(kv[i], "width"))
			b->m.p.width = atoi(eq + 1);
		else if (!strcmp(kv[i], "height"))
			b->m.p.height = atoi(eq + 1);
		else if (!strcmp(kv[i], "frames"))
			b->m.p.frames = atoi(eq + 1);
		else if (ts_section_set(sec, kv[i], eq + 1, "bench"))
			return -1;
	}
	if (ts_section_validate(sec, b->m.ops->keys, NULL))
		return -1;
	return b->m.ops->configure(b->m.host, sec, &b->m.model);
}

/* The case's inputs, the device, and a guided request planned for them. */
static int setup(struct bench *b, const char *file, int threads)
{
	struct bench_model *m = &b->m;

	if (ts_st_open(file, &b->st) || ts_st_get(b->st, "input.z", &b->z) ||
	    ts_st_get(b->st, "input.y", &b->y) || ts_st_get(b->st, "input.mask", &b->mask))
		return -1;
	if (bench_model_device(m, threads))
		return -1;
	m->p.seed = 1;
	m->p.guidance = 7.0f;
	m->p.fps = 24.0f;
	m->p.cond = &b->y;
	m->p.cond_mask = &b->mask;
	return bench_model_request(m) || m->w.latent_elems != ts_tensor_numel(&b->z);
}

/* begin() (timesteps, caption into the state), then the file's z as the latent. */
static int restart(struct bench *b)
{
	struct bench_model *m = &b->m;
	float *lat = malloc(sizeof(float) * (size_t)m->w.latent_elems);
	int err = !lat;

	if (!err)
		err = m->ops->begin(m->model, &m->w, &m->p, m->state, lat);
	if (!err)
		err = m->host->dev_upload(m->dev, m->latent, b->z.data, TS_F32, m->w.latent_elems);
	free(lat);
	return err;
}

/* ||ours - torch|| / ||torch|| of the step's updated latent; negative if unknown. */
static double compare(struct bench *b, const char *ref)
{
	int64_t n = b->m.w.latent_elems;
	float *ours = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
	struct ts_st *st = NULL;
	struct ts_tensor t;
	double num = 0, den = 0, e = -1;

	if (ours && want && !ts_st_open(ref, &st) && !ts_st_get(st, "output.z1", &t) &&
	    ts_tensor_numel(&t) == n && !b->m.host->dev_download(b->m.dev, ours, b->m.latent, n)) {
		memcpy(want, t.data, sizeof(float) * (size_t)n);
		for (int64_t i = 0; i < n; i++) {
			num += ((double)ours[i] - want[i]) * ((double)ours[i] - want[i]);
			den += (double)want[i] * want[i];
		}
		e = sqrt(num / den);
	}
	if (st)
		ts_st_close(st);
	free(ours);
	free(want);
	return e;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "case", required_argument, NULL, 'c' },
		{ "ref", required_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL, *ref = NULL;
	int threads = 2, reps = 3, c;
	struct bench b = { 0 };
	double t[64];

	while ((c = getopt_long(argc, argv, "c:f:t:r:", lo, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'f': ref = optarg; break;
		case 't': threads = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!file || reps < 1 || reps > 64 || threads < 1)
		return 2;
	ts_log_set_level(TS_LOG_WARN);
	b.m.host = ts_host_api();
	if (load_model(&b, argv[0], file, argv + optind, argc - optind) ||
	    setup(&b, file, threads)) {
		fprintf(stderr, "bench_stdit: setup failed\n");
		return 1;
	}
	/* one warm-up step, then the timed ones, each the request's first step */
	for (int i = 0; i <= reps; i++) {
		double t0;

		if (restart(&b))
			return 1;
		t0 = bench_now_s();
		if (bench_model_step(&b.m)) {
			fprintf(stderr, "bench_stdit: step failed\n");
			return 1;
		}
		if (i)
			t[i - 1] = bench_now_s() - t0;
	}
	bench_sort(t, reps);
	printf("ours: %dx%d px, %d frames, batch 2, %d threads: forward %.3f s (median of %d), "
	       "peak RSS %.0f MiB\n", b.m.p.width, b.m.p.height, b.m.p.frames, threads, t[reps / 2], reps,
	       bench_peak_rss_mib());
	if (ref)
		printf("ours_vs_torch_rel_l2=%.2e (the step's updated latent)\n", compare(&b, ref));
	printf("ours_forward_s=%.4f ours_peak_mib=%.1f\n", t[reps / 2], bench_peak_rss_mib());
	return 0;
}
