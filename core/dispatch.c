// SPDX-License-Identifier: MIT
/*
 * core/dispatch.c - turn a policy's plan into runs: validate each
 * assignment, merge batch groups, place device sets, start the executor;
 * and retire runs when they complete.
 *
 * A bad assignment (request not plannable, degree the cost table does not
 * allow, no room) is refused on its own with a warning: the rest of the plan
 * still runs, and a request is never run twice at once.
 */
#include <math.h>
#include <string.h>

#include <tetri/error.h>

#include "costtable.h"
#include "groupcache.h"
#include "log.h"
#include "pool.h"
#include "round_int.h"

static void reject(struct ts_engine *e, const struct ts_req *r, const char *why)
{
	e->st.rejected++;
	ts_warn("engine", "t=%.3f: assignment of request %llu refused: %s", e->now,
		(unsigned long long)(r ? r->id : 0), why);
}

/*
 * Batching pays when one step of b + 1 requests is shorter than a step of b
 * plus a step of one: otherwise the devices serve both sooner apart.
 */
static int batch_pays(const struct ts_cost *c, int degree, int b)
{
	return ts_cost_seconds(c, degree, b + 1) <
	       ts_cost_seconds(c, degree, b) + ts_cost_seconds(c, degree, 1);
}

/*
 * Join @r into the pending run of the same batch group: 0, -1 (refused), or
 * 1 when batching does not pay (@r then runs on its own).
 */
static int join_group(struct ts_engine *e, struct pend_run *p, struct ts_req *r, int ridx,
		      const struct ts_assign *a, int steps)
{
	struct ts_run *run = &p->run;
	const struct ts_req *head = ts_reqtable_at(&e->rt, run->req[0]);

	if (head->klass != r->klass || run->degree != a->degree) {
		reject(e, r, "batch group mixes klasses or degrees");
		return -1;
	}
	if (run->batch >= TS_RUN_MAX_BATCH ||
	    ts_cost_seconds(r->cost, a->degree, run->batch + 1) < 0) {
		reject(e, r, "batch larger than the cost table profiles");
		return -1;
	}
	if (!batch_pays(r->cost, a->degree, run->batch)) {
		e->st.unbatched++;
		return 1;
	}
	run->req[run->batch++] = ridx;
	/* A batched step advances every member: the group runs its smallest step count. */
	if (steps < run->steps)
		run->steps = steps;
	return 0;
}

static struct pend_run *find_group(struct ts_engine *e, int n_pend, int group_id)
{
	for (int i = 0; i < n_pend; i++)
		if (e->pend[i].group_id == group_id && e->pend[i].state == PEND_NEW)
			return &e->pend[i];
	return NULL;
}

static void pend_new(struct ts_engine *e, struct pend_run *p, struct ts_req *r, int ridx,
		     const struct ts_assign *a, int steps)
{
	*p = (struct pend_run){
		.run = { .degree = a->degree, .steps = steps, .batch = 1, .req = { ridx },
			 .cost = r->cost },
		.flags = a->flags,
		.group_id = a->batch_group,
		.has_explicit = a->set != NULL,
	};
	if (a->set)
		p->explicit_set = *a->set;
}

/* Validate the assignments and group them into pending runs; returns how many. */
static int collect(struct ts_engine *e, const struct ts_plan *plan, int n_view)
{
	int n_pend = 0;

	for (int i = 0; i < plan->n && i < plan->cap; i++) {
		const struct ts_assign *a = &plan->a[i];
		struct ts_req *r;
		struct pend_run *g;
		int ridx, left, steps;

		if (a->req < 0 || a->req >= n_view) {
			reject(e, NULL, "request index outside the view");
			continue;
		}
		ridx = e->view_idx[a->req];
		r = ts_reqtable_at(&e->rt, ridx);
		if (r->state != TS_REQ_QUEUED || e->taken[a->req]) {
			reject(e, r, "request is running or already assigned this round");
			continue;
		}
		if (ts_cost_seconds(r->cost, a->degree, 1) < 0 || a->degree > e->cfg.pool->n) {
			reject(e, r, "degree not allowed by its cost table");
			continue;
		}
		left = r->steps_total - r->steps_done;
		steps = a->steps > left ? left : a->steps;
		if (steps < 1) {
			reject(e, r, "no steps");
			continue;
		}
		g = a->batch_group ? find_group(e, n_pend, a->batch_group) : NULL;
		if (g) {
			int j = join_group(e, g, r, ridx, a, steps);

			if (j < 0)
				continue;
			if (j > 0)
				g = NULL;
		}
		if (!g) {
			pend_new(e, &e->pend[n_pend++], r, ridx, a, steps);
			/* unbatched: a run of its own, not a head others join */
			if (a->batch_group && find_group(e, n_pend - 1, a->batch_group))
				e->pend[n_pend - 1].group_id = 0;
		}
		e->taken[a->req] = 1;
	}
	return n_pend;
}

