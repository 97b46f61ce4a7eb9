// SPDX-License-Identifier: MIT
/*
 * core/schema.c - the host's own sections: [server], [pool], the base keys
 * of [scheduler] and the host keys of [model NAME]. The rest of [scheduler]
 * belongs to the policy and the rest of [model NAME] to the module; those
 * are checked by ts_config_check_policy() / ts_config_check_model() once the
 * policy or module is known. Values with a syntax of their own (device
 * counts, device sets, islands, search paths) get a second look here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tetri/devset.h>

#include "config_int.h"
#include "log.h"

/* The engine may append [pool] keys; keep the table NULL-terminated. */
const struct ts_key ts_schema_server[] = {
	{ .name = "listen", .type = TS_KEY_STRING, .def = "127.0.0.1:8080",
	  .help = "HTTP address, host:port" },
	{ .name = "queue_limit", .type = TS_KEY_INT, .def = "1024", .min = 1, .max = 1 << 24,
	  .help = "requests queued before new ones are refused" },
	{ .name = "module_path", .type = TS_KEY_STRING,
	  .help = "':'-separated module folders (default: modules/ beside the executable)" },
	{ .name = "log_level", .type = TS_KEY_ENUM, .def = "info", .choices = "error|warn|info|debug",
	  .help = "least severe level logged" },
	/* The HTTP front-end's keys (core/server/). */
	{ .name = "admin_token_file", .type = TS_KEY_PATH,
	  .help = "file holding the bearer token of /admin/* (absent: admin off)" },
	{ .name = "max_body_bytes", .type = TS_KEY_INT, .def = "1048576", .min = 256,
	  .max = 1 << 30, .help = "largest request body accepted (413 past it)" },
	{ .name = "infeasible", .type = TS_KEY_ENUM, .def = "reject", .choices = "reject|best_effort",
	  .help = "a deadline no idle pool can meet: 422, or accept best-effort" },
	{ .name = "slo_scale", .type = TS_KEY_FLOAT, .def = "2.0", .min = 0.01, .max = 1000,
	  .help = "deadline without deadline_ms: scale x steps at one device" },
	{ .name = "engine_tick_ms", .type = TS_KEY_FLOAT, .def = "2", .min = 0.1, .max = 1000,
	  .help = "longest a new submission waits for the engine thread" },
	{ .name = "drain_timeout_s", .type = TS_KEY_FLOAT, .def = "30", .min = 0, .max = 86400,
	  .help = "on SIGTERM, how long queued and running jobs may finish" },
	{ .name = "job_history", .type = TS_KEY_INT, .def = "100000", .min = 1, .max = 1 << 26,
	  .help = "jobs kept for status and listing; the oldest finished go first" },
	{ .name = NULL },
};

const struct ts_key ts_schema_pool[] = {
	{ .name = "backend", .type = TS_KEY_ENUM, .def = "cpu", .choices = "cpu|cuda|sim",
	  .help = "compute backend" },
	{ .name = "devices", .type = TS_KEY_STRING, .def = "1",
	  .help = "device count, or all" },
	{ .name = "device_kind", .type = TS_KEY_STRING,
	  .help = "simulated device kind, e.g. H100 (sim backend)" },
	{ .name = "threads_per_device", .type = TS_KEY_INT, .def = "1", .min = 1, .max = 1024,
	  .help = "worker threads per CPU device" },
	{ .name = "compute_nice", .type = TS_KEY_INT, .def = "10", .min = 0, .max = 19,
	  .help = "serve: nice of the device and decoder threads, below HTTP and the engine" },
	{ .name = "memory_mib", .type = TS_KEY_INT, .min = 1, .max = 1 << 30,
	  .help = "memory per device in MiB" },
	{ .name = "group_cache_budget_mib", .type = TS_KEY_INT, .min = 1, .max = 1 << 30,
	  .help = "memory the group cache may spend on communicators" },
	{ .name = "prewarm", .type = TS_KEY_STRING,
	  .help = "device sets to create communicators for at start, e.g. 0-3 0,2,3,4" },
	{ .name = "topology", .type = TS_KEY_STRING,
	  .help = "islands of fast links, e.g. 0-1 2-3" },
	{ .name = NULL },
};

const struct ts_key ts_schema_scheduler[] = {
	{ .name = "policy", .type = TS_KEY_STRING, .def = "tetri",
	  .help = "policy module name" },
	{ .name = "round_steps", .type = TS_KEY_INT, .def = "5", .min = 1, .max = 100000,
	  .help = "round length in denoising steps" },
	{ .name = "round_ms", .type = TS_KEY_FLOAT, .min = 0.001, .max = 3.6e6,
	  .help = "round length in milliseconds (replaces round_steps)" },
	{ .name = NULL },
};

