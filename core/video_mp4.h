/* SPDX-License-Identifier: MIT */
/*
 * core/video_mp4.h - decoded videos to MP4 files and back, through FFmpeg's
 * libavformat/libavcodec/libswscale.
 *
 * Frames are H.264 (libx264; the encoder Debian's FFmpeg has) in yuv420p,
 * constant frame rate; when no H.264 encoder exists MPEG-4 part 2 is used
 * and said in the log. Pixels come as host F32 in [-1, 1], planar
 * [3, T, H, W] (a decoder's [B, C, T, H, W] for one sample), mapped to 8 bits
 * like PNGs (ts_pixel_u8). yuv420p needs even sizes: an odd last row or
 * column is repeated and the reader gives the padded size. Metadata (seed,
 * steps, model) is stored as MP4 metadata tags. Without libavformat at build
 * time every function logs why and returns TS_ENOTSUP.
 */
#ifndef TS_CORE_VIDEO_MP4_H
#define TS_CORE_VIDEO_MP4_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write @t frames of @h x @w RGB from @cthw at @fps frames per second to
 * @path, with metadata @meta: key, value, ..., NULL (may be NULL).
 * 0 or TS_EINVAL/TS_EIO/TS_ENOTSUP/TS_ENOMEM.
 */
int ts_mp4_write(const char *path, const float *cthw, int t, int h, int w, int fps,
		 const char *const *meta);

/* Decode every frame of @path to 8-bit RGB [t, h, w, 3] in *rgb (malloc'ed; caller frees). */
int ts_mp4_read(const char *path, uint8_t **rgb, int *t, int *h, int *w);

/* The metadata value @key of @path, copied to @buf; TS_ENOENT when absent. */
int ts_mp4_meta(const char *path, const char *key, char *buf, size_t len);

#endif /* TS_CORE_VIDEO_MP4_H */
