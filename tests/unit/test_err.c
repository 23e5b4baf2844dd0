/*
 * test_err.c - RocksDB error strings map to the right errno, and the
 * string is freed (valgrind checks that).
 */
#include <errno.h>

#include "harness.h"
#include "store_i.h"

static int map(const char *s)
{
	char *e = strdup(s);

	return err_from_rocksdb(&e, "test");
}

static void test_mapping(void **state)
{
	store_log_set(harness_quiet, STORE_LOG_DEBUG);
	assert_int_equal(map("IO error: No space left on device"), -ENOSPC);
	assert_int_equal(map("IO error: While lock file: /x/LOCK: Resource "
			     "temporarily unavailable"),
			 -EBUSY);
	assert_int_equal(map("IO error: While appending to file"), -EIO);
	assert_int_equal(map("Corruption: block checksum mismatch"), -EIO);
	assert_int_equal(map("Invalid argument: Column family not found"),
			 -EINVAL);
	assert_int_equal(map("NotFound: "), -ENOENT);
	assert_int_equal(map("Something new"), -EIO);
	assert_int_equal(err_from_rocksdb(NULL, "x"), 0);
}

static void test_second_open_is_busy(void **state)
{
	struct store *st = *state, *again = NULL;

	assert_int_equal(store_open(store_dir(st), NULL, &again), -EBUSY);
	assert_null(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping),
		cmocka_unit_test_setup_teardown(test_second_open_is_busy,
						harness_open, harness_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
