/* SPDX-License-Identifier: MIT */
/*
 * core/costtable.h - step-time tables (struct ts_cost) keyed by model and shape.
 *
 * A cost book holds one table per step type (model x width x height x frames).
 * Tables come from profile CSVs (header model,width,height,degree,batch,step_s),
 * so a model can be defined by a profile alone, or from a cost function (a
 * model module's ops->cost) sampled over degrees and batches: both end up as
 * the same struct ts_cost that policies read. The index of a table in its
 * book is its klass (requests of equal klass are batchable together).
 */
#ifndef TS_CORE_COSTTABLE_H
#define TS_CORE_COSTTABLE_H

#include <tetri/policy.h>

struct ts_costbook;

/* Seconds per step for @batch requests at @degree, or < 0 when not allowed. */
typedef double (*ts_cost_fn)(void *arg, int degree, int batch);

int ts_costbook_new(struct ts_costbook **out);
void ts_costbook_free(struct ts_costbook *b);

/*
 * Add every table of the profile CSV @path. @model_as renames the CSV's model
 * column (NULL keeps it). Malformed lines are refused with file:line; a shape
 * already in the book is TS_EEXIST.
 */
int ts_costbook_load_csv(struct ts_costbook *b, const char *path, const char *model_as);

/*
 * Add the table of one step type by sampling @fn at @degrees (ascending,
 * @n_degrees of them) and batches 1..@max_batch. Degrees where @fn answers
 * < 0 for batch 1 are left out.
 */
int ts_costbook_add_fn(struct ts_costbook *b, const char *model, int width, int height,
		       int frames, const int *degrees, int n_degrees, int max_batch,
		       ts_cost_fn fn, void *arg);

/* The table of a step type, or NULL. frames 0 and 1 are the same (images). */
const struct ts_cost *ts_costbook_find(const struct ts_costbook *b, const char *model,
				       int width, int height, int frames);
int ts_costbook_count(const struct ts_costbook *b);
const struct ts_cost *ts_costbook_at(const struct ts_costbook *b, int i);
/* klass of a table of this book (its index), or -1. */
int ts_costbook_klass(const struct ts_costbook *b, const struct ts_cost *c);
/* 1 when some table of the book serves @model. */
int ts_costbook_has_model(const struct ts_costbook *b, const char *model);

/* Index of @degree in @c->degree, or -1 when the table does not allow it. */
int ts_cost_degree_index(const struct ts_cost *c, int degree);
/* Seconds per step at @degree and @batch, or a negative value when not profiled. */
double ts_cost_seconds(const struct ts_cost *c, int degree, int batch);

#endif /* TS_CORE_COSTTABLE_H */
