// SPDX-License-Identifier: MIT
/*
 * core/cmd_sim.c - `tetriserve sim`: replay a trace on the simulator (a thin
 * wrapper over core/sim.h) and print/write its results.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tetri/error.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "registry.h"
#include "sim.h"

#define SIM_MAX_PARAMS 64

struct sim_args {
	const char *config, *trace, *out, *row;
	struct ts_sim_opts o;
	const char *params[SIM_MAX_PARAMS + 1];
	const char *swap_params[SIM_MAX_PARAMS + 1];
	int n_params, n_swap_params;
	char swap_policy[64];
};

static void sim_usage(void)
{
	printf("usage: tetriserve sim --config FILE --trace FILE [options]\n"
	       "Replay a trace on simulated devices (virtual clock, cost tables) and report\n"
	       "SLO attainment.\n\n"
	       "  --config FILE            [pool], [scheduler] and [model NAME] profile = CSV\n"
	       "  --trace FILE             id,arrival_s,model,width,height,steps,slo_s\n"
	       "  --policy NAME            instead of the config's [scheduler] policy\n"
	       "  --policy-param KEY=VALUE a [scheduler] key of the policy (repeatable)\n"
	       "  --slo-scale X            deadline = arrival + slo_s * X (default 1.0)\n"
	       "  --out DIR                write DIR/requests.csv and DIR/summary.json\n"
	       "  --swap-at SECONDS:POLICY swap to POLICY at the first round boundary after SECONDS\n"
	       "  --swap-param KEY=VALUE   a param of the policy swapped to (repeatable)\n"
	       "  --round-steps N, --round-ms X   override the round length\n"
	       "  --devices N              use only the first N devices\n"
	       "  --quiet                  only the summary\n"
	       "  --row LABEL              print one table row instead: LABEL SAR p50 p99 GPU-s\n");
}

static int add_param(const char **list, int *n, const char *kv)
{
	if (*n >= SIM_MAX_PARAMS || !strchr(kv, '=')) {
		fprintf(stderr, "tetriserve sim: bad param '%s' (want KEY=VALUE)\n", kv);
		return -1;
	}
	list[(*n)++] = kv;
	list[*n] = NULL;
	return 0;
}

static int parse_swap(struct sim_args *a, const char *arg)
{
	char *end;
	const char *colon = strchr(arg, ':');

	a->o.swap_at_s = strtod(arg, &end);
	if (!colon || end != colon || !(a->o.swap_at_s > 0) || !colon[1] ||
	    strlen(colon + 1) >= sizeof(a->swap_policy)) {
		fprintf(stderr, "tetriserve sim: --swap-at wants SECONDS:POLICY, e.g. 600:tetri\n");
		return -1;
	}
	strcpy(a->swap_policy, colon + 1);
	a->o.swap_policy = a->swap_policy;
	return 0;
}

static int parse_num(const char *opt, const char *arg, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(arg, &end);
	if (errno || end == arg || *end || !(*out > 0)) {
		fprintf(stderr, "tetriserve sim: %s wants a positive number, not '%s'\n", opt, arg);
		return -1;
	}
	return 0;
}

static int parse_opt(struct sim_args *a, int c, const char *arg)
{
	double v;

	switch (c) {
	case 'c': a->config = arg; return 0;
	case 't': a->trace = arg; return 0;
	case 'o': a->out = arg; return 0;
	case 'p': a->o.policy = arg; return 0;
	case 'P': return add_param(a->params, &a->n_params, arg);
	case 'S': return add_param(a->swap_params, &a->n_swap_params, arg);
	case 'w': return parse_swap(a, arg);
	case 'q': a->o.quiet = 1; return 0;
	case 'R': a->row = arg; a->o.quiet = 1; return 0;
	case 's': return parse_num("--slo-scale", arg, &a->o.slo_scale);
	case 'm': return parse_num("--round-ms", arg, &a->o.round_ms);
	case 'r':
		if (parse_num("--round-steps", arg, &v))
			return -1;
		a->o.round_steps = (int)v;
		return 0;
	case 'd':
		if (parse_num("--devices", arg, &v))
			return -1;
		a->o.n_devices = (int)v;
		return 0;
	}
	return -1;
}

static int parse_args(struct sim_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "trace", required_argument, NULL, 't' },
		{ "policy", required_argument, NULL, 'p' },
		{ "policy-param", required_argument, NULL, 'P' },
		{ "slo-scale", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "swap-at", required_argument, NULL, 'w' },
		{ "swap-param", required_argument, NULL, 'S' },
		{ "round-steps", required_argument, NULL, 'r' },
		{ "round-ms", required_argument, NULL, 'm' },
		{ "devices", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "row", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (c == '?' || parse_opt(a, c, optarg))
			return -1;
	if (optind < argc) {
		fprintf(stderr, "tetriserve sim: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!a->config || !a->trace) {
		fprintf(stderr, "tetriserve sim: --config and --trace are required\n");
		return -1;
	}
	a->o.params = a->params;
	a->o.swap_params = a->swap_params;
	return 0;
}

/* mkdir -p */
static int make_dir(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return TS_EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = 0;
			if (mkdir(buf, 0777) && errno != EEXIST) {
				ts_err("sim", "%s: %s", buf, strerror(errno));
				return TS_EIO;
			}
			*p = c;
			if (!c)
				return 0;
		}
	}
}