const struct ts_key ts_schema_model[] = {
	{ .name = "module", .type = TS_KEY_STRING, .help = "module that implements the model" },
	{ .name = "kind", .type = TS_KEY_STRING,
	  .help = "model kind, when the module registers several" },
	{ .name = "decoder", .type = TS_KEY_STRING, .help = "[model NAME] section of the decoder" },
	{ .name = "weights", .type = TS_KEY_PATH, .help = "safetensors file" },
	{ .name = "profile", .type = TS_KEY_PATH, .help = "cost-table CSV" },
	{ .name = "steps", .type = TS_KEY_INT, .min = 1, .max = 100000,
	  .help = "default denoising steps" },
	{ .name = NULL },
};

static const char *const scheduler_names[] = { "policy", "round_steps", "round_ms", NULL };
static const char *const model_names[] = {
	"module", "kind", "decoder", "weights", "profile", "steps", NULL
};

static __attribute__((format(printf, 3, 4))) void
bad(struct ts_section *sec, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_cfg_verror(sec, key, fmt, ap);
	va_end(ap);
	sec->cfg->errors++;
}

static int parse_index(const char **s, int *out)
{
	char *end;
	long v;

	if (**s < '0' || **s > '9')
		return TS_EINVAL;
	errno = 0;
	v = strtol(*s, &end, 10);
	if (errno || v >= TS_MAX_DEVICES)
		return TS_ERANGE;
	*s = end;
	*out = (int)v;
	return 0;
}

int ts_devset_parse(const char *s, size_t len, struct ts_devset *out)
{
	char buf[4096];
	const char *p = buf;
	int a, b, rc;

	if (len == 0 || len >= sizeof(buf))
		return TS_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	ts_devset_zero(out);
	for (;;) {
		rc = parse_index(&p, &a);
		if (rc)
			return rc;
		b = a;
		if (*p == '-') {
			p++;
			rc = parse_index(&p, &b);
			if (rc)
				return rc;
			if (b < a)
				return TS_EINVAL;
		}
		for (int d = a; d <= b; d++)
			ts_devset_add(out, d);
		if (!*p)
			return 0;
		if (*p++ != ',')
			return TS_EINVAL;
	}
}

int ts_devsets_parse(const char *s, struct ts_devset **out, int *n)
{
	struct ts_devset *sets = NULL, *grown;
	int count = 0, rc;

	*out = NULL;
	*n = 0;
	while (*s) {
		size_t len;

		s += strspn(s, " \t");
		len = strcspn(s, " \t");
		if (!len)
			break;
		grown = realloc(sets, (size_t)(count + 1) * sizeof(*sets));
		if (!grown) {
			free(sets);
			return TS_ENOMEM;
		}
		sets = grown;
		rc = ts_devset_parse(s, len, &sets[count]);
		if (rc) {
			free(sets);
			return rc;
		}
		count++;
		s += len;
	}
	*out = sets;
	*n = count;
	return 0;
}

/* Largest device index + 1 the pool will have, or 0 when not known yet ("all"). */
static int pool_device_count(struct ts_section *sec)
{
	const char *v = ts_cfg_str(sec, "devices");
	char *end;
	long n;

	if (!v || !strcmp(v, "all"))
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || *end || errno || n < 1 || n > TS_MAX_DEVICES) {
		bad(sec, "devices", "'%s' is neither a count in [1, %d] nor 'all'", v, TS_MAX_DEVICES);
		return -1;
	}
	return (int)n;
}

/* @islands: the sets must also be disjoint (each device in one island). */
static void check_devsets(struct ts_section *sec, const char *key, int n_dev, int islands)
{
	const char *v = ts_cfg_str(sec, key);
	struct ts_devset *sets, seen;
	int n, rc, last;

	if (!v)
		return;
	rc = ts_devsets_parse(v, &sets, &n);
	if (rc) {
		bad(sec, key, "'%s' is not a list of device sets like '0-3 0,2,3,4'", v);
		return;
	}
	ts_devset_zero(&seen);
	for (int i = 0; i < n; i++) {
		last = -1;
		for (int d = ts_devset_next(&sets[i], 0); d >= 0; d = ts_devset_next(&sets[i], d + 1))
			last = d;
		if (n_dev > 0 && last >= n_dev) {
			bad(sec, key, "device %d is out of range (devices = %d)", last, n_dev);
			break;
		}
		for (int w = 0; islands && w < TS_DEVSET_WORDS; w++) {
			if (seen.w[w] & sets[i].w[w]) {
				bad(sec, key, "device %d is in two islands",
				    w * 64 + __builtin_ctzll(seen.w[w] & sets[i].w[w]));
				islands = 0;
			}
			seen.w[w] |= sets[i].w[w];
		}
	}
	free(sets);
}

