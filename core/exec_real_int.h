/* SPDX-License-Identifier: MIT */
/*
 * core/exec_real_int.h - the real executor's insides, shared by exec_real.c
 * (lanes, runs, reports) and exec_req.c (request state: placement,
 * migration, checkpoints, finish).
 */
#ifndef TS_CORE_EXEC_REAL_INT_H
#define TS_CORE_EXEC_REAL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include <tetri/devset.h>

#include "exec_real.h"

#define XR_MAX_MODELS 16
#define XR_MAX_DEGREE 64 /* devices one run may span */

struct xmodel {
	const struct ts_model_ops *ops;
	void *inst;
	void **weights; /* [n devices] */
};

/*
 * One request's state. @home: the devices whose latent is current (empty:
 * only the host checkpoint is). Touched by the lane of its run in flight,
 * or by the engine's thread when none is (never both: a request has at most
 * one run in flight).
 */
struct xreq {
	int idx;                  /* request table index, -1 for a profiling probe */
	int model;
	struct ts_req_params p;
	char sampler[32];
	struct ts_work w;
	void *state, *state_bak;  /* host blobs: now, and before the step running */
	float *ckpt;              /* the latent after the last completed step */
	void **lat;               /* [n devices] device latents, NULL off @home */
	struct ts_devset home;
	atomic_int steps_done;
	int finished;
	struct ts_tensor out;
};

/* A run handed to a lane; indexed by the engine's run slot. */
struct xjob {
	struct ts_exec_real *x;
	int slot, degree, steps, batch;
	int dev[XR_MAX_DEGREE];          /* members, ascending */
	struct ts_dev *devs[XR_MAX_DEGREE];
	struct ts_devset set;
	struct ts_comm *comm;
	struct xmodel *m;
	struct xreq *req[TS_RUN_MAX_BATCH];
	const struct ts_req_params *params[TS_RUN_MAX_BATCH];
	void *state[TS_RUN_MAX_BATCH];
	void *lat[XR_MAX_DEGREE][TS_RUN_MAX_BATCH]; /* [rank][b] */
	int step_index;
	int rank_err[XR_MAX_DEGREE];
	atomic_int cancel;
	struct ts_run_report rep;
};

struct xlane {
	struct ts_exec_real *x;
	int dev;
	pthread_t tid;
	pthread_cond_t cv;
	struct xjob *job;
	int started;
};

struct ts_exec_real {
	struct ts_pool *pool;
	struct ts_clock *clock;
	const struct ts_host *host;
	int n;
	struct xlane *lane;      /* [n] */
	struct xjob *jobs;       /* [n]: one per engine run slot */
	int quit;

	pthread_mutex_t lock;    /* lanes' mailboxes, reports, stats */
	pthread_cond_t report_cv;
	int *reports, n_reports; /* slots of ended runs, oldest first */
	int in_flight;

	struct xmodel models[XR_MAX_MODELS];
	int n_models;
	/*
	 * Request idx at req[idx - req_base], NULL = none (not added, or
	 * forgotten). Indices below req_hi were added (or failed to be); the
	 * req_lead NULLs at the front are let go together (xr_req_let_go).
	 */
	struct xreq **req;       /* [req_cap] */
	int req_cap, req_base, req_hi, req_lead;

	void **scratch;          /* [n] per device, reused by every step */
	size_t *scratch_bytes;
	atomic_long *fail_in;    /* [n] injected faults: fail when this reaches 0 from 1 */
	atomic_int *bad;         /* [n] devices a failed step was blamed on (lanes read it) */
	ts_exec_progress_fn on_progress;
	void *progress_arg;

	struct ts_exec_real_stats st;
};

/* Request @idx, or NULL; the engine's thread, or under x->lock. */
static inline struct xreq *xr_req_at(const struct ts_exec_real *x, int idx)
{
	return idx >= x->req_base && idx - x->req_base < x->req_cap ? x->req[idx - x->req_base]
								    : NULL;
}

/* exec_req.c: a request outside the table (profiling); NULL on failure (logged) */
struct xreq *xr_req_new(struct ts_exec_real *x, int model, const struct ts_req_params *p);
/* The engine's thread: take @idx out of the table and free it. */
void xr_req_forget(struct ts_exec_real *x, int idx);

/* exec_req.c: on the lane of the request's run */
int xr_req_place(struct ts_exec_real *x, struct xjob *j, struct xreq *q);
int xr_req_checkpoint(struct ts_exec_real *x, struct xjob *j, struct xreq *q);
void xr_req_restore(struct ts_exec_real *x, struct xreq *q);
int xr_req_finish(struct ts_exec_real *x, struct xreq *q);
void xr_req_free(struct ts_exec_real *x, struct xreq *q);
/* No run in flight: free the request's device latents. */
void xr_req_drop(struct ts_exec_real *x, struct xreq *q);

double xr_mono(void);

#endif /* TS_CORE_EXEC_REAL_INT_H */
