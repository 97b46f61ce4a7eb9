/* SPDX-License-Identifier: MIT */
/*
 * sched/slice/slice.c - our policy: TetriServe's round (the same split, DP
 * and scale-up, sched/lib/tround.c) made event-driven, with optional work
 * cut into short slices and gangs drained for at-risk requests.
 *
 * Why: in the paper's rounds a request that arrives mid-round waits for the
 * boundary, because scale-up leaves no device idle; at 1.0x SLO a 2048²
 * FLUX request has 0.34 s of slack and a 256² one 0.12 s at one device, so
 * that wait alone loses them. Here the engine plans at every arrival and
 * completion. Work the DP needs (a request that dies unless it runs now)
 * still gets a whole round; optional work (scale-up of safe requests, late
 * requests) gets @slice steps, so devices come back within a step or two.
 * When the DP could not fit a request that would survive with its option,
 * no optional work starts: the devices that free up gather into its gang.
 *
 * [scheduler] keys: slice (steps per optional assignment), drain, preserve,
 * late; round length as for tetri.
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/host.h>
#include <tetri/module.h>
#include <tetri/policy.h>

#include "../lib/tround.h"

static const struct ts_key slice_params[] = {
	{ .name = "slice", .type = TS_KEY_INT, .def = "1", .min = 0, .max = 1000,
	  .help = "steps per optional (scale-up, late) assignment; 0 = a whole round" },
	{ .name = "drain", .type = TS_KEY_BOOL, .def = "1",
	  .help = "hold freed devices for an at-risk request the DP could not fit" },
	{ .name = "late_gate", .type = TS_KEY_BOOL, .def = "1",
	  .help = "late requests run only while no request can still be saved" },
	{ .name = "exact_lb", .type = TS_KEY_BOOL, .def = "1",
	  .help = "judge an option by when its own steps end, not by the round boundary" },
	{ .name = "tiebreak", .type = TS_KEY_ENUM, .def = "deadline", .choices = "deadline|work",
	  .help = "among equal survivor counts save the earliest deadlines or the least work" },
	{ .name = "preserve", .type = TS_KEY_BOOL, .def = "1",
	  .help = "placement preservation: keep a request's device set when free" },
	{ .name = "late", .type = TS_KEY_ENUM, .def = "besteffort", .choices = "besteffort|single",
	  .help = "late requests: one device, grown when idle (besteffort) or never (single)" },
	{ .name = NULL },
};

static int slice_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct ts_tround_cfg cfg = { .preserve = 1, .scaleup = 1, .late_grow = 1,
				     .slice_steps = 1, .drain = 1, .late_gate = 1,
				     .exact_lb = 1 };
	struct ts_tround *t;
	const char *late;

	if (params) {
		cfg.slice_steps = (int)host->cfg_int(params, "slice");
		cfg.drain = host->cfg_bool(params, "drain");
		cfg.late_gate = host->cfg_bool(params, "late_gate");
		cfg.exact_lb = host->cfg_bool(params, "exact_lb");
		cfg.preserve = host->cfg_bool(params, "preserve");
		cfg.least_work = !strcmp(host->cfg_str(params, "tiebreak"), "work");
		late = host->cfg_str(params, "late");
		cfg.late_grow = !late || strcmp(late, "single") != 0;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		host->log(TS_LOG_ERROR, "slice", "out of memory for the policy state");
		return TS_ENOMEM;
	}
	ts_tround_init(t, &cfg);
	*self = t;
	return 0;
}

static int slice_plan(void *self, const struct ts_round_view *view, struct ts_plan *plan)
{
	return ts_tround_plan(self, view, plan);
}

static void slice_destroy(void *self)
{
	ts_tround_fini(self);
	free(self);
}

static const struct ts_policy_ops slice_ops = {
	.hdr = { .magic = TS_MAGIC_POLICY, .major = TS_ABI_MAJOR, .minor = TS_ABI_MINOR,
		 .size = sizeof(struct ts_policy_ops), .flags = TS_POLICY_EVENT_DRIVEN },
	.name = "slice",
	.description = "tetri, event-driven: optional work in short slices, gangs drained",
	.params = slice_params,
	.create = slice_create,
	.plan = slice_plan,
	.destroy = slice_destroy,
};

static int slice_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &slice_ops);
}

TS_MODULE(slice, .version = "1.0.0", .license = "MIT",
	  .description = "tetri with event-driven slices and gang draining (ours)",
	  .init = slice_init);
