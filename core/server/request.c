// SPDX-License-Identifier: MIT
/*
 * core/server/request.c - the body of POST /v1/images/generations (and of a
 * job submission) into a struct ts_genreq. Field names follow OpenAI's
 * Images API; the diffusion knobs are extra top-level fields, as vLLM-Omni
 * and SGLang do (../shared/spec/api.md 4.1), not hidden in the prompt.
 *
 * Unknown fields are refused rather than ignored: a typo such as
 * "num_inference_step" would otherwise silently run with the default.
 * OpenAI fields that mean nothing for a DiT (user, quality, style) are
 * accepted when they have the right type, so OpenAI clients work unchanged.
 */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "httpc.h" /* ts_base64_decode */
#include "request.h"

#define SIZE_MIN 64
#define SIZE_MAX_PX 4096
#define GUIDANCE_MAX 100.0
#define DEADLINE_MAX_MS 86400000.0 /* a day */
#define SLO_SCALE_MAX 1000.0

int ts_api_error_set(struct ts_api_error *err, int status, const char *field,
		     const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return TS_EINVAL;
}

#define bad(err, field, ...) ts_api_error_set(err, 400, field, __VA_ARGS__)

static const char *const known_fields[] = {
	"model", "prompt", "n", "size", "response_format", "output_format", "seed",
	"num_inference_steps", "guidance_scale", "class_label", "deadline_ms", "slo_scale",
	"user", "quality", "style", "frames", "fps", "caption_embeddings", "caption_shape",
	"caption_mask", NULL,
};

static int field_known(const char *key)
{
	for (int i = 0; known_fields[i]; i++)
		if (!strcmp(key, known_fields[i]))
			return 1;
	return 0;
}

/* An integer-valued JSON number (5 or 5.0) in [lo, hi] into *out. */
static int get_int(json_t *v, const char *field, long long lo, long long hi, long long *out,
		   struct ts_api_error *err)
{
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
	} else if (json_is_real(v)) {
		d = json_real_value(v);
		if (d != floor(d) || !(d >= -9.2e18 && d <= 9.2e18))
			return bad(err, field, "%s must be an integer", field);
		*out = (long long)d;
	} else {
		return bad(err, field, "%s must be an integer", field);
	}
	if (*out < lo || *out > hi)
		return bad(err, field, "%s must be in [%lld, %lld], got %lld", field, lo, hi, *out);
	return 0;
}

static int get_num(json_t *v, const char *field, double lo, double hi, double *out,
		   struct ts_api_error *err)
{
	if (!json_is_number(v))
		return bad(err, field, "%s must be a number", field);
	*out = json_number_value(v);
	if (!(*out >= lo && *out <= hi))
		return bad(err, field, "%s must be in [%g, %g], got %g", field, lo, hi, *out);
	return 0;
}

static const char *get_str(json_t *v, const char *field, struct ts_api_error *err)
{
	if (!json_is_string(v)) {
		bad(err, field, "%s must be a string", field);
		return NULL;
	}
	return json_string_value(v);
}

static int find_model(const struct ts_api_catalog *cat, const char *name)
{
	for (int i = 0; i < cat->n; i++)
		if (!strcmp(cat->m[i].name, name))
			return i;
	return -1;
}

/* "WxH" with nothing around it; "auto" = the model's first size. */
static int parse_size(const char *s, const struct ts_api_model *m, int *w, int *h,
		      struct ts_api_error *err)
{
	int n = 0;

