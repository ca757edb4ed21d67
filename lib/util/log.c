#include "compat.h"
#include "log.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

#include <ctype.h>
#include <pthread.h>
#include <time.h>

/*
 * Logging is the one place kiln keeps global mutable state: the options,
 * the start time, the secrets to scrub and the traced components. The mutex
 * keeps lines whole when the walker's threads log at once.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kiln_log_options log_opts = { .level = KILN_LOG_INFO };
static struct timespec log_start;
static char **log_secrets;
static size_t log_nr_secrets;
static char *log_trace_list; /* ",snapshot,registry," or NULL */

static const char *const level_names[] = {
	[KILN_LOG_TRACE] = "trace",  [KILN_LOG_DEBUG] = "debug", [KILN_LOG_INFO] = "info",
	[KILN_LOG_WARN] = "warning", [KILN_LOG_ERROR] = "error", [KILN_LOG_FATAL] = "fatal",
	[KILN_LOG_PANIC] = "panic",
};

/* logrus's colors, so a kaniko user's eye finds the same things. */
static const char *const level_colors[] = {
	[KILN_LOG_TRACE] = "37", [KILN_LOG_DEBUG] = "37", [KILN_LOG_INFO] = "36",
	[KILN_LOG_WARN] = "33",	 [KILN_LOG_ERROR] = "31", [KILN_LOG_FATAL] = "31",
	[KILN_LOG_PANIC] = "31",
};

void kiln_log_configure(const struct kiln_log_options *opts)
{
	const char *trace = getenv("KILN_TRACE");

	pthread_mutex_lock(&log_lock);
	log_opts = *opts;
	clock_gettime(CLOCK_MONOTONIC, &log_start);
	free(log_trace_list);
	log_trace_list = trace && *trace ? xasprintf(",%s,", trace) : NULL;
	pthread_mutex_unlock(&log_lock);
}

int kiln_log_level_parse(enum kiln_log_level *out, const char *s, struct kiln_error *err)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(level_names); i++) {
		if (!strcasecmp(s, level_names[i]) ||
		    (i == KILN_LOG_WARN && !strcasecmp(s, "warn"))) {
			*out = (enum kiln_log_level)i;
			return 0;
		}
	}
	return kiln_err(err, KILN_EINVAL, 0,
			"unknown verbosity '%s'; use one of panic, fatal, error, warn, info, "
			"debug, trace",
			s);
}

int kiln_log_format_parse(enum kiln_log_format *out, const char *s, struct kiln_error *err)
{
	if (!strcmp(s, "text"))
		*out = KILN_LOG_FORMAT_TEXT;
	else if (!strcmp(s, "color"))
		*out = KILN_LOG_FORMAT_COLOR;
	else if (!strcmp(s, "json"))
		*out = KILN_LOG_FORMAT_JSON;
	else
		return kiln_err(err, KILN_EINVAL, 0,
				"unknown log format '%s'; use one of text, color, json", s);
	return 0;
}

const char *kiln_log_level_name(enum kiln_log_level level)
{
	if ((size_t)level >= KILN_ARRAY_SIZE(level_names))
		return "unknown";
	return level_names[level];
}

bool kiln_log_enabled(enum kiln_log_level level)
{
	return level >= log_opts.level;
}

bool kiln_log_trace_enabled(const char *component)
{
	const char *p;
	size_t n;

	if (log_opts.level == KILN_LOG_TRACE)
		return true;
	if (!log_trace_list)
		return false;
	if (strstr(log_trace_list, ",all,"))
		return true;
	n = strlen(component);
	for (p = log_trace_list; (p = strstr(p, component)); p += n) {
		if (p[-1] == ',' && p[n] == ',')
			return true;
	}
	return false;
}

