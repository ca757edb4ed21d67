/*
 * Cache keys: the part encoding is injective, and copy_hash() feeds what
 * decides a COPY's result (content, mode, names, links) and nothing else
 * (times, owners, ignored files).
 */
#include "compat.h"
#include "cache.h"
#include "copy.h"
#include "dockerignore.h"
#include "error.h"
#include "kiln-test.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

static void key_of(struct kiln_digest *out, const char *const *parts, size_t n)
{
	struct kiln_digest parent = { { 0 } };
	struct cache_key k;

	cache_key_begin(&k, &parent);
	for (size_t i = 0; i < n; i++)
		cache_key_add_str(&k, "p", parts[i]);
	cache_key_end(&k, out);
}

static void test_key_parts_do_not_run_together(void **state)
{
	static const char *const a[] = { "ab", "c" }, *const b[] = { "a", "bc" },
				 *const c[] = { "abc" }, *const d[] = { "abc", "" };
	struct kiln_digest ka, kb, kc, kd, ka2;

	(void)state;
	key_of(&ka, a, 2);
	key_of(&kb, b, 2);
	key_of(&kc, c, 1);
	key_of(&kd, d, 2);
	key_of(&ka2, a, 2);
	assert_true(kiln_digest_eq(&ka, &ka2));
	assert_false(kiln_digest_eq(&ka, &kb));
	assert_false(kiln_digest_eq(&ka, &kc));
	assert_false(kiln_digest_eq(&kc, &kd));
}

static void test_key_absent_is_not_empty(void **state)
{
	struct kiln_digest parent = { { 0 } }, k1, k2, k3;
	struct cache_key k;

	(void)state;
	cache_key_begin(&k, &parent);
	cache_key_add_str(&k, "user", NULL);
	cache_key_end(&k, &k1);
	cache_key_begin(&k, &parent);
	cache_key_add_str(&k, "user", "");
	cache_key_end(&k, &k2);
	parent.sha256[0] = 1;
	cache_key_begin(&k, &parent);
	cache_key_add_str(&k, "user", "");
	cache_key_end(&k, &k3);
	assert_false(kiln_digest_eq(&k1, &k2));
	assert_false(kiln_digest_eq(&k2, &k3)); /* the parent is in the key */
}

/* --------------------------------------------------------- copy_hash */

static char ctx[64];
static int ctx_fd = -1;

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", ctx, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void feed(void *c, const char *name, const void *data, size_t len)
{
	cache_key_add(c, name, data, len);
}

