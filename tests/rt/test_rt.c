/* SPDX-License-Identifier: MIT */
/*
 * tests/rt/test_rt.c - the real-time engine end to end on 4 CPU virtual
 * devices with tiny DiTs (random weights, generated deterministically):
 *
 *  - a mixed trace (two sizes, deadlines) served by `tetri`: every request
 *    completes, states migrate when sets change (engine and executor agree
 *    on how often), and every output equals a single-device run of the same
 *    seed (relative L2 < 1e-4);
 *  - a forced degree schedule 1,2,4,1: three migrations, same output;
 *  - a step failure injected mid-trace: the device is reported unhealthy,
 *    no request is lost, and the outputs are still those of the reference;
 *  - batching: a policy that batches same-shape requests runs fewer runs,
 *    same outputs;
 *  - rounds much shorter than runs: overruns lose and repeat nothing;
 *  - cancelling a running request frees its devices at the next step;
 *  - a held engine lets its runs end and starts none (nor fails the waiting
 *    ones), and runs them all once released.
 */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/tetri.h>

#include "config.h"
#include "log.h"
#include "policy_sched.h"
#include "pool.h"
#include "registry.h"
#include "rt.h"
#include "tap.h"

#define N_REQ 8
#define TOL 1e-4

static char cfg_path[PATH_MAX], cfg_fast_path[PATH_MAX];
static char mod_dir[PATH_MAX];

struct treq {
	const char *model;
	struct ts_req_params p;
	double arrival_s, slo_s;
};

static struct treq trace[N_REQ];
static float *ref[N_REQ];
static int64_t ref_n[N_REQ];

/*
 * What the policy believes a step takes (the engine's mechanics do not depend
 * on it being right): parallelism and batching pay, so tetri must spread the
 * tight requests over several devices.
 */
static int write_profile(const char *path, const char *model, int px, double s1)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "model,width,height,degree,batch,step_s\n");
	for (int k = 1; k <= 4; k *= 2)
		for (int b = 1; b <= 2; b++)
			fprintf(f, "%s,%d,%d,%d,%d,%.9g\n", model, px, px, k, b,
				s1 * (0.2 + 0.8 / k) * (b == 1 ? 1.0 : 1.5));
	return fclose(f);
}

/* The config at @path; @scale multiplies the profiles' step times. */
static int write_config_scaled(const char *dir, const char *path, double scale)
{
	char pa[PATH_MAX + 32], pb[PATH_MAX + 32];
	FILE *f;

	snprintf(pa, sizeof(pa), "%s/a-%g.csv", dir, scale);
	snprintf(pb, sizeof(pb), "%s/b-%g.csv", dir, scale);
	if (write_profile(pa, "dit-a", 64, 0.010 * scale) ||
	    write_profile(pb, "dit-b", 32, 0.004 * scale))
		return -1;
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "[server]\nmodule_path = %s\nlog_level = warn\n\n"
		   "[pool]\nbackend = cpu\ndevices = 4\nthreads_per_device = 1\n\n"
		   "[scheduler]\npolicy = tetri\nround_steps = 2\n\n", mod_dir);
	/* two sizes: 16 and 4 tokens; 4 heads allow degrees 1, 2, 4 */
	fprintf(f, "[model dit-a]\nmodule = dit\nrandom_weights = true\ninput_size = 8\n"
		   "patch_size = 2\nhidden_size = 64\ndepth = 2\nnum_heads = 4\nnum_classes = 10\n"
		   "steps = 8\nguidance = 1\nprofile = %s\n\n", pa);
	fprintf(f, "[model dit-b]\nmodule = dit\nrandom_weights = true\ninput_size = 4\n"
		   "patch_size = 2\nhidden_size = 64\ndepth = 2\nnum_heads = 4\nnum_classes = 10\n"
		   "steps = 6\nguidance = 1\nprofile = %s\n", pb);
	return fclose(f);
}

static int write_config(const char *dir)
{
	snprintf(cfg_path, sizeof(cfg_path), "%s/rt-test.ini", dir);
	snprintf(cfg_fast_path, sizeof(cfg_fast_path), "%s/rt-fast.ini", dir);
	/* the fast one believes steps take microseconds: every run overruns its round */
	return write_config_scaled(dir, cfg_path, 1) ||
	       write_config_scaled(dir, cfg_fast_path, 1e-4);
}

