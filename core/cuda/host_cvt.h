/* SPDX-License-Identifier: MIT */
/* core/cuda/host_cvt.h - element type conversion on the host, for uploads and downloads. */
#ifndef TS_CUDA_HOST_CVT_H
#define TS_CUDA_HOST_CVT_H

#include <stdint.h>

#include <tetri/tensor.h>

/*
 * Convert @n elements of @from (dtype @ft) into @to (dtype @tt), by value
 * (integers and bytes become the floats they count, as on the CPU backend).
 * Sources: every enum ts_dtype; destinations: F32, BF16. Rounds to nearest even.
 * Returns 0 or TS_ENOTSUP for other pairs.
 */
int ts_host_convert(void *to, enum ts_dtype tt, const void *from, enum ts_dtype ft, int64_t n);

float ts_bf16_to_f32(uint16_t h);
uint16_t ts_f32_to_bf16(float f);
float ts_f16_to_f32(uint16_t h);

#endif /* TS_CUDA_HOST_CVT_H */
