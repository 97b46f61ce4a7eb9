// SPDX-License-Identifier: MIT
/*
 * core/cpu/coll.c - collectives with NCCL's semantics over shared memory.
 *
 * Every rank publishes its buffer pointers and count in the communicator,
 * meets the others at a barrier, checks that all ranks asked for the same
 * thing, then reads the peers' buffers directly; a final barrier keeps any
 * rank from reusing (or republishing) a buffer a peer is still reading.
 * A rank is the caller's virtual device (its worker thread, or a thread bound
 * with bind_thread) found among the communicator's devices.
 *
 * Unlike NCCL, a group does not hang when one rank's SPMD job returns (an
 * error, or a rank that skipped a collective its peers make): the worker
 * marks its device gone and wakes every communicator, and the peers waiting
 * for it leave with TS_ECOMM. A rank leaving its last collective is never
 * mistaken for this: the collective's final barrier completed before it could
 * return. The marks are cleared by ts_backend_run_spmd for all ranks before
 * it starts any.
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

enum coll_kind {
	COLL_ALL_TO_ALL = 1,
	COLL_ALL_GATHER,
	COLL_BROADCAST,
	COLL_ALL_REDUCE,
	COLL_BARRIER,
};

struct coll_slot {
	const void *send;
	void *recv;
	int64_t count;
	int kind, root;
};

struct ts_comm {
	struct ts_cpu_backend *be;
	struct ts_comm *next; /* in be->comms, for ts_cpu_comms_wake() */
	int n;
	struct ts_cpu_dev **devs;
	struct coll_slot *slot;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int arrived;
	uint64_t gen;
};

/*
 * A member's SPMD job has returned: it will never arrive. Called with c->lock
 * held. Only ranks running as SPMD jobs take part in this: threads given a
 * device with bind_thread get plain NCCL semantics (their peers' marks may be
 * left over from an earlier job, and nothing marks a bound thread gone).
 */
static int comm_broken(const struct ts_comm *c)
{
	if (!ts_cpu_in_job())
		return 0;
	for (int i = 0; i < c->n; i++)
		if (atomic_load(&c->devs[i]->gone))
			return 1;
	return 0;
}

