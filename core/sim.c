// SPDX-License-Identifier: MIT
/*
 * core/sim.c - one simulation: an engine on the sim backend, a virtual clock
 * and the simulated executor, fed a whole trace; then its summary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/error.h>

#include "bound.h"
#include "config.h"
#include "groupcache.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "round.h"
#include "sim_int.h"
#include "backend_sim.h"

/* Everything one run owns, torn down in reverse. */
struct sim_run {
	struct ts_config *params;      /* [scheduler] of the policy */
	struct ts_config *swap_params;
	struct ts_pool *pool;
	struct ts_groupcache *cache;
	struct ts_clock clock;
	struct ts_engine *eng;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int set_kv(struct ts_section *sec, const char *kv, const char *origin)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		ts_err("sim", "policy param '%s': want KEY=VALUE", kv);
		return TS_EINVAL;
	}
	memcpy(key, kv, eq - kv);
	key[eq - kv] = 0;
	return ts_section_set(sec, key, eq + 1, origin);
}

/*
 * A [scheduler] section for @ops: the environment's params when the policy
 * is the configured one, then @over; validated against the policy's schema.
 */
static int policy_params(const struct ts_sim_env *env, const struct ts_policy_ops *ops,
			 const char *const *over, struct ts_config **out)
{
	struct ts_config *cfg = ts_config_new();
	struct ts_section *sec;
	int err = 0;

	if (!cfg)
		return TS_ENOMEM;
	sec = ts_config_section_get(cfg, "scheduler");
	err = sec ? ts_section_set(sec, "policy", ops->name, "(sim)") : TS_ENOMEM;
	if (!err && env->policy && !strcmp(env->policy, ops->name))
		for (int i = 0; !err && i < env->n_params; i++)
			err = set_kv(sec, env->params[i], "(config)");
	for (int i = 0; !err && over && over[i]; i++)
		err = set_kv(sec, over[i], "--policy-param");
	if (!err)
		err = ts_config_check_policy(cfg, ops->params);
	if (err) {
		ts_err("sim", "policy %s: bad params", ops->name);
		ts_config_free(cfg);
		return err;
	}
	*out = cfg;
	return 0;
}

static const struct ts_policy_ops *find_policy(const char *name, const struct ts_policy_ops *ops)
{
	const struct ts_policy_ops *p;

	if (ops)
		return ops;
	if (!name) {
		ts_err("sim", "no policy named (config [scheduler] policy or --policy)");
		return NULL;
	}
	p = ts_policy_get(name);
	if (!p)
		ts_err("sim", "policy '%s': no such policy (looked for %s.so in %s)", name, name,
		       ts_loader_path());
	return p;
}

static int run_open(struct sim_run *s, const struct ts_sim_env *env, const struct ts_sim_opts *o,
		    const struct ts_policy_ops *ops)
{
	int n = o->n_devices > 0 && o->n_devices < env->n_devices ? o->n_devices : env->n_devices;
	int round_steps = o->round_steps > 0 ? o->round_steps : env->round_steps;
	double round_ms = o->round_ms > 0 ? o->round_ms : env->round_ms;
	struct ts_engine_cfg cfg;
	int err;

	if (o->round_steps > 0)
		round_ms = 0;
	else if (o->round_ms > 0)
		round_steps = 0;
	err = policy_params(env, ops, o->params, &s->params);
	if (!err)
		err = ts_pool_new(ts_backend_sim(), ts_host_api(), n, env->island, &s->pool);
	if (!err)
		err = ts_groupcache_new(s->pool, env->cache_budget, &s->cache);
	for (int i = 0; !err && i < env->n_prewarm; i++)
		if (ts_devset_next(&env->prewarm[i], n) < 0)
			err = ts_groupcache_prewarm(s->cache, &env->prewarm[i]);
	if (err)
		return err;
	ts_clock_init_virtual(&s->clock);
	cfg = (struct ts_engine_cfg){
		.pool = s->pool, .cache = s->cache, .clock = &s->clock, .exec = ts_exec_sim(),
		.round_steps = round_steps, .round_ms = round_ms, .host = ts_host_api(),
	};
	err = ts_engine_new(&cfg, &s->eng);
	if (!err)
		err = ts_engine_set_policy(s->eng, ops, ts_config_section(s->params, "scheduler"));
	return err;
}

