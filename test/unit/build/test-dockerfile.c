/*
 * test-dockerfile: the parser against BuildKit's behaviour, one table per
 * topic: each case is a Dockerfile and the node dump BuildKit prints for
 * it (or the start of the one-line error).
 */
#include "compat.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "kiln-test.h"

struct dump_case {
	const char *name;
	const char *in;
	const char *want; /* dump, or "error: <prefix of the message>" */
};

/* Parse in and compare the dump (or the error) with want. */
static void run_cases(const struct dump_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct dump_case *c = &cases[i];
		struct kiln_error err = KILN_ERROR_INIT;
		struct kiln_buf out = KILN_BUF_INIT;
		struct dockerfile df;
		int ret = dockerfile_parse(&df, c->in, strlen(c->in), "Dockerfile", &err);

		if (!strncmp(c->want, "error: ", 7)) {
			if (ret == 0 ||
			    strncmp(kiln_error_msg(&err), c->want + 7, strlen(c->want + 7)))
				fail_msg("case %s: want error '%s', got %d '%s'", c->name,
					 c->want + 7, ret, ret ? kiln_error_msg(&err) : "");
			kiln_error_release(&err);
			continue;
		}
		if (ret < 0)
			fail_msg("case %s: unexpected error: %s", c->name, kiln_error_msg(&err));
		dockerfile_dump(&out, &df);
		if (strcmp(out.buf, c->want))
			fail_msg("case %s:\nwant:\n%s\ngot:\n%s", c->name, c->want, out.buf);
		kiln_buf_release(&out);
		dockerfile_release(&df);
	}
}

#define RUN_CASES(t) run_cases(t, KILN_ARRAY_SIZE(t))

