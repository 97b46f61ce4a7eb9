/* SPDX-License-Identifier: MIT */
/*
 * tetri/config.h - config schemas modules declare for their own keys.
 *
 * The host parses the ini file (inih), and validates each [model NAME]
 * section against the schema of the module it names, and [scheduler]
 * against the policy's schema: unknown keys, values of the wrong type or
 * out of range, and missing required keys are errors naming file:line:key.
 * Modules then read validated values (defaults applied) through the
 * cfg_* functions of struct ts_host.
 */
#ifndef TETRI_CONFIG_H
#define TETRI_CONFIG_H

enum ts_key_type {
	TS_KEY_STRING = 0,
	TS_KEY_INT = 1,    /* decimal integer within [min, max] */
	TS_KEY_FLOAT = 2,  /* finite number within [min, max] */
	TS_KEY_BOOL = 3,   /* true/false, yes/no, on/off, 1/0 */
	TS_KEY_PATH = 4,   /* a file path, relative paths resolved against the ini's folder */
	TS_KEY_ENUM = 5,   /* one of the '|'-separated words in choices */
};

/**
 * struct ts_key - one key a module accepts in its section.
 * @name: key name as written in the ini.
 * @type: value type.
 * @required: 1 = the section must set it (def is then ignored).
 * @def: default as ini text, or NULL for "absent".
 * @min, @max: inclusive range for INT/FLOAT (both 0 = unbounded).
 * @choices: for ENUM, e.g. "ddpm|ddim".
 * @help: one line for --help and error messages.
 * An array of keys ends with an entry whose name is NULL.
 */
struct ts_key {
	const char *name;
	enum ts_key_type type;
	int required;
	const char *def;
	double min, max;
	const char *choices;
	const char *help;
};

/*
 * struct ts_section - one section of the config (opaque to modules): the
 * [model NAME] a model or decoder is configured from, or [scheduler] for a
 * policy. Read it through host->cfg_*; complain about a value through
 * host->cfg_error(), which names file:line (or the command-line origin).
 * Valid until the config is freed, which is after release()/destroy().
 * It may be synthetic (built from the command line or a case file).
 */
struct ts_section;

#endif /* TETRI_CONFIG_H */
