/*
 * test-user: USER and --chown specs resolved in a temporary ROOT's
 * /etc/passwd and /etc/group (names, numbers, mixes, unknown names,
 * supplementary groups, home), never the host's.
 */
#include "compat.h"
#include "error.h"
#include "user.h"
#include "kiln-test.h"

#include <fcntl.h>
#include <sys/stat.h>

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
			     "app:x:1000:1001:App:/home/app:/bin/sh\n"
			     "bin:x:2:2:bin:/bin:/sbin/nologin\n"
			     "nohome:x:1500:1500::\n"
			     "broken line without fields\n"
			     "bad:x:notanumber:0::/:\n";
static const char group[] = "root:x:0:\n"
			    "staff:x:50:app,other\n"
			    "appgrp:x:1001:\n"
			    "wheel:x:10:root,app\n"
			    "audio:x:29:other\n"
			    "dupe:x:1001:app\n";

struct root {
	char dir[64];
	int fd;
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A ROOT with /etc/passwd and /etc/group (either may be NULL: missing). */
static void root_make(struct root *r, const char *pw, const char *gr)
{
	char etc[80];

	snprintf(r->dir, sizeof(r->dir), "/tmp/kiln-user-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(etc, sizeof(etc), "%s/etc", r->dir);
	assert_int_equal(mkdir(etc, 0755), 0);
	if (pw)
		write_file(r->dir, "etc/passwd", pw);
	if (gr)
		write_file(r->dir, "etc/group", gr);
	r->fd = open(r->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(r->fd >= 0);
}

static void root_free(struct root *r)
{
	char cmd[128];

	close(r->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	assert_int_equal(system(cmd), 0);
}

static void test_user_name(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "app", &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_string_equal(u.home, "/home/app");
	/* staff and wheel list app; appgrp and dupe are its primary gid */
	assert_int_equal(u.nr_groups, 2);
	assert_int_equal(u.groups[0], 50);
	assert_int_equal(u.groups[1], 10);
	user_ids_release(&u);
	root_free(&r);
}

static void test_user_uid_with_entry(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "1000", &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1001);
	assert_int_equal(u.nr_groups, 2);
	assert_string_equal(u.home, "/home/app");
	user_ids_release(&u);
	root_free(&r);
}

static void test_user_uid_unknown(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "4242", &err), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 0);
	assert_int_equal(u.nr_groups, 0);
	assert_string_equal(u.home, "/");
	user_ids_release(&u);
	root_free(&r);
}

static void test_user_explicit_group(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "app:audio", &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 29);
	/* an explicit group drops the supplementary ones (runc, Docker) */
	assert_int_equal(u.nr_groups, 0);
	assert_int_equal(user_resolve(&u, r.fd, "app:77", &err), 0);
	assert_int_equal(u.gid, 77);
	assert_int_equal(user_resolve(&u, r.fd, "4242:staff", &err), 0);
	assert_int_equal(u.uid, 4242);
	assert_int_equal(u.gid, 50);
	assert_int_equal(user_resolve(&u, r.fd, "5:6", &err), 0);
	assert_int_equal(u.uid, 5);
	assert_int_equal(u.gid, 6);
	assert_string_equal(u.home, "/");
	user_ids_release(&u);
	root_free(&r);
}

static void test_user_unknown_names(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "bob", &err), KILN_ENOENT);
	assert_string_equal(kiln_error_msg(&err),
			    "user 'bob' not found in /etc/passwd of the image");
	assert_int_equal(user_resolve(&u, r.fd, "app:nogroup", &err), KILN_ENOENT);
	assert_string_equal(kiln_error_msg(&err),
			    "group 'nogroup' not found in /etc/group of the image");
	/* a malformed line is no entry */
	assert_int_equal(user_resolve(&u, r.fd, "bad", &err), KILN_ENOENT);
	assert_null(u.home);
	kiln_error_release(&err);
	root_free(&r);
}

static void test_user_missing_files(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, NULL, NULL);
	assert_int_equal(user_resolve(&u, r.fd, "123:456", &err), 0);
	assert_int_equal(u.uid, 123);
	assert_int_equal(u.gid, 456);
	assert_int_equal(user_resolve(&u, r.fd, "", &err), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.home, "/");
	assert_int_equal(user_resolve(&u, r.fd, "root", &err), KILN_ENOENT);
	kiln_error_release(&err);
	root_free(&r);
}

static void test_user_home_default(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;

	(void)state;
	root_make(&r, passwd, group);
	assert_int_equal(user_resolve(&u, r.fd, "nohome", &err), 0);
	assert_int_equal(u.uid, 1500);
	assert_string_equal(u.home, "/");
	user_ids_release(&u);
	root_free(&r);
}

/* A symlinked /etc must resolve inside ROOT, not to the host's /etc. */
static void test_user_confined(void **state)
{
	struct user_ids u = USER_IDS_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;
	char etc[80], cmd[200];

	(void)state;
	root_make(&r, NULL, NULL);
	snprintf(etc, sizeof(etc), "%s/etc", r.dir);
	assert_int_equal(rmdir(etc), 0);
	assert_int_equal(symlink("/private/etc", etc), 0);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/private/etc'", r.dir);
	assert_int_equal(system(cmd), 0);
	write_file(r.dir, "private/etc/passwd", "inside:x:7:8::/in:\n");
	/* the host has root; this ROOT does not */
	assert_int_equal(user_resolve(&u, r.fd, "root", &err), KILN_ENOENT);
	assert_int_equal(user_resolve(&u, r.fd, "inside", &err), 0);
	assert_int_equal(u.uid, 7);
	assert_int_equal(u.gid, 8);
	user_ids_release(&u);
	kiln_error_release(&err);
	root_free(&r);
}

static void test_chown_rules(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct root r;
	uid_t uid;
	gid_t gid;

	(void)state;
	root_make(&r, passwd, group);
	/* named user alone: the passwd entry's primary group (BuildKit) */
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "app", &err), 0);
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 1001);
	/* "bin" as Docker's documentation shows it */
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "bin", &err), 0);
	assert_int_equal(uid, 2);
	assert_int_equal(gid, 2);
	/* numeric user alone: gid = uid, even when passwd has the uid */
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "1", &err), 0);
	assert_int_equal(uid, 1);
	assert_int_equal(gid, 1);
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "1000", &err), 0);
	assert_int_equal(gid, 1000);
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "10:11", &err), 0);
	assert_int_equal(uid, 10);
	assert_int_equal(gid, 11);
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "55:staff", &err), 0);
	assert_int_equal(uid, 55);
	assert_int_equal(gid, 50);
	/* "user:" is the user's own group, as chown(1) has it */
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "app:", &err), 0);
	assert_int_equal(gid, 1001);
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "nobody", &err), KILN_ENOENT);
	assert_int_equal(user_resolve_chown(&uid, &gid, r.fd, "app:nogroup", &err), KILN_ENOENT);
	kiln_error_release(&err);
	root_free(&r);
}

/* one test per line, as ctest discovery reads them */
/* clang-format off */
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_user_name),
	cmocka_unit_test(test_user_uid_with_entry),
	cmocka_unit_test(test_user_uid_unknown),
	cmocka_unit_test(test_user_explicit_group),
	cmocka_unit_test(test_user_unknown_names),
	cmocka_unit_test(test_user_missing_files),
	cmocka_unit_test(test_user_home_default),
	cmocka_unit_test(test_user_confined),
	cmocka_unit_test(test_chown_rules),
};
/* clang-format on */

KILN_TEST_MAIN(tests)
