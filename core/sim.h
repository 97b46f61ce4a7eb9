/* SPDX-License-Identifier: MIT */
/*
 * core/sim.h - run one simulation and get its results, programmatically.
 *
 * The simulator is the round engine (core/round.h) on a virtual clock with
 * the simulated executor: a step of batch b at degree k "takes" the cost
 * table's seconds, and time jumps from event to event. Benchmarks build one
 * environment (devices, topology, cost tables, round length) and run as many
 * simulations against it as they like; `tetriserve sim` is a thin wrapper.
 *
 *     struct ts_sim_env *env;
 *     struct ts_trace *tr;
 *     struct ts_sim_result *res;
 *     const char *const params[] = { "k=8", NULL };
 *     struct ts_sim_opts o = { .policy = "fixed", .params = params };
 *
 *     ts_sim_env_load("configs/default.ini", &env);
 *     ts_trace_load("traces/flux-uniform-r12-s1.csv", &tr);
 *     ts_sim_run(env, tr, &o, &res);      // res->sar, res->latency_p99, ...
 *     ts_sim_result_free(res);
 */
#ifndef TS_CORE_SIM_H
#define TS_CORE_SIM_H

#include <stdint.h>
#include <stdio.h>

#include <tetri/policy.h>

#include "costtable.h"
#include "trace.h"

struct ts_config;
struct ts_sim_env;

/*
 * An environment from a config: [pool] devices and topology, [scheduler]
 * policy, round_steps/round_ms and the policy's params, and the cost table of
 * every [model NAME] (its profile CSV, or its module's cost function).
 */
int ts_sim_env_load(const char *config_path, struct ts_sim_env **out);
int ts_sim_env_from_config(struct ts_config *cfg, struct ts_sim_env **out);
/*
 * An environment without a config: @n_devices devices, @island (NULL =
 * uniform; else [n_devices] island ids), @costs (owned by the env from now
 * on, also on failure), the round length in steps or ms (one of them 0).
 */
int ts_sim_env_new(int n_devices, const int *island, struct ts_costbook *costs,
		   int round_steps, double round_ms, struct ts_sim_env **out);
void ts_sim_env_free(struct ts_sim_env *env);
const struct ts_costbook *ts_sim_env_costs(const struct ts_sim_env *env);
int ts_sim_env_devices(const struct ts_sim_env *env);
/* The [scheduler] policy of the config, or NULL. */
const char *ts_sim_env_policy(const struct ts_sim_env *env);

/**
 * struct ts_sim_opts - one run. Zero means "the environment's setting".
 * @policy: policy name (loaded as <name>.so from the module path if needed).
 *          When it differs from the config's, the config's policy params are
 *          not used (they belong to another policy); round settings still are.
 * @params: "key=value" policy params, NULL-terminated (override the config's).
 * @policy_ops: use these ops instead of looking @policy up (tests).
 * @slo_scale: deadline = arrival + slo_s * slo_scale (0 = 1.0).
 * @n_devices: fewer devices than the environment has (0 = all).
 * @round_steps, @round_ms: override the round length (set one).
 * @swap_at_s, @swap_policy, @swap_params, @swap_ops: swap the policy at the
 *          first round boundary at or after @swap_at_s (0 = no swap).
 * @quiet: no per-run log lines.
 */
struct ts_sim_opts {
	const char *policy;
	const char *const *params;
	const struct ts_policy_ops *policy_ops;
	double slo_scale;
	int n_devices;
	int round_steps;
	double round_ms;
	double swap_at_s;
	const char *swap_policy;
	const char *const *swap_params;
	const struct ts_policy_ops *swap_ops;
	int quiet;
};

/**
 * struct ts_sim_req - one request's outcome.
 * @start_s: first step dispatched (NAN if never); @finish_s: last step done (NAN if not).
 * @degrees_mask: bit d-1 set when some step ran at degree d (d <= 64).
 * @migrations: times its device set changed between assignments.
 * @steps_run: steps executed (== steps when done; a step never runs twice).
 */
struct ts_sim_req {
	uint64_t id;
	double arrival_s, start_s, finish_s, deadline_s;
	int width, height, frames, steps, steps_run;
	int done, met;
	uint64_t degrees_mask;
	int migrations;
	double gpu_s;
};

struct ts_sim_res_stat {
	int width, height;
	int n, met;
};

#define TS_SIM_MAX_RES 16

/**
 * struct ts_sim_result - the summary of one run, plus every request.
 * @sar: met / requests. @latency_*: over completed requests (finish - arrival).
 * @gpu_seconds: sum over runs of degree x run time. @mean_degree: step-weighted.
 * @plan_calls, @plan_wall_s, @plan_max_s: policy plan() calls and their wall time.
 * @sar_upper_bound: NAN unless someone computed one (written when set).
 */
struct ts_sim_result {
	char policy[64];
	char swap_policy[64];
	double swapped_at_s;          /* NAN when no swap happened */
	int n_devices;
	double slo_scale;
	int requests, completed, met;
	double sar;
	int n_res;
	struct ts_sim_res_stat by_res[TS_SIM_MAX_RES];
	double latency_mean, latency_p50, latency_p99;
	double gpu_seconds, mean_degree, makespan_s;
	long rounds, plan_calls, runs, migrations;
	double plan_wall_s, plan_max_s;
	long cache_hits, cache_misses, cache_evictions;
	double cache_create_s;
	double wall_s;
	double sar_upper_bound;
	struct ts_sim_req *req;       /* [requests], in trace order */
};

/* Run @t under @o. 0 or TS_E* (bad policy, params, a model without a cost table). */
int ts_sim_run(struct ts_sim_env *env, const struct ts_trace *t, const struct ts_sim_opts *o,
	       struct ts_sim_result **out);
void ts_sim_result_free(struct ts_sim_result *r);

/* The files `tetriserve sim --out DIR` writes, and its table. */
int ts_sim_write_requests_csv(const struct ts_sim_result *r, const char *path);
int ts_sim_write_summary_json(const struct ts_sim_result *r, const char *path);
void ts_sim_print_summary(const struct ts_sim_result *r, FILE *f);

#endif /* TS_CORE_SIM_H */
