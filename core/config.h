/* SPDX-License-Identifier: MIT */
/*
 * core/config.h - the parsed configuration (inih underneath).
 *
 * Known sections: [server], [pool], [scheduler], [model NAME]. The host
 * validates [server] and [pool] against its own schemas, [scheduler] against
 * the engine's keys plus the policy's params, [model NAME] against the
 * module's schema. Every error names file:line and key; a config with any
 * error is refused whole.
 */
#ifndef TS_CORE_CONFIG_H
#define TS_CORE_CONFIG_H

#include <stddef.h>

#include <tetri/config.h>

struct ts_config;

/* Parse @path. On error logs every problem found and returns TS_EINVAL/TS_EIO/TS_EFORMAT. */
int ts_config_load(const char *path, struct ts_config **out);
/* An empty config (no file): sections are created on demand by ts_config_set(). */
struct ts_config *ts_config_new(void);
void ts_config_free(struct ts_config *cfg);
const char *ts_config_path(const struct ts_config *cfg);

/* Section by full name ("server", "model dit-xl-2-256"), or NULL. */
struct ts_section *ts_config_section(struct ts_config *cfg, const char *name);
/* Iterate sections in file order: i = 0.. until NULL. */
struct ts_section *ts_config_section_at(struct ts_config *cfg, int i);
/* Section, created empty if absent (for command-line overrides). */
struct ts_section *ts_config_section_get(struct ts_config *cfg, const char *name);

const char *ts_section_name(const struct ts_section *sec);     /* "model dit-xl-2-256" */
const char *ts_section_kind(const struct ts_section *sec);     /* "model" */
const char *ts_section_instance(const struct ts_section *sec); /* "dit-xl-2-256" or "" */

/* Raw value as written (NULL if absent) and the line it was on (0 if synthetic). */
const char *ts_section_raw(const struct ts_section *sec, const char *key, int *line);
/* Set or override a value (e.g. --policy-param k=8); origin names where it came from. */
int ts_section_set(struct ts_section *sec, const char *key, const char *value, const char *origin);
int ts_section_key_count(const struct ts_section *sec);
const char *ts_section_key_at(const struct ts_section *sec, int i);

/*
 * Validate @sec against @keys (NULL-name terminated); @extra lists keys the
 * host itself consumes in that section (e.g. "module", "decoder"), may be
 * NULL. Unknown keys, bad values and missing required keys are logged as
 * "file:line: [section] key: why"; returns 0 or TS_EINVAL after reporting
 * all of them. Applies defaults so the typed getters below always answer.
 */
int ts_section_validate(struct ts_section *sec, const struct ts_key *keys, const char *const *extra);

/* Typed getters of validated values (the implementations behind struct ts_host's cfg_*). */
const char *ts_cfg_str(const struct ts_section *sec, const char *key);
long long ts_cfg_int(const struct ts_section *sec, const char *key);
double ts_cfg_float(const struct ts_section *sec, const char *key);
int ts_cfg_bool(const struct ts_section *sec, const char *key);
int ts_cfg_error(const struct ts_section *sec, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- additions (host room) ---- */

struct ts_devset;

/* Folder relative paths of the file resolve against ("." without a file). */
const char *ts_config_dir(const struct ts_config *cfg);
struct ts_config *ts_section_config(const struct ts_section *sec);
const char *ts_cfg_name(const struct ts_section *sec);

/*
 * The host's schemas (core/schema.c), NULL-name terminated. [scheduler] and
 * [model NAME] list only the host's keys: the rest are the policy's or the
 * module's, checked by the two functions below once those are known.
 */
extern const struct ts_key ts_schema_server[];
extern const struct ts_key ts_schema_pool[];
extern const struct ts_key ts_schema_scheduler[];
extern const struct ts_key ts_schema_model[];

/* Validate [scheduler] (created if absent) against the policy's params plus the base keys. */
int ts_config_check_policy(struct ts_config *cfg, const struct ts_key *params);
/* Validate a [model NAME] section against its module's keys plus the host's model keys. */
int ts_config_check_model(struct ts_section *sec, const struct ts_key *keys);
/* Create [server], [pool], [scheduler] when absent and apply their defaults (done by load/new). */
int ts_config_fill_defaults(struct ts_config *cfg);

/* Device-set text: "0-3", "0,2,3,4", "0-1,6" (@len bytes of @s). 0 or TS_EINVAL/TS_ERANGE. */
int ts_devset_parse(const char *s, size_t len, struct ts_devset *out);
/* Space-separated device sets ("0-3 0,2,3,4"); *out is malloc'ed (free()), *n its length. */
int ts_devsets_parse(const char *s, struct ts_devset **out, int *n);

#endif /* TS_CORE_CONFIG_H */
