// SPDX-License-Identifier: MIT
/*
 * core/sim_env.c - the simulator's environment from a config: [pool]
 * devices, topology, prewarm and group cache budget; [scheduler] round
 * length, policy and its params; each [model NAME]'s profile CSV as its cost
 * table (a model defined by a profile alone needs no module), or its
 * module's cost function (sim_model.c). With modules, @cfg must outlive the
 * environment (ts_sim_env_load keeps its own).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "sim_int.h"

void ts_sim_env_free(struct ts_sim_env *env)
{
	if (!env)
		return;
	for (int i = 0; i < env->n_params; i++)
		free(env->params[i]);
	free(env->params);
	free(env->policy);
	free(env->prewarm);
	free(env->island);
	free(env->device_kind);
	ts_sim_models_free(env);
	ts_costbook_free(env->costs);
	ts_config_free(env->cfg);
	free(env);
}

int ts_sim_env_new(int n_devices, const int *island, struct ts_costbook *costs,
		   int round_steps, double round_ms, struct ts_sim_env **out)
{
	struct ts_sim_env *env = calloc(1, sizeof(*env));

	if (!env) {
		ts_costbook_free(costs);
		return TS_ENOMEM;
	}
	env->costs = costs;
	if (n_devices < 1 || n_devices > TS_MAX_DEVICES || (round_steps > 0) == (round_ms > 0)) {
		ts_err("sim", "need 1..%d devices and one round length (steps or ms)",
		       TS_MAX_DEVICES);
		ts_sim_env_free(env);
		return TS_EINVAL;
	}
	env->n_devices = n_devices;
	env->round_steps = round_steps;
	env->round_ms = round_ms;
	if (island) {
		env->island = malloc(n_devices * sizeof(int));
		if (!env->island) {
			ts_sim_env_free(env);
			return TS_ENOMEM;
		}
		memcpy(env->island, island, n_devices * sizeof(int));
	}
	*out = env;
	return 0;
}

const struct ts_costbook *ts_sim_env_costs(const struct ts_sim_env *env)
{
	return env->costs;
}

int ts_sim_env_devices(const struct ts_sim_env *env)
{
	return env->n_devices;
}

const char *ts_sim_env_policy(const struct ts_sim_env *env)
{
	return env->policy;
}

static int parse_devices(struct ts_section *pool, int *n)
{
	const char *v = ts_cfg_str(pool, "devices");
	char *end;
	long d;

	errno = 0;
	d = v ? strtol(v, &end, 10) : 0;
	if (!v || errno || end == v || *end || d < 1 || d > TS_MAX_DEVICES) {
		ts_cfg_error(pool, "devices", "the simulator needs a device count 1..%d, not '%s'",
			     TS_MAX_DEVICES, v ? v : "");
		return TS_EINVAL;
	}
	*n = (int)d;
	return 0;
}

static int env_pool(struct ts_sim_env *env, struct ts_section *pool)
{
	const char *topo, *warm, *kind;
	int err;

	err = parse_devices(pool, &env->n_devices);
	if (err)
		return err;
	topo = ts_cfg_str(pool, "topology");
	if (topo && *topo) {
		env->island = malloc(env->n_devices * sizeof(int));
		if (!env->island)
			return TS_ENOMEM;
		err = ts_topology_parse(topo, env->n_devices, env->island, "[pool] topology");
		if (err)
			return err;
	}
	warm = ts_cfg_str(pool, "prewarm");
	if (warm && *warm && ts_devsets_parse(warm, &env->prewarm, &env->n_prewarm))
		return ts_cfg_error(pool, "prewarm", "'%s' is not a list of device sets", warm);
	kind = ts_cfg_str(pool, "device_kind");
	if (kind && !(env->device_kind = strdup(kind)))
		return TS_ENOMEM;
	if (ts_section_raw(pool, "group_cache_budget_mib", NULL))
		env->cache_budget = (size_t)ts_cfg_int(pool, "group_cache_budget_mib") << 20;
	return 0;
}

static int push_param(struct ts_sim_env *env, const char *key, const char *value)
{
	char **np = realloc(env->params, (env->n_params + 1) * sizeof(*np));
	size_t len = strlen(key) + strlen(value) + 2;

	if (!np)
		return TS_ENOMEM;
	env->params = np;
	np[env->n_params] = malloc(len);
	if (!np[env->n_params])
		return TS_ENOMEM;
	snprintf(np[env->n_params++], len, "%s=%s", key, value);
	return 0;
}

static int env_scheduler(struct ts_sim_env *env, struct ts_section *sch)
{
	const char *policy = ts_section_raw(sch, "policy", NULL);

	if (ts_section_raw(sch, "round_ms", NULL))
		env->round_ms = ts_cfg_float(sch, "round_ms");
	else
		env->round_steps = (int)ts_cfg_int(sch, "round_steps");
	if (env->round_steps < 1 && !(env->round_ms > 0))
		env->round_steps = 5;
	env->policy = strdup(policy ? policy : "tetri");
	if (!env->policy)
		return TS_ENOMEM;
	/* The rest of the section belongs to the policy: kept as text, checked by its schema. */
	for (int i = 0; i < ts_section_key_count(sch); i++) {
		const char *k = ts_section_key_at(sch, i);
		const char *v = ts_section_raw(sch, k, NULL);
		int err;

		if (!v || !strcmp(k, "policy") || !strcmp(k, "round_steps") || !strcmp(k, "round_ms"))
			continue;
		err = push_param(env, k, v);
		if (err)
			return err;
	}
	return 0;
}

static int env_model(struct ts_sim_env *env, struct ts_section *sec)
{
	const char *name = ts_section_instance(sec);
	const char *profile = ts_cfg_str(sec, "profile");

	if (!profile)
		return ts_sim_model_add(env, sec);
	/* Defined by its profile alone: only the host's model keys are valid. */
	if (!ts_cfg_str(sec, "module") && ts_config_check_model(sec, NULL))
		return TS_EINVAL;
	return ts_costbook_load_csv(env->costs, profile, name);
}

int ts_sim_env_from_config(struct ts_config *cfg, struct ts_sim_env **out)
{
	struct ts_sim_env *env = calloc(1, sizeof(*env));
	struct ts_section *sec;
	int err;

	if (!env)
		return TS_ENOMEM;
	err = ts_costbook_new(&env->costs);
	if (!err)
		err = env_pool(env, ts_config_section_get(cfg, "pool"));
	if (!err)
		err = env_scheduler(env, ts_config_section_get(cfg, "scheduler"));
	for (int i = 0; !err && (sec = ts_config_section_at(cfg, i)); i++)
		if (!strcmp(ts_section_kind(sec), "model"))
			err = env_model(env, sec);
	if (!err && !ts_costbook_count(env->costs) && !env->n_models) {
		ts_err("sim", "%s: no [model NAME] with a profile or a module: nothing to simulate",
		       ts_config_path(cfg) ? ts_config_path(cfg) : "config");
		err = TS_EINVAL;
	}
	if (err) {
		ts_sim_env_free(env);
		return err;
	}
	*out = env;
	return 0;
}

int ts_sim_env_load(const char *config_path, struct ts_sim_env **out)
{
	struct ts_config *cfg;
	int err = ts_config_load(config_path, &cfg);

	if (err)
		return err;
	err = ts_sim_env_from_config(cfg, out);
	if (err) {
		ts_config_free(cfg);
		return err;
	}
	(*out)->cfg = cfg;
	return 0;
}
