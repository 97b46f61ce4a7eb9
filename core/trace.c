// SPDX-License-Identifier: MIT
/*
 * core/trace.c - load and save request traces (CSV).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "log.h"
#include "trace.h"

#define TRACE_HEADER "id,arrival_s,model,width,height,steps,slo_s"
/* The optional eighth column: a trace without it is all images (frames = 1). */
#define TRACE_HEADER_FRAMES TRACE_HEADER ",frames"
#define TRACE_MAX_COLS 8

void ts_trace_free(struct ts_trace *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_models; i++)
		free(t->models[i]);
	free(t->models);
	free(t->req);
	free(t);
}

/* The trace's copy of @name, added on first sight: requests point at it. */
static const char *intern_model(struct ts_trace *t, const char *name)
{
	char **nm;

	for (int i = 0; i < t->n_models; i++)
		if (!strcmp(t->models[i], name))
			return t->models[i];
	nm = realloc(t->models, (t->n_models + 1) * sizeof(*nm));
	if (!nm)
		return NULL;
	t->models = nm;
	nm[t->n_models] = strdup(name);
	if (!nm[t->n_models])
		return NULL;
	return nm[t->n_models++];
}

static int trace_push(struct ts_trace *t, int *cap, const struct ts_trace_req *r)
{
	if (t->n == *cap) {
		int nc = *cap ? 2 * *cap : 256;
		struct ts_trace_req *nr = realloc(t->req, nc * sizeof(*nr));

		if (!nr)
			return TS_ENOMEM;
		t->req = nr;
		*cap = nc;
	}
	t->req[t->n++] = *r;
	return 0;
}

static int num_field(const char *s, double lo, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) || *out < lo ? -1 : 0;
}

/* Fill @r from the @n_cols fields of one line; returns the 0-based bad column or -1. */
static int req_fields(struct ts_trace *t, char **f, int n_cols, struct ts_trace_req *r)
{
	double v[TRACE_MAX_COLS] = { [7] = 1 };
	static const double lo[TRACE_MAX_COLS] = { 0, 0, 0, 1, 1, 1, 0, 1 };

	for (int i = 0; i < n_cols; i++) {
		if (i == 2)
			continue;
		if (num_field(f[i], lo[i], &v[i]))
			return i;
		if ((i == 0 || (i >= 3 && i <= 5) || i == 7) && v[i] != floor(v[i]))
			return i;
		if (i == 7 && v[i] > TS_TRACE_MAX_FRAMES)
			return i;
	}
	if (!*f[2] || !(r->model = intern_model(t, f[2])))
		return 2;
	r->id = (uint64_t)v[0];
	r->arrival_s = v[1];
	r->width = (int)v[3];
	r->height = (int)v[4];
	r->frames = (int)v[7];
	r->steps = (int)v[5];
	r->slo_s = v[6];
	return -1;
}

static int split_cols(char *line, char **f, int n_cols)
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = 0;
	for (;;) {
		if (n == n_cols)
			return -1;
		f[n++] = p;
		p = strchr(p, ',');
		if (!p)
			break;
		*p++ = 0;
	}
	return n == n_cols ? 0 : -1;
}

static const char *const col_names[TRACE_MAX_COLS] = {
	"id", "arrival_s", "model", "width", "height", "steps", "slo_s", "frames",
};

static int trace_line(struct ts_trace *t, int *cap, const char *path, int lineno, char *line,
		      int n_cols)
{
	struct ts_trace_req r = { 0 };
	char *f[TRACE_MAX_COLS];
	int bad;

	if (split_cols(line, f, n_cols)) {
		ts_err("trace", "%s:%d: want %d columns (%s)", path, lineno, n_cols,
		       n_cols == 7 ? TRACE_HEADER : TRACE_HEADER_FRAMES);
		return TS_EFORMAT;
	}
	bad = req_fields(t, f, n_cols, &r);
	if (bad >= 0) {
		ts_err("trace", "%s:%d: %s: bad value '%s'", path, lineno, col_names[bad], f[bad]);
		return TS_EFORMAT;
	}
	if (t->n && r.arrival_s < t->req[t->n - 1].arrival_s) {
		ts_err("trace", "%s:%d: arrival_s goes back in time", path, lineno);
		return TS_EFORMAT;
	}
	return trace_push(t, cap, &r);
}

static int trace_read(FILE *f, const char *path, struct ts_trace *t)
{
	char *line = NULL;
	size_t len = 0;
	int lineno = 0, cap = 0, err = 0, n_cols = 7;

	while (!err && getline(&line, &len, f) > 0) {
		lineno++;
		if (lineno == 1) {
			line[strcspn(line, "\r\n")] = 0;
			if (!strcmp(line, TRACE_HEADER_FRAMES)) {
				n_cols = 8;
				t->frames_col = 1;
			} else if (strcmp(line, TRACE_HEADER)) {
				ts_err("trace", "%s:1: header must be " TRACE_HEADER "[,frames]", path);
				err = TS_EFORMAT;
			}
			continue;
		}
		if (line[strspn(line, " \t\r\n")] == 0)
			continue;
		err = trace_line(t, &cap, path, lineno, line, n_cols);
	}
	free(line);
	if (!err && lineno == 0) {
		ts_err("trace", "%s: empty file", path);
		err = TS_EFORMAT;
	}
	return err;
}

int ts_trace_load(const char *path, struct ts_trace **out)
{
	struct ts_trace *t;
	FILE *f;
	int err;

	f = fopen(path, "r");
	if (!f) {
		ts_err("trace", "%s: %s", path, strerror(errno));
		return TS_ENOENT;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		fclose(f);
		return TS_ENOMEM;
	}
	err = trace_read(f, path, t);
	fclose(f);
	if (err) {
		ts_trace_free(t);
		return err;
	}
	*out = t;
	return 0;
}

/* Whether any request is a video: then the frames column must be written. */
static int trace_has_video(const struct ts_trace *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->req[i].frames > 1)
			return 1;
	return 0;
}

int ts_trace_write(const struct ts_trace *t, FILE *f)
{
	int video = t->frames_col || trace_has_video(t);

	/* An image-only trace keeps the seven columns, byte for byte what it was before. */
	fprintf(f, "%s\n", video ? TRACE_HEADER_FRAMES : TRACE_HEADER);
	for (int i = 0; i < t->n; i++) {
		const struct ts_trace_req *r = &t->req[i];

		char slo[32];

		/* Keep "5.0" as the reference traces write it, and any other value exactly. */
		snprintf(slo, sizeof(slo), "%.17g", r->slo_s);
		if (!strpbrk(slo, ".eEn"))
			strcat(slo, ".0");
		fprintf(f, "%llu,%.4f,%s,%d,%d,%d,%s", (unsigned long long)r->id, r->arrival_s,
			r->model, r->width, r->height, r->steps, slo);
		if (video)
			fprintf(f, ",%d", r->frames > 1 ? r->frames : 1);
		fputc('\n', f);
	}
	return ferror(f) ? TS_EIO : 0;
}

int ts_trace_save(const struct ts_trace *t, const char *path)
{
	FILE *f = fopen(path, "w");
	int err;

	if (!f) {
		ts_err("trace", "%s: %s", path, strerror(errno));
		return TS_EIO;
	}
	err = ts_trace_write(t, f);
	if (fclose(f) && !err)
		err = TS_EIO;
	if (err)
		ts_err("trace", "%s: write failed", path);
	return err;
}
