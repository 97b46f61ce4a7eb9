/* SPDX-License-Identifier: MIT */
/* core/sim_int.h - the simulator environment, shared by sim_env.c and sim.c. */
#ifndef TS_CORE_SIM_INT_H
#define TS_CORE_SIM_INT_H

#include <stddef.h>

#include <tetri/devset.h>

#include "sim.h"

struct ts_sim_env {
	int n_devices;
	int *island;              /* [n_devices] or NULL */
	int round_steps;
	double round_ms;
	struct ts_costbook *costs;
	char *policy;             /* the config's [scheduler] policy, or NULL */
	char **params;            /* its other [scheduler] keys, "key=value" */
	int n_params;
	struct ts_devset *prewarm;
	int n_prewarm;
	size_t cache_budget;      /* bytes, 0 = unlimited */
};

#endif /* TS_CORE_SIM_INT_H */
