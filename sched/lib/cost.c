/* SPDX-License-Identifier: MIT */
/* sched/lib/cost.c - lookups in a step-time table (struct ts_cost) for the policies. */
#include <math.h>

#include "sched_lib.h"

double ts_sched_step_b(const struct ts_cost *c, int di, int batch)
{
	double t;

	if (di < 0 || di >= c->n_degrees || batch < 1 || batch > c->max_batch)
		return -1.0;
	t = ts_cost_step(c, di, batch);
	/* Unprofiled cells are NAN in the table; callers only test for < 0. */
	if (!(t > 0.0) || !isfinite(t))
		return -1.0;
	return t;
}

double ts_sched_step(const struct ts_cost *c, int di)
{
	return ts_sched_step_b(c, di, 1);
}

int ts_sched_deg_index(const struct ts_cost *c, int degree)
{
	for (int i = 0; i < c->n_degrees; i++)
		if (c->degree[i] == degree)
			return i;
	return -1;
}

int ts_sched_ndeg(const struct ts_cost *c, int n_devices)
{
	int n = 0;

	while (n < c->n_degrees && c->degree[n] <= n_devices)
		n++;
	return n;
}

double ts_sched_tmin(const struct ts_cost *c, int n_devices, int *di_out)
{
	int nd = ts_sched_ndeg(c, n_devices), best = -1;
	double tbest = -1.0;

	for (int i = 0; i < nd; i++) {
		double t = ts_sched_step(c, i);

		if (t > 0.0 && (best < 0 || t < tbest)) {
			best = i;
			tbest = t;
		}
	}
	if (di_out)
		*di_out = best;
	return tbest;
}

int ts_sched_faster(const struct ts_cost *c, int n_devices, int di, int max_degree)
{
	int nd = ts_sched_ndeg(c, n_devices);
	double t = di >= 0 ? ts_sched_step(c, di) : INFINITY;

	for (int i = di + 1; i < nd; i++) {
		double ti = ts_sched_step(c, i);

		if (c->degree[i] > max_degree)
			break;
		if (ti > 0.0 && ti < t)
			return i;
	}
	return -1;
}
