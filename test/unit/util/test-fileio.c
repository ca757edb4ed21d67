#include "compat.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "kiln-test.h"

#include <dirent.h>
#include <sys/stat.h>

static char *make_dir(void)
{
	char tmpl[] = "/tmp/kiln-test-fileio-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void remove_dir(char *dir, const char *file)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	unlink(path);
	rmdir(dir);
	free(dir);
}

static void test_fileio_atomic_write_replaces(void **state)
{
	char *dir = make_dir();
	char path[512];
	struct kiln_buf got = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "%s/digest", dir);
	assert_int_equal(kiln_file_write_atomic(path, "old", 3, 0600, &err), 0);
	assert_int_equal(kiln_file_write_atomic(path, "sha256:new", 10, 0644, &err), 0);
	assert_int_equal(kiln_file_read(&got, path, 100, &err), 0);
	assert_string_equal(got.buf, "sha256:new");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(count_entries(dir), 1); /* no temporary file left */
	kiln_buf_release(&got);
	remove_dir(dir, "digest");
}

static void test_fileio_abort_leaves_nothing(void **state)
{
	char *dir = make_dir();
	char path[512];
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	snprintf(path, sizeof(path), "%s/image.tar", dir);
	assert_int_equal(kiln_atomic_file_open(&f, path, 0644, &err), 0);
	assert_int_equal(kiln_write_all(f.fd, "partial", 7, path, &err), 0);
	assert_int_equal(count_entries(dir), 1);
	kiln_atomic_file_abort(&f);
	kiln_atomic_file_abort(&f);
	assert_int_equal(count_entries(dir), 0);
	assert_int_equal(access(path, F_OK), -1);
	remove_dir(dir, "image.tar");
}

static void test_fileio_errors_name_the_path(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	assert_int_equal(kiln_file_read(&got, "/nonexistent/kiln/x", 10, &err), KILN_ENOENT);
	assert_string_equal(kiln_error_msg(&err),
			    "open '/nonexistent/kiln/x': No such file or directory");
	assert_int_equal(kiln_file_write_atomic("/nonexistent/kiln/x", "a", 1, 0644, &err),
			 KILN_EIO);
	assert_non_null(strstr(kiln_error_msg(&err), "beside '/nonexistent/kiln/x'"));
	kiln_error_release(&err);
	kiln_buf_release(&got);
}

static void test_fileio_read_cap(void **state)
{
	char *dir = make_dir();
	char path[512];
	struct kiln_buf got = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(kiln_file_write_atomic(path, "0123456789", 10, 0644, &err), 0);
	assert_int_equal(kiln_file_read(&got, path, 9, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "limit of 9 bytes"));
	kiln_error_release(&err);
	kiln_buf_release(&got);
	remove_dir(dir, "big");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_fileio_atomic_write_replaces),
	cmocka_unit_test(test_fileio_abort_leaves_nothing),
	cmocka_unit_test(test_fileio_errors_name_the_path),
	cmocka_unit_test(test_fileio_read_cap),
};

KILN_TEST_MAIN(tests)
