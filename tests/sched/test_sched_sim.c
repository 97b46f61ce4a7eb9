/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/test_sched_sim.c - every policy on one small trace through the
 * simulator, each outcome worked out by hand (below), and the SAR bound
 * against every result on the shipped FLUX traces.
 *
 * Toy model on 4 devices, degrees 1, 2, 4, seconds per step:
 *   small (256): 1.0  0.6  0.4        big (512): 2.0  1.1  0.6
 * Trace, 4 steps each: A small at 0 due 5; B big at 0.5 due 4.5; C small at
 * 1.0 due 3.0. Rounds of 2 steps.
 */
#include <math.h>

#include "fakehost.h"
#include "registry.h"
#include "sim.h"
#include "tap.h"

struct ts_module *ts_module_tetri_v1(void);
struct ts_module *ts_module_slice_v1(void);
struct ts_module *ts_module_rssp_v1(void);
struct ts_module *ts_module_edf_v1(void);
struct ts_module *ts_module_fixed_v1(void);

static double toy_cost(void *arg, int degree, int batch)
{
	const double *t = arg;

	if (batch != 1)
		return -1;
	return degree == 1 ? t[0] : degree == 2 ? t[1] : degree == 4 ? t[2] : -1;
}

static const double small_t[3] = { 1.0, 0.6, 0.4 }, big_t[3] = { 2.0, 1.1, 0.6 };

static struct ts_sim_env *toy_env(void)
{
	static const int deg[3] = { 1, 2, 4 };
	struct ts_costbook *b;
	struct ts_sim_env *env;

	if (ts_costbook_new(&b))
		return NULL;
	if (ts_costbook_add_fn(b, "toy", 256, 256, 1, deg, 3, 1, toy_cost, (void *)small_t) ||
	    ts_costbook_add_fn(b, "toy", 512, 512, 1, deg, 3, 1, toy_cost, (void *)big_t)) {
		ts_costbook_free(b);
		return NULL;
	}
	return ts_sim_env_new(4, NULL, b, 2, 0, &env) ? NULL : env;
}

static char toy_model[] = "toy";
static char *toy_models[1] = { toy_model };
static struct ts_trace_req toy_req[3] = {
	{ .id = 0, .arrival_s = 0.0, .model = toy_model, .width = 256, .height = 256, .steps = 4,
	  .slo_s = 5.0 },
	{ .id = 1, .arrival_s = 0.5, .model = toy_model, .width = 512, .height = 512, .steps = 4,
	  .slo_s = 4.0 },
	{ .id = 2, .arrival_s = 1.0, .model = toy_model, .width = 256, .height = 256, .steps = 4,
	  .slo_s = 2.0 },
};
static const struct ts_trace toy_trace = { .n = 3, .req = toy_req, .n_models = 1,
					   .models = toy_models };

static const struct ts_policy_ops *ops_of(struct ts_module *(*acc)(void))
{
	struct ts_module *m = acc();

	fh_ops = NULL;
	return m->init(&fh_host, m) ? NULL : fh_ops;
}

/* Run @acc with @params on the toy trace; check met flags and finish times. */
static void check(struct ts_sim_env *env, const char *what, struct ts_module *(*acc)(void),
		  const char *const *params, const int met[3], const double finish[3])
{
	struct ts_sim_opts o = { .policy_ops = ops_of(acc), .params = params, .quiet = 1 };
	struct ts_sim_result *r = NULL;
	int err = o.policy_ops ? ts_sim_run(env, &toy_trace, &o, &r) : -1;
	int good_met = 1, good_fin = 1;

	ok(!err && r && r->requests == 3, "%s: ran", what);
	if (err || !r)
		return;
	for (int i = 0; i < 3; i++) {
		good_met &= r->req[i].met == met[i];
		good_fin &= fabs(r->req[i].finish_s - finish[i]) < 1e-9;
	}
	ok(good_met, "%s: met %d %d %d (want %d %d %d)", what, r->req[0].met, r->req[1].met,
	   r->req[2].met, met[0], met[1], met[2]);
	ok(good_fin, "%s: finish %.3f %.3f %.3f (want %.3f %.3f %.3f)", what, r->req[0].finish_s,
	   r->req[1].finish_s, r->req[2].finish_s, finish[0], finish[1], finish[2]);
	ok(r->sar_upper_bound >= r->sar, "%s: SAR %.3f under the bound %.3f", what, r->sar,
	   r->sar_upper_bound);
	ts_sim_result_free(r);
}