	if (!strcmp(s, "auto")) {
		*w = m->n_sizes ? m->w[0] : 256;
		*h = m->n_sizes ? m->h[0] : 256;
		return 0;
	}
	if (strlen(s) > 11 || sscanf(s, "%5dx%5d%n", w, h, &n) != 2 || s[n] || s[0] < '0' ||
	    s[0] > '9')
		return bad(err, "size", "size must be WIDTHxHEIGHT, e.g. 256x256");
	if (m->n_sizes) {
		for (int i = 0; i < m->n_sizes; i++)
			if (m->w[i] == *w && m->h[i] == *h)
				return 0;
		return bad(err, "size", "size %dx%d is not served for model %s (first: %dx%d)",
			   *w, *h, m->name, m->w[0], m->h[0]);
	}
	if (*w < SIZE_MIN || *h < SIZE_MIN || *w > SIZE_MAX_PX || *h > SIZE_MAX_PX || *w % 8 ||
	    *h % 8)
		return bad(err, "size", "size %dx%d: each side a multiple of 8 in [%d, %d]", *w, *h,
			   SIZE_MIN, SIZE_MAX_PX);
	return 0;
}

static int check_unknown(json_t *root, struct ts_api_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(root, key, v) {
		if (!field_known(key))
			return bad(err, key, "unknown field '%.40s'", key);
	}
	return 0;
}

static int parse_model(json_t *root, const struct ts_api_catalog *cat, struct ts_genreq *out,
		       struct ts_api_error *err)
{
	json_t *v = json_object_get(root, "model");
	const char *name;

	if (!v) {
		if (cat->n != 1)
			return bad(err, "model", "model is required (%d models served)", cat->n);
		out->model = 0;
	} else {
		name = get_str(v, "model", err);
		if (!name)
			return TS_EINVAL;
		out->model = find_model(cat, name);
		if (out->model < 0)
			return bad(err, "model", "unknown model '%.64s' (GET /v1/models lists them)",
				   name);
	}
	snprintf(out->model_name, sizeof(out->model_name), "%s", cat->m[out->model].name);
	return 0;
}

/* frames and fps: only a video model takes them; a video is one MP4 per job. */
static int parse_video(json_t *root, const struct ts_api_model *m, struct ts_genreq *out,
		       struct ts_api_error *err)
{
	json_t *f = json_object_get(root, "frames"), *r = json_object_get(root, "fps");
	long long x;

	out->frames = 1;
	if ((f || r) && !m->max_frames)
		return bad(err, f ? "frames" : "fps", "model %s is not a video model", m->name);
	if (f) {
		if (get_int(f, "frames", 1, m->max_frames, &x, err))
			return TS_EINVAL;
		out->frames = (int)x;
	}
	if (r && get_num(r, "fps", 1, TS_API_FPS_MAX, &out->fps, err))
		return TS_EINVAL;
	if (out->frames > 1 && out->n != 1)
		return bad(err, "n", "a video request makes one video (n = 1), not %d", out->n);
	return 0;
}

static int parse_formats(json_t *root, const struct ts_genreq *rq, struct ts_api_error *err)
{
	json_t *v = json_object_get(root, "response_format");
	const char *want = rq->frames > 1 ? "mp4" : "png";
	const char *s;

	if (v) {
		s = get_str(v, "response_format", err);
		if (!s)
			return TS_EINVAL;
		if (strcmp(s, "b64_json"))
			return bad(err, "response_format", "response_format: only b64_json is served");
	}
	v = json_object_get(root, "output_format");
	if (v) {
		s = get_str(v, "output_format", err);
		if (!s)
			return TS_EINVAL;
		if (strcmp(s, want))
			return bad(err, "output_format", "output_format: only %s is served for %s",
				   want, rq->frames > 1 ? "a video" : "an image");
	}
	/* Accepted for OpenAI clients; they do not change what a DiT does. */
	if ((v = json_object_get(root, "user")) && !get_str(v, "user", err))
		return TS_EINVAL;
	if ((v = json_object_get(root, "quality")) && !get_str(v, "quality", err))
		return TS_EINVAL;
	if ((v = json_object_get(root, "style")) && !get_str(v, "style", err))
		return TS_EINVAL;
	return 0;
}

