// SPDX-License-Identifier: MIT
/*
 * core/server/engine_link.c - the engine thread and its mailbox.
 *
 * HTTP threads never touch the engine: they put jobs in the mailbox (and
 * admin work in an op list) under srv->mu and signal engine_cv. The engine
 * thread takes the mail, submits it with arrival = now (the engine admits a
 * request whose arrival is past at once), runs the engine for one tick of
 * real time, then copies what changed back into the job table and wakes
 * whoever waits on job_cv (pollers, SSE streams, synchronous requests).
 *
 * Why a tick rather than waking the engine on mail: the engine sleeps inside
 * its clock (or its executor's wait) until the next event, with no way to be
 * interrupted, so mail waits at most one tick ([server] engine_tick_ms). An
 * idle engine (nothing live) sleeps on engine_cv instead, so a quiet server
 * costs nothing.
 *
 * Progress between step boundaries: the engine reports a run's steps when
 * the run ends; a run in flight is interpolated over its estimated end, so
 * status and SSE advance one step at a time.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/error.h>

#include "../config.h" /* not $builddir/config.h */
#include "costtable.h"
#include "backend_sim.h"
#include "log.h"
#include "pool.h"
#include "registry.h"
#include "rt.h"
#include "server_int.h"
#include "sim_int.h"

/* --- shapes: step times of (model, size) ---------------------------------- */

/* @sh's step times from cost table @c (klass @klass); TS_ERANGE when no degree runs it. */
int ts_srv_shape_fill(struct srv_shape *sh, const struct ts_cost *c, int klass)
{
	sh->cost = c;
	sh->klass = klass;
	sh->min_step_s = INFINITY;
	sh->base_step_s = 0;
	for (int i = 0; i < c->n_degrees; i++) {
		double t = ts_cost_step(c, i, 1);

		if (!(t > 0))
			continue;
		if (!sh->base_step_s) {
			sh->base_step_s = t;
			sh->min_degree = c->degree[i];
		}
		if (t < sh->min_step_s)
			sh->min_step_s = t;
	}
	return sh->base_step_s > 0 ? 0 : TS_ERANGE;
}

static int shape_find(struct ts_server *s, int model, int w, int h, int frames)
{
	for (int i = 0; i < s->n_shapes; i++)
		if (s->shapes[i].model == model && s->shapes[i].width == w &&
		    s->shapes[i].height == h && s->shapes[i].frames == frames)
			return i;
	return -1;
}

/* Engine thread, under mu: cost the shape (a module-costed one on first use). */
static void op_shape(struct ts_server *s, struct link_op *op)
{
	const struct ts_api_model *m = &s->cat.m[op->model];
	const struct ts_cost *c;
	struct srv_shape *sh;

	if (shape_find(s, op->model, op->width, op->height, op->frames) >= 0)
		return;
	if (s->n_shapes == SRV_MAX_SHAPES) {
		op->rc = TS_ENOMEM;
		snprintf(op->msg, sizeof(op->msg), "the server costs at most %d sizes",
			 SRV_MAX_SHAPES);
		return;
	}
	sh = &s->shapes[s->n_shapes];
	if (s->rt) {
		if (ts_srv_real_shape(s, op->model, op->width, op->height, op->frames, sh)) {
			op->rc = TS_ERANGE;
			snprintf(op->msg, sizeof(op->msg), "model %s cannot run %dx%d x %d frames",
				 m->name, op->width, op->height, op->frames);
			return;
		}
		s->n_shapes++;
		return;
	}
	c = ts_costbook_find(s->env->costs, m->name, op->width, op->height, op->frames);
	if (!c)
		c = ts_sim_model_cost(s->env, m->name, op->width, op->height, op->frames,
				      m->default_steps);
	*sh = (struct srv_shape){
		.model = op->model, .width = op->width, .height = op->height, .frames = op->frames,
	};
	if (!c || ts_srv_shape_fill(sh, c, ts_costbook_klass(s->env->costs, c))) {
		op->rc = TS_ERANGE;
		snprintf(op->msg, sizeof(op->msg), "model %s cannot run %dx%d", m->name,
			 op->width, op->height);
		return;
	}
	s->n_shapes++;
}

