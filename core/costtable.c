// SPDX-License-Identifier: MIT
/*
 * core/costtable.c - step-time tables from profile CSVs or cost functions.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "costtable.h"
#include "log.h"

/* A table owns its arrays; struct ts_cost points into them. */
struct cost_entry {
	struct ts_cost c;
	char *model;
	int *degree;
	double *step_s;
};

struct ts_costbook {
	int n, cap;
	struct cost_entry **e;
};

int ts_costbook_new(struct ts_costbook **out)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return TS_ENOMEM;
	return 0;
}

static void entry_free(struct cost_entry *e)
{
	if (!e)
		return;
	free(e->model);
	free(e->degree);
	free(e->step_s);
	free(e);
}

void ts_costbook_free(struct ts_costbook *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n; i++)
		entry_free(b->e[i]);
	free(b->e);
	free(b);
}

static int same_frames(int a, int b)
{
	return (a <= 1 && b <= 1) || a == b;
}

const struct ts_cost *ts_costbook_find(const struct ts_costbook *b, const char *model,
				       int width, int height, int frames)
{
	for (int i = 0; i < b->n; i++) {
		const struct ts_cost *c = &b->e[i]->c;

		if (c->width == width && c->height == height && same_frames(c->frames, frames) &&
		    !strcmp(c->model, model))
			return c;
	}
	return NULL;
}

int ts_costbook_count(const struct ts_costbook *b)
{
	return b->n;
}

const struct ts_cost *ts_costbook_at(const struct ts_costbook *b, int i)
{
	return i >= 0 && i < b->n ? &b->e[i]->c : NULL;
}

int ts_costbook_klass(const struct ts_costbook *b, const struct ts_cost *c)
{
	for (int i = 0; i < b->n; i++)
		if (&b->e[i]->c == c)
			return i;
	return -1;
}

int ts_costbook_has_model(const struct ts_costbook *b, const char *model)
{
	for (int i = 0; i < b->n; i++)
		if (!strcmp(b->e[i]->model, model))
			return 1;
	return 0;
}

int ts_cost_degree_index(const struct ts_cost *c, int degree)
{
	for (int i = 0; i < c->n_degrees; i++)
		if (c->degree[i] == degree)
			return i;
	return -1;
}

double ts_cost_seconds(const struct ts_cost *c, int degree, int batch)
{
	int di = ts_cost_degree_index(c, degree);
	double s;

	if (di < 0 || batch < 1 || batch > c->max_batch)
		return -1.0;
	s = ts_cost_step(c, di, batch);
	return isnan(s) ? -1.0 : s;
}

static int book_push(struct ts_costbook *b, struct cost_entry *e)
{
	if (b->n == b->cap) {
		int cap = b->cap ? 2 * b->cap : 8;
		struct cost_entry **ne = realloc(b->e, cap * sizeof(*ne));

		if (!ne)
			return TS_ENOMEM;
		b->e = ne;
		b->cap = cap;
	}
	b->e[b->n++] = e;
	return 0;
}

static struct cost_entry *entry_new(const char *model, int width, int height, int frames,
				    int n_degrees, int max_batch)
{
	struct cost_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->model = strdup(model);
	e->degree = calloc(n_degrees ? n_degrees : 1, sizeof(int));
	e->step_s = malloc((size_t)(n_degrees ? n_degrees : 1) * max_batch * sizeof(double));
	if (!e->model || !e->degree || !e->step_s) {
		entry_free(e);
		return NULL;
	}
	for (int i = 0; i < n_degrees * max_batch; i++)
		e->step_s[i] = NAN;
	e->c = (struct ts_cost){
		.model = e->model, .width = width, .height = height, .frames = frames,
		.n_degrees = n_degrees, .degree = e->degree, .max_batch = max_batch,
		.step_s = e->step_s,
	};
	return e;
}

int ts_costbook_add_fn(struct ts_costbook *b, const char *model, int width, int height,
		       int frames, const int *degrees, int n_degrees, int max_batch,
		       ts_cost_fn fn, void *arg)
{
	struct cost_entry *e;
	int n = 0, err;

	if (ts_costbook_find(b, model, width, height, frames)) {
		ts_err("cost", "%s %dx%d: a cost table for this shape exists already",
		       model, width, height);
		return TS_EEXIST;
	}
	if (n_degrees < 1 || n_degrees > TS_MAX_DEGREES || max_batch < 1)
		return TS_EINVAL;
	e = entry_new(model, width, height, frames, n_degrees, max_batch);
	if (!e)
		return TS_ENOMEM;
	for (int i = 0; i < n_degrees; i++) {
		if (fn(arg, degrees[i], 1) < 0)
			continue;
		e->degree[n] = degrees[i];
		for (int bt = 1; bt <= max_batch; bt++) {
			double s = fn(arg, degrees[i], bt);

			e->step_s[n * max_batch + bt - 1] = s < 0 ? NAN : s;
		}
		n++;
	}
	e->c.n_degrees = n;
	if (!n) {
		ts_err("cost", "%s %dx%d: no allowed degree", model, width, height);
		entry_free(e);
		return TS_EINVAL;
	}
	err = book_push(b, e);
	if (err)
		entry_free(e);
	return err;
}

/* --- profile CSVs --------------------------------------------------------- */

