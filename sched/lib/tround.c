/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/tround.c - one round of the TetriServe scheduler (spec §2.3):
 * per request the minimal-GPU-hour split and its options for this round, the
 * survival lower bound, the group-knapsack DP over GPU count, then placement
 * preservation, work-conserving scale-up and best-effort service of late
 * requests. Every choice the paper leaves open is listed in docs/scheduler.md.
 */
#include <math.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "tround.h"

/* Time comparisons tolerate rounding in sums of step times. */
#define TR_EPS 1e-9

int ts_tround_init(struct ts_tround *t, const struct ts_tround_cfg *cfg)
{
	*t = (struct ts_tround){ .cfg = *cfg };
	return 0;
}

void ts_tround_fini(struct ts_tround *t)
{
	ts_sched_knap_free(&t->knap);
	free(t->r);
	free(t->items);
	free(t->item_req);
	free(t->choice);
	free(t->order);
	free(t->keys);
	free(t->srt);
	*t = (struct ts_tround){ 0 };
}

static int tround_reserve(struct ts_tround *t, size_t n)
{
	int ret;

	ret = ts_sched_grow((void **)&t->r, &t->cap_r, n, sizeof(*t->r));
	if (!ret)
		ret = ts_sched_grow((void **)&t->items, &t->cap_items, n, sizeof(*t->items));
	if (!ret)
		ret = ts_sched_grow((void **)&t->item_req, &t->cap_item_req, n, sizeof(int));
	if (!ret)
		ret = ts_sched_grow((void **)&t->choice, &t->cap_choice, n, sizeof(int));
	if (!ret)
		ret = ts_sched_grow((void **)&t->order, &t->cap_order, n, sizeof(int));
	if (!ret)
		ret = ts_sched_grow((void **)&t->keys, &t->cap_keys, n, sizeof(*t->keys));
	if (!ret)
		ret = ts_sched_grow((void **)&t->srt, &t->cap_srt, n, sizeof(*t->srt));
	return ret;
}

static int plannable(const struct ts_req_view *q)
{
	return !q->running && q->steps_left > 0 && q->cost;
}

/* Fastest step of @c on this pool; memoised per plan (t->tm_n = 0 at its start). */
static double tmin_of(struct ts_tround *t, const struct ts_cost *c, int n_devices)
{
	double tm;

	for (int i = 0; i < t->tm_n; i++)
		if (t->tm_cost[i] == c)
			return t->tm_val[i];
	tm = ts_sched_tmin(c, n_devices, NULL);
	if (t->tm_n < 8) {
		t->tm_cost[t->tm_n] = c;
		t->tm_val[t->tm_n++] = tm;
	}
	return tm;
}

/* 1 when @q can still make its deadline (optimistically: fastest degree, no wait). */
static int savable(const struct ts_round_view *view, const struct ts_req_view *q, double tmin)
{
	return !q->late && q->steps_left * tmin <= q->deadline_s - view->now_s + TR_EPS;
}

/*
 * The slowest fastest-step among plannable requests; with @only_savable,
 * among those that can still make their deadline, running ones included
 * (a round stays a round while they are in flight).
 */
static double tau_ref(struct ts_tround *t, const struct ts_round_view *view, int only_savable)
{
	double tref = 0.0;

	for (int i = 0; i < view->n_req; i++) {
		const struct ts_req_view *q = &view->req[i];
		double tm;

		if (!q->cost || q->steps_left <= 0 || (q->running && !only_savable))
			continue;
		tm = tmin_of(t, q->cost, view->n_devices);
		if (only_savable && !savable(view, q, tm))
			continue;
		if (tm > tref)
			tref = tm;
	}
	return tref;
}

/* The round length this view implies; *best_effort = 1 when nothing in it can be saved. */
static double tround_tau(struct ts_tround *t, const struct ts_round_view *view, int *best_effort)
{
	int g = view->round_steps > 0 ? view->round_steps : TS_TROUND_DEFAULT_STEPS;
	double tref;

	*best_effort = 0;
	if (view->round_s > 0.0)
		return view->round_s;
	/*
	 * [inferred] One round is g steps of the slowest step type present at
	 * its fastest degree: the longest step that must fit in a round when
	 * deadlines are tight, so big images get g steps and small ones as many
	 * as fit in the same window (they end near the same boundary, §2.3.5).
	 * Requests that can no longer make their deadline do not stretch the
	 * round (best effort has no step that must fit). With nothing else
	 * left the round is a best-effort one (see ts_tround_plan).
	 */
	tref = tau_ref(t, view, 1);
	if (tref <= 0.0) {
		tref = tau_ref(t, view, 0);
		*best_effort = 1;
	}
	return g * tref;
}

