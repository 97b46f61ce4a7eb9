// SPDX-License-Identifier: MIT
/*
 * core/bind.c - a config meets its modules. ts_config_load() checks what
 * the host knows; the keys of [scheduler] and of each [model NAME] belong to
 * a policy and to modules it has not seen yet. Binding loads them and runs
 * their schemas, so a server (or `tetriserve modules --config`) can refuse a
 * bad config whole before anything starts, with every error named.
 */
#include <string.h>

#include "config.h"
#include "log.h"
#include "registry.h"

void ts_config_apply_server(struct ts_config *cfg)
{
	struct ts_section *srv = ts_config_section(cfg, "server");
	const char *level;
	int lvl;

	if (!srv)
		return;
	if (ts_section_raw(srv, "module_path", NULL))
		ts_loader_set_path(ts_cfg_str(srv, "module_path"));
	level = ts_section_raw(srv, "log_level", NULL);
	lvl = level ? ts_log_level_parse(level) : TS_EINVAL;
	if (lvl >= 0)
		ts_log_set_level((enum ts_log_level)lvl);
}

static int bind_policy(struct ts_config *cfg)
{
	struct ts_section *sec = ts_config_section_get(cfg, "scheduler");
	const struct ts_policy_ops *ops;
	const char *name;

	if (!sec)
		return TS_ENOMEM;
	name = ts_cfg_str(sec, "policy");
	ops = ts_policy_get(name);
	if (!ops)
		return ts_cfg_error(sec, "policy", "no policy '%s' on the module path %s",
				    name ? name : "", ts_loader_path());
	return ts_config_check_policy(cfg, ops->params);
}

/* The ops a [model NAME] section names: kind = X, else the module's name, else its only one. */
static const struct ts_abi_hdr *find_ops(struct ts_module *mod, const char *kind,
					 const struct ts_key **keys)
{
	const struct ts_model_ops *m;
	const struct ts_decoder_ops *d;
	const void *only = NULL;
	enum ts_reg_kind k, only_kind = TS_REG_MODEL;
	struct ts_module *owner;
	const char *name;
	int n = 0;

	m = ts_find_model(kind);
	d = m ? NULL : ts_find_decoder(kind);
	for (int i = 0; !m && !d && i < ts_registry_count(); i++) {
		if (ts_registry_at(i, &k, &name, &owner) || owner != mod || k == TS_REG_POLICY)
			continue;
		only = k == TS_REG_MODEL ? (const void *)ts_find_model(name) :
					   (const void *)ts_find_decoder(name);
		only_kind = k;
		n++;
	}
	if (n == 1 && only_kind == TS_REG_MODEL)
		m = only;
	else if (n == 1)
		d = only;
	*keys = m ? m->keys : d ? d->keys : NULL;
	return m ? &m->hdr : d ? &d->hdr : NULL;
}

int ts_config_bind_model(struct ts_section *sec)
{
	const char *module = ts_cfg_str(sec, "module");
	const char *kind = ts_cfg_str(sec, "kind");
	const struct ts_key *keys;
	struct ts_module *mod;

	if (!module) /* defined by its profile alone: only the host's keys */
		return ts_config_check_model(sec, NULL);
	if (ts_module_load(module, &mod))
		return ts_cfg_error(sec, "module", "cannot load module '%s' (see above)", module);
	if (!find_ops(mod, kind ? kind : module, &keys))
		return ts_cfg_error(sec, kind ? "kind" : "module",
				    "module '%s' registers no model or decoder '%s'%s", module,
				    kind ? kind : module, kind ? "" : " (set kind = ...)");
	return ts_config_check_model(sec, keys);
}

int ts_config_bind(struct ts_config *cfg)
{
	struct ts_section *sec;
	int rc = 0;

	if (bind_policy(cfg))
		rc = TS_EINVAL;
	for (int i = 0; (sec = ts_config_section_at(cfg, i)); i++)
		if (!strcmp(ts_section_kind(sec), "model") && ts_config_bind_model(sec))
			rc = TS_EINVAL;
	if (rc)
		ts_err(NULL, "%s: config refused", ts_config_path(cfg) ? ts_config_path(cfg) : "config");
	return rc;
}
