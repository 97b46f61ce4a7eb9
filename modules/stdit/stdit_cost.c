/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_cost.c - analytic seconds per step (spec/models.md
 * §4.10): the FLOPs each rank computes at the device's dense rate, plus the
 * bytes its collectives move at the link rate and their latency.
 */
#include <string.h>

#include "stdit.h"
#include "../common/cost.h"

#define ST_GEMM_EFF 0.7          /* fraction of peak a step's GEMMs reach */
#define ST_DEFAULT_FLOPS 1e11    /* when the device does not say */
#define ST_DEFAULT_LINK 1e10     /* bytes/s */
#define ST_DEFAULT_LATENCY 1e-5  /* s per collective */

/*
 * MACs of one sample's forward on one rank of @degree: per block pair
 * 28 N D^2 (qkv, proj, cross q/proj, MLP in both blocks, with mlp_ratio 4),
 * 4 Ly D^2 (cross kv), 2 N D (S + T' + 2 Ly) (scores and values); the token
 * work splits over the ranks, the caption and embedders are done whole.
 */
double stdit_macs(const struct stdit_model *m, int64_t tg, int64_t S, int64_t ly, int degree)
{
	double D = m->hidden, Dm = m->mlp_hidden, N = (double)tg * S, L = m->depth;
	double Cp = (double)m->in_ch * m->pt * m->ph * m->pw;
	double P = (double)m->pt * m->ph * m->pw * m->out_ch;
	double per_tok = 2 * (4 * D * D + 2 * D * Dm + 2 * D * D) +
			 2 * D * ((double)S + (double)tg + 2.0 * (double)ly);
	double split = L * N * per_tok + N * D * (Cp + P);
	double whole = L * 4 * ly * D * D + (double)m->cap_len * ((double)m->cap_ch * D + D * D) +
		       2 * ((double)m->freq_dim * D + D * D) + 6 * D * D;

	return split / degree + whole;
}

double stdit_cost(void *model, const struct ts_work *w, int degree, int batch,
		  const struct ts_device_info *dev)
{
	static const struct mc_rates def = {
		.flops = ST_DEFAULT_FLOPS, .link = ST_DEFAULT_LINK, .latency = ST_DEFAULT_LATENCY,
	};
	const struct stdit_model *m = model;
	double samples = batch * (strstr(w->klass_key, ":cfg1") ? 2.0 : 1.0);
	double P = (double)m->pt * m->ph * m->pw * m->out_ch;
	int64_t tg, S;
	double rows;
	struct mc_rates r;

	if (batch < 1 || w->latent_shape_ndim != 5 || !mc_degree_allowed(w, degree))
		return -1.0;
	tg = st_ceil_div(w->latent_shape[2], m->pt);
	S = st_ceil_div(w->latent_shape[3], m->ph) * st_ceil_div(w->latent_shape[4], m->pw);
	rows = (double)tg * (double)st_ceil_div(S, degree);
	mc_dev_rates(dev, &def, &r);
	/*
	 * The caption's valid length is not part of the work: its upper bound L.
	 * The all-to-alls are the spatial blocks' (depth of them).
	 */
	return mc_step_seconds(&r, ST_GEMM_EFF, stdit_macs(m, tg, S, m->cap_len, degree),
			       mc_ulysses_bytes(m->depth, rows, m->hidden, P, degree, r.esz),
			       samples, degree, m->depth);
}
