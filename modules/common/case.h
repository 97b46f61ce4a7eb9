/* SPDX-License-Identifier: MIT */
/*
 * modules/common/case.h - helpers of the model modules' run_case() (golden
 * cases, ../shared/golden/README.md): reading a case's numeric inputs
 * whatever their dtype, and handing a device tensor to the host's emit.
 */
#ifndef TS_MC_CASE_H
#define TS_MC_CASE_H

#include <stdint.h>

#include <tetri/tetri.h>

/** struct mc_case_out - where run_case() hands its outputs (the host's emit). */
struct mc_case_out {
	int (*emit)(void *arg, const struct ts_tensor *t);
	void *arg;
};

/*
 * Element @i of a numeric tensor (F32, F64, I64, I32, U8, BOOL) as double in
 * *@out; the mapping may be unaligned. TS_EFORMAT for another dtype.
 */
int mc_tensor_elem(const struct ts_tensor *t, int64_t i, double *out);

/* Download F32 @buf [@shape[@ndim]] from @dev and emit it as @name. */
int mc_case_emit(const struct ts_host *host, struct ts_dev *dev, const struct mc_case_out *out,
		 const char *name, const void *buf, int ndim, const int64_t *shape);

#endif /* TS_MC_CASE_H */
