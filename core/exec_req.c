// SPDX-License-Identifier: MIT
/*
 * core/exec_req.c - a request's state in the real executor: begin, placing
 * its latent on a run's device set (a migration when it was on another set),
 * host checkpoints after each step, restore after a failed step, finish.
 *
 * Invariant: q->lat[d] is non-NULL exactly for the devices of q->home, and
 * each of them holds the latent after q->steps_done steps; q->ckpt holds it
 * on the host too. A failed step leaves the device copies suspect, so they
 * are dropped and the next run starts again from the checkpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/error.h>

#include "exec_real_int.h"
#include "log.h"
#include "pool.h"

#define WHO "exec-real"

double xr_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct ts_dev *dev_of(struct ts_exec_real *x, int d)
{
	return x->pool->dev[d].dev;
}

/* Room in the table for request @idx (>= req_base); under x->lock. */
static int req_grow(struct ts_exec_real *x, int idx)
{
	int cap = x->req_cap, need = idx - x->req_base + 1;
	struct xreq **nr;

	if (need <= cap)
		return 0;
	while (cap < need)
		cap = cap ? 2 * cap : 64;
	nr = realloc(x->req, cap * sizeof(*nr));
	if (!nr)
		return TS_ENOMEM;
	memset(nr + x->req_cap, 0, (cap - x->req_cap) * sizeof(*nr));
	x->req = nr;
	x->req_cap = cap;
	return 0;
}

/* plan() and begin(): the initial latent becomes the first checkpoint. */
static int req_begin(struct ts_exec_real *x, struct xreq *q)
{
	const struct xmodel *m = &x->models[q->model];
	int err = m->ops->plan(m->inst, &q->p, &q->w);

	if (err)
		return err;
	if (q->w.latent_elems < 1 || q->w.steps < 1) {
		ts_err(WHO, "model %s planned no latent or no steps", m->ops->name);
		return TS_EINVAL;
	}
	q->state = calloc(1, q->w.state_bytes ? q->w.state_bytes : 1);
	q->state_bak = calloc(1, q->w.state_bytes ? q->w.state_bytes : 1);
	q->ckpt = malloc(sizeof(float) * (size_t)q->w.latent_elems);
	q->lat = calloc((size_t)x->n, sizeof(*q->lat));
	if (!q->state || !q->state_bak || !q->ckpt || !q->lat)
		return TS_ENOMEM;
	return m->ops->begin(m->inst, &q->w, &q->p, q->state, q->ckpt);
}

struct xreq *xr_req_new(struct ts_exec_real *x, int model, const struct ts_req_params *p)
{
	struct xreq *q = calloc(1, sizeof(*q));
	int err;

	if (!q) {
		ts_err(WHO, "no memory for a request");
		return NULL;
	}
	q->idx = -1;
	q->model = model;
	q->p = *p;
	if (p->sampler) {
		snprintf(q->sampler, sizeof(q->sampler), "%s", p->sampler);
		q->p.sampler = q->sampler;
	}
	err = req_begin(x, q);
	if (err) {
		ts_err(WHO, "request: cannot begin (%s)", ts_strerror(err));
		xr_req_free(x, q);
		return NULL;
	}
	return q;
}

