/* SPDX-License-Identifier: MIT */
/*
 * tetri/devset.h - sets of device indices as fixed-size bitsets.
 *
 * Not limited to 64 devices: TS_MAX_DEVICES bits. Value type, cheap to copy,
 * comparable with memcmp; the group cache keys communicators by it.
 */
#ifndef TETRI_DEVSET_H
#define TETRI_DEVSET_H

#include <stdint.h>
#include <string.h>

#define TS_MAX_DEVICES 1024
#define TS_DEVSET_WORDS (TS_MAX_DEVICES / 64)

struct ts_devset {
	uint64_t w[TS_DEVSET_WORDS];
};

static inline void ts_devset_zero(struct ts_devset *s) { memset(s, 0, sizeof(*s)); }
static inline void ts_devset_add(struct ts_devset *s, int d) { s->w[d >> 6] |= 1ull << (d & 63); }
static inline void ts_devset_del(struct ts_devset *s, int d) { s->w[d >> 6] &= ~(1ull << (d & 63)); }
static inline int ts_devset_has(const struct ts_devset *s, int d)
{
	return (int)((s->w[d >> 6] >> (d & 63)) & 1);
}

static inline int ts_devset_count(const struct ts_devset *s)
{
	int n = 0;
	for (int i = 0; i < TS_DEVSET_WORDS; i++)
		n += __builtin_popcountll(s->w[i]);
	return n;
}

static inline int ts_devset_equal(const struct ts_devset *a, const struct ts_devset *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* 1 when every member of @a is in @b. */
static inline int ts_devset_subset(const struct ts_devset *a, const struct ts_devset *b)
{
	for (int i = 0; i < TS_DEVSET_WORDS; i++)
		if (a->w[i] & ~b->w[i])
			return 0;
	return 1;
}

/* Next member >= @from, or -1. Iterate: for (d = ts_devset_next(s, 0); d >= 0; d = ts_devset_next(s, d + 1)) */
static inline int ts_devset_next(const struct ts_devset *s, int from)
{
	if (from < 0)
		from = 0;
	for (int i = from >> 6; i < TS_DEVSET_WORDS; i++) {
		uint64_t w = s->w[i];
		if (i == from >> 6)
			w &= ~0ull << (from & 63);
		if (w)
			return i * 64 + __builtin_ctzll(w);
	}
	return -1;
}

#endif /* TETRI_DEVSET_H */
