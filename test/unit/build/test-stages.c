/*
 * test-stages: stages, bases, dependencies, --target, the build order and
 * ARG scope, on small Dockerfiles. A tiny expander stands in for
 * lib/expand.c: $NAME, ${NAME} and ${NAME:-default}, quotes removed.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "stages.h"
#include "kiln-test.h"

static size_t name_len(const char *s)
{
	size_t n = 0;

	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') || s[n] == '_' ||
	       (n && s[n] >= '0' && s[n] <= '9'))
		n++;
	return n;
}

static void add_var(struct kiln_buf *out, const struct stage_vars *vars, const char *name, size_t n,
		    const char *def, size_t def_len)
{
	char *key = xstrndup(name, n);
	const char *v = stage_vars_get(vars, key, NULL);

	if (v && *v)
		kiln_buf_addstr(out, v);
	else if (def)
		kiln_buf_add(out, def, def_len);
	free(key);
}

static int test_expand(char **out, const char *word, char escape, const struct stage_vars *vars,
		       void *ctx, struct kiln_error *err)
{
	struct kiln_buf b = KILN_BUF_INIT;
	const char *p = word;

	(void)escape;
	(void)ctx;
	while (*p) {
		if (*p == '"' || *p == '\'') {
			p++;
		} else if (p[0] == '$' && p[1] == '{') {
			const char *end = strchr(p, '}'), *dash;
			size_t n = name_len(p + 2);

			if (!end || !n) {
				kiln_buf_release(&b);
				return kiln_err(err, KILN_EINVAL, 0, "bad substitution in '%s'",
						word);
			}
			dash = p + 2 + n;
			if (dash[0] == ':' && dash[1] == '-')
				add_var(&b, vars, p + 2, n, dash + 2, (size_t)(end - dash - 2));
			else
				add_var(&b, vars, p + 2, n, NULL, 0);
			p = end + 1;
		} else if (p[0] == '$' && name_len(p + 1)) {
			size_t n = name_len(p + 1);

			add_var(&b, vars, p + 1, n, NULL, 0);
			p += 1 + n;
		} else {
			kiln_buf_addch(&b, *p++);
		}
	}
	*out = kiln_buf_detach(&b, NULL);
	return 0;
}

struct fixture {
	struct dockerfile df;
	struct stages st;
	struct kiln_error err;
};

static int build(struct fixture *f, const char *text, const char *target, const char *const *args,
		 size_t nr_args)
{
	struct stages_options o = {
		.file = "D",
		.target = target,
		.build_args = args,
		.nr_build_args = nr_args,
		.build_platform = "linux/arm64/v8",
		.target_platform = "linux/amd64",
		.expand = test_expand,
	};

	memset(f, 0, sizeof(*f));
	assert_int_equal(dockerfile_parse(&f->df, text, strlen(text), "D", &f->err), 0);
	return stages_build(&f->st, &f->df, &o, &f->err);
}

static void done(struct fixture *f)
{
	stages_release(&f->st);
	dockerfile_release(&f->df);
	kiln_error_release(&f->err);
}

static void test_stages_and_bases(void **state)
{
	static const char text[] = "ARG BASE=alpine\n"
				   "ARG TAG=3.19\n"
				   "FROM ${BASE}:${TAG} AS Build\n"
				   "RUN make\n"
				   "FROM build AS test\n"
				   "FROM scratch\n"
				   "COPY --from=BUILD /a /a\n"
				   "FROM --platform=$BUILDPLATFORM later\n"
				   "FROM later AS later\n";
	struct fixture f;

	(void)state;
	assert_int_equal(build(&f, text, NULL, NULL, 0), 0);
	assert_int_equal(f.st.nr, 5);
	assert_string_equal(f.st.v[0].name, "build");
	assert_string_equal(f.st.v[0].base_raw, "${BASE}:${TAG}");
	assert_string_equal(f.st.v[0].base, "alpine:3.19");
	assert_int_equal(f.st.v[0].base_kind, STAGE_BASE_IMAGE);
	assert_int_equal(f.st.v[0].from_instr, 2);
	assert_int_equal(f.st.v[0].end_instr, 4);
	assert_int_equal(f.st.v[0].line, 3);
	assert_int_equal(f.st.v[1].base_kind, STAGE_BASE_STAGE);
	assert_int_equal(f.st.v[1].base_stage, 0);
	assert_null(f.st.v[2].name);
	assert_int_equal(f.st.v[2].base_kind, STAGE_BASE_SCRATCH);
	assert_int_equal(f.st.v[2].nr_deps, 1);
	assert_int_equal(f.st.v[2].deps[0], 0);
	assert_string_equal(f.st.v[3].platform, "linux/arm64/v8");
	/* a FROM naming a later stage (or itself) is an image */
	assert_int_equal(f.st.v[3].base_kind, STAGE_BASE_IMAGE);
	assert_int_equal(f.st.v[4].base_kind, STAGE_BASE_IMAGE);
	assert_int_equal(f.st.target, 4);
	assert_int_equal(f.st.nr_order, 1);
	assert_true(f.st.v[4].used);
	assert_false(f.st.v[0].used);
	assert_int_equal(stages_find(&f.st, "TEST"), 1);
	assert_int_equal(stages_find(&f.st, "3"), 3);
	assert_int_equal(stages_find(&f.st, "5"), -1);
	assert_int_equal(stages_find(&f.st, "nope"), -1);
	done(&f);
}

