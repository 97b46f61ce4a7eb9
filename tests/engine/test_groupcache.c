// SPDX-License-Identifier: MIT
/*
 * tests/engine/test_groupcache.c - the group cache (hits, misses, LRU
 * eviction under a byte budget, groups in use kept, prewarm, O(1) lookups
 * at 512 devices) and the pool's placement (islands, best fit), and the
 * pool's devices opened below normal priority (ts_pool_open_niced).
 */
#include <dirent.h>
#include <stdio.h>
#include <time.h>

#include "backend.h"
#include "fake.h"
#include "registry.h"

static struct ts_devset set_of(const char *spec)
{
	struct ts_devset s;

	ts_devset_zero(&s);
	for (const char *p = spec; *p; p++) {
		char *end;
		long d = strtol(p, &end, 10);

		ts_devset_add(&s, (int)d);
		p = end;
		if (!*p)
			break;
	}
	return s;
}

static void test_hits_and_lru(void)
{
	struct ts_pool *pool;
	struct ts_groupcache *gc;
	struct ts_groupcache_stats st;
	struct ts_group *a, *b, *c, *g;
	struct ts_devset sa = set_of("0 1"), sb = set_of("2 3"), sc = set_of("4 5"),
			 sd = set_of("6 7");

	ts_pool_new(ts_backend_sim(), NULL, 8, NULL, &pool);
	/* Room for three 2-device groups. */
	ok(!ts_groupcache_new(pool, 3 * 2 * TS_SIM_COMM_BYTES_PER_RANK, &gc), "cache");
	ts_groupcache_acquire(gc, &sa, &a);
	ts_groupcache_acquire(gc, &sb, &b);
	ts_groupcache_acquire(gc, &sc, &c);
	ok(ts_sim_comm_size(a->comm) == 2 && ts_sim_comm_member(a->comm, 1) == 1 &&
	   ts_sim_comm_member(c->comm, 0) == 4, "communicators over the right devices");
	ts_groupcache_release(gc, a);
	ts_groupcache_release(gc, b);
	ts_groupcache_release(gc, c);
	ts_groupcache_acquire(gc, &sa, &g);
	ok(g == a, "same set, same group");
	ts_groupcache_release(gc, g);
	ts_groupcache_stats(gc, &st);
	ok(st.hits == 1 && st.misses == 3 && st.evictions == 0, "1 hit, 3 misses (%ld, %ld)",
	   st.hits, st.misses);
	/* D needs room: B is the least recently used (A was just touched). */
	ts_groupcache_acquire(gc, &sd, &g);
	ts_groupcache_release(gc, g);
	ts_groupcache_stats(gc, &st);
	ok(st.evictions == 1 && st.groups == 3, "one eviction, three groups");
	ts_groupcache_acquire(gc, &sa, &g);
	ts_groupcache_release(gc, g);
	ts_groupcache_acquire(gc, &sc, &g);
	ts_groupcache_release(gc, g);
	ts_groupcache_stats(gc, &st);
	ok(st.hits == 3 && st.misses == 4, "A and C still cached (hits %ld)", st.hits);
	ts_groupcache_acquire(gc, &sb, &g);
	ts_groupcache_release(gc, g);
	ts_groupcache_stats(gc, &st);
	ok(st.misses == 5 && st.evictions == 2, "B was the one evicted: a miss again");
	ok(st.bytes <= 3 * 2 * TS_SIM_COMM_BYTES_PER_RANK, "within budget (%zu)", st.bytes);
	ok(st.create_s >= 0, "creation time counted");
	ts_groupcache_free(gc);
	ts_pool_free(pool);
}

static void test_in_use_kept(void)
{
	struct ts_pool *pool;
	struct ts_groupcache *gc;
	struct ts_groupcache_stats st;
	struct ts_group *g[4];
	struct ts_devset s[4] = { set_of("0"), set_of("1"), set_of("2"), set_of("3") };

	ts_pool_new(ts_backend_sim(), NULL, 4, NULL, &pool);
	ts_groupcache_new(pool, 2 * TS_SIM_COMM_BYTES_PER_RANK, &gc);
	for (int i = 0; i < 4; i++)
		ts_groupcache_acquire(gc, &s[i], &g[i]);
	ts_groupcache_stats(gc, &st);
	ok(st.groups == 4 && st.evictions == 0, "groups in use are never evicted");
	for (int i = 0; i < 4; i++)
		ts_groupcache_release(gc, g[i]);
	ts_groupcache_stats(gc, &st);
	ok(st.groups == 2 && st.evictions == 2, "released: back under budget (%d groups)",
	   st.groups);
	ts_groupcache_free(gc);
	ts_pool_free(pool);
}

