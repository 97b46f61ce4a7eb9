// SPDX-License-Identifier: MIT
/*
 * core/cuda/host_cvt.c - bf16/f16/f32/f64 conversions on the host. Uploads
 * are rare (weights, latents at step boundaries), so a plain loop is enough.
 */
#include <math.h>
#include <string.h>

#include <tetri/error.h>

#include "host_cvt.h"

float ts_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

uint16_t ts_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if (isnan(f))
		return (uint16_t)((u >> 16) | 0x40); /* stay a (quiet) NaN */
	/* Round to nearest, ties to even, on the 16 bits dropped. */
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

float ts_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
	float f;

	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13);
	} else if (exp == 0) {
		/* Zero or subnormal: value = man * 2^-24. */
		f = ldexpf((float)man, -24);
		return sign ? -f : f;
	} else {
		u = sign | ((exp + 112) << 23) | (man << 13);
	}
	memcpy(&f, &u, 4);
	return f;
}

static float load_f(const void *p, enum ts_dtype t, int64_t i)
{
	switch (t) {
	case TS_F32:
		return ((const float *)p)[i];
	case TS_F64:
		return (float)((const double *)p)[i];
	case TS_BF16:
		return ts_bf16_to_f32(((const uint16_t *)p)[i]);
	case TS_F16:
		return ts_f16_to_f32(((const uint16_t *)p)[i]);
	case TS_I64:
		return (float)((const int64_t *)p)[i];
	case TS_I32:
		return (float)((const int32_t *)p)[i];
	case TS_U8:
	case TS_BOOL:
		return (float)((const uint8_t *)p)[i];
	default:
		return 0;
	}
}

int ts_host_convert(void *to, enum ts_dtype tt, const void *from, enum ts_dtype ft, int64_t n)
{
	if ((unsigned)ft >= TS_DTYPE_COUNT_)
		return TS_ENOTSUP;
	if (tt == TS_F32) {
		float *y = to;

		for (int64_t i = 0; i < n; i++)
			y[i] = load_f(from, ft, i);
		return 0;
	}
	if (tt == TS_BF16) {
		uint16_t *y = to;

		if (ft == TS_BF16) {
			memcpy(to, from, (size_t)n * 2);
			return 0;
		}
		for (int64_t i = 0; i < n; i++)
			y[i] = ts_f32_to_bf16(load_f(from, ft, i));
		return 0;
	}
	return TS_ENOTSUP;
}
