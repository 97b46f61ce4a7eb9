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

#endif /* TS_CORE_REGISTRY_H */