static void make_trace(void)
{
	for (int i = 0; i < N_REQ; i++) {
		trace[i] = (struct treq){
			.model = i % 3 == 2 ? "dit-b" : "dit-a",
			.p = { .seed = 100 + i, .class_label = i % 10 },
			/* staggered arrivals, so degrees change as the pool fills */
			.arrival_s = 0.02 * i,
			/* half of them too tight for one device (8 x 10 ms at degree 1) */
			.slo_s = i % 2 ? 0.05 : 0.5,
		};
	}
}

static int submit_all(struct ts_rt *rt, int *idx)
{
	for (int i = 0; i < N_REQ; i++)
		if (ts_rt_submit(rt, i, trace[i].model, &trace[i].p, trace[i].arrival_s,
				 trace[i].slo_s, &idx[i]))
			return -1;
	return 0;
}

static int all_done(struct ts_rt *rt, const int *idx, int n)
{
	const struct ts_reqtable *t = ts_engine_requests(rt->eng);
	int done = 0;

	for (int i = 0; i < n; i++)
		done += t->r[idx[i]].state == TS_REQ_DONE &&
			t->r[idx[i]].steps_done == t->r[idx[i]].steps_total;
	return done == n;
}

static double rel_l2(const float *a, const float *b, int64_t n)
{
	double num = 0, den = 0;

	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(a[i]))
			return INFINITY;
		num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		den += (double)b[i] * b[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Worst relative L2 of the outputs against the references (INFINITY if one is missing). */
static double worst_vs_ref(struct ts_rt *rt, const int *idx, int n)
{
	double worst = 0;

	for (int i = 0; i < n; i++) {
		const struct ts_tensor *o = ts_exec_real_output(rt->exec, idx[i]);

		if (!o || !ref[i] || ts_tensor_numel(o) != ref_n[i])
			return INFINITY;
		worst = fmax(worst, rel_l2(o->data, ref[i], ref_n[i]));
	}
	return worst;
}

static struct ts_rt *open_rt(const struct ts_policy_ops *pol, const char *const *params,
			     int n_dev)
{
	struct ts_rt_opts o = { .policy_ops = pol, .params = params, .n_devices = n_dev };
	struct ts_rt *rt = NULL;

	return ts_rt_open(cfg_path, &o, &rt) ? NULL : rt;
}

/* Every request alone on one device, degree 1 throughout: the references. */
static void reference_runs(void)
{
	static const char *const ones[] = { "degrees=1", NULL };
	struct ts_rt *rt = open_rt(ts_policy_schedule(), ones, 1);
	int idx[N_REQ];

	if (!ok(rt && !submit_all(rt, idx), "reference: 1 device, degree 1"))
		goto out;
	ok(!ts_engine_run(rt->eng) && all_done(rt, idx, N_REQ), "reference: every request done");
	for (int i = 0; i < N_REQ; i++) {
		const struct ts_tensor *o = ts_exec_real_output(rt->exec, idx[i]);

		if (!o)
			continue;
		ref_n[i] = ts_tensor_numel(o);
		ref[i] = malloc(sizeof(float) * (size_t)ref_n[i]);
		memcpy(ref[i], o->data, sizeof(float) * (size_t)ref_n[i]);
	}
out:
	ts_rt_close(rt);
}

static void tetri_trace(void)
{
	struct ts_rt *rt = open_rt(NULL, NULL, 0);
	struct ts_engine_stats es;
	struct ts_exec_real_stats xs;
	int idx[N_REQ], degrees_seen = 0;
	uint64_t mask = 0;

	if (!ok(rt && !submit_all(rt, idx), "tetri on 4 devices: trace submitted"))
		goto out;
	ok(!strcmp(ts_engine_policy(rt->eng)->name, "tetri"), "the config's policy is tetri");
	ok(!ts_engine_run(rt->eng) && all_done(rt, idx, N_REQ), "tetri: every request completed");
	ts_engine_stats(rt->eng, &es);
	ts_exec_real_stats(rt->exec, &xs);
	for (int i = 0; i < N_REQ; i++)
		mask |= ts_engine_requests(rt->eng)->r[idx[i]].degrees_mask;
	degrees_seen = __builtin_popcountll(mask);
	tap_diag("tetri: %ld runs, %ld plan calls, %ld migrations (exec %ld, %.1f us each), degrees "
	     "mask 0x%llx", es.runs, es.plan_calls, es.migrations, xs.migrations,
	     xs.migrations ? 1e6 * xs.migration_s / xs.migrations : 0.0,
	     (unsigned long long)mask);
	ok(degrees_seen >= 2, "tetri ran steps at %d different degrees", degrees_seen);
	ok(es.migrations > 0 && es.migrations == xs.migrations,
	   "states migrated when sets changed (engine %ld, executor %ld)", es.migrations,
	   xs.migrations);
	{
		long total = 0;

		for (int i = 0; i < N_REQ; i++)
			total += ts_engine_requests(rt->eng)->r[idx[i]].steps_total;
		ok(es.steps_run == total && xs.steps == total,
		   "no step lost or run twice: %ld request-steps, %ld executed, %ld asked",
		   es.steps_run, xs.steps, total);
	}
	{
		double e = worst_vs_ref(rt, idx, N_REQ);

		ok(e < TOL, "every output equals its single-device run (worst rel L2 %.2e)", e);
	}
out:
	ts_rt_close(rt);
}

/* Progress events: one per completed step of each request, in order. */
static atomic_int ev_count, ev_disorder;
static int ev_last[64];

static void on_progress(void *arg, int idx, int steps_done)
{
	(void)arg;
	atomic_fetch_add(&ev_count, 1);
	/* a request has one run at a time, so its events come from one lane at a time */
	if (idx < 0 || idx >= 64 || steps_done != ev_last[idx] + 1)
		atomic_fetch_add(&ev_disorder, 1);
	else
		ev_last[idx] = steps_done;
}

static void forced_schedule(void)
{
	static const char *const sched[] = { "degrees=1,2,4,1", NULL };
	struct ts_rt *rt = open_rt(ts_policy_schedule(), sched, 0);
	struct ts_exec_real_stats xs;
	int idx;

	if (!ok(rt && !ts_rt_submit(rt, 0, trace[0].model, &trace[0].p, 0, 10, &idx),
		"schedule 1,2,4,1 submitted"))
		goto out;
	ts_exec_real_on_progress(rt->exec, on_progress, NULL);
	ok(!ts_engine_run(rt->eng) && all_done(rt, &idx, 1), "schedule 1,2,4,1: done");
	ts_exec_real_stats(rt->exec, &xs);
	ok(xs.migrations == 3 && ts_engine_requests(rt->eng)->r[idx].migrations == 3,
	   "three set changes, three migrations (%ld)", xs.migrations);
	ok(ts_engine_requests(rt->eng)->r[idx].degrees_mask == (1 | 2 | 8),
	   "steps ran at degrees 1, 2 and 4");
	ok(worst_vs_ref(rt, &idx, 1) < TOL, "same output as degree 1 throughout");
	ok(atomic_load(&ev_count) == ts_engine_requests(rt->eng)->r[idx].steps_total &&
	   !atomic_load(&ev_disorder), "a progress event per step, in order (%d)",
	   atomic_load(&ev_count));
out:
	ts_rt_close(rt);
}

static void fault_mid_trace(void)
{
	struct ts_rt *rt = open_rt(NULL, NULL, 0);
	struct ts_engine_stats es;
	struct ts_exec_real_stats xs;
	int idx[N_REQ];

	if (!ok(rt && !submit_all(rt, idx), "fault: trace submitted"))
		goto out;
	/* device 1 fails the 4th step it runs */
	ts_exec_real_fail_step(rt->exec, 1, 3);
	ok(!ts_engine_run(rt->eng) && all_done(rt, idx, N_REQ),
	   "fault: every request still completed");
	ts_engine_stats(rt->eng, &es);
	ts_exec_real_stats(rt->exec, &xs);
	ok(xs.faults == 1 && es.faults == 1 && es.bad_devices == 1,
	   "one failed step, one device reported (faults %ld/%ld, bad %ld)", xs.faults, es.faults,
	   es.bad_devices);
	ok(!rt->pool->dev[1].healthy && rt->pool->n_healthy == 3,
	   "the pool reports device 1 unhealthy");
	ok(xs.restores >= 1, "its requests resumed from their checkpoints (%ld)", xs.restores);
	ok(worst_vs_ref(rt, idx, N_REQ) < TOL, "outputs still equal the single-device runs");
out:
	ts_rt_close(rt);
}

/* --- batching: every waiting dit-a request in one batch group at degree 2 ------ */

static int batch_create(const struct ts_host *h, const struct ts_section *s, void **self)
{
	*self = NULL;
	return 0;
}

static void batch_destroy(void *self)
{
}

static int batch_plan(void *self, const struct ts_round_view *v, struct ts_plan *plan)
{
	int used = 0;

	for (int i = 0; i < v->n_req && v->n_free >= 2; i++) {
		const struct ts_req_view *r = &v->req[i];

		if (r->running || used >= 4)
			continue;
		plan->a[plan->n++] = (struct ts_assign){ .req = i, .degree = 2,
							 .steps = r->steps_left,
							 .batch_group = 1 };
		used++;
	}
	return 0;
}

static const struct ts_policy_ops batch_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "batch-all",
	.create = batch_create,
	.plan = batch_plan,
	.destroy = batch_destroy,
};

