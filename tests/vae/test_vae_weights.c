// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_weights.c - bad weight files are refused at configure
 * with a message naming the file and the key: a missing tensor, a wrong
 * shape, a wrong dtype, a file that holds no VAE, a kind that does not match
 * the file; and both SD key layouts (diffusers' current and legacy attention
 * names) decode, and encode, exactly like the ldm original.
 */
#include <unistd.h>

#include "log.h"
#include "vaetest.h"

#define SD_A "tests/data/golden/sd_vae_decoder/a.safetensors"
#define TV_A "tests/data/golden/vae_temporal/a_decode.safetensors"

static char logbuf[8192];

static void sink(enum ts_log_level lvl, const char *line, void *arg)
{
	size_t used = strlen(logbuf);

	snprintf(logbuf + used, sizeof(logbuf) - used, "%s\n", line);
}

struct edit {
	const char *key;     /* tensor to change */
	int drop;            /* remove it */
	int64_t dim1;        /* > 0: new shape[1], data cut to fit */
	enum ts_dtype dtype; /* != F32: relabel */
	char path[64];
};

static int edit_fn(void *arg, char *name, struct ts_tensor *t)
{
	struct edit *e = arg;

	if (strncmp(name, "input.", 6) == 0 || strncmp(name, "output.", 7) == 0)
		return 1;
	if (strcmp(name, e->key))
		return 1;
	if (e->drop)
		return 0;
	if (e->dim1 > 0)
		t->shape[1] = e->dim1;
	if (e->dtype != TS_F32) {
		t->dtype = e->dtype;
		t->shape[0] /= 2; /* same bytes: I64 halves the count */
	}
	return 1;
}

/* Configure from a damaged copy of @golden; expect @want and a log naming the file and key. */
static void refused(struct vaetest *vt, const char *golden, struct edit *e, int want,
		    const char *what)
{
	struct ts_st *st;
	struct ts_config *cfg = NULL;
	char wkey[128];
	void *dec = NULL;
	int err;

	snprintf(e->path, sizeof(e->path), "/tmp/test_vae_w.%d.safetensors", (int)getpid());
	if (ts_st_open(golden, &st))
		return;
	err = vaetest_rewrite(st, e->path, edit_fn, e);
	ts_st_close(st);
	if (!ok(!err, "%s: damaged copy written", what))
		return;
	snprintf(wkey, sizeof(wkey), "weights=%s", e->path);
	logbuf[0] = '\0';
	err = vaetest_configure(vt, &cfg, &dec, wkey, NULL);
	ok(err == want, "%s: refused with %s (got %s)", what, ts_strerror(want), ts_strerror(err));
	ok(strstr(logbuf, e->path) && strstr(logbuf, e->key), "%s: the message names file and key",
	   what);
	tap_diag("%s", logbuf);
	if (!err)
		vt->ops->release(dec);
	ts_config_free(cfg);
	unlink(e->path);
}

static void test_refusals(struct vaetest *vt)
{
	struct edit miss = { .key = "decoder.mid.block_1.conv2.weight", .drop = 1 };
	struct edit shape = { .key = "decoder.up.0.block.0.conv1.weight", .dim1 = 32 };
	struct edit attn = { .key = "decoder.mid.attn_1.k.weight", .dim1 = 32 };
	struct edit tmiss = { .key = "decoder.res_blocks.0.norm2.bias", .drop = 1 };
	struct edit tshape = { .key = "decoder.conv_blocks.0.conv.weight", .dim1 = 32 };
	struct edit dtype = { .key = "decoder.conv_in.bias", .dtype = TS_I64 };

	refused(vt, SD_A, &miss, TS_ENOENT, "sd: missing tensor");
	refused(vt, SD_A, &shape, TS_EFORMAT, "sd: conv with the wrong input channels");
	refused(vt, SD_A, &attn, TS_EFORMAT, "sd: attention key projection of the wrong shape");
	refused(vt, SD_A, &dtype, TS_EFORMAT, "sd: integer bias");
	refused(vt, TV_A, &tmiss, TS_ENOENT, "temporal: missing tensor");
	refused(vt, TV_A, &tshape, TS_EFORMAT, "temporal: time conv of the wrong shape");
}

