#include "compat.h"
#include "options.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

enum opt_type {
	OPT_BOOL,
	OPT_CALLBACK, /* takes a value, parsed by cb */
};

struct opt {
	const char *name;
	char short_name;
	enum opt_type type;
	const char *arg; /* value placeholder in --help, NULL for booleans */
	const char *help;
	size_t offset; /* for OPT_BOOL: where the bool lives */
	int (*cb)(struct kiln_options *o, const char *value, struct kiln_error *err);
};

static int set_verbosity(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return kiln_log_level_parse(&o->verbosity, value, err);
}

static int set_log_format(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return kiln_log_format_parse(&o->log_format, value, err);
}

/* Flags in the order --help lists them. Later features add rows here. */
static const struct opt opts[] = {
	{ "help", 'h', OPT_BOOL, NULL, "show this help and exit",
	  offsetof(struct kiln_options, help), NULL },
	{ "log-format", 0, OPT_CALLBACK, "FORMAT",
	  "log format: text, color or json (default color)", 0, set_log_format },
	{ "log-timestamp", 0, OPT_BOOL, NULL, "print full timestamps in log lines",
	  offsetof(struct kiln_options, log_timestamp), NULL },
	{ "verbosity", 'v', OPT_CALLBACK, "LEVEL",
	  "log level: panic, fatal, error, warn, info, debug, trace (default info)", 0,
	  set_verbosity },
};

void kiln_options_init(struct kiln_options *o)
{
	memset(o, 0, sizeof(*o));
	o->verbosity = KILN_LOG_INFO;
	o->log_format = KILN_LOG_FORMAT_COLOR;
}

void kiln_options_release(struct kiln_options *o)
{
	for (size_t i = 0; i < o->nr_args; i++)
		free(o->args[i]);
	free(o->args);
	o->args = NULL;
	o->nr_args = 0;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = xcalloc(lb + 1, sizeof(*row));
	size_t d;

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	d = row[lb];
	free(row);
	return d;
}

static int unknown_flag(const char *name, size_t len, struct kiln_error *err)
{
	char *given = xstrndup(name, len);
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(opts); i++) {
		size_t d = edit_distance(given, opts[i].name);

		if (d < best_d) {
			best_d = d;
			best = opts[i].name;
		}
	}
	kiln_err(err, KILN_EINVAL, 0, "unknown flag '--%s'", given);
	if (best && best_d <= 3)
		kiln_err_hint(err, "did you mean '--%s'? (see 'executor --help')", best);
	else
		kiln_err_hint(err, "see 'executor --help' for the flags");
	free(given);
	return KILN_EINVAL;
}

static const struct opt *find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(opts); i++) {
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	}
	return NULL;
}

static const struct opt *find_short(char c)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(opts); i++) {
		if (opts[i].short_name && opts[i].short_name == c)
			return &opts[i];
	}
	return NULL;
}

static int parse_bool(bool *out, const char *value, const char *flag, struct kiln_error *err)
{
	if (!value || !strcmp(value, "true") || !strcmp(value, "1"))
		*out = true;
	else if (!strcmp(value, "false") || !strcmp(value, "0"))
		*out = false;
	else
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid value '%s' for '--%s': use true or false", value, flag);
	return 0;
}

/*
 * Apply one flag. value is what followed '=' (or NULL); next is the following
 * argument, which a flag taking a value consumes (*used set to true).
 */
static int apply(struct kiln_options *o, const struct opt *opt, const char *value, const char *next,
		 bool *used, struct kiln_error *err)
{
	if (opt->type == OPT_BOOL)
		return parse_bool((bool *)((char *)o + opt->offset), value, opt->name, err);
	if (!value) {
		if (!next)
			return kiln_err(err, KILN_EINVAL, 0, "flag '--%s' needs a value (%s)",
					opt->name, opt->arg);
		value = next;
		*used = true;
	}
	if (opt->cb(o, value, err) < 0)
		return kiln_err_prefix(err, "--%s", opt->name);
	return 0;
}

static void add_arg(struct kiln_options *o, const char *arg)
{
	o->args = xreallocarray(o->args, o->nr_args + 1, sizeof(*o->args));
	o->args[o->nr_args++] = xstrdup(arg);
}

static int parse_one(struct kiln_options *o, const char *arg, const char *next, bool *used,
		     struct kiln_error *err)
{
	const struct opt *opt;
	const char *value = NULL;

	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		opt = find_long(name, len);
		if (!opt)
			return unknown_flag(name, len, err);
		value = eq ? eq + 1 : NULL;
	} else {
		opt = find_short(arg[1]);
		if (!opt) {
			kiln_err(err, KILN_EINVAL, 0, "unknown flag '-%c'", arg[1]);
			return kiln_err_hint(err, "see 'executor --help' for the flags");
		}
		if (arg[2])
			value = arg[2] == '=' ? arg + 3 : arg + 2;
	}
	return apply(o, opt, value, next, used, err);
}

int kiln_options_parse(struct kiln_options *o, int argc, char **argv, bool allow_args,
		       struct kiln_error *err)
{
	bool flags_done = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		bool used = false;

		if (!flags_done && !strcmp(arg, "--")) {
			flags_done = true;
			continue;
		}
		if (flags_done || arg[0] != '-' || arg[1] == '\0') {
			if (!allow_args) {
				kiln_err(err, KILN_EINVAL, 0, "unexpected argument '%s'", arg);
				return kiln_err_hint(err, "flags start with '--' (see 'executor "
							  "--help')");
			}
			add_arg(o, arg);
			continue;
		}
		if (parse_one(o, arg, i + 1 < argc ? argv[i + 1] : NULL, &used, err) < 0)
			return err->code;
		if (used)
			i++;
	}
	return 0;
}

void kiln_options_usage(struct kiln_buf *out)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(opts); i++) {
		struct kiln_buf left = KILN_BUF_INIT;

		if (opts[i].short_name)
			kiln_buf_addf(&left, "-%c, ", opts[i].short_name);
		else
			kiln_buf_addstr(&left, "    ");
		kiln_buf_addf(&left, "--%s", opts[i].name);
		if (opts[i].arg)
			kiln_buf_addf(&left, " %s", opts[i].arg);
		kiln_buf_addf(out, "  %-28s %s\n", left.buf, opts[i].help);
		kiln_buf_release(&left);
	}
}