static int parse_prompt(json_t *root, struct ts_genreq *out, struct ts_api_error *err)
{
	json_t *v = json_object_get(root, "prompt");

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(err, "prompt", "prompt must be a string");
	out->prompt_len = json_string_length(v);
	if (out->prompt_len > TS_API_PROMPT_MAX)
		return bad(err, "prompt", "prompt longer than %d bytes", TS_API_PROMPT_MAX);
	return 0;
}

static int parse_knobs(json_t *root, const struct ts_api_model *m, struct ts_genreq *out,
		       struct ts_api_error *err)
{
	json_t *v;
	long long x;

	if ((v = json_object_get(root, "n"))) {
		if (get_int(v, "n", 1, TS_API_MAX_N, &x, err))
			return TS_EINVAL;
		out->n = (int)x;
	}
	if ((v = json_object_get(root, "num_inference_steps"))) {
		if (get_int(v, "num_inference_steps", 1, m->max_steps, &x, err))
			return TS_EINVAL;
		out->steps = (int)x;
	}
	if ((v = json_object_get(root, "seed"))) {
		if (get_int(v, "seed", 0, INT64_MAX, &x, err))
			return TS_EINVAL;
		out->seed = (uint64_t)x;
		out->has_seed = 1;
	}
	if ((v = json_object_get(root, "guidance_scale")) &&
	    get_num(v, "guidance_scale", 0, GUIDANCE_MAX, &out->guidance_scale, err))
		return TS_EINVAL;
	if ((v = json_object_get(root, "class_label"))) {
		if (!m->n_classes)
			return bad(err, "class_label", "model %s is not class-conditional", m->name);
		if (get_int(v, "class_label", 0, m->n_classes - 1, &x, err))
			return TS_EINVAL;
		out->class_label = (int)x;
	}
	return 0;
}

void ts_genreq_release(struct ts_genreq *rq)
{
	free(rq->caption);
	free(rq->caption_mask);
	rq->caption = NULL;
	rq->caption_mask = NULL;
}

/* caption_shape: [L, C] with 1 <= L <= the model's caption_len and C its caption_ch. */
static int caption_shape(json_t *v, const struct ts_api_model *m, struct ts_genreq *out,
			 struct ts_api_error *err)
{
	long long l, c;

	if (!json_is_array(v) || json_array_size(v) != 2)
		return bad(err, "caption_shape", "caption_shape must be [L, C]");
	if (get_int(json_array_get(v, 0), "caption_shape", 1, m->caption_len, &l, err) ||
	    get_int(json_array_get(v, 1), "caption_shape", m->caption_ch, m->caption_ch, &c, err))
		return TS_EINVAL;
	out->caption_rows = (int)l;
	out->caption_ch = (int)c;
	return 0;
}

/* caption_embeddings: base64 of L x C float32, little-endian (as numpy's tobytes() on x86). */
static int caption_data(json_t *v, struct ts_genreq *out, struct ts_api_error *err)
{
	size_t want = (size_t)out->caption_rows * out->caption_ch * sizeof(float), len = 0;
	unsigned char *raw = NULL;
	const char *s = get_str(v, "caption_embeddings", err);

	if (!s)
		return TS_EINVAL;
	if (ts_base64_decode(s, &raw, &len) || len != want) {
		free(raw);
		return bad(err, "caption_embeddings",
			   "caption_embeddings must be base64 of %zu bytes (caption_shape of float32)",
			   want);
	}
	out->caption = malloc(want);
	if (!out->caption) {
		free(raw);
		return ts_api_error_set(err, 500, NULL, "out of memory");
	}
	for (size_t i = 0; i < want / 4; i++) {
		const unsigned char *b = raw + 4 * i;
		uint32_t u = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;

		memcpy(&out->caption[i], &u, 4);
		if (!isfinite(out->caption[i])) {
			free(raw);
			return bad(err, "caption_embeddings", "caption_embeddings: value %zu is not finite",
				   i);
		}
	}
	free(raw);
	return 0;
}