static void test_not_a_vae(struct vaetest *vt)
{
	struct ts_config *cfg = NULL;
	void *dec = NULL;
	int err;

	const struct ts_decoder_ops *all = vt->ops;

	/* The decoder registered for SD VAEs refuses a temporal VAE's file. */
	vt->ops = ts_find_decoder("sd_vae_decoder");
	logbuf[0] = '\0';
	err = vt->ops ? vaetest_configure(vt, &cfg, &dec, "weights=" TV_A, NULL) : TS_ENOENT;
	ok(err == TS_EINVAL && strstr(logbuf, TV_A) && strstr(logbuf, "temporal"),
	   "a temporal file under decoder sd_vae_decoder is refused naming the file");
	if (!err)
		vt->ops->release(dec);
	ts_config_free(cfg);
	vt->ops = all;
	logbuf[0] = '\0';
	err = vaetest_configure(vt, &cfg, &dec, "weights=tests/data/vae_cases/sd_c.safetensors",
				"groupnorm_groups=32", NULL);
	ok(err == TS_EINVAL && strstr(logbuf, "groupnorm_groups") && strstr(logbuf, "sd_c"),
	   "32 groups for 8-channel norms are refused at configure, naming the key and file");
	if (!err)
		vt->ops->release(dec);
	ts_config_free(cfg);
	logbuf[0] = '\0';
	err = vaetest_configure(vt, &cfg, &dec, "weights=/nonexistent.safetensors", NULL);
	ok(err == TS_ENOENT && strstr(logbuf, "/nonexistent.safetensors"), "a missing file is "
	   "refused naming it");
	ts_config_free(cfg);
}

/* ldm -> diffusers names (spec §2.4), @legacy: query/key/value/proj_attn. */
static int to_diffusers(void *arg, char *name, struct ts_tensor *t)
{
	static const char *const cur[4] = { "to_q", "to_k", "to_v", "to_out.0" };
	static const char *const old[4] = { "query", "key", "value", "proj_attn" };
	static const char *const ldm[4] = { "q.", "k.", "v.", "proj_out." };
	const char *const *att = *(int *)arg ? old : cur;
	char rest[160], out[256];
	int k, j, L = 2;

	if (!strncmp(name, "input.", 6) || !strncmp(name, "output.", 7))
		return 1;
	snprintf(out, sizeof(out), "%s", name);
	if (sscanf(name, "decoder.up.%d.block.%d.%159s", &k, &j, rest) == 3)
		snprintf(out, sizeof(out), "decoder.up_blocks.%d.resnets.%d.%s", L - 1 - k, j, rest);
	if (sscanf(name, "decoder.up.%d.block.%d.nin_shortcut.%159s", &k, &j, rest) == 3)
		snprintf(out, sizeof(out), "decoder.up_blocks.%d.resnets.%d.conv_shortcut.%s",
			 L - 1 - k, j, rest);
	if (sscanf(name, "decoder.up.%d.upsample.conv.%159s", &k, rest) == 2)
		snprintf(out, sizeof(out), "decoder.up_blocks.%d.upsamplers.0.conv.%s", L - 1 - k,
			 rest);
	if (sscanf(name, "decoder.mid.block_%d.%159s", &k, rest) == 2)
		snprintf(out, sizeof(out), "decoder.mid_block.resnets.%d.%s", k - 1, rest);
	if (sscanf(name, "decoder.norm_out.%159s", rest) == 1)
		snprintf(out, sizeof(out), "decoder.conv_norm_out.%s", rest);
	if (sscanf(name, "decoder.mid.attn_1.norm.%159s", rest) == 1)
		snprintf(out, sizeof(out), "decoder.mid_block.attentions.0.group_norm.%s", rest);
	for (int i = 0; i < 4; i++) {
		if (sscanf(name, "decoder.mid.attn_1.%159s", rest) != 1 ||
		    strncmp(rest, ldm[i], strlen(ldm[i])))
			continue;
		snprintf(out, sizeof(out), "decoder.mid_block.attentions.0.%s.%s", att[i],
			 rest + strlen(ldm[i]));
		if (t->ndim == 4)
			t->ndim = 2; /* diffusers' Linear: [c, c], not [c, c, 1, 1] */
	}
	strcpy(name, out);
	return 1;
}

