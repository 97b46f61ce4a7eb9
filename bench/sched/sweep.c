/* SPDX-License-Identifier: MIT */
/*
 * bench/sched/sweep.c - the paper's evaluation (issue 3, item 5) in one
 * process: every sweep, every policy, three trace seeds, through the C
 * simulator (core/sim.h). bench/sched/run builds it, generates the traces
 * and draws the plots; this program runs the simulations, writes
 *   OUT/runs.csv            one row per simulation (every seed)
 *   OUT/<sweep>.csv         seed-averaged rows, the tables printed below
 *   OUT/<sweep>-<x>.dat     seed-averaged SAR per policy, for gnuplot
 *   OUT/gains.txt           the Must-show figures of the SLO sweep
 * and prints a table per sweep: SAR, mean and p99 latency, GPU-seconds and
 * the SAR upper bound (core/bound.c) of each row.
 *
 *   sweep BUILDDIR OUTDIR
 * Traces: traces/<model>-<mix>-r<rate>-s1.csv ships with the project;
 * the other seeds and rates are read from OUTDIR/traces/ (same names).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "log.h"
#include "registry.h"
#include "sim.h"

#define N_SEEDS 3
#define MAX_POL 16

struct pol {
	const char *label, *name;
	const char *params[4];
	int baseline;
};

static const struct pol flux_pols[] = {
	{ "fixed-1", "fixed", { "k=1" }, 1 },
	{ "fixed-2", "fixed", { "k=2" }, 1 },
	{ "fixed-4", "fixed", { "k=4" }, 1 },
	{ "fixed-8", "fixed", { "k=8" }, 1 },
	{ "rssp", "rssp", { "rule=slo" }, 1 },
	{ "rssp-eff", "rssp", { "rule=efficiency" }, 1 },
	{ "edf", "edf", { NULL }, 1 },
	{ "tetri", "tetri", { NULL }, 0 },
	{ "slice", "slice", { NULL }, 0 },
};
#define N_FLUX (int)(sizeof(flux_pols) / sizeof(flux_pols[0]))

static const struct pol sd3_pols[] = {
	{ "fixed-1", "fixed", { "k=1" }, 1 },
	{ "fixed-2", "fixed", { "k=2" }, 1 },
	{ "fixed-4", "fixed", { "k=4" }, 1 },
	{ "rssp", "rssp", { "rule=slo" }, 1 },
	{ "rssp-eff", "rssp", { "rule=efficiency" }, 1 },
	{ "edf", "edf", { NULL }, 1 },
	{ "tetri", "tetri", { NULL }, 0 },
	{ "slice", "slice", { NULL }, 0 },
};
#define N_SD3 (int)(sizeof(sd3_pols) / sizeof(sd3_pols[0]))

static const struct pol ablation_pols[] = {
	{ "dp-only", "tetri", { "preserve=0", "scaleup=0" }, 0 },
	{ "+preserve", "tetri", { "preserve=1", "scaleup=0" }, 0 },
	{ "+scaleup", "tetri", { "preserve=1", "scaleup=1" }, 0 },
};

/* Seed-averaged outcome of one cell (policy x setting). */
struct avg {
	double sar, lat_mean, lat_p99, gpu_s, bound;
	double res_sar[4]; /* 256, 512, 1024, 2048 */
	double migrations; /* device-set changes between a request's assignments */
	int n;
};

struct bench {
	const char *out;
	FILE *runs;
	struct ts_sim_env *flux, *sd3;
};

static const int res_w[4] = { 256, 512, 1024, 2048 };

static int trace_path(const struct bench *b, const char *model, const char *mix, int rate,
		      int seed, char *buf, size_t n)
{
	FILE *f;

	snprintf(buf, n, "traces/%s-%s-r%d-s%d.csv", model, mix, rate, seed);
	f = fopen(buf, "r");
	if (!f) {
		snprintf(buf, n, "%s/traces/%s-%s-r%d-s%d.csv", b->out, model, mix, rate, seed);
		f = fopen(buf, "r");
	}
	if (!f) {
		ts_err("sweep", "no trace %s-%s-r%d-s%d.csv in traces/ or %s/traces/", model, mix,
		       rate, seed, b->out);
		return TS_ENOENT;
	}
	fclose(f);
	return 0;
}

