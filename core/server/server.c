// SPDX-License-Identifier: MIT
/*
 * core/server/server.c - start and stop: settings from [server], the
 * models being served (the catalog the request parser checks against),
 * the engine thread, then HTTP; and the drain on stop.
 *
 * Two engines behind the same API, by [pool] backend: cpu or cuda run the
 * models on the devices through the real executor and decode PNGs
 * (real.c); sim runs the simulated executor on the real clock, every step
 * taking its cost-table time on the wall clock, so admission, deadlines,
 * progress, metrics and the job lifecycle are real but no pixels are made
 * (results say "images": "none ..."): the profiles of GPUs this machine
 * lacks, and the tests' millisecond model.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <tetri/error.h>

#include "../config.h" /* not $builddir/config.h */
#include "costtable.h"
#include "log.h"
#include "registry.h"
#include "server_int.h"
#include "sim_int.h"

#define DEFAULT_STEPS 28
#define MAX_STEPS 1000
#define MODULE_CLASSES 1000 /* class-conditional module models: ImageNet labels */

static int read_token(struct ts_server *s, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		ts_err("server", "admin_token_file %s: %s", path, strerror(errno));
		return TS_EIO;
	}
	n = fread(s->admin_token, 1, sizeof(s->admin_token) - 1, f);
	fclose(f);
	s->admin_token[n] = 0;
	s->admin_token[strcspn(s->admin_token, "\r\n")] = 0;
	if (strlen(s->admin_token) < 16) {
		ts_err("server", "admin_token_file %s: want a token of at least 16 characters "
		       "on the first line", path);
		return TS_EINVAL;
	}
	s->has_admin_token = 1;
	return 0;
}

static int settings(struct ts_server *s, struct ts_section *srv)
{
	const char *tok = ts_cfg_str(srv, "admin_token_file");

	s->queue_limit = (int)ts_cfg_int(srv, "queue_limit");
	s->max_body = (size_t)ts_cfg_int(srv, "max_body_bytes");
	s->infeasible_best_effort = !strcmp(ts_cfg_str(srv, "infeasible"), "best_effort");
	s->default_slo_scale = ts_cfg_float(srv, "slo_scale");
	s->tick_s = ts_cfg_float(srv, "engine_tick_ms") / 1e3;
	s->job_history = (size_t)ts_cfg_int(srv, "job_history");
	return tok ? read_token(s, tok) : 0;
}

static int env_has_module_model(const struct ts_sim_env *env, const char *name)
{
	for (int i = 0; i < env->n_models; i++)
		if (!strcmp(env->models[i].name, name))
			return 1;
	return 0;
}

/* The catalog entry of [model NAME] the env already costs; its profile sizes become shapes. */
static int catalog_register(struct ts_server *s, struct ts_section *sec)
{
	const char *name = ts_section_instance(sec);
	struct ts_api_model *m;
	int line;

	if (s->cat.n == TS_API_MAX_MODELS) {
		ts_err("server", "[model %s]: at most %d models are served", name, TS_API_MAX_MODELS);
		return TS_ENOMEM;
	}
	if (strlen(name) >= TS_API_NAME_MAX) {
		ts_err("server", "[model %s]: name longer than %d", name, TS_API_NAME_MAX - 1);
		return TS_EINVAL;
	}
	m = &s->cat.m[s->cat.n];
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->default_steps = ts_section_raw(sec, "steps", &line) ? (int)ts_cfg_int(sec, "steps")
							       : DEFAULT_STEPS;
	m->max_steps = m->default_steps > MAX_STEPS ? m->default_steps : MAX_STEPS;
	for (int i = 0; i < ts_costbook_count(s->env->costs); i++) {
		const struct ts_cost *c = ts_costbook_at(s->env->costs, i);
		struct srv_shape *sh = &s->shapes[s->n_shapes];

		if (strcmp(c->model, name) || c->frames > 1 || m->n_sizes == TS_API_MAX_SIZES ||
		    s->n_shapes == SRV_MAX_SHAPES)
			continue;
		*sh = (struct srv_shape){
			.model = s->cat.n, .width = c->width, .height = c->height, .frames = 1,
		};
		if (ts_srv_shape_fill(sh, c, i))
			continue;
		s->n_shapes++;
		m->w[m->n_sizes] = c->width;
		m->h[m->n_sizes++] = c->height;
	}
	if (!m->n_sizes) {
		if (!env_has_module_model(s->env, name)) {
			ts_warn("server", "[model %s]: no profile table and no module cost: not served",
				name);
			return 0;
		}
		m->n_classes = MODULE_CLASSES;
	}
	s->model_loaded[s->cat.n++] = 1;
	return 0;
}

