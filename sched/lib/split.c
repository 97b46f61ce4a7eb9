/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/split.c - the minimal-GPU-hour split of a request's remaining steps
 * (the paper's deadline-aware allocation, spec §2.3.1).
 *
 * min sum_m s_m * A_m * T(A_m)  s.t.  sum_m s_m * T(A_m) <= slack,  sum_m s_m = S.
 * Its linear relaxation has two constraints, so an optimal vertex uses at most
 * two degrees; we enumerate every single degree and every pair (not only
 * adjacent ones: a profile need not be convex), and for a pair take the fewest
 * steps at the faster degree that meet the slack. Rounding that count up keeps
 * the deadline; it can cost at most one step's difference over the LP optimum.
 */
#include <math.h>

#include <tetri/error.h>

#include "sched_lib.h"

/* Slack comparisons tolerate rounding in sums of step times. */
#define SPLIT_EPS 1e-9

static int better(const struct ts_sched_split *a, const struct ts_sched_split *b)
{
	if (b->n == 0)
		return 1;
	if (a->gpu_s < b->gpu_s - SPLIT_EPS)
		return 1;
	if (a->gpu_s > b->gpu_s + SPLIT_EPS)
		return 0;
	/* Equal cost: the faster plan leaves more slack against queueing. */
	return a->time_s < b->time_s - SPLIT_EPS;
}

static void consider_single(const struct ts_cost *c, int steps, double slack, int i,
			    struct ts_sched_split *best)
{
	double t = ts_sched_step(c, i);
	struct ts_sched_split s;

	if (t <= 0.0 || steps * t > slack + SPLIT_EPS)
		return;
	s = (struct ts_sched_split){
		.n = 1, .di = { i, -1 }, .steps = { steps, 0 },
		.gpu_s = steps * t * c->degree[i], .time_s = steps * t,
	};
	if (better(&s, best))
		*best = s;
}

static void consider_pair(const struct ts_cost *c, int steps, double slack, int lo, int hi,
			  struct ts_sched_split *best)
{
	double tlo = ts_sched_step(c, lo), thi = ts_sched_step(c, hi);
	struct ts_sched_split s;
	int n_hi;

	/* A pair helps only when the lower degree alone is too slow and the higher is faster. */
	if (tlo <= 0.0 || thi <= 0.0 || thi >= tlo)
		return;
	if (steps * tlo <= slack + SPLIT_EPS || steps * thi > slack + SPLIT_EPS)
		return;
	n_hi = (int)ceil((steps * tlo - slack) / (tlo - thi) - SPLIT_EPS);
	if (n_hi < 1)
		n_hi = 1;
	if (n_hi >= steps)
		return; /* all steps at the higher degree: the single case covers it */
	s = (struct ts_sched_split){
		.n = 2, .di = { lo, hi }, .steps = { steps - n_hi, n_hi },
		.gpu_s = (steps - n_hi) * tlo * c->degree[lo] + n_hi * thi * c->degree[hi],
		.time_s = (steps - n_hi) * tlo + n_hi * thi,
	};
	if (better(&s, best))
		*best = s;
}

int ts_sched_split(const struct ts_cost *c, int steps, double slack, int n_devices,
		   struct ts_sched_split *out)
{
	int nd = ts_sched_ndeg(c, n_devices), fast;
	struct ts_sched_split best = { .n = 0 };
	double tmin;

	*out = (struct ts_sched_split){ .n = 0, .di = { -1, -1 } };
	if (steps <= 0)
		return 0;
	for (int i = 0; i < nd; i++) {
		consider_single(c, steps, slack, i, &best);
		for (int j = i + 1; j < nd; j++)
			consider_pair(c, steps, slack, i, j, &best);
	}
	if (best.n) {
		*out = best;
		return 0;
	}
	tmin = ts_sched_tmin(c, n_devices, &fast);
	if (fast < 0)
		return TS_ERANGE;
	*out = (struct ts_sched_split){
		.n = 1, .di = { fast, -1 }, .steps = { steps, 0 },
		.gpu_s = steps * tmin * c->degree[fast], .time_s = steps * tmin,
	};
	return TS_ERANGE;
}
