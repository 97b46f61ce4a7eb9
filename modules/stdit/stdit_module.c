/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_module.c - the module descriptor and the model ops
 * tables. stdit.so exports only ts_module_stdit_v1().
 *
 * One model, two names: "stdit" so that a section with module = stdit finds
 * it without a kind key (the simulator looks the model up by the module's
 * name), and "stdit3", the name Open-Sora's golden cases carry.
 */
#include "stdit.h"

#define STDIT_OPS(name_)                                                         \
	{                                                                        \
		.hdr = TS_ABI_HDR(TS_MAGIC_MODEL, struct ts_model_ops),           \
		.name = name_,                                                   \
		.description = "Open-Sora 1.2 STDiT3 (text-to-video), rectified " \
			       "flow, Ulysses sequence parallel over positions",  \
		.keys = stdit_keys,                                              \
		.configure = stdit_configure, .release = stdit_release,          \
		.load = stdit_load, .unload = stdit_unload,                      \
		.plan = stdit_plan, .cost = stdit_cost,                          \
		.scratch_bytes = stdit_scratch_bytes,                            \
		.begin = stdit_begin, .step = stdit_step, .finish = stdit_finish, \
		.run_case = stdit_run_case,                                      \
	}

static const struct ts_model_ops stdit_ops[] = { STDIT_OPS("stdit"), STDIT_OPS("stdit3") };

static int stdit_init(const struct ts_host *host, struct ts_module *self)
{
	for (size_t i = 0; i < sizeof(stdit_ops) / sizeof(stdit_ops[0]); i++) {
		int err = host->register_model(self, &stdit_ops[i]);

		if (err)
			return err; /* the host drops what this module registered */
	}
	return 0;
}

TS_MODULE(stdit, .version = "1.0.0", .license = "MIT",
	  .description = "Open-Sora STDiT3 video denoiser with step-level sequence parallelism",
	  .init = stdit_init);
