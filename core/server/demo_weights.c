// SPDX-License-Identifier: MIT
/*
 * core/server/demo_weights.c - the demo's weights, made deterministically
 * (Philox normals, fixed seeds) and written as safetensors, so `tetriserve
 * demo` needs nothing downloaded:
 *
 * - a small DiT in facebookresearch/DiT's original layout (hidden 128,
 *   depth 4, 4 heads, patch 2, 10 classes; the fixed sin-cos positions are
 *   not stored, the module computes them, so one file serves every input
 *   size);
 * - an SD VAE decoder in the ldm layout the vae3d module reads: the kl-f8 decoder's
 * architecture (post_quant_conv, conv_in, mid block with attention, four
 * up levels of three resnets, upsamplers at the three lower levels,
 * norm_out, conv_out) at a narrow width (16/16/32/32 channels instead of
 * 128/256/512/512, so groupnorm_groups = 8 in the config), so one CPU
 * thread decodes a 64 px image in about 10 ms.
 *
 * A random network decodes to structured noise, not a picture: the demo is
 * about the serving path. Real checkpoints are served by naming them in a
 * config (weights = FILE).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/tensor.h>

#include "log.h"
#include "rng.h"
#include "safetensors.h"
#include "server.h"

#define VAE_SEED 0x7e7215e5u
#define DIT_SEED 0xd17d17u
#define DIT_HIDDEN 128
#define DIT_DEPTH 4
#define DIT_CLASSES 10
#define MAX_TENSORS 200
#define LEVELS 4
#define BLOCKS 3

static const int level_ch[LEVELS] = { 16, 16, 32, 32 };

struct wset {
	struct ts_tensor t[MAX_TENSORS];
	char *names[MAX_TENSORS];
	int n;
	uint64_t seed, stream;
};

/* A tensor of @shape: normals x @scale (conv weights), or @fill (norms, biases). */
static int add(struct wset *ws, const char *name, int ndim, const int64_t *shape, double scale,
	       float fill)
{
	struct ts_tensor *t;
	int64_t n = 1;
	float *d;

	if (ws->n == MAX_TENSORS)
		return TS_ENOMEM;
	for (int i = 0; i < ndim; i++)
		n *= shape[i];
	d = malloc(n * sizeof(float));
	ws->names[ws->n] = strdup(name);
	if (!d || !ws->names[ws->n]) {
		free(d);
		return TS_ENOMEM;
	}
	if (scale > 0) {
		ts_rng_normal(ws->seed, ws->stream++, 0, d, n);
		for (int64_t i = 0; i < n; i++)
			d[i] *= (float)scale;
	} else {
		for (int64_t i = 0; i < n; i++)
			d[i] = fill;
	}
	t = &ws->t[ws->n];
	*t = (struct ts_tensor){ .name = ws->names[ws->n], .dtype = TS_F32, .ndim = ndim,
				 .data = d };
	memcpy(t->shape, shape, ndim * sizeof(int64_t));
	ws->n++;
	return 0;
}

static int conv(struct wset *ws, const char *name, int cout, int cin, int k)
{
	int64_t w[4] = { cout, cin, k, k }, b[1] = { cout };
	char key[160];
	int err;

	snprintf(key, sizeof(key), "%s.weight", name);
	/* He-style scale keeps activations of a random net from vanishing or blowing up. */
	err = add(ws, key, 4, w, sqrt(1.0 / (cin * k * k)), 0);
	snprintf(key, sizeof(key), "%s.bias", name);
	return err ? err : add(ws, key, 1, b, 0, 0);
}

static int norm(struct wset *ws, const char *name, int c)
{
	int64_t s[1] = { c };
	char key[160];
	int err;

	snprintf(key, sizeof(key), "%s.weight", name);
	err = add(ws, key, 1, s, 0, 1);
	snprintf(key, sizeof(key), "%s.bias", name);
	return err ? err : add(ws, key, 1, s, 0, 0);
}

static int resnet(struct wset *ws, const char *name, int cin, int cout)
{
	char key[160];
	int err;

	snprintf(key, sizeof(key), "%s.norm1", name);
	err = norm(ws, key, cin);
	snprintf(key, sizeof(key), "%s.conv1", name);
	err = err ? err : conv(ws, key, cout, cin, 3);
	snprintf(key, sizeof(key), "%s.norm2", name);
	err = err ? err : norm(ws, key, cout);
	snprintf(key, sizeof(key), "%s.conv2", name);
	err = err ? err : conv(ws, key, cout, cout, 3);
	if (!err && cin != cout) {
		snprintf(key, sizeof(key), "%s.nin_shortcut", name);
		err = conv(ws, key, cout, cin, 1);
	}
	return err;
}

