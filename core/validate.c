// SPDX-License-Identifier: MIT
/*
 * core/validate.c - checking a section against a schema (struct ts_key[]):
 * types, ranges, choices, required keys, defaults, unknown keys. Every
 * problem is reported before the verdict, so one run of a bad config shows
 * all its mistakes.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "log.h"

static const char *const type_names[] = {
	[TS_KEY_STRING] = "string", [TS_KEY_INT] = "integer", [TS_KEY_FLOAT] = "number",
	[TS_KEY_BOOL] = "boolean", [TS_KEY_PATH] = "path", [TS_KEY_ENUM] = "choice",
};

static __attribute__((format(printf, 3, 4))) int
bad(const struct ts_section *sec, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_cfg_verror(sec, key, fmt, ap);
	va_end(ap);
	sec->cfg->errors++;
	return TS_EINVAL;
}

static int in_range(const struct ts_key *k, double v)
{
	if (k->min == 0 && k->max == 0)
		return 1;
	return v >= k->min && v <= k->max;
}

static int check_int(const struct ts_section *sec, struct ts_kv *kv, const struct ts_key *k)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(kv->value, &end, 10);
	if (end == kv->value || *end || errno)
		return bad(sec, kv->key, "'%s' is not an integer", kv->value);
	if (!in_range(k, (double)v))
		return bad(sec, kv->key, "%lld is out of range [%.17g, %.17g]", v, k->min, k->max);
	kv->i = v;
	kv->f = (double)v;
	return 0;
}

static int check_float(const struct ts_section *sec, struct ts_kv *kv, const struct ts_key *k)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(kv->value, &end);
	if (end == kv->value || *end || errno || !isfinite(v))
		return bad(sec, kv->key, "'%s' is not a finite number", kv->value);
	if (!in_range(k, v))
		return bad(sec, kv->key, "%g is out of range [%.17g, %.17g]", v, k->min, k->max);
	kv->f = v;
	kv->i = (long long)v;
	return 0;
}

static int check_bool(const struct ts_section *sec, struct ts_kv *kv)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(kv->value, yes[i]))
			return kv->b = 1, kv->i = 1, 0;
		if (!strcasecmp(kv->value, no[i]))
			return kv->b = 0, kv->i = 0, 0;
	}
	return bad(sec, kv->key, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)",
		   kv->value);
}

static int check_enum(const struct ts_section *sec, struct ts_kv *kv, const struct ts_key *k)
{
	const char *c = k->choices ? k->choices : "";
	size_t n = strlen(kv->value);
	int idx = 0;

	while (*c) {
		size_t len = strcspn(c, "|");

		if (len == n && !strncmp(c, kv->value, n)) {
			kv->i = idx;
			return 0;
		}
		c += len;
		c += *c == '|';
		idx++;
	}
	return bad(sec, kv->key, "'%s' is not one of %s", kv->value, k->choices);
}

char *ts_cfg_resolve(const struct ts_section *sec, const struct ts_kv *kv, const char *value)
{
	char *out;

	/* Command-line and default values are relative to the current folder. */
	if (value[0] == '/' || kv->line <= 0 || kv->origin || !sec->cfg->path)
		return strdup(value);
	/* "dir/." and "dir/./x" read badly in messages; the result is the same file. */
	if (!strcmp(value, "."))
		return strdup(sec->cfg->dir);
	while (value[0] == '.' && value[1] == '/')
		value += 2;
	if (asprintf(&out, "%s/%s", sec->cfg->dir, value) < 0)
		return NULL;
	return out;
}

static int check_path(const struct ts_section *sec, struct ts_kv *kv)
{
	free(kv->path);
	kv->path = ts_cfg_resolve(sec, kv, kv->value);
	if (!kv->path)
		return bad(sec, kv->key, "out of memory");
	return 0;
}

