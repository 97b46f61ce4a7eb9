// SPDX-License-Identifier: MIT
/*
 * core/reqtable.c - the request table (see reqtable.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Arrays of @cap entries (the entries held fit); grows or shrinks. */
static int resize(struct ts_reqtable *t, int cap)
{
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

static int grow(struct ts_reqtable *t)
{
	return resize(t, t->cap * 2);
}

int ts_reqtable_add(struct ts_reqtable *t, const struct ts_req_spec *s, int *idx)
{
	int err;

	if (t->n && s->arrival_s < t->last_arrival_s) {
		ts_err("reqtable", "request %llu arrives at %.6f s, before the previous one",
		       (unsigned long long)s->id, s->arrival_s);
		return TS_EINVAL;
	}
	if (s->steps < 1 || !s->cost) {
		ts_err("reqtable", "request %llu: needs steps >= 1 and a cost table",
		       (unsigned long long)s->id);
		return TS_EINVAL;
	}
	if (t->n - t->base == t->cap && (err = grow(t)))
		return err;
	t->r[t->n - t->base] = (struct ts_req){
		.id = s->id, .state = TS_REQ_PENDING, .klass = s->klass, .cost = s->cost,
		.width = s->width, .height = s->height, .frames = s->frames,
		.steps_total = s->steps, .arrival_s = s->arrival_s, .deadline_s = s->deadline_s,
		.start_s = NAN, .finish_s = NAN, .run = -1,
	};
	if (idx)
		*idx = t->n;
	t->n++;
	t->last_arrival_s = s->arrival_s;
	return 0;
}

double ts_reqtable_next_arrival(const struct ts_reqtable *t)
{
	return t->next_arrival < t->n ? ts_reqtable_at(t, t->next_arrival)->arrival_s : INFINITY;
}

int ts_reqtable_admit(struct ts_reqtable *t, double now)
{
	int n = 0;

	while (t->next_arrival < t->n && ts_reqtable_at(t, t->next_arrival)->arrival_s <= now) {
		struct ts_req *r = ts_reqtable_at(t, t->next_arrival);

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
		if (!ts_req_finished(ts_reqtable_at(t, t->active[i])))
			t->active[j++] = t->active[i];
	t->n_active = j;
}

void ts_reqtable_finish(struct ts_reqtable *t, int idx, enum ts_req_state st, double now)
{
	struct ts_req *r = ts_reqtable_at(t, idx);

	if (ts_req_finished(r))
		return;
	r->state = st;
	if (st == TS_REQ_DONE) {
		r->finish_s = now;
		r->late = now > r->deadline_s;
	}
	t->n_finished++;
}

/* Forgotten entries let go at once: few enough to move, or a small table. */
#define LET_GO_MIN 64

/*
 * Let go of the forgotten requests at the front once they are at least half
 * of what is held (each entry moves O(1) times on average), and give memory
 * back when a quarter of the arrays would do.
 */
static void let_go(struct ts_reqtable *t)
{
	int held = t->n - t->base, keep = held - t->lead;

	if (t->lead < LET_GO_MIN || 2 * t->lead < held)
		return;
	/* Finished requests leave the active list first: no index there points below base. */
	ts_reqtable_compact(t);
	memmove(t->r, t->r + t->lead, keep * sizeof(*t->r));
	t->base += t->lead;
	t->lead = 0;
	/* Cancelled before they arrived: admit() would skip them anyway. */
	if (t->next_arrival < t->base)
		t->next_arrival = t->base;
	if (t->cap > LET_GO_MIN && keep < t->cap / 4)
		resize(t, t->cap / 2); /* on failure the bigger arrays stay, which is fine */
}

int ts_reqtable_forget(struct ts_reqtable *t, int idx)
{
	struct ts_req *r = ts_reqtable_get(t, idx);

	if (!r)
		return TS_ENOENT;
	if (!ts_req_finished(r) || r->run >= 0)
		return TS_EBUSY;
	r->forgotten = 1;
	while (t->lead < t->n - t->base && t->r[t->lead].forgotten)
		t->lead++;
	let_go(t);
	return 0;
}
