#include "compat.h"
#include "expand.h"
#include "buf.h"
#include "error.h"
#include "kiln-test.h"

/* The environment BuildKit's own lexer tests use, plus a few of ours. */
static const char *base_env[] = {
	"PWD=/home",
	"SHELL=bash",
	"KOREAN=한국어",
	"NULL=",
	"SPACE=abc  def",
	"LEADING=  ab c",
	"TRAILING=ab c   ",
	"FILE=foo.tar.gz",
	"PATHS=/a/foo/b/c.txt",
	"NEWLINE=a\nb",
	NULL,
};

struct word_case {
	const char *in;
	const char *want; /* NULL: an error whose message contains err */
	const char *err;
};

/* Expand with base_env and the given escape; returns 0 or the error. */
static int expand_one(struct kiln_buf *out, struct kiln_error *err, int escape, const char *in)
{
	struct kiln_expander x = KILN_EXPANDER_INIT;

	x.escape = escape;
	x.lookup = kiln_expand_env_lookup;
	x.ctx = base_env;
	return kiln_expand_word(out, &x, in, strlen(in), err);
}

static void check_word_cases(const struct word_case *cases, size_t n, int escape)
{
	for (size_t i = 0; i < n; i++) {
		struct kiln_buf out = KILN_BUF_INIT;
		struct kiln_error err = KILN_ERROR_INIT;
		int ret = expand_one(&out, &err, escape, cases[i].in);

		if (cases[i].want) {
			if (ret)
				fail_msg("'%s': unexpected error %s", cases[i].in,
					 kiln_error_msg(&err));
			if (strcmp(out.buf, cases[i].want))
				fail_msg("'%s': got '%s', want '%s'", cases[i].in, out.buf,
					 cases[i].want);
		} else {
			if (!ret)
				fail_msg("'%s': got '%s', want an error", cases[i].in, out.buf);
			if (!strstr(kiln_error_msg(&err), cases[i].err))
				fail_msg("'%s': error '%s' lacks '%s'", cases[i].in,
					 kiln_error_msg(&err), cases[i].err);
			assert_string_equal(out.buf, "");
		}
		kiln_error_release(&err);
		kiln_buf_release(&out);
	}
}

static void test_expand_quotes_and_escapes(void **state)
{
	static const struct word_case cases[] = {
		{ "hello", "hello", NULL },
		{ "he'll'o", "hello", NULL },
		{ "he'llo", NULL, "matching single-quote" },
		{ "he\\'llo", "he'llo", NULL },
		{ "he\\\\'llo", NULL, "matching single-quote" },
		{ "abc\\tdef", "abctdef", NULL },
		{ "\"abc\\tdef\"", "abc\\tdef", NULL },
		{ "\"abc\\\\tdef\"", "abc\\tdef", NULL },
		{ "'abc\\tdef'", "abc\\tdef", NULL },
		{ "hello\\", "hello", NULL },
		{ "hello\\\\", "hello\\", NULL },
		{ "\"hello", NULL, "matching double-quote" },
		{ "\"hello\\\"", NULL, "matching double-quote" },
		{ "\"hello\\", NULL, "matching double-quote" },
		{ "\"hel'lo\"", "hel'lo", NULL },
		{ "'hello", NULL, "single-quote" },
		{ "'hello\\'", "hello\\", NULL },
		{ "'hello\\there'", "hello\\there", NULL },
		{ "\"''\"", "''", NULL },
		{ "'\"hello\"'", "\"hello\"", NULL },
		{ "'$PWD'", "$PWD", NULL },
		{ "'\\$PWD'", "\\$PWD", NULL },
		{ "\"he'$PWD'\"", "he'/home'", NULL },
		{ "he\\$PWD", "he$PWD", NULL },
		{ "\"he\\$PWD\"", "he$PWD", NULL },
		{ "he\\\\$PWD", "he\\/home", NULL },
		{ "\"he\\\\$PWD\"", "he\\/home", NULL },
		{ "\"a\\b\"", "a\\b", NULL },
		{ "", "", NULL },
		{ "  spaced  out ", "  spaced  out ", NULL },
	};

	(void)state;
	check_word_cases(cases, KILN_ARRAY_SIZE(cases), '\\');
}

