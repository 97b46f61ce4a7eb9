// SPDX-License-Identifier: MIT
/*
 * core/host.c - struct ts_host, the table of functions the core lends to
 * modules. Most entries forward to the part of the core that does the
 * work; what lives here is the checking a module's input deserves before
 * the core trusts it (ops headers, names, required functions) and the
 * routing of a struct ts_dev * to the backend that owns it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/backend.h>
#include <tetri/error.h>

#include "config.h"
#include "log.h"
#include "registry.h"
#include "rng.h"
#include "safetensors.h"

#define WHO "host"

/*
 * The smallest ops tables the host accepts: everything up to the first field
 * documented as optional (read only under TS_ABI_HAS). A module built before
 * an optional field was appended still loads; the host just does not see it.
 */
#define TS_MODEL_OPS_MIN_SIZE offsetof(struct ts_model_ops, run_case)
#define TS_DECODER_OPS_MIN_SIZE offsetof(struct ts_decoder_ops, encode)
#define TS_POLICY_OPS_MIN_SIZE sizeof(struct ts_policy_ops)

static void host_log(enum ts_log_level lvl, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_vlog(lvl, who, fmt, ap);
	va_end(ap);
}

static const char *owner_name(const struct ts_module *self)
{
	return self && self->name ? self->name : "host";
}

/* Common to the three register_* entries: who is asking, and is the table sane? */
static int check_ops(struct ts_module *self, const char *what, const struct ts_abi_hdr *hdr,
		     uint32_t magic, size_t min_size, const char *name)
{
	const char *file;
	int rc;

	if (self && !ts_module_is_registering(self)) {
		ts_err(WHO, "%s: register_%s from a module that is not loaded", owner_name(self),
		       what);
		return TS_EINVAL;
	}
	if (!hdr) {
		ts_err(WHO, "%s: register_%s(NULL)", owner_name(self), what);
		return TS_EINVAL;
	}
	file = self ? ts_module_file(self) : NULL;
	rc = ts_abi_check(file ? file : owner_name(self), what, hdr, magic, min_size);
	if (rc)
		return rc;
	if (!name || !*name) {
		ts_err(WHO, "%s: %s ops without a name", owner_name(self), what);
		return TS_EINVAL;
	}
	return 0;
}

static int missing(const struct ts_module *self, const char *what, const char *name,
		   const char *fn)
{
	ts_err(WHO, "%s: %s '%s' has no %s", owner_name(self), what, name, fn);
	return TS_EINVAL;
}

static int host_register_model(struct ts_module *self, const struct ts_model_ops *ops)
{
	int rc = check_ops(self, "model", ops ? &ops->hdr : NULL, TS_MAGIC_MODEL,
			   TS_MODEL_OPS_MIN_SIZE, ops ? ops->name : NULL);

	if (rc)
		return rc;
	if (!ops->configure || !ops->release || !ops->plan)
		return missing(self, "model", ops->name, "configure/release/plan");
	return ts_registry_add(TS_REG_MODEL, self, ops->name, ops);
}

static int host_register_decoder(struct ts_module *self, const struct ts_decoder_ops *ops)
{
	int rc = check_ops(self, "decoder", ops ? &ops->hdr : NULL, TS_MAGIC_DECODER,
			   TS_DECODER_OPS_MIN_SIZE, ops ? ops->name : NULL);

	if (rc)
		return rc;
	if (!ops->configure || !ops->release || !ops->decode)
		return missing(self, "decoder", ops->name, "configure/release/decode");
	return ts_registry_add(TS_REG_DECODER, self, ops->name, ops);
}

static int host_register_policy(struct ts_module *self, const struct ts_policy_ops *ops)
{
	int rc = check_ops(self, "policy", ops ? &ops->hdr : NULL, TS_MAGIC_POLICY,
			   TS_POLICY_OPS_MIN_SIZE, ops ? ops->name : NULL);

	if (rc)
		return rc;
	if (!ops->create || !ops->plan || !ops->destroy)
		return missing(self, "policy", ops->name, "create/plan/destroy");
	return ts_registry_add(TS_REG_POLICY, self, ops->name, ops);
}

static int host_cfg_error(const struct ts_section *sec, const char *key, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return ts_cfg_error(sec, key, "%s", why);
}

/*
 * Host memory lent to modules, counted so a test (or a leak report at exit)
 * can tell whether a module gave back what it took. The header keeps the
 * size; 16 bytes keep the payload as aligned as malloc's.
 */
struct alloc_hdr {
	size_t bytes;
	size_t pad;
};

static atomic_llong alloc_live_bytes;
static atomic_llong alloc_live_count;

static void *host_alloc(size_t bytes)
{
	struct alloc_hdr *h;

	if (bytes > SIZE_MAX - sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h) + bytes);
	if (!h) {
		ts_err(WHO, "out of memory allocating %zu bytes", bytes);
		return NULL;
	}
	h->bytes = bytes;
	atomic_fetch_add(&alloc_live_bytes, (long long)bytes);
	atomic_fetch_add(&alloc_live_count, 1);
	return h + 1;
}

