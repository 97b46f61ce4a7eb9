// SPDX-License-Identifier: MIT
/*
 * core/server/metrics.c - counters, histograms and GET /metrics in the
 * Prometheus text format (version 0.0.4).
 *
 * SLO attainment counts a job as met when it completed by its deadline,
 * over completed and failed jobs (a cancelled job is the user's choice, not
 * a miss); "rolling" is over the last ROLLING_N such jobs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_int.h"

/* Seconds: from a 256x256 step on a GPU to a long video. */
static const double latency_le[] = { 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 20, 30, 60, 120 };
static const double step_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
				  5, 10 };

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

void ts_srv_hist_init(struct hist *h, const double *le, int n_le)
{
	memset(h, 0, sizeof(*h));
	h->le = le;
	h->n_le = n_le;
}

void ts_srv_hist_add(struct hist *h, double v)
{
	int i = 0;

	while (i < h->n_le && v > h->le[i])
		i++;
	h->count[i]++;
	h->sum += v;
	h->n++;
}

void ts_srv_metrics_init(struct srv_metrics *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < SRV_MAX_SHAPES; i++) {
		ts_srv_hist_init(&m->shape[i].latency, latency_le, N_OF(latency_le));
		ts_srv_hist_init(&m->shape[i].queue, latency_le, N_OF(latency_le));
		ts_srv_hist_init(&m->shape[i].decode, step_le, N_OF(step_le));
	}
	for (int i = 0; i < DEGREE_SLOTS; i++)
		ts_srv_hist_init(&m->step_s[i], step_le, N_OF(step_le));
}

