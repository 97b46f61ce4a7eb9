/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_module.c - the module descriptor and the model ops
 * table. stdit.so exports only ts_module_stdit_v1(); the model kind is
 * "stdit3", the name golden cases carry in their metadata.
 */
#include "stdit.h"

static const struct ts_model_ops stdit_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_MODEL, struct ts_model_ops),
	.name = "stdit3",
	.description = "Open-Sora 1.2 STDiT3 (text-to-video), rectified flow, "
		       "Ulysses sequence parallel over spatial positions",
	.keys = stdit_keys,
	.configure = stdit_configure,
	.release = stdit_release,
	.load = stdit_load,
	.unload = stdit_unload,
	.plan = stdit_plan,
	.cost = stdit_cost,
	.scratch_bytes = stdit_scratch_bytes,
	.begin = stdit_begin,
	.step = stdit_step,
	.finish = stdit_finish,
	.run_case = stdit_run_case,
};

static int stdit_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_model(self, &stdit_ops);
}

TS_MODULE(stdit, .version = "1.0.0", .license = "MIT",
	  .description = "Open-Sora STDiT3 video denoiser with step-level sequence parallelism",
	  .init = stdit_init);