/*
 * Steps of degree-time @t that fit in a round of @tau, at most @cap. [inferred]
 * A step longer than the round still runs one step (an overrun the engine
 * allows) instead of never running, as the paper's q = 0 rule would have it.
 */
static int steps_in_round(double tau, double t, int cap)
{
	int q = (int)floor(tau / t + TR_EPS);

	if (q < 1)
		q = 1;
	return q < cap ? q : cap;
}

static void classify(const struct ts_tround *tr, struct ts_tround_req *rq,
		     const struct ts_round_view *v, const struct ts_req_view *q, double tau)
{
	double t_next = v->now_s + tau, slack = q->deadline_s - v->now_s;
	int s = q->steps_left, any_sv = 0;

	if (q->late || ts_sched_split(q->cost, s, slack, v->n_devices, &rq->split)) {
		/* Already late, or cannot make it even at the fastest degree. */
		rq->state = TR_LATE;
		return;
	}
	rq->sv_none = t_next + s * rq->tmin <= q->deadline_s + TR_EPS;
	for (int m = 0; m < rq->split.n; m++) {
		int di = rq->split.di[m];
		double t = ts_sched_step(q->cost, di);
		/*
		 * [inferred] An option runs as many of the remaining steps as fit
		 * in the round at its degree, not only its segment's: the paper's
		 * q = min(s_m, floor(tau/T)) declares a request with 3 steps left
		 * and a (2 at 4, 1 at 8) split dead although 3 steps at 8 make it.
		 * And one that finishes inside the round is judged by its finish
		 * time, not by the boundary.
		 */
		int qm = steps_in_round(tau, t, s);

		rq->opt_di[m] = di;
		rq->opt_q[m] = qm;
		if (qm == s)
			rq->opt_sv[m] = v->now_s + s * t <= q->deadline_s + TR_EPS;
		else if (tr->cfg.exact_lb) /* replanned when its q steps end */
			rq->opt_sv[m] = v->now_s + qm * t + (s - qm) * rq->tmin <=
					q->deadline_s + TR_EPS;
		else
			rq->opt_sv[m] = t_next + (s - qm) * rq->tmin <= q->deadline_s + TR_EPS;
		any_sv |= rq->opt_sv[m];
	}
	rq->n_opt = rq->split.n;
	/* Every option misses by the optimistic bound: definitely late (§2.3.2). */
	rq->state = rq->sv_none || any_sv ? TR_WAIT : TR_LATE;
}

static int by_key(const void *pa, const void *pb)
{
	const struct ts_tround_key *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->j - b->j;
}

/* Collect requests into t->r, and t->srt in deadline order; returns how many. */
static int collect(struct ts_tround *t, const struct ts_round_view *v, double tau)
{
	int n = 0;

	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *q = &v->req[i];
		struct ts_tround_req *rq = &t->r[n];
		double tmin;

		if (!plannable(q))
			continue;
		tmin = tmin_of(t, q->cost, v->n_devices);
		if (tmin <= 0.0)
			continue; /* no degree of its table fits this pool */
		*rq = (struct ts_tround_req){
			.idx = i, .cost = q->cost, .tmin = tmin, .di = -1,
			.deadline = q->deadline_s, .steps_left = q->steps_left,
		};
		classify(t, rq, v, q, tau);
		t->keys[n] = (struct ts_tround_key){ .key = q->deadline_s, .j = n };
		n++;
	}
	/* Ties keep arrival order: j follows the view, which is in arrival order. */
	qsort(t->keys, (size_t)n, sizeof(*t->keys), by_key);
	for (int i = 0; i < n; i++)
		t->srt[i] = t->keys[i].j;
	return n;
}

/*
 * The tie-break bonus of item j: k - rank, rank by deadline (items are in
 * deadline order already) or, with least_work, by the work of their split.
 */
static void rank_items(struct ts_tround *t, int k)
{
	for (int j = 0; j < k; j++)
		t->order[j] = k - j;
	if (!t->cfg.least_work)
		return;
	for (int j = 0; j < k; j++) {
		double work = t->r[t->item_req[j]].split.gpu_s;

		t->keys[j] = (struct ts_tround_key){ .key = work, .j = j };
	}
	qsort(t->keys, (size_t)k, sizeof(*t->keys), by_key);
	for (int r = 0; r < k; r++)
		t->order[t->keys[r].j] = k - r;
}