int ts_srv_link_shape(struct ts_server *s, int model, int w, int h, int frames,
		      struct ts_api_error *err)
{
	struct link_op op = {
		.kind = OP_SHAPE, .model = model, .width = w, .height = h, .frames = frames,
	};
	int i = shape_find(s, model, w, h, frames);

	if (i >= 0)
		return i;
	ts_srv_link_call(s, &op);
	i = op.rc ? -1 : shape_find(s, model, w, h, frames);
	if (i < 0)
		ts_api_error_set(err, 400, "size", "%s", op.msg[0] ? op.msg : "size not served");
	return i;
}

/* --- ops: admin work on the engine thread --------------------------------- */

static void sync_all(struct ts_server *s);
static int keep_config(struct ts_server *s, struct ts_config *cfg);

/* How long a model load waits for the runs in flight to end. */
#define LOAD_IDLE_WAIT_S 60.0

/*
 * Hold the engine until no run is in flight, so every device is idle (a
 * model's load() may use the device, which must not be running a step).
 * Meanwhile runs end as usual and jobs are synced; new mail waits. Under mu.
 */
static int hold_idle(struct ts_server *s, double limit_s)
{
	double end = srv_now(s) + limit_s;

	ts_engine_hold(s->eng, 1);
	while (ts_engine_in_flight(s->eng) && srv_now(s) < end) {
		pthread_mutex_unlock(&s->mu);
		ts_engine_run_until(s->eng, srv_now(s) + s->tick_s);
		pthread_mutex_lock(&s->mu);
		sync_all(s);
	}
	return ts_engine_in_flight(s->eng) ? TS_EBUSY : 0;
}

/* [model NAME] of @fresh on the real executor; @fresh is kept once rt may point into it. */
static void op_load_real(struct ts_server *s, struct link_op *op, struct ts_config *fresh,
			 struct ts_section *sec)
{
	int n_models = s->rt->n_models;

	op->rc = hold_idle(s, LOAD_IDLE_WAIT_S);
	if (op->rc) {
		op->status = 503;
		snprintf(op->msg, sizeof(op->msg), "runs in flight did not end within %.0f s; "
			 "try again", LOAD_IDLE_WAIT_S);
	} else {
		op->rc = ts_srv_real_load(s, fresh, sec, op->msg, sizeof(op->msg));
	}
	ts_engine_hold(s->eng, 0);
	if (s->rt->n_models == n_models || keep_config(s, fresh))
		ts_config_free(fresh); /* keep_config fails only on ENOMEM */
	if (op->rc)
		return;
	snprintf(op->msg, sizeof(op->msg), "model %.64s loaded on %d devices", op->name,
		 s->pool->n);
	ts_info("server", "admin: %s", op->msg);
}

void ts_srv_link_call(struct ts_server *s, struct link_op *op)
{
	if (s->stopping) {
		op->rc = TS_EBUSY;
		op->status = 503;
		snprintf(op->msg, sizeof(op->msg), "the server is shutting down");
		return;
	}
	op->done = 0;
	op->next = NULL;
	*s->ops_tail = op;
	s->ops_tail = &op->next;
	pthread_cond_signal(&s->engine_cv);
	while (!op->done)
		pthread_cond_wait(&s->job_cv, &s->mu);
}

static int set_kv(struct ts_section *sec, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key))
		return TS_EINVAL;
	memcpy(key, kv, eq - kv);
	key[eq - kv] = 0;
	return ts_section_set(sec, key, eq + 1, "(admin)");
}

/* Policies and modules keep pointers into their sections: configs live until stop. */
static int keep_config(struct ts_server *s, struct ts_config *cfg)
{
	struct ts_config **v = realloc(s->kept_cfgs, (s->n_kept_cfgs + 1) * sizeof(*v));

	if (!v)
		return TS_ENOMEM;
	s->kept_cfgs = v;
	s->kept_cfgs[s->n_kept_cfgs++] = cfg;
	return 0;
}