/* An ldm attention key "<lp>.<sub>" as diffusers' "<hp>.<sub'>" (q -> to_q ...). */
static int attn_key(const char *rest, const char *hp, char *out, size_t n, struct ts_tensor *t)
{
	static const char *const ldm[5] = { "norm.", "q.", "k.", "v.", "proj_out." };
	static const char *const hf[5] = { "group_norm", "to_q", "to_k", "to_v", "to_out.0" };

	for (int i = 0; i < 5; i++) {
		if (strncmp(rest, ldm[i], strlen(ldm[i])))
			continue;
		snprintf(out, n, "%s.%s.%s", hp, hf[i], rest + strlen(ldm[i]));
		if (t->ndim == 4 && i > 0)
			t->ndim = 2;
		return 1;
	}
	return 0;
}

/* The SD encoder's ldm keys -> diffusers' (spec §2.4). */
static int enc_to_diffusers(void *arg, char *name, struct ts_tensor *t)
{
	char rest[160], out[256], hp[96];
	int i, j;

	snprintf(out, sizeof(out), "%s", name);
	if (sscanf(name, "encoder.down.%d.block.%d.nin_shortcut.%159s", &i, &j, rest) == 3)
		snprintf(out, sizeof(out), "encoder.down_blocks.%d.resnets.%d.conv_shortcut.%s", i, j,
			 rest);
	else if (sscanf(name, "encoder.down.%d.block.%d.%159s", &i, &j, rest) == 3)
		snprintf(out, sizeof(out), "encoder.down_blocks.%d.resnets.%d.%s", i, j, rest);
	else if (sscanf(name, "encoder.down.%d.downsample.conv.%159s", &i, rest) == 2)
		snprintf(out, sizeof(out), "encoder.down_blocks.%d.downsamplers.0.conv.%s", i, rest);
	else if (sscanf(name, "encoder.down.%d.attn.%d.%159s", &i, &j, rest) == 3) {
		snprintf(hp, sizeof(hp), "encoder.down_blocks.%d.attentions.%d", i, j);
		attn_key(rest, hp, out, sizeof(out), t);
	} else if (sscanf(name, "encoder.mid.block_%d.%159s", &i, rest) == 2)
		snprintf(out, sizeof(out), "encoder.mid_block.resnets.%d.%s", i - 1, rest);
	else if (sscanf(name, "encoder.mid.attn_1.%159s", rest) == 1)
		attn_key(rest, "encoder.mid_block.attentions.0", out, sizeof(out), t);
	else if (sscanf(name, "encoder.norm_out.%159s", rest) == 1)
		snprintf(out, sizeof(out), "encoder.conv_norm_out.%s", rest);
	strcpy(name, out);
	return 1;
}

struct enc_run {
	struct vaetest *vt;
	const char *path;
	struct ts_tensor x, out;
};

