/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/knap.c - the group knapsack over GPU count (the paper's
 * Algorithm 1): dp[c] is the best value using exactly c devices; each item
 * (request) adds at most one of its options. O(items x cap x options).
 */
#include <stdlib.h>

#include <tetri/error.h>

#include "sched_lib.h"

#define KNAP_NONE (-1)
#define KNAP_UNREACHED (-2)
#define KNAP_NEG INT64_MIN

int ts_sched_grow(void **buf, size_t *cap, size_t want, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *p;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	p = realloc(*buf, n * size);
	if (!p)
		return TS_ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

int ts_sched_knap_reserve(struct ts_sched_knap *k, size_t items, size_t width)
{
	size_t cw = k->cap_width, ci = k->cap_items;
	int ret;

	/* dp and next share the width capacity; back needs items x width. */
	if (width + 1 > cw || items > ci) {
		size_t w = width + 1 > cw ? width + 1 : cw;
		size_t wcap = 0, wcap2 = 0, bcap = 0;

		free(k->dp);
		free(k->next);
		free(k->back);
		k->dp = NULL;
		k->next = NULL;
		k->back = NULL;
		k->cap_items = 0;
		k->cap_width = 0;
		ret = ts_sched_grow((void **)&k->dp, &wcap, w, sizeof(*k->dp));
		if (!ret)
			ret = ts_sched_grow((void **)&k->next, &wcap2, wcap, sizeof(*k->next));
		if (ret)
			return ret;
		if (items < ci)
			items = ci;
		ret = ts_sched_grow((void **)&k->back, &bcap, (items ? items : 1) * wcap,
				    sizeof(*k->back));
		if (ret)
			return ret;
		k->cap_width = wcap;
		k->cap_items = bcap / wcap;
	}
	return 0;
}

void ts_sched_knap_free(struct ts_sched_knap *k)
{
	free(k->dp);
	free(k->next);
	free(k->back);
	*k = (struct ts_sched_knap){ 0 };
}

static void knap_item(const struct ts_sched_item *it, const int64_t *dp, int64_t *next,
		      int8_t *back, int cap)
{
	for (int c = 0; c <= cap; c++) {
		if (dp[c] == KNAP_NEG) {
			next[c] = KNAP_NEG;
			back[c] = KNAP_UNREACHED;
		} else {
			next[c] = dp[c] + it->none_value;
			back[c] = KNAP_NONE;
		}
	}
	for (int o = 0; o < it->n_opt; o++) {
		int w = it->width[o];
		int64_t v = it->value[o];

		for (int c = w; c <= cap; c++) {
			if (dp[c - w] == KNAP_NEG || dp[c - w] + v <= next[c])
				continue;
			next[c] = dp[c - w] + v;
			back[c] = (int8_t)o;
		}
	}
}

int ts_sched_knap_solve(struct ts_sched_knap *k, const struct ts_sched_item *items, int n,
			int cap, int *choice)
{
	size_t stride = (size_t)cap + 1;
	int64_t *dp, *next, *tmp;
	int ret, best = 0;

	if (cap < 0 || n < 0)
		return TS_EINVAL;
	ret = ts_sched_knap_reserve(k, (size_t)n, (size_t)cap);
	if (ret)
		return ret;
	dp = k->dp;
	next = k->next;
	for (int c = 0; c <= cap; c++)
		dp[c] = KNAP_NEG;
	dp[0] = 0;
	for (int i = 0; i < n; i++) {
		knap_item(&items[i], dp, next, k->back + (size_t)i * stride, cap);
		tmp = dp;
		dp = next;
		next = tmp;
	}
	/* Strict '>' keeps the smallest width among equal values. */
	for (int c = 1; c <= cap; c++)
		if (dp[c] != KNAP_NEG && dp[c] > dp[best])
			best = c;
	for (int i = n - 1, c = best; i >= 0; i--) {
		int o = k->back[(size_t)i * stride + c];

		choice[i] = o >= 0 ? o : -1;
		if (o >= 0)
			c -= items[i].width[o];
	}
	return best;
}
