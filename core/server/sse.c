// SPDX-License-Identifier: MIT
/*
 * core/server/sse.c - GET /v1/jobs/ID/events: server-sent events, one per
 * visible change of the job (a step done, started, queue position moved),
 * each "event: progress" with the job object as data, and a last event named
 * after the final state (completed, failed, cancelled) before the stream
 * ends. A comment line every 10 s keeps proxies from closing a quiet stream.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_int.h"

#define SSE_KEEPALIVE_S 10

struct sse {
	struct ts_server *s;
	struct ts_job *j;   /* jobs live as long as the server */
	unsigned seen;
	int started, ended;
	char *ev;
	size_t len, off;
};

static void deadline_in(struct timespec *ts, int seconds)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += seconds;
}

/* Under mu: the next event text into x->ev, or a keepalive comment. */
static void next_event(struct sse *x)
{
	struct ts_server *s = x->s;
	struct ts_job *j = x->j;
	struct timespec ts;
	const char *name;
	json_t *o;
	char *data;

	deadline_in(&ts, SSE_KEEPALIVE_S);
	while (x->started && j->version == x->seen && !job_final(j->state) && !s->closing) {
		if (pthread_cond_timedwait(&s->job_cv, &s->mu, &ts) == ETIMEDOUT)
			break;
	}
	free(x->ev);
	x->ev = NULL;
	x->off = x->len = 0;
	if (x->started && j->version == x->seen && !job_final(j->state)) {
		x->ev = strdup(s->closing ? "event: closing\ndata: {}\n\n" : ": keepalive\n\n");
		x->ended = s->closing;
	} else {
		x->started = 1;
		x->seen = j->version;
		x->ended = job_final(j->state);
		name = x->ended ? ts_srv_job_state_name(j->state) : "progress";
		o = ts_srv_job_json(s, j);
		data = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (data && asprintf(&x->ev, "event: %s\ndata: %s\n\n", name, data) < 0)
			x->ev = NULL;
		free(data);
	}
	if (x->ev)
		x->len = strlen(x->ev);
	else
		x->ended = 1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *x = cls;
	size_t n;

	if (x->off == x->len) {
		if (x->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		pthread_mutex_lock(&x->s->mu);
		next_event(x);
		pthread_mutex_unlock(&x->s->mu);
		if (!x->len)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = x->len - x->off;
	if (n > max)
		n = max;
	memcpy(out, x->ev + x->off, n);
	x->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *x = cls;

	pthread_mutex_lock(&x->s->mu);
	x->j->refs--;
	pthread_mutex_unlock(&x->s->mu);
	free(x->ev);
	free(x);
}

enum MHD_Result ts_srv_api_job_events(struct http_req *r, const char *id)
{
	struct ts_server *s = r->s;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct ts_job *j;
	struct sse *x;

	x = calloc(1, sizeof(*x));
	if (!x)
		return ts_srv_http_error(r, 500, NULL, "out of memory");
	pthread_mutex_lock(&s->mu);
	j = ts_srv_job_find(s, id);
	if (j)
		j->refs++; /* the stream reads it between unlocks; sse_free lets go */
	pthread_mutex_unlock(&s->mu);
	if (!j) {
		free(x);
		return ts_srv_http_error(r, 404, NULL, "no job '%.40s'", id);
	}
	x->s = s;
	x->j = j;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
	if (!resp) {
		sse_free(x);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	ret = MHD_queue_response(r->c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}