static void test_expand_backtick_escape(void **state)
{
	static const struct word_case cases[] = {
		{ "C:\\path\\to", "C:\\path\\to", NULL },
		{ "a`$PWD", "a$PWD", NULL },
		{ "\"x`\"y\"", "x\"y", NULL },
		{ "\"x``y\"", "x`y", NULL },
		{ "\"x\\\\y\"", "x\\\\y", NULL },
		{ "a`", "a", NULL },
		{ "`'a", "'a", NULL },
		{ "\\$PWD", "\\/home", NULL },
	};

	(void)state;
	check_word_cases(cases, KILN_ARRAY_SIZE(cases), '`');
}

static void test_expand_variables(void **state)
{
	static const struct word_case cases[] = {
		{ "$.", "$.", NULL },
		{ "$", "$", NULL },
		{ "a$ b", "a$ b", NULL },
		{ "he$1x", "hex", NULL },
		{ "he$12x", "hex", NULL },
		{ "he$.x", "he$.x", NULL },
		{ "he$pwd.", "he.", NULL },
		{ "he$PWD", "he/home", NULL },
		{ "$# $@ $* $? $- $$ $! $0|", "       |", NULL },
		{ "a$-b", "ab", NULL },
		{ "\\${}", "${}", NULL },
		{ "he\\${}xx", "he${}xx", NULL },
		{ "he${hi}xx", "hexx", NULL },
		{ "he${PWD}", "he/home", NULL },
		{ "$KOREAN", "한국어", NULL },
		{ "\"$KOREAN\"", "한국어", NULL },
		{ "안녕${XXX:-$KOREAN}", "안녕한국어", NULL },
		{ "$PWD_x", "", NULL },
		{ "${PWD}_x", "/home_x", NULL },
		{ "$NEWLINE", "a\nb", NULL },
	};

	(void)state;
	check_word_cases(cases, KILN_ARRAY_SIZE(cases), '\\');
}

static void test_expand_modifiers(void **state)
{
	static const struct word_case cases[] = {
		{ "he${XXX:-000}xx", "he000xx", NULL },
		{ "he${PWD:-000}xx", "he/homexx", NULL },
		{ "he${XXX:-$PWD}xx", "he/homexx", NULL },
		{ "he${XXX:-${PWD:-yyy}}xx", "he/homexx", NULL },
		{ "he${XXX:-${YYY:-yyy}}xx", "heyyyxx", NULL },
		{ "he${XXX:-\"a b\"}", "hea b", NULL },
		{ "he${XXX:-'}'}", "he}", NULL },
		{ "he${PWD?}", "he/home", NULL },
		{ "he${PWD:?}", "he/home", NULL },
		{ "he${NULL?}", "he", NULL },
		{ "he${XXX:+${PWD}}xx", "hexx", NULL },
		{ "he${PWD:+${XXX}}xx", "hexx", NULL },
		{ "he${PWD:+${SHELL}}xx", "hebashxx", NULL },
		{ "he${XXX:+000}xx", "hexx", NULL },
		{ "he${PWD:+000}xx", "he000xx", NULL },
		{ "he${PWD+000}xx", "he000xx", NULL },
		{ "he${PWD-000}xx", "he/homexx", NULL },
		{ "he${XXX+000}xx", "hexx", NULL },
		{ "he${XXX-000}xx", "he000xx", NULL },
		{ "he${NULL+000}xx", "he000xx", NULL },
		{ "he${NULL-000}xx", "hexx", NULL },
		{ "he${NULL:-000}xx", "he000xx", NULL },
		{ "he${NULL:+000}xx", "hexx", NULL },
		{ "${NULL:-$PWD}", "/home", NULL },
	};

	(void)state;
	check_word_cases(cases, KILN_ARRAY_SIZE(cases), '\\');
}

