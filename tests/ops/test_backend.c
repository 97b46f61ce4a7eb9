// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_backend.c - the backend registry (built-in cpu, registered
 * backends, cuda.so through dlopen with its ABI checks), the CPU backend's
 * transfers and memory accounting, and ops running concurrently on several
 * virtual devices (OpenBLAS called from many threads at once).
 */
#include <limits.h>
#include <pthread.h>
#include <unistd.h>

#include "backend.h"
#include "optest.h"

static int other_create(const struct ts_host *host, int n, struct ts_backend **out)
{
	return TS_ENOTSUP;
}

static void other_destroy(struct ts_backend *be)
{
}

static int other_count(struct ts_backend *be)
{
	return 0;
}

static struct ts_dev *other_device(struct ts_backend *be, int i)
{
	return NULL;
}

/* Devices of the "other" backend, to drive run_spmd's thread-per-device path. */
struct other_dev {
	struct ts_dev_base base;
	pthread_t bound_to;
	int bound;
};

static int other_bind(struct ts_dev *dev)
{
	struct other_dev *d = (struct other_dev *)(void *)dev;

	d->bound_to = pthread_self();
	d->bound = 1;
	return 0;
}

static const struct ts_backend_ops other_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "other",
	.create = other_create,
	.destroy = other_destroy,
	.device_count = other_count,
	.device = other_device,
	.bind_thread = other_bind,
};

static int other_rank(struct ts_dev *dev, int rank, void *p)
{
	struct other_dev *d = (struct other_dev *)(void *)dev;

	if (!d->bound || !pthread_equal(d->bound_to, pthread_self()) || d->base.index != rank)
		return TS_EINVAL;
	return rank == 1 ? TS_EDEVICE : 0;
}

static void test_spmd_threads(void)
{
	struct other_dev devs[3];
	struct ts_dev *list[3];

	for (int i = 0; i < 3; i++) {
		devs[i] = (struct other_dev){ .base = { .be = &other_ops, .index = i } };
		list[i] = (struct ts_dev *)(void *)&devs[i];
	}
	ok(ts_backend_run_spmd(list, 3, other_rank, NULL) == TS_EDEVICE,
	   "run_spmd on another backend's devices: one bound thread each, rank 1's error back");
}

/* The folder of this test binary: the fake backends are built next to it. */
static void test_dir(char *dir, size_t size, const char *sub)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[len > 0 ? len : 0] = 0;
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = 0;
	snprintf(dir, size, "%s/%s", exe, sub);
}

static void test_registry(void)
{
	const struct ts_backend_ops *ops;
	struct ts_backend *be;
	struct ts_backend_ops bad = other_ops;
	char dir[PATH_MAX + 32];

	ok(ts_backend_find("cpu", &ops) == 0 && ops == &ts_cpu_backend_ops, "cpu is built in");
	ok(ts_backend_find("nope", &ops) == TS_ENOENT, "an unknown name is ENOENT");
	ok(ts_backend_register(&other_ops) == 0 && ts_backend_find("other", &ops) == 0 &&
	   ops == &other_ops, "a registered backend is found by name");
	ok(ts_backend_register(&other_ops) == TS_EEXIST, "registering a name twice is EEXIST");
	bad.name = "bad";
	bad.hdr.major = TS_ABI_MAJOR + 1;
	ok(ts_backend_register(&bad) == TS_EABI, "a table of another ABI major is refused");
	bad.hdr = other_ops.hdr;
	bad.hdr.size = 8;
	ok(ts_backend_register(&bad) == TS_EABI, "a table too small for minor 0 is refused");

	ts_backend_set_dir("/nonexistent");
	ok(ts_backend_find("cuda", &ops) == TS_ENODEV, "cuda without backends/cuda.so is ENODEV");
	test_dir(dir, sizeof(dir), "fake-bad");
	ts_backend_set_dir(dir);
	ok(ts_backend_find("cuda", &ops) == TS_EABI, "a cuda.so with the wrong magic is refused");
	test_dir(dir, sizeof(dir), "fake");
	ts_backend_set_dir(dir);
	ok(ts_backend_find("cuda", &ops) == 0 && !strcmp(ops->name, "cuda"),
	   "cuda is loaded from <dir>/backends/cuda.so");
	ok(ts_backend_open("cuda", NULL, 1, 0, &ops, &be) == TS_ENODEV,
	   "its create's error comes back from ts_backend_open");
	ok(ts_backend_open("cpu", NULL, 2, 1, &ops, &be) == 0 && ops->device_count(be) == 2,
	   "ts_backend_open(cpu, 2 devices)");
	ops->destroy(be);
	ok(ts_backend_open("cpu", NULL, 0, 0, &ops, &be) == TS_EINVAL, "zero devices is refused");
	ts_backend_unload_all();
	ts_backend_set_dir(NULL);
	ok(ts_backend_find("other", &ops) == TS_ENOENT, "unload_all forgets registered backends");
}

static uint16_t to_half(float f)
{
	/* Exact for the values used below (small integers and halves). */
	uint32_t b;
	int e;

	memcpy(&b, &f, sizeof(b));
	if (f == 0)
		return (uint16_t)(b >> 16);
	e = (int)((b >> 23) & 255) - 127 + 15;
	return (uint16_t)((b >> 16 & 0x8000) | e << 10 | (b >> 13 & 1023));
}

