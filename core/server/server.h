/* SPDX-License-Identifier: MIT */
/*
 * core/server/server.h - the HTTP serving front-end (libmicrohttpd, jansson)
 * in front of the round engine. `tetriserve serve` and `tetriserve demo` are
 * thin wrappers: start, wait for a signal, stop.
 *
 * Threads: libmicrohttpd runs one thread per connection; the engine runs in
 * a thread of its own (engine_link.c) and is touched by no other thread.
 * The two meet in a mailbox and a job table under one mutex.
 */
#ifndef TS_SERVER_SERVER_H
#define TS_SERVER_SERVER_H

#include <stdint.h>

struct ts_config;
struct ts_server;

/**
 * struct ts_server_opts - what `serve` may override on the command line.
 * @listen: "HOST:PORT" (NULL: [server] listen). Port 0 picks a free one
 *          (ts_server_port() tells which).
 */
struct ts_server_opts {
	const char *listen;
};

/* Load the config's pool, scheduler and models, start the engine thread and HTTP. */
int ts_server_start(struct ts_config *cfg, const struct ts_server_opts *o,
		    struct ts_server **out);
uint16_t ts_server_port(const struct ts_server *s);
/*
 * Stop accepting work (new submissions get 503), let queued and running
 * requests finish for up to @grace_s, cancel what is left (failed with the
 * reason "server shutting down"), then stop HTTP and the engine.
 */
void ts_server_stop(struct ts_server *s, double grace_s);

/* The demo's weights (deterministic, small) as safetensors at @path (demo_weights.c). */
int ts_demo_write_dit(const char *path);
int ts_demo_write_vae(const char *path);

#endif /* TS_SERVER_SERVER_H */
