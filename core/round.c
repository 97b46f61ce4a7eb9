// SPDX-License-Identifier: MIT
/*
 * core/round.c - the round engine's loop (see round.h).
 *
 * Time moves from event to event: a run completing (a heap of runs in
 * flight, by end time), a request arriving (the table is in arrival order),
 * or a round boundary. At one instant, completions are retired first, then
 * arrivals admitted, then the policy is asked (if this instant is a plan
 * point), so a plan always sees every device freed by then.
 *
 * Round length to time: with [scheduler] round_ms the next boundary is
 * now + round_ms. With round_steps (the paper's "granularity of g steps")
 * it is now + round_steps x the longest single step among the assignments
 * started at this boundary: that is when the slowest new assignment would
 * have done its round_steps steps, so no assignment of round_steps steps
 * overruns the round, and short ones idle at most until then. A round that
 * starts nothing (all devices still busy, or nothing to do) ends at the next
 * completion or arrival instead of an arbitrary time. A policy may set
 * plan->next_round_s to choose the boundary itself.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include <tetri/error.h>

#include "log.h"
#include "pool.h"
#include "round_int.h"

/* --- runs in flight: a binary heap on (end_s, seq) ----------------------- */

static int run_before(const struct ts_engine *e, int a, int b)
{
	const struct ts_run *x = &e->runs[a], *y = &e->runs[b];

	return x->end_s < y->end_s || (x->end_s == y->end_s && x->seq < y->seq);
}

void ts_runheap_push(struct ts_engine *e, int slot)
{
	int i = e->heap_n++;

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (!run_before(e, slot, e->heap[parent]))
			break;
		e->heap[i] = e->heap[parent];
		i = parent;
	}
	e->heap[i] = slot;
}

int ts_runheap_pop(struct ts_engine *e)
{
	int top = e->heap[0], last = e->heap[--e->heap_n], i = 0;

	for (;;) {
		int c = 2 * i + 1;

		if (c >= e->heap_n)
			break;
		if (c + 1 < e->heap_n && run_before(e, e->heap[c + 1], e->heap[c]))
			c++;
		if (!run_before(e, e->heap[c], last))
			break;
		e->heap[i] = e->heap[c];
		i = c;
	}
	if (e->heap_n)
		e->heap[i] = last;
	return top;
}

static void heap_sift_up(struct ts_engine *e, int i)
{
	int slot = e->heap[i];

	while (i > 0) {
		int parent = (i - 1) / 2;

		if (!run_before(e, slot, e->heap[parent]))
			break;
		e->heap[i] = e->heap[parent];
		i = parent;
	}
	e->heap[i] = slot;
}

static void heap_sift_down(struct ts_engine *e, int i)
{
	int slot = e->heap[i];

	for (;;) {
		int c = 2 * i + 1;

		if (c >= e->heap_n)
			break;
		if (c + 1 < e->heap_n && run_before(e, e->heap[c + 1], e->heap[c]))
			c++;
		if (!run_before(e, e->heap[c], slot))
			break;
		e->heap[i] = e->heap[c];
		i = c;
	}
	e->heap[i] = slot;
}

/* A reported run leaves the heap wherever its (estimated) end put it. */
int ts_runheap_remove(struct ts_engine *e, int slot)
{
	int i;

	for (i = 0; i < e->heap_n && e->heap[i] != slot; i++)
		;
	if (i == e->heap_n)
		return TS_ENOENT;
	e->heap[i] = e->heap[--e->heap_n];
	if (i < e->heap_n) {
		heap_sift_up(e, i);
		heap_sift_down(e, i);
	}
	return 0;
}

/* Runs end when the executor says so (real) rather than at their end_s (sim). */
static int reported(const struct ts_engine *e)
{
	return e->cfg.exec->wait != NULL;
}

static double next_completion(const struct ts_engine *e)
{
	return e->heap_n && !reported(e) ? e->runs[e->heap[0]].end_s : INFINITY;
}

