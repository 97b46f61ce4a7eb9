// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_coll.c - shared-memory collectives on 1, 2, 3, 4 and 8
 * virtual devices, run SPMD through ts_backend_run_spmd: all-to-all,
 * all-gather (also in place), broadcast from every root, all-reduce, barrier,
 * rank/size, ranks disagreeing on a count, and the SPMD runner's own checks.
 */
#include <pthread.h>

#include "backend.h"
#include "optest.h"

struct coll_arg {
	struct ts_comm *comm;
	int64_t count;
	int n;
	int bad_rank; /* this rank asks for count + 1 (mismatch test), or -1 */
	int fails;    /* ranks whose check failed (atomic) */
	int ret_seen[8];
};

/* Value element e of rank r's send chunk j holds: unique per (r, j, e). */
static float tag(int r, int j, int64_t e)
{
	return (float)(r * 1000000 + j * 10000 + e);
}

static int spmd_all(struct ts_dev *dev, int rank, void *p)
{
	struct coll_arg *a = p;
	const struct ts_coll_ops *co = &ts_cpu_coll_ops;
	int n = a->n, bad = 0;
	int64_t cnt = a->count;
	float *send = optest_poison(n * cnt), *recv = optest_poison(n * cnt);
	float *buf = optest_poison(cnt > 0 ? cnt : 1);

	bad |= co->rank(a->comm) != rank || co->size(a->comm) != n;
	/* all-to-all: chunk j of rank r's send lands in chunk r of rank j's recv */
	for (int j = 0; j < n; j++)
		for (int64_t e = 0; e < cnt; e++)
			send[j * cnt + e] = tag(rank, j, e);
	bad |= co->all_to_all(a->comm, send, recv, cnt) != 0;
	for (int j = 0; j < n; j++)
		for (int64_t e = 0; e < cnt; e++)
			bad |= recv[j * cnt + e] != tag(j, rank, e);
	/* all-gather, then in place (send is this rank's own chunk of recv) */
	for (int64_t e = 0; e < n * cnt; e++)
		recv[e] = NAN;
	bad |= co->all_gather(a->comm, send, recv, cnt) != 0;
	for (int j = 0; j < n; j++)
		for (int64_t e = 0; e < cnt; e++)
			bad |= recv[j * cnt + e] != tag(j, 0, e);
	for (int64_t e = 0; e < n * cnt; e++)
		recv[e] = e / (cnt ? cnt : 1) == rank ? tag(rank, 5, e % cnt) : NAN;
	bad |= co->all_gather(a->comm, recv + rank * cnt, recv, cnt) != 0;
	for (int j = 0; j < n; j++)
		for (int64_t e = 0; e < cnt; e++)
			bad |= recv[j * cnt + e] != tag(j, 5, e);
	/* broadcast from every root */
	for (int root = 0; root < n; root++) {
		for (int64_t e = 0; e < cnt; e++)
			buf[e] = rank == root ? tag(root, 7, e) : NAN;
		bad |= co->broadcast(a->comm, buf, cnt, root) != 0;
		for (int64_t e = 0; e < cnt; e++)
			bad |= buf[e] != tag(root, 7, e);
	}
	/* all-reduce: small integers, so the float sum is exact */
	for (int64_t e = 0; e < cnt; e++)
		buf[e] = (float)(rank + 1) * (float)(e % 7);
	bad |= co->all_reduce_sum(a->comm, buf, cnt) != 0;
	for (int64_t e = 0; e < cnt; e++)
		bad |= buf[e] != (float)(n * (n + 1) / 2) * (float)(e % 7);
	bad |= co->barrier(a->comm) != 0;
	/* ranks disagreeing on the count: every rank is told, nobody hangs */
	if (a->bad_rank >= 0) {
		int r = co->all_gather(a->comm, send, recv, rank == a->bad_rank ? cnt - 1 : cnt);

		a->ret_seen[rank] = r;
		bad |= co->barrier(a->comm) != 0;
	}
	if (bad)
		__atomic_fetch_add(&a->fails, 1, __ATOMIC_RELAXED);
	free(buf);
	free(recv);
	free(send);
	return bad ? TS_ECOMM : 0;
}

