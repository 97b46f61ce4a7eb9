/* SPDX-License-Identifier: MIT */
/*
 * core/config_int.h - the config's internals, shared by config.c (parsing,
 * storage, getters), validate.c (schemas) and schema.c (the host's own
 * sections). Nothing outside those three files includes this.
 */
#ifndef TS_CORE_CONFIG_INT_H
#define TS_CORE_CONFIG_INT_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

/*
 * One key = value. @origin, when set, replaces "file:line" in messages (a
 * value from the command line); @path is the resolved form of a path value;
 * @i, @f, @b the typed value once a schema has checked it.
 */
struct ts_kv {
	char *key;
	char *value;
	char *origin;
	char *path;
	int line;
	int is_default;
	int checked;
	long long i;
	double f;
	int b;
};

struct ts_section {
	struct ts_config *cfg;
	char *raw_name;   /* as written between the brackets */
	char *name_buf;   /* storage of kind and instance */
	char *kind;
	char *instance;
	char *name;       /* "kind instance", normalised */
	int line;         /* of the header; 0 if created by ts_config_section_get */
	struct ts_kv *kv;
	int n_kv, cap_kv;
};

struct ts_config {
	char *path;       /* NULL for ts_config_new() */
	char *dir;        /* relative paths resolve against it */
	struct ts_section **sec;
	int n_sec, cap_sec;
	int errors;       /* reported so far */
};

struct ts_kv *ts_section_kv(const struct ts_section *sec, const char *key);
struct ts_kv *ts_section_kv_add(struct ts_section *sec, const char *key, const char *value,
				int line, const char *origin);
void ts_section_kv_del(struct ts_section *sec, int i);
void ts_cfg_where(const struct ts_section *sec, const struct ts_kv *kv, char *buf, size_t n);
void ts_cfg_verror(const struct ts_section *sec, const char *key, const char *fmt, va_list ap);
char *ts_cfg_trim(char *s);
/* Resolve @value against the config's folder when it came from the file. */
char *ts_cfg_resolve(const struct ts_section *sec, const struct ts_kv *kv, const char *value);
/* Validate; with @allow_unknown, keys outside @keys and @extra are left for a later schema. */
int ts_section_check(struct ts_section *sec, const struct ts_key *keys,
		     const char *const *extra, int allow_unknown);
/* Host schemas of the fixed sections (schema.c), run by ts_config_load. */
void ts_config_check(struct ts_config *cfg);

#endif /* TS_CORE_CONFIG_INT_H */
