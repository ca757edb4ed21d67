/*
 * commands.h: the executor's subcommands, as tables main() dispatches on.
 */
#ifndef KILN_EXECUTOR_COMMANDS_H
#define KILN_EXECUTOR_COMMANDS_H

#include "compat.h"
#include "options.h"

struct kiln_error;

/*
 * A subcommand either takes the executor's global flags (run) or parses
 * its own argv (run_argv: argv[0] is the subcommand's first argument).
 * Both return the process exit code; when err is set on return, main()
 * prints it as one "error: ..." line.
 */
struct kiln_command {
	const char *name;
	const char *usage; /* operands, as --help prints them */
	const char *help;
	int (*run)(struct kiln_options *o, struct kiln_error *err);
	int (*run_argv)(int argc, char **argv, struct kiln_error *err);
};

int cmd_version(struct kiln_options *o, struct kiln_error *err);
int cmd_warm(int argc, char **argv, struct kiln_error *err);

/* Logging as o's flags ask (--verbosity, --log-format, --log-timestamp). */
void executor_setup_logging(const struct kiln_options *o);
int cmd_debug(int argc, char **argv, struct kiln_error *err);

/* `executor debug <name>` tools: each parses its own argv (argv[0] is the
 * first operand after the tool's name) and returns the exit code (0 ok,
 * 1 failure, 2 usage error). */
/* Shared by the debug tools' hand-written argument loops. */
const char *debug_flag_value(const char *arg, const char *name, int *i, int argc, char **argv);

int debug_probe(int argc, char **argv, struct kiln_error *err);
int debug_pull(int argc, char **argv, struct kiln_error *err);
int debug_push(int argc, char **argv, struct kiln_error *err);
int debug_download(int argc, char **argv, struct kiln_error *err);
int debug_snapshot(int argc, char **argv, struct kiln_error *err);
int debug_extract(int argc, char **argv, struct kiln_error *err);
int debug_parse(int argc, char **argv, struct kiln_error *err);
int debug_expand(int argc, char **argv, struct kiln_error *err);
int debug_options(int argc, char **argv, struct kiln_error *err);
int debug_run(int argc, char **argv, struct kiln_error *err);
int debug_output(int argc, char **argv, struct kiln_error *err);

#endif
