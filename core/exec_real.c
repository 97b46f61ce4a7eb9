// SPDX-License-Identifier: MIT
/*
 * core/exec_real.c - the real executor (see exec_real.h): lanes, runs,
 * steps and the reports the engine waits for.
 *
 * A lane is a thread per pool device that only coordinates: the ranks of a
 * step run on the devices' own workers through ts_backend_run_spmd(), which
 * returns when every rank is done. A run belongs to the lane of its lowest
 * device; since a device is in at most one run at a time, that lane is idle
 * whenever the engine hands it a run.
 *
 * A failed step: the devices whose rank failed are reported (the engine
 * marks them unhealthy), every member request gets back the state it had
 * before the step and drops its device latents, so its next run resumes
 * from the last completed step, wherever it is placed. Nothing is lost and
 * no step counts twice.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "backend.h"
#include "costtable.h"
#include "exec_real_int.h"
#include "groupcache.h"
#include "log.h"
#include "pool.h"
#include "registry.h"

#define WHO "exec-real"

/* --- one step, SPMD --------------------------------------------------------- */

/* An injected fault fires on the step that brings the countdown from 1 to 0. */
static int injected(struct ts_exec_real *x, int d)
{
	return atomic_load(&x->fail_in[d]) > 0 && atomic_fetch_sub(&x->fail_in[d], 1) == 1;
}

static int rank_step(struct ts_dev *dev, int rank, void *arg)
{
	struct xjob *j = arg;
	struct ts_exec_real *x = j->x;
	int d = j->dev[rank];
	struct ts_step_ctx ctx = {
		.host = x->host, .dev = dev, .ops = x->host->dev_ops(dev), .comm = j->comm,
		.coll = x->host->dev_coll(dev), .rank = rank, .degree = j->degree,
		.model = j->m->inst, .weights = j->m->weights[d], .work = &j->req[0]->w,
		.batch = j->batch, .params = j->params, .state = j->state, .latent = j->lat[rank],
		.step_index = j->step_index, .scratch = x->scratch[d],
		.scratch_bytes = x->scratch_bytes[d],
	};
	int err = j->m->ops->step(&ctx);

	if (!err && injected(x, d)) {
		ts_err(WHO, "device %d: injected step failure", d);
		err = TS_EDEVICE;
	}
	j->rank_err[rank] = err;
	return err;
}

static int step_once(struct ts_exec_real *x, struct xjob *j)
{
	double t0, dt;
	int err;

	for (int b = 0; b < j->batch; b++) {
		struct xreq *q = j->req[b];

		memcpy(q->state_bak, q->state, q->w.state_bytes);
		for (int r = 0; r < j->degree; r++)
			j->lat[r][b] = q->lat[j->dev[r]];
	}
	j->step_index = atomic_load(&j->req[0]->steps_done);
	memset(j->rank_err, 0, sizeof(j->rank_err));
	t0 = xr_mono();
	err = ts_backend_run_spmd(j->devs, j->degree, rank_step, j);
	dt = xr_mono() - t0;
	pthread_mutex_lock(&x->lock);
	x->st.steps++;
	x->st.step_s += dt;
	pthread_mutex_unlock(&x->lock);
	return err;
}

/* Per-device scratch for the largest step seen, grown when a step needs more. */
static int scratch_fit(struct ts_exec_real *x, struct xjob *j)
{
	const struct xmodel *m = j->m;
	size_t need = m->ops->scratch_bytes ?
		m->ops->scratch_bytes(m->inst, &j->req[0]->w, j->degree, j->batch) : 0;

	for (int r = 0; r < j->degree; r++) {
		int d = j->dev[r];
		struct ts_dev *dev = j->devs[r];
		size_t esz = ts_dtype_size(x->host->dev_ops(dev)->dtype);

		if (x->scratch_bytes[d] >= need && (need || x->scratch[d]))
			continue;
		x->host->dev_free(dev, x->scratch[d]);
		x->scratch_bytes[d] = 0;
		x->scratch[d] = x->host->dev_alloc(dev, (need + esz - 1) / esz + 1);
		if (!x->scratch[d]) {
			ts_err(WHO, "device %d: no memory for %zu bytes of scratch", d, need);
			return TS_ENOMEM;
		}
		x->scratch_bytes[d] = need;
	}
	return 0;
}

