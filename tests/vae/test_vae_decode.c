// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_decode.c - the decoder ops as the engine calls them:
 * decode and encode of the golden cases through ops->decode/encode (latent
 * scaling, batches), memory budgets (smaller batches, then tiles; a tile
 * covering the latent equals the untiled result, overlapping tiles stay
 * close to it), and Open-Sora's pipeline against its parts run one by one.
 */
#include <unistd.h>

#include "cpu/cpu.h"
#include "image_png.h"
#include "video_mp4.h"
#include "log.h"
#include "vaetest.h"

#define SD_A "tests/data/golden/sd_vae_decoder/a.safetensors"
#define SD_B "tests/data/golden/sd_vae_decoder/b.safetensors"
#define TV_A "tests/data/golden/vae_temporal/a_decode.safetensors"
#define TV_AE "tests/data/golden/vae_temporal/a_encode.safetensors"
#define SD_E "tests/data/vae_cases/sd_e_encode.safetensors"

struct job {
	struct vaetest *vt;
	const char *const *kv;
	const struct ts_tensor *in;
	uint64_t budget;
	int encode;
	struct ts_tensor out;
};

static int job_on_dev(struct ts_dev *dev, void *arg)
{
	struct job *j = arg;
	struct ts_config *cfg = NULL;
	void *dec = NULL, *w = NULL;
	int err = vaetest_configure_v(j->vt, &cfg, &dec, j->kv);

	if (!err)
		err = j->vt->ops->load(dec, dev, &w);
	if (!err && j->encode)
		err = j->vt->ops->encode(dec, dev, w, j->in, j->budget, &j->out);
	else if (!err)
		err = j->vt->ops->decode(dec, dev, w, j->in, j->budget, &j->out);
	if (w)
		j->vt->ops->unload(dec, dev, w);
	if (dec)
		j->vt->ops->release(dec);
	ts_config_free(cfg);
	return err;
}

/* Configure from @kv, load, decode (or encode) @in within @budget; *out host F32 or NULL data. */
static int run(struct vaetest *vt, const char *const *kv, const struct ts_tensor *in,
	       uint64_t budget, int encode, struct ts_tensor *out)
{
	struct job j = { .vt = vt, .kv = kv, .in = in, .budget = budget, .encode = encode };
	int err = vaetest_on_dev(vt, job_on_dev, &j);

	*out = j.out;
	return err;
}

static int same_shape(const struct ts_tensor *a, const struct ts_tensor *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	return 1;
}

static double cmp(const struct ts_tensor *got, const struct ts_tensor *ref)
{
	if (!got->data || !same_shape(got, ref))
		return INFINITY;
	return vaetest_rel_inf(got->data, ref->data, ts_tensor_numel(ref));
}

/* Run and compare in sequence (an ok() argument list has no evaluation order). */
static double run_cmp(struct vaetest *vt, const char *const *kv, const struct ts_tensor *in,
		      uint64_t budget, const struct ts_tensor *ref)
{
	struct ts_tensor out = { 0 };
	double e = run(vt, kv, in, budget, 0, &out) ? INFINITY : cmp(&out, ref);

	vt->host->free(out.data);
	return e;
}

static void test_sd(struct vaetest *vt)
{
	const char *raw[] = { "weights=" SD_B, "latent_scale=1", NULL };
	const char *sc[] = { "weights=" SD_B, NULL };
	struct ts_tensor z, ref, zs;
	struct ts_st *st;
	float *scaled;
	uint64_t two = 2 * 9 * 64 * 12 * 16 * 4; /* about one 6x8 image of this model */
	double e;

	ts_st_open(SD_B, &st);
	ts_st_get(st, "input.z", &z);
	ts_st_get(st, "output.decode", &ref);
	e = run_cmp(vt, raw, &z, 0, &ref);
	ok(e < 1e-4, "sd decode op, batch 2: within 1e-4 of the golden decode (%.2e)", e);

	/* The default divides by SD's 0.18215 first, as DiT's sample.py does. */
	zs = z;
	scaled = malloc(sizeof(float) * (size_t)ts_tensor_numel(&z));
	for (int64_t i = 0; i < ts_tensor_numel(&z); i++)
		scaled[i] = ((const float *)z.data)[i] * 0.18215f;
	zs.data = scaled;
	e = run_cmp(vt, sc, &zs, 0, &ref);
	ok(e < 1e-4, "sd decode op divides by latent_scale 0.18215 (%.2e)", e);
	free(scaled);

	/* Budgets: one image per pass, then bands of a few rows, then one row. */
	e = run_cmp(vt, raw, &z, two, &ref);
	ok(e < 1e-4, "sd decode op in a budget of %llu bytes (%.2e)", (unsigned long long)two, e);
	e = run_cmp(vt, raw, &z, two / 8, &ref);
	ok(e < 1e-4, "sd decode op in bands, budget %llu bytes (%.2e)", (unsigned long long)two / 8,
	   e);
	e = run_cmp(vt, raw, &z, 1, &ref);
	ok(e < 1e-4, "sd decode op one row at a time (%.2e)", e);
	ts_st_close(st);
}

