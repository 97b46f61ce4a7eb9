// SPDX-License-Identifier: MIT
/*
 * tests/vae/test_vae_files.c - output files: PNG (libspng) and MP4 (FFmpeg)
 * written, then decoded again with the same libraries and compared pixel by
 * pixel with what was meant to be written; metadata read back; bad
 * arguments refused.
 */
#include <unistd.h>

#include <config.h>
#include <tetri/error.h>

#include "image_png.h"
#include "tap.h"
#include "video_mp4.h"

#include <stdlib.h>
#include <string.h>

/* A smooth pattern in [-1, 1] (codecs keep smooth pictures well), with both ends clipped. */
static float pattern(int c, int t, int y, int x, int h, int w)
{
	float v = sinf(0.15f * (float)x + 0.9f * (float)c + 0.3f * (float)t) *
		  cosf(0.11f * (float)y - 0.4f * (float)c);

	return 1.2f * v + 0.05f * (float)(y - h / 2) / (float)h + 0.02f * (float)(x - w / 2) / (float)w;
}

static void test_pixel_map(void)
{
	ok(ts_pixel_u8(-1.0f) == 0 && ts_pixel_u8(1.0f) == 255 && ts_pixel_u8(0.0f) == 128,
	   "pixel map: -1 -> 0, 0 -> 128, 1 -> 255");
	ok(ts_pixel_u8(-7.0f) == 0 && ts_pixel_u8(3.0f) == 255 && ts_pixel_u8(NAN) == 0,
	   "pixel map clamps, NaN -> 0");
	ok(ts_pixel_u8(2.0f * 100.4f / 255.0f - 1.0f) == 100, "pixel map rounds to nearest");
}

static void test_png(int c, int h, int w)
{
	const char *meta[] = { "seed", "42", "steps", "250", "model", "dit-xl-2-256", NULL };
	char path[64], val[64];
	float *img = malloc(sizeof(float) * (size_t)(c * h * w));
	uint8_t *rgb = NULL;
	int rh = 0, rw = 0, bad = 0, err;

	snprintf(path, sizeof(path), "/tmp/test_vae_png.%d.png", (int)getpid());
	for (int k = 0; k < c; k++)
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				img[(k * h + y) * w + x] = pattern(k, 0, y, x, h, w);
	err = ts_png_write(path, img, c, h, w, meta);
	ok(!err, "png %dx%dx%d written (%s)", c, h, w, ts_strerror(err));
	err = ts_png_read(path, &rgb, &rw, &rh);
	if (ok(!err && rw == w && rh == h, "png %dx%dx%d read back at its size", c, h, w)) {
		for (int y = 0; y < h; y++)
			for (int x = 0; x < w; x++)
				for (int k = 0; k < 3; k++) {
					int src = c >= 3 ? k : 0;

					bad += rgb[(y * w + x) * 3 + k] !=
					       ts_pixel_u8(img[(src * h + y) * w + x]);
				}
		ok(bad == 0, "png %dx%dx%d: every sample equal (%d differ)", c, h, w, bad);
	}
	ok(!ts_png_text(path, "seed", val, sizeof(val)) && !strcmp(val, "42"), "png tEXt seed");
	ok(!ts_png_text(path, "model", val, sizeof(val)) && !strcmp(val, "dit-xl-2-256"),
	   "png tEXt model");
	ok(ts_png_text(path, "nope", val, sizeof(val)) == TS_ENOENT, "png: absent tEXt key");
	free(rgb);
	free(img);
	unlink(path);
}

static void test_png_bad(void)
{
	float px[4] = { 0 };
	const char *bad_meta[] = { "", "x", NULL };
	uint8_t *rgb = NULL;
	int w, h;

	ok(ts_png_write("/tmp/x.png", px, 5, 1, 1, NULL) == TS_EINVAL, "png: 5 channels refused");
	ok(ts_png_write("/nonexistent-dir/x.png", px, 1, 2, 2, NULL) == TS_EIO,
	   "png: unwritable path refused");
	ok(ts_png_write("/tmp/test_vae_bad.png", px, 1, 2, 2, bad_meta) == TS_EINVAL,
	   "png: empty tEXt keyword refused");
	unlink("/tmp/test_vae_bad.png");
	ok(ts_png_read("/nonexistent.png", &rgb, &w, &h) == TS_ENOENT, "png: missing file");
	ok(ts_png_read("tests/vae/test_vae_files.c", &rgb, &w, &h) == TS_EFORMAT,
	   "png: not a PNG refused");
}

