// SPDX-License-Identifier: MIT
/*
 * tests/gpu/test_cuda_host_cvt.c - the CUDA backend's host-side conversions
 * (core/cuda/host_cvt.c), which every upload and download goes through; no
 * GPU needed. bf16 rounding is checked against its definition (nearest of
 * the two neighbours, ties to the even one) on fresh random floats, f16
 * decoding on hand-picked codes.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tetri/error.h>

#include "cuda/host_cvt.h"
#include "tap.h"

static float from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

/* 1 when @h is a correctly rounded bf16 of finite @x. */
static int bf16_ok(float x, uint16_t h)
{
	uint32_t lo = bits(x) & 0xffff0000u, hi = lo + 0x10000u;
	double dl = fabs((double)x - from_bits(lo)), dh = fabs((double)x - from_bits(hi));
	uint32_t want = dl < dh ? lo : dh < dl ? hi : ((lo >> 16) & 1) ? hi : lo;

	return (uint32_t)h << 16 == want;
}

int main(void)
{
	uint64_t s = (uint64_t)time(NULL) | 1;
	int bad = 0;

	tap_diag("seed %llu", (unsigned long long)s);
	for (int i = 0; i < 1000000; i++) {
		float x;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		x = from_bits((uint32_t)s & 0xbfffffffu); /* finite: exponent below all-ones */
		if (!bf16_ok(x, ts_f32_to_bf16(x)))
			bad++;
	}
	ok(!bad, "bf16 rounding is nearest-even on 1e6 random floats (%d wrong)", bad);
	ok(ts_f32_to_bf16(from_bits(0x3f808000u)) == 0x3f80, "bf16 tie rounds down to even");
	ok(ts_f32_to_bf16(from_bits(0x3f818000u)) == 0x3f82, "bf16 tie rounds up to even");
	ok(isnan(ts_bf16_to_f32(ts_f32_to_bf16(NAN))), "bf16 keeps NaN a NaN");
	ok(ts_f32_to_bf16(INFINITY) == 0x7f80 && ts_f32_to_bf16(-INFINITY) == 0xff80,
	   "bf16 keeps infinities");
	ok(ts_bf16_to_f32(0xc0a0) == -5.0f, "bf16 0xc0a0 is -5");

	ok(ts_f16_to_f32(0x3c00) == 1.0f && ts_f16_to_f32(0xc000) == -2.0f, "f16 normals");
	ok(ts_f16_to_f32(0x0001) == ldexpf(1, -24) && ts_f16_to_f32(0x83ff) == -ldexpf(1023, -24),
	   "f16 subnormals");
	ok(isinf(ts_f16_to_f32(0x7c00)) && isnan(ts_f16_to_f32(0x7e00)), "f16 inf and NaN");
	ok(ts_f16_to_f32(0x7bff) == 65504.0f, "f16 largest finite");

	{
		int64_t i64[3] = { -3, 0, 1 << 20 };
		uint8_t u8[3] = { 0, 1, 255 };
		uint16_t out[3];
		float f[3];

		ok(!ts_host_convert(f, TS_F32, i64, TS_I64, 3) && f[0] == -3 && f[2] == 1 << 20,
		   "I64 converts by value");
		ok(!ts_host_convert(out, TS_BF16, u8, TS_U8, 3) && ts_bf16_to_f32(out[2]) == 255,
		   "U8 converts by value");
		ok(ts_host_convert(out, TS_I32, f, TS_F32, 3) == TS_ENOTSUP,
		   "an integer destination is refused");
	}
	return tap_done();
}