static void batching(void)
{
	struct ts_rt *rt = open_rt(&batch_ops, NULL, 0);
	struct ts_engine_stats es;
	int idx[2];

	/* two dit-a requests, same shape, both there at once */
	if (!ok(rt && !ts_rt_submit(rt, 0, "dit-a", &trace[0].p, 0, 10, &idx[0]) &&
		!ts_rt_submit(rt, 1, "dit-a", &trace[1].p, 0, 10, &idx[1]), "batch: submitted"))
		goto out;
	ok(!ts_engine_run(rt->eng) && all_done(rt, idx, 2), "batch: both done");
	ts_engine_stats(rt->eng, &es);
	ok(es.runs == 1, "one run stepped both requests as a batch (%ld runs, %ld unbatched)",
	   es.runs, es.unbatched);
	ok(worst_vs_ref(rt, idx, 2) < TOL, "batched outputs equal the single-device runs");
out:
	ts_rt_close(rt);
}

/*
 * A cost table that believes steps take microseconds: rounds of 2 steps end
 * long before their runs, so round boundaries find runs still going (they
 * keep their devices; the next round is planned meanwhile), and still no
 * step is lost or run twice.
 */
static void overruns(void)
{
	struct ts_rt *rt = NULL;
	struct ts_engine_stats es;
	struct ts_exec_real_stats xs;
	long total = 0;
	int idx[N_REQ];

	if (!ok(!ts_rt_open(cfg_fast_path, NULL, &rt) && !submit_all(rt, idx),
		"overrun: tetri believing steps take microseconds"))
		goto out;
	ok(!ts_engine_run(rt->eng) && all_done(rt, idx, N_REQ), "overrun: every request done");
	ts_engine_stats(rt->eng, &es);
	ts_exec_real_stats(rt->exec, &xs);
	for (int i = 0; i < N_REQ; i++)
		total += ts_engine_requests(rt->eng)->r[idx[i]].steps_total;
	ok(es.overran == es.runs && es.plans_busy > 0,
	   "every run (%ld of %ld) overran its estimate; %ld of %ld plans ran while runs were "
	   "in flight", es.overran, es.runs, es.plans_busy, es.plan_calls);
	ok(es.steps_run == total && xs.steps == total && es.rejected == 0,
	   "overrun: %ld request-steps, %ld executed, %ld asked, %ld refused", es.steps_run,
	   xs.steps, total, es.rejected);
	ok(worst_vs_ref(rt, idx, N_REQ) < TOL, "overrun: outputs equal the single-device runs");
out:
	ts_rt_close(rt);
}

