// SPDX-License-Identifier: MIT
/*
 * sched/fixed - the xDiT baseline: every request at one sequence-parallel
 * degree k, first come first served, non-preemptive. Event-driven: the
 * engine asks at every arrival and completion, and a request starts the
 * moment k devices are free. The oldest waiting request blocks the ones
 * behind it (head-of-line blocking, as xDiT's engine does), and it is given
 * all its remaining steps at once.
 */
#include <stdlib.h>

#include <tetri/tetri.h>

struct fixed {
	const struct ts_host *host;
	int k;
};

static const struct ts_key fixed_params[] = {
	{ .name = "k", .type = TS_KEY_INT, .def = "1", .min = 1, .max = TS_MAX_DEVICES,
	  .help = "sequence-parallel degree of every request" },
	{ .name = NULL },
};

static int fixed_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct fixed *f = calloc(1, sizeof(*f));

	if (!f)
		return TS_ENOMEM;
	f->host = host;
	f->k = params ? (int)host->cfg_int(params, "k") : 1;
	if (f->k < 1 || f->k > TS_MAX_DEVICES) {
		host->log(TS_LOG_ERROR, "fixed", "k = %d: must be 1..%d", f->k, TS_MAX_DEVICES);
		free(f);
		return TS_EINVAL;
	}
	*self = f;
	return 0;
}

static void fixed_destroy(void *self)
{
	free(self);
}

/* 1 when some request can never run at degree k here: then nothing behind it could either. */
static int fixed_impossible(const struct fixed *f, const struct ts_round_view *v,
			    const struct ts_req_view *r)
{
	const struct ts_cost *c = r->cost;

	if (f->k > v->n_devices)
		return 1;
	for (int i = 0; i < c->n_degrees; i++)
		if (c->degree[i] == f->k)
			return 0;
	return 1;
}

static int fixed_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	const struct fixed *f = self;
	int free_dev = v->n_free;

	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *r = &v->req[i];

		if (r->running || r->steps_left <= 0)
			continue;
		if (fixed_impossible(f, v, r)) {
			f->host->log(TS_LOG_ERROR, "fixed", "request %llu cannot run at degree %d "
				     "(%d devices; its cost table lacks the degree)",
				     (unsigned long long)r->id, f->k, v->n_devices);
			return TS_EINVAL;
		}
		if (free_dev < f->k || plan->n >= plan->cap)
			break;
		plan->a[plan->n++] = (struct ts_assign){
			.req = i, .degree = f->k, .steps = r->steps_left,
		};
		free_dev -= f->k;
	}
	return 0;
}

static const struct ts_policy_ops fixed_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "fixed",
	.description = "every request at degree k, FCFS, non-preemptive (xDiT baseline)",
	.params = fixed_params,
	.create = fixed_create,
	.plan = fixed_plan,
	.destroy = fixed_destroy,
};

static int fixed_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &fixed_ops);
}

TS_MODULE(fixed, .version = "1.0.0", .license = "MIT",
	  .description = "fixed-degree FCFS policy (xDiT baseline)", .init = fixed_init);
