// SPDX-License-Identifier: MIT
/*
 * tests/server/test_video.c - video requests through the API on the real
 * executor: a tiny STDiT3 (the golden case's weights) and Open-Sora's VAE on
 * two CPU devices, served on an ephemeral loopback port. frames and fps are
 * checked (400 naming the field), a 17-frame request comes back as an MP4, the
 * job's content is served as video/mp4, caption embeddings sent in the request
 * reach the model, and the same model still makes images.
 * The golden VAE is a toy: 17 frames of 64x64 decode to 10 frames of 16x16
 * (time factor 2 in chunks of 17, one x2 upsampling), as in tests/stdit.
 */
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../core/config.h" /* not $builddir/config.h */
#include "log.h"
#include "registry.h"
#include "safetensors.h"
#include "server.h"
#include "httpc.h"
#include "api_client.h"
#include "tap.h"
#include "video_mp4.h"

/* core/server/real.c's encoder: what the server sends, the test sends back. */
char *ts_srv_base64(const unsigned char *p, size_t n);

#define ST_GOLDEN "tests/data/golden/stdit3"

/* Whether @buf is an ISO media file (its first box is ftyp). */
static int is_mp4(const unsigned char *buf, size_t len)
{
	return len > 12 && !memcmp(buf + 4, "ftyp", 4);
}

/* Frames and size of the MP4 @buf, through a file (the reader takes paths). */
static int mp4_frames(const char *dir, const unsigned char *buf, size_t len, int *t, int *h,
		      int *w)
{
	char path[PATH_MAX];
	uint8_t *rgb = NULL;
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "%s/got.mp4", dir);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
		return -1;
	err = ts_mp4_read(path, &rgb, t, h, w);
	free(rgb);
	return err;
}

static void refusals(void)
{
	static const struct { const char *body, *field, *what; } bad[] = {
		{ "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":0}", "frames", "frames 0" },
		{ "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":100000}", "frames",
		  "frames over the maximum" },
		{ "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":17,\"fps\":0}", "fps",
		  "fps 0" },
		{ "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":17,\"n\":2}", "n",
		  "two videos in one job" },
	};
	int st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = call("POST", "/v1/jobs", NULL, bad[i].body, &st);
		json_t *e = json_object_get(o, "error");

		ok(st == 400 && !strcmp(str(e, "param"), bad[i].field), "%s: 400 naming %s (%d %s)",
		   bad[i].what, bad[i].field, st, str(e, "message"));
		json_decref(o);
	}
}

static void video_sync(const char *dir)
{
	const char *body = "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":17,\"fps\":8,"
			   "\"seed\":5}";
	unsigned char *mp4 = NULL;
	size_t len = 0;
	int st, t = 0, h = 0, w = 0, good;
	json_t *o = call("POST", "/v1/images/generations", NULL, body, &st);
	const char *b64 = str(json_array_get(json_object_get(o, "data"), 0), "b64_json");

	ok(st == 200 && !strcmp(str(o, "output_format"), "mp4") &&
	   json_integer_value(json_object_get(o, "frames")) == 17,
	   "a 17-frame request answers output_format mp4, frames 17 (%d)", st);
	ok(*b64 && !ts_base64_decode(b64, &mp4, &len) && is_mp4(mp4, len), "b64_json is an MP4");
	good = mp4 && !mp4_frames(dir, mp4, len, &t, &h, &w) && t == 10 && h == 16 && w == 16;
	ok(good, "of the frames the pipeline makes (10 of 16x16, got %d of %dx%d)", t, w, h);
	free(mp4);
	json_decref(o);
}

