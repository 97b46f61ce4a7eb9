// SPDX-License-Identifier: MIT
/*
 * core/groupcache.c - communicators per device set (see groupcache.h).
 *
 * A chained hash table keyed by the bitset, plus an intrusive LRU list
 * (head = most recent). The table doubles when it gets as many entries as
 * buckets, so chains stay short.
 */
#include <stdlib.h>
#include <time.h>

#include <tetri/backend.h>
#include <tetri/error.h>

#include "groupcache.h"
#include "log.h"
#include "pool.h"

struct gc_entry {
	struct ts_group g;
	uint64_t hash;
	struct gc_entry *chain;
	struct gc_entry *prev, *next; /* LRU */
};

struct ts_groupcache {
	struct ts_pool *pool;
	size_t budget;
	struct gc_entry **bucket;
	size_t n_buckets; /* power of two */
	struct gc_entry *head, *tail;
	struct ts_groupcache_stats st;
};

static uint64_t set_hash(const struct ts_devset *s)
{
	uint64_t h = 0x243f6a8885a308d3ull;

	for (int i = 0; i < TS_DEVSET_WORDS; i++) {
		h ^= s->w[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdull;
	}
	return h ^ (h >> 33);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ts_groupcache_new(struct ts_pool *pool, size_t budget_bytes, struct ts_groupcache **out)
{
	struct ts_groupcache *gc = calloc(1, sizeof(*gc));

	if (!gc)
		return TS_ENOMEM;
	gc->n_buckets = 64;
	gc->bucket = calloc(gc->n_buckets, sizeof(*gc->bucket));
	if (!gc->bucket) {
		free(gc);
		return TS_ENOMEM;
	}
	gc->pool = pool;
	gc->budget = budget_bytes;
	*out = gc;
	return 0;
}

static void lru_unlink(struct ts_groupcache *gc, struct gc_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		gc->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		gc->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct ts_groupcache *gc, struct gc_entry *e)
{
	e->prev = NULL;
	e->next = gc->head;
	if (gc->head)
		gc->head->prev = e;
	gc->head = e;
	if (!gc->tail)
		gc->tail = e;
}

static void entry_destroy(struct ts_groupcache *gc, struct gc_entry *e)
{
	gc->pool->be_ops->comm_destroy(e->g.comm);
	gc->st.bytes -= e->g.bytes;
	gc->st.groups--;
	free(e);
}

void ts_groupcache_free(struct ts_groupcache *gc)
{
	struct gc_entry *e, *next;

	if (!gc)
		return;
	for (e = gc->head; e; e = next) {
		next = e->next;
		if (e->g.refs)
			ts_warn("groupcache", "destroying a group still in use (%d refs)", e->g.refs);
		entry_destroy(gc, e);
	}
	free(gc->bucket);
	free(gc);
}

static struct gc_entry *lookup(struct ts_groupcache *gc, const struct ts_devset *set, uint64_t h)
{
	for (struct gc_entry *e = gc->bucket[h & (gc->n_buckets - 1)]; e; e = e->chain)
		if (e->hash == h && ts_devset_equal(&e->g.set, set))
			return e;
	return NULL;
}

static void bucket_remove(struct ts_groupcache *gc, struct gc_entry *e)
{
	struct gc_entry **pp = &gc->bucket[e->hash & (gc->n_buckets - 1)];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
}

/* Double the table; on allocation failure keep the old one (just longer chains). */
static void rehash(struct ts_groupcache *gc)
{
	size_t nb = gc->n_buckets * 2;
	struct gc_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return;
	for (struct gc_entry *e = gc->head; e; e = e->next) {
		e->chain = b[e->hash & (nb - 1)];
		b[e->hash & (nb - 1)] = e;
	}
	free(gc->bucket);
	gc->bucket = b;
	gc->n_buckets = nb;
}

/* Evict idle groups from the cold end until @incoming more bytes fit the budget. */
static void evict_for(struct ts_groupcache *gc, size_t incoming)
{
	struct gc_entry *e = gc->tail, *prev;

	if (!gc->budget)
		return;
	for (; e && gc->st.bytes + incoming > gc->budget; e = prev) {
		prev = e->prev;
		if (e->g.refs)
			continue;
		bucket_remove(gc, e);
		lru_unlink(gc, e);
		entry_destroy(gc, e);
		gc->st.evictions++;
	}
}

static int comm_of_set(struct ts_groupcache *gc, const struct ts_devset *set, struct ts_comm **comm,
		       size_t *bytes)
{
	struct ts_pool *p = gc->pool;
	struct ts_dev *devs[TS_MAX_DEVICES];
	int n = 0, err;
	double t0 = mono_s();

	for (int d = ts_devset_next(set, 0); d >= 0; d = ts_devset_next(set, d + 1)) {
		if (d >= p->n) {
			ts_err("groupcache", "device %d is not in the pool (%d devices)", d, p->n);
			return TS_ENODEV;
		}
		devs[n++] = p->dev[d].dev;
	}
	if (!n)
		return TS_EINVAL;
	err = p->be_ops->comm_create(p->be, devs, n, comm, bytes);
	gc->st.create_s += mono_s() - t0;
	if (err)
		ts_err("groupcache", "%s comm_create over %d devices: %s", p->be_ops->name, n,
		       ts_strerror(err));
	return err;
}

static int insert(struct ts_groupcache *gc, const struct ts_devset *set, uint64_t h,
		  struct gc_entry **out)
{
	struct gc_entry *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return TS_ENOMEM;
	err = comm_of_set(gc, set, &e->g.comm, &e->g.bytes);
	if (err) {
		free(e);
		return err;
	}
	evict_for(gc, e->g.bytes);
	e->g.set = *set;
	e->hash = h;
	if ((size_t)gc->st.groups + 1 > gc->n_buckets)
		rehash(gc);
	e->chain = gc->bucket[h & (gc->n_buckets - 1)];
	gc->bucket[h & (gc->n_buckets - 1)] = e;
	lru_push_head(gc, e);
	gc->st.bytes += e->g.bytes;
	gc->st.groups++;
	*out = e;
	return 0;
}

int ts_groupcache_acquire(struct ts_groupcache *gc, const struct ts_devset *set,
			  struct ts_group **out)
{
	uint64_t h = set_hash(set);
	struct gc_entry *e = lookup(gc, set, h);
	int err;

	if (e) {
		gc->st.hits++;
		lru_unlink(gc, e);
		lru_push_head(gc, e);
	} else {
		gc->st.misses++;
		err = insert(gc, set, h, &e);
		if (err)
			return err;
	}
	e->g.refs++;
	*out = &e->g;
	return 0;
}

void ts_groupcache_release(struct ts_groupcache *gc, struct ts_group *g)
{
	if (g->refs > 0)
		g->refs--;
	/* A group that kept the cache over budget while in use goes now if it must. */
	evict_for(gc, 0);
}

int ts_groupcache_prewarm(struct ts_groupcache *gc, const struct ts_devset *set)
{
	uint64_t h = set_hash(set);
	struct gc_entry *e;

	if (lookup(gc, set, h))
		return 0;
	return insert(gc, set, h, &e);
}

void ts_groupcache_stats(const struct ts_groupcache *gc, struct ts_groupcache_stats *st)
{
	*st = gc->st;
}
