/* SPDX-License-Identifier: MIT */
/*
 * core/cpu/vecmath.h - exp and tanh written so that GCC vectorises the loops
 * they are inlined into (libm's expf/tanhf are scalar calls): round with the
 * 1.5*2^23 trick instead of rintf, select with ternaries instead of fmaxf,
 * build 2^k from its bits. Relative error about 2e-7 over the float range.
 */
#ifndef TS_CORE_CPU_VECMATH_H
#define TS_CORE_CPU_VECMATH_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* Hot loops get an AVX2+FMA clone chosen at load time, and SSE2 elsewhere. */
#define TS_VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TS_VEC_CLONES
#endif

static inline float ts_vexpf(float x)
{
	const float round = 12582912.0f; /* 1.5 * 2^23 */
	float t, k, r, p, s;
	uint32_t bits;

	x = x > 88.3f ? 88.3f : x;
	x = x < -88.0f ? -88.0f : x;
	t = x * 1.44269504088896341f;
	k = (t + round) - round;
	r = x - k * 0.693145751953125f;
	r = r - k * 1.428606765330187e-06f;
	p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
		r * (1.0f / 120 + r * (1.0f / 720))))));
	/* k >= -127 here, so the exponent field is >= 0; -127 gives 0 (underflow). */
	bits = (uint32_t)((int32_t)k + 127) << 23;
	memcpy(&s, &bits, sizeof(s));
	return p * s;
}

/*
 * Eight lanes with GCC's vector extensions: the loops around ts_vexpf carry
 * selects GCC will not if-convert, so the hot ones use this explicitly. Same
 * operations as ts_vexpf, so a tail done in scalar matches bit for bit.
 */
typedef float ts_v8sf __attribute__((vector_size(32)));
typedef int32_t ts_v8si __attribute__((vector_size(32)));

#define TS_V8_INLINE static inline __attribute__((always_inline))

TS_V8_INLINE ts_v8sf ts_v8_set1(float f)
{
	return (ts_v8sf){ f, f, f, f, f, f, f, f };
}

TS_V8_INLINE ts_v8sf ts_v8_select(ts_v8si mask, ts_v8sf a, ts_v8sf b)
{
	return (ts_v8sf)((mask & (ts_v8si)a) | (~mask & (ts_v8si)b));
}

TS_V8_INLINE ts_v8sf ts_v8_load(const float *p)
{
	ts_v8sf v;

	memcpy(&v, p, sizeof(v));
	return v;
}

TS_V8_INLINE void ts_v8_store(float *p, ts_v8sf v)
{
	memcpy(p, &v, sizeof(v));
}

TS_V8_INLINE ts_v8sf ts_v8_exp(ts_v8sf x)
{
	const float round = 12582912.0f;
	ts_v8sf hi = ts_v8_set1(88.3f), lo = ts_v8_set1(-88.0f), t, k, r, p;
	ts_v8si bits;

	x = ts_v8_select(x > hi, hi, x);
	x = ts_v8_select(x < lo, lo, x);
	t = x * 1.44269504088896341f;
	k = (t + round) - round;
	r = x - k * 0.693145751953125f;
	r = r - k * 1.428606765330187e-06f;
	p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
		r * (1.0f / 120 + r * (1.0f / 720))))));
	bits = (__builtin_convertvector(k, ts_v8si) + 127) << 23;
	return p * (ts_v8sf)bits;
}

static inline float ts_vtanhf(float x)
{
	float ax = x < 0 ? -x : x;
	float e = ts_vexpf(-2.0f * ax);
	float t = (1.0f - e) / (1.0f + e);

	return x < 0 ? -t : t;
}

static inline float ts_vsiluf(float x)
{
	return x / (1.0f + ts_vexpf(-x));
}

static inline float ts_vgeluf(float x)
{
	const float c = 0.7978845608028654f; /* sqrt(2/pi) */

	return 0.5f * x * (1.0f + ts_vtanhf(c * (x + 0.044715f * x * x * x)));
}

TS_V8_INLINE ts_v8sf ts_v8_tanh(ts_v8sf x)
{
	const ts_v8si sign = (ts_v8si)ts_v8_set1(-0.0f);
	ts_v8sf ax = (ts_v8sf)((ts_v8si)x & ~sign), e, t;

	e = ts_v8_exp(ax * -2.0f);
	t = (1.0f - e) / (1.0f + e);
	return (ts_v8sf)((ts_v8si)t | ((ts_v8si)x & sign));
}

TS_V8_INLINE ts_v8sf ts_v8_silu(ts_v8sf x)
{
	return x / (1.0f + ts_v8_exp(-x));
}

TS_V8_INLINE ts_v8sf ts_v8_gelu(ts_v8sf x)
{
	const float c = 0.7978845608028654f;

	return 0.5f * x * (1.0f + ts_v8_tanh(c * (x + 0.044715f * x * x * x)));
}

#endif /* TS_CORE_CPU_VECMATH_H */
