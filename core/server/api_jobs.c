// SPDX-License-Identifier: MIT
/*
 * core/server/api_jobs.c - submission (synchronous OpenAI-style and async
 * jobs), status, result content, cancel and list.
 *
 * Admission, in order: a valid body (400 naming the field), a model that is
 * loaded, a size the model runs, room in the queue (429 with Retry-After;
 * jobs waiting for the devices and finished ones waiting for the decoder
 * both count, so a slow decoder pushes back too),
 * then a deadline some idle pool could meet: the request's steps at the
 * fastest degree its cost table allows. A deadline under that is refused
 * (422 naming the minimum) or, with [server] infeasible = best_effort,
 * accepted and flagged best_effort.
 *
 * Without deadline_ms the deadline is slo_scale (or [server] slo_scale) x
 * the request's standalone time: its steps at the narrowest degree (one
 * device), the pace a lone request would get from a fixed-degree server,
 * plus the decode time of its size as measured so far (real executor).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

static json_t *time_or_null(struct ts_server *s, double t, int set)
{
	return set && isfinite(t) ? json_real(ts_srv_http_unix(s, t)) : json_null();
}

json_t *ts_srv_job_json(struct ts_server *s, const struct ts_job *j)
{
	int started = j->state != JOB_QUEUED, fin = job_final(j->state);
	char size[32];
	json_t *o;

	snprintf(size, sizeof(size), "%dx%d", j->req.width, j->req.height);
	o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:{s:i,s:i,s:f},s:i,s:o,s:f,s:b,s:b,s:b}",
		      "id", j->id, "object", "job", "model", j->req.model_name, "status",
		      ts_srv_job_state_name(j->state), "n", j->req.n,
		      "created_at", json_real(ts_srv_http_unix(s, j->created_s)),
		      "started_at", time_or_null(s, j->started_s, started),
		      "completed_at", time_or_null(s, j->finished_s, fin),
		      "deadline_at", json_real(ts_srv_http_unix(s, j->deadline_s)),
		      "progress", "steps_done", j->steps_done, "steps_total", j->steps_total,
		      "percent", j->steps_total ? 100.0 * j->steps_done / j->steps_total : 0.0,
		      "queue_position", j->queue_pos,
		      "predicted_finish_at", time_or_null(s, j->predicted_s,
							  !fin && j->predicted_s > 0),
		      "deadline_ms", (j->deadline_s - j->created_s) * 1e3,
		      "late", j->late || (fin && j->state == JOB_COMPLETED &&
					  j->finished_s > j->deadline_s),
		      "best_effort", j->best_effort, "cancel_requested", j->cancel_req);
	if (!o)
		return NULL;
	json_object_set_new(o, "size", json_string(size));
	json_object_set_new(o, "seed", j->req.has_seed ? json_integer((json_int_t)j->req.seed)
						       : json_null());
	json_object_set_new(o, "num_inference_steps", json_integer(j->req.steps));
	json_object_set_new(o, "error", j->error[0] ? json_pack("{s:s}", "message", j->error)
						    : json_null());
	return o;
}

/* Seconds until a queue slot is likely free: the mean service time per device. */
static int retry_after(struct ts_server *s)
{
	double mean = s->m.completed ? s->m.service_sum / s->m.completed : 1.0;
	int n_dev = s->m.n_healthy > 0 ? s->m.n_healthy : 1;
	double t = ceil(mean / n_dev);

	return t < 1 ? 1 : t > 60 ? 60 : (int)t;
}

enum adm { ADM_OK, ADM_REPLIED };

/* Under mu: admit @rq or reply why not. */
static enum adm admit(struct http_req *r, const struct ts_genreq *rq, struct ts_job **out,
		      enum MHD_Result *ret)
{
	struct ts_server *s = r->s;
	struct ts_api_error err;
	const struct srv_shape *sh;
	double rel, min;
	int shape, best_effort = 0;

	if (s->draining || s->closing) {
		*ret = ts_srv_http_error(r, 503, NULL, "the server is shutting down");
		return ADM_REPLIED;
	}
	if (!s->model_loaded[rq->model]) {
		s->m.bad_requests++;
		*ret = ts_srv_http_error(r, 400, "model", "model '%s' is unloaded", rq->model_name);
		return ADM_REPLIED;
	}
	shape = ts_srv_link_shape(s, rq->model, rq->width, rq->height, rq->frames, &err);
	if (shape < 0) {
		s->m.bad_requests++;
		*ret = ts_srv_http_api_error(r, &err);
		return ADM_REPLIED;
	}
	sh = &s->shapes[shape];
	min = rq->steps * sh->min_step_s + sh->decode_s;
	rel = rq->deadline_ms > 0 ? rq->deadline_ms / 1e3
				  : (rq->slo_scale > 0 ? rq->slo_scale : s->default_slo_scale) *
					    (rq->steps * sh->base_step_s + sh->decode_s);
	if (rel < min) {
		if (!s->infeasible_best_effort) {
			s->m.rejected_deadline++;
			*ret = ts_srv_http_error(r, 422, rq->deadline_ms > 0 ? "deadline_ms" : "slo_scale",
					  "deadline of %.1f ms is infeasible: %d steps of %s %dx%d "
					  "take at least %.1f ms on an idle pool (steps at the fastest "
					  "degree, then decoding); the minimum "
					  "feasible deadline_ms is %.1f",
					  rel * 1e3, rq->steps, rq->model_name, rq->width, rq->height,
					  min * 1e3, ceil(min * 1e4 - 1e-6) / 10);
			return ADM_REPLIED;
		}
		best_effort = 1;
		s->m.best_effort++;
	}
	*out = ts_srv_job_create(s, rq, shape);
	if (!*out) {
		*ret = ts_srv_http_error(r, 500, NULL, "out of memory");
		return ADM_REPLIED;
	}
	(*out)->deadline_s = (*out)->created_s + rel;
	(*out)->best_effort = best_effort;
	return ADM_OK;
}