/* A [scheduler] section for @ops: the config's params when it is the configured policy, then @op's. */
static int policy_section(struct ts_server *s, const struct ts_policy_ops *ops,
			  const struct link_op *op, struct ts_section **out)
{
	struct ts_section *conf = ts_config_section(s->cfg, "scheduler"), *sec;
	struct ts_config *cfg = ts_config_new();
	int err;

	if (!cfg)
		return TS_ENOMEM;
	sec = ts_config_section_get(cfg, "scheduler");
	err = sec ? ts_section_set(sec, "policy", ops->name, "(admin)") : TS_ENOMEM;
	if (!err && conf && ts_section_raw(conf, "policy", NULL) &&
	    !strcmp(ts_cfg_str(conf, "policy"), ops->name)) {
		for (int i = 0; !err && i < ts_section_key_count(conf); i++) {
			const char *k = ts_section_key_at(conf, i);

			if (strcmp(k, "policy") && strcmp(k, "round_steps") && strcmp(k, "round_ms"))
				err = ts_section_set(sec, k, ts_section_raw(conf, k, NULL),
						     "(config)");
		}
	}
	for (int i = 0; !err && op && i < op->n_params; i++)
		err = set_kv(sec, op->params[i]);
	if (!err)
		err = ts_config_check_policy(cfg, ops->params);
	if (!err)
		err = keep_config(s, cfg);
	if (err) {
		ts_config_free(cfg);
		return err;
	}
	*out = sec;
	return 0;
}

static void op_policy(struct ts_server *s, struct link_op *op)
{
	const struct ts_policy_ops *ops = ts_policy_get(op->name);
	struct ts_section *sec;

	if (!ops) {
		op->rc = TS_ENOENT;
		op->status = 404;
		snprintf(op->msg, sizeof(op->msg), "no policy '%.64s' (looked for %.64s.so)",
			 op->name, op->name);
		return;
	}
	op->rc = policy_section(s, ops, op, &sec);
	if (!op->rc)
		op->rc = ts_engine_set_policy(s->eng, ops, sec);
	if (op->rc) {
		op->status = 400;
		snprintf(op->msg, sizeof(op->msg), "policy %s refused its params (%s); keeping %s",
			 op->name, ts_strerror(op->rc), s->policy);
		return;
	}
	snprintf(s->policy, sizeof(s->policy), "%s", ops->name);
	snprintf(op->msg, sizeof(op->msg), "policy %s from the next round boundary", ops->name);
	ts_info("server", "admin: policy -> %s", ops->name);
}

static void op_drain(struct ts_server *s, struct link_op *op)
{
	if (op->dev < 0 || op->dev >= s->pool->n) {
		op->rc = TS_ENODEV;
		op->status = 400;
		snprintf(op->msg, sizeof(op->msg), "no device %d (0..%d)", op->dev, s->pool->n - 1);
		return;
	}
	/* Unhealthy = never planned again; the run on it (if any) ends normally. */
	ts_pool_set_healthy(s->pool, op->dev, 0);
	snprintf(op->msg, sizeof(op->msg), "device %d drained: %d healthy left", op->dev,
		 s->pool->n_healthy);
	ts_info("server", "admin: %s", op->msg);
}

static int model_index(struct ts_server *s, const char *name)
{
	for (int i = 0; i < s->cat.n; i++)
		if (!strcmp(s->cat.m[i].name, name))
			return i;
	return -1;
}

/*
 * Load: read the config file again and take its [model NAME] section (so a
 * section added to the file since start can be served; on the real executor
 * it is checked against its module's schema and loaded on every device while
 * the engine is held idle), or bring back an unloaded model. Unload: new
 * requests for it are refused (400 unknown model); requests already accepted
 * run to the end.
 */
