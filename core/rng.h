/* SPDX-License-Identifier: MIT */
/*
 * core/rng.h - the counter-based RNG behind host->rng_normal: Philox4x32-10
 * (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * Normal number i of the stream (seed, stream) is a pure function of
 * (seed, stream, i): key = seed, counter = (i / 4, stream), and each pair of
 * the four 32-bit outputs becomes two normals by Box-Muller. So any slice of
 * a stream can be generated alone, in any order, on any thread, and the
 * noise of a request never depends on how its work was split.
 */
#ifndef TS_CORE_RNG_H
#define TS_CORE_RNG_H

#include <stdint.h>

/* One Philox4x32 block with 10 rounds: @out = philox(@ctr, @key). */
void ts_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Standard normals @offset .. @offset + @n - 1 of stream (@seed, @stream). */
void ts_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, float *out, int64_t n);

#endif /* TS_CORE_RNG_H */
