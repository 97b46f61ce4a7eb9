/* SPDX-License-Identifier: MIT */
/*
 * tests/host/util.h - helpers of the host tests: a scratch folder that is
 * removed at exit, files written into it, and a log capture to check the
 * messages a failure produced. Header-only, one test binary per includer.
 */
#ifndef TS_TESTS_HOST_UTIL_H
#define TS_TESTS_HOST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char tu_dir[256];
static char tu_log[1 << 16];
static size_t tu_log_len;

static inline void tu_cleanup(void)
{
	char cmd[300];

	if (tu_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tu_dir);
	}
}

/* A fresh folder under $TMPDIR, removed at exit. */
static inline const char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tu_dir, sizeof(tu_dir), "%s/tshostXXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tu_dir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(tu_cleanup);
	return tu_dir;
}

/* Write @text to tu_dir/@name; returns the full path (static buffer, one at a time). */
static inline const char *tu_write(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tu_dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f)) {
		perror(path);
		exit(2);
	}
	return path;
}

static inline void tu_sink(enum ts_log_level lvl, const char *line, void *arg)
{
	size_t n = strlen(line);

	(void)lvl;
	(void)arg;
	if (tu_log_len + n + 2 >= sizeof(tu_log))
		return;
	memcpy(tu_log + tu_log_len, line, n);
	tu_log_len += n;
	tu_log[tu_log_len++] = '\n';
	tu_log[tu_log_len] = '\0';
}

/* Start capturing the log (clears what was captured). */
static inline void tu_capture(void)
{
	tu_log_len = 0;
	tu_log[0] = '\0';
	ts_log_set_sink(tu_sink, NULL);
}

static inline void tu_release(void)
{
	ts_log_set_sink(NULL, NULL);
}

/* Captured lines at level error. */
static inline int tu_log_errors(void)
{
	int n = 0;

	for (const char *p = tu_log; (p = strstr(p, "error: ")); p++)
		n++;
	return n;
}

static inline int tu_logged(const char *needle)
{
	return strstr(tu_log, needle) != NULL;
}

#endif /* TS_TESTS_HOST_UTIL_H */
