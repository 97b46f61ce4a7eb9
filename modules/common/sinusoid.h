/* SPDX-License-Identifier: MIT */
/*
 * modules/common/sinusoid.h - the timestep sinusoid of DiT's and STDiT3's
 * TimestepEmbedder, computed on the host in float64 and rounded once to
 * float32: the golden outputs are float64, and t * f_k in float32 near
 * t = 1000 is already off by ~1e-5.
 */
#ifndef TS_MC_SINUSOID_H
#define TS_MC_SINUSOID_H

#include <stdint.h>

/*
 * TimestepEmbedder.timestep_embedding of @n values @t into @out[n, dim]:
 * [cos(t f_k) | sin(t f_k)], f_k = 10000^(-k/half), half = dim / 2.
 */
void mc_timestep_freq(float *out, const float *t, int64_t n, int dim);

#endif /* TS_MC_SINUSOID_H */