static void test_expand_patterns(void **state)
{
	static const struct word_case cases[] = {
		{ "${FILE%.*}", "foo.tar", NULL },
		{ "${FILE%%.*}", "foo", NULL },
		{ "${FILE#*.}", "tar.gz", NULL },
		{ "${FILE##*.}", "gz", NULL },
		{ "${FILE#}", "foo.tar.gz", NULL },
		{ "${FILE%}", "foo.tar.gz", NULL },
		{ "${FILE#*}", "foo.tar.gz", NULL },
		{ "${FILE##*}", "", NULL },
		{ "${FILE%?}", "foo.tar.g", NULL },
		{ "${FILE#x}", "foo.tar.gz", NULL },
		{ "${FILE#f?o}", ".tar.gz", NULL },
		{ "${XXX#x}", "", NULL },
		{ "${FILE/./-}", "foo-tar.gz", NULL },
		{ "${FILE//./-}", "foo-tar-gz", NULL },
		{ "${FILE//[.]/-}", "foo.tar.gz", NULL },
		{ "${FILE/*/x}", "x", NULL },
		{ "${FILE//o/}", "f.tar.gz", NULL },
		{ "${FILE///}", "foo.tar.gz", NULL },
		{ "${XXX///}", "", NULL },
		{ "${XXX//*/x}", "x", NULL },
		{ "${PATHS/\\/?\\//\\/}", "\\/foo/b/c.txt", NULL },
		{ "${PATHS//\\//\\/}", "\\/a\\/foo\\/b\\/c.txt", NULL },
		{ "${PATHS//\\/?\\///}", "/foo/c.txt", NULL },
		{ "${FILE//?/'$0'}", "foo.tar.gz", NULL },
		{ "${FILE/?/'$0$0'}", "$0$0oo.tar.gz", NULL },
		{ "${FILE//o/'$$'}", "f$$.tar.gz", NULL },
		{ "${FILE//o/'${0}'}", "foo.tar.gz", NULL },
		{ "${FILE//o/'$1'}", "f.tar.gz", NULL },
		{ "${FILE//o/'$x'y}", "f.tar.gz", NULL },
		{ "${FILE//o/'$.'}", "f$.$..tar.gz", NULL },
		{ "${FILE/o/'$0'}", "f$0o.tar.gz", NULL },
		{ "${NEWLINE/*/x}", "x\nb", NULL },
		{ "${NEWLINE#?}", "\nb", NULL },
		{ "${NEWLINE#??}", "a\nb", NULL },
		{ "${KOREAN#?}", "국어", NULL },
		{ "${KOREAN%?}", "한국", NULL },
		{ "${FILE#\\x}", NULL,
		  "invalid pattern (\\x) in substitution: invalid escape '\\x'" },
		{ "${FILE%ab\\c}", NULL, "invalid pattern (\\cba) in substitution" },
	};

	(void)state;
	check_word_cases(cases, KILN_ARRAY_SIZE(cases), '\\');
}

/* BuildKit's pattern test: every regular-expression metacharacter is
 * literal; "\}" keeps the brace out of the ${...} syntax. */
static void test_expand_pattern_metacharacters(void **state)
{
	static const char *env[] = {
		"FOO=()[]{}^$.*?|\\x", "BAR=xx**", "BAZ=a***yy*", "Q=???y", "XY=xxyy", NULL
	};
	static const struct word_case cases[] = {
		{ "${FOO#()[]{\\}^$.\\*\\?|\\\\}", "x", NULL },
		{ "${BAR%%\\**}", "xx", NULL },
		{ "${BAZ%%\\**\\*}", "a", NULL },
		{ "${Q#?\\?}", "?y", NULL },
		{ "${XY#*x*y}", "y", NULL },
		{ "${XY##*x}", "yy", NULL },
		{ "${ABC:-.}${XY%x}${ABC:-.}", ".xxyy.", NULL },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_expander x = KILN_EXPANDER_INIT;
		struct kiln_buf out = KILN_BUF_INIT;
		struct kiln_error err = KILN_ERROR_INIT;

		x.lookup = kiln_expand_env_lookup;
		x.ctx = env;
		if (kiln_expand_word(&out, &x, cases[i].in, strlen(cases[i].in), &err))
			fail_msg("'%s': %s", cases[i].in, kiln_error_msg(&err));
		if (strcmp(out.buf, cases[i].want))
			fail_msg("'%s': got '%s', want '%s'", cases[i].in, out.buf, cases[i].want);
		kiln_buf_release(&out);
	}
}

