// SPDX-License-Identifier: MIT
/*
 * tests/server/test_api.c - the HTTP API end to end: a real server (the
 * library behind `tetriserve serve`) on an ephemeral loopback port, driven
 * over sockets: health, readiness, models, submit and poll, synchronous
 * generation, SSE progress, cancel, 400/413/422/429 refusals, metrics,
 * admin (auth, policy swap with jobs in flight: none lost, drain, model
 * unload/load), and the drain on stop.
 *
 * The model is tests/server/data/tiny.csv: steps of a few milliseconds on
 * the wall clock, on two simulated devices.
 */
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "../../core/config.h" /* not $builddir/config.h */
#include "log.h"
#include "registry.h"
#include "server.h"
#include "api_client.h"
#include "tap.h"

#define TOKEN "test-admin-token-0123456789"
#define AUTH "Authorization: Bearer " TOKEN "\r\n"

/* Submit; returns the id (static buffer rotates over 4) or "" with *status set. */
static const char *submit(const char *body, int *status)
{
	static char ids[4][64];
	static int k;
	json_t *o = call("POST", "/v1/jobs", NULL, body, status);
	char *id = ids[k++ % 4];

	snprintf(id, 64, "%s", o ? str(o, "id") : "");
	json_decref(o);
	return id;
}

static void basics(void)
{
	int st;
	json_t *o = call("GET", "/health", NULL, NULL, &st);

	ok(st == 200 && !strcmp(str(o, "status"), "ok"), "GET /health: 200 ok");
	json_decref(o);
	o = call("GET", "/ready", NULL, NULL, &st);
	ok(st == 200 && !strcmp(str(o, "status"), "ready"), "GET /ready: 200 ready");
	json_decref(o);
	o = call("GET", "/v1/models", NULL, NULL, &st);
	ok(st == 200 && json_array_size(json_object_get(o, "data")) == 1 &&
	   !strcmp(str(json_array_get(json_object_get(o, "data"), 0), "id"), "tiny"),
	   "GET /v1/models lists the one model");
	json_decref(o);
	o = call("GET", "/nope", NULL, NULL, &st);
	ok(st == 404 && o, "an unknown route: 404 with a JSON error");
	json_decref(o);
}

static void submit_poll(void)
{
	int st;
	long steps = 0;
	json_t *o = call("POST", "/v1/jobs", NULL,
			 "{\"model\":\"tiny\",\"size\":\"512x512\",\"num_inference_steps\":12,"
			 "\"seed\":7}", &st);
	char id[64], path[128];

	snprintf(id, sizeof(id), "%s", str(o, "id"));
	ok(st == 202 && id[0] && !strcmp(str(o, "status"), "queued") &&
	   !strncmp(str(o, "poll_url"), "/v1/jobs/", 9) && num(o, "progress.steps_total") == 12,
	   "POST /v1/jobs: 202, an id, queued, a poll URL, 12 steps to do");
	json_decref(o);
	ok(!strcmp(wait_final(id, 10000, &steps), "completed") && steps == 12,
	   "polled to completed with 12/12 steps");
	snprintf(path, sizeof(path), "/v1/jobs/%s/content", id);
	o = call("GET", path, NULL, NULL, &st);
	ok(st == 200 && json_array_size(json_object_get(o, "data")) == 1,
	   "its content: 200, one data entry");
	json_decref(o);
	o = call("POST", "/v1/images/generations", NULL,
		 "{\"model\":\"tiny\",\"n\":3,\"num_inference_steps\":6}", &st);
	ok(st == 200 && json_array_size(json_object_get(o, "data")) == 3 &&
	   num(o, "usage.steps") == 18, "synchronous generation of n=3: 200 with 3 entries");
	json_decref(o);
	o = call("GET", "/v1/jobs/job_nope", NULL, NULL, &st);
	ok(st == 404, "an unknown job: 404");
	json_decref(o);
}