static void run_close(struct sim_run *s)
{
	ts_engine_free(s->eng);
	ts_groupcache_free(s->cache);
	ts_pool_free(s->pool);
	ts_config_free(s->swap_params);
	ts_config_free(s->params);
}

static int submit_trace(struct sim_run *s, struct ts_sim_env *env, const struct ts_trace *t,
			double slo_scale)
{
	for (int i = 0; i < t->n; i++) {
		const struct ts_trace_req *q = &t->req[i];
		const struct ts_cost *c = ts_costbook_find(env->costs, q->model, q->width, q->height,
							   q->frames);
		struct ts_req_spec spec;
		int err;

		if (!c)
			c = ts_sim_model_cost(env, q->model, q->width, q->height, q->frames, q->steps);
		if (!c && q->frames > 1) {
			/* A profile measures one image; scaling it to frames would be a guess. */
			ts_err("sim", "request %llu: no cost for %s %dx%d x %d frames: profiles are "
			       "per image; give the model a module whose cost function takes frames",
			       (unsigned long long)q->id, q->model, q->width, q->height, q->frames);
			return TS_ENOENT;
		}
		if (!c) {
			ts_err("sim", "request %llu: no cost table for %s %dx%d (add its profile)",
			       (unsigned long long)q->id, q->model, q->width, q->height);
			return TS_ENOENT;
		}
		spec = (struct ts_req_spec){
			.id = q->id, .arrival_s = q->arrival_s,
			.deadline_s = q->arrival_s + q->slo_s * slo_scale, .steps = q->steps,
			.width = q->width, .height = q->height, .frames = q->frames, .cost = c,
			.klass = (uint32_t)ts_costbook_klass(env->costs, c),
		};
		err = ts_engine_submit(s->eng, &spec, NULL);
		if (err)
			return err;
	}
	return 0;
}