static void host_free(void *p)
{
	struct alloc_hdr *h;

	if (!p)
		return;
	h = (struct alloc_hdr *)p - 1;
	atomic_fetch_sub(&alloc_live_bytes, (long long)h->bytes);
	atomic_fetch_sub(&alloc_live_count, 1);
	free(h);
}

void *ts_host_alloc(size_t bytes)
{
	return host_alloc(bytes);
}

void ts_host_free(void *p)
{
	host_free(p);
}

long long ts_host_alloc_live(long long *count)
{
	if (count)
		*count = atomic_load(&alloc_live_count);
	return atomic_load(&alloc_live_bytes);
}

/* ---- devices: routed through struct ts_dev_base to the owning backend ---- */

static const struct ts_backend_ops *be_of(struct ts_dev *dev)
{
	return ts_dev_base(dev)->be;
}

static const struct ts_ops *host_dev_ops(struct ts_dev *dev)
{
	return be_of(dev)->ops(dev);
}

static const struct ts_coll_ops *host_dev_coll(struct ts_dev *dev)
{
	return be_of(dev)->coll;
}

static void *host_dev_alloc(struct ts_dev *dev, size_t elems)
{
	return be_of(dev)->alloc(dev, elems);
}

static void host_dev_free(struct ts_dev *dev, void *p)
{
	if (p)
		be_of(dev)->free(dev, p);
}

static int host_dev_upload(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype dt,
			   int64_t n)
{
	return be_of(dev)->upload(dev, dst, src, dt, n);
}

static int host_dev_download(struct ts_dev *dev, float *dst, const void *src, int64_t n)
{
	return be_of(dev)->download(dev, dst, src, n);
}

static int host_dev_sync(struct ts_dev *dev)
{
	const struct ts_backend_ops *be = be_of(dev);

	return be->sync ? be->sync(dev) : 0;
}

static void host_dev_info(struct ts_dev *dev, struct ts_device_info *info)
{
	be_of(dev)->device_info(dev, info);
}

/*
 * Raw bytes: optional backend ops, so a backend table built before they were
 * appended (or one without them, like sim) is refused here with a reason.
 */
static int has_bytes_ops(const struct ts_backend_ops *be, const char *what)
{
	if (TS_ABI_HAS(be, struct ts_backend_ops, download_bytes) && be->alloc_bytes &&
	    be->upload_bytes && be->download_bytes)
		return 1;
	ts_err(WHO, "%s: backend '%s' has no raw byte buffers", what, be->name);
	return 0;
}

static void *host_dev_alloc_bytes(struct ts_dev *dev, size_t bytes)
{
	const struct ts_backend_ops *be = be_of(dev);

	return has_bytes_ops(be, "dev_alloc_bytes") ? be->alloc_bytes(dev, bytes) : NULL;
}

static int host_dev_upload_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	const struct ts_backend_ops *be = be_of(dev);

	return has_bytes_ops(be, "dev_upload_bytes") ? be->upload_bytes(dev, dst, src, bytes)
						     : TS_ENOTSUP;
}

static int host_dev_download_bytes(struct ts_dev *dev, void *dst, const void *src, size_t bytes)
{
	const struct ts_backend_ops *be = be_of(dev);

	return has_bytes_ops(be, "dev_download_bytes") ? be->download_bytes(dev, dst, src, bytes)
						       : TS_ENOTSUP;
}

static const struct ts_host host_api = {
	.hdr = TS_ABI_HDR(TS_MAGIC_HOST, struct ts_host),
	.log = host_log,
	.register_model = host_register_model,
	.register_decoder = host_register_decoder,
	.register_policy = host_register_policy,
	.cfg_str = ts_cfg_str,
	.cfg_int = ts_cfg_int,
	.cfg_float = ts_cfg_float,
	.cfg_bool = ts_cfg_bool,
	.cfg_name = ts_cfg_name,
	.cfg_error = host_cfg_error,
	.alloc = host_alloc,
	.free = host_free,
	.st_open = ts_st_open,
	.st_get = ts_st_get,
	.st_meta = ts_st_meta,
	.st_path = ts_st_path,
	.st_count = ts_st_count,
	.st_key = ts_st_key,
	.st_close = ts_st_close,
	.dev_ops = host_dev_ops,
	.dev_coll = host_dev_coll,
	.dev_alloc = host_dev_alloc,
	.dev_free = host_dev_free,
	.dev_upload = host_dev_upload,
	.dev_download = host_dev_download,
	.dev_sync = host_dev_sync,
	.dev_info = host_dev_info,
	.rng_normal = ts_rng_normal,
	.dev_alloc_bytes = host_dev_alloc_bytes,
	.dev_upload_bytes = host_dev_upload_bytes,
	.dev_download_bytes = host_dev_download_bytes,
};

const struct ts_host *ts_host_api(void)
{
	return &host_api;
}
