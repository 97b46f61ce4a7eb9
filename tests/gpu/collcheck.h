/* SPDX-License-Identifier: MIT */
/*
 * tests/gpu/collcheck.h - the CUDA collectives (NCCL) against their
 * definitions: every member runs on its own thread bound to its device
 * (SPMD, as the engine runs a step), on fresh random data; copies must be
 * exact, sums within the dtype's bound.
 */
#ifndef TS_TESTS_GPU_COLLCHECK_H
#define TS_TESTS_GPU_COLLCHECK_H

#include <pthread.h>

#include "opcheck.h"

enum { COLL_A2A, COLL_GATHER, COLL_BCAST, COLL_SUM, COLL_BARRIER, COLL_N_ };
static const char *const coll_names[COLL_N_] = { "all_to_all", "all_gather", "broadcast",
						  "all_reduce_sum", "barrier" };

struct coll_rank {
	const struct ts_backend_ops *be;
	struct ts_dev *dev;
	struct ts_comm *comm;
	int which, n, root, rank_seen, size_seen;
	int64_t count;
	void *send, *recv;
	int rc;
};

static void *coll_thread(void *p)
{
	struct coll_rank *r = p;
	const struct ts_coll_ops *c = r->be->coll;

	r->rc = r->be->bind_thread(r->dev);
	if (r->rc)
		return NULL;
	r->rank_seen = c->rank(r->comm);
	r->size_seen = c->size(r->comm);
	switch (r->which) {
	case COLL_A2A:
		r->rc = c->all_to_all(r->comm, r->send, r->recv, r->count);
		break;
	case COLL_GATHER:
		r->rc = c->all_gather(r->comm, r->send, r->recv, r->count);
		break;
	case COLL_BCAST:
		r->rc = c->broadcast(r->comm, r->recv, r->count, r->root);
		break;
	case COLL_SUM:
		r->rc = c->all_reduce_sum(r->comm, r->recv, r->count);
		break;
	default:
		r->rc = c->barrier(r->comm);
		break;
	}
	if (!r->rc)
		r->rc = r->be->sync(r->dev);
	return NULL;
}

/* Expected receive buffer of rank @r, from every rank's host send/recv data. */
static float coll_expect(int which, float *const *send, float *const *recv0, int n, int r,
			 int root, int64_t count, int64_t i)
{
	int64_t blk = i / count, off = i % count;
	float s = 0;

	switch (which) {
	case COLL_A2A:
		return send[blk][r * count + off];
	case COLL_GATHER:
		return send[blk][off];
	case COLL_BCAST:
		return recv0[root][i];
	default:
		for (int j = 0; j < n; j++)
			s += recv0[j][i];
		return s;
	}
}

static void coll_case(struct oc *oc, struct ts_comm *comm, struct ts_dev **devs, int n, int which,
		      int64_t count)
{
	const struct ts_backend_ops *be = oc->side[1].be_ops;
	struct coll_rank rk[16];
	pthread_t th[16];
	float *send[16], *recv0[16], *got = NULL;
	int64_t rn = which == COLL_A2A || which == COLL_GATHER ? n * count : count;
	int64_t sn = which == COLL_A2A ? n * count : count;
	double num = 0, den = 0, tol = which == COLL_SUM ? oc->tol : 0;
	int pass = 1, rc = 0;

	memset(rk, 0, sizeof(rk));
	for (int r = 0; r < n; r++) {
		send[r] = malloc((size_t)sn * sizeof(float));
		recv0[r] = malloc((size_t)rn * sizeof(float));
		for (int64_t i = 0; i < sn; i++)
			send[r][i] = ts_bf16_to_f32(ts_f32_to_bf16(oc_uniform()));
		for (int64_t i = 0; i < rn; i++)
			recv0[r][i] = which == COLL_A2A || which == COLL_GATHER
					      ? NAN : ts_bf16_to_f32(ts_f32_to_bf16(oc_uniform()));
		rk[r] = (struct coll_rank){ .be = be, .dev = devs[r], .comm = comm, .which = which,
					    .n = n, .root = n - 1, .count = count };
		rk[r].send = be->alloc(devs[r], (size_t)sn);
		rk[r].recv = be->alloc(devs[r], (size_t)rn);
		if (!rk[r].send || !rk[r].recv ||
		    be->upload(devs[r], rk[r].send, send[r], TS_F32, sn) ||
		    be->upload(devs[r], rk[r].recv, recv0[r], TS_F32, rn))
			rc = TS_ENOMEM;
	}
	for (int r = 0; r < n && !rc; r++)
		pthread_create(&th[r], NULL, coll_thread, &rk[r]);
	for (int r = 0; r < n && !rc; r++)
		pthread_join(th[r], NULL);
	got = malloc((size_t)rn * sizeof(float));
	for (int r = 0; r < n && !rc; r++) {
		if (rk[r].rc || rk[r].rank_seen != r || rk[r].size_seen != n) {
			tap_diag("rank %d: rc %d, rank() %d, size() %d", r, rk[r].rc,
				 rk[r].rank_seen, rk[r].size_seen);
			pass = 0;
			continue;
		}
		if (which == COLL_BARRIER)
			continue;
		if (be->download(devs[r], got, rk[r].recv, rn)) {
			pass = 0;
			continue;
		}
		for (int64_t i = 0; i < rn; i++) {
			float e = coll_expect(which, send, recv0, n, r, n - 1, count, i);

			if (!isfinite(got[i]))
				pass = 0;
			num += ((double)got[i] - e) * ((double)got[i] - e);
			den += (double)e * e;
		}
	}
	if (den > 0 && sqrt(num / den) > tol)
		pass = 0;
	ok(pass && !rc, "%s %s over %d GPU(s), count %lld: rel err %.1e (bound %.0e)", oc->tag,
	   coll_names[which], n, (long long)count, den > 0 ? sqrt(num / den) : 0.0, tol);
	if (!(pass && !rc))
		oc->failed++;
	for (int r = 0; r < n; r++) {
		be->free(devs[r], rk[r].send);
		be->free(devs[r], rk[r].recv);
		free(send[r]);
		free(recv0[r]);
	}
	free(got);
}

static void run_coll_cases(struct oc *oc)
{
	const struct ts_backend_ops *be = oc->side[1].be_ops;
	int count = be->device_count(oc->side[1].be);
	struct ts_dev *devs[16];
	int sizes[2] = { 1, count > 16 ? 16 : count };

	for (int k = 0; k < (sizes[1] > 1 ? 2 : 1); k++) {
		int n = sizes[k];
		struct ts_comm *comm = NULL;
		size_t bytes = 0;
		int rc;

		for (int r = 0; r < n; r++)
			devs[r] = be->device(oc->side[1].be, r);
		rc = be->comm_create(oc->side[1].be, devs, n, &comm, &bytes);
		if (!ok(rc == 0, "%s comm_create over %d GPU(s) (%zu bytes estimated)", oc->tag, n,
			bytes)) {
			oc->failed++;
			continue;
		}
		for (int which = 0; which < COLL_N_; which++)
			coll_case(oc, comm, devs, n, which, oc_int(1, 5000));
		be->comm_destroy(comm);
	}
}

#endif /* TS_TESTS_GPU_COLLCHECK_H */