static void op_load(struct ts_server *s, struct link_op *op, int load)
{
	int i = model_index(s, op->name);
	struct ts_config *fresh;
	struct ts_section *sec;
	char full[160];

	op->status = 400;
	if (!load) {
		if (i < 0 || !s->model_loaded[i]) {
			op->rc = TS_ENOENT;
			op->status = 404;
			snprintf(op->msg, sizeof(op->msg), "model %.64s is not loaded", op->name);
			return;
		}
		s->model_loaded[i] = 0;
		snprintf(op->msg, sizeof(op->msg), "model %.64s unloaded", op->name);
		ts_info("server", "admin: %s", op->msg);
		return;
	}
	if (i >= 0) {
		s->model_loaded[i] = 1;
		snprintf(op->msg, sizeof(op->msg), "model %.64s loaded", op->name);
		return;
	}
	op->rc = ts_config_load(ts_config_path(s->cfg), &fresh);
	if (op->rc) {
		snprintf(op->msg, sizeof(op->msg), "%s: cannot read it again (%s)",
			 ts_config_path(s->cfg), ts_strerror(op->rc));
		return;
	}
	snprintf(full, sizeof(full), "model %s", op->name);
	sec = ts_config_section(fresh, full);
	if (!sec) {
		op->rc = TS_ENOENT;
		op->status = 404;
		snprintf(op->msg, sizeof(op->msg), "%s has no [model %.64s]", ts_config_path(s->cfg),
			 op->name);
		ts_config_free(fresh);
		return;
	}
	if (s->rt) {
		op_load_real(s, op, fresh, sec);
		return;
	}
	/* The env keeps sections of models costed by modules: keep the file's config alive. */
	pthread_rwlock_wrlock(&s->cat_rw);
	op->rc = ts_srv_catalog_add_model(s, sec);
	pthread_rwlock_unlock(&s->cat_rw);
	if (op->rc) {
		snprintf(op->msg, sizeof(op->msg), "[model %.64s] refused (%s); see the log", op->name,
			 ts_strerror(op->rc));
		ts_config_free(fresh);
		return;
	}
	if (keep_config(s, fresh))
		ts_config_free(fresh); /* only on ENOMEM, and then the model is not served */
	snprintf(op->msg, sizeof(op->msg), "model %.64s loaded", op->name);
	ts_info("server", "admin: %s", op->msg);
}

static void run_ops(struct ts_server *s)
{
	struct link_op *op;

	while ((op = s->ops_head)) {
		s->ops_head = op->next;
		if (!s->ops_head)
			s->ops_tail = &s->ops_head;
		op->rc = 0;
		op->status = 200;
		switch (op->kind) {
		case OP_SHAPE:
			op_shape(s, op);
			break;
		case OP_POLICY:
			op_policy(s, op);
			break;
		case OP_DRAIN:
			op_drain(s, op);
			break;
		case OP_LOAD:
			op_load(s, op, 1);
			break;
		case OP_UNLOAD:
			op_load(s, op, 0);
			break;
		}
		op->done = 1;
		pthread_cond_broadcast(&s->job_cv);
	}
}

/* --- mail: jobs into the engine ------------------------------------------- */

static void live_add(struct ts_server *s, struct ts_job *j)
{
	j->lprev = s->live.lprev;
	j->lnext = &s->live;
	s->live.lprev->lnext = j;
	s->live.lprev = j;
	s->n_live++;
}

static void live_del(struct ts_server *s, struct ts_job *j)
{
	j->lprev->lnext = j->lnext;
	j->lnext->lprev = j->lprev;
	j->lprev = j->lnext = NULL;
	s->n_live--;
}

/* A job that ends without (or before) the engine: cancelled or refused. */
static void job_end_early(struct ts_server *s, struct ts_job *j, enum job_state st,
			  const char *why)
{
	j->state = st;
	j->finished_s = srv_now(s);
	snprintf(j->error, sizeof(j->error), "%s", why);
	s->n_queued--;
	ts_srv_metrics_finish(s, j);
	ts_srv_job_touch(s, j);
}

/*
 * The job has taken what it needs from the engine (states, times, latents):
 * its requests are forgotten, so the engine's table and the executor hold
 * only what is in flight however long the server runs.
 */
static void forget_subs(struct ts_server *s, struct ts_job *j, int n)
{
	for (int i = 0; i < n; i++) {
		int err = j->sub[i].eidx >= 0 ? ts_engine_forget(s->eng, j->sub[i].eidx) : 0;

		if (err)
			ts_warn("server", "job %s: engine request %d not forgotten (%s)", j->id,
				j->sub[i].eidx, ts_strerror(err));
		j->sub[i].eidx = -1;
	}
}

static int submit_one(struct ts_server *s, struct ts_job *j)
{
	const struct srv_shape *sh = &s->shapes[j->shape];
	double now = fmax(srv_now(s), s->last_arrival);
	int err;

	if (s->rt) {
		err = ts_srv_real_submit(s, j, now);
		if (!err)
			s->last_arrival = now;
		else
			forget_subs(s, j, j->req.n); /* cancelled by ts_srv_real_submit */
		return err;
	}

	for (int i = 0; i < j->req.n; i++) {
		struct ts_req_spec spec = {
			.id = j->seq * TS_API_MAX_N + i, .arrival_s = now,
			.deadline_s = j->deadline_s, .steps = j->req.steps,
			.width = j->req.width, .height = j->req.height, .frames = 1,
			.cost = sh->cost, .klass = (uint32_t)sh->klass,
		};
		err = ts_engine_submit(s->eng, &spec, &j->sub[i].eidx);
		if (err) {
			/* Images already in the engine are cancelled with the job. */
			for (int k = 0; k < i; k++)
				ts_engine_cancel(s->eng, j->sub[k].eidx);
			j->sub[i].eidx = -1;
			forget_subs(s, j, i);
			return err;
		}
	}
	s->last_arrival = now;
	return 0;
}

