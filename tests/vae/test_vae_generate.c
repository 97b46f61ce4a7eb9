// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_generate.c - end to end: `tetriserve generate` with a
 * small random DiT whose section names an SD VAE decoder writes the final
 * latent and a PNG beside it; the PNG must hold exactly the pixels the
 * decoder gives for that latent (decoded again here through vae3d.so), and
 * its tEXt chunks the model, seed and steps.
 */
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_png.h"
#include "vaetest.h"

#define SD_A "tests/data/golden/sd_vae_decoder/a.safetensors"

static const char *const mods[] = { "dit", "vae3d", "tetri" };

/* A module folder with only the modules this test uses (others may be mid-rebuild). */
static int module_dir(const char *bd, const char *dir)
{
	char so[PATH_MAX], abs[PATH_MAX], link[PATH_MAX];

	if (mkdir(dir, 0700))
		return -1;
	for (int i = 0; i < 3; i++) {
		snprintf(so, sizeof(so), "%s/modules/%s.so", bd, mods[i]);
		snprintf(link, sizeof(link), "%s/%s.so", dir, mods[i]);
		if (!realpath(so, abs) || symlink(abs, link))
			return -1;
	}
	return 0;
}

static void clean_dir(const char *dir)
{
	char link[PATH_MAX];

	for (int i = 0; i < 3; i++) {
		snprintf(link, sizeof(link), "%s/%s.so", dir, mods[i]);
		unlink(link);
	}
	rmdir(dir);
}

static int write_ini(const char *path, const char *dir)
{
	char cwd[PATH_MAX];
	FILE *f = fopen(path, "w");

	if (!f || !getcwd(cwd, sizeof(cwd)))
		return -1;
	fprintf(f, "[server]\nmodule_path = %s\nlog_level = warn\n\n"
		"[pool]\nbackend = cpu\ndevices = 2\nthreads_per_device = 1\n\n"
		"[scheduler]\npolicy = tetri\nround_steps = 2\n\n"
		"[model dit-tiny]\nmodule = dit\ndecoder = sd-vae\nrandom_weights = true\n"
		"input_size = 8\npatch_size = 2\nhidden_size = 64\ndepth = 2\nnum_heads = 4\n"
		"num_classes = 10\nsteps = 4\nguidance = 1\n\n"
		"[model sd-vae]\nmodule = vae3d\nweights = %s/" SD_A "\n", dir, cwd);
	return fclose(f);
}

struct redo {
	struct vaetest *vt;
	struct ts_tensor lat, img;
};

static int redo_on_dev(struct ts_dev *dev, void *arg)
{
	const char *kv[] = { "weights=" SD_A, NULL };
	struct redo *r = arg;
	struct ts_config *cfg = NULL;
	void *dec = NULL, *w = NULL;
	int err = vaetest_configure_v(r->vt, &cfg, &dec, kv);

	if (!err)
		err = r->vt->ops->load(dec, dev, &w);
	if (!err)
		err = r->vt->ops->decode(dec, dev, w, &r->lat, 0, &r->img);
	if (w)
		r->vt->ops->unload(dec, dev, w);
	if (dec)
		r->vt->ops->release(dec);
	ts_config_free(cfg);
	return err;
}

/* The PNG against the latent decoded here, sample for sample. */
static void check_png(struct vaetest *vt, const char *lat_path, const char *png)
{
	struct redo r = { .vt = vt };
	struct ts_st *st = NULL;
	uint8_t *rgb = NULL;
	char val[64];
	int w = 0, h = 0, bad = 0;

	if (!ok(!ts_st_open(lat_path, &st) && !ts_st_get(st, "latent", &r.lat),
		"the latent file has \"latent\""))
		goto out;
	if (!ok(!vaetest_on_dev(vt, redo_on_dev, &r), "the latent decodes here too"))
		goto out;
	if (!ok(!ts_png_read(png, &rgb, &w, &h) && w == r.img.shape[3] && h == r.img.shape[2],
		"the PNG is %lldx%lld", (long long)r.img.shape[3], (long long)r.img.shape[2]))
		goto out;
	for (int64_t p = 0; p < 3 * (int64_t)w * h; p++)
		bad += rgb[(p % ((int64_t)w * h)) * 3 + p / ((int64_t)w * h)] !=
		       ts_pixel_u8(((const float *)r.img.data)[p]);
	ok(bad == 0, "the PNG holds the decoded pixels (%d differ)", bad);
	ok(!ts_png_text(png, "model", val, sizeof(val)) && !strcmp(val, "dit-tiny"), "tEXt model");
	ok(!ts_png_text(png, "seed", val, sizeof(val)) && !strcmp(val, "11"), "tEXt seed");
	ok(!ts_png_text(png, "steps", val, sizeof(val)) && atoi(val) > 0, "tEXt steps (%s)", val);
out:
	free(rgb);
	vt->host->free(r.img.data);
	if (st)
		ts_st_close(st);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], *bd, dir[64], ini[64], lat[64], png[64], cmd[4 * PATH_MAX];
	struct vaetest vt;
	int pid = (int)getpid();

	snprintf(self, sizeof(self), "%s", argv[0]);
	bd = dirname(dirname(self));
	snprintf(dir, sizeof(dir), "/tmp/test_vae_gen.%d", pid);
	snprintf(ini, sizeof(ini), "/tmp/test_vae_gen.%d.ini", pid);
	snprintf(lat, sizeof(lat), "/tmp/test_vae_gen.%d.safetensors", pid);
	snprintf(png, sizeof(png), "/tmp/test_vae_gen.%d.png", pid);
	if (!ok(!module_dir(bd, dir) && !write_ini(ini, dir), "config and module folder"))
		goto out;
	snprintf(cmd, sizeof(cmd), "%s/tetriserve generate --config %s --model dit-tiny --out %s "
		 "--class 3 --seed 11 >/dev/null 2>&1", bd, ini, lat);
	if (ok(system(cmd) == 0, "tetriserve generate exits 0") &&
	    ok(access(png, R_OK) == 0, "it wrote %s", png) &&
	    ok(!vaetest_open(&vt, argv[0], 1), "vae3d loaded here")) {
		check_png(&vt, lat, png);
		vaetest_close(&vt);
	}
out:
	unlink(png);
	unlink(lat);
	unlink(ini);
	clean_dir(dir);
	return tap_done();
}
