// SPDX-License-Identifier: MIT
/*
 * core/log.c - the host's log. One line per call, "level: [who] message",
 * to stderr or to a sink a test installed. Worker threads log too, so the
 * sink and the level are read under a lock.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum ts_log_level log_level = TS_LOG_INFO;
static void (*log_sink)(enum ts_log_level lvl, const char *line, void *arg);
static void *log_sink_arg;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void ts_log_set_level(enum ts_log_level lvl)
{
	pthread_mutex_lock(&log_lock);
	log_level = lvl;
	pthread_mutex_unlock(&log_lock);
}

enum ts_log_level ts_log_get_level(void)
{
	enum ts_log_level lvl;

	pthread_mutex_lock(&log_lock);
	lvl = log_level;
	pthread_mutex_unlock(&log_lock);
	return lvl;
}

int ts_log_level_parse(const char *name)
{
	for (int i = 0; i <= TS_LOG_DEBUG; i++)
		if (name && !strcmp(name, level_names[i]))
			return i;
	return TS_EINVAL;
}

void ts_log_set_sink(void (*fn)(enum ts_log_level lvl, const char *line, void *arg), void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

void ts_vlog(enum ts_log_level lvl, const char *who, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	if ((unsigned)lvl > TS_LOG_DEBUG)
		lvl = TS_LOG_ERROR;
	if (who && *who)
		n = snprintf(line, sizeof(line), "%s: [%s] ", level_names[lvl], who);
	else
		n = snprintf(line, sizeof(line), "%s: ", level_names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* Callers may or may not end with a newline; the log adds exactly one. */
	n = (int)strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';

	pthread_mutex_lock(&log_lock);
	if (lvl <= log_level || log_sink) {
		if (log_sink)
			log_sink(lvl, line, log_sink_arg);
		else
			fprintf(stderr, "%s\n", line);
	}
	pthread_mutex_unlock(&log_lock);
}

void ts_log(enum ts_log_level lvl, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_vlog(lvl, who, fmt, ap);
	va_end(ap);
}
