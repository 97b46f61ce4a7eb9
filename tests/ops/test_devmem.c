// SPDX-License-Identifier: MIT
/*
 * tests/ops/test_devmem.c - the CPU device's caching allocator (devmem.c):
 * freed blocks are reused by their size class, the device's accounting
 * (mem_used) stays exact, its limit holds and the cache never pushes the
 * device past it, trim gives everything back, a block taken again does not
 * page-fault again, and many threads allocating and freeing at once agree
 * on the totals (ASan/UBSan builds check the rest).
 */
#include <pthread.h>
#include <sys/resource.h>

#include "optest.h"

static size_t used(struct ts_cpu_dev *d)
{
	return atomic_load(&d->mem_used);
}

static void test_reuse(struct ts_cpu_dev *d)
{
	struct ts_dev *dev = (struct ts_dev *)d;
	unsigned long fresh = d->mem_fresh, reused = d->mem_reused;
	float *a, *b, *c;
	void *z;

	a = ts_cpu_alloc(dev, 100000);
	ok(a && used(d) == 400000, "alloc: 400000 bytes in use");
	ts_cpu_free(dev, a);
	ok(used(d) == 0 && d->mem_cached >= 400064 && d->mem_cached <= 400064 * 33 / 32,
	   "free: nothing in use, the block cached (%zu bytes)", d->mem_cached);
	b = ts_cpu_alloc(dev, 100000);
	ok(b == a && d->mem_reused == reused + 1 && d->mem_cached == 0,
	   "the same size takes the cached block back");
	ts_cpu_free(dev, b);
	c = ts_cpu_alloc(dev, 99000);
	ok(c == a && used(d) == 396000, "a smaller size of the same class reuses it too, "
	   "counted at its own size");
	ts_cpu_free(dev, c);
	c = ts_cpu_alloc(dev, 200000);
	ok(c && d->mem_fresh == fresh + 2 && used(d) == 800000,
	   "a size of another class gets a fresh block");
	ok(d->mem_cached == 0 && d->mem_held >= 800064 && d->mem_held <= 800064 * 33 / 32,
	   "which first gave the cached block back: held no more than in use (%zu)",
	   d->mem_held);
	z = ts_cpu_alloc_bytes(dev, 0);
	ok(z != NULL && used(d) == 800000, "zero bytes is a valid block");
	ts_cpu_free(dev, c);
	ok(ts_cpu_mem_trim(d) > 800000 && d->mem_cached == 0 && d->mem_held == 64,
	   "trim gives every cached block back (the zero-byte block is still held)");
	ts_cpu_free(dev, z);
	ts_cpu_mem_trim(d);
}

/* A device of 1 MiB: the limit counts bytes in use exactly; cached blocks give way. */
static void test_limit(struct ts_cpu_dev *d)
{
	struct ts_dev *dev = (struct ts_dev *)d;
	size_t cap = d->mem_cap;
	void *a, *b, *c;

	ts_cpu_mem_trim(d);
	d->mem_cap = (size_t)1 << 20;
	a = ts_cpu_alloc_bytes(dev, 600 << 10);
	b = ts_cpu_alloc_bytes(dev, 600 << 10);
	ok(a && !b && used(d) == 600 << 10, "1 MiB device: the second 600 KiB is refused");
	c = ts_cpu_alloc_bytes(dev, (1 << 20) - (600 << 10));
	ok(c && used(d) == 1 << 20, "exactly up to the limit is allowed");
	ts_cpu_free(dev, c);
	ts_cpu_free(dev, a);
	ok(used(d) == 0 && d->mem_cached > 0, "freed blocks are cached");
	b = ts_cpu_alloc_bytes(dev, 900 << 10);
	ok(b && used(d) == 900 << 10, "900 KiB fits once the 600 KiB is freed");
	ok(d->mem_held <= d->mem_cap, "the cache gave way: %zu bytes held, %zu cached",
	   d->mem_held, d->mem_cached);
	ts_cpu_free(dev, b);
	d->mem_cap = cap;
	ts_cpu_mem_trim(d);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* 16 MiB written, freed, taken and written again: the second time costs no page faults. */
static void test_faults(struct ts_cpu_dev *d)
{
	const size_t n = (size_t)4 << 20;
	struct ts_dev *dev = (struct ts_dev *)d;
	float *p = ts_cpu_alloc(dev, n);
	long f0, f1, f2;

	if (!p) {
		ok(0, "16 MiB block");
		return;
	}
	f0 = minor_faults();
	memset(p, 1, n * sizeof(float));
	ts_cpu_free(dev, p);
	f1 = minor_faults();
	p = ts_cpu_alloc(dev, n);
	memset(p, 2, n * sizeof(float));
	f2 = minor_faults();
	ts_cpu_free(dev, p);
	tap_diag("minor faults: %ld writing a fresh block, %ld writing it again", f1 - f0, f2 - f1);
	ok(f2 - f1 < (f1 - f0) / 8 + 16, "a reused block does not fault its pages in again");
	ts_cpu_mem_trim(d);
}

struct churn {
	struct ts_cpu_dev *d;
	int seed, bad;
};

static void *churn_thread(void *p)
{
	struct churn *c = p;
	struct ts_dev *dev = (struct ts_dev *)c->d;
	unsigned s = (unsigned)c->seed;
	float *live[8] = { 0 };
	int64_t n[8] = { 0 };

	for (int i = 0; i < 3000; i++) {
		int k = (int)((s = s * 1103515245u + 12345u) >> 16) % 8;

		if (live[k]) {
			for (int64_t j = 0; j < n[k]; j += 97)
				c->bad |= live[k][j] != (float)k;
			ts_cpu_free(dev, live[k]);
			live[k] = NULL;
		} else {
			n[k] = 1 + (int64_t)((s >> 8) % 50000);
			live[k] = ts_cpu_alloc(dev, (size_t)n[k]);
			c->bad |= !live[k];
			for (int64_t j = 0; live[k] && j < n[k]; j++)
				live[k][j] = (float)k;
		}
	}
	for (int k = 0; k < 8; k++)
		ts_cpu_free(dev, live[k]);
	return NULL;
}

static void test_threads(struct ts_cpu_dev *d)
{
	struct churn c[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ .d = d, .seed = i + 1 };
		pthread_create(&t[i], NULL, churn_thread, &c[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(!c[0].bad && !c[1].bad && !c[2].bad && !c[3].bad,
	   "4 threads allocating and freeing: every block kept its contents");
	ok(used(d) == 0 && d->mem_reused > 0, "all freed, nothing in use (%lu blocks reused)",
	   d->mem_reused);
	ok(d->mem_held == d->mem_cached, "every block held is cached");
	ts_cpu_mem_trim(d);
	ok(d->mem_held == 0 && d->mem_cached == 0, "trim leaves nothing held");
}

int main(void)
{
	struct ts_cpu_backend *be = optest_backend(1, 1);
	struct ts_cpu_dev *d;

	if (!be) {
		ok(0, "CPU backend");
		return tap_done();
	}
	d = be->devs[0];
	test_reuse(d);
	test_limit(d);
	test_faults(d);
	test_threads(d);
	optest_backend_free(be);
	return tap_done();
}
