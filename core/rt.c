// SPDX-License-Identifier: MIT
/*
 * core/rt.c - the real-time engine from a config (see rt.h).
 *
 * A model's cost table is what the policy plans with: with `profile = CSV`
 * (written by `tetriserve profile` on this backend) it is measured; without,
 * it is the module's analytic cost function evaluated for device 0, which
 * on the CPU backend is only a rough guess.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "config.h"
#include "groupcache.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "rt.h"

#define WHO "rt"

static int set_kv(struct ts_section *sec, const char *kv, const char *origin)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		ts_err(WHO, "policy param '%s': want KEY=VALUE", kv);
		return TS_EINVAL;
	}
	memcpy(key, kv, eq - kv);
	key[eq - kv] = 0;
	return ts_section_set(sec, key, eq + 1, origin);
}

/* The policy's [scheduler]: the config's keys when it is the configured policy, then @over. */
static int policy_cfg(struct ts_rt *rt, const struct ts_policy_ops *ops, const char *const *over)
{
	struct ts_section *src = ts_config_section(rt->cfg, "scheduler"), *sec;
	const char *conf = src ? ts_section_raw(src, "policy", NULL) : NULL;
	int err;

	rt->pol_cfg = ts_config_new();
	sec = rt->pol_cfg ? ts_config_section_get(rt->pol_cfg, "scheduler") : NULL;
	if (!sec)
		return TS_ENOMEM;
	err = ts_section_set(sec, "policy", ops->name, "(rt)");
	for (int i = 0; !err && src && conf && !strcmp(conf, ops->name) &&
			i < ts_section_key_count(src); i++) {
		const char *k = ts_section_key_at(src, i);
		const char *v = ts_section_raw(src, k, NULL);

		if (v && strcmp(k, "policy") && strcmp(k, "round_steps") && strcmp(k, "round_ms"))
			err = ts_section_set(sec, k, v, "(config)");
	}
	for (int i = 0; !err && over && over[i]; i++)
		err = set_kv(sec, over[i], "(option)");
	if (!err)
		err = ts_config_check_policy(rt->pol_cfg, ops->params);
	if (err)
		ts_err(WHO, "policy %s: bad params", ops->name);
	return err;
}

static int open_pool(struct ts_rt *rt, const struct ts_rt_opts *o)
{
	struct ts_section *pool = ts_config_section_get(rt->cfg, "pool");
	const char *backend = ts_cfg_str(pool, "backend");
	const char *devs = ts_cfg_str(pool, "devices");
	int tpd = o->threads_per_device > 0 ? o->threads_per_device :
					       (int)ts_cfg_int(pool, "threads_per_device");
	long n = -1;
	char *end;
	int err;

	if (!backend || !strcmp(backend, "sim"))
		return ts_cfg_error(pool, "backend", "the real engine runs on cpu or cuda, not %s",
				    backend ? backend : "(none)");
	if (devs && strcmp(devs, "all")) {
		errno = 0;
		n = strtol(devs, &end, 10);
		if (errno || end == devs || *end || n < 1 || n > TS_MAX_DEVICES)
			return ts_cfg_error(pool, "devices", "want a count or 'all', not '%s'", devs);
	}
	if (o->n_devices > 0)
		n = o->n_devices;
	err = ts_pool_open_niced(backend, ts_host_api(), (int)n, tpd > 0 ? tpd : 1, NULL,
				 o->compute_nice, &rt->pool);
	if (err)
		return err;
	if (ts_section_raw(pool, "group_cache_budget_mib", NULL))
		return ts_groupcache_new(rt->pool,
					 (size_t)ts_cfg_int(pool, "group_cache_budget_mib") << 20,
					 &rt->cache);
	return ts_groupcache_new(rt->pool, 0, &rt->cache);
}

static int add_model(struct ts_rt *rt, struct ts_section *sec)
{
	const char *module = ts_cfg_str(sec, "module");
	const char *kind = ts_cfg_str(sec, "kind");
	const struct ts_model_ops *ops;
	struct ts_rt_model *nm, *m;
	int err;

	if (!module)
		return 0; /* a profile alone: nothing to run */
	if (ts_module_load(module, NULL))
		return ts_cfg_error(sec, "module", "cannot load module '%s'", module);
	ops = ts_find_model(kind ? kind : module);
	if (!ops)
		return 0; /* a decoder section: the commands that decode use it */
	nm = realloc(rt->models, (rt->n_models + 1) * sizeof(*nm));
	if (!nm)
		return TS_ENOMEM;
	rt->models = nm;
	m = &nm[rt->n_models];
	*m = (struct ts_rt_model){ .name = strdup(ts_section_instance(sec)), .ops = ops,
				   .sec = sec };
	if (!m->name)
		return TS_ENOMEM;
	err = ops->configure(ts_host_api(), sec, &m->inst);
	if (!err)
		err = ts_exec_real_add_model(rt->exec, ops, m->inst, &m->id);
	if (err) {
		if (m->inst)
			ops->release(m->inst);
		free(m->name);
		return err;
	}
	rt->n_models++;
	if (ts_cfg_str(sec, "profile"))
		return ts_costbook_load_csv(rt->costs, ts_cfg_str(sec, "profile"), m->name);
	return 0;
}