static void take_mail(struct ts_server *s)
{
	struct ts_job *j;

	while ((j = s->mbox_head)) {
		int err;

		s->mbox_head = j->mnext;
		if (!s->mbox_head)
			s->mbox_tail = &s->mbox_head;
		j->mnext = NULL;
		if (j->cancel_req) {
			if (j->shutdown)
				job_end_early(s, j, JOB_FAILED, "server shutting down");
			else
				job_end_early(s, j, JOB_CANCELLED, "cancelled before it was scheduled");
			continue;
		}
		err = submit_one(s, j);
		if (err) {
			ts_err("server", "job %s: engine refused it (%s)", j->id, ts_strerror(err));
			job_end_early(s, j, JOB_FAILED, "the engine refused the request");
			continue;
		}
		j->in_engine = 1;
		live_add(s, j);
	}
}

static void send_cancels(struct ts_server *s)
{
	for (struct ts_job *j = s->live.lnext; j != &s->live; j = j->lnext) {
		if (!j->cancel_req || j->cancel_sent)
			continue;
		for (int i = 0; i < j->req.n; i++)
			ts_engine_cancel(s->eng, j->sub[i].eidx); /* finished ones: TS_EINVAL, fine */
		j->cancel_sent = 1;
	}
}

/* --- sync: engine state back into the jobs -------------------------------- */

static int degree_slot(int k)
{
	int slot = 0;

	while (k > 1 && slot < DEGREE_SLOTS - 1) {
		k >>= 1;
		slot++;
	}
	return slot;
}

/* The run a sub had in flight ended (or was replaced by the next one) by @now. */
static void run_ended(struct ts_server *s, struct job_sub *sub, const struct ts_req *r, double now)
{
	int ran = r->steps_done - sub->run_base;

	if (sub->run_steps && ran > 0 && now > sub->run_start)
		ts_srv_hist_add(&s->m.step_s[degree_slot(sub->run_degree)], (now - sub->run_start) / ran);
	sub->run_steps = 0;
}

/* Steps of one sub, interpolating a run in flight; also notices run changes. */
static int sub_steps(struct ts_server *s, struct job_sub *sub, const struct ts_req *r, double now)
{
	double per;
	int k;

	if (r->state != TS_REQ_RUNNING) {
		if (sub->run_steps)
			run_ended(s, sub, r, now);
		return r->steps_done;
	}
	if (!sub->run_steps || r->busy_until_s != sub->run_end) {
		if (sub->run_steps)
			run_ended(s, sub, r, now);
		sub->run_start = now;
		sub->run_end = r->busy_until_s;
		sub->run_steps = r->steps_inflight > 0 ? r->steps_inflight : 1;
		sub->run_degree = r->last_degree;
		sub->run_base = r->steps_done;
	}
	if (s->rt) /* the real executor counts steps as they finish */
		return ts_srv_real_progress(s, sub->eidx);
	per = (sub->run_end - sub->run_start) / sub->run_steps;
	k = per > 0 ? (int)floor((now - sub->run_start) / per) : 0;
	if (k > sub->run_steps - 1)
		k = sub->run_steps - 1;
	return r->steps_done + (k > 0 ? k : 0);
}

struct sync_acc {
	double now;
	int queue_pos;
	double ahead_s;  /* device-seconds of queued work ahead, for predictions */
};

