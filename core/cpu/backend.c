// SPDX-License-Identifier: MIT
/*
 * core/cpu/backend.c - the CPU backend's struct ts_backend_ops: N virtual
 * devices sharing the machine's cores, float32 storage.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include <tetri/error.h>

#include "cpu.h"
#include "log.h"

/* Most virtual devices one backend opens: enough for sim-scale tests on threads. */
#define CPU_MAX_DEVICES 64

static int cpu_cores(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static size_t cpu_mem_per_device(int n)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psize <= 0)
		return (size_t)1 << 32;
	return (size_t)pages * (size_t)psize / (size_t)n;
}

static void cpu_destroy(struct ts_backend *tb)
{
	struct ts_cpu_backend *be = (struct ts_cpu_backend *)(void *)tb;

	if (!be)
		return;
	for (int i = 0; i < be->n; i++)
		ts_cpu_dev_destroy(be->devs[i]);
	ts_cpu_comms_detach(be);
	pthread_mutex_destroy(&be->comm_lock);
	free(be->devs);
	free(be);
}

int ts_cpu_backend_create(int n_devices, int threads_per_device, struct ts_backend **out)
{
	int cores = cpu_cores();
	struct ts_cpu_backend *be;

	if (n_devices < 0)
		n_devices = cores;
	if (n_devices < 1 || n_devices > CPU_MAX_DEVICES) {
		ts_err("cpu", "devices = %d: must be in 1..%d", n_devices, CPU_MAX_DEVICES);
		return TS_EINVAL;
	}
	if (threads_per_device < 0 || threads_per_device > 1024) {
		ts_err("cpu", "threads_per_device = %d: must be in 0..1024", threads_per_device);
		return TS_EINVAL;
	}
	if (threads_per_device == 0)
		threads_per_device = cores / n_devices > 1 ? cores / n_devices : 1;
	/* Our teams split the work; OpenBLAS must not multiply it again. */
	openblas_set_num_threads(1);

	be = calloc(1, sizeof(*be));
	if (!be)
		goto nomem;
	pthread_mutex_init(&be->comm_lock, NULL);
	be->devs = calloc((size_t)n_devices, sizeof(*be->devs));
	if (!be->devs)
		goto free_be;
	for (int i = 0; i < n_devices; i++) {
		be->devs[i] = ts_cpu_dev_create(be, i, threads_per_device,
						cpu_mem_per_device(n_devices));
		if (!be->devs[i])
			goto destroy_devs;
		be->n = i + 1;
	}
	ts_dbg("cpu", "%d virtual devices, %d threads each, %d cores", n_devices,
	       threads_per_device, cores);
	*out = (struct ts_backend *)(void *)be;
	return 0;

destroy_devs:
	cpu_destroy((struct ts_backend *)(void *)be);
	return TS_ENOMEM;
free_be:
	pthread_mutex_destroy(&be->comm_lock);
	free(be);
nomem:
	ts_err("cpu", "out of memory opening %d devices", n_devices);
	return TS_ENOMEM;
}

static int cpu_create(const struct ts_host *host, int n_devices, struct ts_backend **out)
{
	return ts_cpu_backend_create(n_devices, 0, out);
}

static int cpu_device_count(struct ts_backend *tb)
{
	return ((struct ts_cpu_backend *)(void *)tb)->n;
}

static struct ts_dev *cpu_device(struct ts_backend *tb, int i)
{
	struct ts_cpu_backend *be = (struct ts_cpu_backend *)(void *)tb;

	if (i < 0 || i >= be->n)
		return NULL;
	return (struct ts_dev *)be->devs[i];
}

static void cpu_device_info(struct ts_dev *dev, struct ts_device_info *info)
{
	struct ts_cpu_dev *d = ts_cpu_dev(dev);

	*info = (struct ts_device_info){
		.kind = "cpu",
		.index = d->base.index,
		.mem_bytes = d->mem_cap,
	};
}

static int cpu_bind_thread(struct ts_dev *dev)
{
	ts_cpu_set_current(ts_cpu_dev(dev));
	return 0;
}

