/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/test_sched_lib.c - sched/lib: cost lookups, the minimal-GPU-hour
 * split (against brute force over every integer plan), the group knapsack
 * (against brute force over every choice).
 */
#include <math.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "../../sched/lib/sched_lib.h"
#include "fixture.h"
#include "tap.h"

static void test_cost(void)
{
	const struct ts_cost *c = &fx_cost[FX_2048];
	int di;

	ok(ts_sched_step(c, 2) == 0.298467, "step time at degree index 2");
	ok(ts_sched_step_b(c, 0, 3) < 0, "unprofiled batch reads as negative");
	ok(ts_sched_step_b(c, 0, 5) < 0 && ts_sched_step(c, 4) < 0, "out of the table is negative");
	ok(ts_sched_deg_index(c, 8) == 3 && ts_sched_deg_index(c, 3) == -1, "degree index");
	ok(ts_sched_ndeg(c, 8) == 4 && ts_sched_ndeg(c, 5) == 3 && ts_sched_ndeg(c, 1) == 1,
	   "usable degrees follow the pool size");
	ok(ts_sched_tmin(c, 8, &di) == 0.166486 && di == 3, "fastest at 8 devices is degree 8");
	ok(ts_sched_tmin(c, 4, &di) == 0.298467 && di == 2, "fastest at 4 devices is degree 4");
	ok(ts_sched_faster(c, 8, 1, 8) == 2 && ts_sched_faster(c, 8, 1, 3) == -1,
	   "next faster degree respects the device limit");
	ok(ts_sched_faster(c, 8, -1, 8) == 0, "from nothing, any degree is faster");
}

/* Brute force: the cheapest integer plan over all degrees, and over at most two. */
static void brute_split(const struct ts_cost *c, int S, double slack, double *best_any,
			double *best_two)
{
	*best_any = INFINITY;
	*best_two = INFINITY;
	for (int a = 0; a <= S; a++)
		for (int b = 0; a + b <= S; b++)
			for (int d = 0; a + b + d <= S; d++) {
				int e = S - a - b - d, n[4] = { a, b, d, e }, used = 0;
				double t = 0, g = 0;

				for (int i = 0; i < 4; i++) {
					t += n[i] * ts_sched_step(c, i);
					g += n[i] * ts_sched_step(c, i) * c->degree[i];
					used += n[i] > 0;
				}
				if (t > slack + 1e-9)
					continue;
				if (g < *best_any)
					*best_any = g;
				if (used <= 2 && g < *best_two)
					*best_two = g;
			}
}

static void test_split_paper_example(void)
{
	struct ts_sched_split s;
	int ret;

	ret = ts_sched_split(&fx_cost[FX_2048], 28, 5.0, 8, &s);
	ok(ret == 0 && s.n == 2 && s.di[0] == 2 && s.steps[0] == 2 && s.di[1] == 3 &&
	   s.steps[1] == 26, "2048 at 5 s: 2 steps at 4, 26 at 8 (got %d: %d@%d %d@%d)", s.n,
	   s.steps[0], s.di[0], s.steps[1], s.di[1]);
	ok(s.time_s <= 5.0, "the split meets the slack (%.4f s)", s.time_s);
	ret = ts_sched_split(&fx_cost[FX_256], 28, 1.5, 8, &s);
	ok(ret == 0 && s.n == 1 && s.di[0] == 0, "256 at 1.5 s stays on one device (Fig. 6)");
	ret = ts_sched_split(&fx_cost[FX_2048], 28, 4.0, 8, &s);
	ok(ret == TS_ERANGE && s.n == 1 && s.di[0] == 3 && s.steps[0] == 28,
	   "infeasible: TS_ERANGE and everything at the fastest degree");
	ret = ts_sched_split(&fx_cost[FX_2048], 28, 9.0, 4, &s);
	ok(ret == 0 && s.di[s.n - 1] <= 2, "degrees above the pool size are not used");
	ret = ts_sched_split(&fx_cost[FX_2048], 0, 1.0, 8, &s);
	ok(ret == 0 && s.n == 0, "nothing left: empty split");
}