/*
 * The DP's items: requests that die unless they run now but survive with
 * some option. Value = survivors first, then urgency: an item's bonus is its
 * deadline rank, and every bonus together is below one survivor.
 */
static int build_items(struct ts_tround *t, int n)
{
	int64_t w;
	int k = 0;

	for (int i = 0; i < n; i++) {
		struct ts_tround_req *rq = &t->r[t->srt[i]];

		if (rq->state != TR_WAIT || rq->sv_none)
			continue;
		t->item_req[k++] = t->srt[i];
	}
	w = (int64_t)k * (k + 1) / 2 + 1;
	rank_items(t, k);
	for (int j = 0; j < k; j++) {
		struct ts_tround_req *rq = &t->r[t->item_req[j]];
		struct ts_sched_item *it = &t->items[j];

		*it = (struct ts_sched_item){ .none_value = 0 };
		for (int m = 0; m < rq->n_opt; m++) {
			if (!rq->opt_sv[m])
				continue; /* dominated by "none" */
			it->width[it->n_opt] = rq->cost->degree[rq->opt_di[m]];
			it->value[it->n_opt] = w + t->order[j];
			it->n_opt++;
		}
	}
	return k;
}

/* Option index m of request @rq behind item option @o. */
static int item_opt(const struct ts_tround_req *rq, int o)
{
	for (int m = 0, seen = 0; m < rq->n_opt; m++) {
		if (!rq->opt_sv[m])
			continue;
		if (seen++ == o)
			return m;
	}
	return -1;
}

/* Steps of an assignment at @di: a full round when needed, else at most a slice. */
static int round_q(const struct ts_tround *t, const struct ts_tround_req *rq, int di, double tau)
{
	int q = steps_in_round(tau, ts_sched_step(rq->cost, di), rq->steps_left);

	if (t->best_effort)
		return 1;
	if (!rq->needed && t->cfg.slice_steps > 0 && q > t->cfg.slice_steps)
		q = t->cfg.slice_steps;
	return q;
}

static void run_at(struct ts_tround_req *rq, int di, int q)
{
	rq->di = di;
	rq->q = q;
	if (rq->state != TR_LATE)
		rq->state = TR_RUN;
}

static int deg(const struct ts_tround_req *rq)
{
	return rq->di >= 0 ? rq->cost->degree[rq->di] : 0;
}

/* Phase A of scale-up: waiting requests, earliest deadline first, at their cheapest degree. */
static int start_waiting(struct ts_tround *t, int n, int idle, double tau, int n_dev)
{
	for (int i = 0; i < n && idle > 0; i++) {
		struct ts_tround_req *rq = &t->r[t->srt[i]];
		int want, di = -1;

		if (rq->state != TR_WAIT)
			continue;
		want = rq->split.di[0];
		for (int d = 0; d <= want && d < ts_sched_ndeg(rq->cost, n_dev); d++)
			if (rq->cost->degree[d] <= idle && ts_sched_step(rq->cost, d) > 0.0)
				di = d;
		if (di < 0)
			continue;
		run_at(rq, di, round_q(t, rq, di, tau));
		idle -= rq->cost->degree[di];
	}
	return idle;
}

/*
 * Phase B: grow running requests one degree at a time, the largest gain per
 * added device first; gain = time saved on the remaining steps. Candidates
 * are the requests assigned in @state (at most one per device); one that
 * cannot grow now never will this round (idle devices only decrease).
 */
static int grow(struct ts_tround *t, int n, int idle, double tau, int n_dev, int state)
{
	int *cand = t->order, nc = 0; /* order[] is free once the DP is built */

	for (int i = 0; i < n; i++)
		if (t->r[t->srt[i]].state == state && t->r[t->srt[i]].di >= 0)
			cand[nc++] = t->srt[i];
	while (idle > 0 && nc > 0) {
		struct ts_tround_req *best = NULL;
		int best_di = -1;
		double best_gain = 0.0;

		for (int c = 0; c < nc; c++) {
			struct ts_tround_req *rq = &t->r[cand[c]];
			int nd = ts_sched_faster(rq->cost, n_dev, rq->di, deg(rq) + idle);
			double gain;

			if (nd < 0) {
				cand[c--] = cand[--nc];
				continue;
			}
			gain = rq->steps_left *
			       (ts_sched_step(rq->cost, rq->di) - ts_sched_step(rq->cost, nd)) /
			       (rq->cost->degree[nd] - deg(rq));
			if (gain > best_gain + TR_EPS) {
				best = rq;
				best_di = nd;
				best_gain = gain;
			}
		}
		if (!best)
			break;
		idle -= best->cost->degree[best_di] - deg(best);
		run_at(best, best_di, round_q(t, best, best_di, tau));
	}
	return idle;
}