/* Error messages read exactly as BuildKit's, wrapped in "failed to process". */
static void test_expand_errors_exact(void **state)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{ "${}", "failed to process \"${}\": syntax error: bad substitution" },
		{ "he${}xx", "failed to process \"he${}xx\": syntax error: bad substitution" },
		{ "${:}", "failed to process \"${:}\": syntax error: bad substitution" },
		{ "${{x}", "failed to process \"${{x}\": syntax error: bad substitution" },
		{ "${", "failed to process \"${\": syntax error: missing '}'" },
		{ "${PWD", "failed to process \"${PWD\": unsupported modifier (\xEF\xBF\xBD) in "
			   "substitution" },
		{ "he${.}",
		  "failed to process \"he${.}\": unsupported modifier (.) in substitution" },
		{ "${PWD:", "failed to process \"${PWD:\": syntax error: missing '}'" },
		{ "${PWD:-x", "failed to process \"${PWD:-x\": syntax error: missing '}'" },
		{ "${X:-'a", "failed to process \"${X:-'a\": syntax error: missing '}'" },
		{ "${X:-${Y:?m}", "failed to process \"${X:-${Y:?m}\": syntax error: missing '}'" },
		{ "${X:-${Y:?m}}", "failed to process \"${X:-${Y:?m}}\": Y: m" },
		{ "${X:-${}}", "failed to process \"${X:-${}}\": syntax error: bad substitution" },
		{ "he${XXX:YYY}",
		  "failed to process \"he${XXX:YYY}\": unsupported modifier (:Y) in "
		  "substitution" },
		{ "${PWD:}x}", "failed to process \"${PWD:}x}\": unsupported modifier (:}) in "
			       "substitution" },
		{ "${PWD:#x}", "failed to process \"${PWD:#x}\": unsupported modifier (:#) in "
			       "substitution" },
		{ "${PWD:%x}", "failed to process \"${PWD:%x}\": unsupported modifier (:%) in "
			       "substitution" },
		{ "${PWD=x}", "failed to process \"${PWD=x}\": unsupported modifier (=) in "
			      "substitution" },
		{ "${XXX?}", "failed to process \"${XXX?}\": XXX: is not allowed to be unset" },
		{ "${XXX:?}", "failed to process \"${XXX:?}\": XXX: is not allowed to be unset" },
		{ "${NULL:?}",
		  "failed to process \"${NULL:?}\": NULL: is not allowed to be empty" },
		{ "${XXX:?need $PWD set}",
		  "failed to process \"${XXX:?need $PWD set}\": XXX: need /home set" },
		{ "${XXX?a\"\tb\"}", "failed to process \"${XXX?a\\\"\\tb\\\"}\": XXX: a\\tb" },
		{ "${PWD//ww}",
		  "failed to process \"${PWD//ww}\": syntax error: missing '/' in ${}" },
		{ "${PWD/a/b", "failed to process \"${PWD/a/b\": syntax error: missing '}'" },
		{ "\"$", "failed to process \"\\\"$\": unexpected end of statement while looking "
			 "for matching double-quote" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_buf out = KILN_BUF_INIT;
		struct kiln_error err = KILN_ERROR_INIT;

		if (!expand_one(&out, &err, '\\', cases[i].in))
			fail_msg("'%s': no error", cases[i].in);
		assert_int_equal(err.code, KILN_EINVAL);
		if (strcmp(kiln_error_msg(&err), cases[i].msg))
			fail_msg("'%s':\n got  %s\n want %s", cases[i].in, kiln_error_msg(&err),
				 cases[i].msg);
		kiln_error_release(&err);
		kiln_buf_release(&out);
	}
}

