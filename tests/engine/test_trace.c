// SPDX-License-Identifier: MIT
/*
 * tests/engine/test_trace.c - cost tables from profile CSVs and from cost
 * functions; traces: loading the reference files, refusing malformed ones,
 * saving and reloading, the optional frames column, and the generator's mix,
 * rate, burstiness and frame counts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tetri/error.h>

#include "costtable.h"
#include "log.h"
#include "tap.h"
#include "trace.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/ts_test_trace_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		return NULL;
	close(fd);
	return path;
}

static int csv_err(const char *text)
{
	struct ts_costbook *b;
	char *p = write_tmp(text);
	int err;

	ts_costbook_new(&b);
	err = ts_costbook_load_csv(b, p, NULL);
	unlink(p);
	ts_costbook_free(b);
	return err;
}

static void test_profiles(void)
{
	struct ts_costbook *b;
	const struct ts_cost *c;

	ts_costbook_new(&b);
	ok(!ts_costbook_load_csv(b, "profiles/flux1-dev-h100x8.csv", NULL), "FLUX profile loads");
	ok(ts_costbook_count(b) == 4, "four shapes");
	c = ts_costbook_find(b, "flux1-dev", 2048, 2048, 1);
	ok(c && c->n_degrees == 4 && c->degree[3] == 8 && c->max_batch == 4, "2048: degrees 1-8, batch 1-4");
	ok(c && ts_cost_seconds(c, 8, 1) == 0.166486, "2048 at 8, batch 1: 0.166486 s");
	ok(c && ts_cost_seconds(c, 1, 4) == 3.953810, "2048 at 1, batch 4: 3.953810 s");
	ok(c && ts_cost_seconds(c, 2, 3) < 0, "batch 3 was not profiled");
	ok(c && ts_cost_seconds(c, 16, 1) < 0 && ts_cost_degree_index(c, 16) < 0, "no degree 16");
	ok(ts_costbook_load_csv(b, "profiles/flux1-dev-h100x8.csv", NULL) == TS_EEXIST,
	   "the same shapes twice: refused");
	ok(!ts_costbook_load_csv(b, "profiles/sd3-medium-a40x4.csv", "sd3-a40"), "renamed on load");
	c = ts_costbook_find(b, "sd3-a40", 1024, 1024, 0);
	ok(c && c->n_degrees == 3 && ts_costbook_has_model(b, "sd3-a40") &&
	   !ts_costbook_has_model(b, "sd3-medium"), "SD3 under its new name, degrees 1-4");
	ok(ts_costbook_klass(b, c) == 6, "klass = index in the book (%d)", ts_costbook_klass(b, c));
	ts_costbook_free(b);
	ok(csv_err("model,width,height,degree,batch\nx,1,1,1,1\n") == TS_EFORMAT, "bad header");
	ok(csv_err("model,width,height,degree,batch,step_s\nx,1,1,1,1,-2\n") == TS_EFORMAT,
	   "negative step time");
	ok(csv_err("model,width,height,degree,batch,step_s\nx,1,1,1,0.1\n") == TS_EFORMAT,
	   "missing column");
	ok(csv_err("model,width,height,degree,batch,step_s\nx,1,1,two,1,0.1\n") == TS_EFORMAT,
	   "degree not a number");
	ok(csv_err("model,width,height,degree,batch,step_s\n") == TS_EFORMAT, "no rows");
}

static double lin_cost(void *arg, int degree, int batch)
{
	return degree == 3 ? -1 : 0.5 * batch / degree;
}

static void test_cost_fn(void)
{
	static const int deg[] = { 1, 2, 3, 4 };
	struct ts_costbook *b;
	const struct ts_cost *c;

	ts_costbook_new(&b);
	ok(!ts_costbook_add_fn(b, "m", 64, 32, 1, deg, 4, 2, lin_cost, NULL), "table from a function");
	c = ts_costbook_find(b, "m", 64, 32, 1);
	ok(c && c->n_degrees == 3 && c->degree[2] == 4, "degree the function refuses is left out");
	ok(c && ts_cost_seconds(c, 4, 2) == 0.25, "sampled value");
	ok(!ts_costbook_find(b, "m", 32, 64, 1), "width and height are distinct");
	ts_costbook_free(b);
}

static int trace_err(const char *text)
{
	struct ts_trace *t = NULL;
	char *p = write_tmp(text);
	int err = ts_trace_load(p, &t);

	unlink(p);
	ts_trace_free(t);
	return err;
}

static void test_load(void)
{
	struct ts_trace *t;

	ok(!ts_trace_load("traces/flux-uniform-r12-s1.csv", &t), "reference trace loads");
	ok(t->n == 300 && t->n_models == 1 && !strcmp(t->req[0].model, "flux1-dev"),
	   "300 requests of flux1-dev");
	ok(t->req[0].arrival_s == 0.7215 && t->req[0].width == 2048 && t->req[0].slo_s == 5.0 &&
	   t->req[0].steps == 28, "first request as written");
	ts_trace_free(t);
	ok(trace_err("id,arrival,model,width,height,steps,slo_s\n") == TS_EFORMAT, "bad header");
	ok(trace_err("id,arrival_s,model,width,height,steps,slo_s\n0,1.0,m,256,256,28,1.5\n"
		     "1,0.5,m,256,256,28,1.5\n") == TS_EFORMAT, "arrivals going back in time");
	ok(trace_err("id,arrival_s,model,width,height,steps,slo_s\n0,1.0,m,256.5,256,28,1.5\n")
	   == TS_EFORMAT, "fractional width");
	ok(trace_err("id,arrival_s,model,width,height,steps,slo_s\n0,1.0,m,256,256,28\n")
	   == TS_EFORMAT, "missing column");
	ok(trace_err("id,arrival_s,model,width,height,steps,slo_s\n0,1.0,,256,256,28,1\n")
	   == TS_EFORMAT, "empty model");
	ok(ts_trace_load("/nonexistent/trace.csv", &t) == TS_ENOENT, "missing file");
}

static double frac_size(const struct ts_trace *t, int size)
{
	int n = 0;

	for (int i = 0; i < t->n; i++)
		n += t->req[i].width == size;
	return (double)n / t->n;
}

/* Coefficient of variation of the gaps between arrivals. */
static double gap_cv(const struct ts_trace *t)
{
	double sum = 0, sq = 0, prev = 0, mean;

	for (int i = 0; i < t->n; i++) {
		double g = t->req[i].arrival_s - prev;

		prev = t->req[i].arrival_s;
		sum += g;
		sq += g * g;
	}
	mean = sum / t->n;
	return sqrt(sq / t->n - mean * mean) / mean;
}

