// SPDX-License-Identifier: MIT
/*
 * modules/vae3d/config.c - the [model X] section of a vae3d decoder: which
 * VAE the weights file holds (found from its keys unless `kind` says), the
 * checkpoint's key prefix, and the decode settings.
 */
#include <stdio.h>
#include <string.h>

#include "vae3d.h"

const struct ts_key vae_keys[] = {
	{ .name = "weights", .type = TS_KEY_PATH, .required = 1,
	  .help = "safetensors file: SD VAE, Open-Sora temporal VAE, or Open-Sora's pipeline" },
	{ .name = "temporal_weights", .type = TS_KEY_PATH,
	  .help = "opensora: the temporal VAE's file when it is not in weights" },
	{ .name = "latent_scale", .type = TS_KEY_FLOAT, .def = "0.18215", .min = 1e-6, .max = 1e6,
	  .help = "SD latents are divided by this before decoding (1 = as given)" },
	/* Named as in the upstream configs, so `tetriserve run-case` sets them from a case. */
	{ .name = "groupnorm_groups", .type = TS_KEY_INT, .def = "32", .min = 1, .max = 4096,
	  .help = "GroupNorm groups (both VAEs)" },
	{ .name = "num_groups", .type = TS_KEY_INT, .def = "0", .min = 0, .max = 4096,
	  .help = "GroupNorm groups of the temporal VAE (0 = groupnorm_groups)" },
	{ .name = "groupnorm_eps", .type = TS_KEY_FLOAT, .def = "0", .min = 0, .max = 1,
	  .help = "GroupNorm eps (0 = each VAE's own: 1e-6 SD, 1e-5 temporal)" },
	{ .name = "frames", .type = TS_KEY_INT, .def = "0", .min = 0, .max = 1000000,
	  .help = "video frames wanted from a temporal decode (0 = every decoded frame)" },
	{ .name = "micro_frames", .type = TS_KEY_INT, .def = "17", .min = 1, .max = 4096,
	  .help = "opensora: frames per temporal chunk (upstream micro_frame_size)" },
	{ .name = "mem_budget_mib", .type = TS_KEY_INT, .def = "0", .min = 0, .max = 1 << 24,
	  .help = "device memory budget when the caller gives none (0 = unbounded)" },
	{ .name = NULL },
};

/* Open-Sora 1.2's per-channel latent statistics (VideoAutoencoderPipeline buffers). */
static const float os_shift[4] = { -0.10f, 0.34f, 0.27f, 0.98f };
static const float os_scale[4] = { 3.85f, 2.32f, 2.33f, 3.06f };

static const char *find_prefix(const struct ts_host *host, struct ts_st *st, const char *key,
			       const char *const *cands)
{
	char buf[VAE_KEY_MAX];
	struct ts_tensor t;

	for (int i = 0; cands[i]; i++) {
		snprintf(buf, sizeof(buf), "%s%s", cands[i], key);
		if (host->st_get(st, buf, &t) == 0)
			return cands[i];
	}
	return NULL;
}

static const char *const sd_prefixes[] = {
	"", "first_stage_model.", "vae.", "spatial_vae.module.", "spatial_vae.", NULL };
static const char *const tv_prefixes[] = { "", "temporal_vae.", NULL };

static const char *tv_prefix(const struct ts_host *host, struct ts_st *st)
{
	const char *p = find_prefix(host, st, "decoder.conv1.conv.weight", tv_prefixes);

	return p ? p : find_prefix(host, st, "encoder.conv_in.conv.weight", tv_prefixes);
}

/* Pipeline buffers "scale"/"shift" [1, C, 1, 1, 1] when the checkpoint has them. */
static int read_stats(struct vae_dec *d)
{
	const char *names[2] = { "scale", "shift" };
	float *dst[2] = { d->scale, d->shift };

	for (int k = 0; k < 2; k++) {
		struct ts_tensor t;
		char key[VAE_KEY_MAX];

		snprintf(key, sizeof(key), "%s", names[k]);
		if (d->host->st_get(d->st_t, key, &t))
			continue;
		if (t.dtype != TS_F32 || ts_tensor_numel(&t) != d->tv.z_ch) {
			d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: tensor '%s' must be F32 with %d "
				     "elements", d->host->st_path(d->st_t), key, d->tv.z_ch);
			return TS_EFORMAT;
		}
		memcpy(dst[k], t.data, sizeof(float) * (size_t)d->tv.z_ch);
	}
	return 0;
}

