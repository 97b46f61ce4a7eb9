/* SPDX-License-Identifier: MIT */
/*
 * modules/common/case.c - run_case() helpers shared by the model modules
 * (case.h).
 */
#include <string.h>

#include "case.h"

int mc_tensor_elem(const struct ts_tensor *t, int64_t i, double *out)
{
	const char *p = (const char *)t->data + i * (int64_t)ts_dtype_size(t->dtype);
	float f;
	double d;
	int64_t l;
	int32_t n;

	switch (t->dtype) {
	case TS_F32: memcpy(&f, p, 4); *out = f; return 0;
	case TS_F64: memcpy(&d, p, 8); *out = d; return 0;
	case TS_I64: memcpy(&l, p, 8); *out = (double)l; return 0;
	case TS_I32: memcpy(&n, p, 4); *out = n; return 0;
	case TS_U8: case TS_BOOL: *out = (unsigned char)*p; return 0;
	default: return TS_EFORMAT;
	}
}

int mc_case_emit(const struct ts_host *host, struct ts_dev *dev, const struct mc_case_out *out,
		 const char *name, const void *buf, int ndim, const int64_t *shape)
{
	struct ts_tensor t = { .name = name, .dtype = TS_F32, .ndim = ndim };
	int err;

	memcpy(t.shape, shape, sizeof(int64_t) * (size_t)ndim);
	t.data = host->alloc(sizeof(float) * (size_t)ts_tensor_numel(&t));
	if (!t.data)
		return TS_ENOMEM;
	err = host->dev_download(dev, t.data, buf, ts_tensor_numel(&t));
	if (!err)
		err = out->emit(out->arg, &t);
	host->free(t.data);
	return err;
}