int ts_rt_add_model(struct ts_rt *rt, struct ts_section *sec, int *idx)
{
	int n = rt->n_models, err;

	if (ts_rt_model(rt, ts_section_instance(sec))) {
		ts_err(WHO, "[model %s] is already loaded", ts_section_instance(sec));
		return TS_EEXIST;
	}
	if (ts_config_bind_model(sec))
		return TS_EINVAL;
	err = add_model(rt, sec);
	if (!err && rt->n_models == n)
		err = ts_cfg_error(sec, "module", "names no model to run (a decoder, or a profile "
				   "alone)");
	if (err)
		return err;
	*idx = n;
	return 0;
}

static int round_length(struct ts_rt *rt, const struct ts_rt_opts *o, int *steps, double *ms)
{
	struct ts_section *sch = ts_config_section_get(rt->cfg, "scheduler");

	*steps = 0;
	*ms = 0;
	if (o->round_steps > 0)
		*steps = o->round_steps;
	else if (o->round_ms > 0)
		*ms = o->round_ms;
	else if (ts_section_raw(sch, "round_ms", NULL))
		*ms = ts_cfg_float(sch, "round_ms");
	else
		*steps = (int)ts_cfg_int(sch, "round_steps");
	if (*steps < 1 && !(*ms > 0))
		*steps = 5;
	return 0;
}

static int open_engine(struct ts_rt *rt, const struct ts_rt_opts *o)
{
	struct ts_section *sch = ts_config_section_get(rt->cfg, "scheduler");
	const char *name = o->policy ? o->policy : ts_cfg_str(sch, "policy");
	const struct ts_policy_ops *ops = o->policy_ops;
	struct ts_engine_cfg ec;
	int err;

	if (!ops)
		ops = ts_policy_get(name ? name : "tetri");
	if (!ops) {
		ts_err(WHO, "no policy '%s' on the module path %s", name ? name : "tetri",
		       ts_loader_path());
		return TS_ENOENT;
	}
	err = policy_cfg(rt, ops, o->params);
	if (err)
		return err;
	ec = (struct ts_engine_cfg){ .pool = rt->pool, .cache = rt->cache, .clock = &rt->clock,
				     .exec = ts_exec_real(), .exec_arg = rt->exec,
				     .host = ts_host_api() };
	round_length(rt, o, &ec.round_steps, &ec.round_ms);
	err = ts_engine_new(&ec, &rt->eng);
	if (!err)
		err = ts_engine_set_policy(rt->eng, ops, ts_config_section(rt->pol_cfg, "scheduler"));
	return err;
}

int ts_rt_open_config(struct ts_config *cfg, const struct ts_rt_opts *o, struct ts_rt **out)
{
	static const struct ts_rt_opts none;
	struct ts_rt *rt = calloc(1, sizeof(*rt));
	struct ts_section *sec;
	int err;

	if (!rt)
		return TS_ENOMEM;
	o = o ? o : &none;
	rt->cfg = cfg;
	ts_clock_init_real(&rt->clock);
	err = ts_costbook_new(&rt->costs);
	if (!err)
		err = open_pool(rt, o);
	if (!err)
		err = ts_exec_real_new(rt->pool, &rt->clock, &rt->exec);
	for (int i = 0; !err && (sec = ts_config_section_at(cfg, i)); i++)
		if (!strcmp(ts_section_kind(sec), "model"))
			err = add_model(rt, sec);
	if (!err && !rt->n_models) {
		ts_err(WHO, "%s: no [model NAME] with a model module",
		       ts_config_path(cfg) ? ts_config_path(cfg) : "config");
		err = TS_EINVAL;
	}
	if (!err)
		err = open_engine(rt, o);
	if (err) {
		ts_rt_close(rt);
		return err;
	}
	*out = rt;
	return 0;
}

int ts_rt_open(const char *config_path, const struct ts_rt_opts *o, struct ts_rt **out)
{
	struct ts_config *cfg;
	int err = ts_config_load(config_path, &cfg);

	if (err)
		return err;
	ts_config_apply_server(cfg);
	err = ts_config_bind(cfg);
	if (!err)
		err = ts_rt_open_config(cfg, o, out);
	if (err) {
		ts_config_free(cfg);
		return err;
	}
	(*out)->owns_cfg = 1;
	return 0;
}