void kiln_log_add_secret(const char *value)
{
	/* Very short values would blank out ordinary words; they are not secrets worth
	 * the damage, and no registry accepts them as tokens. */
	if (!value || strlen(value) < 4)
		return;
	pthread_mutex_lock(&log_lock);
	for (size_t i = 0; i < log_nr_secrets; i++) {
		if (!strcmp(log_secrets[i], value))
			goto out;
	}
	log_secrets = xreallocarray(log_secrets, log_nr_secrets + 1, sizeof(*log_secrets));
	log_secrets[log_nr_secrets++] = xstrdup(value);
out:
	pthread_mutex_unlock(&log_lock);
}

void kiln_log_clear_secrets(void)
{
	pthread_mutex_lock(&log_lock);
	for (size_t i = 0; i < log_nr_secrets; i++)
		free(log_secrets[i]);
	xfree(&log_secrets);
	log_nr_secrets = 0;
	pthread_mutex_unlock(&log_lock);
}

static bool ends_with_ci(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !strncasecmp(s + len - n, suffix, n);
}

bool kiln_secret_name(const char *name, size_t len)
{
	static const char *const suffixes[] = {
		"password",   "passwd",	     "pwd",	"token",	 "secret",     "secrets",
		"apikey",     "api_key",     "api-key", "private_key",	 "privatekey", "access_key",
		"credential", "credentials", "auth",	"authorization", "passphrase",
	};

	for (size_t i = 0; i < KILN_ARRAY_SIZE(suffixes); i++) {
		if (ends_with_ci(name, len, suffixes[i]))
			return true;
	}
	return false;
}

static bool is_key_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static bool is_value_end(char c)
{
	return c == '\0' || isspace((unsigned char)c) || c == ',' || c == ';' || c == '&' ||
	       c == '}' || c == ')' || c == ']';
}

/*
 * At text[i] a key may end (the character is '=' or ':'). If that key names a
 * secret, return the offset where its value starts and set *vend to where
 * it ends; else return 0. A ':' only separates a quoted JSON key or an HTTP
 * Authorization header, so prose such as "invalid token: ..." survives.
 */
static size_t secret_value_at(const char *text, size_t i, size_t *vend)
{
	size_t kend = i, kstart, v;
	bool quoted = false;
	char q = 0;

	if (kend && (text[kend - 1] == '"' || text[kend - 1] == '\'')) {
		quoted = true;
		kend--;
	}
	for (kstart = kend; kstart && is_key_char(text[kstart - 1]); kstart--)
		;
	if (kstart == kend || !kiln_secret_name(text + kstart, kend - kstart))
		return 0;
	if (text[i] == ':' && !quoted &&
	    !ends_with_ci(text + kstart, kend - kstart, "authorization"))
		return 0;
	v = i + 1;
	while (text[v] == ' ' || text[v] == '\t')
		v++;
	if (!strncasecmp(text + v, "Basic ", 6) || !strncasecmp(text + v, "Bearer ", 7))
		v += text[v + 1] == 'a' || text[v + 1] == 'A' ? 6 : 7;
	if (text[v] == '"' || text[v] == '\'')
		q = text[v++];
	*vend = v;
	while (text[*vend] && (q ? text[*vend] != q : !is_value_end(text[*vend])))
		(*vend)++;
	return *vend > v ? v : 0;
}

/* "scheme://user:password@host": return where the password starts. */
static size_t url_password_at(const char *text, size_t i, size_t *vend)
{
	size_t p = i + 3, colon = 0;

	if (strncmp(text + i, "://", 3))
		return 0;
	for (; text[p] && !isspace((unsigned char)text[p]) && text[p] != '/'; p++) {
		if (text[p] == ':' && !colon)
			colon = p;
		if (text[p] == '@' && colon) {
			*vend = p;
			return p > colon + 1 ? colon + 1 : 0;
		}
	}
	return 0;
}

static size_t registered_secret_at(const char *text)
{
	for (size_t s = 0; s < log_nr_secrets; s++) {
		size_t n = strlen(log_secrets[s]);

		if (!strncmp(text, log_secrets[s], n))
			return n;
	}
	return 0;
}

