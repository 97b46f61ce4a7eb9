// SPDX-License-Identifier: MIT
/*
 * tests/server/test_request.c - the request parser alone: defaults, every
 * field accepted, and every bad input refused with a 400 naming its field.
 */
#include <string.h>

#include "request.h"
#include "tap.h"

static struct ts_api_catalog cat;

static void setup(void)
{
	struct ts_api_model *m = &cat.m[0];

	cat.n = 3;
	snprintf(m->name, sizeof(m->name), "flux");
	m->n_sizes = 2;
	m->w[0] = m->h[0] = 256;
	m->w[1] = m->h[1] = 1024;
	m->default_steps = 28;
	m->max_steps = 100;
	m = &cat.m[1];
	snprintf(m->name, sizeof(m->name), "dit");
	m->default_steps = 50;
	m->max_steps = 1000;
	m->n_classes = 1000;
	m = &cat.m[2];
	snprintf(m->name, sizeof(m->name), "sora");
	m->default_steps = 30;
	m->max_steps = 100;
	m->max_frames = 51;
	m->caption_ch = 2;
	m->caption_len = 4;
}

/* The body must be refused with status 400 naming @field. */
static void refused(const char *body, const char *field, const char *what)
{
	struct ts_genreq rq;
	struct ts_api_error err;
	int rc = ts_genreq_parse(body, strlen(body), &cat, &rq, &err);

	ok(rc < 0 && err.status == 400 && !strcmp(err.field, field),
	   "%s -> 400 field '%s' (got rc %d, %d '%s': %s)", what, field, rc, err.status,
	   err.field, err.message);
}

static void accepted(void)
{
	struct ts_genreq rq;
	struct ts_api_error err;
	const char *full = "{\"model\":\"flux\",\"prompt\":\"a cat\",\"n\":3,\"size\":\"1024x1024\","
			   "\"response_format\":\"b64_json\",\"output_format\":\"png\",\"seed\":42,"
			   "\"num_inference_steps\":20,\"guidance_scale\":3.5,\"deadline_ms\":900,"
			   "\"user\":\"u1\"}";
	const char *dit = "{\"model\":\"dit\",\"size\":\"512x256\",\"class_label\":207,"
			  "\"slo_scale\":1.5,\"num_inference_steps\":250.0}";
	int rc;

	rc = ts_genreq_parse(full, strlen(full), &cat, &rq, &err);
	ok(!rc, "every field at once is accepted (%s)", err.message);
	ok(rq.model == 0 && rq.n == 3 && rq.width == 1024 && rq.height == 1024 && rq.seed == 42 &&
	   rq.has_seed && rq.steps == 20 && rq.guidance_scale == 3.5 && rq.deadline_ms == 900 &&
	   rq.prompt_len == 5 && rq.class_label == -1, "and every value lands where it should");
	rc = ts_genreq_parse(dit, strlen(dit), &cat, &rq, &err);
	ok(!rc && rq.model == 1 && rq.width == 512 && rq.height == 256 && rq.class_label == 207 &&
	   rq.slo_scale == 1.5 && rq.steps == 250,
	   "a class-conditional model takes class_label; any multiple-of-8 size (%s)",
	   err.message);
	rc = ts_genreq_parse("{\"model\":\"flux\"}", 16, &cat, &rq, &err);
	ok(!rc && rq.n == 1 && rq.steps == 28 && rq.width == 256 && !rq.has_seed &&
	   rq.deadline_ms == 0 && rq.slo_scale == 0 && rq.guidance_scale == 0,
	   "defaults: n 1, model steps, first size, guidance 0 (the model's)");
}