static void job_finalise(struct ts_server *s, struct ts_job *j, int n_done, int n_fail,
			 double fin)
{
	int dec = 0;

	live_del(s, j);
	if (n_done == j->req.n) {
		j->steps_done = j->steps_total;
		dec = s->rt ? ts_srv_real_finished(s, j) : 0;
		forget_subs(s, j, j->req.n); /* the latents are the job's copies now */
		if (dec > 0)
			return; /* the decode thread completes it */
		j->state = dec ? JOB_FAILED : JOB_COMPLETED;
		if (dec)
			snprintf(j->error, sizeof(j->error), "no latent to decode (out of memory)");
	} else if (j->cancel_req) {
		j->state = j->shutdown ? JOB_FAILED : JOB_CANCELLED;
		forget_subs(s, j, j->req.n);
	} else {
		j->state = n_fail ? JOB_FAILED : JOB_CANCELLED;
		forget_subs(s, j, j->req.n);
	}
	if (j->state == JOB_FAILED && !j->error[0])
		snprintf(j->error, sizeof(j->error),
			 "the engine failed it: no healthy device set could run it, or a step failed");
	j->finished_s = fin;
	ts_srv_metrics_finish(s, j);
}

static void sync_job(struct ts_server *s, struct ts_job *j, struct sync_acc *a)
{
	const struct ts_reqtable *rt = ts_engine_requests(s->eng);
	const struct srv_shape *sh = &s->shapes[j->shape];
	int n_fin = 0, n_done = 0, n_fail = 0, n_run = 0, steps = 0, late = 0;
	double start = INFINITY, fin = 0, pace = sh->base_step_s;
	enum job_state was = j->state;
	int was_steps = j->steps_done, was_pos = j->queue_pos;

	for (int i = 0; i < j->req.n; i++) {
		struct job_sub *sub = &j->sub[i];
		const struct ts_req *r = ts_reqtable_at(rt, sub->eidx); /* live: never forgotten */

		steps += sub_steps(s, sub, r, a->now);
		late |= r->late;
		if (!isnan(r->start_s) && r->start_s < start)
			start = r->start_s;
		if (r->state == TS_REQ_RUNNING || r->state == TS_REQ_DECODING) {
			n_run++;
			if (sub->run_steps && sub->run_end > sub->run_start)
				pace = (sub->run_end - sub->run_start) / sub->run_steps;
		}
		if (ts_req_finished(r)) {
			n_fin++;
			n_done += r->state == TS_REQ_DONE;
			n_fail += r->state == TS_REQ_FAILED;
			if (!isnan(r->finish_s) && r->finish_s > fin)
				fin = r->finish_s;
		}
	}
	j->steps_done = steps;
	j->late = late;
	if (j->state == JOB_QUEUED && (n_run || steps > 0 || n_fin == j->req.n)) {
		s->n_queued--;
		j->started_s = isinf(start) ? a->now : start;
	}
	if (n_fin == j->req.n) {
		job_finalise(s, j, n_done, n_fail, fin > 0 ? fin : a->now);
	} else if (n_run || steps > 0) {
		j->state = JOB_RUNNING;
		j->queue_pos = 0;
		j->predicted_s = a->now + (j->steps_total - steps) * pace / j->req.n;
	} else {
		double work = (double)j->steps_total * sh->base_step_s;
		int n_dev = s->pool->n_healthy > 0 ? s->pool->n_healthy : 1;

		j->queue_pos = ++a->queue_pos;
		j->predicted_s = a->now + a->ahead_s / n_dev + j->req.steps * sh->base_step_s;
		a->ahead_s += work;
	}
	if (j->state != was || j->steps_done != was_steps || j->queue_pos != was_pos ||
	    job_final(j->state))
		ts_srv_job_touch(s, j);
}

static void sync_all(struct ts_server *s)
{
	struct sync_acc a = { .now = ts_engine_now(s->eng) };
	struct ts_job *j = s->live.lnext, *next;

	for (; j != &s->live; j = next) {
		next = j->lnext;
		sync_job(s, j, &a);
	}
	ts_engine_stats(s->eng, &s->m.est);
	s->m.engine_held = ts_reqtable_held(ts_engine_requests(s->eng));
	if (s->rt) {
		struct ts_exec_real_stats xs;

		ts_exec_real_stats(s->rt->exec, &xs);
		s->m.exec_held = xs.requests;
	}
	ts_groupcache_stats(s->cache, &s->m.gst);
	s->m.n_devices = s->pool->n;
	s->m.n_healthy = s->pool->n_healthy;
	s->m.n_free = s->pool->n_free;
	pthread_cond_broadcast(&s->job_cv);
}