static int read_archs(struct vae_dec *d, const char *sd_pre, const char *tv_pre)
{
	int err = 0;

	if (sd_pre) {
		vae_params_init(&d->sd_ps, d->host, d->st, sd_pre);
		err = sd_arch_read(&d->sd_ps, &d->sd);
	}
	if (!err && tv_pre) {
		vae_params_init(&d->tv_ps, d->host, d->st_t, tv_pre);
		err = tv_arch_read(&d->tv_ps, &d->tv);
	}
	if (!err && d->kind == VAE_OPENSORA && d->tv.z_ch > 16) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: %d latent channels is too many",
			     d->host->st_path(d->st_t), d->tv.z_ch);
		err = TS_EFORMAT;
	}
	if (!err && d->kind == VAE_OPENSORA && !d->sd.dec_present) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: no SD decoder for Open-Sora's pipeline",
			     d->host->st_path(d->st));
		err = TS_ENOENT;
	}
	if (!err && d->kind == VAE_OPENSORA && d->tv.io_ch != d->sd.z_ch) {
		d->host->log(TS_LOG_ERROR, VAE_WHO, "%s: the temporal VAE gives %d channels, the SD "
			     "VAE takes %d", d->host->st_path(d->st_t), d->tv.io_ch, d->sd.z_ch);
		err = TS_EFORMAT;
	}
	return err;
}

static void set_defaults(struct vae_dec *d)
{
	d->latent_scale = 0.18215f;
	d->groups = 32;
	d->tv_groups = 32;
	d->sd_eps = 1e-6f;
	d->tv_eps = 1e-5f;
	d->micro_frames = 17;
	for (int c = 0; c < 16; c++) {
		d->shift[c] = c < 4 ? os_shift[c] : 0.0f;
		d->scale[c] = c < 4 ? os_scale[c] : 1.0f;
	}
}

/*
 * Open @path (and @tpath for the temporal VAE, NULL = in @path) and read the
 * architecture: an SD VAE, a temporal VAE, or both (Open-Sora's pipeline).
 */
int vae_open(const struct ts_host *host, const char *path, const char *tpath, struct vae_dec **out)
{
	struct vae_dec *d = host->alloc(sizeof(*d));
	const char *sd_pre, *tv_pre;
	int err;

	if (!d)
		return TS_ENOMEM;
	memset(d, 0, sizeof(*d));
	d->host = host;
	set_defaults(d);
	err = host->st_open(path, &d->st);
	if (!err && tpath)
		err = host->st_open(tpath, &d->st_t);
	if (err)
		goto fail;
	if (!d->st_t)
		d->st_t = d->st;
	sd_pre = find_prefix(host, d->st, "post_quant_conv.weight", sd_prefixes);
	if (!sd_pre) /* an encoder-only file */
		sd_pre = find_prefix(host, d->st, "quant_conv.weight", sd_prefixes);
	tv_pre = tv_prefix(host, d->st_t);
	if (!sd_pre && !tv_pre) {
		host->log(TS_LOG_ERROR, VAE_WHO, "%s: neither an SD VAE (missing tensor "
			  "'post_quant_conv.weight' or 'quant_conv.weight') nor a temporal VAE "
			  "(missing tensor 'decoder.conv1.conv.weight')", path);
		err = TS_ENOENT;
		goto fail;
	}
	d->kind = sd_pre && tv_pre ? VAE_OPENSORA : sd_pre ? VAE_SD : VAE_TEMPORAL;
	err = read_archs(d, sd_pre, tv_pre);
	if (!err && d->kind == VAE_OPENSORA)
		err = read_stats(d);
	if (err)
		goto fail;
	*out = d;
	return 0;
fail:
	vae_release(d);
	return err;
}

void vae_release(void *dec)
{
	struct vae_dec *d = dec;

	if (!d)
		return;
	vae_params_fini(&d->sd_ps);
	vae_params_fini(&d->tv_ps);
	if (d->st_t && d->st_t != d->st)
		d->host->st_close(d->st_t);
	if (d->st)
		d->host->st_close(d->st);
	d->host->free(d);
}

/* A decoder registered for one kind (the section's `kind = ...`) refuses the others. */
static int check_kind(const struct ts_host *host, const struct ts_section *sec, struct vae_dec *d,
		      const char *forced)
{
	static const char *const names[3] = { "sd", "temporal", "opensora" };

	if (!forced || !strcmp(forced, names[d->kind]))
		return 0;
	host->log(TS_LOG_ERROR, VAE_WHO, "%s: [%s] holds a%s %s VAE, but this decoder is for %s "
		  "VAEs (use kind = vae3d to take what the file holds)",
		  host->st_path(d->kind == VAE_TEMPORAL ? d->st_t : d->st), host->cfg_name(sec),
		  d->kind == VAE_SD ? "n" : "", names[d->kind], forced);
	return TS_EINVAL;
}