static void test_prewarm(void)
{
	struct ts_pool *pool;
	struct ts_groupcache *gc;
	struct ts_groupcache_stats st;
	struct ts_group *g;
	struct ts_devset s = set_of("0 2 3 4");

	ts_pool_new(ts_backend_sim(), NULL, 8, NULL, &pool);
	ts_groupcache_new(pool, 0, &gc);
	ok(!ts_groupcache_prewarm(gc, &s), "prewarm 0,2,3,4");
	ts_groupcache_acquire(gc, &s, &g);
	ts_groupcache_release(gc, g);
	ts_groupcache_stats(gc, &st);
	ok(st.hits == 1 && st.misses == 0, "first use of a prewarmed set is a hit");
	s = set_of("9");
	ok(ts_groupcache_acquire(gc, &s, &g) == TS_ENODEV, "a device outside the pool is refused");
	ts_groupcache_free(gc);
	ts_pool_free(pool);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* 20,000 distinct sets over 512 devices, then 200,000 lookups: a linear scan would take minutes. */
static void test_scale(void)
{
	enum { N_SETS = 20000, N_LOOKUPS = 200000 };
	struct ts_pool *pool;
	struct ts_groupcache *gc;
	struct ts_groupcache_stats st;
	struct ts_devset *sets = malloc(N_SETS * sizeof(*sets));
	uint64_t x = 88172645463325252ull;
	double t0, dt;
	int bad = 0;

	ts_pool_new(ts_backend_sim(), NULL, 512, NULL, &pool);
	ts_groupcache_new(pool, 0, &gc);
	for (int i = 0; i < N_SETS; i++) {
		ts_devset_zero(&sets[i]);
		ts_devset_add(&sets[i], i % 512);
		ts_devset_add(&sets[i], (i / 512 + 1 + i % 512) % 512);
		ts_devset_add(&sets[i], 511 - (i % 7));
		ts_groupcache_prewarm(gc, &sets[i]);
	}
	ts_groupcache_stats(gc, &st);
	t0 = now_s();
	for (int i = 0; i < N_LOOKUPS; i++) {
		struct ts_group *g;
		int k;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		k = (int)(x % N_SETS);
		if (ts_groupcache_acquire(gc, &sets[k], &g) || !ts_devset_equal(&g->set, &sets[k]))
			bad++;
		else
			ts_groupcache_release(gc, g);
	}
	dt = now_s() - t0;
	ts_groupcache_stats(gc, &st);
	ok(!bad && st.misses == 0, "every lookup finds its own set among %d", st.groups);
	ok(dt < 5.0, "%d lookups among %d groups in %.3f s", N_LOOKUPS, st.groups, dt);
	ts_groupcache_free(gc);
	ts_pool_free(pool);
	free(sets);
}

static void test_pool_islands(void)
{
	struct ts_pool *pool;
	struct ts_devset s, t;
	int island[4];

	ok(!ts_topology_parse("0-1 2-3", 4, island, "test"), "topology 0-1 2-3");
	ok(island[0] == 0 && island[1] == 0 && island[2] == 1 && island[3] == 1, "island ids");
	ok(ts_topology_parse("0-1 1-3", 4, island, "test") == TS_EINVAL, "overlap refused");
	ok(ts_topology_parse("0-1", 4, island, "test") == TS_EINVAL, "uncovered device refused");
	ts_topology_parse("0-1 2-3", 4, island, "test");
	ts_pool_new(ts_backend_sim(), NULL, 4, island, &pool);
	ok(ts_pool_topology(pool) && ts_pool_topology(pool)->island[3] == 1, "pool topology");
	s = set_of("0");
	ts_pool_take(pool, &s);
	ts_pool_pick(pool, 2, &t);
	ok(ts_devset_equal(&t, &(struct ts_devset){ .w = { 0xc } }), "pair inside island 2-3");
	ts_pool_pick(pool, 1, &t);
	ok(ts_devset_has(&t, 1) && ts_devset_count(&t) == 1,
	   "single device from the broken island (best fit)");
	ts_pool_give(pool, &s);
	ts_pool_pick(pool, 3, &t);
	ok(ts_devset_count(&t) == 3, "three devices span two islands");
	ok(ts_pool_take(pool, &t) == 0 && ts_pool_take(pool, &t) == TS_EBUSY, "taken twice: busy");
	ok(pool->n_free == 1 && ts_pool_pick(pool, 2, &t) == TS_EBUSY, "one left: no pair");
	ts_pool_set_healthy(pool, 3, 0);
	ok(pool->n_healthy == 3, "an unhealthy device leaves the pool");
	ts_pool_free(pool);
}

/* Each rank adds rank + 1 through the cached group's communicator. */
struct reduce_arg {
	struct ts_comm *comm;
	const struct ts_backend_ops *be;
	float got[TS_MAX_DEVICES];
};

static int reduce_rank(struct ts_dev *dev, int rank, void *p)
{
	struct reduce_arg *a = p;
	float v = (float)(rank + 1);
	void *buf = a->be->alloc(dev, 1);
	int err;

	if (!buf)
		return TS_ENOMEM;
	err = a->be->upload(dev, buf, &v, TS_F32, 1);
	if (!err)
		err = a->be->coll->all_reduce_sum(a->comm, buf, 1);
	if (!err)
		err = a->be->download(dev, &a->got[rank], buf, 1);
	a->be->free(dev, buf);
	return err;
}

/* The cache over the CPU backend: the communicator it hands out really reduces. */
static void test_cpu_backend(void)
{
	struct ts_pool *pool;
	struct ts_groupcache *gc;
	struct ts_group *g;
	struct ts_devset s = set_of("1 3");
	struct ts_dev *devs[2];
	struct reduce_arg arg = { 0 };

	if (!ok(!ts_pool_open("cpu", ts_host_api(), 4, 1, NULL, &pool), "pool of 4 CPU devices"))
		return;
	ts_groupcache_new(pool, 0, &gc);
	ok(!ts_groupcache_acquire(gc, &s, &g), "group {1,3} over the CPU backend");
	arg.comm = g->comm;
	arg.be = pool->be_ops;
	ok(pool->be_ops->coll->size(g->comm) == 2 && g->bytes > 0, "two ranks, memory counted");
	devs[0] = pool->dev[1].dev;
	devs[1] = pool->dev[3].dev;
	ok(!ts_backend_run_spmd(devs, 2, reduce_rank, &arg), "all-reduce on the group");
	ok(arg.got[0] == 3.0f && arg.got[1] == 3.0f, "1 + 2 = 3 on both ranks (%g, %g)",
	   arg.got[0], arg.got[1]);
	ts_groupcache_release(gc, g);
	ts_groupcache_free(gc);
	ts_pool_free(pool);
}

/* Threads of this process whose nice is @nice (field 19 of /proc/self/task/TID/stat). */
static int threads_at_nice(int nice)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], buf[512], *p;
		int field = 2, v;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		/* after the name: state is field 3, nice field 19 */
		for (; p && field < 19; field++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p, "%d", &v) == 1 && v == nice)
			n++;
	}
	closedir(d);
	return n;
}

