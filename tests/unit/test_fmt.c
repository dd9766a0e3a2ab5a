/*
 * test_fmt.c - the freestanding formatter (libselfckpt/nolibc/fmt.c).
 *
 * glibc's snprintf is the oracle: for every supported conversion (%s %.*s
 * %c %d %i %u %x %X %p %%, the l, ll and z modifiers, the '-' and '0' flags,
 * widths and '*'), selfckpt__vfmt must produce the same bytes and the same
 * return value for every buffer size from 0 to past the full length, so
 * truncation is covered by the same comparison: the return value is the
 * untruncated length, the output is always NUL-terminated when n > 0, and
 * nothing at or beyond buf[n] is touched.
 *
 * Where fmt.c deliberately differs from glibc (a NULL %p prints "0x0",
 * glibc "(nil)"; a NULL %s under a precision prints a prefix of "(null)",
 * glibc nothing), the tests pin our behaviour explicitly instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nolibc/fmt.h"
#include "unit.h"

#define BUFSZ 1024
#define CANARY 0xA5

/*
 * Compare selfckpt__vfmt with vsnprintf for every n in 0..len+2 and for
 * a big buffer; fail with the format and n on the first difference.
 */
static void check_fmt(int line, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check_fmt(int line, const char *fmt, ...)
{
	static char want[BUFSZ + 16], got[BUFSZ + 16];
	va_list ap, aq;
	int wlen, glen;

	va_start(ap, fmt);
	va_copy(aq, ap);
	wlen = vsnprintf(want, BUFSZ, fmt, aq);
	va_end(aq);
	assert_true(wlen >= 0 && wlen < BUFSZ - 3);

	for (size_t n = 0; n <= (size_t)wlen + 3; n++) {
		size_t sz = n == (size_t)wlen + 3 ? BUFSZ : n;

		memset(want, CANARY, sizeof(want));
		memset(got, CANARY, sizeof(got));
		va_copy(aq, ap);
		wlen = vsnprintf(want, sz, fmt, aq);
		va_end(aq);
		va_copy(aq, ap);
		glen = selfckpt__vfmt(got, sz, fmt, aq);
		va_end(aq);
		if (glen != wlen)
			fail_msg("line %d: \"%s\" n=%zu: returned %d, want %d",
				 line, fmt, sz, glen, wlen);
		if (memcmp(got, want, sizeof(got)) != 0)
			fail_msg("line %d: \"%s\" n=%zu: \"%.*s\", want \"%.*s\"",
				 line, fmt, sz, (int)sz, got, (int)sz, want);
	}
	va_end(ap);
}

#define CHECK(...) check_fmt(__LINE__, __VA_ARGS__)

/* NULL that the compiler cannot see through (it warns about a literal one). */
static const char *volatile null_str;

static void test_plain(void **state)
{
	(void)state;
	CHECK("%s", "");
	CHECK("hello, world");
	CHECK("a\tb\nc");
	CHECK("%%");
	CHECK("100%% sure, %%d is not a number");
	CHECK("%s%s%s", "a", "", "bc");
}

static void test_strings(void **state)
{
	const char *s = "checkpoint";

	(void)state;
	CHECK("[%s]", s);
	CHECK("[%12s]", s);
	CHECK("[%-12s]", s);
	CHECK("[%3s]", s);
	CHECK("[%.4s]", s);
	CHECK("[%.0s]", s);
	CHECK("[%.20s]", s);
	CHECK("[%12.4s]", s);
	CHECK("[%-12.4s]", s);
	for (int prec = -3; prec <= 12; prec++)
		CHECK("[%.*s]", prec, s);
	CHECK("[%.*s|%.*s]", 2, "abcdef", 3, "xy");
	/* %.*s on a buffer that is not NUL-terminated stops at the precision. */
	char raw[4] = { 'w', 'x', 'y', 'z' };

	CHECK("[%.*s]", 4, raw);
	CHECK("[%.*s]", 2, raw);
	/* A NULL string without precision: "(null)", as glibc. */
	CHECK("[%s]", null_str);
	CHECK("[%10s]", null_str);
	CHECK("[%-10s]", null_str);
}

static void test_chars(void **state)
{
	(void)state;
	CHECK("[%c]", 'x');
	CHECK("[%c%c%c]", 'a', 'b', 'c');
	CHECK("[%c]", 0xe9);
	CHECK("[%c]", '\0');		/* an embedded NUL, compared as bytes */
	CHECK("[%5c]", 'x');
	CHECK("[%-5c]", 'x');
	CHECK("[%*c]", 3, 'y');
	CHECK("[%1c]", 'z');
}

static void test_signed(void **state)
{
	static const int ints[] = { 0, 1, -1, 7, -7, 42, 1000000, INT_MAX,
				    INT_MIN, INT_MIN + 1 };
	static const long longs[] = { 0, -1, LONG_MAX, LONG_MIN, LONG_MIN + 1,
				      1L << 40, -(1L << 40) };

	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		int v = ints[i];

		CHECK("%d", v);
		CHECK("%i", v);
		CHECK("[%5d]", v);
		CHECK("[%-5d]", v);
		CHECK("[%05d]", v);
		CHECK("[%012d]", v);
		CHECK("[%-12i]", v);
		CHECK("[%1d]", v);
	}
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		long v = longs[i];

		CHECK("%ld", v);
		CHECK("%li", v);
		CHECK("%lld", (long long)v);
		CHECK("%zd", (ssize_t)v);
		CHECK("[%25ld]", v);
		CHECK("[%-25lld]", (long long)v);
		CHECK("[%025ld]", v);
	}
	CHECK("%d %d", INT_MIN, INT_MAX);
	CHECK("%ld|%lld", LONG_MIN, LLONG_MIN);
}

