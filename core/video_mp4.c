// SPDX-License-Identifier: MIT
/*
 * core/video_mp4.c - MP4 files through FFmpeg (see video_mp4.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <config.h> /* TS_HAVE_AVFORMAT (build/config.h) */
#include <tetri/error.h>

#include "image_png.h"
#include "log.h"
#include "video_mp4.h"

#define WHO "mp4"

#ifdef TS_HAVE_AVFORMAT
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

struct mp4_enc {
	const char *path;
	AVFormatContext *oc;
	AVCodecContext *cc;
	AVStream *st;
	struct SwsContext *sws;
	AVFrame *frame;
	AVPacket *pkt;
	uint8_t *rgb;
	int w, h, ew, eh; /* picture, and encoded (even) size */
	int created;      /* the file is ours to remove on failure */
};

static int av_fail(const char *path, const char *what, int rc)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];

	av_strerror(rc, buf, sizeof(buf));
	ts_err(WHO, "%s: %s: %s", path, what, buf);
	return TS_EIO;
}

/* libx264 when present (Debian's FFmpeg has it), else any H.264 encoder, else MPEG-4. */
static const AVCodec *pick_encoder(const char *path)
{
	const AVCodec *c = avcodec_find_encoder_by_name("libx264");

	if (!c)
		c = avcodec_find_encoder(AV_CODEC_ID_H264);
	if (c)
		return c;
	c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
	if (c)
		ts_warn(WHO, "%s: no H.264 encoder in this FFmpeg; writing MPEG-4 part 2", path);
	return c;
}

static int open_codec(struct mp4_enc *e, int fps)
{
	const AVCodec *codec = pick_encoder(e->path);
	AVDictionary *opts = NULL;
	int rc;

	if (!codec) {
		ts_err(WHO, "%s: this FFmpeg has neither an H.264 nor an MPEG-4 encoder", e->path);
		return TS_ENOTSUP;
	}
	e->cc = avcodec_alloc_context3(codec);
	if (!e->cc)
		return TS_ENOMEM;
	e->cc->width = e->ew;
	e->cc->height = e->eh;
	e->cc->time_base = (AVRational){ 1, fps };
	e->cc->framerate = (AVRational){ fps, 1 };
	e->cc->pix_fmt = AV_PIX_FMT_YUV420P;
	e->cc->gop_size = 12;
	e->cc->max_b_frames = 0; /* no reordering: every player shows frame 0 at time 0 */
	if (e->oc->oformat->flags & AVFMT_GLOBALHEADER)
		e->cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	/* Near-transparent quality: these are generated frames, watched once, kept small. */
	av_dict_set(&opts, "crf", "18", 0);
	av_dict_set(&opts, "preset", "medium", 0);
	rc = avcodec_open2(e->cc, codec, &opts);
	av_dict_free(&opts);
	if (rc < 0)
		return av_fail(e->path, codec->name, rc);
	rc = avcodec_parameters_from_context(e->st->codecpar, e->cc);
	if (rc < 0)
		return av_fail(e->path, "codec parameters", rc);
	e->st->time_base = e->cc->time_base;
	return 0;
}

static int open_output(struct mp4_enc *e, int fps, const char *const *meta)
{
	AVDictionary *mux = NULL;
	int rc, err;

	rc = avformat_alloc_output_context2(&e->oc, NULL, "mp4", e->path);
	if (rc < 0 || !e->oc)
		return av_fail(e->path, "mp4 muxer", rc);
	e->st = avformat_new_stream(e->oc, NULL);
	if (!e->st)
		return TS_ENOMEM;
	err = open_codec(e, fps);
	if (err)
		return err;
	for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2)
		av_dict_set(&e->oc->metadata, meta[i], meta[i + 1], 0);
	rc = avio_open(&e->oc->pb, e->path, AVIO_FLAG_WRITE);
	if (rc < 0)
		return av_fail(e->path, "cannot create", rc);
	e->created = 1;
	/* Keep keys the MP4 muxer does not know (seed, steps) as user metadata. */
	av_dict_set(&mux, "movflags", "use_metadata_tags", 0);
	rc = avformat_write_header(e->oc, &mux);
	av_dict_free(&mux);
	return rc < 0 ? av_fail(e->path, "header", rc) : 0;
}

