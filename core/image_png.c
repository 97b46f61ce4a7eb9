// SPDX-License-Identifier: MIT
/*
 * core/image_png.c - PNG files through libspng (see image_png.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <config.h> /* TS_HAVE_SPNG (build/config.h) */
#include <tetri/error.h>

#include "image_png.h"
#include "log.h"

#ifdef TS_HAVE_SPNG
#include <spng.h>
#endif

#define WHO "png"

uint8_t ts_pixel_u8(float x)
{
	float v = (x + 1.0f) * 0.5f;

	if (!(v > 0.0f)) /* also NaN */
		return 0;
	if (v >= 1.0f)
		return 255;
	return (uint8_t)floorf(v * 255.0f + 0.5f);
}

#ifdef TS_HAVE_SPNG

/* Planar floats -> interleaved 8-bit samples, the layout PNG rows have. */
static uint8_t *interleave(const float *chw, int c, int h, int w)
{
	size_t plane = (size_t)h * w;
	uint8_t *px = malloc(plane * c);

	if (!px)
		return NULL;
	for (size_t p = 0; p < plane; p++)
		for (int k = 0; k < c; k++)
			px[p * c + k] = ts_pixel_u8(chw[k * plane + p]);
	return px;
}

static int set_text(spng_ctx *ctx, const char *path, const char *const *text)
{
	struct spng_text t[32];
	uint32_t n = 0;
	int rc;

	for (; text && text[2 * n] && n < 32; n++) {
		size_t klen = strlen(text[2 * n]);

		if (klen < 1 || klen > 79 || !text[2 * n + 1]) {
			ts_err(WHO, "%s: bad tEXt keyword '%s' (1-79 characters, with a value)", path,
			       text[2 * n]);
			return TS_EINVAL;
		}
		memset(&t[n], 0, sizeof(t[n]));
		memcpy(t[n].keyword, text[2 * n], klen + 1);
		t[n].type = SPNG_TEXT;
		t[n].text = (char *)text[2 * n + 1];
		t[n].length = strlen(text[2 * n + 1]);
	}
	if (!n)
		return 0;
	rc = spng_set_text(ctx, t, n);
	if (rc) {
		ts_err(WHO, "%s: tEXt: %s", path, spng_strerror(rc));
		return TS_EINVAL;
	}
	return 0;
}