/* Words as BuildKit's wordsTest: "a,b" is the list of words. */
static void test_expand_words(void **state)
{
	static const struct word_case cases[] = {
		{ "hello", "hello", NULL },
		{ "hello${hi}bye", "hellobye", NULL },
		{ "hello${SPACE}bye", "helloabc,defbye", NULL },
		{ "hello\"${SPACE}\"bye", "helloabc  defbye", NULL },
		{ "hello \"${SPACE}\"bye", "hello,abc  defbye", NULL },
		{ "hello${LEADING}def", "hello,ab,cdef", NULL },
		{ "hello\"${LEADING}\" def", "hello  ab c,def", NULL },
		{ "hello\"${LEADING}\"", "hello  ab c", NULL },
		{ "hello${LEADING}", "hello,ab,c", NULL },
		{ "hello${TRAILING}", "helloab,c", NULL },
		{ "hello${TRAILING}d", "helloab,c,d", NULL },
		{ "hello\"${TRAILING}\"d", "helloab c   d", NULL },
		{ "hel\"lo${TRAILING}\"", "helloab c   ", NULL },
		{ "hello\" there  \"", "hello there  ", NULL },
		{ "hello there     ", "hello,there", NULL },
		{ "hello\\ there", "hello there", NULL },
		{ "hello\" there", NULL, "double-quote" },
		{ "hello\\\" there", "hello\",there", NULL },
		{ "hello\"\\\\there\"", "hello\\there", NULL },
		{ "hello\"\\there\"", "hello\\there", NULL },
		{ "hello'\\\\there'", "hello\\\\there", NULL },
		{ "hello'$there'", "hello$there", NULL },
		{ "80/tcp 443", "80/tcp,443", NULL },
		{ "\t a \n b\v", "a,b", NULL },
		{ "a\xC2\xA0"
		  "b",
		  "a,b", NULL },
		{ "a\xE3\x80\x80"
		  "b",
		  "a,b", NULL },
		{ "\"\" '' $XXX", "", NULL },
		{ "\"\"x", "x", NULL },
		{ "   ", "", NULL },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_expander x = KILN_EXPANDER_INIT;
		struct kiln_words w = KILN_WORDS_INIT;
		struct kiln_error err = KILN_ERROR_INIT;
		struct kiln_buf joined = KILN_BUF_INIT;
		int ret;

		x.lookup = kiln_expand_env_lookup;
		x.ctx = base_env;
		ret = kiln_expand_words(&w, &x, cases[i].in, strlen(cases[i].in), &err);
		for (size_t j = 0; j < w.nr; j++)
			kiln_buf_addf(&joined, "%s%s", j ? "," : "", w.v[j]);
		if (!cases[i].want) {
			if (!ret || !strstr(kiln_error_msg(&err), cases[i].err))
				fail_msg("'%s': want an error with '%s'", cases[i].in,
					 cases[i].err);
			assert_int_equal(w.nr, 0);
		} else if (ret || strcmp(joined.buf, cases[i].want)) {
			fail_msg("'%s': got '%s' (%s), want '%s'", cases[i].in, joined.buf,
				 ret ? kiln_error_msg(&err) : "ok", cases[i].want);
		}
		kiln_buf_release(&joined);
		kiln_words_release(&w);
		kiln_error_release(&err);
	}
}

/* Unicode: names take Go's letters and digits; U+FFFD replaces bad UTF-8
 * read from the word; a leading BOM is skipped, as Go's scanner does. */
static void test_expand_unicode(void **state)
{
	static const char *env[] = { "café=latte", "ÉTÉ=summer", "x٣=arabic-digit", "BAD=\xff",
				     NULL };
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "$café!", "latte!" },
		{ "${ÉTÉ}", "summer" },
		{ "$x٣", "arabic-digit" },
		{ "a\xff"
		  "b",
		  "a\xEF\xBF\xBD"
		  "b" },
		{ "$BAD", "\xff" },
		{ "${BAD%x}", "\xEF\xBF\xBD" },
		{ "${BAD#x}", "\xff" },
		{ "\xEF\xBB\xBFhi", "hi" },
		{ "a\xEF\xBB\xBF", "a\xEF\xBB\xBF" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_expander x = KILN_EXPANDER_INIT;
		struct kiln_buf out = KILN_BUF_INIT;
		struct kiln_error err = KILN_ERROR_INIT;

		x.lookup = kiln_expand_env_lookup;
		x.ctx = env;
		if (kiln_expand_word(&out, &x, cases[i].in, strlen(cases[i].in), &err))
			fail_msg("'%s': %s", cases[i].in, kiln_error_msg(&err));
		if (strcmp(out.buf, cases[i].want))
			fail_msg("case %zu: got '%s', want '%s'", i, out.buf, cases[i].want);
		kiln_buf_release(&out);
	}
}