static void place_explicit(struct ts_engine *e, struct pend_run *p)
{
	struct ts_pool *pool = e->cfg.pool;

	if (ts_devset_count(&p->explicit_set) != p->run.degree ||
	    ts_pool_take(pool, &p->explicit_set)) {
		reject(e, ts_reqtable_at(&e->rt, p->run.req[0]),
		       "named device set is busy or of the wrong size");
		p->state = PEND_REJECTED;
		return;
	}
	p->run.set = p->explicit_set;
	p->state = PEND_PLACED;
}

static void place_preserved(struct ts_engine *e, struct pend_run *p)
{
	const struct ts_req *r = ts_reqtable_at(&e->rt, p->run.req[0]);

	if (!r->has_set || ts_devset_count(&r->last_set) != p->run.degree ||
	    ts_pool_take(e->cfg.pool, &r->last_set))
		return; /* not possible: placed freely in the last pass */
	p->run.set = r->last_set;
	p->state = PEND_PLACED;
}

static void place_free(struct ts_engine *e, struct pend_run *p)
{
	if (ts_pool_pick(e->cfg.pool, p->run.degree, &p->run.set) ||
	    ts_pool_take(e->cfg.pool, &p->run.set)) {
		reject(e, ts_reqtable_at(&e->rt, p->run.req[0]), "not enough free devices");
		p->state = PEND_REJECTED;
		return;
	}
	p->state = PEND_PLACED;
}

/*
 * Named sets first, then preserved ones, then the rest: a request placed
 * freely must not take the devices another one is entitled to keep.
 */
static void place_all(struct ts_engine *e, int n_pend)
{
	for (int i = 0; i < n_pend; i++)
		if (e->pend[i].has_explicit)
			place_explicit(e, &e->pend[i]);
	for (int i = 0; i < n_pend; i++)
		if (e->pend[i].state == PEND_NEW && (e->pend[i].flags & TS_ASSIGN_PRESERVE))
			place_preserved(e, &e->pend[i]);
	for (int i = 0; i < n_pend; i++)
		if (e->pend[i].state == PEND_NEW)
			place_free(e, &e->pend[i]);
}

static void member_start(struct ts_engine *e, struct ts_req *r, const struct ts_run *run)
{
	if (isnan(r->start_s))
		r->start_s = run->start_s;
	if (r->has_set && !ts_devset_equal(&r->last_set, &run->set)) {
		r->migrations++;
		e->st.migrations++;
	}
	r->has_set = 1;
	r->last_set = run->set;
	r->last_degree = run->degree;
	if (run->degree <= 64)
		r->degrees_mask |= 1ull << (run->degree - 1);
	r->state = TS_REQ_RUNNING;
	r->steps_inflight = run->steps;
	r->busy_until_s = run->end_s;
	r->run = run->slot;
}

static int start_run(struct ts_engine *e, struct pend_run *p)
{
	struct ts_run *run;
	int slot, err;

	slot = e->free_slot[--e->n_free_slot];
	run = &e->runs[slot];
	*run = p->run;
	run->slot = slot;
	run->start_s = e->now;
	run->seq = e->seq++;
	run->group = NULL;
	if (e->cfg.cache && (err = ts_groupcache_acquire(e->cfg.cache, &run->set, &run->group)))
		goto give_back;
	err = e->cfg.exec->start(e->cfg.exec_arg, run, e->now, &run->end_s);
	if (err)
		goto release_group;
	for (int i = 0; i < run->batch; i++)
		member_start(e, ts_reqtable_at(&e->rt, run->req[i]), run);
	ts_runheap_push(e, slot);
	e->st.runs++;
	return 0;

release_group:
	if (run->group)
		ts_groupcache_release(e->cfg.cache, run->group);
give_back:
	ts_pool_give(e->cfg.pool, &run->set);
	e->free_slot[e->n_free_slot++] = slot;
	reject(e, ts_reqtable_at(&e->rt, p->run.req[0]), "could not start the run");
	return err;
}

