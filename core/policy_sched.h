/* SPDX-License-Identifier: MIT */
/*
 * core/policy_sched.h - the built-in "schedule" policy: every request's
 * step s runs at degree degrees[s] (policy param `degrees = 1,2,4,1`).
 */
#ifndef TS_CORE_POLICY_SCHED_H
#define TS_CORE_POLICY_SCHED_H

#include <tetri/policy.h>

const struct ts_policy_ops *ts_policy_schedule(void);

#endif /* TS_CORE_POLICY_SCHED_H */
