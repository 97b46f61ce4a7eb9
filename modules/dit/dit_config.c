/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_config.c - the [model NAME] keys of a DiT and their checks.
 *
 * The architecture comes from `variant` (the configs of models.py: DiT-S/B/L/XL
 * with patch 2/4/8); any architecture key set in the section overrides the
 * variant, so the small golden configs are plain sections too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dit.h"
#include "../common/config.h"

const struct ts_key dit_keys[] = {
	{ .name = "weights", .type = TS_KEY_PATH,
	  .help = "safetensors file, original (facebookresearch) or diffusers key layout" },
	MC_KEY_RANDOM_WEIGHTS,
	{ .name = "layout", .type = TS_KEY_ENUM, .def = "auto",
	  .choices = "auto|original|diffusers",
	  .help = "key layout of the weights; auto detects it" },
	{ .name = "variant", .type = TS_KEY_ENUM, .def = "DiT-XL/2",
	  .choices = "DiT-S/2|DiT-S/4|DiT-S/8|DiT-B/2|DiT-B/4|DiT-B/8|DiT-L/2|DiT-L/4|DiT-L/8|"
		     "DiT-XL/2|DiT-XL/4|DiT-XL/8",
	  .help = "architecture preset; the keys below override it" },
	{ .name = "input_size", .type = TS_KEY_INT, .def = "32", .min = 1, .max = 1024,
	  .help = "latent side (image side / 8)" },
	{ .name = "patch_size", .type = TS_KEY_INT, .min = 1, .max = 64, .help = "patch side p" },
	{ .name = "hidden_size", .type = TS_KEY_INT, .min = 1, .max = 65536, .help = "D" },
	{ .name = "depth", .type = TS_KEY_INT, .min = 1, .max = 1024, .help = "number of blocks" },
	{ .name = "num_heads", .type = TS_KEY_INT, .min = 1, .max = 1024,
	  .help = "attention heads" },
	MC_KEY_MLP_RATIO,
	{ .name = "in_channels", .type = TS_KEY_INT, .def = "4", .min = 1, .max = 1024,
	  .help = "latent channels" },
	{ .name = "learn_sigma", .type = TS_KEY_BOOL, .def = "true",
	  .help = "the model also predicts the variance (out_channels = 2 * in_channels)" },
	{ .name = "num_classes", .type = TS_KEY_INT, .def = "1000", .min = 1, .max = 1 << 24,
	  .help = "class labels" },
	{ .name = "class_dropout_prob", .type = TS_KEY_FLOAT, .def = "0.1", .min = 0, .max = 1,
	  .help = "> 0 adds the null class (label num_classes) used by guidance" },
	{ .name = "frequency_embedding_size", .type = TS_KEY_INT, .def = "256", .min = 2,
	  .max = DIT_FREQ_MAX, .help = "timestep sinusoid width" },
	MC_KEY_LAYERNORM_EPS,
	{ .name = "sampler", .type = TS_KEY_ENUM, .def = "ddpm", .choices = "ddpm|ddim",
	  .help = "default sampler (sample.py: respaced ancestral DDPM)" },
	{ .name = "respacing", .type = TS_KEY_ENUM, .def = "uniform", .choices = "uniform|stride",
	  .help = "uniform = timestep_respacing \"N\"; stride = \"ddimN\"" },
	{ .name = "steps", .type = TS_KEY_INT, .def = "250", .min = 1, .max = DIT_TRAIN_STEPS,
	  .help = "default denoising steps" },
	{ .name = "eta", .type = TS_KEY_FLOAT, .def = "0", .min = 0, .max = 10,
	  .help = "default DDIM eta" },
	{ .name = "guidance", .type = TS_KEY_FLOAT, .def = "4.0", .min = 0, .max = 1000,
	  .help = "default classifier-free guidance scale (<= 1: none)" },
	{ .name = "cfg_channels", .type = TS_KEY_INT, .def = "3", .min = 1, .max = 1024,
	  .help = "latent channels guidance applies to (upstream keeps 3 for reproducibility)" },
	{ .name = "max_batch", .type = TS_KEY_INT, .def = "4", .min = 1, .max = 256,
	  .help = "requests stepped together" },
	{ .name = NULL },
};

struct dit_variant {
	const char *name;
	int depth, hidden, heads, patch;
};

static const struct dit_variant variants[] = {
	{ "DiT-S/2", 12, 384, 6, 2 },     { "DiT-S/4", 12, 384, 6, 4 },
	{ "DiT-S/8", 12, 384, 6, 8 },     { "DiT-B/2", 12, 768, 12, 2 },
	{ "DiT-B/4", 12, 768, 12, 4 },    { "DiT-B/8", 12, 768, 12, 8 },
	{ "DiT-L/2", 24, 1024, 16, 2 },   { "DiT-L/4", 24, 1024, 16, 4 },
	{ "DiT-L/8", 24, 1024, 16, 8 },   { "DiT-XL/2", 28, 1152, 16, 2 },
	{ "DiT-XL/4", 28, 1152, 16, 4 },  { "DiT-XL/8", 28, 1152, 16, 8 },
};

static const struct dit_variant *variant_find(const char *name)
{
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if (name && !strcmp(variants[i].name, name))
			return &variants[i];
	return NULL;
}

/* An architecture key overrides the variant only when the section sets it. */
static int key_or(const struct ts_host *host, const struct ts_section *sec, const char *key,
		  int def)
{
	if (!host->cfg_str(sec, key))
		return def;
	return (int)host->cfg_int(sec, key);
}