static void test_graph_target_and_order(void **state)
{
	static const char text[] = "FROM a AS base\n"
				   "FROM base AS deps\n"
				   "RUN --mount=type=bind,from=tools,target=/t x\n"
				   "FROM b AS tools\n"
				   "FROM c AS unused\n"
				   "FROM base AS final\n"
				   "COPY --from=deps /x /x\n"
				   "COPY --from=2 /y /y\n"
				   "COPY --from=busybox:1.36 /bin/sh /bin/sh\n"
				   "ADD --from=deps /z /z\n";
	struct fixture f;

	(void)state;
	assert_int_equal(build(&f, text, "FINAL", NULL, 0), 0);
	assert_int_equal(f.st.target, 4);
	assert_int_equal(f.st.v[1].nr_deps, 2); /* base, tools */
	assert_int_equal(f.st.v[1].deps[0], 0);
	assert_int_equal(f.st.v[1].deps[1], 2);
	assert_int_equal(f.st.v[4].nr_deps, 3); /* base, deps, tools (index 2) */
	assert_true(f.st.v[0].used && f.st.v[1].used && f.st.v[2].used && f.st.v[4].used);
	assert_false(f.st.v[3].used);
	assert_int_equal(f.st.nr_order, 4);
	assert_int_equal(f.st.order[0], 0);
	assert_int_equal(f.st.order[1], 2);
	assert_int_equal(f.st.order[2], 1);
	assert_int_equal(f.st.order[3], 4);
	done(&f);

	/* the default target is the last stage; a stage may use a later one */
	assert_int_equal(build(&f, "FROM a AS x\nCOPY --from=y / /\nFROM b AS y\n", "x", NULL, 0),
			 0);
	assert_int_equal(f.st.nr_order, 2);
	assert_int_equal(f.st.order[0], 1);
	done(&f);
}

struct error_case {
	const char *name;
	const char *text;
	const char *target;
	const char *want;
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "no-from", "ARG a\n", NULL,
		  "D: no FROM instruction; a Dockerfile needs at least one stage" },
		{ "before-from", "ARG a\nRUN x\nFROM a\n", NULL,
		  "D:2: run before the first FROM; only ARG may come before FROM" },
		{ "duplicate", "FROM a AS x\nFROM b AS X\n", NULL,
		  "D:2: duplicate stage name 'x' (first used on line 1); give each stage its own "
		  "name" },
		{ "index-range", "FROM a\nFROM b\nCOPY --from=2 / /\n", NULL,
		  "D:3: COPY --from='2': there is no stage 2; the stages are numbered 0 to 1" },
		{ "negative-index", "FROM a\nCOPY --from=-1 / /\n", NULL,
		  "D:2: COPY --from='-1': there is no stage -1; the stages are numbered 0 to 0" },
		{ "self", "FROM a AS x\nCOPY --from=x / /\n", NULL,
		  "D:2: COPY --from='x': a stage cannot use itself" },
		{ "cycle", "FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n", NULL,
		  "D:1: stage 0 ('x') needs stage 1, which needs it back; break the cycle" },
		{ "target", "FROM a AS one\nFROM b AS two\n", "three",
		  "D: target stage 'three' could not be found; the stages are 'one', 'two'" },
		{ "target-no-names", "FROM a\n", "x",
		  "D: target stage 'x' could not be found; no stage has a name (FROM IMAGE AS "
		  "NAME)" },
		{ "expand-error", "ARG A=${\nFROM a\n", NULL,
		  "D:1: ARG: bad substitution in '${'" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct fixture f;

		if (build(&f, cases[i].text, cases[i].target, NULL, 0) == 0)
			fail_msg("case %s: no error", cases[i].name);
		if (strcmp(kiln_error_msg(&f.err), cases[i].want))
			fail_msg("case %s:\nwant: %s\ngot:  %s", cases[i].name, cases[i].want,
				 kiln_error_msg(&f.err));
		assert_int_equal(f.st.nr, 0);
		done(&f);
	}
}