static void test_group(struct ts_cpu_backend *be, int n)
{
	struct ts_dev *devs[8];
	struct coll_arg a = { .n = n, .count = optest_int(1, 3000), .bad_rank = -1 };
	int ret, all_ecomm = 1;

	for (int i = 0; i < n; i++)
		devs[i] = (struct ts_dev *)be->devs[i];
	if (!ok(ts_cpu_backend_ops.comm_create(NULL, devs, n, &a.comm, NULL) == 0,
		"communicator over %d devices", n))
		return;
	ret = ts_backend_run_spmd(devs, n, spmd_all, &a);
	ok(ret == 0 && a.fails == 0, "%d ranks: all_to_all, all_gather, broadcast, all_reduce_sum, "
	   "barrier on %lld elements (%d ranks failed)", n, (long long)a.count, a.fails);
	if (n > 1) {
		a.bad_rank = n - 1;
		ret = ts_backend_run_spmd(devs, n, spmd_all, &a);
		for (int i = 0; i < n; i++)
			all_ecomm &= a.ret_seen[i] == TS_ECOMM;
		ok(all_ecomm, "%d ranks: one rank's other count fails every rank with ECOMM", n);
	}
	ts_cpu_backend_ops.comm_destroy(a.comm);
}

struct stress_arg {
	struct ts_comm *comm;
	int n, iters, fails;
	int64_t counts[64];
};

/* Back-to-back all-to-alls of changing sizes: a rank running ahead must not corrupt a slow one. */
static int spmd_stress(struct ts_dev *dev, int rank, void *p)
{
	struct stress_arg *a = p;
	float *send = optest_poison(a->n * 700), *recv = optest_poison(a->n * 700);
	int bad = 0;

	/* Stop at the first failure: the job's error then releases the peers. */
	for (int it = 0; it < a->iters && !bad; it++) {
		int64_t cnt = a->counts[it % 64];

		for (int j = 0; j < a->n; j++)
			for (int64_t e = 0; e < cnt; e++)
				send[j * cnt + e] = tag(rank, j, e) + (float)it;
		bad |= ts_cpu_coll_ops.all_to_all(a->comm, send, recv, cnt) != 0;
		for (int j = 0; j < a->n; j++)
			for (int64_t e = 0; e < cnt; e++)
				bad |= recv[j * cnt + e] != tag(j, rank, e) + (float)it;
	}
	if (bad)
		__atomic_fetch_add(&a->fails, 1, __ATOMIC_RELAXED);
	free(recv);
	free(send);
	return bad ? TS_ECOMM : 0;
}

static void test_stress(struct ts_cpu_backend *be)
{
	struct ts_dev *devs[3] = { (struct ts_dev *)be->devs[5], (struct ts_dev *)be->devs[2],
				   (struct ts_dev *)be->devs[7] };
	struct stress_arg a = { .n = 3, .iters = 300 };

	for (int i = 0; i < 64; i++)
		a.counts[i] = optest_int(0, 700);
	if (ts_cpu_backend_ops.comm_create(NULL, devs, 3, &a.comm, NULL))
		return;
	ok(ts_backend_run_spmd(devs, 3, spmd_stress, &a) == 0 && a.fails == 0,
	   "300 back-to-back all_to_alls of changing sizes on 3 ranks stay exact");
	ts_cpu_backend_ops.comm_destroy(a.comm);
}

struct fail_arg {
	struct ts_comm *comm;
	int fail_rank;
	int ret[8];
};

/* The failing rank leaves before the collective its peers wait in. */
static int spmd_fail(struct ts_dev *dev, int rank, void *p)
{
	struct fail_arg *a = p;
	float send[8 * 4] = { 0 }, recv[8 * 4];

	if (rank == a->fail_rank)
		return TS_EDEVICE;
	if (rank == -a->fail_rank - 2)
		return 0; /* skips the collective its peers make */
	a->ret[rank] = ts_cpu_coll_ops.all_to_all(a->comm, send, recv, 4);
	if (!a->ret[rank])
		a->ret[rank] = ts_cpu_coll_ops.barrier(a->comm);
	return a->ret[rank];
}

