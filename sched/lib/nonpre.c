/* SPDX-License-Identifier: MIT */
/* sched/lib/nonpre.c - list scheduling for the non-preemptive baselines. */
#include <stdlib.h>

#include <tetri/error.h>

#include "nonpre.h"
#include "sched_lib.h"

int ts_nonpre_reset(struct ts_nonpre *l, int n)
{
	size_t want = n > 0 ? (size_t)n : 1;
	int ret;

	l->n = 0;
	ret = ts_sched_grow((void **)&l->idx, &l->cap_idx, want, sizeof(*l->idx));
	if (!ret)
		ret = ts_sched_grow((void **)&l->degree, &l->cap_degree, want, sizeof(*l->degree));
	if (!ret)
		ret = ts_sched_grow((void **)&l->key, &l->cap_key, want, sizeof(*l->key));
	return ret;
}

void ts_nonpre_free(struct ts_nonpre *l)
{
	free(l->idx);
	free(l->degree);
	free(l->key);
	*l = (struct ts_nonpre){ 0 };
}

void ts_nonpre_push(struct ts_nonpre *l, int idx, int degree, double key)
{
	l->idx[l->n] = idx;
	l->degree[l->n] = degree;
	l->key[l->n] = key;
	l->n++;
}

/* 1 when entry @j sorts after (@key, @idx): larger key, or the same and later in the view. */
static int after(const struct ts_nonpre *l, int j, double key, int idx)
{
	return l->key[j] > key || (l->key[j] == key && l->idx[j] > idx);
}

/*
 * Insertion sort: the list is short (requests waiting for devices) and
 * already nearly in order (arrival order, and deadlines follow arrivals).
 */
void ts_nonpre_sort(struct ts_nonpre *l)
{
	for (int i = 1; i < l->n; i++) {
		int idx = l->idx[i], deg = l->degree[i], j = i;
		double key = l->key[i];

		while (j > 0 && after(l, j - 1, key, idx)) {
			l->idx[j] = l->idx[j - 1];
			l->degree[j] = l->degree[j - 1];
			l->key[j] = l->key[j - 1];
			j--;
		}
		l->idx[j] = idx;
		l->degree[j] = deg;
		l->key[j] = key;
	}
}

int ts_nonpre_start(const struct ts_nonpre *l, const struct ts_round_view *v, int idle,
		    int backfill, struct ts_plan *plan)
{
	for (int i = 0; i < l->n && idle > 0 && plan->n < plan->cap; i++) {
		if (l->degree[i] > idle) {
			if (!backfill)
				break;
			continue;
		}
		plan->a[plan->n++] = (struct ts_assign){
			.req = l->idx[i],
			.degree = l->degree[i],
			.steps = v->req[l->idx[i]].steps_left,
		};
		idle -= l->degree[i];
	}
	return idle;
}

int ts_nonpre_startable(const struct ts_req_view *q)
{
	return !q->running && q->steps_left > 0 && q->cost;
}
