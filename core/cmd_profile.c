// SPDX-License-Identifier: MIT
/*
 * core/cmd_profile.c - `tetriserve profile`: measure a model's step time on
 * the configured backend for each size x degree x batch, the way the
 * paper's Table 1 does (warm-up steps dropped, then repeats: median and
 * coefficient of variation), and write the profile CSV the cost tables read
 * (model,width,height,degree,batch,step_s with step_s the median). A
 * [model NAME] with `profile = that.csv` is then planned with measured times.
 *
 * Degree k runs on devices 0..k-1 over their communicator from the group
 * cache, through the real executor's step path (no engine, no policy).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "cli.h"
#include "groupcache.h"
#include "log.h"
#include "pool.h"
#include "rt.h"

#define WHO "profile"
#define PROF_MAX 32

struct prof_opts {
	const char *config, *model, *out;
	int w[PROF_MAX], h[PROF_MAX], n_sizes;
	int deg[PROF_MAX], n_deg;
	int batch[PROF_MAX], n_batch;
	int warmup, repeats, devices;
};

static void profile_usage(void)
{
	printf("usage: tetriserve profile --config F --model NAME --out CSV [--sizes WxH,...]\n"
	       "                           [--degrees 1,2,4] [--batches 1,2] [--warmup N]\n"
	       "                           [--repeats N] [--devices N]\n\n"
	       "Measure seconds per denoising step on the config's [pool] for every size,\n"
	       "degree and batch (defaults: the model's default size, every degree it allows\n"
	       "up to the pool's size, batch 1; 3 warm-up steps, 10 repeats), print the median\n"
	       "and coefficient of variation, and write the medians as a profile CSV.\n");
}

static int parse_ints(const char *s, int *out, int *n)
{
	char *end;

	*n = 0;
	while (*s && *n < PROF_MAX) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > 1 << 20 || (*end && *end != ','))
			return TS_EINVAL;
		out[(*n)++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : TS_EINVAL;
}

static int parse_sizes(const char *s, struct prof_opts *o)
{
	char *end;

	o->n_sizes = 0;
	while (*s && o->n_sizes < PROF_MAX) {
		long w = strtol(s, &end, 10), h;

		if (end == s || *end != 'x' || w < 1)
			return TS_EINVAL;
		s = end + 1;
		h = strtol(s, &end, 10);
		if (end == s || h < 1 || (*end && *end != ','))
			return TS_EINVAL;
		o->w[o->n_sizes] = (int)w;
		o->h[o->n_sizes++] = (int)h;
		s = *end ? end + 1 : end;
	}
	return o->n_sizes ? 0 : TS_EINVAL;
}

static int parse_opts(int argc, char **argv, struct prof_opts *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "model", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "degrees", required_argument, NULL, 'd' },
		{ "batches", required_argument, NULL, 'b' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "repeats", required_argument, NULL, 'r' },
		{ "devices", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	*o = (struct prof_opts){ .warmup = 3, .repeats = 10, .batch = { 1 }, .n_batch = 1 };
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:m:o:s:d:b:w:r:k:", lo, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'm': o->model = optarg; break;
		case 'o': o->out = optarg; break;
		case 's': bad |= parse_sizes(optarg, o); break;
		case 'd': bad |= parse_ints(optarg, o->deg, &o->n_deg); break;
		case 'b': bad |= parse_ints(optarg, o->batch, &o->n_batch); break;
		case 'w': o->warmup = atoi(optarg); break;
		case 'r': o->repeats = atoi(optarg); break;
		case 'k': o->devices = atoi(optarg); break;
		default: return TS_EINVAL;
		}
	}
	if (bad || optind != argc || !o->config || !o->model || !o->out || o->warmup < 0 ||
	    o->repeats < 1 || o->warmup + o->repeats > 1000 || o->devices < 0) {
		ts_err(WHO, "need --config, --model, --out; lists like 64x64,128x128 and 1,2,4; "
		       "1 <= warmup + repeats <= 1000");
		return TS_EINVAL;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median and coefficient of variation (sample standard deviation / mean) of @v. */
static void stats(double *v, int n, double *median, double *cv)
{
	double mean = 0, var = 0;

	for (int i = 0; i < n; i++)
		mean += v[i] / n;
	for (int i = 0; i < n && n > 1; i++)
		var += (v[i] - mean) * (v[i] - mean) / (n - 1);
	qsort(v, n, sizeof(*v), cmp_double);
	*median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
	*cv = mean > 0 ? sqrt(var) / mean : 0;
}

