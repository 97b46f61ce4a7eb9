// SPDX-License-Identifier: MIT
/*
 * tests/engine/test_fixed.c - sched/fixed on small hand-computed traces,
 * through the module's own descriptor and init, in the real engine.
 *
 * Fake model (fake_exact): 1 s per step at degree 1, 0.6 s at degree 2.
 */
#include "fake.h"

struct ts_module *ts_module_fixed_v1(void);

static const struct ts_policy_ops *fixed_ops(void)
{
	struct ts_module *m = ts_module_fixed_v1();

	fake_registered = NULL;
	if (m->init(&fake_host, m))
		return NULL;
	return fake_registered;
}

static int run_fixed(struct rig *r, int n_dev, const char *k)
{
	const char *kv[] = { k, NULL };
	struct fake_section sec = { kv };
	const struct ts_policy_ops *ops = fixed_ops();

	if (!ops || rig_open(r, n_dev, NULL, 5, 0, fake_exact, NULL))
		return -1;
	/* A: 10 steps at 0 s; B: 5 steps at 1 s; C: 5 steps at 2 s. */
	rig_submit(r, 100, 0.0, 10, 100);
	rig_submit(r, 101, 1.0, 5, 100);
	rig_submit(r, 102, 2.0, 5, 4.0);
	if (ts_engine_set_policy(r->eng, ops, (const struct ts_section *)(const void *)&sec))
		return -1;
	return ts_engine_run(r->eng);
}

static void test_k2_on_2(void)
{
	struct rig r;

	/* k=2 on 2 devices: A 0 -> 6; B waits, 6 -> 9; C 9 -> 12 (deadline 6: late). */
	ok(!run_fixed(&r, 2, "k=2"), "fixed k=2 on 2 devices runs");
	ok_near(rig_req(&r, 0)->start_s, 0.0, 1e-12, "A starts at 0");
	ok_near(rig_req(&r, 0)->finish_s, 6.0, 1e-12, "A: 10 x 0.6 = 6 (%g)", rig_req(&r, 0)->finish_s);
	ok_near(rig_req(&r, 1)->start_s, 6.0, 1e-12, "B starts when A frees both (%g)",
		rig_req(&r, 1)->start_s);
	ok_near(rig_req(&r, 1)->finish_s, 9.0, 1e-12, "B: 6 + 3 = 9");
	ok_near(rig_req(&r, 2)->finish_s, 12.0, 1e-12, "C: 9 + 3 = 12");
	ok(rig_req(&r, 2)->late && !rig_req(&r, 1)->late, "C late, B not");
	ok(rig_req(&r, 0)->degrees_mask == 2, "all at degree 2");
	rig_close(&r);
}

static void test_k1_on_2(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/* k=1 on 2 devices: A 0 -> 10 on one; B 1 -> 6 on the other; C waits, 6 -> 11. */
	ok(!run_fixed(&r, 2, "k=1"), "fixed k=1 on 2 devices runs");
	ok_near(rig_req(&r, 1)->start_s, 1.0, 1e-12, "B starts on arrival");
	ok_near(rig_req(&r, 1)->finish_s, 6.0, 1e-12, "B ends at 6");
	ok_near(rig_req(&r, 2)->start_s, 6.0, 1e-12, "C waits for B's device (%g)",
		rig_req(&r, 2)->start_s);
	ok_near(rig_req(&r, 2)->finish_s, 11.0, 1e-12, "C ends at 11");
	ok_near(rig_req(&r, 0)->finish_s, 10.0, 1e-12, "A ends at 10");
	ts_engine_stats(r.eng, &st);
	ok(st.runs == 3 && st.migrations == 0, "one run each, non-preemptive");
	ok_near(st.gpu_s, 20.0, 1e-12, "20 device-seconds");
	rig_close(&r);
}

static void test_k2_on_3_blocks(void)
{
	struct rig r;

	/*
	 * k=2 on 3 devices: A takes 2 (0 -> 6); B at 1 s needs 2, only 1 free:
	 * waits until 6; C (2 s) queues behind B: B 6 -> 9 on 2 devices, C
	 * needs 2 more but only 1 is free: head-of-line, 9 -> 12.
	 */
	ok(!run_fixed(&r, 3, "k=2"), "fixed k=2 on 3 devices runs");
	ok_near(rig_req(&r, 1)->start_s, 6.0, 1e-12, "B blocked until 6");
	ok_near(rig_req(&r, 2)->start_s, 9.0, 1e-12, "C behind B until 9 (%g)",
		rig_req(&r, 2)->start_s);
	rig_close(&r);
}

static void test_bad_k(void)
{
	struct rig r;
	struct ts_engine_stats st;

	/* k=4 is not in the 2-device pool: every request fails instead of hanging. */
	ok(!run_fixed(&r, 2, "k=4"), "fixed k=4 on 2 devices ends");
	ts_engine_stats(r.eng, &st);
	ok(st.failed == 3, "all three requests failed (%ld)", st.failed);
	rig_close(&r);
}

int main(void)
{
	ok(ts_module_fixed_v1()->hdr.magic == TS_MAGIC_MODULE, "module descriptor");
	ok(fixed_ops() && (fixed_ops()->hdr.flags & TS_POLICY_EVENT_DRIVEN), "event-driven policy");
	test_k2_on_2();
	test_k1_on_2();
	test_k2_on_3_blocks();
	test_bad_k();
	return tap_done();
}
