// SPDX-License-Identifier: MIT
/*
 * bench/vae/bench_vae.c - the SD VAE decode on the CPU backend, timed: the
 * latent "input.z" of a weights file written by vae_torch.py gen, through
 * vae3d.so's decoder ops on one CPU device with --threads threads. Prints
 * the median decode time and the process's peak resident memory (weights
 * included) for bench/vae/run, and writes the pixels so the torch side can
 * compare them.
 *
 *   bench_vae FILE [--threads 2] [--reps 3] [--budget-mib 0] [--out OUT] [--verbose]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <tetri/tetri.h>

#include "backend.h"
#include "../../core/config.h"
#include "log.h"
#include "registry.h"
#include "safetensors.h"
#include "../common/bench.h"

struct bench {
	const struct ts_host *host;
	const struct ts_decoder_ops *ops;
	void *dec;
	struct ts_tensor z, out;
	int reps;
	uint64_t budget;
	double *times, *cpu;
};

/* CPU seconds of the whole process (every thread), user and system. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
	       (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int on_dev(struct ts_dev *dev, int rank, void *arg)
{
	struct bench *b = arg;
	void *w = NULL;
	int err = b->ops->load(b->dec, dev, &w);

	for (int i = 0; !err && i < b->reps; i++) {
		double t0 = bench_now_s(), c0 = cpu_s();

		b->host->free(b->out.data);
		b->out.data = NULL;
		err = b->ops->decode(b->dec, dev, w, &b->z, b->budget, &b->out);
		b->times[i] = bench_now_s() - t0;
		b->cpu[i] = cpu_s() - c0;
	}
	if (w)
		b->ops->unload(b->dec, dev, w);
	return err;
}

static int configure(struct bench *b, const char *file, struct ts_config **cfg)
{
	struct ts_section *sec;

	*cfg = ts_config_new();
	sec = ts_config_section_get(*cfg, "model sd-vae");
	if (ts_section_set(sec, "weights", file, "bench") ||
	    ts_section_set(sec, "latent_scale", "1", "bench") ||
	    ts_section_validate(sec, b->ops->keys, NULL))
		return TS_EINVAL;
	return b->ops->configure(b->host, sec, &b->dec);
}

static int run(struct bench *b, const char *file, int threads, const char *out)
{
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_config *cfg = NULL;
	struct ts_dev *dev;
	struct ts_st *st;
	int err = ts_st_open(file, &st);

	if (err)
		return err;
	err = ts_st_get(st, "input.z", &b->z);
	if (!err)
		err = configure(b, file, &cfg);
	if (!err)
		err = ts_backend_open("cpu", b->host, 1, threads, &be_ops, &be);
	if (!err) {
		dev = be_ops->device(be, 0);
		err = ts_backend_run_spmd(&dev, 1, on_dev, b);
		be_ops->destroy(be);
	}
	if (!err && out) {
		b->out.name = "output.decode";
		err = ts_st_write(out, &b->out, 1, NULL);
	}
	if (b->dec)
		b->ops->release(b->dec);
	ts_config_free(cfg);
	ts_st_close(st);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "threads", required_argument, NULL, 't' },
		{ "reps", required_argument, NULL, 'r' },
		{ "budget-mib", required_argument, NULL, 'b' },
		{ "out", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .host = ts_host_api(), .reps = 3 };
	const char *out = NULL;
	int threads = 2, c, err;

	while ((c = getopt_long(argc, argv, "t:r:b:o:v", lo, NULL)) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 'r': b.reps = atoi(optarg); break;
		case 'b': b.budget = (uint64_t)atoll(optarg) << 20; break;
		case 'o': out = optarg; break;
		case 'v': ts_log_set_level(TS_LOG_DEBUG); break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || b.reps < 1 || threads < 1) {
		fprintf(stderr, "usage: bench_vae FILE [--threads N] [--reps R] [--budget-mib B] "
			"[--out OUT]\n");
		return 2;
	}
	b.times = calloc((size_t)b.reps, sizeof(double));
	b.cpu = calloc((size_t)b.reps, sizeof(double));
	err = b.times && b.cpu ? bench_load_module(argv[0], "vae3d") : TS_ENOMEM;
	b.ops = err ? NULL : ts_find_decoder("vae3d");
	if (!err && b.ops)
		err = run(&b, argv[optind], threads, out);
	if (!err && b.ops) {
		printf("ours decode [%lld, %lld, %lld, %lld]:", (long long)b.out.shape[0],
		       (long long)b.out.shape[1], (long long)b.out.shape[2],
		       (long long)b.out.shape[3]);
		bench_sort(b.times, b.reps);
		bench_sort(b.cpu, b.reps);
		for (int i = 0; i < b.reps; i++)
			printf(" %.3f", b.times[i]);
		printf(" s\nours_decode_s=%.4f ours_cpu_s=%.4f ours_peak_mib=%.1f\n",
		       b.times[b.reps / 2], b.cpu[b.reps / 2], bench_peak_rss_mib());
	}
	b.host->free(b.out.data);
	free(b.times);
	free(b.cpu);
	ts_module_unload_all();
	if (err || !b.ops)
		fprintf(stderr, "bench_vae: %s\n", ts_strerror(err ? err : TS_ENOENT));
	return err || !b.ops ? 1 : 0;
}
