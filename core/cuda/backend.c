// SPDX-License-Identifier: MIT
/*
 * core/cuda/backend.c - the CUDA backend's device side: one struct ts_dev per
 * GPU with its stream, cuBLAS/cuBLASLt handles and workspace; memory and
 * transfers; and the accessor, the one symbol this .so exports.
 *
 * Storage dtype: bf16 by default (fp32 accumulation everywhere); the
 * environment variable TS_CUDA_DTYPE=f32 makes a backend instance store
 * float32 instead, which the comparison tests use for tight error bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_priv.h"
#include "host_cvt.h"

#define TS_CUDA_LT_WS (32u << 20) /* cuBLASLt workspace: enough for Hopper's split-K kernels */

static __thread struct ts_dev *bound_dev;
static __thread int cur_ordinal = -1;

size_t ts_cuda_dt_size(enum ts_cuda_dt dt)
{
	return dt == TS_CUDA_BF16 ? 2 : 4;
}

int ts_cuda_use(struct ts_dev *dev)
{
	int rc;

	if (cur_ordinal == dev->ordinal)
		return 0;
	rc = TS_CU(cudaSetDevice(dev->ordinal));
	if (!rc)
		cur_ordinal = dev->ordinal;
	return rc;
}

void ts_cuda_forget_current(void)
{
	cur_ordinal = -1;
}

struct ts_dev *ts_cuda_bound(void)
{
	return bound_dev;
}

void *ts_cuda_scratch(struct ts_dev *dev, size_t bytes)
{
	void *p;

	if (bytes <= dev->scratch_bytes)
		return dev->scratch;
	/* Earlier ops on the stream may still read the old buffer. */
	if (TS_CU(cudaStreamSynchronize(dev->stream)))
		return NULL;
	if (dev->scratch)
		cudaFree(dev->scratch);
	dev->scratch = NULL;
	dev->scratch_bytes = 0;
	if (TS_CU(cudaMalloc(&p, bytes)))
		return NULL;
	dev->scratch = p;
	dev->scratch_bytes = bytes;
	return p;
}

/* TS_CUDA_ATTN picks the bf16 attention kernel (the comparison tests run each). */
static int attn_kind(void)
{
	const char *k = getenv("TS_CUDA_ATTN");

	if (k && !strcmp(k, "simt"))
		return TS_ATTN_SIMT;
	if (k && !strcmp(k, "wmma"))
		return TS_ATTN_WMMA;
	return TS_ATTN_FA;
}

static void dev_destroy(struct ts_dev *dev)
{
	if (!dev)
		return;
	cudaSetDevice(dev->ordinal);
	cur_ordinal = dev->ordinal;
	if (dev->stream)
		cudaStreamSynchronize(dev->stream);
	ts_cuda_gemm_cache_free(dev);
	if (dev->scratch)
		cudaFree(dev->scratch);
	if (dev->lt_ws)
		cudaFree(dev->lt_ws);
	if (dev->lt)
		cublasLtDestroy(dev->lt);
	if (dev->blas)
		cublasDestroy(dev->blas);
	if (dev->stream)
		cudaStreamDestroy(dev->stream);
	if (bound_dev == dev)
		bound_dev = NULL;
	free(dev);
}

