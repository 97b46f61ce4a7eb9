/* SPDX-License-Identifier: MIT */
/*
 * tetri/module.h - the module descriptor and its accessor.
 *
 * A module .so exports exactly one symbol: its accessor, named
 *     ts_module_<name>_v1
 * where <name> is the file's base name (dit.so -> ts_module_dit_v1) and "v1"
 * is the version of the accessor protocol itself (a function returning a
 * descriptor), which never changes. The ABI version lives inside the
 * descriptor's header, so the host can read it from a module built against
 * another major and refuse it with both versions named.
 *
 *     static int dit_init(const struct ts_host *host, struct ts_module *self)
 *     {
 *             return host->register_model(self, &dit_ops);
 *     }
 *     TS_MODULE(dit, .version = "1.0.0", .license = "MIT",
 *               .description = "DiT", .init = dit_init);
 *
 * The accessor has no side effects; work happens in init, after the host has
 * checked magic, major, minor, size and signature, in that order.
 */
#ifndef TETRI_MODULE_H
#define TETRI_MODULE_H

#include "abi.h"

struct ts_host;

/**
 * struct ts_module - the descriptor of a loadable module.
 * @hdr: TS_MAGIC_MODULE header.
 * @name: module name; must equal the accessor's <name>; unique in the host.
 * @version: the module's own version (semver text).
 * @license, @description: shown by `tetriserve modules`.
 * @signature: TS_ABI_SIGNATURE at build time (see abi.h).
 * @init: called once after the checks; registers ops tables through the host.
 *        Return 0, or a negative TS_E* code after undoing its own work.
 * @exit: called once at unload (may be NULL); the host has already
 *        unregistered everything the module registered.
 * @priv: the module's own pointer, owned by the module.
 */
struct ts_module {
	struct ts_abi_hdr hdr;
	const char *name;
	const char *version;
	const char *license;
	const char *description;
	const char *signature;
	int (*init)(const struct ts_host *host, struct ts_module *self);
	void (*exit)(const struct ts_host *host, struct ts_module *self);
	void *priv;
};

typedef struct ts_module *(*ts_module_accessor_fn)(void);

#define TS_MODULE_ACCESSOR_PREFIX "ts_module_"
#define TS_MODULE_ACCESSOR_SUFFIX "_v1"

/*
 * TS_MODULE(name, fields...) - define the module's descriptor and accessor.
 * The descriptor is mutable (priv) but private to the .so.
 */
#define TS_MODULE(name_, ...)                                               \
	static struct ts_module ts__module_##name_ = {                      \
		.hdr = TS_ABI_HDR(TS_MAGIC_MODULE, struct ts_module),        \
		.name = #name_,                                              \
		.signature = TS_ABI_SIGNATURE,                               \
		__VA_ARGS__                                                  \
	};                                                                   \
	TS_EXPORT struct ts_module *ts_module_##name_##_v1(void);            \
	TS_EXPORT struct ts_module *ts_module_##name_##_v1(void)             \
	{                                                                    \
		return &ts__module_##name_;                                  \
	}

#endif /* TETRI_MODULE_H */
