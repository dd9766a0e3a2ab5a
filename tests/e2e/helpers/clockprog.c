/*
 * clockprog - a program for tests/e2e/clocks01.sh: what CLOCK_MONOTONIC
 * and CLOCK_BOOTTIME a restarted process sees.
 *
 *   clockprog IMAGE EXPECT SLEEP
 *
 * Reads both clocks and its time namespace's offsets
 * (/proc/self/timens_offsets), checkpoints to IMAGE and exits 0. Resumed
 * by `selfckpt restart` (which the script runs at least SLEEP seconds
 * after the checkpoint), it reads them again and checks what the file
 * EXPECT, read then, says should be:
 *
 *   namespace  the clocks go on from the checkpoint: neither went back,
 *              and the new time namespace's offsets took at least SLEEP s
 *              off what the checkpoint's were (the time the image waited
 *              does not count);
 *   host       this machine's clocks, in no time namespace of the
 *              restart's: offsets 0, and at least SLEEP s passed;
 *   back       this machine's clocks, which are behind the image's: the
 *              program sees CLOCK_MONOTONIC go back.
 *
 * Prints "PASS mode" or "FAIL: why" on stdout, and exits 0 or 1. Only
 * write(2): stdio buffers are part of the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "selfckpt.h"

static int64_t ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void offsets(int64_t *mono, int64_t *boot)
{
	char buf[256], *p;
	int fd = open("/proc/self/timens_offsets", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	*mono = *boot = 0;
	if (n <= 0)
		return;
	buf[n] = '\0';
	if ((p = strstr(buf, "monotonic")))
		*mono = strtoll(p + 9, &p, 10) * 1000000000 + strtoll(p, NULL, 10);
	if ((p = strstr(buf, "boottime")))
		*boot = strtoll(p + 8, &p, 10) * 1000000000 + strtoll(p, NULL, 10);
}

static int say(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(int ok, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n = snprintf(line, sizeof(line), "%s", ok ? "PASS " : "FAIL: ");

	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n)
		return 1;
	return !ok;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: clockprog IMAGE EXPECT SLEEP\n");
		return 2;
	}
	int64_t sleep_ns = atoll(argv[3]) * 1000000000LL;
	int64_t om0, ob0, om1, ob1;

	offsets(&om0, &ob0);
	int64_t m0 = ns(CLOCK_MONOTONIC), b0 = ns(CLOCK_BOOTTIME);
	long id = selfckpt_checkpoint(argv[1], SELFCKPT_NO_SYNC);

	if (id < 0) {
		fprintf(stderr, "clockprog: checkpoint failed: %s\n", selfckpt_last_error());
		return 1;
	}
	if (id > 0)
		return 0;
	int64_t m1 = ns(CLOCK_MONOTONIC), b1 = ns(CLOCK_BOOTTIME);
	char want[32] = "";
	int fd = open(argv[2], O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, want, sizeof(want) - 1) : -1;

	if (n > 0 && want[n - 1] == '\n')
		want[n - 1] = '\0';
	offsets(&om1, &ob1);
	char got[512];

	snprintf(got, sizeof(got),
		 "monotonic %.3f s then %.3f s, boottime %.3f then %.3f, offsets %.3f/%.3f then %.3f/%.3f",
		 m0 / 1e9, m1 / 1e9, b0 / 1e9, b1 / 1e9, om0 / 1e9, ob0 / 1e9, om1 / 1e9, ob1 / 1e9);
	if (!strcmp(want, "namespace"))
		return say(m1 >= m0 && b1 >= b0 && om1 <= om0 - sleep_ns && ob1 <= ob0 - sleep_ns,
			   "namespace: %s", got);
	if (!strcmp(want, "host"))
		return say(!om1 && !ob1 && m1 - m0 >= sleep_ns && b1 - b0 >= sleep_ns, "host: %s",
			   got);
	if (!strcmp(want, "back"))
		return say(!om1 && m1 < m0, "back: %s", got);
	return say(0, "%s says \"%s\"", argv[2], want);
}