static void test_split_brute(void)
{
	int bad_two = 0, bad_any = 0, bad_time = 0, cases = 0;

	for (int k = 0; k < 4; k++) {
		const struct ts_cost *c = &fx_cost[k];

		for (int S = 1; S <= 28; S += 3) {
			double tmin = ts_sched_step(c, 3), tmax = ts_sched_step(c, 0);

			for (int j = 0; j <= 20; j++) {
				double slack = S * (tmin + (tmax - tmin) * j / 20.0) * 1.0001;
				double any, two, worst_step = tmin * 8;
				struct ts_sched_split s;

				if (ts_sched_split(c, S, slack, 8, &s))
					continue;
				brute_split(c, S, slack, &any, &two);
				cases++;
				bad_time += s.time_s > slack + 1e-9;
				bad_two += fabs(s.gpu_s - two) > 1e-9;
				bad_any += s.gpu_s > any + worst_step + 1e-9;
			}
		}
	}
	ok(cases > 800, "split checked on %d cases", cases);
	ok(!bad_time, "every split meets its slack (%d miss)", bad_time);
	ok(!bad_two, "split is the cheapest plan of at most two degrees (%d differ)", bad_two);
	ok(!bad_any, "and within one step of the cheapest plan overall (%d exceed)", bad_any);
}

static void test_knap_hand(void)
{
	struct ts_sched_knap k = { 0 };
	struct ts_sched_item it[3] = {
		{ .n_opt = 1, .width = { 8 }, .value = { 10 } },
		{ .n_opt = 2, .width = { 4, 2 }, .value = { 6, 5 } },
		{ .n_opt = 1, .width = { 4 }, .value = { 6 } },
	};
	int ch[3], used;

	used = ts_sched_knap_solve(&k, it, 3, 8, ch);
	ok(used == 8 && ch[0] == -1 && ch[1] == 0 && ch[2] == 0,
	   "knapsack: 6+6 on 8 devices beats 10 on 8 and 5+6 on 6 (used %d, %d %d %d)", used,
	   ch[0], ch[1], ch[2]);
	it[1].value[1] = 6;
	used = ts_sched_knap_solve(&k, it, 3, 8, ch);
	ok(used == 6 && ch[1] == 1 && ch[2] == 0, "equal value: the narrower plan wins (used %d)",
	   used);
	used = ts_sched_knap_solve(&k, it, 3, 3, ch);
	ok(used == 2 && ch[1] == 1 && ch[0] == -1 && ch[2] == -1, "knapsack at capacity 3");
	used = ts_sched_knap_solve(&k, it, 3, 0, ch);
	ok(used == 0 && ch[0] == -1 && ch[1] == -1 && ch[2] == -1, "no devices: nothing chosen");
	ts_sched_knap_free(&k);
}

static unsigned lcg(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

static void test_knap_brute(void)
{
	struct ts_sched_knap k = { 0 };
	unsigned seed = 7;
	int bad = 0, trials = 300;

	for (int t = 0; t < trials; t++) {
		struct ts_sched_item it[7];
		int n = 1 + (int)(lcg(&seed) % 7), cap = (int)(lcg(&seed) % 10), ch[7];
		int64_t bestv = INT64_MIN;
		int bestw = 0, total = 1, used;
		int64_t gotv = 0;

		for (int i = 0; i < n; i++) {
			it[i] = (struct ts_sched_item){ .n_opt = 1 + (int)(lcg(&seed) % 2),
							.none_value = lcg(&seed) % 2 };
			for (int o = 0; o < it[i].n_opt; o++) {
				it[i].width[o] = 1 << (lcg(&seed) % 4);
				it[i].value[o] = lcg(&seed) % 5;
			}
			total *= 3;
		}
		for (int code = 0; code < total; code++) {
			int c = code, w = 0, okc = 1;
			int64_t v = 0;

			for (int i = 0; i < n; i++, c /= 3) {
				int o = c % 3 - 1;

				if (o >= it[i].n_opt) {
					okc = 0;
					break;
				}
				w += o < 0 ? 0 : it[i].width[o];
				v += o < 0 ? it[i].none_value : it[i].value[o];
			}
			if (!okc || w > cap)
				continue;
			if (v > bestv || (v == bestv && w < bestw)) {
				bestv = v;
				bestw = w;
			}
		}
		used = ts_sched_knap_solve(&k, it, n, cap, ch);
		for (int i = 0; i < n; i++)
			gotv += ch[i] < 0 ? it[i].none_value : it[i].value[ch[i]];
		bad += used != bestw || gotv != bestv;
	}
	ok(!bad, "knapsack equals brute force (max value, then least width): %d of %d differ",
	   bad, trials);
	ts_sched_knap_free(&k);
}

int main(void)
{
	test_cost();
	test_split_paper_example();
	test_split_brute();
	test_knap_hand();
	test_knap_brute();
	return tap_done();
}
