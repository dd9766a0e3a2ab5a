/*
 * test_errname.c - error names for messages (libselfckpt/nolibc/errname.c).
 *
 * The table holds raw numbers (it is freestanding code), so each entry is
 * checked against glibc's own name for that number, strerrorname_np: a
 * typo in a number would otherwise print a wrong but plausible message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "nolibc/fmt.h"

/* Every number the table may know; the table needs not know them all. */
static void test_names_match_glibc(void **state)
{
	int known = 0;

	(void)state;
	for (int e = 1; e < 200; e++) {
		const char *ours = selfckpt__errname(e);
		const char *libc = strerrorname_np(e);

		if (strcmp(ours, "unknown error") == 0)
			continue;
		known++;
		assert_non_null(libc);
		size_t n = strcspn(ours, " ");

		/* ENOTSUP and EOPNOTSUPP are the same number on Linux. */
		if (e == EOPNOTSUPP && strncmp(ours, "ENOTSUP ", 8) == 0)
			continue;
		if (strlen(libc) != n || strncmp(ours, libc, n) != 0)
			fail_msg("%d is %s, ours says \"%s\"", e, libc, ours);
		/* "NAME (explanation)" */
		assert_int_equal(ours[n], ' ');
		assert_int_equal(ours[n + 1], '(');
		assert_int_equal(ours[strlen(ours) - 1], ')');
	}
	assert_true(known >= 20);
}

static void test_common_errors_named(void **state)
{
	static const int common[] = { EPERM, ENOENT, EINTR, EIO, EBADF,
				      EAGAIN, ENOMEM, EACCES, EFAULT, EINVAL,
				      EMFILE, ENOSPC, EPIPE, ENOSYS, EDQUOT };

	(void)state;
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		assert_string_not_equal(selfckpt__errname(common[i]),
					"unknown error");
	assert_string_equal(selfckpt__errname(0), "unknown error");
	assert_string_equal(selfckpt__errname(-ENOSPC), "unknown error");
	assert_string_equal(selfckpt__errname(100000), "unknown error");
	assert_string_equal(selfckpt__errname(ENOSPC),
			    "ENOSPC (no space left on device)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_match_glibc),
		cmocka_unit_test(test_common_errors_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
