// SPDX-License-Identifier: MIT
/*
 * tests/host/test_host_api.c - struct ts_host as a module sees it: its
 * header, logging, config access and cfg_error's message, counted memory,
 * and dev_* entries routed through struct ts_dev_base to the backend that
 * owns the device (two fake backends, so a wrong route shows).
 */
#include <stdlib.h>
#include <string.h>

#include <tetri/backend.h>

#include "config.h"
#include "registry.h"
#include "tap.h"
#include "util.h"

struct fake_dev {
	struct ts_dev_base base;
	int calls[8];
	float mem[16];
};

enum { C_OPS, C_ALLOC, C_FREE, C_UP, C_DOWN, C_SYNC, C_INFO };

static struct fake_dev *fd(struct ts_dev *dev)
{
	return (struct fake_dev *)(void *)dev;
}

static const struct ts_ops fake_ops = { .hdr = TS_ABI_HDR(TS_MAGIC_OPS, struct ts_ops) };
static const struct ts_coll_ops fake_coll = { .hdr = TS_ABI_HDR(TS_MAGIC_COLL, struct ts_coll_ops) };

static const struct ts_ops *f_ops(struct ts_dev *dev)
{
	fd(dev)->calls[C_OPS]++;
	return &fake_ops;
}

static void *f_alloc(struct ts_dev *dev, size_t elems)
{
	fd(dev)->calls[C_ALLOC]++;
	return elems <= 16 ? fd(dev)->mem : NULL;
}

static void f_free(struct ts_dev *dev, void *p)
{
	fd(dev)->calls[C_FREE]++;
}

static int f_upload(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype t, int64_t n)
{
	fd(dev)->calls[C_UP]++;
	if (t != TS_F32)
		return TS_ENOTSUP;
	memcpy(dst, src, (size_t)n * sizeof(float));
	return 0;
}

static int f_download(struct ts_dev *dev, float *dst, const void *src, int64_t n)
{
	fd(dev)->calls[C_DOWN]++;
	memcpy(dst, src, (size_t)n * sizeof(float));
	return 0;
}

static int f_sync(struct ts_dev *dev)
{
	fd(dev)->calls[C_SYNC]++;
	return 0;
}

static void f_info(struct ts_dev *dev, struct ts_device_info *info)
{
	fd(dev)->calls[C_INFO]++;
	info->kind = "fake";
	info->index = fd(dev)->base.index;
}

static const struct ts_backend_ops fake_a = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "fake_a",
	.device_info = f_info,
	.ops = f_ops,
	.coll = &fake_coll,
	.alloc = f_alloc,
	.free = f_free,
	.upload = f_upload,
	.download = f_download,
	.sync = f_sync,
};

/* A second backend without sync: the host treats it as synchronous. */
static const struct ts_backend_ops fake_b = {
	.hdr = TS_ABI_HDR(TS_MAGIC_BACKEND, struct ts_backend_ops),
	.name = "fake_b",
	.device_info = f_info,
	.ops = f_ops,
	.coll = NULL,
	.alloc = f_alloc,
	.free = f_free,
	.upload = f_upload,
	.download = f_download,
};