/* A step failed: blame the ranks that said so (all of the set if none did). */
static void job_failed(struct ts_exec_real *x, struct xjob *j, int err)
{
	int blamed = 0;

	j->rep.err = err;
	ts_devset_zero(&j->rep.bad);
	for (int r = 0; r < j->degree; r++) {
		if (j->rank_err[r] && j->rank_err[r] != TS_ECOMM) {
			ts_devset_add(&j->rep.bad, j->dev[r]);
			blamed++;
		}
	}
	if (!blamed)
		j->rep.bad = j->set;
	/* the pool's health flags belong to the engine's thread: keep our own */
	for (int d = ts_devset_next(&j->rep.bad, 0); d >= 0; d = ts_devset_next(&j->rep.bad, d + 1))
		atomic_store(&x->bad[d], 1);
	for (int b = 0; b < j->batch; b++)
		xr_req_restore(x, j->req[b]);
	pthread_mutex_lock(&x->lock);
	x->st.faults++;
	pthread_mutex_unlock(&x->lock);
}

static void run_job(struct ts_exec_real *x, struct xjob *j)
{
	int s = 0, err = 0;

	memset(j->rank_err, 0, sizeof(j->rank_err));
	for (int b = 0; b < j->batch && !err; b++)
		err = xr_req_place(x, j, j->req[b]);
	if (!err)
		err = scratch_fit(x, j);
	for (; !err && s < j->steps; s++) {
		/* a cancel stops the run at the next step boundary */
		if (atomic_load(&j->cancel))
			break;
		err = step_once(x, j);
		if (err)
			break;
		for (int b = 0; b < j->batch; b++) {
			struct xreq *q = j->req[b];
			int done = atomic_fetch_add(&q->steps_done, 1) + 1;

			if (xr_req_checkpoint(x, j, q))
				ts_warn(WHO, "host checkpoint of a latent failed; a fault now would "
					"resume from an older step");
			if (x->on_progress && q->idx >= 0)
				x->on_progress(x->progress_arg, q->idx, done);
		}
	}
	j->rep.steps_done = s;
	if (err)
		job_failed(x, j, err);
	for (int b = 0; b < j->batch; b++) {
		struct xreq *q = j->req[b];

		if (atomic_load(&q->steps_done) >= q->w.steps)
			xr_req_finish(x, q);
	}
	j->rep.end_s = ts_clock_now(x->clock);
}

static void *lane_main(void *arg)
{
	struct xlane *l = arg;
	struct ts_exec_real *x = l->x;

	pthread_mutex_lock(&x->lock);
	for (;;) {
		struct xjob *j;

		while (!l->job && !x->quit)
			pthread_cond_wait(&l->cv, &x->lock);
		if (!l->job)
			break;
		j = l->job;
		pthread_mutex_unlock(&x->lock);
		run_job(x, j);
		pthread_mutex_lock(&x->lock);
		l->job = NULL;
		x->reports[x->n_reports++] = j->slot;
		x->in_flight--;
		pthread_cond_broadcast(&x->report_cv);
	}
	pthread_mutex_unlock(&x->lock);
	return NULL;
}

/* --- the executor ops ----------------------------------------------------------- */

/* The engine's thread, which alone changes the table: no lock needed to read it. */
static struct xreq *req_at(struct ts_exec_real *x, int idx)
{
	return xr_req_at(x, idx);
}