static json_t *result_json(struct ts_server *s, const struct ts_job *j)
{
	json_t *data = json_array(), *o;

	for (int i = 0; data && i < j->req.n; i++)
		json_array_append_new(data, j->has_images ?
				      json_pack("{s:i,s:s}", "index", i, "b64_json", j->b64[i]) :
				      json_pack("{s:i}", "index", i));
	o = json_pack("{s:i,s:o*,s:s,s:s,s:s,s:s,s:{s:i,s:i}}", "created",
		      (int)ts_srv_http_unix(s, j->created_s), "data", data, "id", j->id, "output_format",
		      j->req.frames > 1 ? "mp4" : "png", "size", "", "status", ts_srv_job_state_name(j->state), "usage", "steps",
		      j->steps_done, "images", j->req.n);
	if (o) {
		char size[32];

		snprintf(size, sizeof(size), "%dx%d", j->req.width, j->req.height);
		json_object_set_new(o, "size", json_string(size));
		if (j->req.frames > 1)
			json_object_set_new(o, "frames", json_integer(j->req.frames));
	}
	/*
	 * The sim executor (or a model without a decoder) makes no pixels: the
	 * entries then have no b64_json, and "images" says why, rather than
	 * an image being made up.
	 */
	if (o && !j->has_images)
		json_object_set_new(o, "images", json_string(s->rt ?
			"none: the model names no decoder" :
			"none: the sim executor computes no pixels"));
	return o;
}

