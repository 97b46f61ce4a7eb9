/* SPDX-License-Identifier: MIT */
/* core/sim_int.h - the simulator environment, shared by sim_env.c and sim.c. */
#ifndef TS_CORE_SIM_INT_H
#define TS_CORE_SIM_INT_H

#include <stddef.h>

#include <tetri/devset.h>

#include "sim.h"

struct ts_config;
struct ts_section;
struct ts_model_ops;

/* A [model NAME] costed by its module's cost function (no profile). */
struct sim_model {
	char *name;
	const struct ts_model_ops *ops;
	void *inst;
};

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
	char *device_kind;        /* [pool] device_kind, for cost functions */
	struct sim_model *models;
	int n_models;
	struct ts_config *cfg;    /* owned when loaded from a path: modules may keep sections */
};

/* sim_model.c */
int ts_sim_model_add(struct ts_sim_env *env, struct ts_section *sec);
void ts_sim_models_free(struct ts_sim_env *env);
/* The cost table of a shape, built from the model's cost function on first use. */
const struct ts_cost *ts_sim_model_cost(struct ts_sim_env *env, const char *model, int width,
					int height, int frames, int steps);

#endif /* TS_CORE_SIM_INT_H */
