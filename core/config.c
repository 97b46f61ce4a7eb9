// SPDX-License-Identifier: MIT
/*
 * core/config.c - the parsed ini file: sections of key = value lines, each
 * remembered with the line it came from, so every later complaint (ours,
 * the engine's, a module's through host->cfg_error) can name file:line.
 *
 * inih does the tokenising. Its handler is not told line numbers (Debian
 * builds it without INI_HANDLER_LINENO), so we feed it through our own
 * reader, which counts lines, notes section headers (inih does not report
 * empty sections) and catches malformed lines itself, so that every syntax
 * error is reported instead of only the first.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config.h"
#include "config_int.h"
#include "log.h"

#define CFG_WHO "config"

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- sections and values ---- */

static struct ts_section *section_new(struct ts_config *cfg, const char *raw_name, int line)
{
	struct ts_section *sec, **grown;
	char *name, *sp;

	if (cfg->n_sec == cfg->cap_sec) {
		int cap = cfg->cap_sec ? 2 * cfg->cap_sec : 8;

		grown = realloc(cfg->sec, (size_t)cap * sizeof(*grown));
		if (!grown)
			return NULL;
		cfg->sec = grown;
		cfg->cap_sec = cap;
	}
	sec = calloc(1, sizeof(*sec));
	if (!sec)
		return NULL;
	sec->cfg = cfg;
	sec->line = line;
	sec->raw_name = strdup(raw_name);
	/* Normalise "  model   x " to kind "model", instance "x", name "model x". */
	name = strdup(raw_name);
	if (!sec->raw_name || !name)
		goto free_sec;
	sec->kind = ts_cfg_trim(name);
	sp = sec->kind;
	while (*sp && !isspace((unsigned char)*sp))
		sp++;
	if (*sp)
		*sp++ = '\0';
	sec->instance = ts_cfg_trim(sp);
	sec->name_buf = name;
	if (asprintf(&sec->name, "%s%s%s", sec->kind, *sec->instance ? " " : "", sec->instance) < 0) {
		sec->name = NULL;
		goto free_sec;
	}
	cfg->sec[cfg->n_sec++] = sec;
	return sec;

free_sec:
	free(name);
	free(sec->raw_name);
	free(sec);
	return NULL;
}

static void section_free(struct ts_section *sec)
{
	for (int i = 0; i < sec->n_kv; i++) {
		free(sec->kv[i].key);
		free(sec->kv[i].value);
		free(sec->kv[i].origin);
		free(sec->kv[i].path);
	}
	free(sec->kv);
	free(sec->raw_name);
	free(sec->name_buf);
	free(sec->name);
	free(sec);
}

struct ts_kv *ts_section_kv(const struct ts_section *sec, const char *key)
{
	if (!sec || !key)
		return NULL;
	for (int i = 0; i < sec->n_kv; i++)
		if (!strcmp(sec->kv[i].key, key))
			return &sec->kv[i];
	return NULL;
}

struct ts_kv *ts_section_kv_add(struct ts_section *sec, const char *key, const char *value,
				int line, const char *origin)
{
	struct ts_kv *kv;

	if (sec->n_kv == sec->cap_kv) {
		int cap = sec->cap_kv ? 2 * sec->cap_kv : 8;

		kv = realloc(sec->kv, (size_t)cap * sizeof(*kv));
		if (!kv)
			return NULL;
		sec->kv = kv;
		sec->cap_kv = cap;
	}
	kv = &sec->kv[sec->n_kv];
	memset(kv, 0, sizeof(*kv));
	kv->key = strdup(key);
	kv->value = strdup(value);
	kv->origin = xstrdup(origin);
	kv->line = line;
	if (!kv->key || !kv->value || (origin && !kv->origin)) {
		free(kv->key);
		free(kv->value);
		free(kv->origin);
		return NULL;
	}
	sec->n_kv++;
	return kv;
}

void ts_section_kv_del(struct ts_section *sec, int i)
{
	struct ts_kv *kv = &sec->kv[i];

	free(kv->key);
	free(kv->value);
	free(kv->origin);
	free(kv->path);
	memmove(kv, kv + 1, (size_t)(sec->n_kv - i - 1) * sizeof(*kv));
	sec->n_kv--;
}

/* ---- locations and messages ---- */

/* "file:line" of a value, or of the section when @kv is NULL. */
void ts_cfg_where(const struct ts_section *sec, const struct ts_kv *kv, char *buf, size_t n)
{
	const char *file = sec->cfg->path ? sec->cfg->path : "(config)";

	if (kv && kv->origin)
		snprintf(buf, n, "%s", kv->origin);
	else if (kv && kv->line > 0)
		snprintf(buf, n, "%s:%d", file, kv->line);
	else if (sec->line > 0)
		snprintf(buf, n, "%s:%d", file, sec->line);
	else
		snprintf(buf, n, "%s", file);
}

