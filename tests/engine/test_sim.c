// SPDX-License-Identifier: MIT
/*
 * tests/engine/test_sim.c - the simulator end to end on the reference traces
 * (traces/, copied from the shared set): the fixed policy loaded from its
 * .so through the registry, checked against an independent model of
 * xDiT-style FCFS; determinism; the summary's arithmetic; run-time policy
 * swaps that lose nothing and run nothing twice; the must-show timing.
 */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"
#include "sim.h"
#include "tap.h"

/*
 * FCFS at degree k, by hand: request i starts at the latest of its arrival,
 * the previous start (the head blocks the queue) and the time the k-th
 * device becomes free; it holds the k earliest-free devices until it ends.
 */
static int fcfs_reference(const struct ts_sim_env *env, const struct ts_trace *t, int k,
			  double *start, double *finish)
{
	int n = ts_sim_env_devices(env);
	double *freeat = calloc(n, sizeof(double)), prev = 0;

	for (int i = 0; i < t->n; i++) {
		const struct ts_trace_req *q = &t->req[i];
		const struct ts_cost *c = ts_costbook_find(ts_sim_env_costs(env), q->model, q->width,
							   q->height, 1);
		double s = fmax(q->arrival_s, prev);

		for (int a = 1; a < n; a++)  /* insertion sort: free times ascending */
			for (int b = a; b > 0 && freeat[b] < freeat[b - 1]; b--) {
				double x = freeat[b];

				freeat[b] = freeat[b - 1];
				freeat[b - 1] = x;
			}
		s = fmax(s, freeat[k - 1]);
		start[i] = s;
		finish[i] = s + q->steps * ts_cost_seconds(c, k, 1);
		for (int d = 0; d < k; d++)
			freeat[d] = finish[i];
		prev = s;
	}
	free(freeat);
	return 0;
}

static void check_against_reference(struct ts_sim_env *env, const char *trace, int k)
{
	struct ts_trace *t;
	struct ts_sim_result *r = NULL, *r2 = NULL;
	char kparam[16];
	const char *params[] = { kparam, NULL };
	struct ts_sim_opts o = { .policy = "fixed", .params = params, .quiet = 1 };
	double *st, *fin;
	int off = 0, met = 0, same = 1;

	snprintf(kparam, sizeof(kparam), "k=%d", k);
	if (!ok(!ts_trace_load(trace, &t), "load %s", trace))
		return;
	st = malloc(t->n * sizeof(double));
	fin = malloc(t->n * sizeof(double));
	fcfs_reference(env, t, k, st, fin);
	ok(!ts_sim_run(env, t, &o, &r) && !ts_sim_run(env, t, &o, &r2), "%s fixed k=%d", trace, k);
	if (!r || !r2)
		goto out;
	for (int i = 0; i < t->n; i++) {
		const struct ts_sim_req *q = &r->req[i];

		off += fabs(q->start_s - st[i]) > 1e-9 || fabs(q->finish_s - fin[i]) > 1e-9;
		off += !q->done || q->steps_run != q->steps || q->degrees_mask != 1ull << (k - 1);
		met += fin[i] <= t->req[i].arrival_s + t->req[i].slo_s;
		same &= q->finish_s == r2->req[i].finish_s;
	}
	ok(!off, "  every start and finish as the FCFS model says (%d off)", off);
	ok(r->met == met && r->completed == t->n, "  met %d = model's %d", r->met, met);
	ok(same && r->sar == r2->sar, "  same trace, same result");
out:
	ts_sim_result_free(r);
	ts_sim_result_free(r2);
	free(st);
	free(fin);
	ts_trace_free(t);
}

static void check_summary(struct ts_sim_env *env)
{
	struct ts_trace *t;
	struct ts_sim_result *r;
	const char *params[] = { "k=8", NULL };
	struct ts_sim_opts o = { .policy = "fixed", .params = params, .quiet = 1 };
	double gpu = 0;
	int met = 0, n = 0, below_p50 = 0;

	ts_trace_load("traces/flux-uniform-r12-s1.csv", &t);
	if (!ok(!ts_sim_run(env, t, &o, &r), "flux-uniform-r12, fixed k=8"))
		return;
	ok(r->wall_s < 2.0, "must-show: finishes in %.3f s of wall time (< 2 s)", r->wall_s);
	for (int i = 0; i < r->requests; i++) {
		gpu += r->req[i].gpu_s;
		below_p50 += r->req[i].finish_s - r->req[i].arrival_s <= r->latency_p50;
	}
	for (int i = 0; i < r->n_res; i++) {
		met += r->by_res[i].met;
		n += r->by_res[i].n;
	}
	ok(n == 300 && met == r->met && r->n_res == 4, "per-resolution counts add up");
	ok_near(gpu, r->gpu_seconds, 1e-9, "GPU-seconds = sum over requests (%.1f)", gpu);
	ok(below_p50 >= 150 && below_p50 < 300, "p50 splits the latencies (%d below)", below_p50);
	ok(r->mean_degree == 8.0, "mean degree 8");
	ok(r->latency_p99 >= r->latency_p50, "p99 >= p50");
	ok(r->cache_misses == 0 && r->cache_hits == 300, "0-7 prewarmed from [pool] prewarm: "
	   "every group a hit (%ld misses)", r->cache_misses);
	ts_sim_result_free(r);
	ts_trace_free(t);
}

