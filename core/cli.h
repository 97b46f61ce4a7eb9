/* SPDX-License-Identifier: MIT */
/*
 * core/cli.h - `tetriserve <command>`: each command lives in core/cmd_<name>.c
 * and is listed once in the table in core/main.c.
 */
#ifndef TS_CORE_CLI_H
#define TS_CORE_CLI_H

struct ts_cmd {
	const char *name;
	const char *summary; /* one line for `tetriserve --help` */
	int (*run)(int argc, char **argv); /* argv[0] is the command name; returns exit status */
	void (*usage)(void);
};

#endif /* TS_CORE_CLI_H */
