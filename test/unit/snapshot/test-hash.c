#include "compat.h"
#include "error.h"
#include "snapshot.h"
#include "kiln-test.h"

#include <sys/mman.h>

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("hash", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void test_hash_fd_matches_bytes(void **state)
{
	size_t len = 3 * 256 * 1024 + 17; /* crosses the read chunk size */
	char *data = malloc(len);
	struct snapshot_hash a, b;
	int fd;

	(void)state;
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 31 + 7);
	fd = memfd_with(data, len);
	assert_int_equal(snapshot_hash_fd(&a, fd, "memfd", NULL), 0);
	snapshot_hash_bytes(&b, data, len);
	assert_true(snapshot_hash_eq(&a, &b));
	close(fd);
	free(data);
}

static void test_hash_detects_one_byte(void **state)
{
	struct snapshot_hash a, b;

	(void)state;
	snapshot_hash_bytes(&a, "hello world", 11);
	snapshot_hash_bytes(&b, "hello worle", 11);
	assert_false(snapshot_hash_eq(&a, &b));
}

static void test_hash_read_error_names_file(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_hash h;

	(void)state;
	assert_int_equal(snapshot_hash_fd(&h, -1, "/etc/shadow", &err), KILN_EIO);
	assert_string_equal(kiln_error_msg(&err), "read '/etc/shadow': Bad file descriptor");
	kiln_error_release(&err);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_hash_fd_matches_bytes),
	cmocka_unit_test(test_hash_detects_one_byte),
	cmocka_unit_test(test_hash_read_error_names_file),
};

KILN_TEST_MAIN(tests)
