/* SPDX-License-Identifier: MIT */
/*
 * sched/tetri/tetri.c - the TetriServe policy (the paper's round scheduler):
 * minimal-GPU-hour splits, the survival DP over GPU count, placement
 * preservation, elastic scale-up and best-effort late requests. The round
 * itself is sched/lib/tround.c; this file is the module around it.
 *
 * [scheduler] keys: preserve, scaleup (the ablation: both 0 = DP only),
 * late = besteffort (late requests may grow when devices idle) | single
 * (never more than one device). Round length: the engine's round_steps/round_ms.
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/host.h>
#include <tetri/module.h>
#include <tetri/policy.h>

#include "../lib/tround.h"

static const struct ts_key tetri_params[] = {
	{ .name = "preserve", .type = TS_KEY_BOOL, .def = "1",
	  .help = "placement preservation: keep a request's device set when free" },
	{ .name = "scaleup", .type = TS_KEY_BOOL, .def = "1",
	  .help = "work-conserving elastic scale-up of idle devices" },
	{ .name = "late", .type = TS_KEY_ENUM, .def = "besteffort", .choices = "besteffort|single",
	  .help = "late requests: one device, grown when idle (besteffort) or never (single)" },
	{ .name = NULL },
};

static int tetri_create(const struct ts_host *host, const struct ts_section *params, void **self)
{
	struct ts_tround_cfg cfg = { .preserve = 1, .scaleup = 1, .late_grow = 1 };
	struct ts_tround *t;
	const char *late;

	if (params) {
		cfg.preserve = host->cfg_bool(params, "preserve");
		cfg.scaleup = host->cfg_bool(params, "scaleup");
		late = host->cfg_str(params, "late");
		cfg.late_grow = !late || strcmp(late, "single") != 0;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		host->log(TS_LOG_ERROR, "tetri", "out of memory for the policy state");
		return TS_ENOMEM;
	}
	ts_tround_init(t, &cfg);
	*self = t;
	return 0;
}

static int tetri_plan(void *self, const struct ts_round_view *view, struct ts_plan *plan)
{
	return ts_tround_plan(self, view, plan);
}

static void tetri_destroy(void *self)
{
	ts_tround_fini(self);
	free(self);
}

static const struct ts_policy_ops tetri_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_policy_ops),
	.name = "tetri",
	.description = "TetriServe: deadline-aware rounds, survival DP over GPU count",
	.params = tetri_params,
	.create = tetri_create,
	.plan = tetri_plan,
	.destroy = tetri_destroy,
};

static int tetri_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_policy(self, &tetri_ops);
}

TS_MODULE(tetri, .version = "1.0.0", .license = "MIT",
	  .description = "TetriServe round scheduler (the paper's policy)", .init = tetri_init);