static void add_run(struct avg *a, const struct ts_sim_result *r)
{
	a->sar += r->sar;
	a->lat_mean += r->latency_mean;
	a->lat_p99 += r->latency_p99;
	a->gpu_s += r->gpu_seconds;
	a->bound += r->sar_upper_bound;
	a->migrations += r->migrations;
	for (int i = 0; i < r->n_res; i++)
		for (int k = 0; k < 4; k++)
			if (r->by_res[i].width == res_w[k] && r->by_res[i].n)
				a->res_sar[k] += (double)r->by_res[i].met / r->by_res[i].n;
	a->n++;
}

static void finish_avg(struct avg *a)
{
	if (!a->n)
		return;
	a->sar /= a->n;
	a->lat_mean /= a->n;
	a->lat_p99 /= a->n;
	a->gpu_s /= a->n;
	a->bound /= a->n;
	a->migrations /= a->n;
	for (int k = 0; k < 4; k++)
		a->res_sar[k] /= a->n;
}

/*
 * One cell: @p on model @model (env @env), mix, rate, SLO scale and round
 * granularity (0 = the config's), averaged over the seeds.
 */
static int run_cell(struct bench *b, const char *sweep, struct ts_sim_env *env, const char *model,
		    const char *mix, int rate, double slo, int gran, const struct pol *p,
		    struct avg *a)
{
	*a = (struct avg){ 0 };
	for (int seed = 1; seed <= N_SEEDS; seed++) {
		struct ts_sim_opts o = { .policy = p->name, .params = p->params, .slo_scale = slo,
					 .round_steps = gran, .quiet = 1 };
		struct ts_sim_result *r;
		struct ts_trace *t;
		char path[1024];
		int err = trace_path(b, model, mix, rate, seed, path, sizeof(path));

		if (!err)
			err = ts_trace_load(path, &t);
		if (err)
			return err;
		err = ts_sim_run(env, t, &o, &r);
		ts_trace_free(t);
		if (err) {
			ts_err("sweep", "%s: %s on %s failed (%s)", sweep, p->label, path,
			       ts_strerror(err));
			return err;
		}
		fprintf(b->runs, "%s,%s,%s,%d,%d,%.2f,%d,%s,%.4f,%.4f,%.4f,%.1f,%.4f\n", sweep,
			model, mix, rate, seed, slo, gran, p->label, r->sar, r->latency_mean,
			r->latency_p99, r->gpu_seconds, r->sar_upper_bound);
		add_run(a, r);
		ts_sim_result_free(r);
	}
	finish_avg(a);
	return 0;
}

static FILE *open_out(const struct bench *b, const char *name)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", b->out, name);
	f = fopen(path, "w");
	if (!f)
		ts_err("sweep", "cannot write %s", path);
	return f;
}

static void row_header(FILE *csv, const char *x)
{
	printf("  %-8s %-10s %6s %8s %8s %9s %6s\n", x, "policy", "SAR", "lat_mean", "lat_p99",
	       "GPU-s", "bound");
	fprintf(csv, "%s,policy,sar,latency_mean,latency_p99,gpu_seconds,sar_upper_bound,"
		"sar_256,sar_512,sar_1024,sar_2048\n", x);
}

static void row(FILE *csv, const char *x, const char *label, const struct avg *a)
{
	printf("  %-8s %-10s %6.3f %8.2f %8.2f %9.1f %6.3f\n", x, label, a->sar, a->lat_mean,
	       a->lat_p99, a->gpu_s, a->bound);
	fprintf(csv, "%s,%s,%.4f,%.4f,%.4f,%.1f,%.4f,%.4f,%.4f,%.4f,%.4f\n", x, label, a->sar,
		a->lat_mean, a->lat_p99, a->gpu_s, a->bound, a->res_sar[0], a->res_sar[1],
		a->res_sar[2], a->res_sar[3]);
}

/* Gains over the SLO sweep of one mix (the Must-show figures). */
struct gains {
	double tetri_vs_best, ours_vs_tetri, worst_ours_cell, worst_tetri_cell;
	int cells, tetri_cells_lost;
};

static void gains_add(struct gains *g, const struct pol *pols, int np, const struct avg *a)
{
	double best = 0.0, tetri = 0.0, ours = 0.0;

	for (int i = 0; i < np; i++) {
		if (pols[i].baseline && a[i].sar > best)
			best = a[i].sar;
		if (!strcmp(pols[i].label, "tetri"))
			tetri = a[i].sar;
		if (!strcmp(pols[i].label, "slice"))
			ours = a[i].sar;
	}
	g->tetri_vs_best += best > 0 ? tetri / best - 1.0 : 0.0;
	g->ours_vs_tetri += tetri > 0 ? ours / tetri - 1.0 : 0.0;
	if (!g->cells || ours - tetri < g->worst_ours_cell)
		g->worst_ours_cell = ours - tetri;
	if (!g->cells || tetri - best < g->worst_tetri_cell)
		g->worst_tetri_cell = tetri - best;
	g->tetri_cells_lost += tetri < best;
	g->cells++;
}