static void cancel_running(void)
{
	static const char *const sched[] = { "degrees=2", NULL };
	struct ts_rt *rt = open_rt(ts_policy_schedule(), sched, 0);
	struct ts_req_params p = trace[0].p;
	const struct ts_req *r;
	int idx;

	p.steps = 400;
	if (!ok(rt && !ts_rt_submit(rt, 0, "dit-a", &p, 0, 100, &idx), "cancel: long request"))
		goto out;
	ts_engine_run_until(rt->eng, ts_engine_now(rt->eng) + 0.05);
	r = &ts_engine_requests(rt->eng)->r[idx];
	ok(r->state == TS_REQ_RUNNING, "it is running");
	ok(!ts_engine_cancel(rt->eng, idx), "cancel accepted");
	ok(!ts_engine_run(rt->eng), "the engine ends");
	r = &ts_engine_requests(rt->eng)->r[idx];
	ok(r->state == TS_REQ_CANCELLED && r->steps_done < 400 && rt->pool->n_free == 4,
	   "cancelled after %d of 400 steps, its devices free again", r->steps_done);
	ok(ts_exec_real_placed(rt->exec, idx) == 0 && !ts_exec_real_output(rt->exec, idx),
	   "its device latents are freed, and it has no output");
out:
	ts_rt_close(rt);
}