static void test_instructions(void **state)
{
	static const struct dump_case cases[] = {
		{ "from", "FROM alpine:3.19\n", "(from \"alpine:3.19\")\n" },
		{ "from-as", "from --platform=$BUILDPLATFORM golang AS Build\n",
		  "(from [\"--platform=$BUILDPLATFORM\"] \"golang\" \"AS\" \"Build\")\n" },
		{ "keyword-case", "FROM a\nrUn echo\n", "(from \"a\")\n(run \"echo\")\n" },
		{ "run-shell", "FROM a\nRUN  echo  \"a  b\"  \n",
		  "(from \"a\")\n(run \"echo  \\\"a  b\\\"\")\n" },
		{ "run-empty", "FROM a\nRUN\n", "(from \"a\")\n(run)\n" },
		{ "cmd-json", "FROM a\nCMD [\"a\", \"b c\"]\n",
		  "(from \"a\")\n(cmd \"a\" \"b c\")\n" },
		{ "cmd-json-empty", "FROM a\nCMD []\n", "(from \"a\")\n(cmd)\n" },
		{ "cmd-json-invalid", "FROM a\nCMD [\"a\", 'b']\n",
		  "(from \"a\")\n(cmd \"[\\\"a\\\", 'b']\")\n" },
		{ "cmd-json-trailing", "FROM a\nCMD [\"a\"] x\n",
		  "(from \"a\")\n(cmd \"[\\\"a\\\"] x\")\n" },
		{ "cmd-json-unterminated", "FROM a\nENTRYPOINT [\"sh\", \"-c\"\n",
		  "(from \"a\")\n(entrypoint \"[\\\"sh\\\", \\\"-c\\\"\")\n" },
		{ "cmd-json-escapes", "FROM a\nCMD [\"\\u00e9\\n\\t\\\"\", \"\\ud83d\\ude00\"]\n",
		  "(from \"a\")\n(cmd \"é\\n\\t\\\"\" \"😀\")\n" },
		{ "cmd-json-nul", "FROM a\nCMD [\"a\\u0000b\"]\n",
		  "(from \"a\")\n(cmd \"a\\x00b\")\n" },
		{ "cmd-json-huge-number", "FROM a\nCMD [1e999]\n",
		  "(from \"a\")\n(cmd \"[1e999]\")\n" },
		{ "copy-words", "FROM a\nCOPY  a   b\tc/\n",
		  "(from \"a\")\n(copy \"a\" \"b\" \"c/\")\n" },
		{ "copy-json", "FROM a\nCOPY [\"a b\", \"/c\"]\n",
		  "(from \"a\")\n(copy \"a b\" \"/c\")\n" },
		{ "copy-flags", "FROM a\nCOPY --from=build --chown=1:1 --link /o /d\n",
		  "(from \"a\")\n(copy [\"--from=build\" \"--chown=1:1\" \"--link\"] \"/o\" "
		  "\"/d\")\n" },
		{ "volume", "FROM a\nVOLUME /a /b\nVOLUME [\"/c\"]\n",
		  "(from \"a\")\n(volume \"/a\" \"/b\")\n(volume \"/c\")\n" },
		{ "expose", "FROM a\nEXPOSE 80/tcp  443\n",
		  "(from \"a\")\n(expose \"80/tcp\" \"443\")\n" },
		{ "env", "FROM a\nENV A=1 B=\"2 3\" C='x'\n",
		  "(from \"a\")\n(env \"A\" \"1\" \"=\" \"B\" \"\\\"2 3\\\"\" \"=\" \"C\" \"'x'\" "
		  "\"=\")\n" },
		{ "env-legacy", "FROM a\nENV A b c\n", "(from \"a\")\n(env \"A\" \"b c\" \"\")\n" },
		{ "env-legacy-spaces", "FROM a\nENV A   b  \"c  d\"\n",
		  "(from \"a\")\n(env \"A\" \"b  \\\"c  d\\\"\" \"\")\n" },
		{ "env-escaped-space", "FROM a\nENV A=a\\ b\n",
		  "(from \"a\")\n(env \"A\" \"a\\\\ b\" \"=\")\n" },
		{ "env-empty", "FROM a\nENV\n", "(from \"a\")\n(env)\n" },
		{ "label", "FROM a\nLABEL \"a.b\"=\"c d\" e=f\n",
		  "(from \"a\")\n(label \"\\\"a.b\\\"\" \"\\\"c d\\\"\" \"=\" \"e\" \"f\" "
		  "\"=\")\n" },
		{ "arg", "ARG a=\"1 2\" b\nFROM a\n",
		  "(arg \"a=\\\"1 2\\\"\" \"b\")\n(from \"a\")\n" },
		{ "arg-single-quote-escape", "FROM a\nARG a='x\\' b\n",
		  "(from \"a\")\n(arg \"a='x\\\\'\" \"b\")\n" },
		{ "strings",
		  "FROM a\nUSER  me:grp\nWORKDIR /a b\nSTOPSIGNAL SIGKILL\nMAINTAINER A <a@b>\n",
		  "(from \"a\")\n(user \"me:grp\")\n(workdir \"/a b\")\n(stopsignal \"SIGKILL\")\n"
		  "(maintainer \"A <a@b>\")\n" },
		{ "shell", "FROM a\nSHELL [\"bash\", \"-c\"]\nSHELL bash -c\n",
		  "(from \"a\")\n(shell \"bash\" \"-c\")\n(shell \"bash -c\")\n" },
		{ "healthcheck", "FROM a\nHEALTHCHECK --interval=5s --retries=3 CMD curl -f x\n",
		  "(from \"a\")\n(healthcheck [\"--interval=5s\" \"--retries=3\"] \"CMD\" \"curl "
		  "-f x\")\n" },
		{ "healthcheck-json", "FROM a\nHEALTHCHECK CMD [\"a\", \"b\"]\n",
		  "(from \"a\")\n(healthcheck \"CMD\" \"a\" \"b\")\n" },
		{ "healthcheck-json-nul", "FROM a\nHEALTHCHECK CMD [\"a\\u0000b\", \"\\u0000\"]\n",
		  "(from \"a\")\n(healthcheck \"CMD\" \"a\\x00b\" \"\\x00\")\n" },
		{ "healthcheck-none", "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK\n",
		  "(from \"a\")\n(healthcheck \"NONE\")\n(healthcheck)\n" },
		{ "onbuild", "FROM a\nONBUILD RUN echo x\nONBUILD\n",
		  "(from \"a\")\n(onbuild (run \"echo x\"))\n(onbuild)\n" },
		{ "onbuild-flags", "FROM a\nONBUILD COPY --from=b x y\n",
		  "(from \"a\")\n(onbuild (copy [\"--from=b\"] \"x\" \"y\"))\n" },
		{ "onbuild-nested", "FROM a\nONBUILD ONBUILD ENV A=1\n",
		  "(from \"a\")\n(onbuild (onbuild (env \"A\" \"1\" \"=\")))\n" },
		{ "unknown", "FROM a\nFROMM x y\nfoo\n",
		  "(from \"a\")\n(fromm \"\")\n(foo \"\")\n" },
		{ "kelvin-sign-workdir",
		  "FROM a\nWOR\xe2\x84\xaa"
		  "DIR /x\n",
		  "(from \"a\")\n(workdir \"/x\")\n" },
		{ "unicode", "FROM a\nRUN echo h\xc3\xa9llo \xe2\x9c\x93\n",
		  "(from \"a\")\n(run \"echo héllo ✓\")\n" },
		{ "unicode-nbsp-trimmed", "FROM a\nRUN echo\xc2\xa0\n",
		  "(from \"a\")\n(run \"echo\")\n" },
		{ "control-chars", "FROM a\nRUN a\x01\x7f\x0b\n",
		  "(from \"a\")\n(run \"a\\x01\\x7f\")\n" },
		{ "bom",
		  "\xef\xbb\xbf"
		  "FROM a\n",
		  "(from \"a\")\n" },
		{ "crlf", "FROM a\r\nRUN x \\\r\n  y\r\n", "(from \"a\")\n(run \"x   y\")\n" },
		{ "no-trailing-newline", "FROM a", "(from \"a\")\n" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_flags(void **state)
{
	static const struct dump_case cases[] = {
		{ "quoted", "FROM a\nCOPY --chown=\"a b\" --chmod='755' x y\n",
		  "(from \"a\")\n(copy [\"--chown=a b\" \"--chmod=755\"] \"x\" \"y\")\n" },
		{ "backslash", "FROM a\nRUN --mount=a\\ b x\n",
		  "(from \"a\")\n(run [\"--mount=a b\"] \"x\")\n" },
		{ "dashdash-ends", "FROM a\nRUN --network=none -- --not-a-flag\n",
		  "(from \"a\")\n(run [\"--network=none\"] \"--not-a-flag\")\n" },
		{ "single-dash-is-arg", "FROM a\nRUN -x --y\n",
		  "(from \"a\")\n(run \"-x --y\")\n" },
		{ "empty-quoted", "FROM a\nCOPY --\"\" x y\n",
		  "(from \"a\")\n(copy \"x\" \"y\")\n" },
		{ "flag-only", "FROM a\nCOPY --link\n", "(from \"a\")\n(copy [\"--link\"])\n" },
		{ "unterminated-quote", "FROM a\nRUN --mount=\"a b\n",
		  "(from \"a\")\n(run [\"--mount=a b\"])\n" },
		{ "bytes-as-runes", "FROM a\nCOPY --from=\xc3\xa9 x y\n",
		  "(from \"a\")\n(copy [\"--from=\xc3\x83\xc2\xa9\"] \"x\" \"y\")\n" },
		{ "nbsp-byte-splits", "FROM a\nCOPY --from=x\xc3\xa0y z w\n",
		  "(from \"a\")\n(copy [\"--from=x\xc3\x83\"] \"y\" \"z\" \"w\")\n" },
		{ "unknown-keyword-flags", "FROM a\nFOO --bar baz\n",
		  "(from \"a\")\n(foo [\"--bar\"] \"\")\n" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_continuations(void **state)
{
	static const struct dump_case cases[] = {
		{ "simple", "FROM a\nRUN a \\\n    b\n", "(from \"a\")\n(run \"a     b\")\n" },
		{ "trailing-blanks", "FROM a\nRUN a \\  \t\nb\n", "(from \"a\")\n(run \"a b\")\n" },
		{ "comment-inside", "FROM a\nRUN a \\\n# c \\\n  # d\n b\n",
		  "(from \"a\")\n(run \"a  b\")\n" },
		{ "blank-inside", "FROM a\nRUN a \\\n\n   \n b\n",
		  "(from \"a\")\n(run \"a  b\")\n" },
		{ "at-eof", "FROM a\nRUN a \\", "(from \"a\")\n(run \"a\")\n" },
		{ "at-eof-newline", "FROM a\nRUN a \\\n", "(from \"a\")\n(run \"a\")\n" },
		{ "escaped-escape", "FROM a\nRUN echo \\\\\nRUN b\n",
		  "(from \"a\")\n(run \"echo \\\\\\\\\")\n(run \"b\")\n" },
		{ "lone-escape-line", "FROM a\n\\\nRUN b\n", "(from \"a\")\n(run \"b\")\n" },
		{ "only-continuation", "\\\n", "(\"\")\n" },
		{ "keyword-split", "FROM a\nRU\\\nN x\n", "(from \"a\")\n(run \"x\")\n" },
		{ "comment-is-not-continued", "FROM a\n# x \\\nRUN b\n",
		  "(from \"a\")\n(run \"b\")\n" },
		{ "leading-blanks", "   FROM a\n\t RUN b\n", "(from \"a\")\n(run \"b\")\n" },
		{ "backtick-directive", "# escape=`\nFROM a\nRUN a `\n  b\nRUN c \\\n",
		  "(from \"a\")\n(run \"a   b\")\n(run \"c \\\\\")\n" },
		{ "backtick-words", "# escape=`\nFROM a\nENV A=a`\"b C=\"c\\\"\n",
		  "(from \"a\")\n(env \"A\" \"a`\\\"b\" \"=\" \"C\" \"\\\"c\\\\\\\"\" \"=\")\n" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_directives(void **state)
{
	static const struct dump_case cases[] = {
		{ "escape-spaces", "#  escape = `  \nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"ab\")\n" },
		{ "escape-after-syntax",
		  "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"ab\")\n" },
		{ "ends-at-empty-line", "\n# escape=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"a`\")\n(b \"\")\n" },
		{ "ends-at-comment", "# hello\n# escape=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"a`\")\n(b \"\")\n" },
		{ "ends-at-unknown-directive", "# foo=bar\n# escape=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"a`\")\n(b \"\")\n" },
		{ "ends-at-instruction", "FROM a\n# escape=`\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"a`\")\n(b \"\")\n" },
		{ "case-insensitive", "# ESCAPE=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"ab\")\n" },
		{ "bad-escape", "# escape=x\nFROM a\n",
		  "error: Dockerfile:1: invalid escape directive value 'x'" },
		{ "bad-escape-blank", "# escape= \nFROM a\n",
		  "error: Dockerfile:1: invalid escape directive value ' '" },
		{ "repeated", "# escape=`\n# escape=\\\nFROM a\n",
		  "error: Dockerfile:2: only one 'escape' parser directive" },
		{ "repeated-after-bom", "\xef\xbb\xbf# syntax=a\n#syntax=b\nFROM a\n",
		  "error: Dockerfile:2: only one 'syntax' parser directive" },
		{ "empty-value-is-comment", "# escape=\n# escape=x\nFROM a\n", "(from \"a\")\n" },
		{ "long-name-ends", "# averyveryverylongname=x\n# escape=`\nFROM a\nRUN a`\nb\n",
		  "(from \"a\")\n(run \"a`\")\n(b \"\")\n" },
		{ "check-and-syntax-values", "#check=skip=all\n# syntax = x/y:1 \nFROM a\n",
		  "(from \"a\")\n" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_heredocs(void **state)
{
	static const struct dump_case cases[] = {
		{ "run", "FROM a\nRUN <<EOF\necho hi\nEOF\nRUN b\n",
		  "(from \"a\")\n(run \"<<EOF\")\n(run \"b\")\n" },
		{ "copy-two", "FROM a\nCOPY <<a <<b /d/\nA\na\nB\nb\n",
		  "(from \"a\")\n(copy \"<<a\" \"<<b\" \"/d/\")\n" },
		{ "chomp", "FROM a\nRUN <<-EOF\n\techo\n\tEOF\n",
		  "(from \"a\")\n(run \"<<-EOF\")\n" },
		{ "not-chomped-terminator", "FROM a\nRUN <<EOF\n\tEOF\nEOF\n",
		  "(from \"a\")\n(run \"<<EOF\")\n" },
		{ "json-form-has-none", "FROM a\nRUN [\"<<EOF\"]\nRUN x\n",
		  "(from \"a\")\n(run \"<<EOF\")\n(run \"x\")\n" },
		{ "quoted-word-is-not", "FROM a\nRUN echo \"<<EOF\"\nRUN x\n",
		  "(from \"a\")\n(run \"echo \\\"<<EOF\\\"\")\n(run \"x\")\n" },
		{ "attached-is-not", "FROM a\nRUN cat<<EOF\nRUN x\n",
		  "(from \"a\")\n(run \"cat<<EOF\")\n(run \"x\")\n" },
		{ "lexer-error-means-none", "FROM a\nRUN <<EOF 'x\nRUN y\n",
		  "(from \"a\")\n(run \"<<EOF 'x\")\n(run \"y\")\n" },
		{ "other-instructions-have-none", "FROM a\nENV A=<<EOF\nRUN y\n",
		  "(from \"a\")\n(env \"A\" \"<<EOF\" \"=\")\n(run \"y\")\n" },
		{ "onbuild", "FROM a\nONBUILD RUN <<EOF\nx\nEOF\n",
		  "(from \"a\")\n(onbuild (run \"<<EOF\"))\n" },
		{ "after-continuation", "FROM a\nRUN <<EOF \\\n  bash\nx\nEOF\n",
		  "(from \"a\")\n(run \"<<EOF   bash\")\n" },
		{ "comment-in-body", "FROM a\nRUN <<EOF\n# not a comment \\\nEOF\n",
		  "(from \"a\")\n(run \"<<EOF\")\n" },
		{ "unterminated", "FROM a\nRUN <<EOF\necho\n",
		  "error: Dockerfile:2: unterminated heredoc 'EOF'" },
		{ "second-unterminated", "FROM a\nCOPY <<a <<b /\na\nb2\n",
		  "error: Dockerfile:2: unterminated heredoc 'b'" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_errors(void **state)
{
	static const struct dump_case cases[] = {
		{ "empty", "", "error: Dockerfile:1: the file has no instructions" },
		{ "only-comments", "# a\n\n# b\n",
		  "error: Dockerfile:3: the file has no instructions" },
		{ "invalid-utf8", "FROM a\n\nRUN \xff\n",
		  "error: Dockerfile:3: the file is not text (invalid UTF-8" },
		{ "overlong-utf8", "FROM \xc0\xaf\n", "error: Dockerfile:1: the file is not text" },
		{ "json-non-string", "FROM a\nCMD [\"a\", 1]\n",
		  "error: Dockerfile:2: when using JSON array syntax, arrays must be comprised of "
		  "strings "
		  "only: '[\"a\", 1]'" },
		{ "json-nested", "FROM a\nCOPY [[\"a\"], \"b\"]\n",
		  "error: Dockerfile:2: when using JSON" },
		{ "json-null-in-healthcheck", "FROM a\nHEALTHCHECK CMD [null]\n",
		  "error: Dockerfile:2: when using JSON" },
		{ "json-error-line-is-start", "FROM a\nRUN \\\n [1]\n",
		  "error: Dockerfile:2: when using JSON" },
		{ "env-one-word", "FROM a\nENV A\n",
		  "error: Dockerfile:2: ENV must have two arguments" },
		{ "env-missing-equals", "FROM a\nENV A=1 B\n",
		  "error: Dockerfile:2: syntax error: no '=' in 'B'" },
		{ "label-one-word", "FROM a\nLABEL x\n",
		  "error: Dockerfile:2: LABEL must have two arguments" },
	};

	(void)state;
	RUN_CASES(cases);
}

static void test_nul_byte(void **state)
{
	static const char in[] = "FROM a\nRUN a\0b\n";
	struct kiln_error err = KILN_ERROR_INIT;
	struct dockerfile df;

	(void)state;
	assert_int_equal(dockerfile_parse(&df, in, sizeof(in) - 1, "D", &err), KILN_EINVAL);
	assert_string_equal(
		kiln_error_msg(&err),
		"D:2: the file is not text (a NUL byte); a Dockerfile must be UTF-8 text");
	assert_int_equal(df.nr_instrs, 0);
	kiln_error_release(&err);
}

static void test_long_lines(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf in = KILN_BUF_INIT;
	struct dockerfile df;

	(void)state;
	kiln_buf_addstr(&in, "FROM a\nRUN ");
	for (size_t i = 4; i < DOCKERFILE_MAX_LINE; i++)
		kiln_buf_addch(&in, 'x');
	kiln_buf_addch(&in, '\n');
	assert_int_equal(dockerfile_parse(&df, in.buf, in.len, "D", &err), 0);
	assert_int_equal(df.nr_instrs, 2);
	assert_int_equal(df.instrs[1].args[0].len, DOCKERFILE_MAX_LINE - 4);
	dockerfile_release(&df);
	kiln_buf_strip_suffix_ch(&in, '\n');
	kiln_buf_addstr(&in, "x\nRUN b\n");
	assert_int_equal(dockerfile_parse(&df, in.buf, in.len, "D", &err), KILN_EINVAL);
	assert_string_equal(kiln_error_msg(&err),
			    "D:2: the line is longer than 65535 bytes, the most "
			    "BuildKit accepts; split it with line continuations");
	kiln_error_release(&err);
	kiln_buf_release(&in);
}

static void test_lines_and_heredoc_fields(void **state)
{
	static const char in[] = "# syntax=x\n"
				 "FROM a\n"
				 "RUN a \\\n"
				 "  b\n"
				 "COPY 3<<'E\"O'F <<-X /d\n"
				 "\tbody $x\n"
				 "E\"OF\n"
				 "\tone\n"
				 "\t\tX\n"
				 "RUN \\\n";
	struct kiln_error err = KILN_ERROR_INIT;
	struct dockerfile df;
	const struct dockerfile_instr *c;

	(void)state;
	assert_int_equal(dockerfile_parse(&df, in, strlen(in), "D", &err), 0);
	assert_string_equal(df.syntax, "x");
	assert_null(df.check);
	assert_int_equal(df.nr_instrs, 4);
	assert_int_equal(df.instrs[0].line, 2);
	assert_int_equal(df.instrs[1].line, 3);
	assert_int_equal(df.instrs[1].end_line, 4);
	c = &df.instrs[2];
	assert_int_equal(c->line, 5);
	assert_int_equal(c->end_line, 9);
	assert_int_equal(c->nr_heredocs, 2);
	assert_string_equal(c->heredocs[0].name, "E\"OF");
	assert_string_equal(c->heredocs[0].content, "\tbody $x\n");
	assert_false(c->heredocs[0].expand);
	assert_false(c->heredocs[0].chomp);
	assert_int_equal(c->heredocs[0].fd, 3);
	assert_string_equal(c->heredocs[1].name, "X");
	assert_string_equal(c->heredocs[1].content, "\tone\n");
	assert_true(c->heredocs[1].expand);
	assert_true(c->heredocs[1].chomp);
	assert_int_equal(c->heredocs[1].fd, 0);
	assert_int_equal(df.instrs[3].line, 10);
	assert_int_equal(df.instrs[3].end_line, 10);
	dockerfile_release(&df);
}

static void test_json_dump(void **state)
{
	static const char in[] = "FROM a\n"
				 "ONBUILD RUN <<EOF\n"
				 "x \"q\"\n"
				 "EOF\n"
				 "HEALTHCHECK --timeout=1s CMD [\"a\"]\n";
	static const char want[] =
		"[{\"keyword\":\"from\",\"line\":1,\"end_line\":1,\"flags\":[],\"args\":[\"a\"],"
		"\"json_form\":false,\"heredocs\":[]},"
		"{\"keyword\":\"onbuild\",\"line\":2,\"end_line\":4,\"flags\":[],\"args\":[],"
		"\"json_form\":false,\"heredocs\":[{\"name\":\"EOF\",\"content\":\"x "
		"\\\"q\\\"\\n\","
		"\"expand\":true,\"chomp\":false,\"fd\":0}],\"onbuild\":{\"keyword\":\"run\","
		"\"line\":2,"
		"\"end_line\":4,\"flags\":[],\"args\":[\"<<EOF\"],\"json_form\":false,\"heredocs\":"
		"[]}},"
		"{\"keyword\":\"healthcheck\",\"line\":5,\"end_line\":5,\"flags\":[\"--timeout="
		"1s\"],"
		"\"args\":[\"CMD\",\"a\"],\"json_form\":true,\"heredocs\":[]}]\n";
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	struct dockerfile df;

	(void)state;
	assert_int_equal(dockerfile_parse(&df, in, strlen(in), "D", &err), 0);
	dockerfile_dump_json(&out, &df);
	assert_string_equal(out.buf, want);
	kiln_buf_release(&out);
	dockerfile_release(&df);
}

static void test_quote(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} cases[] = {
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "\a\b\f\n\r\t\v", 7, "\"\\a\\b\\f\\n\\r\\t\\v\"" },
		{ "\x00\x1f\x7f", 3, "\"\\x00\\x1f\\x7f\"" },
		{ "\xc3\xa9\xe2\x9c\x93", 5, "\"é✓\"" },
		{ "\xc2\xa0\xc2\x85\xe2\x80\x8b", 7, "\"\\u00a0\\u0085\\u200b\"" },
		{ "\xf3\xa0\x80\x81", 4, "\"\\U000e0001\"" },
		{ "\xff\xc3", 2, "\"\\xff\\xc3\"" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_buf out = KILN_BUF_INIT;

		dockerfile_quote(&out, cases[i].in, cases[i].len);
		assert_string_equal(out.buf, cases[i].want);
		kiln_buf_release(&out);
	}
}

struct check_case {
	const char *name;
	const char *in;
	const char *want; /* NULL: no problem; else the message */
};

static void test_check(void **state)
{
	static const struct check_case cases[] = {
		{ "ok",
		  "ARG V=1\nFROM a:$V AS b\nRUN --mount=type=cache,target=/c --network=none x\n"
		  "COPY --from=b --chown=1 --chmod=755 --link --parents --exclude=a --exclude=b x "
		  "y\n"
		  "ADD --checksum=sha256:1 --keep-git-dir=true --link=false x y\n"
		  "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s --retries=3 "
		  "CMD x\n"
		  "SHELL [\"sh\"]\nONBUILD RUN x\nENV A=1\nLABEL a=b\nEXPOSE 80\nVOLUME /v\n",
		  NULL },
		{ "unknown-suggest", "FROM a\nRUNN x\n",
		  "D:2: unknown instruction 'runn'; did you mean 'RUN'?" },
		{ "unknown-far", "FROM a\nFROBNICATE x\n",
		  "D:2: unknown instruction 'frobnicate'; see the Dockerfile reference for the "
		  "instructions" },
		{ "unknown-flag", "FROM a\nRUN --foo x\n",
		  "D:2: unknown flag '--foo' for RUN; RUN accepts --mount, --network, --security" },
		{ "no-flags", "FROM a\nWORKDIR --x /a\n",
		  "D:2: unknown flag '--x': WORKDIR takes no flags" },
		{ "add-from", "FROM a\nADD --from=b x y\n",
		  "D:2: unknown flag '--from' for ADD; ADD accepts "
		  "--chown, --chmod, --link, --parents, --exclude, "
		  "--checksum, --keep-git-dir, --unpack" },
		{ "flag-twice", "FROM a\nCOPY --from=a --from=b x y\n",
		  "D:2: flag '--from' is given twice; keep one" },
		{ "flag-needs-value", "FROM a\nCOPY --chown x y\n",
		  "D:2: flag '--chown' needs a value: --chown=VALUE" },
		{ "bool-value", "FROM a\nCOPY --link=yes x y\n",
		  "D:2: flag '--link' takes true or false, not 'yes'" },
		{ "network", "FROM a\nRUN --network=bridge x\n",
		  "D:2: unsupported network mode 'bridge'; use default, none or host" },
		{ "copy-one-arg", "FROM a\nCOPY x\n",
		  "D:2: COPY requires at least two arguments, a source and a destination" },
		{ "copy-heredoc-dest", "FROM a\nCOPY x <<EOF\nEOF\n",
		  "D:2: COPY cannot accept a heredoc as a destination: '<<EOF'" },
		{ "from-args", "FROM a b\n",
		  "D:1: FROM requires either one or three arguments: FROM IMAGE [AS NAME]" },
		{ "from-name", "FROM a AS 1x\n",
		  "D:1: invalid stage name '1x'; a name starts with a letter and "
		  "holds only letters, digits, '-', '_' and '.'" },
		{ "shell-not-json", "FROM a\nSHELL bash -c\n",
		  "D:2: SHELL requires the arguments to be in JSON form: 'SHELL bash -c'; write "
		  "SHELL "
		  "[\"executable\", \"parameters\"]" },
		{ "shell-empty", "FROM a\nSHELL []\n",
		  "D:2: SHELL requires at least one argument" },
		{ "workdir-missing", "FROM a\nWORKDIR\n",
		  "D:2: WORKDIR requires exactly one argument" },
		{ "env-missing", "FROM a\nENV\n", "D:2: ENV requires at least one argument" },
		{ "env-blank-name", "FROM a\nENV =x\n", "D:2: ENV names can not be blank" },
		{ "arg-blank-name", "FROM a\nARG =x\n", "D:2: ARG names can not be blank: '=x'" },
		{ "expose-missing", "FROM a\nEXPOSE\n",
		  "D:2: EXPOSE requires at least one argument" },
		{ "volume-empty", "FROM a\nVOLUME [\"\"]\n",
		  "D:2: VOLUME specified can not be an empty string" },
		{ "healthcheck-type", "FROM a\nHEALTHCHECK RUN x\n",
		  "D:2: unknown type 'RUN' in HEALTHCHECK; try CMD" },
		{ "healthcheck-none-args", "FROM a\nHEALTHCHECK NONE x\n",
		  "D:2: HEALTHCHECK NONE takes no arguments" },
		{ "healthcheck-cmd-missing", "FROM a\nHEALTHCHECK CMD\n",
		  "D:2: missing command after HEALTHCHECK CMD" },
		{ "healthcheck-duration", "FROM a\nHEALTHCHECK --interval=5 CMD x\n",
		  "D:2: invalid duration '5' for --interval; write it as 30s, 1m30s, 500ms..." },
		{ "healthcheck-short", "FROM a\nHEALTHCHECK --timeout=0s CMD x\n",
		  "D:2: --timeout=0s cannot be less than 1ms" },
		{ "healthcheck-retries", "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
		  "D:2: --retries cannot be negative (-1)" },
		{ "onbuild-onbuild", "FROM a\nONBUILD ONBUILD RUN x\n",
		  "D:2: chaining ONBUILD via 'ONBUILD ONBUILD' isn't allowed" },
		{ "onbuild-from", "FROM a\nONBUILD FROM b\n",
		  "D:2: FROM isn't allowed as an ONBUILD trigger" },
		{ "onbuild-empty", "FROM a\nONBUILD\n",
		  "D:2: ONBUILD requires at least one argument: the instruction to run later" },
		{ "before-from", "ARG a\nRUN x\nFROM a\n",
		  "D:2: RUN before the first FROM; only ARG may come before FROM" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		const struct check_case *c = &cases[i];
		struct kiln_error err = KILN_ERROR_INIT;
		struct dockerfile df;
		int ret;

		if (dockerfile_parse(&df, c->in, strlen(c->in), "D", &err) < 0)
			fail_msg("case %s: parse failed: %s", c->name, kiln_error_msg(&err));
		ret = dockerfile_check(&df, "D", &err);
		if (!c->want && ret)
			fail_msg("case %s: unexpected: %s", c->name, kiln_error_msg(&err));
		if (c->want && (!ret || strcmp(kiln_error_msg(&err), c->want)))
			fail_msg("case %s:\nwant: %s\ngot:  %s", c->name, c->want,
				 ret ? kiln_error_msg(&err) : "(no error)");
		kiln_error_release(&err);
		dockerfile_release(&df);
	}
}

static void test_deep_nesting_does_not_recurse(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf in = KILN_BUF_INIT, out = KILN_BUF_INIT;
	struct dockerfile df;

	(void)state;
	kiln_buf_addstr(&in, "FROM a\n");
	for (int i = 0; i < 8000; i++) /* 64000 bytes: just under the line limit */
		kiln_buf_addstr(&in, "ONBUILD ");
	kiln_buf_addstr(&in, "RUN x\nCMD ");
	for (int i = 0; i < 20000; i++)
		kiln_buf_addch(&in, '[');
	kiln_buf_addstr(&in, "\nRUN <<");
	for (int i = 0; i < 5000; i++)
		kiln_buf_addstr(&in, "${a:-");
	kiln_buf_addch(&in, '\n');
	assert_int_equal(dockerfile_parse(&df, in.buf, in.len, "D", &err), 0);
	assert_int_equal(df.nr_instrs, 4);
	assert_int_equal(df.instrs[2].nr_args, 1); /* not JSON: shell form */
	dockerfile_dump(&out, &df);
	dockerfile_dump_json(&out, &df);
	dockerfile_release(&df);
	kiln_buf_release(&in);
	kiln_buf_release(&out);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_instructions),
	cmocka_unit_test(test_flags),
	cmocka_unit_test(test_continuations),
	cmocka_unit_test(test_directives),
	cmocka_unit_test(test_heredocs),
	cmocka_unit_test(test_errors),
	cmocka_unit_test(test_nul_byte),
	cmocka_unit_test(test_long_lines),
	cmocka_unit_test(test_lines_and_heredoc_fields),
	cmocka_unit_test(test_json_dump),
	cmocka_unit_test(test_quote),
	cmocka_unit_test(test_check),
	cmocka_unit_test(test_deep_nesting_does_not_recurse),
};

KILN_TEST_MAIN(tests)
