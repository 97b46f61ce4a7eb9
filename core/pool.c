// SPDX-License-Identifier: MIT
/*
 * core/pool.c - the device pool (see pool.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tetri/error.h>

#include "backend.h"
#include "backend_sim.h"
#include "log.h"
#include "pool.h"

static int pool_islands(struct ts_pool *p, const int *island)
{
	p->island = malloc(p->n * sizeof(int));
	if (!p->island)
		return TS_ENOMEM;
	for (int i = 0; i < p->n; i++) {
		if (island[i] < 0 || island[i] >= p->n) {
			ts_err("pool", "device %d: island id %d out of range", i, island[i]);
			return TS_EINVAL;
		}
		p->island[i] = island[i];
		if (island[i] + 1 > p->n_islands)
			p->n_islands = island[i] + 1;
	}
	p->topo = (struct ts_topology){ .n = p->n, .island = p->island };
	return 0;
}

static int pool_devices(struct ts_pool *p)
{
	p->dev = calloc(p->n, sizeof(*p->dev));
	if (!p->dev)
		return TS_ENOMEM;
	for (int i = 0; i < p->n; i++) {
		p->dev[i].dev = p->be_ops->device(p->be, i);
		if (!p->dev[i].dev) {
			ts_err("pool", "%s backend has no device %d", p->be_ops->name, i);
			return TS_ENODEV;
		}
		p->be_ops->device_info(p->dev[i].dev, &p->dev[i].info);
		p->dev[i].healthy = 1;
		ts_devset_add(&p->healthy, i);
	}
	p->free = p->healthy;
	p->n_free = p->n_healthy = p->n;
	return 0;
}

/* A pool over @be, already created with @n devices (destroyed with the pool, also on failure). */
static int pool_wrap(const struct ts_backend_ops *ops, struct ts_backend *be, int n,
		     const int *island, struct ts_pool **out)
{
	struct ts_pool *p = calloc(1, sizeof(*p));
	int err;

	if (!p) {
		ops->destroy(be);
		return TS_ENOMEM;
	}
	p->be_ops = ops;
	p->be = be;
	p->n = n;
	err = pool_devices(p);
	if (!err && island)
		err = pool_islands(p, island);
	if (err)
		goto free_pool;
	*out = p;
	return 0;

free_pool:
	ts_pool_free(p);
	return err;
}

static int check_count(int n)
{
	if (n < 1 || n > TS_MAX_DEVICES) {
		ts_err("pool", "devices = %d: must be 1..%d", n, TS_MAX_DEVICES);
		return TS_EINVAL;
	}
	return 0;
}

int ts_pool_new(const struct ts_backend_ops *be, const struct ts_host *host, int n,
		const int *island, struct ts_pool **out)
{
	struct ts_backend *b;
	int err = check_count(n);

	if (err)
		return err;
	err = be->create(host, n, &b);
	if (err) {
		ts_err("pool", "cannot open %d %s devices: %s", n, be->name, ts_strerror(err));
		return err;
	}
	return pool_wrap(be, b, n, island, out);
}

int ts_pool_open(const char *backend, const struct ts_host *host, int n, int threads_per_device,
		 const int *island, struct ts_pool **out)
{
	const struct ts_backend_ops *ops;
	struct ts_backend *b;
	int err = check_count(n);

	if (err)
		return err;
	/* The sim backend is the engine's own: no registry lookup needed. */
	if (!strcmp(backend, "sim"))
		return ts_pool_new(ts_backend_sim(), host, n, island, out);
	err = ts_backend_open(backend, host, n, threads_per_device, &ops, &b);
	if (err) {
		ts_err("pool", "cannot open %d %s devices: %s", n, backend, ts_strerror(err));
		return err;
	}
	return pool_wrap(ops, b, n, island, out);
}

struct niced_open {
	const char *backend;
	const struct ts_host *host;
	int n, threads_per_device, nice;
	const int *island;
	struct ts_pool *pool;
	int err;
};

