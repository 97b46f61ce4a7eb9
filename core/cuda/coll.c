// SPDX-License-Identifier: MIT
/*
 * core/cuda/coll.c - communicators and collectives over NCCL.
 *
 * A struct ts_comm serves a whole device set inside this one process: it
 * holds one ncclComm_t per member, made together by ncclCommInitAll over the
 * members' device ordinals only (never the whole node). Collectives are SPMD:
 * each member's worker thread calls with the same arguments, and the thread's
 * bound device (bind_thread) picks its member comm and stream. Rank order is
 * the set's ascending device order, as the devices were given.
 */
#include <stdlib.h>

#include "cuda_priv.h"

/*
 * NCCL does not report its memory; this is the usual order of it: per member
 * and peer, one 4 MiB buffer (NCCL_BUFFSIZE's default) each way.
 */
#define NCCL_PEER_BYTES (2 * (4u << 20))

static void comm_free(struct ts_comm *c)
{
	if (!c)
		return;
	if (c->nccl) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 14, 0)
		/* One thread finalises every member: NCCL wants that inside a group. */
		ncclGroupStart();
		for (int i = 0; i < c->n; i++)
			if (c->nccl[i])
				ncclCommFinalize(c->nccl[i]);
		ncclGroupEnd();
#endif
		for (int i = 0; i < c->n; i++)
			if (c->nccl[i])
				TS_NCCL(ncclCommDestroy(c->nccl[i]));
		ts_cuda_forget_current();
	}
	if (c->barrier_buf) {
		for (int i = 0; i < c->n; i++) {
			if (c->barrier_buf[i] && !ts_cuda_use(c->devs[i]))
				cudaFree(c->barrier_buf[i]);
		}
	}
	free(c->barrier_buf);
	free(c->nccl);
	free(c->devs);
	free(c);
}

int ts_cuda_comm_create(struct ts_backend *be, struct ts_dev *const *devs, int n,
			struct ts_comm **out, size_t *bytes_out)
{
	struct ts_comm *c;
	int *ordinals;
	int rc;

	if (n < 1 || n > be->n || !devs)
		return TS_CUDA_BAD("comm_create", "%d devices (backend has %d)", n, be->n);
	for (int i = 0; i < n; i++) {
		if (!devs[i] || devs[i]->be != be ||
		    (i && devs[i]->base.index <= devs[i - 1]->base.index))
			return TS_CUDA_BAD("comm_create", "device %d: not of this backend, or the "
					   "set is not in ascending distinct order", i);
	}
	c = calloc(1, sizeof(*c));
	ordinals = calloc((size_t)n, sizeof(*ordinals));
	if (!c || !ordinals) {
		free(c);
		free(ordinals);
		return TS_ENOMEM;
	}
	c->n = n;
	c->devs = calloc((size_t)n, sizeof(*c->devs));
	c->nccl = calloc((size_t)n, sizeof(*c->nccl));
	c->barrier_buf = calloc((size_t)n, sizeof(*c->barrier_buf));
	if (!c->devs || !c->nccl || !c->barrier_buf) {
		rc = TS_ENOMEM;
		goto err;
	}
	for (int i = 0; i < n; i++) {
		c->devs[i] = devs[i];
		ordinals[i] = devs[i]->ordinal;
		rc = ts_cuda_use(devs[i]);
		if (!rc)
			rc = TS_CU(cudaMalloc((void **)&c->barrier_buf[i], sizeof(float)));
		if (rc)
			goto err;
	}
	rc = TS_NCCL(ncclCommInitAll(c->nccl, n, ordinals));
	/* It visits every member's device: whatever we remember as current is stale. */
	ts_cuda_forget_current();
	if (rc) {
		/* Nothing was created: don't finalise garbage handles. */
		free(c->nccl);
		c->nccl = NULL;
		goto err;
	}
	free(ordinals);
	*out = c;
	if (bytes_out)
		*bytes_out = (size_t)n * (size_t)(n - 1) * NCCL_PEER_BYTES +
			     (size_t)n * sizeof(float);
	return 0;
err:
	free(ordinals);
	comm_free(c);
	return rc;
}

void ts_cuda_comm_destroy(struct ts_comm *comm)
{
	comm_free(comm);
}

