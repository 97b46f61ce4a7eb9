/* SPDX-License-Identifier: MIT */
/*
 * modules/common/weights.h - reading a model's tensors from a safetensors
 * file onto a device, checked, or standing in random ones when the model
 * runs without a checkpoint. Shared by the model modules (dit, stdit): it is
 * linked into each of them as a static library and, being compiled with
 * hidden visibility, exports nothing (DESIGN.md §1).
 */
#ifndef TS_MC_WEIGHTS_H
#define TS_MC_WEIGHTS_H

#include <stdint.h>

#include <tetri/tetri.h>

/** struct mc_wload - one load of a model's weights onto one device. */
struct mc_wload {
	const struct ts_host *host;
	struct ts_dev *dev;
	struct ts_st *st;       /* NULL with random weights */
	const char *path;       /* named in every error */
	const char *who;        /* the model's log tag */
	uint64_t seed;          /* Philox key of the random weights' pool */
	uint64_t n_random;      /* tensors filled so far */
	float *pool;            /* random normals shared by the tensors */
};

/* Device memory for @elems weights on l->dev, or NULL (logged, naming the file). */
void *mc_wload_arena(struct mc_wload *l, int64_t elems);
/* Open the file (unless @random_weights), logging why it could not. */
int mc_wload_open(struct mc_wload *l, int random_weights);
/* Close the file and drop the random pool; safe after a failed open. */
void mc_wload_close(struct mc_wload *l);

/* Refuse a dtype other than F32/F16/BF16 or a shape other than @shape[@ndim]. */
int mc_wload_check(struct mc_wload *l, const char *key, const struct ts_tensor *t, int ndim,
		   const int64_t *shape);
/* Upload tensor @key (checked against @shape[@ndim]) to @dst, or random ones. */
int mc_wload_fetch(struct mc_wload *l, const char *key, void *dst, int ndim,
		   const int64_t *shape);
/* mc_wload_fetch for a matrix [@rows, @cols] and a vector [@n]. */
int mc_wload_mat(struct mc_wload *l, const char *key, void *dst, int64_t rows, int64_t cols);
int mc_wload_vec(struct mc_wload *l, const char *key, void *dst, int64_t n);

#endif /* TS_MC_WEIGHTS_H */