static void *niced_open_main(void *arg)
{
	struct niced_open *o = arg;

	/*
	 * Linux keeps the nice value per thread and a new thread starts with
	 * its creator's, so every thread the backend starts from here (the CPU
	 * devices' workers and teams) runs at @nice, without the backend
	 * knowing. Raising one's own nice needs no privilege.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), o->nice))
		ts_warn("pool", "nice %d refused; the %s devices' threads run at normal priority",
			o->nice, o->backend);
	o->err = ts_pool_open(o->backend, o->host, o->n, o->threads_per_device, o->island,
			      &o->pool);
	return NULL;
}

int ts_pool_open_niced(const char *backend, const struct ts_host *host, int n,
		       int threads_per_device, const int *island, int nice, struct ts_pool **out)
{
	struct niced_open o = {
		.backend = backend, .host = host, .n = n, .threads_per_device = threads_per_device,
		.island = island, .nice = nice,
	};
	pthread_t t;

	if (nice <= 0)
		return ts_pool_open(backend, host, n, threads_per_device, island, out);
	if (pthread_create(&t, NULL, niced_open_main, &o)) {
		ts_err("pool", "cannot start a thread to open the %s devices at nice %d", backend,
		       nice);
		return TS_ENOMEM;
	}
	pthread_join(t, NULL);
	if (!o.err)
		*out = o.pool;
	return o.err;
}

void ts_pool_free(struct ts_pool *p)
{
	if (!p)
		return;
	if (p->be)
		p->be_ops->destroy(p->be);
	free(p->island);
	free(p->dev);
	free(p);
}

const struct ts_topology *ts_pool_topology(const struct ts_pool *p)
{
	return p->island ? &p->topo : NULL;
}

int ts_pool_take(struct ts_pool *p, const struct ts_devset *s)
{
	if (!ts_devset_subset(s, &p->free))
		return TS_EBUSY;
	for (int i = 0; i < TS_DEVSET_WORDS; i++)
		p->free.w[i] &= ~s->w[i];
	p->n_free -= ts_devset_count(s);
	return 0;
}

void ts_pool_give(struct ts_pool *p, const struct ts_devset *s)
{
	for (int i = 0; i < TS_DEVSET_WORDS; i++) {
		uint64_t back = s->w[i] & p->healthy.w[i] & ~p->free.w[i];

		p->free.w[i] |= back;
		p->n_free += __builtin_popcountll(back);
	}
}

void ts_pool_set_healthy(struct ts_pool *p, int d, int healthy)
{
	if (d < 0 || d >= p->n || p->dev[d].healthy == !!healthy)
		return;
	p->dev[d].healthy = !!healthy;
	if (healthy) {
		ts_devset_add(&p->healthy, d);
		p->n_healthy++;
		/* A device comes back idle: nothing can have been running on it. */
		ts_devset_add(&p->free, d);
		p->n_free++;
		return;
	}
	ts_devset_del(&p->healthy, d);
	p->n_healthy--;
	if (ts_devset_has(&p->free, d)) {
		ts_devset_del(&p->free, d);
		p->n_free--;
	}
}

static void pick_lowest(const struct ts_devset *from, int k, struct ts_devset *out)
{
	ts_devset_zero(out);
	for (int d = ts_devset_next(from, 0); d >= 0 && k > 0; d = ts_devset_next(from, d + 1), k--)
		ts_devset_add(out, d);
}

/* Add up to @k free members of island @isl to @out; returns how many were added. */
static int pick_island(const struct ts_pool *p, int isl, int k, struct ts_devset *out)
{
	int got = 0;

	const struct ts_devset *f = &p->free;

	for (int d = ts_devset_next(f, 0); d >= 0 && got < k; d = ts_devset_next(f, d + 1)) {
		if (p->island[d] == isl) {
			ts_devset_add(out, d);
			got++;
		}
	}
	return got;
}

static int pick_topo(const struct ts_pool *p, int k, struct ts_devset *out)
{
	int *nfree = calloc(p->n_islands, sizeof(int));
	int best = -1;

	if (!nfree)
		return TS_ENOMEM;
	for (int d = ts_devset_next(&p->free, 0); d >= 0; d = ts_devset_next(&p->free, d + 1))
		nfree[p->island[d]]++;
	for (int i = 0; i < p->n_islands; i++)
		if (nfree[i] >= k && (best < 0 || nfree[i] < nfree[best]))
			best = i;
	ts_devset_zero(out);
	if (best >= 0) {
		pick_island(p, best, k, out);
		free(nfree);
		return 0;
	}
	/* No island fits: take the fullest islands first, so the group spans few. */
	while (k > 0) {
		best = 0;
		for (int i = 1; i < p->n_islands; i++)
			if (nfree[i] > nfree[best])
				best = i;
		k -= pick_island(p, best, k, out);
		nfree[best] = 0;
	}
	free(nfree);
	return 0;
}

int ts_pool_pick(const struct ts_pool *p, int k, struct ts_devset *out)
{
	if (k < 1 || k > p->n_free)
		return TS_EBUSY;
	if (!p->island || p->n_islands < 2) {
		pick_lowest(&p->free, k, out);
		return 0;
	}
	return pick_topo(p, k, out);
}
