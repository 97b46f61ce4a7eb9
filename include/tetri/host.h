/* SPDX-License-Identifier: MIT */
/*
 * tetri/host.h - the host API: the table of functions the core lends to
 * modules (SQLite's extension pattern). Modules never call core symbols
 * directly; everything they need from the host is here. Appended to in minor
 * versions: check TS_ABI_HAS(host, struct ts_host, field) before using a
 * field newer than TS_ABI_MINOR 0.
 */
#ifndef TETRI_HOST_H
#define TETRI_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"
#include "config.h"
#include "decoder.h"
#include "model.h"
#include "module.h"
#include "ops.h"
#include "policy.h"
#include "tensor.h"

#define TS_MAGIC_HOST TS_FOURCC('T', 'S', 'H', 'O')

/* Log levels, most severe first; [server] log_level drops the levels after it. */
enum ts_log_level { TS_LOG_ERROR = 0, TS_LOG_WARN = 1, TS_LOG_INFO = 2, TS_LOG_DEBUG = 3 };

struct ts_st; /* an open safetensors file (mmapped, read-only) */

/**
 * struct ts_host - functions the host lends to modules.
 * Strings returned by the host stay valid while the object they came from does.
 *
 * The table is passed to init() and to every create()/configure(); it is
 * static and the same for the life of the process, so a module may keep
 * the pointer. Its hdr is TS_ABI_HDR(TS_MAGIC_HOST, struct ts_host); the
 * loader has already matched the module's major, so only fields appended in
 * a later minor need TS_ABI_HAS(host, struct ts_host, field).
 *
 * Threads: log, cfg_*, alloc/free, st_get/st_meta/st_key/st_count/st_path
 * (on an open file), dev_* (on the calling worker's own device) and
 * rng_normal may be called from any thread, including inside step().
 * register_*, st_open and st_close belong to init/configure/load time.
 */
struct ts_host {
	struct ts_abi_hdr hdr;

	/*
	 * Logging: one line "level: [who] message" (a trailing newline is
	 * optional); @who is normally the module's name. printf-style.
	 */
	void (*log)(enum ts_log_level lvl, const char *who, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/*
	 * Registration (from init). The host keeps the pointers until the module is
	 * unloaded. Each checks the ops header (magic, major, minor, size: logged
	 * with both values), a non-empty name and the required functions, then
	 * refuses a name its kind already has: 0, TS_EABI, TS_EINVAL or TS_EEXIST.
	 * @self is the descriptor init() received.
	 */
	int (*register_model)(struct ts_module *self, const struct ts_model_ops *ops);
	int (*register_decoder)(struct ts_module *self, const struct ts_decoder_ops *ops);
	int (*register_policy)(struct ts_module *self, const struct ts_policy_ops *ops);

	/*
	 * Validated config values (defaults applied) of the section the module was
	 * given. cfg_str returns NULL when the key is absent and has no default; the
	 * others return 0 then. cfg_str of a TS_KEY_PATH key is the resolved path;
	 * cfg_int of a TS_KEY_ENUM key is the index of the choice; cfg_float of an
	 * INT key is its value as a double.
	 */
	const char *(*cfg_str)(const struct ts_section *sec, const char *key);
	long long (*cfg_int)(const struct ts_section *sec, const char *key);
	double (*cfg_float)(const struct ts_section *sec, const char *key);
	int (*cfg_bool)(const struct ts_section *sec, const char *key);
	const char *(*cfg_name)(const struct ts_section *sec); /* "model dit-xl-2-256" */
	/* Log "file:line: [section] key: message" for a value the module finds bad; returns TS_EINVAL. */
	int (*cfg_error)(const struct ts_section *sec, const char *key, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

	/*
	 * Host memory (counted, so leaks are visible; device-independent), aligned
	 * like malloc. alloc logs and returns NULL on failure; free(NULL) is a no-op.
	 * Memory a module hands to the host (e.g. a decoder's output) comes from here.
	 */
	void *(*alloc)(size_t bytes);
	void (*free)(void *p);

	/*
	 * safetensors: open (mmap, header validated: dtypes, shapes, sizes, offsets
	 * inside the file, no overlap; failures logged naming the file and key,
	 * returning TS_ENOENT, TS_EIO or TS_EFORMAT), find a tensor, read metadata.
	 * Tensor data points into the read-only mapping, valid until st_close; it
	 * is aligned to its element size when the writer aligned it (the host's
	 * writer and the reference one do: widest dtype first, 8-byte header).
	 */
	int (*st_open)(const char *path, struct ts_st **out);
	/* 0, TS_ENOENT (logged by caller), never touches @out on failure. */
	int (*st_get)(struct ts_st *st, const char *key, struct ts_tensor *out);
	const char *(*st_meta)(struct ts_st *st, const char *key);
	const char *(*st_path)(struct ts_st *st);
	int (*st_count)(struct ts_st *st);
	const char *(*st_key)(struct ts_st *st, int i); /* i-th tensor name, sorted */
	void (*st_close)(struct ts_st *st);

	/*
	 * Device memory and transfers (conversion to/from the device dtype included),
	 * routed to the backend that owns @dev. Sizes are elements of the device's
	 * storage dtype (dev_ops(dev)->dtype); upload converts from @src_dtype,
	 * download converts to F32. dev_sync waits for the device's queued work.
	 */
	const struct ts_ops *(*dev_ops)(struct ts_dev *dev);
	const struct ts_coll_ops *(*dev_coll)(struct ts_dev *dev);
	void *(*dev_alloc)(struct ts_dev *dev, size_t elems); /* elements of the device dtype */
	void (*dev_free)(struct ts_dev *dev, void *p);
	int (*dev_upload)(struct ts_dev *dev, void *dst, const void *src, enum ts_dtype src_dtype,
			  int64_t n);
	int (*dev_download)(struct ts_dev *dev, float *dst, const void *src, int64_t n);
	int (*dev_sync)(struct ts_dev *dev);
	void (*dev_info)(struct ts_dev *dev, struct ts_device_info *info);

	/*
	 * Counter-based RNG (Philox4x32-10), the same on every backend and degree:
	 * standard normals number offset .. offset+n-1 of the stream keyed by
	 * (seed, stream). Host memory.
	 */
	void (*rng_normal)(uint64_t seed, uint64_t stream, uint64_t offset, float *out, int64_t n);

	/*
	 * Appended (check TS_ABI_HAS(host, struct ts_host, dev_download_bytes)):
	 * raw device bytes, never converted, for data that is not in the device
	 * dtype, such as struct ts_attention.key_mask (uint8 in device memory).
	 * dev_alloc_bytes counts bytes, not elements; the block is freed with
	 * dev_free and is aligned for any dtype. dev_upload_bytes copies @bytes
	 * host bytes to device @dst and dev_download_bytes device @src to host
	 * @dst, unchanged; both return once the copy is done (the host buffer may
	 * be reused at once) and are ordered after the work queued on @dev.
	 * A backend without byte buffers gives NULL / TS_ENOTSUP, logged.
	 */
	void *(*dev_alloc_bytes)(struct ts_dev *dev, size_t bytes);
	int (*dev_upload_bytes)(struct ts_dev *dev, void *dst, const void *src, size_t bytes);
	int (*dev_download_bytes)(struct ts_dev *dev, void *dst, const void *src, size_t bytes);
};

#endif /* TETRI_HOST_H */
