// SPDX-License-Identifier: MIT
/*
 * core/cpu/devmem.c - device memory of a CPU virtual device: a caching
 * allocator.
 *
 * Why: glibc hands blocks above its mmap threshold back to the OS on free,
 * so a model that allocates and frees the same activations layer after layer
 * (a VAE decode) page-faults on every byte again: about 10% of a decode's
 * CPU time. Freed blocks are kept instead, in one free list per size class,
 * and the next allocation of that class takes one back without a fault.
 * An allocation that finds none first gives back cached blocks of at least
 * its size, longest unused first, so caching never raises the memory the
 * device holds above the most it had in use at once (the pattern of the
 * pool modules/vae3d kept before this).
 *
 * Size classes (the block's whole size, its 64-byte header included):
 * multiples of 64 bytes up to 4 KiB, then CPU_MEM_STEPS (32) classes per
 * power of two, so a block is at most 3.2% larger than asked for (a block
 * reused by a smaller request keeps the pages its first user touched).
 *
 * Accounting stays what it was: mem_used is the bytes the callers asked for
 * and still hold, and an allocation that would take it past mem_cap fails.
 * Cached blocks are not in use, but they are memory: whenever the blocks
 * held (in use and cached) would pass mem_cap with a fresh one, more cached
 * blocks are given back first, so the cache never pushes the device past its
 * share. ts_cpu_mem_trim gives all of them back.
 *
 * Under AddressSanitizer cached blocks are poisoned, so a use after free of
 * device memory is still reported though the block was never freed.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MEM_ASAN 1
#define MEM_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define MEM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define MEM_ASAN 0
#define MEM_POISON(p, n) ((void)(p), (void)(n))
#define MEM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A 64-byte header in front of each block; the payload stays 64-byte aligned. */
#define CPU_HDR 64
#define CPU_SMALL 4096 /* classes in steps of 64 bytes up to here */
/* Larger requests are refused, which keeps every class size below SIZE_MAX. */
#define CPU_MAX_BYTES (SIZE_MAX >> 2)

struct ts_cpu_blk {
	size_t bytes; /* asked for: what mem_used counts */
	size_t size;  /* the whole block: its class size */
	/* While cached: its class's free list, and the device's list oldest freed first. */
	struct ts_cpu_blk *cprev, *cnext, *lprev, *lnext;
	int cls;
};

_Static_assert(sizeof(struct ts_cpu_blk) <= CPU_HDR, "block header larger than CPU_HDR");
_Static_assert(CPU_MEM_CLASSES == CPU_SMALL / 64 + CPU_MEM_STEPS * 52, "CPU_MEM_CLASSES");
_Static_assert(CPU_MEM_STEPS == 32, "size_class() assumes 32 classes per power of two");

/* The class of a block of @total bytes: its index in *@cls, its size returned. */
static size_t size_class(size_t total, int *cls)
{
	size_t step, m;
	int k;

	if (total <= CPU_SMALL) {
		m = (total + 63) / 64;
		*cls = (int)m - 1;
		return m * 64;
	}
	k = 63 - __builtin_clzll((unsigned long long)(total - 1)); /* 2^k < total <= 2^(k+1) */
	step = (size_t)1 << (k - 5);
	m = (total + step - 1) / step; /* 33 .. 64 */
	*cls = CPU_SMALL / 64 + (k - 12) * CPU_MEM_STEPS + (int)(m - 33);
	return m * step;
}

static void *payload(struct ts_cpu_blk *b)
{
	return (char *)b + CPU_HDR;
}

/* Zeros where the caller may look: the old allocator's 64-byte rounding. */
static size_t visible(size_t bytes)
{
	return (bytes + 63) & ~(size_t)63;
}

/*
 * Blocks of CPU_MAP_MIN bytes and more are mapped directly: given back to
 * glibc they stayed in its heap (its mmap threshold grows as blocks are
 * freed), and a decode's peak RSS was 85 MiB (6%) higher than without the
 * cache; unmapped, they leave at once. Under ASan everything comes from
 * malloc, so LeakSanitizer still reports device memory a test leaks.
 */
#define CPU_MAP_MIN ((size_t)128 << 10)

static struct ts_cpu_blk *blk_new(size_t size)
{
	void *p;

	if (!MEM_ASAN && size >= CPU_MAP_MIN) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	return aligned_alloc(64, size);
}

static void blk_release(struct ts_cpu_blk *b)
{
	MEM_UNPOISON(payload(b), b->size - CPU_HDR);
	if (!MEM_ASAN && b->size >= CPU_MAP_MIN)
		munmap(b, b->size);
	else
		free(b);
}