static const char *scope_get(const struct stage_vars *v, const char *name)
{
	bool declared;
	const char *value = stage_vars_get(v, name, &declared);

	return declared ? (value ? value : "(unset)") : "(undeclared)";
}

static void test_arg_scope(void **state)
{
	static const char text[] = "ARG V=1\n"
				   "ARG W\n"
				   "ARG FROMARG=stage\n"
				   "FROM img:$V\n"
				   "RUN a\n" /* 4: V not declared yet */
				   "ARG V\n" /* 5: takes the meta value */
				   "ARG W X=\"${V}x\" TARGETOS BUILDARCH HTTP_PROXY\n" /* 6 */
				   "ENV E=$X-e\n"				       /* 7 */
				   "ARG FROMARG\n"				       /* 8 */
				   "COPY --from=$FROMARG / /\n"			       /* 9 */
				   "FROM scratch AS stage\n";
	static const char *const args[] = { "HTTP_PROXY=http://p:3128", "X=over", "NOEQUALS" };
	struct stage_vars v;
	struct fixture f;

	(void)state;
	assert_int_equal(build(&f, text, NULL, NULL, 0), 0);
	assert_string_equal(f.st.v[0].base, "img:1");
	assert_string_equal(scope_get(&f.st.meta, "TARGETPLATFORM"), "linux/amd64");
	assert_string_equal(scope_get(&f.st.meta, "W"), "(unset)");

	assert_int_equal(stages_scope(&v, &f.st, &f.df, 0, 4, &f.err), 0);
	assert_string_equal(scope_get(&v, "V"), "(undeclared)");
	stage_vars_release(&v);
	assert_int_equal(stages_scope(&v, &f.st, &f.df, 0, 9, &f.err), 0);
	assert_string_equal(scope_get(&v, "V"), "1");
	assert_string_equal(scope_get(&v, "W"), "(unset)");
	assert_string_equal(scope_get(&v, "X"), "1x");
	assert_string_equal(scope_get(&v, "TARGETOS"), "linux");
	assert_string_equal(scope_get(&v, "BUILDARCH"), "arm64");
	assert_string_equal(scope_get(&v, "HTTP_PROXY"), "(unset)");
	assert_string_equal(scope_get(&v, "E"), "1x-e");
	stage_vars_release(&v);
	/* COPY --from=$FROMARG resolved with the stage's scope */
	assert_int_equal(f.st.v[0].nr_deps, 1);
	assert_int_equal(f.st.v[0].deps[0], 1);
	done(&f);

	assert_int_equal(build(&f, text, NULL, args, KILN_ARRAY_SIZE(args)), 0);
	assert_int_equal(stages_scope(&v, &f.st, &f.df, 0, 99, &f.err), 0);
	assert_string_equal(scope_get(&v, "X"), "over");
	assert_string_equal(scope_get(&v, "E"), "over-e");
	assert_string_equal(scope_get(&v, "HTTP_PROXY"), "http://p:3128");
	stage_vars_release(&v);
	assert_int_equal(stages_scope(&v, &f.st, &f.df, 7, 1, &f.err), KILN_EINVAL);
	done(&f);
}

