/* SPDX-License-Identifier: MIT */
/*
 * bench/engine/bench_engine.c - the real-time engine under load: a mixed
 * trace of DiT requests (the config's models in turn, staggered arrivals,
 * half of them with deadlines one device cannot meet) served by the config's
 * policy on its [pool]; then what a degree change and a plan cost next to a
 * step:
 *
 *   migration_share = mean migration wall time / mean step wall time
 *   plan_share      = mean policy plan() wall time / mean step wall time
 *
 * (the paper: latent migration at most 0.05% of a step on H100.)
 *
 * A second pass forces a degree change at every step (the built-in schedule
 * policy), so migrations are measured even when the policy finds no reason
 * to change degrees (on CPU devices parallelism rarely pays).
 *
 * usage: bench_engine CONFIG [REQUESTS] [GAP_MS]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "log.h"
#include "pool.h"
#include "policy_sched.h"
#include "rt.h"

struct totals {
	double step_s, mig_s, mig_max_s, plan_s, plan_max_s;
	long steps, migs, plans;
};

static void add_totals(struct totals *t, struct ts_rt *rt)
{
	struct ts_engine_stats es;
	struct ts_exec_real_stats xs;

	ts_engine_stats(rt->eng, &es);
	ts_exec_real_stats(rt->exec, &xs);
	t->step_s += xs.step_s;
	t->steps += xs.steps;
	t->mig_s += xs.migration_s;
	t->migs += xs.migrations;
	t->mig_max_s = fmax(t->mig_max_s, xs.migration_max_s);
	printf("  %s: %ld runs, %ld batched steps (mean %.3f ms), %ld migrations (mean %.2f us), "
	       "%ld plan calls (mean %.2f us)\n", ts_engine_policy(rt->eng)->name, es.runs,
	       xs.steps, xs.steps ? 1e3 * xs.step_s / xs.steps : 0.0, xs.migrations,
	       xs.migrations ? 1e6 * xs.migration_s / xs.migrations : 0.0, es.plan_calls,
	       es.plan_calls ? 1e6 * es.plan_wall_s / es.plan_calls : 0.0);
}

/* Submit @n_req requests, the config's models in turn, and serve them; 0 when all are done. */
static int serve(struct ts_rt *rt, int n_req, double gap_s)
{
	const struct ts_reqtable *t;
	int done = 0, met = 0;

	for (int i = 0; i < n_req; i++) {
		const struct ts_rt_model *m = &rt->models[i % rt->n_models];
		struct ts_req_params p = { .seed = 1000 + i, .class_label = i % 10 };
		const struct ts_cost *c = ts_rt_cost(rt, m, &p);
		struct ts_work w;
		double s1;

		if (!c || m->ops->plan(m->inst, &p, &w))
			return TS_EINVAL;
		/* deadlines from what the policy believes one device takes */
		s1 = w.steps * ts_cost_seconds(c, 1, 1);
		if (ts_rt_submit(rt, i, m->name, &p, gap_s * i, i % 2 ? 1.5 * s1 : 4 * s1, NULL))
			return TS_EINVAL;
	}
	if (ts_engine_run(rt->eng))
		return TS_EINVAL;
	t = ts_engine_requests(rt->eng);
	for (int i = 0; i < t->n; i++) {
		done += t->r[i].state == TS_REQ_DONE;
		met += t->r[i].state == TS_REQ_DONE && t->r[i].finish_s <= t->r[i].deadline_s;
	}
	printf("policy %s on %d devices: %d requests, %d done, %d met their deadline\n",
	       ts_engine_policy(rt->eng)->name, rt->pool->n, t->n, done, met);
	return done == n_req ? 0 : TS_EIO;
}

int main(int argc, char **argv)
{
	static const char *const sched[] = { "degrees=1,2,4,2,1,4,1,2,4,2,1,4,1,2,4,2,1,4,1,2",
					     NULL };
	struct ts_rt_opts forced = { .policy_ops = ts_policy_schedule(), .params = sched };
	struct totals tot = { 0 };
	struct ts_engine_stats es;
	struct ts_rt *rt;
	int n = argc > 2 ? atoi(argv[2]) : 24, err;
	double gap = argc > 3 ? atof(argv[3]) / 1e3 : 0.05, step, mig, plan;

	if (argc < 2 || n < 1) {
		fprintf(stderr, "usage: %s CONFIG [REQUESTS] [GAP_MS]\n", argv[0]);
		return 2;
	}
	/* 1. the config's policy: plan cost, and whatever migrations it decides */
	if (ts_rt_open(argv[1], NULL, &rt))
		return 1;
	err = serve(rt, n, gap);
	add_totals(&tot, rt);
	ts_engine_stats(rt->eng, &es);
	tot.plans = es.plan_calls;
	tot.plan_s = es.plan_wall_s;
	tot.plan_max_s = es.plan_max_s;
	ts_rt_close(rt);
	/* 2. a forced schedule changing degree at every step: migrations for sure */
	if (!err && ts_rt_open(argv[1], &forced, &rt))
		return 1;
	if (!err) {
		err = serve(rt, 4, gap);
		add_totals(&tot, rt);
		ts_rt_close(rt);
	}
	if (err)
		return 1;
	step = tot.steps ? tot.step_s / tot.steps : NAN;
	mig = tot.migs ? tot.mig_s / tot.migs : NAN;
	plan = tot.plans ? tot.plan_s / tot.plans : NAN;
	printf("mean step %.3f ms over %ld steps; migration mean %.2f us (max %.2f us) over %ld; "
	       "plan mean %.2f us (max %.2f us) over %ld calls\n", 1e3 * step, tot.steps,
	       1e6 * mig, 1e6 * tot.mig_max_s, tot.migs, 1e6 * plan, 1e6 * tot.plan_max_s,
	       tot.plans);
	printf("migration_share=%.6f plan_share=%.6f\n", mig / step, plan / step);
	return 0;
}
