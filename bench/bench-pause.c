/*
 * bench-pause.c - how long a checkpoint stops the other threads.
 *
 *   bench-pause THREADS MIB IMAGE [nofork]
 *
 * THREADS - 1 worker threads each wake every 200 us and record the largest
 * gap between two of their wake-ups; the main thread holds MIB MiB of
 * incompressible data. The run: 300 ms of warm-up (the gap the scheduler
 * alone causes on this machine), a checkpoint, 300 ms more. Prints the
 * checkpoint's duration as the caller sees it (image written, fsync'd),
 * and the largest gap every worker saw before and during the checkpoint:
 * the pause is the median over workers of the gap during the checkpoint.
 * With "nofork", SELFCKPT_NO_FORK: threads stay stopped until the image
 * is written. bench/run-pause.sh drives it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <selfckpt.h>

static volatile int phase;	/* 0 warm-up, 1 checkpoint window, 2 stop */

struct worker {
	pthread_t th;
	double gap[2];		/* largest gap in phase 0 and 1, seconds */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	double prev = now();
	struct timespec nap = { 0, 200 * 1000 };

	while (phase < 2) {
		nanosleep(&nap, NULL);
		double t = now(), g = t - prev;
		int p = phase;

		if (p < 2 && g > w->gap[p])
			w->gap[p] = g;
		prev = t;
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: bench-pause THREADS MIB IMAGE [nofork]\n");
		return 2;
	}
	int n = atoi(argv[1]) - 1;
	size_t len = (size_t)atol(argv[2]) << 20;
	unsigned flags = argc > 4 && !strcmp(argv[4], "nofork") ? SELFCKPT_NO_FORK : 0;
	uint64_t *data = malloc(len), x = 88172645463325252ULL;
	struct worker *w = calloc((size_t)(n > 0 ? n : 1), sizeof(*w));

	if (!data || !w)
		return 1;
	for (size_t i = 0; i < len / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = x;
	}
	for (int i = 0; i < n; i++)
		pthread_create(&w[i].th, NULL, work, &w[i]);
	usleep(300000);
	phase = 1;
	double t0 = now();
	long id = selfckpt_checkpoint(argv[3], flags);
	double t1 = now();

	if (id < 0) {
		fprintf(stderr, "bench-pause: %s: %s\n", strerror(errno), selfckpt_last_error());
		return 1;
	}
	if (id == 0)
		return 0;	/* restarted: nothing to measure */
	usleep(300000);
	phase = 2;
	double before[n > 0 ? n : 1], during[n > 0 ? n : 1];

	for (int i = 0; i < n; i++) {
		pthread_join(w[i].th, NULL);
		before[i] = w[i].gap[0];
		during[i] = w[i].gap[1];
	}
	qsort(before, (size_t)n, sizeof(double), cmp);
	qsort(during, (size_t)n, sizeof(double), cmp);
	printf("checkpoint=%.6f pause=%.6f pause_max=%.6f noise=%.6f\n", t1 - t0,
	       n ? during[n / 2] : t1 - t0, n ? during[n - 1] : t1 - t0,
	       n ? before[n / 2] : 0.0);
	return 0;
}
