/*
 * bench-ckpt.c - one measurement of checkpoint or restart cost.
 *
 *   bench-ckpt MIB IMAGE checkpoint|checkpoint-nosync|baseline|baseline-nosync
 *
 * Allocates MIB MiB of incompressible data (every page touched), then:
 *   checkpoint[-nosync]  times selfckpt_checkpoint(IMAGE) (fsync or not) and
 *                        prints "seconds=... bytes=..."; when the image is
 *                        later restarted, prints "resumed_at=<CLOCK_REALTIME>"
 *                        after checking a sample of the data, and exits;
 *   baseline[-nosync]    times writing the same bytes with 1 MiB write(2)
 *                        calls to a new file next to IMAGE, fsync, rename
 *                        over IMAGE and fsync the directory (nosync: no
 *                        fsync): the same durable-replace protocol as the
 *                        checkpoint, with nothing else; the yardstick.
 * bench/run.sh drives it and reports medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <selfckpt.h>

static double now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench-ckpt MIB IMAGE checkpoint|checkpoint-nosync|baseline|baseline-nosync\n");
		return 2;
	}
	size_t len = (size_t)atol(argv[1]) << 20;
	const char *image = argv[2], *mode = argv[3];
	uint64_t *buf = malloc(len), x = 0x9E3779B97F4A7C15ULL;

	if (!buf)
		return 1;
	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = x;
	}
	if (!strncmp(mode, "baseline", 8)) {
		int sync = strcmp(mode, "baseline-nosync") != 0;
		char tmp[4096], dir[4096];
		double t0 = now(CLOCK_MONOTONIC);

		snprintf(tmp, sizeof(tmp), "%s.tmp", image);
		snprintf(dir, sizeof(dir), "%s", image);
		char *slash = strrchr(dir, '/');

		if (slash)
			*slash = '\0';
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);

		for (size_t off = 0; fd >= 0 && off < len; off += 1 << 20)
			if (write(fd, (char *)buf + off, 1 << 20) != 1 << 20)
				return 1;
		if (fd < 0 || (sync && fsync(fd)) || close(fd) || rename(tmp, image))
			return 1;
		int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);

		if (dfd < 0 || (sync && fsync(dfd)) || close(dfd))
			return 1;
		printf("seconds=%.6f bytes=%zu\n", now(CLOCK_MONOTONIC) - t0, len);
		return 0;
	}
	unsigned flags = strcmp(mode, "checkpoint-nosync") ? 0 : SELFCKPT_NO_SYNC;
	double t0 = now(CLOCK_MONOTONIC);
	long id = selfckpt_checkpoint(image, flags);
	double t1 = now(CLOCK_MONOTONIC);

	if (id < 0) {
		fprintf(stderr, "bench-ckpt: %s: %s\n", strerror(errno), selfckpt_last_error());
		return 1;
	}
	if (id > 0) {
		FILE *f = fopen(image, "r");

		fseek(f, 0, SEEK_END);
		printf("seconds=%.6f bytes=%ld\n", t1 - t0, ftell(f));
		return 0;
	}
	printf("resumed_at=%.6f\n", now(CLOCK_REALTIME));
	x = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (buf[i] != x) {
			fprintf(stderr, "bench-ckpt: data differs at word %zu\n", i);
			return 1;
		}
	}
	return 0;
}