static int encode_on_dev(struct ts_dev *dev, void *arg)
{
	struct enc_run *r = arg;
	char wkey[96];
	const char *kv[] = { wkey, "groupnorm_groups=8", NULL };
	struct ts_config *cfg = NULL;
	void *dec = NULL, *w = NULL;
	int err;

	snprintf(wkey, sizeof(wkey), "weights=%s", r->path);
	err = vaetest_configure_v(r->vt, &cfg, &dec, kv);
	if (!err)
		err = r->vt->ops->load(dec, dev, &w);
	if (!err)
		err = r->vt->ops->encode(dec, dev, w, &r->x, 0, &r->out);
	if (w)
		r->vt->ops->unload(dec, dev, w);
	if (dec)
		r->vt->ops->release(dec);
	ts_config_free(cfg);
	return err;
}

static void test_enc_layout(struct vaetest *vt)
{
	const char *src = "tests/data/vae_cases/sd_e_encode.safetensors";
	char path[64];
	struct enc_run r = { .vt = vt, .path = path };
	struct ts_tensor ref, probe;
	struct ts_st *st, *conv;

	snprintf(path, sizeof(path), "/tmp/test_vae_hfenc.%d.safetensors", (int)getpid());
	if (ts_st_open(src, &st))
		return;
	ok(!vaetest_rewrite(st, path, enc_to_diffusers, NULL), "diffusers encoder copy written");
	ts_st_close(st);
	ts_st_open(path, &conv);
	ok(!ts_st_get(conv, "encoder.down_blocks.1.downsamplers.0.conv.weight", &probe) &&
	   !ts_st_get(conv, "encoder.mid_block.attentions.0.to_q.weight", &probe) &&
	   probe.ndim == 2, "the copy uses diffusers names and Linear shapes");
	ts_st_get(conv, "input.x", &r.x);
	ts_st_get(conv, "output.moments", &ref);
	if (ok(!vaetest_on_dev(vt, encode_on_dev, &r) && ts_tensor_numel(&r.out) ==
	       ts_tensor_numel(&ref), "diffusers-named SD encoder encodes"))
		ok(vaetest_rel_inf(r.out.data, ref.data, ts_tensor_numel(&ref)) < 1e-4,
		   "and gives the reference moments");
	vt->host->free(r.out.data);
	ts_st_close(conv);
	unlink(path);
}

struct dec_run {
	struct vaetest *vt;
	void *dec;
	struct ts_tensor z, out;
	int err;
};

static int decode_on_dev(struct ts_dev *dev, void *arg)
{
	struct dec_run *r = arg;
	void *w = NULL;
	int err = r->vt->ops->load(r->dec, dev, &w);

	if (!err)
		err = r->vt->ops->decode(r->dec, dev, w, &r->z, 0, &r->out);
	r->vt->ops->unload(r->dec, dev, w);
	return err;
}

static void test_layout(struct vaetest *vt, int legacy)
{
	char path[64], wkey[96];
	struct ts_st *st, *conv;
	struct ts_tensor ref;
	struct ts_config *cfg = NULL;
	struct dec_run r = { .vt = vt };
	const char *what = legacy ? "diffusers (legacy attention names)" : "diffusers";

	snprintf(path, sizeof(path), "/tmp/test_vae_hf.%d.safetensors", (int)getpid());
	if (ts_st_open(SD_A, &st))
		return;
	ok(!vaetest_rewrite(st, path, to_diffusers, &legacy), "%s copy written", what);
	ts_st_close(st);
	snprintf(wkey, sizeof(wkey), "weights=%s", path);
	if (!ok(!vaetest_configure(vt, &cfg, &r.dec, wkey, "latent_scale=1", NULL),
		"%s layout configures", what))
		goto out;
	ts_st_open(path, &conv);
	ok(!ts_st_get(conv, "decoder.up_blocks.1.resnets.0.conv_shortcut.weight", &ref) ||
	   !ts_st_get(conv, "decoder.up_blocks.0.resnets.0.conv_shortcut.weight", &ref),
	   "%s copy really uses diffusers names", what);
	ts_st_get(conv, "input.z", &r.z);
	r.err = vaetest_on_dev(vt, decode_on_dev, &r);
	ts_st_get(conv, "output.decode", &ref);
	if (ok(!r.err && ts_tensor_numel(&r.out) == ts_tensor_numel(&ref), "%s decodes", what))
		ok(vaetest_rel_inf(r.out.data, ref.data, ts_tensor_numel(&ref)) < 1e-4,
		   "%s: decode within 1e-4 of the golden output", what);
	vt->host->free(r.out.data);
	ts_st_close(conv);
	vt->ops->release(r.dec);
out:
	ts_config_free(cfg);
	unlink(path);
}