void kiln_redact(struct kiln_buf *out, const char *text)
{
	size_t i = 0, v, vend = 0, n;

	pthread_mutex_lock(&log_lock);
	while (text[i]) {
		if ((n = registered_secret_at(text + i))) {
			kiln_buf_addstr(out, "***");
			i += n;
			continue;
		}
		v = 0;
		if (text[i] == '=' || text[i] == ':')
			v = secret_value_at(text, i, &vend);
		if (!v && text[i] == ':')
			v = url_password_at(text, i, &vend);
		if (v) {
			kiln_buf_add(out, text + i, v - i);
			kiln_buf_addstr(out, "***");
			i = vend;
			continue;
		}
		kiln_buf_addch(out, text[i++]);
	}
	pthread_mutex_unlock(&log_lock);
}

static void json_add_string(struct kiln_buf *out, const char *s)
{
	kiln_buf_addch(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			kiln_buf_addf(out, "\\%c", c);
		else if (c == '\n')
			kiln_buf_addstr(out, "\\n");
		else if (c == '\t')
			kiln_buf_addstr(out, "\\t");
		else if (c < 0x20)
			kiln_buf_addf(out, "\\u%04x", c);
		else
			kiln_buf_addch(out, c);
	}
	kiln_buf_addch(out, '"');
}

static void add_wall_time(struct kiln_buf *out)
{
	struct timespec now;
	struct tm tm;
	char stamp[64];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	kiln_buf_addstr(out, stamp);
}

static void render_text(struct kiln_buf *line, enum kiln_log_level level, const char *component,
			const char *msg, bool color)
{
	char tag[8];
	size_t i;

	for (i = 0; i < 4 && level_names[level][i]; i++)
		tag[i] = (char)toupper((unsigned char)level_names[level][i]);
	tag[i] = '\0';
	if (color)
		kiln_buf_addf(line, "\033[%sm%s\033[0m[", level_colors[level], tag);
	else
		kiln_buf_addf(line, "%s[", tag);
	if (log_opts.timestamps) {
		add_wall_time(line);
	} else {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		kiln_buf_addf(line, "%04ld", (long)(now.tv_sec - log_start.tv_sec));
	}
	kiln_buf_addstr(line, "] ");
	if (component)
		kiln_buf_addf(line, "%s: ", component);
	kiln_buf_addstr(line, msg);
	kiln_buf_addch(line, '\n');
}

static void render_json(struct kiln_buf *line, enum kiln_log_level level, const char *component,
			const char *msg)
{
	kiln_buf_addstr(line, "{\"level\":");
	json_add_string(line, level_names[level]);
	if (component) {
		kiln_buf_addstr(line, ",\"component\":");
		json_add_string(line, component);
	}
	kiln_buf_addstr(line, ",\"msg\":");
	json_add_string(line, msg);
	kiln_buf_addstr(line, ",\"time\":\"");
	add_wall_time(line);
	kiln_buf_addstr(line, "\"}\n");
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report a failing log sink */
		p += n;
		len -= (size_t)n;
	}
}

void kiln_log_write(enum kiln_log_level level, const char *component, const char *fmt, ...)
{
	struct kiln_buf raw = KILN_BUF_INIT, msg = KILN_BUF_INIT, line = KILN_BUF_INIT;
	va_list ap;
	int saved = errno;

	if ((size_t)level >= KILN_ARRAY_SIZE(level_names))
		level = KILN_LOG_PANIC;
	va_start(ap, fmt);
	kiln_buf_vaddf(&raw, fmt, ap);
	va_end(ap);
	kiln_redact(&msg, raw.buf);
	if (log_opts.format == KILN_LOG_FORMAT_JSON)
		render_json(&line, level, component, msg.buf);
	else
		render_text(&line, level, component, msg.buf,
			    log_opts.format == KILN_LOG_FORMAT_COLOR);
	pthread_mutex_lock(&log_lock);
	write_all(log_opts.fd > 0 ? log_opts.fd : STDERR_FILENO, line.buf, line.len);
	pthread_mutex_unlock(&log_lock);
	kiln_buf_release(&raw);
	kiln_buf_release(&msg);
	kiln_buf_release(&line);
	errno = saved;
}