static void test_unsigned(void **state)
{
	static const unsigned uints[] = { 0, 1, 9, 10, 15, 16, 255, 0xdeadbeef,
					  UINT_MAX, 0x80000000u };
	static const unsigned long ulongs[] = { 0, 1, ULONG_MAX, 1UL << 63,
						0x7fffffffffffffffUL,
						0x123456789abcdefUL };

	(void)state;
	for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
		unsigned v = uints[i];

		CHECK("%u", v);
		CHECK("%x", v);
		CHECK("%X", v);
		CHECK("[%10u]", v);
		CHECK("[%-10x]", v);
		CHECK("[%08x]", v);
		CHECK("[%08X]", v);
		CHECK("[%2x]", v);
	}
	for (size_t i = 0; i < sizeof(ulongs) / sizeof(ulongs[0]); i++) {
		unsigned long v = ulongs[i];

		CHECK("%lu", v);
		CHECK("%lx", v);
		CHECK("%lX", v);
		CHECK("%llu", (unsigned long long)v);
		CHECK("%llx", (unsigned long long)v);
		CHECK("%zu", (size_t)v);
		CHECK("%zx", (size_t)v);
		CHECK("[%016lx]", v);
		CHECK("[%-20lu]", v);
	}
	/* A negative int through %u and %x: its unsigned value. */
	CHECK("%u %x", -1, -2);
}

static void test_pointers(void **state)
{
	const char *zero_ptr = "[%020p]";
	int local;

	(void)state;
	CHECK("%p", (void *)&local);
	CHECK("%p", (void *)0x1234);
	CHECK("%p", (void *)~(uintptr_t)0);
	CHECK("%p", (void *)1);
	CHECK("[%20p]", (void *)0x1234);
	CHECK("[%-20p]", (void *)0x1234);
	CHECK(zero_ptr, (void *)0x1234);
	CHECK("[%3p]", (void *)0x1234);
	CHECK("[%*p]", 16, (void *)0xabc);
}

static void test_star_width(void **state)
{
	(void)state;
	for (int w = -12; w <= 12; w += 3) {
		CHECK("[%*d]", w, 42);
		CHECK("[%*d]", w, -42);
		CHECK("[%-*d]", w, 42);
		CHECK("[%0*d]", w, -42);
		CHECK("[%*x]", w, 0xbeefu);
		CHECK("[%*s]", w, "str");
		CHECK("[%-*s]", w, "str");
		CHECK("[%*lu]", w, 123456789UL);
	}
	CHECK("[%*.*s]", 8, 3, "abcdef");
	CHECK("[%-*.*s]", 8, 3, "abcdef");
}

/* Flag combinations gcc would warn about in a literal format. */
static void test_odd_flags(void **state)
{
	const char *left_zero = "[%-05d]";
	const char *zero_str = "[%05s]";
	const char *zero_char = "[%05c]";
	const char *repeated = "[%--5d|%00005d]";

	(void)state;
	CHECK(left_zero, 42);
	CHECK(left_zero, -42);
	CHECK(zero_str, "ab");
	CHECK(zero_char, 'q');
	CHECK(repeated, 3, -3);
}

