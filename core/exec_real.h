/* SPDX-License-Identifier: MIT */
/*
 * core/exec_real.h - the real executor: the round engine's runs executed by
 * the model's step() SPMD on the run's device set, on the pool's devices.
 *
 * One lane thread per device; a run goes to the lane of its lowest device,
 * which moves every member request's state onto the set, then calls
 * ts_backend_run_spmd() once per step (the ranks run on the devices' own
 * workers, over the set's communicator from the group cache) and reports the
 * run's end through the executor's wait() when it happens. start() returns at
 * once, so the engine plans the next round while this one runs.
 *
 * Request state: the host blob (the model's sampler state) and one device
 * latent per member of the request's current set, identical on each. When
 * the set changes, the latent is copied device to device (copy_peer) onto the
 * new members and freed on the old ones; each such migration is timed. After
 * every completed step the latent is also kept on the host (a checkpoint), so
 * a step that fails resumes from the last completed step on other devices.
 *
 * Needs a real clock (ts_clock_init_real) and an engine with a group cache.
 */
#ifndef TS_CORE_EXEC_REAL_H
#define TS_CORE_EXEC_REAL_H

#include <tetri/model.h>
#include <tetri/tensor.h>

#include "clock.h"
#include "round.h"

struct ts_pool;
struct ts_exec_real;

/**
 * struct ts_exec_real_stats - counters of one executor.
 * @runs, @steps: runs executed, batched steps run (a batch step counts once).
 * @step_s: wall time inside those steps (SPMD calls).
 * @migrations: a request's latent moved to a different device set;
 * @migration_s, @migration_max_s: their wall time, total and longest.
 * @checkpoint_s: wall time of the host checkpoints after each step.
 * @faults: steps that failed; @restores: requests put back from a checkpoint.
 * @requests: requests whose state the executor holds (added, not forgotten).
 */
struct ts_exec_real_stats {
	long runs, steps;
	double step_s;
	long migrations;
	double migration_s, migration_max_s;
	double checkpoint_s;
	long faults, restores;
	long requests;
};

/* The executor over @pool's devices; its lanes start here. */
int ts_exec_real_new(struct ts_pool *pool, struct ts_clock *clock, struct ts_exec_real **out);
/* Waits for runs in flight to end, stops the lanes, frees every request's state. */
void ts_exec_real_free(struct ts_exec_real *x);
const struct ts_exec_ops *ts_exec_real(void);

/*
 * A model requests may use: loaded (ops->load) on every device of the pool.
 * @inst from ops->configure, borrowed. *id names it in add_request.
 */
int ts_exec_real_add_model(struct ts_exec_real *x, const struct ts_model_ops *ops, void *inst,
			   int *id);

/*
 * The payload of engine request @idx (its request table index): model @model,
 * params @p (copied; cond tensors borrowed). Runs plan() and begin(); @w gets
 * the work shape (may be NULL). Before the engine runs the request.
 */
int ts_exec_real_add_request(struct ts_exec_real *x, int idx, int model,
			     const struct ts_req_params *p, struct ts_work *w);

/*
 * Progress as events: @fn(arg, idx, steps_done) after every completed step of
 * request @idx, on the lane that ran it (keep it short; it must not call back
 * into the executor or the engine). NULL stops them. Set before runs start.
 */
typedef void (*ts_exec_progress_fn)(void *arg, int idx, int steps_done);
void ts_exec_real_on_progress(struct ts_exec_real *x, ts_exec_progress_fn fn, void *arg);

/* Steps request @idx has completed (any thread; for progress bars and polls). */
int ts_exec_real_progress(struct ts_exec_real *x, int idx);
/* Devices holding request @idx's latent (meaningful with no run in flight). */
int ts_exec_real_placed(struct ts_exec_real *x, int idx);
/*
 * The final latent of a finished request (finish()), or NULL; any thread.
 * Valid until the request is forgotten (ts_engine_forget) or the executor
 * is freed.
 */
const struct ts_tensor *ts_exec_real_output(const struct ts_exec_real *x, int idx);

void ts_exec_real_stats(struct ts_exec_real *x, struct ts_exec_real_stats *st);

/*
 * Fault injection (tests): the step device @dev runs after @after more steps
 * on it fails with TS_EDEVICE (after computing, so its peers are not left in
 * a collective). Once.
 */
void ts_exec_real_fail_step(struct ts_exec_real *x, int dev, long after);

/*
 * Profiling, no engine involved: run @n steps of @batch fresh requests of
 * @model with @p (seeds p->seed + b; p->steps is set to @n) on the devices of
 * @set over communicator @comm; @out_s[i] gets step i's wall time. The
 * devices must be idle.
 */
struct ts_comm;
int ts_exec_real_time_steps(struct ts_exec_real *x, int model, const struct ts_req_params *p,
			    int batch, const struct ts_devset *set, struct ts_comm *comm, int n,
			    double *out_s);

#endif /* TS_CORE_EXEC_REAL_H */
