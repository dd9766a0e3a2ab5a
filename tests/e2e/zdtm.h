/*
 * zdtm.h - the end-to-end test contract, after CRIU's ZDTM.
 *
 * A test program sets up some state, calls test_checkpoint(), and then
 * checks that the state survived and prints PASS (pass()) or FAIL with a
 * reason (fail()). tests/e2e/runner.c drives it:
 *
 *   1. starts the program with SCK_IMAGE (where to write the image) and
 *      SCK_READY (a file to create once the image is written);
 *   2. test_checkpoint() calls selfckpt_checkpoint(SCK_IMAGE); in the
 *      original process it writes SCK_READY and waits to be killed;
 *   3. the runner SIGKILLs the process and runs `selfckpt restart` on the
 *      image (from the file, or piped on stdin with --pipe);
 *   4. in the restarted process test_checkpoint() returns; a test may call
 *      it again for another generation, and the runner repeats 2-3;
 *   5. the runner expects exit status 0 and a line "PASS" on stdout.
 *
 * Header-only, so each test is one .c file linked with libselfckpt.
 */
#ifndef SELFCKPT_ZDTM_H
#define SELFCKPT_ZDTM_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "selfckpt.h"

static inline void test_msg(const char *tag, const char *fmt, va_list ap)
{
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s: ", tag);

	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* write(2): stdio buffers are part of the image and would repeat. */
	if (write(1, buf, (size_t)n) < 0)
		_exit(3);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	test_msg("FAIL", fmt, ap);
	va_end(ap);
	_exit(1);
}

__attribute__((format(printf, 1, 2))) static inline void test_log(const char *fmt,
								  ...)
{
	va_list ap;

	va_start(ap, fmt);
	test_msg("info", fmt, ap);
	va_end(ap);
}

__attribute__((noreturn)) static inline void pass(void)
{
	if (write(1, "PASS\n", 5) != 5)
		_exit(3);
	_exit(0);
}

#define CHECK(cond, ...)                    \
	do {                                \
		if (!(cond))                \
			fail(__VA_ARGS__);  \
	} while (0)

/* The image path the runner chose, or a default for manual runs. */
static inline const char *test_image(void)
{
	const char *p = getenv("SCK_IMAGE");

	return p && *p ? p : "test.img";
}

/*
 * Checkpoint; return in the restarted process only. In the original one,
 * announce the checkpoint id and wait for the runner's SIGKILL.
 */
static inline long test_checkpoint_flags(unsigned flags)
{
	long r = selfckpt_checkpoint(test_image(), flags);

	if (r < 0)
		fail("checkpoint failed: %s: %s", strerror(errno),
		     selfckpt_last_error());
	if (r == 0)
		return selfckpt_last_id();
	const char *ready = getenv("SCK_READY");

	if (!ready || !*ready) {
		test_log("checkpoint %ld written (no runner: exiting)", r);
		_exit(0);
	}
	char tmp[4096], line[32];

	snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int n = snprintf(line, sizeof(line), "%ld\n", r);

	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) ||
	    rename(tmp, ready))
		fail("cannot tell the runner: %s", strerror(errno));
	for (;;)
		pause();
}

static inline long test_checkpoint(void)
{
	return test_checkpoint_flags(SELFCKPT_NO_SYNC);
}

/*
 * Test data: byte i of pattern seed, to fill memory, files and pipes
 * before the checkpoint and check them after. Seeds tell patterns apart,
 * and i >> 11 makes each 2 KiB differ from the one before, so that data
 * put back at the wrong offset is seen.
 */
static inline uint8_t test_pattern(size_t i, unsigned seed)
{
	return (uint8_t)(i * 13u + seed * 29u + (i >> 11));
}

/* p[0..n) = bytes [from, from + n) of pattern seed. */
static inline void test_fill(uint8_t *p, size_t from, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = test_pattern(from + i, seed);
}

/* Fails, naming what and the first byte that differs, unless p[0..n) are
 * bytes [from, from + n) of pattern seed. */
static inline void test_expect(const uint8_t *p, size_t from, size_t n,
			       unsigned seed, const char *what)
{
	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == test_pattern(from + i, seed),
		      "%s: byte %zu is %u, expected %u", what, from + i, p[i],
		      test_pattern(from + i, seed));
}

/* Writes bytes [from, from + n) of pattern seed at offset from of fd. */
static inline void test_pwrite_pattern(int fd, size_t from, size_t n, unsigned seed)
{
	uint8_t buf[4096];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		test_fill(buf, from, k, seed);
		CHECK(pwrite(fd, buf, k, (off_t)from) == (ssize_t)k, "pwrite fd %d: %s", fd,
		      strerror(errno));
		from += k;
		n -= k;
	}
}

/* Reads offsets [from, from + n) of fd, which must be pattern seed there. */
static inline void test_pread_expect(int fd, size_t from, size_t n, unsigned seed,
				     const char *what)
{
	uint8_t buf[4096];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		CHECK(pread(fd, buf, k, (off_t)from) == (ssize_t)k, "%s: pread: %s", what,
		      strerror(errno));
		test_expect(buf, from, k, seed, what);
		from += k;
		n -= k;
	}
}

#endif