/* A deterministic smooth-ish latent [1, 4, h, w] in about [-1.5, 1.5]. */
static float *latent(int h, int w)
{
	float *z = malloc(sizeof(float) * 4 * (size_t)(h * w));
	uint32_t s = 12345;

	for (int i = 0; i < 4 * h * w; i++) {
		s = s * 1664525u + 1013904223u;
		z[i] = 1.5f * sinf(0.3f * (float)(i % w) + 0.2f * (float)(i / w)) +
		       0.5f * ((float)(s >> 8) / 16777216.0f - 0.5f);
	}
	return z;
}

struct capped {
	struct vaetest *vt;
	const struct ts_tensor *z;
	uint64_t budget;
	int err_whole, err_band;
	struct ts_tensor out;
};

/*
 * The device's own limit set to the weights plus @budget (and 64 KiB for the
 * small per-layer vectors): the whole decode must run out of memory, the
 * banded one must not. This is what "within the budget" means.
 */
static int capped_on_dev(struct ts_dev *dev, void *arg)
{
	const char *kv[] = { "weights=" SD_A, "latent_scale=1", NULL };
	struct capped *c = arg;
	struct ts_cpu_dev *d = (struct ts_cpu_dev *)dev;
	size_t cap = d->mem_cap;
	struct ts_config *cfg = NULL;
	struct ts_tensor whole = { 0 };
	void *dec = NULL, *w = NULL;
	int err = vaetest_configure_v(c->vt, &cfg, &dec, kv);

	if (!err)
		err = c->vt->ops->load(dec, dev, &w);
	if (!err) {
		d->mem_cap = atomic_load(&d->mem_used) + c->budget + 64 * 1024;
		c->err_whole = c->vt->ops->decode(dec, dev, w, c->z, 0, &whole);
		c->err_band = c->vt->ops->decode(dec, dev, w, c->z, c->budget, &c->out);
		d->mem_cap = cap;
		c->vt->host->free(whole.data);
		c->vt->ops->unload(dec, dev, w);
	}
	if (dec)
		c->vt->ops->release(dec);
	ts_config_free(cfg);
	return err;
}

/* Bands against the whole image on a bigger latent: only summation order may differ. */
static void test_bands(struct vaetest *vt)
{
	const char *kv[] = { "weights=" SD_A, "latent_scale=1", NULL };
	struct ts_tensor z = { .dtype = TS_F32, .ndim = 4, .shape = { 1, 4, 40, 36 } };
	struct capped c = { .vt = vt, .z = &z, .budget = 3 << 19 };
	struct ts_tensor ref;
	double e;

	z.data = latent(40, 36);
	if (!ok(!run(vt, kv, &z, 0, 0, &ref), "sd 40x36 latent decodes whole"))
		return;
	e = run_cmp(vt, kv, &z, 512 * 1024, &ref);
	ok(e < 1e-5, "bands within a 512 KiB budget equal the whole decode (%.2e)", e);
	e = run_cmp(vt, kv, &z, 64 * 1024, &ref);
	ok(e < 1e-5, "bands within a 64 KiB budget equal the whole decode (%.2e)", e);
	ok(!vaetest_on_dev(vt, capped_on_dev, &c), "weights load on the device");
	ok(c.err_whole == TS_ENOMEM, "device limited to weights + 1.5 MiB: the whole decode does "
	   "not fit (%s)", ts_strerror(c.err_whole));
	ok(c.err_band == 0, "the same device decodes within a 1.5 MiB budget (%s)",
	   ts_strerror(c.err_band));
	e = c.err_band ? INFINITY : cmp(&c.out, &ref);
	ok(e < 1e-5, "and gives the whole decode's pixels (%.2e)", e);
	vt->host->free(c.out.data);
	vt->host->free(ref.data);
	free(z.data);
}