/* The key of COPY <srcs> with the context as it is now. */
static void hash_copy(struct kiln_digest *out, bool *vol, const char *const *srcs, size_t n,
		      const struct kiln_dockerignore *ignore)
{
	struct kiln_digest parent = { { 0 } };
	struct kiln_error err = KILN_ERROR_INIT;
	struct copy_spec s = { .src_fd = ctx_fd,
			       .src_what = "build context",
			       .ignore = ignore,
			       .srcs = srcs,
			       .nr_srcs = n,
			       .dest = "/x/",
			       .root_fd = -1 };
	struct cache_key k;

	cache_key_begin(&k, &parent);
	if (copy_hash(vol, &s, feed, &k, &err) < 0)
		fail_msg("copy_hash: %s", kiln_error_msg(&err));
	cache_key_end(&k, out);
	kiln_error_release(&err);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int setup(void **state)
{
	char p[PATH_MAX];

	(void)state;
	snprintf(ctx, sizeof(ctx), "%s", "/tmp/kiln-test-cache-key.XXXXXX");
	assert_non_null(mkdtemp(ctx));
	snprintf(p, sizeof(p), "%s/dir", ctx);
	assert_int_equal(mkdir(p, 0755), 0);
	put("dir/a.txt", "alpha\n", 0644);
	put("dir/b.txt", "beta\n", 0644);
	put("top.txt", "top\n", 0644);
	ctx_fd = open(ctx, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(ctx_fd >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(ctx_fd);
	nftw(ctx, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void test_copy_hash_what_counts(void **state)
{
	static const char *const srcs[] = { "dir", "top.txt" };
	struct kiln_digest k0, k;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	char p[PATH_MAX];
	bool vol = true;

	(void)state;
	hash_copy(&k0, &vol, srcs, 2, NULL);
	assert_false(vol);
	/* times and owners do not count */
	snprintf(p, sizeof(p), "%s/dir/a.txt", ctx);
	assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
	assert_int_equal(chown(p, 1234, 1234), 0);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_true(kiln_digest_eq(&k0, &k));
	/* content does */
	put("dir/a.txt", "alphA\n", 0644);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_false(kiln_digest_eq(&k0, &k));
	put("dir/a.txt", "alpha\n", 0644);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_true(kiln_digest_eq(&k0, &k));
	/* so does the mode */
	assert_int_equal(chmod(p, 0755), 0);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_false(kiln_digest_eq(&k0, &k));
	assert_int_equal(chmod(p, 0644), 0);
	/* and a new file */
	put("dir/c.txt", "", 0644);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_false(kiln_digest_eq(&k0, &k));
	snprintf(p, sizeof(p), "%s/dir/c.txt", ctx);
	assert_int_equal(unlink(p), 0);
	/* a file the COPY does not name does not */
	put("other.txt", "x", 0644);
	hash_copy(&k, &vol, srcs, 2, NULL);
	assert_true(kiln_digest_eq(&k0, &k));
}

static void test_copy_hash_ignored_file(void **state)
{
	static const char *const srcs[] = { "." };
	static const char *const pats[] = { "*.log" };
	struct kiln_dockerignore *di = NULL;
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_digest k0, k;
	bool vol;

	(void)state;
	assert_int_equal(kiln_dockerignore_new(&di, pats, 1, &err), 0);
	hash_copy(&k0, &vol, srcs, 1, di);
	put("build.log", "noise", 0644);
	hash_copy(&k, &vol, srcs, 1, di);
	assert_true(kiln_digest_eq(&k0, &k));
	put("build.txt", "signal", 0644);
	hash_copy(&k, &vol, srcs, 1, di);
	assert_false(kiln_digest_eq(&k0, &k));
	kiln_dockerignore_free(di);
	kiln_error_release(&err);
}

static void test_copy_hash_url_is_volatile(void **state)
{
	static const char *const srcs[] = { "https://example.invalid/x.tgz" };
	struct kiln_digest parent = { { 0 } }, sum = { { 7 } }, k1, k2;
	struct kiln_error err = KILN_ERROR_INIT;
	struct copy_spec s = { .src_fd = ctx_fd,
			       .src_what = "build context",
			       .srcs = srcs,
			       .nr_srcs = 1,
			       .dest = "/x",
			       .add = true,
			       .root_fd = -1 };
	struct cache_key k;
	bool vol = false;

	(void)state;
	cache_key_begin(&k, &parent);
	assert_int_equal(copy_hash(&vol, &s, feed, &k, &err), 0);
	cache_key_end(&k, &k1);
	assert_true(vol);
	s.checksum = &sum;
	cache_key_begin(&k, &parent);
	assert_int_equal(copy_hash(&vol, &s, feed, &k, &err), 0);
	cache_key_end(&k, &k2);
	assert_false(vol);
	assert_false(kiln_digest_eq(&k1, &k2));
	kiln_error_release(&err);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_key_parts_do_not_run_together),
	cmocka_unit_test(test_key_absent_is_not_empty),
	cmocka_unit_test_setup_teardown(test_copy_hash_what_counts, setup, teardown),
	cmocka_unit_test_setup_teardown(test_copy_hash_ignored_file, setup, teardown),
	cmocka_unit_test_setup_teardown(test_copy_hash_url_is_volatile, setup, teardown),
};

KILN_TEST_MAIN(tests)
