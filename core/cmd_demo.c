// SPDX-License-Identifier: MIT
/*
 * core/cmd_demo.c - `tetriserve demo`: the serving path end to end, as a
 * user would drive it.
 *
 * Without --config it writes OUT/demo.ini: four CPU devices, two small
 * DiTs (64 and 128 px) and an SD VAE decoder, with weights generated
 * deterministically on the first run and kept as safetensors under
 * OUT/weights/ (core/server/demo_weights.c). It starts the server on an
 * ephemeral loopback port, replays a mixed trace through the HTTP API
 * (POST /v1/jobs at Poisson arrival times, sizes and SLO scales mixed,
 * polling until every job ends), writes every image it gets back to
 * OUT/images/, and prints the SLO table. With --config naming real
 * checkpoints the same command serves those models instead.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tetri/error.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "rng.h"
#include "server/httpc.h"
#include "server/server.h"

#define DEMO_MAX_REQ 1000
#define DEMO_MAX_PAIRS 64
#define POLL_S 0.05
#define FINISH_TIMEOUT_S 600

struct demo_opts {
	const char *out, *config, *listen;
	int requests;
	double seconds;
	uint64_t seed;
};

struct demo_req {
	char id[64];
	int pair, status;
	double slo_scale, arrival;
	json_t *job;     /* the final job object */
	int images;
};

struct pair {
	char model[64];
	char size[32];
};

static void demo_usage(void)
{
	printf("usage: tetriserve demo [--out DIR] [--config FILE] [--requests N] [--seconds S]\n"
	       "Start the server, replay a mixed trace with deadlines through its HTTP API,\n"
	       "write the images and print the SLO table.\n\n"
	       "  --out DIR       where demo.ini, weights/ and images/ go (default out/demo)\n"
	       "  --config FILE   serve this config's models instead (real checkpoints)\n"
	       "  --requests N    requests in the trace (default 40)\n"
	       "  --seconds S     span of their arrivals (default 10)\n"
	       "  --seed N        the trace's seed (default 1)\n"
	       "  --listen H:P    the server's address (default 127.0.0.1:0, a free port)\n");
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - floor(s)) * 1e9);
	nanosleep(&ts, NULL);
}

static int mkdirs(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return TS_EIO;
		*p = '/';
	}
	return mkdir(buf, 0755) && errno != EEXIST ? TS_EIO : 0;
}

/* Weights made on the first run only: later runs (and their images) reuse them. */
static int ensure(const char *path, int (*make)(const char *))
{
	struct stat st;

	if (!stat(path, &st))
		return 0;
	printf("demo: generating %s (first run)\n", path);
	return make(path);
}

static int write_ini(const char *path, const char *exe_dir, int with_profiles)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return TS_EIO;
	fprintf(f, "; written by `tetriserve demo`: two small DiTs and an SD VAE decoder on four\n"
		"; CPU devices; weights generated deterministically and step times measured\n"
		"; (tetriserve profile) on the first run, all kept in weights/.\n"
		"[server]\nmodule_path = %s/modules\nlog_level = warn\nqueue_limit = 256\n"
		"slo_scale = 2.0\ninfeasible = best_effort\n\n"
		"[pool]\nbackend = cpu\ndevices = 4\nthreads_per_device = 1\n\n"
		"[scheduler]\npolicy = tetri\nround_steps = 2\n\n", exe_dir);
	for (int side = 64; side <= 128; side *= 2) {
		fprintf(f, "[model dit-s-%d]\nmodule = dit\nweights = weights/demo-dit-s.safetensors\n"
			"input_size = %d\npatch_size = 2\nhidden_size = 128\ndepth = 4\n"
			"num_heads = 4\nnum_classes = 10\nsteps = 20\nguidance = 1\n"
			"decoder = demo-vae\n", side, side / 8);
		if (with_profiles)
			fprintf(f, "profile = weights/profile-dit-s-%d.csv\n", side);
		fputc('\n', f);
	}
	fprintf(f, "[model demo-vae]\nmodule = vae3d\nweights = weights/demo-sd-vae-s.safetensors\n"
		"latent_scale = 0.18215\ngroupnorm_groups = 8\n");
	return fclose(f) ? TS_EIO : 0;
}

extern const struct ts_cmd ts_cmd_profile;

/*
 * The models' cost functions are analytic and far off for models this
 * small (fixed overheads dominate), so the first run measures their steps
 * with `tetriserve profile` and the config names the tables: deadlines and
 * the scheduler's choices then rest on what this machine does.
 */
