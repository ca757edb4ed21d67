/*
 * `executor debug expand [--env NAME=VALUE]... [--escape=CHAR] [--words]
 * [--] WORD`: expand one word as an ENV value (or, with --words, as the
 * words of EXPOSE) and print the result, so tests and bug reports can
 * check kiln's expansion against BuildKit's one word at a time.
 *
 * Exit codes: 0 printed, 1 expansion error (one line on stderr, stdout
 * empty), 2 usage error.
 */
#include "compat.h"
#include "commands.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "expand.h"

#define USAGE \
	"usage: executor debug expand [--env NAME=VALUE]... [--escape=CHAR] [--words] [--] WORD"

struct expand_args {
	const char **env; /* NULL-terminated, later entries win */
	size_t nr_env;
	int escape;
	bool words;
	const char *word;
};

static int usage_error(struct kiln_error *err, const char *fmt, const char *arg)
{
	kiln_err(err, KILN_EINVAL, 0, fmt, arg);
	kiln_err_hint(err, "%s", USAGE);
	return 2;
}

static int add_env(struct expand_args *a, const char *entry, struct kiln_error *err)
{
	const char *eq = strchr(entry, '=');

	if (!eq || eq == entry)
		return usage_error(err, "--env takes NAME=VALUE, not '%s'", entry);
	a->env = xreallocarray(a->env, st_add(a->nr_env, 2), sizeof(*a->env));
	a->env[a->nr_env++] = entry;
	a->env[a->nr_env] = NULL;
	return 0;
}

static int set_escape(struct expand_args *a, const char *value, struct kiln_error *err)
{
	if (strcmp(value, "\\") && strcmp(value, "`"))
		return usage_error(err, "--escape takes '\\' or '`', not '%s'", value);
	a->escape = value[0];
	return 0;
}

/* A flag that takes a value, as --name=VALUE or --name VALUE. */
static const char *flag_value(const char *flag, int argc, char **argv, int *i)
{
	size_t n = strlen(flag);

	if (!strncmp(argv[*i], flag, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (!strcmp(argv[*i], flag) && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int parse_args(struct expand_args *a, int argc, char **argv, struct kiln_error *err)
{
	int i, ret = 0;

	for (i = 0; i < argc && !ret; i++) {
		const char *arg = argv[i], *v;

		if (!strcmp(arg, "--")) {
			i++;
			break;
		}
		if (arg[0] != '-' || !arg[1])
			break;
		if ((v = flag_value("--env", argc, argv, &i)))
			ret = add_env(a, v, err);
		else if ((v = flag_value("--escape", argc, argv, &i)))
			ret = set_escape(a, v, err);
		else if (!strcmp(arg, "--words"))
			a->words = true;
		else if (!strcmp(arg, "--env") || !strcmp(arg, "--escape"))
			ret = usage_error(err, "flag '%s' needs a value", arg);
		else
			ret = usage_error(err, "unknown flag '%s'", arg);
	}
	if (ret)
		return ret;
	if (argc - i != 1)
		return usage_error(err, "expected exactly one WORD%s", "");
	a->word = argv[i];
	return 0;
}

static int print_expansion(const struct expand_args *a, struct kiln_error *err)
{
	struct kiln_expander x = KILN_EXPANDER_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	struct kiln_words words = KILN_WORDS_INIT;
	int ret;

	x.escape = a->escape;
	x.lookup = kiln_expand_env_lookup;
	x.ctx = a->env;
	if (a->words)
		ret = kiln_expand_words(&words, &x, a->word, strlen(a->word), err);
	else
		ret = kiln_expand_word(&out, &x, a->word, strlen(a->word), err);
	if (!ret) {
		for (size_t i = 0; i < words.nr; i++)
			printf("%s\n", words.v[i]);
		if (!a->words) {
			fwrite(out.buf, 1, out.len, stdout);
			putchar('\n');
		}
	}
	kiln_words_release(&words);
	kiln_buf_release(&out);
	return ret;
}

int debug_expand(int argc, char **argv, struct kiln_error *err)
{
	struct expand_args a = { .escape = '\\' };
	struct kiln_error xerr = KILN_ERROR_INIT;
	int code;

	code = parse_args(&a, argc, argv, err);
	if (!code && print_expansion(&a, &xerr) < 0) {
		/* the contract: BuildKit's message alone, no "error: " prefix */
		fprintf(stderr, "%s\n", kiln_error_msg(&xerr));
		code = 1;
	}
	kiln_error_release(&xerr);
	free(a.env);
	return code;
}
