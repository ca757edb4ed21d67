/*
 * commands.h: the executor's subcommands, as a table main() dispatches on.
 */
#ifndef KILN_EXECUTOR_COMMANDS_H
#define KILN_EXECUTOR_COMMANDS_H

#include "compat.h"
#include "options.h"

struct kiln_error;

struct kiln_command {
	const char *name;
	const char *usage; /* operands, as --help prints them */
	const char *help;
	/* Runs with parsed options; returns the process exit code, or -1 with
	 * err set for a one-line error. */
	int (*run)(struct kiln_options *o, struct kiln_error *err);
};

int cmd_version(struct kiln_options *o, struct kiln_error *err);
int cmd_debug(struct kiln_options *o, struct kiln_error *err);

#endif