/* SSE: every event parsed; steps never go back; ends with "completed". */
static void sse(void)
{
	int st, fd, events = 0, mono = 1, last = -1;
	const char *id = submit("{\"model\":\"tiny\",\"num_inference_steps\":40}", &st);
	char path[128], *all, *p;
	size_t n;

	snprintf(path, sizeof(path), "/v1/jobs/%s/events", id);
	fd = http_connect(port);
	http_send(fd, "GET", path, NULL, "", 0);
	all = http_read_all(fd, &n, 10000);
	close(fd);
	for (p = all; p && (p = strstr(p, "data: ")); p++) {
		json_t *o = json_loads(p + 6, JSON_DISABLE_EOF_CHECK, NULL);
		long s = num(o, "progress.steps_done");

		mono &= s >= last;
		last = s;
		events++;
		json_decref(o);
	}
	ok(all && strstr(all, "text/event-stream") && strstr(all, "event: completed"),
	   "SSE stream ends with event: completed");
	ok(events >= 5 && mono && last == 40,
	   "%d events, steps never go back, the last says 40/40 (got %d)", events, last);
	free(all);
}

static void cancel(void)
{
	int st;
	const char *id = submit("{\"model\":\"tiny\",\"num_inference_steps\":1000}", &st);
	char path[128];
	json_t *o;

	sleep_ms(50);
	snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
	o = call("POST", path, NULL, "", &st);
	ok(st == 200 && json_is_true(json_object_get(o, "cancel_requested")),
	   "POST cancel: 200, cancel_requested");
	json_decref(o);
	ok(!strcmp(wait_final(id, 5000, NULL), "cancelled"), "the running job ends cancelled");
	o = call("POST", path, NULL, "", &st);
	ok(st == 409, "cancelling it again: 409");
	json_decref(o);
	snprintf(path, sizeof(path), "/v1/jobs/%s/content", id);
	o = call("GET", path, NULL, NULL, &st);
	ok(st == 409, "content of a cancelled job: 409");
	json_decref(o);
	id = submit("{\"model\":\"tiny\",\"num_inference_steps\":1000}", &st);
	snprintf(path, sizeof(path), "/v1/jobs/%s", id);
	o = call("DELETE", path, NULL, NULL, &st);
	json_decref(o);
	ok(st == 200 && !strcmp(wait_final(id, 5000, NULL), "cancelled"),
	   "DELETE /v1/jobs/ID cancels too");
}

static void refusals(void)
{
	char big[8192];
	int st;
	json_t *o;

	o = call("POST", "/v1/jobs", NULL, "{\"model\":\"tiny\",\"n\":\"x\"}", &st);
	ok(st == 400 && !strcmp(str(o, "error.param"), "n") && str(o, "error.message")[0],
	   "wrong type: 400 naming the field");
	json_decref(o);
	o = call("POST", "/v1/jobs", NULL, "{not json", &st);
	ok(st == 400 && o, "malformed JSON: 400 with a JSON error");
	json_decref(o);
	o = call("POST", "/v1/images/generations", NULL, "{\"model\":\"tiny\",\"size\":\"64x64\"}",
		 &st);
	ok(st == 400 && !strcmp(str(o, "error.param"), "size"), "unsupported size: 400 'size'");
	json_decref(o);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	o = call("POST", "/v1/jobs", NULL, big, &st);
	ok(st == 413, "a body over max_body_bytes: 413");
	json_decref(o);
	o = call("POST", "/v1/jobs", NULL, "{\"model\":\"tiny\",\"deadline_ms\":5}", &st);
	ok(st == 422 && !strcmp(str(o, "error.param"), "deadline_ms") &&
	   strstr(str(o, "error.message"), "minimum feasible deadline_ms is 25"),
	   "infeasible deadline: 422 naming the minimum (10 x 2.5 ms = 25 ms): %s",
	   str(o, "error.message"));
	json_decref(o);
}

/* Fill the queue past queue_limit (64): 429 with Retry-After, then cancel everything. */
static void queue_full(void)
{
	static char ids[100][64];
	int st, n = 0, n429 = 0, cancelled = 0;
	char ra[16] = "", path[128];
	struct http_reply r;

	for (int i = 0; i < 100; i++) {
		const char *id = submit("{\"model\":\"tiny\",\"num_inference_steps\":500}", &st);

		if (st == 202)
			snprintf(ids[n++], 64, "%s", id);
		n429 += st == 429;
	}
	http_do(port, "POST", "/v1/jobs", NULL, "{\"model\":\"tiny\"}", &r);
	http_header(&r, "Retry-After", ra, sizeof(ra));
	ok(n429 > 0 && n >= 64 && n + n429 == 100 && r.status == 429 && atoi(ra) >= 1,
	   "queue full: %d accepted, %d refused with 429, Retry-After: %s", n, n429, ra);
	http_reply_free(&r);
	for (int i = 0; i < n; i++) {
		json_t *o;

		snprintf(path, sizeof(path), "/v1/jobs/%.63s/cancel", ids[i]);
		o = call("POST", path, NULL, "", &st);
		json_decref(o);
	}
	for (int i = 0; i < n; i++)
		cancelled += !strcmp(wait_final(ids[i], 5000, NULL), "cancelled");
	ok(cancelled == n, "all %d cancelled (%d)", n, cancelled);
}

