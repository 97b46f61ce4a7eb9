/* SPDX-License-Identifier: MIT */
/*
 * tests/stdit/sttest.h - what the STDiT3 tests add to tests/model/mtest.h
 * (paths, scratch folder, log capture, relative errors, the device rig):
 * where their data lies and the rig's model. Header-only.
 */
#ifndef TS_TESTS_STTEST_H
#define TS_TESTS_STTEST_H

#include "model/mtest.h"

#define ST_GOLDEN "tests/data/golden/stdit3"
#define ST_OURS "tests/data/stdit"

/* The rig's model: stdit.so, registered as "stdit3". */
static const struct mt_model st_model = { "stdit", "stdit3", "model stdit-test" };

static inline void st_init(const char *argv0)
{
	mt_init(argv0, "tsst");
}

static inline int st_rig_open(struct mt_rig *r, int n_dev, const char *const *kv)
{
	return mt_rig_open(r, &st_model, n_dev, kv);
}

#endif /* TS_TESTS_STTEST_H */
