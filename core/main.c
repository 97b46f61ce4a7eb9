/* SPDX-License-Identifier: MIT */
/*
 * core/main.c - `tetriserve <command> [args]`: dispatch to the command table.
 * Each command lives in core/cmd_<name>.c; add it to cmds[] below.
 */
#include <stdio.h>
#include <string.h>

#include <tetri/abi.h>

#include "cli.h"

#define TS_VERSION "0.1.0"

extern const struct ts_cmd ts_cmd_generate;
extern const struct ts_cmd ts_cmd_demo;
extern const struct ts_cmd ts_cmd_modules;
extern const struct ts_cmd ts_cmd_profile;
extern const struct ts_cmd ts_cmd_run_case;
extern const struct ts_cmd ts_cmd_serve;
extern const struct ts_cmd ts_cmd_sim;
extern const struct ts_cmd ts_cmd_trace;

/* Commands, in the order --help lists them. */
static const struct ts_cmd *const cmds[] = {
	&ts_cmd_demo,
	&ts_cmd_generate,
	&ts_cmd_modules,
	&ts_cmd_profile,
	&ts_cmd_run_case,
	&ts_cmd_serve,
	&ts_cmd_sim,
	&ts_cmd_trace,
	NULL,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tetriserve <command> [options]\n"
		   "       tetriserve --help | --version | help <command>\n\ncommands:\n");
	for (int i = 0; cmds[i]; i++)
		fprintf(f, "  %-12s %s\n", cmds[i]->name, cmds[i]->summary);
	fprintf(f, "\n`tetriserve <command> --help` describes a command.\n");
}

/* `tetriserve help CMD`, the same as `tetriserve CMD --help`. */
static int help_command(const char *name)
{
	for (int i = 0; cmds[i]; i++) {
		if (!strcmp(name, cmds[i]->name)) {
			cmds[i]->usage();
			return 0;
		}
	}
	fprintf(stderr, "tetriserve: unknown command '%s'\n", name);
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		if (argc > 2)
			return help_command(argv[2]);
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		/* The signature is what a module must match besides the version numbers. */
		printf("tetriserve %s (ABI %d.%d)\nmodule ABI signature: %s\n", TS_VERSION,
		       TS_ABI_MAJOR, TS_ABI_MINOR, TS_ABI_SIGNATURE);
		return 0;
	}
	for (int i = 0; cmds[i]; i++) {
		if (strcmp(argv[1], cmds[i]->name))
			continue;
		if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			cmds[i]->usage();
			return 0;
		}
		return cmds[i]->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "tetriserve: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