static void test_transfers(struct ts_cpu_backend *be)
{
	const struct ts_backend_ops *o = &ts_cpu_backend_ops;
	struct ts_dev *dev = (struct ts_dev *)be->devs[0];
	float vals[6] = { 0, 1.5f, -2, 3.25f, -0.5f, 1024 }, got[6];
	uint16_t h[6], bf[6];
	double d[6];
	int64_t i64[6];
	int32_t i32[6];
	float *buf = o->alloc(dev, 6);
	size_t used = atomic_load(&be->devs[0]->mem_used);
	int good = 1;

	ok(buf && used >= 6 * sizeof(float), "alloc counts device memory (%zu bytes)", used);
	for (int i = 0; i < 6; i++) {
		uint32_t b;

		memcpy(&b, &vals[i], sizeof(b));
		h[i] = to_half(vals[i]);
		bf[i] = (uint16_t)(b >> 16);
		d[i] = vals[i];
		i64[i] = (int64_t)vals[i];
		i32[i] = (int32_t)vals[i];
	}
	good &= o->upload(dev, buf, h, TS_F16, 6) == 0 && o->download(dev, got, buf, 6) == 0 &&
		!memcmp(got, vals, sizeof(got));
	good &= o->upload(dev, buf, bf, TS_BF16, 6) == 0 && o->download(dev, got, buf, 6) == 0 &&
		!memcmp(got, vals, sizeof(got));
	good &= o->upload(dev, buf, d, TS_F64, 6) == 0 && o->download(dev, got, buf, 6) == 0 &&
		!memcmp(got, vals, sizeof(got));
	ok(good, "upload converts F16, BF16 and F64 exactly");
	{
		/* Edge encodings: smallest subnormal, largest subnormal, inf, -inf, 1/3, -0. */
		const uint16_t e[6] = { 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x3555, 0x8000 };
		const float want[6] = { 0x1p-24f, 1023 * 0x1p-24f, INFINITY, -INFINITY,
					0.333251953125f, -0.0f };

		ok(o->upload(dev, buf, e, TS_F16, 6) == 0 && o->download(dev, got, buf, 6) == 0 &&
		   !memcmp(got, want, sizeof(want)), "F16 subnormals, infinities and -0 convert");
	}
	ok(o->upload(dev, buf, i64, TS_I64, 6) == 0 && o->download(dev, got, buf, 6) == 0 &&
	   got[5] == 1024 && got[2] == -2 && o->upload(dev, buf, i32, TS_I32, 6) == 0 &&
	   o->download(dev, got, buf, 6) == 0 && got[3] == 3, "upload converts integers");
	o->free(dev, buf);
	ok(atomic_load(&be->devs[0]->mem_used) == used - 6 * sizeof(float) ||
	   atomic_load(&be->devs[0]->mem_used) == 0, "free returns the memory");
	ok(o->alloc(dev, (size_t)1 << 60) == NULL, "an allocation past the device's memory fails");
}

struct conc_arg {
	int64_t m, n, k;
	float *a[4], *b, *c[4];
};

/* Every rank runs a GEMM big enough to overlap with the others' in OpenBLAS. */
static int conc_rank(struct ts_dev *dev, int rank, void *p)
{
	struct conc_arg *a = p;
	struct ts_gemm g = { .trans_b = 1, .m = a->m, .n = a->n, .k = a->k, .a = a->a[rank],
			     .lda = a->k, .b = a->b, .ldb = a->k, .c = a->c[rank], .ldc = a->n,
			     .alpha = 1 };

	for (int rep = 0; rep < 3; rep++) {
		int ret = ts_cpu_ops.gemm(dev, &g);

		if (ret)
			return ret;
	}
	return 0;
}

static void test_concurrent(struct ts_cpu_backend *be)
{
	struct conc_arg a = { .m = 53, .n = 301, .k = 129 };
	struct ts_dev *devs[4];
	int good = 1;

	a.b = optest_rand(a.n * a.k, 1);
	for (int r = 0; r < 4; r++) {
		devs[r] = (struct ts_dev *)be->devs[r];
		a.a[r] = optest_rand(a.m * a.k, 1);
		a.c[r] = optest_poison(a.m * a.n);
	}
	ok(ts_backend_run_spmd(devs, 4, conc_rank, &a) == 0, "4 devices run GEMMs concurrently");
	for (int r = 0; r < 4; r++) {
		double *ref = optest_dalloc(a.m * a.n);

		for (int64_t i = 0; i < a.m; i++)
			for (int64_t j = 0; j < a.n; j++)
				for (int64_t p = 0; p < a.k; p++)
					ref[i * a.n + j] +=
						(double)a.a[r][i * a.k + p] * a.b[j * a.k + p];
		good &= optest_close("concurrent gemm", a.c[r], ref, a.m * a.n, 4e-5);
		free(ref);
		free(a.c[r]);
		free(a.a[r]);
	}
	ok(good, "each device's result matches the float64 reference");
	free(a.b);
}

/* A group cache may outlive the pool it came from: closing order must not matter. */
static void test_close_order(void)
{
	struct ts_cpu_backend *be = optest_backend(2, 1);
	struct ts_dev *devs[2];
	struct ts_comm *comm;

	if (!be)
		return;
	devs[0] = (struct ts_dev *)be->devs[0];
	devs[1] = (struct ts_dev *)be->devs[1];
	if (!ok(ts_cpu_backend_ops.comm_create(NULL, devs, 2, &comm, NULL) == 0,
		"a communicator over 2 devices"))
		return;
	optest_backend_free(be);
	ts_cpu_backend_ops.comm_destroy(comm);
	ok(1, "destroying a communicator after its backend is safe (ASan checks it)");
}

int main(void)
{
	struct ts_cpu_backend *be;

	optest_seed();
	test_close_order();
	test_registry();
	test_spmd_threads();
	be = optest_backend(4, 2);
	if (!ok(be != NULL, "CPU backend with 4 devices of 2 threads (oversubscribed on purpose)"))
		return tap_done();
	test_transfers(be);
	test_concurrent(be);
	optest_backend_free(be);
	return tap_done();
}
