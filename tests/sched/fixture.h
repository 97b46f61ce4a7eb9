/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/fixture.h - hand-built inputs for policy tests: the FLUX.1-dev
 * 8xH100 step times of profiles/flux1-dev-h100x8.csv as struct ts_cost, and
 * helpers to build a struct ts_round_view request by request.
 */
#ifndef TS_TESTS_SCHED_FIXTURE_H
#define TS_TESTS_SCHED_FIXTURE_H

#include <math.h>
#include <string.h>

#include <tetri/policy.h>

static const int fx_deg[4] = { 1, 2, 4, 8 };

/* [degree][batch 1, 2, 4 -> stored as batch 1..4 with 3 = NAN]. */
#define FX_NAN NAN
static const double fx_256[16] = {
	0.049359, 0.079842, FX_NAN, 0.140808, 0.040023, 0.056609, FX_NAN, 0.089782,
	0.032066, 0.040695, FX_NAN, 0.057954, 0.027835, 0.032234, FX_NAN, 0.041031,
};
static const double fx_512[16] = {
	0.081541, 0.143854, FX_NAN, 0.268481, 0.057634, 0.091480, FX_NAN, 0.159172,
	0.041383, 0.058978, FX_NAN, 0.094170, 0.032753, 0.041719, FX_NAN, 0.059651,
};
static const double fx_1024[16] = {
	0.223741, 0.426850, FX_NAN, 0.833070, 0.134815, 0.244438, FX_NAN, 0.463686,
	0.082020, 0.138849, FX_NAN, 0.252507, 0.054110, 0.083029, FX_NAN, 0.140866,
};
static const double fx_2048[16] = {
	1.008137, 1.990028, FX_NAN, 3.953810, 0.551337, 1.071868, FX_NAN, 2.112930,
	0.298467, 0.566129, FX_NAN, 1.101453, 0.166486, 0.302166, FX_NAN, 0.573526,
};

static const struct ts_cost fx_cost[4] = {
	{ .model = "flux1-dev", .width = 256, .height = 256, .n_degrees = 4, .degree = fx_deg,
	  .max_batch = 4, .step_s = fx_256 },
	{ .model = "flux1-dev", .width = 512, .height = 512, .n_degrees = 4, .degree = fx_deg,
	  .max_batch = 4, .step_s = fx_512 },
	{ .model = "flux1-dev", .width = 1024, .height = 1024, .n_degrees = 4, .degree = fx_deg,
	  .max_batch = 4, .step_s = fx_1024 },
	{ .model = "flux1-dev", .width = 2048, .height = 2048, .n_degrees = 4, .degree = fx_deg,
	  .max_batch = 4, .step_s = fx_2048 },
};
enum { FX_256 = 0, FX_512 = 1, FX_1024 = 2, FX_2048 = 3 };

#define FX_MAX_REQ 64

struct fx_view {
	struct ts_round_view v;
	struct ts_req_view req[FX_MAX_REQ];
	struct ts_devset free_set;
	struct ts_assign a[FX_MAX_REQ];
	struct ts_plan plan;
};

static inline void fx_init(struct fx_view *f, double now, int n_devices, int round_steps)
{
	memset(f, 0, sizeof(*f));
	for (int d = 0; d < n_devices; d++)
		ts_devset_add(&f->free_set, d);
	f->v = (struct ts_round_view){
		.now_s = now, .round_steps = round_steps, .n_devices = n_devices,
		.n_free = n_devices, .free_set = &f->free_set, .req = f->req,
	};
	f->plan = (struct ts_plan){ .cap = FX_MAX_REQ, .a = f->a };
}

/* Append a fresh request of size @k (FX_*) with @steps left and @slack seconds to its deadline. */
static inline struct ts_req_view *fx_add(struct fx_view *f, int k, int steps, double slack)
{
	struct ts_req_view *q = &f->req[f->v.n_req];

	*q = (struct ts_req_view){
		.id = (uint64_t)f->v.n_req, .klass = (uint32_t)k, .steps_total = steps,
		.steps_left = steps, .arrival_s = f->v.now_s, .deadline_s = f->v.now_s + slack,
		.cost = &fx_cost[k],
	};
	f->v.n_req++;
	return q;
}

/* Mark @n devices busy (the highest ids). */
static inline void fx_busy(struct fx_view *f, int n)
{
	for (int i = 0; i < n; i++)
		ts_devset_del(&f->free_set, f->v.n_devices - 1 - i);
	f->v.n_free = f->v.n_devices - n;
}

/* The assignment of request @req in the plan, or NULL. */
static inline const struct ts_assign *fx_find(const struct fx_view *f, int req)
{
	for (int i = 0; i < f->plan.n; i++)
		if (f->plan.a[i].req == req)
			return &f->plan.a[i];
	return NULL;
}

static inline int fx_used(const struct fx_view *f)
{
	int n = 0;

	for (int i = 0; i < f->plan.n; i++)
		n += f->plan.a[i].degree;
	return n;
}

#endif /* TS_TESTS_SCHED_FIXTURE_H */