static void test_temporal(struct vaetest *vt)
{
	const char *dec[] = { "weights=" TV_A, "frames=4", NULL };
	const char *enc[] = { "weights=" TV_AE, NULL };
	struct ts_tensor z, ref, out = { 0 }, x, mean, logvar;
	struct ts_st *st, *se;
	double e = 0;

	ts_st_open(TV_A, &st);
	ts_st_get(st, "input.z", &z);
	ts_st_get(st, "output.decode", &ref);
	e = run_cmp(vt, dec, &z, 0, &ref);
	ok(e < 1e-4, "temporal decode op: within 1e-4 of the golden decode (%.2e)", e);
	ts_st_close(st);

	ts_st_open(TV_AE, &se);
	ts_st_get(se, "input.x", &x);
	ts_st_get(se, "output.posterior_mean", &mean);
	ts_st_get(se, "output.posterior_logvar", &logvar);
	if (ok(!run(vt, enc, &x, 0, 1, &out) && out.shape[1] == 2 * mean.shape[1],
	       "temporal encode op gives mean and log-variance channels")) {
		int64_t n = ts_tensor_numel(&mean);

		e = fmax(vaetest_rel_inf(out.data, mean.data, n),
			 vaetest_rel_inf((float *)out.data + n, logvar.data, n));
		ok(e < 1e-4, "encode op: within 1e-4 of posterior mean and logvar (%.2e)", e);
	}
	vt->host->free(out.data);
	ts_st_close(se);
}

/* The SD encoder through ops->encode: moments = [mean; clamped logvar]. */
static void test_sd_encode(struct vaetest *vt)
{
	const char *kv[] = { "weights=" SD_E, "groupnorm_groups=8", NULL };
	struct ts_tensor x, mean, logvar, out = { 0 };
	struct ts_st *st;
	double e;

	ts_st_open(SD_E, &st);
	ts_st_get(st, "input.x", &x);
	ts_st_get(st, "output.posterior_mean", &mean);
	ts_st_get(st, "output.posterior_logvar", &logvar);
	if (ok(!run(vt, kv, &x, 0, 1, &out) && out.ndim == 4 && out.shape[1] == 2 * mean.shape[1],
	       "sd encode op gives [B, 2 z, h, w] moments")) {
		int64_t n = ts_tensor_numel(&mean);

		e = fmax(vaetest_rel_inf(out.data, mean.data, n),
			 vaetest_rel_inf((float *)out.data + n, logvar.data, n));
		ok(e < 1e-4, "sd encode op: within 1e-4 of posterior mean and logvar (%.2e)", e);
	}
	vt->host->free(out.data);
	ts_st_close(st);
}

static int pipe_edit(void *arg, char *name, struct ts_tensor *t)
{
	char tmp[256];

	if (!strncmp(name, "input.", 6) || !strncmp(name, "output.", 7))
		return 0;
	snprintf(tmp, sizeof(tmp), "%s%s", (const char *)arg, name);
	strcpy(name, tmp);
	return 1;
}