/* Fill @j from @run; 0 or TS_EINVAL (logged). */
static int job_fill(struct ts_exec_real *x, struct xjob *j, const struct ts_run *run)
{
	int r = 0;

	if (run->degree < 1 || run->degree > XR_MAX_DEGREE || run->batch < 1 ||
	    run->batch > TS_RUN_MAX_BATCH || !run->group) {
		ts_err(WHO, "run of degree %d, batch %d%s: cannot execute", run->degree, run->batch,
		       run->group ? "" : " without a communicator");
		return TS_EINVAL;
	}
	*j = (struct xjob){ .x = x, .slot = run->slot, .degree = run->degree, .steps = run->steps,
			    .batch = run->batch, .set = run->set, .comm = run->group->comm,
			    .rep = { .slot = run->slot } };
	for (int d = ts_devset_next(&run->set, 0); d >= 0 && r < run->degree;
	     d = ts_devset_next(&run->set, d + 1), r++) {
		j->dev[r] = d;
		j->devs[r] = x->pool->dev[d].dev;
	}
	for (int b = 0; b < run->batch; b++) {
		struct xreq *q = req_at(x, run->req[b]);

		if (!q || q->finished || (b && q->model != j->req[0]->model)) {
			ts_err(WHO, "request %d has no payload, is finished, or mixes models",
			       run->req[b]);
			return TS_EINVAL;
		}
		j->req[b] = q;
		j->params[b] = &q->p;
		j->state[b] = q->state;
	}
	j->m = &x->models[j->req[0]->model];
	return 0;
}

static int real_start(void *arg, const struct ts_run *run, double now, double *end_s)
{
	struct ts_exec_real *x = arg;
	struct xjob *j = &x->jobs[run->slot];
	struct xlane *l;
	double s = ts_cost_seconds(run->cost, run->degree, run->batch);
	int err = job_fill(x, j, run);

	if (err)
		return err;
	/* the engine's estimate; the run ends when its lane reports */
	*end_s = now + run->steps * (s > 0 ? s : 0);
	l = &x->lane[j->dev[0]];
	pthread_mutex_lock(&x->lock);
	if (l->job) {
		pthread_mutex_unlock(&x->lock);
		ts_err(WHO, "device %d is still running another run", j->dev[0]);
		return TS_EBUSY;
	}
	l->job = j;
	x->in_flight++;
	x->st.runs++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&x->lock);
	return 0;
}

static int real_wait(void *arg, double until, struct ts_run_report *rep)
{
	struct ts_exec_real *x = arg;
	int slot;

	pthread_mutex_lock(&x->lock);
	while (!x->n_reports) {
		if (isinf(until) && until > 0) {
			if (!x->in_flight)
				break;
			pthread_cond_wait(&x->report_cv, &x->lock);
		} else {
			struct timespec ts;

			if (ts_clock_now(x->clock) >= until)
				break;
			ts = ts_clock_abs(x->clock, until);
			pthread_cond_timedwait(&x->report_cv, &x->lock, &ts);
		}
	}
	if (!x->n_reports) {
		pthread_mutex_unlock(&x->lock);
		return 0;
	}
	slot = x->reports[0];
	memmove(x->reports, x->reports + 1, --x->n_reports * sizeof(int));
	*rep = x->jobs[slot].rep;
	pthread_mutex_unlock(&x->lock);
	return 1;
}

static void real_cancel(void *arg, int slot)
{
	struct ts_exec_real *x = arg;

	if (slot >= 0 && slot < x->n)
		atomic_store(&x->jobs[slot].cancel, 1);
}

/* Cancelled or failed: its device latents go now, the rest with the executor. */
static void real_drop(void *arg, int idx)
{
	struct ts_exec_real *x = arg;
	struct xreq *q = req_at(x, idx);

	if (q)
		xr_req_drop(x, q);
}

/* Finished and forgotten by the engine (no run in flight): all of it goes, output too. */
static void real_forget(void *arg, int idx)
{
	xr_req_forget(arg, idx);
}