void ts_cfg_verror(const struct ts_section *sec, const char *key, const char *fmt, va_list ap)
{
	char where[512], why[512];

	ts_cfg_where(sec, ts_section_kv(sec, key), where, sizeof(where));
	vsnprintf(why, sizeof(why), fmt, ap);
	if (key)
		ts_err(NULL, "%s: [%s] %s: %s", where, sec->name, key, why);
	else
		ts_err(NULL, "%s: [%s]: %s", where, sec->name, why);
}

int ts_cfg_error(const struct ts_section *sec, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_cfg_verror(sec, key, fmt, ap);
	va_end(ap);
	return TS_EINVAL;
}

static __attribute__((format(printf, 3, 4))) void
file_error(struct ts_config *cfg, int line, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	ts_err(NULL, "%s:%d: %s", cfg->path, line, why);
	cfg->errors++;
}

/* ---- parsing ---- */

char *ts_cfg_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

struct reader {
	FILE *f;
	struct ts_config *cfg;
	int line;
};

static struct ts_section *find_raw(struct ts_config *cfg, const char *raw)
{
	for (int i = 0; i < cfg->n_sec; i++)
		if (!strcmp(cfg->sec[i]->raw_name, raw))
			return cfg->sec[i];
	return NULL;
}

/* A "[...]" line: remember the section (and its line) before inih sees keys in it. */
static int note_section(struct reader *r, char *s)
{
	struct ts_section *dup;
	char *end = strchr(s, ']');

	if (!end) {
		file_error(r->cfg, r->line, "section header without ']'");
		return -1;
	}
	*end = '\0';
	dup = find_raw(r->cfg, s + 1);
	if (!dup) {
		struct ts_section *sec = section_new(r->cfg, s + 1, r->line);

		if (!sec)
			file_error(r->cfg, r->line, "out of memory");
		/* "[model  x]" is the same section as "[model x]". */
		for (int i = 0; sec && i < r->cfg->n_sec - 1 && !dup; i++)
			if (!strcmp(r->cfg->sec[i]->name, sec->name))
				dup = r->cfg->sec[i];
	}
	if (dup)
		file_error(r->cfg, r->line, "[%s]: duplicate section (first at line %d)",
			   dup->name, dup->line);
	*end = ']';
	return 0;
}

/* fgets for inih: counts lines, strips indentation, diagnoses what inih would reject. */
static char *reader_gets(char *str, int num, void *stream)
{
	struct reader *r = stream;
	size_t len;
	char *s;
	int c;

	if (!fgets(str, num, r->f))
		return NULL;
	r->line++;
	len = strlen(str);
	if (len > 0 && str[len - 1] != '\n' && !feof(r->f)) {
		file_error(r->cfg, r->line, "line longer than %d characters", num - 3);
		while ((c = fgetc(r->f)) != EOF && c != '\n')
			;
		goto blank;
	}
	/* Indented lines would be continuation lines to inih; we have none. */
	s = str;
	while (isspace((unsigned char)*s) && *s != '\n')
		s++;
	memmove(str, s, strlen(s) + 1);
	if (!*str || *str == '\n' || *str == '\r' || *str == ';' || *str == '#')
		return str;
	if (*str == '[') {
		if (note_section(r, str) < 0)
			goto blank;
		return str;
	}
	if (!strpbrk(str, "=:")) {
		file_error(r->cfg, r->line, "expected 'key = value' or '[section]'");
		goto blank;
	}
	return str;
blank:
	str[0] = '\n';
	str[1] = '\0';
	return str;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	struct ts_section *sec = find_raw(r->cfg, section);
	struct ts_kv *prev;

	if (!sec) {
		file_error(r->cfg, r->line, "%s: key outside any section", name);
		return 1;
	}
	prev = ts_section_kv(sec, name);
	if (prev) {
		file_error(r->cfg, r->line, "[%s] %s: duplicate key (first at line %d)",
			   sec->name, name, prev->line);
		return 1;
	}
	if (!ts_section_kv_add(sec, name, value, r->line, NULL))
		file_error(r->cfg, r->line, "out of memory");
	return 1;
}