static void admin(void)
{
	static char ids[30][64];
	int st, done = 0;
	json_t *o;

	o = call("POST", "/admin/policy", NULL, "{\"policy\":\"fixed\"}", &st);
	ok(st == 401, "admin without a token: 401");
	json_decref(o);
	o = call("POST", "/admin/policy", "Authorization: Bearer wrong-token-000000000\r\n",
		 "{\"policy\":\"fixed\"}", &st);
	ok(st == 401, "admin with a wrong token: 401");
	json_decref(o);
	o = call("POST", "/admin/policy", AUTH, "{\"policy\":\"no-such-policy\"}", &st);
	ok(st == 404, "swap to a policy that does not exist: 404, the old one stays");
	json_decref(o);
	for (int i = 0; i < 30; i++)
		snprintf(ids[i], 64, "%s",
			 submit("{\"model\":\"tiny\",\"num_inference_steps\":20}", &st));
	sleep_ms(30);
	o = call("POST", "/admin/policy", AUTH, "{\"policy\":\"fixed\",\"params\":{\"k\":1}}", &st);
	ok(st == 200, "swap to fixed k=1 with 30 jobs in flight: 200 (%s)",
	   str(o, "error.message"));
	json_decref(o);
	for (int i = 0; i < 30; i++)
		done += !strcmp(wait_final(ids[i], 20000, NULL), "completed");
	ok(done == 30, "none lost: %d/30 completed across the swap", done);
	o = call("POST", "/admin/drain", AUTH, "{\"device\":1}", &st);
	ok(st == 200, "drain device 1: 200");
	json_decref(o);
	o = call("POST", "/admin/drain", AUTH, "{\"device\":\"x\"}", &st);
	ok(st == 400 && !strcmp(str(o, "error.param"), "device"), "drain a non-number: 400");
	json_decref(o);
	ok(!strcmp(wait_final(submit("{\"model\":\"tiny\"}", &st), 5000, NULL), "completed"),
	   "a job still completes on the one device left");
	o = call("POST", "/admin/models/unload", AUTH, "{\"model\":\"tiny\"}", &st);
	json_decref(o);
	submit("{\"model\":\"tiny\"}", &st);
	ok(st == 400, "after unload, submitting to it: 400");
	o = call("POST", "/admin/models/load", AUTH, "{\"model\":\"tiny\"}", &st);
	json_decref(o);
	ok(st == 200 && !strcmp(wait_final(submit("{\"model\":\"tiny\"}", &st), 5000, NULL),
				"completed"), "load it back: jobs complete again");
}

static void metrics(void)
{
	struct http_reply r;

	http_do(port, "GET", "/metrics", NULL, NULL, &r);
	ok(r.status == 200 && r.body && strstr(r.body, "tetriserve_queue_depth 0") &&
	   strstr(r.body, "tetriserve_policy_swaps_total 1") &&
	   strstr(r.body, "tetriserve_policy_info{policy=\"fixed\"} 1") &&
	   strstr(r.body, "tetriserve_request_latency_seconds_bucket{model=\"tiny\",size=\"256x256\"") &&
	   strstr(r.body, "tetriserve_step_seconds_count{degree=\"1\"}") &&
	   strstr(r.body, "tetriserve_devices{state=\"healthy\"} 1") &&
	   strstr(r.body, "tetriserve_rejected_total{reason=\"queue_full\"}") &&
	   strstr(r.body, "tetriserve_slo_attainment{window=\"total\"}"),
	   "GET /metrics: Prometheus text with the queue, swaps, histograms, devices");
	http_reply_free(&r);
}

/* The value of the /metrics line starting with @line, or -1. */
static long metric(const char *line)
{
	struct http_reply r;
	const char *p;
	long v = -1;

	http_do(port, "GET", "/metrics", NULL, NULL, &r);
	p = r.status == 200 && r.body ? strstr(r.body, line) : NULL;
	if (p)
		v = atol(p + strlen(line));
	http_reply_free(&r);
	return v;
}

