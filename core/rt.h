/* SPDX-License-Identifier: MIT */
/*
 * core/rt.h - the real-time engine assembled from a config: the [pool]'s
 * devices (cpu or cuda), a group cache, the real clock and executor, every
 * [model NAME] with a model module configured and loaded on every device,
 * its cost table (its `profile` CSV when given, else the module's cost
 * function), and the round engine with the [scheduler] policy.
 *
 *     struct ts_rt *rt;
 *     ts_rt_open("configs/cpu-dit.ini", NULL, &rt);
 *     ts_rt_submit(rt, "dit-s", &params, 0, 30, &idx);   // arrival 0 s, SLO 30 s
 *     ts_engine_run(rt->eng);
 *     out = ts_exec_real_output(rt->exec, idx);        // the final latent
 *     ts_rt_close(rt);
 */
#ifndef TS_CORE_RT_H
#define TS_CORE_RT_H

#include <tetri/model.h>
#include <tetri/policy.h>

#include "clock.h"
#include "costtable.h"
#include "exec_real.h"
#include "round.h"

struct ts_config;
struct ts_section;
struct ts_pool;
struct ts_groupcache;

/**
 * struct ts_rt_opts - overrides of the config (zero: the config's).
 * @policy_ops: a policy given directly (tests, `generate --degrees`).
 * @params: "key=value" policy params, NULL-terminated.
 * @n_devices, @threads_per_device: of the [pool].
 * @compute_nice: > 0: the devices' threads run at this nice (the server's
 *                [pool] compute_nice), below the threads that serve.
 */
struct ts_rt_opts {
	const char *policy;
	const struct ts_policy_ops *policy_ops;
	const char *const *params;
	int n_devices;
	int threads_per_device;
	int round_steps;
	double round_ms;
	int compute_nice;
};

struct ts_rt_model {
	char *name;
	const struct ts_model_ops *ops;
	void *inst;
	struct ts_section *sec;
	int id; /* in the executor */
};

struct ts_rt {
	struct ts_config *cfg;
	struct ts_config *pol_cfg; /* the policy's [scheduler] */
	struct ts_pool *pool;
	struct ts_groupcache *cache;
	struct ts_clock clock;
	struct ts_exec_real *exec;
	struct ts_engine *eng;
	struct ts_costbook *costs;
	struct ts_rt_model *models;
	int n_models;
	int owns_cfg;
};

/* From a config file (kept open for the models' sections) or an open config (borrowed). */
int ts_rt_open(const char *config_path, const struct ts_rt_opts *o, struct ts_rt **out);
int ts_rt_open_config(struct ts_config *cfg, const struct ts_rt_opts *o, struct ts_rt **out);
/* Waits for runs in flight, then frees everything. */
void ts_rt_close(struct ts_rt *rt);

/*
 * Add [model NAME] @sec at run time: checked against its module's schema
 * (defaults applied), configured, and loaded on every device of the pool.
 * The devices must be idle (the engine held with no run in flight: see
 * ts_engine_hold). @sec must outlive @rt. 0 and *idx its index in
 * rt->models; TS_EINVAL (refused, logged) or the module's error.
 */
int ts_rt_add_model(struct ts_rt *rt, struct ts_section *sec, int *idx);

/* A configured model by its [model NAME], or NULL. */
const struct ts_rt_model *ts_rt_model(const struct ts_rt *rt, const char *name);
/* The cost table of @p's shape for @model (made on first use). */
const struct ts_cost *ts_rt_cost(struct ts_rt *rt, const struct ts_rt_model *m,
				 const struct ts_req_params *p);

/*
 * Submit request @id for @model with @p: arriving at @arrival_s on the
 * engine's clock (already past = now), due @slo_s after. *idx: its index in
 * the request table and the executor (may be NULL).
 */
int ts_rt_submit(struct ts_rt *rt, uint64_t id, const char *model, const struct ts_req_params *p,
		 double arrival_s, double slo_s, int *idx);

#endif /* TS_CORE_RT_H */