/* Run to @swap_at_s, ask for the swap (a failed create keeps the old policy), run on. */
static int run_with_swap(struct sim_run *s, const struct ts_sim_env *env,
			 const struct ts_sim_opts *o)
{
	const struct ts_policy_ops *ops;
	int err;

	if (!(o->swap_at_s > 0) || (!o->swap_policy && !o->swap_ops))
		return ts_engine_run(s->eng);
	ops = find_policy(o->swap_policy, o->swap_ops);
	if (!ops)
		return TS_ENOENT;
	err = ts_engine_run_until(s->eng, o->swap_at_s);
	if (err)
		return err;
	err = policy_params(env, ops, o->swap_params, &s->swap_params);
	if (!err)
		err = ts_engine_set_policy(s->eng, ops, ts_config_section(s->swap_params, "scheduler"));
	if (err)
		ts_warn("sim", "swap to %s at %.3f s failed; carrying on with %s", ops->name,
			o->swap_at_s, ts_engine_policy(s->eng)->name);
	return ts_engine_run(s->eng);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v. */
static double percentile(const double *v, int n, double p)
{
	int k;

	if (!n)
		return NAN;
	k = (int)ceil(p / 100.0 * n) - 1;
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

static void res_count(struct ts_sim_result *res, const struct ts_sim_req *q)
{
	int i;

	for (i = 0; i < res->n_res; i++)
		if (res->by_res[i].width == q->width && res->by_res[i].height == q->height)
			break;
	if (i == res->n_res) {
		if (res->n_res == TS_SIM_MAX_RES)
			return;
		res->by_res[res->n_res++] = (struct ts_sim_res_stat){
			.width = q->width, .height = q->height,
		};
	}
	res->by_res[i].n++;
	res->by_res[i].met += q->met;
}

static int cmp_res(const void *a, const void *b)
{
	const struct ts_sim_res_stat *x = a, *y = b;
	long px = (long)x->width * x->height, py = (long)y->width * y->height;

	return (px > py) - (px < py);
}

static void req_result(struct ts_sim_req *q, const struct ts_req *r)
{
	*q = (struct ts_sim_req){
		.id = r->id, .arrival_s = r->arrival_s, .start_s = r->start_s,
		.finish_s = r->state == TS_REQ_DONE ? r->finish_s : NAN,
		.deadline_s = r->deadline_s, .width = r->width, .height = r->height,
		.frames = r->frames > 1 ? r->frames : 1, .steps = r->steps_total, .steps_run = r->steps_done,
		.done = r->state == TS_REQ_DONE,
		.met = r->state == TS_REQ_DONE && r->finish_s <= r->deadline_s,
		.degrees_mask = r->degrees_mask, .migrations = r->migrations, .gpu_s = r->gpu_s,
	};
}

static int latency_stats(struct ts_sim_result *res)
{
	double *lat = malloc((res->requests ? res->requests : 1) * sizeof(double)), sum = 0;
	int n = 0;

	if (!lat)
		return TS_ENOMEM;
	for (int i = 0; i < res->requests; i++) {
		if (!res->req[i].done)
			continue;
		lat[n] = res->req[i].finish_s - res->req[i].arrival_s;
		sum += lat[n++];
	}
	qsort(lat, n, sizeof(double), cmp_double);
	res->latency_mean = n ? sum / n : NAN;
	res->latency_p50 = percentile(lat, n, 50);
	res->latency_p99 = percentile(lat, n, 99);
	free(lat);
	return 0;
}

static int collect(struct sim_run *s, const struct ts_sim_opts *o, struct ts_sim_result *res)
{
	const struct ts_reqtable *rt = ts_engine_requests(s->eng);
	struct ts_engine_stats st;
	struct ts_groupcache_stats gs;

	res->requests = rt->n;
	res->req = calloc(rt->n ? rt->n : 1, sizeof(*res->req));
	if (!res->req)
		return TS_ENOMEM;
	for (int i = 0; i < rt->n; i++) {
		struct ts_sim_req *q = &res->req[i];

		req_result(q, &rt->r[i]);
		res->completed += q->done;
		res->met += q->met;
		if (q->done && q->finish_s > res->makespan_s)
			res->makespan_s = q->finish_s;
		res_count(res, q);
	}
	qsort(res->by_res, res->n_res, sizeof(res->by_res[0]), cmp_res);
	res->sar = rt->n ? (double)res->met / rt->n : NAN;
	ts_engine_stats(s->eng, &st);
	ts_groupcache_stats(s->cache, &gs);
	res->gpu_seconds = st.gpu_s;
	res->mean_degree = st.steps_run ? (double)st.deg_steps / st.steps_run : NAN;
	res->rounds = st.rounds;
	res->plan_calls = st.plan_calls;
	res->runs = st.runs;
	res->migrations = st.migrations;
	res->plan_wall_s = st.plan_wall_s;
	res->plan_max_s = st.plan_max_s;
	res->swapped_at_s = st.swaps ? st.swapped_at_s : NAN;
	if (st.swaps)
		snprintf(res->swap_policy, sizeof(res->swap_policy), "%s",
			 ts_engine_policy(s->eng)->name);
	res->cache_hits = gs.hits;
	res->cache_misses = gs.misses;
	res->cache_evictions = gs.evictions;
	res->cache_create_s = gs.create_s;
	res->n_devices = s->pool->n;
	return latency_stats(res);
}

void ts_sim_result_free(struct ts_sim_result *r)
{
	if (!r)
		return;
	free(r->req);
	free(r);
}

int ts_sim_run(struct ts_sim_env *env, const struct ts_trace *t, const struct ts_sim_opts *o,
	       struct ts_sim_result **out)
{
	static const struct ts_sim_opts none;
	struct sim_run s = { 0 };
	struct ts_sim_result *res;
	const struct ts_policy_ops *ops;
	double t0 = mono_s();
	int err;

	o = o ? o : &none;
	ops = find_policy(o->policy ? o->policy : env->policy, o->policy_ops);
	if (!ops)
		return TS_ENOENT;
	res = calloc(1, sizeof(*res));
	if (!res)
		return TS_ENOMEM;
	snprintf(res->policy, sizeof(res->policy), "%s", ops->name);
	res->slo_scale = o->slo_scale > 0 ? o->slo_scale : 1.0;
	res->sar_upper_bound = NAN;
	err = run_open(&s, env, o, ops);
	if (!err)
		err = submit_trace(&s, env, t, res->slo_scale);
	if (!err)
		err = run_with_swap(&s, env, o);
	if (!err)
		err = collect(&s, o, res);
	if (!err) /* the bound is extra: without it the run still stands */
		ts_bound_trace(env->costs, t, res->slo_scale, res->n_devices, &res->sar_upper_bound);
	run_close(&s);
	if (err) {
		ts_sim_result_free(res);
		return err;
	}
	res->wall_s = mono_s() - t0;
	*out = res;
	return 0;
}