/*
 * Non-preemptive baselines (FCFS unless said):
 * fixed k=1: A [0,4]; B [0.5,8.5]; C [1,5].          met A
 * fixed k=2: A [0,2.4]; B [0.5,4.9]; C waits for A: [2.4,4.8].  met A
 * fixed k=4: A [0,1.6]; B [1.6,4.0]; C [4.0,5.6].     met A, B
 * rssp (slo rule): A at 1 (4 <= 5), B at 4 (2.4 <= 4), C at 4 (1.6 <= 2):
 *   A [0,4]; B blocks the queue until A ends: [4,6.4]; C [6.4,8.0].  met A
 * edf: A at 1 [0,4]. B needs 4 (0.5 + 2.4 <= 4.5), C needs 4 (1 + 1.6 <= 3),
 *   3 free: blocked. At 4 both are hopeless: one device each, earliest
 *   deadline first: C [4,8], B [4,12].  met A
 */
static void test_baselines(struct ts_sim_env *env)
{
	const char *const k1[] = { "k=1", NULL }, *const k2[] = { "k=2", NULL };
	const char *const k4[] = { "k=4", NULL }, *const none[] = { NULL };

	check(env, "fixed k=1", ts_module_fixed_v1, k1, (const int[]){ 1, 0, 0 },
	      (const double[]){ 4.0, 8.5, 5.0 });
	check(env, "fixed k=2", ts_module_fixed_v1, k2, (const int[]){ 1, 0, 0 },
	      (const double[]){ 2.4, 4.9, 4.8 });
	check(env, "fixed k=4", ts_module_fixed_v1, k4, (const int[]){ 1, 1, 0 },
	      (const double[]){ 1.6, 4.0, 5.6 });
	check(env, "rssp", ts_module_rssp_v1, none, (const int[]){ 1, 0, 0 },
	      (const double[]){ 4.0, 6.4, 8.0 });
	check(env, "edf", ts_module_edf_v1, none, (const int[]){ 1, 0, 0 },
	      (const double[]){ 4.0, 12.0, 8.0 });
}

/*
 * tetri, rounds of 2 steps (tau = 2 x the largest fastest step present):
 * t=0   tau 0.8. A alone, safe (0.8 + 4 x 0.4 <= 5): scale-up starts it at 1
 *       and grows it 1 -> 2 -> 4: 2 steps [0, 0.8].
 * t=0.8 tau 1.2. A (2 left, safe); B (split 2 at 2 + 2 at 4, safe: 2.0 + 4 x
 *       0.6 <= 4.5). Scale-up, earliest deadline first: B at 2 for 1 step
 *       (1.1 s), A at 1, then A grows to 2 (the only growth that fits):
 *       2 steps, A ends at 2.0 (met).
 * t=2.0 tau 1.2 (set by B alone: C is late). B (3 left) is at risk
 *       (3.2 + 3 x 0.6 > 4.5) and survives at 2 or 4: the DP takes the
 *       narrower, scale-up grows it to 4: 2 steps [2.0, 3.2]. C cannot make 3.0 any more (4 x 0.4 > 1.0): late.
 * t=3.2 B's last step finishes inside the round at 2 (4.3 <= 4.5): chosen,
 *       grown to 4: [3.2, 3.8] (met). C gets nothing (no idle device).
 * t=4.4 (the boundary): only C, late: a best-effort round, one device grown
 *       to 4, one step at a time: [4.4, 4.8] ... [5.6, 6.0].
 */
static void test_tetri(struct ts_sim_env *env)
{
	const char *const none[] = { NULL };

	check(env, "tetri", ts_module_tetri_v1, none, (const int[]){ 1, 1, 0 },
	      (const double[]){ 2.0, 3.8, 6.0 });
}

/*
 * slice (ours): event-driven, optional work in 1-step slices, gangs drained,
 * late work only while nothing can still be saved.
 * t=0   A safe: 1 step at 4 [0, 0.4]; t=0.4 again [0.4, 0.8] (B arrives at
 *       0.5 to a full pool: no plan).
 * t=0.8 tau 1.2: B safe (split 2 at 2 + 2 at 4), A safe. B at 2 for 1 step
 *       [0.8, 1.9]; A at 1, grown to 2, 1 step [0.8, 1.4].
 * t=1.4 2 free; tau 1.2 (B in flight still sets it). C (due 3.0) survives
 *       only at 4 (3 steps in the round, 2.6 + 0.4 <= 3.0) and 4 do not
 *       fit: drain, nothing starts.
 * t=1.9 4 free. B (3 left, due 4.5) at risk: the DP gives it 2 (1 step);
 *       C cannot make it any more (late); A, safe, 1 step at 1 grown to 2
 *       [1.9, 2.5]: A met.
 * t=2.5 2 free, but B (in flight) can still be saved: C waits (late gate).
 * t=3.0 B (2 left) at 4 finishes inside the round: [3.0, 4.2], met.
 * t=4.2 C alone, late: a best-effort round, 1 step at a time at 4:
 *       [4.2, 4.6] ... [5.4, 5.8].
 */