static void check_swap(struct ts_sim_env *env)
{
	struct ts_trace *t;
	struct ts_sim_result *r;
	const char *k1[] = { "k=1", NULL }, *k8[] = { "k=8", NULL }, *k0[] = { "k=0", NULL };
	struct ts_sim_opts o = {
		.policy = "fixed", .params = k1, .swap_at_s = 600, .swap_policy = "fixed",
		.swap_params = k8, .quiet = 1,
	};
	int bad = 0, before = 0, after = 0;

	ts_trace_load("traces/flux-skewed-r12-s1.csv", &t);
	if (!ok(!ts_sim_run(env, t, &o, &r), "swap fixed k=1 -> k=8 at 600 s"))
		return;
	ok(r->swap_policy[0] && r->swapped_at_s >= 600, "swapped at %.3f s", r->swapped_at_s);
	for (int i = 0; i < r->requests; i++) {
		const struct ts_sim_req *q = &r->req[i];

		bad += !q->done || q->steps_run != q->steps;
		/* Non-preemptive: one degree per request, the one in force when it started. */
		if (q->start_s < r->swapped_at_s)
			before++, bad += q->degrees_mask != 1;
		else
			after++, bad += q->degrees_mask != 1ull << 7;
	}
	ok(!bad && before && after, "nothing lost, nothing run twice (%d before, %d after)",
	   before, after);
	ts_sim_result_free(r);

	/* A swap whose create fails keeps the old policy to the end. */
	o.swap_params = k0;
	ok(!ts_sim_run(env, t, &o, &r), "a failed swap does not stop the run");
	ok(!r->swap_policy[0] && r->completed == r->requests && r->mean_degree == 1.0,
	   "the old policy served everything");
	ts_sim_result_free(r);
	ts_trace_free(t);
}

/*
 * A model without a profile, costed by its module (tests/engine/simcost.c):
 * the table is built from the cost function on first use and the requests
 * take exactly what it says.
 */
static void check_cost_function(void)
{
	static const char ini[] =
		"[pool]\nbackend = sim\ndevices = 4\n"
		"[scheduler]\npolicy = fixed\nk = 2\n"
		"[model toy]\nmodule = simcost\nscale = 2.0\n";
	static const struct ts_trace_req req[2] = {
		{ .id = 1, .arrival_s = 0.0, .model = "toy", .width = 512, .height = 512,
		  .frames = 1, .steps = 10, .slo_s = 1.0 },
		{ .id = 2, .arrival_s = 0.1, .model = "toy", .width = 1024, .height = 1024,
		  .frames = 1, .steps = 10, .slo_s = 1.0 },
	};
	struct ts_trace t = { .n = 2, .req = (struct ts_trace_req *)req };
	char path[] = "/tmp/ts_test_sim_XXXXXX";
	struct ts_sim_env *env = NULL;
	struct ts_sim_result *r = NULL;
	const struct ts_cost *c;
	double s512 = 2.0 * 0.01 * 1024 / 1024 / pow(2, 0.75);
	double s1024 = 2.0 * 0.01 * 4096 / 1024 / pow(2, 0.75);
	FILE *f;
	int fd = mkstemp(path);

	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!ok(f && fputs(ini, f) >= 0 && !fclose(f), "config with a cost-function model"))
		return;
	ok(!ts_sim_env_load(path, &env), "loads: module simcost configured, no profile");
	unlink(path);
	if (!env)
		return;
	ok(!ts_sim_run(env, &t, &(struct ts_sim_opts){ .quiet = 1 }, &r), "simulates");
	c = ts_costbook_find(ts_sim_env_costs(env), "toy", 1024, 1024, 1);
	ok(c && c->n_degrees == 3 && c->max_batch == 2, "table sampled over its degrees and batches");
	ok(c && fabs(ts_cost_seconds(c, 2, 1) - s1024) < 1e-12, "step time from the function");
	if (r) {
		ok(fabs(r->req[0].finish_s - 10 * s512) < 1e-9, "512: 10 steps at degree 2 (%g s)",
		   r->req[0].finish_s);
		ok(fabs(r->req[1].finish_s - (0.1 + 10 * s1024)) < 1e-9,
		   "1024 starts on arrival on the other pair (%g s)", r->req[1].finish_s);
		ok(r->met == 2, "both in time");
	}
	ts_sim_result_free(r);
	ts_sim_env_free(env);
}

/*
 * On the A40 box (islands 0-1 2-3) pairs stay inside an island: only the
 * prewarmed pairs are ever used. (The pick itself, where the lowest free
 * devices would cross islands, is checked in test_groupcache.)
 */
