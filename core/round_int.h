/* SPDX-License-Identifier: MIT */
/*
 * core/round_int.h - the round engine's insides, shared by round.c (the
 * loop, rounds and policy swap) and dispatch.c (plan -> placed runs).
 */
#ifndef TS_CORE_ROUND_INT_H
#define TS_CORE_ROUND_INT_H

#include "round.h"

/* An assignment (or a batch group of them) on its way to becoming a run. */
struct pend_run {
	struct ts_run run;
	uint32_t flags;
	int group_id;
	int has_explicit;
	struct ts_devset explicit_set;
	int state; /* PEND_* */
};

enum { PEND_NEW = 0, PEND_PLACED, PEND_REJECTED };

struct ts_engine {
	struct ts_engine_cfg cfg;
	struct ts_reqtable rt;

	const struct ts_policy_ops *pol;
	void *pol_self;
	const struct ts_policy_ops *next_pol;
	void *next_self;

	struct ts_run *runs;   /* [n_slots] */
	int n_slots;
	int *free_slot, n_free_slot;
	int *heap, heap_n;     /* slots, min end_s first */
	uint64_t seq;

	double boundary;       /* next round boundary; INFINITY = at the next event */
	int hold;              /* ts_engine_hold: no plan points, runs in flight end */
	double now;

	/* per-plan scratch, sized for the active list */
	int view_cap;
	struct ts_req_view *view;
	int *view_idx;
	unsigned char *taken;
	struct ts_assign *assign;
	struct pend_run *pend;

	struct ts_engine_stats st;
};

/* dispatch.c */
int ts_dispatch_plan(struct ts_engine *e, const struct ts_plan *plan, int n_view,
		     double *longest_step_s);
void ts_dispatch_complete(struct ts_engine *e, int slot);
/* A run an executor reported ended (maybe early, maybe with failed devices). */
void ts_dispatch_report(struct ts_engine *e, const struct ts_run_report *rep);

/* round.c: a request ended cancelled or failed: the executor may free its state */
void ts_engine_drop(struct ts_engine *e, int idx);

/* round.c: the heap of runs in flight */
void ts_runheap_push(struct ts_engine *e, int slot);
int ts_runheap_pop(struct ts_engine *e);
/* Take run @slot out of the heap wherever it is; 0, or TS_ENOENT. */
int ts_runheap_remove(struct ts_engine *e, int slot);

#endif /* TS_CORE_ROUND_INT_H */
