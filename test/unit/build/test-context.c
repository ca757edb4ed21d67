/*
 * The build context: directories (dir://, absolute, relative), tarballs
 * (tar://, plain path, stdin) unpacked with every entry confined, the
 * sub-path, where the Dockerfile is found, the .dockerignore, and the
 * errors a user sees for what is refused or missing.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "context.h"
#include "dockerignore.h"
#include "error.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "kiln-test.h"

static void sh(const char *fmt, ...) KILN_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	struct kiln_buf cmd = KILN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd.buf), 0);
	kiln_buf_release(&cmd);
}

/* A scratch directory: src/ holds a context, work/ is kiln's. */
struct scratch {
	char *dir, *src, *work;
};

static void scratch_init(struct scratch *s)
{
	char tmpl[] = "/tmp/kiln-context.XXXXXX";
	char *real;

	umask(022);
	assert_non_null(mkdtemp(tmpl));
	real = realpath(tmpl, NULL);
	assert_non_null(real);
	s->dir = real;
	s->src = xasprintf("%s/src", s->dir);
	s->work = xasprintf("%s/work", s->dir);
	sh("mkdir -p '%s/sub/app' '%s' && printf 'FROM scratch\\n' >'%s/Dockerfile'", s->src,
	   s->work, s->src);
}

static void scratch_release(struct scratch *s)
{
	sh("rm -rf '%s'", s->dir);
	free(s->dir);
	free(s->src);
	free(s->work);
}

/* 0, or print the error so a failure says why. */
static int ok(int ret, const struct kiln_error *err)
{
	if (ret)
		fprintf(stderr, "error: %s\n", kiln_error_msg(err));
	return ret;
}

static bool contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle)) {
		fprintf(stderr, "'%s' does not contain '%s'\n", haystack, needle);
		return false;
	}
	return true;
}

