/* SPDX-License-Identifier: MIT */
/*
 * sched/rssp/rssp.c - resolution-specific sequence parallelism: every step
 * type runs at one fixed degree, derived offline from its cost table, FCFS
 * and non-preemptive like the xDiT engine (a request keeps its devices from
 * first step to last; the head of the queue blocks the rest).
 *
 * The paper calls RSSP the "oracle static configuration" (SP=1 for 256² and
 * 512², 2 for 1024², 8 for 2048² on FLUX/H100) without its rule. [inferred]
 * Two rules, both a function of the table alone (and of the SLO, which is
 * fixed per resolution):
 *   rule = slo: the smallest degree whose run alone, S x T(k), meets the
 *               request's SLO (deadline - arrival); the fastest if none does.
 *   rule = efficiency: the largest degree whose parallel efficiency
 *               T(1) / (k T(k)) is at least `eff` (0.75 reproduces the
 *               paper's list on the FLUX profile).
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/host.h>
#include <tetri/module.h>
#include <tetri/policy.h>

#include "../lib/nonpre.h"
#include "../lib/sched_lib.h"

enum rssp_rule { RSSP_SLO = 0, RSSP_EFFICIENCY = 1 };

struct rssp {
	enum rssp_rule rule;
	double eff;
	int backfill;
	struct ts_nonpre list;
};

static const struct ts_key rssp_params[] = {
	{ .name = "rule", .type = TS_KEY_ENUM, .def = "slo", .choices = "slo|efficiency",
	  .help = "how the degree of a resolution is derived from its cost table" },
	{ .name = "eff", .type = TS_KEY_FLOAT, .def = "0.75", .min = 0.01, .max = 1.0,
	  .help = "rule=efficiency: least parallel efficiency T(1)/(k T(k)) a degree must keep" },
	{ .name = "backfill", .type = TS_KEY_BOOL, .def = "0",
	  .help = "start later requests when the head of the queue does not fit (xDiT: no)" },
	{ .name = NULL },
};

static int degree_slo(const struct ts_req_view *q, int n_dev)
{
	int nd = ts_sched_ndeg(q->cost, n_dev), fast = -1;
	double slo = q->deadline_s - q->arrival_s;

	for (int i = 0; i < nd; i++) {
		double t = ts_sched_step(q->cost, i);

		if (t <= 0.0)
			continue;
		if (q->steps_total * t <= slo + 1e-9)
			return q->cost->degree[i];
	}
	ts_sched_tmin(q->cost, n_dev, &fast);
	return fast >= 0 ? q->cost->degree[fast] : 0;
}

static int degree_eff(const struct ts_req_view *q, int n_dev, double eff)
{
	int nd = ts_sched_ndeg(q->cost, n_dev), best = 0;
	double t1 = -1.0;

	for (int i = 0; i < nd; i++) {
		double t = ts_sched_step(q->cost, i);

		if (t <= 0.0)
			continue;
		if (t1 < 0.0)
			t1 = t * q->cost->degree[i]; /* GPU-seconds at the smallest degree */
		if (t1 / (q->cost->degree[i] * t) >= eff - 1e-12)
			best = q->cost->degree[i];
	}
	return best;
}

static int rssp_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	struct rssp *r = self;
	int ret = ts_nonpre_reset(&r->list, v->n_req);

	if (ret)
		return ret;
	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *q = &v->req[i];
		int k;

		if (!ts_nonpre_startable(q))
			continue;
		k = r->rule == RSSP_SLO ? degree_slo(q, v->n_devices)
					: degree_eff(q, v->n_devices, r->eff);
		if (k > 0)
			ts_nonpre_push(&r->list, i, k, q->arrival_s);
	}
	ts_nonpre_start(&r->list, v, v->n_free, r->backfill, plan);
	return 0;
}

static int rssp_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct rssp *r = calloc(1, sizeof(*r));
	const char *rule;

	if (!r) {
		host->log(TS_LOG_ERROR, "rssp", "out of memory for the policy state");
		return TS_ENOMEM;
	}
	r->eff = 0.75;
	if (params) {
		rule = host->cfg_str(params, "rule");
		r->rule = rule && !strcmp(rule, "efficiency") ? RSSP_EFFICIENCY : RSSP_SLO;
		r->eff = host->cfg_float(params, "eff");
		r->backfill = host->cfg_bool(params, "backfill");
	}
	*self = r;
	return 0;
}

static void rssp_destroy(void *self)
{
	struct rssp *r = self;

	ts_nonpre_free(&r->list);
	free(r);
}

static const struct ts_policy_ops rssp_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "rssp",
	.description = "resolution-specific fixed degree, FCFS, non-preemptive",
	.params = rssp_params,
	.create = rssp_create,
	.plan = rssp_plan,
	.destroy = rssp_destroy,
};

static int rssp_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &rssp_ops);
}

TS_MODULE(rssp, .version = "1.0.0", .license = "MIT",
	  .description = "resolution-specific sequence parallelism (baseline)", .init = rssp_init);
