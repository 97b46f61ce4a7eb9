// SPDX-License-Identifier: MIT
/*
 * core/cuda/err.c - CUDA, cuBLAS and NCCL status codes turned into TS_E*
 * codes, with the failing call and its site logged once, where it happened.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cuda_priv.h"

const struct ts_host *ts_cuda_host;

void ts_cuda_log(enum ts_log_level lvl, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (ts_cuda_host && ts_cuda_host->log)
		ts_cuda_host->log(lvl, "cuda", "%s", buf);
	else
		fprintf(stderr, "[cuda] %s\n", buf);
}

int ts_cuda_err(cudaError_t e, const char *call, const char *file, int line)
{
	int rc;

	if (e == cudaSuccess)
		return 0;
	switch (e) {
	case cudaErrorMemoryAllocation:
		rc = TS_ENOMEM;
		break;
	case cudaErrorNoDevice:
	case cudaErrorInsufficientDriver:
	case cudaErrorInvalidDevice:
		rc = TS_ENODEV;
		break;
	case cudaErrorInvalidValue:
	case cudaErrorInvalidConfiguration:
		rc = TS_EINVAL;
		break;
	default:
		rc = TS_EDEVICE;
		break;
	}
	ts_cuda_log(TS_LOG_ERROR, "%s:%d: %s: %s (%s)", file, line, call, cudaGetErrorString(e),
		    cudaGetErrorName(e));
	return rc;
}

int ts_cublas_err(cublasStatus_t s, const char *call, const char *file, int line)
{
	int rc;

	if (s == CUBLAS_STATUS_SUCCESS)
		return 0;
	switch (s) {
	case CUBLAS_STATUS_ALLOC_FAILED:
		rc = TS_ENOMEM;
		break;
	case CUBLAS_STATUS_INVALID_VALUE:
		rc = TS_EINVAL;
		break;
	case CUBLAS_STATUS_NOT_SUPPORTED:
	case CUBLAS_STATUS_ARCH_MISMATCH:
		rc = TS_ENOTSUP;
		break;
	default:
		rc = TS_EDEVICE;
		break;
	}
	ts_cuda_log(TS_LOG_ERROR, "%s:%d: %s: %s (%d)", file, line, call, cublasGetStatusString(s),
		    (int)s);
	return rc;
}

int ts_nccl_err(ncclResult_t r, const char *call, const char *file, int line)
{
	int rc;

	if (r == ncclSuccess)
		return 0;
	switch (r) {
	case ncclInvalidArgument:
	case ncclInvalidUsage:
		rc = TS_EINVAL;
		break;
	case ncclInProgress:
		rc = TS_EBUSY;
		break;
	default:
		rc = TS_ECOMM;
		break;
	}
	ts_cuda_log(TS_LOG_ERROR, "%s:%d: %s: %s (%d)", file, line, call, ncclGetErrorString(r),
		    (int)r);
	return rc;
}
