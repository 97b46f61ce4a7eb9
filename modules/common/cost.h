/* SPDX-License-Identifier: MIT */
/*
 * modules/common/cost.h - the shape of the model modules' analytic cost():
 * seconds per step = the FLOPs each rank computes at the device's dense
 * rate, plus the bytes its Ulysses all-to-alls move at the link rate and
 * their latency. Each model counts its own MACs and rows.
 */
#ifndef TS_MC_COST_H
#define TS_MC_COST_H

#include <tetri/tetri.h>

/** struct mc_rates - what a step's time is computed from. */
struct mc_rates {
	double flops;           /* dense FLOP/s of a device */
	double link;            /* bytes/s between two devices */
	double latency;         /* s per collective */
	double esz;             /* bytes per activation element */
};

/* 1 when @degree is among the work's allowed degrees. */
int mc_degree_allowed(const struct ts_work *w, int degree);

/*
 * @dev's rates where it gives them, else @def's; elements are 4 bytes on
 * the CPU backend (it computes in F32), 2 elsewhere (GPUs store BF16/F16).
 */
void mc_dev_rates(const struct ts_device_info *dev, const struct mc_rates *def,
		  struct mc_rates *out);

/*
 * Bytes one rank sends for one sample at @degree: two all-to-alls per
 * sequence-parallel block (out and back for q/k/v and the attention
 * output: 4 x @rows x @hidden, (k-1)/k of it leaving the rank), and the
 * final gather of the rank's @rows x @patch_out to the k - 1 others.
 */
double mc_ulysses_bytes(int blocks, double rows, double hidden, double patch_out, int degree,
			double esz);

/*
 * Seconds of a step: @macs per sample on a rank at @eff of peak, and at
 * @degree > 1 @bytes per sample on the link plus 2 @blocks + 1 latencies.
 */
double mc_step_seconds(const struct mc_rates *r, double eff, double macs, double bytes,
		       double samples, int degree, int blocks);

#endif /* TS_MC_COST_H */
