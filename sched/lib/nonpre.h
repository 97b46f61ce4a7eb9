/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/nonpre.h - list scheduling for the non-preemptive baselines
 * (rssp, edf, the xDiT style): requests run start to finish at one degree.
 */
#ifndef TS_SCHED_NONPRE_H
#define TS_SCHED_NONPRE_H

#include <stddef.h>

#include <tetri/policy.h>

/**
 * struct ts_nonpre - scratch of a list scheduler, kept between plans.
 * @idx: view indices of the startable requests in priority order.
 * @degree: the degree each of them asks for (parallel to @idx).
 * @key: the sort key of each (parallel to @idx).
 */
struct ts_nonpre {
	int *idx, *degree;
	double *key;
	size_t cap_idx, cap_degree, cap_key;
	int n;
};

/* Room for @n entries; 0 or TS_ENOMEM. Resets the list. */
int ts_nonpre_reset(struct ts_nonpre *l, int n);
void ts_nonpre_free(struct ts_nonpre *l);
/* Append request @idx wanting @degree, ordered by @key (ties: append order). */
void ts_nonpre_push(struct ts_nonpre *l, int idx, int degree, double key);
/* Sort by key, stable on view index. */
void ts_nonpre_sort(struct ts_nonpre *l);
/*
 * Start requests in list order on the free devices, each for all its
 * remaining steps. @backfill 0: stop at the first one that does not fit
 * (FCFS head-of-line blocking, as xDiT); 1: skip it and try the next.
 * Returns the devices left idle.
 */
int ts_nonpre_start(const struct ts_nonpre *l, const struct ts_round_view *v, int idle,
		    int backfill, struct ts_plan *plan);

/* 1 when request @q can be started now (not running, steps left, a cost table). */
int ts_nonpre_startable(const struct ts_req_view *q);

#endif /* TS_SCHED_NONPRE_H */