struct csv_row {
	char model[64];
	int width, height, degree, batch;
	double step_s;
	int line;
};

struct csv_rows {
	int n, cap;
	struct csv_row *r;
	const char *path;
};

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 1 << 20)
		return -1;
	*out = (int)v;
	return 0;
}

static int row_parse(char *line, struct csv_row *r)
{
	char *f[6], *save = NULL;
	int n = 0;
	char *end;

	line[strcspn(line, "\r\n")] = 0;
	for (char *t = strtok_r(line, ",", &save); t && n < 6; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n != 6 || strtok_r(NULL, ",", &save) || strlen(f[0]) >= sizeof(r->model))
		return -1;
	strcpy(r->model, f[0]);
	if (parse_int(f[1], &r->width) || parse_int(f[2], &r->height) ||
	    parse_int(f[3], &r->degree) || parse_int(f[4], &r->batch))
		return -1;
	errno = 0;
	r->step_s = strtod(f[5], &end);
	if (errno || end == f[5] || *end || !(r->step_s > 0) || !isfinite(r->step_s))
		return -1;
	return 0;
}

static int rows_read(FILE *f, struct csv_rows *rows)
{
	char *line = NULL;
	size_t len = 0;
	int lineno = 0, err = 0;

	while (getline(&line, &len, f) > 0) {
		struct csv_row r = { .line = ++lineno };

		if (lineno == 1) {
			if (strncmp(line, "model,width,height,degree,batch,step_s", 38)) {
				ts_err("cost", "%s:1: header must be model,width,height,degree,batch,step_s",
				       rows->path);
				err = TS_EFORMAT;
				break;
			}
			continue;
		}
		if (line[strspn(line, " \t\r\n")] == 0)
			continue;
		if (row_parse(line, &r)) {
			ts_err("cost", "%s:%d: malformed row (want model,width,height,degree,batch,step_s "
			       "with positive numbers)", rows->path, lineno);
			err = TS_EFORMAT;
			break;
		}
		if (rows->n == rows->cap) {
			int cap = rows->cap ? 2 * rows->cap : 64;
			struct csv_row *nr = realloc(rows->r, cap * sizeof(*nr));

			if (!nr) {
				err = TS_ENOMEM;
				break;
			}
			rows->r = nr;
			rows->cap = cap;
		}
		rows->r[rows->n++] = r;
	}
	free(line);
	return err;
}

struct csv_key {
	const struct csv_rows *rows;
	const struct csv_row *k;
};

static int row_same_shape(const struct csv_row *a, const struct csv_row *b)
{
	return a->width == b->width && a->height == b->height && !strcmp(a->model, b->model);
}

static double csv_lookup(void *arg, int degree, int batch)
{
	const struct csv_key *key = arg;

	for (int i = 0; i < key->rows->n; i++) {
		const struct csv_row *r = &key->rows->r[i];

		if (row_same_shape(r, key->k) && r->degree == degree && r->batch == batch)
			return r->step_s;
	}
	return -1.0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Degrees (ascending, distinct) and the largest batch of the shape of @k. */
static int shape_dims(const struct csv_rows *rows, const struct csv_row *k, int *deg,
		      int *max_batch)
{
	int n = 0;

	*max_batch = 0;
	for (int i = 0; i < rows->n; i++) {
		const struct csv_row *r = &rows->r[i];
		int seen = 0;

		if (!row_same_shape(r, k))
			continue;
		if (r->batch > *max_batch)
			*max_batch = r->batch;
		for (int j = 0; j < n; j++)
			seen |= deg[j] == r->degree;
		if (!seen && n < TS_MAX_DEGREES)
			deg[n++] = r->degree;
	}
	qsort(deg, n, sizeof(int), cmp_int);
	return n;
}

static int rows_to_book(struct ts_costbook *b, const struct csv_rows *rows, const char *model_as)
{
	for (int i = 0; i < rows->n; i++) {
		const struct csv_row *k = &rows->r[i];
		struct csv_key key = { rows, k };
		int deg[TS_MAX_DEGREES], max_batch, nd, err, first = 1;

		for (int j = 0; j < i && first; j++)
			first = !row_same_shape(&rows->r[j], k);
		if (!first)
			continue;
		nd = shape_dims(rows, k, deg, &max_batch);
		err = ts_costbook_add_fn(b, model_as ? model_as : k->model, k->width, k->height, 1,
					 deg, nd, max_batch, csv_lookup, &key);
		if (err) {
			ts_err("cost", "%s:%d: cannot add the table of %s %dx%d", rows->path, k->line,
			       k->model, k->width, k->height);
			return err;
		}
	}
	return 0;
}

int ts_costbook_load_csv(struct ts_costbook *b, const char *path, const char *model_as)
{
	struct csv_rows rows = { .path = path };
	FILE *f = fopen(path, "r");
	int err;

	if (!f) {
		ts_err("cost", "%s: %s", path, strerror(errno));
		return TS_ENOENT;
	}
	err = rows_read(f, &rows);
	fclose(f);
	if (!err && !rows.n) {
		ts_err("cost", "%s: no rows", path);
		err = TS_EFORMAT;
	}
	if (!err)
		err = rows_to_book(b, &rows, model_as);
	free(rows.r);
	return err;
}
