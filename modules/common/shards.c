/* SPDX-License-Identifier: MIT */
/*
 * modules/common/shards.c - copies and gathers of the sequence-parallel
 * shares (shards.h).
 */
#include "shards.h"

static void *at(const struct mc_shards *sh, void *p, int64_t n)
{
	return (char *)p + n * (int64_t)sh->esz;
}

int mc_shards_check(const struct ts_host *host, const char *who, int rank, int degree, int heads,
		    int64_t len, const char *what)
{
	if (degree >= 1 && heads % degree == 0 && degree <= len)
		return 0;
	if (rank == 0)
		host->log(TS_LOG_ERROR, who, "degree %d not allowed: it must divide num_heads %d "
			  "and not exceed the %lld %s", degree, heads, (long long)len, what);
	return TS_EINVAL;
}

int64_t mc_shard_rows(const struct mc_shards *sh, int s)
{
	int64_t n = sh->len - (int64_t)s * sh->nl;

	return n < 0 ? 0 : n > sh->nl ? sh->nl : n;
}

int mc_shards_copy(const struct mc_shards *sh, void *dense, void *xchg, int64_t cols,
		   int to_dense)
{
	for (int s = 0; s < sh->degree; s++) {
		int64_t rows = mc_shard_rows(sh, s);

		for (int64_t g = 0; g < sh->groups && rows > 0; g++) {
			void *d = at(sh, dense, (g * sh->len + s * sh->nl) * cols);
			void *x = at(sh, xchg, ((s * sh->groups + g) * sh->nl) * cols);
			int err;

			if (to_dense)
				err = sh->ops->copy2d(sh->dev, d, cols, x, cols, rows, cols);
			else
				err = sh->ops->copy2d(sh->dev, x, cols, d, cols, rows, cols);
			if (err)
				return err;
		}
	}
	return 0;
}

int mc_shards_gather(const struct mc_shards *sh, const void *shard, void *all, void *full,
		     int64_t cols)
{
	int64_t n = sh->groups * sh->nl * cols;
	int err;

	if (sh->degree == 1)
		return sh->ops->copy2d(sh->dev, full, n, shard, n, 1, n);
	err = sh->coll->all_gather(sh->comm, shard, all, n);
	return err ? err : mc_shards_copy(sh, full, all, cols, 1);
}
