// SPDX-License-Identifier: MIT
/*
 * core/policy_sched.c - "schedule", a built-in policy that forces a degree
 * schedule: step s of every request runs at degrees[s] (the last entry for
 * the steps past the list). `tetriserve generate --degrees 1,2,4,1` and the
 * determinism tests use it to move a request between device sets on
 * purpose. Event-driven: a request's next stretch of equal degrees starts as
 * soon as its last one ends and enough devices are free; a stretch at the
 * same degree keeps its devices.
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/host.h>

#include "policy_sched.h"

#define SCHED_MAX 4096

struct sched {
	int n;
	int deg[SCHED_MAX];
};

static const struct ts_key sched_params[] = {
	{ .name = "degrees", .type = TS_KEY_STRING, .def = "1",
	  .help = "degree of each step, comma-separated; the last one repeats" },
	{ .name = NULL },
};

static int sched_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	const char *s = host->cfg_str(params, "degrees");
	struct sched *p = calloc(1, sizeof(*p));
	char *end;

	if (!p)
		return TS_ENOMEM;
	while (s && *s && p->n < SCHED_MAX) {
		long k = strtol(s, &end, 10);

		if (end == s || k < 1 || k > TS_MAX_DEVICES || (*end && *end != ',')) {
			free(p);
			return host->cfg_error(params, "degrees", "'%s' is not a list of degrees", s);
		}
		p->deg[p->n++] = (int)k;
		s = *end ? end + 1 : end;
	}
	if (!p->n) {
		free(p);
		return host->cfg_error(params, "degrees", "no degrees");
	}
	*self = p;
	return 0;
}

static int degree_at(const struct sched *p, int step)
{
	return p->deg[step < p->n ? step : p->n - 1];
}

static int sched_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	const struct sched *p = self;
	int free_dev = v->n_free;

	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *r = &v->req[i];
		int done = r->steps_total - r->steps_left, k, q;

		if (r->running || r->steps_left < 1)
			continue;
		k = degree_at(p, done);
		if (k > free_dev)
			continue;
		for (q = 1; q < r->steps_left && degree_at(p, done + q) == k; q++)
			;
		plan->a[plan->n++] = (struct ts_assign){
			.req = i, .degree = k, .steps = q, .flags = TS_ASSIGN_PRESERVE,
		};
		free_dev -= k;
	}
	return 0;
}

static void sched_destroy(void *self)
{
	free(self);
}

static const struct ts_policy_ops sched_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "schedule",
	.description = "forced degree schedule (tests, generate --degrees)",
	.params = sched_params,
	.create = sched_create,
	.plan = sched_plan,
	.destroy = sched_destroy,
};

const struct ts_policy_ops *ts_policy_schedule(void)
{
	return &sched_ops;
}