static void check_islands(struct ts_sim_env *env)
{
	struct ts_trace *t;
	struct ts_sim_result *r;
	const char *k2[] = { "k=2", NULL };
	struct ts_sim_opts o = { .policy = "fixed", .params = k2, .quiet = 1 };

	ts_trace_load("traces/sd3-skewed-r12-s1.csv", &t);
	if (ok(!ts_sim_run(env, t, &o, &r), "SD3 skewed, fixed k=2")) {
		ok(r->cache_misses == 0 && r->cache_hits == 300,
		   "every pair is 0-1 or 2-3 (%ld groups outside the islands)", r->cache_misses);
		ts_sim_result_free(r);
	}
	ts_trace_free(t);
}

static struct ts_sim_env *env_from_text(const char *ini)
{
	char path[] = "/tmp/ts_test_sim_XXXXXX";
	struct ts_sim_env *env = NULL;
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (f && fputs(ini, f) >= 0 && !fclose(f))
		ts_sim_env_load(path, &env);
	unlink(path);
	return env;
}

/* A tight group-cache budget evicts, and changes nothing the requests see. */
static void check_cache_budget(void)
{
	static const char base[] =
		"[pool]\nbackend = sim\ndevices = 8\n%s"
		"[scheduler]\npolicy = fixed\n"
		"[model flux1-dev]\nprofile = %s/profiles/flux1-dev-h100x8.csv\n";
	char ini[1024], cwd[512];
	struct ts_sim_env *wide, *tight;
	struct ts_trace *t;
	struct ts_sim_result *a = NULL, *b = NULL;
	const char *k[] = { "k=2", NULL };
	struct ts_sim_opts o = { .policy = "fixed", .params = k, .quiet = 1 };
	int same = 1;

	if (!getcwd(cwd, sizeof(cwd)))
		return;
	snprintf(ini, sizeof(ini), base, "", cwd);
	wide = env_from_text(ini);
	/* 128 MiB: one 2-device group (2 x 64 MiB) at a time. */
	snprintf(ini, sizeof(ini), base, "group_cache_budget_mib = 128\n", cwd);
	tight = env_from_text(ini);
	ts_trace_load("traces/flux-uniform-r12-s1.csv", &t);
	ok(wide && tight && !ts_sim_run(wide, t, &o, &a) && !ts_sim_run(tight, t, &o, &b),
	   "same trace with and without a tight cache budget");
	if (a && b) {
		for (int i = 0; i < t->n; i++)
			same &= a->req[i].finish_s == b->req[i].finish_s;
		ok(b->cache_evictions > 0 && a->cache_evictions == 0, "the tight cache evicts (%ld)",
		   b->cache_evictions);
		ok(b->cache_misses > a->cache_misses, "and misses more (%ld vs %ld)", b->cache_misses,
		   a->cache_misses);
		ok(same && a->met == b->met, "requests see no difference");
	}
	ts_sim_result_free(a);
	ts_sim_result_free(b);
	ts_trace_free(t);
	ts_sim_env_free(wide);
	ts_sim_env_free(tight);
}

static void set_module_path(const char *argv0)
{
	char exe[PATH_MAX], path[2 * PATH_MAX + 64];
	const char *dir;

	snprintf(exe, sizeof(exe), "%s", argv0);
	dir = dirname(exe);
	snprintf(path, sizeof(path), "%s/../modules:%s/engine-modules", dir, dir);
	ts_loader_set_path(path);
}

int main(int argc, char **argv)
{
	static const char *const traces[] = {
		"traces/flux-uniform-r12-s1.csv", "traces/flux-skewed-r12-s1.csv",
		"traces/flux-uniform-r6-s1.csv", "traces/flux-skewed-r18-s1.csv",
	};
	struct ts_sim_env *env, *sd3;

	set_module_path(argv[0]);
	ts_log_set_level(TS_LOG_WARN);
	if (!ok(!ts_sim_env_load("configs/sim-flux1-dev-h100x8.ini", &env), "FLUX config"))
		return tap_done();
	ok(ts_sim_env_devices(env) == 8 && ts_costbook_count(ts_sim_env_costs(env)) == 4,
	   "8 devices, 4 cost tables from the profile alone");
	for (int i = 0; i < 4; i++)
		for (int k = 1; k <= 8; k *= 2)
			check_against_reference(env, traces[i], k);
	check_summary(env);
	check_swap(env);
	check_cost_function();
	check_cache_budget();
	if (ok(!ts_sim_env_load("configs/sim-sd3-medium-a40x4.ini", &sd3), "SD3/A40 config")) {
		check_against_reference(sd3, "traces/sd3-uniform-r12-s1.csv", 2);
		check_islands(sd3);
		check_against_reference(sd3, "traces/sd3-skewed-r12-s1.csv", 4);
		ts_sim_env_free(sd3);
	}
	ts_sim_env_free(env);
	ts_module_unload_all();
	return tap_done();
}
