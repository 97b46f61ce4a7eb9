/* SPDX-License-Identifier: MIT */
/*
 * modules/common/cost.c - the parts of the model modules' cost() that are
 * the same for every sequence-parallel transformer (cost.h).
 */
#include <string.h>

#include "cost.h"

int mc_degree_allowed(const struct ts_work *w, int degree)
{
	for (int i = 0; i < w->n_degrees; i++)
		if (w->degrees[i] == degree)
			return 1;
	return 0;
}

void mc_dev_rates(const struct ts_device_info *dev, const struct mc_rates *def,
		  struct mc_rates *out)
{
	out->flops = dev && dev->peak_flops > 0 ? dev->peak_flops : def->flops;
	out->link = dev && dev->link_bytes_s > 0 ? dev->link_bytes_s : def->link;
	out->latency = dev && dev->link_latency_s > 0 ? dev->link_latency_s : def->latency;
	out->esz = dev && dev->kind && !strcmp(dev->kind, "cpu") ? 4 : 2;
}

double mc_ulysses_bytes(int blocks, double rows, double hidden, double patch_out, int degree,
			double esz)
{
	double frac = (double)(degree - 1) / degree;

	if (degree == 1)
		return 0;
	return blocks * 4 * rows * hidden * frac * esz + rows * patch_out * (degree - 1) * esz;
}

double mc_step_seconds(const struct mc_rates *r, double eff, double macs, double bytes,
		       double samples, int degree, int blocks)
{
	double t = 2 * macs * samples / (r->flops * eff);

	if (degree > 1)
		t += bytes * samples / r->link + (2.0 * blocks + 1) * r->latency;
	return t;
}