/* A video job's content: the MP4 itself, which a browser or player opens as is. */
static enum MHD_Result reply_mp4(struct http_req *r, const struct ts_job *j)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(j->mp4_len, j->mp4, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "video/mp4");
	ret = MHD_queue_response(r->c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_final(struct http_req *r, struct ts_job *j, int content)
{
	if (j->state == JOB_COMPLETED && content && j->mp4)
		return reply_mp4(r, j);
	if (j->state == JOB_COMPLETED)
		return ts_srv_http_json(r, 200, result_json(r->s, j));
	if (j->state == JOB_CANCELLED)
		return ts_srv_http_error(r, 409, NULL, "job %s was cancelled", j->id);
	return ts_srv_http_error(r, 500, NULL, "job %s failed: %s", j->id, j->error);
}

static enum MHD_Result queue_429(struct http_req *r)
{
	struct ts_server *s = r->s;
	char ra[16], msg[160];
	json_t *o;
	char *text;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	snprintf(ra, sizeof(ra), "%d", retry_after(s));
	snprintf(msg, sizeof(msg), "queue full (%d jobs waiting); retry after %s s",
		 s->n_queued + s->n_decoding, ra);
	o = json_pack("{s:{s:s,s:s,s:n,s:i}}", "error", "message", msg, "type",
		      "rate_limit_error", "param", "code", 429);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Retry-After", ra);
	ret = MHD_queue_response(r->c, 429, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result ts_srv_api_generate(struct http_req *r, int async)
{
	struct ts_server *s = r->s;
	struct ts_api_catalog *cat = &s->cat;
	struct ts_api_error err;
	struct ts_genreq rq;
	struct ts_job *j = NULL;
	enum MHD_Result ret = MHD_NO;
	char url[96];
	int rc;

	/* Parsing is the slow part of a submission: outside the mutex. */
	pthread_rwlock_rdlock(&s->cat_rw);
	rc = ts_genreq_parse(r->body, r->len, cat, &rq, &err);
	pthread_rwlock_unlock(&s->cat_rw);
	pthread_mutex_lock(&s->mu);
	if (rc) {
		s->m.bad_requests++;
		pthread_mutex_unlock(&s->mu);
		return ts_srv_http_api_error(r, &err);
	}
	/* Waiting for the devices or for the decoder: both are queues. */
	if (s->n_queued + s->n_decoding >= s->queue_limit && !s->draining) {
		s->m.rejected_full++;
		ret = queue_429(r);
		pthread_mutex_unlock(&s->mu);
		ts_genreq_release(&rq);
		return ret;
	}
	/* From a job on, its copy of rq owns the caption embeddings. */
	if (admit(r, &rq, &j, &ret) == ADM_REPLIED) {
		pthread_mutex_unlock(&s->mu);
		if (!j)
			ts_genreq_release(&rq);
		return ret;
	}
	if (async) {
		/* The reply is built from a copy, outside the mutex. */
		struct ts_job snap = *j;
		json_t *o;

		pthread_mutex_unlock(&s->mu);
		o = ts_srv_job_json(s, &snap);
		j = &snap;

		snprintf(url, sizeof(url), "/v1/jobs/%.31s", j->id);
		if (o) {
			json_object_set_new(o, "poll_url", json_string(url));
			snprintf(url, sizeof(url), "/v1/jobs/%.31s/events", j->id);
			json_object_set_new(o, "events_url", json_string(url));
			snprintf(url, sizeof(url), "/v1/jobs/%.31s/content", j->id);
			json_object_set_new(o, "content_url", json_string(url));
		}
		return ts_srv_http_json(r, 202, o);
	}
	j->refs++; /* kept while this thread waits */
	while (!job_final(j->state) && !s->closing)
		pthread_cond_wait(&s->job_cv, &s->mu);
	j->refs--;
	if (!job_final(j->state))
		ret = ts_srv_http_error(r, 503, NULL, "the server stopped before job %s ended", j->id);
	else
		ret = reply_final(r, j, 0);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

enum MHD_Result ts_srv_api_job_get(struct http_req *r, const char *id, const char *what)
{
	struct ts_server *s = r->s;
	enum MHD_Result ret;
	struct ts_job *j;

	pthread_mutex_lock(&s->mu);
	j = ts_srv_job_find(s, id);
	if (!j)
		ret = ts_srv_http_error(r, 404, NULL, "no job '%.40s'", id);
	else if (!*what)
		ret = ts_srv_http_json(r, 200, ts_srv_job_json(s, j));
	else if (!job_final(j->state))
		ret = ts_srv_http_error(r, 409, NULL, "job %s is %s: no content yet", j->id,
				 ts_srv_job_state_name(j->state));
	else
		ret = reply_final(r, j, 1);
	pthread_mutex_unlock(&s->mu);
	return ret;
}

enum MHD_Result ts_srv_api_job_cancel(struct http_req *r, const char *id)
{
	struct ts_server *s = r->s;
	enum MHD_Result ret;
	struct ts_job *j;

	pthread_mutex_lock(&s->mu);
	j = ts_srv_job_find(s, id);
	if (!j) {
		ret = ts_srv_http_error(r, 404, NULL, "no job '%.40s'", id);
	} else if (job_final(j->state)) {
		ret = ts_srv_http_error(r, 409, NULL, "job %s already %s", j->id,
				 ts_srv_job_state_name(j->state));
	} else {
		/* The engine thread stops it: at once when queued, after its step when running. */
		j->cancel_req = 1;
		ts_srv_job_touch(s, j);
		pthread_cond_signal(&s->engine_cv);
		ret = ts_srv_http_json(r, 200, ts_srv_job_json(s, j));
	}
	pthread_mutex_unlock(&s->mu);
	return ret;
}

static int state_filter(const char *name)
{
	for (int st = JOB_QUEUED; st <= JOB_CANCELLED; st++)
		if (!strcmp(name, ts_srv_job_state_name(st)))
			return st;
	return -1;
}

/* GET /v1/jobs?status=S&after=ID&limit=N, in submission order. */
enum MHD_Result ts_srv_api_job_list(struct http_req *r)
{
	struct ts_server *s = r->s;
	const char *st = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "status");
	const char *after = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "after");
	const char *lim = MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = 100;
	int want = -1, n = 0, more;
	uint64_t i;
	json_t *data;
	char *end;

	if (lim) {
		limit = strtol(lim, &end, 10);
		if (*end || limit < 1 || limit > 10000)
			return ts_srv_http_error(r, 400, "limit", "limit must be an integer in [1, 10000]");
	}
	if (st && (want = state_filter(st)) < 0)
		return ts_srv_http_error(r, 400, "status", "status: queued, running, decoding, "
				  "completed, failed or cancelled");
	data = json_array();
	pthread_mutex_lock(&s->mu);
	i = s->first_seq;
	if (after) {
		struct ts_job *a = ts_srv_job_find(s, after);

		if (!a) {
			pthread_mutex_unlock(&s->mu);
			json_decref(data);
			return ts_srv_http_error(r, 400, "after", "no job '%.40s'", after);
		}
		i = a->seq + 1;
	}
	for (; data && ts_srv_job_at(s, i) && n < limit; i++) {
		const struct ts_job *j = ts_srv_job_at(s, i);

		if (want >= 0 && (int)j->state != want)
			continue;
		json_array_append_new(data, ts_srv_job_json(s, j));
		n++;
	}
	more = ts_srv_job_at(s, i) != NULL;
	pthread_mutex_unlock(&s->mu);
	return ts_srv_http_json(r, 200, json_pack("{s:s,s:o*,s:b}", "object", "list", "data", data,
					   "has_more", more));
}
