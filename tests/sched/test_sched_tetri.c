/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/test_sched_tetri.c - the tetri policy on hand-built round views,
 * every expected plan computed by hand from the FLUX.1-dev step times (see
 * the comments): the DP, the split's options, scale-up, late requests, the
 * ablation knobs, the round length.
 */
#include <math.h>

#include "fakehost.h"
#include "fixture.h"
#include "tap.h"

struct ts_module *ts_module_tetri_v1(void);
struct ts_module *ts_module_slice_v1(void);

static struct ts_module *(*policy)(void) = ts_module_tetri_v1;

static void *make(const char *const *kv)
{
	static struct fh_section sec;
	void *self = NULL;
	int ret = fh_create(policy, kv, &sec, &self);

	if (ret)
		printf("# create failed: %d\n", ret);
	return self;
}

static int plan(void *self, struct fx_view *f)
{
	return fh_ops->plan(self, &f->v, &f->plan);
}

/*
 * One 2048 request, 5 s to go, 8 devices, 5-step rounds: tau = 5 x 0.166486.
 * Split: 2 steps at 4 + 26 at 8. Only the degree-8 option survives the round
 * (0.832 + 23 x 0.166 <= 5), so the DP runs it at 8 for floor(tau/T8) = 5 steps.
 */
static void test_single_big(void)
{
	const char *const kv[] = { NULL };
	void *p = make(kv);
	struct fx_view f;
	const struct ts_assign *a;

	fx_init(&f, 10.0, 8, 5);
	fx_add(&f, FX_2048, 28, 5.0);
	ok(plan(p, &f) == 0 && f.plan.n == 1, "one assignment");
	a = fx_find(&f, 0);
	ok(a && a->degree == 8 && a->steps == 5, "2048 runs 5 steps at degree 8 (%d x %d)",
	   a ? a->degree : -1, a ? a->steps : -1);
	ok(a && a->flags == TS_ASSIGN_PRESERVE, "placement preservation is requested");
	ok_near(f.plan.next_round_s, 10.0 + 5 * 0.166486, 1e-12, "next round after tau");
	fh_ops->destroy(p);
}

/*
 * Four 256 requests with 1.45 s and one 2048 with 5 s on 8 devices: each small
 * one survives only if it runs now (0.832 + 28 x 0.0278 > 1.45) and survives
 * on one device; the big one needs all 8. The DP saves 4 > 1. Scale-up then
 * starts the big one at its cheaper degree, 4, on the 4 idle devices.
 */
static void test_dp_counts(void)
{
	const char *const kv[] = { NULL };
	const char *const dp_only[] = { "scaleup=0", "preserve=0", NULL };
	void *p = make(kv);
	struct fx_view f;
	int good = 1, ret;

	fx_init(&f, 0.0, 8, 5);
	fx_add(&f, FX_2048, 28, 5.0);
	for (int i = 0; i < 4; i++)
		fx_add(&f, FX_256, 28, 1.45);
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 5, "five assignments (%d)", f.plan.n);
	for (int i = 1; i <= 4; i++) {
		const struct ts_assign *a = fx_find(&f, i);

		good &= a && a->degree == 1 && a->steps == 16;
	}
	ok(good, "every 256 runs floor(0.832/0.0494) = 16 steps on one device");
	ok(fx_find(&f, 0) && fx_find(&f, 0)->degree == 4 && fx_find(&f, 0)->steps == 2,
	   "the 2048 gets the 4 idle devices for 2 steps");
	ok(fx_used(&f) == 8, "no device idles");
	fh_ops->destroy(p);

	p = make(dp_only);
	f.plan.n = 0;
	ok(plan(p, &f) == 0 && f.plan.n == 4 && !fx_find(&f, 0), "DP only: the 2048 waits");
	ok(fx_find(&f, 1) && fx_find(&f, 1)->steps == 16 && fx_find(&f, 1)->flags == 0,
	   "DP only: q = min(28, 16), no preservation flag");
	fh_ops->destroy(p);
}

/*
 * Two devices: a 256 with 1.3 s and a late 1024 with 10 steps left. The late
 * one does not set the round: tau = 5 x T(256 at 2) = 0.2001. The 256 is at
 * risk (0.2001 + 28 x 0.0400 > 1.3); its split is 19 at 1 + 9 at 2, and it
 * survives at 1 (4 steps); the DP takes the narrower. Scale-up grows it to
 * 2 (5 steps) and the late one gets nothing. Without scale-up the late one
 * gets the spare device for one step (0.2237 s > tau: an overrun).
 */
