/* SPDX-License-Identifier: MIT */
/*
 * modules/common/latent.c - the sampled latent as finish() hands it out
 * (latent.h).
 */
#include <string.h>

#include "latent.h"

int mc_latent_out(const struct ts_host *host, const struct ts_work *w, const float *latent,
		  struct ts_tensor *out)
{
	float *data = out->data;

	if (!data) {
		data = host->alloc(sizeof(float) * (size_t)w->latent_elems);
		if (!data)
			return TS_ENOMEM;
	}
	memcpy(data, latent, sizeof(float) * (size_t)w->latent_elems);
	out->dtype = TS_F32;
	out->ndim = w->latent_shape_ndim;
	memcpy(out->shape, w->latent_shape, sizeof(out->shape));
	out->data = data;
	return 0;
}