static int attn(struct wset *ws, const char *name, int c)
{
	static const char *const parts[] = { "q", "k", "v", "proj_out" };
	char key[160];
	int err;

	snprintf(key, sizeof(key), "%s.norm", name);
	err = norm(ws, key, c);
	for (int i = 0; !err && i < 4; i++) {
		snprintf(key, sizeof(key), "%s.%s", name, parts[i]);
		err = conv(ws, key, c, c, 1);
	}
	return err;
}

static int build(struct wset *ws)
{
	int c = level_ch[LEVELS - 1], err;
	char key[160];

	err = conv(ws, "post_quant_conv", 4, 4, 1);
	err = err ? err : conv(ws, "decoder.conv_in", c, 4, 3);
	err = err ? err : resnet(ws, "decoder.mid.block_1", c, c);
	err = err ? err : attn(ws, "decoder.mid.attn_1", c);
	err = err ? err : resnet(ws, "decoder.mid.block_2", c, c);
	for (int k = LEVELS - 1; !err && k >= 0; k--) {
		for (int j = 0; !err && j < BLOCKS; j++) {
			snprintf(key, sizeof(key), "decoder.up.%d.block.%d", k, j);
			err = resnet(ws, key, c, level_ch[k]);
			c = level_ch[k];
		}
		if (!err && k > 0) {
			snprintf(key, sizeof(key), "decoder.up.%d.upsample.conv", k);
			err = conv(ws, key, c, c, 3);
		}
	}
	err = err ? err : norm(ws, "decoder.norm_out", c);
	return err ? err : conv(ws, "decoder.conv_out", 3, c, 3);
}

static int linear(struct wset *ws, const char *name, int out, int in)
{
	int64_t w[2] = { out, in }, b[1] = { out };
	char key[160];
	int err;

	snprintf(key, sizeof(key), "%s.weight", name);
	err = add(ws, key, 2, w, sqrt(1.0 / in), 0);
	snprintf(key, sizeof(key), "%s.bias", name);
	return err ? err : add(ws, key, 1, b, 0, 0);
}

static int build_dit(struct wset *ws)
{
	const int D = DIT_HIDDEN, Dm = 4 * DIT_HIDDEN, P = 2 * 2 * 8;
	int64_t table[2] = { DIT_CLASSES + 1, D }; /* + the null class of guidance */
	char key[160];
	int err;

	err = conv(ws, "x_embedder.proj", D, 4, 2);
	err = err ? err : linear(ws, "t_embedder.mlp.0", D, 256);
	err = err ? err : linear(ws, "t_embedder.mlp.2", D, D);
	err = err ? err : add(ws, "y_embedder.embedding_table.weight", 2, table, 0.02, 0);
	for (int i = 0; !err && i < DIT_DEPTH; i++) {
		snprintf(key, sizeof(key), "blocks.%d.adaLN_modulation.1", i);
		err = linear(ws, key, 6 * D, D);
		snprintf(key, sizeof(key), "blocks.%d.attn.qkv", i);
		err = err ? err : linear(ws, key, 3 * D, D);
		snprintf(key, sizeof(key), "blocks.%d.attn.proj", i);
		err = err ? err : linear(ws, key, D, D);
		snprintf(key, sizeof(key), "blocks.%d.mlp.fc1", i);
		err = err ? err : linear(ws, key, Dm, D);
		snprintf(key, sizeof(key), "blocks.%d.mlp.fc2", i);
		err = err ? err : linear(ws, key, D, Dm);
	}
	err = err ? err : linear(ws, "final_layer.adaLN_modulation.1", 2 * D, D);
	return err ? err : linear(ws, "final_layer.linear", P, D);
}

static int write_set(const char *path, struct wset *ws, int err, const char *const *meta)
{
	if (!err)
		err = ts_st_write(path, ws->t, ws->n, meta);
	if (err)
		ts_err("demo", "%s: cannot write the weights (%s)", path, ts_strerror(err));
	for (int i = 0; i < ws->n; i++) {
		free(ws->t[i].data);
		free(ws->names[i]);
	}
	return err;
}

int ts_demo_write_dit(const char *path)
{
	static const char *const meta[] = { "made_by", "tetriserve demo", "layout",
					    "facebookresearch/DiT original, hidden 128, depth 4, "
					    "patch 2, 10 classes", NULL };
	struct wset ws = { .n = 0, .seed = DIT_SEED };

	return write_set(path, &ws, build_dit(&ws), meta);
}

int ts_demo_write_vae(const char *path)
{
	static const char *const meta[] = { "made_by", "tetriserve demo", "seed", "0x7e7215e5",
					    "layout", "ldm sd kl-f8 decoder, 16/16/32/32 channels, 8 groups",
					    NULL };
	struct wset ws = { .n = 0, .seed = VAE_SEED };

	return write_set(path, &ws, build(&ws), meta);
}