struct bound_arg {
	struct ts_comm *comm;
	struct ts_dev *dev[8];
	int n, next, fails;
};

static void *bound_rank(void *p)
{
	struct bound_arg *b = p;
	int r = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);

	if (ts_cpu_backend_ops.bind_thread(b->dev[r]) || ts_cpu_coll_ops.barrier(b->comm) ||
	    ts_cpu_coll_ops.rank(b->comm) != r)
		__atomic_fetch_add(&b->fails, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void test_failed_rank(struct ts_cpu_backend *be, int n, int fail_rank)
{
	struct ts_dev *devs[8];
	struct fail_arg a = { .fail_rank = fail_rank };
	int ret, peers_ecomm = 1;

	for (int i = 0; i < n; i++)
		devs[i] = (struct ts_dev *)be->devs[i];
	if (ts_cpu_backend_ops.comm_create(NULL, devs, n, &a.comm, NULL))
		return;
	ret = ts_backend_run_spmd(devs, n, spmd_fail, &a);
	for (int i = 0; i < n; i++)
		peers_ecomm &= i == fail_rank || a.ret[i] == TS_ECOMM;
	ok(ret == TS_EDEVICE && peers_ecomm, "%d ranks, rank %d fails before a collective: peers "
	   "get ECOMM instead of hanging, run_spmd says EDEVICE", n, fail_rank);
	a.fail_rank = -1;
	ret = ts_backend_run_spmd(devs, n, spmd_fail, &a);
	ok(ret == 0, "the next run on the same group works again");
	a.fail_rank = -fail_rank - 2;
	ret = ts_backend_run_spmd(devs, n, spmd_fail, &a);
	ok(ret == TS_ECOMM, "a rank returning without the collective its peers make: they get "
	   "ECOMM, not a hang");
	{
		/* Threads bound to the devices (not their workers) ignore the jobs' marks. */
		struct bound_arg b = { .comm = a.comm, .n = n };
		pthread_t tid[8];

		for (int i = 0; i < n; i++) {
			b.dev[i] = devs[i];
			pthread_create(&tid[i], NULL, bound_rank, &b);
		}
		for (int i = 0; i < n; i++)
			pthread_join(tid[i], NULL);
		ok(b.fails == 0, "threads given the devices with bind_thread run a barrier");
	}
	ts_cpu_backend_ops.comm_destroy(a.comm);
}

static int spmd_rank_check(struct ts_dev *dev, int rank, void *p)
{
	struct ts_dev **order = p;

	if (order[rank] != dev || ts_cpu_current() != ts_cpu_dev(dev))
		return TS_EINVAL;
	return rank == 2 ? TS_ERANGE : rank == 3 ? TS_EIO : 0;
}

static void test_spmd(struct ts_cpu_backend *be)
{
	struct ts_dev *devs[4] = { (struct ts_dev *)be->devs[3], (struct ts_dev *)be->devs[1],
				   (struct ts_dev *)be->devs[0], (struct ts_dev *)be->devs[2] };
	struct ts_comm *comm;

	ok(ts_backend_run_spmd(devs, 4, spmd_rank_check, devs) == TS_ERANGE,
	   "run_spmd runs each rank on its device's worker and returns the first error by rank");
	devs[1] = devs[0];
	ok(ts_backend_run_spmd(devs, 4, spmd_rank_check, devs) == TS_EINVAL,
	   "run_spmd refuses a device listed twice");
	ok(ts_cpu_backend_ops.comm_create(NULL, devs, 4, &comm, NULL) == TS_EINVAL,
	   "comm_create refuses a device listed twice");
}

int main(void)
{
	static const int sizes[] = { 1, 2, 3, 4, 8 };
	struct ts_cpu_backend *be;

	optest_seed();
	be = optest_backend(8, 1);
	if (!ok(be != NULL, "CPU backend with 8 virtual devices"))
		return tap_done();
	for (int i = 0; i < 5; i++)
		test_group(be, sizes[i]);
	test_spmd(be);
	test_stress(be);
	test_failed_rank(be, 2, 1);
	test_failed_rank(be, 3, 0);
	test_failed_rank(be, 8, 5);
	optest_backend_free(be);
	return tap_done();
}
