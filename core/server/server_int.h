/* SPDX-License-Identifier: MIT */
/*
 * core/server/server_int.h - the server's insides, shared by its files:
 * the job table (jobs.c), the engine thread and its mailbox
 * (engine_link.c), metrics (metrics.c), HTTP routing (http.c, sse.c,
 * admin.c) and start/stop (server.c).
 *
 * Locking: everything below `mu` is guarded by it. The engine (eng, pool,
 * cache, env) belongs to the engine thread alone; what HTTP threads need
 * from it is copied out under `mu` after every engine tick.
 */
#ifndef TS_SERVER_SERVER_INT_H
#define TS_SERVER_SERVER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "groupcache.h"
#include "round.h"
#include "request.h"
#include "server.h"

struct ts_cost;
struct ts_sim_env;
struct ts_rt;
struct srv_real;
struct MHD_Daemon;

enum job_state {
	JOB_QUEUED = 0,
	JOB_RUNNING,
	JOB_DECODING,
	JOB_COMPLETED,
	JOB_FAILED,
	JOB_CANCELLED,
};

const char *ts_srv_job_state_name(enum job_state s);

static inline int job_final(enum job_state s)
{
	return s >= JOB_COMPLETED;
}

/* One image of a job: one request of the engine. */
struct job_sub {
	int eidx;            /* engine request index, -1 before submission */
	int steps_done;      /* including the interpolated part of a run in flight */
	int finished;
	double run_start;    /* engine time the current run was first seen */
	double run_end;      /* its estimated end (busy_until_s), to notice a new run */
	int run_steps, run_degree;
	int run_base;        /* steps done before the current run */
};

struct ts_job {
	char id[32];
	uint64_t seq;
	enum job_state state;
	struct ts_genreq req;
	int shape;           /* index into srv->shapes */
	double created_s, started_s, finished_s, deadline_s, predicted_s;
	int queue_pos;
	int steps_total, steps_done;
	int late, best_effort;
	int cancel_req, cancel_sent, in_engine;
	int shutdown;        /* cancelled by the server stopping: ends failed, not cancelled */
	char error[160];
	unsigned version;    /* bumped on every visible change (SSE, waiters) */
	int refs;            /* HTTP threads holding it across an unlock: not evicted */
	struct job_sub sub[TS_API_MAX_N];
	struct ts_job *hnext;        /* id hash chain */
	struct ts_job *lprev, *lnext; /* live list, submission order */
	struct ts_job *mnext;        /* mailbox, then the decode queue */
	/* real executor only: final latents (copies), then the PNGs (or the MP4) as base64 */
	struct ts_tensor lat[TS_API_MAX_N];
	char *b64[TS_API_MAX_N];
	unsigned char *mp4;  /* a video job's MP4 (n = 1), served raw as video/mp4 */
	size_t mp4_len;
	int has_images;
};

/*
 * A (model, size, frames, steps) the server has costed: step times from the cost
 * table, resolved once (profiles at start, module-costed shapes on first
 * request through the engine thread, which owns the cost book).
 */
struct srv_shape {
	int model, width, height;
	int frames;          /* 1 for an image */
	const struct ts_cost *cost;
	int klass;
	double min_step_s;   /* fastest step: widest allowed degree, batch 1 */
	double base_step_s;  /* one device, batch 1: the standalone pace the SLO scales */
	int min_degree;
	double decode_s;     /* decode time of one image, a moving average (real executor) */
};

#define SRV_MAX_SHAPES 128

/* Admin and lookup work that must run on the engine thread. */
enum link_op_kind { OP_SHAPE, OP_POLICY, OP_DRAIN, OP_LOAD, OP_UNLOAD };

#define OP_MAX_PARAMS 16

struct link_op {
	enum link_op_kind kind;
	char name[128];                 /* policy, or [model NAME] */
	char params[OP_MAX_PARAMS][128]; /* "key=value" policy params */
	int n_params;
	int dev, model, width, height, frames;
	int done, rc, status;
	char msg[256];
	struct link_op *next;
};

/* Histograms with fixed upper bounds (seconds), Prometheus-style cumulative on output. */
#define HIST_MAX_BUCKETS 16

struct hist {
	const double *le;
	int n_le;
	long count[HIST_MAX_BUCKETS + 1];
	double sum;
	long n;
};

void ts_srv_hist_init(struct hist *h, const double *le, int n_le);
void ts_srv_hist_add(struct hist *h, double v);

struct shape_metrics {
	struct hist latency, queue, decode;
};

#define ROLLING_N 100
#define DEGREE_SLOTS 8 /* degrees 1, 2, 4, ... 128 */

struct srv_metrics {
	long submitted, completed, failed, cancelled, late, met, finished;
	long rejected_full, rejected_deadline, bad_requests, best_effort;
	unsigned char rolling[ROLLING_N];
	int rolling_n, rolling_pos;
	struct shape_metrics shape[SRV_MAX_SHAPES];
	struct hist step_s[DEGREE_SLOTS];
	double service_sum;
	/* engine snapshot, copied by the engine thread */
	struct ts_engine_stats est;
	struct ts_groupcache_stats gst;
	int n_devices, n_healthy, n_free;
	int engine_held;     /* entries of the engine's request table */
	long exec_held;      /* requests the real executor keeps state for (0 on sim) */
};

struct ts_server {
	pthread_mutex_t mu;
	pthread_cond_t engine_cv; /* engine thread: mail arrived */
	pthread_cond_t job_cv;    /* HTTP threads: some job or op changed */