/* The calling thread's member index, or -1 (logged). */
static int member(const struct ts_comm *c)
{
	struct ts_dev *d = ts_cuda_bound();

	for (int i = 0; i < c->n; i++)
		if (c->devs[i] == d)
			return i;
	/* One member and nothing bound: there is only one thing the caller can mean. */
	if (c->n == 1 && !d)
		return 0;
	ts_cuda_log(TS_LOG_ERROR, "collective from a thread not bound to a member of the group");
	return -1;
}

static ncclDataType_t nccl_type(const struct ts_dev *d)
{
	return d->dt == TS_CUDA_BF16 ? ncclBfloat16 : ncclFloat32;
}

static int prep(struct ts_comm *c, int64_t count, int *r)
{
	*r = member(c);
	if (*r < 0)
		return TS_EINVAL;
	if (count < 0)
		return TS_CUDA_BAD("collective", "count=%lld", (long long)count);
	return ts_cuda_use(c->devs[*r]);
}

static int coll_all_to_all(struct ts_comm *c, const void *send, void *recv, int64_t count)
{
	struct ts_dev *d;
	size_t esz;
	int r, rc, rc2;

	rc = prep(c, count, &r);
	if (rc || !count)
		return rc;
	d = c->devs[r];
	esz = ts_cuda_dt_size(d->dt);
	rc = TS_NCCL(ncclGroupStart());
	if (rc)
		return rc;
	for (int j = 0; j < c->n && !rc; j++) {
		rc = TS_NCCL(ncclSend((const char *)send + (size_t)(j * count) * esz, (size_t)count,
				      nccl_type(d), j, c->nccl[r], d->stream));
		if (!rc)
			rc = TS_NCCL(ncclRecv((char *)recv + (size_t)(j * count) * esz,
					      (size_t)count, nccl_type(d), j, c->nccl[r],
					      d->stream));
	}
	/* The group must be closed even after a failed enqueue. */
	rc2 = TS_NCCL(ncclGroupEnd());
	return rc ? rc : rc2;
}

static int coll_all_gather(struct ts_comm *c, const void *send, void *recv, int64_t count)
{
	int r, rc = prep(c, count, &r);

	if (rc || !count)
		return rc;
	return TS_NCCL(ncclAllGather(send, recv, (size_t)count, nccl_type(c->devs[r]), c->nccl[r],
				     c->devs[r]->stream));
}

static int coll_broadcast(struct ts_comm *c, void *buf, int64_t count, int root)
{
	int r, rc = prep(c, count, &r);

	if (rc)
		return rc;
	if (root < 0 || root >= c->n)
		return TS_CUDA_BAD("broadcast", "root %d of %d ranks", root, c->n);
	if (!count)
		return 0;
	return TS_NCCL(ncclBroadcast(buf, buf, (size_t)count, nccl_type(c->devs[r]), root,
				     c->nccl[r], c->devs[r]->stream));
}

static int coll_all_reduce_sum(struct ts_comm *c, void *buf, int64_t count)
{
	int r, rc = prep(c, count, &r);

	if (rc || !count)
		return rc;
	return TS_NCCL(ncclAllReduce(buf, buf, (size_t)count, nccl_type(c->devs[r]), ncclSum,
				     c->nccl[r], c->devs[r]->stream));
}

/*
 * No member's all-reduce completes before every member has joined it, so
 * waiting for one on the host is a barrier (and drains the member's stream).
 */
static int coll_barrier(struct ts_comm *c)
{
	int r, rc = prep(c, 0, &r);

	if (rc)
		return rc;
	rc = TS_NCCL(ncclAllReduce(c->barrier_buf[r], c->barrier_buf[r], 1, ncclFloat32, ncclSum,
				   c->nccl[r], c->devs[r]->stream));
	return rc ? rc : TS_CU(cudaStreamSynchronize(c->devs[r]->stream));
}

static int coll_rank(const struct ts_comm *c)
{
	return member(c);
}

static int coll_size(const struct ts_comm *c)
{
	return c->n;
}

const struct ts_coll_ops ts_cuda_coll = {
	.hdr = TS_ABI_HDR(TS_MAGIC_COLL, struct ts_coll_ops),
	.all_to_all = coll_all_to_all,
	.all_gather = coll_all_gather,
	.broadcast = coll_broadcast,
	.all_reduce_sum = coll_all_reduce_sum,
	.barrier = coll_barrier,
	.rank = coll_rank,
	.size = coll_size,
};
