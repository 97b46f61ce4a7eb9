/* SPDX-License-Identifier: MIT */
/*
 * tetri/tensor.h - element types and host-side tensor views.
 *
 * Device buffers are plain `void *` in the device's storage dtype (see
 * struct ts_ops.dtype); this header describes host-side data: weights mapped
 * from safetensors files, request inputs and outputs.
 */
#ifndef TETRI_TENSOR_H
#define TETRI_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum ts_dtype {
	TS_F32 = 0,
	TS_F16 = 1,
	TS_BF16 = 2,
	TS_F64 = 3,
	TS_I64 = 4,
	TS_I32 = 5,
	TS_U8 = 6,
	TS_BOOL = 7, /* one byte, 0 or 1 */
	TS_DTYPE_COUNT_
};

#define TS_MAX_DIMS 8

static inline size_t ts_dtype_size(enum ts_dtype t)
{
	static const unsigned char sz[TS_DTYPE_COUNT_] = { 4, 2, 2, 8, 8, 4, 1, 1 };
	return (unsigned)t < TS_DTYPE_COUNT_ ? sz[t] : 0;
}

static inline const char *ts_dtype_name(enum ts_dtype t)
{
	static const char *const n[TS_DTYPE_COUNT_] = {
		"F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL" };
	return (unsigned)t < TS_DTYPE_COUNT_ ? n[t] : "?";
}

/**
 * struct ts_tensor - a dense, row-major (C order) tensor in host memory.
 * @name:  key it was found under (safetensors), or NULL.
 * @dtype: element type.
 * @ndim:  number of dimensions (0 = scalar).
 * @shape: extent of each dimension.
 * @data:  first element; may point into a read-only mapping.
 */
struct ts_tensor {
	const char *name;
	enum ts_dtype dtype;
	int ndim;
	int64_t shape[TS_MAX_DIMS];
	void *data;
};

static inline int64_t ts_tensor_numel(const struct ts_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	return n;
}

#endif /* TETRI_TENSOR_H */
