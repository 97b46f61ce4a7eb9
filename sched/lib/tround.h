/* SPDX-License-Identifier: MIT */
/*
 * sched/lib/tround.h - one TetriServe round (spec §2.3), shared by sched/tetri
 * (the paper, knobs at their paper values) and our own policies (extensions
 * switched on by knobs that default to off).
 */
#ifndef TS_SCHED_TROUND_H
#define TS_SCHED_TROUND_H

#include <tetri/policy.h>

#include "sched_lib.h"

/* Default round granularity in steps when the view gives neither steps nor seconds. */
#define TS_TROUND_DEFAULT_STEPS 5

/**
 * struct ts_tround_cfg - what the round does beyond the DP.
 * @preserve: flag assignments TS_ASSIGN_PRESERVE (placement preservation).
 * @scaleup: work-conserving elastic scale-up of idle devices.
 * @late_grow: late requests may grow past one device when devices are still idle.
 *
 * Extensions (ours; 0 = the paper):
 * @slice_steps: optional work (scale-up starts, late requests) runs at most
 *              this many steps per assignment, so its devices come back soon
 *              for whoever arrives next (with an event-driven engine).
 * @drain:      when the DP could not fit a request that would survive with
 *              its option, start no optional work: the devices that free up
 *              gather into the gang it needs.
 * @late_gate:  late requests get devices only when no request in the view
 *              (running ones included) can still make its deadline: a late
 *              step on one device can take longer than a tight request's slack.
 * @exact_lb:   an option that does not finish survives if its own steps end
 *              early enough (now + q T + rest x T_min <= D): an event-driven
 *              engine replans when they end, not at the round boundary.
 * @least_work: among plans that save as many, save those with the least
 *              remaining work (GPU-seconds of their split), not the earliest
 *              deadlines.
 */
struct ts_tround_cfg {
	int preserve;
	int scaleup;
	int late_grow;
	int slice_steps;
	int drain;
	int least_work;
	int late_gate;
	int exact_lb;
};

enum ts_tround_state { TR_SKIP = 0, TR_WAIT, TR_RUN, TR_LATE };

/* Per-request scratch of one round. */
struct ts_tround_req {
	int idx;             /* index into view->req */
	int state;           /* enum ts_tround_state */
	const struct ts_cost *cost;
	double deadline;
	int steps_left;
	double tmin;
	struct ts_sched_split split;
	int n_opt;
	int opt_di[2], opt_q[2], opt_sv[2];
	int sv_none;
	int di, q;           /* the assignment when state is TR_RUN or a started TR_LATE */
	int needed;          /* chosen by the DP: it must run to survive */
};

struct ts_tround {
	struct ts_tround_cfg cfg;
	struct ts_sched_knap knap;
	struct ts_tround_req *r;
	size_t cap_r;
	struct ts_sched_item *items;
	size_t cap_items;
	int *item_req, *choice, *order;
	size_t cap_item_req, cap_choice, cap_order;
	struct ts_tround_key { double key; int j; } *keys;
	size_t cap_keys;
	int *srt;            /* indices into r by deadline (sorting keys, not requests) */
	size_t cap_srt;
	/* Fastest step per cost table, memoised for one plan (few step types). */
	const struct ts_cost *tm_cost[8];
	double tm_val[8];
	int tm_n;
	/* Set by the last plan, for tests and benchmarks. */
	double tau;
	int best_effort;     /* nothing savable: one step per assignment */
	int n_items;
	int dp_used;
	int n_unfit;         /* at-risk requests the DP left out */
};

int ts_tround_init(struct ts_tround *t, const struct ts_tround_cfg *cfg);
void ts_tround_fini(struct ts_tround *t);
/* One round: fill @plan from @view. 0 or TS_E*. */
int ts_tround_plan(struct ts_tround *t, const struct ts_round_view *view, struct ts_plan *plan);


#endif /* TS_SCHED_TROUND_H */
