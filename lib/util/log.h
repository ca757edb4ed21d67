/*
 * log.h: levelled logging with one sink that renders text, color or JSON
 * and scrubs secrets from every line.
 *
 * Lines look like kaniko's (logrus) so users recognise them:
 *	INFO[0003] RUN apk add curl            (text; color adds ANSI codes)
 *	{"level":"info","msg":"RUN apk add curl","time":"2026-..."}  (json)
 * The level is checked before anything is formatted. Every line passes
 * through kiln_redact(): values registered with kiln_log_add_secret(), the
 * values of keys named like secrets (password, token, auth, ...) and the
 * password part of URLs never reach the output.
 *
 * KILN_TRACE=snapshot,registry (or "all") turns on trace lines of those
 * components whatever the verbosity.
 *
 * Typical use:
 *	kiln_log_configure(&(struct kiln_log_options){ .level = KILN_LOG_INFO });
 *	kiln_info("Retrieving image manifest %s", ref);
 *	kiln_trace("snapshot", "%s changed (%s)", path, why);
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

enum kiln_log_level {
	KILN_LOG_TRACE,
	KILN_LOG_DEBUG,
	KILN_LOG_INFO,
	KILN_LOG_WARN,
	KILN_LOG_ERROR,
	KILN_LOG_FATAL,
	KILN_LOG_PANIC,
};

enum kiln_log_format {
	KILN_LOG_FORMAT_TEXT,
	KILN_LOG_FORMAT_COLOR,
	KILN_LOG_FORMAT_JSON,
};

struct kiln_log_options {
	enum kiln_log_level level;
	enum kiln_log_format format;
	bool timestamps; /* full RFC 3339 time instead of seconds since start */
	int fd;		 /* where lines go; 0 means stderr */
};

void kiln_log_configure(const struct kiln_log_options *opts);

/* Parse "trace".."panic" (kaniko's --verbosity) / "text", "color", "json". */
int kiln_log_level_parse(enum kiln_log_level *out, const char *s, struct kiln_error *err);
int kiln_log_format_parse(enum kiln_log_format *out, const char *s, struct kiln_error *err);
const char *kiln_log_level_name(enum kiln_log_level level);

bool kiln_log_enabled(enum kiln_log_level level);
bool kiln_log_trace_enabled(const char *component);

/* Never print this value (a password, a token, a secret build arg). */
void kiln_log_add_secret(const char *value);
/* Forget all registered secrets (tests). */
void kiln_log_clear_secrets(void);

/* True when a key or variable name looks like it holds a secret. */
bool kiln_secret_name(const char *name, size_t len);

/* Append text to out with every secret replaced by "***". */
void kiln_redact(struct kiln_buf *out, const char *text);

void kiln_log_write(enum kiln_log_level level, const char *component, const char *fmt, ...)
	KILN_PRINTF(3, 4);

#define kiln_log_at(level, ...)                                   \
	do {                                                      \
		if (kiln_log_enabled(level))                      \
			kiln_log_write(level, NULL, __VA_ARGS__); \
	} while (0)

#define kiln_debug(...) kiln_log_at(KILN_LOG_DEBUG, __VA_ARGS__)
#define kiln_info(...)	kiln_log_at(KILN_LOG_INFO, __VA_ARGS__)
#define kiln_warn(...)	kiln_log_at(KILN_LOG_WARN, __VA_ARGS__)
#define kiln_error(...) kiln_log_at(KILN_LOG_ERROR, __VA_ARGS__)
#define kiln_fatal(...) kiln_log_at(KILN_LOG_FATAL, __VA_ARGS__)

#define kiln_trace(component, ...)                                              \
	do {                                                                    \
		if (kiln_log_trace_enabled(component))                          \
			kiln_log_write(KILN_LOG_TRACE, component, __VA_ARGS__); \
	} while (0)

#endif
