/* SPDX-License-Identifier: MIT */
/*
 * tests/server/api_client.h - JSON calls against the server under test, on
 * top of http_client.h: one call, reading fields by dotted path, and polling
 * a job until it is final. The including test sets `port`. Header-only.
 */
#ifndef TS_TESTS_API_CLIENT_H
#define TS_TESTS_API_CLIENT_H

#include <string.h>
#include <time.h>

#include <jansson.h>

#include "http_client.h"

static int port;

/* One request; the reply parsed as JSON (NULL if not JSON), *status its HTTP status. */
static inline json_t *call(const char *method, const char *path, const char *extra,
			   const char *body, int *status)
{
	struct http_reply r;
	json_t *j;

	*status = 0;
	if (http_do(port, method, path, extra, body, &r))
		return NULL;
	*status = r.status;
	j = json_loads(r.body, 0, NULL);
	http_reply_free(&r);
	return j;
}

/* The value at a dotted path ("progress.steps_done"), or NULL. */
static inline json_t *jpath(json_t *o, const char *path)
{
	char key[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");

		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static inline const char *str(json_t *o, const char *path)
{
	json_t *v = jpath(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

static inline long num(json_t *o, const char *path)
{
	json_t *v = jpath(o, path);

	return json_is_number(v) ? (long)json_number_value(v) : -1;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Poll job @id until final or @ms pass; returns the last status text (static). */
static inline const char *wait_final(const char *id, int ms, long *steps)
{
	static char st[32];
	char path[128];
	int status;

	snprintf(path, sizeof(path), "/v1/jobs/%.63s", id);
	for (int t = 0; t < ms; t += 10) {
		json_t *o = call("GET", path, NULL, NULL, &status);

		snprintf(st, sizeof(st), "%s", o ? str(o, "status") : "?");
		if (steps)
			*steps = o ? num(o, "progress.steps_done") : -1;
		json_decref(o);
		if (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"))
			return st;
		sleep_ms(10);
	}
	return st;
}

#endif /* TS_TESTS_API_CLIENT_H */