int ts_dispatch_plan(struct ts_engine *e, const struct ts_plan *plan, int n_view,
		     double *longest_step_s)
{
	int n_pend, started = 0;

	memset(e->taken, 0, n_view);
	n_pend = collect(e, plan, n_view);
	place_all(e, n_pend);
	*longest_step_s = 0;
	for (int i = 0; i < n_pend; i++) {
		struct pend_run *p = &e->pend[i];
		double s;

		if (p->state != PEND_PLACED || start_run(e, p))
			continue;
		s = ts_cost_seconds(p->run.cost, p->run.degree, p->run.batch);
		if (s > *longest_step_s)
			*longest_step_s = s;
		started++;
	}
	return started;
}

static void member_done(struct ts_engine *e, int ridx, const struct ts_run *run)
{
	struct ts_req *r = ts_reqtable_at(&e->rt, ridx);
	double dur = run->end_s - run->start_s;

	r->steps_done += run->steps;
	r->steps_inflight = 0;
	r->run = -1;
	r->gpu_s += run->degree * dur / run->batch;
	r->deg_steps += (long)run->degree * run->steps;
	e->st.steps_run += run->steps;
	e->st.deg_steps += (long)run->degree * run->steps;
	if (r->steps_done >= r->steps_total)
		ts_reqtable_finish(&e->rt, ridx, TS_REQ_DONE, run->end_s);
	else if (r->cancel) {
		ts_reqtable_finish(&e->rt, ridx, TS_REQ_CANCELLED, run->end_s);
		ts_engine_drop(e, ridx);
	} else
		r->state = TS_REQ_QUEUED;
}

/* Devices whose step failed leave the pool for good (until an operator says otherwise). */
static void mark_bad(struct ts_engine *e, const struct ts_run_report *rep)
{
	for (int d = ts_devset_next(&rep->bad, 0); d >= 0; d = ts_devset_next(&rep->bad, d + 1)) {
		if (d >= e->cfg.pool->n || !e->cfg.pool->dev[d].healthy)
			continue;
		ts_pool_set_healthy(e->cfg.pool, d, 0);
		e->st.bad_devices++;
		ts_err("engine", "t=%.3f: device %d failed a step (%s); marked unhealthy", e->now, d,
		       ts_strerror(rep->err));
	}
}

void ts_dispatch_report(struct ts_engine *e, const struct ts_run_report *rep)
{
	struct ts_run *run;

	if (rep->slot < 0 || rep->slot >= e->n_slots || ts_runheap_remove(e, rep->slot)) {
		ts_err("engine", "executor reported run %d, which is not in flight", rep->slot);
		return;
	}
	run = &e->runs[rep->slot];
	if (rep->err) {
		e->st.faults++;
		ts_warn("engine", "t=%.3f: run of request %llu stopped after %d of %d steps (%s); "
			"its requests resume from there", e->now,
			(unsigned long long)ts_reqtable_at(&e->rt, run->req[0])->id, rep->steps_done, run->steps,
			ts_strerror(rep->err));
		mark_bad(e, rep);
	}
	/* Only completed steps count: the rest are run again, never twice. */
	if (rep->steps_done >= 0 && rep->steps_done < run->steps)
		run->steps = rep->steps_done;
	if (rep->end_s > run->end_s)
		e->st.overran++;
	run->end_s = rep->end_s > run->start_s ? rep->end_s : run->start_s;
	ts_dispatch_complete(e, rep->slot);
}

void ts_dispatch_complete(struct ts_engine *e, int slot)
{
	struct ts_run *run = &e->runs[slot];

	for (int i = 0; i < run->batch; i++)
		member_done(e, run->req[i], run);
	e->st.gpu_s += run->degree * (run->end_s - run->start_s);
	if (run->group)
		ts_groupcache_release(e->cfg.cache, run->group);
	ts_pool_give(e->cfg.pool, &run->set);
	e->free_slot[e->n_free_slot++] = slot;
}