static int open_frames(struct mp4_enc *e)
{
	e->sws = sws_getContext(e->ew, e->eh, AV_PIX_FMT_RGB24, e->ew, e->eh, AV_PIX_FMT_YUV420P,
				SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	e->rgb = malloc((size_t)e->ew * e->eh * 3);
	if (!e->sws || !e->frame || !e->pkt || !e->rgb)
		return TS_ENOMEM;
	e->frame->format = AV_PIX_FMT_YUV420P;
	e->frame->width = e->ew;
	e->frame->height = e->eh;
	return av_frame_get_buffer(e->frame, 0) < 0 ? TS_ENOMEM : 0;
}

/* Frame @i of planar [3, t, h, w] floats -> interleaved RGB, odd edges repeated. */
static void to_rgb(struct mp4_enc *e, const float *cthw, int t, int i)
{
	size_t plane = (size_t)e->h * e->w, frames = (size_t)t * plane;

	for (int y = 0; y < e->eh; y++) {
		int sy = y < e->h ? y : e->h - 1;

		for (int x = 0; x < e->ew; x++) {
			int sx = x < e->w ? x : e->w - 1;
			size_t src = (size_t)i * plane + (size_t)sy * e->w + sx;
			uint8_t *d = e->rgb + ((size_t)y * e->ew + x) * 3;

			for (int c = 0; c < 3; c++)
				d[c] = ts_pixel_u8(cthw[c * frames + src]);
		}
	}
}

/* Move every packet the encoder has ready into the file. */
static int drain(struct mp4_enc *e)
{
	int rc;

	for (;;) {
		rc = avcodec_receive_packet(e->cc, e->pkt);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return av_fail(e->path, "encode", rc);
		/* Without a duration the edit list ends before the last frame, which players drop. */
		if (e->pkt->duration <= 0)
			e->pkt->duration = 1;
		av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
		e->pkt->stream_index = e->st->index;
		rc = av_interleaved_write_frame(e->oc, e->pkt);
		if (rc < 0)
			return av_fail(e->path, "write", rc);
	}
}

static int encode_all(struct mp4_enc *e, const float *cthw, int t)
{
	int rc, err;

	for (int i = 0; i < t; i++) {
		const uint8_t *src[1] = { e->rgb };
		int stride[1] = { e->ew * 3 };

		to_rgb(e, cthw, t, i);
		if (av_frame_make_writable(e->frame) < 0)
			return TS_ENOMEM;
		sws_scale(e->sws, src, stride, 0, e->eh, e->frame->data, e->frame->linesize);
		e->frame->pts = i;
		rc = avcodec_send_frame(e->cc, e->frame);
		if (rc < 0)
			return av_fail(e->path, "encode", rc);
		err = drain(e);
		if (err)
			return err;
	}
	rc = avcodec_send_frame(e->cc, NULL);
	if (rc < 0)
		return av_fail(e->path, "flush", rc);
	err = drain(e);
	if (err)
		return err;
	rc = av_write_trailer(e->oc);
	return rc < 0 ? av_fail(e->path, "trailer", rc) : 0;
}

static void enc_close(struct mp4_enc *e)
{
	if (e->oc && e->oc->pb)
		avio_closep(&e->oc->pb);
	avformat_free_context(e->oc);
	avcodec_free_context(&e->cc);
	sws_freeContext(e->sws);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e->rgb);
}

int ts_mp4_write(const char *path, const float *cthw, int t, int h, int w, int fps,
		 const char *const *meta)
{
	struct mp4_enc e = { .path = path, .w = w, .h = h, .ew = w + (w & 1), .eh = h + (h & 1) };
	int err;

	/* Our log says what failed; libx264's statistics would drown it. */
	av_log_set_level(AV_LOG_ERROR);
	if (t < 1 || h < 1 || w < 1 || fps < 1) {
		ts_err(WHO, "%s: cannot write %d frames of %dx%d at %d fps", path, t, w, h, fps);
		return TS_EINVAL;
	}
	err = open_output(&e, fps, meta);
	if (!err)
		err = open_frames(&e);
	if (!err)
		err = encode_all(&e, cthw, t);
	enc_close(&e);
	if (err && e.created)
		remove(path);
	return err;
}

struct mp4_dec {
	const char *path;
	AVFormatContext *ic;
	AVCodecContext *cc;
	struct SwsContext *sws;
	AVFrame *frame;
	AVPacket *pkt;
	int stream;
	uint8_t *rgb;
	int n, cap;
};

