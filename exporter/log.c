// SPDX-License-Identifier: Apache-2.0
/*
 * log: the one place messages are formatted. The level is checked before vsnprintf so a
 * disabled debug line costs one comparison. Output is one line per message to stderr
 * (with a monotonic-free wall-clock prefix) or to syslog when running under a service
 * manager that asked for it; glib's handler is routed here so libfixbuf's warnings land too.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <glib.h>

#include "log.h"

static enum log_level current_level = LOG_LVL_INFO;
static bool to_syslog;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

int log_parse_level(const char *name, enum log_level *ret_level)
{
	for (size_t i = 0; i < G_N_ELEMENTS(level_names); i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_use_syslog(bool on)
{
	if (on && !to_syslog)
		openlog("labelflowd", LOG_PID, LOG_DAEMON);
	to_syslog = on;
}

static void write_line(enum log_level level, const char *msg)
{
	static const int prio[] = {
		[LOG_LVL_ERROR] = LOG_ERR,
		[LOG_LVL_WARN] = LOG_WARNING,
		[LOG_LVL_INFO] = LOG_INFO,
		[LOG_LVL_DEBUG] = LOG_DEBUG,
	};
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	if (to_syslog) {
		syslog(prio[level], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ labelflowd[%s]: %s\n", stamp, ts.tv_nsec / 1000000L,
		level_names[level], msg);
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(level, msg);
}

static void glib_handler(const gchar *domain, GLogLevelFlags flags, const gchar *message,
			 gpointer user)
{
	enum log_level level = LOG_LVL_DEBUG;

	(void)user;
	if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		level = LOG_LVL_ERROR;
	else if (flags & G_LOG_LEVEL_WARNING)
		level = LOG_LVL_WARN;
	else if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
		level = LOG_LVL_INFO;
	log_write(level, "%s: %s", domain ? domain : "glib", message);
}

void log_route_glib(void)
{
	g_log_set_default_handler(glib_handler, NULL);
}

const char *log_quote(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}
