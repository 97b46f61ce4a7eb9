/* SPDX-License-Identifier: MIT */
/*
 * modules/common/config.c - the section keys every model module reads alike
 * (config.h).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"

void mc_cfg_instance(const struct ts_host *host, const struct ts_section *sec, char *out,
		     size_t n)
{
	const char *name = host->cfg_name(sec);
	const char *sp = name ? strchr(name, ' ') : NULL;

	if (name)
		snprintf(out, n, "%s", sp ? sp + 1 : name);
}

int mc_cfg_weights(const struct ts_host *host, const struct ts_section *sec, int *random,
		   char **path)
{
	const char *file = host->cfg_str(sec, "weights");
	const char *s;
	size_t n;

	*random = host->cfg_bool(sec, "random_weights");
	if (!file && !*random)
		return host->cfg_error(sec, "weights", "is required unless random_weights = true");
	s = file ? file : "(random weights)";
	n = strlen(s) + 1;
	*path = host->alloc(n);
	if (!*path)
		return TS_ENOMEM;
	memcpy(*path, s, n);
	return 0;
}