static int open_input(struct mp4_dec *d)
{
	const AVCodec *codec = NULL;
	int rc;

	rc = avformat_open_input(&d->ic, d->path, NULL, NULL);
	if (rc < 0)
		return av_fail(d->path, "open", rc);
	rc = avformat_find_stream_info(d->ic, NULL);
	if (rc < 0)
		return av_fail(d->path, "stream info", rc);
	d->stream = av_find_best_stream(d->ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
	if (d->stream < 0 || !codec)
		return av_fail(d->path, "no video stream", d->stream);
	d->cc = avcodec_alloc_context3(codec);
	d->frame = av_frame_alloc();
	d->pkt = av_packet_alloc();
	if (!d->cc || !d->frame || !d->pkt)
		return TS_ENOMEM;
	rc = avcodec_parameters_to_context(d->cc, d->ic->streams[d->stream]->codecpar);
	if (rc >= 0)
		rc = avcodec_open2(d->cc, codec, NULL);
	return rc < 0 ? av_fail(d->path, codec->name, rc) : 0;
}

/* Convert the decoded frame to RGB at the end of the growing buffer. */
static int keep_frame(struct mp4_dec *d)
{
	size_t fsz = (size_t)d->cc->width * d->cc->height * 3;
	uint8_t *dst[1];
	int stride[1] = { d->cc->width * 3 };

	if (d->n == d->cap) {
		uint8_t *p = realloc(d->rgb, fsz * (size_t)(d->cap ? 2 * d->cap : 16));

		if (!p)
			return TS_ENOMEM;
		d->rgb = p;
		d->cap = d->cap ? 2 * d->cap : 16;
	}
	d->sws = sws_getCachedContext(d->sws, d->frame->width, d->frame->height, d->frame->format,
				      d->cc->width, d->cc->height, AV_PIX_FMT_RGB24,
				      SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
	if (!d->sws)
		return TS_ENOMEM;
	dst[0] = d->rgb + fsz * (size_t)d->n;
	sws_scale(d->sws, (const uint8_t *const *)d->frame->data, d->frame->linesize, 0,
		  d->frame->height, dst, stride);
	d->n++;
	return 0;
}

static int receive(struct mp4_dec *d)
{
	for (;;) {
		int rc = avcodec_receive_frame(d->cc, d->frame), err;

		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return av_fail(d->path, "decode", rc);
		err = keep_frame(d);
		av_frame_unref(d->frame);
		if (err)
			return err;
	}
}

static int decode_all(struct mp4_dec *d)
{
	int rc, err = 0;

	while (!err && av_read_frame(d->ic, d->pkt) >= 0) {
		if (d->pkt->stream_index == d->stream) {
			rc = avcodec_send_packet(d->cc, d->pkt);
			err = rc < 0 ? av_fail(d->path, "decode", rc) : receive(d);
		}
		av_packet_unref(d->pkt);
	}
	if (err)
		return err;
	avcodec_send_packet(d->cc, NULL);
	return receive(d);
}

static void dec_close(struct mp4_dec *d)
{
	avcodec_free_context(&d->cc);
	avformat_close_input(&d->ic);
	sws_freeContext(d->sws);
	av_frame_free(&d->frame);
	av_packet_free(&d->pkt);
}

int ts_mp4_read(const char *path, uint8_t **rgb, int *t, int *h, int *w)
{
	struct mp4_dec d = { .path = path };
	int err = open_input(&d);

	if (!err)
		err = decode_all(&d);
	if (!err && !d.n) {
		ts_err(WHO, "%s: no frames", path);
		err = TS_EFORMAT;
	}
	if (!err) {
		*rgb = d.rgb;
		*t = d.n;
		*h = d.cc->height;
		*w = d.cc->width;
	} else {
		free(d.rgb);
	}
	dec_close(&d);
	return err;
}

int ts_mp4_meta(const char *path, const char *key, char *buf, size_t len)
{
	AVFormatContext *ic = NULL;
	AVDictionaryEntry *e;
	int rc = avformat_open_input(&ic, path, NULL, NULL), err = TS_ENOENT;

	if (rc < 0)
		return av_fail(path, "open", rc);
	e = av_dict_get(ic->metadata, key, NULL, 0);
	if (e) {
		snprintf(buf, len, "%s", e->value);
		err = 0;
	}
	avformat_close_input(&ic);
	return err;
}

#else /* !TS_HAVE_AVFORMAT */

#define NO_AV "built without FFmpeg's libavformat (install libavformat-dev, libavcodec-dev, " \
	      "libswscale-dev and re-run ./configure)"

int ts_mp4_write(const char *path, const float *cthw, int t, int h, int w, int fps,
		 const char *const *meta)
{
	ts_err(WHO, "%s: %s", path, NO_AV);
	return TS_ENOTSUP;
}

int ts_mp4_read(const char *path, uint8_t **rgb, int *t, int *h, int *w)
{
	ts_err(WHO, "%s: %s", path, NO_AV);
	return TS_ENOTSUP;
}

int ts_mp4_meta(const char *path, const char *key, char *buf, size_t len)
{
	ts_err(WHO, "%s: %s", path, NO_AV);
	return TS_ENOTSUP;
}

#endif /* TS_HAVE_AVFORMAT */