/* 0 when all ranks arrived; TS_ECOMM when a member is gone (this rank un-arrives). */
static int comm_barrier(struct ts_comm *c)
{
	uint64_t gen;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	if (comm_broken(c)) {
		ret = TS_ECOMM;
	} else if (++c->arrived == c->n) {
		c->arrived = 0;
		c->gen++;
		pthread_cond_broadcast(&c->cond);
	} else {
		while (gen == c->gen && !comm_broken(c))
			pthread_cond_wait(&c->cond, &c->lock);
		if (gen == c->gen) {
			c->arrived--;
			ret = TS_ECOMM;
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (ret)
		ts_err("cpu", "group of device %d: a rank's job returned before this "
		       "collective; abandoned", c->devs[0]->base.index);
	return ret;
}

void ts_cpu_comms_detach(struct ts_cpu_backend *be)
{
	pthread_mutex_lock(&be->comm_lock);
	if (be->comms)
		ts_warn("cpu", "backend closed before its communicators; they are unusable now");
	while (be->comms) {
		struct ts_comm *c = be->comms;

		be->comms = c->next;
		c->be = NULL;
	}
	pthread_mutex_unlock(&be->comm_lock);
}

void ts_cpu_comms_wake(struct ts_cpu_backend *be)
{
	pthread_mutex_lock(&be->comm_lock);
	for (struct ts_comm *c = be->comms; c; c = c->next) {
		pthread_mutex_lock(&c->lock);
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&be->comm_lock);
}

static int comm_rank(const struct ts_comm *c)
{
	struct ts_cpu_dev *me = ts_cpu_current();

	for (int i = 0; i < c->n; i++)
		if (c->devs[i] == me)
			return i;
	return -1;
}

static int cpu_rank(const struct ts_comm *c)
{
	return c ? comm_rank(c) : -1;
}

static int cpu_size(const struct ts_comm *c)
{
	return c ? c->n : 0;
}

static int coll_buffers_ok(const struct coll_slot *o, int n)
{
	if (o->kind == COLL_BARRIER || o->count == 0)
		return 1;
	if (!o->send || !o->recv)
		return 0;
	/* NCCL's all-to-all is not in place: a peer would read what we overwrite. */
	return !(o->kind == COLL_ALL_TO_ALL && o->send == o->recv && n > 1);
}

/*
 * Publish this rank's call, wait for all, and check that every rank made the
 * same call. Every rank sees the same slots, so all reach the same verdict.
 * On a mismatch all ranks leave through a second barrier with TS_ECOMM.
 */
static int coll_enter(struct ts_comm *c, const char *op, int *rank, struct coll_slot s)
{
	int r;

	if (!c)
		return ts_cpu_bad(op, "no communicator");
	r = comm_rank(c);
	if (r < 0) {
		ts_err("cpu", "%s: calling thread is not a member of the group", op);
		return TS_ECOMM;
	}
	c->slot[r] = s;
	if (comm_barrier(c))
		return TS_ECOMM;
	for (int i = 0; i < c->n; i++) {
		const struct coll_slot *o = &c->slot[i];

		if (o->kind == s.kind && o->count == s.count && o->root == s.root &&
		    o->count >= 0 && o->root >= 0 && o->root < c->n && coll_buffers_ok(o, c->n))
			continue;
		if (r == 0)
			ts_err("cpu", "%s: rank %d called kind %d count %lld root %d "
			       "(rank 0: kind %d count %lld root %d), or with bad buffers", op, i,
			       o->kind, (long long)o->count, o->root, s.kind, (long long)s.count,
			       s.root);
		comm_barrier(c);
		return TS_ECOMM;
	}
	*rank = r;
	return 0;
}

static int cpu_all_to_all(struct ts_comm *c, const void *send, void *recv, int64_t count)
{
	size_t bytes = (size_t)count * sizeof(float);
	int r, ret;

	ret = coll_enter(c, "all_to_all", &r, (struct coll_slot){ .send = send, .recv = recv,
		.count = count, .kind = COLL_ALL_TO_ALL });
	if (ret)
		return ret;
	for (int j = 0; j < c->n && bytes; j++)
		memcpy((char *)recv + j * bytes, (const char *)c->slot[j].send + r * bytes, bytes);
	return comm_barrier(c);
}

static int cpu_all_gather(struct ts_comm *c, const void *send, void *recv, int64_t count)
{
	size_t bytes = (size_t)count * sizeof(float);
	int r, ret;

	ret = coll_enter(c, "all_gather", &r, (struct coll_slot){ .send = send, .recv = recv,
		.count = count, .kind = COLL_ALL_GATHER });
	if (ret)
		return ret;
	for (int j = 0; j < c->n && bytes; j++) {
		char *dst = (char *)recv + j * bytes;

		/* In place (send is this rank's own chunk of recv) is allowed. */
		if (dst != c->slot[j].send)
			memcpy(dst, c->slot[j].send, bytes);
	}
	return comm_barrier(c);
}

static int cpu_broadcast(struct ts_comm *c, void *buf, int64_t count, int root)
{
	int r, ret;

	ret = coll_enter(c, "broadcast", &r, (struct coll_slot){ .send = buf, .recv = buf,
		.count = count, .kind = COLL_BROADCAST, .root = root });
	if (ret)
		return ret;
	if (r != root && count)
		memcpy(buf, c->slot[root].send, (size_t)count * sizeof(float));
	return comm_barrier(c);
}

/*
 * Rank r sums slice r over all ranks in rank order (so every rank gets
 * bit-identical results) into its own buffer, where nobody else reads slice
 * r; after a barrier it copies the slice into every peer's buffer.
 */
static int cpu_all_reduce_sum(struct ts_comm *c, void *buf, int64_t count)
{
	float *mine = buf;
	int64_t lo, hi;
	int r, ret;

	ret = coll_enter(c, "all_reduce_sum", &r, (struct coll_slot){ .send = buf, .recv = buf,
		.count = count, .kind = COLL_ALL_REDUCE });
	if (ret)
		return ret;
	lo = count * r / c->n;
	hi = count * (r + 1) / c->n;
	for (int64_t i = lo; i < hi; i++) {
		float s = 0;

		for (int j = 0; j < c->n; j++)
			s += ((const float *)c->slot[j].send)[i];
		mine[i] = s;
	}
	ret = comm_barrier(c);
	if (ret)
		return ret;
	for (int j = 0; j < c->n && hi > lo; j++)
		if (j != r)
			memcpy((float *)c->slot[j].recv + lo, mine + lo,
			       (size_t)(hi - lo) * sizeof(float));
	return comm_barrier(c);
}

static int cpu_barrier(struct ts_comm *c)
{
	int r, ret;

	ret = coll_enter(c, "barrier", &r, (struct coll_slot){ .kind = COLL_BARRIER });
	return ret ? ret : comm_barrier(c);
}

int ts_cpu_comm_create(struct ts_backend *be, struct ts_dev *const *devs, int n,
		       struct ts_comm **out, size_t *bytes_out)
{
	struct ts_comm *c;

	if (n < 1 || !devs)
		return ts_cpu_bad("comm_create", "empty device list");
	for (int i = 0; i < n; i++) {
		if (!ts_cpu_is_dev(devs[i]))
			return ts_cpu_bad("comm_create", "not a CPU device");
		for (int j = 0; j < i; j++)
			if (devs[j] == devs[i])
				return ts_cpu_bad("comm_create", "a device appears twice");
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto nomem;
	c->n = n;
	c->devs = calloc((size_t)n, sizeof(*c->devs));
	c->slot = calloc((size_t)n, sizeof(*c->slot));
	if (!c->devs || !c->slot)
		goto free_comm;
	for (int i = 0; i < n; i++)
		c->devs[i] = ts_cpu_dev(devs[i]);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->be = c->devs[0]->be;
	pthread_mutex_lock(&c->be->comm_lock);
	c->next = c->be->comms;
	c->be->comms = c;
	pthread_mutex_unlock(&c->be->comm_lock);
	if (bytes_out)
		*bytes_out = sizeof(*c) + (size_t)n * (sizeof(*c->devs) + sizeof(*c->slot));
	*out = c;
	return 0;

free_comm:
	free(c->slot);
	free(c->devs);
	free(c);
nomem:
	ts_err("cpu", "comm_create: out of memory for %d ranks", n);
	return TS_ENOMEM;
}

void ts_cpu_comm_destroy(struct ts_comm *c)
{
	if (!c)
		return;
	/* NULL when the backend went first (ts_cpu_comms_detach). */
	if (c->be) {
		pthread_mutex_lock(&c->be->comm_lock);
		for (struct ts_comm **pp = &c->be->comms; *pp; pp = &(*pp)->next) {
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		}
		pthread_mutex_unlock(&c->be->comm_lock);
	}
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->slot);
	free(c->devs);
	free(c);
}

const struct ts_coll_ops ts_cpu_coll_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_COLL, struct ts_coll_ops),
	.all_to_all = cpu_all_to_all,
	.all_gather = cpu_all_gather,
	.broadcast = cpu_broadcast,
	.all_reduce_sum = cpu_all_reduce_sum,
	.barrier = cpu_barrier,
	.rank = cpu_rank,
	.size = cpu_size,
};
