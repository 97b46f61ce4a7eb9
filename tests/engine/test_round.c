// SPDX-License-Identifier: MIT
/*
 * tests/engine/test_round.c - the round engine with a fake model: rounds in
 * steps and in ms, overruns, placement preservation and migrations, batch
 * groups, event-driven planning, refused assignments, stuck policies, late
 * flags, policy swaps that lose or repeat nothing, and forgetting finished
 * requests (a long-running engine's table stays bounded).
 */
#include "fake.h"

/* A scripted round-based policy: every waiting request at degree g_deg for g_steps. */
static int g_deg = 1, g_steps = 2, g_batch;
static uint32_t g_flags;
static int g_seen_running, g_seen_late, g_plans;
static double g_seen_busy_until;
static int g_create_fails;

static int script_create(const struct ts_host *host, const struct ts_section *p, void **self)
{
	static int token;

	if (g_create_fails)
		return TS_EINVAL;
	*self = &token;
	return 0;
}

static void script_destroy(void *self)
{
}

static int script_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	int free_dev = v->n_free;

	g_plans++;
	for (int i = 0; i < v->n_req; i++) {
		const struct ts_req_view *r = &v->req[i];

		if (r->running) {
			if (!g_seen_running++)
				g_seen_busy_until = r->busy_until_s;
			continue;
		}
		g_seen_late += r->late;
		if (free_dev < g_deg)
			continue;
		plan->a[plan->n++] = (struct ts_assign){
			.req = i, .degree = g_deg, .steps = g_steps, .flags = g_flags,
			.batch_group = g_batch,
		};
		if (!g_batch)
			free_dev -= g_deg;
	}
	return 0;
}

static const struct ts_policy_ops script_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_policy_ops),
	.name = "script",
	.create = script_create,
	.plan = script_plan,
	.destroy = script_destroy,
};

static const struct ts_policy_ops script_event_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "script-event",
	.create = script_create,
	.plan = script_plan,
	.destroy = script_destroy,
};

static void reset(int deg, int steps, uint32_t flags)
{
	g_deg = deg;
	g_steps = steps;
	g_flags = flags;
	g_batch = 0;
	g_seen_running = g_seen_late = g_plans = 0;
	g_seen_busy_until = 0;
	g_create_fails = 0;
}

