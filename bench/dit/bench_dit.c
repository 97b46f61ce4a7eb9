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
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/tetri.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "registry.h"

struct bench {
	const struct ts_host *host;
	const struct ts_model_ops *ops;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev;
	struct ts_comm *comm;
	struct ts_config *cfg;
	void *model, *weights, *state, *latent, *scratch;
	struct ts_req_params p;
	struct ts_work w;
	size_t scratch_bytes;
	int step;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set (VmHWM) in MiB. */
static double peak_rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = atof(line + 6);
	if (f)
		fclose(f);
	return kb / 1024.0;
}

static int load_model(struct bench *b, const char *argv0, const char *variant, int input)
{
	char path[PATH_MAX + 32], buf[PATH_MAX], size[32];
	struct ts_module *mod;
	struct ts_section *sec;

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../modules/dit.so", dirname(buf));
	if (ts_module_load_file(path, &mod))
		return -1;
	b->ops = ts_find_model("dit");
	b->cfg = ts_config_new();
	sec = ts_config_section_get(b->cfg, "model bench");
	snprintf(size, sizeof(size), "%d", input);
	if (!b->ops || ts_section_set(sec, "variant", variant, "bench") ||
	    ts_section_set(sec, "input_size", size, "bench") ||
	    ts_section_set(sec, "random_weights", "true", "bench") ||
	    ts_section_validate(sec, b->ops->keys, NULL))
		return -1;
	return b->ops->configure(b->host, sec, &b->model);
}

static int setup(struct bench *b, int threads)
{
	size_t bytes;
	float *lat;
	int err;

	if (ts_backend_open("cpu", b->host, 1, threads, &b->be_ops, &b->be))
		return -1;
	b->dev = b->be_ops->device(b->be, 0);
	if (b->be_ops->comm_create(b->be, &b->dev, 1, &b->comm, &bytes))
		return -1;
	if (b->ops->load(b->model, b->dev, &b->weights))
		return -1;
	b->p = (struct ts_req_params){ .seed = 1, .class_label = 207, .guidance = 4.0f };
	if (b->ops->plan(b->model, &b->p, &b->w))
		return -1;
	b->state = calloc(1, b->w.state_bytes);
	lat = malloc(sizeof(float) * (size_t)b->w.latent_elems);
	b->latent = b->host->dev_alloc(b->dev, (size_t)b->w.latent_elems);
	b->scratch_bytes = b->ops->scratch_bytes(b->model, &b->w, 1, 1);
	b->scratch = b->host->dev_alloc(b->dev, b->scratch_bytes / sizeof(float));
	err = !b->state || !lat || !b->latent || !b->scratch;
	if (!err)
		err = b->ops->begin(b->model, &b->w, &b->p, b->state, lat);
	if (!err)
		err = b->host->dev_upload(b->dev, b->latent, lat, TS_F32, b->w.latent_elems);
	free(lat);
	return err;
}

static int rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct bench *b = arg;
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
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
	b.host = ts_host_api();
	if (load_model(&b, argv[0], variant, input) || setup(&b, threads)) {
		fprintf(stderr, "bench_dit: setup failed\n");
		return 1;
	}
	/* one warm-up step, then the timed ones */
	for (b.step = 0; b.step <= reps; b.step++) {
		double t0 = now_s();
		struct ts_dev *devs[1] = { b.dev };

		if (ts_backend_run_spmd(devs, 1, rank_step, &b)) {
			fprintf(stderr, "bench_dit: step failed\n");
			return 1;
		}
		if (b.step)
			t[b.step - 1] = now_s() - t0;
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	printf("ours: %s %d px batch 2, %d threads: forward %.3f s (median of %d), peak RSS %.0f MiB\n",
	       variant, input * 8, threads, t[reps / 2], reps, peak_rss_mib());
	printf("ours_forward_s=%.4f ours_peak_mib=%.1f\n", t[reps / 2], peak_rss_mib());
	return 0;
}