int ts_srv_catalog_add_model(struct ts_server *s, struct ts_section *sec)
{
	const char *profile = ts_cfg_str(sec, "profile");
	int err;

	err = profile ? ts_costbook_load_csv(s->env->costs, profile, ts_section_instance(sec))
		      : ts_sim_model_add(s->env, sec);
	return err ? err : catalog_register(s, sec);
}

static int catalog_build(struct ts_server *s)
{
	struct ts_section *sec;
	int err = 0;

	for (int i = 0; !err && (sec = ts_config_section_at(s->cfg, i)); i++)
		if (!strcmp(ts_section_kind(sec), "model"))
			err = catalog_register(s, sec);
	if (!err && !s->cat.n) {
		ts_err("server", "%s: no [model NAME] can be served", ts_config_path(s->cfg));
		err = TS_EINVAL;
	}
	return err;
}

static void free_server(struct ts_server *s)
{
	ts_srv_jobs_release(s);
	ts_sim_env_free(s->env);
	pthread_cond_destroy(&s->job_cv);
	pthread_rwlock_destroy(&s->cat_rw);
	pthread_cond_destroy(&s->engine_cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int ts_server_start(struct ts_config *cfg, const struct ts_server_opts *o,
		    struct ts_server **out)
{
	struct ts_section *srv = ts_config_section_get(cfg, "server");
	struct ts_server *s = calloc(1, sizeof(*s));
	struct timeval tv;
	int err;

	if (!s || !srv) {
		free(s);
		return TS_ENOMEM;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->engine_cv, NULL);
	pthread_cond_init(&s->job_cv, NULL);
	pthread_rwlock_init(&s->cat_rw, NULL);
	s->cfg = cfg;
	ts_srv_metrics_init(&s->m);
	ts_config_apply_server(cfg);
	gettimeofday(&tv, NULL);
	s->id_nonce = ((uint64_t)tv.tv_sec * 1000003u ^ (uint64_t)tv.tv_usec) & 0xffffffffu;
	err = settings(s, srv);
	if (!err)
		err = ts_srv_jobs_init(s);
	/* sim: cost tables on the wall clock; cpu/cuda: the real executor (real.c). */
	if (!err && !strcmp(ts_cfg_str(ts_config_section_get(cfg, "pool"), "backend"), "sim")) {
		err = ts_sim_env_from_config(cfg, &s->env);
		if (!err)
			err = catalog_build(s);
	}
	if (!err)
		err = ts_srv_link_start(s);
	if (err) {
		ts_srv_link_stop(s);
		free_server(s);
		return err;
	}
	s->epoch0 = (double)tv.tv_sec + tv.tv_usec * 1e-6 - srv_now(s);
	err = ts_srv_http_start(s, o && o->listen ? o->listen : ts_cfg_str(srv, "listen"));
	if (err) {
		ts_srv_link_stop(s);
		free_server(s);
		return err;
	}
	pthread_mutex_lock(&s->mu);
	s->ready = 1;
	pthread_mutex_unlock(&s->mu);
	*out = s;
	return 0;
}

uint16_t ts_server_port(const struct ts_server *s)
{
	return s->port;
}

static void wait_for(struct ts_server *s, double seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(seconds * 1e9);
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&s->job_cv, &s->mu, &ts);
}

static int busy(const struct ts_server *s)
{
	return s->n_live || s->mbox_head || s->n_decoding;
}

void ts_server_stop(struct ts_server *s, double grace_s)
{
	double end;
	long left = 0;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->draining = 1;
	end = srv_now(s) + grace_s;
	ts_info("server", "draining: %d job(s) queued or running, up to %.0f s", s->n_live +
		(s->mbox_head != NULL), grace_s);
	while (busy(s) && srv_now(s) < end)
		wait_for(s, 0.1);
	for (size_t i = s->head; i < s->head + s->n_jobs; i++) {
		struct ts_job *j = s->jobs[i];

		if (job_final(j->state))
			continue;
		j->cancel_req = j->shutdown = 1;
		snprintf(j->error, sizeof(j->error), "server shutting down");
		left++;
	}
	if (left)
		ts_warn("server", "%ld job(s) left at shutdown: failed with a reason", left);
	pthread_cond_signal(&s->engine_cv);
	/* A running job stops after its step in flight; give that a bounded time. */
	end = srv_now(s) + 30;
	while (busy(s) && srv_now(s) < end)
		wait_for(s, 0.1);
	s->closing = 1;
	pthread_cond_broadcast(&s->job_cv);
	pthread_mutex_unlock(&s->mu);
	ts_srv_http_stop(s);
	ts_srv_link_stop(s);
	ts_info("server", "stopped: %ld submitted, %ld completed, %ld failed, %ld cancelled",
		s->m.submitted, s->m.completed, s->m.failed, s->m.cancelled);
	free_server(s);
}
