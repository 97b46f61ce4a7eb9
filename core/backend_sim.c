// SPDX-License-Identifier: MIT
/*
 * core/backend_sim.c - the "sim" backend (see backend_sim.h).
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>

#include "backend_sim.h"

struct ts_dev {
	struct ts_dev_base base;
};

struct ts_backend {
	int n;
	struct ts_dev *dev;
};

struct ts_comm {
	int n;
	int member[];
};

static const struct ts_backend_ops sim_ops;

static int sim_create(const struct ts_host *host, int n_devices, struct ts_backend **out)
{
	struct ts_backend *be;

	if (n_devices < 1 || n_devices > TS_MAX_DEVICES)
		return TS_EINVAL;
	be = calloc(1, sizeof(*be));
	if (!be)
		return TS_ENOMEM;
	be->dev = calloc(n_devices, sizeof(*be->dev));
	if (!be->dev) {
		free(be);
		return TS_ENOMEM;
	}
	be->n = n_devices;
	for (int i = 0; i < n_devices; i++)
		be->dev[i].base = (struct ts_dev_base){ .be = &sim_ops, .index = i };
	*out = be;
	return 0;
}

static void sim_destroy(struct ts_backend *be)
{
	if (!be)
		return;
	free(be->dev);
	free(be);
}

static int sim_device_count(struct ts_backend *be)
{
	return be->n;
}

static struct ts_dev *sim_device(struct ts_backend *be, int i)
{
	return i >= 0 && i < be->n ? &be->dev[i] : NULL;
}

static void sim_device_info(struct ts_dev *dev, struct ts_device_info *info)
{
	*info = (struct ts_device_info){ .kind = "sim", .index = dev->base.index };
}

static int sim_comm_create(struct ts_backend *be, struct ts_dev *const *devs, int n,
			   struct ts_comm **out, size_t *bytes_out)
{
	struct ts_comm *c;

	if (n < 1 || n > be->n)
		return TS_EINVAL;
	c = malloc(sizeof(*c) + n * sizeof(int));
	if (!c)
		return TS_ENOMEM;
	c->n = n;
	for (int i = 0; i < n; i++)
		c->member[i] = devs[i]->base.index;
	*out = c;
	*bytes_out = (size_t)n * TS_SIM_COMM_BYTES_PER_RANK;
	return 0;
}

static void sim_comm_destroy(struct ts_comm *comm)
{
	free(comm);
}

int ts_sim_comm_size(const struct ts_comm *comm)
{
	return comm->n;
}

int ts_sim_comm_member(const struct ts_comm *comm, int r)
{
	return r >= 0 && r < comm->n ? comm->member[r] : -1;
}

/* No math: the op table, memory and collectives stay NULL. */
static const struct ts_backend_ops sim_ops = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "sim",
	.create = sim_create,
	.destroy = sim_destroy,
	.device_count = sim_device_count,
	.device = sim_device,
	.device_info = sim_device_info,
	.comm_create = sim_comm_create,
	.comm_destroy = sim_comm_destroy,
};

const struct ts_backend_ops *ts_backend_sim(void)
{
	return &sim_ops;
}