/* --- lifetime ------------------------------------------------------------- */

int ts_engine_new(const struct ts_engine_cfg *cfg, struct ts_engine **out)
{
	struct ts_engine *e;
	int n = cfg->pool->n, err;

	if ((cfg->round_steps > 0) == (cfg->round_ms > 0)) {
		ts_err("engine", "round length: set exactly one of round_steps and round_ms");
		return TS_EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return TS_ENOMEM;
	e->cfg = *cfg;
	e->boundary = INFINITY;
	e->st.swapped_at_s = NAN;
	e->now = ts_clock_now(cfg->clock);
	e->n_slots = n;
	e->runs = calloc(n, sizeof(*e->runs));
	e->free_slot = malloc(n * sizeof(int));
	e->heap = malloc(n * sizeof(int));
	err = ts_reqtable_init(&e->rt, 0);
	if (!e->runs || !e->free_slot || !e->heap || err) {
		ts_engine_free(e);
		return TS_ENOMEM;
	}
	for (int i = 0; i < n; i++)
		e->free_slot[i] = n - 1 - i;
	e->n_free_slot = n;
	*out = e;
	return 0;
}

static void scratch_free(struct ts_engine *e)
{
	free(e->view);
	free(e->view_idx);
	free(e->taken);
	free(e->assign);
	free(e->pend);
	e->view = NULL;
	e->view_idx = NULL;
	e->taken = NULL;
	e->assign = NULL;
	e->pend = NULL;
	e->view_cap = 0;
}

void ts_engine_free(struct ts_engine *e)
{
	if (!e)
		return;
	/* Runs still in flight (a run stopped early) give their groups back. */
	while (e->heap_n)
		ts_dispatch_complete(e, ts_runheap_pop(e));
	if (e->next_pol)
		e->next_pol->destroy(e->next_self);
	if (e->pol)
		e->pol->destroy(e->pol_self);
	scratch_free(e);
	ts_reqtable_release(&e->rt);
	free(e->heap);
	free(e->free_slot);
	free(e->runs);
	free(e);
}

int ts_engine_set_policy(struct ts_engine *e, const struct ts_policy_ops *ops,
			 const struct ts_section *params)
{
	void *self = NULL;
	int err = ops->create(e->cfg.host, params, &self);

	if (err) {
		ts_err("engine", "policy %s: create failed (%s); %s%s", ops->name,
		       ts_strerror(err), e->pol ? "keeping " : "no policy",
		       e->pol ? e->pol->name : "");
		return err;
	}
	if (!e->pol) {
		e->pol = ops;
		e->pol_self = self;
		return 0;
	}
	/* A second swap before the boundary replaces the first one. */
	if (e->next_pol)
		e->next_pol->destroy(e->next_self);
	e->next_pol = ops;
	e->next_self = self;
	return 0;
}

const struct ts_policy_ops *ts_engine_policy(const struct ts_engine *e)
{
	return e->pol;
}

int ts_engine_submit(struct ts_engine *e, const struct ts_req_spec *spec, int *idx)
{
	return ts_reqtable_add(&e->rt, spec, idx);
}

void ts_engine_drop(struct ts_engine *e, int idx)
{
	if (e->cfg.exec->drop)
		e->cfg.exec->drop(e->cfg.exec_arg, idx);
}

int ts_engine_cancel(struct ts_engine *e, int idx)
{
	struct ts_req *r;

	r = ts_reqtable_get(&e->rt, idx);
	if (!r)
		return TS_ENOENT;
	if (ts_req_finished(r))
		return TS_EINVAL;
	if (r->state == TS_REQ_RUNNING) {
		r->cancel = 1;
		if (e->cfg.exec->cancel && r->run >= 0)
			e->cfg.exec->cancel(e->cfg.exec_arg, r->run);
	} else {
		ts_reqtable_finish(&e->rt, idx, TS_REQ_CANCELLED, e->now);
		ts_engine_drop(e, idx);
	}
	return 0;
}

int ts_engine_forget(struct ts_engine *e, int idx)
{
	const struct ts_req *r = ts_reqtable_get(&e->rt, idx);

	if (!r)
		return TS_ENOENT;
	if (!ts_req_finished(r) || r->run >= 0)
		return TS_EBUSY;
	if (e->cfg.exec->forget)
		e->cfg.exec->forget(e->cfg.exec_arg, idx);
	return ts_reqtable_forget(&e->rt, idx);
}

void ts_engine_hold(struct ts_engine *e, int hold)
{
	if (e->hold && !hold)
		e->boundary = nextafter(e->now, INFINITY); /* plan at the next instant */
	e->hold = hold;
}

int ts_engine_in_flight(const struct ts_engine *e)
{
	return e->heap_n;
}

double ts_engine_now(struct ts_engine *e)
{
	return e->now;
}

const struct ts_reqtable *ts_engine_requests(const struct ts_engine *e)
{
	return &e->rt;
}

void ts_engine_stats(const struct ts_engine *e, struct ts_engine_stats *st)
{
	*st = e->st;
}

/* --- one plan point ------------------------------------------------------- */

static int scratch_fit(struct ts_engine *e, int n)
{
	int cap = e->view_cap;

	if (n <= cap)
		return 0;
	while (cap < n)
		cap = cap ? 2 * cap : 64;
	scratch_free(e);
	e->view = malloc(cap * sizeof(*e->view));
	e->view_idx = malloc(cap * sizeof(*e->view_idx));
	e->taken = malloc(cap);
	e->assign = malloc(cap * sizeof(*e->assign));
	e->pend = malloc(cap * sizeof(*e->pend));
	if (!e->view || !e->view_idx || !e->taken || !e->assign || !e->pend) {
		scratch_free(e);
		return TS_ENOMEM;
	}
	e->view_cap = cap;
	return 0;
}

static void req_view(struct ts_engine *e, const struct ts_req *r, struct ts_req_view *v)
{
	*v = (struct ts_req_view){
		.id = r->id, .klass = r->klass, .steps_total = r->steps_total,
		.steps_left = r->steps_total - r->steps_done - r->steps_inflight,
		.arrival_s = r->arrival_s, .deadline_s = r->deadline_s,
		.running = r->state == TS_REQ_RUNNING,
		.busy_until_s = r->state == TS_REQ_RUNNING ? r->busy_until_s : 0,
		.last_degree = r->has_set ? r->last_degree : 0,
		.last_set = r->has_set ? &r->last_set : NULL,
		.late = r->late, .cost = r->cost,
	};
}

/* The active requests, oldest first; running ones flagged. Returns how many. */
static int build_view(struct ts_engine *e, struct ts_round_view *view)
{
	struct ts_pool *pool = e->cfg.pool;
	int n;

	ts_reqtable_compact(&e->rt);
	n = e->rt.n_active;
	if (scratch_fit(e, n))
		return TS_ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ts_req *r = ts_reqtable_at(&e->rt, e->rt.active[i]);

		if (e->now > r->deadline_s)
			r->late = 1;
		e->view_idx[i] = e->rt.active[i];
		req_view(e, r, &e->view[i]);
	}
	*view = (struct ts_round_view){
		.now_s = e->now, .round_s = e->cfg.round_ms / 1e3, .round_steps = e->cfg.round_steps,
		.n_devices = pool->n_healthy, .n_free = pool->n_free, .free_set = &pool->free,
		.topo = ts_pool_topology(pool), .n_req = n, .req = e->view,
	};
	return n;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Ask the policy; returns runs started, *longest the longest new step (s). */
static int plan_once(struct ts_engine *e, double *next_round_s, double *longest)
{
	struct ts_round_view view;
	struct ts_plan plan;
	double t0, dt;
	int n = build_view(e, &view), err;

	*next_round_s = 0;
	*longest = 0;
	if (n <= 0)
		return n;
	plan = (struct ts_plan){ .n = 0, .cap = n, .a = e->assign };
	t0 = mono_s();
	err = e->pol->plan(e->pol_self, &view, &plan);
	dt = mono_s() - t0;
	e->st.plan_calls++;
	e->st.plan_wall_s += dt;
	if (dt > e->st.plan_max_s)
		e->st.plan_max_s = dt;
	if (err) {
		ts_warn("engine", "t=%.3f: policy %s plan failed (%s); nothing runs this time",
			e->now, e->pol->name, ts_strerror(err));
		return 0;
	}
	*next_round_s = plan.next_round_s;
	return ts_dispatch_plan(e, &plan, n, longest);
}

/* At a round boundary: a pending policy swap takes effect before planning. */
static void swap_if_pending(struct ts_engine *e)
{
	if (!e->next_pol)
		return;
	ts_info("engine", "t=%.3f: policy %s -> %s", e->now, e->pol->name, e->next_pol->name);
	e->pol->destroy(e->pol_self);
	e->pol = e->next_pol;
	e->pol_self = e->next_self;
	e->next_pol = NULL;
	e->next_self = NULL;
	e->st.swaps++;
	e->st.swapped_at_s = e->now;
	/* The new policy's rounds start now, whatever the old one had planned. */
	e->boundary = INFINITY;
}

static int event_driven(const struct ts_engine *e)
{
	return (e->pol->hdr.flags & TS_POLICY_EVENT_DRIVEN) != 0;
}

static int anything_queued(const struct ts_engine *e)
{
	for (int i = 0; i < e->rt.n_active; i++)
		if (ts_reqtable_at(&e->rt, e->rt.active[i])->state == TS_REQ_QUEUED)
			return 1;
	return 0;
}

/* Where the next round boundary falls after a round that started @started runs. */
static void arm_boundary(struct ts_engine *e, int started, double next_round_s, double longest)
{
	if (next_round_s > e->now)
		e->boundary = next_round_s;
	else if (event_driven(e) || (!started && !e->heap_n) || (!started && e->cfg.round_steps))
		e->boundary = INFINITY; /* the next completion or arrival */
	else if (e->cfg.round_ms > 0)
		e->boundary = e->now + e->cfg.round_ms / 1e3;
	else
		e->boundary = e->now + e->cfg.round_steps * longest;
}

static void plan_point(struct ts_engine *e)
{
	double next_round_s, longest;
	int started;

	swap_if_pending(e);
	if (event_driven(e) && (!e->cfg.pool->n_free || !anything_queued(e)))
		return;
	if (!event_driven(e))
		e->st.rounds++;
	if (e->heap_n)
		e->st.plans_busy++;
	started = plan_once(e, &next_round_s, &longest);
	if (started < 0)
		started = 0;
	arm_boundary(e, started, next_round_s, longest);
}

/* --- the loop ------------------------------------------------------------- */

/* Earliest deadline still ahead: the only thing that changes an idle view. */
static double next_late_flip(const struct ts_engine *e)
{
	double t = INFINITY;

	for (int i = 0; i < e->rt.n_active; i++) {
		const struct ts_req *r = ts_reqtable_at(&e->rt, e->rt.active[i]);

		if (!ts_req_finished(r) && r->deadline_s >= e->now && r->deadline_s < t)
			t = r->deadline_s;
	}
	return t;
}

static double next_event(const struct ts_engine *e)
{
	double t = fmin(next_completion(e), ts_reqtable_next_arrival(&e->rt));

	if (e->boundary > e->now)
		t = fmin(t, e->boundary);
	/* Idle with work queued: wake when a deadline passes (late flags change the view). */
	if (isinf(t) && !e->heap_n && e->pol && !event_driven(e))
		t = nextafter(next_late_flip(e), INFINITY);
	return t;
}

static void fail_stuck(struct ts_engine *e)
{
	long n = 0;

	for (int i = 0; i < e->rt.n_active; i++) {
		int idx = e->rt.active[i];

		if (!ts_req_finished(ts_reqtable_at(&e->rt, idx))) {
			ts_reqtable_finish(&e->rt, idx, TS_REQ_FAILED, e->now);
			ts_engine_drop(e, idx);
			n++;
		}
	}
	ts_reqtable_compact(&e->rt);
	e->st.failed += n;
	if (n)
		ts_err("engine", "t=%.3f: policy %s leaves %ld request(s) that nothing will run; "
		       "failing them", e->now, e->pol ? e->pol->name : "(none)", n);
}

/* @changed: a reported run ended at this instant (real executors). */
static void at_instant(struct ts_engine *e, int changed)
{
	while (e->heap_n && next_completion(e) <= e->now) {
		ts_dispatch_complete(e, ts_runheap_pop(e));
		changed = 1;
	}
	changed |= ts_reqtable_admit(&e->rt, e->now) > 0;
	if (e->hold)
		return;
	if (event_driven(e) ? changed || e->boundary <= e->now || e->next_pol
			    : e->now >= e->boundary || isinf(e->boundary))
		plan_point(e);
}

/* Retire every run the executor has reported by now; returns how many. */
static int take_reports(struct ts_engine *e, double until)
{
	struct ts_run_report rep;
	int n = 0;

	while (e->heap_n && e->cfg.exec->wait(e->cfg.exec_arg, until, &rep) > 0) {
		double t = ts_clock_now(e->cfg.clock);

		if (t > e->now)
			e->now = t;
		ts_dispatch_report(e, &rep);
		n++;
		until = -INFINITY; /* the rest only if already there */
	}
	return n;
}

/*
 * The loop with an executor that reports completions: the engine sleeps in
 * the executor's wait until the next arrival, boundary or deadline, or until
 * a run ends, whichever comes first. Runs execute on the device workers
 * meanwhile, so the next round is planned while the current one runs; a run
 * past its estimate (an overrun) keeps its devices until it reports.
 */
static int run_until_reported(struct ts_engine *e, double until)
{
	while (e->rt.n_finished < e->rt.n || e->heap_n) {
		double t = fmax(next_event(e), e->now);
		int n;

		/* Held: only runs in flight end; the rest waits for the release. */
		if (e->hold) {
			if (!e->heap_n || !take_reports(e, until)) {
				if (isfinite(until) && until > e->now)
					e->now = until;
				return 0;
			}
			at_instant(e, 1);
			continue;
		}
		if (isinf(t) && !e->heap_n) {
			fail_stuck(e);
			break;
		}
		n = take_reports(e, fmin(t, until));
		if (!n && isinf(fmin(t, until)))
			continue; /* woken without a report: nothing else can happen */
		if (!n) {
			if (t > until) {
				if (until > e->now)
					e->now = until;
				return 0;
			}
			e->now = fmax(t, ts_clock_now(e->cfg.clock));
		}
		at_instant(e, n > 0);
	}
	return 0;
}

int ts_engine_run_until(struct ts_engine *e, double until)
{
	if (!e->pol) {
		ts_err("engine", "no policy set");
		return TS_EINVAL;
	}
	if (reported(e))
		return run_until_reported(e, until);
	while (e->rt.n_finished < e->rt.n || e->heap_n) {
		/* A request submitted with an arrival already past is admitted now. */
		double t = fmax(next_event(e), e->now);

		if (isinf(t)) {
			/* Nothing runs, nothing arrives, no deadline ahead: nothing will change. */
			fail_stuck(e);
			break;
		}
		if (t > until) {
			/* Stop between events; the engine's time never goes back. */
			if (until > e->now) {
				ts_clock_wait_until(e->cfg.clock, until);
				e->now = until;
			}
			return 0;
		}
		ts_clock_wait_until(e->cfg.clock, t);
		e->now = t;
		at_instant(e, 0);
	}
	return 0;
}