static void test_late(void)
{
	const char *const kv[] = { NULL };
	const char *const no_scale[] = { "scaleup=0", NULL };
	struct fx_view f;
	struct ts_req_view *late;
	void *p = make(kv);
	int ret;

	fx_init(&f, 100.0, 2, 5);
	fx_add(&f, FX_256, 28, 1.3);
	late = fx_add(&f, FX_1024, 28, -1.0);
	late->steps_left = 10;
	late->late = 1;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1, "one assignment with scale-up (%d)", f.plan.n);
	ok(fx_find(&f, 0) && fx_find(&f, 0)->degree == 2 && fx_find(&f, 0)->steps == 5,
	   "the 256 is grown to degree 2 for 5 steps");
	ok_near(f.plan.next_round_s, 100.0 + 5 * 0.040023, 1e-12, "the late one does not set tau");
	fh_ops->destroy(p);

	p = make(no_scale);
	f.plan.n = 0;
	ok(plan(p, &f) == 0 && f.plan.n == 2, "two assignments without scale-up");
	ok(fx_find(&f, 0) && fx_find(&f, 0)->degree == 1 && fx_find(&f, 0)->steps == 4,
	   "the 256 runs 4 steps on one device");
	ok(fx_find(&f, 1) && fx_find(&f, 1)->degree == 1 && fx_find(&f, 1)->steps == 1,
	   "the late 1024 gets the spare device for 1 step");
	fh_ops->destroy(p);
}

/*
 * Only a late request: a best-effort round. One device, grown to 2 with the
 * idle one, one step; the next round when that step ends (0.134815 s).
 */
static void test_best_effort_round(void)
{
	const char *const kv[] = { NULL };
	const char *const single[] = { "late=single", NULL };
	struct fx_view f;
	struct ts_req_view *late;
	void *p = make(kv);
	int ret;

	fx_init(&f, 50.0, 2, 5);
	late = fx_add(&f, FX_1024, 28, -1.0);
	late->steps_left = 10;
	late->late = 1;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1 && fx_find(&f, 0)->degree == 2 && fx_find(&f, 0)->steps == 1,
	   "best effort: degree 2, one step");
	ok_near(f.plan.next_round_s, 50.0 + 0.134815, 1e-12, "next round when that step ends");
	fh_ops->destroy(p);

	p = make(single);
	f.plan.n = 0;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1 && fx_find(&f, 0)->degree == 1 && fx_find(&f, 0)->steps == 1,
	   "late=single: one device, never grown");
	ok_near(f.plan.next_round_s, 50.0 + 0.223741, 1e-12, "next round after its one step");
	fh_ops->destroy(p);
}

/* Busy devices and running requests: only n_free devices are planned, running ones skipped. */
static void test_busy(void)
{
	const char *const kv[] = { NULL };
	void *p = make(kv);
	struct fx_view f;
	struct ts_req_view *r;

	fx_init(&f, 0.0, 8, 5);
	r = fx_add(&f, FX_1024, 28, 3.0);
	r->running = 1;
	fx_busy(&f, 4);
	fx_add(&f, FX_2048, 28, 5.0);
	ok(plan(p, &f) == 0 && f.plan.n == 1 && !fx_find(&f, 0),
	   "the running request is left alone");
	ok(fx_find(&f, 1) && fx_find(&f, 1)->degree == 4 && fx_find(&f, 1)->steps == 2,
	   "degree 8 does not fit: the 2048 starts at 4 on the free devices");
	fh_ops->destroy(p);
}

/*
 * Rounds in seconds (0.5 s). A 1024 with 3 s is safe this round, so the DP
 * leaves it; scale-up starts it at its split's lower degree (2: 13 steps at
 * 2 + 15 at 4 is the cheapest plan) and grows it 2 -> 4 -> 8: floor(0.5/0.05411) = 9.
 */
static void test_round_seconds(void)
{
	const char *const kv[] = { NULL };
	const char *const dp_only[] = { "scaleup=0", NULL };
	struct fx_view f;
	void *p = make(kv);

	fx_init(&f, 1.0, 8, 0);
	f.v.round_s = 0.5;
	fx_add(&f, FX_1024, 28, 3.0);
	ok(plan(p, &f) == 0 && f.plan.n == 1, "one assignment");
	ok(fx_find(&f, 0) && fx_find(&f, 0)->degree == 8 && fx_find(&f, 0)->steps == 9,
	   "grown to 8 for 9 steps");
	ok_near(f.plan.next_round_s, 1.5, 1e-12, "next round after round_ms");
	fh_ops->destroy(p);

	p = make(dp_only);
	f.plan.n = 0;
	ok(plan(p, &f) == 0 && f.plan.n == 0, "DP only: a safe request waits");
	fh_ops->destroy(p);
}

/*
 * The end of a request's life: 3 steps left of a 2048, 0.838 s to go. The
 * split is 2 at 4 + 1 at 8; running only the segment's step at 8 would leave
 * 2 and miss (0.832 + 2 x 0.166 > 0.838), but 3 steps at 8 end at +0.499 s:
 * the option runs every remaining step that fits and is judged by its finish.
 */
static void test_end_of_life(void)
{
	const char *const kv[] = { "scaleup=0", NULL }; /* the DP alone must pick it */
	void *p = make(kv);
	struct fx_view f;
	struct ts_req_view *r;
	int ret;

	fx_init(&f, 4.8836, 8, 5);
	r = fx_add(&f, FX_2048, 28, 0.8379);
	r->steps_left = 3;
	ret = plan(p, &f);
	ok(ret == 0 && fx_find(&f, 0) && fx_find(&f, 0)->degree == 8 && fx_find(&f, 0)->steps == 3,
	   "the last 3 steps run at degree 8");
	fh_ops->destroy(p);
}

