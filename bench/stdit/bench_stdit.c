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
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/tetri.h>

#include "backend.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "safetensors.h"

struct bench {
	const struct ts_host *host;
	const struct ts_model_ops *ops;
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *dev;
	struct ts_comm *comm;
	struct ts_config *cfg;
	struct ts_st *st;
	struct ts_tensor z, y, mask;
	void *model, *weights, *state, *latent, *scratch;
	struct ts_req_params p;
	struct ts_work w;
	size_t scratch_bytes;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

/* Model keys go to the section; width/height/frames to the request. */
static int load_model(struct bench *b, const char *argv0, const char *file, char **kv, int n)
{
	char path[PATH_MAX + 32], buf[PATH_MAX];
	struct ts_module *mod;
	struct ts_section *sec;

	snprintf(buf, sizeof(buf), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../modules/stdit.so", dirname(buf));
	if (ts_module_load_file(path, &mod))
		return -1;
	b->ops = ts_find_model("stdit3");
	b->cfg = ts_config_new();
	sec = ts_config_section_get(b->cfg, "model bench");
	if (!b->ops || ts_section_set(sec, "weights", file, "bench"))
		return -1;
	for (int i = 0; i < n; i++) {
		char *eq = strchr(kv[i], '=');

		if (!eq)
			return -1;
		*eq = '\0';
		if (!strcmp(kv[i], "width"))
			b->p.width = atoi(eq + 1);
		else if (!strcmp(kv[i], "height"))
			b->p.height = atoi(eq + 1);
		else if (!strcmp(kv[i], "frames"))
			b->p.frames = atoi(eq + 1);
		else if (ts_section_set(sec, kv[i], eq + 1, "bench"))
			return -1;
	}
	if (ts_section_validate(sec, b->ops->keys, NULL))
		return -1;
	return b->ops->configure(b->host, sec, &b->model);
}

static int setup(struct bench *b, const char *file, int threads)
{
	size_t bytes;

	if (ts_st_open(file, &b->st) || ts_st_get(b->st, "input.z", &b->z) ||
	    ts_st_get(b->st, "input.y", &b->y) || ts_st_get(b->st, "input.mask", &b->mask))
		return -1;
	if (ts_backend_open("cpu", b->host, 1, threads, &b->be_ops, &b->be))
		return -1;
	b->dev = b->be_ops->device(b->be, 0);
	if (b->be_ops->comm_create(b->be, &b->dev, 1, &b->comm, &bytes))
		return -1;
	if (b->ops->load(b->model, b->dev, &b->weights))
		return -1;
	b->p.seed = 1;
	b->p.guidance = 7.0f;
	b->p.fps = 24.0f;
	b->p.cond = &b->y;
	b->p.cond_mask = &b->mask;
	if (b->ops->plan(b->model, &b->p, &b->w) || b->w.latent_elems != ts_tensor_numel(&b->z))
		return -1;
	b->state = calloc(1, b->w.state_bytes);
	b->latent = b->host->dev_alloc(b->dev, (size_t)b->w.latent_elems);
	b->scratch_bytes = b->ops->scratch_bytes(b->model, &b->w, 1, 1);
	b->scratch = b->host->dev_alloc(b->dev, b->scratch_bytes / sizeof(float));
	return !b->state || !b->latent || !b->scratch;
}

/* begin() (timesteps, caption into the state), then the file's z as the latent. */
static int restart(struct bench *b)
{
	float *lat = malloc(sizeof(float) * (size_t)b->w.latent_elems);
	int err = !lat;

	if (!err)
		err = b->ops->begin(b->model, &b->w, &b->p, b->state, lat);
	if (!err)
		err = b->host->dev_upload(b->dev, b->latent, b->z.data, TS_F32, b->w.latent_elems);
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
		.state = state, .latent = latent, .scratch = b->scratch,
		.scratch_bytes = b->scratch_bytes,
	};

	return b->ops->step(&ctx);
}

/* ||ours - torch|| / ||torch|| of the step's updated latent; negative if unknown. */
static double compare(struct bench *b, const char *ref)
{
	int64_t n = b->w.latent_elems;
	float *ours = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * (size_t)n);
	struct ts_st *st = NULL;
	struct ts_tensor t;
	double num = 0, den = 0, e = -1;

	if (ours && want && !ts_st_open(ref, &st) && !ts_st_get(st, "output.z1", &t) &&
	    ts_tensor_numel(&t) == n && !b->host->dev_download(b->dev, ours, b->latent, n)) {
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
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
	struct ts_dev *devs[1];
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
	b.host = ts_host_api();
	if (load_model(&b, argv[0], file, argv + optind, argc - optind) ||
	    setup(&b, file, threads)) {
		fprintf(stderr, "bench_stdit: setup failed\n");
		return 1;
	}
	devs[0] = b.dev;
	/* one warm-up step, then the timed ones, each the request's first step */
	for (int i = 0; i <= reps; i++) {
		double t0;

		if (restart(&b))
			return 1;
		t0 = now_s();
		if (ts_backend_run_spmd(devs, 1, rank_step, &b)) {
			fprintf(stderr, "bench_stdit: step failed\n");
			return 1;
		}
		if (i)
			t[i - 1] = now_s() - t0;
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	printf("ours: %dx%d px, %d frames, batch 2, %d threads: forward %.3f s (median of %d), "
	       "peak RSS %.0f MiB\n", b.p.width, b.p.height, b.p.frames, threads, t[reps / 2], reps,
	       peak_rss_mib());
	if (ref)
		printf("ours_vs_torch_rel_l2=%.2e (the step's updated latent)\n", compare(&b, ref));
	printf("ours_forward_s=%.4f ours_peak_mib=%.1f\n", t[reps / 2], peak_rss_mib());
	return 0;
}
