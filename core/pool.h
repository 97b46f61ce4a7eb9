/* SPDX-License-Identifier: MIT */
/*
 * core/pool.h - the device pool: every device of one backend, its health,
 * which devices are free, and the optional topology (islands of devices with
 * fast links). The round engine takes device sets from it and gives them back.
 */
#ifndef TS_CORE_POOL_H
#define TS_CORE_POOL_H

#include <tetri/backend.h>
#include <tetri/devset.h>
#include <tetri/policy.h>

struct ts_pool_dev {
	struct ts_dev *dev;
	struct ts_device_info info;
	int healthy;
};

struct ts_pool {
	const struct ts_backend_ops *be_ops;
	struct ts_backend *be;
	int n;
	struct ts_pool_dev *dev;
	struct ts_devset healthy;  /* healthy devices */
	struct ts_devset free;     /* healthy and not running anything */
	int n_free, n_healthy;
	int *island;               /* [n], or NULL: uniform links */
	int n_islands;
	struct ts_topology topo;
};

/*
 * Open @n devices of backend @be (created here, destroyed with the pool).
 * @island: [n] island ids (0-based, devices of an island share fast links), or NULL.
 */
int ts_pool_new(const struct ts_backend_ops *be, const struct ts_host *host, int n,
		const int *island, struct ts_pool **out);
/*
 * The same over a backend named in the registry (core/backend.h): "cpu",
 * "cuda", or the engine's own "sim". @threads_per_device: cpu only.
 */
int ts_pool_open(const char *backend, const struct ts_host *host, int n, int threads_per_device,
		 const int *island, struct ts_pool **out);
/*
 * ts_pool_open() with every thread the backend starts running at nice
 * @nice (> 0; 0 = as the caller): compute below a serving control plane
 * (HTTP, admission, the engine thread) that shares the cores with it.
 */
int ts_pool_open_niced(const char *backend, const struct ts_host *host, int n,
		       int threads_per_device, const int *island, int nice, struct ts_pool **out);
void ts_pool_free(struct ts_pool *p);

/* The topology for policies, or NULL when uniform. */
const struct ts_topology *ts_pool_topology(const struct ts_pool *p);

/* Mark @s busy: TS_EBUSY (nothing changed) when a member is not free. */
int ts_pool_take(struct ts_pool *p, const struct ts_devset *s);
/* Mark @s free again (unhealthy members stay out of the free set). */
void ts_pool_give(struct ts_pool *p, const struct ts_devset *s);
void ts_pool_set_healthy(struct ts_pool *p, int d, int healthy);

/*
 * Choose @k free devices into @out without taking them: inside the one island
 * with the fewest free devices that still fits @k (keeping big islands whole
 * for big groups), else spanning as few islands as it can; uniform pools take
 * the lowest free indices. TS_EBUSY when fewer than @k are free.
 */
int ts_pool_pick(const struct ts_pool *p, int k, struct ts_devset *out);

/*
 * Parse a topology string: islands separated by spaces, each a device range
 * "0-1" or a single index, e.g. "0-1 2-3". Every device of 0..n-1 must be in
 * exactly one island. @island gets [n] ids. Errors are logged naming @what.
 */
int ts_topology_parse(const char *text, int n, int *island, const char *what);

#endif /* TS_CORE_POOL_H */