/* Each folder of the search path resolves against the ini's folder, like a path key. */
static void resolve_module_path(struct ts_section *sec)
{
	struct ts_kv *kv = ts_section_kv(sec, "module_path");
	char *copy, *tok, *save = NULL, *out = NULL, *part, *joined;

	if (!kv || kv->is_default)
		return;
	copy = strdup(kv->value);
	if (!copy)
		goto oom;
	for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
		part = ts_cfg_resolve(sec, kv, tok);
		if (!part)
			goto free_copy;
		if (asprintf(&joined, "%s%s%s", out ? out : "", out ? ":" : "", part) < 0)
			joined = NULL;
		free(part);
		free(out);
		out = joined;
		if (!out)
			goto free_copy;
	}
	free(copy);
	if (!out) {
		bad(sec, "module_path", "no folder given");
		return;
	}
	free(kv->path);
	kv->path = out;
	return;

free_copy:
	free(copy);
oom:
	bad(sec, "module_path", "out of memory");
}

static void check_pool(struct ts_section *sec)
{
	int n_dev;

	if (ts_section_validate(sec, ts_schema_pool, NULL))
		return;
	n_dev = pool_device_count(sec);
	if (n_dev < 0)
		return;
	check_devsets(sec, "prewarm", n_dev, 0);
	check_devsets(sec, "topology", n_dev, 1);
}

static void check_scheduler(struct ts_section *sec)
{
	struct ts_kv *steps;

	ts_section_check(sec, ts_schema_scheduler, NULL, 1);
	steps = ts_section_kv(sec, "round_steps");
	if (ts_section_kv(sec, "round_ms") && steps && !steps->is_default)
		bad(sec, "round_ms", "set together with round_steps (line %d): choose one",
		    steps->line);
}

static void check_model(struct ts_section *sec)
{
	struct ts_section *dec;
	const char *d;

	if (!*sec->instance) {
		bad(sec, NULL, "a model section needs a name: [model NAME]");
		return;
	}
	ts_section_check(sec, ts_schema_model, NULL, 1);
	if (!ts_section_kv(sec, "module") && !ts_section_kv(sec, "profile"))
		bad(sec, "module", "required key missing (or a profile = cost table)");
	d = ts_cfg_str(sec, "decoder");
	if (!d)
		return;
	dec = NULL;
	for (int i = 0; i < sec->cfg->n_sec && !dec; i++)
		if (!strcmp(sec->cfg->sec[i]->kind, "model") &&
		    !strcmp(sec->cfg->sec[i]->instance, d))
			dec = sec->cfg->sec[i];
	if (!dec)
		bad(sec, "decoder", "no [model %s] section", d);
}

static int kind_is(const struct ts_section *sec, const char *kind, int instance)
{
	return !strcmp(sec->kind, kind) && (instance || !*sec->instance);
}

void ts_config_check(struct ts_config *cfg)
{
	for (int i = 0; i < cfg->n_sec; i++) {
		struct ts_section *sec = cfg->sec[i];

		if (kind_is(sec, "server", 0)) {
			ts_section_validate(sec, ts_schema_server, NULL);
			resolve_module_path(sec);
		} else if (kind_is(sec, "pool", 0)) {
			check_pool(sec);
		} else if (kind_is(sec, "scheduler", 0)) {
			check_scheduler(sec);
		} else if (kind_is(sec, "model", 1)) {
			check_model(sec);
		} else {
			bad(sec, NULL, "unknown section (known: server, pool, scheduler, model NAME)");
		}
	}
}

int ts_config_check_policy(struct ts_config *cfg, const struct ts_key *params)
{
	struct ts_section *sec = ts_config_section_get(cfg, "scheduler");

	if (!sec)
		return TS_ENOMEM;
	return ts_section_validate(sec, params, scheduler_names);
}

int ts_config_check_model(struct ts_section *sec, const struct ts_key *keys)
{
	return ts_section_validate(sec, keys, model_names);
}

int ts_config_fill_defaults(struct ts_config *cfg)
{
	static const struct {
		const char *name;
		const struct ts_key *keys;
	} fixed[] = {
		{ "server", ts_schema_server },
		{ "pool", ts_schema_pool },
		{ "scheduler", ts_schema_scheduler },
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct ts_section *sec = ts_config_section_get(cfg, fixed[i].name);

		if (!sec)
			return TS_ENOMEM;
		if (ts_section_check(sec, fixed[i].keys, NULL, 1))
			return TS_EINVAL;
	}
	return 0;
}
