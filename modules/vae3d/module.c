// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/module.c - the vae3d module: registers one decoder, "vae3d",
 * whose section picks the SD VAE, Open-Sora's temporal VAE, or both composed
 * as Open-Sora 1.2's video pipeline (from the weights file's keys).
 */
#include <string.h>

#include "vae3d.h"

static int vae_load(void *dec, struct ts_dev *dev, void **weights)
{
	struct vae_dec *d = dec;
	struct vae_weights *w = d->host->alloc(sizeof(*w));

	if (!w)
		return TS_ENOMEM;
	memset(w, 0, sizeof(*w));
	if (d->sd_ps.n) {
		w->sd = vae_params_upload(&d->sd_ps, dev);
		if (!w->sd)
			goto fail;
	}
	if (d->tv_ps.n) {
		w->tv = vae_params_upload(&d->tv_ps, dev);
		if (!w->tv)
			goto fail;
	}
	*weights = w;
	return 0;
fail:
	vae_params_free(&d->sd_ps, dev, w->sd);
	d->host->free(w);
	return TS_ENOMEM;
}

static void vae_unload(void *dec, struct ts_dev *dev, void *weights)
{
	struct vae_dec *d = dec;
	struct vae_weights *w = weights;

	if (!w)
		return;
	vae_params_free(&d->sd_ps, dev, w->sd);
	vae_params_free(&d->tv_ps, dev, w->tv);
	d->host->free(w);
}

/* Analytic: the decode's multiply-accumulates at the device's peak rate (2 FLOPs each). */
static double vae_cost(void *dec, const struct ts_tensor *z, const struct ts_device_info *dev)
{
	struct vae_dec *d = dec;
	double flops = dev && dev->peak_flops > 0 ? dev->peak_flops : 1e11;
	int64_t B = z->shape[0], T = z->ndim == 5 ? z->shape[2] : 1;
	int64_t h = z->shape[z->ndim - 2], w = z->shape[z->ndim - 1];
	double macs = 0;

	if (d->kind != VAE_SD) {
		int64_t f = d->tv.time_factor, chunk = (d->micro_frames + f - 1) / f;

		macs += B * tv_decode_macs(&d->tv, T, h, w);
		T = d->kind == VAE_OPENSORA ? (T / chunk) * d->micro_frames + (T % chunk) * f : T * f;
	}
	if (d->kind != VAE_TEMPORAL)
		macs += (double)B * T * sd_decode_macs(&d->sd, h, w);
	return 2.0 * macs / flops;
}

static const struct ts_decoder_ops vae_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_DECODER, struct ts_decoder_ops),
	.name = "vae3d",
	.description = "SD kl-f8 VAE decoder, Open-Sora 1.2 temporal VAE, and their video pipeline",
	.keys = vae_keys,
	.configure = vae_configure,
	.release = vae_release,
	.load = vae_load,
	.unload = vae_unload,
	.decode = vae_decode,
	.cost = vae_cost,
	.encode = vae_encode,
	.run_case = vae_run_case,
};

static int vae3d_init(const struct ts_host *host, struct ts_module *self)
{
	return host->register_decoder(self, &vae_ops);
}

TS_MODULE(vae3d, .version = "1.0.0", .license = "MIT",
	  .description = "latent decoders: SD VAE (2-D) and Open-Sora's temporal VAE (3-D)",
	  .init = vae3d_init);