static void test_context_dir(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct scratch s;
	char *spec, *name = NULL;
	struct stat a, b;

	(void)state;
	scratch_init(&s);
	spec = xasprintf("dir://%s", s.src);
	assert_int_equal(ok(context_open(&ctx, spec, NULL, s.work, NULL, &err), &err), 0);
	assert_string_equal(ctx.dir, s.src);
	assert_int_equal(fstat(ctx.fd, &a), 0);
	assert_int_equal(stat(s.src, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	assert_int_equal(ok(context_read_dockerfile(&text, &name, &ctx, NULL, NULL, &err), &err),
			 0);
	assert_string_equal(text.buf, "FROM scratch\n");
	assert_true(contains(name, "/src/Dockerfile"));
	assert_null(ctx.ignore); /* no .dockerignore */
	context_release(&ctx);
	free(name);
	kiln_buf_release(&text);

	/* The same directory as a plain absolute path. */
	ctx = (struct build_context)BUILD_CONTEXT_INIT;
	assert_int_equal(ok(context_open(&ctx, s.src, NULL, s.work, NULL, &err), &err), 0);
	assert_string_equal(ctx.dir, s.src);
	context_release(&ctx);
	free(spec);
	scratch_release(&s);
}

static void test_context_relative_dir(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct scratch s;
	char *cwd = getcwd(NULL, 0);

	(void)state;
	scratch_init(&s);
	assert_int_equal(chdir(s.dir), 0);
	assert_int_equal(ok(context_open(&ctx, "src", NULL, s.work, NULL, &err), &err), 0);
	assert_string_equal(ctx.dir, s.src);
	context_release(&ctx);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	scratch_release(&s);
}

static void test_context_dockerfile_in_context(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct scratch s;
	char *name = NULL;

	(void)state;
	scratch_init(&s);
	sh("printf 'FROM busybox\\n' >'%s/sub/Dockerfile.dev'", s.src);
	assert_int_equal(ok(context_open(&ctx, s.src, NULL, s.work, NULL, &err), &err), 0);
	assert_int_equal(
		ok(context_read_dockerfile(&text, &name, &ctx, "sub/Dockerfile.dev", NULL, &err),
		   &err),
		0);
	assert_string_equal(text.buf, "FROM busybox\n");
	assert_true(contains(name, "/src/sub/Dockerfile.dev"));
	free(name);
	kiln_buf_release(&text);

	/* Missing: the message names the file and the context. */
	assert_int_equal(context_read_dockerfile(&text, &name, &ctx, "nope/Dockerfile", NULL, &err),
			 KILN_ENOENT);
	assert_true(contains(kiln_error_msg(&err), "Dockerfile 'nope/Dockerfile' not found in the "
						   "context '"));
	assert_true(contains(kiln_error_msg(&err), "pass --dockerfile"));
	/* From stdin: refused with a clear line. */
	assert_int_equal(context_read_dockerfile(&text, &name, &ctx, "-", NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "not supported yet"));
	kiln_error_release(&err);
	context_release(&ctx);
	scratch_release(&s);
}

static void test_context_dockerfile_outside(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct scratch s;
	char *name = NULL, *abs, *cwd = getcwd(NULL, 0);

	(void)state;
	scratch_init(&s);
	sh("printf 'FROM outside\\n' >'%s/Containerfile'", s.dir);
	assert_int_equal(ok(context_open(&ctx, s.src, NULL, s.work, NULL, &err), &err), 0);
	/* An absolute path anywhere. */
	abs = xasprintf("%s/Containerfile", s.dir);
	assert_int_equal(ok(context_read_dockerfile(&text, &name, &ctx, abs, NULL, &err), &err), 0);
	assert_string_equal(text.buf, "FROM outside\n");
	assert_string_equal(name, abs);
	free(name);
	kiln_buf_reset(&text);
	/* Relative to the current directory when the context lacks it. */
	assert_int_equal(chdir(s.dir), 0);
	assert_int_equal(
		ok(context_read_dockerfile(&text, &name, &ctx, "Containerfile", NULL, &err), &err),
		0);
	assert_string_equal(text.buf, "FROM outside\n");
	assert_string_equal(name, abs);
	free(name);
	kiln_buf_reset(&text);
	/* ... but the context's own file wins when both exist. */
	sh("printf 'FROM inside\\n' >'%s/Containerfile'", s.src);
	assert_int_equal(
		ok(context_read_dockerfile(&text, &name, &ctx, "Containerfile", NULL, &err), &err),
		0);
	assert_string_equal(text.buf, "FROM inside\n");
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
	free(name);
	free(abs);
	kiln_buf_release(&text);
	context_release(&ctx);
	scratch_release(&s);
}

static void test_context_sub_path(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct scratch s;
	char *want;

	(void)state;
	scratch_init(&s);
	assert_int_equal(ok(context_open(&ctx, s.src, "sub/app", s.work, NULL, &err), &err), 0);
	want = xasprintf("%s/sub/app", s.src);
	assert_string_equal(ctx.dir, want);
	context_release(&ctx);
	/* Missing, or a file: refused. */
	assert_int_equal(context_open(&ctx, s.src, "sub/nope", s.work, NULL, &err), KILN_ENOENT);
	assert_int_equal(context_open(&ctx, s.src, "Dockerfile", s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "is not a directory"));
	assert_null(ctx.dir);
	assert_int_equal(ctx.fd, -1);
	kiln_error_release(&err);
	free(want);
	scratch_release(&s);
}

static void test_context_sub_path_escape(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct scratch s;

	(void)state;
	scratch_init(&s);
	assert_int_equal(context_open(&ctx, s.src, "../work", s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "context sub-path '../work'"));
	assert_int_equal(context_open(&ctx, s.src, "sub/../../work", s.work, NULL, &err),
			 KILN_EINVAL);
	assert_int_equal(context_open(&ctx, s.src, "/etc", s.work, NULL, &err), KILN_EINVAL);
	/* A symlink inside the context leading out of it. */
	sh("ln -s ../work '%s/out'", s.src);
	assert_int_equal(context_open(&ctx, s.src, "out", s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "leads out of the context"));
	assert_null(ctx.dir);
	kiln_error_release(&err);
	scratch_release(&s);
}

static void test_context_tar_unpacked(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct scratch s;
	char *spec, *path, *name = NULL;
	struct stat st;

	(void)state;
	scratch_init(&s);
	sh("cd '%s' && printf 'echo hi\\n' >sub/run.sh && chmod 0750 sub/run.sh && "
	   "ln -s run.sh sub/link && tar -czf ../ctx.tar.gz --owner=1234 --group=5678 .",
	   s.src);
	spec = xasprintf("tar://%s/ctx.tar.gz", s.dir);
	assert_int_equal(ok(context_open(&ctx, spec, NULL, s.work, NULL, &err), &err), 0);
	path = xasprintf("%s/context", s.work);
	assert_string_equal(ctx.dir, path);
	free(path);
	path = xasprintf("%s/sub/run.sh", ctx.dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	if (geteuid() == 0) {
		assert_int_equal(st.st_uid, 1234);
		assert_int_equal(st.st_gid, 5678);
	}
	free(path);
	path = xasprintf("%s/sub/link", ctx.dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(ok(context_read_dockerfile(&text, &name, &ctx, NULL, NULL, &err), &err),
			 0);
	assert_string_equal(text.buf, "FROM scratch\n");
	context_release(&ctx);
	free(path);
	free(spec);
	free(name);
	kiln_buf_release(&text);

	/* A plain (uncompressed) tar named by its path, with a sub-path. */
	sh("rm -rf '%s/context' && cd '%s' && tar -cf ../ctx.tar sub", s.work, s.src);
	spec = xasprintf("%s/ctx.tar", s.dir);
	assert_int_equal(ok(context_open(&ctx, spec, "sub", s.work, NULL, &err), &err), 0);
	path = xasprintf("%s/context/sub", s.work);
	assert_string_equal(ctx.dir, path);
	context_release(&ctx);
	free(path);
	free(spec);
	scratch_release(&s);
}

static void test_context_tar_stdin(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct scratch s;
	char *path;
	int saved, fd;

	(void)state;
	scratch_init(&s);
	sh("cd '%s' && tar -czf ../ctx.tar.gz .", s.src);
	path = xasprintf("%s/ctx.tar.gz", s.dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	saved = dup(STDIN_FILENO);
	assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	assert_int_equal(ok(context_open(&ctx, "tar://stdin", NULL, s.work, NULL, &err), &err), 0);
	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	close(saved);
	free(path);
	path = xasprintf("%s/Dockerfile", ctx.dir);
	assert_int_equal(access(path, R_OK), 0);
	free(path);
	context_release(&ctx);
	scratch_release(&s);
}

static void test_context_tar_escape_refused(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct scratch s;
	char *spec, *evil;

	(void)state;
	scratch_init(&s);
	/* GNU tar keeps "../" in member names with -P. */
	sh("cd '%s/sub' && echo pwned >../../evil && tar -czPf '%s/bad.tar.gz' ../../evil && "
	   "rm ../../evil",
	   s.src, s.dir);
	spec = xasprintf("tar://%s/bad.tar.gz", s.dir);
	assert_int_equal(context_open(&ctx, spec, NULL, s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "'../../evil' would be written outside"));
	evil = xasprintf("%s/evil", s.dir);
	assert_int_equal(access(evil, F_OK), -1);
	free(evil);
	evil = xasprintf("%s/evil", s.work);
	assert_int_equal(access(evil, F_OK), -1);
	free(evil);
	free(spec);

	/* An absolute name is refused the same way. */
	sh("tar -czPf '%s/abs.tar.gz' '%s/src/Dockerfile'", s.dir, s.dir);
	spec = xasprintf("tar://%s/abs.tar.gz", s.dir);
	assert_int_equal(context_open(&ctx, spec, NULL, s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "would be written outside"));
	free(spec);

	/* A symlink, then a file written through it: never lands outside. */
	sh("mkdir -p '%s/t' && cd '%s/t' && ln -s '%s' esc && tar -cf ../sym.tar esc && "
	   "rm esc && mkdir esc && echo pwned >esc/planted && tar -rf ../sym.tar esc/planted",
	   s.dir, s.dir, s.dir);
	spec = xasprintf("tar://%s/sym.tar", s.dir);
	assert_int_equal(context_open(&ctx, spec, NULL, s.work, NULL, &err), KILN_EINVAL);
	assert_true(contains(kiln_error_msg(&err), "entry 'esc/planted'"));
	evil = xasprintf("%s/planted", s.dir);
	assert_int_equal(access(evil, F_OK), -1);
	assert_null(ctx.dir);
	free(evil);
	free(spec);
	kiln_error_release(&err);
	scratch_release(&s);
}

static void test_context_dockerignore(void **state)
{
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct scratch s;
	char *name = NULL;

	(void)state;
	scratch_init(&s);
	sh("cd '%s' && printf '*.log\\n' >.dockerignore && cp Dockerfile sub/Dockerfile.web && "
	   "printf 'secret*\\n' >sub/Dockerfile.web.dockerignore",
	   s.src);
	assert_int_equal(ok(context_open(&ctx, s.src, NULL, s.work, NULL, &err), &err), 0);
	assert_int_equal(ok(context_read_dockerfile(&text, &name, &ctx, NULL, NULL, &err), &err),
			 0);
	assert_non_null(ctx.ignore);
	assert_true(kiln_dockerignore_match(ctx.ignore, "build.log"));
	assert_false(kiln_dockerignore_match(ctx.ignore, "secret.txt"));
	free(name);
	/* <Dockerfile>.dockerignore beside the Dockerfile replaces it. */
	assert_int_equal(
		ok(context_read_dockerfile(&text, &name, &ctx, "sub/Dockerfile.web", NULL, &err),
		   &err),
		0);
	assert_true(kiln_dockerignore_match(ctx.ignore, "secret.txt"));
	assert_false(kiln_dockerignore_match(ctx.ignore, "build.log"));
	free(name);
	kiln_buf_release(&text);
	context_release(&ctx);
	scratch_release(&s);
}

static void test_context_unknown_scheme(void **state)
{
	static const char *const specs[] = { "git://github.com/x/y.git", "s3://bucket/ctx.tar.gz",
					     "gs://bucket/ctx.tar.gz",
					     "az://acct.blob.core.windows.net/c/ctx.tar.gz" };
	struct build_context ctx = BUILD_CONTEXT_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(specs); i++) {
		struct kiln_buf want = KILN_BUF_INIT;

		kiln_buf_addf(&want, "not supported yet: context '%s'", specs[i]);
		assert_int_equal(context_open(&ctx, specs[i], NULL, "/nonexistent", NULL, &err),
				 KILN_EINVAL);
		assert_string_equal(kiln_error_msg(&err), want.buf);
		assert_null(ctx.dir);
		kiln_buf_release(&want);
	}
	assert_int_equal(context_open(&ctx, "/nonexistent/ctx", NULL, "/nonexistent", NULL, &err),
			 KILN_ENOENT);
	kiln_error_release(&err);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_context_dir),
	cmocka_unit_test(test_context_relative_dir),
	cmocka_unit_test(test_context_dockerfile_in_context),
	cmocka_unit_test(test_context_dockerfile_outside),
	cmocka_unit_test(test_context_sub_path),
	cmocka_unit_test(test_context_sub_path_escape),
	cmocka_unit_test(test_context_tar_unpacked),
	cmocka_unit_test(test_context_tar_stdin),
	cmocka_unit_test(test_context_tar_escape_refused),
	cmocka_unit_test(test_context_dockerignore),
	cmocka_unit_test(test_context_unknown_scheme),
};

KILN_TEST_MAIN(tests)