/* The SAR-vs-x sweep of one model and mix: rows, a .csv and a .dat for gnuplot. */
static int sweep_slo(struct bench *b, struct ts_sim_env *env, const char *model, const char *mix,
		     const struct pol *pols, int np, const double *slos, int ns, struct gains *g)
{
	char name[256];
	FILE *csv, *dat;
	int err = 0;

	snprintf(name, sizeof(name), "slo-%s-%s.csv", model, mix);
	csv = open_out(b, name);
	snprintf(name, sizeof(name), "slo-%s-%s.dat", model, mix);
	dat = open_out(b, name);
	if (!csv || !dat) {
		err = TS_EIO;
		goto out_close;
	}
	printf("\nSAR vs SLO scale: %s, %s mix, 12 req/min, %d seeds\n", model, mix, N_SEEDS);
	row_header(csv, "slo");
	fprintf(dat, "# slo");
	for (int i = 0; i < np; i++)
		fprintf(dat, " %s", pols[i].label);
	fprintf(dat, " bound\n");
	for (int s = 0; s < ns && !err; s++) {
		struct avg a[MAX_POL];
		char x[16];

		snprintf(x, sizeof(x), "%.1f", slos[s]);
		for (int i = 0; i < np && !err; i++) {
			err = run_cell(b, "slo", env, model, mix, 12, slos[s], 0, &pols[i], &a[i]);
			if (!err)
				row(csv, x, pols[i].label, &a[i]);
		}
		if (err)
			break;
		fprintf(dat, "%.1f", slos[s]);
		for (int i = 0; i < np; i++)
			fprintf(dat, " %.4f", a[i].sar);
		fprintf(dat, " %.4f\n", a[0].bound);
		if (g)
			gains_add(g, pols, np, a);
	}
out_close:
	if (csv)
		fclose(csv);
	if (dat)
		fclose(dat);
	return err;
}

/* SAR per resolution (the paper's spider plot, as a table) at 1.0x and 1.5x. */
static int sweep_res(struct bench *b, const char *mix)
{
	static const double slos[2] = { 1.0, 1.5 };
	char name[64];
	FILE *csv;
	int err = 0;

	snprintf(name, sizeof(name), "per-resolution-%s.csv", mix);
	csv = open_out(b, name);
	if (!csv)
		return TS_EIO;
	printf("\nSAR per resolution: flux1-dev, %s mix, 12 req/min, %d seeds\n", mix, N_SEEDS);
	printf("  %-4s %-10s %6s %6s %6s %6s %6s\n", "slo", "policy", "256", "512", "1024", "2048",
	       "all");
	fprintf(csv, "slo,policy,sar_256,sar_512,sar_1024,sar_2048,sar\n");
	for (int s = 0; s < 2 && !err; s++)
		for (int i = 0; i < N_FLUX && !err; i++) {
			struct avg a;

			err = run_cell(b, "per-resolution", b->flux, "flux", mix, 12, slos[s], 0,
				       &flux_pols[i], &a);
			if (err)
				break;
			printf("  %-4.1f %-10s %6.3f %6.3f %6.3f %6.3f %6.3f\n", slos[s],
			       flux_pols[i].label, a.res_sar[0], a.res_sar[1], a.res_sar[2],
			       a.res_sar[3], a.sar);
			fprintf(csv, "%.1f,%s,%.4f,%.4f,%.4f,%.4f,%.4f\n", slos[s],
				flux_pols[i].label, a.res_sar[0], a.res_sar[1], a.res_sar[2],
				a.res_sar[3], a.sar);
		}
	fclose(csv);
	return err;
}