/* caption_mask: L entries of 0 or 1 (padding rows are 0). */
static int caption_mask(json_t *v, struct ts_genreq *out, struct ts_api_error *err)
{
	long long x;

	if (!json_is_array(v) || json_array_size(v) != (size_t)out->caption_rows)
		return bad(err, "caption_mask", "caption_mask must be %d entries of 0 or 1",
			   out->caption_rows);
	out->caption_mask = malloc((size_t)out->caption_rows);
	if (!out->caption_mask)
		return ts_api_error_set(err, 500, NULL, "out of memory");
	for (int i = 0; i < out->caption_rows; i++) {
		if (get_int(json_array_get(v, i), "caption_mask", 0, 1, &x, err))
			return TS_EINVAL;
		out->caption_mask[i] = (uint8_t)x;
	}
	return 0;
}

/* Caption embeddings from the request, for a model that takes them; else its own. */
static int parse_caption(json_t *root, const struct ts_api_model *m, struct ts_genreq *out,
			 struct ts_api_error *err)
{
	json_t *e = json_object_get(root, "caption_embeddings");
	json_t *s = json_object_get(root, "caption_shape"), *k = json_object_get(root, "caption_mask");
	const char *field = e ? "caption_embeddings" : s ? "caption_shape" : "caption_mask";

	if (!e && !s && !k)
		return 0;
	if (!m->caption_ch)
		return bad(err, field, "model %s takes no caption embeddings", m->name);
	if (!e || !s)
		return bad(err, e ? "caption_shape" : "caption_embeddings",
			   "caption_embeddings and caption_shape go together");
	if (caption_shape(s, m, out, err) || caption_data(e, out, err) ||
	    (k && caption_mask(k, out, err)))
		return TS_EINVAL;
	return 0;
}

static int parse_deadline(json_t *root, struct ts_genreq *out, struct ts_api_error *err)
{
	json_t *d = json_object_get(root, "deadline_ms"), *s = json_object_get(root, "slo_scale");

	if (d && s)
		return bad(err, "slo_scale", "give deadline_ms or slo_scale, not both");
	if (d && get_num(d, "deadline_ms", 1e-3, DEADLINE_MAX_MS, &out->deadline_ms, err))
		return TS_EINVAL;
	if (s && get_num(s, "slo_scale", 1e-3, SLO_SCALE_MAX, &out->slo_scale, err))
		return TS_EINVAL;
	return 0;
}

int ts_genreq_parse(const char *body, size_t len, const struct ts_api_catalog *cat,
		    struct ts_genreq *out, struct ts_api_error *err)
{
	const struct ts_api_model *m;
	json_error_t jerr;
	json_t *root, *v;
	const char *s;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(err, 0, sizeof(*err));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return bad(err, "", "body is not JSON: %.120s (at byte %d)", jerr.text,
			   jerr.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return bad(err, "", "body must be a JSON object");
	}
	out->n = 1;
	out->class_label = -1;
	out->guidance_scale = 0; /* the model's own default */
	rc = check_unknown(root, err);
	if (!rc)
		rc = parse_model(root, cat, out, err);
	if (rc)
		goto out_root;
	m = &cat->m[out->model];
	out->steps = m->default_steps;
	rc = parse_prompt(root, out, err);
	if (!rc)
		rc = parse_knobs(root, m, out, err);
	if (!rc)
		rc = parse_video(root, m, out, err);
	if (!rc)
		rc = parse_formats(root, out, err);
	if (!rc)
		rc = parse_caption(root, m, out, err);
	if (!rc)
		rc = parse_deadline(root, out, err);
	if (rc)
		goto out_root;
	v = json_object_get(root, "size");
	if (!v) {
		rc = parse_size("auto", m, &out->width, &out->height, err);
	} else {
		s = get_str(v, "size", err);
		rc = s ? parse_size(s, m, &out->width, &out->height, err) : TS_EINVAL;
	}
out_root:
	json_decref(root);
	if (rc)
		ts_genreq_release(out);
	return rc;
}