/* Late requests: one device each (the smallest usable degree), earliest deadline first. */
static int serve_late(struct ts_tround *t, int n, int idle, double tau, int n_dev)
{
	for (int i = 0; i < n && idle > 0; i++) {
		struct ts_tround_req *rq = &t->r[t->srt[i]];
		int nd = ts_sched_ndeg(rq->cost, n_dev);

		if (rq->state != TR_LATE)
			continue;
		for (int d = 0; d < nd; d++) {
			if (ts_sched_step(rq->cost, d) <= 0.0)
				continue;
			if (rq->cost->degree[d] <= idle) {
				run_at(rq, d, round_q(t, rq, d, tau));
				idle -= rq->cost->degree[d];
			}
			break;
		}
	}
	return idle;
}

static int solve(struct ts_tround *t, int n, int cap, double tau)
{
	int k = build_items(t, n), used;

	t->n_items = k;
	t->n_unfit = 0;
	used = ts_sched_knap_solve(&t->knap, t->items, k, cap, t->choice);
	if (used < 0)
		return used;
	for (int j = 0; j < k; j++) {
		struct ts_tround_req *rq = &t->r[t->item_req[j]];
		int m;

		if (t->choice[j] < 0) {
			t->n_unfit += t->items[j].n_opt > 0;
			continue;
		}
		rq->needed = 1;
		m = item_opt(rq, t->choice[j]);
		run_at(rq, rq->opt_di[m], rq->opt_q[m]);
	}
	t->dp_used = used;
	return cap - used;
}

/* Fill @plan; returns when the first of its assignments ends (INFINITY if none). */
static double emit(const struct ts_tround *t, int n, double now, struct ts_plan *plan)
{
	double first = INFINITY;

	for (int i = 0; i < n && plan->n < plan->cap; i++) {
		const struct ts_tround_req *rq = &t->r[t->srt[i]];
		double end;

		if (rq->di < 0)
			continue;
		end = now + rq->q * ts_sched_step(rq->cost, rq->di);
		if (end < first)
			first = end;
		plan->a[plan->n++] = (struct ts_assign){
			.req = rq->idx,
			.degree = deg(rq),
			.steps = rq->q,
			.flags = t->cfg.preserve ? TS_ASSIGN_PRESERVE : 0,
		};
	}
	return first;
}

int ts_tround_plan(struct ts_tround *t, const struct ts_round_view *view, struct ts_plan *plan)
{
	int n, idle, ret, nd = view->n_devices;
	double tau, first;

	ret = tround_reserve(t, (size_t)view->n_req + 1);
	if (ret)
		return ret;
	t->tm_n = 0;
	tau = tround_tau(t, view, &t->best_effort);
	t->tau = tau;
	n = collect(t, view, tau);
	if (!n)
		return 0;
	idle = solve(t, n, view->n_free, tau);
	if (idle < 0)
		return idle;
	if (t->cfg.drain && t->n_unfit)
		goto out_emit;
	if (t->cfg.scaleup) {
		idle = start_waiting(t, n, idle, tau, nd);
		idle = grow(t, n, idle, tau, nd, TR_RUN);
	}
	/* Gated: late work only when nothing in the view can still be saved. */
	if (t->cfg.late_gate && !t->best_effort)
		goto out_emit;
	idle = serve_late(t, n, idle, tau, nd);
	if (t->cfg.scaleup && t->cfg.late_grow)
		grow(t, n, idle, tau, nd, TR_LATE);
out_emit:
	first = emit(t, n, view->now_s, plan);
	/*
	 * [inferred] A best-effort round (only late requests) runs one step per
	 * assignment and ends when the first of them does, so an arrival that
	 * can still make its deadline never waits for a long late step.
	 */
	if (!t->best_effort)
		plan->next_round_s = view->now_s + tau;
	else if (isfinite(first))
		plan->next_round_s = first;
	return 0;
}