void ts_rt_close(struct ts_rt *rt)
{
	if (!rt)
		return;
	/* the lanes finish what runs before the engine gives the groups back */
	ts_exec_real_free(rt->exec);
	ts_engine_free(rt->eng);
	ts_groupcache_free(rt->cache);
	for (int i = 0; i < rt->n_models; i++) {
		rt->models[i].ops->release(rt->models[i].inst);
		free(rt->models[i].name);
	}
	free(rt->models);
	ts_pool_free(rt->pool);
	ts_costbook_free(rt->costs);
	ts_config_free(rt->pol_cfg);
	if (rt->owns_cfg)
		ts_config_free(rt->cfg);
	free(rt);
}

const struct ts_rt_model *ts_rt_model(const struct ts_rt *rt, const char *name)
{
	for (int i = 0; i < rt->n_models; i++)
		if (!strcmp(rt->models[i].name, name))
			return &rt->models[i];
	return NULL;
}

struct cost_arg {
	const struct ts_rt_model *m;
	const struct ts_work *w;
	struct ts_device_info dev;
};

static double model_cost(void *arg, int degree, int batch)
{
	struct cost_arg *c = arg;

	return c->m->ops->cost(c->m->inst, c->w, degree, batch, &c->dev);
}

/*
 * A profile names a model's tables by size; a request of the model's default
 * size (width 0) takes the model's only table.
 */
static const struct ts_cost *profiled(struct ts_rt *rt, const struct ts_rt_model *m,
				      const struct ts_req_params *p)
{
	const struct ts_cost *c = ts_costbook_find(rt->costs, m->name, p->width, p->height,
						   p->frames);

	for (int i = 0; !c && !p->width && !p->height && i < ts_costbook_count(rt->costs); i++)
		if (!strcmp(ts_costbook_at(rt->costs, i)->model, m->name))
			c = ts_costbook_at(rt->costs, i);
	return c;
}

const struct ts_cost *ts_rt_cost(struct ts_rt *rt, const struct ts_rt_model *m,
				 const struct ts_req_params *p)
{
	const struct ts_cost *c = profiled(rt, m, p);
	struct ts_work w;
	struct cost_arg ca = { .m = m };
	int degrees[TS_MAX_DEGREES], n = 0;

	if (c)
		return c;
	if (m->ops->plan(m->inst, p, &w))
		return NULL;
	/* only degrees this pool can run */
	for (int i = 0; i < w.n_degrees; i++)
		if (w.degrees[i] <= rt->pool->n)
			degrees[n++] = w.degrees[i];
	ca.w = &w;
	rt->pool->be_ops->device_info(rt->pool->dev[0].dev, &ca.dev);
	if (ts_costbook_add_fn(rt->costs, m->name, p->width, p->height, p->frames, degrees, n,
			       w.max_batch > 1 ? (w.max_batch < TS_RUN_MAX_BATCH ? w.max_batch :
						  TS_RUN_MAX_BATCH) : 1, model_cost, &ca))
		return NULL;
	return ts_costbook_find(rt->costs, m->name, p->width, p->height, p->frames);
}

int ts_rt_submit(struct ts_rt *rt, uint64_t id, const char *model, const struct ts_req_params *p,
		 double arrival_s, double slo_s, int *idx)
{
	const struct ts_rt_model *m = ts_rt_model(rt, model);
	const struct ts_cost *c;
	struct ts_req_spec spec;
	struct ts_work w;
	int err, i;

	if (!m) {
		ts_err(WHO, "request %llu: no model '%s'", (unsigned long long)id, model);
		return TS_ENOENT;
	}
	err = m->ops->plan(m->inst, p, &w);
	if (err)
		return err;
	c = ts_rt_cost(rt, m, p);
	if (!c) {
		ts_err(WHO, "request %llu: no cost table for %s", (unsigned long long)id, model);
		return TS_ENOENT;
	}
	spec = (struct ts_req_spec){
		.id = id, .arrival_s = arrival_s, .deadline_s = arrival_s + slo_s, .steps = w.steps,
		.width = p->width, .height = p->height, .frames = p->frames, .cost = c,
		.klass = (uint32_t)ts_costbook_klass(rt->costs, c),
	};
	err = ts_engine_submit(rt->eng, &spec, &i);
	if (err)
		return err;
	err = ts_exec_real_add_request(rt->exec, i, m->id, p, NULL);
	if (err) {
		/* nobody will ask about it: it must not hold the table's front */
		ts_engine_cancel(rt->eng, i);
		ts_engine_forget(rt->eng, i);
		return err;
	}
	if (idx)
		*idx = i;
	return 0;
}
