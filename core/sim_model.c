// SPDX-License-Identifier: MIT
/*
 * core/sim_model.c - models the simulator costs through their module: a
 * [model NAME] with module = X and no profile is configured (no weights are
 * read), and the cost table of each shape a trace asks for is sampled from
 * ops->cost over the degrees and batches the model's plan() allows. From
 * there on it is the same struct ts_cost a profile gives.
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "sim_int.h"

struct cost_ctx {
	const struct sim_model *m;
	const struct ts_work *w;
	const struct ts_device_info *dev;
};

static double model_cost(void *arg, int degree, int batch)
{
	const struct cost_ctx *c = arg;

	return c->m->ops->cost(c->m->inst, c->w, degree, batch, c->dev);
}

static const struct ts_model_ops *model_ops(struct ts_section *sec, const char *module)
{
	const char *kind = ts_cfg_str(sec, "kind");
	const struct ts_model_ops *ops;

	if (ts_module_load(module, NULL))
		return NULL;
	ops = ts_find_model(kind ? kind : module);
	if (!ops)
		ts_cfg_error(sec, kind ? "kind" : "module", "module %s registers no model %s",
			     module, kind ? kind : module);
	return ops;
}

int ts_sim_model_add(struct ts_sim_env *env, struct ts_section *sec)
{
	const char *module = ts_cfg_str(sec, "module");
	const struct ts_model_ops *ops;
	struct sim_model *nm, *m;
	int err;

	if (!module) {
		ts_cfg_error(sec, "profile", "the simulator needs a profile or a module to cost steps");
		return TS_EINVAL;
	}
	ops = model_ops(sec, module);
	if (!ops || !ops->cost)
		return TS_ENOENT;
	err = ts_config_check_model(sec, ops->keys);
	if (err)
		return err;
	nm = realloc(env->models, (env->n_models + 1) * sizeof(*nm));
	if (!nm)
		return TS_ENOMEM;
	env->models = nm;
	m = &nm[env->n_models];
	*m = (struct sim_model){ .name = strdup(ts_section_instance(sec)), .ops = ops };
	if (!m->name)
		return TS_ENOMEM;
	err = ops->configure(ts_host_api(), sec, &m->inst);
	if (err) {
		free(m->name);
		return err;
	}
	env->n_models++;
	return 0;
}

void ts_sim_models_free(struct ts_sim_env *env)
{
	for (int i = 0; i < env->n_models; i++) {
		if (env->models[i].ops->release)
			env->models[i].ops->release(env->models[i].inst);
		free(env->models[i].name);
	}
	free(env->models);
	env->models = NULL;
	env->n_models = 0;
}

const struct ts_cost *ts_sim_model_cost(struct ts_sim_env *env, const char *model, int width,
					int height, int frames, int steps)
{
	struct ts_req_params p = {
		.width = width, .height = height, .frames = frames, .steps = steps,
	};
	struct ts_device_info dev = { .kind = env->device_kind ? env->device_kind : "sim" };
	struct ts_work w;
	struct cost_ctx ctx;
	const struct sim_model *m = NULL;

	for (int i = 0; i < env->n_models && !m; i++)
		if (!strcmp(env->models[i].name, model))
			m = &env->models[i];
	if (!m)
		return NULL;
	if (m->ops->plan(m->inst, &p, &w)) {
		ts_err("sim", "model %s refuses %dx%d x %d frames, %d steps", model, width, height,
		       frames, steps);
		return NULL;
	}
	ctx = (struct cost_ctx){ .m = m, .w = &w, .dev = &dev };
	if (ts_costbook_add_fn(env->costs, model, width, height, frames, w.degrees, w.n_degrees,
			       w.max_batch > 0 ? w.max_batch : 1, model_cost, &ctx))
		return NULL;
	return ts_costbook_find(env->costs, model, width, height, frames);
}
