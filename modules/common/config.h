/* SPDX-License-Identifier: MIT */
/*
 * modules/common/config.h - the keys every model section reads the same way
 * (its instance name, weights / random_weights), for the model modules'
 * configure(). Linked into each model module (modules/common/build.ninja).
 */
#ifndef TS_MC_CONFIG_H
#define TS_MC_CONFIG_H

#include <stddef.h>

#include <tetri/tetri.h>

/*
 * Keys both model families define alike, for their ts_key tables: the
 * random stand-in that mc_cfg_weights reads, and timm's MLP width and
 * LayerNorm epsilon.
 */
#define MC_KEY_RANDOM_WEIGHTS \
	{ .name = "random_weights", .type = TS_KEY_BOOL, .def = "false", \
	  .help = "weights from N(0, 1/fan_in) instead of a file (benchmarks, profiling)" }
#define MC_KEY_MLP_RATIO \
	{ .name = "mlp_ratio", .type = TS_KEY_FLOAT, .def = "4.0", .min = 0.01, .max = 64, \
	  .help = "MLP hidden size / D" }
#define MC_KEY_LAYERNORM_EPS \
	{ .name = "layernorm_eps", .type = TS_KEY_FLOAT, .def = "1e-6", .min = 0, .max = 1, \
	  .help = "LayerNorm epsilon" }

/* The section's instance ("model dit-xl-2" -> "dit-xl-2") into @out[@n]. */
void mc_cfg_instance(const struct ts_host *host, const struct ts_section *sec, char *out,
		     size_t n);

/*
 * `random_weights` into *@random, and `weights` (required unless random) as
 * a host->alloc'ed copy in *@path ("(random weights)" without a file, so
 * log lines always have a name). 0, or the error it logged / TS_ENOMEM.
 */
int mc_cfg_weights(const struct ts_host *host, const struct ts_section *sec, int *random,
		   char **path);

#endif /* TS_MC_CONFIG_H */
