/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_config.c - the [model NAME] keys of an STDiT3 and their
 * checks. The architecture keys are STDiT3Config's fields with its defaults
 * (STDiT3-XL/2), so a golden case's config is a plain section too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stdit.h"
#include "../common/case.h"
#include "../common/config.h"

const struct ts_key stdit_keys[] = {
	{ .name = "weights", .type = TS_KEY_PATH,
	  .help = "safetensors file in Open-Sora's STDiT3 key layout" },
	MC_KEY_RANDOM_WEIGHTS,
	{ .name = "in_channels", .type = TS_KEY_INT, .def = "4", .min = 1, .max = 1024,
	  .help = "latent channels" },
	{ .name = "patch_size", .type = TS_KEY_STRING, .def = "1,2,2",
	  .help = "pt,ph,pw" },
	{ .name = "hidden_size", .type = TS_KEY_INT, .def = "1152", .min = 4, .max = 65536,
	  .help = "D" },
	{ .name = "depth", .type = TS_KEY_INT, .def = "28", .min = 1, .max = 1024,
	  .help = "spatial blocks (as many temporal ones)" },
	{ .name = "num_heads", .type = TS_KEY_INT, .def = "16", .min = 1, .max = 1024,
	  .help = "attention heads" },
	MC_KEY_MLP_RATIO,
	{ .name = "pred_sigma", .type = TS_KEY_BOOL, .def = "true",
	  .help = "out_channels = 2 * in_channels (only the first half is sampled)" },
	{ .name = "caption_channels", .type = TS_KEY_INT, .def = "4096", .min = 1,
	  .max = 1 << 20, .help = "caption embedding width (T5-XXL: 4096)" },
	{ .name = "model_max_length", .type = TS_KEY_INT, .def = "300", .min = 1, .max = 65536,
	  .help = "caption tokens L" },
	{ .name = "qk_norm", .type = TS_KEY_BOOL, .def = "true",
	  .help = "RMSNorm on q and k of self-attention" },
	{ .name = "input_sq_size", .type = TS_KEY_INT, .def = "512", .min = 1, .max = 1 << 20,
	  .help = "reference resolution of the positional embedding" },
	{ .name = "class_dropout_prob", .type = TS_KEY_FLOAT, .def = "0.1", .min = 0, .max = 1,
	  .help = "training only (the null caption is in the weights either way)" },
	{ .name = "frequency_embedding_size", .type = TS_KEY_INT, .def = "256", .min = 2,
	  .max = ST_FREQ_MAX, .help = "timestep / fps sinusoid width" },
	MC_KEY_LAYERNORM_EPS,
	{ .name = "rmsnorm_eps", .type = TS_KEY_FLOAT, .def = "1e-6", .min = 0, .max = 1,
	  .help = "qk RMSNorm epsilon" },
	{ .name = "rope_theta", .type = TS_KEY_FLOAT, .def = "10000", .min = 1, .max = 1e12,
	  .help = "RoPE base when the weights carry no rope.freqs" },
	{ .name = "caption_file", .type = TS_KEY_PATH,
	  .help = "safetensors with caption.y [L, caption_channels] (and caption.mask [L]) "
		  "for requests that bring no embeddings" },
	{ .name = "width", .type = TS_KEY_INT, .def = "426", .min = 8, .max = 1 << 16,
	  .help = "default video width in pixels" },
	{ .name = "height", .type = TS_KEY_INT, .def = "240", .min = 8, .max = 1 << 16,
	  .help = "default video height in pixels" },
	{ .name = "frames", .type = TS_KEY_INT, .def = "51", .min = 1, .max = 1 << 16,
	  .help = "default video frames (1 = image)" },
	{ .name = "fps", .type = TS_KEY_FLOAT, .def = "24", .min = 0, .max = 1000,
	  .help = "default video frame rate (images default to Open-Sora's IMG_FPS, 120)" },
	{ .name = "sampler", .type = TS_KEY_ENUM, .def = "rflow", .choices = "rflow",
	  .help = "rectified flow (Open-Sora 1.2 RFLOW)" },
	{ .name = "steps", .type = TS_KEY_INT, .def = "30", .min = 1, .max = ST_MAX_STEPS,
	  .help = "default denoising steps" },
	{ .name = "guidance", .type = TS_KEY_FLOAT, .def = "7.0", .min = 0, .max = 1000,
	  .help = "default classifier-free guidance scale (<= 1: none)" },
	{ .name = "timestep_transform", .type = TS_KEY_BOOL, .def = "true",
	  .help = "Open-Sora 1.2's resolution/length timestep transform" },
	{ .name = "max_batch", .type = TS_KEY_INT, .def = "2", .min = 1, .max = ST_MAX_BATCH,
	  .help = "requests stepped together" },
	{ .name = NULL },
};

static int parse_patch(struct stdit_model *m, const struct ts_section *sec)
{
	const char *s = m->host->cfg_str(sec, "patch_size");
	int n = 0;

	if (s)
		n = sscanf(s, " %d , %d , %d", &m->pt, &m->ph, &m->pw);
	if (n != 3 || m->pt < 1 || m->ph < 1 || m->pw < 1 || m->pt > 64 || m->ph > 64 ||
	    m->pw > 64)
		return m->host->cfg_error(sec, "patch_size", "'%s' is not three sizes pt,ph,pw "
					  "in [1, 64]", s ? s : "");
	return 0;
}