/* Weights stored as BF16 (round to nearest even), inputs and outputs left F32. */
struct bf16_edit {
	uint16_t *bufs[512];
	int n;
};

static int to_bf16(void *arg, char *name, struct ts_tensor *t)
{
	struct bf16_edit *e = arg;
	int64_t n = ts_tensor_numel(t);
	const uint32_t *src = t->data;
	uint16_t *dst;

	if (!strncmp(name, "input.", 6) || !strncmp(name, "output.", 7) || t->dtype != TS_F32 ||
	    e->n == 512)
		return 1;
	dst = malloc(sizeof(uint16_t) * (size_t)(n ? n : 1));
	for (int64_t i = 0; dst && i < n; i++)
		dst[i] = (uint16_t)((src[i] + 0x7fffu + ((src[i] >> 16) & 1u)) >> 16);
	e->bufs[e->n++] = dst;
	t->data = dst;
	t->dtype = TS_BF16;
	return 1;
}

/* A BF16 checkpoint loads (converted on upload) and decodes close to the F32 reference. */
static void test_bf16(struct vaetest *vt)
{
	struct bf16_edit e = { .n = 0 };
	char path[64], wkey[96];
	struct dec_run r = { .vt = vt };
	struct ts_config *cfg = NULL;
	struct ts_st *st, *conv;
	struct ts_tensor ref;
	double err = INFINITY;

	snprintf(path, sizeof(path), "/tmp/test_vae_bf16.%d.safetensors", (int)getpid());
	if (ts_st_open(SD_A, &st))
		return;
	ok(!vaetest_rewrite(st, path, to_bf16, &e), "BF16 copy of the SD golden written");
	ts_st_close(st);
	for (int i = 0; i < e.n; i++)
		free(e.bufs[i]);
	snprintf(wkey, sizeof(wkey), "weights=%s", path);
	if (ok(!vaetest_configure(vt, &cfg, &r.dec, wkey, "latent_scale=1", NULL),
	       "BF16 weights configure") && !ts_st_open(path, &conv)) {
		ts_st_get(conv, "input.z", &r.z);
		ts_st_get(conv, "output.decode", &ref);
		if (!vaetest_on_dev(vt, decode_on_dev, &r))
			err = vaetest_rel_inf(r.out.data, ref.data, ts_tensor_numel(&ref));
		/* BF16 keeps 8 bits of mantissa: about 4e-3 per weight */
		ok(err < 5e-2, "BF16 weights decode within 5e-2 of the F32 golden (%.2e)", err);
		vt->host->free(r.out.data);
		ts_st_close(conv);
		vt->ops->release(r.dec);
	}
	ts_config_free(cfg);
	unlink(path);
}

int main(int argc, char **argv)
{
	struct vaetest vt;
	int err = vaetest_open(&vt, argv[0], 0);

	if (!ok(!err, "vae3d module loaded and a CPU device opened (%s)", ts_strerror(err)))
		return tap_done();
	ts_log_set_sink(sink, NULL);
	test_refusals(&vt);
	test_not_a_vae(&vt);
	test_layout(&vt, 0);
	test_layout(&vt, 1);
	test_enc_layout(&vt);
	test_bf16(&vt);
	ts_log_set_sink(NULL, NULL);
	vaetest_close(&vt);
	return tap_done();
}