static void test_slice(struct ts_sim_env *env)
{
	const char *const none[] = { NULL };

	check(env, "slice", ts_module_slice_v1, none, (const int[]){ 1, 1, 0 },
	      (const double[]){ 2.5, 4.2, 5.8 });
}

/* The bound holds for every policy on the shipped FLUX traces at 1.0x and 1.5x. */
static void test_bound_holds(void)
{
	static const char *const pols[] = { "tetri", "slice", "edf", "rssp", "fixed" };
	static const char *const traces[] = { "traces/flux-uniform-r12-s1.csv",
					      "traces/flux-skewed-r18-s1.csv" };
	struct ts_sim_env *env;
	int bad = 0, runs = 0;

	if (ts_sim_env_load("configs/sim-flux1-dev-h100x8.ini", &env)) {
		ok(0, "load the FLUX config");
		return;
	}
	for (int t = 0; t < 2; t++) {
		struct ts_trace *tr;

		if (ts_trace_load(traces[t], &tr)) {
			ok(0, "load %s", traces[t]);
			continue;
		}
		for (int p = 0; p < 5; p++)
			for (double s = 1.0; s < 1.6; s += 0.5) {
				const char *const k8[] = { "k=8", NULL };
				struct ts_sim_opts o = { .policy = pols[p], .slo_scale = s,
							 .quiet = 1, .params = p == 4 ? k8 : NULL };
				struct ts_sim_result *r;

				if (ts_sim_run(env, tr, &o, &r)) {
					bad++;
					continue;
				}
				runs++;
				if (!(r->sar <= r->sar_upper_bound)) {
					bad++;
					tap_diag("%s %s %.1f: SAR %.3f above bound %.3f", pols[p],
						 traces[t], s, r->sar, r->sar_upper_bound);
				}
				ts_sim_result_free(r);
			}
		ts_trace_free(tr);
	}
	ok(runs == 20 && !bad, "SAR <= bound in %d runs (%d bad)", runs, bad);
	ts_sim_env_free(env);
}

/* Same trace, same policy: the same outcome, request by request, every run. */
static void test_deterministic(void)
{
	static const char *const pols[] = { "fixed", "rssp", "edf", "tetri", "slice" };
	const char *const k4[] = { "k=4", NULL };
	struct ts_sim_env *env;
	struct ts_trace *tr;
	int differ = 0;

	if (ts_sim_env_load("configs/sim-flux1-dev-h100x8.ini", &env) ||
	    ts_trace_load("traces/flux-skewed-r12-s1.csv", &tr)) {
		ok(0, "load the FLUX config and trace");
		return;
	}
	for (int p = 0; p < 5; p++) {
		struct ts_sim_opts o = { .policy = pols[p], .quiet = 1, .params = p ? NULL : k4 };
		struct ts_sim_result *a = NULL, *b = NULL;

		if (ts_sim_run(env, tr, &o, &a) || ts_sim_run(env, tr, &o, &b)) {
			differ++;
		} else {
			for (int i = 0; i < a->requests; i++)
				differ += a->req[i].finish_s != b->req[i].finish_s ||
					  a->req[i].start_s != b->req[i].start_s ||
					  a->req[i].degrees_mask != b->req[i].degrees_mask;
		}
		ts_sim_result_free(a);
		ts_sim_result_free(b);
	}
	ok(!differ, "every policy: two runs, identical starts, finishes and degrees (%d differ)",
	   differ);
	ts_trace_free(tr);
	ts_sim_env_free(env);
}

int main(int argc, char **argv)
{
	struct ts_sim_env *env = toy_env();
	char path[4096];
	const char *slash = strrchr(argv[0], '/');

	/* Modules by name (the bound test) from this build's modules/. */
	snprintf(path, sizeof(path), "%.*s/../modules", slash ? (int)(slash - argv[0]) : 1,
		 slash ? argv[0] : ".");
	ts_loader_set_path(path);
	ok(env != NULL, "toy environment");
	if (env) {
		test_baselines(env);
		test_tetri(env);
		test_slice(env);
		ts_sim_env_free(env);
	}
	test_bound_holds();
	test_deterministic();
	ts_module_unload_all();
	return tap_done();
}
