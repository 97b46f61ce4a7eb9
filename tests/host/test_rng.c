// SPDX-License-Identifier: MIT
/*
 * tests/host/test_rng.c - Philox4x32-10 against the Random123 known-answer
 * vectors, and the normals built on it: a pure function of (seed, stream,
 * index) whatever slice is asked for, distinct across seeds and streams,
 * and standard normal in distribution.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "registry.h"
#include "tap.h"

static void test_kat(void)
{
	/* Random123 kat_vectors: philox4x32 10 rounds (ctr, key -> out). */
	static const struct {
		uint32_t ctr[4], key[2], out[4];
	} kat[] = {
		{ { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
		{ { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
		  { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
		{ { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
		  { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
	};

	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		uint32_t out[4];

		ts_philox4x32_10(kat[i].ctr, kat[i].key, out);
		ok(!memcmp(out, kat[i].out, sizeof(out)), "Random123 KAT %zu: %08x %08x %08x %08x",
		   i, out[0], out[1], out[2], out[3]);
	}
}

static void test_slices(void)
{
	enum { N = 1003 };
	static float whole[N], part[N];
	int same = 1;

	ts_rng_normal(42, 7, 0, whole, N);
	/* Odd offsets and lengths cut blocks of four in the middle. */
	ts_rng_normal(42, 7, 0, part, 5);
	ts_rng_normal(42, 7, 5, part + 5, 333);
	ts_rng_normal(42, 7, 338, part + 338, N - 338);
	same = !memcmp(whole, part, sizeof(whole));
	ok(same, "any slicing of a stream gives the same numbers");
	ts_rng_normal(42, 7, 0, part, N);
	ok(!memcmp(whole, part, sizeof(whole)), "same (seed, stream) twice: same numbers");
	ts_rng_normal(43, 7, 0, part, N);
	ok(memcmp(whole, part, sizeof(whole)) != 0, "another seed: other numbers");
	ts_rng_normal(42, 8, 0, part, N);
	ok(memcmp(whole, part, sizeof(whole)) != 0, "another stream: other numbers");
	ts_rng_normal(42, 7, (1ull << 34) + 1, part, 4);
	ok(memcmp(whole, part, 4 * sizeof(float)) != 0, "counter high word is used");
	ts_host_api()->rng_normal(42, 7, 0, part, N);
	ok(!memcmp(whole, part, sizeof(whole)), "host->rng_normal is the same generator");
}

static void test_moments(void)
{
	enum { N = 200000 };
	float *z = malloc(N * sizeof(*z));
	double sum = 0, sq = 0, fourth = 0;
	int within1 = 0, finite = 1;

	if (!z)
		exit(2);
	ts_rng_normal(2024, 0, 0, z, N);
	for (int i = 0; i < N; i++) {
		finite &= isfinite(z[i]);
		sum += z[i];
		sq += (double)z[i] * z[i];
		fourth += (double)z[i] * z[i] * z[i] * z[i];
		within1 += fabsf(z[i]) < 1.0f;
	}
	ok(finite, "all finite");
	/* Tolerances are ~5 standard errors at N = 200000. */
	ok(fabs(sum / N) < 0.012, "mean %.4f ~ 0", sum / N);
	ok(fabs(sq / N - 1.0) < 0.016, "variance %.4f ~ 1", sq / N);
	ok(fabs(fourth / N - 3.0) < 0.1, "fourth moment %.3f ~ 3", fourth / N);
	ok(fabs((double)within1 / N - 0.682689) < 0.006, "P(|z| < 1) = %.4f ~ 0.6827",
	   (double)within1 / N);
	free(z);
}

int main(void)
{
	test_kat();
	test_slices();
	test_moments();
	return tap_done();
}
