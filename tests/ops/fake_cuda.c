// SPDX-License-Identifier: MIT
/*
 * tests/ops/fake_cuda.c - a stand-in "cuda" backend .so for the registry
 * test: it exports ts_backend_cuda_v1 like the real one, and its create
 * refuses with TS_ENODEV (as the real one does on a machine without GPUs).
 * TS_FAKE_BAD_MAGIC builds a variant whose table the host must refuse.
 */
#include <tetri/backend.h>
#include <tetri/error.h>

static int fake_create(const struct ts_host *host, int n, struct ts_backend **out)
{
	return TS_ENODEV;
}

static void fake_destroy(struct ts_backend *be)
{
}

static int fake_count(struct ts_backend *be)
{
	return 0;
}

static struct ts_dev *fake_device(struct ts_backend *be, int i)
{
	return NULL;
}

static const struct ts_backend_ops fake_ops = {
#ifdef TS_FAKE_BAD_MAGIC
	.hdr = TS_ABI_HDR(TS_MAGIC_POLICY, struct ts_backend_ops),
#else
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
#endif
	.name = "cuda",
	.create = fake_create,
	.destroy = fake_destroy,
	.device_count = fake_count,
	.device = fake_device,
};

TS_EXPORT const struct ts_backend_ops *ts_backend_cuda_v1(void)
{
	return &fake_ops;
}