static void test_mixed(void **state)
{
	(void)state;
	CHECK("mapping %lx-%lx (%s) at %p: %d pages, %u%%",
	      0x7f0000000000UL, 0x7f0000021000UL, "[heap]", (void *)0x1000,
	      33, 100u);
	CHECK("%s: %.*s=%-8s|%08X|%c|%zu|%lld", "key", 3, "valueless", "v",
	      0xCAFEu, '!', (size_t)12345, -9876543210LL);
	CHECK("%300d|%s", 1, "tail");	/* longer than small buffers */
}

/* The contract around n, independent of snprintf. */
static void test_truncation(void **state)
{
	char buf[32];
	int r;

	(void)state;
	/* n == 0: nothing written, not even a NUL; buf may be NULL. */
	memset(buf, CANARY, sizeof(buf));
	r = selfckpt__fmt(buf, 0, "hello %d", 12345);
	assert_int_equal(r, 11);
	assert_int_equal((uint8_t)buf[0], CANARY);
	assert_int_equal(selfckpt__fmt(NULL, 0, "%s%d", "abc", -1), 5);

	/* n == 1: just the NUL. */
	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(selfckpt__fmt(buf, 1, "hello"), 5);
	assert_int_equal(buf[0], '\0');
	assert_int_equal((uint8_t)buf[1], CANARY);

	/* Exact fit and one short. */
	memset(buf, CANARY, sizeof(buf));
	assert_int_equal(selfckpt__fmt(buf, 6, "hello"), 5);
	assert_string_equal(buf, "hello");
	assert_int_equal(selfckpt__fmt(buf, 5, "hello"), 5);
	assert_string_equal(buf, "hell");
	assert_int_equal((uint8_t)buf[6], CANARY);

	/* A long result into a small buffer returns the full length. */
	memset(buf, CANARY, sizeof(buf));
	r = selfckpt__fmt(buf, 8, "%s-%0*d", "abcdef", 100, 7);
	assert_int_equal(r, 107);
	assert_string_equal(buf, "abcdef-");
	assert_int_equal((uint8_t)buf[8], CANARY);
}

/* Behaviour where fmt.c and glibc part ways on purpose, pinned down. */
static void test_own_choices(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(selfckpt__fmt(buf, sizeof(buf), "%p", NULL), 3);
	assert_string_equal(buf, "0x0");
	selfckpt__fmt(buf, sizeof(buf), "[%.3s]", null_str);
	assert_string_equal(buf, "[(nu]");
	/* A '%' at the very end prints nothing and stops cleanly. */
	const char *trailing = "abc%";

	assert_int_equal(selfckpt__fmt(buf, sizeof(buf), trailing), 3);
	assert_string_equal(buf, "abc");
	/* An unknown conversion is copied through. */
	const char *unknown = "a%qb";

	selfckpt__fmt(buf, sizeof(buf), unknown, 1);
	assert_string_equal(buf, "a%qb");
}

/* Random mixes of conversions, widths and values against snprintf. */
static void test_random(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		int w = (int)unit_below(30) - 10;
		uint64_t v = unit_rand() >> unit_below(64);
		char s[16];

		for (size_t k = 0; k < sizeof(s) - 1; k++)
			s[k] = (char)('a' + unit_below(26));
		s[unit_below(sizeof(s))] = '\0';
		switch (unit_below(8)) {
		case 0:
			CHECK("%*d|%d", w, (int)v, (int)(v >> 32));
			break;
		case 1:
			CHECK("%0*ld", w, (long)v);
			break;
		case 2:
			CHECK("%-*lx|%lX", w, (unsigned long)v, (unsigned long)v);
			break;
		case 3:
			CHECK("%*.*s", w, (int)unit_below(20) - 2, s);
			break;
		case 4:
			CHECK("%*zu", w, (size_t)v);
			break;
		case 5:
			CHECK("%*p", w, (void *)(uintptr_t)(v | 1));
			break;
		case 6:
			CHECK("%*c%s", w, (int)('A' + v % 26), s);
			break;
		default:
			CHECK("%llu %i %%", (unsigned long long)v, (int)v);
			break;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_chars),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_star_width),
		cmocka_unit_test(test_odd_flags),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_own_choices),
		cmocka_unit_test(test_random),
	};

	unit_seed("test_fmt");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