/* The names an expansion looked at, for the build cache. */
static void test_expand_reports_variables(void **state)
{
	static const char *env[] = { "FOO=xxx", "BAR=", NULL };
	struct kiln_expander x = KILN_EXPANDER_INIT;
	struct kiln_words matched = KILN_WORDS_INIT, unmatched = KILN_WORDS_INIT;
	struct kiln_buf out = KILN_BUF_INIT;
	const char *in = "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc} $FOO";

	(void)state;
	x.lookup = kiln_expand_env_lookup;
	x.ctx = env;
	x.matched = &matched;
	x.unmatched = &unmatched;
	assert_int_equal(kiln_expand_word(&out, &x, in, strlen(in), NULL), 0);
	assert_string_equal(out.buf, "xxx bbb ccc xxx");
	assert_int_equal(matched.nr, 2);
	assert_string_equal(matched.v[0], "FOO");
	assert_string_equal(matched.v[1], "BAR");
	assert_int_equal(unmatched.nr, 1);
	assert_string_equal(unmatched.v[0], "BAZ");
	kiln_words_release(&matched);
	kiln_words_release(&unmatched);
	kiln_buf_release(&out);
}

/* The later of two entries wins; an entry without '=' is set and empty. */
static void test_expand_env_lookup(void **state)
{
	static const char *env[] = { "car=hat", "foo", "car=bike", "carx=no", NULL };
	const char *v = NULL;
	size_t n = 99;

	(void)state;
	assert_true(kiln_expand_env_lookup(env, "car", 3, &v, &n));
	assert_string_equal(v, "bike");
	assert_int_equal(n, 4);
	assert_true(kiln_expand_env_lookup(env, "foo", 3, &v, &n));
	assert_int_equal(n, 0);
	assert_false(kiln_expand_env_lookup(env, "ca", 2, &v, &n));
	assert_false(kiln_expand_env_lookup(NULL, "car", 3, &v, &n));
}

/* Hostile words fail cleanly instead of exhausting the stack or memory. */
static void test_expand_limits(void **state)
{
	static const char *env[] = { "A=aaaaaaaaaaaaaaaa", NULL };
	struct kiln_expander x = KILN_EXPANDER_INIT;
	struct kiln_buf in = KILN_BUF_INIT, out = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	x.lookup = kiln_expand_env_lookup;
	x.ctx = env;
	for (int i = 0; i < 5000; i++)
		kiln_buf_addstr(&in, "${X:-");
	assert_int_equal(kiln_expand_word(&out, &x, in.buf, in.len, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "nested more than"));

	/* each level multiplies the length by 16: 16^6 bytes without a cap */
	kiln_buf_setstr(&in, "${A//?/${A//?/${A//?/${A//?/${A//?/$A}}}}}");
	x.max_len = 64 * 1024;
	assert_int_equal(kiln_expand_word(&out, &x, in.buf, in.len, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "limit"));
	assert_int_equal(out.len, 0);

	kiln_error_release(&err);
	kiln_buf_release(&in);
	kiln_buf_release(&out);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_expand_quotes_and_escapes),
	cmocka_unit_test(test_expand_backtick_escape),
	cmocka_unit_test(test_expand_variables),
	cmocka_unit_test(test_expand_modifiers),
	cmocka_unit_test(test_expand_patterns),
	cmocka_unit_test(test_expand_pattern_metacharacters),
	cmocka_unit_test(test_expand_errors_exact),
	cmocka_unit_test(test_expand_words),
	cmocka_unit_test(test_expand_unicode),
	cmocka_unit_test(test_expand_reports_variables),
	cmocka_unit_test(test_expand_env_lookup),
	cmocka_unit_test(test_expand_limits),
};

KILN_TEST_MAIN(tests)