static int enum_index(const char *v, const char *const *words, int n)
{
	for (int i = 0; i < n; i++)
		if (v && !strcmp(v, words[i]))
			return i;
	return 0;
}

/*
 * Fill the derived fields and check what the keys cannot check one by one.
 * Logs the first problem; 0 or TS_EINVAL.
 */
int dit_model_derive(struct dit_model *m)
{
	const struct ts_host *host = m->host;

	if (m->hidden % m->heads) {
		host->log(TS_LOG_ERROR, DIT_WHO, "hidden_size %d is not a multiple of num_heads %d",
			  m->hidden, m->heads);
		return TS_EINVAL;
	}
	/* get_2d_sincos_pos_embed splits D in four sin/cos quarters. */
	if (m->hidden % 4) {
		host->log(TS_LOG_ERROR, DIT_WHO,
			  "hidden_size %d is not a multiple of 4 (2-D sin-cos)", m->hidden);
		return TS_EINVAL;
	}
	if (m->patch > m->input_size) {
		host->log(TS_LOG_ERROR, DIT_WHO, "patch_size %d exceeds input_size %d", m->patch,
			  m->input_size);
		return TS_EINVAL;
	}
	if (m->freq_dim % 2) {
		host->log(TS_LOG_ERROR, DIT_WHO, "frequency_embedding_size %d is odd", m->freq_dim);
		return TS_EINVAL;
	}
	m->head_dim = m->hidden / m->heads;
	m->out_ch = m->learn_sigma ? 2 * m->in_ch : m->in_ch;
	m->grid = m->input_size / m->patch;
	m->tokens = (int64_t)m->grid * m->grid;
	if (m->cfg_channels > m->out_ch)
		m->cfg_channels = m->out_ch;
	return 0;
}

static int read_arch(struct dit_model *m, const struct ts_section *sec)
{
	const struct ts_host *host = m->host;
	const char *vname = host->cfg_str(sec, "variant");
	const struct dit_variant *v = variant_find(vname ? vname : "DiT-XL/2");
	double ratio;

	if (!v)
		return host->cfg_error(sec, "variant", "unknown variant '%s'", vname);
	m->input_size = (int)host->cfg_int(sec, "input_size");
	m->patch = key_or(host, sec, "patch_size", v->patch);
	m->hidden = key_or(host, sec, "hidden_size", v->hidden);
	m->depth = key_or(host, sec, "depth", v->depth);
	m->heads = key_or(host, sec, "num_heads", v->heads);
	m->in_ch = (int)host->cfg_int(sec, "in_channels");
	m->learn_sigma = host->cfg_bool(sec, "learn_sigma");
	m->num_classes = (int)host->cfg_int(sec, "num_classes");
	m->table_rows = m->num_classes + (host->cfg_float(sec, "class_dropout_prob") > 0);
	m->freq_dim = (int)host->cfg_int(sec, "frequency_embedding_size");
	m->ln_eps = (float)host->cfg_float(sec, "layernorm_eps");
	ratio = host->cfg_float(sec, "mlp_ratio");
	m->mlp_hidden = (int)(m->hidden * ratio); /* timm truncates */
	if (m->mlp_hidden < 1)
		return host->cfg_error(sec, "mlp_ratio", "gives an empty MLP (%g * %d)", ratio,
				       m->hidden);
	if (m->hidden % m->heads)
		return host->cfg_error(sec, "num_heads", "%d does not divide hidden_size %d",
				       m->heads, m->hidden);
	return 0;
}

static int read_sampling(struct dit_model *m, const struct ts_section *sec)
{
	static const char *const samplers[] = { "ddpm", "ddim" };
	static const char *const spacings[] = { "uniform", "stride" };
	static const char *const layouts[] = { "auto", "original", "diffusers" };
	const struct ts_host *host = m->host;

	m->sampler = enum_index(host->cfg_str(sec, "sampler"), samplers, 2);
	m->respacing = enum_index(host->cfg_str(sec, "respacing"), spacings, 2);
	m->layout = enum_index(host->cfg_str(sec, "layout"), layouts, 3);
	m->steps = (int)host->cfg_int(sec, "steps");
	m->eta = (float)host->cfg_float(sec, "eta");
	m->guidance = (float)host->cfg_float(sec, "guidance");
	m->cfg_channels = (int)host->cfg_int(sec, "cfg_channels");
	m->max_batch = (int)host->cfg_int(sec, "max_batch");
	/* guidance without a null class is refused per request, in plan() */
	return 0;
}

int dit_configure(const struct ts_host *host, const struct ts_section *sec, void **model)
{
	struct dit_model *m;
	int err;

	m = host->alloc(sizeof(*m));
	if (!m)
		return TS_ENOMEM;
	memset(m, 0, sizeof(*m));
	m->host = host;
	mc_cfg_instance(host, sec, m->name, sizeof(m->name));
	err = read_arch(m, sec);
	if (!err)
		err = read_sampling(m, sec);
	if (!err)
		err = dit_model_derive(m);
	if (!err)
		err = mc_cfg_weights(host, sec, &m->random_weights, &m->weights);
	if (err)
		goto free_model;
	*model = m;
	return 0;

free_model:
	host->free(m);
	return err;
}

void dit_release(void *model)
{
	struct dit_model *m = model;

	if (!m)
		return;
	m->host->free(m->weights);
	m->host->free(m);
}
