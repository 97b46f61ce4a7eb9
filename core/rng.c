// SPDX-License-Identifier: MIT
/*
 * core/rng.c - Philox4x32-10 and standard normals from it (see rng.h).
 */
#include <math.h>

#include "rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
	uint64_t p = (uint64_t)a * b;

	*hi = (uint32_t)(p >> 32);
	return (uint32_t)p;
}

void ts_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
	uint32_t k0 = key[0], k1 = key[1];

	for (int r = 0; r < 10; r++) {
		uint32_t hi0, hi1;
		uint32_t lo0 = mulhilo(PHILOX_M0, c0, &hi0);
		uint32_t lo1 = mulhilo(PHILOX_M1, c2, &hi1);

		c0 = hi1 ^ c1 ^ k0;
		c1 = lo1;
		c2 = hi0 ^ c3 ^ k1;
		c3 = lo0;
		k0 += PHILOX_W0;
		k1 += PHILOX_W1;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}

/* Four normals from block @block of the stream. */
static void normal_block(const uint32_t key[2], uint64_t stream, uint64_t block, double z[4])
{
	const uint32_t ctr[4] = {
		(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)
	};
	uint32_t x[4];

	ts_philox4x32_10(ctr, key, x);
	for (int p = 0; p < 2; p++) {
		/* (x + 0.5) / 2^32 lies in (0, 1): log() never sees 0. */
		double u1 = ((double)x[2 * p] + 0.5) * 0x1p-32;
		double u2 = ((double)x[2 * p + 1] + 0.5) * 0x1p-32;
		double r = sqrt(-2.0 * log(u1));
		double t = 2.0 * M_PI * u2;

		z[2 * p] = r * cos(t);
		z[2 * p + 1] = r * sin(t);
	}
}

void ts_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, float *out, int64_t n)
{
	const uint32_t key[2] = { (uint32_t)seed, (uint32_t)(seed >> 32) };
	uint64_t i = offset, end = offset + (uint64_t)(n > 0 ? n : 0);
	uint64_t block = UINT64_MAX;
	double z[4];

	for (; i < end; i++) {
		if (i / 4 != block) {
			block = i / 4;
			normal_block(key, stream, block, z);
		}
		*out++ = (float)z[i % 4];
	}
}