static void test_build_arg_overrides_meta(void **state)
{
	static const char *const args[] = { "BASE=debian", "TAG=12" };
	struct fixture f;

	(void)state;
	assert_int_equal(
		build(&f, "ARG BASE=alpine\nARG TAG=${BASE}-x\nFROM $BASE:$TAG\n", NULL, args, 1),
		0);
	assert_string_equal(f.st.v[0].base, "debian:debian-x");
	done(&f);
	assert_int_equal(
		build(&f, "ARG BASE=alpine\nARG TAG=${BASE}-x\nFROM $BASE:$TAG\n", NULL, args, 2),
		0);
	assert_string_equal(f.st.v[0].base, "debian:12");
	done(&f);
}

/* Found by fuzzing: re-declaring a meta ARG replaced its value with itself. */
static void test_meta_arg_redeclared(void **state)
{
	struct fixture f;

	(void)state;
	assert_int_equal(build(&f, "ARG X=1 X\nFROM img:$X\n", NULL, NULL, 0), 0);
	assert_string_equal(f.st.v[0].base, "img:1");
	done(&f);
}

static void test_predefined_args(void **state)
{
	(void)state;
	assert_true(stages_is_predefined_arg("HTTP_PROXY"));
	assert_true(stages_is_predefined_arg("no_proxy"));
	assert_true(stages_is_predefined_arg("all_proxy"));
	assert_true(stages_is_predefined_arg("TARGETVARIANT"));
	assert_true(stages_is_predefined_arg("BUILDPLATFORM"));
	assert_false(stages_is_predefined_arg("PATH"));
	assert_false(stages_is_predefined_arg("http_Proxy"));
}

static void test_no_expander_uses_text(void **state)
{
	static const char text[] = "ARG B=x\nFROM $B AS one\nFROM one\n";
	struct stages_options o = { .file = "D" };
	struct kiln_error err = KILN_ERROR_INIT;
	struct dockerfile df;
	struct stages st;

	(void)state;
	assert_int_equal(dockerfile_parse(&df, text, strlen(text), "D", &err), 0);
	assert_int_equal(stages_build(&st, &df, &o, &err), 0);
	assert_string_equal(st.v[0].base, "$B");
	assert_int_equal(st.v[1].base_kind, STAGE_BASE_STAGE);
	stages_release(&st);
	dockerfile_release(&df);
}

/* The real expander (lib/expand.h) through stages_expand_default. */
static void test_default_expander(void **state)
{
	static const char text[] = "ARG REPO=\"docker.io/library\" TAG\n"
				   "FROM ${REPO}/alpine:${TAG:-3.19} AS base\n"
				   "ARG REPO\n"
				   "ENV STAGE=base\n"
				   "FROM scratch\n"
				   "COPY --from=${STAGE:-base} / /\n";
	struct stages_options o = { .file = "D", .expand = stages_expand_default };
	struct kiln_error err = KILN_ERROR_INIT;
	struct dockerfile df;
	struct stages st;
	struct stage_vars v;

	(void)state;
	assert_int_equal(dockerfile_parse(&df, text, strlen(text), "D", &err), 0);
	assert_int_equal(stages_build(&st, &df, &o, &err), 0);
	assert_string_equal(st.v[0].base, "docker.io/library/alpine:3.19");
	assert_int_equal(st.v[1].nr_deps, 1);
	assert_int_equal(stages_scope(&v, &st, &df, 0, 4, &err), 0);
	assert_string_equal(stage_vars_get(&v, "REPO", NULL), "docker.io/library");
	assert_string_equal(stage_vars_get(&v, "STAGE", NULL), "base");
	stage_vars_release(&v);
	stages_release(&st);
	dockerfile_release(&df);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_stages_and_bases),
	cmocka_unit_test(test_graph_target_and_order),
	cmocka_unit_test(test_errors),
	cmocka_unit_test(test_arg_scope),
	cmocka_unit_test(test_build_arg_overrides_meta),
	cmocka_unit_test(test_meta_arg_redeclared),
	cmocka_unit_test(test_predefined_args),
	cmocka_unit_test(test_no_expander_uses_text),
	cmocka_unit_test(test_default_expander),
};

KILN_TEST_MAIN(tests)
