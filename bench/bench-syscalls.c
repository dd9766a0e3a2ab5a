/*
 * bench-syscalls.c - the cost the preload library adds to a program's own
 * system calls (issue 4): a tight open/close loop and a read/write loop
 * over a pipe, timed. Run by bench/run-preload.sh with and without
 * LD_PRELOAD=libselfckpt-preload.so, interleaved.
 *
 *   bench-syscalls openclose|readwrite N
 * prints "seconds=S" for N iterations.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	char buf[64] = { 0 };
	double t0, t1;
	int p[2];

	if (argc < 2)
		return 64;
	if (!strcmp(argv[1], "openclose")) {
		t0 = now();
		for (long i = 0; i < n; i++) {
			int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

			if (fd < 0 || close(fd) < 0)
				return 1;
		}
		t1 = now();
	} else if (!strcmp(argv[1], "readwrite")) {
		if (pipe(p) < 0)
			return 1;
		t0 = now();
		for (long i = 0; i < n; i++)
			if (write(p[1], buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
			    read(p[0], buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				return 1;
		t1 = now();
	} else {
		return 64;
	}
	printf("seconds=%.6f\n", t1 - t0);
	return 0;
}