static int check_value(const struct ts_section *sec, struct ts_kv *kv, const struct ts_key *k)
{
	int rc = 0;

	if (!*kv->value && k->type != TS_KEY_STRING)
		return bad(sec, kv->key, "empty value (expected a %s)", type_names[k->type]);
	switch (k->type) {
	case TS_KEY_STRING:
		break;
	case TS_KEY_INT:
		rc = check_int(sec, kv, k);
		break;
	case TS_KEY_FLOAT:
		rc = check_float(sec, kv, k);
		break;
	case TS_KEY_BOOL:
		rc = check_bool(sec, kv);
		break;
	case TS_KEY_PATH:
		rc = check_path(sec, kv);
		break;
	case TS_KEY_ENUM:
		rc = check_enum(sec, kv, k);
		break;
	default:
		rc = bad(sec, kv->key, "schema error: unknown key type %d", (int)k->type);
	}
	kv->checked = !rc;
	return rc;
}

static const struct ts_key *schema_find(const struct ts_key *keys, const char *name)
{
	for (; keys && keys->name; keys++)
		if (!strcmp(keys->name, name))
			return keys;
	return NULL;
}

static int extra_has(const char *const *extra, const char *name)
{
	for (; extra && *extra; extra++)
		if (!strcmp(*extra, name))
			return 1;
	return 0;
}

/* "a, b, c" for an unknown-key message; truncated when long. */
static void known_list(const struct ts_key *keys, const char *const *extra, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; extra && *extra; extra++)
		used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s",
					 used ? ", " : "", *extra);
	for (; keys && keys->name; keys++)
		used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s",
					 used ? ", " : "", keys->name);
	if (used >= n && n > 4)
		strcpy(buf + n - 4, "...");
}

/* Defaults another schema added are not this schema's business: drop them. */
static void drop_foreign_defaults(struct ts_section *sec, const struct ts_key *keys,
				  const char *const *extra)
{
	for (int i = sec->n_kv - 1; i >= 0; i--)
		if (sec->kv[i].is_default && !schema_find(keys, sec->kv[i].key) &&
		    !extra_has(extra, sec->kv[i].key))
			ts_section_kv_del(sec, i);
}

static int apply_schema_keys(struct ts_section *sec, const struct ts_key *keys)
{
	int rc = 0;

	for (const struct ts_key *k = keys; k && k->name; k++) {
		struct ts_kv *kv = ts_section_kv(sec, k->name);

		if (kv)
			continue;
		if (k->required) {
			if (k->help)
				rc = bad(sec, k->name, "required key missing (%s)", k->help);
			else
				rc = bad(sec, k->name, "required key missing");
			continue;
		}
		if (!k->def)
			continue;
		kv = ts_section_kv_add(sec, k->name, k->def, 0, NULL);
		if (!kv) {
			rc = bad(sec, k->name, "out of memory");
			continue;
		}
		kv->is_default = 1;
		if (check_value(sec, kv, k))
			rc = TS_EINVAL;
	}
	return rc;
}

int ts_section_check(struct ts_section *sec, const struct ts_key *keys,
		     const char *const *extra, int allow_unknown)
{
	char known[400];
	int rc = 0;

	drop_foreign_defaults(sec, keys, extra);
	for (int i = 0; i < sec->n_kv; i++) {
		struct ts_kv *kv = &sec->kv[i];
		const struct ts_key *k = schema_find(keys, kv->key);

		if (kv->is_default)
			continue;
		if (k) {
			if (check_value(sec, kv, k))
				rc = TS_EINVAL;
		} else if (!extra_has(extra, kv->key) && !allow_unknown) {
			known_list(keys, extra, known, sizeof(known));
			rc = bad(sec, kv->key, "unknown key (known: %s)", *known ? known : "none");
		}
	}
	if (apply_schema_keys(sec, keys))
		rc = TS_EINVAL;
	return rc;
}

int ts_section_validate(struct ts_section *sec, const struct ts_key *keys, const char *const *extra)
{
	return ts_section_check(sec, keys, extra, 0);
}