/* --- the thread ----------------------------------------------------------- */

static void wait_mail(struct ts_server *s, double seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)seconds;
	ts.tv_nsec += (long)((seconds - floor(seconds)) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->engine_cv, &s->mu, &ts);
}

static void *engine_main(void *arg)
{
	struct ts_server *s = arg;
	int err;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		run_ops(s);
		take_mail(s);
		send_cancels(s);
		pthread_cond_broadcast(&s->job_cv);
		if (!s->n_live) {
			if (!s->mbox_head && !s->ops_head && !s->stopping)
				wait_mail(s, 0.2);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		err = ts_engine_run_until(s->eng, srv_now(s) + s->tick_s);
		pthread_mutex_lock(&s->mu);
		if (err)
			ts_err("server", "engine: %s", ts_strerror(err));
		sync_all(s);
	}
	/* Ops that came in while stopping are answered, not left waiting. */
	for (struct link_op *op = s->ops_head; op; op = op->next) {
		op->rc = TS_EBUSY;
		op->status = 503;
		snprintf(op->msg, sizeof(op->msg), "the server is shutting down");
		op->done = 1;
	}
	s->ops_head = NULL;
	s->ops_tail = &s->ops_head;
	pthread_cond_broadcast(&s->job_cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int ts_srv_link_start(struct ts_server *s)
{
	const char *name = s->env ? ts_sim_env_policy(s->env) : NULL;
	const struct ts_policy_ops *ops;
	struct ts_engine_cfg ec;
	struct ts_section *sec;
	int err;

	if (s->rt || !s->env) {
		/* The real executor: ts_srv_real_open() built the engine. */
		err = s->rt ? 0 : ts_srv_real_open(s);
		goto thread;
	}
	if (!name) {
		ts_err("server", "%s: [scheduler] policy is not set", ts_config_path(s->cfg));
		return TS_EINVAL;
	}
	ops = ts_policy_get(name);
	if (!ops) {
		ts_err("server", "policy '%s': no such policy (looked for %s.so in %s)", name, name,
		       ts_loader_path());
		return TS_ENOENT;
	}
	err = ts_pool_new(ts_backend_sim(), ts_host_api(), s->env->n_devices, s->env->island,
			  &s->pool);
	if (!err)
		err = ts_groupcache_new(s->pool, s->env->cache_budget, &s->cache);
	for (int i = 0; !err && i < s->env->n_prewarm; i++)
		err = ts_groupcache_prewarm(s->cache, &s->env->prewarm[i]);
	if (err)
		return err;
	/* Real time: a step takes its cost-table seconds on the wall clock. */
	ts_clock_init_real(&s->clock);
	s->clk = &s->clock;
	ec = (struct ts_engine_cfg){
		.pool = s->pool, .cache = s->cache, .clock = &s->clock, .exec = ts_exec_sim(),
		.round_steps = s->env->round_steps, .round_ms = s->env->round_ms,
		.host = ts_host_api(),
	};
	err = ts_engine_new(&ec, &s->eng);
	if (!err)
		err = policy_section(s, ops, NULL, &sec);
	if (!err)
		err = ts_engine_set_policy(s->eng, ops, sec);
	if (err)
		return err;
	snprintf(s->policy, sizeof(s->policy), "%s", ops->name);
thread:
	if (err)
		return err;
	s->m.n_devices = s->m.n_healthy = s->m.n_free = s->pool->n;
	err = pthread_create(&s->engine_thread, NULL, engine_main, s);
	if (err)
		return TS_ENOMEM;
	s->engine_started = 1;
	return 0;
}

void ts_srv_link_stop(struct ts_server *s)
{
	if (s->engine_started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = 1;
		pthread_cond_signal(&s->engine_cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->engine_thread, NULL);
		s->engine_started = 0;
	}
	if (s->real) {
		ts_srv_real_close(s);
	} else {
		ts_engine_free(s->eng);
		ts_groupcache_free(s->cache);
		ts_pool_free(s->pool);
	}
	s->eng = NULL;
	s->cache = NULL;
	s->pool = NULL;
	for (int i = 0; i < s->n_kept_cfgs; i++)
		ts_config_free(s->kept_cfgs[i]);
	free(s->kept_cfgs);
	s->kept_cfgs = NULL;
	s->n_kept_cfgs = 0;
}