static void video_job(const char *dir)
{
	const char *body = "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":17}";
	struct http_reply r = { 0 };
	char path[128];
	int st, t = 0, h = 0, w = 0, done = 0, good;
	json_t *o = call("POST", "/v1/jobs", NULL, body, &st);

	ok(st == 202, "a video job is accepted (%d)", st);
	snprintf(path, sizeof(path), "/v1/jobs/%.63s/content", str(o, "id"));
	done = !strcmp(wait_final(str(o, "id"), 60000, NULL), "completed");
	ok(done && !http_do(port, "GET", path, NULL, NULL, &r) && r.status == 200 &&
	   strstr(r.head, "Content-Type: video/mp4"), "its content is served as video/mp4");
	good = r.body && is_mp4((unsigned char *)r.body, r.body_len) &&
	       !mp4_frames(dir, (unsigned char *)r.body, r.body_len, &t, &h, &w) && t == 10 &&
	       h == 16 && w == 16;
	ok(good, "the MP4 itself (10 frames of 16x16, got %d of %dx%d)", t, w, h);
	http_reply_free(&r);
	json_decref(o);
}

/* The content of a 17-frame job for @body's extra fields (malloc'ed MP4), or NULL. */
static unsigned char *video_of(const char *extra, size_t *len)
{
	size_t n = strlen(extra) + 128;
	char *body = malloc(n), path[128];
	struct http_reply r = { 0 };
	unsigned char *out = NULL;
	int st, done = 0;
	json_t *o;

	if (!body)
		return NULL;
	snprintf(body, n, "{\"model\":\"opensora\",\"size\":\"64x64\",\"frames\":17,"
		 "\"seed\":9%s}", extra);
	o = call("POST", "/v1/jobs", NULL, body, &st);
	free(body);
	snprintf(path, sizeof(path), "/v1/jobs/%.63s/content", str(o, "id"));
	done = st == 202 && !strcmp(wait_final(str(o, "id"), 60000, NULL), "completed");
	json_decref(o);
	if (done && !http_do(port, "GET", path, NULL, NULL, &r) && r.status == 200 &&
	    (out = malloc(r.body_len))) {
		memcpy(out, r.body, r.body_len);
		*len = r.body_len;
	}
	http_reply_free(&r);
	return out;
}

/* base64 of the file's caption rows, times @scale, in the request's encoding. */
static char *caption_b64(float scale)
{
	float y[5 * 32];

	for (int i = 0; i < 5 * 32; i++)
		y[i] = (float)((i % 7) - 3) * 0.1f * scale;
	return ts_srv_base64((const unsigned char *)y, sizeof(y)); /* x86: little-endian */
}

/*
 * Caption embeddings from the request reach the model: the file's own values
 * sent in the request give the same video byte for byte, others another.
 */
static void captions(void)
{
	char *same = caption_b64(1.0f), *other = caption_b64(-3.0f), extra[8192];
	unsigned char *a, *b = NULL, *c = NULL, *d = NULL;
	size_t la = 0, lb = 0, lc = 0, ld = 0;

	a = video_of("", &la);
	snprintf(extra, sizeof(extra), ",\"caption_embeddings\":\"%s\",\"caption_shape\":[5,32]",
		 same);
	b = video_of(extra, &lb);
	snprintf(extra, sizeof(extra), ",\"caption_embeddings\":\"%s\",\"caption_shape\":[5,32]",
		 other);
	c = video_of(extra, &lc);
	snprintf(extra, sizeof(extra), ",\"caption_embeddings\":\"%s\",\"caption_shape\":[5,32],"
		 "\"caption_mask\":[1,1,0,0,0]", same);
	d = video_of(extra, &ld);
	ok(a && b && la == lb && !memcmp(a, b, la),
	   "the file's caption sent in the request: the same video");
	ok(a && c && (la != lc || memcmp(a, c, la)), "another caption: another video");
	ok(a && d && (la != ld || memcmp(a, d, la)), "the same caption, masked: another video");
	free(a);
	free(b);
	free(c);
	free(d);
	free(same);
	free(other);
}

static void image(void)
{
	int st;
	json_t *o = call("POST", "/v1/images/generations", NULL,
			 "{\"model\":\"opensora\",\"size\":\"64x64\"}", &st);
	const char *b64 = str(json_array_get(json_object_get(o, "data"), 0), "b64_json");
	unsigned char *png = NULL;
	size_t len = 0;

	ok(st == 200 && !strcmp(str(o, "output_format"), "png") &&
	   !json_object_get(o, "frames"), "no frames: the video model makes an image (%d)", st);
	ok(*b64 && !ts_base64_decode(b64, &png, &len) && len > 8 &&
	   !memcmp(png, "\x89PNG", 4), "a PNG (its first frame)");
	free(png);
	json_decref(o);
}

