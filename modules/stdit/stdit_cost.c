/* SPDX-License-Identifier: MIT */
/*
 * modules/stdit/stdit_cost.c - analytic seconds per step (spec/models.md
 * §4.10): the FLOPs each rank computes at the device's dense rate, plus the
 * bytes its collectives move at the link rate and their latency.
 */
#include <string.h>

#include "stdit.h"

#define ST_GEMM_EFF 0.7          /* fraction of peak a step's GEMMs reach */
#define ST_DEFAULT_FLOPS 1e11    /* when the device does not say */
#define ST_DEFAULT_LINK 1e10     /* bytes/s */
#define ST_DEFAULT_LATENCY 1e-5  /* s per collective */

static int degree_allowed(const struct ts_work *w, int degree)
{
	for (int i = 0; i < w->n_degrees; i++)
		if (w->degrees[i] == degree)
			return 1;
	return 0;
}

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

/* Bytes one rank sends per sample: two all-to-alls per spatial block, the final gather. */
static double comm_bytes(const struct stdit_model *m, int64_t tg, int64_t S, int degree,
			 double esz)
{
	double rows = (double)tg * (double)st_ceil_div(S, degree), D = m->hidden;
	double P = (double)m->pt * m->ph * m->pw * m->out_ch;
	double frac = (double)(degree - 1) / degree;

	if (degree == 1)
		return 0;
	return m->depth * 4 * rows * D * frac * esz + rows * P * (degree - 1) * esz;
}

double stdit_cost(void *model, const struct ts_work *w, int degree, int batch,
		  const struct ts_device_info *dev)
{
	const struct stdit_model *m = model;
	double samples = batch * (strstr(w->klass_key, ":cfg1") ? 2.0 : 1.0);
	double flops = dev && dev->peak_flops > 0 ? dev->peak_flops : ST_DEFAULT_FLOPS;
	double link = dev && dev->link_bytes_s > 0 ? dev->link_bytes_s : ST_DEFAULT_LINK;
	double lat = dev && dev->link_latency_s > 0 ? dev->link_latency_s : ST_DEFAULT_LATENCY;
	double esz = dev && dev->kind && !strcmp(dev->kind, "cpu") ? 4 : 2;
	int64_t tg = st_ceil_div(w->latent_shape[2], m->pt);
	int64_t S = st_ceil_div(w->latent_shape[3], m->ph) * st_ceil_div(w->latent_shape[4], m->pw);
	double t;

	if (batch < 1 || w->latent_shape_ndim != 5 || !degree_allowed(w, degree))
		return -1.0;
	/* the caption's valid length is not part of the work: its upper bound L */
	t = 2 * stdit_macs(m, tg, S, m->cap_len, degree) * samples / (flops * ST_GEMM_EFF);
	if (degree > 1)
		t += comm_bytes(m, tg, S, degree, esz) * samples / link +
		     (2.0 * m->depth + 1) * lat;
	return t;
}
