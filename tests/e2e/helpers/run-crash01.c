/*
 * run-crash01 - the unmodified program tests/e2e/crash01.sh runs under
 * `selfckpt run --dir D` (built without the library: the preload brings
 * it), checkpointed by `selfckpt checkpoint --wait` and SIGKILLed at
 * random moments.
 *
 *   run-crash01 NTHREADS MIB STEPS GOFILE
 *
 * MIB MiB of memory where every page holds a value that depends on the
 * step and on the page; step s checks the values of step s-1 in every
 * page and writes those of s, so a checkpoint (taken in a signal handler,
 * anywhere) lands in the middle of an update as often as not, and a
 * restart that brought back anything else is caught at the next step.
 * With NTHREADS > 1, worker threads keep two counters in step under a
 * mutex (so the image is written by the copy-on-write writer child).
 * Until GOFILE exists each step also sleeps 2 ms; then the program runs
 * to STEPS at full speed. It prints "DONE steps=STEPS sum=X", X depending
 * only on STEPS and MIB. Any inconsistency: "FAIL: ..." on stdout,
 * status 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define MAXW 8

static uint64_t *mem;
static size_t npages;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static uint64_t ca[MAXW], cb[MAXW];
static volatile int bad;

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(3);
}

__attribute__((noreturn)) static void die(const char *what, unsigned long a,
					  unsigned long b)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "FAIL: %s (%lu, %lu)\n", what, a, b);
	say(buf);
	_exit(1);
}

static uint64_t val(uint64_t s, uint64_t p)
{
	uint64_t z = s * 0x9e3779b97f4a7c15ULL + p * 0xbf58476d1ce4e5b9ULL + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) | 1;
}

static void *worker(void *arg)
{
	int t = (int)(intptr_t)arg;

	while (!stop) {
		pthread_mutex_lock(&lock);
		ca[t]++;
		usleep(50);
		if (ca[t] != cb[t] + 1)
			bad = 1;
		cb[t]++;
		pthread_mutex_unlock(&lock);
		usleep(500);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[MAXW];
	unsigned long mib, steps;
	uint64_t sum = 0;
	int nthreads, fast = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: run-crash01 NTHREADS MIB STEPS GOFILE\n");
		return 64;
	}
	nthreads = atoi(argv[1]);
	mib = strtoul(argv[2], NULL, 10);
	steps = strtoul(argv[3], NULL, 10);
	if (nthreads < 1 || nthreads > MAXW || !mib || !steps)
		die("bad arguments", (unsigned long)nthreads, mib);
	npages = mib * 1024 * 1024 / PAGE;
	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap", mib, 0);
	for (int t = 1; t < nthreads; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t))
			die("pthread_create", (unsigned long)t, 0);
	for (uint64_t s = 1; s <= steps; s++) {
		sum = 0;
		for (size_t p = 0; p < npages; p++) {
			uint64_t *w = &mem[p * (PAGE / 8)];

			if (s > 1 && *w != val(s - 1, p))
				die("a page does not hold the previous step's value (step, page)",
				    (unsigned long)s, p);
			*w = val(s, p);
			sum = (sum ^ *w) * 0x100000001b3ULL;
		}
		if (!fast) {
			fast = access(argv[4], F_OK) == 0;
			if (!fast)
				usleep(2000);
		}
	}
	stop = 1;
	for (int t = 1; t < nthreads; t++)
		pthread_join(th[t], NULL);
	for (int t = 1; t < nthreads; t++)
		if (ca[t] != cb[t])
			die("a worker's counters differ (worker, count)", (unsigned long)t,
			    (unsigned long)ca[t]);
	if (bad)
		die("a worker saw its counters out of step", 0, 0);
	char buf[128];

	snprintf(buf, sizeof(buf), "DONE steps=%lu sum=%016llx\n", steps,
		 (unsigned long long)sum);
	say(buf);
	return 0;
}