static int res_groups_ok(const struct vae_res *r, int g)
{
	return r->n1.c % g == 0 && r->n2.c % g == 0;
}

static int sd_enc_groups_ok(const struct sd_enc *e, int g)
{
	int ok = !e->present || (res_groups_ok(&e->mid1, g) && res_groups_ok(&e->mid2, g) &&
				 e->mid_attn.n.c % g == 0 && e->norm_out.c % g == 0);

	for (int i = 0; ok && e->present && i < e->n_levels; i++)
		for (int j = 0; ok && j < e->lv[i].n_blocks; j++)
			ok = res_groups_ok(&e->lv[i].block[j], g) &&
			     (!e->lv[i].has_attn || e->lv[i].attn[j].n.c % g == 0);
	return ok;
}

/* Every GroupNorm of the SD decoder and encoder splits into @g groups. */
static int sd_groups_ok(const struct sd_arch *a, int g)
{
	int ok = sd_enc_groups_ok(&a->enc, g);

	if (!a->dec_present)
		return ok;
	ok = ok && res_groups_ok(&a->mid1, g) && res_groups_ok(&a->mid2, g) &&
	     a->mid_attn.n.c % g == 0 && a->norm_out.c % g == 0;

	for (int k = 0; ok && k < a->n_levels; k++)
		for (int j = 0; ok && j < a->lv[k].n_blocks; j++)
			ok = res_groups_ok(&a->lv[k].block[j], g) &&
			     (!a->lv[k].has_attn || a->lv[k].attn[j].n.c % g == 0);
	return ok;
}

static int tv_half_groups_ok(const struct tv_half *h, int g)
{
	int ok = !h->present || h->norm.c % g == 0;

	for (int j = 0; ok && h->present && j < h->n_res; j++)
		ok = res_groups_ok(&h->res[j], g);
	for (int i = 0; ok && h->present && i < h->n_levels; i++)
		for (int j = 0; ok && j < h->lv[i].n_blocks; j++)
			ok = res_groups_ok(&h->lv[i].block[j], g);
	return ok;
}

/* Refused at configure, not halfway through a decode. */
static int check_groups(const struct ts_host *host, const struct ts_section *sec,
			const struct vae_dec *d)
{
	if (d->kind != VAE_TEMPORAL && !sd_groups_ok(&d->sd, d->groups))
		return host->cfg_error(sec, "groupnorm_groups", "%d does not divide the channels of "
				       "every GroupNorm in %s", d->groups, host->st_path(d->st));
	if (d->kind != VAE_SD && (!tv_half_groups_ok(&d->tv.dec, d->tv_groups) ||
				  !tv_half_groups_ok(&d->tv.enc, d->tv_groups)))
		return host->cfg_error(sec, d->tv_groups == d->groups ? "groupnorm_groups" :
				       "num_groups", "%d does not divide the channels of every "
				       "GroupNorm in %s", d->tv_groups, host->st_path(d->st_t));
	return 0;
}

/* @forced: the kind a decoder registered under an upstream model name stands for, or NULL. */
int vae_configure_as(const struct ts_host *host, const struct ts_section *sec, void **out,
		     const char *forced)
{
	struct vae_dec *d;
	int err;

	err = vae_open(host, host->cfg_str(sec, "weights"), host->cfg_str(sec, "temporal_weights"),
		       &d);
	if (err)
		return err;
	err = check_kind(host, sec, d, forced);
	if (err) {
		vae_release(d);
		return err;
	}
	d->groups = (int)host->cfg_int(sec, "groupnorm_groups");
	d->tv_groups = (int)host->cfg_int(sec, "num_groups");
	if (!d->tv_groups)
		d->tv_groups = d->groups;
	if (host->cfg_float(sec, "groupnorm_eps") > 0) {
		d->sd_eps = (float)host->cfg_float(sec, "groupnorm_eps");
		d->tv_eps = d->sd_eps;
	}
	d->latent_scale = (float)host->cfg_float(sec, "latent_scale");
	d->frames = (int)host->cfg_int(sec, "frames");
	d->micro_frames = (int)host->cfg_int(sec, "micro_frames");
	d->budget = (uint64_t)host->cfg_int(sec, "mem_budget_mib") << 20;
	err = check_groups(host, sec, d);
	if (err) {
		vae_release(d);
		return err;
	}
	*out = d;
	return 0;
}
