/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log: the one logging module. Messages go to stderr (or syslog when running as a
 * service); the level is checked before any formatting happens. libpcap, libfixbuf,
 * glib and libbpf messages are routed here by the modules that wrap them.
 */
#ifndef LABELFLOW_LOG_H
#define LABELFLOW_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Set the threshold; messages above it are discarded before formatting. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "error", "warn", "info" or "debug". Returns 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *ret_level);
/* Route messages to syslog (daemon facility) instead of stderr. */
void log_use_syslog(bool on);
/* Route glib's default log handler into this module. */
void log_route_glib(void);

/*
 * s made safe to quote in a message, in buf of size bytes (size >= 8): control bytes become
 * '?', and a value longer than size - 4 bytes is cut and ends in "...". Returns buf.
 */
const char *log_quote(const char *s, char *buf, size_t size);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