/* Upstream's VideoAutoencoderPipeline.decode, step by step with the parts. */
static int pipeline_by_hand(struct vaetest *vt, const struct ts_tensor *z, struct ts_tensor *out)
{
	static const float shift[4] = { -0.10f, 0.34f, 0.27f, 0.98f };
	static const float scale[4] = { 3.85f, 2.32f, 2.33f, 3.06f };
	const char *c1[] = { "weights=" TV_A, "frames=3", NULL };
	const char *c2[] = { "weights=" TV_A, "frames=2", NULL };
	const char *sd[] = { "weights=" SD_A, NULL };
	int64_t S = z->shape[3] * z->shape[4];
	struct ts_tensor a = *z, b = *z, pa, pb, v = { .dtype = TS_F32, .ndim = 5 };
	float *za = malloc(sizeof(float) * 4 * 2 * S), *zb = malloc(sizeof(float) * 4 * S);
	int err;

	for (int c = 0; c < 4; c++)
		for (int t = 0; t < 3; t++)
			for (int64_t p = 0; p < S; p++) {
				float x = ((const float *)z->data)[(c * 3 + t) * S + p];

				x = x * scale[c] + shift[c];
				if (t < 2)
					za[(c * 2 + t) * S + p] = x;
				else
					zb[c * S + p] = x;
			}
	a.shape[2] = 2;
	a.data = za;
	b.shape[2] = 1;
	b.data = zb;
	err = run(vt, c1, &a, 0, 0, &pa);
	if (!err)
		err = run(vt, c2, &b, 0, 0, &pb);
	if (!err) {
		memcpy(v.shape, pa.shape, sizeof(v.shape));
		v.shape[2] = pa.shape[2] + pb.shape[2];
		v.data = malloc(sizeof(float) * (size_t)ts_tensor_numel(&v));
		for (int c = 0; c < 4; c++) {
			memcpy((float *)v.data + c * v.shape[2] * S, (float *)pa.data + c * 3 * S,
			       sizeof(float) * 3 * S);
			memcpy((float *)v.data + (c * v.shape[2] + 3) * S,
			       (float *)pb.data + c * 2 * S, sizeof(float) * 2 * S);
		}
		err = run(vt, sd, &v, 0, 0, out);
	}
	vt->host->free(pa.data);
	vt->host->free(pb.data);
	free(v.data);
	free(za);
	free(zb);
	return err;
}

static void test_pipeline(struct vaetest *vt)
{
	char path[64], wkey[96], path_t[64];
	const char *kv[] = { wkey, "micro_frames=3", NULL };
	struct ts_tensor z = { .dtype = TS_F32, .ndim = 5, .shape = { 1, 4, 3, 4, 5 } };
	struct ts_tensor got = { 0 }, want = { 0 };
	struct ts_st *sd, *tv;

	snprintf(path, sizeof(path), "/tmp/test_vae_pipe.%d.safetensors", (int)getpid());
	snprintf(path_t, sizeof(path_t), "/tmp/test_vae_pipe_t.%d.safetensors", (int)getpid());
	snprintf(wkey, sizeof(wkey), "weights=%s", path);
	ts_st_open(SD_A, &sd);
	ts_st_open(TV_A, &tv);
	/* Open-Sora's checkpoint keys: spatial_vae.module.* (SD) and temporal_vae.* */
	ok(!vaetest_rewrite(sd, path_t, pipe_edit, "spatial_vae.module."), "pipeline: SD part");
	ts_st_close(sd);
	ts_st_open(path_t, &sd);
	{
		int n1 = ts_st_count(sd), n2 = ts_st_count(tv), n = 0;
		struct ts_tensor *t = calloc((size_t)(n1 + n2), sizeof(*t));
		char (*names)[256] = calloc((size_t)(n1 + n2), 256);

		for (int i = 0; i < n1; i++, n++) {
			snprintf(names[n], 256, "%s", ts_st_key(sd, i));
			ts_st_get(sd, names[n], &t[n]);
			t[n].name = names[n];
		}
		for (int i = 0; i < n2; i++) {
			if (!strncmp(ts_st_key(tv, i), "input.", 6) ||
			    !strncmp(ts_st_key(tv, i), "output.", 7))
				continue;
			snprintf(names[n], 256, "temporal_vae.%s", ts_st_key(tv, i));
			ts_st_get(tv, ts_st_key(tv, i), &t[n]);
			t[n].name = names[n];
			n++;
		}
		ok(!ts_st_write(path, t, n, NULL), "pipeline checkpoint written (%d tensors)", n);
		free(t);
		free(names);
	}
	ts_st_close(sd);
	ts_st_close(tv);
	z.data = latent(12, 5);
	if (ok(!run(vt, kv, &z, 0, 0, &got), "pipeline decodes 3 latent frames in chunks of 2") &&
	    ok(got.ndim == 5 && got.shape[1] == 3 && got.shape[2] == 5 && got.shape[3] == 8 &&
	       got.shape[4] == 10, "pipeline gives [1, 3, 5, 8, 10] (3 + 2 frames)") &&
	    ok(!pipeline_by_hand(vt, &z, &want), "the parts run one by one"))
		ok(cmp(&got, &want) < 1e-5, "pipeline equals shift/scale, temporal chunks, "
		   "SD per frame (%.2e)", 0.0 + cmp(&got, &want));
	vt->host->free(got.data);
	vt->host->free(want.data);
	free(z.data);
	unlink(path);
	unlink(path_t);
}

