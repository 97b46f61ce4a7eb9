/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/test_sched_bound.c - core/bound: the least work of a request
 * (fractional, batching allowed) and the interval bound on met requests, on
 * hand-made instances whose answers are worked out in the comments.
 */
#include <math.h>

#include "bound.h"
#include "fixture.h"
#include "tap.h"

/* A one-degree, one-batch table: every step takes 1 s on 1 device. */
static const int unit_deg[1] = { 1 };
static const double unit_step[1] = { 1.0 };
static const struct ts_cost unit = { .model = "unit", .n_degrees = 1, .degree = unit_deg,
				     .max_batch = 1, .step_s = unit_step };

/* Two degrees: 1 device 1 s/step, 2 devices 0.6 s/step (1.2 device-s). */
static const int two_deg[2] = { 1, 2 };
static const double two_step[2] = { 1.0, 0.6 };
static const struct ts_cost two = { .model = "two", .n_degrees = 2, .degree = two_deg,
				    .max_batch = 1, .step_s = two_step };

static void test_min_work(void)
{
	double w;

	ok(ts_bound_min_work(&unit, 5, 5.0, 1) == 5.0, "unit: 5 steps in 5 s cost 5");
	ok(isinf(ts_bound_min_work(&unit, 5, 4.9, 1)), "unit: 5 steps in 4.9 s impossible");
	/* 10 steps in 8 s: x fast steps, 10 - x + 0.6 x = 8 -> x = 5; work 5 + 5 x 1.2 = 11. */
	ok_near(ts_bound_min_work(&two, 10, 8.0, 2), 11.0, 1e-12, "two degrees: fractional mix");
	ok(isinf(ts_bound_min_work(&two, 10, 8.0, 1)), "degree 2 unusable on one device");
	/* 2048 in 5 s: at most the split (2 at 4 + 26 at 8 = 37.02 GPU-s), batching lowers it. */
	w = ts_bound_min_work(&fx_cost[FX_2048], 28, 5.0, 8);
	ok(w > 28 * 0.302166 * 8 / 2 - 1e-9 && w < 37.02, "2048/5 s: batched work %.3f", w);
}

/* The bound, or -1 when it fails. */
static int met_of(const struct ts_bound_req *r, int n, int n_devices)
{
	int met;

	return ts_bound_met(r, n, n_devices, &met) ? -1 : met;
}

static void test_intervals(void)
{
	struct ts_bound_req r[3];
	int met;

	/* Two 6-step requests in the same 10 s on one device: 12 > 10, one of two. */
	r[0] = (struct ts_bound_req){ .arrival_s = 0, .deadline_s = 10, .steps = 6, .cost = &unit };
	r[1] = r[0];
	met = met_of(r, 2, 1);
	ok(met == 1, "two that do not fit: bound 1 (%d)", met);
	met = met_of(r, 2, 2);
	ok(met == 2, "on two devices: bound 2 (%d)", met);

	/*
	 * Nested windows on one device: A [0,4] 3 steps, B [1,3] 2 steps,
	 * C [0,10] 5 steps. [0,4] holds A+B = 5 > 4, so one of them; [0,10]
	 * holds 10 <= 10. Bound 2.
	 */
	r[0] = (struct ts_bound_req){ .arrival_s = 0, .deadline_s = 4, .steps = 3, .cost = &unit };
	r[1] = (struct ts_bound_req){ .arrival_s = 1, .deadline_s = 3, .steps = 2, .cost = &unit };
	r[2] = (struct ts_bound_req){ .arrival_s = 0, .deadline_s = 10, .steps = 5, .cost = &unit };
	met = met_of(r, 3, 1);
	ok(met == 2, "nested windows: bound 2 (%d)", met);
	r[1].deadline_s = 0.5 + 1;
	met = met_of(r, 3, 1);
	ok(met == 2, "B alone impossible (2 steps in 0.5 s): 2 (%d)",
	   met);
	met = met_of(r, 0, 1);
	ok(met == 0, "empty trace");
}

/* A request stream heavier than the pool: the bound drops below 1, and grows with devices. */
static void test_disjoint(void)
{
	struct ts_bound_req r[4];
	int met;

	/*
	 * Two pairs on one device, [0,10] twice and [20,30] twice, 6 steps each:
	 * each pair keeps one; together they rule out two. Bound 2.
	 */
	for (int i = 0; i < 4; i++)
		r[i] = (struct ts_bound_req){ .arrival_s = i < 2 ? 0 : 20,
					      .deadline_s = i < 2 ? 10 : 30, .steps = 6,
					      .cost = &unit };
	met = met_of(r, 4, 1);
	ok(met == 2, "disjoint intervals add up: bound 2 (%d)", met);
}

static void test_monotone(void)
{
	struct ts_bound_req r[40];
	int prev = -1, mono = 1, met;

	for (int i = 0; i < 40; i++)
		r[i] = (struct ts_bound_req){ .arrival_s = i * 0.5, .deadline_s = i * 0.5 + 5.0,
					      .steps = 28, .cost = &fx_cost[FX_2048] };
	for (int n = 1; n <= 16; n *= 2) {
		met = met_of(r, 40, n);
		ok(met >= 0, "bound on %d devices: %d of 40", n, met);
		mono &= met >= prev;
		prev = met;
	}
	ok(mono && prev <= 40, "more devices never lower the bound");
	met = met_of(r, 40, 8);
	/* All 40 lie in [0, 24.5]: 8 x 24.5 = 196 device-s hold 5 of 36.94 each. */
	ok(met == 5, "2048s every 0.5 s overload 8 H100s: bound 5 (%d)", met);
}

/*
 * Past 4000 requests each arrival sweeps at most 256 deadlines. Requests
 * 1 s apart with 6 s windows of 5 unit steps on one device: an interval of
 * 256 windows spans 261 s and holds 52 of them, ruling out 204; about 17
 * disjoint such intervals rule out 3500+, so the bound is near the 900 (one
 * in five) a serial schedule meets. On five devices all fit.
 */
static void test_big_trace(void)
{
	enum { N = 4500 };
	static struct ts_bound_req r[N];
	int met;

	for (int i = 0; i < N; i++)
		r[i] = (struct ts_bound_req){ .arrival_s = i, .deadline_s = i + 6.0, .steps = 5,
					      .cost = &unit };
	met = met_of(r, N, 1);
	ok(met >= N / 5 && met < N / 5 + 100, "4500 requests, one device: %d (serial meets %d)",
	   met, N / 5);
	met = met_of(r, N, 5);
	ok(met == N, "on five devices all fit: %d", met);
}

int main(void)
{
	test_min_work();
	test_intervals();
	test_disjoint();
	test_monotone();
	test_big_trace();
	return tap_done();
}