/* frames and fps: a video model's, one video per job, delivered as MP4. */
static void video(void)
{
	struct ts_genreq rq;
	struct ts_api_error err;
	const char *v = "{\"model\":\"sora\",\"size\":\"256x256\",\"frames\":17,\"fps\":24,"
			"\"output_format\":\"mp4\"}";
	int rc;

	rc = ts_genreq_parse(v, strlen(v), &cat, &rq, &err);
	ok(!rc && rq.frames == 17 && rq.fps == 24 && rq.n == 1,
	   "a video model takes frames, fps and output_format mp4 (%s)", err.message);
	rc = ts_genreq_parse("{\"model\":\"sora\"}", 16, &cat, &rq, &err);
	ok(!rc && rq.frames == 1 && rq.fps == 0, "no frames: an image at the model's rate");
	rc = ts_genreq_parse("{\"model\":\"flux\"}", 16, &cat, &rq, &err);
	ok(!rc && rq.frames == 1, "an image model's request is one frame");
	refused("{\"model\":\"flux\",\"frames\":17}", "frames", "frames for an image model");
	refused("{\"model\":\"dit\",\"fps\":24}", "fps", "fps for an image model");
	refused("{\"model\":\"sora\",\"frames\":0}", "frames", "frames 0");
	refused("{\"model\":\"sora\",\"frames\":52}", "frames", "frames over the model's maximum");
	refused("{\"model\":\"sora\",\"frames\":\"17\"}", "frames", "frames a string");
	refused("{\"model\":\"sora\",\"fps\":0}", "fps", "fps 0");
	refused("{\"model\":\"sora\",\"fps\":1000}", "fps", "fps over 120");
	refused("{\"model\":\"sora\",\"frames\":17,\"n\":2}", "n", "two videos in one job");
	refused("{\"model\":\"sora\",\"frames\":17,\"output_format\":\"png\"}",
		"output_format", "a video as png");
	refused("{\"model\":\"flux\",\"output_format\":\"mp4\"}", "output_format",
		"an image as mp4");
}

/* Caption embeddings: base64 float32 LE [L, C], an optional 0/1 mask of L. */
static void caption(void)
{
	/* [2, 2] = 1, 2, -0.5, 0.25: "AACAPwAAAEAAAAC/AACAPg==" */
	const char *v = "{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEAAAAC/AACAPg==\","
			"\"caption_shape\":[2,2],\"caption_mask\":[1,0]}";
	struct ts_genreq rq;
	struct ts_api_error err;
	int rc = ts_genreq_parse(v, strlen(v), &cat, &rq, &err);

	ok(!rc && rq.caption && rq.caption_rows == 2 && rq.caption_ch == 2 &&
	   rq.caption[0] == 1.0f && rq.caption[1] == 2.0f && rq.caption[2] == -0.5f &&
	   rq.caption[3] == 0.25f && rq.caption_mask && rq.caption_mask[0] == 1 &&
	   rq.caption_mask[1] == 0, "caption embeddings and mask decoded (%s)", err.message);
	ts_genreq_release(&rq);
	ok(!rq.caption && !rq.caption_mask, "and released");
	refused("{\"model\":\"dit\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[1,2]}",
		"caption_embeddings", "caption embeddings for a model that takes none");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\"}", "caption_shape",
		"embeddings without a shape");
	refused("{\"model\":\"sora\",\"caption_shape\":[1,2]}", "caption_embeddings",
		"a shape without embeddings");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[1,3]}",
		"caption_shape", "channels other than the model's");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[5,2]}",
		"caption_shape", "more rows than the model's caption length");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[2,2]}",
		"caption_embeddings", "fewer bytes than the shape");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACA*wAAAEA=\",\"caption_shape\":[1,2]}",
		"caption_embeddings", "not base64");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AADAfwAAAEA=\",\"caption_shape\":[1,2]}",
		"caption_embeddings", "a NaN");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[1,2],"
		"\"caption_mask\":[2]}", "caption_mask", "a mask entry of 2");
	refused("{\"model\":\"sora\",\"caption_embeddings\":\"AACAPwAAAEA=\",\"caption_shape\":[1,2],"
		"\"caption_mask\":[1,1]}", "caption_mask", "a mask longer than L");
}

