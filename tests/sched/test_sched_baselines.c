/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/test_sched_baselines.c - rssp and edf on hand-built views: the
 * degree each derives from the FLUX.1-dev table, FCFS/EDF order, head-of-line
 * blocking and backfill, hopeless requests.
 */
#include "fakehost.h"
#include "fixture.h"
#include "tap.h"

struct ts_module *ts_module_rssp_v1(void);
struct ts_module *ts_module_edf_v1(void);

static void *make(struct ts_module *(*acc)(void), const char *const *kv)
{
	static struct fh_section sec;
	void *self = NULL;

	if (fh_create(acc, kv, &sec, &self))
		printf("# create failed\n");
	return self;
}

static int plan_of(void *p, struct fx_view *f)
{
	f->plan.n = 0;
	return fh_ops->plan(p, &f->v, &f->plan);
}

static int deg_of(const struct fx_view *f, int req)
{
	const struct ts_assign *a = fx_find(f, req);

	return a ? a->degree : 0;
}

/*
 * SLO rule: 28 x T(k) <= SLO. 256/1.5 s: 1.38 at 1. 512/2 s: 2.28 at 1 is too
 * slow, 1.61 at 2. 1024/3 s: 2.30 at 4. 2048/5 s: 4.66 at 8.
 * Efficiency rule (0.75): 256: T1/(2 T2) = 0.62 -> 1; 512: 0.71 -> 1;
 * 1024: 0.83 at 2, 0.68 at 4 -> 2; 2048: 0.76 at 8 -> 8 (the paper's list).
 */
static void test_rssp_degrees(void)
{
	const char *const slo[] = { NULL };
	const char *const eff[] = { "rule=efficiency", NULL };
	struct fx_view f;
	void *p;
	int ret;

	fx_init(&f, 0.0, 16, 5);
	fx_add(&f, FX_256, 28, 1.5);
	fx_add(&f, FX_512, 28, 2.0);
	fx_add(&f, FX_1024, 28, 3.0);
	fx_add(&f, FX_2048, 28, 5.0);
	p = make(ts_module_rssp_v1, slo);
	ok(fh_ops->hdr.flags & TS_POLICY_EVENT_DRIVEN, "rssp is event-driven");
	ret = plan_of(p, &f);
	ok(!ret && f.plan.n == 4 && deg_of(&f, 0) == 1 && deg_of(&f, 1) == 2 &&
	   deg_of(&f, 2) == 4 && deg_of(&f, 3) == 8, "slo rule: 1, 2, 4, 8 (%d %d %d %d)",
	   deg_of(&f, 0), deg_of(&f, 1), deg_of(&f, 2), deg_of(&f, 3));
	ok(fx_find(&f, 3) && fx_find(&f, 3)->steps == 28, "non-preemptive: all 28 steps at once");
	fh_ops->destroy(p);

	p = make(ts_module_rssp_v1, eff);
	ret = plan_of(p, &f);
	ok(!ret && f.plan.n == 4 && deg_of(&f, 0) == 1 && deg_of(&f, 1) == 1 &&
	   deg_of(&f, 2) == 2 && deg_of(&f, 3) == 8, "efficiency rule: 1, 1, 2, 8 (%d %d %d %d)",
	   deg_of(&f, 0), deg_of(&f, 1), deg_of(&f, 2), deg_of(&f, 3));
	fh_ops->destroy(p);
}

/* FCFS: a 2048 at the head wanting 8 of 4 free devices blocks a 256 behind it. */
static void test_rssp_fcfs(void)
{
	const char *const plain[] = { NULL };
	const char *const bf[] = { "backfill=1", NULL };
	struct fx_view f;
	void *p;

	fx_init(&f, 0.0, 8, 5);
	fx_busy(&f, 4);
	fx_add(&f, FX_2048, 28, 5.0);
	fx_add(&f, FX_256, 28, 1.5);
	p = make(ts_module_rssp_v1, plain);
	ok(!plan_of(p, &f) && f.plan.n == 0, "the head blocks the queue");
	fh_ops->destroy(p);
	p = make(ts_module_rssp_v1, bf);
	ok(!plan_of(p, &f) && f.plan.n == 1 && deg_of(&f, 1) == 1, "backfill starts the 256");
	fh_ops->destroy(p);
}

/*
 * EDF: a 256 due at 1.45 goes before a 1024 due at 3 (which needs 4: 2.30 s),
 * whatever the arrival order.
 */
static void test_edf_order(void)
{
	const char *const plain[] = { NULL };
	struct fx_view f;
	void *p = make(ts_module_edf_v1, plain);

	fx_init(&f, 0.0, 5, 5);
	fx_busy(&f, 1);
	fx_add(&f, FX_1024, 28, 3.0);
	fx_add(&f, FX_256, 28, 1.45);
	ok(!plan_of(p, &f) && f.plan.n == 1 && deg_of(&f, 1) == 1,
	   "4 free: the 256 first, then the 1024 (4) does not fit");
	fx_init(&f, 0.0, 8, 5);
	fx_add(&f, FX_1024, 28, 3.0);
	fx_add(&f, FX_256, 28, 1.45);
	ok(!plan_of(p, &f) && f.plan.n == 2 && deg_of(&f, 0) == 4 && deg_of(&f, 1) == 1,
	   "8 free: both, at 4 and 1");
	f.v.now_s = 1.0;
	ok(!plan_of(p, &f) && deg_of(&f, 0) == 8,
	   "1 s later the 1024 needs 8 (4: 2.30 s > 2 s, 8: 1.52 s)");
	fh_ops->destroy(p);
}

/* Blocking, backfill, and hopeless requests (no degree meets the deadline any more). */
static void test_edf_block(void)
{
	const char *const plain[] = { NULL };
	const char *const bf[] = { "backfill=1", NULL };
	struct fx_view f;
	void *p = make(ts_module_edf_v1, plain);

	fx_init(&f, 0.0, 8, 5);
	fx_busy(&f, 6);
	fx_add(&f, FX_1024, 28, 2.5);
	fx_add(&f, FX_256, 28, 3.0);
	fx_add(&f, FX_2048, 28, 1.0);
	ok(!plan_of(p, &f) && f.plan.n == 0, "the 1024 (needs 4) blocks; the hopeless 2048 waits");
	fh_ops->destroy(p);
	p = make(ts_module_edf_v1, bf);
	ok(!plan_of(p, &f) && f.plan.n == 1 && deg_of(&f, 1) == 1, "backfill: the 256 starts");
	fh_ops->destroy(p);
	p = make(ts_module_edf_v1, plain);
	fx_init(&f, 0.0, 8, 5);
	fx_add(&f, FX_2048, 28, 1.0);
	ok(!plan_of(p, &f) && f.plan.n == 1 && deg_of(&f, 0) == 1 && fx_find(&f, 0)->steps == 28,
	   "alone, the hopeless 2048 runs best effort on one device");
	fh_ops->destroy(p);
}

int main(void)
{
	test_rssp_degrees();
	test_rssp_fcfs();
	test_edf_order();
	test_edf_block();
	return tap_done();
}
