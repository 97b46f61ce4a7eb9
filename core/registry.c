// SPDX-License-Identifier: MIT
/*
 * core/registry.c - the ops tables modules registered, by kind and name.
 * Each entry remembers its owner, so unloading a module (or a failed init)
 * removes exactly what that module added. Names are unique per kind: a
 * second "fixed" policy is refused rather than silently shadowing the first.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"

struct reg {
	enum ts_reg_kind kind;
	const char *name;
	const void *ops;
	struct ts_module *owner;
};

static struct reg *regs;
static int n_regs, cap_regs;

static const char *const kind_names[] = {
	[TS_REG_MODEL] = "model", [TS_REG_DECODER] = "decoder", [TS_REG_POLICY] = "policy",
};

const char *ts_reg_kind_name(enum ts_reg_kind kind)
{
	return (unsigned)kind < TS_REG_KIND_COUNT ? kind_names[kind] : "?";
}

static const void *find(enum ts_reg_kind kind, const char *name)
{
	for (int i = 0; name && i < n_regs; i++)
		if (regs[i].kind == kind && !strcmp(regs[i].name, name))
			return regs[i].ops;
	return NULL;
}

int ts_registry_add(enum ts_reg_kind kind, struct ts_module *owner, const char *name,
		    const void *ops)
{
	const char *who = owner ? owner->name : "host";

	if (find(kind, name)) {
		ts_err("registry", "%s: %s '%s' is already registered", who, kind_names[kind], name);
		return TS_EEXIST;
	}
	if (n_regs == cap_regs) {
		int cap = cap_regs ? 2 * cap_regs : 16;
		struct reg *grown = realloc(regs, (size_t)cap * sizeof(*grown));

		if (!grown)
			return TS_ENOMEM;
		regs = grown;
		cap_regs = cap;
	}
	regs[n_regs++] = (struct reg){ .kind = kind, .name = name, .ops = ops, .owner = owner };
	ts_dbg("registry", "%s registered %s '%s'", who, kind_names[kind], name);
	return 0;
}

int ts_registry_remove_owner(struct ts_module *owner)
{
	int kept = 0, removed = 0;

	for (int i = 0; i < n_regs; i++) {
		if (regs[i].owner == owner)
			removed++;
		else
			regs[kept++] = regs[i];
	}
	n_regs = kept;
	if (!n_regs) {
		free(regs);
		regs = NULL;
		cap_regs = 0;
	}
	return removed;
}

int ts_registry_count(void)
{
	return n_regs;
}

int ts_registry_at(int i, enum ts_reg_kind *kind, const char **name, struct ts_module **owner)
{
	if (i < 0 || i >= n_regs)
		return TS_ENOENT;
	*kind = regs[i].kind;
	*name = regs[i].name;
	*owner = regs[i].owner;
	return 0;
}

const struct ts_model_ops *ts_find_model(const char *name)
{
	return find(TS_REG_MODEL, name);
}

const struct ts_decoder_ops *ts_find_decoder(const char *name)
{
	return find(TS_REG_DECODER, name);
}

const struct ts_policy_ops *ts_find_policy(const char *name)
{
	return find(TS_REG_POLICY, name);
}

const struct ts_policy_ops *ts_policy_get(const char *name)
{
	const struct ts_policy_ops *ops = ts_find_policy(name);

	if (ops || !name)
		return ops;
	if (ts_module_load(name, NULL))
		return NULL;
	ops = ts_find_policy(name);
	if (!ops)
		ts_err("registry", "module '%s' loaded but registered no policy '%s'", name, name);
	return ops;
}
