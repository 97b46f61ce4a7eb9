// SPDX-License-Identifier: MIT
/*
 * core/topology.c - [pool] topology: islands of devices with fast links
 * between them (e.g. NVLink pairs on a PCIe box), written as device sets
 * separated by spaces: "0-1 2-3", "0,2 1,3".
 */
#include <stdlib.h>

#include <tetri/error.h>

#include "config.h"
#include "log.h"
#include "pool.h"

static int mark_island(int *island, int n, int id, const struct ts_devset *s, const char *what)
{
	for (int d = ts_devset_next(s, 0); d >= 0; d = ts_devset_next(s, d + 1)) {
		if (d >= n) {
			ts_err("pool", "%s: device %d of island %d is outside devices 0-%d", what, d,
			       id, n - 1);
			return TS_EINVAL;
		}
		if (island[d] >= 0) {
			ts_err("pool", "%s: device %d is in two islands", what, d);
			return TS_EINVAL;
		}
		island[d] = id;
	}
	return 0;
}

int ts_topology_parse(const char *text, int n, int *island, const char *what)
{
	struct ts_devset *sets;
	int n_sets, err;

	err = ts_devsets_parse(text, &sets, &n_sets);
	if (err) {
		ts_err("pool", "%s: '%s' is not a list of device sets like 0-1 2-3", what, text);
		return err;
	}
	for (int d = 0; d < n; d++)
		island[d] = -1;
	for (int i = 0; i < n_sets && !err; i++)
		err = mark_island(island, n, i, &sets[i], what);
	for (int d = 0; d < n && !err; d++) {
		if (island[d] < 0) {
			ts_err("pool", "%s: device %d is in no island", what, d);
			err = TS_EINVAL;
		}
	}
	free(sets);
	return err;
}