static int sweep_rate(struct bench *b)
{
	static const int rates[] = { 6, 9, 12, 18, 24 };
	FILE *csv = open_out(b, "rate.csv"), *dat = open_out(b, "rate-uniform.dat");
	int err = 0;

	if (!csv || !dat) {
		err = TS_EIO;
		goto out_close;
	}
	printf("\nSAR vs arrival rate: flux1-dev, uniform mix, SLO 1.0x, %d seeds\n", N_SEEDS);
	row_header(csv, "rate");
	fprintf(dat, "# rate");
	for (int i = 0; i < N_FLUX; i++)
		fprintf(dat, " %s", flux_pols[i].label);
	fprintf(dat, " bound\n");
	for (int r = 0; r < 5 && !err; r++) {
		struct avg a[MAX_POL];
		char x[16];

		snprintf(x, sizeof(x), "%d", rates[r]);
		for (int i = 0; i < N_FLUX && !err; i++) {
			err = run_cell(b, "rate", b->flux, "flux", "uniform", rates[r], 1.0, 0,
				       &flux_pols[i], &a[i]);
			if (!err)
				row(csv, x, flux_pols[i].label, &a[i]);
		}
		if (err)
			break;
		fprintf(dat, "%d", rates[r]);
		for (int i = 0; i < N_FLUX; i++)
			fprintf(dat, " %.4f", a[i].sar);
		fprintf(dat, " %.4f\n", a[0].bound);
	}
out_close:
	if (csv)
		fclose(csv);
	if (dat)
		fclose(dat);
	return err;
}

/* One cell of the granularity sweep: run, print, append to @csv. */
static int gran_cell(struct bench *b, FILE *csv, int rate, int gran, const struct pol *p)
{
	struct avg a;
	int err = run_cell(b, "granularity", b->flux, "flux", "uniform", rate, 1.0, gran, p, &a);

	if (err)
		return err;
	printf("  %-5d %-6d %-8s %6.3f %8.2f %8.2f %9.1f %6.3f\n", rate, gran, p->label, a.sar,
	       a.lat_mean, a.lat_p99, a.gpu_s, a.bound);
	fprintf(csv, "%d,%d,%s,%.4f,%.4f,%.4f,%.1f,%.4f\n", rate, gran, p->label, a.sar,
		a.lat_mean, a.lat_p99, a.gpu_s, a.bound);
	return 0;
}

static int sweep_gran(struct bench *b)
{
	static const int grans[] = { 1, 2, 5, 10, 15 }, rates[] = { 6, 12, 18 };
	static const struct pol pols[] = {
		{ "tetri", "tetri", { NULL }, 0 },
		{ "slice", "slice", { NULL }, 0 },
	};
	FILE *csv = open_out(b, "granularity.csv");
	int err = 0;

	if (!csv)
		return TS_EIO;
	printf("\nRound granularity (steps): flux1-dev, uniform, SLO 1.0x, %d seeds\n", N_SEEDS);
	fprintf(csv, "rate,round_steps,policy,sar,latency_mean,latency_p99,gpu_seconds,"
		"sar_upper_bound\n");
	printf("  %-5s %-6s %-8s %6s %8s %8s %9s %6s\n", "rate", "steps", "policy", "SAR",
	       "lat_mean", "lat_p99", "GPU-s", "bound");
	for (int r = 0; r < 3 && !err; r++)
		for (int g = 0; g < 5 && !err; g++)
			for (int i = 0; i < 2 && !err; i++)
				err = gran_cell(b, csv, rates[r], grans[g], &pols[i]);
	fclose(csv);
	return err;
}

/* One row of the ablation: run, print, append to @csv. */
static int ablation_cell(struct bench *b, FILE *csv, const char *mix, double slo,
			 const struct pol *p)
{
	struct avg a;
	int err = run_cell(b, "ablation", b->flux, "flux", mix, 12, slo, 0, p, &a);

	if (err)
		return err;
	printf("  %-8s %-4.1f %-10s %6.3f %8.2f %8.2f %9.1f %6.3f %6.0f\n", mix, slo, p->label,
	       a.sar, a.lat_mean, a.lat_p99, a.gpu_s, a.bound, a.migrations);
	fprintf(csv, "%s,%.1f,%s,%.4f,%.4f,%.4f,%.1f,%.4f,%.1f\n", mix, slo, p->label, a.sar,
		a.lat_mean, a.lat_p99, a.gpu_s, a.bound, a.migrations);
	return 0;
}

