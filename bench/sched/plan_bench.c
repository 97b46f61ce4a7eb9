/* SPDX-License-Identifier: MIT */
/*
 * bench/sched/plan_bench.c - decision latency: wall time of one plan() call
 * for devices N in {8, 64, 512} and pending requests R in {16, 256, 4096}.
 *
 * Views are synthetic but shaped like a loaded server: the four FLUX.1-dev
 * sizes, remaining steps 1..28, deadlines from hopeless to relaxed (so the
 * DP has at-risk requests to pack), a tenth already late, an eighth running
 * and half the devices busy. Eight views per cell are cycled; each plan is
 * timed alone, on the thread's CPU clock (the build machine is shared, and a
 * wall clock there counts the time other jobs hold the core: the wall p99 is
 * printed too, for honesty).
 *
 *   plan_bench [policy ...]     prints one line per policy and cell:
 *   plan policy=tetri n=8 r=256 median_us=... p99_us=... max_us=... wall_p99_us=...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../tests/sched/fakehost.h"
#include "../../tests/sched/fixture.h"

struct ts_module *ts_module_tetri_v1(void);
struct ts_module *ts_module_edf_v1(void);
struct ts_module *ts_module_rssp_v1(void);
struct ts_module *ts_module_slice_v1(void);

#define N_VIEWS 8

static const struct {
	const char *name;
	struct ts_module *(*acc)(void);
} policies[] = {
	{ "tetri", ts_module_tetri_v1 },
	{ "slice", ts_module_slice_v1 },
	{ "edf", ts_module_edf_v1 },
	{ "rssp", ts_module_rssp_v1 },
};

struct bview {
	struct ts_round_view v;
	struct ts_req_view *req;
	struct ts_devset free_set;
};

static unsigned long long rng_state = 88172645463325252ull;

static double urand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int make_view(struct bview *b, int n_dev, int n_req)
{
	int busy = n_dev / 2;

	b->req = calloc((size_t)n_req, sizeof(*b->req));
	if (!b->req)
		return -1;
	ts_devset_zero(&b->free_set);
	for (int d = busy; d < n_dev; d++)
		ts_devset_add(&b->free_set, d);
	for (int i = 0; i < n_req; i++) {
		int k = (int)(urand() * 4), left = 1 + (int)(urand() * 28);
		double t = ts_cost_step(&fx_cost[k], (int)(urand() * 4), 1);

		b->req[i] = (struct ts_req_view){
			.id = (uint64_t)i, .klass = (uint32_t)k, .steps_total = 28,
			.steps_left = left,
			.arrival_s = 100.0 - urand() * 5, .cost = &fx_cost[k],
			.deadline_s = 100.0 + left * t * (0.5 + urand()),
			.late = urand() < 0.1, .running = urand() < 0.125,
		};
		if (b->req[i].late)
			b->req[i].deadline_s = 99.0;
	}
	b->v = (struct ts_round_view){
		.now_s = 100.0, .round_steps = 5, .n_devices = n_dev, .n_free = n_dev - busy,
		.free_set = &b->free_set, .n_req = n_req, .req = b->req,
	};
	return 0;
}

static double now_us(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bench_cell(int p, int n_dev, int n_req, int iters)
{
	static struct fh_section sec;
	const char *const kv[] = { NULL };
	struct bview views[N_VIEWS];
	struct ts_assign *a = calloc((size_t)n_req, sizeof(*a));
	double *us = calloc((size_t)iters, sizeof(*us));
	double *wall = calloc((size_t)iters, sizeof(*wall));
	void *self = NULL;

	if (!a || !us || !wall || fh_create(policies[p].acc, kv, &sec, &self))
		return -1;
	for (int i = 0; i < N_VIEWS; i++)
		if (make_view(&views[i], n_dev, n_req))
			return -1;
	for (int it = -N_VIEWS; it < iters; it++) {
		struct ts_plan plan = { .cap = n_req, .a = a };
		const struct bview *b = &views[(it + N_VIEWS) % N_VIEWS];
		double w0 = now_us(CLOCK_MONOTONIC), t0 = now_us(CLOCK_THREAD_CPUTIME_ID);

		if (fh_ops->plan(self, &b->v, &plan))
			return -1;
		if (it >= 0) { /* the first round of each view warms the policy's buffers */
			us[it] = now_us(CLOCK_THREAD_CPUTIME_ID) - t0;
			wall[it] = now_us(CLOCK_MONOTONIC) - w0;
		}
	}
	qsort(us, (size_t)iters, sizeof(*us), cmp_double);
	qsort(wall, (size_t)iters, sizeof(*wall), cmp_double);
	printf("plan policy=%s n=%d r=%d median_us=%.1f p99_us=%.1f max_us=%.1f wall_p99_us=%.1f\n",
	       policies[p].name, n_dev, n_req, us[iters / 2], us[(int)(iters * 0.99)],
	       us[iters - 1], wall[(int)(iters * 0.99)]);
	fflush(stdout);
	fh_ops->destroy(self);
	for (int i = 0; i < N_VIEWS; i++)
		free(views[i].req);
	free(us);
	free(wall);
	free(a);
	return 0;
}

int main(int argc, char **argv)
{
	static const int ns[] = { 8, 64, 512 }, rs[] = { 16, 256, 4096 };

	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		int want = argc < 2;

		for (int i = 1; i < argc; i++)
			want |= !strcmp(argv[i], policies[p].name);
		if (!want)
			continue;
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++) {
				int iters = rs[j] >= 4096 ? 200 : 1000;

				if (bench_cell((int)p, ns[i], rs[j], iters)) {
					fprintf(stderr, "plan_bench: %s failed at n=%d r=%d\n",
						policies[p].name, ns[i], rs[j]);
					return 1;
				}
			}
	}
	return 0;
}
