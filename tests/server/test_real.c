// SPDX-License-Identifier: MIT
/*
 * tests/server/test_real.c - the API on the real executor: two small DiTs
 * (weights from the demo's generator) and the demo's SD VAE decoder on two
 * CPU devices, served on an ephemeral loopback port. Images come back as
 * PNGs of the right size, the same seed gives the same image, SSE follows
 * the steps and the decode, a running job is cancelled at a step boundary,
 * a policy swap with jobs in flight loses none, metrics show decode and
 * step times, a model section added at run time loads, and the executor
 * keeps no finished request.
 */
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/config.h" /* not $builddir/config.h */
#include "log.h"
#include "registry.h"
#include "server.h"
#include "httpc.h"
#include "api_client.h"
#include "tap.h"

#define AUTH "Authorization: Bearer test-admin-token-0123456789\r\n"

/* The PNG of data[i].b64_json: 0 and its width/height, or -1. */
static int png_of(json_t *o, int i, int *w, int *h, char **b64)
{
	const char *s = str(json_array_get(json_object_get(o, "data"), i), "b64_json");
	unsigned char *png;
	size_t len;

	*b64 = NULL;
	if (!*s || ts_base64_decode(s, &png, &len))
		return -1;
	if (len < 24 || memcmp(png, "\x89PNG\r\n\x1a\n", 8)) {
		free(png);
		return -1;
	}
	*w = png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19];
	*h = png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
	free(png);
	*b64 = strdup(s);
	return 0;
}

static void images(void)
{
	int st, w = 0, h = 0, w2 = 0, h2 = 0;
	char *a = NULL, *b = NULL, *c = NULL;
	json_t *o = call("GET", "/v1/models", NULL, NULL, &st), *o2, *o3;

	ok(st == 200 && json_array_size(json_object_get(o, "data")) == 2 &&
	   !strcmp(str(json_array_get(json_object_get(o, "data"), 0), "id"), "dit-s-64") &&
	   json_is_true(json_object_get(json_array_get(json_object_get(o, "data"), 0),
					"class_conditional")),
	   "two class-conditional models listed");
	json_decref(o);
	o = call("POST", "/v1/images/generations", NULL,
		 "{\"model\":\"dit-s-64\",\"n\":2,\"seed\":5,\"num_inference_steps\":6}", &st);
	ok(st == 200 && !png_of(o, 0, &w, &h, &a) && w == 64 && h == 64 &&
	   !png_of(o, 1, &w2, &h2, &b) && w2 == 64 && strcmp(a, b),
	   "n=2: two 64x64 PNGs, different (seeds 5 and 6)");
	o2 = call("POST", "/v1/images/generations", NULL,
		  "{\"model\":\"dit-s-64\",\"seed\":5,\"num_inference_steps\":6}", &st);
	free(b);
	ok(st == 200 && !png_of(o2, 0, &w, &h, &b) && !strcmp(a, b),
	   "the same seed again: the same image");
	o3 = call("POST", "/v1/images/generations", NULL,
		  "{\"model\":\"dit-s-128\",\"size\":\"128x128\",\"seed\":5,\"class_label\":3,"
		  "\"num_inference_steps\":4}", &st);
	ok(st == 200 && !png_of(o3, 0, &w, &h, &c) && w == 128 && h == 128,
	   "dit-s-128 with a class label: a 128x128 PNG");
	free(a);
	free(b);
	free(c);
	json_decref(o);
	json_decref(o2);
	json_decref(o3);
	o = call("POST", "/v1/jobs", NULL, "{\"model\":\"dit-s-64\",\"class_label\":10}", &st);
	ok(st == 400 && !strcmp(str(json_object_get(o, "error"), "param"), "class_label"),
	   "class_label past num_classes: 400");
	json_decref(o);
	o = call("POST", "/v1/jobs", NULL, "{\"model\":\"dit-s-64\",\"size\":\"128x128\"}", &st);
	ok(st == 400 && !strcmp(str(json_object_get(o, "error"), "param"), "size"),
	   "a size the model's plan refuses: 400");
	json_decref(o);
}

