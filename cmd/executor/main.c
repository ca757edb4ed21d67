/*
 * executor: kiln's command line. argv -> struct kiln_options -> the
 * subcommand (or, with no subcommand, the build).
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "commands.h"
#include "digest.h"
#include "error.h"
#include "kiln-version.h"
#include "log.h"
#include "options.h"
#include "run.h"

static const struct kiln_command commands[] = {
	{ "version", "", "print the version of kiln and of the libraries it links", cmd_version,
	  NULL },
	{ "warm", "[flags]", "store base images in the cache dir (kaniko's warmer; 'warm --help')",
	  NULL, cmd_warm },
	{ "debug", "TOOL ...", "tools that check one part of kiln (see 'executor debug')", NULL,
	  cmd_debug },
};

static void print_help(void)
{
	struct kiln_buf out = KILN_BUF_INIT;

	kiln_buf_addf(&out,
		      "kiln %s: build container images from a Dockerfile, without a daemon\n\n"
		      "Usage:\n  executor [flags]\n  executor COMMAND [flags]\n\nCommands:\n",
		      KILN_VERSION);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++) {
		struct kiln_buf left = KILN_BUF_INIT;

		kiln_buf_addf(&left, "%s %s", commands[i].name, commands[i].usage);
		kiln_buf_addf(&out, "  %-28s %s\n", left.buf, commands[i].help);
		kiln_buf_release(&left);
	}
	kiln_buf_addstr(&out, "\nFlags:\n");
	kiln_options_usage(&out);
	fputs(out.buf, stdout);
	kiln_buf_release(&out);
}

static const struct kiln_command *find_command(const char *name)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}

void executor_setup_logging(const struct kiln_options *o)
{
	struct kiln_log_options lo = {
		.level = o->verbosity,
		.format = o->log_format,
		.timestamps = o->log_timestamp,
	};

	kiln_log_configure(&lo);
}

/* No subcommand: the build, as kaniko's executor runs it. */
static int run_build(struct kiln_options *o, struct kiln_error *err)
{
	struct build_result r = BUILD_RESULT_INIT;

	kiln_options_log_notes(o);
	run_signals_install();
	return build_run(&r, &o->build, err);
}

int main(int argc, char **argv)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_options o;
	const struct kiln_command *cmd = NULL;
	int first = 1, code = 1;

	kiln_options_init(&o);
	if (kiln_crypto_init(&err) < 0)
		goto out;
	if (argc > 1 && argv[1][0] != '-') {
		cmd = find_command(argv[1]);
		if (!cmd) {
			kiln_err(&err, KILN_EINVAL, 0, "unknown command '%s'", argv[1]);
			kiln_err_hint(&err, "see 'executor --help' for the commands");
			goto out;
		}
		first = 2;
		if (cmd->run_argv) {
			code = cmd->run_argv(argc - first, argv + first, &err);
			goto out;
		}
	}
	if (kiln_options_parse(&o, argc - first, argv + first, cmd != NULL, &err) < 0)
		goto out;
	if (o.help) {
		print_help();
		code = 0;
		goto out;
	}
	executor_setup_logging(&o);
	code = cmd ? cmd->run(&o, &err) : run_build(&o, &err);
	if (code < 0)
		code = 1;
out:
	if (err.code) {
		/* the last guard: whatever a message quotes, no secret leaves */
		struct kiln_buf line = KILN_BUF_INIT;

		kiln_redact(&line, kiln_error_msg(&err));
		fprintf(stderr, "error: %s\n", line.buf);
		kiln_buf_release(&line);
	}
	kiln_error_release(&err);
	kiln_options_release(&o);
	return code;
}
