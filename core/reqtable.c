// SPDX-License-Identifier: MIT
/*
 * core/reqtable.c - the request table (see reqtable.h).
 */
#include <math.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "log.h"
#include "reqtable.h"

const char *ts_req_state_name(enum ts_req_state s)
{
	static const char *const names[] = {
		"pending", "queued", "running", "decoding", "done", "failed", "cancelled",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

int ts_reqtable_init(struct ts_reqtable *t, int cap_hint)
{
	*t = (struct ts_reqtable){ 0 };
	t->cap = cap_hint > 16 ? cap_hint : 16;
	t->r = malloc(t->cap * sizeof(*t->r));
	t->active = malloc(t->cap * sizeof(*t->active));
	if (!t->r || !t->active) {
		ts_reqtable_release(t);
		return TS_ENOMEM;
	}
	return 0;
}

void ts_reqtable_release(struct ts_reqtable *t)
{
	free(t->r);
	free(t->active);
	*t = (struct ts_reqtable){ 0 };
}

static int grow(struct ts_reqtable *t)
{
	int cap = t->cap * 2;
	struct ts_req *r = realloc(t->r, cap * sizeof(*r));
	int *a;

	if (!r)
		return TS_ENOMEM;
	t->r = r;
	a = realloc(t->active, cap * sizeof(*a));
	if (!a)
		return TS_ENOMEM;
	t->active = a;
	t->cap = cap;
	return 0;
}

int ts_reqtable_add(struct ts_reqtable *t, const struct ts_req_spec *s, int *idx)
{
	int err;

	if (t->n && s->arrival_s < t->r[t->n - 1].arrival_s) {
		ts_err("reqtable", "request %llu arrives at %.6f s, before the previous one",
		       (unsigned long long)s->id, s->arrival_s);
		return TS_EINVAL;
	}
	if (s->steps < 1 || !s->cost) {
		ts_err("reqtable", "request %llu: needs steps >= 1 and a cost table",
		       (unsigned long long)s->id);
		return TS_EINVAL;
	}
	if (t->n == t->cap && (err = grow(t)))
		return err;
	t->r[t->n] = (struct ts_req){
		.id = s->id, .state = TS_REQ_PENDING, .klass = s->klass, .cost = s->cost,
		.width = s->width, .height = s->height, .frames = s->frames,
		.steps_total = s->steps, .arrival_s = s->arrival_s, .deadline_s = s->deadline_s,
		.start_s = NAN, .finish_s = NAN, .run = -1,
	};
	if (idx)
		*idx = t->n;
	t->n++;
	return 0;
}

double ts_reqtable_next_arrival(const struct ts_reqtable *t)
{
	return t->next_arrival < t->n ? t->r[t->next_arrival].arrival_s : INFINITY;
}

int ts_reqtable_admit(struct ts_reqtable *t, double now)
{
	int n = 0;

	while (t->next_arrival < t->n && t->r[t->next_arrival].arrival_s <= now) {
		struct ts_req *r = &t->r[t->next_arrival];

		/* Cancelled before it arrived: it never enters the active list. */
		if (r->state == TS_REQ_PENDING) {
			r->state = TS_REQ_QUEUED;
			t->active[t->n_active++] = t->next_arrival;
			n++;
		}
		t->next_arrival++;
	}
	return n;
}

void ts_reqtable_compact(struct ts_reqtable *t)
{
	int j = 0;

	for (int i = 0; i < t->n_active; i++)
		if (!ts_req_finished(&t->r[t->active[i]]))
			t->active[j++] = t->active[i];
	t->n_active = j;
}

void ts_reqtable_finish(struct ts_reqtable *t, int idx, enum ts_req_state st, double now)
{
	struct ts_req *r = &t->r[idx];

	if (ts_req_finished(r))
		return;
	r->state = st;
	if (st == TS_REQ_DONE) {
		r->finish_s = now;
		r->late = now > r->deadline_s;
	}
	t->n_finished++;
}
