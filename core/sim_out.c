// SPDX-License-Identifier: MIT
/*
 * core/sim_out.c - what `tetriserve sim` prints and writes: the summary
 * table, DIR/requests.csv and DIR/summary.json.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tetri/error.h>

#include <config.h> /* TS_HAVE_JANSSON (build/config.h) */
#include "log.h"
#include "sim.h"

#ifdef TS_HAVE_JANSSON
#include <jansson.h>
#endif

/* "1|2|8": the degrees a request's steps ran at. */
static void degrees_text(uint64_t mask, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	for (int d = 1; d <= 64 && len + 4 < n; d++)
		if (mask >> (d - 1) & 1)
			len += snprintf(buf + len, n - len, "%s%d", len ? "|" : "", d);
}

/* A time, or an empty field for one that never came (never started, never finished). */
static void time_text(double t, char buf[32])
{
	if (isfinite(t))
		snprintf(buf, 32, "%.6f", t);
	else
		buf[0] = 0;
}

int ts_sim_write_requests_csv(const struct ts_sim_result *r, const char *path)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f) {
		ts_err("sim", "%s: %s", path, strerror(errno));
		return TS_EIO;
	}
	/* frames last: readers that cut the older columns by position keep working. */
	fprintf(f, "id,arrival,start,finish,latency,deadline,met,degrees,width,height,migrations,"
		   "gpu_s,frames\n");
	for (int i = 0; i < r->requests; i++) {
		const struct ts_sim_req *q = &r->req[i];
		char deg[128], start[32], finish[32], latency[32];

		degrees_text(q->degrees_mask, deg, sizeof(deg));
		time_text(q->start_s, start);
		time_text(q->finish_s, finish);
		time_text(q->finish_s - q->arrival_s, latency);
		fprintf(f, "%llu,%.6f,%s,%s,%s,%.6f,%d,%s,%d,%d,%d,%.6f,%d\n",
			(unsigned long long)q->id, q->arrival_s, start, finish, latency,
			q->deadline_s, q->met, deg, q->width, q->height, q->migrations, q->gpu_s,
			q->frames);
	}
	if (ferror(f))
		err = TS_EIO;
	if (fclose(f) && !err)
		err = TS_EIO;
	if (err)
		ts_err("sim", "%s: write failed", path);
	return err;
}

#ifdef TS_HAVE_JANSSON
/* JSON has no NaN: an unknown figure is null. */
static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *by_resolution(const struct ts_sim_result *r)
{
	json_t *o = json_object();

	for (int i = 0; i < r->n_res; i++) {
		const struct ts_sim_res_stat *s = &r->by_res[i];
		char key[32];

		snprintf(key, sizeof(key), "%dx%d", s->width, s->height);
		json_object_set_new(o, key, num(s->n ? (double)s->met / s->n : NAN));
	}
	return o;
}

int ts_sim_write_summary_json(const struct ts_sim_result *r, const char *path)
{
	json_t *o = json_object();
	int err;

	json_object_set_new(o, "policy", json_string(r->policy));
	json_object_set_new(o, "devices", json_integer(r->n_devices));
	json_object_set_new(o, "slo_scale", num(r->slo_scale));
	json_object_set_new(o, "requests", json_integer(r->requests));
	json_object_set_new(o, "completed", json_integer(r->completed));
	json_object_set_new(o, "met", json_integer(r->met));
	json_object_set_new(o, "sar", num(r->sar));
	json_object_set_new(o, "sar_by_resolution", by_resolution(r));
	json_object_set_new(o, "latency_mean", num(r->latency_mean));
	json_object_set_new(o, "latency_p50", num(r->latency_p50));
	json_object_set_new(o, "latency_p99", num(r->latency_p99));
	json_object_set_new(o, "gpu_seconds", num(r->gpu_seconds));
	json_object_set_new(o, "mean_degree", num(r->mean_degree));
	json_object_set_new(o, "makespan_s", num(r->makespan_s));
	json_object_set_new(o, "rounds", json_integer(r->rounds));
	json_object_set_new(o, "plan_calls", json_integer(r->plan_calls));
	json_object_set_new(o, "plan_wall_s", num(r->plan_wall_s));
	json_object_set_new(o, "plan_max_s", num(r->plan_max_s));
	json_object_set_new(o, "runs", json_integer(r->runs));
	json_object_set_new(o, "migrations", json_integer(r->migrations));
	json_object_set_new(o, "group_cache", json_pack("{s:I, s:I, s:I, s:f}",
		"hits", (json_int_t)r->cache_hits, "misses", (json_int_t)r->cache_misses,
		"evictions", (json_int_t)r->cache_evictions, "create_s", r->cache_create_s));
	if (r->swap_policy[0]) {
		json_object_set_new(o, "swapped_to", json_string(r->swap_policy));
		json_object_set_new(o, "swapped_at_s", num(r->swapped_at_s));
	}
	if (!isnan(r->sar_upper_bound))
		json_object_set_new(o, "sar_upper_bound", num(r->sar_upper_bound));
	json_object_set_new(o, "wall_s", num(r->wall_s));
	err = json_dump_file(o, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ? TS_EIO : 0;
	json_decref(o);
	if (err)
		ts_err("sim", "%s: cannot write", path);
	return err;
}
#else
int ts_sim_write_summary_json(const struct ts_sim_result *r, const char *path)
{
	ts_err("sim", "%s: built without jansson (run scripts/install-deps, ./configure)", path);
	return TS_ENOTSUP;
}
#endif

void ts_sim_print_summary(const struct ts_sim_result *r, FILE *f)
{
	fprintf(f, "policy %s%s%s on %d devices, SLO scale %.2f: %d requests, %d completed\n",
		r->policy, r->swap_policy[0] ? " -> " : "", r->swap_policy, r->n_devices,
		r->slo_scale, r->requests, r->completed);
	fprintf(f, "  %-12s %8s %8s\n", "resolution", "requests", "SAR");
	for (int i = 0; i < r->n_res; i++) {
		const struct ts_sim_res_stat *s = &r->by_res[i];

		fprintf(f, "  %5dx%-6d %8d %8.3f\n", s->width, s->height, s->n,
			s->n ? (double)s->met / s->n : NAN);
	}
	fprintf(f, "  %-12s %8d %8.3f\n", "all", r->requests, r->sar);
	fprintf(f, "  latency p50 %.3f s, p99 %.3f s, mean %.3f s; GPU-seconds %.1f; mean degree %.2f\n",
		r->latency_p50, r->latency_p99, r->latency_mean, r->gpu_seconds, r->mean_degree);
	fprintf(f, "  %ld runs, %ld migrations, %ld plan calls (%.3f ms total, max %.3f ms); "
		   "groups: %ld hits, %ld misses, %ld evictions\n",
		r->runs, r->migrations, r->plan_calls, r->plan_wall_s * 1e3, r->plan_max_s * 1e3,
		r->cache_hits, r->cache_misses, r->cache_evictions);
	if (!isnan(r->sar_upper_bound))
		fprintf(f, "  SAR upper bound %.3f\n", r->sar_upper_bound);
}