/* Into the cache: first in its class's list (taken first), last in age order. */
static void cache_push(struct ts_cpu_dev *d, struct ts_cpu_blk *b)
{
	b->cprev = NULL;
	b->cnext = d->mem_free[b->cls];
	if (b->cnext)
		b->cnext->cprev = b;
	d->mem_free[b->cls] = b;
	b->lnext = NULL;
	b->lprev = d->mem_newest;
	if (b->lprev)
		b->lprev->lnext = b;
	else
		d->mem_oldest = b;
	d->mem_newest = b;
	d->mem_cached += b->size;
}

static void cache_unlink(struct ts_cpu_dev *d, struct ts_cpu_blk *b)
{
	if (b->cprev)
		b->cprev->cnext = b->cnext;
	else
		d->mem_free[b->cls] = b->cnext;
	if (b->cnext)
		b->cnext->cprev = b->cprev;
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		d->mem_oldest = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else
		d->mem_newest = b->lprev;
	d->mem_cached -= b->size;
}

/* Give back cached blocks, longest unused first, until @want bytes are released or none are left. */
static size_t release_oldest(struct ts_cpu_dev *d, size_t want)
{
	size_t freed = 0;

	while (d->mem_oldest && freed < want) {
		struct ts_cpu_blk *b = d->mem_oldest;

		cache_unlink(d, b);
		d->mem_held -= b->size;
		freed += b->size;
		blk_release(b);
	}
	return freed;
}

size_t ts_cpu_mem_trim(struct ts_cpu_dev *d)
{
	size_t freed;

	pthread_mutex_lock(&d->mem_lock);
	freed = release_oldest(d, SIZE_MAX);
	pthread_mutex_unlock(&d->mem_lock);
	return freed;
}

/*
 * A block of class @cls: a cached one, else a fresh one. Before a fresh one,
 * cached blocks of at least its size are given back, longest unused first,
 * and more if the device would hold more than its share: so the memory the
 * device holds never passes the most it ever had in use at once (in class
 * sizes) or its share, whichever is larger; the cache only saves faults.
 */
static struct ts_cpu_blk *blk_get(struct ts_cpu_dev *d, size_t size, int cls)
{
	struct ts_cpu_blk *b = d->mem_free[cls];
	size_t want = size;

	if (b) {
		cache_unlink(d, b);
		d->mem_reused++;
		return b;
	}
	if (d->mem_held + size > d->mem_cap && d->mem_held + size - d->mem_cap > want)
		want = d->mem_held + size - d->mem_cap;
	release_oldest(d, want);
	b = blk_new(size);
	if (!b && d->mem_cached) {
		release_oldest(d, SIZE_MAX); /* the system may fit it once the cache is gone */
		b = blk_new(size);
	}
	if (!b)
		return NULL;
	d->mem_held += size;
	d->mem_fresh++;
	b->size = size;
	b->cls = cls;
	return b;
}

void *ts_cpu_alloc_bytes(struct ts_dev *dev, size_t bytes)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);
	struct ts_cpu_blk *b = NULL;
	size_t size;
	int cls;

	if (bytes > CPU_MAX_BYTES)
		goto fail;
	size = size_class(bytes + CPU_HDR, &cls);
	pthread_mutex_lock(&d->mem_lock);
	if (atomic_load(&d->mem_used) + bytes <= d->mem_cap)
		b = blk_get(d, size, cls);
	if (b) {
		b->bytes = bytes;
		atomic_fetch_add(&d->mem_used, bytes);
	}
	pthread_mutex_unlock(&d->mem_lock);
	if (!b)
		goto fail;
	MEM_UNPOISON(payload(b), visible(bytes));
	return payload(b);

fail:
	ts_err("cpu", "device %d: cannot allocate %zu bytes (%zu of %zu bytes in use)",
	       d->base.index, bytes, atomic_load(&d->mem_used), d->mem_cap);
	return NULL;
}

void *ts_cpu_alloc(struct ts_dev *dev, size_t elems)
{
	if (elems > CPU_MAX_BYTES / sizeof(float)) {
		ts_err("cpu", "device %d: cannot allocate %zu elements", ts_dev_base(dev)->index,
		       elems);
		return NULL;
	}
	return ts_cpu_alloc_bytes(dev, elems * sizeof(float));
}

void ts_cpu_free(struct ts_dev *dev, void *p)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);
	struct ts_cpu_blk *b;

	if (!p)
		return;
	b = (struct ts_cpu_blk *)(void *)((char *)p - CPU_HDR);
	MEM_POISON(p, b->size - CPU_HDR);
	pthread_mutex_lock(&d->mem_lock);
	atomic_fetch_sub(&d->mem_used, b->bytes);
	cache_push(d, b);
	pthread_mutex_unlock(&d->mem_lock);
}
