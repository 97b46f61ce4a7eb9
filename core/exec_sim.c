// SPDX-License-Identifier: MIT
/*
 * core/exec_sim.c - the simulated executor: a run of q steps of batch b at
 * degree k takes q times the cost table's seconds for (k, b). Degree changes
 * between runs cost nothing: the paper measured latent transfer at <= 0.05%
 * of a step and leaves it out of deadline accounting, and so do we.
 */
#include <tetri/error.h>

#include "costtable.h"
#include "log.h"
#include "round.h"

static int sim_start(void *exec, const struct ts_run *run, double now, double *end_s)
{
	double s = ts_cost_seconds(run->cost, run->degree, run->batch);

	if (s < 0) {
		ts_err("exec-sim", "%s %dx%d: no step time for degree %d batch %d", run->cost->model,
		       run->cost->width, run->cost->height, run->degree, run->batch);
		return TS_EINVAL;
	}
	*end_s = now + run->steps * s;
	return 0;
}

static const struct ts_exec_ops sim_exec = {
	.name = "sim",
	.start = sim_start,
};

const struct ts_exec_ops *ts_exec_sim(void)
{
	return &sim_exec;
}