static int dev_create(struct ts_backend *be, int ordinal, int index, enum ts_cuda_dt dt,
		      struct ts_dev **out)
{
	const char *name;
	struct ts_dev *dev;
	int rc;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return TS_ENOMEM;
	dev->be = be;
	dev->ordinal = ordinal;
	dev->base.index = index;
	dev->dt = dt;
	dev->dtype = dt == TS_CUDA_BF16 ? TS_BF16 : TS_F32;
	dev->attn_kind = attn_kind();
	rc = ts_cuda_use(dev);
	if (rc)
		goto err_free;
	rc = TS_CU(cudaGetDeviceProperties(&dev->prop, ordinal));
	if (rc)
		goto err_free;
	name = dev->prop.name;
	if (!strncmp(name, "NVIDIA ", 7))
		name += 7;
	snprintf(dev->kind, sizeof(dev->kind), "%s", name);
	rc = TS_CU(cudaStreamCreateWithFlags(&dev->stream, cudaStreamNonBlocking));
	if (rc)
		goto err_free;
	rc = TS_CUBLAS(cublasCreate(&dev->blas));
	if (rc)
		goto err_dev;
	rc = TS_CUBLAS(cublasSetStream(dev->blas, dev->stream));
	if (rc)
		goto err_dev;
	/* fp32 storage is the test mode: keep full fp32 products (no TF32). */
	rc = TS_CUBLAS(cublasSetMathMode(dev->blas, dt == TS_CUDA_F32 ? CUBLAS_PEDANTIC_MATH
								     : CUBLAS_DEFAULT_MATH));
	if (rc)
		goto err_dev;
	rc = TS_CUBLAS(cublasLtCreate(&dev->lt));
	if (rc)
		goto err_dev;
	rc = TS_CU(cudaMalloc(&dev->lt_ws, TS_CUDA_LT_WS));
	if (rc)
		goto err_dev;
	dev->lt_ws_bytes = TS_CUDA_LT_WS;
	rc = TS_CUBLAS(cublasSetWorkspace(dev->blas, dev->lt_ws, dev->lt_ws_bytes));
	if (rc)
		goto err_dev;
	*out = dev;
	return 0;

err_dev:
	dev_destroy(dev);
	return rc;
err_free:
	free(dev);
	return rc;
}

static const struct ts_backend_ops cuda_backend;

static void be_destroy(struct ts_backend *be)
{
	if (!be)
		return;
	for (int i = 0; i < be->n; i++)
		dev_destroy(be->devs[i]);
	free(be);
}

static int be_create(const struct ts_host *host, int n_devices, struct ts_backend **out)
{
	struct ts_backend *be;
	const char *dts;
	enum ts_cuda_dt dt = TS_CUDA_BF16;
	int count = 0, rc;
	cudaError_t e;

	ts_cuda_host = host;
	dts = getenv("TS_CUDA_DTYPE");
	if (dts && (!strcmp(dts, "f32") || !strcmp(dts, "F32") || !strcmp(dts, "float32"))) {
		dt = TS_CUDA_F32;
	} else if (dts && *dts && strcmp(dts, "bf16") && strcmp(dts, "BF16")) {
		ts_cuda_log(TS_LOG_ERROR, "TS_CUDA_DTYPE=%s: expected bf16 or f32", dts);
		return TS_EINVAL;
	}
	/* No driver or no GPU is the normal case on CI machines: say so, quietly. */
	e = cudaGetDeviceCount(&count);
	if (e != cudaSuccess || count <= 0) {
		ts_cuda_log(TS_LOG_INFO, "no CUDA device (%s)",
			    e != cudaSuccess ? cudaGetErrorName(e) : "count is 0");
		return TS_ENODEV;
	}
	if (n_devices < 0)
		n_devices = count;
	if (n_devices == 0 || n_devices > count) {
		ts_cuda_log(TS_LOG_ERROR, "%d devices asked for, %d present", n_devices, count);
		return TS_ENODEV;
	}
	be = calloc(1, sizeof(*be) + (size_t)n_devices * sizeof(be->devs[0]));
	if (!be)
		return TS_ENOMEM;
	be->host = host;
	for (int i = 0; i < n_devices; i++) {
		rc = dev_create(be, i, i, dt, &be->devs[i]);
		if (rc)
			goto err;
		be->devs[i]->base.be = &cuda_backend;
		be->n = i + 1;
	}
	*out = be;
	return 0;
err:
	be_destroy(be);
	return rc;
}

static int be_device_count(struct ts_backend *be)
{
	return be->n;
}

static struct ts_dev *be_device(struct ts_backend *be, int i)
{
	return i >= 0 && i < be->n ? be->devs[i] : NULL;
}