static void test_generate(void)
{
	struct ts_trace_gen g = {
		.rate_per_min = 12, .count = 20000, .mix = TS_MIX_SKEWED, .seed = 7,
		.model = "flux1-dev", .burst = 1.0,
	};
	struct ts_trace *a, *b, *c;
	char *p;
	int same = 1, slo_ok = 1;

	ok(!ts_trace_generate(&g, &a) && !ts_trace_generate(&g, &b), "generate twice");
	for (int i = 0; i < a->n; i++) {
		same &= a->req[i].arrival_s == b->req[i].arrival_s && a->req[i].width == b->req[i].width;
		slo_ok &= a->req[i].slo_s == (a->req[i].width == 256 ? 1.5 : a->req[i].width == 512 ? 2.0 :
					      a->req[i].width == 1024 ? 3.0 : 5.0);
	}
	ok(same, "same seed, same trace");
	ok(slo_ok, "base deadlines 1.5/2/3/5 s by size");
	ok(fabs(frac_size(a, 2048) - 0.447) < 0.02, "skewed: %.3f of requests are 2048 (0.447)",
	   frac_size(a, 2048));
	ok(fabs(frac_size(a, 256) - 0.167) < 0.02, "skewed: %.3f are 256 (0.167)", frac_size(a, 256));
	ok(fabs(a->req[a->n - 1].arrival_s / (a->n * 5.0) - 1) < 0.03,
	   "12/min: %d requests in %.0f s (expect about %d)", a->n, a->req[a->n - 1].arrival_s,
	   a->n * 5);
	ok(fabs(gap_cv(a) - 1) < 0.05, "Poisson gaps: CV %.3f", gap_cv(a));
	p = write_tmp("");
	ok(!ts_trace_save(a, p) && !ts_trace_load(p, &c), "save and reload");
	same = c->n == a->n;
	for (int i = 0; same && i < a->n; i++)
		same = c->req[i].arrival_s == a->req[i].arrival_s && c->req[i].id == a->req[i].id &&
		       c->req[i].slo_s == a->req[i].slo_s && c->req[i].height == a->req[i].height &&
		       !strcmp(c->req[i].model, a->req[i].model);
	ok(same, "reloaded trace is the same trace");
	unlink(p);
	ts_trace_free(c);
	ts_trace_free(b);
	g.seed = 8;
	g.mix = TS_MIX_UNIFORM;
	g.burst = 3.0;
	ok(!ts_trace_generate(&g, &b), "uniform, bursty");
	ok(b->req[0].arrival_s != a->req[0].arrival_s, "another seed, another trace");
	ok(fabs(frac_size(b, 2048) - 0.25) < 0.02 && fabs(frac_size(b, 512) - 0.25) < 0.02,
	   "uniform: a quarter each (%.3f, %.3f)", frac_size(b, 2048), frac_size(b, 512));
	ok(fabs(gap_cv(b) - 3) < 0.3, "burst 3: CV of the gaps %.2f", gap_cv(b));
	ok(fabs(b->req[b->n - 1].arrival_s / (b->n * 5.0) - 1) < 0.1, "same mean rate when bursty");
	g.rate_per_min = 0;
	ok(ts_trace_generate(&g, &c) == TS_EINVAL, "rate 0 refused");
	ts_trace_free(a);
	ts_trace_free(b);
}