static void test_devices(const struct ts_host *host)
{
	struct fake_dev a = { .base = { .be = &fake_a, .index = 3 } };
	struct fake_dev b = { .base = { .be = &fake_b, .index = 5 } };
	struct ts_dev *da = (struct ts_dev *)(void *)&a, *db = (struct ts_dev *)(void *)&b;
	float in[4] = { 1, 2, 3, 4 }, out[4] = { 0 };
	struct ts_device_info info = { 0 };
	void *p;

	ok(host->dev_ops(da) == &fake_ops && a.calls[C_OPS] == 1 && b.calls[C_OPS] == 0,
	   "dev_ops routed to the device's backend");
	ok(host->dev_coll(da) == &fake_coll && host->dev_coll(db) == NULL,
	   "dev_coll is the backend's collectives");
	p = host->dev_alloc(db, 4);
	ok(p == b.mem && b.calls[C_ALLOC] == 1 && a.calls[C_ALLOC] == 0, "dev_alloc routed");
	ok(host->dev_upload(db, p, in, TS_F32, 4) == 0 && !memcmp(b.mem, in, sizeof(in)),
	   "dev_upload routed, data arrives");
	ok(host->dev_upload(db, p, in, TS_BF16, 4) == TS_ENOTSUP, "backend's error passed back");
	ok(host->dev_download(db, out, p, 4) == 0 && !memcmp(out, in, sizeof(in)),
	   "dev_download routed, data returns");
	host->dev_free(db, p);
	host->dev_free(db, NULL);
	ok(b.calls[C_FREE] == 1, "dev_free routed; NULL is not passed on");
	ok(host->dev_sync(da) == 0 && a.calls[C_SYNC] == 1 && host->dev_sync(db) == 0,
	   "dev_sync routed; a backend without sync counts as synchronous");
	host->dev_info(da, &info);
	ok(info.index == 3 && !strcmp(info.kind, "fake"), "dev_info routed");
}

static void test_config_access(const struct ts_host *host)
{
	static const struct ts_key keys[] = {
		{ .name = "depth", .type = TS_KEY_INT, .def = "28" },
		{ .name = "scale", .type = TS_KEY_FLOAT, .def = "1.5" },
		{ .name = "fast", .type = TS_KEY_BOOL, .def = "off" },
		{ .name = "vae", .type = TS_KEY_PATH },
		{ .name = NULL },
	};
	struct ts_config *cfg = NULL;
	struct ts_section *sec;
	int rc;

	tu_capture();
	rc = ts_config_load(tu_write("m.ini", "[model big]\nmodule = dit\ndepth = 40\nvae = w/v.st\n"),
			    &cfg);
	tu_release();
	ok(rc == 0, "config loads");
	if (rc)
		return;
	sec = ts_config_section(cfg, "model big");
	ok(ts_config_check_model(sec, keys) == 0, "module schema applied");
	ok(host->cfg_int(sec, "depth") == 40 && host->cfg_float(sec, "scale") == 1.5 &&
	   host->cfg_bool(sec, "fast") == 0, "cfg_int/float/bool through the host");
	ok(!strcmp(host->cfg_name(sec), "model big") && host->cfg_str(sec, "nokey") == NULL &&
	   host->cfg_int(sec, "nokey") == 0, "cfg_name; absent keys answer NULL and 0");
	ok(!strncmp(host->cfg_str(sec, "vae"), tu_dir, strlen(tu_dir)), "path resolved");
	tu_capture();
	rc = host->cfg_error(sec, "depth", "%d layers do not fit in %s", 40, "memory");
	tu_release();
	ok(rc == TS_EINVAL && tu_logged("m.ini:3: [model big] depth: 40 layers do not fit in memory"),
	   "cfg_error names file:line: [section] key");
	ts_config_free(cfg);
}

int main(void)
{
	const struct ts_host *host = ts_host_api();
	long long live, count;
	void *p;

	tu_tmpdir();
	ok(host->hdr.magic == TS_MAGIC_HOST && host->hdr.major == TS_ABI_MAJOR &&
	   host->hdr.size == sizeof(struct ts_host), "host table header");
	tu_capture();
	host->log(TS_LOG_WARN, "mymod", "%d things\n", 3);
	tu_release();
	ok(!strcmp(tu_log, "warn: [mymod] 3 things\n"), "log: one line, level and module named");

	live = ts_host_alloc_live(&count);
	p = host->alloc(1000);
	ok(p && ((uintptr_t)p & 15) == 0 && ts_host_alloc_live(NULL) == live + 1000,
	   "alloc counted and 16-byte aligned");
	memset(p, 1, 1000);
	host->free(p);
	host->free(NULL);
	ok(ts_host_alloc_live(&count) == live && count == 0, "free gives it back");

	test_config_access(host);
	test_devices(host);
	return tap_done();
}
