/* SPDX-License-Identifier: MIT */
/*
 * modules/dit/dit_cost.c - analytic seconds per step (spec/models.md §1.7):
 * the FLOPs each rank computes at the device's dense rate, plus the bytes its
 * collectives move at the link rate and their latency.
 */
#include <string.h>

#include "dit.h"

#define DIT_GEMM_EFF 0.7          /* fraction of peak a step's GEMMs reach */
#define DIT_DEFAULT_FLOPS 2e11    /* when the device does not say: ~2 AVX2 cores of sgemm */
#define DIT_DEFAULT_LINK 1e10     /* bytes/s */
#define DIT_DEFAULT_LATENCY 1e-5  /* s per collective */

static int degree_allowed(const struct ts_work *w, int degree)
{
	for (int i = 0; i < w->n_degrees; i++)
		if (w->degrees[i] == degree)
			return 1;
	return 0;
}

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

/* Bytes one rank sends for one sample: two all-to-alls per block and the final gather. */
static double comm_bytes(const struct dit_model *m, int degree, double esz)
{
	double nl = (double)((m->tokens + degree - 1) / degree), D = m->hidden;
	double P = (double)m->patch * m->patch * m->out_ch;
	double frac = (double)(degree - 1) / degree;

	if (degree == 1)
		return 0;
	return m->depth * 4 * nl * D * frac * esz + nl * P * (degree - 1) * esz;
}

double dit_cost(void *model, const struct ts_work *w, int degree, int batch,
		const struct ts_device_info *dev)
{
	const struct dit_model *m = model;
	double samples = batch * (strstr(w->klass_key, ":cfg1") ? 2.0 : 1.0);
	double flops = dev && dev->peak_flops > 0 ? dev->peak_flops : DIT_DEFAULT_FLOPS;
	double link = dev && dev->link_bytes_s > 0 ? dev->link_bytes_s : DIT_DEFAULT_LINK;
	double lat = dev && dev->link_latency_s > 0 ? dev->link_latency_s : DIT_DEFAULT_LATENCY;
	/* the CPU backend computes in F32; GPUs store BF16/F16 */
	double esz = dev && dev->kind && !strcmp(dev->kind, "cpu") ? 4 : 2;
	double t;

	if (batch < 1 || !degree_allowed(w, degree))
		return -1.0;
	t = 2 * macs(m, degree) * samples / (flops * DIT_GEMM_EFF);
	if (degree > 1)
		t += comm_bytes(m, degree, esz) * samples / link + (2.0 * m->depth + 1) * lat;
	return t;
}