/*
 * A long-running server forgets finished requests in the engine: after 150
 * more jobs (162 engine requests in all) its request table holds only a
 * few, not one entry per request ever served.
 */
static void engine_bounded(void)
{
	int st, ok_all = 1;

	/* job_history = 5: the jobs go before they could be polled; count them in /metrics */
	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < 50; i++) {
			submit("{\"model\":\"tiny\",\"num_inference_steps\":2}", &st);
			ok_all &= st == 202;
		}
		for (int t = 0; t < 1000 && metric("tetriserve_jobs_total{state=\"completed\"} ") <
					      12 + 50 * (b + 1); t++)
			sleep_ms(10);
	}
	ok(ok_all && metric("tetriserve_jobs_total{state=\"completed\"} ") == 162,
	   "150 more jobs in bursts of 50, all completed");
	ok(metric("tetriserve_engine_requests{table=\"engine\"} ") >= 0 &&
	   metric("tetriserve_engine_requests{table=\"engine\"} ") < 64,
	   "the engine's table holds %ld of the 162 requests served",
	   metric("tetriserve_engine_requests{table=\"engine\"} "));
}

/* [server] job_history = 5: old finished jobs go, new ones stay, the list follows. */
static void history(void)
{
	struct ts_server_opts o = { .listen = "127.0.0.1:0" };
	char first[64] = "", last[64] = "", path[128];
	struct ts_server *srv;
	struct ts_config *cfg;
	struct ts_section *sec;
	int st, ok_all = 1, saved = port;
	json_t *l;

	if (ts_config_load("tests/server/data/server.ini", &cfg))
		return;
	sec = ts_config_section(cfg, "server");
	ts_section_set(sec, "job_history", "5", "(test)");
	ts_section_validate(sec, ts_schema_server, NULL);
	if (!ok(!ts_server_start(cfg, &o, &srv), "a second server with job_history = 5")) {
		ts_config_free(cfg);
		return;
	}
	port = ts_server_port(srv);
	for (int i = 0; i < 12; i++) {
		const char *id = submit("{\"model\":\"tiny\",\"num_inference_steps\":2}", &st);

		ok_all &= st == 202 && !strcmp(wait_final(id, 5000, NULL), "completed");
		snprintf(i ? last : first, 64, "%s", id);
	}
	ok(ok_all, "12 jobs submitted one after another, all completed");
	snprintf(path, sizeof(path), "/v1/jobs/%s", first);
	json_decref(call("GET", path, NULL, NULL, &st));
	ok(st == 404, "the first is gone (404)");
	snprintf(path, sizeof(path), "/v1/jobs/%s", last);
	json_decref(call("GET", path, NULL, NULL, &st));
	ok(st == 200, "the last is kept");
	l = call("GET", "/v1/jobs", NULL, NULL, &st);
	ok(st == 200 && json_array_size(json_object_get(l, "data")) <= 6 &&
	   !strcmp(str(json_array_get(json_object_get(l, "data"),
				      json_array_size(json_object_get(l, "data")) - 1), "id"), last),
	   "the list holds at most job_history + 1, newest last");
	json_decref(l);
	engine_bounded();
	ts_server_stop(srv, 5);
	ts_config_free(cfg);
	port = saved;
}

static void set_module_path(const char *argv0)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];

	snprintf(exe, sizeof(exe), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../modules", dirname(exe));
	ts_loader_set_path(path);
}

int main(int argc, char **argv)
{
	struct ts_server_opts o = { .listen = "127.0.0.1:0" };
	struct ts_server *srv;
	struct ts_config *cfg;
	int st;
	const char *id;

	set_module_path(argv[0]);
	ts_log_set_level(TS_LOG_WARN);
	if (!ok(!ts_config_load("tests/server/data/server.ini", &cfg), "test config loads"))
		return tap_done();
	if (!ok(!ts_server_start(cfg, &o, &srv), "server starts on an ephemeral loopback port"))
		return tap_done();
	port = ts_server_port(srv);
	basics();
	submit_poll();
	sse();
	cancel();
	refusals();
	queue_full();
	admin();
	metrics();
	/* Stop with a job in flight: it is given the grace time and completes. */
	id = submit("{\"model\":\"tiny\",\"num_inference_steps\":30}", &st);
	ok(st == 202 && id[0], "a job in flight at stop");
	ts_server_stop(srv, 5);
	ok(http_connect(port) < 0, "after stop nothing listens");
	ts_config_free(cfg);
	history();
	return tap_done();
}
