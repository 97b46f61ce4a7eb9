/* SPDX-License-Identifier: MIT */
/*
 * core/registry.h - loaded modules and the ops tables they registered.
 * The core knows no model or policy by name: it finds them here.
 */
#ifndef TS_CORE_REGISTRY_H
#define TS_CORE_REGISTRY_H

#include <tetri/tetri.h>

/* The host API table lent to every module (core/host.c). */
const struct ts_host *ts_host_api(void);

/* Module search path: ':'-separated directories, searched in order. */
void ts_loader_set_path(const char *path);
const char *ts_loader_path(void);
/*
 * Load the module file @path (dlopen RTLD_NOW|RTLD_LOCAL, accessor, checks
 * magic, major, minor, size, signature in that order, duplicate names, init).
 * The first failed check is logged with both values and the file. On any
 * failure everything is undone and a TS_E* code returned.
 */
int ts_module_load_file(const char *path, struct ts_module **out);
/* Load "<name>.so" from the search path unless a module of that name is already loaded. */
int ts_module_load(const char *name, struct ts_module **out);
/* Unregister what it registered, call exit, dlclose. */
void ts_module_unload(struct ts_module *mod);
void ts_module_unload_all(void);
int ts_module_count(void);
struct ts_module *ts_module_at(int i);

/* Registered ops by name (NULL if none). */
const struct ts_model_ops *ts_find_model(const char *name);
const struct ts_decoder_ops *ts_find_decoder(const char *name);
const struct ts_policy_ops *ts_find_policy(const char *name);
/* Find a policy, loading module "<name>.so" from the path if needed. */
const struct ts_policy_ops *ts_policy_get(const char *name);

/* ---- additions (host room) ---- */

enum ts_reg_kind { TS_REG_MODEL = 0, TS_REG_DECODER = 1, TS_REG_POLICY = 2, TS_REG_KIND_COUNT };

/*
 * Register @ops under @name for @owner (NULL: built into the host). The
 * host API's register_* check the ops header first, then come here.
 * TS_EEXIST when the kind already has that name.
 */
int ts_registry_add(enum ts_reg_kind kind, struct ts_module *owner, const char *name,
		    const void *ops);
/* Remove everything @owner registered; returns how many entries went. */
int ts_registry_remove_owner(struct ts_module *owner);
/* Registered entries in registration order (for `tetriserve modules`). */
int ts_registry_count(void);
int ts_registry_at(int i, enum ts_reg_kind *kind, const char **name, struct ts_module **owner);
const char *ts_reg_kind_name(enum ts_reg_kind kind);

/* The file a loaded module came from, or NULL. */
const char *ts_module_file(const struct ts_module *mod);
/* A loaded module by name, or NULL. */
struct ts_module *ts_module_find(const char *name);
/*
 * Check an ABI header: @what names the struct in messages ("module",
 * "policy ops"), @min_size is the struct's size at ABI minor 0. The first
 * failed check (magic, major, minor, size) is logged with both values and
 * @file. 0 or TS_EABI.
 */
int ts_abi_check(const char *file, const char *what, const struct ts_abi_hdr *hdr,
		 uint32_t magic, size_t min_size);
/* Compare a module's signature with the host's; the first differing token is logged. */
int ts_abi_check_signature(const char *file, const char *sig);

/* 1 when @mod is loaded or its init is running (it may register ops). */
int ts_module_is_registering(const struct ts_module *mod);

/* Host memory as lent to modules (host->alloc/free), and what is still out. */
void *ts_host_alloc(size_t bytes);
void ts_host_free(void *p);
long long ts_host_alloc_live(long long *count);

/* Load every *.so of every folder of the search path; returns how many failed. */
int ts_module_load_path(void);

/* ---- binding a config to its modules (core/bind.c) ---- */

struct ts_config;

/* [server] module_path and log_level, when the file sets them, take effect. */
void ts_config_apply_server(struct ts_config *cfg);
/*
 * Load (from the search path: ts_config_apply_server() first to use the
 * config's) the [scheduler] policy and every [model NAME]'s
 * module, and validate those sections against their schemas (a section's
 * ops: kind = X, else the module's name, else the module's only model or
 * decoder). Every error is logged as file:line: [section] key: why;
 * returns 0 or TS_EINVAL after reporting all of them.
 */
int ts_config_bind(struct ts_config *cfg);
/* The same for one [model NAME] section (a model loaded at run time). */
int ts_config_bind_model(struct ts_section *sec);

#endif /* TS_CORE_REGISTRY_H */
