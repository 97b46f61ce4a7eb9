/* SPDX-License-Identifier: MIT */
/*
 * core/cpu/cpu.h - internals of the CPU backend: virtual devices, their
 * thread teams and scratch arenas, shared-memory communicators.
 *
 * Threading model. A virtual device is one worker thread (which runs SPMD
 * jobs) plus a team of threads_per_device - 1 helpers that split the big ops
 * (GEMM column blocks, attention query tiles, conv column chunks) with it.
 * OpenBLAS is set to one thread for the whole process: its pthreads build has
 * a single global thread count, so N devices calling it concurrently with
 * more than one thread each would oversubscribe the cores. Every sgemm call
 * is therefore single-threaded and the parallelism is ours, bounded by
 * devices x threads_per_device <= cores (the default budget).
 */
#ifndef TS_CORE_CPU_H
#define TS_CORE_CPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <tetri/backend.h>

struct ts_cpu_backend;
struct ts_cpu_blk; /* a block of device memory (devmem.c) */

/* Size classes of the device memory cache (devmem.c). */
#define CPU_MEM_STEPS 32 /* classes per power of two above 4 KiB */
#define CPU_MEM_CLASSES (4096 / 64 + CPU_MEM_STEPS * 52)

/* One parallel-for: fn(arg, task, tid) for task in [0, n_tasks), tid < team size. */
typedef void (*ts_cpu_task_fn)(void *arg, int64_t task, int tid);

struct ts_cpu_team {
	int size; /* threads including the caller */
	pthread_t *helpers;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	uint64_t gen;
	int running; /* helpers still inside the current job */
	int stop;
	ts_cpu_task_fn fn;
	void *arg;
	int64_t n_tasks;
	atomic_llong next;
};

/* The worker's job slot: idle -> pending (submitted) -> done (result kept until waited for). */
enum ts_cpu_job_state { TS_CPU_JOB_IDLE = 0, TS_CPU_JOB_PENDING, TS_CPU_JOB_DONE };

struct ts_cpu_dev {
	struct ts_dev_base base; /* first: the host routes through it */
	struct ts_cpu_backend *be;
	int threads;
	size_t mem_cap;
	atomic_size_t mem_used; /* bytes allocated and not freed, as asked for */

	/*
	 * Caching allocator (devmem.c), under mem_lock: freed blocks by size
	 * class and in the order they were freed; mem_cached their bytes,
	 * mem_held those of every block the device holds (in use or cached);
	 * allocations served from the cache (mem_reused) and from the C
	 * library (mem_fresh).
	 */
	pthread_mutex_t mem_lock;
	struct ts_cpu_blk *mem_free[CPU_MEM_CLASSES];
	struct ts_cpu_blk *mem_oldest, *mem_newest;
	size_t mem_cached, mem_held;
	unsigned long mem_reused, mem_fresh;

	/* SPMD job slot served by the worker thread. */
	pthread_t worker;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*job)(struct ts_dev *dev, int rank, void *arg);
	void *job_arg;
	int job_rank, job_ret, stop;
	enum ts_cpu_job_state job_state;
	/* The last SPMD job returned: peers waiting for it in a collective give up. */
	atomic_int gone;

	struct ts_cpu_team team;

	/* Scratch arena: one block, grown to the high-water mark only. */
	void *scratch;
	size_t scratch_size;
	unsigned long scratch_grows;
};

struct ts_cpu_backend {
	int n;
	struct ts_cpu_dev **devs;
	pthread_mutex_t comm_lock;
	struct ts_comm *comms; /* live communicators, woken when a device fails */
};

extern const struct ts_backend_ops ts_cpu_backend_ops;
extern const struct ts_ops ts_cpu_ops;
extern const struct ts_coll_ops ts_cpu_coll_ops;

/* Open @n_devices virtual devices; @threads_per_device 0 = cores / devices (>= 1). */
int ts_cpu_backend_create(int n_devices, int threads_per_device, struct ts_backend **out);

static inline struct ts_cpu_dev *ts_cpu_dev(struct ts_dev *dev)
{
	return (struct ts_cpu_dev *)(void *)dev;
}

/* 1 when @dev is a device of the CPU backend. */
int ts_cpu_is_dev(const struct ts_dev *dev);

/* The device whose worker (or bound thread) is running the caller, or NULL. */
struct ts_cpu_dev *ts_cpu_current(void);
void ts_cpu_set_current(struct ts_cpu_dev *d);
/* 1 on a device worker while it runs an SPMD job (where the gone marks apply). */
int ts_cpu_in_job(void);

struct ts_cpu_dev *ts_cpu_dev_create(struct ts_cpu_backend *be, int index, int threads,
				     size_t mem_cap);
void ts_cpu_dev_destroy(struct ts_cpu_dev *d);
void *ts_cpu_alloc(struct ts_dev *dev, size_t elems);
void *ts_cpu_alloc_bytes(struct ts_dev *dev, size_t bytes);
void ts_cpu_free(struct ts_dev *dev, void *p);
/* Give every cached block of @d back to the C library; returns the bytes released. */
size_t ts_cpu_mem_trim(struct ts_cpu_dev *d);

