// SPDX-License-Identifier: MIT
/*
 * examples/hello-policy/llf.c - a complete scheduler policy module, small
 * enough to read in one sitting: least laxity first at degree 1.
 *
 * Laxity is the slack a request has left: deadline - now - the time its
 * remaining steps take on one device. Every round, waiting requests are
 * taken by increasing laxity, one device each, for one round's worth of
 * steps, so priorities are reconsidered at every round boundary. Requests
 * that can no longer make their deadline (negative laxity, or flagged late)
 * go after all the others unless late_last = no.
 *
 * Build: make (needs `pkg-config --cflags tetri`); load: put llf.so on the
 * module path and set [scheduler] policy = llf. See docs/modules.md.
 */
#include <math.h>
#include <stdlib.h>

#include <tetri/tetri.h>

struct llf {
	const struct ts_host *host;
	int late_last;
	struct cand *cand; /* scratch, grown as needed: plan() runs often */
	int cap;
};

struct cand {
	int req;
	int hopeless;
	double laxity;
	double arrival;
};

static const struct ts_key llf_params[] = {
	{ .name = "late_last", .type = TS_KEY_BOOL, .def = "yes",
	  .help = "serve requests that can no longer meet their deadline last" },
	{ .name = NULL },
};

/* Seconds per step on one device, or 0 when the cost table has no degree 1. */
static double step_s_at_1(const struct ts_cost *c)
{
	if (!c)
		return 0.0;
	for (int i = 0; i < c->n_degrees; i++) {
		if (c->degree[i] == 1) {
			double t = ts_cost_step(c, i, 1);

			return isfinite(t) && t > 0.0 ? t : 0.0;
		}
	}
	return 0.0;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->hopeless != y->hopeless)
		return x->hopeless - y->hopeless;
	if (x->laxity != y->laxity)
		return x->laxity < y->laxity ? -1 : 1;
	return (x->arrival > y->arrival) - (x->arrival < y->arrival);
}

/* Steps for one round: the round's step count, or as many as fit in its seconds. */
static int round_steps(const struct ts_round_view *v, const struct ts_req_view *q, double t1)
{
	int steps = q->steps_left;

	if (v->round_steps > 0 && v->round_steps < steps)
		steps = v->round_steps;
	else if (v->round_steps <= 0 && v->round_s > 0.0 && t1 > 0.0 && v->round_s / t1 < steps)
		steps = v->round_s / t1 >= 1.0 ? (int)(v->round_s / t1) : 1;
	return steps;
}

static int llf_reserve(struct llf *p, int n)
{
	struct cand *grown;

	if (n <= p->cap)
		return 0;
	grown = realloc(p->cand, (size_t)n * sizeof(*grown));
	if (!grown)
		return TS_ENOMEM;
	p->cand = grown;
	p->cap = n;
	return 0;
}

static int llf_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	struct llf *p = self;
	int n = 0, free_devs = v->n_free;

	if (llf_reserve(p, v->n_req))
		return TS_ENOMEM;
	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *q = &v->req[i];
		double lax;

		if (q->running || q->steps_left <= 0)
			continue;
		lax = q->deadline_s - v->now_s - q->steps_left * step_s_at_1(q->cost);
		p->cand[n++] = (struct cand){
			.req = i,
			.hopeless = p->late_last && (q->late || lax < 0.0),
			.laxity = lax,
			.arrival = q->arrival_s,
		};
	}
	qsort(p->cand, (size_t)n, sizeof(*p->cand), cand_cmp);
	for (int i = 0; i < n && free_devs > 0 && plan->n < plan->cap; i++, free_devs--) {
		const struct ts_req_view *q = &v->req[p->cand[i].req];

		plan->a[plan->n++] = (struct ts_assign){
			.req = p->cand[i].req,
			.degree = 1,
			.steps = round_steps(v, q, step_s_at_1(q->cost)),
			.flags = TS_ASSIGN_PRESERVE,
		};
	}
	return 0;
}

static int llf_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct llf *p = calloc(1, sizeof(*p));

	if (!p)
		return TS_ENOMEM;
	p->host = host;
	p->late_last = params ? host->cfg_bool(params, "late_last") : 1;
	*self = p;
	return 0;
}

static void llf_destroy(void *self)
{
	struct llf *p = self;

	if (!p)
		return;
	free(p->cand);
	free(p);
}

static const struct ts_policy_ops llf_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_policy_ops),
	.name = "llf",
	.description = "least laxity first, one device per request",
	.params = llf_params,
	.create = llf_create,
	.plan = llf_plan,
	.destroy = llf_destroy,
};

static int llf_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &llf_ops);
}

TS_MODULE(llf,
	  .version = "1.0.0",
	  .license = "MIT",
	  .description = "example policy: least laxity first at degree 1",
	  .init = llf_init);