static void be_device_info(struct ts_dev *dev, struct ts_device_info *info)
{
	int khz = 0;

	memset(info, 0, sizeof(*info));
	info->kind = dev->kind;
	info->index = dev->base.index;
	info->mem_bytes = dev->prop.totalGlobalMem;
	/*
	 * Dense peak of the storage dtype, Hopper only (other chips: 0 = unknown):
	 * per SM and clock, 4096 bf16 tensor-core FLOPs or 256 plain fp32 FLOPs.
	 */
	if (dev->prop.major == 9 &&
	    cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, dev->ordinal) == cudaSuccess)
		info->peak_flops = (double)dev->prop.multiProcessorCount * khz * 1e3 *
				   (dev->dt == TS_CUDA_BF16 ? 4096.0 : 256.0);
}

static int be_bind_thread(struct ts_dev *dev)
{
	int rc = ts_cuda_use(dev);

	if (!rc)
		bound_dev = dev;
	return rc;
}

static void *be_alloc(struct ts_dev *dev, size_t elems)
{
	void *p = NULL;
	size_t bytes = elems * ts_cuda_dt_size(dev->dt);

	if (ts_cuda_use(dev))
		return NULL;
	/* cudaMalloc of 0 bytes returns NULL, which callers read as failure. */
	if (TS_CU(cudaMalloc(&p, bytes ? bytes : 256)))
		return NULL;
	return p;
}

static void be_free(struct ts_dev *dev, void *p)
{
	if (!p || ts_cuda_use(dev))
		return;
	/* The stream may still use @p; cudaFree waits for the device, but be explicit. */
	cudaStreamSynchronize(dev->stream);
	TS_CU(cudaFree(p));
}

static int be_upload(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype src_dtype,
		     int64_t n)
{
	size_t esz = ts_cuda_dt_size(dev->dt);
	void *tmp = NULL;
	const void *from = src;
	int rc;

	if (n < 0 || (n && (!dst || !src)))
		return TS_CUDA_BAD("upload", "n=%lld dst=%p src=%p", (long long)n, dst, src);
	if (!n)
		return 0;
	rc = ts_cuda_use(dev);
	if (rc)
		return rc;
	if (src_dtype != dev->dtype) {
		tmp = malloc((size_t)n * esz);
		if (!tmp)
			return TS_ENOMEM;
		rc = ts_host_convert(tmp, dev->dtype, src, src_dtype, n);
		if (rc) {
			ts_cuda_log(TS_LOG_ERROR, "upload: cannot convert %s to %s",
				    ts_dtype_name(src_dtype), ts_dtype_name(dev->dtype));
			goto out;
		}
		from = tmp;
	}
	rc = TS_CU(cudaMemcpyAsync(dst, from, (size_t)n * esz, cudaMemcpyHostToDevice,
				   dev->stream));
	if (!rc)
		rc = TS_CU(cudaStreamSynchronize(dev->stream));
out:
	free(tmp);
	return rc;
}

static int be_download(struct ts_dev *dev, float *dst, const void *src, int64_t n)
{
	void *tmp = NULL;
	int rc;

	if (n < 0 || (n && (!dst || !src)))
		return TS_CUDA_BAD("download", "n=%lld dst=%p src=%p", (long long)n, (void *)dst,
				   src);
	if (!n)
		return 0;
	rc = ts_cuda_use(dev);
	if (rc)
		return rc;
	if (dev->dt == TS_CUDA_F32) {
		rc = TS_CU(cudaMemcpyAsync(dst, src, (size_t)n * 4, cudaMemcpyDeviceToHost,
					   dev->stream));
		if (!rc)
			rc = TS_CU(cudaStreamSynchronize(dev->stream));
		return rc;
	}
	tmp = malloc((size_t)n * 2);
	if (!tmp)
		return TS_ENOMEM;
	rc = TS_CU(cudaMemcpyAsync(tmp, src, (size_t)n * 2, cudaMemcpyDeviceToHost, dev->stream));
	if (!rc)
		rc = TS_CU(cudaStreamSynchronize(dev->stream));
	if (!rc)
		rc = ts_host_convert(dst, TS_F32, tmp, dev->dtype, n);
	free(tmp);
	return rc;
}

