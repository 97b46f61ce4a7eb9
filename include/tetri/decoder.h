/* SPDX-License-Identifier: MIT */
/*
 * tetri/decoder.h - decoder ops (latent -> pixels), registered with
 * host->register_decoder(). A [model X] section with decoder = Y routes X's
 * finished latents to the decoder configured in section Y.
 */
#ifndef TETRI_DECODER_H
#define TETRI_DECODER_H

#include "abi.h"
#include "config.h"
#include "model.h"
#include "ops.h"
#include "tensor.h"

struct ts_st;

/**
 * struct ts_decoder_ops - a latent decoder.
 * @decode: latent (host F32) -> pixels (host F32 in [-1, 1], [B, C, (T,) H, W]),
 *          run on @dev within @mem_budget bytes of device memory (tiling or
 *          chunking in time as needed); @out->data is allocated by the module
 *          with the host's allocator and freed by the caller with host->free().
 * @cost:   seconds to decode @latent_shape on @dev.
 */
struct ts_decoder_ops {
	struct ts_abi_hdr hdr;
	const char *name;
	const char *description;
	const struct ts_key *keys;

	int (*configure)(const struct ts_host *host, const struct ts_section *sec, void **dec);
	void (*release)(void *dec);
	int (*load)(void *dec, struct ts_dev *dev, void **weights);
	void (*unload)(void *dec, struct ts_dev *dev, void *weights);
	int (*decode)(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *latent,
		      uint64_t mem_budget, struct ts_tensor *out);
	double (*cost)(void *dec, const struct ts_tensor *latent, const struct ts_device_info *dev);

	/*
	 * Optional, read only when TS_ABI_HAS(ops, struct ts_decoder_ops, field):
	 * @encode: pixels (host F32 in [-1, 1]) -> latent distribution moments
	 *          (host F32, mean channels then log-variance channels), like
	 *          @decode in memory, allocation and budget.
	 * @run_case: evaluate a reference case (`tetriserve run-case`): the
	 *          weights were loaded from the case file; the module reads its
	 *          inputs ("input.*") from @st and hands every output it computes
	 *          ("output.*", host F32, valid during the call) to @emit.
	 */
	int (*encode)(void *dec, struct ts_dev *dev, void *weights, const struct ts_tensor *pixels,
		      uint64_t mem_budget, struct ts_tensor *out);
	int (*run_case)(void *dec, struct ts_dev *dev, void *weights, struct ts_st *st,
			int (*emit)(void *arg, const struct ts_tensor *t), void *arg);
};

#endif /* TETRI_DECODER_H */