static void single_model(void)
{
	struct ts_api_catalog one = cat;
	struct ts_genreq rq;
	struct ts_api_error err;

	one.n = 1;
	ok(!ts_genreq_parse("{}", 2, &one, &rq, &err) && rq.model == 0,
	   "model may be left out when one is served");
	ok(ts_genreq_parse("{}", 2, &cat, &rq, &err) && !strcmp(err.field, "model"),
	   "but not when several are");
}

int main(void)
{
	setup();
	accepted();
	video();
	caption();
	single_model();
	refused("", "", "empty body");
	refused("{\"model\":\"flux\"", "", "truncated JSON");
	refused("[1,2]", "", "an array");
	refused("{\"model\":\"flux\",\"model\":\"dit\"}", "", "a duplicate key");
	refused("{\"model\":7}", "model", "model of the wrong type");
	refused("{\"model\":\"sdxl\"}", "model", "unknown model");
	refused("{\"model\":\"flux\",\"n\":0}", "n", "n = 0");
	refused("{\"model\":\"flux\",\"n\":11}", "n", "n = 11");
	refused("{\"model\":\"flux\",\"n\":\"2\"}", "n", "n as a string");
	refused("{\"model\":\"flux\",\"n\":1.5}", "n", "n fractional");
	refused("{\"model\":\"flux\",\"size\":\"512x512\"}", "size", "a size the profile lacks");
	refused("{\"model\":\"flux\",\"size\":\"256x256 \"}", "size", "size with trailing space");
	refused("{\"model\":\"flux\",\"size\":\"-256x256\"}", "size", "negative size");
	refused("{\"model\":\"dit\",\"size\":\"250x256\"}", "size", "size not a multiple of 8");
	refused("{\"model\":\"dit\",\"size\":\"8192x256\"}", "size", "size too large");
	refused("{\"model\":\"flux\",\"size\":256}", "size", "size as a number");
	refused("{\"model\":\"flux\",\"num_inference_steps\":0}", "num_inference_steps", "0 steps");
	refused("{\"model\":\"flux\",\"num_inference_steps\":101}", "num_inference_steps",
		"steps over the model's maximum");
	refused("{\"model\":\"flux\",\"seed\":-1}", "seed", "negative seed");
	refused("{\"model\":\"flux\",\"seed\":true}", "seed", "seed a boolean");
	refused("{\"model\":\"flux\",\"guidance_scale\":\"high\"}", "guidance_scale",
		"guidance_scale a string");
	refused("{\"model\":\"flux\",\"guidance_scale\":1e9}", "guidance_scale",
		"guidance_scale huge");
	refused("{\"model\":\"flux\",\"class_label\":3}", "class_label",
		"class_label on a text model");
	refused("{\"model\":\"dit\",\"class_label\":1000}", "class_label", "class_label too big");
	refused("{\"model\":\"flux\",\"deadline_ms\":0}", "deadline_ms", "deadline_ms 0");
	refused("{\"model\":\"flux\",\"deadline_ms\":\"soon\"}", "deadline_ms", "deadline_ms text");
	refused("{\"model\":\"flux\",\"slo_scale\":-1}", "slo_scale", "negative slo_scale");
	refused("{\"model\":\"flux\",\"slo_scale\":1,\"deadline_ms\":5}", "slo_scale",
		"deadline_ms and slo_scale together");
	refused("{\"model\":\"flux\",\"response_format\":\"url\"}", "response_format",
		"response_format url");
	refused("{\"model\":\"flux\",\"output_format\":\"jpeg\"}", "output_format", "jpeg");
	refused("{\"model\":\"flux\",\"prompt\":[]}", "prompt", "prompt an array");
	refused("{\"model\":\"flux\",\"num_inference_step\":5}", "num_inference_step",
		"a misspelt field is named, not ignored");
	refused("{\"model\":\"flux\",\"user\":5}", "user", "user a number");
	return tap_done();
}
