// SPDX-License-Identifier: MIT
/*
 * core/server/jobs.c - the job table: every accepted job by id (a hash with
 * chaining that doubles), in submission order (for listing), and the
 * mailbox that hands new jobs to the engine thread. All under srv->mu.
 *
 * Ids are "job_" + a per-process nonce + the submission number, so ids of
 * two server runs never collide and one run never repeats an id.
 *
 * Memory stays bounded: past [server] job_history jobs, the oldest are
 * dropped once finished (and no HTTP thread holds them), oldest first, so
 * the kept jobs are always a contiguous run of submission numbers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "server_int.h"

static const char *const state_names[] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_DECODING] = "decoding",
	[JOB_COMPLETED] = "completed",
	[JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

const char *ts_srv_job_state_name(enum job_state st)
{
	return st <= JOB_CANCELLED ? state_names[st] : "?";
}

/* FNV-1a: ids are short and already unique, any decent spread will do. */
static size_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)h;
}

int ts_srv_jobs_init(struct ts_server *s)
{
	s->hash_cap = 1024;
	s->hash = calloc(s->hash_cap, sizeof(*s->hash));
	if (!s->hash)
		return TS_ENOMEM;
	s->mbox_tail = &s->mbox_head;
	s->ops_tail = &s->ops_head;
	s->live.lnext = s->live.lprev = &s->live;
	return 0;
}

void ts_srv_jobs_release(struct ts_server *s)
{
	for (size_t i = s->head; i < s->head + s->n_jobs; i++) {
		ts_srv_job_free_images(s->jobs[i]);
		free(s->jobs[i]);
	}
	free(s->jobs);
	free(s->hash);
	s->jobs = NULL;
	s->hash = NULL;
	s->n_jobs = 0;
}

static int hash_grow(struct ts_server *s)
{
	size_t cap = s->hash_cap * 2;
	struct ts_job **h = calloc(cap, sizeof(*h));

	if (!h)
		return TS_ENOMEM;
	for (size_t i = s->head; i < s->head + s->n_jobs; i++) {
		struct ts_job *j = s->jobs[i];
		size_t b = id_hash(j->id) & (cap - 1);

		j->hnext = h[b];
		h[b] = j;
	}
	free(s->hash);
	s->hash = h;
	s->hash_cap = cap;
	return 0;
}

static int table_add(struct ts_server *s, struct ts_job *j)
{
	size_t b;

	if (s->head && s->head + s->n_jobs == s->cap_jobs && s->head >= s->cap_jobs / 2) {
		/* Evictions freed the front half: slide the kept jobs down. */
		memmove(s->jobs, s->jobs + s->head, s->n_jobs * sizeof(*s->jobs));
		s->head = 0;
	}
	if (s->head + s->n_jobs == s->cap_jobs) {
		size_t cap = s->cap_jobs ? 2 * s->cap_jobs : 1024;
		struct ts_job **v = realloc(s->jobs, cap * sizeof(*v));

		if (!v)
			return TS_ENOMEM;
		s->jobs = v;
		s->cap_jobs = cap;
	}
	if (s->n_jobs + 1 > s->hash_cap && hash_grow(s))
		return TS_ENOMEM;
	if (!s->n_jobs)
		s->first_seq = j->seq;
	s->jobs[s->head + s->n_jobs++] = j;
	b = id_hash(j->id) & (s->hash_cap - 1);
	j->hnext = s->hash[b];
	s->hash[b] = j;
	return 0;
}

static void hash_del(struct ts_server *s, struct ts_job *j)
{
	struct ts_job **p = &s->hash[id_hash(j->id) & (s->hash_cap - 1)];

	while (*p && *p != j)
		p = &(*p)->hnext;
	if (*p)
		*p = j->hnext;
}

/* Drop the oldest jobs past job_history, while they are finished and unheld. */
static void evict(struct ts_server *s)
{
	while (s->n_jobs > s->job_history) {
		struct ts_job *j = s->jobs[s->head];

		if (!job_final(j->state) || j->refs)
			break;
		hash_del(s, j);
		ts_srv_job_free_images(j);
		free(j);
		s->head++;
		s->n_jobs--;
		s->first_seq++;
	}
}

struct ts_job *ts_srv_job_at(struct ts_server *s, uint64_t seq)
{
	if (!s->n_jobs || seq < s->first_seq || seq - s->first_seq >= s->n_jobs)
		return NULL;
	return s->jobs[s->head + (seq - s->first_seq)];
}

struct ts_job *ts_srv_job_create(struct ts_server *s, const struct ts_genreq *rq, int shape)
{
	struct ts_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	evict(s);
	j->seq = s->next_seq;
	snprintf(j->id, sizeof(j->id), "job_%08" PRIx64 "%08" PRIx64, s->id_nonce, j->seq);
	j->state = JOB_QUEUED;
	j->req = *rq;
	j->shape = shape;
	j->created_s = srv_now(s);
	j->steps_total = rq->n * rq->steps;
	for (int i = 0; i < TS_API_MAX_N; i++)
		j->sub[i].eidx = -1;
	if (table_add(s, j)) {
		free(j);
		return NULL;
	}
	s->next_seq++;
	*s->mbox_tail = j;
	s->mbox_tail = &j->mnext;
	s->n_queued++;
	s->m.submitted++;
	pthread_cond_signal(&s->engine_cv);
	return j;
}

struct ts_job *ts_srv_job_find(struct ts_server *s, const char *id)
{
	struct ts_job *j = s->hash[id_hash(id) & (s->hash_cap - 1)];

	while (j && strcmp(j->id, id))
		j = j->hnext;
	return j;
}

/* Waiters are woken once per engine tick (engine_link.c), not once per job. */
void ts_srv_job_touch(struct ts_server *s, struct ts_job *j)
{
	j->version++;
}