/* Decoded pixels end in files: each image of a batch as a PNG, a decoded video as an MP4. */
static void test_files(struct vaetest *vt)
{
	const char *kv[] = { "weights=" SD_B, "latent_scale=1", NULL };
	const char *meta[] = { "seed", "3", "steps", "50", "model", "sd-vae-golden-b", NULL };
	struct ts_tensor z, out = { 0 };
	struct ts_st *st;
	char path[64];

	ts_st_open(SD_B, &st);
	ts_st_get(st, "input.z", &z);
	if (ok(!run(vt, kv, &z, 0, 0, &out), "decode for the PNG files")) {
		int64_t C = out.shape[1], H = out.shape[2], W = out.shape[3];

		for (int64_t b = 0; b < out.shape[0]; b++) {
			const float *img = (const float *)out.data + b * C * H * W;
			uint8_t *rgb = NULL;
			int w = 0, h = 0, bad = 0;

			snprintf(path, sizeof(path), "/tmp/test_vae_dec.%d.png", (int)getpid());
			ok(!ts_png_write(path, img, (int)C, (int)H, (int)W, meta) &&
			   !ts_png_read(path, &rgb, &w, &h) && w == W && h == H,
			   "decoded image %lld written as PNG and read back", (long long)b);
			for (int64_t p = 0; rgb && p < H * W * C; p++)
				bad += rgb[(p % (H * W)) * 3 + p / (H * W)] != ts_pixel_u8(img[p]);
			ok(rgb && !bad, "PNG %lld holds the decoded pixels (%d differ)", (long long)b,
			   bad);
			free(rgb);
			unlink(path);
		}
	}
	vt->host->free(out.data);
	ts_st_close(st);
}

/* MACs of the golden SD model (ch 32, ch_mult 1,2, 2 blocks a level), counted by hand. */
static double sd_a_macs(double h, double w)
{
	double p = h * w, P = 4 * p, c3 = 9;

	return 4 * 4 * p + 4 * 64 * c3 * p                        /* post_quant, conv_in */
	       + 2 * 2 * 64 * 64 * c3 * p                          /* mid blocks */
	       + 4 * 64 * 64 * p + 2 * 64 * p * p                  /* mid attention */
	       + 2 * 2 * 64 * 64 * c3 * p + 64 * 64 * c3 * P       /* level 1, upsample conv */
	       + (64 * 32 * c3 + 32 * 32 * c3 + 64 * 32) * P       /* level 0 block 0 */
	       + 2 * 32 * 32 * c3 * P + 32 * 3 * c3 * P;           /* block 1, conv_out */
}

/* The cost function: 2 FLOPs per multiply-accumulate at the device's peak rate. */
static void test_cost(struct vaetest *vt)
{
	const char *kv[] = { "weights=" SD_A, NULL };
	struct ts_device_info dev = { .kind = "cpu", .peak_flops = 1e12 };
	struct ts_tensor z1 = { .dtype = TS_F32, .ndim = 4, .shape = { 1, 4, 16, 24 } };
	struct ts_tensor z3 = { .dtype = TS_F32, .ndim = 4, .shape = { 3, 4, 16, 24 } };
	struct ts_tensor v = { .dtype = TS_F32, .ndim = 5, .shape = { 1, 4, 5, 16, 24 } };
	struct ts_config *cfg = NULL;
	void *dec = NULL;
	double c1;

	if (!ok(!vaetest_configure_v(vt, &cfg, &dec, kv), "configure for the cost model"))
		return;
	c1 = vt->ops->cost(dec, &z1, &dev);
	ok(fabs(c1 - 2 * sd_a_macs(16, 24) / 1e12) < 1e-9 * c1,
	   "sd cost of a 16x24 latent: %.4g s = 2 x hand-counted MACs / peak", c1);
	ok(fabs(vt->ops->cost(dec, &z3, &dev) - 3 * c1) < 1e-9 * c1, "a batch of 3 costs 3 times");
	ok(fabs(vt->ops->cost(dec, &v, &dev) - 5 * c1) < 1e-9 * c1, "5 frames cost 5 images");
	vt->ops->release(dec);
	ts_config_free(cfg);
}

static char peak_line[512];

