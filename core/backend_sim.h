/* SPDX-License-Identifier: MIT */
/*
 * core/backend_sim.h - the "sim" backend: devices that do no math, for the
 * simulator. Its communicators are cheap records that still report a memory
 * cost, so the group cache behaves as it would over NCCL.
 */
#ifndef TS_CORE_BACKEND_SIM_H
#define TS_CORE_BACKEND_SIM_H

#include <tetri/backend.h>

/* Bytes a simulated communicator reports per member (a stand-in for NCCL's buffers). */
#define TS_SIM_COMM_BYTES_PER_RANK (64ull << 20)

const struct ts_backend_ops *ts_backend_sim(void);

/* Members of a sim communicator (for tests): count, and the pool index of rank @r. */
int ts_sim_comm_size(const struct ts_comm *comm);
int ts_sim_comm_member(const struct ts_comm *comm, int r);

#endif /* TS_CORE_BACKEND_SIM_H */
