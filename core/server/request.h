/* SPDX-License-Identifier: MIT */
/*
 * core/server/request.h - an image-generation request body (JSON) turned
 * into a validated request, or a 400 naming the field at fault.
 *
 * ts_genreq_parse() is a pure function of the body and a catalog of the
 * models being served: no globals, no I/O, and no allocation left behind but
 * the request's own caption embeddings (ts_genreq_release() frees them), so it
 * is what the fuzz target (tests/fuzz/fuzz_request.c) drives.
 */
#ifndef TS_SERVER_REQUEST_H
#define TS_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define TS_API_NAME_MAX 64
#define TS_API_MAX_SIZES 32
#define TS_API_MAX_MODELS 32
#define TS_API_MAX_N 10
#define TS_API_PROMPT_MAX 32000
#define TS_API_FPS_MAX 120.0

/**
 * struct ts_api_model - what the server accepts for one model.
 * @n_sizes: 0 = any WxH, both multiples of 8 in [64, 4096] (models costed
 *           by their module); else exactly the listed sizes (profiles).
 * @n_classes: > 0 for class-conditional models (class_label allowed).
 * @max_frames: > 0 for video models (frames and fps allowed, up to this many
 *              frames); 0 for image models.
 * @caption_ch, @caption_len: > 0 when the model takes caption embeddings
 *              from the request: [L <= caption_len, caption_ch] floats.
 */
struct ts_api_model {
	char name[TS_API_NAME_MAX];
	int n_sizes;
	int w[TS_API_MAX_SIZES], h[TS_API_MAX_SIZES];
	int default_steps, max_steps;
	int n_classes;
	int max_frames;
	int caption_ch, caption_len;
};

struct ts_api_catalog {
	int n;
	struct ts_api_model m[TS_API_MAX_MODELS];
};

/**
 * struct ts_genreq - a validated request.
 * @model: index into the catalog it was parsed against.
 * @class_label: -1 when not given (a class-conditional model then draws one
 *               from the seed).
 * @guidance_scale: 0 when not given: the model's configured default.
 * @deadline_ms, @slo_scale: at most one > 0 (neither: the server default).
 * @frames: 1 = an image; > 1 a video (then n is 1 and the result an MP4).
 * @fps: 0 when not given: the model's default rate.
 * @caption: caption embeddings [caption_rows, caption_ch] (malloc'ed), or
 *           NULL: the model's own (its section's caption_file).
 * @caption_mask: caption_rows entries of 0/1 (malloc'ed), or NULL: all valid.
 */
struct ts_genreq {
	int model;
	char model_name[TS_API_NAME_MAX];
	int n;
	int width, height;
	int frames;
	double fps;
	int steps;
	double guidance_scale;
	int class_label;
	int has_seed;
	uint64_t seed;
	double deadline_ms;
	double slo_scale;
	size_t prompt_len;
	float *caption;
	int caption_rows, caption_ch;
	uint8_t *caption_mask;
};

/** struct ts_api_error - why a request was refused: HTTP status, field, message. */
struct ts_api_error {
	int status;
	char field[TS_API_NAME_MAX];
	char message[256];
};

/* 0 and *out filled, or TS_EINVAL and *err says which field and why (status 400). */
int ts_genreq_parse(const char *body, size_t len, const struct ts_api_catalog *cat,
		    struct ts_genreq *out, struct ts_api_error *err);

/* Free what a parsed request owns (its caption embeddings); idempotent. */
void ts_genreq_release(struct ts_genreq *rq);

/* Set *err (status, field or NULL, printf message); returns TS_EINVAL. */
int ts_api_error_set(struct ts_api_error *err, int status, const char *field,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* TS_SERVER_REQUEST_H */
