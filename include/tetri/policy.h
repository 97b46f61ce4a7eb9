/* SPDX-License-Identifier: MIT */
/*
 * tetri/policy.h - scheduler policies (sched/): a pure function of a round view.
 *
 * The round engine owns time, the request table, placement bookkeeping and
 * dispatch. At every round boundary (or, for event-driven policies, at every
 * arrival and completion) it builds a struct ts_round_view and calls
 * plan(); the policy answers, per request it wants to run now, a degree and
 * a step count. The engine then maps degrees to device sets: an assignment
 * flagged TS_ASSIGN_PRESERVE keeps the request's last set when it is free and
 * of that size (the paper's placement preservation); otherwise the engine
 * picks free devices (topology-aware), unless the policy named a set.
 *
 * Round semantics: assignments are non-preemptible. An assignment of q steps
 * holds its devices until its q steps are done, even past the next boundary
 * (an overrun); such a request shows up as running and its devices as busy.
 * The next boundary is plan->next_round_s when the policy sets it, otherwise
 * now + the configured round length ([scheduler] round_ms, or round_steps
 * times the longest step among this round's assignments).
 *
 * Policies can be swapped at a round boundary: the engine creates the new
 * one first, swaps, and destroys the old one; a failed create keeps the old.
 */
#ifndef TETRI_POLICY_H
#define TETRI_POLICY_H

#include <stdint.h>

#include "abi.h"
#include "config.h"
#include "devset.h"

struct ts_host;

/* hdr.flags of struct ts_policy_ops */
#define TS_POLICY_EVENT_DRIVEN 0x1 /* plan at every arrival/completion, not at round boundaries */

/**
 * struct ts_cost - step-time table of one step type (model x shape), from a
 * profile CSV or the model's cost function.
 * @n_degrees: allowed degrees, ascending (e.g. 1 2 4 8).
 * @max_batch: batches profiled: 1..max_batch.
 * @step_s: seconds per step, [n_degrees][max_batch]: step_s[i*max_batch + b-1] is
 *          degree[i] with batch b; NAN where not profiled.
 */
struct ts_cost {
	const char *model;
	int width, height, frames;
	int n_degrees;
	const int *degree;
	int max_batch;
	const double *step_s;
};

static inline double ts_cost_step(const struct ts_cost *c, int deg_idx, int batch)
{
	return c->step_s[deg_idx * c->max_batch + (batch - 1)];
}

/**
 * struct ts_req_view - one request as the policy sees it.
 * @klass: step type; equal klass = same cost table, batchable together.
 * @steps_left: steps not yet run nor assigned.
 * @running: its devices are busy with an earlier assignment (not plannable now).
 * @last_degree, @last_set: of its latest assignment (0 / NULL if none yet).
 * @late: the deadline has passed (best effort from now on).
 */
struct ts_req_view {
	uint64_t id;
	uint32_t klass;
	int steps_total;
	int steps_left;
	double arrival_s;
	double deadline_s;
	int running;
	double busy_until_s;
	int last_degree;
	const struct ts_devset *last_set;
	int late;
	const struct ts_cost *cost;
};

/** struct ts_topology - optional link structure of the pool (NULL = uniform). */
struct ts_topology {
	int n;
	const int *island; /* [n]: devices in the same island have fast links */
};

/**
 * struct ts_round_view - the state a policy plans from.
 * Requests are in arrival order; @req includes running ones (flagged).
 */
struct ts_round_view {
	double now_s;
	double round_s;     /* configured round length in seconds, 0 if given in steps */
	int round_steps;    /* configured round granularity in steps, 0 if given in seconds */
	int n_devices;      /* healthy devices in the pool */
	int n_free;
	const struct ts_devset *free_set;
	const struct ts_topology *topo;
	int n_req;
	const struct ts_req_view *req;
};

/* flags of struct ts_assign */
#define TS_ASSIGN_PRESERVE 0x1 /* keep last_set when free and of size degree */

/**
 * struct ts_assign - run request @req (index into view->req) at @degree for
 * @steps steps now. Assignments with the same non-zero @batch_group (same klass,
 * same degree) run as one batched step on one device set.
 * @set: explicit device set (size == degree, all free), or NULL: engine places.
 */
struct ts_assign {
	int req;
	int degree;
	int steps;
	uint32_t flags;
	int batch_group;
	const struct ts_devset *set;
};

/**
 * struct ts_plan - the policy's answer. The engine provides @a with room for
 * @cap >= view->n_req entries and n = 0; the policy appends.
 */
struct ts_plan {
	int n, cap;
	struct ts_assign *a;
	double next_round_s; /* absolute time of the next plan call, 0 = engine default */
};

/**
 * struct ts_policy_ops - a scheduler policy registered with host->register_policy().
 * @params: schema of its [scheduler] keys (besides policy, round_steps, round_ms).
 * @create: build an instance from validated params; 0 or TS_E*.
 * @plan: fill @plan from @view; must not keep pointers into @view.
 */
struct ts_policy_ops {
	struct ts_abi_hdr hdr;
	const char *name;
	const char *description;
	const struct ts_key *params;

	int (*create)(const struct ts_host *host, const struct ts_section *params, void **self);
	int (*plan)(void *self, const struct ts_round_view *view, struct ts_plan *plan);
	void (*destroy)(void *self);
};

#endif /* TETRI_POLICY_H */
