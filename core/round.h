/* SPDX-License-Identifier: MIT */
/*
 * core/round.h - the round engine: owns time (a clock), the request table,
 * placement and dispatch (to an executor), and asks the policy what to run.
 *
 * Round-based policies are asked at every round boundary; event-driven ones
 * (TS_POLICY_EVENT_DRIVEN) at every instant something arrives or finishes.
 * See policy.h for what a plan means, and round.c for how the round length
 * becomes a time.
 */
#ifndef TS_CORE_ROUND_H
#define TS_CORE_ROUND_H

#include <stdint.h>

#include <tetri/devset.h>
#include <tetri/host.h>
#include <tetri/policy.h>

#include "clock.h"
#include "reqtable.h"

struct ts_pool;
struct ts_groupcache;
struct ts_group;

#define TS_RUN_MAX_BATCH 16

/**
 * struct ts_run - one dispatched assignment: @batch requests of one klass
 * stepping together @steps times at @degree on @set.
 */
struct ts_run {
	int slot;
	struct ts_devset set;
	int degree, steps, batch;
	int req[TS_RUN_MAX_BATCH]; /* request table indices */
	const struct ts_cost *cost;
	double start_s, end_s;
	uint64_t seq;              /* dispatch order: ties in end_s complete in this order */
	struct ts_group *group;    /* the set's communicator from the group cache */
};

/**
 * struct ts_run_report - how a run ended, from an executor that reports
 * completions when they happen (the real one: core/exec_real.h).
 * @slot: the run (struct ts_run.slot).
 * @end_s: when it ended, on the engine's clock.
 * @steps_done: steps completed; run->steps unless a step failed or the run
 *              was cancelled, and then every member resumes from there.
 * @err: 0, or the error of the step that failed.
 * @bad: devices whose step failed: the engine marks them unhealthy.
 */
struct ts_run_report {
	int slot;
	double end_s;
	int steps_done;
	int err;
	struct ts_devset bad;
};

/**
 * struct ts_exec_ops - the executor: runs a dispatched assignment.
 * @start: begin @run at @now and set *end_s to when its last step will be done.
 *         The simulated executor knows it exactly from the cost table; a real
 *         one returns at once with an estimate and reports the end through @wait.
 * @wait: optional. Block until a run ends (1, *rep filled) or the engine's
 *        clock reaches @until (0; at once when @until is already past). When
 *        set, runs end when reported, not at their estimated end_s.
 * @cancel: optional. Stop run @slot after the step it is running.
 * @drop: optional. Request @req (table index) was cancelled or failed and has
 *        no run in flight: free what the executor keeps for it.
 * @forget: optional. Finished request @req is forgotten (ts_engine_forget):
 *          free everything the executor keeps for it, its output too.
 */
struct ts_exec_ops {
	const char *name;
	int (*start)(void *exec, const struct ts_run *run, double now, double *end_s);
	int (*wait)(void *exec, double until, struct ts_run_report *rep);
	void (*cancel)(void *exec, int slot);
	void (*drop)(void *exec, int req);
	void (*forget)(void *exec, int req);
};

/* A step of batch b at degree k takes the cost table's seconds; nothing else happens. */
const struct ts_exec_ops *ts_exec_sim(void);

/**
 * struct ts_engine_cfg - what an engine is built from (all borrowed).
 * @round_steps, @round_ms: the round length, one of them > 0.
 * @host: passed to the policy's create().
 */
struct ts_engine_cfg {
	struct ts_pool *pool;
	struct ts_groupcache *cache;
	struct ts_clock *clock;
	const struct ts_exec_ops *exec;
	void *exec_arg;
	int round_steps;
	double round_ms;
	const struct ts_host *host;
};

/**
 * struct ts_engine_stats - counters of one engine.
 * @rejected: assignments refused (not plannable, bad degree, no room); logged.
 * @steps_run: request-steps executed (a batch of b counts b per step).
 * @deg_steps: sum over request-steps of their degree (mean degree = deg_steps / steps_run).
 * @gpu_s: sum over runs of degree x duration.
 * @faults: runs that ended with a failed step; @bad_devices: devices marked
 *          unhealthy for it; @unbatched: batch joins refused because the cost
 *          table says batching does not pay (the request ran on its own).
 * @overran: reported runs that ended after their estimated end (real executors);
 * @plans_busy: plan points reached while runs were in flight.
 */
struct ts_engine_stats {
	long rounds, plan_calls, runs, rejected, migrations, swaps, failed;
	long steps_run, deg_steps;
	double plan_wall_s, plan_max_s, gpu_s;
	double swapped_at_s; /* last swap, NAN if none */
	long faults, bad_devices, unbatched;
	long overran, plans_busy;
};

struct ts_engine;

int ts_engine_new(const struct ts_engine_cfg *cfg, struct ts_engine **out);
void ts_engine_free(struct ts_engine *e);

/*
 * Create an instance of @ops from @params and make it the policy: at once if
 * the engine has none, else at the next round boundary (then the old one is
 * destroyed). If create fails the current policy stays and the error returns.
 */
int ts_engine_set_policy(struct ts_engine *e, const struct ts_policy_ops *ops,
			 const struct ts_section *params);
const struct ts_policy_ops *ts_engine_policy(const struct ts_engine *e);

/* Add a request (arrivals in non-decreasing order); *idx its table index (may be NULL). */
int ts_engine_submit(struct ts_engine *e, const struct ts_req_spec *spec, int *idx);

/*
 * Process every event up to time @until (INFINITY: until every request is
 * finished). Requests the policy can never run (nothing running, nothing
 * arriving, and the policy assigns nothing) are failed with a log line.
 */
int ts_engine_run_until(struct ts_engine *e, double until);
static inline int ts_engine_run(struct ts_engine *e)
{
	return ts_engine_run_until(e, 1.0 / 0.0);
}

/*
 * Cancel request @idx: a waiting or not yet arrived request never runs
 * again; a running one stops when its run in flight ends (the simulator
 * never cuts steps short; an executor with a cancel op stops the run after
 * the step it is running, which frees its devices at that step boundary).
 * TS_ENOENT for a bad index, TS_EINVAL when already finished.
 */
int ts_engine_cancel(struct ts_engine *e, int idx);

/*
 * Forget finished request @idx once its owner has taken its results: the
 * executor frees what it keeps for it (ops->forget) and the request table
 * lets its entry go, so a long-running engine's memory follows the requests
 * in flight. Its index is never reused; ts_engine_cancel() and
 * ts_reqtable_get() say it is gone. TS_ENOENT (bad index, already
 * forgotten), TS_EBUSY (not finished, or a run in flight).
 */
int ts_engine_forget(struct ts_engine *e, int idx);

/*
 * Hold (@hold = 1) or release (0) the engine, for work that needs the devices
 * idle (loading a model at run time): while held nothing new is planned or
 * started, runs in flight end and are retired as usual, requests wait, and
 * ts_engine_run_until() returns at @until (or at once when nothing is in
 * flight) instead of failing requests that nothing runs. Released, the
 * policy plans at the next instant. Executors that report their runs only.
 */
void ts_engine_hold(struct ts_engine *e, int hold);
/* Runs in flight. */
int ts_engine_in_flight(const struct ts_engine *e);

double ts_engine_now(struct ts_engine *e);
const struct ts_reqtable *ts_engine_requests(const struct ts_engine *e);
void ts_engine_stats(const struct ts_engine *e, struct ts_engine_stats *st);

#endif /* TS_CORE_ROUND_H */
