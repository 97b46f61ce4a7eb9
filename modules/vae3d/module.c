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

static int configure_auto(const struct ts_host *host, const struct ts_section *sec, void **out)
{
	return vae_configure_as(host, sec, out, NULL);
}

static int configure_sd(const struct ts_host *host, const struct ts_section *sec, void **out)
{
	return vae_configure_as(host, sec, out, "sd");
}

static int configure_temporal(const struct ts_host *host, const struct ts_section *sec, void **out)
{
	return vae_configure_as(host, sec, out, "temporal");
}

static int configure_opensora(const struct ts_host *host, const struct ts_section *sec, void **out)
{
	return vae_configure_as(host, sec, out, "opensora");
}

#define VAE_OPS(name_, desc_, configure_)                                        \
	{                                                                        \
		.hdr = TS_ABI_HDR(TS_MAGIC_DECODER, struct ts_decoder_ops),       \
		.name = name_, .description = desc_, .keys = vae_keys,           \
		.configure = configure_, .release = vae_release,                 \
		.load = vae_load, .unload = vae_unload, .decode = vae_decode,    \
		.cost = vae_cost, .encode = vae_encode, .run_case = vae_run_case, \
	}

/*
 * "vae3d" takes whatever VAE the weights file holds (a [model X] section with
 * module = vae3d and no kind). The others insist on their kind; two are the
 * upstream model names the golden files' metadata carry, so `tetriserve
 * run-case` finds them.
 */
static const struct ts_decoder_ops vae_ops[] = {
	VAE_OPS("vae3d", "SD kl-f8 VAE, Open-Sora 1.2 temporal VAE, or both as Open-Sora's "
		"video pipeline (from the weights)", configure_auto),
	VAE_OPS("sd_vae_decoder", "SD kl-f8 VAE decoder (CompVis AutoencoderKL.decode)",
		configure_sd),
	VAE_OPS("vae_temporal", "Open-Sora 1.2 temporal VAE (VAE_Temporal)", configure_temporal),
	VAE_OPS("opensora_vae_v1_2", "Open-Sora 1.2 video VAE pipeline (temporal, then SD per "
		"frame)", configure_opensora),
};

static int vae3d_init(const struct ts_host *host, struct ts_module *self)
{
	for (size_t i = 0; i < sizeof(vae_ops) / sizeof(vae_ops[0]); i++) {
		int err = host->register_decoder(self, &vae_ops[i]);

		if (err)
			return err; /* the host drops what this module registered */
	}
	return 0;
}

TS_MODULE(vae3d, .version = "1.0.0", .license = "MIT",
	  .description = "latent decoders: SD VAE (2-D) and Open-Sora's temporal VAE (3-D)",
	  .init = vae3d_init);