static int be_copy_peer(struct ts_dev *dst_dev, void *dst, struct ts_dev *src_dev, const void *src,
			int64_t n)
{
	size_t bytes = (size_t)n * ts_cuda_dt_size(src_dev->dt);
	int rc;

	if (n < 0 || dst_dev->dt != src_dev->dt)
		return TS_CUDA_BAD("copy_peer", "n=%lld, dtypes %s/%s", (long long)n,
				   ts_dtype_name(dst_dev->dtype), ts_dtype_name(src_dev->dtype));
	if (!n)
		return 0;
	/* The destination's stream may still read @dst; the source's may still write @src. */
	rc = ts_cuda_use(dst_dev);
	if (!rc)
		rc = TS_CU(cudaStreamSynchronize(dst_dev->stream));
	if (!rc)
		rc = ts_cuda_use(src_dev);
	if (!rc)
		rc = TS_CU(cudaMemcpyPeerAsync(dst, dst_dev->ordinal, src, src_dev->ordinal, bytes,
					       src_dev->stream));
	if (!rc)
		rc = TS_CU(cudaStreamSynchronize(src_dev->stream));
	return rc;
}

/* cudaMalloc aligns to 256 bytes, enough for any dtype the ops read. */
static void *be_alloc_bytes(struct ts_dev *dev, size_t bytes)
{
	void *p = NULL;

	if (ts_cuda_use(dev))
		return NULL;
	if (TS_CU(cudaMalloc(&p, bytes ? bytes : 256)))
		return NULL;
	return p;
}

/*
 * Raw bytes on the device's stream, so the copy follows the ops queued
 * before it; the wait makes the host buffer reusable on return, as
 * be_upload does.
 */
static int be_copy_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes,
			 enum cudaMemcpyKind kind, const char *what)
{
	int rc;

	if (bytes && (!dst || !src))
		return TS_CUDA_BAD(what, "bytes=%zu dst=%p src=%p", bytes, dst, src);
	if (!bytes)
		return 0;
	rc = ts_cuda_use(dev);
	if (!rc)
		rc = TS_CU(cudaMemcpyAsync(dst, src, bytes, kind, dev->stream));
	if (!rc)
		rc = TS_CU(cudaStreamSynchronize(dev->stream));
	return rc;
}

static int be_upload_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	return be_copy_bytes(dev, dst, src, bytes, cudaMemcpyHostToDevice, "upload_bytes");
}

static int be_download_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	return be_copy_bytes(dev, dst, src, bytes, cudaMemcpyDeviceToHost, "download_bytes");
}

static int be_sync(struct ts_dev *dev)
{
	int rc = ts_cuda_use(dev);

	return rc ? rc : TS_CU(cudaStreamSynchronize(dev->stream));
}

static const struct ts_ops *be_ops(struct ts_dev *dev)
{
	return ts_cuda_ops(dev);
}

static const struct ts_backend_ops cuda_backend = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "cuda",
	.create = be_create,
	.destroy = be_destroy,
	.device_count = be_device_count,
	.device = be_device,
	.device_info = be_device_info,
	.bind_thread = be_bind_thread,
	.ops = be_ops,
	.coll = &ts_cuda_coll,
	.alloc = be_alloc,
	.free = be_free,
	.upload = be_upload,
	.download = be_download,
	.copy_peer = be_copy_peer,
	.sync = be_sync,
	.comm_create = ts_cuda_comm_create,
	.comm_destroy = ts_cuda_comm_destroy,
	.alloc_bytes = be_alloc_bytes,
	.upload_bytes = be_upload_bytes,
	.download_bytes = be_download_bytes,
};

TS_EXPORT const struct ts_backend_ops *ts_backend_cuda_v1(void);

TS_EXPORT const struct ts_backend_ops *ts_backend_cuda_v1(void)
{
	return &cuda_backend;
}
