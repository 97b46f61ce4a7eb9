/* SPDX-License-Identifier: MIT */
/*
 * core/groupcache.h - one communicator per device set, created on first use
 * through the pool's backend (comm_create), kept for reuse, evicted least
 * recently used when the communicators' memory passes a byte budget.
 *
 * Lookups hash the set's bitset, so they stay O(1) whatever the pool size.
 * A group in use (acquired, not yet released) is never evicted; when every
 * cached group is in use the budget is exceeded rather than failing a round.
 */
#ifndef TS_CORE_GROUPCACHE_H
#define TS_CORE_GROUPCACHE_H

#include <stddef.h>

#include <tetri/devset.h>

struct ts_pool;
struct ts_comm;
struct ts_groupcache;

/** struct ts_group - a cached communicator; read-only to users. */
struct ts_group {
	struct ts_devset set;
	struct ts_comm *comm;
	size_t bytes;
	int refs;
};

struct ts_groupcache_stats {
	long hits, misses, evictions;
	double create_s;   /* wall time spent in comm_create */
	size_t bytes;      /* memory of the cached communicators */
	int groups;        /* cached communicators */
};

/* @budget_bytes 0 = unlimited. */
int ts_groupcache_new(struct ts_pool *pool, size_t budget_bytes, struct ts_groupcache **out);
/* Destroys every communicator; no group may be in use. */
void ts_groupcache_free(struct ts_groupcache *gc);

/* The group of @set (created on a miss), held until ts_groupcache_release(). */
int ts_groupcache_acquire(struct ts_groupcache *gc, const struct ts_devset *set,
			  struct ts_group **out);
void ts_groupcache_release(struct ts_groupcache *gc, struct ts_group *g);
/* Create the group of @set now (not counted as a miss), so first use is a hit. */
int ts_groupcache_prewarm(struct ts_groupcache *gc, const struct ts_devset *set);

void ts_groupcache_stats(const struct ts_groupcache *gc, struct ts_groupcache_stats *st);

#endif /* TS_CORE_GROUPCACHE_H */