	/* engine thread only */
	struct ts_config *cfg;
	struct ts_clock *clk;     /* the engine's real clock */
	struct ts_sim_env *env;   /* sim executor: cost tables on the wall clock */
	struct ts_rt *rt;         /* real executor: models run on the [pool] devices */
	struct srv_real *real;    /* its decoders and the decode thread */
	struct ts_pool *pool;
	struct ts_groupcache *cache;
	struct ts_clock clock;
	struct ts_engine *eng;
	struct ts_config **kept_cfgs; /* policy params and reloaded files: live until stop */
	int n_kept_cfgs;
	double last_arrival;
	pthread_t engine_thread;
	int engine_started;

	struct MHD_Daemon *mhd;
	uint16_t port;

	/* settings, read-only after start */
	int queue_limit;
	size_t max_body;
	int infeasible_best_effort;
	double default_slo_scale;
	double tick_s;
	char admin_token[256];
	int has_admin_token;
	double epoch0;       /* unix time at clock zero */
	uint64_t id_nonce;

	/*
	 * guarded by mu; the catalog also by cat_rw: HTTP threads parse against
	 * it under a read lock without mu, a model loaded at run time is added
	 * under the write lock (and mu).
	 */
	pthread_rwlock_t cat_rw;
	struct ts_api_catalog cat;
	int model_loaded[TS_API_MAX_MODELS];
	struct srv_shape shapes[SRV_MAX_SHAPES];
	int n_shapes;
	struct ts_job **jobs;  /* jobs kept, submission order: jobs[head .. head + n_jobs) */
	size_t head, n_jobs, cap_jobs;
	uint64_t first_seq, next_seq; /* seq of jobs[head]; of the next job */
	size_t job_history;
	struct ts_job **hash;
	size_t hash_cap;
	struct ts_job *mbox_head, **mbox_tail;
	struct link_op *ops_head, **ops_tail;
	struct ts_job live;    /* sentinel of the live list (submitted, not final) */
	int n_live, n_queued, n_decoding;
	int stopping, draining, ready;
	int closing;         /* HTTP is stopping: blocked handlers return */
	char policy[64];
	struct srv_metrics m;
};

/* jobs.c */
int ts_srv_jobs_init(struct ts_server *s);
void ts_srv_jobs_release(struct ts_server *s);
/* Under mu: a new queued job, added to the table and the mailbox. */
struct ts_job *ts_srv_job_create(struct ts_server *s, const struct ts_genreq *rq, int shape);
struct ts_job *ts_srv_job_find(struct ts_server *s, const char *id);
/* Under mu: the kept job of submission number @seq, or NULL (evicted or not yet). */
struct ts_job *ts_srv_job_at(struct ts_server *s, uint64_t seq);
void ts_srv_job_touch(struct ts_server *s, struct ts_job *j);

/* engine_link.c */
int ts_srv_link_start(struct ts_server *s);
void ts_srv_link_stop(struct ts_server *s);
/* Under mu: queue @op for the engine thread and wait until it is done. */
void ts_srv_link_call(struct ts_server *s, struct link_op *op);
/* @sh's step times from cost table @c (klass @klass); TS_ERANGE when no degree runs it. */
int ts_srv_shape_fill(struct srv_shape *sh, const struct ts_cost *c, int klass);
/* Under mu: the shape index of (model, w, h), resolved through the engine if new; < 0 on error. */
int ts_srv_link_shape(struct ts_server *s, int model, int w, int h, int frames,
		      struct ts_api_error *err);

/* server.c: a [model NAME] into the cost book and the catalog (engine thread or start). */
int ts_srv_catalog_add_model(struct ts_server *s, struct ts_section *sec);

/* metrics.c */
void ts_srv_metrics_init(struct srv_metrics *m);
void ts_srv_metrics_finish(struct ts_server *s, const struct ts_job *j);
/* Prometheus text of everything; malloc'ed, *len its length. Under mu. */
char *ts_srv_metrics_render(struct ts_server *s, size_t *len);

/* http.c */
int ts_srv_http_start(struct ts_server *s, const char *listen);
void ts_srv_http_stop(struct ts_server *s);

static inline double srv_now(struct ts_server *s)
{
	return ts_clock_now(s->clk);
}

/* real.c: the real executor (ts_rt) behind the server, and its decoders. */
int ts_srv_real_open(struct ts_server *s);
void ts_srv_real_close(struct ts_server *s);
/* Engine thread, under mu. */
int ts_srv_real_shape(struct ts_server *s, int model, int w, int h, int frames,
		      struct srv_shape *sh);
int ts_srv_real_submit(struct ts_server *s, struct ts_job *j, double now);
int ts_srv_real_progress(struct ts_server *s, int eidx);
/*
 * [model NAME] @sec of @cfg (kept alive by the caller) loaded on every device
 * and served; the engine held with no run in flight. 0, or an error with
 * @msg saying why.
 */
int ts_srv_real_load(struct ts_server *s, struct ts_config *cfg, struct ts_section *sec,
		     char *msg, size_t msg_len);
/* All images done: 1 when the job went to the decode thread, 0 to complete it now, < 0 failed. */
int ts_srv_real_finished(struct ts_server *s, struct ts_job *j);
void ts_srv_job_free_images(struct ts_job *j);

/* The frame rate of a video whose request gave none (Open-Sora's default). */
#define TS_SRV_VIDEO_FPS 24
/* The most frames a video request may ask of the real executor. */
#define TS_SRV_MAX_FRAMES 256

/* Frames [1, 3, T, H, W] in [-1, 1] into an MP4 at @fps (0: the default), malloc'ed. */
int ts_srv_video_mp4(const struct ts_tensor *img, double fps, unsigned char **mp4, size_t *len);
/* @n bytes as base64 (malloc'ed), or NULL. */
char *ts_srv_base64(const unsigned char *p, size_t n);

#endif /* TS_SERVER_SERVER_INT_H */