static int read_arch(struct stdit_model *m, const struct ts_section *sec)
{
	const struct ts_host *host = m->host;
	double ratio = host->cfg_float(sec, "mlp_ratio");

	m->in_ch = (int)host->cfg_int(sec, "in_channels");
	m->out_ch = host->cfg_bool(sec, "pred_sigma") ? 2 * m->in_ch : m->in_ch;
	m->hidden = (int)host->cfg_int(sec, "hidden_size");
	m->depth = (int)host->cfg_int(sec, "depth");
	m->heads = (int)host->cfg_int(sec, "num_heads");
	m->cap_ch = (int)host->cfg_int(sec, "caption_channels");
	m->cap_len = (int)host->cfg_int(sec, "model_max_length");
	m->qk_norm = host->cfg_bool(sec, "qk_norm");
	m->input_sq = (int)host->cfg_int(sec, "input_sq_size");
	m->freq_dim = (int)host->cfg_int(sec, "frequency_embedding_size");
	m->ln_eps = (float)host->cfg_float(sec, "layernorm_eps");
	m->rms_eps = (float)host->cfg_float(sec, "rmsnorm_eps");
	m->rope_theta = host->cfg_float(sec, "rope_theta");
	m->mlp_hidden = (int)(m->hidden * ratio); /* timm truncates */
	if (m->mlp_hidden < 1)
		return host->cfg_error(sec, "mlp_ratio", "gives an empty MLP");
	if (m->hidden % m->heads)
		return host->cfg_error(sec, "num_heads", "%d does not divide hidden_size %d",
				       m->heads, m->hidden);
	m->head_dim = m->hidden / m->heads;
	/* PositionEmbedding2D splits D in sin/cos quarters; RoPE rotates pairs */
	if (m->hidden % 4)
		return host->cfg_error(sec, "hidden_size", "%d is not a multiple of 4", m->hidden);
	if (m->head_dim % 2)
		return host->cfg_error(sec, "num_heads", "head_dim %d is odd (RoPE pairs)",
				       m->head_dim);
	if (m->freq_dim % 2)
		return host->cfg_error(sec, "frequency_embedding_size", "%d is odd", m->freq_dim);
	return parse_patch(m, sec);
}

static void read_sampling(struct stdit_model *m, const struct ts_section *sec)
{
	const struct ts_host *host = m->host;

	m->width = (int)host->cfg_int(sec, "width");
	m->height = (int)host->cfg_int(sec, "height");
	m->frames = (int)host->cfg_int(sec, "frames");
	m->fps = (float)host->cfg_float(sec, "fps");
	m->steps = (int)host->cfg_int(sec, "steps");
	m->guidance = (float)host->cfg_float(sec, "guidance");
	m->transform = host->cfg_bool(sec, "timestep_transform");
	m->max_batch = (int)host->cfg_int(sec, "max_batch");
}

/*
 * caption_file: the default caption (T5 is not part of this module), rows
 * past the file's count are padding (mask 0).
 */
static int load_caption(struct stdit_model *m, const struct ts_section *sec, const char *path)
{
	const struct ts_host *host = m->host;
	struct ts_st *st;
	struct ts_tensor y, mk;
	int64_t rows, L = m->cap_len, C = m->cap_ch;
	int err = host->st_open(path, &st);

	if (err)
		return host->cfg_error(sec, "caption_file", "cannot open '%s'", path);
	err = TS_EINVAL;
	if (host->st_get(st, "caption.y", &y) || y.dtype != TS_F32 || y.ndim < 1 ||
	    y.shape[y.ndim - 1] != C || (rows = ts_tensor_numel(&y) / C) > L || rows < 1) {
		host->cfg_error(sec, "caption_file", "%s: needs F32 caption.y [rows <= %lld, %lld]",
				path, (long long)L, (long long)C);
		goto close;
	}
	m->cap_y = host->alloc(sizeof(float) * (size_t)(L * C));
	m->cap_mask = host->alloc((size_t)L);
	if (!m->cap_y || !m->cap_mask) {
		err = TS_ENOMEM;
		goto close;
	}
	memset(m->cap_y, 0, sizeof(float) * (size_t)(L * C));
	memcpy(m->cap_y, y.data, sizeof(float) * (size_t)(rows * C));
	for (int64_t i = 0; i < L; i++)
		m->cap_mask[i] = i < rows;
	if (!host->st_get(st, "caption.mask", &mk)) {
		if (ts_tensor_numel(&mk) != rows) {
			host->cfg_error(sec, "caption_file", "%s: caption.mask must have %lld entries",
					path, (long long)rows);
			goto close;
		}
		for (int64_t i = 0; i < rows; i++) {
			double v = 0;

			mc_tensor_elem(&mk, i, &v); /* a non-numeric dtype reads as 0 */
			m->cap_mask[i] = v != 0;
		}
	}
	err = 0;
close:
	host->st_close(st);
	return err;
}

int stdit_configure(const struct ts_host *host, const struct ts_section *sec, void **model)
{
	struct stdit_model *m;
	const char *cap = host->cfg_str(sec, "caption_file");
	int err;

	m = host->alloc(sizeof(*m));
	if (!m)
		return TS_ENOMEM;
	memset(m, 0, sizeof(*m));
	m->host = host;
	mc_cfg_instance(host, sec, m->name, sizeof(m->name));
	err = read_arch(m, sec);
	if (err)
		goto free_model;
	read_sampling(m, sec);
	err = mc_cfg_weights(host, sec, &m->random_weights, &m->weights);
	if (!err && cap)
		err = load_caption(m, sec, cap);
	if (err)
		goto free_model;
	*model = m;
	return 0;

free_model:
	stdit_release(m);
	return err;
}

void stdit_release(void *model)
{
	struct stdit_model *m = model;

	if (!m)
		return;
	m->host->free(m->cap_y);
	m->host->free(m->cap_mask);
	m->host->free(m->weights);
	m->host->free(m);
}