/*
 * slice's tie-break. B: a 2048 with 10 steps and 1.8 s left survives only at
 * 8 (0.832 + 5 x 0.166 <= 1.8; split 1 at 4 + 9 at 8, 13.18 GPU-s). A: a
 * fresh 1024 with 2.3 s survives at 4 for 10 steps (split: 28 at 4, 9.19
 * GPU-s). Both do not fit 8 devices: one survivor either way. By deadline
 * B wins; by least work A does. Draining then keeps the rest idle.
 */
static void test_slice_tiebreak(void)
{
	const char *const by_deadline[] = { NULL };
	const char *const by_work[] = { "tiebreak=work", NULL };
	struct fx_view f;
	struct ts_req_view *b;
	void *p;
	int ret;

	policy = ts_module_slice_v1;
	fx_init(&f, 0.0, 8, 5);
	fx_add(&f, FX_1024, 28, 2.3);
	b = fx_add(&f, FX_2048, 28, 1.8);
	b->steps_left = 10;
	p = make(by_deadline);
	ok(fh_ops->hdr.flags & TS_POLICY_EVENT_DRIVEN, "slice is event-driven");
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1 && fx_find(&f, 1) && fx_find(&f, 1)->degree == 8 &&
	   fx_find(&f, 1)->steps == 5, "by deadline: the 2048 at 8 for 5 steps, nothing else");
	fh_ops->destroy(p);
	p = make(by_work);
	f.plan.n = 0;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1 && fx_find(&f, 0) && fx_find(&f, 0)->degree == 4 &&
	   fx_find(&f, 0)->steps == 10, "by work: the 1024 at 4 for 10 steps, the rest drained");
	fh_ops->destroy(p);
	policy = ts_module_tetri_v1;
}

/*
 * A savable 256 in flight (1 of 2 devices) and a late 1024 waiting. The
 * running 256 still sets the round (5 x 0.040023). tetri gives the late one
 * the free device for one step; slice's late gate keeps it idle while
 * anything in the view can still make its deadline.
 */
static void test_late_gate(void)
{
	const char *const kv[] = { NULL };
	struct fx_view f;
	struct ts_req_view *r;
	void *p;
	int ret;

	fx_init(&f, 10.0, 2, 5);
	fx_busy(&f, 1);
	r = fx_add(&f, FX_256, 28, 1.0);
	r->running = 1;
	r->steps_left = 10;
	r = fx_add(&f, FX_1024, 28, -1.0);
	r->late = 1;
	r->steps_left = 10;
	p = make(kv);
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 1 && fx_find(&f, 1) && fx_find(&f, 1)->degree == 1 &&
	   fx_find(&f, 1)->steps == 1, "tetri: the late 1024 gets the free device for a step");
	ok_near(f.plan.next_round_s, 10.0 + 5 * 0.040023, 1e-12, "the running 256 sets tau");
	fh_ops->destroy(p);
	policy = ts_module_slice_v1;
	p = make(kv);
	f.plan.n = 0;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 0, "slice: late gate, nothing starts");
	fh_ops->destroy(p);
	policy = ts_module_tetri_v1;
}

/*
 * test_dp_counts' view under slice. With exact_lb the 2048's degree-4 option
 * (2 steps, 0.597 s) survives: 0.597 + 26 x 0.166 = 4.93 <= 5, so the DP
 * saves all five (4 + 4 x 1 devices). Judged at the boundary (0.832 + 26 x
 * 0.166 > 5) it does not: the DP saves the four small ones, and draining
 * keeps the other 4 devices for the 2048's gang.
 */
static void test_slice_exact_lb(void)
{
	const char *const exact[] = { NULL };
	const char *const boundary[] = { "exact_lb=0", NULL };
	struct fx_view f;
	void *p;
	int ret;

	policy = ts_module_slice_v1;
	fx_init(&f, 0.0, 8, 5);
	fx_add(&f, FX_2048, 28, 5.0);
	for (int i = 0; i < 4; i++)
		fx_add(&f, FX_256, 28, 1.45);
	p = make(exact);
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 5 && fx_find(&f, 0) && fx_find(&f, 0)->degree == 4 &&
	   fx_find(&f, 0)->steps == 2 && fx_find(&f, 4) && fx_find(&f, 4)->steps == 16,
	   "exact_lb: all five saved, the 2048 at 4 for 2 steps (%d)", f.plan.n);
	fh_ops->destroy(p);
	p = make(boundary);
	f.plan.n = 0;
	ret = plan(p, &f);
	ok(ret == 0 && f.plan.n == 4 && !fx_find(&f, 0),
	   "at the boundary: four saved, the rest drained");
	fh_ops->destroy(p);
	policy = ts_module_tetri_v1;
}

int main(void)
{
	test_end_of_life();
	test_single_big();
	test_dp_counts();
	test_late();
	test_best_effort_round();
	test_busy();
	test_round_seconds();
	test_slice_tiebreak();
	test_late_gate();
	test_slice_exact_lb();
	return tap_done();
}