static int encode(spng_ctx *ctx, const char *path, const uint8_t *px, int c, int h, int w,
		  const char *const *text)
{
	static const uint8_t types[5] = { 0, SPNG_COLOR_TYPE_GRAYSCALE,
					  SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
					  SPNG_COLOR_TYPE_TRUECOLOR, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA };
	struct spng_ihdr ihdr = { .width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = 8,
				  .color_type = types[c] };
	int rc, err;

	rc = spng_set_ihdr(ctx, &ihdr);
	if (rc)
		goto bad;
	err = set_text(ctx, path, text);
	if (err)
		return err;
	rc = spng_encode_image(ctx, px, (size_t)h * w * c, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
	if (!rc)
		return 0;
bad:
	ts_err(WHO, "%s: %s", path, spng_strerror(rc));
	return TS_EIO;
}

int ts_png_write(const char *path, const float *chw, int c, int h, int w,
		 const char *const *text)
{
	spng_ctx *ctx = NULL;
	uint8_t *px = NULL;
	FILE *f = NULL;
	int err;

	if (c < 1 || c > 4 || h < 1 || w < 1) {
		ts_err(WHO, "%s: cannot write %d channels of %dx%d", path, c, w, h);
		return TS_EINVAL;
	}
	px = interleave(chw, c, h, w);
	ctx = spng_ctx_new(SPNG_CTX_ENCODER);
	if (!px || !ctx) {
		err = TS_ENOMEM;
		goto out;
	}
	f = fopen(path, "wb");
	if (!f) {
		ts_err(WHO, "%s: cannot create: %m", path);
		err = TS_EIO;
		goto out;
	}
	spng_set_png_file(ctx, f);
	err = encode(ctx, path, px, c, h, w, text);
out:
	spng_ctx_free(ctx);
	if (f && fclose(f) && !err) {
		ts_err(WHO, "%s: write failed: %m", path);
		err = TS_EIO;
	}
	free(px);
	return err;
}

static int open_dec(const char *path, FILE **f, spng_ctx **ctx)
{
	*f = fopen(path, "rb");
	if (!*f) {
		ts_err(WHO, "%s: cannot open: %m", path);
		return TS_ENOENT;
	}
	*ctx = spng_ctx_new(0);
	if (!*ctx) {
		fclose(*f);
		return TS_ENOMEM;
	}
	spng_set_png_file(*ctx, *f);
	return 0;
}

int ts_png_read(const char *path, uint8_t **rgb, int *w, int *h)
{
	struct spng_ihdr ihdr;
	spng_ctx *ctx;
	size_t len;
	FILE *f;
	int rc, err = open_dec(path, &f, &ctx);

	if (err)
		return err;
	*rgb = NULL;
	rc = spng_get_ihdr(ctx, &ihdr);
	if (!rc)
		rc = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &len);
	if (!rc) {
		*rgb = malloc(len);
		if (!*rgb)
			err = TS_ENOMEM;
	}
	if (!rc && !err)
		rc = spng_decode_image(ctx, *rgb, len, SPNG_FMT_RGB8, 0);
	if (rc) {
		ts_err(WHO, "%s: %s", path, spng_strerror(rc));
		err = TS_EFORMAT;
		free(*rgb);
		*rgb = NULL;
	} else if (!err) {
		*w = (int)ihdr.width;
		*h = (int)ihdr.height;
	}
	spng_ctx_free(ctx);
	fclose(f);
	return err;
}

static int find_text(spng_ctx *ctx, const char *key, char *buf, size_t len)
{
	struct spng_text *t;
	uint32_t n = 0;
	int err = TS_ENOENT;

	if (spng_get_text(ctx, NULL, &n) || !n)
		return TS_ENOENT;
	t = calloc(n, sizeof(*t));
	if (!t)
		return TS_ENOMEM;
	if (!spng_get_text(ctx, t, &n)) {
		for (uint32_t i = 0; i < n && err; i++) {
			if (strcmp(t[i].keyword, key))
				continue;
			snprintf(buf, len, "%.*s", (int)t[i].length, t[i].text);
			err = 0;
		}
	}
	free(t);
	return err;
}

int ts_png_text(const char *path, const char *key, char *buf, size_t len)
{
	struct spng_ihdr ihdr;
	spng_ctx *ctx;
	FILE *f;
	int err = open_dec(path, &f, &ctx);

	if (err)
		return err;
	/* Text chunks before the image data are read with the header; the rest need a decode. */
	if (spng_get_ihdr(ctx, &ihdr)) {
		err = TS_EFORMAT;
		ts_err(WHO, "%s: not a PNG file", path);
	} else {
		err = find_text(ctx, key, buf, len);
	}
	spng_ctx_free(ctx);
	fclose(f);
	return err;
}

#else /* !TS_HAVE_SPNG */

int ts_png_write(const char *path, const float *chw, int c, int h, int w,
		 const char *const *text)
{
	ts_err(WHO, "%s: built without libspng (install libspng-dev and re-run ./configure)", path);
	return TS_ENOTSUP;
}

int ts_png_read(const char *path, uint8_t **rgb, int *w, int *h)
{
	ts_err(WHO, "%s: built without libspng (install libspng-dev and re-run ./configure)", path);
	return TS_ENOTSUP;
}

int ts_png_text(const char *path, const char *key, char *buf, size_t len)
{
	ts_err(WHO, "%s: built without libspng (install libspng-dev and re-run ./configure)", path);
	return TS_ENOTSUP;
}

#endif /* TS_HAVE_SPNG */