/*
 * Mean |error| of frame @f of the read-back video against the floats, with
 * channel @c compared to channel perm[c] (identity, or a swap to show the
 * comparison can tell colours apart).
 */
static double frame_err(const float *v, const uint8_t *rgb, int f, int t, int h, int w,
			const int *perm, int *worst)
{
	int eh = h + (h & 1), ew = w + (w & 1);
	double sum = 0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				int want = ts_pixel_u8(v[((perm[c] * t + f) * h + y) * w + x]);
				int d = abs(want - rgb[(((size_t)f * eh + y) * ew + x) * 3 + c]);

				sum += d;
				*worst = d > *worst ? d : *worst;
			}
	return sum / (3.0 * h * w);
}

/* Encoded with loss (yuv420p, crf 18): each frame close, none far off, colours not swapped. */
static void check_video(const float *v, const uint8_t *rgb, int t, int h, int w)
{
	static const int same[3] = { 0, 1, 2 }, swap[3] = { 2, 1, 0 };
	double mean = 0, swapped = 0, m;
	int worst = 0, dummy = 0, frames_ok = 1;

	for (int f = 0; f < t; f++) {
		m = frame_err(v, rgb, f, t, h, w, same, &worst);
		frames_ok &= m < 6.0;
		mean += m / t;
		swapped += frame_err(v, rgb, f, t, h, w, swap, &dummy) / t;
	}
	ok(frames_ok && mean < 5.0 && worst < 48,
	   "mp4 pixels match: mean |error| %.2f < 5 (each frame < 6), max %d < 48", mean, worst);
	ok(swapped > 4 * mean, "mp4: red and blue swapped would be told apart (%.1f)", swapped);
}

static void test_mp4(int t, int h, int w)
{
	const char *meta[] = { "seed", "7", "steps", "30", "model", "opensora-v1.2", NULL };
	int eh = h + (h & 1), ew = w + (w & 1), rt = 0, rh = 0, rw = 0, err;
	float *v = malloc(sizeof(float) * (size_t)(3 * t * h * w));
	char path[64], val[64];
	uint8_t *rgb = NULL;

	snprintf(path, sizeof(path), "/tmp/test_vae_mp4.%d.mp4", (int)getpid());
	for (int c = 0; c < 3; c++)
		for (int f = 0; f < t; f++)
			for (int y = 0; y < h; y++)
				for (int x = 0; x < w; x++)
					v[((c * t + f) * h + y) * w + x] = pattern(c, f, y, x, h, w);
	err = ts_mp4_write(path, v, t, h, w, 8, meta);
	ok(!err, "mp4 %d frames %dx%d written (%s)", t, w, h, ts_strerror(err));
	err = ts_mp4_read(path, &rgb, &rt, &rh, &rw);
	if (ok(!err && rt == t && rh == eh && rw == ew, "mp4 read back: %d frames %dx%d", rt, rw,
	       rh))
		check_video(v, rgb, t, h, w);
	ok(!ts_mp4_meta(path, "seed", val, sizeof(val)) && !strcmp(val, "7"), "mp4 metadata seed");
	ok(!ts_mp4_meta(path, "model", val, sizeof(val)) && !strcmp(val, "opensora-v1.2"),
	   "mp4 metadata model");
	free(rgb);
	free(v);
	unlink(path);
}

static void test_mp4_bad(void)
{
	float px[12] = { 0 };
	uint8_t *rgb = NULL;
	int t, h, w;

	ok(ts_mp4_write("/tmp/x.mp4", px, 0, 2, 2, 8, NULL) == TS_EINVAL, "mp4: 0 frames refused");
	ok(ts_mp4_write("/nonexistent-dir/x.mp4", px, 1, 2, 2, 8, NULL) == TS_EIO,
	   "mp4: unwritable path refused");
	ok(ts_mp4_read("tests/vae/test_vae_files.c", &rgb, &t, &h, &w) != 0,
	   "mp4: not a video refused");
}

int main(void)
{
	test_pixel_map();
#ifdef TS_HAVE_SPNG
	test_png(3, 37, 53);
	test_png(4, 16, 16);
	test_png(1, 9, 7);
	test_png_bad();
#else
	tap_skip("no libspng", "png round trip");
#endif
#ifdef TS_HAVE_AVFORMAT
	test_mp4(9, 48, 64);
	test_mp4(3, 33, 35);
	test_mp4_bad();
#else
	tap_skip("no libavformat", "mp4 round trip");
#endif
	return tap_done();
}