static void hold(void)
{
	static const char *const sched[] = { "degrees=2", NULL };
	struct ts_rt *rt = open_rt(ts_policy_schedule(), sched, 0);
	struct ts_req_params p = trace[0].p;
	const struct ts_reqtable *t;
	int idx[3], waiting = 0, failed = 0, done = 0;

	/* three long requests at degree 2 on 4 devices: two run, one waits */
	p.steps = 60;
	for (int i = 0; rt && i < 3; i++)
		if (ts_rt_submit(rt, i, "dit-a", &p, 0, 100, &idx[i]))
			break;
	if (!ok(rt != NULL, "hold: three long requests"))
		goto out;
	t = ts_engine_requests(rt->eng);
	ts_engine_run_until(rt->eng, ts_engine_now(rt->eng) + 0.02);
	ts_engine_hold(rt->eng, 1);
	ok(!ts_engine_run(rt->eng) && !ts_engine_in_flight(rt->eng) &&
	   rt->pool->n_free == rt->pool->n, "held: the runs in flight end, every device is free");
	for (int i = 0; i < 3; i++) {
		const struct ts_req *r = ts_reqtable_get(t, idx[i]);

		waiting += !ts_req_finished(r);
		failed += r->state == TS_REQ_FAILED;
	}
	ok(waiting > 0 && !failed, "nothing failed for want of a plan: %d request(s) wait",
	   waiting);
	ts_engine_run_until(rt->eng, ts_engine_now(rt->eng) + 0.05);
	ok(!ts_engine_in_flight(rt->eng), "still held: nothing started");
	ts_engine_hold(rt->eng, 0);
	ok(!ts_engine_run(rt->eng), "released: the engine runs to the end");
	for (int i = 0; i < 3; i++)
		done += ts_reqtable_get(t, idx[i])->state == TS_REQ_DONE &&
			ts_reqtable_get(t, idx[i])->steps_done == 60;
	ok(done == 3, "every request completes, all 60 steps (%d/3)", done);
out:
	ts_rt_close(rt);
}

int main(int argc, char **argv)
{
	char buf[PATH_MAX], tmpl2[PATH_MAX + 16], tmpl[] = "/tmp/tsrtXXXXXX";
	const char *dir;

	snprintf(buf, sizeof(buf), "%s", argv[0]);
	snprintf(tmpl2, sizeof(tmpl2), "%s/../modules", dirname(buf));
	/* the config's module_path is relative to the config's folder: make it absolute */
	if (!realpath(tmpl2, mod_dir)) {
		perror(tmpl2);
		return 2;
	}
	dir = mkdtemp(tmpl);
	if (!dir || write_config(dir)) {
		fprintf(stderr, "cannot write the config\n");
		return 2;
	}
	make_trace();
	reference_runs();
	tetri_trace();
	forced_schedule();
	fault_mid_trace();
	batching();
	overruns();
	cancel_running();
	hold();
	for (int i = 0; i < N_REQ; i++)
		free(ref[i]);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
	if (system(buf))
		fprintf(stderr, "could not remove %s\n", dir);
	ts_module_unload_all();
	return tap_done();
}
