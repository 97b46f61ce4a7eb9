// SPDX-License-Identifier: MIT
/*
 * tests/fuzz/fuzz_request.c - libFuzzer target for the request parser
 * (core/server/request.c): any bytes in, a validated request or a 400
 * naming a field out, never a crash, leak or out-of-range value.
 *
 * Built two ways: with clang -fsanitize=fuzzer by tests/fuzz/run (the fuzz
 * run), and with replay.c's main() by ninja, so CI replays the committed
 * corpus (tests/fuzz/corpus/request/) under ASan+UBSan on every build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ts_api_catalog cat;

static void catalog(void)
{
	struct ts_api_model *m = &cat.m[0];

	cat.n = 3;
	snprintf(m->name, sizeof(m->name), "flux");
	m->n_sizes = 3;
	m->w[0] = m->h[0] = 256;
	m->w[1] = m->h[1] = 1024;
	m->w[2] = 1536;
	m->h[2] = 1024;
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

/* What a 0 return promises; a broken promise is a finding. */
static void check(const struct ts_genreq *rq)
{
	const struct ts_api_model *m;

	if (rq->model < 0 || rq->model >= cat.n)
		abort();
	m = &cat.m[rq->model];
	if (rq->n < 1 || rq->n > TS_API_MAX_N || rq->steps < 1 || rq->steps > m->max_steps ||
	    rq->width < 64 || rq->height < 64 || rq->width > 4096 || rq->height > 4096 ||
	    (rq->deadline_ms > 0 && rq->slo_scale > 0) || !(rq->guidance_scale >= 0) ||
	    rq->guidance_scale > 100 || rq->class_label >= 1000 ||
	    (rq->class_label >= 0 && !m->n_classes) || rq->prompt_len > TS_API_PROMPT_MAX ||
	    strcmp(rq->model_name, m->name))
		abort();
	/* video and caption fields: only a model that takes them, within its bounds */
	if (rq->frames < 1 || rq->frames > (m->max_frames ? m->max_frames : 1) ||
	    (rq->frames > 1 && rq->n != 1) || (rq->fps != 0 && !m->max_frames) ||
	    (rq->caption && (!m->caption_ch || rq->caption_ch != m->caption_ch ||
			     rq->caption_rows < 1 || rq->caption_rows > m->caption_len)) ||
	    (rq->caption_mask && !rq->caption))
		abort();
	for (int i = 0; rq->caption && i < rq->caption_rows; i++)
		if (rq->caption_mask && rq->caption_mask[i] > 1)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_genreq rq;
	struct ts_api_error err;

	if (!cat.n)
		catalog();
	if (!ts_genreq_parse((const char *)data, size, &cat, &rq, &err)) {
		check(&rq);
		ts_genreq_release(&rq);
	}
	else if (err.status != 400 || !err.message[0])
		abort();
	return 0;
}