static struct ts_config *config_alloc(void)
{
	struct ts_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->dir = strdup(".");
	if (!cfg->dir) {
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct ts_config *ts_config_new(void)
{
	struct ts_config *cfg = config_alloc();

	if (cfg && ts_config_fill_defaults(cfg)) {
		ts_config_free(cfg);
		return NULL;
	}
	return cfg;
}

static int set_file(struct ts_config *cfg, const char *path)
{
	char *slash;

	free(cfg->dir);
	cfg->path = strdup(path);
	cfg->dir = strdup(path);
	if (!cfg->path || !cfg->dir)
		return TS_ENOMEM;
	slash = strrchr(cfg->dir, '/');
	if (!slash)
		strcpy(cfg->dir, ".");
	else if (slash == cfg->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

static int parse_file(struct ts_config *cfg)
{
	struct reader r = { .cfg = cfg };
	int rc;

	r.f = fopen(cfg->path, "r");
	if (!r.f) {
		ts_err(NULL, "%s: cannot open config: %s", cfg->path, strerror(errno));
		return errno == ENOENT ? TS_ENOENT : TS_EIO;
	}
	rc = ini_parse_stream(reader_gets, &r, on_value, &r);
	fclose(r.f);
	if (rc > 0 && cfg->errors == 0)
		file_error(cfg, rc, "syntax error");
	else if (rc < 0)
		file_error(cfg, 0, "cannot parse (%d)", rc);
	return 0;
}

int ts_config_load(const char *path, struct ts_config **out)
{
	struct ts_config *cfg;
	int rc;

	*out = NULL;
	cfg = config_alloc();
	if (!cfg)
		return TS_ENOMEM;
	rc = set_file(cfg, path);
	if (rc)
		goto free_cfg;
	rc = parse_file(cfg);
	if (rc)
		goto free_cfg;
	ts_config_check(cfg);
	if (!cfg->errors && ts_config_fill_defaults(cfg))
		cfg->errors++;
	if (cfg->errors) {
		ts_err(NULL, "%s: %d error%s; config refused", path, cfg->errors,
		       cfg->errors == 1 ? "" : "s");
		rc = TS_EINVAL;
		goto free_cfg;
	}
	*out = cfg;
	return 0;

free_cfg:
	ts_config_free(cfg);
	return rc;
}

void ts_config_free(struct ts_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->n_sec; i++)
		section_free(cfg->sec[i]);
	free(cfg->sec);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const char *ts_config_path(const struct ts_config *cfg)
{
	return cfg->path;
}

const char *ts_config_dir(const struct ts_config *cfg)
{
	return cfg->dir;
}

struct ts_section *ts_config_section(struct ts_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_sec; i++)
		if (!strcmp(cfg->sec[i]->name, name))
			return cfg->sec[i];
	return NULL;
}

struct ts_section *ts_config_section_at(struct ts_config *cfg, int i)
{
	return i >= 0 && i < cfg->n_sec ? cfg->sec[i] : NULL;
}

struct ts_section *ts_config_section_get(struct ts_config *cfg, const char *name)
{
	struct ts_section *sec = ts_config_section(cfg, name);

	return sec ? sec : section_new(cfg, name, 0);
}

const char *ts_section_name(const struct ts_section *sec)
{
	return sec->name;
}

const char *ts_section_kind(const struct ts_section *sec)
{
	return sec->kind;
}

const char *ts_section_instance(const struct ts_section *sec)
{
	return sec->instance;
}

struct ts_config *ts_section_config(const struct ts_section *sec)
{
	return sec->cfg;
}

const char *ts_section_raw(const struct ts_section *sec, const char *key, int *line)
{
	struct ts_kv *kv = ts_section_kv(sec, key);

	if (line)
		*line = kv ? kv->line : 0;
	return kv && !kv->is_default ? kv->value : NULL;
}

int ts_section_set(struct ts_section *sec, const char *key, const char *value, const char *origin)
{
	struct ts_kv *kv = ts_section_kv(sec, key);
	char *v, *o;

	if (!kv)
		return ts_section_kv_add(sec, key, value, 0, origin ? origin : "(set)") ? 0 : TS_ENOMEM;
	v = strdup(value);
	o = strdup(origin ? origin : "(set)");
	if (!v || !o) {
		free(v);
		free(o);
		return TS_ENOMEM;
	}
	free(kv->value);
	free(kv->origin);
	free(kv->path);
	kv->value = v;
	kv->origin = o;
	kv->path = NULL;
	kv->line = 0;
	kv->is_default = 0;
	kv->checked = 0;
	return 0;
}

int ts_section_key_count(const struct ts_section *sec)
{
	return sec->n_kv;
}

const char *ts_section_key_at(const struct ts_section *sec, int i)
{
	return i >= 0 && i < sec->n_kv ? sec->kv[i].key : NULL;
}

/* ---- typed getters (validated values) ---- */

const char *ts_cfg_str(const struct ts_section *sec, const char *key)
{
	struct ts_kv *kv = ts_section_kv(sec, key);

	if (!kv)
		return NULL;
	return kv->path ? kv->path : kv->value;
}

long long ts_cfg_int(const struct ts_section *sec, const char *key)
{
	struct ts_kv *kv = ts_section_kv(sec, key);

	return kv ? kv->i : 0;
}

double ts_cfg_float(const struct ts_section *sec, const char *key)
{
	struct ts_kv *kv = ts_section_kv(sec, key);

	return kv ? kv->f : 0.0;
}

int ts_cfg_bool(const struct ts_section *sec, const char *key)
{
	struct ts_kv *kv = ts_section_kv(sec, key);

	return kv ? kv->b : 0;
}

const char *ts_cfg_name(const struct ts_section *sec)
{
	return sec->name;
}
