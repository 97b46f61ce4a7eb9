/* SPDX-License-Identifier: MIT */
/*
 * core/bound.h - an upper bound on the SLO attainment any policy can reach on
 * a trace, reported beside every result (docs/scheduler.md, "The bound").
 *
 * The relaxation: devices are fluid (any fraction of the pool, preemptive,
 * free migration), every request runs at its cheapest mix of degrees and
 * batch sizes that still fits between its arrival and its deadline (and
 * always finds batch partners), and a set of requests can all meet their
 * deadlines only if, for every interval [t1, t2], the work of those whose
 * window lies inside it fits in N x (t2 - t1) device-seconds. Each interval
 * rules out (requests inside) - (most of them that fit); disjoint intervals
 * rule out independently, so the bound is n minus the most a set of disjoint
 * intervals rules out (a weighted interval-scheduling DP).
 */
#ifndef TS_CORE_BOUND_H
#define TS_CORE_BOUND_H

#include <tetri/policy.h>

/** struct ts_bound_req - one request: its window and its step-time table. */
struct ts_bound_req {
	double arrival_s, deadline_s;
	int steps;
	const struct ts_cost *cost;
};

/*
 * Least device-seconds that can run @steps steps within @window seconds on
 * at most @n_devices devices (fractional mix of at most two (degree, batch)
 * options, per request). INFINITY when even the fastest option is too slow.
 */
double ts_bound_min_work(const struct ts_cost *c, int steps, double window, int n_devices);

/*
 * Upper bound on the number of the @n requests that can meet their deadlines
 * on @n_devices devices; the SAR bound is *met_ub / n. 0 or TS_E*.
 * Intervals: every arrival x the deadlines after it (at most 256 of them per
 * arrival when n > 4000, which only loosens the bound).
 */
int ts_bound_met(const struct ts_bound_req *r, int n, int n_devices, int *met_ub);

struct ts_costbook;
struct ts_trace;

/*
 * The SAR bound of trace @t (deadlines = arrival + slo_s x @slo_scale) on
 * @n_devices devices with the step times of @b: *sar = bound / requests.
 * A request whose model/shape has no table counts as missed. 0 or TS_E*
 * (then *sar is left alone).
 */
int ts_bound_trace(const struct ts_costbook *b, const struct ts_trace *t, double slo_scale,
		   int n_devices, double *sar);

#endif /* TS_CORE_BOUND_H */
