// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_ops_noalloc.c - no op allocates per call. The binary is
 * linked with --wrap for malloc, calloc, realloc and aligned_alloc, so every
 * allocation made by the core's code (linked statically) is counted. Each op
 * and collective runs once to warm the arenas, then again with the counter
 * armed: the second pass must allocate nothing.
 */
#include <stdatomic.h>

#include "backend.h"
#include "optest.h"

static atomic_int armed;
static atomic_long allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);

static void count(void)
{
	if (atomic_load(&armed))
		atomic_fetch_add(&allocs, 1);
}

void *__wrap_malloc(size_t n)
{
	count();
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	count();
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	count();
	return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
	count();
	return __real_aligned_alloc(a, n);
}

#define N 4096

struct bufs {
	float *x, *y, *z, *w, *qkv, *o;
	uint8_t mask[64];
	int64_t ids[8];
};

/* Every op of the table once, DiT-like shapes scaled down; returns the first error. */
static int all_ops(struct ts_dev *dev, struct bufs *b)
{
	const struct ts_ops *o = &ts_cpu_ops;
	struct ts_gemm g = { .trans_b = 1, .m = 64, .n = 48, .k = 40, .a = b->x, .lda = 40,
			     .b = b->w, .ldb = 40, .c = b->y, .ldc = 48, .bias = b->z, .alpha = 1,
			     .act = TS_ACT_GELU_TANH };
	struct ts_attention a = { .batch = 1, .heads = 2, .q_len = 64, .kv_len = 64,
				  .head_dim = 8, .q = b->qkv, .k = b->qkv + 16, .v = b->qkv + 32,
				  .o = b->o, .q_tok = 48, .k_tok = 48, .v_tok = 48, .o_tok = 16,
				  .key_mask = b->mask, .scale = 0.35f };
	struct ts_conv c = { .n = 1, .c_in = 3, .c_out = 4, .t = 3, .h = 9, .w = 7, .kt = 3,
			     .kh = 3, .kw = 3, .st = 1, .sh = 1, .sw = 1, .pad_t_front = 2,
			     .pad_h = 1, .pad_w = 1, .x = b->x, .weight = b->w, .bias = b->z,
			     .y = b->y };
	int64_t shape[3] = { 4, 8, 16 };
	int perm[3] = { 2, 0, 1 }, ret = 0;

	ret = ret ? ret : o->gemm(dev, &g);
	ret = ret ? ret : o->attention(dev, &a);
	ret = ret ? ret : o->conv(dev, &c);
	ret = ret ? ret : o->layer_norm(dev, b->y, b->x, b->w, b->z, 16, 64, 1e-6f);
	ret = ret ? ret : o->rms_norm(dev, b->y, b->x, b->w, 16, 64, 1e-6f);
	ret = ret ? ret : o->group_norm(dev, b->y, b->x, b->w, b->z, 2, 8, 50, 4, 1e-6f);
	ret = ret ? ret : o->layer_norm_modulate(dev, b->y, b->x, b->z, b->z + 64, 2, 8, 64, 384,
						 1e-6f);
	ret = ret ? ret : o->gated_residual(dev, b->y, b->x, b->z, 2, 8, 64, 384);
	ret = ret ? ret : o->activation(dev, b->y, b->x, N, TS_ACT_SILU);
	ret = ret ? ret : o->softmax(dev, b->y, b->x, 16, 100);
	ret = ret ? ret : o->rope(dev, b->y, b->z, 4, 2, 8, 2, 8, 16, 128);
	ret = ret ? ret : o->upsample_nearest(dev, b->y, b->x, 1, 2, 1, 8, 8, 1, 2, 2);
	ret = ret ? ret : o->embedding(dev, b->y, b->w, 10, 16, b->ids, 8);
	ret = ret ? ret : o->add(dev, b->y, b->x, b->z, N);
	ret = ret ? ret : o->mul(dev, b->y, b->x, b->z, N);
	ret = ret ? ret : o->axpby(dev, b->y, 0.5f, b->x, 0.25f, N);
	ret = ret ? ret : o->add_row(dev, b->y, b->x, b->z, 8, 400);
	ret = ret ? ret : o->permute(dev, b->y, b->x, 3, shape, perm);
	ret = ret ? ret : o->copy2d(dev, b->y, 64, b->x, 80, 20, 50);
	ret = ret ? ret : o->fill(dev, b->y, 1.0f, N);
	return ret;
}

