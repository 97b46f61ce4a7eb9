// SPDX-License-Identifier: MIT
/*
 * core/cpu/device.c - one virtual device: its worker thread (SPMD jobs), its
 * thread team and its scratch arena (its memory: devmem.c).
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

/* Initial scratch: enough for attention and conv tiles of the DiT shapes. */
#define CPU_SCRATCH_INITIAL (8u << 20)

static _Thread_local struct ts_cpu_dev *cpu_current;
static _Thread_local int cpu_in_job;

int ts_cpu_in_job(void)
{
	return cpu_in_job;
}

struct ts_cpu_dev *ts_cpu_current(void)
{
	return cpu_current;
}

void ts_cpu_set_current(struct ts_cpu_dev *d)
{
	cpu_current = d;
}

int ts_cpu_is_dev(const struct ts_dev *dev)
{
	return dev && ts_dev_base(dev)->be == &ts_cpu_backend_ops;
}

int ts_cpu_bad(const char *op, const char *why)
{
	ts_err("cpu", "%s: %s", op, why);
	return TS_EINVAL;
}

void *ts_cpu_scratch(struct ts_cpu_dev *d, size_t bytes)
{
	size_t size;
	void *p;

	if (bytes <= d->scratch_size)
		return d->scratch;
	/* Round up so a slowly rising demand does not regrow every call. */
	size = d->scratch_size ? d->scratch_size : CPU_SCRATCH_INITIAL;
	while (size < bytes)
		size *= 2;
	p = aligned_alloc(64, size);
	if (!p) {
		ts_err("cpu", "device %d: cannot grow scratch to %zu bytes", d->base.index, size);
		return NULL;
	}
	free(d->scratch);
	d->scratch = p;
	d->scratch_size = size;
	d->scratch_grows++;
	return p;
}

static void *dev_worker(void *p)
{
	struct ts_cpu_dev *d = p;
	int ret;

	ts_cpu_set_current(d);
	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->stop && d->job_state != TS_CPU_JOB_PENDING)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->lock);
		cpu_in_job = 1;
		ret = d->job((struct ts_dev *)d, d->job_rank, d->job_arg);
		cpu_in_job = 0;
		/* Peers still waiting for this rank in a collective must not hang. */
		atomic_store(&d->gone, 1);
		ts_cpu_comms_wake(d->be);
		pthread_mutex_lock(&d->lock);
		d->job_ret = ret;
		d->job_state = TS_CPU_JOB_DONE;
		pthread_cond_broadcast(&d->cond);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int ts_cpu_dev_submit(struct ts_cpu_dev *d, int (*job)(struct ts_dev *, int, void *), int rank,
		      void *arg)
{
	pthread_mutex_lock(&d->lock);
	if (d->job_state != TS_CPU_JOB_IDLE) {
		pthread_mutex_unlock(&d->lock);
		ts_err("cpu", "device %d: a job is already running", d->base.index);
		return TS_EBUSY;
	}
	d->job = job;
	d->job_arg = arg;
	d->job_rank = rank;
	d->job_state = TS_CPU_JOB_PENDING;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

int ts_cpu_dev_idle(struct ts_cpu_dev *d)
{
	int idle;

	pthread_mutex_lock(&d->lock);
	idle = d->job_state == TS_CPU_JOB_IDLE;
	pthread_mutex_unlock(&d->lock);
	return idle;
}

int ts_cpu_dev_wait(struct ts_cpu_dev *d)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	while (d->job_state == TS_CPU_JOB_PENDING)
		pthread_cond_wait(&d->cond, &d->lock);
	ret = d->job_state == TS_CPU_JOB_DONE ? d->job_ret : 0;
	d->job_state = TS_CPU_JOB_IDLE;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

struct ts_cpu_dev *ts_cpu_dev_create(struct ts_cpu_backend *be, int index, int threads,
				     size_t mem_cap)
{
	struct ts_cpu_dev *d = calloc(1, sizeof(*d));

	if (!d)
		goto fail;
	d->base.be = &ts_cpu_backend_ops;
	d->base.index = index;
	d->be = be;
	d->threads = threads;
	d->mem_cap = mem_cap;
	atomic_init(&d->mem_used, 0);
	atomic_init(&d->gone, 0);
	if (pthread_mutex_init(&d->mem_lock, NULL))
		goto free_dev;
	if (!ts_cpu_scratch(d, CPU_SCRATCH_INITIAL))
		goto destroy_mem;
	d->scratch_grows = 0;
	if (ts_cpu_team_init(&d->team, threads))
		goto free_scratch;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (pthread_create(&d->worker, NULL, dev_worker, d))
		goto destroy_sync;
	return d;

destroy_sync:
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	ts_cpu_team_fini(&d->team);
free_scratch:
	free(d->scratch);
destroy_mem:
	pthread_mutex_destroy(&d->mem_lock);
free_dev:
	free(d);
fail:
	ts_err("cpu", "cannot create virtual device %d", index);
	return NULL;
}

void ts_cpu_dev_destroy(struct ts_cpu_dev *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->worker, NULL);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	ts_cpu_team_fini(&d->team);
	if (atomic_load(&d->mem_used))
		ts_warn("cpu", "device %d destroyed with %zu bytes still allocated",
			d->base.index, atomic_load(&d->mem_used));
	ts_cpu_mem_trim(d);
	pthread_mutex_destroy(&d->mem_lock);
	free(d->scratch);
	free(d);
}