static const struct ts_exec_ops real_exec = {
	.name = "real",
	.start = real_start,
	.wait = real_wait,
	.cancel = real_cancel,
	.drop = real_drop,
	.forget = real_forget,
};

const struct ts_exec_ops *ts_exec_real(void)
{
	return &real_exec;
}

/* --- lifetime ------------------------------------------------------------------- */

static int lanes_start(struct ts_exec_real *x)
{
	for (int d = 0; d < x->n; d++) {
		struct xlane *l = &x->lane[d];

		l->x = x;
		l->dev = d;
		pthread_cond_init(&l->cv, NULL);
		if (pthread_create(&l->tid, NULL, lane_main, l)) {
			pthread_cond_destroy(&l->cv);
			ts_err(WHO, "cannot start the lane of device %d", d);
			return TS_ENOMEM;
		}
		l->started = 1;
	}
	return 0;
}

int ts_exec_real_new(struct ts_pool *pool, struct ts_clock *clock, struct ts_exec_real **out)
{
	struct ts_exec_real *x;
	pthread_condattr_t ca;
	int err;

	if (!ts_clock_is_real(clock)) {
		ts_err(WHO, "the real executor needs the real clock");
		return TS_EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		return TS_ENOMEM;
	x->pool = pool;
	x->clock = clock;
	x->host = ts_host_api();
	x->n = pool->n;
	pthread_mutex_init(&x->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x->report_cv, &ca);
	pthread_condattr_destroy(&ca);
	x->lane = calloc(x->n, sizeof(*x->lane));
	x->jobs = calloc(x->n, sizeof(*x->jobs));
	x->reports = calloc(x->n, sizeof(int));
	x->scratch = calloc(x->n, sizeof(void *));
	x->scratch_bytes = calloc(x->n, sizeof(size_t));
	x->fail_in = calloc(x->n, sizeof(*x->fail_in));
	x->bad = calloc(x->n, sizeof(*x->bad));
	if (!x->lane || !x->jobs || !x->reports || !x->scratch || !x->scratch_bytes ||
	    !x->fail_in || !x->bad) {
		ts_exec_real_free(x);
		return TS_ENOMEM;
	}
	err = lanes_start(x);
	if (err) {
		ts_exec_real_free(x);
		return err;
	}
	*out = x;
	return 0;
}

static void lanes_stop(struct ts_exec_real *x)
{
	pthread_mutex_lock(&x->lock);
	while (x->in_flight)
		pthread_cond_wait(&x->report_cv, &x->lock);
	x->quit = 1;
	for (int d = 0; d < x->n; d++)
		if (x->lane[d].started)
			pthread_cond_signal(&x->lane[d].cv);
	pthread_mutex_unlock(&x->lock);
	for (int d = 0; d < x->n; d++) {
		if (!x->lane[d].started)
			continue;
		pthread_join(x->lane[d].tid, NULL);
		pthread_cond_destroy(&x->lane[d].cv);
	}
}

void ts_exec_real_free(struct ts_exec_real *x)
{
	if (!x)
		return;
	if (x->lane)
		lanes_stop(x);
	for (int i = 0; i < x->req_cap; i++)
		xr_req_free(x, x->req[i]);
	free(x->req);
	for (int d = 0; x->scratch && d < x->n; d++)
		x->host->dev_free(x->pool->dev[d].dev, x->scratch[d]);
	for (int i = 0; i < x->n_models; i++) {
		struct xmodel *m = &x->models[i];

		for (int d = 0; d < x->n; d++)
			if (m->weights[d])
				m->ops->unload(m->inst, x->pool->dev[d].dev, m->weights[d]);
		free(m->weights);
	}
	free(x->bad);
	free(x->fail_in);
	free(x->scratch_bytes);
	free(x->scratch);
	free(x->reports);
	free(x->jobs);
	free(x->lane);
	pthread_cond_destroy(&x->report_cv);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

int ts_exec_real_add_model(struct ts_exec_real *x, const struct ts_model_ops *ops, void *inst,
			   int *id)
{
	struct xmodel *m;
	int err = 0;

	if (x->n_models == XR_MAX_MODELS) {
		ts_err(WHO, "more than %d models", XR_MAX_MODELS);
		return TS_EBUSY;
	}
	m = &x->models[x->n_models];
	*m = (struct xmodel){ .ops = ops, .inst = inst };
	m->weights = calloc(x->n, sizeof(void *));
	if (!m->weights)
		return TS_ENOMEM;
	for (int d = 0; d < x->n && !err; d++)
		err = ops->load(inst, x->pool->dev[d].dev, &m->weights[d]);
	if (err) {
		ts_err(WHO, "model %s: load failed (%s)", ops->name, ts_strerror(err));
		for (int d = 0; d < x->n; d++)
			if (m->weights[d])
				ops->unload(inst, x->pool->dev[d].dev, m->weights[d]);
		free(m->weights);
		return err;
	}
	*id = x->n_models++;
	return 0;
}

void ts_exec_real_stats(struct ts_exec_real *x, struct ts_exec_real_stats *st)
{
	pthread_mutex_lock(&x->lock);
	*st = x->st;
	pthread_mutex_unlock(&x->lock);
}

void ts_exec_real_on_progress(struct ts_exec_real *x, ts_exec_progress_fn fn, void *arg)
{
	pthread_mutex_lock(&x->lock);
	x->on_progress = fn;
	x->progress_arg = arg;
	pthread_mutex_unlock(&x->lock);
}

void ts_exec_real_fail_step(struct ts_exec_real *x, int dev, long after)
{
	if (dev >= 0 && dev < x->n)
		atomic_store(&x->fail_in[dev], after + 1);
}

/* --- profiling ------------------------------------------------------------------ */

int ts_exec_real_time_steps(struct ts_exec_real *x, int model, const struct ts_req_params *p,
			    int batch, const struct ts_devset *set, struct ts_comm *comm, int n,
			    double *out_s)
{
	struct xjob *j = calloc(1, sizeof(*j));
	struct ts_req_params pp = *p;
	int err = 0, r = 0;

	if (!j)
		return TS_ENOMEM;
	if (batch < 1 || batch > TS_RUN_MAX_BATCH || ts_devset_count(set) > XR_MAX_DEGREE ||
	    model < 0 || model >= x->n_models) {
		free(j);
		return TS_EINVAL;
	}
	*j = (struct xjob){ .x = x, .degree = ts_devset_count(set), .steps = n, .batch = batch,
			    .set = *set, .comm = comm, .m = &x->models[model] };
	for (int d = ts_devset_next(set, 0); d >= 0; d = ts_devset_next(set, d + 1), r++) {
		j->dev[r] = d;
		j->devs[r] = x->pool->dev[d].dev;
	}
	pp.steps = n;
	for (int b = 0; b < batch && !err; b++) {
		pp.seed = p->seed + (uint64_t)b;
		/* outside the table: no progress events, no index */
		j->req[b] = xr_req_new(x, model, &pp);
		err = j->req[b] ? 0 : TS_EINVAL;
		if (!err) {
			j->params[b] = &j->req[b]->p;
			j->state[b] = j->req[b]->state;
			err = xr_req_place(x, j, j->req[b]);
		}
	}
	if (!err)
		err = scratch_fit(x, j);
	for (int s = 0; !err && s < n; s++) {
		double t0 = xr_mono();

		err = step_once(x, j);
		out_s[s] = xr_mono() - t0;
		for (int b = 0; b < batch; b++)
			atomic_fetch_add(&j->req[b]->steps_done, 1);
	}
	for (int b = 0; b < batch; b++)
		xr_req_free(x, j->req[b]);
	free(j);
	return err;
}