void ts_srv_metrics_finish(struct ts_server *s, const struct ts_job *j)
{
	struct srv_metrics *m = &s->m;
	int met;

	m->late += j->late || (j->state == JOB_COMPLETED && j->finished_s > j->deadline_s);
	switch (j->state) {
	case JOB_COMPLETED:
		m->completed++;
		ts_srv_hist_add(&m->shape[j->shape].latency, j->finished_s - j->created_s);
		ts_srv_hist_add(&m->shape[j->shape].queue, j->started_s - j->created_s);
		m->service_sum += j->finished_s - j->started_s;
		break;
	case JOB_FAILED:
		m->failed++;
		break;
	default:
		m->cancelled++;
		return;
	}
	met = j->state == JOB_COMPLETED && j->finished_s <= j->deadline_s;
	m->met += met;
	m->finished++;
	m->rolling[m->rolling_pos] = (unsigned char)met;
	m->rolling_pos = (m->rolling_pos + 1) % ROLLING_N;
	if (m->rolling_n < ROLLING_N)
		m->rolling_n++;
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* model and size; a video shape adds its frames, so its series stay apart from the image's. */
static void shape_labels(const struct ts_server *s, const struct srv_shape *sh, char *buf,
			 size_t len)
{
	int n = snprintf(buf, len, "model=\"%s\",size=\"%dx%d\"", s->cat.m[sh->model].name,
			 sh->width, sh->height);

	if (sh->frames > 1 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - n, ",frames=\"%d\"", sh->frames);
}

static void hist_print(FILE *f, const char *name, const char *labels, const struct hist *h)
{
	long cum = 0;

	for (int i = 0; i < h->n_le; i++) {
		cum += h->count[i];
		fprintf(f, "%s_bucket{%s,le=\"%g\"} %ld\n", name, labels, h->le[i], cum);
	}
	fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %ld\n", name, labels, h->n);
	fprintf(f, "%s_sum{%s} %.6f\n%s_count{%s} %ld\n", name, labels, h->sum, name, labels,
		h->n);
}

static void render_jobs(struct ts_server *s, FILE *f)
{
	const struct srv_metrics *m = &s->m;
	int rolling_met = 0, running = 0;

	for (const struct ts_job *j = s->live.lnext; j != &s->live; j = j->lnext)
		running += j->state == JOB_RUNNING || j->state == JOB_DECODING;
	for (int i = 0; i < m->rolling_n; i++)
		rolling_met += m->rolling[i];
	head(f, "tetriserve_queue_depth", "gauge", "Jobs accepted and not started yet.");
	fprintf(f, "tetriserve_queue_depth %d\n", s->n_queued);
	head(f, "tetriserve_running", "gauge", "Jobs with steps in progress.");
	fprintf(f, "tetriserve_running %d\n", running);
	head(f, "tetriserve_decoding", "gauge", "Jobs whose steps are done, waiting for or in the decoder.");
	fprintf(f, "tetriserve_decoding %d\n", s->n_decoding);
	head(f, "tetriserve_jobs_total", "counter", "Jobs by how they ended (submitted: accepted).");
	fprintf(f, "tetriserve_jobs_total{state=\"submitted\"} %ld\n", m->submitted);
	fprintf(f, "tetriserve_jobs_total{state=\"completed\"} %ld\n", m->completed);
	fprintf(f, "tetriserve_jobs_total{state=\"failed\"} %ld\n", m->failed);
	fprintf(f, "tetriserve_jobs_total{state=\"cancelled\"} %ld\n", m->cancelled);
	head(f, "tetriserve_jobs_late_total", "counter", "Jobs that passed their deadline.");
	fprintf(f, "tetriserve_jobs_late_total %ld\n", m->late);
	head(f, "tetriserve_jobs_best_effort_total", "counter",
	     "Jobs accepted with a deadline no idle pool could meet.");
	fprintf(f, "tetriserve_jobs_best_effort_total %ld\n", m->best_effort);
	head(f, "tetriserve_rejected_total", "counter", "Submissions refused, by reason.");
	fprintf(f, "tetriserve_rejected_total{reason=\"queue_full\"} %ld\n", m->rejected_full);
	fprintf(f, "tetriserve_rejected_total{reason=\"infeasible_deadline\"} %ld\n",
		m->rejected_deadline);
	fprintf(f, "tetriserve_rejected_total{reason=\"bad_request\"} %ld\n", m->bad_requests);
	head(f, "tetriserve_slo_attainment", "gauge",
	     "Completed by the deadline over completed and failed jobs.");
	fprintf(f, "tetriserve_slo_attainment{window=\"total\"} %g\n",
		m->finished ? (double)m->met / m->finished : NAN);
	fprintf(f, "tetriserve_slo_attainment{window=\"last%d\"} %g\n", ROLLING_N,
		m->rolling_n ? (double)rolling_met / m->rolling_n : NAN);
}

static void render_hists(struct ts_server *s, FILE *f)
{
	const struct srv_metrics *m = &s->m;
	char labels[160];

	head(f, "tetriserve_request_latency_seconds", "histogram",
	     "Submission to completion of completed jobs, by model and size.");
	for (int i = 0; i < s->n_shapes; i++) {
		const struct srv_shape *sh = &s->shapes[i];

		shape_labels(s, sh, labels, sizeof(labels));
		hist_print(f, "tetriserve_request_latency_seconds", labels, &m->shape[i].latency);
	}
	head(f, "tetriserve_queue_time_seconds", "histogram",
	     "Submission to first step of completed jobs, by model and size.");
	for (int i = 0; i < s->n_shapes; i++) {
		const struct srv_shape *sh = &s->shapes[i];

		shape_labels(s, sh, labels, sizeof(labels));
		hist_print(f, "tetriserve_queue_time_seconds", labels, &m->shape[i].queue);
	}
	head(f, "tetriserve_decode_seconds", "histogram",
	     "Decoder time per image, by model and size (real executor).");
	for (int i = 0; i < s->n_shapes; i++) {
		const struct srv_shape *sh = &s->shapes[i];

		if (!m->shape[i].decode.n)
			continue;
		shape_labels(s, sh, labels, sizeof(labels));
		hist_print(f, "tetriserve_decode_seconds", labels, &m->shape[i].decode);
	}
	head(f, "tetriserve_step_seconds", "histogram",
	     "Wall time per denoising step of a run, by sequence-parallel degree.");
	for (int i = 0; i < DEGREE_SLOTS; i++) {
		if (!m->step_s[i].n)
			continue;
		snprintf(labels, sizeof(labels), "degree=\"%d\"", 1 << i);
		hist_print(f, "tetriserve_step_seconds", labels, &m->step_s[i]);
	}
}

static void render_engine(struct ts_server *s, FILE *f, double now)
{
	const struct srv_metrics *m = &s->m;
	int busy = m->n_healthy - m->n_free;

	head(f, "tetriserve_devices", "gauge", "Devices of the pool by state.");
	fprintf(f, "tetriserve_devices{state=\"total\"} %d\n", m->n_devices);
	fprintf(f, "tetriserve_devices{state=\"healthy\"} %d\n", m->n_healthy);
	fprintf(f, "tetriserve_devices{state=\"busy\"} %d\n", busy);
	head(f, "tetriserve_device_utilisation", "gauge", "Busy over healthy devices, now.");
	fprintf(f, "tetriserve_device_utilisation %g\n",
		m->n_healthy ? (double)busy / m->n_healthy : 0.0);
	head(f, "tetriserve_device_busy_seconds_total", "counter",
	     "Device-seconds of finished runs (degree x duration).");
	fprintf(f, "tetriserve_device_busy_seconds_total %.6f\n", m->est.gpu_s);
	head(f, "tetriserve_uptime_seconds", "gauge", "Seconds since the server started.");
	fprintf(f, "tetriserve_uptime_seconds %.3f\n", now);
	head(f, "tetriserve_group_cache_total", "counter", "Group-cache lookups by outcome.");
	fprintf(f, "tetriserve_group_cache_total{result=\"hit\"} %ld\n", m->gst.hits);
	fprintf(f, "tetriserve_group_cache_total{result=\"miss\"} %ld\n", m->gst.misses);
	fprintf(f, "tetriserve_group_cache_total{result=\"eviction\"} %ld\n", m->gst.evictions);
	head(f, "tetriserve_group_cache_creation_seconds_total", "counter",
	     "Wall time spent creating communicators.");
	fprintf(f, "tetriserve_group_cache_creation_seconds_total %.6f\n", m->gst.create_s);
	head(f, "tetriserve_migrations_total", "counter",
	     "Assignments whose device set differed from the request's previous one.");
	fprintf(f, "tetriserve_migrations_total %ld\n", m->est.migrations);
	head(f, "tetriserve_rounds_total", "counter", "Scheduling rounds and policy plan calls.");
	fprintf(f, "tetriserve_rounds_total{kind=\"round\"} %ld\n", m->est.rounds);
	fprintf(f, "tetriserve_rounds_total{kind=\"plan_call\"} %ld\n", m->est.plan_calls);
	head(f, "tetriserve_policy_swaps_total", "counter", "Policy swaps done at run time.");
	fprintf(f, "tetriserve_policy_swaps_total %ld\n", m->est.swaps);
	head(f, "tetriserve_engine_requests", "gauge",
	     "Requests whose entries the engine's table (and the executor) hold; "
	     "finished ones go once their job is final.");
	fprintf(f, "tetriserve_engine_requests{table=\"engine\"} %d\n", m->engine_held);
	fprintf(f, "tetriserve_engine_requests{table=\"executor\"} %ld\n", m->exec_held);
	head(f, "tetriserve_policy_info", "gauge", "The policy now asked to plan.");
	fprintf(f, "tetriserve_policy_info{policy=\"%s\"} 1\n", s->policy);
}

char *ts_srv_metrics_render(struct ts_server *s, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	render_jobs(s, f);
	render_hists(s, f);
	render_engine(s, f, srv_now(s));
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