int ts_exec_real_add_request(struct ts_exec_real *x, int idx, int model,
			     const struct ts_req_params *p, struct ts_work *w)
{
	struct xreq *q;
	int err;

	if (idx < x->req_base || model < 0 || model >= x->n_models) {
		ts_err(WHO, "request %d: bad (or forgotten) index, or bad model %d", idx, model);
		return TS_EINVAL;
	}
	pthread_mutex_lock(&x->lock);
	err = req_grow(x, idx);
	if (!err && xr_req_at(x, idx))
		err = TS_EEXIST;
	pthread_mutex_unlock(&x->lock);
	if (err == TS_EEXIST)
		ts_err(WHO, "request %d already has a payload", idx);
	if (err)
		return err;
	q = xr_req_new(x, model, p);
	if (!q)
		return TS_EINVAL;
	q->idx = idx;
	if (w)
		*w = q->w;
	pthread_mutex_lock(&x->lock);
	x->req[idx - x->req_base] = q;
	if (idx >= x->req_hi)
		x->req_hi = idx + 1;
	x->st.requests++;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

/* Let go of the forgotten slots at the front once they are half the table or more. */
static void req_let_go(struct ts_exec_real *x)
{
	int used = x->req_hi - x->req_base, n = x->req_lead;

	while (n < used && !x->req[n])
		n++;
	x->req_lead = n;
	if (n < 64 || 2 * n < used)
		return;
	memmove(x->req, x->req + n, (x->req_cap - n) * sizeof(*x->req));
	memset(x->req + x->req_cap - n, 0, n * sizeof(*x->req));
	x->req_base += n;
	x->req_lead = 0;
	if (x->req_cap > 64 && used - n < x->req_cap / 4) {
		struct xreq **nr = realloc(x->req, x->req_cap / 2 * sizeof(*nr));

		/* on failure the bigger table stays, which is fine */
		if (nr) {
			x->req = nr;
			x->req_cap /= 2;
		}
	}
}

void xr_req_forget(struct ts_exec_real *x, int idx)
{
	struct xreq *q;

	pthread_mutex_lock(&x->lock);
	q = xr_req_at(x, idx);
	if (q) {
		x->req[idx - x->req_base] = NULL;
		x->st.requests--;
		req_let_go(x);
	}
	pthread_mutex_unlock(&x->lock);
	xr_req_free(x, q);
}

static void drop_latents(struct ts_exec_real *x, struct xreq *q, const struct ts_devset *keep)
{
	for (int d = ts_devset_next(&q->home, 0); d >= 0; d = ts_devset_next(&q->home, d + 1)) {
		if (keep && ts_devset_has(keep, d))
			continue;
		x->host->dev_free(dev_of(x, d), q->lat[d]);
		q->lat[d] = NULL;
		ts_devset_del(&q->home, d);
	}
}

/* A healthy device holding the current latent, or -1. */
static int home_source(struct ts_exec_real *x, const struct xreq *q)
{
	for (int d = ts_devset_next(&q->home, 0); d >= 0; d = ts_devset_next(&q->home, d + 1))
		if (!atomic_load(&x->bad[d]))
			return d;
	return -1;
}

int xr_req_place(struct ts_exec_real *x, struct xjob *j, struct xreq *q)
{
	int64_t n = q->w.latent_elems;
	int src, err = 0;
	double t0, dt;

	if (ts_devset_equal(&q->home, &j->set))
		return 0;
	t0 = xr_mono();
	src = home_source(x, q);
	for (int r = 0; r < j->degree && !err; r++) {
		int d = j->dev[r];

		if (ts_devset_has(&q->home, d))
			continue;
		q->lat[d] = x->host->dev_alloc(dev_of(x, d), (size_t)n);
		if (!q->lat[d]) {
			err = TS_ENOMEM;
			break;
		}
		ts_devset_add(&q->home, d);
		/* device to device when a copy lives on a device; else from the checkpoint */
		if (src >= 0)
			err = x->pool->be_ops->copy_peer(dev_of(x, d), q->lat[d], dev_of(x, src),
							 q->lat[src], n);
		else
			err = x->host->dev_upload(dev_of(x, d), q->lat[d], q->ckpt, TS_F32, n);
	}
	if (err) {
		/* half-placed copies cannot be trusted: start over from the checkpoint */
		drop_latents(x, q, NULL);
		ts_err(WHO, "cannot place a latent of %lld elements (%s)", (long long)n,
		       ts_strerror(err));
		return err;
	}
	drop_latents(x, q, &j->set);
	dt = xr_mono() - t0;
	if (src < 0)
		return 0; /* a first placement or a restore, not a move */
	pthread_mutex_lock(&x->lock);
	x->st.migrations++;
	x->st.migration_s += dt;
	if (dt > x->st.migration_max_s)
		x->st.migration_max_s = dt;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

int xr_req_checkpoint(struct ts_exec_real *x, struct xjob *j, struct xreq *q)
{
	int d = j->dev[0];
	double t0 = xr_mono();
	int err = x->host->dev_download(dev_of(x, d), q->ckpt, q->lat[d], q->w.latent_elems);

	pthread_mutex_lock(&x->lock);
	x->st.checkpoint_s += xr_mono() - t0;
	pthread_mutex_unlock(&x->lock);
	return err;
}

void xr_req_restore(struct ts_exec_real *x, struct xreq *q)
{
	memcpy(q->state, q->state_bak, q->w.state_bytes);
	drop_latents(x, q, NULL);
	pthread_mutex_lock(&x->lock);
	x->st.restores++;
	pthread_mutex_unlock(&x->lock);
}

int xr_req_finish(struct ts_exec_real *x, struct xreq *q)
{
	const struct xmodel *m = &x->models[q->model];
	int err;

	q->out = (struct ts_tensor){ 0 };
	err = m->ops->finish(m->inst, &q->w, q->state, q->ckpt, &q->out);
	drop_latents(x, q, NULL);
	if (err) {
		ts_err(WHO, "finish failed (%s)", ts_strerror(err));
		return err;
	}
	/* readers on other threads see the output only once it is complete */
	pthread_mutex_lock(&x->lock);
	q->finished = 1;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

void xr_req_drop(struct ts_exec_real *x, struct xreq *q)
{
	drop_latents(x, q, NULL);
}

void xr_req_free(struct ts_exec_real *x, struct xreq *q)
{
	if (!q)
		return;
	if (q->lat)
		drop_latents(x, q, NULL);
	if (q->out.data)
		x->host->free(q->out.data);
	free(q->lat);
	free(q->ckpt);
	free(q->state_bak);
	free(q->state);
	free(q);
}

/*
 * The request table of the executor may grow, move or shrink while another
 * thread asks about a request (an HTTP thread polling progress): the lock
 * covers it.
 */
static struct xreq *req_locked(struct ts_exec_real *x, int idx)
{
	return xr_req_at(x, idx);
}

int ts_exec_real_progress(struct ts_exec_real *x, int idx)
{
	struct xreq *q;
	int n;

	pthread_mutex_lock(&x->lock);
	q = req_locked(x, idx);
	n = q ? atomic_load(&q->steps_done) : 0;
	pthread_mutex_unlock(&x->lock);
	return n;
}

int ts_exec_real_placed(struct ts_exec_real *x, int idx)
{
	struct xreq *q;
	int n;

	pthread_mutex_lock(&x->lock);
	q = req_locked(x, idx);
	n = q ? ts_devset_count(&q->home) : 0;
	pthread_mutex_unlock(&x->lock);
	return n;
}

const struct ts_tensor *ts_exec_real_output(const struct ts_exec_real *x, int idx)
{
	struct ts_exec_real *mx = (struct ts_exec_real *)x;
	const struct ts_tensor *t;
	struct xreq *q;

	pthread_mutex_lock(&mx->lock);
	q = req_locked(mx, idx);
	t = q && q->finished ? &q->out : NULL;
	pthread_mutex_unlock(&mx->lock);
	return t;
}