static const struct ts_ops *cpu_ops(struct ts_dev *dev)
{
	return &ts_cpu_ops;
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
	float f;

	if (e == 0) {
		/* Subnormal (or zero): value is m * 2^-24. */
		f = (float)m * 0x1p-24f;
		return sign ? -f : f;
	}
	if (e == 31)
		bits = sign | 0x7f800000u | (m << 13);
	else
		bits = sign | ((e + 112) << 23) | (m << 13);
	memcpy(&f, &bits, sizeof(f));
	return f;
}

static float bf16_to_float(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

/* Host @src of dtype @t -> F32 @y; 0 or TS_EINVAL for a dtype with no conversion. */
static int convert_to_f32(float *y, const void *src, enum ts_dtype t, int64_t n)
{
	const uint16_t *h = src;

	switch (t) {
	case TS_F32:
		memcpy(y, src, (size_t)n * sizeof(float));
		break;
	case TS_F16:
		for (int64_t i = 0; i < n; i++)
			y[i] = half_to_float(h[i]);
		break;
	case TS_BF16:
		for (int64_t i = 0; i < n; i++)
			y[i] = bf16_to_float(h[i]);
		break;
	case TS_F64:
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)((const double *)src)[i];
		break;
	case TS_I64:
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)((const int64_t *)src)[i];
		break;
	case TS_I32:
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)((const int32_t *)src)[i];
		break;
	case TS_U8:
	case TS_BOOL:
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)((const uint8_t *)src)[i];
		break;
	default:
		return ts_cpu_bad("upload", "unknown source dtype");
	}
	return 0;
}

static int cpu_upload(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype t, int64_t n)
{
	if (n < 0 || (n && (!dst || !src)))
		return ts_cpu_bad("upload", "bad buffer or count");
	if ((unsigned)t >= TS_DTYPE_COUNT_)
		return ts_cpu_bad("upload", "unknown source dtype");
	return n ? convert_to_f32(dst, src, t, n) : 0;
}

static int cpu_download(struct ts_dev *dev, float *dst, const void *src, int64_t n)
{
	if (n < 0 || (n && (!dst || !src)))
		return ts_cpu_bad("download", "bad buffer or count");
	if (n)
		memcpy(dst, src, (size_t)n * sizeof(float));
	return 0;
}

static int cpu_copy_peer(struct ts_dev *dst_dev, void *dst, struct ts_dev *src_dev,
			 const void *src, int64_t n)
{
	if (n < 0 || (n && (!dst || !src)))
		return ts_cpu_bad("copy_peer", "bad buffer or count");
	if (n)
		memmove(dst, src, (size_t)n * sizeof(float));
	return 0;
}

/* Device memory is host memory here: raw bytes are a plain copy either way. */
static int cpu_copy_bytes(const char *what, void *dst, const void *src, size_t bytes)
{
	if (bytes && (!dst || !src))
		return ts_cpu_bad(what, "NULL buffer");
	if (bytes)
		memcpy(dst, src, bytes);
	return 0;
}

static int cpu_upload_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	return cpu_copy_bytes("upload_bytes", dst, src, bytes);
}

static int cpu_download_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	return cpu_copy_bytes("download_bytes", dst, src, bytes);
}

/* Ops run to completion on the calling thread: nothing is ever pending. */
static int cpu_sync(struct ts_dev *dev)
{
	return 0;
}

const struct ts_backend_ops ts_cpu_backend_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "cpu",
	.create = cpu_create,
	.destroy = cpu_destroy,
	.device_count = cpu_device_count,
	.device = cpu_device,
	.device_info = cpu_device_info,
	.bind_thread = cpu_bind_thread,
	.ops = cpu_ops,
	.coll = &ts_cpu_coll_ops,
	.alloc = ts_cpu_alloc,
	.free = ts_cpu_free,
	.upload = cpu_upload,
	.download = cpu_download,
	.copy_peer = cpu_copy_peer,
	.sync = cpu_sync,
	.comm_create = ts_cpu_comm_create,
	.comm_destroy = ts_cpu_comm_destroy,
	.alloc_bytes = ts_cpu_alloc_bytes,
	.upload_bytes = cpu_upload_bytes,
	.download_bytes = cpu_download_bytes,
};
