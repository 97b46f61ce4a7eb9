// SPDX-License-Identifier: MIT
/*
 * core/cpu/team.c - the thread team of one virtual device: a parallel-for
 * whose caller works as thread 0 while the helpers take the other tasks.
 * Tasks are handed out by an atomic counter, so uneven tasks balance.
 */
#include <errno.h>
#include <stdlib.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

static void team_run_tasks(struct ts_cpu_team *t, int tid)
{
	for (;;) {
		int64_t i = atomic_fetch_add(&t->next, 1);

		if (i >= t->n_tasks)
			return;
		t->fn(t->arg, i, tid);
	}
}

struct helper_arg {
	struct ts_cpu_team *team;
	int tid;
};

static void *team_helper(void *p)
{
	struct helper_arg ha = *(struct helper_arg *)p;
	struct ts_cpu_team *t = ha.team;
	uint64_t seen = 0;

	free(p);
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->stop && t->gen == seen)
			pthread_cond_wait(&t->wake, &t->lock);
		if (t->stop)
			break;
		seen = t->gen;
		pthread_mutex_unlock(&t->lock);
		team_run_tasks(t, ha.tid);
		pthread_mutex_lock(&t->lock);
		if (--t->running == 0)
			pthread_cond_signal(&t->done);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void team_stop(struct ts_cpu_team *t, int started)
{
	pthread_mutex_lock(&t->lock);
	t->stop = 1;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < started; i++)
		pthread_join(t->helpers[i], NULL);
}

int ts_cpu_team_init(struct ts_cpu_team *t, int size)
{
	int i;

	t->size = size;
	t->gen = 0;
	t->running = 0;
	t->stop = 0;
	atomic_init(&t->next, 0);
	t->helpers = calloc((size_t)size, sizeof(*t->helpers));
	if (!t->helpers)
		goto fail;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	pthread_cond_init(&t->done, NULL);
	for (i = 1; i < size; i++) {
		struct helper_arg *ha = malloc(sizeof(*ha));

		if (!ha)
			goto stop_helpers;
		*ha = (struct helper_arg){ .team = t, .tid = i };
		if (pthread_create(&t->helpers[i - 1], NULL, team_helper, ha)) {
			free(ha);
			goto stop_helpers;
		}
	}
	return 0;

stop_helpers:
	team_stop(t, i - 1);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t->helpers);
	t->helpers = NULL;
fail:
	ts_err("cpu", "cannot start a team of %d threads", size);
	return TS_ENOMEM;
}

void ts_cpu_team_fini(struct ts_cpu_team *t)
{
	if (!t->helpers)
		return;
	team_stop(t, t->size - 1);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
	free(t->helpers);
	t->helpers = NULL;
}

void ts_cpu_parallel(struct ts_cpu_dev *d, int64_t n_tasks, ts_cpu_task_fn fn, void *arg)
{
	struct ts_cpu_team *t = &d->team;

	if (n_tasks <= 0)
		return;
	if (t->size <= 1 || n_tasks == 1) {
		for (int64_t i = 0; i < n_tasks; i++)
			fn(arg, i, 0);
		return;
	}
	pthread_mutex_lock(&t->lock);
	t->fn = fn;
	t->arg = arg;
	t->n_tasks = n_tasks;
	atomic_store(&t->next, 0);
	t->running = t->size - 1;
	t->gen++;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);

	team_run_tasks(t, 0);

	pthread_mutex_lock(&t->lock);
	while (t->running)
		pthread_cond_wait(&t->done, &t->lock);
	pthread_mutex_unlock(&t->lock);
}
