/* SPDX-License-Identifier: MIT */
/*
 * modules/common/shards.h - the sequence-parallel (Ulysses) layout both
 * model families share: each of @groups independent sequences (DiT: a
 * sample's tokens; STDiT3: a frame's positions) of @len rows is cut in
 * @degree shares of nl = ceil(len / degree) rows, rank s holding rows
 * [s nl, s nl + real_s); when the degree does not divide len the last
 * shares are short, and their padding rows travel but are dropped, so they
 * are never keys (the same as masking them).
 *
 * An exchange buffer (all-to-all or all-gather) is [degree, groups, nl,
 * cols]; a dense tensor is [groups, len, cols].
 */
#ifndef TS_MC_SHARDS_H
#define TS_MC_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include <tetri/tetri.h>

/** struct mc_shards - one rank's view of the cut, and the device to copy on. */
struct mc_shards {
	const struct ts_ops *ops;
	struct ts_dev *dev;
	const struct ts_coll_ops *coll;
	struct ts_comm *comm;
	size_t esz;             /* bytes per device element */
	int degree;
	int64_t groups;         /* independent sequences */
	int64_t len;            /* rows of one sequence */
	int64_t nl;             /* rows per share, ceil(len / degree) */
};

/*
 * Whether @degree may cut a sequence of @len rows (@what: "tokens") with
 * @heads heads: it must divide the heads (the all-to-all trades rows for
 * heads) and leave every rank a row. Rank 0 logs the refusal as @who (every
 * rank finds it; one message is enough). 0 or TS_EINVAL.
 */
int mc_shards_check(const struct ts_host *host, const char *who, int rank, int degree, int heads,
		    int64_t len, const char *what);

/* Real (unpadded) rows of rank @s's share. */
int64_t mc_shard_rows(const struct mc_shards *sh, int s);

/* Every share's real rows between an exchange buffer and the dense tensor. */
int mc_shards_copy(const struct mc_shards *sh, void *dense, void *xchg, int64_t cols,
		   int to_dense);

/*
 * Every rank's [groups, nl, cols] share -> the dense [groups, len, cols]
 * tensor on every rank; @all holds degree * groups * nl * cols elements
 * (unused at degree 1).
 */
int mc_shards_gather(const struct mc_shards *sh, const void *shard, void *all, void *full,
		     int64_t cols);

#endif /* TS_MC_SHARDS_H */
