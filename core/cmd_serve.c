// SPDX-License-Identifier: MIT
/*
 * core/cmd_serve.c - `tetriserve serve --config FILE [--listen HOST:PORT]`:
 * the HTTP server (core/server/) until SIGTERM or SIGINT, then a clean
 * drain: no new work, queued and running jobs get [server] drain_timeout_s
 * to finish, the rest fail with a reason, and the process exits 0.
 *
 * The signals are blocked before any thread starts (threads inherit the
 * mask) and taken synchronously with sigwait(), so no handler runs in the
 * middle of a lock.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <tetri/error.h>

#include "cli.h"
#include "config.h"
#include "log.h"
#include "server/server.h"

static void serve_usage(void)
{
	printf("usage: tetriserve serve --config FILE [--listen HOST:PORT]\n"
	       "Serve the config's models over HTTP: OpenAI-style POST /v1/images/generations,\n"
	       "async jobs under /v1/jobs (status, events, content, cancel, list), /health,\n"
	       "/ready, /v1/models, /metrics, and /admin/* with [server] admin_token_file.\n\n"
	       "  --config FILE       [server], [pool], [scheduler], [model NAME] sections\n"
	       "  --listen HOST:PORT  instead of [server] listen (default 127.0.0.1:8080);\n"
	       "                      port 0 picks a free port, printed on the first line\n"
	       "SIGTERM or SIGINT drains and exits.\n");
}

/* Serve @cfg until a signal, then drain. */
static int serve_config(struct ts_config *cfg, const char *listen, const char *who)
{
	struct ts_server_opts o = { .listen = listen };
	struct ts_server *srv;
	sigset_t set;
	int sig = 0, err;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	err = ts_server_start(cfg, &o, &srv);
	if (err) {
		fprintf(stderr, "tetriserve %s: cannot start (%s)\n", who, ts_strerror(err));
		return 1;
	}
	printf("tetriserve: serving on port %u\n", (unsigned)ts_server_port(srv));
	fflush(stdout);
	sigwait(&set, &sig);
	ts_info("server", "%s: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	ts_server_stop(srv, ts_cfg_float(ts_config_section_get(cfg, "server"), "drain_timeout_s"));
	return 0;
}

static int serve_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *listen = NULL;
	struct ts_config *cfg;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'h':
			serve_usage();
			return 0;
		default:
			serve_usage();
			return 2;
		}
	}
	if (!config || optind < argc) {
		fprintf(stderr, "tetriserve serve: %s\n", config ? "unexpected argument"
								  : "--config FILE is required");
		return 2;
	}
	if (ts_config_load(config, &cfg)) {
		fprintf(stderr, "tetriserve serve: %s refused (see above)\n", config);
		return 1;
	}
	rc = serve_config(cfg, listen, "serve");
	ts_config_free(cfg);
	return rc;
}

const struct ts_cmd ts_cmd_serve = {
	.name = "serve",
	.summary = "serve models over HTTP (OpenAI-style images API, jobs, metrics)",
	.run = serve_run,
	.usage = serve_usage,
};