#define HDR8 "id,arrival_s,model,width,height,steps,slo_s,frames\n"

/* The optional frames column: read, refused when bad, written back only when it was there. */
static void test_frames(void)
{
	static const int mix[2] = { 1, 17 };
	struct ts_trace_gen g = {
		.rate_per_min = 60, .count = 200, .seed = 3, .model = "opensora", .burst = 1.0,
		.frames = mix, .n_frames = 2,
	};
	struct ts_trace *t, *c;
	char *p = write_tmp(HDR8 "0,0.0,m,256,256,8,5.0,1\n1,1.0,m,256,256,8,5.0,51\n");
	int n17 = 0, same = 1;

	ok(p && !ts_trace_load(p, &t), "a trace with a frames column loads");
	unlink(p);
	ok(t->n == 2 && t->req[0].frames == 1 && t->req[1].frames == 51, "frames 1 and 51 read");
	ts_trace_free(t);
	ok(!ts_trace_load("traces/flux-uniform-r12-s1.csv", &t) && t->req[7].frames == 1,
	   "no column: every request is one frame");
	ts_trace_free(t);
	ok(trace_err(HDR8 "0,0.0,m,256,256,8,5.0,0\n") == TS_EFORMAT, "frames 0 refused");
	ok(trace_err(HDR8 "0,0.0,m,256,256,8,5.0,2.5\n") == TS_EFORMAT, "fractional frames refused");
	ok(trace_err(HDR8 "0,0.0,m,256,256,8,5.0,4097\n") == TS_EFORMAT, "frames over 4096 refused");
	ok(trace_err(HDR8 "0,0.0,m,256,256,8,5.0\n") == TS_EFORMAT, "frames header, 7 columns");
	ok(trace_err("id,arrival_s,model,width,height,steps,slo_s\n0,0.0,m,256,256,8,5.0,17\n") ==
	   TS_EFORMAT, "8 columns under the 7-column header");
	ok(!ts_trace_generate(&g, &t), "generate with frames 1 and 17");
	for (int i = 0; i < t->n; i++)
		n17 += t->req[i].frames == 17;
	ok(n17 > 70 && n17 < 130, "about half are 17-frame videos (%d of 200)", n17);
	p = write_tmp("");
	ok(!ts_trace_save(t, p) && !ts_trace_load(p, &c) && c->frames_col, "save and reload");
	unlink(p);
	for (int i = 0; i < t->n && c->n == t->n; i++)
		same &= c->req[i].frames == t->req[i].frames;
	ok(same && c->n == t->n, "frames survive the round trip");
	ts_trace_free(c);
	ts_trace_free(t);
	g.frames = (const int[]){ 0 };
	g.n_frames = 1;
	ok(ts_trace_generate(&g, &t) == TS_EINVAL, "generator refuses 0 frames");
}

static void swallow(enum ts_log_level lvl, const char *line, void *arg)
{
}

/* Valid lines with random characters replaced: refused or accepted, never a crash. */
static void test_garbage(void)
{
	static const char alphabet[] = "0123456789,.-eE x\t\r";
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int refused = 0, accepted = 0, other = 0;

	for (int round = 0; round < 300; round++) {
		char text[4096] = "id,arrival_s,model,width,height,steps,slo_s\n";
		size_t len = strlen(text);
		struct ts_trace *t = NULL;
		char *p;
		int err;

		for (int i = 0; i < 20; i++) {
			char line[96];
			int n = snprintf(line, sizeof(line), "%d,%d.%02d,flux,512,512,28,2.0\n",
					 i, i, i);

			/* One change in two files, so some survive and most lines stay valid. */
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (x % 40 == 0)
				line[(x >> 8) % (n - 1)] = alphabet[(x >> 20) % (sizeof(alphabet) - 1)];
			memcpy(text + len, line, n);
			len += n;
		}
		text[len] = 0;
		p = write_tmp(text);
		err = ts_trace_load(p, &t);
		if (!err)
			accepted += t->n == 20;
		unlink(p);
		ts_trace_free(t);
		refused += err == TS_EFORMAT;
		other += err && err != TS_EFORMAT;
	}
	ok(!other && refused > 0 && accepted > 0,
	   "300 mutated files: %d refused as malformed, %d accepted whole", refused, accepted);
}

int main(void)
{
	ts_log_set_level(TS_LOG_WARN);
	test_profiles();
	test_cost_fn();
	test_load();
	test_generate();
	ts_log_set_sink(swallow, NULL);
	test_frames();
	ts_log_set_sink(NULL, NULL);
	ts_log_set_sink(swallow, NULL);
	test_garbage();
	ts_log_set_sink(NULL, NULL);
	return tap_done();
}
