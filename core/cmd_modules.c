// SPDX-License-Identifier: MIT
/*
 * core/cmd_modules.c - `tetriserve modules`: load every module on the search
 * path and say what each one is and what it registered. Loading for real
 * (rather than reading files) is the point: a module listed here has passed
 * every check the server would apply, and one that fails says why.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "registry.h"

static int verbose;

static void modules_usage(void)
{
	printf("usage: tetriserve modules [--config FILE] [--module-path DIRS] [--keys] [--verbose]\n"
	       "\n"
	       "Load every <name>.so on the module search path and list each module with its\n"
	       "version, license, description, file and what it registered. Exits 1 when a\n"
	       "module was refused (the reason is logged).\n"
	       "\n"
	       "  --config FILE        take [server] module_path from FILE, and check its\n"
	       "                       [scheduler] and [model NAME] keys against the\n"
	       "                       schemas of the policy and modules they name\n"
	       "  --module-path DIRS   ':'-separated folders (overrides the config)\n"
	       "  --keys               also list the config keys each policy, model and\n"
	       "                       decoder accepts (type, default, help)\n"
	       "  --verbose            log every module loaded\n"
	       "\n"
	       "Default path: the modules/ folder beside the tetriserve executable.\n");
}

static int show_keys;

static const char *const key_types[] = {
	[TS_KEY_STRING] = "string", [TS_KEY_INT] = "int", [TS_KEY_FLOAT] = "float",
	[TS_KEY_BOOL] = "bool", [TS_KEY_PATH] = "path", [TS_KEY_ENUM] = "enum",
};

/* The schema of one registration, as a config author needs it. */
static void print_keys(enum ts_reg_kind kind, const char *name)
{
	const struct ts_key *k = NULL;

	if (kind == TS_REG_POLICY)
		k = ts_find_policy(name)->params;
	else if (kind == TS_REG_MODEL)
		k = ts_find_model(name)->keys;
	else
		k = ts_find_decoder(name)->keys;
	printf("      %s %s keys ([%s]):%s\n", ts_reg_kind_name(kind), name,
	       kind == TS_REG_POLICY ? "scheduler" : "model NAME", k && k->name ? "" : " none");
	for (; k && k->name; k++) {
		printf("        %-22s %-6s", k->name,
		       (unsigned)k->type <= TS_KEY_ENUM ? key_types[k->type] : "?");
		if (k->type == TS_KEY_ENUM && k->choices)
			printf(" %s", k->choices);
		if (k->required)
			printf(" (required)");
		else if (k->def)
			printf(" (default %s)", k->def);
		if (k->help)
			printf(" - %s", k->help);
		printf("\n");
	}
}

static void print_registrations(const struct ts_module *mod)
{
	enum ts_reg_kind kind;
	struct ts_module *owner;
	const char *name;
	int n = 0;

	printf("    registers:");
	for (int i = 0; i < ts_registry_count(); i++) {
		if (ts_registry_at(i, &kind, &name, &owner) || owner != mod)
			continue;
		printf("%s %s %s", n ? "," : "", ts_reg_kind_name(kind), name);
		n++;
	}
	printf("%s\n", n ? "" : " nothing");
	for (int i = 0; show_keys && i < ts_registry_count(); i++)
		if (!ts_registry_at(i, &kind, &name, &owner) && owner == mod)
			print_keys(kind, name);
}

static void print_modules(void)
{
	printf("%-16s %-10s %-12s %s\n", "NAME", "VERSION", "LICENSE", "DESCRIPTION");
	for (int i = 0; i < ts_module_count(); i++) {
		const struct ts_module *mod = ts_module_at(i);

		printf("%-16s %-10s %-12s %s\n", mod->name, mod->version ? mod->version : "-",
		       mod->license ? mod->license : "-", mod->description ? mod->description : "");
		printf("    file: %s\n", ts_module_file(mod));
		print_registrations(mod);
	}
}

/*
 * --config: the search path from [server] module_path (unless --module-path
 * says otherwise), and after loading, the policy and model sections are
 * checked against the schemas of the modules they name.
 */
static int load_config(const char *config, const char *path, struct ts_config **cfg)
{
	*cfg = NULL;
	if (config && ts_config_load(config, cfg))
		return TS_EINVAL;
	if (*cfg)
		ts_config_apply_server(*cfg);
	if (path || !*cfg)
		ts_loader_set_path(path);
	/* The listing itself is the report; keep the loader's info lines out of it. */
	if (ts_log_get_level() > TS_LOG_WARN && !verbose)
		ts_log_set_level(TS_LOG_WARN);
	return 0;
}

static int modules_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "module-path", required_argument, NULL, 'p' },
		{ "keys", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *path = NULL;
	struct ts_config *cfg;
	int c, failed;

	verbose = 0;
	show_keys = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:p:kvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'p':
			path = optarg;
			break;
		case 'k':
			show_keys = 1;
			break;
		case 'v':
			verbose = 1;
			ts_log_set_level(TS_LOG_DEBUG);
			break;
		case 'h':
			modules_usage();
			return 0;
		default:
			modules_usage();
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tetriserve modules: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (load_config(config, path, &cfg))
		return 1;
	failed = ts_module_load_path();
	if (cfg && ts_config_bind(cfg))
		failed++;
	printf("module path: %s\n", ts_loader_path());
	if (ts_module_count())
		print_modules();
	else
		printf("no modules loaded\n");
	if (failed)
		fprintf(stderr, "tetriserve modules: %d module%s or config refused (see above)\n",
			failed, failed == 1 ? "" : "s");
	ts_config_free(cfg);
	ts_module_unload_all();
	return failed ? 1 : 0;
}

const struct ts_cmd ts_cmd_modules = {
	.name = "modules",
	.summary = "list the modules on the search path, with versions and registrations",
	.run = modules_run,
	.usage = modules_usage,
};
