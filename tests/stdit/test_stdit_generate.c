/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/test_stdit_generate.c - end to end: `tetriserve generate` of a
 * 17-frame 64 x 64 video with golden case a's STDiT3 (caption from the
 * section's caption_file) on 4 CPU devices, decoded by vae3d's Open-Sora
 * pipeline (the golden SD and temporal VAE decoders) to an MP4:
 *  - the run with degrees 1,2,4,1 between steps (three migrations through the
 *    real engine) gives the latent of the run at degree 1 throughout;
 *  - the MP4 holds the frames the pipeline makes of that latent (10 frames of
 *    16 x 16: time factor 2 in chunks of 17 frames, one x2 upsampling) and
 *    the seed in its metadata.
 */
#include <sys/stat.h>

#include "sttest.h"
#include "video_mp4.h"

static const char *const mods[] = { "stdit", "vae3d", "tetri" };

/* A module folder with only the modules this test uses (others may be mid-rebuild). */
static int module_dir(const char *dir)
{
	char so[PATH_MAX + 32], abs[PATH_MAX], link[PATH_MAX + 32];

	if (mkdir(dir, 0700))
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(so, sizeof(so), "%s/modules/%s.so", mt_builddir, mods[i]);
		snprintf(link, sizeof(link), "%s/%s.so", dir, mods[i]);
		if (!realpath(so, abs) || symlink(abs, link))
			return -1;
	}
	return 0;
}

static int write_caption(const char *path)
{
	float y[5 * 32];
	struct ts_tensor t = { .name = "caption.y", .dtype = TS_F32, .ndim = 2,
			       .shape = { 5, 32 }, .data = y };
	const char *meta[] = { "what", "caption embeddings", NULL };

	for (int i = 0; i < 5 * 32; i++)
		y[i] = (float)cos(0.21 * i);
	return ts_st_write(path, &t, 1, meta);
}

static int write_ini(const char *path, const char *mod_dir, const char *cap)
{
	char cwd[PATH_MAX];
	FILE *f = fopen(path, "w");

	if (!f || !getcwd(cwd, sizeof(cwd)))
		return -1;
	fprintf(f, "[server]\nmodule_path = %s\nlog_level = warn\n\n"
		"[pool]\nbackend = cpu\ndevices = 4\nthreads_per_device = 1\n\n"
		"[scheduler]\npolicy = tetri\nround_steps = 2\n\n"
		"[model opensora]\nmodule = stdit\ndecoder = osvae\n"
		"weights = %s/" ST_GOLDEN "/a.safetensors\n"
		"hidden_size = 64\ndepth = 2\nnum_heads = 4\ncaption_channels = 32\n"
		"model_max_length = 8\ncaption_file = %s\nsteps = 4\n\n"
		"[model osvae]\nmodule = vae3d\nkind = opensora_vae_v1_2\n"
		"weights = %s/tests/data/golden/sd_vae_decoder/a.safetensors\n"
		"temporal_weights = %s/tests/data/golden/vae_temporal/a_decode.safetensors\n",
		mod_dir, cwd, cap, cwd, cwd);
	return fclose(f);
}

/* generate; its report goes to @log. */
static int generate(const char *ini, const char *out, const char *degrees, const char *log)
{
	char cmd[8 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "'%s/tetriserve' generate --config '%s' --model opensora "
		 "--out '%s' --size 64x64 --frames 17 --seed 5 --degrees %s >'%s' 2>&1",
		 mt_builddir, ini, out, degrees, log);
	return system(cmd);
}

static int logged(const char *log, const char *what)
{
	char cmd[2 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "grep -qF '%s' '%s'", what, log);
	return system(cmd) == 0;
}

/* The latent of @path, malloc'ed (aligned), with its shape checked; NULL if not. */
static float *read_latent(const char *path)
{
	struct ts_st *st;
	struct ts_tensor t;
	float *x = NULL;

	if (ts_st_open(path, &st))
		return NULL;
	if (!ts_st_get(st, "latent", &t) && t.dtype == TS_F32 && t.ndim == 5 && t.shape[0] == 1 &&
	    t.shape[1] == 4 && t.shape[2] == 5 && t.shape[3] == 8 && t.shape[4] == 8) {
		x = malloc(sizeof(float) * 320);
		if (x)
			memcpy(x, t.data, sizeof(float) * 320);
	}
	ts_st_close(st);
	return x;
}

static void check_video(const char *mp4)
{
	uint8_t *rgb = NULL;
	char seed[32];
	int t = 0, h = 0, w = 0;
	long lit = 0;

	if (ok(!ts_mp4_read(mp4, &rgb, &t, &h, &w), "the MP4 reads back"))
		ok(t == 10 && h == 16 && w == 16, "10 frames of 16 x 16 (got %d of %dx%d)", t, w, h);
	for (long i = 0; rgb && i < (long)t * h * w * 3; i++)
		lit += rgb[i] > 0;
	ok(lit > 0, "the frames are not black (%ld lit values)", lit);
	ok(!ts_mp4_meta(mp4, "seed", seed, sizeof(seed)) && !strcmp(seed, "5"),
	   "the MP4 carries the seed");
	free(rgb);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], ini[PATH_MAX], cap[PATH_MAX], a[PATH_MAX], b[PATH_MAX], mp4[PATH_MAX];
	char log[PATH_MAX];
	float *one = NULL, *mixed = NULL;

	st_init(argv[0]);
	snprintf(dir, sizeof(dir), "%.200s/modules", mt_tmp);
	snprintf(ini, sizeof(ini), "%.200s/gen.ini", mt_tmp);
	snprintf(cap, sizeof(cap), "%.200s/caption.safetensors", mt_tmp);
	snprintf(a, sizeof(a), "%.200s/one.safetensors", mt_tmp);
	snprintf(b, sizeof(b), "%.200s/mixed.safetensors", mt_tmp);
	snprintf(mp4, sizeof(mp4), "%.200s/mixed.mp4", mt_tmp);
	snprintf(log, sizeof(log), "%.200s/generate.log", mt_tmp);
	if (!ok(!module_dir(dir) && !write_caption(cap) && !write_ini(ini, dir, cap),
		"config, caption file and module folder"))
		return tap_done();
	ok(generate(ini, a, "1", log) == 0, "generate at degree 1 exits 0");
	ok(generate(ini, b, "1,2,4,1", log) == 0, "generate at degrees 1,2,4,1 exits 0");
	ok(logged(log, "degrees mask 0xb, migrations 3"),
	   "the request ran at degrees 1, 2 and 4 with three migrations");
	one = read_latent(a);
	mixed = read_latent(b);
	if (ok(one && mixed, "both latents are [1, 4, 5, 8, 8]")) {
		double e = mt_rel_l2(mixed, one, 320);

		ok(e < 1e-4, "degrees 1,2,4,1 through the engine = degree 1: rel L2 %.2e", e);
	}
	if (ok(access(mp4, R_OK) == 0, "it wrote %s", mp4))
		check_video(mp4);
	free(one);
	free(mixed);
	return tap_done();
}