struct coll_run {
	struct ts_comm *comm;
	float *buf[3], *out[3];
};

static int all_colls(struct ts_dev *dev, int rank, void *p)
{
	struct coll_run *c = p;
	const struct ts_coll_ops *co = &ts_cpu_coll_ops;
	int ret = co->all_to_all(c->comm, c->buf[rank], c->out[rank], 100);

	ret = ret ? ret : co->all_gather(c->comm, c->buf[rank], c->out[rank], 100);
	ret = ret ? ret : co->broadcast(c->comm, c->buf[rank], 300, 1);
	ret = ret ? ret : co->all_reduce_sum(c->comm, c->buf[rank], 300);
	return ret ? ret : co->barrier(c->comm);
}

int main(void)
{
	struct ts_cpu_backend *be;
	struct ts_dev *devs[3];
	struct coll_run cr = { 0 };
	struct bufs b;
	int r1, r2;

	optest_seed();
	be = optest_backend(3, 2);
	if (!ok(be != NULL, "CPU backend with 3 devices"))
		return tap_done();
	b = (struct bufs){ .x = optest_rand(N, 1), .y = optest_rand(N, 1),
			   .z = optest_rand(N, 1), .w = optest_rand(N, 1),
			   .qkv = optest_rand(N, 1), .o = optest_rand(N, 1) };
	/* The counter must see the core's own allocations, or the checks below prove nothing. */
	atomic_store(&armed, 1);
	ts_cpu_backend_ops.free((struct ts_dev *)be->devs[0],
				ts_cpu_backend_ops.alloc((struct ts_dev *)be->devs[0], 16));
	atomic_store(&armed, 0);
	ok(atomic_load(&allocs) == 1, "the wrapped allocator counts the core's allocations");
	atomic_store(&allocs, 0);
	for (int i = 0; i < 64; i++)
		b.mask[i] = i % 3 != 0;
	for (int i = 0; i < 8; i++)
		b.ids[i] = i;
	r1 = all_ops((struct ts_dev *)be->devs[0], &b);
	atomic_store(&armed, 1);
	r2 = all_ops((struct ts_dev *)be->devs[0], &b);
	atomic_store(&armed, 0);
	ok(r1 == 0 && r2 == 0, "every op of the table runs");
	ok(atomic_load(&allocs) == 0,
	   "the second pass over all 20 ops allocated nothing (%ld calls)", atomic_load(&allocs));

	for (int i = 0; i < 3; i++) {
		devs[i] = (struct ts_dev *)be->devs[i];
		cr.buf[i] = optest_rand(300, 1);
		cr.out[i] = optest_rand(300, 1);
	}
	ts_cpu_backend_ops.comm_create(NULL, devs, 3, &cr.comm, NULL);
	r1 = ts_backend_run_spmd(devs, 3, all_colls, &cr);
	atomic_store(&allocs, 0);
	atomic_store(&armed, 1);
	r2 = ts_backend_run_spmd(devs, 3, all_colls, &cr);
	atomic_store(&armed, 0);
	ok(r1 == 0 && r2 == 0 && atomic_load(&allocs) == 0,
	   "run_spmd and every collective allocate nothing once warm (%ld calls)",
	   atomic_load(&allocs));
	ts_cpu_backend_ops.comm_destroy(cr.comm);
	for (int i = 0; i < 3; i++) {
		free(cr.out[i]);
		free(cr.buf[i]);
	}
	free(b.o);
	free(b.qkv);
	free(b.w);
	free(b.z);
	free(b.y);
	free(b.x);
	optest_backend_free(be);
	return tap_done();
}
