/* SPDX-License-Identifier: MIT */
/*
 * tetri/backend.h - a compute backend: devices, memory, op tables and
 * communicators. The CPU backend is built into the core; the CUDA backend is
 * a separate .so (core/cuda) exporting the accessor ts_backend_cuda_v1(),
 * loaded when [pool] backend = cuda. ggml's backend vtables are the model.
 */
#ifndef TETRI_BACKEND_H
#define TETRI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "host.h"
#include "model.h"
#include "ops.h"

struct ts_backend; /* a backend instance (opaque to the core) */
struct ts_backend_ops;

/**
 * struct ts_dev_base - first member of every backend's device struct, so the
 * host can route a struct ts_dev * to its backend without knowing its type.
 * @be: the backend's ops; @index: pool index of the device.
 */
struct ts_dev_base {
	const struct ts_backend_ops *be;
	int index;
};

static inline const struct ts_dev_base *ts_dev_base(const struct ts_dev *dev)
{
	return (const struct ts_dev_base *)(const void *)dev;
}

/**
 * struct ts_backend_ops - a backend.
 * @name: "cpu", "cuda", "sim": the [pool] backend value that selects it.
 * @create: open the backend for @n_devices devices (-1 = all it has).
 * @destroy: close it; no device, memory or communicator of it is used after.
 * @device_count: devices opened.
 * @device: the i-th device; valid until destroy.
 * @device_info: fill @info (kind, memory, peak FLOP/s, link speed) of @dev.
 * @bind_thread: make the calling thread the worker of @dev (cudaSetDevice, affinity).
 * @ops: the op table of @dev (struct ts_ops); @coll: collectives on its communicators.
 * @alloc, @free: device memory, @elems elements of the storage dtype; NULL on failure.
 * @upload: host @src of @src_dtype -> device @dst (converted); @download: device -> host F32.
 * @sync: wait until the work queued on @dev is done (NULL: always synchronous).
 * @comm_create: a communicator over @devs (ascending pool order, distinct),
 *               created for those members only; @bytes_out its memory cost.
 * @comm_destroy: free it (no collective in flight).
 *
 * Optional, appended (read only when TS_ABI_HAS covers them and non-NULL):
 * @alloc_bytes: @bytes of device memory, aligned for any dtype, freed by @free;
 *               NULL on failure.
 * @upload_bytes, @download_bytes: @bytes copied unchanged host -> device and
 *               device -> host, ordered after the device's queued work and
 *               complete on return.
 */
struct ts_backend_ops {
	struct ts_abi_hdr hdr;
	const char *name;

	int (*create)(const struct ts_host *host, int n_devices, struct ts_backend **out);
	void (*destroy)(struct ts_backend *be);
	int (*device_count)(struct ts_backend *be);
	struct ts_dev *(*device)(struct ts_backend *be, int i);
	void (*device_info)(struct ts_dev *dev, struct ts_device_info *info);
	int (*bind_thread)(struct ts_dev *dev);

	const struct ts_ops *(*ops)(struct ts_dev *dev);
	const struct ts_coll_ops *coll;

	void *(*alloc)(struct ts_dev *dev, size_t elems);
	void (*free)(struct ts_dev *dev, void *p);
	int (*upload)(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype src_dtype, int64_t n);
	int (*download)(struct ts_dev *dev, float *dst, const void *src, int64_t n);
	/* Copy @n elements between devices of this backend (state migration). */
	int (*copy_peer)(struct ts_dev *dst_dev, void *dst, struct ts_dev *src_dev, const void *src,
			 int64_t n);
	int (*sync)(struct ts_dev *dev);

	int (*comm_create)(struct ts_backend *be, struct ts_dev *const *devs, int n,
			   struct ts_comm **out, size_t *bytes_out);
	void (*comm_destroy)(struct ts_comm *comm);

	void *(*alloc_bytes)(struct ts_dev *dev, size_t bytes);
	int (*upload_bytes)(struct ts_dev *dev, void *dst, const void *src, size_t bytes);
	int (*download_bytes)(struct ts_dev *dev, void *dst, const void *src, size_t bytes);
};

typedef const struct ts_backend_ops *(*ts_backend_accessor_fn)(void);

#endif /* TETRI_BACKEND_H */
