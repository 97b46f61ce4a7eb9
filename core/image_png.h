/* SPDX-License-Identifier: MIT */
/*
 * core/image_png.h - decoded images to PNG files and back, through libspng.
 *
 * A decoder gives pixels as host F32 in [-1, 1], planar [C, H, W]; a file
 * holds 8-bit samples, v = floor(clamp((x + 1) / 2, 0, 1) * 255 + 0.5)
 * (torchvision's save_image with value_range (-1, 1)). Metadata (seed,
 * steps, model) goes into tEXt chunks. Without libspng at build time every
 * function logs why and returns TS_ENOTSUP.
 */
#ifndef TS_CORE_IMAGE_PNG_H
#define TS_CORE_IMAGE_PNG_H

#include <stddef.h>
#include <stdint.h>

/* The 8-bit sample of a decoder value in [-1, 1]. */
uint8_t ts_pixel_u8(float x);

/*
 * Write @c x @h x @w planar pixels (@c = 1 gray, 3 RGB, 4 RGBA) to @path,
 * with tEXt chunks from @text: key, value, key, value, ..., NULL (may be
 * NULL). Keys are 1-79 Latin-1 characters. 0 or TS_EINVAL/TS_EIO/TS_ENOTSUP.
 */
int ts_png_write(const char *path, const float *chw, int c, int h, int w,
		 const char *const *text);

/*
 * Read @path as 8-bit RGB, interleaved [h, w, 3] (gray and alpha converted),
 * into *rgb (malloc'ed; the caller frees it).
 */
int ts_png_read(const char *path, uint8_t **rgb, int *w, int *h);

/* The value of tEXt chunk @key in @path, copied to @buf; TS_ENOENT when absent. */
int ts_png_text(const char *path, const char *key, char *buf, size_t len);

#endif /* TS_CORE_IMAGE_PNG_H */
