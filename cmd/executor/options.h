/*
 * options.h: the executor's command line, as a table of flags.
 *
 * One row per flag (parse-options style): name, short name, type, where
 * the value goes, and the help line. The build's flags fill
 * kiln_options.build (struct build_options, lib/build.h); registry flags
 * fill build.push, build.pull or both. Parsing follows kaniko's (pflag)
 * conventions: `--name value`, `--name=value`, booleans as `--name` or
 * `--name=false`, `-f value`, `-fvalue`, `-f=value`, and `--` ends the
 * flags. An unknown flag is an error that suggests the nearest known one.
 *
 * Every flag of kaniko's executor is in the table, in one of three kinds:
 *   implemented    it fills build_options;
 *   accepted       it is accepted and has no effect in kiln (recorded in
 *                  noop_flags, logged at debug when the build starts);
 *   not supported  the parse fails with "not supported yet: --NAME", so a
 *                  pipeline never silently loses what it asked for.
 * kaniko's deprecated spellings (--snapshotMode, --tarPath, ...) act as the
 * flag they name and are recorded in deprecated_flags for a warning.
 *
 * Typical use:
 *	struct kiln_options o;
 *	kiln_options_init(&o);
 *	if (kiln_options_parse(&o, argc - 1, argv + 1, false, err) < 0)
 *		goto out;
 *	// configure logging from o.verbosity, o.log_format, o.log_timestamp
 *	kiln_options_log_notes(&o);
 *	code = build_run(&result, &o.build, err);
 *	kiln_options_release(&o);
 */
#ifndef KILN_EXECUTOR_OPTIONS_H
#define KILN_EXECUTOR_OPTIONS_H

#include "compat.h"
#include "build.h"
#include "log.h"
#include "strvec.h"

struct kiln_buf;
struct kiln_error;

struct kiln_options {
	enum kiln_log_level verbosity;
	enum kiln_log_format log_format;
	bool log_timestamp;
	bool help;

	/* What the build flags asked for. Its strings point into argv. */
	struct build_options build;

	/* `executor warm`: what to store. Its other flags fill build:
	 * build_args, custom_platform, cache_dir, cache_ttl_s and pull. */
	struct {
		struct kiln_strvec images; /* --image */
		const char *dockerfile;	   /* --dockerfile; NULL: none */
		bool force;		   /* --force */
	} warm;

	/* "--use-new-run", ...: flags given that kiln accepts without effect. */
	struct kiln_strvec noop_flags;
	/* "--snapshotMode": deprecated spellings given, once each. */
	struct kiln_strvec deprecated_flags;

	/* Arguments left after the flags (subcommand operands). */
	char **args;
	size_t nr_args;
};

void kiln_options_init(struct kiln_options *o);
void kiln_options_release(struct kiln_options *o);

/*
 * Parse argv[0..argc) (without the program or subcommand name) into o.
 * allow_args: whether operands are accepted (subcommands) or an error
 * (the build itself takes none). The strings stored in o->build point into
 * argv, which must outlive o.
 */
int kiln_options_parse(struct kiln_options *o, int argc, char **argv, bool allow_args,
		       struct kiln_error *err);

/* `executor warm`'s flags (argv without the subcommand name): its own
 * (--image, --dockerfile, --cache-dir, --force, with kaniko's warmer's short
 * names) and the build's it shares (--build-arg, --custom-platform,
 * --cache-ttl, the pull registry flags, logging). No operands. */
int kiln_options_parse_warm(struct kiln_options *o, int argc, char **argv, struct kiln_error *err);
void kiln_options_usage_warm(struct kiln_buf *out);

/* Once logging is configured: a warning per deprecated spelling used and a
 * debug line per accepted no-op flag. */
void kiln_options_log_notes(const struct kiln_options *o);

/* Append the flag table as `--help` prints it, grouped. */
void kiln_options_usage(struct kiln_buf *out);

#endif