static void sse(void)
{
	int st, fd, events = 0, mono = 1, last = -1, decoding = 0;
	json_t *o = call("POST", "/v1/jobs", NULL,
			 "{\"model\":\"dit-s-128\",\"num_inference_steps\":30}", &st);
	char path[128], *all, *p;
	size_t n;

	snprintf(path, sizeof(path), "/v1/jobs/%.63s/events", str(o, "id"));
	json_decref(o);
	fd = http_connect(port);
	http_send(fd, "GET", path, NULL, "", 0);
	all = http_read_all(fd, &n, 20000);
	close(fd);
	for (p = all; p && (p = strstr(p, "data: ")); p++) {
		json_t *e = json_loads(p + 6, JSON_DISABLE_EOF_CHECK, NULL);
		int s = (int)json_integer_value(json_object_get(json_object_get(e, "progress"),
								"steps_done"));

		mono &= s >= last;
		last = s;
		decoding |= !strcmp(str(e, "status"), "decoding");
		events++;
		json_decref(e);
	}
	ok(all && strstr(all, "event: completed") && events >= 5 && mono && last == 30,
	   "SSE: %d events, steps never go back, ends completed at 30/30", events);
	ok(decoding, "SSE shows the job decoding before it completes");
	free(all);
}

static void cancel(void)
{
	int st;
	long steps = -1;
	json_t *o = call("POST", "/v1/jobs", NULL,
			 "{\"model\":\"dit-s-128\",\"num_inference_steps\":1000}", &st);
	char id[64], path[128];
	const char *final;

	snprintf(id, sizeof(id), "%s", str(o, "id"));
	json_decref(o);
	sleep_ms(200);
	snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", id);
	json_decref(call("POST", path, NULL, "", &st));
	final = wait_final(id, 10000, &steps);
	ok(st == 200 && !strcmp(final, "cancelled") && steps > 0 && steps < 1000,
	   "a running job cancelled after %ld of 1000 steps (%s)", steps, final);
}

static void swap(void)
{
	char ids[12][64];
	int st, done = 0;

	for (int i = 0; i < 12; i++) {
		json_t *o = call("POST", "/v1/jobs", NULL,
				 "{\"model\":\"dit-s-64\",\"num_inference_steps\":10}", &st);

		snprintf(ids[i], 64, "%s", str(o, "id"));
		json_decref(o);
	}
	json_decref(call("POST", "/admin/policy", AUTH, "{\"policy\":\"fixed\",\"params\":{\"k\":2}}",
			 &st));
	ok(st == 200, "swap to fixed k=2 with 12 jobs in flight");
	for (int i = 0; i < 12; i++)
		done += !strcmp(wait_final(ids[i], 20000, NULL), "completed");
	ok(done == 12, "none lost: %d/12 completed", done);
}

/*
 * /admin/models/load of a section added to the file since start: refused
 * whole when its module's schema says no (depth 0); loaded on both devices
 * otherwise, with jobs in flight across the load (none lost), and it serves
 * the image the same weights and seed give under the old name.
 */
static void load_new(const char *dir)
{
	char ids[4][64], path[PATH_MAX];
	int st, done = 0, w = 0, h = 0;
	char *a = NULL, *b = NULL;
	json_t *o, *o2;
	FILE *f;

	for (int i = 0; i < 4; i++) {
		o = call("POST", "/v1/jobs", NULL, "{\"model\":\"dit-s-64\",\"num_inference_steps\":10}",
			 &st);
		snprintf(ids[i], 64, "%s", str(o, "id"));
		json_decref(o);
	}
	snprintf(path, sizeof(path), "%s/real.ini", dir);
	f = fopen(path, "a");
	if (!ok(f != NULL, "sections appended to the config"))
		return;
	for (int bad = 1; bad >= 0; bad--)
		fprintf(f, "\n[model %s]\nmodule = dit\nweights = dit.safetensors\ninput_size = 8\n"
			"patch_size = 2\nhidden_size = 128\ndepth = %d\nnum_heads = 4\n"
			"num_classes = 10\nsteps = 20\nguidance = 1\ndecoder = vae\n",
			bad ? "dit-bad" : "dit-new", bad ? 0 : 4);
	fclose(f);
	o = call("POST", "/admin/models/load", AUTH, "{\"model\":\"dit-bad\"}", &st);
	ok(st == 400, "a new section its module's schema refuses (depth = 0): 400 (%s)",
	   str(json_object_get(o, "error"), "message"));
	json_decref(o);
	o = call("POST", "/admin/models/load", AUTH, "{\"model\":\"dit-new\"}", &st);
	ok(st == 200, "a new section loaded with 4 jobs in flight: %d", st);
	json_decref(o);
	for (int i = 0; i < 4; i++)
		done += !strcmp(wait_final(ids[i], 20000, NULL), "completed");
	ok(done == 4, "none lost across the load: %d/4 completed", done);
	o = call("GET", "/v1/models", NULL, NULL, &st);
	ok(st == 200 && json_array_size(json_object_get(o, "data")) == 3, "three models listed");
	json_decref(o);
	o = call("POST", "/v1/images/generations", NULL,
		 "{\"model\":\"dit-new\",\"seed\":5,\"num_inference_steps\":6}", &st);
	o2 = call("POST", "/v1/images/generations", NULL,
		  "{\"model\":\"dit-s-64\",\"seed\":5,\"num_inference_steps\":6}", &st);
	ok(!png_of(o, 0, &w, &h, &a) && w == 64 && h == 64 && !png_of(o2, 0, &w, &h, &b) &&
	   !strcmp(a, b), "the new model serves: the same PNG as dit-s-64 for seed 5");
	free(a);
	free(b);
	json_decref(o);
	json_decref(o2);
	o = call("POST", "/admin/models/load", AUTH, "{\"model\":\"dit-none\"}", &st);
	ok(st == 404, "a section the file lacks: 404");
	json_decref(o);
}

