/* SPDX-License-Identifier: MIT */
/*
 * core/bound.c - the SLO-attainment upper bound (see bound.h for the
 * relaxation). For each interval start t1 (an arrival) we sweep the
 * deadlines after it in order, adding each contained request's least work
 * to a Fenwick tree indexed by the global rank of that work; the most
 * requests of the interval that fit its capacity are then the longest prefix
 * of ranks whose works sum to at most N x (t2 - t1).
 */
#include <math.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "bound.h"
#include "costtable.h"
#include "log.h"
#include "trace.h"

#define BOUND_EPS 1e-9
/* Deadlines swept per interval start on big traces (looser bound, O(n K log n)). */
#define BOUND_BIG_N 4000
#define BOUND_WINDOW 256

struct bopt {
	double t;    /* seconds per step */
	double cost; /* device-seconds per step per request */
};

static int bound_options(const struct ts_cost *c, int n_devices, struct bopt *o, int max)
{
	int n = 0;

	for (int i = 0; i < c->n_degrees && c->degree[i] <= n_devices; i++)
		for (int b = 1; b <= c->max_batch && n < max; b++) {
			double t = ts_cost_step(c, i, b);

			if (!(t > 0.0) || !isfinite(t))
				continue;
			o[n++] = (struct bopt){ .t = t, .cost = c->degree[i] * t / b };
		}
	return n;
}

double ts_bound_min_work(const struct ts_cost *c, int steps, double window, int n_devices)
{
	struct bopt o[64];
	int n = bound_options(c, n_devices, o, 64);
	double best = INFINITY;

	if (steps <= 0)
		return 0.0;
	for (int i = 0; i < n; i++) {
		if (steps * o[i].t <= window + BOUND_EPS && steps * o[i].cost < best)
			best = steps * o[i].cost;
		for (int j = 0; j < n; j++) {
			double x;

			/* i slower than the window allows, j fast enough: mix them. */
			if (o[i].t <= o[j].t || steps * o[i].t <= window || steps * o[j].t > window)
				continue;
			x = (steps * o[i].t - window) / (o[i].t - o[j].t);
			if (x < 0.0 || x > steps)
				continue;
			if ((steps - x) * o[i].cost + x * o[j].cost < best)
				best = (steps - x) * o[i].cost + x * o[j].cost;
		}
	}
	return best;
}

struct bitem {
	double a, d, w;
	int rank;
};

static int by_work(const void *pa, const void *pb)
{
	const struct bitem *a = *(const struct bitem *const *)pa;
	const struct bitem *b = *(const struct bitem *const *)pb;

	return a->w < b->w ? -1 : a->w > b->w;
}

static int by_deadline(const void *pa, const void *pb)
{
	const struct bitem *a = pa, *b = pb;

	return a->d < b->d ? -1 : a->d > b->d;
}

struct fenwick {
	int n, top;
	double *sum;
	int *cnt;
};

static void fw_add(struct fenwick *f, int i, double w, int c)
{
	for (i++; i <= f->n; i += i & -i) {
		f->sum[i] += w;
		f->cnt[i] += c;
	}
}

/* Most items (smallest works first) whose works sum to at most @cap. */
static int fw_fit(const struct fenwick *f, double cap)
{
	int pos = 0, got = 0;

	for (int step = f->top; step; step >>= 1) {
		if (pos + step <= f->n && f->sum[pos + step] <= cap + BOUND_EPS) {
			pos += step;
			cap -= f->sum[pos];
			got += f->cnt[pos];
		}
	}
	return got;
}