int ts_cpu_comm_create(struct ts_backend *be, struct ts_dev *const *devs, int n,
		       struct ts_comm **out, size_t *bytes_out);
void ts_cpu_comm_destroy(struct ts_comm *comm);
/* Forget @be's communicators (closing it first), so destroying them later is safe. */
void ts_cpu_comms_detach(struct ts_cpu_backend *be);
/* Wake every communicator of @be so its waiters notice a member gone. */
void ts_cpu_comms_wake(struct ts_cpu_backend *be);

/*
 * Run @job(dev, rank, arg) on the worker thread of @d; collect with
 * ts_cpu_dev_wait. The caller clears the gone marks of every rank of the
 * group before submitting any (ts_backend_run_spmd does): a rank started
 * while a peer still carries the mark of an earlier run would give up.
 */
int ts_cpu_dev_submit(struct ts_cpu_dev *d, int (*job)(struct ts_dev *, int, void *), int rank,
		      void *arg);
int ts_cpu_dev_wait(struct ts_cpu_dev *d);
/* 1 when no job is pending or running on @d. */
int ts_cpu_dev_idle(struct ts_cpu_dev *d);

int ts_cpu_team_init(struct ts_cpu_team *t, int size);
void ts_cpu_team_fini(struct ts_cpu_team *t);
/* Run the tasks on the team of @d, the calling thread taking part as tid 0. */
void ts_cpu_parallel(struct ts_cpu_dev *d, int64_t n_tasks, ts_cpu_task_fn fn, void *arg);

/*
 * @bytes of scratch, 64-byte aligned, valid until the next call on @d. Grows
 * the arena only past its high-water mark (logged as ENOMEM on failure).
 */
void *ts_cpu_scratch(struct ts_cpu_dev *d, size_t bytes);

/* Op helpers shared by the op files. */
int ts_cpu_bad(const char *op, const char *why);

/* Ops by kind (core/cpu/<kind>.c). */
int ts_cpu_gemm(struct ts_dev *dev, const struct ts_gemm *g);
int ts_cpu_attention(struct ts_dev *dev, const struct ts_attention *a);
int ts_cpu_conv(struct ts_dev *dev, const struct ts_conv *c);
int ts_cpu_layer_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
		      int64_t rows, int64_t cols, float eps);
int ts_cpu_rms_norm(struct ts_dev *dev, void *y, const void *x, const void *w, int64_t rows,
		    int64_t cols, float eps);
int ts_cpu_group_norm(struct ts_dev *dev, void *y, const void *x, const void *w, const void *b,
		      int64_t n, int64_t c, int64_t spatial, int groups, float eps);
int ts_cpu_layer_norm_modulate(struct ts_dev *dev, void *y, const void *x, const void *shift,
			       const void *scale, int64_t batch, int64_t tokens, int64_t dim,
			       int64_t mod_stride, float eps);
int ts_cpu_gated_residual(struct ts_dev *dev, void *x, const void *r, const void *gate,
			  int64_t batch, int64_t tokens, int64_t dim, int64_t gate_stride);
int ts_cpu_activation(struct ts_dev *dev, void *y, const void *x, int64_t n, enum ts_act act);
int ts_cpu_softmax(struct ts_dev *dev, void *y, const void *x, int64_t rows, int64_t cols);
int ts_cpu_rope(struct ts_dev *dev, void *x, const void *freqs, int64_t n_freq, int64_t batch,
		int64_t tokens, int64_t heads, int64_t head_dim, int64_t tok_stride,
		int64_t batch_stride);
int ts_cpu_upsample_nearest(struct ts_dev *dev, void *y, const void *x, int64_t n, int64_t c,
			    int64_t t, int64_t h, int64_t w, int ft, int fh, int fw);
int ts_cpu_embedding(struct ts_dev *dev, void *y, const void *table, int64_t rows, int64_t dim,
		     const int64_t *ids, int64_t n);
int ts_cpu_add(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n);
int ts_cpu_mul(struct ts_dev *dev, void *y, const void *a, const void *b, int64_t n);
int ts_cpu_axpby(struct ts_dev *dev, void *y, float alpha, const void *x, float beta, int64_t n);
int ts_cpu_add_row(struct ts_dev *dev, void *y, const void *x, const void *v, int64_t batch,
		   int64_t n);
int ts_cpu_permute(struct ts_dev *dev, void *y, const void *x, int ndim, const int64_t *shape,
		   const int *perm);
int ts_cpu_copy2d(struct ts_dev *dev, void *y, int64_t ldy, const void *x, int64_t ldx,
		  int64_t rows, int64_t cols);
int ts_cpu_fill(struct ts_dev *dev, void *y, float value, int64_t n);

/* In-place activation of @n floats (shared by gemm's epilogue and the activation op). */
void ts_cpu_act_apply(float *x, int64_t n, enum ts_act act);

#endif /* TS_CORE_CPU_H */
