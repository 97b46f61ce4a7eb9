/* SPDX-License-Identifier: MIT */
/*
 * bench/dit/bench_dit.c - one DiT forward on the CPU backend, timed: a
 * denoising step of one request with guidance (so a forward of batch 2,
 * as sample.py runs it) through dit.so's model ops on one CPU device with
 * --threads threads. Prints the median step time and the process's peak
 * resident memory (weights included) for bench/dit/run.
 *
 *   bench_dit [--variant DiT-XL/2] [--input-size 32] [--threads 2] [--reps 3]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <tetri/tetri.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "../common/bench.h"
#include "../common/bench_model.h"

struct bench {
	struct bench_model m;
	struct ts_config *cfg;
};

static int load_model(struct bench *b, const char *argv0, const char *variant, int input)
{
	struct ts_section *sec;
	char size[32];

	if (bench_load_module(argv0, "dit"))
		return -1;
	b->m.ops = ts_find_model("dit");
	b->cfg = ts_config_new();
	sec = ts_config_section_get(b->cfg, "model bench");
	snprintf(size, sizeof(size), "%d", input);
	if (!b->m.ops || ts_section_set(sec, "variant", variant, "bench") ||
	    ts_section_set(sec, "input_size", size, "bench") ||
	    ts_section_set(sec, "random_weights", "true", "bench") ||
	    ts_section_validate(sec, b->m.ops->keys, NULL))
		return -1;
	return b->m.ops->configure(b->m.host, sec, &b->m.model);
}

/* The device, then a guided request begun from its seed's noise. */
static int setup(struct bench_model *m, int threads)
{
	float *lat;
	int err;

	if (bench_model_device(m, threads))
		return -1;
	m->p = (struct ts_req_params){ .seed = 1, .class_label = 207, .guidance = 4.0f };
	if (bench_model_request(m))
		return -1;
	lat = malloc(sizeof(float) * (size_t)m->w.latent_elems);
	err = !lat;
	if (!err)
		err = m->ops->begin(m->model, &m->w, &m->p, m->state, lat);
	if (!err)
		err = m->host->dev_upload(m->dev, m->latent, lat, TS_F32, m->w.latent_elems);
	free(lat);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "variant", required_argument, NULL, 'v' },
		{ "input-size", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *variant = "DiT-XL/2";
	int input = 32, threads = 2, reps = 3, c;
	struct bench b = { 0 };
	double t[64];

	while ((c = getopt_long(argc, argv, "v:i:t:r:", lo, NULL)) != -1) {
		switch (c) {
		case 'v': variant = optarg; break;
		case 'i': input = atoi(optarg); break;
		case 't': threads = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default: return 2;
		}
	}
	if (reps < 1 || reps > 64 || threads < 1)
		return 2;
	ts_log_set_level(TS_LOG_WARN);
	b.m.host = ts_host_api();
	if (load_model(&b, argv[0], variant, input) || setup(&b.m, threads)) {
		fprintf(stderr, "bench_dit: setup failed\n");
		return 1;
	}
	/* one warm-up step, then the timed ones */
	for (b.m.step = 0; b.m.step <= reps; b.m.step++) {
		double t0 = bench_now_s();

		if (bench_model_step(&b.m)) {
			fprintf(stderr, "bench_dit: step failed\n");
			return 1;
		}
		if (b.m.step)
			t[b.m.step - 1] = bench_now_s() - t0;
	}
	bench_sort(t, reps);
	printf("ours: %s %d px batch 2, %d threads: forward %.3f s (median of %d), peak RSS %.0f MiB\n",
	       variant, input * 8, threads, t[reps / 2], reps, bench_peak_rss_mib());
	printf("ours_forward_s=%.4f ours_peak_mib=%.1f\n", t[reps / 2], bench_peak_rss_mib());
	return 0;
}
