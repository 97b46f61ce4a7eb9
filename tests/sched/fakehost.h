/* SPDX-License-Identifier: MIT */
/*
 * tests/sched/fakehost.h - the smallest host a policy module needs in a unit
 * test: log, register_policy (captures the ops) and cfg_* over a list of
 * "key=value" strings standing in for a validated [scheduler] section.
 */
#ifndef TS_TESTS_SCHED_FAKEHOST_H
#define TS_TESTS_SCHED_FAKEHOST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/error.h>
#include <tetri/host.h>

struct fh_section {
	const char *const *kv; /* NULL-terminated "key=value" */
	const struct ts_key *schema;
};

static const struct ts_policy_ops *fh_ops;

static void fh_log(enum ts_log_level lvl, const char *who, const char *fmt, ...)
{
	va_list ap;

	printf("# [%s] ", who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int fh_register_policy(struct ts_module *self, const struct ts_policy_ops *ops)
{
	fh_ops = ops;
	return 0;
}

/* The value of @key: from the list, else the schema's default. */
static const char *fh_value(const struct ts_section *sec, const char *key)
{
	const struct fh_section *s = (const struct fh_section *)(const void *)sec;
	size_t n = strlen(key);

	for (int i = 0; s->kv && s->kv[i]; i++)
		if (!strncmp(s->kv[i], key, n) && s->kv[i][n] == '=')
			return s->kv[i] + n + 1;
	for (int i = 0; s->schema && s->schema[i].name; i++)
		if (!strcmp(s->schema[i].name, key))
			return s->schema[i].def;
	return NULL;
}

static const char *fh_str(const struct ts_section *sec, const char *key)
{
	return fh_value(sec, key);
}

static long long fh_int(const struct ts_section *sec, const char *key)
{
	const char *v = fh_value(sec, key);

	return v ? strtoll(v, NULL, 10) : 0;
}

static double fh_float(const struct ts_section *sec, const char *key)
{
	const char *v = fh_value(sec, key);

	return v ? strtod(v, NULL) : 0.0;
}

static int fh_bool(const struct ts_section *sec, const char *key)
{
	const char *v = fh_value(sec, key);

	if (!v)
		return 0;
	return !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on");
}

static const struct ts_host fh_host = {
	.hdr = TS_ABI_HDR(TS_MAGIC_HOST, struct ts_host),
	.log = fh_log,
	.register_policy = fh_register_policy,
	.cfg_str = fh_str,
	.cfg_int = fh_int,
	.cfg_float = fh_float,
	.cfg_bool = fh_bool,
};

/* Load a module through its accessor and create its policy with @kv params. */
static inline int fh_create(struct ts_module *(*accessor)(void), const char *const *kv,
			    struct fh_section *sec, void **self)
{
	struct ts_module *m = accessor();
	int ret;

	fh_ops = NULL;
	ret = m->init(&fh_host, m);
	if (ret || !fh_ops)
		return ret ? ret : TS_EINVAL;
	*sec = (struct fh_section){ .kv = kv, .schema = fh_ops->params };
	return fh_ops->create(&fh_host, (const struct ts_section *)(const void *)sec, self);
}

#endif /* TS_TESTS_SCHED_FAKEHOST_H */
