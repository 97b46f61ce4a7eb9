/* SPDX-License-Identifier: MIT */
/*
 * sched/edf/edf.c - earliest deadline first, non-preemptive: at every arrival
 * and completion the waiting requests are taken by deadline, each at the
 * smallest degree that still meets its deadline from now if started now
 * (S x T(k) <= deadline - now), and runs to the end at that degree.
 *
 * [inferred] A request no degree can save any more waits behind every one
 * that can still be saved and then runs on the smallest degree (best
 * effort). backfill = 0 (default): a savable request that does not fit
 * blocks those behind it, so a big request is not starved by a stream of
 * small ones; backfill = 1 lets later ones use the devices meanwhile.
 */
#include <stdlib.h>

#include <tetri/error.h>
#include <tetri/host.h>
#include <tetri/module.h>
#include <tetri/policy.h>

#include "../lib/nonpre.h"
#include "../lib/sched_lib.h"

struct edf {
	int backfill;
	struct ts_nonpre list, late;
};

static const struct ts_key edf_params[] = {
	{ .name = "backfill", .type = TS_KEY_BOOL, .def = "0",
	  .help = "start later requests when the earliest deadline does not fit" },
	{ .name = NULL },
};

/* Smallest degree meeting the deadline from @now, 0 if none; smallest usable in @min_deg. */
static int edf_degree(const struct ts_req_view *q, double now, int n_dev, int *min_deg)
{
	int nd = ts_sched_ndeg(q->cost, n_dev);

	*min_deg = 0;
	for (int i = 0; i < nd; i++) {
		double t = ts_sched_step(q->cost, i);

		if (t <= 0.0)
			continue;
		if (!*min_deg)
			*min_deg = q->cost->degree[i];
		if (now + q->steps_left * t <= q->deadline_s + 1e-9)
			return q->cost->degree[i];
	}
	return 0;
}

static int edf_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	struct edf *e = self;
	int ret, idle, before = plan->n;

	ret = ts_nonpre_reset(&e->list, v->n_req);
	if (!ret)
		ret = ts_nonpre_reset(&e->late, v->n_req);
	if (ret)
		return ret;
	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *q = &v->req[i];
		int k, kmin;

		if (!ts_nonpre_startable(q))
			continue;
		k = edf_degree(q, v->now_s, v->n_devices, &kmin);
		if (k)
			ts_nonpre_push(&e->list, i, k, q->deadline_s);
		else if (kmin)
			ts_nonpre_push(&e->late, i, kmin, q->deadline_s);
	}
	ts_nonpre_sort(&e->list);
	ts_nonpre_sort(&e->late);
	idle = ts_nonpre_start(&e->list, v, v->n_free, e->backfill, plan);
	/* Hopeless requests only when nothing savable is left waiting. */
	if (plan->n - before == e->list.n)
		ts_nonpre_start(&e->late, v, idle, 1, plan);
	return 0;
}

static int edf_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct edf *e = calloc(1, sizeof(*e));

	if (!e) {
		host->log(TS_LOG_ERROR, "edf", "out of memory for the policy state");
		return TS_ENOMEM;
	}
	if (params)
		e->backfill = host->cfg_bool(params, "backfill");
	*self = e;
	return 0;
}

static void edf_destroy(void *self)
{
	struct edf *e = self;

	ts_nonpre_free(&e->list);
	ts_nonpre_free(&e->late);
	free(e);
}

static const struct ts_policy_ops edf_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "edf",
	.description = "earliest deadline first, smallest degree that meets it, non-preemptive",
	.params = edf_params,
	.create = edf_create,
	.plan = edf_plan,
	.destroy = edf_destroy,
};

static int edf_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &edf_ops);
}

TS_MODULE(edf, .version = "1.0.0", .license = "MIT",
	  .description = "earliest deadline first, non-preemptive (baseline)", .init = edf_init);