static int write_out(const struct ts_sim_result *res, const char *dir)
{
	char path[4096];
	int err = make_dir(dir);

	if (!err) {
		snprintf(path, sizeof(path), "%s/requests.csv", dir);
		err = ts_sim_write_requests_csv(res, path);
	}
	if (!err) {
		snprintf(path, sizeof(path), "%s/summary.json", dir);
		err = ts_sim_write_summary_json(res, path);
	}
	return err;
}

/* Config -> module path, log level and the simulator's environment. */
static int load_env(const char *path, struct ts_sim_env **env)
{
	struct ts_config *cfg;
	const char *mp;
	int err = ts_config_load(path, &cfg);

	if (err)
		return err;
	mp = ts_cfg_str(ts_config_section(cfg, "server"), "module_path");
	if (mp)
		ts_loader_set_path(mp);
	err = ts_sim_env_from_config(cfg, env);
	ts_config_free(cfg);
	return err;
}

static int sim_run(int argc, char **argv)
{
	struct sim_args a = { 0 };
	struct ts_sim_env *env = NULL;
	struct ts_trace *tr = NULL;
	struct ts_sim_result *res = NULL;
	int err;

	if (parse_args(&a, argc, argv)) {
		sim_usage();
		return 2;
	}
	if (a.o.quiet)
		ts_log_set_level(TS_LOG_WARN);
	err = load_env(a.config, &env);
	if (!err)
		err = ts_trace_load(a.trace, &tr);
	if (!err)
		err = ts_sim_run(env, tr, &a.o, &res);
	if (!err && a.row)
		printf("%-16s %6.3f %8.3f %8.3f %10.1f %6.3f\n", a.row, res->sar, res->latency_p50,
		       res->latency_p99, res->gpu_seconds, res->sar_upper_bound);
	else if (!err)
		ts_sim_print_summary(res, stdout);
	if (!err && a.out)
		err = write_out(res, a.out);
	ts_sim_result_free(res);
	ts_trace_free(tr);
	ts_sim_env_free(env);
	ts_module_unload_all();
	if (err)
		fprintf(stderr, "tetriserve sim: failed (%s)\n", ts_strerror(err));
	return err ? 1 : 0;
}

const struct ts_cmd ts_cmd_sim = {
	.name = "sim",
	.summary = "replay a trace on simulated devices and report SLO attainment",
	.run = sim_run,
	.usage = sim_usage,
};
