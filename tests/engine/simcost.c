// SPDX-License-Identifier: MIT
/*
 * tests/engine/simcost.c - a fixture model module with a cost function and
 * nothing else worth running: the simulator must cost a model through it
 * exactly as through a profile. Step time: 0.01 s per 1024 tokens at degree
 * 1, divided by degree^0.75, times batch^0.8; degrees 1, 2, 4; batch <= 2.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tetri/tetri.h>

static const struct ts_key simcost_keys[] = {
	{ .name = "scale", .type = TS_KEY_FLOAT, .def = "1.0", .min = 0.001, .max = 1000,
	  .help = "multiplies every step time" },
	{ .name = NULL },
};

static const struct ts_host *simcost_host;

static int simcost_configure(const struct ts_host *host, const struct ts_section *sec, void **model)
{
	double *scale = host->alloc(sizeof(double));

	if (!scale)
		return TS_ENOMEM;
	*scale = host->cfg_float(sec, "scale");
	*model = scale;
	return 0;
}

static void simcost_release(void *model)
{
	simcost_host->free(model);
}

static int simcost_plan(void *model, const struct ts_req_params *p, struct ts_work *w)
{
	if (p->width < 16 || p->height < 16 || p->steps < 1)
		return TS_EINVAL;
	memset(w, 0, sizeof(*w));
	w->steps = p->steps;
	w->tokens = (int64_t)p->width * p->height / 256;
	w->n_degrees = 3;
	w->degrees[0] = 1;
	w->degrees[1] = 2;
	w->degrees[2] = 4;
	w->max_batch = 2;
	snprintf(w->klass_key, sizeof(w->klass_key), "simcost:%lld", (long long)w->tokens);
	return 0;
}

static double simcost_cost(void *model, const struct ts_work *w, int degree, int batch,
			   const struct ts_device_info *dev)
{
	const double *scale = model;

	if (degree != 1 && degree != 2 && degree != 4)
		return -1;
	return *scale * 0.01 * (double)w->tokens / 1024 / pow(degree, 0.75) * pow(batch, 0.8);
}

static const struct ts_model_ops simcost_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_MODEL, struct ts_model_ops),
	.name = "simcost",
	.description = "cost-function-only fixture",
	.keys = simcost_keys,
	.configure = simcost_configure,
	.release = simcost_release,
	.plan = simcost_plan,
	.cost = simcost_cost,
};

static int simcost_init(const struct ts_host *host, struct ts_module *self)
{
	simcost_host = host;
	return host->register_model(self, &simcost_ops);
}

TS_MODULE(simcost, .version = "0.1.0", .license = "MIT",
	  .description = "test fixture: a model known by its cost function", .init = simcost_init);