static void metrics(void)
{
	struct http_reply r;

	http_do(port, "GET", "/metrics", NULL, NULL, &r);
	ok(r.status == 200 && r.body &&
	   strstr(r.body, "tetriserve_decode_seconds_count{model=\"dit-s-64\",size=\"64x64\"}") &&
	   strstr(r.body, "tetriserve_step_seconds_count{degree=") &&
	   strstr(r.body, "tetriserve_decoding 0") &&
	   strstr(r.body, "tetriserve_policy_info{policy=\"fixed\"} 1"),
	   "metrics: decode and step histograms, the decoding gauge, the new policy");
	/* every job is final: their latents were copied out, the executor keeps none */
	ok(r.status == 200 && r.body &&
	   strstr(r.body, "tetriserve_engine_requests{table=\"executor\"} 0\n"),
	   "the executor forgot every finished request");
	http_reply_free(&r);
}

static int write_config(const char *dir, const char *mods)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/admin.token", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "test-admin-token-0123456789\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/real.ini", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "[server]\nmodule_path = %s\nlog_level = warn\nadmin_token_file = admin.token\n"
		"infeasible = best_effort\n\n[pool]\nbackend = cpu\ndevices = 2\n\n"
		"[scheduler]\npolicy = tetri\nround_steps = 2\n\n", mods);
	for (int side = 64; side <= 128; side *= 2)
		fprintf(f, "[model dit-s-%d]\nmodule = dit\nweights = dit.safetensors\n"
			"input_size = %d\npatch_size = 2\nhidden_size = 128\ndepth = 4\n"
			"num_heads = 4\nnum_classes = 10\nsteps = 20\nguidance = 1\n"
			"decoder = vae\n\n", side, side / 8);
	fprintf(f, "[model vae]\nmodule = vae3d\nweights = vae.safetensors\n"
		"latent_scale = 0.18215\ngroupnorm_groups = 8\n");
	return fclose(f);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/ts-real-XXXXXX", exe[PATH_MAX], mods[PATH_MAX + 16], path[PATH_MAX];
	struct ts_server_opts o = { .listen = "127.0.0.1:0" };
	struct ts_server *srv;
	struct ts_config *cfg;
	char *dir = mkdtemp(tmpl);

	snprintf(exe, sizeof(exe), "%s", argv[0]);
	snprintf(path, sizeof(path), "%s/../modules", dirname(exe));
	/* absolute: the config's relative paths resolve against its own folder */
	if (!realpath(path, mods))
		snprintf(mods, sizeof(mods), "%s", path);
	ts_loader_set_path(mods);
	ts_log_set_level(TS_LOG_WARN);
	if (!ok(dir != NULL, "a scratch folder"))
		return tap_done();
	snprintf(path, sizeof(path), "%s/dit.safetensors", dir);
	ok(!ts_demo_write_dit(path), "the demo's DiT weights written");
	snprintf(path, sizeof(path), "%s/vae.safetensors", dir);
	ok(!ts_demo_write_vae(path), "the demo's VAE weights written");
	ok(!write_config(dir, mods), "a config of two DiTs and the VAE on 2 CPU devices");
	snprintf(path, sizeof(path), "%s/real.ini", dir);
	if (!ok(!ts_config_load(path, &cfg), "it loads") ||
	    !ok(!ts_server_start(cfg, &o, &srv), "the server starts on the real executor"))
		return tap_done();
	port = ts_server_port(srv);
	images();
	sse();
	cancel();
	swap();
	load_new(dir);
	metrics();
	ts_server_stop(srv, 10);
	ts_config_free(cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path))
		tap_diag("could not remove %s", dir);
	return tap_done();
}