/* First index of @it (sorted by deadline) whose deadline is after @t. */
static int first_after(const struct bitem *it, int n, double t)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (it[mid].d <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First index of the ascending @u (length @nu) whose value is >= @t. */
static int first_at_or_after(const double *u, int nu, double t)
{
	int lo = 0, hi = nu;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (u[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The most met requests that intervals starting at @t1 rule out, together
 * with the best disjoint intervals after them: max over deadlines t2 of
 * (inside - fit)([t1, t2]) + @f[first distinct arrival >= t2].
 */
static int sweep_from(const struct bitem *it, int n, int n_devices, struct fenwick *fw,
		      double t1, const double *u, int nu, const int *f)
{
	int j0 = first_after(it, n, t1), inside = 0, limit = n > BOUND_BIG_N ? BOUND_WINDOW : n;
	int j, best = 0;

	for (j = j0; j < n && inside < limit; j++) {
		int lost;

		if (it[j].a < t1)
			continue;
		fw_add(fw, it[j].rank, it[j].w, 1);
		inside++;
		if (j + 1 < n && it[j + 1].d == it[j].d)
			continue; /* evaluate once per distinct deadline */
		lost = inside - fw_fit(fw, n_devices * (it[j].d - t1));
		lost += f[first_at_or_after(u, nu, it[j].d)];
		if (lost > best)
			best = lost;
	}
	for (int k = j0; k < j; k++)
		if (it[k].a >= t1)
			fw_add(fw, it[k].rank, -it[k].w, -1);
	return best;
}

static int by_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return a < b ? -1 : a > b;
}

/*
 * Disjoint intervals rule out independently: f[k] = most requests ruled out
 * by disjoint intervals starting at the k-th distinct arrival or later,
 * filled from the last arrival back. The bound is n - f[0].
 */
static int sweep(const struct bitem *it, int n, int n_devices, struct fenwick *fw, double *u,
		 int *f)
{
	int nu = 0;

	for (int i = 0; i < n; i++)
		u[i] = it[i].a;
	qsort(u, (size_t)n, sizeof(*u), by_double);
	for (int i = 0; i < n; i++)
		if (!nu || u[i] != u[nu - 1])
			u[nu++] = u[i];
	f[nu] = 0;
	for (int k = nu - 1; k >= 0; k--) {
		int here = sweep_from(it, n, n_devices, fw, u[k], u, nu, f);

		f[k] = here > f[k + 1] ? here : f[k + 1];
	}
	return n - f[0];
}

static int bound_alloc(int n, struct bitem **it, struct bitem ***byw, struct fenwick *fw,
		       double **t1, int **f)
{
	*it = calloc((size_t)n, sizeof(**it));
	*t1 = calloc((size_t)n, sizeof(**t1));
	*f = calloc((size_t)n + 1, sizeof(**f));
	*byw = calloc((size_t)n, sizeof(**byw));
	fw->sum = calloc((size_t)n + 1, sizeof(*fw->sum));
	fw->cnt = calloc((size_t)n + 1, sizeof(*fw->cnt));
	if (!*it || !*t1 || !*f || !*byw || !fw->sum || !fw->cnt) {
		ts_err("bound", "out of memory for %d requests", n);
		return TS_ENOMEM;
	}
	return 0;
}

int ts_bound_met(const struct ts_bound_req *r, int n, int n_devices, int *met_ub)
{
	struct bitem *it = NULL, **byw = NULL;
	struct fenwick fw = { 0 };
	double *t1 = NULL;
	int *f = NULL, m = 0, ret;

	*met_ub = 0;
	if (n <= 0)
		return 0;
	ret = bound_alloc(n, &it, &byw, &fw, &t1, &f);
	if (ret)
		goto out_free;
	for (int i = 0; i < n; i++) {
		double window = r[i].deadline_s - r[i].arrival_s, w = INFINITY;

		if (r[i].cost)
			w = ts_bound_min_work(r[i].cost, r[i].steps, window, n_devices);

		if (!isfinite(w))
			continue; /* cannot make it even alone on the whole pool */
		it[m++] = (struct bitem){ .a = r[i].arrival_s, .d = r[i].deadline_s, .w = w };
	}
	for (int i = 0; i < m; i++)
		byw[i] = &it[i];
	qsort(byw, (size_t)m, sizeof(*byw), by_work);
	for (int i = 0; i < m; i++)
		byw[i]->rank = i;
	qsort(it, (size_t)m, sizeof(*it), by_deadline);
	fw.n = m;
	for (fw.top = 1; fw.top * 2 <= m; fw.top *= 2)
		;
	*met_ub = m ? sweep(it, m, n_devices, &fw, t1, f) : 0;
out_free:
	free(fw.sum);
	free(fw.cnt);
	free(byw);
	free(f);
	free(t1);
	free(it);
	return ret;
}

int ts_bound_trace(const struct ts_costbook *b, const struct ts_trace *t, double slo_scale,
		   int n_devices, double *sar)
{
	struct ts_bound_req *r;
	int met, ret;

	if (t->n <= 0)
		return TS_EINVAL;
	r = calloc((size_t)t->n, sizeof(*r));
	if (!r) {
		ts_err("bound", "out of memory for %d requests", t->n);
		return TS_ENOMEM;
	}
	for (int i = 0; i < t->n; i++) {
		const struct ts_trace_req *q = &t->req[i];

		r[i] = (struct ts_bound_req){
			.arrival_s = q->arrival_s,
			.deadline_s = q->arrival_s + q->slo_s * slo_scale,
			.steps = q->steps,
			.cost = ts_costbook_find(b, q->model, q->width, q->height, q->frames),
		};
	}
	ret = ts_bound_met(r, t->n, n_devices, &met);
	if (!ret)
		*sar = (double)met / t->n;
	free(r);
	return ret;
}
