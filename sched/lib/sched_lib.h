/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/sched_lib.h - policy code shared by the scheduler modules: cost
 * lookups, the minimal-GPU-hour split of a request's remaining steps, the
 * group-knapsack DP over GPU count, and a growable scratch allocator.
 *
 * Linked statically into each policy .so (built with -fvisibility=hidden, so
 * none of these names leave the module). Everything here is a pure function
 * of its arguments, except the scratch buffers a policy owns.
 */
#ifndef TS_SCHED_LIB_H
#define TS_SCHED_LIB_H

#include <stddef.h>
#include <stdint.h>

#include <tetri/policy.h>

/* Seconds per step at degree index @di with batch 1, or a negative value when not profiled. */
double ts_sched_step(const struct ts_cost *c, int di);
/* Seconds per step at degree index @di with @batch requests, negative when not profiled. */
double ts_sched_step_b(const struct ts_cost *c, int di, int batch);
/* Index of @degree in the table, or -1. */
int ts_sched_deg_index(const struct ts_cost *c, int degree);
/* Number of leading degree indices usable on a pool of @n_devices (profiled, degree <= n). */
int ts_sched_ndeg(const struct ts_cost *c, int n_devices);
/*
 * Fastest step time over the degrees usable on @n_devices; its index goes to
 * @di_out when not NULL. Returns a negative value when no degree is usable.
 */
double ts_sched_tmin(const struct ts_cost *c, int n_devices, int *di_out);
/* Smallest usable degree index whose step time is below @t (strictly), or -1. */
int ts_sched_faster(const struct ts_cost *c, int n_devices, int di, int max_degree);

/**
 * struct ts_sched_split - how to run the remaining steps: @n segments (1 or 2),
 * segment m runs @steps[m] steps at degree index @di[m] (ascending degree).
 * @gpu_s: GPU-seconds of the whole split; @time_s: its run time without queueing.
 */
struct ts_sched_split {
	int n;
	int di[2];
	int steps[2];
	double gpu_s;
	double time_s;
};

/*
 * The minimal-GPU-seconds way to run @steps steps within @slack seconds on
 * degrees usable with @n_devices, using one degree or two. Returns 0 with the
 * split, or TS_ERANGE when even the fastest degree throughout misses the
 * slack (the split is then "all steps at the fastest degree").
 */
int ts_sched_split(const struct ts_cost *c, int steps, double slack, int n_devices,
		   struct ts_sched_split *out);

/**
 * struct ts_sched_item - one group of the knapsack: pick at most one option.
 * The implicit option "none" has width 0 and value @none_value.
 */
#define TS_SCHED_MAX_OPT 4
struct ts_sched_item {
	int n_opt;
	int width[TS_SCHED_MAX_OPT];
	int64_t value[TS_SCHED_MAX_OPT];
	int64_t none_value;
};

/**
 * struct ts_sched_knap - the DP's buffers, kept between rounds so that a plan
 * does not allocate unless the problem outgrew every earlier one.
 */
struct ts_sched_knap {
	size_t cap_items, cap_width;
	int64_t *dp, *next;
	int8_t *back; /* [item][width]: option taken, -1 = none, -2 = unreachable */
};

int ts_sched_knap_reserve(struct ts_sched_knap *k, size_t items, size_t width);
void ts_sched_knap_free(struct ts_sched_knap *k);
/*
 * Maximise the sum of values over at most one option per item with total
 * width <= @cap. Among equal totals the smallest total width wins (leaves the
 * most devices for scale-up). @choice[i] gets the option index or -1 (none).
 * Returns the total width used, or a negative TS_E* when the buffers cannot grow.
 */
int ts_sched_knap_solve(struct ts_sched_knap *k, const struct ts_sched_item *items, int n,
			int cap, int *choice);

/* Grow *@buf (elements of @size) to at least @want elements; 0 or TS_ENOMEM. */
int ts_sched_grow(void **buf, size_t *cap, size_t want, size_t size);

#endif /* TS_SCHED_LIB_H */
