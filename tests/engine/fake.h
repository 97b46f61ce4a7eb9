/* SPDX-License-Identifier: MIT */
/*
 * tests/engine/fake.h - a fake model (cost table from a formula), a host
 * that captures a module's policy and answers cfg_int from a list, and an
 * executor that counts every step it is asked to run, for the engine tests.
 */
#ifndef TS_TESTS_ENGINE_FAKE_H
#define TS_TESTS_ENGINE_FAKE_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/tetri.h>

#include "clock.h"
#include "costtable.h"
#include "groupcache.h"
#include "pool.h"
#include "backend_sim.h"
#include "round.h"
#include "tap.h"

/* Step time of the fake model: base / degree^0.8, times batch^0.7. */
struct fake_model {
	double base;
};

static inline double fake_cost(void *arg, int degree, int batch)
{
	const struct fake_model *m = arg;

	return m->base / pow(degree, 0.8) * pow(batch, 0.7);
}

/* Exact step times: 1 s at degree 1, 0.6 s at degree 2, 0.4 s at 4; batch 2 costs 1.5x. */
static inline double fake_exact(void *arg, int degree, int batch)
{
	double s = degree == 1 ? 1.0 : degree == 2 ? 0.6 : degree == 4 ? 0.4 : -1;

	return s < 0 ? s : s * (batch == 1 ? 1.0 : 1.5);
}

static inline struct ts_costbook *fake_book(ts_cost_fn fn, void *arg)
{
	static const int deg[] = { 1, 2, 4 };
	struct ts_costbook *b;

	if (ts_costbook_new(&b))
		return NULL;
	if (ts_costbook_add_fn(b, "fake", 64, 64, 1, deg, 3, 2, fn, arg)) {
		ts_costbook_free(b);
		return NULL;
	}
	return b;
}

/* --- an executor that counts steps per request and delegates to the simulated one --- */

#define FAKE_MAX_REQ 4096

struct count_exec {
	int steps[FAKE_MAX_REQ];
	int runs;
	int overlap; /* a request started while it had a run in flight */
	double busy_until[FAKE_MAX_REQ];
};

static int count_start(void *exec, const struct ts_run *run, double now, double *end_s)
{
	struct count_exec *c = exec;
	int err = ts_exec_sim()->start(NULL, run, now, end_s);

	if (err)
		return err;
	c->runs++;
	for (int i = 0; i < run->batch; i++) {
		int r = run->req[i];

		if (r < FAKE_MAX_REQ) {
			if (c->busy_until[r] > now)
				c->overlap++;
			c->busy_until[r] = *end_s;
			c->steps[r] += run->steps;
		}
	}
	return 0;
}

static const struct ts_exec_ops count_exec_ops = {
	.name = "count",
	.start = count_start,
};

/* --- a host for modules: register_policy and cfg_int over "key=value" strings --- */

struct fake_section {
	const char *const *kv;
};

static const struct ts_policy_ops *fake_registered;

static void fake_log(enum ts_log_level lvl, const char *who, const char *fmt, ...)
{
	va_list ap;

	printf("# [%s] ", who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int fake_register_policy(struct ts_module *self, const struct ts_policy_ops *ops)
{
	fake_registered = ops;
	return 0;
}

static long long fake_cfg_int(const struct ts_section *sec, const char *key)
{
	const struct fake_section *s = (const void *)sec;
	size_t n = strlen(key);

	for (int i = 0; s && s->kv && s->kv[i]; i++)
		if (!strncmp(s->kv[i], key, n) && s->kv[i][n] == '=')
			return atoll(s->kv[i] + n + 1);
	return 1;
}

static const struct ts_host fake_host = {
	.hdr = TS_ABI_HDR(TS_MAGIC_HOST, struct ts_host),
	.log = fake_log,
	.register_policy = fake_register_policy,
	.cfg_int = fake_cfg_int,
};

/* --- an engine on the sim backend and a virtual clock --- */

struct rig {
	struct ts_pool *pool;
	struct ts_groupcache *cache;
	struct ts_clock clock;
	struct count_exec *count;
	struct ts_engine *eng;
	struct ts_costbook *book;
	const struct ts_cost *cost;
};

static inline int rig_open(struct rig *r, int n_dev, const int *island, int round_steps,
		    double round_ms, ts_cost_fn fn, void *arg)
{
	struct ts_engine_cfg cfg;

	memset(r, 0, sizeof(*r));
	r->book = fake_book(fn, arg);
	r->count = calloc(1, sizeof(*r->count));
	if (!r->book || !r->count)
		return -1;
	r->cost = ts_costbook_find(r->book, "fake", 64, 64, 1);
	if (ts_pool_new(ts_backend_sim(), NULL, n_dev, island, &r->pool) ||
	    ts_groupcache_new(r->pool, 0, &r->cache))
		return -1;
	ts_clock_init_virtual(&r->clock);
	cfg = (struct ts_engine_cfg){
		.pool = r->pool, .cache = r->cache, .clock = &r->clock, .exec = &count_exec_ops,
		.exec_arg = r->count, .round_steps = round_steps, .round_ms = round_ms,
		.host = &fake_host,
	};
	return ts_engine_new(&cfg, &r->eng);
}

static inline void rig_close(struct rig *r)
{
	ts_engine_free(r->eng);
	ts_groupcache_free(r->cache);
	ts_pool_free(r->pool);
	ts_costbook_free(r->book);
	free(r->count);
}

static inline int rig_submit(struct rig *r, uint64_t id, double arrival, int steps, double slo)
{
	struct ts_req_spec s = {
		.id = id, .arrival_s = arrival, .deadline_s = arrival + slo, .steps = steps,
		.width = 64, .height = 64, .frames = 1, .cost = r->cost, .klass = 0,
	};

	return ts_engine_submit(r->eng, &s, NULL);
}

static inline const struct ts_req *rig_req(struct rig *r, int i)
{
	return &ts_engine_requests(r->eng)->r[i];
}

#endif /* TS_TESTS_ENGINE_FAKE_H */
