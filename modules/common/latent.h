/* SPDX-License-Identifier: MIT */
/*
 * modules/common/latent.h - the last part of a model's finish(): the
 * sampled latent handed to the decoder as a tensor of the work's shape.
 */
#ifndef TS_MC_LATENT_H
#define TS_MC_LATENT_H

#include <tetri/tetri.h>

/*
 * Copy @latent (the work's latent_elems floats) into @out, as F32 of the
 * work's latent shape. @out->data is filled when set, else host->alloc'ed
 * here (the caller frees it with host->free). 0 or TS_ENOMEM.
 */
int mc_latent_out(const struct ts_host *host, const struct ts_work *w, const float *latent,
		  struct ts_tensor *out);

#endif /* TS_MC_LATENT_H */