static void test_round_steps(void)
{
	struct rig r;
	struct ts_engine_stats st;

	reset(1, 2, TS_ASSIGN_PRESERVE);
	ok(!rig_open(&r, 2, NULL, 2, 0, fake_exact, NULL), "rig: 2 devices, rounds of 2 steps");
	rig_submit(&r, 7, 0.0, 6, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ok(!ts_engine_run(r.eng), "runs to the end");
	ts_engine_stats(r.eng, &st);
	ok_near(rig_req(&r, 0)->finish_s, 6.0, 1e-12, "6 steps of 1 s finish at 6 s (got %g)",
		rig_req(&r, 0)->finish_s);
	ok(st.runs == 3, "three rounds of 2 steps (got %ld runs)", st.runs);
	ok(st.migrations == 0 && rig_req(&r, 0)->migrations == 0, "preserved: no migration");
	ok(rig_req(&r, 0)->state == TS_REQ_DONE && !rig_req(&r, 0)->late, "done, not late");
	ok(r.count->steps[0] == 6 && !r.count->overlap, "each step run once");
	ok_near(st.gpu_s, 6.0, 1e-12, "gpu seconds = 6");
	rig_close(&r);
}

static void test_overrun(void)
{
	struct rig r;

	/* 5-step assignments in 2-step rounds: the request is seen running at the boundary. */
	reset(2, 5, 0);
	rig_open(&r, 2, NULL, 2, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 10, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ok(g_seen_running >= 1, "overrunning request shown as running (%d times)", g_seen_running);
	ok_near(g_seen_busy_until, 3.0, 1e-12, "busy until 5 x 0.6 s (got %g)", g_seen_busy_until);
	ok_near(rig_req(&r, 0)->finish_s, 6.0, 1e-12, "10 steps at degree 2 end at 6 s (got %g)",
		rig_req(&r, 0)->finish_s);
	ok(r.count->steps[0] == 10 && !r.count->overlap, "no step twice, never two runs at once");
	rig_close(&r);
}

static void test_round_ms(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/* Rounds of 1500 ms; assignments of 1 step (1 s): the second starts at 1.5 s. */
	reset(1, 1, TS_ASSIGN_PRESERVE);
	rig_open(&r, 1, NULL, 0, 1500, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 2, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok_near(rig_req(&r, 0)->finish_s, 2.5, 1e-12, "round_ms: second step at the 1.5 s boundary "
		"(finish %g)", rig_req(&r, 0)->finish_s);
	ok(st.rounds >= 2, "two rounds at least (%ld)", st.rounds);
	rig_close(&r);
}

static void test_migration(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/*
	 * Two devices, one request in 1-step rounds without PRESERVE: steps 1
	 * and 2 at degree 1 land on device 0 both times (lowest free), so no
	 * migration; step 3 at degree 2 changes the set: one migration.
	 */
	reset(1, 1, 0);
	rig_open(&r, 2, NULL, 1, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 3, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run_until(r.eng, 1.5);
	ts_engine_run_until(r.eng, 0.5);
	ok(ts_engine_now(r.eng) == 1.5, "running until an earlier time does not go back");
	rig_submit(&r, 2, 1.0, 1, 100);
	ts_engine_run_until(r.eng, 1.5);
	ok(ts_engine_now(r.eng) == 1.5 && rig_req(&r, 1)->state == TS_REQ_QUEUED,
	   "a request submitted after its arrival time is admitted now, time does not go back");
	g_deg = 2;
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok(rig_req(&r, 0)->migrations == 1, "degree 1 -> 2 is one migration (got %d)",
	   rig_req(&r, 0)->migrations);
	ok(rig_req(&r, 0)->degrees_mask == 0x3, "ran at degrees 1 and 2 (mask %llx)",
	   (unsigned long long)rig_req(&r, 0)->degrees_mask);
	ok_near(rig_req(&r, 0)->finish_s, 2.6, 1e-12, "2 x 1 s + 0.6 s (got %g)",
		rig_req(&r, 0)->finish_s);
	rig_close(&r);
}

static void test_preserve_vs_taken(void)
{
	struct rig r;

	/*
	 * A (arrives 0) and B (arrives 0) at degree 1, one-step rounds, PRESERVE.
	 * A gets device 0, B device 1 and they keep them: 0 migrations although
	 * the placement pass for B runs after A's.
	 */
	reset(1, 1, TS_ASSIGN_PRESERVE);
	rig_open(&r, 2, NULL, 1, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 3, 100);
	rig_submit(&r, 2, 0.0, 3, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ok(rig_req(&r, 0)->migrations == 0 && rig_req(&r, 1)->migrations == 0,
	   "both keep their devices");
	ok(ts_devset_has(&rig_req(&r, 0)->last_set, 0) && ts_devset_has(&rig_req(&r, 1)->last_set, 1),
	   "A on device 0, B on device 1");
	rig_close(&r);
}

static void test_batch(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/* Two requests batched at degree 1: each step costs 1.5 s and advances both. */
	reset(1, 4, 0);
	g_batch = 1;
	rig_open(&r, 1, NULL, 4, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 4, 100);
	rig_submit(&r, 2, 0.0, 4, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok(st.runs == 1, "one batched run (got %ld)", st.runs);
	ok_near(rig_req(&r, 0)->finish_s, 6.0, 1e-12, "4 steps x 1.5 s (got %g)",
		rig_req(&r, 0)->finish_s);
	ok_near(rig_req(&r, 1)->finish_s, 6.0, 1e-12, "both finish together");
	ok_near(st.gpu_s, 6.0, 1e-12, "one device for 6 s");
	rig_close(&r);
}

/* Batch 2 costs 2.5x a single step: slower than two steps apart, so no batch. */
static double fake_no_batch(void *arg, int degree, int batch)
{
	double s = degree == 1 ? 1.0 : degree == 2 ? 0.6 : degree == 4 ? 0.4 : -1;

	return s < 0 ? s : s * (batch == 1 ? 1.0 : 2.5);
}

static void test_batch_not_paying(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/* the policy asks for a batch on 2 devices; the cost table says it does not pay */
	reset(1, 4, 0);
	g_batch = 1;
	rig_open(&r, 2, NULL, 4, 0, fake_no_batch, NULL);
	rig_submit(&r, 1, 0.0, 4, 100);
	rig_submit(&r, 2, 0.0, 4, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok(st.runs == 2 && st.unbatched == 1 && st.rejected == 0,
	   "batching that does not pay: two runs side by side (runs %ld, unbatched %ld)",
	   st.runs, st.unbatched);
	ok_near(rig_req(&r, 0)->finish_s, 4.0, 1e-12, "each takes 4 x 1 s (got %g)",
		rig_req(&r, 0)->finish_s);
	ok_near(rig_req(&r, 1)->finish_s, 4.0, 1e-12, "on its own device");
	rig_close(&r);
}

static void test_event_driven(void)
{
	struct rig r;

	/* Event-driven: B arriving at 0.5 s starts at once on the free device. */
	reset(1, 3, 0);
	rig_open(&r, 2, NULL, 5, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 3, 100);
	rig_submit(&r, 2, 0.5, 3, 100);
	ts_engine_set_policy(r.eng, &script_event_ops, NULL);
	ts_engine_run(r.eng);
	ok_near(rig_req(&r, 1)->start_s, 0.5, 1e-12, "starts at its arrival (%g)",
		rig_req(&r, 1)->start_s);
	ok_near(rig_req(&r, 1)->finish_s, 3.5, 1e-12, "finishes at 3.5 s (%g)",
		rig_req(&r, 1)->finish_s);
	rig_close(&r);
}

/*
 * A policy that breaks the rules: first a degree the table lacks and the
 * same request twice, then every request each round, running or not.
 */
static int rogue_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	if (!g_plans++ && v->n_req == 3 && plan->cap >= 3) {
		plan->a[0] = (struct ts_assign){ .req = 0, .degree = 3, .steps = 1 };
		plan->a[1] = (struct ts_assign){ .req = 1, .degree = 1, .steps = 2 };
		plan->a[2] = (struct ts_assign){ .req = 1, .degree = 1, .steps = 2 };
		plan->n = 3;
		return 0;
	}
	for (int i = 0; i < v->n_req && plan->n < plan->cap; i++)
		plan->a[plan->n++] = (struct ts_assign){ .req = i, .degree = 1, .steps = 2 };
	return 0;
}

static const struct ts_policy_ops rogue_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_policy_ops),
	.name = "rogue",
	.create = script_create,
	.plan = rogue_plan,
	.destroy = script_destroy,
};

static void test_refusals(void)
{
	struct rig r;
	struct ts_engine_stats st;

	reset(1, 1, 0);
	rig_open(&r, 4, NULL, 1, 0, fake_exact, NULL);
	for (int i = 0; i < 3; i++)
		rig_submit(&r, i, 0.0, 6, 100);
	ts_engine_set_policy(r.eng, &rogue_ops, NULL);
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok(st.rejected >= 2, "bad degree and double assignment refused (%ld)", st.rejected);
	for (int i = 0; i < 3; i++) {
		ok(r.count->steps[i] == 6, "request %d: every step exactly once (%d)", i,
		   r.count->steps[i]);
		ok(rig_req(&r, i)->state == TS_REQ_DONE, "request %d finishes", i);
	}
	ok(!r.count->overlap, "never two runs of one request at once");
	rig_close(&r);
}

static int idle_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	g_plans++;
	return 0;
}

static const struct ts_policy_ops idle_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_policy_ops),
	.name = "idle",
	.create = script_create,
	.plan = idle_plan,
	.destroy = script_destroy,
};

static void test_stuck(void)
{
	struct rig r;
	struct ts_engine_stats st;

	reset(1, 1, 0);
	rig_open(&r, 2, NULL, 2, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 3, 2.0);
	rig_submit(&r, 2, 1.0, 3, 2.0);
	ts_engine_set_policy(r.eng, &idle_ops, NULL);
	ok(!ts_engine_run(r.eng), "a policy that never assigns does not hang the engine");
	ts_engine_stats(r.eng, &st);
	ok(st.failed == 2 && rig_req(&r, 0)->state == TS_REQ_FAILED, "its requests fail (%ld)",
	   st.failed);
	ok(g_plans <= 5, "woken only by arrivals and deadlines (%d plans)", g_plans);
	ok(ts_engine_now(r.eng) >= 3.0, "after the last deadline passed (t=%g)",
	   ts_engine_now(r.eng));
	rig_close(&r);
}

static void test_late(void)
{
	struct rig r;

	/* One device; A takes 4 s; B (deadline 1 s) waits and is late when planned. */
	reset(1, 4, 0);
	rig_open(&r, 1, NULL, 4, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 4, 100);
	rig_submit(&r, 2, 0.0, 4, 1.0);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run(r.eng);
	ok(g_seen_late >= 1, "late flag shown to the policy");
	ok(rig_req(&r, 1)->late && rig_req(&r, 1)->state == TS_REQ_DONE, "B done, late");
	ok(!rig_req(&r, 0)->late, "A in time");
	rig_close(&r);
}

static void test_swap(void)
{
	struct rig r;
	struct ts_engine_stats st;
	int lost = 0, twice = 0;
	long want_steps = 0;

	/* 40 requests; from round-based degree 1 to event-driven degree 2 at t=10 s. */
	reset(1, 3, TS_ASSIGN_PRESERVE);
	rig_open(&r, 4, NULL, 3, 0, fake_exact, NULL);
	for (int i = 0; i < 40; i++) {
		rig_submit(&r, i, i * 0.7, 5 + i % 7, 100);
		want_steps += 5 + i % 7;
	}
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run_until(r.eng, 10.0);
	g_create_fails = 1;
	ok(ts_engine_set_policy(r.eng, &script_event_ops, NULL) < 0, "failed create reported");
	ok(ts_engine_policy(r.eng) == &script_ops, "and the old policy stays");
	g_create_fails = 0;
	ok(!ts_engine_set_policy(r.eng, &script_event_ops, NULL), "swap requested");
	ok(ts_engine_policy(r.eng) == &script_ops, "not before the boundary");
	g_deg = 2;
	ts_engine_run(r.eng);
	ts_engine_stats(r.eng, &st);
	ok(ts_engine_policy(r.eng) == &script_event_ops && st.swaps == 1, "swapped once");
	ok(st.swapped_at_s >= 10.0, "at a boundary after 10 s (%g)", st.swapped_at_s);
	for (int i = 0; i < 40; i++) {
		const struct ts_req *q = rig_req(&r, i);

		lost += q->state != TS_REQ_DONE || q->steps_done != q->steps_total;
		twice += r.count->steps[i] != q->steps_total;
	}
	ok(!lost, "no request lost across the swap");
	ok(!twice && !r.count->overlap, "no step run twice, no request run twice at once");
	ok(st.steps_run == want_steps, "steps counted: %ld of %ld", st.steps_run, want_steps);
	rig_close(&r);
}

static void test_cancel(void)
{
	struct rig r;

	/* One device, 2-step rounds; A runs first, B waits, C has not arrived. */
	reset(1, 2, TS_ASSIGN_PRESERVE);
	rig_open(&r, 1, NULL, 2, 0, fake_exact, NULL);
	rig_submit(&r, 1, 0.0, 6, 100);
	rig_submit(&r, 2, 0.0, 6, 100);
	rig_submit(&r, 3, 50.0, 6, 100);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run_until(r.eng, 1.0);
	ok(rig_req(&r, 0)->state == TS_REQ_RUNNING, "A running at 1 s");
	ok(!ts_engine_cancel(r.eng, 0) && !ts_engine_cancel(r.eng, 1) && !ts_engine_cancel(r.eng, 2),
	   "cancel A (running), B (waiting), C (not arrived)");
	ok(ts_engine_cancel(r.eng, 1) == TS_EINVAL && ts_engine_cancel(r.eng, 7) == TS_ENOENT,
	   "twice, or a bad index: refused");
	ok(!ts_engine_run(r.eng), "runs to the end");
	ok(rig_req(&r, 0)->state == TS_REQ_CANCELLED && rig_req(&r, 0)->steps_done == 2,
	   "A stops after its run in flight (2 steps done)");
	ok(r.count->steps[1] == 0 && r.count->steps[2] == 0, "B and C never run");
	ok(ts_engine_now(r.eng) <= 2.0, "nothing left to wait for after 2 s (t=%g)",
	   ts_engine_now(r.eng));
	rig_close(&r);
}

static void test_forget(void)
{
	const struct ts_reqtable *t;
	struct rig r;
	int idx, cap0, max_held = 0, all_done = 1;

	/* One device, 2-step assignments: A runs, B waits. */
	reset(1, 2, TS_ASSIGN_PRESERVE);
	rig_open(&r, 1, NULL, 2, 0, fake_exact, NULL);
	t = ts_engine_requests(r.eng);
	for (int i = 0; i < 200; i++)
		rig_submit(&r, i, 0.0, 2, 1e6);
	ts_engine_set_policy(r.eng, &script_ops, NULL);
	ts_engine_run_until(r.eng, 1.0);
	ok(ts_engine_forget(r.eng, 0) == TS_EBUSY && ts_engine_forget(r.eng, 1) == TS_EBUSY &&
	   ts_engine_forget(r.eng, 200) == TS_ENOENT && ts_engine_forget(r.eng, -1) == TS_ENOENT,
	   "running, queued and bad indices: not forgotten");
	ok(!ts_engine_run(r.eng), "200 requests run to the end");
	cap0 = t->cap;
	/* Request 0 kept: everything after it is forgotten but held behind it. */
	for (int i = 1; i < 200; i++)
		all_done &= !ts_engine_forget(r.eng, i);
	ok(all_done && ts_reqtable_held(t) == 200 && !ts_reqtable_get(t, 5) &&
	   ts_reqtable_get(t, 0) && ts_reqtable_get(t, 0)->state == TS_REQ_DONE,
	   "199 forgotten behind request 0: held, but gone to lookups (held %d)",
	   ts_reqtable_held(t));
	ok(ts_engine_forget(r.eng, 5) == TS_ENOENT && ts_engine_cancel(r.eng, 5) == TS_ENOENT,
	   "a forgotten request: forget again or cancel say no such request");
	all_done = !ts_engine_forget(r.eng, 0);
	ok(all_done && ts_reqtable_held(t) == 0 && t->cap < cap0,
	   "request 0 forgotten: all 200 let go, memory given back (cap %d -> %d)", cap0,
	   t->cap);
	ok(!rig_submit(&r, 900, ts_engine_now(r.eng), 2, 1e6) && t->n == 201,
	   "a new request takes the next index (200), never a forgotten one");
	ok(!ts_engine_run(r.eng) && ts_reqtable_get(t, 200) &&
	   ts_reqtable_get(t, 200)->state == TS_REQ_DONE && ts_reqtable_get(t, 200)->id == 900 &&
	   ts_reqtable_get(t, 200)->steps_done == 2, "and it runs to the end");
	ok(!ts_engine_forget(r.eng, 200), "forgotten too");
	/* A server's life: batches come, finish and are forgotten; the table stays small. */
	idx = t->n;
	for (int b = 0; b < 50; b++) {
		double now = ts_engine_now(r.eng);

		for (int i = 0; i < 40; i++)
			rig_submit(&r, 1000 + idx + i, now, 2, 1e6);
		ts_engine_run(r.eng);
		if (ts_reqtable_held(t) > max_held)
			max_held = ts_reqtable_held(t);
		for (int i = 0; i < 40; i++)
			all_done &= ts_reqtable_get(t, idx + i)->state == TS_REQ_DONE &&
				    !ts_engine_forget(r.eng, idx + i);
		idx += 40;
	}
	ok(all_done && max_held < 40 + 64 && t->cap <= 256,
	   "2000 more requests in batches of 40: at most %d held, arrays of %d", max_held,
	   t->cap);
	rig_close(&r);
}

static void test_clocks(void)
{
	struct ts_clock c;
	double t0;

	ts_clock_init_virtual(&c);
	ts_clock_wait_until(&c, 5.0);
	ts_clock_wait_until(&c, 3.0);
	ok(ts_clock_now(&c) == 5.0, "virtual clock jumps forward, never back");
	ts_clock_init_real(&c);
	t0 = ts_clock_now(&c);
	ts_clock_wait_until(&c, t0 + 0.02);
	ok(ts_clock_now(&c) >= t0 + 0.02, "real clock sleeps until the time asked");
}

int main(void)
{
	test_clocks();
	test_cancel();
	test_round_steps();
	test_overrun();
	test_round_ms();
	test_migration();
	test_preserve_vs_taken();
	test_batch();
	test_batch_not_paying();
	test_event_driven();
	test_refusals();
	test_stuck();
	test_late();
	test_swap();
	test_forget();
	return tap_done();
}