static int profile_models(const char *ini, const char *wdir)
{
	char model[32], csv[PATH_MAX + 64];
	struct stat st;

	for (int side = 64; side <= 128; side *= 2) {
		char *argv[] = { "profile", "--config", (char *)ini, "--model", model, "--out", csv,
				 "--repeats", "5", NULL };

		snprintf(model, sizeof(model), "dit-s-%d", side);
		snprintf(csv, sizeof(csv), "%s/profile-dit-s-%d.csv", wdir, side);
		if (!stat(csv, &st))
			continue;
		printf("demo: measuring %s's steps (first run)\n", model);
		optind = 0; /* getopt starts over for the profile command */
		if (ts_cmd_profile.run(9, argv))
			return TS_EIO;
	}
	return 0;
}

static int write_config(const struct demo_opts *o, char *path, size_t n)
{
	char exe[PATH_MAX], dit[PATH_MAX + 64], vae[PATH_MAX + 64], wdir[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *exe_dir;
	int err;

	if (len <= 0)
		return TS_EIO;
	exe[len] = 0;
	exe_dir = dirname(exe); /* modules/ sits beside the executable */
	snprintf(wdir, sizeof(wdir), "%s/weights", o->out);
	snprintf(dit, sizeof(dit), "%s/demo-dit-s.safetensors", wdir);
	snprintf(vae, sizeof(vae), "%s/demo-sd-vae-s.safetensors", wdir);
	snprintf(path, n, "%s/demo.ini", o->out);
	err = mkdirs(wdir);
	err = err ? err : ensure(dit, ts_demo_write_dit);
	err = err ? err : ensure(vae, ts_demo_write_vae);
	err = err ? err : write_ini(path, exe_dir, 0);
	err = err ? err : profile_models(path, wdir);
	return err ? err : write_ini(path, exe_dir, 1);
}

/* The (model, size) pairs the server says it serves. */
static int served_pairs(int port, struct pair *p, int max)
{
	struct ts_httpc_reply r;
	json_t *root, *m, *sz;
	size_t i, k;
	int n = 0;

	if (ts_httpc(port, "GET", "/v1/models", NULL, &r) || r.status != 200) {
		free(r.body);
		return TS_EIO;
	}
	root = json_loads(r.body, 0, NULL);
	free(r.body);
	json_array_foreach(json_object_get(root, "data"), i, m) {
		json_array_foreach(json_object_get(m, "sizes"), k, sz) {
			if (n == max)
				break;
			snprintf(p[n].model, sizeof(p[n].model), "%s",
				 json_string_value(json_object_get(m, "id")));
			snprintf(p[n].size, sizeof(p[n].size), "%s", json_string_value(sz));
			n++;
		}
	}
	json_decref(root);
	return n;
}

/* A deterministic uniform in (0, 1] from the trace seed. */
static double uniform(uint64_t seed, uint64_t i)
{
	float z[2];

	ts_rng_normal(seed, 0x7ace, i, z, 2);
	return 1.0 - 0.5 * erfc(z[0] / sqrt(2.0)) * 0.999999 ; /* Phi(z): (0, 1) */
}

static void submit(int port, const struct pair *pairs, struct demo_req *q, int i)
{
	static const double scales[] = { 1.5, 2.0, 3.0, 5.0 };
	struct ts_httpc_reply r;
	char body[256];
	json_t *o;

	q->slo_scale = scales[i % 4];
	snprintf(body, sizeof(body), "{\"model\":\"%s\",\"size\":\"%s\",\"seed\":%d,"
		 "\"slo_scale\":%.2f,\"response_format\":\"b64_json\"}", pairs[q->pair].model,
		 pairs[q->pair].size, i, q->slo_scale);
	if (ts_httpc(port, "POST", "/v1/jobs", body, &r)) {
		q->status = -1;
		return;
	}
	q->status = r.status;
	o = json_loads(r.body, 0, NULL);
	snprintf(q->id, sizeof(q->id), "%s", json_string_value(json_object_get(o, "id")) ?
		 json_string_value(json_object_get(o, "id")) : "");
	if (r.status != 202)
		fprintf(stderr, "demo: request %d refused (%d): %s\n", i, r.status, r.body);
	json_decref(o);
	free(r.body);
}

static int is_final(const char *st)
{
	return !strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled");
}

/* Poll the jobs not yet final; returns how many still are not. */
static int poll_once(int port, struct demo_req *q, int n)
{
	struct ts_httpc_reply r;
	char path[128];
	int left = 0;

	for (int i = 0; i < n; i++) {
		json_t *o;

		if (q[i].status != 202 || q[i].job)
			continue;
		snprintf(path, sizeof(path), "/v1/jobs/%.63s", q[i].id);
		if (ts_httpc(port, "GET", path, NULL, &r)) {
			left++;
			continue;
		}
		o = json_loads(r.body, 0, NULL);
		free(r.body);
		if (o && is_final(json_string_value(json_object_get(o, "status")) ?: ""))
			q[i].job = o;
		else {
			json_decref(o);
			left++;
		}
	}
	return left;
}

/* GET the content of a completed job and write its PNGs. */
static int save_images(int port, const char *dir, const struct pair *pairs, struct demo_req *q,
		       int i)
{
	struct ts_httpc_reply r;
	char path[PATH_MAX];
	json_t *o, *d;
	size_t k;

	snprintf(path, sizeof(path), "/v1/jobs/%.63s/content", q->id);
	if (ts_httpc(port, "GET", path, NULL, &r))
		return TS_EIO;
	o = json_loads(r.body, 0, NULL);
	free(r.body);
	json_array_foreach(json_object_get(o, "data"), k, d) {
		const char *b64 = json_string_value(json_object_get(d, "b64_json"));
		unsigned char *png;
		size_t len;
		FILE *f;

		if (!b64 || ts_base64_decode(b64, &png, &len))
			continue;
		snprintf(path, sizeof(path), "%.3900s/%03d-%.63s-%.31s.png", dir, i, pairs[q->pair].model,
			 pairs[q->pair].size);
		f = fopen(path, "wb");
		if (f && fwrite(png, 1, len, f) == len)
			q->images++;
		if (f)
			fclose(f);
		free(png);
	}
	json_decref(o);
	return 0;
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(double *v, int n, double p)
{
	int k = (int)ceil(p / 100.0 * n) - 1;

	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_d);
	return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* One row: requests of pair @want (-1: all). */
static void table_row(const char *label, const struct demo_req *q, int n, int want)
{
	double lat[DEMO_MAX_REQ], queue = 0;
	int all = 0, done = 0, met = 0, nl = 0;

	for (int i = 0; i < n; i++) {
		const char *st;

		if (want >= 0 && q[i].pair != want)
			continue;
		all++;
		if (!q[i].job)
			continue;
		st = json_string_value(json_object_get(q[i].job, "status"));
		if (strcmp(st, "completed"))
			continue;
		done++;
		lat[nl++] = num(q[i].job, "completed_at") - num(q[i].job, "created_at");
		queue += num(q[i].job, "started_at") - num(q[i].job, "created_at");
		met += num(q[i].job, "completed_at") <= num(q[i].job, "deadline_at");
	}
	printf("%-26s %5d %5d %5d %6.2f %8.3f %8.3f %8.3f\n", label, all, done, met,
	       all ? (double)met / all : NAN, pct(lat, nl, 50), pct(lat, nl, 99),
	       done ? queue / done : NAN);
}

static void print_table(const struct pair *pairs, int np, const struct demo_req *q, int n)
{
	char label[128];

	printf("\n%-26s %5s %5s %5s %6s %8s %8s %8s\n", "model size", "reqs", "done", "met",
	       "SAR", "p50_s", "p99_s", "queue_s");
	for (int p = 0; p < np; p++) {
		snprintf(label, sizeof(label), "%.63s %.31s", pairs[p].model, pairs[p].size);
		table_row(label, q, n, p);
	}
	table_row("all", q, n, -1);
}

static int parse(int argc, char **argv, struct demo_opts *o)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct demo_opts){ .out = "out/demo", .listen = "127.0.0.1:0", .requests = 40,
				 .seconds = 10, .seed = 1 };
	while ((c = getopt_long(argc, argv, "o:c:n:s:S:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 'c': o->config = optarg; break;
		case 'n': o->requests = atoi(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'S': o->seed = strtoull(optarg, NULL, 10); break;
		case 'l': o->listen = optarg; break;
		case 'h': demo_usage(); return 1;
		default: demo_usage(); return 2;
		}
	}
	if (optind != argc || o->requests < 1 || o->requests > DEMO_MAX_REQ || !(o->seconds >= 0)) {
		fprintf(stderr, "tetriserve demo: --requests 1..%d, --seconds >= 0\n", DEMO_MAX_REQ);
		return 2;
	}
	return 0;
}

/* Replay the trace against @port; fills @q; returns the pairs count or < 0. */
static int replay(const struct demo_opts *o, int port, struct pair *pairs, struct demo_req *q)
{
	int np = served_pairs(port, pairs, DEMO_MAX_PAIRS), left;
	double t0, t = 0, deadline;

	if (np <= 0) {
		fprintf(stderr, "tetriserve demo: the server serves no model size\n");
		return TS_ENOENT;
	}
	printf("demo: %d requests over %.0f s across %d model sizes, SLO scales 1.5/2/3/5\n",
	       o->requests, o->seconds, np);
	t0 = mono();
	for (int i = 0; i < o->requests; i++) {
		/* Poisson arrivals: exponential gaps of mean seconds / requests. */
		t += -log(uniform(o->seed, 2 * i)) * o->seconds / o->requests;
		q[i].pair = (int)(uniform(o->seed, 2 * i + 1) * np) % np;
		q[i].arrival = t;
		sleep_s(t0 + t - mono());
		submit(port, pairs, &q[i], i);
		poll_once(port, q, i + 1);
	}
	deadline = mono() + FINISH_TIMEOUT_S;
	while ((left = poll_once(port, q, o->requests)) && mono() < deadline)
		sleep_s(POLL_S);
	if (left)
		fprintf(stderr, "tetriserve demo: %d jobs not finished after %d s\n", left,
			FINISH_TIMEOUT_S);
	return np;
}

/* A run's images replace the last run's: PNGs the demo wrote before go first. */
static void clear_images(const char *dir)
{
	char path[PATH_MAX + 512];
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((d = readdir(dp))) {
		size_t n = strlen(d->d_name);

		if (n < 8 || strcmp(d->d_name + n - 4, ".png") || d->d_name[3] != '-')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		unlink(path);
	}
	closedir(dp);
}

static int demo_run(int argc, char **argv)
{
	static struct demo_req q[DEMO_MAX_REQ];
	struct pair pairs[DEMO_MAX_PAIRS];
	struct ts_server_opts so;
	struct demo_opts o;
	struct ts_server *srv;
	struct ts_config *cfg;
	char cfg_path[PATH_MAX], img_dir[PATH_MAX];
	int np, images = 0, finished = 0, rc = parse(argc, argv, &o);

	if (rc)
		return rc == 1 ? 0 : rc;
	snprintf(img_dir, sizeof(img_dir), "%s/images", o.out);
	clear_images(img_dir);
	if (mkdirs(img_dir) || (!o.config && write_config(&o, cfg_path, sizeof(cfg_path)))) {
		fprintf(stderr, "tetriserve demo: cannot prepare %s\n", o.out);
		return 1;
	}
	if (ts_config_load(o.config ? o.config : cfg_path, &cfg))
		return 1;
	so = (struct ts_server_opts){ .listen = o.listen };
	if (ts_server_start(cfg, &so, &srv)) {
		ts_config_free(cfg);
		return 1;
	}
	printf("demo: serving %s on 127.0.0.1:%u\n", o.config ? o.config : cfg_path,
	       (unsigned)ts_server_port(srv));
	np = replay(&o, ts_server_port(srv), pairs, q);
	for (int i = 0; np > 0 && i < o.requests; i++) {
		const char *st = q[i].job ? json_string_value(json_object_get(q[i].job, "status"))
					  : NULL;

		finished += st != NULL;
		if (st && !strcmp(st, "completed"))
			save_images(ts_server_port(srv), img_dir, pairs, &q[i], i);
		images += q[i].images;
	}
	if (np > 0)
		print_table(pairs, np, q, o.requests);
	printf("\ndemo: %d/%d requests ended, %d images written to %s/\n", finished, o.requests,
	       images, img_dir);
	ts_server_stop(srv, 30);
	for (int i = 0; i < o.requests; i++)
		json_decref(q[i].job);
	ts_config_free(cfg);
	return np > 0 && finished == o.requests ? 0 : 1;
}

const struct ts_cmd ts_cmd_demo = {
	.name = "demo",
	.summary = "serve small CPU models, replay a trace through the HTTP API, print the SLO table",
	.run = demo_run,
	.usage = demo_usage,
};
