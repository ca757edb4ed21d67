/*
 * options.h: the executor's command line, as a table of flags.
 *
 * One row per flag (parse-options style): name, short name, type, where
 * the value goes in struct kiln_options, and the help line. Parsing follows
 * kaniko's (pflag) conventions: `--name value`, `--name=value`, booleans as
 * `--name` or `--name=false`, `-v value`, and `--` ends the flags. An
 * unknown flag is an error that suggests the nearest known one.
 */
#ifndef KILN_EXECUTOR_OPTIONS_H
#define KILN_EXECUTOR_OPTIONS_H

#include "compat.h"
#include "log.h"

struct kiln_buf;
struct kiln_error;

struct kiln_options {
	enum kiln_log_level verbosity;
	enum kiln_log_format log_format;
	bool log_timestamp;
	bool help;

	/* Arguments left after the flags (subcommand operands). */
	char **args;
	size_t nr_args;
};

void kiln_options_init(struct kiln_options *o);
void kiln_options_release(struct kiln_options *o);

/*
 * Parse argv[0..argc) (without the program or subcommand name) into o.
 * allow_args: whether operands are accepted (subcommands) or an error
 * (the build itself takes none).
 */
int kiln_options_parse(struct kiln_options *o, int argc, char **argv, bool allow_args,
		       struct kiln_error *err);

/* Append the flag table as `--help` prints it. */
void kiln_options_usage(struct kiln_buf *out);

#endif
