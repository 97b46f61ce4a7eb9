/* SPDX-License-Identifier: MIT */
/*
 * core/reqtable.h - the request table: every request the engine knows, its
 * lifecycle state, progress, deadline and placement history.
 *
 * Requests are added in arrival order (a request may be added before it
 * arrives: the simulator adds a whole trace up front). The active list holds
 * the arrived, unfinished ones in arrival order: that is what a policy sees.
 *
 * Indices only grow: request idx stays idx for its whole life. A long-running
 * owner (the server) forgets finished requests once it has taken their
 * results; forgotten requests at the front of the table are let go, so the
 * memory follows the requests in flight, not every request ever served.
 * Request idx lives at r[idx - base]; base stays 0 until something is
 * forgotten, so code that never forgets may index r[idx] directly.
 */
#ifndef TS_CORE_REQTABLE_H
#define TS_CORE_REQTABLE_H

#include <stdint.h>

#include <tetri/devset.h>
#include <tetri/policy.h>

enum ts_req_state {
	TS_REQ_PENDING = 0, /* added, arrival time not reached yet */
	TS_REQ_QUEUED,      /* arrived, waiting for its next assignment */
	TS_REQ_RUNNING,     /* an assignment is in flight */
	TS_REQ_DECODING,    /* all steps done, decoder running */
	TS_REQ_DONE,
	TS_REQ_FAILED,
	TS_REQ_CANCELLED,
};

const char *ts_req_state_name(enum ts_req_state s);

/** struct ts_req_spec - what a new request brings. */
struct ts_req_spec {
	uint64_t id;
	double arrival_s;
	double deadline_s;
	int steps;
	int width, height, frames;
	const struct ts_cost *cost;
	uint32_t klass;
};

/**
 * struct ts_req - one request in the table.
 * @late: the deadline passed before it finished.
 * @has_set, @last_set, @last_degree: its latest assignment.
 * @migrations: assignments whose device set differed from the previous one.
 * @deg_steps: sum over its steps of the degree they ran at.
 * @run: slot of the in-flight run, -1 if none.
 * @cancel: cancelled while running: it stops when the run in flight ends.
 */
struct ts_req {
	uint64_t id;
	enum ts_req_state state;
	int late;
	uint32_t klass;
	const struct ts_cost *cost;
	int width, height, frames;
	int steps_total, steps_done, steps_inflight;
	double arrival_s, deadline_s, start_s, finish_s, busy_until_s;
	int has_set, last_degree;
	struct ts_devset last_set;
	uint64_t degrees_mask;
	int migrations;
	long deg_steps;
	double gpu_s;
	int run;
	int cancel;
	int forgotten;
};

struct ts_reqtable {
	int n, cap;       /* n: requests ever added (the next index); cap: of r */
	struct ts_req *r; /* request idx at r[idx - base] */
	int base;         /* the index of r[0]: those before it were forgotten */
	int lead;         /* forgotten requests at the front of r, not yet let go */
	double last_arrival_s;
	int *active;      /* request indices, arrival order */
	int n_active;
	int next_arrival; /* first PENDING request */
	int n_finished;   /* DONE, FAILED or CANCELLED, forgotten ones included */
};

int ts_reqtable_init(struct ts_reqtable *t, int cap_hint);
void ts_reqtable_release(struct ts_reqtable *t);

/* Add a request (arrivals must not go back in time); *idx gets its index. */
int ts_reqtable_add(struct ts_reqtable *t, const struct ts_req_spec *s, int *idx);
/* Arrival time of the next PENDING request, or INFINITY. */
double ts_reqtable_next_arrival(const struct ts_reqtable *t);
/* Move every request that has arrived by @now to QUEUED; returns how many. */
int ts_reqtable_admit(struct ts_reqtable *t, double now);
/* Drop finished requests from the active list. */
void ts_reqtable_compact(struct ts_reqtable *t);
/* Final states: DONE (at @now), FAILED, CANCELLED. */
void ts_reqtable_finish(struct ts_reqtable *t, int idx, enum ts_req_state st, double now);

static inline int ts_req_finished(const struct ts_req *r)
{
	return r->state >= TS_REQ_DONE;
}

/* Request @idx, which must be held (in [base, n)); forgotten ones included. */
static inline struct ts_req *ts_reqtable_at(const struct ts_reqtable *t, int idx)
{
	return &t->r[idx - t->base];
}

/* Request @idx, or NULL when out of range or forgotten. */
static inline struct ts_req *ts_reqtable_get(const struct ts_reqtable *t, int idx)
{
	if (idx < t->base || idx >= t->n || t->r[idx - t->base].forgotten)
		return NULL;
	return &t->r[idx - t->base];
}

/* Requests whose entries the table holds (forgotten ones not yet let go included). */
static inline int ts_reqtable_held(const struct ts_reqtable *t)
{
	return t->n - t->base;
}

/*
 * Forget finished request @idx: ts_reqtable_get() says NULL from now on and
 * its memory goes once every request before it is forgotten too. TS_ENOENT
 * (bad index, already forgotten), TS_EBUSY (not finished, or a run in flight).
 */
int ts_reqtable_forget(struct ts_reqtable *t, int idx);

#endif /* TS_CORE_REQTABLE_H */
