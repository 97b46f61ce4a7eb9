/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_cost.c - analytic seconds per step (spec/models.md §1.7):
 * the FLOPs each rank computes at the device's dense rate, plus the bytes its
 * collectives move at the link rate and their latency.
 */
#include <string.h>

#include "dit.h"
#include "../common/cost.h"

#define DIT_GEMM_EFF 0.7          /* fraction of peak a step's GEMMs reach */
#define DIT_DEFAULT_FLOPS 2e11    /* when the device does not say: ~2 AVX2 cores of sgemm */
#define DIT_DEFAULT_LINK 1e10     /* bytes/s */
#define DIT_DEFAULT_LATENCY 1e-5  /* s per collective */

/* MACs of one sample's forward on one rank of @degree. */
static double macs(const struct dit_model *m, int degree)
{
	double N = (double)m->tokens, D = m->hidden, Dm = m->mlp_hidden, L = m->depth;
	double p2 = (double)m->patch * m->patch;
	/* qkv + proj + MLP, and QK^T + AV: split across ranks (tokens, then heads) */
	double split = L * (4 * N * D * D + 2 * N * D * Dm + 2 * N * N * D) / degree;
	/* adaLN, embedders, final layer: every rank computes them whole */
	double whole = L * 6 * D * D + N * D * p2 * m->in_ch + 2 * D * D + m->freq_dim * D + D * D;

	return split + whole + N * D * p2 * m->out_ch / degree;
}

double dit_cost(void *model, const struct ts_work *w, int degree, int batch,
		const struct ts_device_info *dev)
{
	static const struct mc_rates def = {
		.flops = DIT_DEFAULT_FLOPS, .link = DIT_DEFAULT_LINK,
		.latency = DIT_DEFAULT_LATENCY,
	};
	const struct dit_model *m = model;
	double samples = batch * (strstr(w->klass_key, ":cfg1") ? 2.0 : 1.0);
	double P = (double)m->patch * m->patch * m->out_ch;
	struct mc_rates r;
	double rows;

	if (batch < 1 || !mc_degree_allowed(w, degree))
		return -1.0;
	rows = (double)((m->tokens + degree - 1) / degree);
	mc_dev_rates(dev, &def, &r);
	return mc_step_seconds(&r, DIT_GEMM_EFF, macs(m, degree),
			       mc_ulysses_bytes(m->depth, rows, m->hidden, P, degree, r.esz),
			       samples, degree, m->depth);
}
