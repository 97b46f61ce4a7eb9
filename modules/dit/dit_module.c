/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_module.c - the module descriptor and the model ops table.
 * dit.so exports only ts_module_dit_v1().
 */
#include "dit.h"

static const struct ts_model_ops dit_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_MODEL, struct ts_model_ops),
	.name = "dit",
	.description = "DiT (facebookresearch/DiT), class-conditional, respaced DDPM/DDIM, "
		       "Ulysses sequence parallel",
	.keys = dit_keys,
	.configure = dit_configure,
	.release = dit_release,
	.load = dit_load,
	.unload = dit_unload,
	.plan = dit_plan,
	.cost = dit_cost,
	.scratch_bytes = dit_scratch_bytes,
	.begin = dit_begin,
	.step = dit_step,
	.finish = dit_finish,
	.run_case = dit_run_case,
};

static int dit_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_model(self, &dit_ops);
}

TS_MODULE(dit, .version = "1.0.0", .license = "MIT",
	  .description = "DiT denoiser with step-level sequence parallelism", .init = dit_init);
