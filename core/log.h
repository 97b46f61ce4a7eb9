/* SPDX-License-Identifier: MIT */
/* core/log.h - the host's log (stderr), behind struct ts_host.log for modules. */
#ifndef TS_CORE_LOG_H
#define TS_CORE_LOG_H

#include <stdarg.h>

#include <tetri/error.h>
#include <tetri/host.h>

void ts_log(enum ts_log_level lvl, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ts_vlog(enum ts_log_level lvl, const char *who, const char *fmt, va_list ap);
/* Lines above @lvl are dropped (a test sink still sees every line). */
void ts_log_set_level(enum ts_log_level lvl);
enum ts_log_level ts_log_get_level(void);
/* "error" | "warn" | "info" | "debug" -> TS_LOG_*, or TS_EINVAL. */
int ts_log_level_parse(const char *name);
/* Tests capture the log: @fn gets every formatted line; NULL restores stderr. */
void ts_log_set_sink(void (*fn)(enum ts_log_level lvl, const char *line, void *arg), void *arg);

#define ts_err(who, ...) ts_log(TS_LOG_ERROR, who, __VA_ARGS__)
#define ts_warn(who, ...) ts_log(TS_LOG_WARN, who, __VA_ARGS__)
#define ts_info(who, ...) ts_log(TS_LOG_INFO, who, __VA_ARGS__)
#define ts_dbg(who, ...) ts_log(TS_LOG_DEBUG, who, __VA_ARGS__)

#endif /* TS_CORE_LOG_H */
