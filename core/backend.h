/* SPDX-License-Identifier: MIT */
/*
 * core/backend.h - the backend registry: open a compute backend by name.
 *
 * "cpu" is built in. "cuda" is loaded on first use from
 * <folder of the executable>/backends/cuda.so (accessor ts_backend_cuda_v1).
 * Other core code registers more (the engine's "sim") with
 * ts_backend_register(). Every table is checked against the ABI (magic,
 * major, minor, size) before it is used.
 */
#ifndef TS_CORE_BACKEND_H
#define TS_CORE_BACKEND_H

#include <tetri/backend.h>

/* Add @ops under ops->name; TS_EEXIST for a taken name, TS_EABI for a bad header. */
int ts_backend_register(const struct ts_backend_ops *ops);
/* The backend called @name (loading cuda.so if needed); TS_ENOENT / TS_ENODEV, logged. */
int ts_backend_find(const char *name, const struct ts_backend_ops **out);
/*
 * Find @name and create it with @n_devices devices (-1 = all it has).
 * @threads_per_device applies to "cpu" only: 0 = cores / devices, at least 1.
 */
int ts_backend_open(const char *name, const struct ts_host *host, int n_devices,
		    int threads_per_device, const struct ts_backend_ops **ops_out,
		    struct ts_backend **be_out);
/* Folder searched for backends/<name>.so instead of the executable's (tests). */
void ts_backend_set_dir(const char *dir);
/* Forget registered backends and unload loaded ones (none may be open). */
void ts_backend_unload_all(void);

typedef int (*ts_spmd_fn)(struct ts_dev *dev, int rank, void *arg);
/*
 * Run fn(devs[r], r, arg) concurrently, each on its device's worker thread
 * (CPU devices) or on a thread bound to the device (other backends), wait
 * for all, and return the first error in rank order, preferring a cause
 * over TS_ECOMM (what peers of a failed CPU rank get instead of hanging in
 * their next collective). Devices must be distinct; a collective inside fn
 * sees the rank of its device.
 */
int ts_backend_run_spmd(struct ts_dev *const *devs, int n, ts_spmd_fn fn, void *arg);

#endif /* TS_CORE_BACKEND_H */