static int allowed(const struct ts_work *w, int k)
{
	for (int i = 0; i < w->n_degrees; i++)
		if (w->degrees[i] == k)
			return 1;
	return 0;
}

/* One size: every degree and batch; rows appended to @f. */
static int profile_size(struct ts_rt *rt, const struct ts_rt_model *m, const struct prof_opts *o,
			struct ts_req_params *p, FILE *f)
{
	const int *deg = o->n_deg ? o->deg : NULL;
	int n_deg = o->n_deg, n = o->warmup + o->repeats, err;
	double t[1000];
	struct ts_work w;

	err = m->ops->plan(m->inst, p, &w);
	if (err)
		return err;
	if (!p->width) {
		/* latent diffusion models here decode 8 pixels per latent cell */
		p->width = 8 * (int)w.latent_shape[w.latent_shape_ndim - 1];
		p->height = 8 * (int)w.latent_shape[w.latent_shape_ndim - 2];
	}
	if (!deg) {
		deg = w.degrees;
		n_deg = w.n_degrees;
	}
	for (int i = 0; !err && i < n_deg; i++) {
		struct ts_devset set;
		struct ts_group *g;

		if (!allowed(&w, deg[i]) || deg[i] > rt->pool->n) {
			ts_warn(WHO, "%s %dx%d: degree %d skipped (not allowed or > %d devices)",
				m->name, p->width, p->height, deg[i], rt->pool->n);
			continue;
		}
		ts_devset_zero(&set);
		for (int d = 0; d < deg[i]; d++)
			ts_devset_add(&set, d);
		err = ts_groupcache_acquire(rt->cache, &set, &g);
		for (int b = 0; !err && b < o->n_batch; b++) {
			double med, cv;

			if (o->batch[b] > w.max_batch || o->batch[b] > TS_RUN_MAX_BATCH) {
				ts_warn(WHO, "batch %d skipped (the model batches up to %d)",
					o->batch[b], w.max_batch);
				continue;
			}
			err = ts_exec_real_time_steps(rt->exec, m->id, p, o->batch[b], &set, g->comm,
						      n, t);
			if (err)
				break;
			stats(t + o->warmup, o->repeats, &med, &cv);
			printf("%-16s %5dx%-5d %6d %5d %12.3f %7.2f\n", m->name, p->width, p->height,
			       deg[i], o->batch[b], 1e3 * med, 100 * cv);
			fprintf(f, "%s,%d,%d,%d,%d,%.9f\n", m->name, p->width, p->height, deg[i],
				o->batch[b], med);
		}
		if (!err)
			ts_groupcache_release(rt->cache, g);
	}
	return err;
}

static int profile_run(int argc, char **argv)
{
	struct prof_opts o;
	struct ts_rt_opts ro = { 0 };
	struct ts_rt *rt = NULL;
	const struct ts_rt_model *m;
	FILE *f = NULL;
	int err;

	if (parse_opts(argc, argv, &o))
		return 2;
	ro.n_devices = o.devices;
	if (ts_rt_open(o.config, &ro, &rt))
		return 1;
	m = ts_rt_model(rt, o.model);
	err = m ? 0 : TS_ENOENT;
	if (!m)
		ts_err(WHO, "%s has no [model %s] with a model module", o.config, o.model);
	f = err ? NULL : fopen(o.out, "w");
	if (!err && !f) {
		ts_err(WHO, "cannot write %s", o.out);
		err = TS_EIO;
	}
	if (!err) {
		fprintf(f, "model,width,height,degree,batch,step_s\n");
		printf("%-16s %11s %6s %5s %12s %7s\n", "model", "size", "degree", "batch",
		       "median_ms", "cv_%");
	}
	for (int i = 0; !err && i < (o.n_sizes ? o.n_sizes : 1); i++) {
		struct ts_req_params p = { .seed = 1, .class_label = 0,
					   .width = o.n_sizes ? o.w[i] : 0,
					   .height = o.n_sizes ? o.h[i] : 0 };

		err = profile_size(rt, m, &o, &p, f);
	}
	if (f && fclose(f) && !err) {
		ts_err(WHO, "cannot write %s", o.out);
		err = TS_EIO;
	}
	if (!err)
		printf("profile: %s\n", o.out);
	ts_rt_close(rt);
	return err ? 1 : 0;
}

const struct ts_cmd ts_cmd_profile = {
	.name = "profile",
	.summary = "measure step times (median, CV) per size, degree, batch; write a profile CSV",
	.run = profile_run,
	.usage = profile_usage,
};