/* Compute threads below the caller: every thread the CPU backend starts runs at the nice. */
static void test_pool_niced(void)
{
	struct ts_pool *pool;
	int before = threads_at_nice(7), self = threads_at_nice(0);

	if (!ok(!ts_pool_open_niced("cpu", ts_host_api(), 2, 2, NULL, 7, &pool),
		"2 CPU devices of 2 threads at nice 7"))
		return;
	/* each device: its worker and one team helper */
	ok(before == 0 && threads_at_nice(7) == 4, "4 threads at nice 7 (%d before, %d now)",
	   before, threads_at_nice(7));
	ok(threads_at_nice(0) == self, "the caller's threads keep their nice (%d at 0)",
	   threads_at_nice(0));
	ts_pool_free(pool);
	ok(threads_at_nice(7) == 0, "none left when the pool is freed");
	ok(!ts_pool_open_niced("cpu", ts_host_api(), 1, 1, NULL, 0, &pool) &&
	   threads_at_nice(0) == self + 1, "nice 0: opened as the caller, at its nice");
	ts_pool_free(pool);
}

static void test_open_sim_by_name(void)
{
	struct ts_pool *pool;

	ok(!ts_pool_open("sim", NULL, 16, 0, NULL, &pool), "the sim backend opens by name");
	ok(pool->n == 16 && !strcmp(pool->dev[5].info.kind, "sim"), "16 sim devices");
	ts_pool_free(pool);
}

int main(void)
{
	test_hits_and_lru();
	test_in_use_kept();
	test_prewarm();
	test_scale();
	test_pool_islands();
	test_cpu_backend();
	test_pool_niced();
	test_open_sim_by_name();
	return tap_done();
}