static int sweep_ablation(struct bench *b)
{
	static const char *mixes[] = { "uniform", "skewed" };
	static const double slos[] = { 1.0, 1.5 };
	FILE *csv = open_out(b, "ablation.csv");
	int err = 0;

	if (!csv)
		return TS_EIO;
	printf("\nAblation (cumulative): flux1-dev, 12 req/min, %d seeds\n", N_SEEDS);
	printf("  %-8s %-4s %-10s %6s %8s %8s %9s %6s %6s\n", "mix", "slo", "variant", "SAR",
	       "lat_mean", "lat_p99", "GPU-s", "bound", "migr");
	fprintf(csv, "mix,slo,variant,sar,latency_mean,latency_p99,gpu_seconds,sar_upper_bound,"
		"migrations\n");
	for (int m = 0; m < 2 && !err; m++)
		for (int s = 0; s < 2 && !err; s++)
			for (int i = 0; i < 3 && !err; i++)
				err = ablation_cell(b, csv, mixes[m], slos[s], &ablation_pols[i]);
	fclose(csv);
	return err;
}

static int write_gains(const struct bench *b, const struct gains *u, const struct gains *s)
{
	FILE *f = open_out(b, "gains.txt");
	double ours = (u->ours_vs_tetri + s->ours_vs_tetri) / (u->cells + s->cells);
	double worst = fmin(u->worst_ours_cell, s->worst_ours_cell);

	if (!f)
		return TS_EIO;
	fprintf(f, "gain_uniform=%.4f gain_skewed=%.4f ours_vs_tetri=%.4f\n",
		u->tetri_vs_best / u->cells, s->tetri_vs_best / s->cells, ours);
	fclose(f);
	printf("\nMust-show (SLO sweep 1.0..1.5, 12 req/min, mean of %d seeds per cell):\n",
	       N_SEEDS);
	printf("  tetri vs best baseline: uniform %+.1f%%, skewed %+.1f%% (relative, mean over "
	       "cells)\n", 100 * u->tetri_vs_best / u->cells, 100 * s->tetri_vs_best / s->cells);
	printf("  cells where tetri < best baseline: uniform %d/%d, skewed %d/%d; worst margin "
	       "%+.3f / %+.3f SAR\n", u->tetri_cells_lost, u->cells, s->tetri_cells_lost, s->cells,
	       u->worst_tetri_cell, s->worst_tetri_cell);
	printf("  slice (ours) vs tetri: %+.1f%% (relative, mean over both mixes); worst cell "
	       "%+.3f SAR\n", 100 * ours, worst);
	return 0;
}

static int run_all(struct bench *b)
{
	static const double flux_slos[] = { 1.0, 1.1, 1.2, 1.3, 1.4, 1.5 };
	static const double sd3_slos[] = { 1.0, 1.1, 1.3, 1.5 };
	struct gains gu = { 0 }, gs = { 0 };
	int err;

	err = sweep_slo(b, b->flux, "flux", "uniform", flux_pols, N_FLUX, flux_slos, 6, &gu);
	if (!err)
		err = sweep_slo(b, b->flux, "flux", "skewed", flux_pols, N_FLUX, flux_slos, 6, &gs);
	if (!err)
		err = sweep_res(b, "uniform");
	if (!err)
		err = sweep_res(b, "skewed");
	if (!err)
		err = sweep_rate(b);
	if (!err)
		err = sweep_gran(b);
	if (!err)
		err = sweep_ablation(b);
	if (!err)
		err = sweep_slo(b, b->sd3, "sd3", "uniform", sd3_pols, N_SD3, sd3_slos, 4, NULL);
	if (!err)
		err = sweep_slo(b, b->sd3, "sd3", "skewed", sd3_pols, N_SD3, sd3_slos, 4, NULL);
	if (!err)
		err = write_gains(b, &gu, &gs);
	return err;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	char path[1024];
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s BUILDDIR OUTDIR\n", argv[0]);
		return 2;
	}
	b.out = argv[2];
	ts_log_set_level(TS_LOG_WARN);
	snprintf(path, sizeof(path), "%s/modules", argv[1]);
	ts_loader_set_path(path);
	b.runs = open_out(&b, "runs.csv");
	if (!b.runs)
		return 1;
	fprintf(b.runs, "sweep,model,mix,rate,seed,slo,round_steps,policy,sar,latency_mean,"
		"latency_p99,gpu_seconds,sar_upper_bound\n");
	err = ts_sim_env_load("configs/sim-flux1-dev-h100x8.ini", &b.flux);
	if (!err)
		err = ts_sim_env_load("configs/sim-sd3-medium-a40x4.ini", &b.sd3);
	if (!err)
		err = run_all(&b);
	ts_sim_env_free(b.flux);
	ts_sim_env_free(b.sd3);
	fclose(b.runs);
	ts_module_unload_all();
	return err ? 1 : 0;
}