static void models(void)
{
	int st;
	json_t *o = call("GET", "/v1/models", NULL, NULL, &st);
	json_t *m = json_array_get(json_object_get(o, "data"), 0);

	ok(st == 200 && !strcmp(str(m, "id"), "opensora") &&
	   json_integer_value(json_object_get(m, "max_frames")) > 17,
	   "/v1/models says opensora takes videos (max_frames %lld)",
	   (long long)json_integer_value(json_object_get(m, "max_frames")));
	json_decref(o);
}

static int write_caption(const char *path)
{
	float y[5 * 32];
	struct ts_tensor t = { .name = "caption.y", .dtype = TS_F32, .ndim = 2,
			       .shape = { 5, 32 }, .data = y };
	const char *meta[] = { "what", "caption embeddings", NULL };

	for (int i = 0; i < 5 * 32; i++)
		y[i] = (float)((i % 7) - 3) * 0.1f;
	return ts_st_write(path, &t, 1, meta);
}

static int write_config(const char *dir, const char *mods)
{
	char path[PATH_MAX], cwd[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/video.ini", dir);
	f = fopen(path, "w");
	if (!f || !getcwd(cwd, sizeof(cwd)))
		return -1;
	fprintf(f, "[server]\nmodule_path = %s\nlog_level = warn\ninfeasible = best_effort\n\n"
		"[pool]\nbackend = cpu\ndevices = 2\n\n"
		"[scheduler]\npolicy = tetri\nround_steps = 2\n\n"
		"[model opensora]\nmodule = stdit\ndecoder = osvae\n"
		"weights = %s/" ST_GOLDEN "/a.safetensors\n"
		"hidden_size = 64\ndepth = 2\nnum_heads = 4\ncaption_channels = 32\n"
		"model_max_length = 8\ncaption_file = %s/caption.safetensors\nsteps = 2\n\n"
		"[model osvae]\nmodule = vae3d\nkind = opensora_vae_v1_2\n"
		"weights = %s/tests/data/golden/sd_vae_decoder/a.safetensors\n"
		"temporal_weights = %s/tests/data/golden/vae_temporal/a_decode.safetensors\n",
		mods, cwd, dir, cwd, cwd);
	return fclose(f);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/ts-video-XXXXXX", exe[PATH_MAX], mods[PATH_MAX + 16], path[PATH_MAX];
	struct ts_server_opts o = { .listen = "127.0.0.1:0" };
	struct ts_server *srv;
	struct ts_config *cfg;
	char *dir = mkdtemp(tmpl);

	snprintf(exe, sizeof(exe), "%s", argv[0]);
	snprintf(path, sizeof(path), "%s/../modules", dirname(exe));
	if (!realpath(path, mods))
		snprintf(mods, sizeof(mods), "%s", path);
	ts_loader_set_path(mods);
	ts_log_set_level(TS_LOG_WARN);
	if (!ok(dir != NULL, "a scratch folder"))
		return tap_done();
	snprintf(path, sizeof(path), "%s/caption.safetensors", dir);
	ok(!write_caption(path), "caption embeddings written");
	ok(!write_config(dir, mods), "a config of a tiny STDiT3 and Open-Sora's VAE");
	snprintf(path, sizeof(path), "%s/video.ini", dir);
	if (!ok(!ts_config_load(path, &cfg), "it loads") ||
	    !ok(!ts_server_start(cfg, &o, &srv), "the server starts on the real executor"))
		return tap_done();
	port = ts_server_port(srv);
	models();
	refusals();
	video_sync(dir);
	video_job(dir);
	captions();
	image();
	ts_server_stop(srv, 10);
	ts_config_free(cfg);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path))
		tap_diag("could not remove %s", dir);
	return tap_done();
}