static void peak_sink(enum ts_log_level lvl, const char *line, void *arg)
{
	if (strstr(line, "activations peaked"))
		snprintf(peak_line, sizeof(peak_line), "%s", line);
}

/*
 * The per-image memory estimate that decides between whole passes and bands
 * must not be below what a whole decode really holds (the module logs both).
 */
static void test_estimate(struct vaetest *vt, const char *file, int t, int h, int w)
{
	char wkey[128];
	const char *kv[] = { wkey, "latent_scale=1", NULL };
	struct ts_tensor z = { .dtype = TS_F32, .ndim = 5, .shape = { 1, 4, t, h, w } }, out = { 0 };
	unsigned long long peak = 0, est = 0;
	const char *p;

	snprintf(wkey, sizeof(wkey), "weights=%s", file);
	if (t == 0) { /* an image latent */
		z.ndim = 4;
		z.shape[2] = h;
		z.shape[3] = w;
	}
	z.data = latent(t ? t * h : h, w);
	peak_line[0] = '\0';
	ts_log_set_sink(peak_sink, NULL);
	run(vt, kv, &z, 0, 0, &out);
	ts_log_set_sink(NULL, NULL);
	p = strstr(peak_line, "peaked at ");
	if (ok(p && sscanf(p, "peaked at %llu bytes (estimate %llu", &peak, &est) == 2,
	       "%s %dx%dx%d: the decode logs its peak and estimate", file, t, h, w))
		ok(peak <= est && est < 2 * peak, "%dx%dx%d: estimate %llu >= measured peak %llu, "
		   "within 2x", t, h, w, est, peak);
	vt->host->free(out.data);
	free(z.data);
}

struct two {
	struct vaetest *vt;
	void *dec;
	const struct ts_tensor *z;
	struct ts_tensor out[2];
};

static int two_rank(struct ts_dev *dev, int rank, void *arg)
{
	struct two *t = arg;
	void *w = NULL;
	int err = t->vt->ops->load(t->dec, dev, &w);

	if (!err)
		err = t->vt->ops->decode(t->dec, dev, w, t->z, 0, &t->out[rank]);
	if (w)
		t->vt->ops->unload(t->dec, dev, w);
	return err;
}

/* One configured decoder decoding on two devices at the same time (as the engine may). */
static void test_two_devices(struct vaetest *vt)
{
	const char *kv[] = { "weights=" SD_B, "latent_scale=1", NULL };
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	struct ts_dev *devs[2];
	struct ts_config *cfg = NULL;
	struct two t = { .vt = vt };
	struct ts_tensor z, ref;
	struct ts_st *st;
	int err;

	ts_st_open(SD_B, &st);
	ts_st_get(st, "input.z", &z);
	ts_st_get(st, "output.decode", &ref);
	t.z = &z;
	err = vaetest_configure_v(vt, &cfg, &t.dec, kv);
	if (!err)
		err = ts_backend_open("cpu", vt->host, 2, 1, &be_ops, &be);
	if (ok(!err, "two CPU devices and one configured decoder")) {
		devs[0] = be_ops->device(be, 0);
		devs[1] = be_ops->device(be, 1);
		ok(!ts_backend_run_spmd(devs, 2, two_rank, &t), "both decode at once");
		ok(cmp(&t.out[0], &ref) < 1e-4 && cmp(&t.out[1], &ref) < 1e-4,
		   "both give the golden decode");
		be_ops->destroy(be);
	}
	vt->host->free(t.out[0].data);
	vt->host->free(t.out[1].data);
	if (t.dec)
		vt->ops->release(t.dec);
	ts_config_free(cfg);
	ts_st_close(st);
}

int main(int argc, char **argv)
{
	struct vaetest vt;
	int err = vaetest_open(&vt, argv[0], 0);

	if (!ok(!err, "vae3d module loaded and a CPU device opened (%s)", ts_strerror(err)))
		return tap_done();
	test_sd(&vt);
	test_bands(&vt);
	test_temporal(&vt);
	test_sd_encode(&vt);
	test_pipeline(&vt);
	test_files(&vt);
	test_cost(&vt);
	test_two_devices(&vt);
	test_estimate(&vt, SD_A, 0, 40, 36);
	test_estimate(&vt, SD_A, 0, 9, 13);
	test_estimate(&vt, TV_A, 5, 24, 20);
	vaetest_close(&vt);
	return tap_done();
}
